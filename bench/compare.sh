#!/usr/bin/env bash
# Throughput and latency: Roost against redis-server (RESP) and webdis (HTTP), one run.
#
# Starts a redis-server, an embedded `roost serve` and a webdis in front of the
# redis-server, each on free loopback ports in a temp dir, preloads the same KEYSPACE
# keys (key:000000000000 .. , VALUE_SIZE bytes; the names redis-benchmark -r uses) into
# redis and Roost, then, REPEATS times, alternating the two servers:
#   1. GET and SET at each pipeline depth in PIPELINES, CONNECTIONS connections, with
#      redis-benchmark (-t get,set -P p -n N -r KEYSPACE) and with roost-bench;
#   2. HTTP GET of hits: Roost's REST API vs webdis, with roost-bench --http-flavor and
#      with wrk (bench/wrk-get.lua, one thread, the same connections and keys);
#   3. latency: roost-bench open loop at LATENCY_SHARE of redis-server's measured
#      roost-bench GET P=1 rate, against both, p50/p99 corrected for coordinated omission.
# Prints medians, Roost/redis ratios and the issue's targets as a markdown table, and
# writes bench/results/compare-<date>.json and compare-latest.json (every run, the
# medians, and the load average at start and end: other work on the machine shows).
#
# Environment (defaults; QUICK=1 shrinks everything to a ~1-minute smoke run):
#   REPEATS (3)  KEYSPACE (100000)  VALUE_SIZE (3, redis-benchmark's default)
#   CONNECTIONS (50)  PIPELINES ("1 16 64")  BENCH_DURATION (4s, roost-bench per run)
#   RB_REQUESTS_PER_DEPTH (100000: redis-benchmark -n is this × P, at most RB_MAX)
#   RB_MAX (3000000)  BENCH_THREADS (1: client threads, as redis-benchmark's default)
#   HTTP_DURATION (4s, roost-bench and wrk each)  LATENCY_DURATION (8s)  LATENCY_SHARE (0.5)
#   ROOST_BIN, ROOST_BENCH_BIN (target/release/...), RESULTS_DIR (bench/results)
# The machine's cores are shared by the clients and the servers: read ratios, not
# absolute numbers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  REPEATS=${REPEATS:-1}
  KEYSPACE=${KEYSPACE:-10000}
  BENCH_DURATION=${BENCH_DURATION:-1s}
  RB_REQUESTS_PER_DEPTH=${RB_REQUESTS_PER_DEPTH:-20000}
  HTTP_DURATION=${HTTP_DURATION:-1s}
  LATENCY_DURATION=${LATENCY_DURATION:-2s}
fi
REPEATS=${REPEATS:-3}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-3}
CONNECTIONS=${CONNECTIONS:-50}
PIPELINES=${PIPELINES:-1 16 64}
BENCH_DURATION=${BENCH_DURATION:-4s}
RB_REQUESTS_PER_DEPTH=${RB_REQUESTS_PER_DEPTH:-100000}
RB_MAX=${RB_MAX:-3000000}
BENCH_THREADS=${BENCH_THREADS:-1}
HTTP_DURATION=${HTTP_DURATION:-4s}
LATENCY_DURATION=${LATENCY_DURATION:-8s}
LATENCY_SHARE=${LATENCY_SHARE:-0.5}
ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30

WORK_DIR=$(mktemp -d -t roost-compare.XXXXXX)
RUNS="$WORK_DIR/runs.tsv"
: >"$RUNS"
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_started_on_exit

check_peers() {
  require_tools "redis-server redis-tools webdis wrk python3" redis-server redis-cli \
    redis-benchmark webdis wrk python3
  ensure_release_binaries
}

start_webdis() {
  WEBDIS_PORT=$(free_port)
  local dir="$WORK_DIR/webdis"
  mkdir -p "$dir"
  cat >"$dir/webdis.json" <<JSON
{
  "redis_host": "127.0.0.1", "redis_port": $REDIS_PORT,
  "http_host": "127.0.0.1", "http_port": $WEBDIS_PORT,
  "threads": 2, "pool_size": 20,
  "daemonize": false, "websockets": false, "database": 0,
  "verbosity": 3, "logfile": "$dir/webdis.log"
}
JSON
  webdis "$dir/webdis.json" >"$dir/stdout.log" 2>&1 &
  PIDS+=($!)
  wait_until webdis "$!" "$dir/stdout.log" http_ok "http://127.0.0.1:$WEBDIS_PORT/PING"
}

preload() {
  local port
  for port in "$REDIS_PORT" "$ROOST_RESP_PORT"; do
    "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$port" --keys "$KEYSPACE" \
      --value-size "$VALUE_SIZE" --key-digits 12 --batch 1000 --connections 4 --no-progress
    local keys
    keys=$(redis-cli -p "$port" DBSIZE)
    [[ "$keys" == "$KEYSPACE" ]] || die "port $port holds $keys keys after fill, expected $KEYSPACE"
  done
}

# Appends one result line: tool server op pipeline repeat ops_per_second p50_ms p99_ms errors
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RUNS"
}

run_redis_benchmark() {
  local server=$1 port=$2 depth=$3 repeat=$4 requests out
  requests=$((RB_REQUESTS_PER_DEPTH * depth))
  ((requests <= RB_MAX)) || requests=$RB_MAX
  out="$WORK_DIR/rb-$server-$depth-$repeat.csv"
  redis-benchmark -h 127.0.0.1 -p "$port" -t get,set -c "$CONNECTIONS" -P "$depth" \
    -n "$requests" -r "$KEYSPACE" -d "$VALUE_SIZE" -q --csv >"$out" 2>"$out.err" ||
    die "redis-benchmark against $server failed: $(tail -n 3 "$out.err")"
  local op line
  for op in GET SET; do
    line=$(grep "^\"$op\"" "$out") || die "redis-benchmark printed no $op line for $server: $(cat "$out" "$out.err")"
    # "test","rps","avg","min","p50","p95","p99","max" (latencies in ms)
    IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"${line//\"/}"
    record redis-benchmark "$server" "${op,,}" "$depth" "$repeat" "$rps" "$p50" "$p99" 0
  done
}

# roost-bench load with the common workload flags; extra flags follow.
roost_bench_load() {
  local json=$1
  shift
  "$ROOST_BENCH_BIN" load --uniform --keyspace "$KEYSPACE" --key-digits 12 \
    --value-size "$VALUE_SIZE" --ttl 0 --connections "$CONNECTIONS" --no-progress \
    --json "$json" "$@" >/dev/null
}

# Appends a roost-bench JSON report's first operation as a result line.
record_json() {
  local tool=$1 server=$2 op=$3 depth=$4 repeat=$5 json=$6
  local fields
  fields=$(python3 - "$json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
row = report["operations"][0]
print(row["ops_per_second"], row["p50_micros"] / 1e3, row["p99_micros"] / 1e3, report["total_errors"])
PY
  )
  # shellcheck disable=SC2086 # four numbers, split on purpose
  record "$tool" "$server" "$op" "$depth" "$repeat" $fields
}

run_roost_bench_resp() {
  local server=$1 port=$2 depth=$3 repeat=$4 op json
  for op in get set; do
    json="$WORK_DIR/rbench-$server-$op-$depth-$repeat.json"
    roost_bench_load "$json" --target "resp://127.0.0.1:$port" --mix "$op=1" \
      --pipeline "$depth" --threads "$BENCH_THREADS" --duration "$BENCH_DURATION"
    record_json roost-bench "$server" "$op" "$depth" "$repeat" "$json"
  done
}

run_http() {
  local repeat=$1 json
  json="$WORK_DIR/http-webdis-$repeat.json"
  roost_bench_load "$json" --target "http://127.0.0.1:$WEBDIS_PORT" --http-flavor webdis \
    --mix get=1 --duration "$HTTP_DURATION"
  record_json roost-bench-http webdis get 1 "$repeat" "$json"
  json="$WORK_DIR/http-roost-$repeat.json"
  roost_bench_load "$json" --target "http://127.0.0.1:$ROOST_HTTP_PORT" \
    --mix get=1 --duration "$HTTP_DURATION"
  record_json roost-bench-http roost get 1 "$repeat" "$json"
  run_wrk webdis "http://127.0.0.1:$WEBDIS_PORT" /GET/ "$repeat"
  run_wrk roost "http://127.0.0.1:$ROOST_HTTP_PORT" /api/cache/ "$repeat"
}

# wrk, one thread and CONNECTIONS connections, GETs of preloaded keys under PREFIX.
run_wrk() {
  local server=$1 url=$2 prefix=$3 repeat=$4 out rps errors
  out="$WORK_DIR/wrk-$server-$repeat.txt"
  KEYSPACE=$KEYSPACE PATH_PREFIX=$prefix wrk -t1 -c "$CONNECTIONS" -d "$HTTP_DURATION" \
    --latency -s "$ROOT/bench/wrk-get.lua" "$url" >"$out" 2>&1 ||
    die "wrk against $server failed: $(tail -n 3 "$out")"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  [[ -n "$rps" ]] || die "wrk printed no Requests/sec for $server: $(cat "$out")"
  # "Non-2xx or 3xx responses: N" and "Socket errors: connect N, read N, write N, timeout N".
  errors=$(awk '/Non-2xx or 3xx responses:/ {n += $5}
    /Socket errors:/ {for (i = 4; i <= NF; i += 2) n += $i} END {print n + 0}' "$out")
  # wrk --latency prints p50 and p99 as e.g. "50%  512.00us"; kept in milliseconds.
  local p50 p99
  p50=$(wrk_percentile 50 "$out")
  p99=$(wrk_percentile 99 "$out")
  record wrk-http "$server" get 1 "$repeat" "$rps" "$p50" "$p99" "$errors"
}

# The PCT% latency line of a wrk --latency report, in milliseconds.
wrk_percentile() {
  awk -v pct="$1%" '$1 == pct {
    v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
    if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000
    print v; exit }' "$2"
}

# Median roost-bench GET P=1 rate against redis, times LATENCY_SHARE.
latency_rate() {
  python3 - "$RUNS" "$LATENCY_SHARE" <<'PY'
import statistics, sys
rates = [float(line.split("\t")[5]) for line in open(sys.argv[1])
         if line.split("\t")[:4] == ["roost-bench", "redis", "get", "1"]]
print(f"{statistics.median(rates) * float(sys.argv[2]):.0f}")
PY
}

run_latency() {
  local rate=$1 repeat=$2 server port json
  for server in redis roost; do
    port=$REDIS_PORT
    [[ "$server" == roost ]] && port=$ROOST_RESP_PORT
    json="$WORK_DIR/latency-$server-$repeat.json"
    roost_bench_load "$json" --target "resp://127.0.0.1:$port" --mix get=1 --pipeline 1 \
      --threads "$BENCH_THREADS" --rate "$rate" --duration "$LATENCY_DURATION"
    record_json roost-bench-open "$server" get 1 "$repeat" "$json"
  done
}

# Medians over repeats, Roost/redis ratios and the issue's targets: JSON to $1 and a
# markdown table on stdout.
summarise() {
  python3 - "$RUNS" "$1" "$2" "$KEYSPACE" "$VALUE_SIZE" "$CONNECTIONS" "$REPEATS" \
    "$BENCH_THREADS" "$QUICK" "$LOAD_AT_START" <<'PY'
import json, platform, statistics, sys, time
runs_path, out, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
keyspace, value_size, connections, repeats, threads, quick = map(int, sys.argv[4:10])
load_at_start, load_at_end = sys.argv[10], open("/proc/loadavg").read().split()[:3]
runs = []
for line in open(runs_path):
    tool, server, op, depth, repeat, ops, p50, p99, errors = line.rstrip("\n").split("\t")
    runs.append(dict(tool=tool, server=server, op=op, pipeline=int(depth), repeat=int(repeat),
                     ops_per_second=float(ops), p50_ms=float(p50), p99_ms=float(p99),
                     errors=int(errors)))
groups = {}
for run in runs:
    groups.setdefault((run["tool"], run["server"], run["op"], run["pipeline"]), []).append(run)
medians = [dict(tool=t, server=s, op=o, pipeline=p, repeats=len(g),
                ops_per_second=statistics.median(r["ops_per_second"] for r in g),
                p50_ms=statistics.median(r["p50_ms"] for r in g),
                p99_ms=statistics.median(r["p99_ms"] for r in g),
                errors=sum(r["errors"] for r in g))
           for (t, s, o, p), g in groups.items()]
def median(tool, server, op, depth):
    return next((m for m in medians if (m["tool"], m["server"], m["op"], m["pipeline"])
                 == (tool, server, op, depth)), None)
targets, lines = [], []
def target(name, value, goal, met):
    targets.append(dict(target=name, measured=value, goal=goal, met=met))
    return f"{'met' if met else 'MISSED'} ({goal})"
lines += ["| client | op | P | redis-server ops/s | Roost ops/s | Roost/redis | issue target |",
          "|---|---|---:|---:|---:|---:|---|"]
depths = sorted({m["pipeline"] for m in medians if m["tool"] == "roost-bench"})
for tool in ("redis-benchmark", "roost-bench"):
    for op in ("get", "set"):
        for depth in depths:
            redis, roost = median(tool, "redis", op, depth), median(tool, "roost", op, depth)
            if not redis or not roost:
                continue
            ratio = roost["ops_per_second"] / redis["ops_per_second"]
            goal = {1: 1.0, 16: 1.2}.get(depth)
            verdict = "-"
            if goal is not None:
                verdict = target(f"{tool} {op.upper()} P={depth} Roost/redis", round(ratio, 3),
                                 f">= {goal}x", ratio >= goal)
            elif op == "get" and depth == 64:
                verdict = target(f"{tool} GET P=64 Roost ops/s", round(roost["ops_per_second"]),
                                 ">= 1,000,000/s", roost["ops_per_second"] >= 1e6)
            errors = " (errors!)" if redis["errors"] or roost["errors"] else ""
            lines.append(f"| {tool} | {op.upper()} | {depth} | {redis['ops_per_second']:,.0f} | "
                         f"{roost['ops_per_second']:,.0f} | {ratio:.2f}x{errors} | {verdict} |")
http_lines = []
for tool, label in (("roost-bench-http", "roost-bench"), ("wrk-http", "wrk")):
    webdis, rest = median(tool, "webdis", "get", 1), median(tool, "roost", "get", 1)
    if not webdis or not rest:
        continue
    ratio = rest["ops_per_second"] / webdis["ops_per_second"]
    verdict = target(f"{label} HTTP GET hits Roost REST/webdis", round(ratio, 3), ">= 2x", ratio >= 2)
    errors = " (errors!)" if webdis["errors"] or rest["errors"] else ""
    http_lines.append(f"| {label}, {connections} connections | {webdis['ops_per_second']:,.0f} | "
                      f"{rest['ops_per_second']:,.0f} | {ratio:.2f}x{errors} | {verdict} |")
if http_lines:
    lines += ["", "| HTTP GET of hits (P=1) | webdis ops/s | Roost REST ops/s | Roost/webdis | issue target |",
              "|---|---:|---:|---:|---|"] + http_lines
redis, roost = median("roost-bench-open", "redis", "get", 1), median("roost-bench-open", "roost", "get", 1)
if redis and roost:
    diff = roost["p99_ms"] - redis["p99_ms"]
    verdict = target("open-loop p99 Roost - redis (ms)", round(diff, 3), "<= 0.2 ms", diff <= 0.2)
    lines += ["", f"| open loop GET, {rate:,.0f}/s, P=1 | redis-server | Roost | Roost - redis | issue target |",
              "|---|---:|---:|---:|---|",
              f"| p50 (ms) | {redis['p50_ms']:.3f} | {roost['p50_ms']:.3f} | {roost['p50_ms'] - redis['p50_ms']:+.3f} | - |",
              f"| p99 (ms) | {redis['p99_ms']:.3f} | {roost['p99_ms']:.3f} | {diff:+.3f} | {verdict} |",
              f"| achieved ops/s | {redis['ops_per_second']:,.0f} | {roost['ops_per_second']:,.0f} | | |"]
report = dict(
    measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    machine=f"{platform.node()} {platform.machine()} {platform.release()}",
    note="clients and servers share the machine's cores; medians of the repeats",
    load_average_at_start=load_at_start.split(), load_average_at_end=load_at_end,
    parameters=dict(keyspace=keyspace, value_size=value_size, connections=connections,
                    repeats=repeats, bench_threads=threads, quick=bool(quick),
                    open_loop_rate=rate),
    medians=medians, targets=targets, runs=runs)
with open(out, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
print()
print("\n".join(lines))
print()
print(f"load average (1, 5, 15 min) at start {load_at_start}, at end {' '.join(load_at_end)}")
PY
}

main() {
  check_peers
  local started=$SECONDS
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "compare: keyspace $KEYSPACE, value $VALUE_SIZE B, $CONNECTIONS connections," \
    "pipelines $PIPELINES, $REPEATS repeats; $(nproc) cores shared by clients and servers"
  start_redis
  start_roost_embedded
  start_webdis
  preload
  local repeat depth server port
  for repeat in $(seq 1 "$REPEATS"); do
    for depth in $PIPELINES; do
      for server in redis roost; do
        port=$REDIS_PORT
        [[ "$server" == roost ]] && port=$ROOST_RESP_PORT
        echo "repeat $repeat: P=$depth against $server ($((SECONDS - started)) s)"
        run_redis_benchmark "$server" "$port" "$depth" "$repeat"
        run_roost_bench_resp "$server" "$port" "$depth" "$repeat"
      done
    done
    echo "repeat $repeat: HTTP GET hits, webdis and Roost REST"
    run_http "$repeat"
  done
  # The open loop's rate comes from the P=1 runs; without them it is skipped.
  local rate=0
  if [[ " $PIPELINES " == *" 1 "* ]]; then
    rate=$(latency_rate)
    for repeat in $(seq 1 "$REPEATS"); do
      echo "repeat $repeat: open loop at $rate GET/s against redis and roost"
      run_latency "$rate" "$repeat"
    done
  fi
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/compare-$(date -u +%Y-%m-%d).json"
  summarise "$out" "$rate"
  cp "$out" "$RESULTS_DIR/compare-latest.json"
  echo "wrote $out and compare-latest.json in $((SECONDS - started)) s"
}

main "$@"
