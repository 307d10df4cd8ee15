#!/usr/bin/env bash
# A/B: two roost binaries side by side in one run, for a change on the request path.
#
# Starts `roost serve` from A_BIN and from B_BIN (embedded store, ROOST_WORKER_THREADS
# as given, else the default) on free loopback ports, preloads KEYSPACE keys into both,
# then REPEATS times, alternating which goes first:
#   - redis-benchmark GET and SET at each pipeline depth in PIPELINES (RESP);
#   - wrk GET of hits over the REST API (bench/wrk-get.lua, one thread).
# Prints the median of each point for A and B and B/A, and writes
# bench/results/ab-<date>.json. Run on a quiet machine: both servers share its cores
# with the clients, so only the ratio in one run means anything.
#
# Environment (defaults): A_BIN (required, the "before") B_BIN (target/release/roost)
#   REPEATS (5) KEYSPACE (100000) CONNECTIONS (50) PIPELINES ("1 16")
#   RB_REQUESTS (200000, redis-benchmark -n at P=1; × P at deeper pipelines, at most 2M)
#   HTTP_DURATION (4s) ROOST_BENCH_BIN RESULTS_DIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A_BIN=${A_BIN:?set A_BIN to the roost binary to compare against}
B_BIN=${B_BIN:-$ROOT/target/release/roost}
ROOST_BIN=$B_BIN
REPEATS=${REPEATS:-5}
KEYSPACE=${KEYSPACE:-100000}
CONNECTIONS=${CONNECTIONS:-50}
PIPELINES=${PIPELINES:-1 16}
RB_REQUESTS=${RB_REQUESTS:-200000}
HTTP_DURATION=${HTTP_DURATION:-4s}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30

WORK_DIR=$(mktemp -d -t roost-ab.XXXXXX)
PIDS=()
RUNS="$WORK_DIR/runs.tsv"
: >"$RUNS"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

# start NAME BIN: sets <NAME>_RESP and <NAME>_HTTP.
start() {
  local name=$1 bin=$2 dir="$WORK_DIR/$1" resp http
  mkdir -p "$dir"
  resp=$(free_port)
  http=$(free_port)
  (cd "$dir" && exec env ROOST_HTTP_ADDR="127.0.0.1:$http" ROOST_RESP_ADDR="127.0.0.1:$resp" \
    ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" ROOST_LOG=warn "$bin" serve) >"$dir/roost.log" 2>&1 &
  PIDS+=("$!")
  wait_until "roost $name" "$!" "$dir/roost.log" redis_ping "$resp"
  "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$resp" --keys "$KEYSPACE" --value-size 3 \
    --key-digits 12 --no-progress >/dev/null
  printf -v "${name}_RESP" '%s' "$resp"
  printf -v "${name}_HTTP" '%s' "$http"
}

# run NAME: one round of every point against NAME; appends to $RUNS.
run() {
  local name=$1 resp_var="${1}_RESP" http_var="${1}_HTTP" p op n
  for p in $PIPELINES; do
    n=$((RB_REQUESTS * p))
    ((n <= 2000000)) || n=2000000
    for op in GET SET; do
      local line rps
      line=$(redis-benchmark -p "${!resp_var}" -t "${op,,}" -P "$p" -n "$n" -r "$KEYSPACE" \
        -c "$CONNECTIONS" -q --csv 2>/dev/null | grep "^\"$op\"") || die "redis-benchmark printed no $op line"
      IFS=, read -r _ rps _ <<<"${line//\"/}"
      printf '%s\tresp %s P=%s\t%s\n' "$name" "$op" "$p" "$rps" >>"$RUNS"
    done
  done
  local rps
  rps=$(KEYSPACE="$KEYSPACE" wrk -t1 -c"$CONNECTIONS" -d"$HTTP_DURATION" -s "$ROOT/bench/wrk-get.lua" \
    "http://127.0.0.1:${!http_var}" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
  printf '%s\thttp GET (wrk)\t%s\n' "$name" "$rps" >>"$RUNS"
}

main() {
  require_tools "redis-tools wrk python3" redis-benchmark wrk python3
  ensure_release_binaries
  start A "$A_BIN"
  start B "$B_BIN"
  local r
  for ((r = 1; r <= REPEATS; r++)); do
    echo "repeat $r of $REPEATS"
    if ((r % 2)); then run A && run B; else run B && run A; fi
  done
  mkdir -p "$RESULTS_DIR"
  python3 - "$RUNS" "$RESULTS_DIR/ab-$(date -u +%Y-%m-%d).json" "$A_BIN" "$B_BIN" <<'PY'
import json, statistics, sys, time
runs, out, a_bin, b_bin = sys.argv[1:]
points = {}
for line in open(runs):
    name, point, value = line.rstrip("\n").split("\t")
    if value:
        points.setdefault(point, {}).setdefault(name, []).append(float(value))
print("| point | A ops/s | B ops/s | B/A | B/A range over repeats |")
print("|---|---:|---:|---:|---|")
summary = {}
for point, by in points.items():
    a, b = statistics.median(by["A"]), statistics.median(by["B"])
    pairs = [y / x for x, y in zip(by["A"], by["B"])]
    summary[point] = dict(a=by["A"], b=by["B"], a_median=a, b_median=b, ratio=b / a)
    print(f"| {point} | {a:,.0f} | {b:,.0f} | {b / a:.3f} | {min(pairs):.3f}-{max(pairs):.3f} |")
json.dump(dict(measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), a=a_bin, b=b_bin,
               points=summary), open(out, "w"), indent=2)
print(f"wrote {out}")
PY
}

main "$@"
