#!/usr/bin/env bash
# Soak with faults: SOAK_MINUTES (30) of mixed REST and RESP load through Roost in
# front of three redis-server nodes (ROOST_REPLICAS=2), while nodes are killed and
# restarted, paused with SIGSTOP, a fourth node is added and drained, and hostile
# clients (non-readers, slowloris, garbage, idle sockets) run the whole time.
#
# Load (well-behaved clients):
#   - RESP: `roost-bench durability` for the whole run at RESP_RATE/s (unique keys
#     written, acknowledged ones read back; at the end every acknowledged write is
#     read back: a missing or changed one is a lost write);
#   - REST: `roost-bench load` in one-minute segments at REST_RATE/s (gets, sets,
#     mgets, deletes over 10,000 keys), so each minute has its own p99.
# Faults, one every FAULT_EVERY (90) seconds after a 2-minute warm-up, in the order of
# FAULTS (default "kill pause add kill pause drain", repeated): kill = kill -9 a node
# and restart it 15 s later; pause = SIGSTOP a node for 5 s; add = add node 4 and wait
# for its keys to settle (at most 120 s); drain = drain node 4 likewise. The nodes
# killed and paused go round all three.
# Nodes run with appendonly yes / appendfsync always: a killed node restarts with
# what it had acknowledged, as a crashed process on a surviving disk does.
# Resident memory of roost is sampled every 10 s.
#
# Reports availability of the well-behaved requests (target >= 99.99 %), p99 per
# minute (RESP and REST), RSS per minute and its growth after the warm-up (target
# < 5 %), acknowledged writes lost (target 0) and panics (target 0: roost_panics_total
# and the log). Writes bench/results/soak-<date>.json.
#
# Environment (defaults): SOAK_MINUTES (30) RESP_RATE (1500) REST_RATE (400)
#   FAULT_EVERY (90) FAULTS (above) WARMUP_MINUTES (5, for the RSS growth figure)
#   ROOST_BIN, ROOST_BENCH_BIN (target/release/...), RESULTS_DIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOAK_MINUTES=${SOAK_MINUTES:-30}
RESP_RATE=${RESP_RATE:-1500}
REST_RATE=${REST_RATE:-400}
FAULT_EVERY=${FAULT_EVERY:-90}
FAULTS=${FAULTS:-kill pause add kill pause drain}
WARMUP_MINUTES=${WARMUP_MINUTES:-5}
export ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30
((SOAK_MINUTES >= 3)) || {
  echo "$0: SOAK_MINUTES must be at least 3" >&2
  exit 1
}

WORK_DIR=$(mktemp -d -t roost-soak.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

EVENTS="$WORK_DIR/events.tsv"
: >"$EVENTS"
event() {
  printf '%s\t%s\n' "$(($(now_ms) - T0))" "$*" >>"$EVENTS"
  echo "[$(((($(now_ms) - T0)) / 1000)) s] $*"
}

# start_node I: redis-server number I (1..4) with an append-only file, on its port.
start_node() {
  local i=$1 dir="$WORK_DIR/node$1"
  mkdir -p "$dir"
  redis-server --port "${PORT[$i]}" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --dir "$dir" --logfile "$dir/redis.log" &
  NODE_PID[$i]=$!
  PIDS+=("${NODE_PID[$i]}")
  wait_until "redis-server node$i" "${NODE_PID[$i]}" "$dir/redis.log" redis_ping "${PORT[$i]}"
}

api() {
  python3 - "$@" <<'PY'
import json, sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
try:
    print(urllib.request.urlopen(req, timeout=10).read().decode())
except urllib.error.HTTPError as e:
    print(f"{e.code} {e.read().decode()}")
PY
}

# wait_settled: until the topology reports no keys moving (at most 120 s).
wait_settled() {
  local deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    api GET "$NODES_URL" | python3 -c 'import json,sys; sys.exit(0 if not json.load(sys.stdin)["moving"] else 1)' && return 0
    sleep 1
  done
  event "keys still moving after 120 s"
}

# fault N: the Nth fault of FAULTS (cycled); the Kth kill (or pause) takes node K % 3 + 1.
fault() {
  local n=$1 kinds
  read -ra kinds <<<"$FAULTS"
  local kind=${kinds[n % ${#kinds[@]}]}
  local victim=$((${FAULTS_DONE[$kind]:-0} % 3 + 1))
  FAULTS_DONE[$kind]=$((${FAULTS_DONE[$kind]:-0} + 1))
  case $kind in
    kill)
      event "kill -9 node$victim"
      kill -9 "${NODE_PID[$victim]}"
      wait "${NODE_PID[$victim]}" 2>/dev/null || true
      sleep 15
      start_node "$victim"
      event "node$victim restarted"
      ;;
    pause)
      event "SIGSTOP node$victim for 5 s"
      kill -STOP "${NODE_PID[$victim]}"
      sleep 5
      kill -CONT "${NODE_PID[$victim]}"
      event "SIGCONT node$victim"
      ;;
    add)
      event "add node4: $(api POST "$NODES_URL" "{\"address\":\"redis://127.0.0.1:${PORT[4]}\"}" | head -c 120)"
      wait_settled
      event "node4 added, keys settled"
      ;;
    drain)
      event "drain node4: $(api DELETE "$NODES_URL/127.0.0.1:${PORT[4]}" | head -c 120)"
      wait_settled
      event "node4 drained"
      ;;
    *) die "unknown fault $kind in FAULTS" ;;
  esac
}

main() {
  require_tools "redis-server redis-tools python3" redis-server redis-cli python3
  ensure_release_binaries
  local commit
  commit=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
  declare -g -A PORT NODE_PID FAULTS_DONE
  local i nodes=""
  for i in 1 2 3 4; do
    PORT[$i]=$(free_port)
    start_node "$i"
    ((i == 4)) || nodes+="${nodes:+,}redis://127.0.0.1:${PORT[$i]}"
  done
  start_roost_fleet roost "$nodes" ROOST_REPLICAS=2 CACHE_TTL=0
  local roost_pid=$STARTED_PID
  NODES_URL="http://127.0.0.1:$ROOST_HTTP_PORT/api/cluster/nodes"
  "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$ROOST_RESP_PORT" --keys 20 \
    --value-size 1000000 --prefix big: --batch 2 --connections 2 --no-progress >/dev/null
  "$ROOST_BENCH_BIN" fill --target "http://127.0.0.1:$ROOST_HTTP_PORT" --keys 10000 \
    --value-size 100 --no-progress >/dev/null

  local seconds=$((SOAK_MINUTES * 60))
  T0=$(now_ms)
  echo "soak: $SOAK_MINUTES min, RESP $RESP_RATE/s, REST $REST_RATE/s, a fault every $FAULT_EVERY s"
  python3 - "$roost_pid" "$WORK_DIR/rss.tsv" "$seconds" <<'PY' &
import sys, time
pid, out, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.time()
with open(out, "w") as f:
    while time.time() - start < seconds:
        try:
            rss = next(int(l.split()[1]) * 1024 for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            break
        f.write(f"{time.time() - start:.1f}\t{rss}\n")
        f.flush()
        time.sleep(10)
PY
  PIDS+=("$!")
  "$ROOST_BENCH_BIN" durability --target "resp://127.0.0.1:$ROOST_RESP_PORT" \
    --duration "${seconds}s" --rate "$RESP_RATE" --connections 8 --read-share 0.5 \
    --json "$WORK_DIR/durability.json" >"$WORK_DIR/durability.txt" 2>&1 &
  local durability=$!
  PIDS+=("$durability")
  "$ROOST_BENCH_BIN" hostile --resp "127.0.0.1:$ROOST_RESP_PORT" --http "127.0.0.1:$ROOST_HTTP_PORT" \
    --duration "${seconds}s" --big-keys 20 --non-readers 2 --pipeliners 2 --rest-non-readers 2 \
    --slowloris 5 --garbage 2 --idle 5 --json "$WORK_DIR/hostile.json" >"$WORK_DIR/hostile.txt" 2>&1 &
  PIDS+=("$!")
  (
    for ((m = 0; m < SOAK_MINUTES; m++)); do
      "$ROOST_BENCH_BIN" load --target "http://127.0.0.1:$ROOST_HTTP_PORT" --rate "$REST_RATE" \
        --connections 8 --duration 60s --keyspace 10000 --ttl 0 --no-progress \
        --json "$WORK_DIR/rest-$m.json" >/dev/null 2>>"$WORK_DIR/rest.err" || true
    done
  ) &
  local rest=$!
  PIDS+=("$rest")

  sleep 120
  local n=0
  while (($(now_ms) - T0 < (seconds - FAULT_EVERY) * 1000)); do
    fault "$n"
    n=$((n + 1))
    local next=$((120 + n * FAULT_EVERY))
    local wait_s=$((next - ($(now_ms) - T0) / 1000))
    ((wait_s <= 0)) || sleep "$wait_s"
  done
  event "faults over; load continues to the end"
  wait "$durability" || true
  wait "$rest" || true
  local metrics="$WORK_DIR/metrics.txt"
  python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
    "http://127.0.0.1:$ROOST_HTTP_PORT/metrics" >"$metrics"
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/soak-$(date -u +%Y-%m-%d).json"
  python3 - "$WORK_DIR" "$out" "$commit" "$SOAK_MINUTES" "$WARMUP_MINUTES" "$RESP_RATE" "$REST_RATE" \
    "$FAULT_EVERY" "$FAULTS" <<'PY'
import glob, json, os, re, statistics, sys, time
work, out, commit = sys.argv[1], sys.argv[2], sys.argv[3]
minutes, warmup, resp_rate, rest_rate, fault_every = map(int, sys.argv[4:9])
faults = sys.argv[9]
dur = json.load(open(f"{work}/durability.json"))
load = dur["load"]
resp_total = load["writes"] + load["reads"]
resp_failed = load["write_errors"] + load["read_errors"]
rest = []
for m in range(minutes):
    path = f"{work}/rest-{m}.json"
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    worst_p99 = max((o["p99_micros"] for o in r["operations"]), default=0) / 1000
    rest.append(dict(minute=m, requests=r["total_ops"], errors=r["total_errors"], p99_ms=worst_p99))
rest_total = sum(r["requests"] for r in rest)
rest_failed = sum(r["errors"] for r in rest)
availability = 1 - (resp_failed + rest_failed) / max(1, resp_total + rest_total)
rss = [tuple(map(float, l.split())) for l in open(f"{work}/rss.tsv") if l.strip()]
rss_by_minute = {}
for t, b in rss:
    rss_by_minute.setdefault(int(t // 60), []).append(b)
rss_rows = [dict(minute=m, rss_mib=round(statistics.median(v) / 2**20, 1)) for m, v in sorted(rss_by_minute.items())]
after_warmup = [r["rss_mib"] for r in rss_rows if r["minute"] >= warmup]
growth = (after_warmup[-1] - after_warmup[0]) / after_warmup[0] if len(after_warmup) >= 2 else None
metrics = open(f"{work}/metrics.txt").read()
panics = sum(float(v) for v in re.findall(r'^roost_panics_total\{[^}]*\} (\S+)$', metrics, re.M))
log = open(f"{work}/roost/roost.log").read()
panics += log.count("panicked")
disconnects = {m.group(1): float(m.group(2)) for m in re.finditer(r'^roost_client_disconnects_total\{door="[^"]+",reason="([^"]+)"\} (\S+)$', metrics, re.M) if float(m.group(2)) > 0}
events = [l.rstrip("\n").split("\t", 1) for l in open(f"{work}/events.tsv")]
hostile = json.load(open(f"{work}/hostile.json")) if os.path.exists(f"{work}/hostile.json") else None
targets = dict(
    availability=dict(measured=availability, goal=">= 0.9999", met=availability >= 0.9999),
    lost_writes=dict(measured=dur["lost_writes"], goal="0", met=dur["lost_writes"] == 0 and dur["verify"]["unverified"] == 0),
    rss_growth_after_warmup=dict(measured=growth, goal="< 0.05", met=growth is not None and growth < 0.05),
    panics=dict(measured=panics, goal="0", met=panics == 0))
result = dict(measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), roost_commit=commit,
              parameters=dict(minutes=minutes, warmup_minutes=warmup, resp_rate=resp_rate, rest_rate=rest_rate,
                              fault_every_s=fault_every, faults=faults, replicas=2, nodes=3),
              targets=targets, resp=dict(requests=resp_total, failed=resp_failed, reads_missing=load["reads_missing"],
                                         reads_missing_by_second={i: s["missing"] for i, s in enumerate(load["timeline"]) if s.get("missing")},
                                         latency_by_minute=dur["latency_by_minute"]),
              rest=dict(requests=rest_total, failed=rest_failed, by_minute=rest),
              rss_by_minute=rss_rows, disconnects=disconnects, events=events, hostile=hostile,
              durability=dur)
json.dump(result, open(out, "w"), indent=2)
print()
print("| minute | RESP p99 ms | REST p99 ms | REST errors | RSS MiB |")
print("|---:|---:|---:|---:|---:|")
resp_by = {m["minute"]: m for m in dur["latency_by_minute"]}
rest_by = {r["minute"]: r for r in rest}
rss_by = {r["minute"]: r for r in rss_rows}
for m in range(minutes):
    a, b, c = resp_by.get(m), rest_by.get(m), rss_by.get(m)
    print(f"| {m} | {a['p99_ms'] if a else '-'} | {b['p99_ms'] if b else '-'} | {b['errors'] if b else '-'} | {c['rss_mib'] if c else '-'} |")
print()
print(f"availability {availability * 100:.4f} % ({resp_failed + rest_failed} failed of {resp_total + rest_total}): "
      f"{'met' if targets['availability']['met'] else 'MISSED'} (>= 99.99 %)")
print(f"acknowledged writes lost: {dur['lost_writes']} of {load['writes_acknowledged']} "
      f"(unverified {dur['verify']['unverified']}): {'met' if targets['lost_writes']['met'] else 'MISSED'} (0)")
print(f"RSS growth after minute {warmup}: {growth * 100 if growth is not None else float('nan'):.2f} %: "
      f"{'met' if targets['rss_growth_after_warmup']['met'] else 'MISSED'} (< 5 %)")
print(f"panics: {panics:.0f}: {'met' if targets['panics']['met'] else 'MISSED'} (0)")
print(f"clients Roost cut: {disconnects}")
print(f"wrote {out}")
PY
}

main "$@"
