#!/usr/bin/env bash
# How long the key mover takes: Roost (ROOST_REPLICAS=2) in front of three
# redis-server nodes holding KEYS keys of 100 bytes; a fourth node is added and,
# once the keys settled, drained again. Timed from the API call until
# GET /api/cluster/nodes reports "moving": false (polled every 100 ms). With
# LOAD_RATE > 0 a RESP client (`roost-bench load`, 80 % GETs and 20 % SETs over
# the keys, open loop, 10-second segments) runs at that rate throughout; the worst
# segment's GET p99 and the errors are reported.
# After the drain, every key must be on exactly two nodes again (DBSIZE summed
# over the nodes is 2 x KEYS): a move that lost or duplicated keys fails the run.
#
# Environment (defaults): BINS (target/release/roost; several binaries separated
#   by spaces are run in turn, each repeat), KEYS (200000), REPEATS (3),
#   LOAD_RATE (2000), ROOST_BENCH_BIN, RESULTS_DIR
# Writes bench/results/move-<date>.json and prints the median per binary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINS=${BINS:-$ROOT/target/release/roost}
KEYS=${KEYS:-200000}
REPEATS=${REPEATS:-3}
LOAD_RATE=${LOAD_RATE:-2000}
export ROOST_BIN=${BINS%% *}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30
# A move slower than this fails the run instead of hanging it.
SETTLE_DEADLINE_SECONDS=600

WORK_DIR=$(mktemp -d -t roost-move.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

moving() {
  curl -sf "$NODES_URL" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["moving"] else 1)'
}

# timed_change METHOD URL [BODY]: seconds from the call until keys stopped moving.
timed_change() {
  local start status
  start=$(now_ms)
  status=$(curl -s -o "$WORK_DIR/change.out" -w '%{http_code}' -X "$1" "$2" \
    -H 'content-type: application/json' ${3:+-d "$3"})
  [[ $status == 20[12] ]] || die "$1 $2 answered $status: $(cat "$WORK_DIR/change.out")"
  local deadline=$((SECONDS + SETTLE_DEADLINE_SECONDS))
  while moving; do
    ((SECONDS < deadline)) || die "keys still moving after $SETTLE_DEADLINE_SECONDS s"
    sleep 0.1
  done
  python3 -c 'import sys; print(f"{(int(sys.argv[2]) - int(sys.argv[1])) / 1000:.1f}")' "$start" "$(now_ms)"
}

# one_run BIN REPEAT: prints one JSON object.
one_run() {
  local bin=$1 repeat=$2 i
  local -a port pid
  for i in 1 2 3 4; do
    port[i]=$(free_port)
    start_redis_node "node$i-$repeat-$RANDOM" "${port[i]}"
    pid[i]=$STARTED_PID
  done
  ROOST_BIN=$bin start_roost_fleet "roost-$repeat-$RANDOM" \
    "redis://127.0.0.1:${port[1]},redis://127.0.0.1:${port[2]},redis://127.0.0.1:${port[3]}" \
    ROOST_REPLICAS=2
  local roost=$STARTED_PID
  NODES_URL="http://127.0.0.1:$ROOST_HTTP_PORT/api/cluster/nodes"
  "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$ROOST_RESP_PORT" --keys "$KEYS" \
    --value-size 100 --no-progress >/dev/null
  local load="" stop="$WORK_DIR/stop-load"
  rm -f "$stop" "$WORK_DIR"/load-*.json
  if ((LOAD_RATE > 0)); then
    (
      n=0
      while [[ ! -e $stop ]]; do
        "$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:$ROOST_RESP_PORT" --rate "$LOAD_RATE" \
          --connections 4 --duration 10s --keyspace "$KEYS" --uniform --mix get=80,set=20 \
          --ttl 0 --no-progress --json "$WORK_DIR/load-$n.json" >/dev/null 2>&1 || true
        n=$((n + 1))
      done
    ) &
    load=$!
    sleep 2
  fi
  local add drain added
  add=$(timed_change POST "$NODES_URL" "{\"address\":\"redis://127.0.0.1:${port[4]}\"}")
  added=$(redis-cli -p "${port[4]}" DBSIZE)
  drain=$(timed_change DELETE "$NODES_URL/127.0.0.1:${port[4]}")
  local p99=null errors=null
  if [[ -n $load ]]; then
    touch "$stop"
    wait "$load" 2>/dev/null || true
    read -r p99 errors < <(python3 - "$WORK_DIR" <<'PY'
import glob, json, sys
reports = [json.load(open(f)) for f in glob.glob(f"{sys.argv[1]}/load-*.json")]
gets = [op for r in reports for op in r["operations"] if op["operation"] == "get"]
print(max(op["p99_micros"] for op in gets) / 1000, sum(r["total_errors"] for r in reports))
PY
    )
  fi
  local total=0
  for i in 1 2 3 4; do
    total=$((total + $(redis-cli -p "${port[i]}" DBSIZE)))
  done
  kill "$roost" "${pid[@]:1}" 2>/dev/null || true
  wait "$roost" "${pid[@]:1}" 2>/dev/null || true
  ((total == 2 * KEYS)) || die "after the drain the nodes hold $total keys, not $((2 * KEYS))"
  printf '{"binary":"%s","repeat":%d,"keys":%d,"add_s":%s,"keys_on_new_node":%d,"drain_s":%s,"load_rate":%d,"worst_get_p99_ms":%s,"load_errors":%s}\n' \
    "$bin" "$repeat" "$KEYS" "$add" "$added" "$drain" "$LOAD_RATE" "$p99" "$errors"
}

main() {
  require_tools "redis-server redis-tools curl python3" redis-server redis-cli curl python3
  ensure_release_binaries
  wait_for_quiet_machine 1.0 120
  local runs="$WORK_DIR/runs.jsonl" repeat bin
  : >"$runs"
  for ((repeat = 1; repeat <= REPEATS; repeat++)); do
    for bin in $BINS; do
      one_run "$bin" "$repeat" | tee -a "$runs"
    done
  done
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/move-$(date -u +%Y-%m-%d).json"
  python3 - "$runs" "$out" "$(cd "$ROOT" && git describe --always --dirty)" <<'PY'
import json, statistics, sys, time
runs = [json.loads(l) for l in open(sys.argv[1])]
summary = {}
for bin in dict.fromkeys(r["binary"] for r in runs):
    mine = [r for r in runs if r["binary"] == bin]
    med = lambda f: statistics.median(r[f] for r in mine if r[f] is not None) if any(r[f] is not None for r in mine) else None
    summary[bin] = {"add_s": med("add_s"), "drain_s": med("drain_s"),
                    "keys_per_s_add": round(mine[0]["keys_on_new_node"] / med("add_s")) if med("add_s") else None,
                    "worst_get_p99_ms": med("worst_get_p99_ms"),
                    "load_errors": sum(r["load_errors"] or 0 for r in mine)}
    print(f"{bin}: add {summary[bin]['add_s']} s, drain {summary[bin]['drain_s']} s, "
          f"worst 10 s GET p99 {summary[bin]['worst_get_p99_ms']} ms, "
          f"{summary[bin]['load_errors']} errors (medians of {len(mine)})")
json.dump({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "roost_commit": sys.argv[3], "runs": runs, "median": summary},
          open(sys.argv[2], "w"), indent=1)
print(f"wrote {sys.argv[2]}")
PY
}

main "$@"
