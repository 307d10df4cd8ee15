#!/usr/bin/env bash
# Drives ~30 s of realistic mixed traffic through the REST API (Zipf-distributed
# keys; gets, sets with TTLs, mgets and deletes) and prints what Roost's stats
# endpoint reports. Starts Roost with ./start.sh if it is not running, and stops
# it again afterwards in that case.
#   DEMO_DURATION (default 30s)  DEMO_CONNECTIONS (default 16)
set -euo pipefail
cd "$(dirname "$0")"
run_dir=${ROOST_RUN_DIR:-run}
duration=${DEMO_DURATION:-30s}
connections=${DEMO_CONNECTIONS:-16}

started_here=0
if ! { [[ -f "$run_dir/roost.pid" ]] && kill -0 "$(cat "$run_dir/roost.pid")" 2>/dev/null; }; then
  ./start.sh
  started_here=1
fi
stop_if_started() { if [[ $started_here == 1 ]]; then ./stop.sh; fi; }
trap stop_if_started EXIT
addr=$(cat "$run_dir/roost.addr")
[[ -x target/release/roost-bench ]] || ./build.sh

progress=()
[[ -t 2 ]] || progress=(--no-progress)
echo "== driving $duration of mixed traffic at http://$addr (Zipf keys, $connections connections)"
target/release/roost-bench load --target "http://$addr" --duration "$duration" \
  --connections "$connections" --keyspace 20000 --zipf 0.99 --value-size 200 \
  --mix get=70,set=20,mget=5,delete=5 --mget-keys 10 --ttl 120 --ttl-ratio 0.5 "${progress[@]}"

echo
echo "== what Roost reports (GET /api/cache/stats/overview)"
curl -fsS "http://$addr/api/cache/stats/overview" | python3 bench/stats_summary.py
