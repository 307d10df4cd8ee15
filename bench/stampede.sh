#!/usr/bin/env bash
# A stampede: CLIENTS clients GET one missing key at the same instant, through 1 and
# then 3 `roost serve` gateways over the same three redis-server nodes, with origin
# read-through on (ROOST_ORIGIN_URL) to `roost-bench origin` answering after
# ORIGIN_LATENCY. Each gateway count is run REPEATS times, each time with a fresh key;
# every run reports how many requests the origin served for that key (the target is
# 1: single-flight within a gateway, a lease on the key's node across gateways), how
# many clients got the value, and the clients' latency (the origin's latency plus the
# wait, which a lease adds to the gateways that did not fetch).
#
# Starts everything on free loopback ports in a temp dir, stops it on exit. Prints a
# markdown table and writes bench/results/stampede-<date>.json and stampede-latest.json.
#
# Environment (defaults; QUICK=1 shrinks to 200 clients, one repeat):
#   CLIENTS (1000)  REPEATS (3)  ORIGIN_LATENCY (200ms)  VALUE_SIZE (100)
#   GATEWAY_COUNTS ("1 3")  ROOST_BIN, ROOST_BENCH_BIN (target/release/...)
#   RESULTS_DIR (bench/results)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  CLIENTS=${CLIENTS:-200}
  REPEATS=${REPEATS:-1}
fi
CLIENTS=${CLIENTS:-1000}
REPEATS=${REPEATS:-3}
ORIGIN_LATENCY=${ORIGIN_LATENCY:-200ms}
VALUE_SIZE=${VALUE_SIZE:-100}
read -r -a GATEWAY_COUNTS <<<"${GATEWAY_COUNTS:-1 3}"
export ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30

WORK_DIR=$(mktemp -d -t roost-stampede.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_started_on_exit
require_tools "redis-server redis-tools python3" redis-server redis-cli python3
ensure_release_binaries
# Each client holds a connection to a gateway, and each gateway one per client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

ORIGIN_PORT=$(free_port)
"$ROOST_BENCH_BIN" origin --listen "127.0.0.1:$ORIGIN_PORT" --latency "$ORIGIN_LATENCY" \
  --value-size "$VALUE_SIZE" >"$WORK_DIR/origin.log" 2>&1 &
PIDS+=("$!")
wait_until "roost-bench origin" "$!" "$WORK_DIR/origin.log" http_ok \
  "http://127.0.0.1:$ORIGIN_PORT/__stats"

NODES=()
for i in 1 2 3; do
  port=$(free_port)
  start_redis_node "node$i" "$port"
  NODES+=("redis://127.0.0.1:$port")
done
NODE_LIST=$(IFS=,; echo "${NODES[*]}")

GATEWAYS=()
max_gateways=0
for count in "${GATEWAY_COUNTS[@]}"; do
  ((count > max_gateways)) && max_gateways=$count
done
for ((i = 1; i <= max_gateways; i++)); do
  start_roost_fleet "gateway$i" "$NODE_LIST" \
    ROOST_ORIGIN_URL="http://127.0.0.1:$ORIGIN_PORT/items/{key}" \
    ROOST_RESP_MAX_CONNECTIONS=100000 ROOST_WORKER_THREADS=2
  GATEWAYS+=("127.0.0.1:$ROOST_RESP_PORT")
done

RUN_ID=$(date +%s)
REPORTS=()
for count in "${GATEWAY_COUNTS[@]}"; do
  args=()
  for ((i = 0; i < count; i++)); do
    args+=(--gateway "${GATEWAYS[$i]}")
  done
  json="$WORK_DIR/stampede-$count.json"
  echo "== $CLIENTS clients, $count gateway(s), origin latency $ORIGIN_LATENCY" >&2
  "$ROOST_BENCH_BIN" stampede "${args[@]}" --origin "http://127.0.0.1:$ORIGIN_PORT" \
    --clients "$CLIENTS" --rounds "$REPEATS" --key-prefix "stampede:$RUN_ID:$count" \
    --json "$json" >&2
  REPORTS+=("$json")
done

mkdir -p "$RESULTS_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
python3 - "$RESULTS_DIR/stampede-$STAMP.json" "$CLIENTS" "$ORIGIN_LATENCY" "${REPORTS[@]}" <<'PY'
import json, statistics, sys
out, clients, latency, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
reports = [json.load(open(p)) for p in paths]
print(f"| gateways | clients | origin latency | origin requests per run | values | errors | p50 ms (median) | p99 ms (median) | max ms (worst) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in reports:
    rounds = r["rounds"]
    print(f"| {r['gateways']} | {clients} | {latency} | "
          f"{', '.join(str(x['origin_requests']) for x in rounds)} | "
          f"{min(x['values'] for x in rounds)}–{max(x['values'] for x in rounds)} | "
          f"{sum(x['errors'] for x in rounds)} | "
          f"{statistics.median(x['p50_ms'] for x in rounds):.1f} | "
          f"{statistics.median(x['p99_ms'] for x in rounds):.1f} | "
          f"{max(x['max_ms'] for x in rounds):.1f} |")
json.dump({"clients": clients, "origin_latency": latency, "runs": reports},
          open(out, "w"), indent=2)
PY
cp "$RESULTS_DIR/stampede-$STAMP.json" "$RESULTS_DIR/stampede-latest.json"
echo "wrote $RESULTS_DIR/stampede-$STAMP.json" >&2
