#!/usr/bin/env bash
# Functions shared by the bench scripts (sourced, not run): errors, free ports,
# readiness polling with a deadline, and the probes the scripts poll with.
# Callers set READY_DEADLINE_SECONDS.

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until WHAT PID LOG CMD...: polls CMD until it succeeds; fails after
# READY_DEADLINE_SECONDS, or as soon as PID has died, showing the end of LOG.
wait_until() {
  local what=$1 pid=$2 log=$3
  shift 3
  local deadline=$((SECONDS + READY_DEADLINE_SECONDS))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2 || true
      die "$what exited before it was ready"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$log" >&2 || true
      die "$what not ready after ${READY_DEADLINE_SECONDS}s"
    fi
    sleep 0.05
  done
}

redis_ping() {
  [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == "PONG" ]]
}

http_ok() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"
}
