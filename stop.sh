#!/usr/bin/env bash
# Stops the Roost started by ./start.sh: SIGTERM, which drains in-flight
# requests, then SIGKILL only if it has not exited after the drain timeout.
set -euo pipefail
cd "$(dirname "$0")"
run_dir=${ROOST_RUN_DIR:-run}
pid_file="$run_dir/roost.pid"

# Prometheus, when ./start.sh started one beside Roost.
deploy/prometheus.sh stop

if [[ ! -f "$pid_file" ]]; then
  echo "roost is not running (no $pid_file)"
  exit 0
fi
pid=$(cat "$pid_file")
if ! kill -0 "$pid" 2>/dev/null; then
  echo "roost (pid $pid) was not running; removing stale $pid_file"
  rm -f "$pid_file" "$run_dir/roost.addr"
  exit 0
fi
kill -TERM "$pid"
deadline=$((SECONDS + ${ROOST_SHUTDOWN_TIMEOUT:-30} + 5))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "roost (pid $pid) did not stop in time; killing it" >&2
  kill -KILL "$pid"
fi
rm -f "$pid_file" "$run_dir/roost.addr"
echo "roost stopped"
