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

# The fleet scripts' processes: each one started is appended to PIDS (the caller
# declares PIDS=() and WORK_DIR) and stopped by stop_started on exit.
# Each gets SIGTERM, and SIGKILL if it is still there 5 s later.
# Dies naming the tools in "$@" that are missing and the Debian packages ($1) that
# provide them.
require_tools() {
  local packages=$1 missing=() tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: apt-get install -y $packages"
}

# Builds the release roost and roost-bench when either binary is missing.
ensure_release_binaries() {
  if [[ ! -x "$ROOST_BIN" || ! -x "$ROOST_BENCH_BIN" ]]; then
    (cd "$ROOT" && cargo build --release -p roost -p roost-bench) ||
      die "cannot build $ROOST_BIN and $ROOST_BENCH_BIN"
  fi
}

# On any exit, stops what the script started (PIDS) and removes WORK_DIR.
stop_started_on_exit() {
  trap 'stop_started; rm -rf "$WORK_DIR"' EXIT
  trap 'exit 130' INT TERM
}

stop_started() {
  local pid deadline=$((SECONDS + 5))
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# start_redis_node NAME PORT: a redis-server with no persistence in $WORK_DIR/NAME on
# PORT (the same port again restarts a node with empty data); sets STARTED_PID.
start_redis_node() {
  local name=$1 port=$2 dir="$WORK_DIR/$1"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  wait_until "redis-server $name" "$STARTED_PID" "$dir/redis.log" redis_ping "$port"
}

# start_roost_fleet NAME NODES [VAR=VALUE...]: `roost serve` in an empty directory
# $WORK_DIR/NAME in front of the redis nodes NODES (redis://…,redis://…), with the
# extra environment given; sets ROOST_RESP_PORT, ROOST_HTTP_PORT and STARTED_PID once
# its REST and RESP ports answer.
start_roost_fleet() {
  local name=$1 nodes=$2 dir="$WORK_DIR/$1"
  shift 2
  mkdir -p "$dir"
  ROOST_RESP_PORT=$(free_port)
  ROOST_HTTP_PORT=$(free_port)
  (cd "$dir" && exec env REDIS_CLUSTER_NODES="$nodes" ROOST_BACKEND=redis \
    ROOST_HTTP_ADDR="127.0.0.1:$ROOST_HTTP_PORT" ROOST_RESP_ADDR="127.0.0.1:$ROOST_RESP_PORT" \
    ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" ROOST_LOG=warn "$@" "$ROOST_BIN" serve) \
    >"$dir/roost.log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  wait_until "roost ($name)" "$STARTED_PID" "$dir/roost.log" http_ok \
    "http://127.0.0.1:$ROOST_HTTP_PORT/readyz"
  wait_until "roost's RESP port ($name)" "$STARTED_PID" "$dir/roost.log" redis_ping \
    "$ROOST_RESP_PORT"
}

# cpu_seconds PID...: user + system CPU time the processes have used so far, all
# threads (fields 14 and 15 of /proc/PID/stat, counted after the command name).
cpu_seconds() {
  python3 - "$@" <<'PY'
import os, sys
ticks = 0
for pid in sys.argv[1:]:
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks += int(fields[11]) + int(fields[12])
print(f"{ticks / os.sysconf('SC_CLK_TCK'):.2f}")
PY
}

# read_syscalls PID...: read-like system calls the processes have made so far (syscr
# in /proc/PID/io): per operation on a redis node, how well a proxy batches.
read_syscalls() {
  local pid total=0
  for pid in "$@"; do
    total=$((total + $(awk '/^syscr:/ {print $2}' "/proc/$pid/io")))
  done
  echo "$total"
}

# wait_for_quiet_machine MAX_LOAD SECONDS: waits until the 1-minute load average is
# below MAX_LOAD (other work skews every figure), at most SECONDS; says so if it isn't.
wait_for_quiet_machine() {
  local max=$1 deadline=$((SECONDS + $2)) load
  while :; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))' "$load" "$max" &&
      return 0
    if ((SECONDS >= deadline)); then
      echo "load average still $load after waiting; running anyway (see load_average_at_start)" >&2
      return 0
    fi
    echo "load average $load >= $max: waiting for a quieter machine"
    sleep 10
  done
}

# now_ms: wall-clock milliseconds since the epoch.
now_ms() {
  date +%s%3N
}

# A redis-server on a free port (REDIS_PORT), for a script comparing Roost with it.
start_redis() {
  REDIS_PORT=$(free_port)
  local dir="$WORK_DIR/redis"
  mkdir -p "$dir"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
  PIDS+=($!)
  wait_until redis-server "$!" "$dir/redis.log" redis_ping "$REDIS_PORT"
}

# Roost on the embedded store on free ports (ROOST_RESP_PORT, ROOST_HTTP_PORT).
start_roost_embedded() {
  ROOST_RESP_PORT=$(free_port)
  ROOST_HTTP_PORT=$(free_port)
  local dir="$WORK_DIR/roost"
  mkdir -p "$dir"
  # An empty directory, so no roost.toml or .env of the caller applies; CACHE_TTL=0
  # and room for every key, because redis's entries neither expire nor get evicted.
  (cd "$dir" && exec env ROOST_HTTP_ADDR="127.0.0.1:$ROOST_HTTP_PORT" \
    ROOST_RESP_ADDR="127.0.0.1:$ROOST_RESP_PORT" ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" \
    ROOST_MAX_MEMORY=4GiB CACHE_TTL=0 ROOST_LOG=warn "$ROOST_BIN" serve) >"$dir/roost.log" 2>&1 &
  PIDS+=($!)
  local pid=$!
  wait_until roost "$pid" "$dir/roost.log" http_ok "http://127.0.0.1:$ROOST_HTTP_PORT/readyz"
  READY_DEADLINE_SECONDS=5 wait_until "roost's RESP port (ROOST_RESP_ADDR)" "$pid" \
    "$dir/roost.log" redis_ping "$ROOST_RESP_PORT"
}
