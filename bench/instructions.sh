#!/usr/bin/env bash
# User-space instructions per request, from callgrind: repeatable where wall-clock
# throughput on a shared 2-core machine is not.
#
# For each binary given (default target/release/roost) and each request kind (resp:
# redis-benchmark GET at P=1 over one connection; http: GET /api/cache/<key> over one
# kept-alive connection), runs `roost serve` under `valgrind --tool=callgrind` with one
# worker thread and one shard, serves SMALL and then LARGE requests (one run each), and
# prints (instructions at LARGE - instructions at SMALL) / (LARGE - SMALL): what one
# request costs Roost in user space, start-up and shutdown cancelled out. Kernel work
# (most of a request's cost on loopback) is not counted.
#
# Usage: bench/instructions.sh [ROOST_BIN...]
# Environment (defaults): SMALL (2000) LARGE (12000) KINDS ("resp http")
#   PIPELINE (1: redis-benchmark -P of the resp kind; deeper pipelines run the batched
#   GET path at the request rates where sampling, e.g. hot-key tracking's, thins out)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMALL=${SMALL:-2000}
LARGE=${LARGE:-12000}
KINDS=${KINDS:-resp http}
PIPELINE=${PIPELINE:-1}
READY_DEADLINE_SECONDS=120

WORK_DIR=$(mktemp -d -t roost-instructions.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

# instructions BIN KIND N: callgrind's total for a server that served N requests.
instructions() {
  local bin=$1 kind=$2 n=$3 dir="$WORK_DIR/run-$RANDOM"
  mkdir -p "$dir"
  local resp http
  resp=$(free_port)
  http=$(free_port)
  (cd "$dir" && exec env ROOST_WORKER_THREADS=1 ROOST_SHARDS=1 ROOST_LOG=error \
    ROOST_HTTP_ADDR="127.0.0.1:$http" ROOST_RESP_ADDR="127.0.0.1:$resp" \
    ROOST_DASHBOARD_ADDR=127.0.0.1:0 ROOST_SHUTDOWN_GRACE=0 \
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" serve) >"$dir/log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_until "roost under callgrind" "$pid" "$dir/log" redis_ping "$resp"
  redis-cli -p "$resp" set key:000000000001 abc >/dev/null
  case $kind in
    resp) redis-benchmark -p "$resp" -t get -n "$n" -c 1 -P "$PIPELINE" -r 1 -q >/dev/null 2>&1 ;;
    http)
      python3 - "$http" "$n" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    c.request("GET", "/api/cache/key:000000000001")
    c.getresponse().read()
PY
      ;;
  esac
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  awk '/^(summary|totals):/ {print $2; exit}' "$dir/cg.out"
}

main() {
  require_tools "valgrind redis-tools python3" valgrind redis-cli redis-benchmark python3
  local bins=("$@")
  ((${#bins[@]})) || bins=("$ROOT/target/release/roost")
  local bin kind small large
  echo "| binary | request | instructions per request |"
  echo "|---|---|---:|"
  for bin in "${bins[@]}"; do
    bin=$(realpath "$bin")
    for kind in $KINDS; do
      small=$(instructions "$bin" "$kind" "$SMALL")
      large=$(instructions "$bin" "$kind" "$LARGE")
      echo "| $bin | $kind | $(((large - small) / (LARGE - SMALL))) |"
    done
  done
}

main "$@"
