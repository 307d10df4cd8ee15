#!/usr/bin/env bash
# Geographic coherence, measured (issue 16, item 8). Two regions, a and b, each an
# embedded `roost serve` with its own ROOST_DATA_DIR, each pulling the other's change
# log through a `roost-bench proxy` (one-way delay, blackhole, byte counters). Fresh
# regions for every run; each point is RUNS runs, and the median is reported.
#
#   staleness   writes to a over RESP at a fixed rate (roost-bench load, SETs only, on
#               KEYSPACE uniform keys) for STALENESS_DURATION, for each one-way delay in
#               DELAYS and each rate in RATES; staleness p50/p99 from b's
#               roost_geo_staleness_seconds histogram (the changes applied from a during
#               the run; target: p99 <= delay + 50 ms at 5,000 changes/s). The same runs
#               give bytes on the wire per change: the bytes the proxy carried from a to
#               b (the log stream), over the changes b applied from a.
#   throughput  the most SETs/s roost-bench gets from a (closed loop, THROUGHPUT_CONNS
#               connections, pipeline THROUGHPUT_PIPELINE) for THROUGHPUT_DURATION, three
#               ways in the same run, alternating order: `off` (no ROOST_REGION), `alone`
#               (a region, its log, no peers) and `peered` (a with b pulling its log, no
#               delay). The cost of replication is 1 - peered/off (target: <= 10 %).
#               Both regions run on this machine: b's apply work competes with a for
#               the same cores, so on a small machine this overstates the cost.
#   partition   writes to a at PARTITION_RATE; after 5 s both proxies blackhole (bytes
#               swallowed, connections kept) for PARTITION_SECONDS while a keeps taking
#               writes; the writes stop and the proxies heal; the changes b is behind
#               at the heal (a's log head minus b's cursor for a, from /api/regions);
#               the time from the heal until every link is up with lag 0, then whether a sample of 1,000 keys
#               holds the same value in both regions (target: 0 divergent).
#
# Prints markdown tables and writes bench/results/geo-<date>.json and geo-latest.json.
# Everything runs on free loopback ports in a temp dir and is stopped on exit.
#
# Environment (defaults; QUICK=1 for a smoke run: 1 run, short windows, 10 s partition):
#   ROOST_BIN (target/release/roost) ROOST_BENCH_BIN (target/release/roost-bench)
#   RESULTS_DIR (bench/results) RUNS (3) PARTS ("staleness throughput partition")
#   DELAYS ("0 50 100") RATES ("1000 5000") STALENESS_DURATION (15s) KEYSPACE (100000)
#   VALUE_SIZE (100) GEO_MODE (replicate) THROUGHPUT_DURATION (10s) THROUGHPUT_CONNS (32)
#   THROUGHPUT_PIPELINE (8) THROUGHPUT_MODES ("off alone peered") PARTITION_RATE (1000)
#   GEO_BACKEND (embedded; redis: every Roost on a fresh redis-server of its own) PARTITION_SECONDS (60)
#   CONVERGE_TIMEOUT (120) EXTRA_ENV ("VAR=VALUE ...", given to every Roost started)
#   CPU_SAMPLE (0; 1: in the throughput part, CPU seconds of each process and thread
#   name, and the writer's log appends and fsyncs, over each load; bench/geo_cpu.py)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  RUNS=${RUNS:-1}
  STALENESS_DURATION=${STALENESS_DURATION:-5s}
  THROUGHPUT_DURATION=${THROUGHPUT_DURATION:-4s}
  PARTITION_SECONDS=${PARTITION_SECONDS:-10}
fi
RUNS=${RUNS:-3}
read -r -a PARTS <<<"${PARTS:-staleness throughput partition}"
read -r -a DELAYS <<<"${DELAYS:-0 50 100}"
read -r -a RATES <<<"${RATES:-1000 5000}"
STALENESS_DURATION=${STALENESS_DURATION:-15s}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-100}
GEO_MODE=${GEO_MODE:-replicate}
THROUGHPUT_DURATION=${THROUGHPUT_DURATION:-10s}
THROUGHPUT_CONNS=${THROUGHPUT_CONNS:-32}
THROUGHPUT_PIPELINE=${THROUGHPUT_PIPELINE:-8}
THROUGHPUT_MODES=${THROUGHPUT_MODES:-off alone peered}
GEO_BACKEND=${GEO_BACKEND:-embedded}
PARTITION_RATE=${PARTITION_RATE:-1000}
PARTITION_SECONDS=${PARTITION_SECONDS:-60}
CONVERGE_TIMEOUT=${CONVERGE_TIMEOUT:-120}
CPU_SAMPLE=${CPU_SAMPLE:-0}
read -r -a EXTRA_ENV <<<"${EXTRA_ENV:-}"
export ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
export ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30
PROBE="$ROOT/bench/geo_probe.py"
CPU="$ROOT/bench/geo_cpu.py"

WORK_DIR=$(mktemp -d -t roost-geo.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_started_on_exit
require_tools "python3 redis-tools curl" python3 redis-cli curl
ensure_release_binaries

RUN_TABLE="$WORK_DIR/runs.tsv" # part  label  run  result-json
: >"$RUN_TABLE"
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

# start_proxy NAME TARGET_PORT DELAY_MS: a roost-bench proxy to 127.0.0.1:TARGET_PORT;
# sets PROXY_PORT and PROXY_CONTROL (its control URL).
start_proxy() {
  local name=$1 target=$2 delay=$3 control log="$WORK_DIR/proxy-$1.log"
  PROXY_PORT=$(free_port)
  control=$(free_port)
  "$ROOST_BENCH_BIN" proxy --listen "127.0.0.1:$PROXY_PORT" --target "127.0.0.1:$target" \
    --delay-ms "$delay" --control "127.0.0.1:$control" >"$log" 2>&1 &
  PIDS+=("$!")
  PROXY_CONTROL="http://127.0.0.1:$control"
  wait_until "proxy $name" "$!" "$log" http_ok "$PROXY_CONTROL/stats"
}

# start_roost NAME HTTP RESP [VAR=VALUE...]: a roost in $WORK_DIR/NAME, on the embedded
# store or (GEO_BACKEND=redis) on a fresh redis-server of its own (REDIS_PID); sets
# ROOST_PID once /readyz and its RESP port answer.
start_roost() {
  local name=$1 http=$2 resp=$3 dir="$WORK_DIR/$1" backend=(ROOST_BACKEND=embedded)
  shift 3
  mkdir -p "$dir"
  REDIS_PID=
  if [[ "$GEO_BACKEND" == redis ]]; then
    local redis_port
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
      >"$dir/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    wait_until "redis-server ($name)" "$REDIS_PID" "$dir/redis.log" redis_ping "$redis_port"
    backend=(ROOST_BACKEND=redis REDIS_CLUSTER_NODES="redis://127.0.0.1:$redis_port")
  fi
  (cd "$dir" && exec env "${backend[@]}" ROOST_HTTP_ADDR="127.0.0.1:$http" \
    ROOST_RESP_ADDR="127.0.0.1:$resp" ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" \
    ROOST_LOG=warn ROOST_SHUTDOWN_GRACE=0 "$@" "${EXTRA_ENV[@]}" "$ROOST_BIN" serve) \
    >>"$dir/roost.log" 2>&1 &
  ROOST_PID=$!
  PIDS+=("$ROOST_PID")
  wait_until "roost ($name)" "$ROOST_PID" "$dir/roost.log" http_ok "http://127.0.0.1:$http/readyz"
  wait_until "roost's RESP port ($name)" "$ROOST_PID" "$dir/roost.log" redis_ping "$resp"
}

# start_pair TAG DELAY_MS: regions a and b, each the other's peer through a proxy with
# DELAY_MS one-way; sets A_HTTP A_RESP B_HTTP B_RESP, AB_CONTROL (the proxy b pulls a
# through) and BA_CONTROL, and PAIR_PIDS; waits until both links are up.
start_pair() {
  local tag=$1 delay=$2 a_peer b_peer
  A_HTTP=$(free_port) A_RESP=$(free_port) B_HTTP=$(free_port) B_RESP=$(free_port)
  PAIR_PIDS=()
  start_proxy "$tag-b-pulls-a" "$A_HTTP" "$delay"
  AB_CONTROL=$PROXY_CONTROL
  b_peer="a=http://127.0.0.1:$PROXY_PORT"
  PAIR_PIDS+=("${PIDS[-1]}")
  start_proxy "$tag-a-pulls-b" "$B_HTTP" "$delay"
  BA_CONTROL=$PROXY_CONTROL
  a_peer="b=http://127.0.0.1:$PROXY_PORT"
  PAIR_PIDS+=("${PIDS[-1]}")
  local common=(ROOST_REGION_SECRET="$SECRET" ROOST_GEO_MODE="$GEO_MODE")
  mkdir -p "$WORK_DIR/$tag-a/data" "$WORK_DIR/$tag-b/data"
  start_roost "$tag-a" "$A_HTTP" "$A_RESP" ROOST_REGION=a ROOST_REGION_PEERS="$a_peer" \
    ROOST_DATA_DIR="$WORK_DIR/$tag-a/data" "${common[@]}"
  PAIR_PIDS+=("$ROOST_PID")
  A_REDIS_PID=$REDIS_PID
  start_roost "$tag-b" "$B_HTTP" "$B_RESP" ROOST_REGION=b ROOST_REGION_PEERS="$b_peer" \
    ROOST_DATA_DIR="$WORK_DIR/$tag-b/data" "${common[@]}"
  PAIR_PIDS+=("$ROOST_PID")
  B_REDIS_PID=$REDIS_PID
  if [[ -n "$A_REDIS_PID" ]]; then PAIR_PIDS+=("$A_REDIS_PID" "$B_REDIS_PID"); fi
  python3 "$PROBE" quiesce --timeout 30 "http://127.0.0.1:$A_HTTP" "http://127.0.0.1:$B_HTTP" \
    >"$WORK_DIR/$tag-up.json" || die "links of $tag not up in 30 s: $(cat "$WORK_DIR/$tag-up.json")"
}

# stop_pids PID...: SIGTERM, then wait (kill -9 after 10 s).
stop_pids() {
  local pid deadline=$((SECONDS + 10))
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    { wait "$pid"; } 2>/dev/null || true
  done
}

# write_load RESP_PORT RATE DURATION JSON [PREFIX]: SETs only, open loop, uniform keys.
write_load() {
  "$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:$1" --rate "$2" --duration "$3" \
    --connections 16 --keyspace "$KEYSPACE" --uniform --value-size "$VALUE_SIZE" --mix set=1 \
    --ttl 0 --prefix "${5:-geo:}" --no-progress --json "$4" >"$4.log" 2>&1
}

# run_staleness DELAY RATE RUN
run_staleness() {
  local delay=$1 rate=$2 run=$3 tag="st-$1-$2-$3" out
  echo "== staleness, one-way delay $delay ms, $rate changes/s, run $run/$RUNS ($((SECONDS - STARTED)) s)" >&2
  start_pair "$tag" "$delay"
  local a="http://127.0.0.1:$A_HTTP" b="http://127.0.0.1:$B_HTTP"
  python3 "$PROBE" histogram "$b" >"$WORK_DIR/$tag-base.json"
  curl -fsS "$AB_CONTROL/stats" >"$WORK_DIR/$tag-proxy-before.json"
  python3 "$PROBE" regions "$b" >"$WORK_DIR/$tag-regions-before.json"
  if ! write_load "$A_RESP" "$rate" "$STALENESS_DURATION" "$WORK_DIR/$tag-load.json"; then
    echo "   the load failed: $(tail -n 3 "$WORK_DIR/$tag-load.json.log")" >&2
    stop_pids "${PAIR_PIDS[@]}"
    return
  fi
  python3 "$PROBE" quiesce --timeout "$CONVERGE_TIMEOUT" "$a" "$b" >"$WORK_DIR/$tag-quiet.json" || true
  python3 "$PROBE" staleness --baseline "$WORK_DIR/$tag-base.json" "$b" >"$WORK_DIR/$tag-staleness.json"
  curl -fsS "$AB_CONTROL/stats" >"$WORK_DIR/$tag-proxy-after.json"
  python3 "$PROBE" regions "$b" >"$WORK_DIR/$tag-regions-after.json"
  out="$WORK_DIR/$tag.json"
  python3 - "$WORK_DIR/$tag" "$b" "$delay" "$rate" >"$out" <<'PY'
import json, sys
base, b, delay, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
load = lambda name: json.load(open(f"{base}-{name}.json"))
def applied(regions):
    answer = regions["regions"][b] or {}
    return sum(p.get("applied_total", 0) for p in answer.get("peers", []) if p.get("name") == "a")
report = load("load")
changes = applied(load("regions-after")) - applied(load("regions-before"))
before, after = load("proxy-before"), load("proxy-after")
down = after["bytes_down"] - before["bytes_down"]
up = after["bytes_up"] - before["bytes_up"]
s = load("staleness")["staleness"][b]
print(json.dumps({
    "delay_ms": delay, "rate": rate,
    "writes": report["total_ops"], "write_errors": report["total_errors"],
    "writes_per_second": report["total_ops_per_second"],
    "changes_applied_in_b": changes,
    "staleness_count": s.get("count"), "staleness_p50_ms": s.get("p50_ms"),
    "staleness_p99_ms": s.get("p99_ms"), "staleness_error": s.get("error"),
    "bytes_a_to_b": down, "bytes_b_to_a": up,
    "bytes_per_change": (down / changes) if changes else None,
    "quiet": load("quiet"),
}))
PY
  printf 'staleness\t%s/%s\t%s\t%s\n' "$delay" "$rate" "$run" "$out" >>"$RUN_TABLE"
  stop_pids "${PAIR_PIDS[@]}"
}

# run_throughput MODE RUN: max SETs/s into a with no region, a region alone, or peered.
run_throughput() {
  local mode=$1 run=$2 tag="tp-$1-$2" resp http pids=() out
  echo "== throughput, $mode, run $run/$RUNS ($((SECONDS - STARTED)) s)" >&2
  local sample=() log_url=()
  case $mode in
    off)
      http=$(free_port) resp=$(free_port)
      start_roost "$tag" "$http" "$resp"
      pids=("$ROOST_PID" $REDIS_PID)
      sample=(--pid "a=$ROOST_PID")
      [[ -n "$REDIS_PID" ]] && sample+=(--pid "redis-a=$REDIS_PID")
      ;;
    alone)
      http=$(free_port) resp=$(free_port)
      mkdir -p "$WORK_DIR/$tag/data"
      start_roost "$tag" "$http" "$resp" ROOST_REGION=a ROOST_DATA_DIR="$WORK_DIR/$tag/data"
      pids=("$ROOST_PID" $REDIS_PID)
      sample=(--pid "a=$ROOST_PID")
      [[ -n "$REDIS_PID" ]] && sample+=(--pid "redis-a=$REDIS_PID")
      log_url=(--log "http://127.0.0.1:$http=$ROOST_PID")
      ;;
    peered)
      start_pair "$tag" 0
      resp=$A_RESP
      pids=("${PAIR_PIDS[@]}")
      # PAIR_PIDS: proxy b pulls a through, proxy a pulls b through, a, b.
      sample=(--pid "proxy-b-pulls-a=${PAIR_PIDS[0]}" --pid "proxy-a-pulls-b=${PAIR_PIDS[1]}"
        --pid "a=${PAIR_PIDS[2]}" --pid "b=${PAIR_PIDS[3]}")
      [[ -n "$A_REDIS_PID" ]] && sample+=(--pid "redis-a=$A_REDIS_PID" --pid "redis-b=$B_REDIS_PID")
      log_url=(--log "http://127.0.0.1:$A_HTTP=${PAIR_PIDS[2]}")
      ;;
  esac
  out="$WORK_DIR/$tag-load.json"
  local load_cmd=("$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:$resp"
    --duration "$THROUGHPUT_DURATION" --connections "$THROUGHPUT_CONNS"
    --pipeline "$THROUGHPUT_PIPELINE" --keyspace "$KEYSPACE" --uniform
    --value-size "$VALUE_SIZE" --mix set=1 --ttl 0 --prefix tp: --no-progress --json "$out")
  if [[ "$CPU_SAMPLE" == 1 ]]; then
    # CPU of every process of the set-up (and the log's appends and fsyncs) over the
    # load; the load generator's own CPU from its rusage, as it exits before the sample.
    python3 "$CPU" snapshot "${sample[@]}" "${log_url[@]}" >"$WORK_DIR/$tag-cpu-before.json"
    load_cmd=(/usr/bin/time -o "$WORK_DIR/$tag-load.time" -f '%U %S %e' "${load_cmd[@]}")
  fi
  if "${load_cmd[@]}" >"$out.log" 2>&1; then
    printf 'throughput\t%s\t%s\t%s\n' "$mode" "$run" "$out" >>"$RUN_TABLE"
    if [[ "$CPU_SAMPLE" == 1 ]]; then
      python3 "$CPU" snapshot "${sample[@]}" "${log_url[@]}" >"$WORK_DIR/$tag-cpu-after.json"
      python3 "$CPU" report "$WORK_DIR/$tag-cpu-before.json" "$WORK_DIR/$tag-cpu-after.json" \
        "$out" "$WORK_DIR/$tag-load.time" >"$WORK_DIR/$tag-cpu.json"
      printf 'cpu\t%s\t%s\t%s\n' "$mode" "$run" "$WORK_DIR/$tag-cpu.json" >>"$RUN_TABLE"
    fi
  else
    echo "   the load failed: $(tail -n 3 "$out.log")" >&2
  fi
  stop_pids "${pids[@]}"
}

# run_partition RUN
run_partition() {
  local run=$1 tag="pt-$1" writer out
  echo "== partition of $PARTITION_SECONDS s, run $run/$RUNS ($((SECONDS - STARTED)) s)" >&2
  start_pair "$tag" 0
  local a="http://127.0.0.1:$A_HTTP" b="http://127.0.0.1:$B_HTTP"
  # The writer runs 5 s before the partition and through it, and stops at the heal:
  # every write is acknowledged by a before the heal, none after.
  write_load "$A_RESP" "$PARTITION_RATE" "$((PARTITION_SECONDS + 5))s" "$WORK_DIR/$tag-load.json" pt: &
  writer=$!
  PIDS+=("$writer")
  sleep 5
  curl -fsS -XPOST "$AB_CONTROL/blackhole" >/dev/null
  curl -fsS -XPOST "$BA_CONTROL/blackhole" >/dev/null
  wait "$writer" || echo "   the writer failed: $(tail -n 3 "$WORK_DIR/$tag-load.json.log")" >&2
  # Both regions, just before the heal: a's log head against b's cursor for a. (A
  # link's lag_changes is no use here: it counts from the head its peer last said,
  # and a blackholed link has heard nothing since the partition began.)
  python3 "$PROBE" regions "$a" "$b" >"$WORK_DIR/$tag-during.json"
  local healed_ms quiet_ms
  healed_ms=$(now_ms)
  curl -fsS -XPOST "$AB_CONTROL/heal" >/dev/null
  curl -fsS -XPOST "$BA_CONTROL/heal" >/dev/null
  python3 "$PROBE" quiesce --timeout "$CONVERGE_TIMEOUT" "$a" "$b" >"$WORK_DIR/$tag-quiet.json" || true
  quiet_ms=$(now_ms)
  python3 "$PROBE" converge --prefix pt: --keyspace "$KEYSPACE" --sample 1000 --mode "$GEO_MODE" \
    "$a" "$b" \
    >"$WORK_DIR/$tag-converge.json"
  out="$WORK_DIR/$tag.json"
  python3 - "$WORK_DIR/$tag" "$healed_ms" "$quiet_ms" "$PARTITION_SECONDS" "$a" "$b" >"$out" <<'PY'
import json, sys
base, healed, quiet, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a_url, b_url = sys.argv[5], sys.argv[6]
load = lambda name: json.load(open(f"{base}-{name}.json"))
q, c = load("quiet"), load("converge")
during = load("during")["regions"]
a_head = (during[a_url] or {})["log"]["last"]
b_cursor = next(p["cursor"] for p in (during[b_url] or {})["peers"] if p["name"] == "a")
print(json.dumps({
    "partition_seconds": seconds,
    # a's log head minus b's cursor for a, at the heal: the changes b had to catch up.
    "changes_behind_at_heal": a_head - b_cursor,
    "a_log_last_at_heal": a_head, "b_cursor_for_a_at_heal": b_cursor,
    # What b's link reported (relative to the last head a announced; stale here).
    "link_lag_changes_at_heal": sum(p.get("lag_changes", 0) for p in (during[b_url] or {}).get("peers", [])),
    # From the heal until both links were up with no change left to apply.
    "seconds_from_heal_to_lag_0": (quiet - healed) / 1000 if q["quiet"] else None,
    "quiet": q, "converge": c,
    "divergent_keys": c["divergent"],
    "writes": load("load")["total_ops"],
}))
PY
  printf 'partition\tpartition\t%s\t%s\n' "$run" "$out" >>"$RUN_TABLE"
  stop_pids "${PAIR_PIDS[@]}"
}

STARTED=$SECONDS
STARTED_AT=$(date +%s)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
ROOST_COMMIT=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
echo "geo: ROOST_BIN=$ROOST_BIN, $RUNS run(s), parts ${PARTS[*]}, delays ${DELAYS[*]} ms," \
  "rates ${RATES[*]}/s, $GEO_MODE mode; $(nproc) cores, load $LOAD_AT_START" >&2

for part in "${PARTS[@]}"; do
  case $part in
    staleness)
      for delay in "${DELAYS[@]}"; do
        for rate in "${RATES[@]}"; do
          for run in $(seq 1 "$RUNS"); do run_staleness "$delay" "$rate" "$run"; done
        done
      done
      ;;
    throughput)
      for run in $(seq 1 "$RUNS"); do
        # Rotate the order, so a drift in the machine's load favours no mode.
        case $((run % 3)) in
          1) modes=(off alone peered) ;;
          2) modes=(peered off alone) ;;
          0) modes=(alone peered off) ;;
        esac
        for mode in "${modes[@]}"; do
          [[ " $THROUGHPUT_MODES " == *" $mode "* ]] && run_throughput "$mode" "$run"
        done
      done
      ;;
    partition)
      for run in $(seq 1 "$RUNS"); do run_partition "$run"; done
      ;;
    *) die "unknown part $part (staleness, throughput, partition)" ;;
  esac
done

mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/geo-$(date -u +%Y-%m-%d).json"
python3 "$ROOT/bench/geo_summary.py" "$RUN_TABLE" "$OUT" "$ROOST_BIN" "$ROOST_COMMIT" \
  "$LOAD_AT_START" "$STARTED_AT" "$GEO_MODE"
cp "$OUT" "$RESULTS_DIR/geo-latest.json"
echo "wrote $OUT and geo-latest.json in $((SECONDS - STARTED)) s" >&2
