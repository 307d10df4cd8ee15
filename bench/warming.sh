#!/usr/bin/env bash
# Cache warming, off against on, in one run (issue 15, item 7). Each scenario is run
# RUNS times with ROOST_WARMING=off and =on (alternating which goes first), each time
# against a fresh embedded `roost serve` reading through to `roost-bench origin`
# (ORIGIN_LATENCY per answer, a request counter), and the median of the runs is
# compared:
#   refresh   50 hot keys, origin max-age 2 s, REFRESH_RATE reads/s: reads that waited
#             on the origin (target: on <= 5 % of off) and origin requests (on <= 1.2x)
#   sessions  GET user:<id>, 10 ms think, GET feed:<id>, each id back after both
#             expired (max-age 1 s): feed reads that waited (target: >= 60 % of off's
#             become hits), prefetch precision (>= 50 %) and coverage from
#             /api/cache/warming when the server has it
#   uniform   keys drawn from 10,000,000: origin requests (target: on <= 1.05x off)
# Then the restart curves (`roost-bench warming curve`, no origin: Zipf GETs, SET on a
# miss, the hit ratio every second, over a keyspace filled first), with warming on: Roost is restarted after
# CURVE_BEFORE seconds by SIGTERM with ROOST_DATA_DIR (sigterm), by kill -9 with
# ROOST_DATA_DIR and WARMING_INTERVAL=CURVE_INTERVAL (kill9: from the last periodic
# snapshot), and by SIGTERM without a data dir (cold). The client reconnects on its
# own; the figure is the hit ratio over the first 3 s of traffic after the restart
# over the steady one in the 5 s before it (target: >= 0.9 for sigterm and kill9).
# Last, bench/node-warmup.sh (the node-add dip) when it exists, its output kept.
#
# Prints markdown tables and writes bench/results/warming-<date>.json and
# warming-latest.json, with every run's report and curve lines. Everything runs on
# free loopback ports in a temp dir and is stopped on exit.
#
# Environment (defaults; QUICK=1 for a smoke run: 1 run, short windows):
#   ROOST_BIN (target/release/roost; BINS is read too, its first binary used, like
#     move.sh) ROOST_BENCH_BIN (target/release/roost-bench) RESULTS_DIR (bench/results)
#   RUNS (3) SCENARIOS ("refresh sessions uniform") CURVES ("sigterm kill9 cold")
#   ORIGIN_LATENCY (20ms) REFRESH_RATE (3000) SESSIONS_RATE (200) UNIFORM_RATE (1000)
#   REFRESH_WARMUP/REFRESH_DURATION (4s/20s) SESSIONS_WARMUP/SESSIONS_DURATION (5s/15s)
#   UNIFORM_WARMUP/UNIFORM_DURATION (3s/12s)
#   CURVE_RATE (4000) CURVE_KEYSPACE (200000) CURVE_PREFILL (the keyspace: keys set
#   before the curve starts, so the cache is warm and a restart's loss shows)
#   CURVE_BEFORE (10) CURVE_AFTER (10)
#   CURVE_INTERVAL (2000: WARMING_INTERVAL of the curves) NODE_WARMUP (1: run
#   bench/node-warmup.sh if present; 0 skips it) EXTRA_ENV ("VAR=VALUE ...", given to
#   every Roost started)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  RUNS=${RUNS:-1}
  REFRESH_WARMUP=${REFRESH_WARMUP:-2s} REFRESH_DURATION=${REFRESH_DURATION:-6s}
  SESSIONS_WARMUP=${SESSIONS_WARMUP:-3s} SESSIONS_DURATION=${SESSIONS_DURATION:-5s}
  UNIFORM_WARMUP=${UNIFORM_WARMUP:-1s} UNIFORM_DURATION=${UNIFORM_DURATION:-4s}
  CURVE_BEFORE=${CURVE_BEFORE:-7} CURVE_AFTER=${CURVE_AFTER:-5}
fi
RUNS=${RUNS:-3}
read -r -a SCENARIOS <<<"${SCENARIOS:-refresh sessions uniform}"
read -r -a CURVES <<<"${CURVES:-sigterm kill9 cold}"
ORIGIN_LATENCY=${ORIGIN_LATENCY:-20ms}
REFRESH_RATE=${REFRESH_RATE:-3000}
REFRESH_WARMUP=${REFRESH_WARMUP:-4s}
REFRESH_DURATION=${REFRESH_DURATION:-20s}
SESSIONS_RATE=${SESSIONS_RATE:-200}
SESSIONS_WARMUP=${SESSIONS_WARMUP:-5s}
SESSIONS_DURATION=${SESSIONS_DURATION:-15s}
UNIFORM_RATE=${UNIFORM_RATE:-1000}
UNIFORM_WARMUP=${UNIFORM_WARMUP:-3s}
UNIFORM_DURATION=${UNIFORM_DURATION:-12s}
CURVE_RATE=${CURVE_RATE:-4000}
CURVE_KEYSPACE=${CURVE_KEYSPACE:-200000}
CURVE_PREFILL=${CURVE_PREFILL:-$CURVE_KEYSPACE}
CURVE_BEFORE=${CURVE_BEFORE:-10}
CURVE_AFTER=${CURVE_AFTER:-10}
CURVE_INTERVAL=${CURVE_INTERVAL:-2000}
NODE_WARMUP=${NODE_WARMUP:-1}
read -r -a EXTRA_ENV <<<"${EXTRA_ENV:-}"
if [[ -z "${ROOST_BIN:-}" && -n "${BINS:-}" ]]; then
  ROOST_BIN=${BINS%% *}
fi
export ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
export ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30

WORK_DIR=$(mktemp -d -t roost-warming.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_started_on_exit
require_tools "redis-tools python3" redis-cli python3
ensure_release_binaries

RUN_TABLE="$WORK_DIR/runs.tsv" # kind  name  mode  run  json-or-lines-file
: >"$RUN_TABLE"

# start_origin MAX_AGE: a fresh `roost-bench origin`; sets ORIGIN_URL and ORIGIN_PID.
start_origin() {
  local port
  port=$(free_port)
  "$ROOST_BENCH_BIN" origin --listen "127.0.0.1:$port" --latency "$ORIGIN_LATENCY" \
    --max-age "$1" >"$WORK_DIR/origin-$port.log" 2>&1 &
  ORIGIN_PID=$!
  PIDS+=("$ORIGIN_PID")
  ORIGIN_URL="http://127.0.0.1:$port"
  wait_until "roost-bench origin" "$ORIGIN_PID" "$WORK_DIR/origin-$port.log" http_ok \
    "$ORIGIN_URL/__stats"
}

# start_roost NAME RESP_PORT HTTP_PORT [VAR=VALUE...]: an embedded `roost serve` in
# $WORK_DIR/NAME on the given ports (the same ports again for a restart), with the
# extra environment given; sets ROOST_PID once /readyz and the RESP port answer.
start_roost() {
  local name=$1 resp=$2 http=$3 dir="$WORK_DIR/$1"
  shift 3
  mkdir -p "$dir"
  (cd "$dir" && exec env ROOST_BACKEND=embedded ROOST_HTTP_ADDR="127.0.0.1:$http" \
    ROOST_RESP_ADDR="127.0.0.1:$resp" ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" \
    ROOST_LOG=warn ROOST_SHUTDOWN_GRACE=0 "$@" "${EXTRA_ENV[@]}" "$ROOST_BIN" serve) \
    >>"$dir/roost.log" 2>&1 &
  ROOST_PID=$!
  PIDS+=("$ROOST_PID")
  wait_until "roost ($name)" "$ROOST_PID" "$dir/roost.log" http_ok \
    "http://127.0.0.1:$http/readyz"
  wait_until "roost's RESP port ($name)" "$ROOST_PID" "$dir/roost.log" redis_ping "$resp"
}

# stop_roost SIGNAL: sends SIGNAL to ROOST_PID and waits for it to exit (kill -9
# after 30 s).
stop_roost() {
  local deadline=$((SECONDS + 30))
  kill -"$1" "$ROOST_PID" 2>/dev/null || true
  while kill -0 "$ROOST_PID" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "roost $ROOST_PID still running 30 s after SIG$1: kill -9" >&2
      kill -9 "$ROOST_PID" 2>/dev/null || true
    fi
    sleep 0.02
  done
  # In braces so bash's "Killed" notice for a kill -9 goes to /dev/null too.
  { wait "$ROOST_PID"; } 2>/dev/null || true
}

# run_scenario NAME MODE RUN: one `roost-bench warming NAME` against a fresh Roost
# with ROOST_WARMING=MODE reading through to the scenario's origin.
run_scenario() {
  local name=$1 mode=$2 run=$3 resp http json args=()
  resp=$(free_port)
  http=$(free_port)
  json="$WORK_DIR/$name-$mode-$run.json"
  case $name in
    refresh) args=(--rate "$REFRESH_RATE" --warmup "$REFRESH_WARMUP" --duration "$REFRESH_DURATION") ;;
    sessions) args=(--rate "$SESSIONS_RATE" --warmup "$SESSIONS_WARMUP" --duration "$SESSIONS_DURATION") ;;
    uniform) args=(--rate "$UNIFORM_RATE" --warmup "$UNIFORM_WARMUP" --duration "$UNIFORM_DURATION"
      --connections 64) ;;
  esac
  start_roost "$name-$mode-$run" "$resp" "$http" ROOST_WARMING="$mode" \
    ROOST_ORIGIN_URL="$ORIGIN_URL/items/{key}"
  echo "== $name, warming $mode, run $run/$RUNS ($((SECONDS - STARTED)) s)" >&2
  if "$ROOST_BENCH_BIN" warming "$name" --resp "127.0.0.1:$resp" --api "http://127.0.0.1:$http" \
    --origin "$ORIGIN_URL" --origin-latency "$ORIGIN_LATENCY" "${args[@]}" --json "$json" >&2; then
    printf 'scenario\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$run" "$json" >>"$RUN_TABLE"
  else
    echo "$name ($mode, run $run) failed; going on" >&2
  fi
  stop_roost TERM
}

# run_curve KIND RUN: the curve client against a Roost with warming on that is
# restarted after CURVE_BEFORE seconds: sigterm and kill9 with a data dir, cold
# without one. The lines go to a file; the restart's wall-clock times are kept.
run_curve() {
  local kind=$1 run=$2 resp http lines client signal=TERM env=(ROOST_WARMING=on)
  resp=$(free_port)
  http=$(free_port)
  lines="$WORK_DIR/curve-$kind-$run.jsonl"
  [[ "$kind" == kill9 ]] && signal=KILL
  if [[ "$kind" != cold ]]; then
    mkdir -p "$WORK_DIR/data-$kind-$run"
    env+=(ROOST_DATA_DIR="$WORK_DIR/data-$kind-$run" WARMING_INTERVAL="$CURVE_INTERVAL")
  fi
  echo "== curve $kind, run $run/$RUNS ($((SECONDS - STARTED)) s)" >&2
  start_roost "curve-$kind-$run" "$resp" "$http" "${env[@]}"
  if ((CURVE_PREFILL > 0)); then
    "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$resp" --keys "$CURVE_PREFILL" \
      --prefix curve: --value-size 100 --no-progress >/dev/null ||
      echo "   fill failed: the curve starts cold, its steady ratio is lower" >&2
  fi
  "$ROOST_BENCH_BIN" warming curve --resp "127.0.0.1:$resp" --rate "$CURVE_RATE" \
    --keyspace "$CURVE_KEYSPACE" --duration "$((CURVE_BEFORE + CURVE_AFTER + 2))s" \
    >"$lines" 2>"$lines.err" &
  client=$!
  PIDS+=("$client")
  sleep "$CURVE_BEFORE"
  local down_ms up_ms
  down_ms=$(now_ms)
  stop_roost "$signal"
  start_roost "curve-$kind-$run" "$resp" "$http" "${env[@]}"
  up_ms=$(now_ms)
  echo "   restarted by SIG$signal in $((up_ms - down_ms)) ms" >&2
  if wait "$client"; then
    printf 'curve\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" on "$run" "$lines" "$down_ms" "$up_ms" \
      >>"$RUN_TABLE"
  else
    echo "curve $kind (run $run) failed: $(tail -n 3 "$lines.err")" >&2
  fi
  stop_roost TERM
}

STARTED=$SECONDS
STARTED_AT=$(date +%s)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
ROOST_COMMIT=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
echo "warming: ROOST_BIN=$ROOST_BIN, $RUNS run(s), scenarios ${SCENARIOS[*]}," \
  "curves ${CURVES[*]}; $(nproc) cores, load $LOAD_AT_START" >&2

for name in "${SCENARIOS[@]}"; do
  case $name in
    refresh) start_origin 2 ;;
    sessions) start_origin 1 ;;
    uniform) start_origin 2 ;;
    *) die "unknown scenario $name (refresh, sessions, uniform)" ;;
  esac
  for run in $(seq 1 "$RUNS"); do
    # Alternate which mode goes first, so a drift in the machine's load does not
    # always favour the same one.
    if ((run % 2 == 1)); then modes=(off on); else modes=(on off); fi
    for mode in "${modes[@]}"; do
      run_scenario "$name" "$mode" "$run"
    done
  done
  kill "$ORIGIN_PID" 2>/dev/null || true
done

for kind in "${CURVES[@]}"; do
  case $kind in
    sigterm | kill9 | cold) ;;
    *) die "unknown curve $kind (sigterm, kill9, cold)" ;;
  esac
  for run in $(seq 1 "$RUNS"); do
    run_curve "$kind" "$run"
  done
done

NODE_WARMUP_LOG=""
if [[ "$NODE_WARMUP" == 1 && -x "$ROOT/bench/node-warmup.sh" ]]; then
  echo "== bench/node-warmup.sh ($((SECONDS - STARTED)) s)" >&2
  NODE_WARMUP_LOG="$WORK_DIR/node-warmup.log"
  if ! QUICK="$QUICK" RESULTS_DIR="$RESULTS_DIR" "$ROOT/bench/node-warmup.sh" \
    >"$NODE_WARMUP_LOG" 2>&1; then
    echo "bench/node-warmup.sh failed: $(tail -n 5 "$NODE_WARMUP_LOG")" >&2
  fi
elif [[ "$NODE_WARMUP" == 1 ]]; then
  echo "no bench/node-warmup.sh: the node-add dip is not measured" >&2
fi

mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/warming-$(date -u +%Y-%m-%d).json"
python3 "$ROOT/bench/warming_summary.py" "$RUN_TABLE" "$OUT" "$ROOST_BIN" "$ROOST_COMMIT" \
  "$LOAD_AT_START" "$ORIGIN_LATENCY" "$NODE_WARMUP_LOG" "$STARTED_AT"
cp "$OUT" "$RESULTS_DIR/warming-latest.json"
echo "wrote $OUT and warming-latest.json in $((SECONDS - STARTED)) s" >&2
