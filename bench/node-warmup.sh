#!/usr/bin/env bash
# The node-add dip: Roost in front of three redis-server nodes holding KEYS keys of
# 100 bytes, under a Zipf(ZIPF) GET load (`roost-bench load`, open loop at LOAD_RATE,
# RESP); after WARM_SECONDS a fourth node is added through the API. A poller reads
# GET /metrics every second: the per-second hit ratio (roost_cache_hits_total and
# _misses_total) and the mean GET latency (roost_cache_request_duration_seconds
# {op="get"} sum / count). The dip is the steady hit ratio (median of the seconds
# before the add) less the worst second from the add until AFTER_SECONDS after the
# mover settled ("moving": false), in points; beside it the worst second's mean GET
# latency over the steady one, and how long the move took.
# Each repeat runs ROOST_WARMING=on and =off (order alternating), REPEATS times; the
# medians are printed per mode.
#
# Environment (defaults): KEYS (200000), ZIPF (0.99), LOAD_RATE (4000),
#   WARM_SECONDS (12), AFTER_SECONDS (3), REPEATS (3), REPLICAS (1),
#   EXTRA_ENV (more VAR=VALUE for Roost, e.g. ROOST_NEAR_CACHE_BYTES=64MiB), QUIET_WAIT (120:
#   seconds to wait for a load average below 1),
#   ROOST_BIN, ROOST_BENCH_BIN, RESULTS_DIR
# Writes bench/results/node-warmup-<date>.json.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOST_BIN=$(realpath "${ROOST_BIN:-$ROOT/target/release/roost}")
ROOST_BENCH_BIN=$(realpath "${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}")
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
KEYS=${KEYS:-200000}
ZIPF=${ZIPF:-0.99}
LOAD_RATE=${LOAD_RATE:-4000}
WARM_SECONDS=${WARM_SECONDS:-12}
AFTER_SECONDS=${AFTER_SECONDS:-3}
REPEATS=${REPEATS:-3}
REPLICAS=${REPLICAS:-1}
EXTRA_ENV=${EXTRA_ENV:-}
READY_DEADLINE_SECONDS=30
SETTLE_DEADLINE_SECONDS=600

WORK_DIR=$(mktemp -d -t roost-node-warmup.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

moving() {
  curl -sf "$NODES_URL" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["moving"] else 1)'
}

# poll_metrics URL OUT STOPFILE: one JSON line per second until STOPFILE exists.
poll_metrics() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys, time, urllib.request
url, out, stop = sys.argv[1:4]
def scrape():
    text = urllib.request.urlopen(url, timeout=2).read().decode()
    want = {"roost_cache_hits_total": "hits", "roost_cache_misses_total": "misses",
            'roost_cache_request_duration_seconds_sum{op="get"}': "get_sum",
            'roost_cache_request_duration_seconds_count{op="get"}': "get_count"}
    got = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if name in want:
            got[want[name]] = float(value)
    return got
with open(out, "w") as f:
    last, at = scrape(), time.time()
    while not os.path.exists(stop):
        time.sleep(max(0.0, at + 1.0 - time.time()))
        now, t = scrape(), time.time()
        d = {k: now.get(k, 0) - last.get(k, 0) for k in now}
        lookups = d["hits"] + d["misses"]
        f.write(json.dumps({
            "t_ms": int(t * 1000),
            "lookups": lookups,
            "hit_ratio": d["hits"] / lookups if lookups else None,
            "get_mean_ms": 1000 * d["get_sum"] / d["get_count"] if d["get_count"] else None,
        }) + "\n")
        f.flush()
        last, at = now, at + 1.0
PY
}

# one_run MODE REPEAT: prints one JSON object.
one_run() {
  local mode=$1 repeat=$2 i
  local -a port
  for i in 1 2 3 4; do
    port[i]=$(free_port)
    start_redis_node "node$i-$mode-$repeat" "${port[i]}"
  done
  # shellcheck disable=SC2086
  start_roost_fleet "roost-$mode-$repeat" \
    "redis://127.0.0.1:${port[1]},redis://127.0.0.1:${port[2]},redis://127.0.0.1:${port[3]}" \
    ROOST_REPLICAS="$REPLICAS" ROOST_WARMING="$mode" CACHE_TTL=0 $EXTRA_ENV
  local roost=$STARTED_PID
  NODES_URL="http://127.0.0.1:$ROOST_HTTP_PORT/api/cluster/nodes"
  "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$ROOST_RESP_PORT" --keys "$KEYS" \
    --value-size 100 --no-progress >/dev/null
  local stop="$WORK_DIR/stop-$mode-$repeat" seconds="$WORK_DIR/seconds-$mode-$repeat.jsonl"
  local budget=$((WARM_SECONDS + 120))
  "$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:$ROOST_RESP_PORT" --rate "$LOAD_RATE" \
    --connections 8 --duration "${budget}s" --keyspace "$KEYS" --zipf "$ZIPF" --mix get=100 \
    --ttl 0 --no-progress --json "$WORK_DIR/load-$mode-$repeat.json" >/dev/null 2>&1 &
  local load=$!
  PIDS+=("$load")
  poll_metrics "http://127.0.0.1:$ROOST_HTTP_PORT/metrics" "$seconds" "$stop" &
  local poller=$!
  sleep "$WARM_SECONDS"
  local added_ms settled_ms status deadline=$((SECONDS + SETTLE_DEADLINE_SECONDS))
  added_ms=$(now_ms)
  status=$(curl -s -o "$WORK_DIR/change.out" -w '%{http_code}' -X POST "$NODES_URL" \
    -H 'content-type: application/json' -d "{\"address\":\"redis://127.0.0.1:${port[4]}\"}")
  [[ $status == 20[01] ]] || die "adding the node answered $status: $(cat "$WORK_DIR/change.out")"
  while moving; do
    ((SECONDS < deadline)) || die "keys still moving after $SETTLE_DEADLINE_SECONDS s"
    sleep 0.1
  done
  settled_ms=$(now_ms)
  sleep "$AFTER_SECONDS"
  touch "$stop"
  wait "$poller" || true
  local warmup
  warmup=$(curl -sf "http://127.0.0.1:$ROOST_HTTP_PORT/api/cache/warming" 2>/dev/null |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("node_warmups")))' 2>/dev/null ||
    echo null)
  kill "$load" "$roost" 2>/dev/null || true
  wait "$load" "$roost" 2>/dev/null || true
  stop_started
  PIDS=()
  python3 - "$seconds" "$mode" "$repeat" "$added_ms" "$settled_ms" "$AFTER_SECONDS" "$warmup" <<'PY'
import json, statistics, sys
path, mode, repeat, added, settled, after, warmup = sys.argv[1:8]
added, settled, after = int(added), int(settled), int(after)
rows = [json.loads(l) for l in open(path) if l.strip()]
before = [r for r in rows if r["t_ms"] <= added and r["hit_ratio"] is not None][-8:]
window = [r for r in rows if added < r["t_ms"] <= settled + after * 1000 + 1000
          and r["hit_ratio"] is not None]
steady = statistics.median(r["hit_ratio"] for r in before)
steady_ms = statistics.median(r["get_mean_ms"] for r in before if r["get_mean_ms"])
worst = min(window, key=lambda r: r["hit_ratio"])
slowest = max((r["get_mean_ms"] for r in window if r["get_mean_ms"]), default=None)
print(json.dumps({
    "mode": mode, "repeat": int(repeat),
    "steady_hit_ratio": round(steady, 5), "worst_second_hit_ratio": round(worst["hit_ratio"], 5),
    "dip_points": round(100 * (steady - worst["hit_ratio"]), 3),
    "steady_get_mean_ms": round(steady_ms, 3),
    "worst_second_get_mean_ms": round(slowest, 3) if slowest else None,
    "move_s": round((settled - added) / 1000, 2),
    "seconds": [[r["t_ms"] - added, r["hit_ratio"], r["get_mean_ms"]] for r in rows],
    "node_warmups": json.loads(warmup) if warmup != "null" else None,
}))
PY
}

main() {
  require_tools "redis-server redis-tools curl python3" redis-server redis-cli curl python3
  ensure_release_binaries
  wait_for_quiet_machine 1.0 "${QUIET_WAIT:-120}"
  local runs="$WORK_DIR/runs.jsonl" repeat mode
  : >"$runs"
  for ((repeat = 1; repeat <= REPEATS; repeat++)); do
    local order="on off"
    ((repeat % 2 == 0)) && order="off on"
    for mode in $order; do
      one_run "$mode" "$repeat" | tee -a "$runs" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("warming %(mode)-3s run %(repeat)d: steady %(steady_hit_ratio).5f, worst second %(worst_second_hit_ratio).5f "
      "(dip %(dip_points)s points); GET mean %(steady_get_mean_ms)s ms steady, %(worst_second_get_mean_ms)s ms "
      "worst second; move %(move_s)s s" % r, file=sys.stderr)'
    done
  done
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/node-warmup-$(date -u +%Y-%m-%d).json"
  python3 - "$runs" "$out" "$(cd "$ROOT" && git describe --always --dirty)" \
    "$KEYS" "$ZIPF" "$LOAD_RATE" "$REPLICAS" "$EXTRA_ENV" <<'PY'
import json, statistics, sys, time
runs = [json.loads(l) for l in open(sys.argv[1])]
summary = {}
for mode in ("on", "off"):
    mine = [r for r in runs if r["mode"] == mode]
    med = lambda f: statistics.median(r[f] for r in mine if r[f] is not None)
    summary[mode] = {"dip_points": med("dip_points"), "steady_hit_ratio": med("steady_hit_ratio"),
                     "worst_second_hit_ratio": med("worst_second_hit_ratio"),
                     "steady_get_mean_ms": med("steady_get_mean_ms"),
                     "worst_second_get_mean_ms": med("worst_second_get_mean_ms"),
                     "move_s": med("move_s"), "runs": len(mine)}
print("| warming | steady hit ratio | worst second | dip (points) | GET mean steady | worst second | move |")
print("|---|---|---|---|---|---|---|")
for mode, s in summary.items():
    print(f"| {mode} | {100 * s['steady_hit_ratio']:.2f}% | {100 * s['worst_second_hit_ratio']:.2f}% | "
          f"{s['dip_points']:.2f} | {s['steady_get_mean_ms']:.3f} ms | {s['worst_second_get_mean_ms']:.3f} ms | "
          f"{s['move_s']:.1f} s |")
print(f"(medians of {summary['on']['runs']} runs each)")
json.dump({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "roost_commit": sys.argv[3], "keys": int(sys.argv[4]), "zipf": float(sys.argv[5]),
           "load_rate": int(sys.argv[6]), "replicas": int(sys.argv[7]), "extra_env": sys.argv[8],
           "runs": runs, "median": summary}, open(sys.argv[2], "w"), indent=1)
print(f"wrote {sys.argv[2]}")
PY
}

main "$@"
