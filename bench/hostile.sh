#!/usr/bin/env bash
# What clients that never read cost Roost and the clients that do (issue 12's target:
# with hundreds of 1 MB values stored and a hundred hostile clients, RSS stays within
# the stored entries plus 256 MiB and a well-behaved client's p99 GET under 10 ms).
#
# For each binary and each of REPEATS rounds: starts `roost serve` (embedded store,
# ROOST_MAX_MEMORY=1GiB) on free loopback ports, stores BIG_KEYS values of 1,000,000
# bytes (big:0 ..) and 10,000 small ones (key:0 ..), then
#   1. baseline: a well-behaved client (roost-bench load, RESP GETs of the small keys,
#      open loop at RATE/s over 4 connections) for PHASE seconds;
#   2. hostile: the same client while `roost-bench hostile` runs NON_READERS RESP
#      clients sending an MGET of every big key, PIPELINERS sending 50 GETs of big:0,
#      and REST_NON_READERS posting an mget of every big key — none of them reading —
#      for PHASE seconds (after 5 s to let them connect and ask).
# Resident memory (VmRSS) is sampled every 100 ms; the report gives the bytes the store
# accounts to entries, RSS before the hostile phase, its peak during it, the peak minus
# the stored bytes, and the client's p99 in both phases (medians over the rounds).
#
# BEFORE_BIN, when set, is an older roost measured the same way in the same run (the
# hostile counts can be lowered for it with BEFORE_SCALE, a divisor: a roost that
# buffers whole answers needs hundreds of MB per hostile client).
#
# Environment (defaults): REPEATS (3) PHASE (30) RATE (2000) BIG_KEYS (300)
#   NON_READERS (40) PIPELINERS (40) REST_NON_READERS (20) BEFORE_BIN (unset)
#   BEFORE_SCALE (10) ROOST_BIN, ROOST_BENCH_BIN (target/release/...), RESULTS_DIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPEATS=${REPEATS:-3}
PHASE=${PHASE:-30}
RATE=${RATE:-2000}
BIG_KEYS=${BIG_KEYS:-300}
NON_READERS=${NON_READERS:-40}
PIPELINERS=${PIPELINERS:-40}
REST_NON_READERS=${REST_NON_READERS:-20}
BEFORE_BIN=${BEFORE_BIN:-}
BEFORE_SCALE=${BEFORE_SCALE:-10}
ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30

WORK_DIR=$(mktemp -d -t roost-hostile.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

# one_round NAME BIN SCALE: one baseline and one hostile phase; appends a JSON line
# to $WORK_DIR/rounds.jsonl.
one_round() {
  local name=$1 bin=$2 scale=$3 dir="$WORK_DIR/$1-$RANDOM"
  mkdir -p "$dir"
  local http resp
  http=$(free_port)
  resp=$(free_port)
  (cd "$dir" && exec env ROOST_HTTP_ADDR="127.0.0.1:$http" ROOST_RESP_ADDR="127.0.0.1:$resp" \
    ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" ROOST_MAX_MEMORY=1GiB ROOST_LOG=warn \
    "$bin" serve) >"$dir/roost.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_until "roost ($name)" "$pid" "$dir/roost.log" redis_ping "$resp"
  "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$resp" --keys "$BIG_KEYS" \
    --value-size 1000000 --prefix big: --batch 4 --connections 2 --no-progress >/dev/null
  "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$resp" --keys 10000 --value-size 100 \
    --no-progress >/dev/null
  local stored
  stored=$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["memory"]["used_bytes"])' \
    "http://127.0.0.1:$http/api/cache/stats/overview")
  python3 - "$pid" "$dir/rss.tsv" <<'PY' &
import sys, time
pid, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    while True:
        try:
            rss = next(int(l.split()[1]) * 1024 for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            break
        f.write(f"{time.time():.3f}\t{rss}\n")
        f.flush()
        time.sleep(0.1)
PY
  local sampler=$!
  PIDS+=("$sampler")
  local load=("$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:$resp" --mix get=100
    --keyspace 10000 --rate "$RATE" --connections 4 --duration "${PHASE}s" --no-progress)
  "${load[@]}" --json "$dir/baseline.json" >/dev/null
  local hostile_started
  hostile_started=$(date +%s.%N)
  "$ROOST_BENCH_BIN" hostile --resp "127.0.0.1:$resp" --http "127.0.0.1:$http" \
    --duration "$((PHASE + 10))s" --hold "$((PHASE + 10))s" --big-keys "$BIG_KEYS" \
    --non-readers $((NON_READERS / scale)) --pipeliners $((PIPELINERS / scale)) \
    --rest-non-readers $((REST_NON_READERS / scale)) --json "$dir/hostile-clients.json" \
    >"$dir/hostile.txt" 2>&1 &
  local hostile=$!
  PIDS+=("$hostile")
  sleep 5
  "${load[@]}" --json "$dir/hostile.json" >/dev/null
  wait "$hostile" || true
  kill "$sampler" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$name" "$scale" "$stored" "$hostile_started" "$dir" >>"$WORK_DIR/rounds.jsonl" <<'PY'
import json, sys
name, scale, stored, hostile_started, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
samples = [tuple(map(float, l.split())) for l in open(f"{d}/rss.tsv") if l.strip()]
before = max((r for t, r in samples if t < hostile_started), default=0)
during = max((r for t, r in samples if t >= hostile_started), default=0)
def p99(path):
    ops = json.load(open(path))["operations"]
    get = next(o for o in ops if o["operation"] == "get")
    return get["p99_micros"] / 1000, get["errors"], get["count"]
base, hostile = p99(f"{d}/baseline.json"), p99(f"{d}/hostile.json")
clients = json.load(open(f"{d}/hostile-clients.json"))
print(json.dumps(dict(binary=name, hostile_scale=scale, stored_bytes=stored,
                      rss_before_hostile=int(before), rss_peak_hostile=int(during),
                      peak_minus_stored=int(during - stored),
                      p99_ms_baseline=base[0], p99_ms_hostile=hostile[0],
                      get_errors_hostile=hostile[1], gets_hostile=hostile[2],
                      hostile_clients=clients)))
PY
}

main() {
  require_tools "redis-tools python3" redis-cli python3
  ensure_release_binaries
  local commit
  commit=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
  local r
  for ((r = 1; r <= REPEATS; r++)); do
    echo "round $r of $REPEATS"
    one_round roost "$ROOST_BIN" 1
    if [[ -n "$BEFORE_BIN" ]]; then
      one_round before "$BEFORE_BIN" "$BEFORE_SCALE"
      one_round roost-scaled "$ROOST_BIN" "$BEFORE_SCALE"
    fi
  done
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/hostile-$(date -u +%Y-%m-%d).json"
  python3 - "$WORK_DIR/rounds.jsonl" "$out" "$commit" <<'PY'
import json, statistics, sys, time
rounds = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rounds:
    by.setdefault(r["binary"], []).append(r)
mib = lambda b: b / (1 << 20)
summary = {}
print("| binary | hostile clients | stored MiB | RSS before MiB | RSS peak MiB | peak - stored MiB | p99 baseline ms | p99 hostile ms | GET errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, rs in by.items():
    med = lambda k: statistics.median(r[k] for r in rs)
    clients = sum(rs[0]["hostile_clients"][k]["clients"] for k in ("non_readers", "pipeliners", "rest_non_readers"))
    summary[name] = {k: med(k) for k in ("stored_bytes", "rss_before_hostile", "rss_peak_hostile",
                                          "peak_minus_stored", "p99_ms_baseline", "p99_ms_hostile", "get_errors_hostile")}
    summary[name]["hostile_clients"] = clients
    s = summary[name]
    print(f"| {name} | {clients} | {mib(s['stored_bytes']):.0f} | {mib(s['rss_before_hostile']):.0f} | "
          f"{mib(s['rss_peak_hostile']):.0f} | {mib(s['peak_minus_stored']):.0f} | {s['p99_ms_baseline']:.2f} | "
          f"{s['p99_ms_hostile']:.2f} | {s['get_errors_hostile']:.0f} |")
roost = summary.get("roost")
if roost:
    print(f"\ntarget RSS <= stored + 256 MiB: {'met' if roost['peak_minus_stored'] <= 256 << 20 else 'MISSED'} "
          f"({mib(roost['peak_minus_stored']):.0f} MiB over the stored entries)")
    print(f"target p99 GET < 10 ms under hostile clients: {'met' if roost['p99_ms_hostile'] < 10 else 'MISSED'} "
          f"({roost['p99_ms_hostile']:.2f} ms)")
json.dump(dict(measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), roost_commit=sys.argv[3],
               medians=summary, rounds=rounds), open(sys.argv[2], "w"), indent=2)
print(f"wrote {sys.argv[2]}")
PY
}

main "$@"
