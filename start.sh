#!/usr/bin/env bash
# Builds (release) and starts Roost in the background on the embedded store,
# waits until it is ready, and prints where to reach it.
#   pid file: $ROOST_RUN_DIR/roost.pid   log: $ROOST_RUN_DIR/roost.log
#   (ROOST_RUN_DIR defaults to ./run)
# Configuration comes from roost.toml, the environment and .env (see docs/configuration.md).
set -euo pipefail
cd "$(dirname "$0")"
run_dir=${ROOST_RUN_DIR:-run}
mkdir -p "$run_dir"
pid_file="$run_dir/roost.pid"
log_file="$run_dir/roost.log"

if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  echo "roost is already running (pid $(cat "$pid_file")); ./stop.sh stops it"
  exit 0
fi

./build.sh

# Fail fast, with the exact reason, on a bad configuration.
target/release/roost config check >/dev/null

nohup target/release/roost serve >"$log_file" 2>&1 &
pid=$!
echo "$pid" >"$pid_file"

# The bound address comes from the log, so port 0 works too.
addr=""
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "roost exited during start-up; last log lines:" >&2
    tail -n 20 "$log_file" >&2
    rm -f "$pid_file"
    exit 1
  fi
  addr=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log_file" 2>/dev/null |
    sed -nE 's/.*http listening.*addr[=":]+([^ ",]+).*/\1/p' | tail -n 1)
  if [[ -n "$addr" ]] && curl -fsS "http://$addr/readyz" >/dev/null 2>&1; then
    break
  fi
  addr=""
  sleep 0.2
done
if [[ -z "$addr" ]]; then
  echo "roost did not become ready within 60 s; stopping it. Last log lines:" >&2
  tail -n 20 "$log_file" >&2
  kill -TERM "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  exit 1
fi
echo "$addr" >"$run_dir/roost.addr"
dashboard_addr=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log_file" |
  sed -nE 's/.*dashboard listening.*addr[=":]+([^ ",]+).*/\1/p' | tail -n 1)

cat <<MSG
roost is running (pid $pid)
  dashboard   http://$dashboard_addr/   (also http://$addr/)
  REST API    http://$addr/api/cache
  stats       http://$addr/api/cache/stats/overview
  metrics     http://$addr/metrics
  OpenAPI     http://$addr/api/openapi.json
  log         $log_file
Try: curl -s -XPOST http://$addr/api/cache -H 'content-type: application/json' -d '{"key":"hello","value":"world"}'
Stop with ./stop.sh
MSG
deploy/prometheus.sh start "$addr"
