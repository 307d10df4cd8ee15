#!/usr/bin/env bash
# Multi-key commands in front of Redis: DEL and EXISTS of KEYS_PER_COMMAND keys at a
# time, and MGET of the same keys for comparison, through Roost (ROOST_REPLICAS=1)
# over three redis-server nodes. Each command's keys are spread over the three nodes
# by the ring; a Roost that sends each node one pipelined request per command answers
# in about one round trip, one that asks key by key in KEYS_PER_COMMAND.
#
# For each binary in BINS, REPEATS times: start three nodes and Roost, then with
# redis-benchmark (-c CONNECTIONS, -n REQUESTS, P=1), EXISTS k1..kN and MGET k1..kN
# over keys that exist, and DEL k1..kN (the first DEL of a run removes them, later
# ones find nothing: the same work for the gateway). Prints the median requests per
# second and p50 latency per binary and command, and writes
# bench/results/multikey-<date>.json.
#
# Environment (defaults): BINS (target/release/roost; several, space-separated, are
#   run in turn each repeat), KEYS_PER_COMMAND (100), REPEATS (3), CONNECTIONS (10),
#   REQUESTS (5000), RESULTS_DIR (bench/results)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINS=${BINS:-$ROOT/target/release/roost}
KEYS_PER_COMMAND=${KEYS_PER_COMMAND:-100}
REPEATS=${REPEATS:-3}
CONNECTIONS=${CONNECTIONS:-10}
REQUESTS=${REQUESTS:-5000}
export ROOST_BIN=${BINS%% *}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30

WORK_DIR=$(mktemp -d -t roost-multikey.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

# bench_command PORT NAME ARGS...: one JSON object with redis-benchmark's rps and p50.
bench_command() {
  local port=$1 name=$2
  shift 2
  local csv
  csv=$(redis-benchmark -p "$port" -c "$CONNECTIONS" -n "$REQUESTS" --csv "$@" | tail -1)
  python3 - "$name" "$csv" <<'PY'
import csv, io, json, sys
row = next(csv.reader(io.StringIO(sys.argv[2])))
print(json.dumps({"command": sys.argv[1], "rps": float(row[1]), "p50_ms": float(row[4])}))
PY
}

# one_run BIN REPEAT: prints one JSON object per command.
one_run() {
  local bin=$1 repeat=$2 i
  local -a port keys
  for i in 1 2 3; do
    port[i]=$(free_port)
    start_redis_node "node$i-$repeat-$RANDOM" "${port[i]}"
  done
  ROOST_BIN=$bin start_roost_fleet "roost-$repeat-$RANDOM" \
    "redis://127.0.0.1:${port[1]},redis://127.0.0.1:${port[2]},redis://127.0.0.1:${port[3]}"
  local roost=$STARTED_PID
  for ((i = 0; i < KEYS_PER_COMMAND; i++)); do
    keys+=("multikey:$i")
  done
  local -a mset=()
  for key in "${keys[@]}"; do
    mset+=("$key" v)
  done
  redis-cli -p "$ROOST_RESP_PORT" MSET "${mset[@]}" >/dev/null
  for command in EXISTS MGET DEL; do
    bench_command "$ROOST_RESP_PORT" "$command" "$command" "${keys[@]}" |
      python3 -c 'import json,sys; r=json.load(sys.stdin); r.update(binary=sys.argv[1], repeat=int(sys.argv[2])); print(json.dumps(r))' "$bin" "$repeat"
  done
  kill "$roost" 2>/dev/null || true
  wait "$roost" 2>/dev/null || true
  stop_started
  PIDS=()
}

main() {
  require_tools "redis-server redis-tools curl python3" redis-server redis-cli redis-benchmark curl python3
  ensure_release_binaries
  local runs="$WORK_DIR/runs.jsonl" repeat bin
  : >"$runs"
  for ((repeat = 1; repeat <= REPEATS; repeat++)); do
    for bin in $BINS; do
      one_run "$bin" "$repeat" | tee -a "$runs"
    done
  done
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/multikey-$(date -u +%Y-%m-%d).json"
  python3 - "$runs" "$out" "$(cd "$ROOT" && git describe --always --dirty)" "$KEYS_PER_COMMAND" <<'PY'
import json, statistics, sys, time
runs = [json.loads(l) for l in open(sys.argv[1])]
summary = {}
print(f"| binary | command ({sys.argv[4]} keys) | requests/s (median) | p50 ms (median) |")
print("|---|---|---|---|")
for bin in dict.fromkeys(r["binary"] for r in runs):
    for command in dict.fromkeys(r["command"] for r in runs):
        mine = [r for r in runs if r["binary"] == bin and r["command"] == command]
        rps = statistics.median(r["rps"] for r in mine)
        p50 = statistics.median(r["p50_ms"] for r in mine)
        summary.setdefault(bin, {})[command] = {"rps": rps, "p50_ms": p50}
        print(f"| {bin} | {command} | {rps:,.0f} | {p50:.3f} |")
json.dump({"commit": sys.argv[3], "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "keys_per_command": int(sys.argv[4]), "summary": summary, "runs": runs},
          open(sys.argv[2], "w"), indent=1)
print(f"written {sys.argv[2]}")
PY
}

main "$@"
