#!/usr/bin/env bash
# Roost over three redis-server nodes against twemproxy (nutcracker) over the same
# three nodes and a single redis-server reached directly, one run.
#
# Starts three redis-server nodes, nutcracker in front of them (ketama over fnv1a_64,
# as twemproxy's own examples shard redis; preconnect, NUTCRACKER_SERVER_CONNECTIONS
# per node), `roost serve` in front of the same nodes (REDIS_CLUSTER_NODES,
# ROOST_REPLICAS=1) and a fourth redis-server as the direct baseline, all on free
# loopback ports in a temp dir. Preloads KEYSPACE keys (key:000000000000 .., the names
# redis-benchmark -r uses) through each proxy and into the direct server, recording how
# each proxy spread them over the nodes. Then, REPEATS times, the three servers in
# rotating order: GET and SET at each pipeline depth in PIPELINES, CONNECTIONS
# connections, with redis-benchmark and with roost-bench. Around every run it reads
# the user+system CPU time of the proxy (nutcracker, Roost, or the direct redis-server)
# and of the three nodes from /proc/<pid>/stat: CPU-seconds per million operations;
# and the nodes' read system calls (/proc/<pid>/io): how many commands a proxy batches.
# Prints medians, Roost/nutcracker and Roost/direct ratios against the issue's targets
# as markdown, and writes bench/results/fleet-<date>.json and fleet-latest.json.
#
# Environment (defaults; QUICK=1 shrinks everything to a ~1-minute smoke run):
#   REPEATS (3)  KEYSPACE (100000)  VALUE_SIZE (3, redis-benchmark's default)
#   CONNECTIONS (50)  PIPELINES ("1 16")  BENCH_DURATION (4s, roost-bench per run)
#   RB_REQUESTS_PER_DEPTH (100000: redis-benchmark -n is this × P, at most RB_MAX)
#   RB_MAX (1000000)  BENCH_THREADS (1)  NUTCRACKER_SERVER_CONNECTIONS (1)
#   QUIET_LOAD (1.5) QUIET_WAIT (600 s): wait for the load average to drop first
#   SERVERS ("direct nutcracker roost"): which to run; leaving roost out checks the rest
#   ROOST_BIN, ROOST_BENCH_BIN (target/release/...), RESULTS_DIR (bench/results)
# The machine's cores are shared by the clients, the proxies and the nodes: read
# ratios, not absolute numbers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  REPEATS=${REPEATS:-1}
  KEYSPACE=${KEYSPACE:-10000}
  BENCH_DURATION=${BENCH_DURATION:-1s}
  RB_REQUESTS_PER_DEPTH=${RB_REQUESTS_PER_DEPTH:-10000}
  QUIET_WAIT=${QUIET_WAIT:-0}
fi
REPEATS=${REPEATS:-3}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-3}
CONNECTIONS=${CONNECTIONS:-50}
PIPELINES=${PIPELINES:-1 16}
BENCH_DURATION=${BENCH_DURATION:-4s}
RB_REQUESTS_PER_DEPTH=${RB_REQUESTS_PER_DEPTH:-100000}
RB_MAX=${RB_MAX:-1000000}
BENCH_THREADS=${BENCH_THREADS:-1}
NUTCRACKER_SERVER_CONNECTIONS=${NUTCRACKER_SERVER_CONNECTIONS:-1}
NUTCRACKER_BIN=${NUTCRACKER_BIN:-/usr/sbin/nutcracker}
QUIET_LOAD=${QUIET_LOAD:-1.5}
QUIET_WAIT=${QUIET_WAIT:-600}
export ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30
read -r -a SERVERS <<<"${SERVERS:-direct nutcracker roost}"

WORK_DIR=$(mktemp -d -t roost-fleet.XXXXXX)
RUNS="$WORK_DIR/runs.tsv"
SPREAD="$WORK_DIR/spread.tsv"
: >"$RUNS"
: >"$SPREAD"
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_started_on_exit

check_peers() {
  require_tools "redis-server redis-tools nutcracker python3" redis-server redis-cli redis-benchmark "$NUTCRACKER_BIN" python3
  ensure_release_binaries
}

# Three fleet nodes and the direct baseline, each its own redis-server.
start_nodes() {
  NODE_PORTS=() NODE_PIDS=()
  local i port
  for i in 1 2 3; do
    port=$(free_port)
    start_redis_node "node$i" "$port"
    NODE_PORTS+=("$port")
    NODE_PIDS+=("$STARTED_PID")
  done
  DIRECT_PORT=$(free_port)
  start_redis_node direct "$DIRECT_PORT"
  DIRECT_PID=$STARTED_PID
}

start_nutcracker() {
  NUTCRACKER_PORT=$(free_port)
  local dir="$WORK_DIR/nutcracker" port i=0
  mkdir -p "$dir"
  {
    echo "fleet:"
    echo "  listen: 127.0.0.1:$NUTCRACKER_PORT"
    echo "  hash: fnv1a_64"
    echo "  distribution: ketama"
    echo "  redis: true"
    echo "  preconnect: true"
    echo "  server_connections: $NUTCRACKER_SERVER_CONNECTIONS"
    echo "  auto_eject_hosts: false"
    echo "  timeout: 1000"
    echo "  backlog: 1024"
    echo "  servers:"
    for port in "${NODE_PORTS[@]}"; do
      i=$((i + 1))
      echo "   - 127.0.0.1:$port:1 node$i"
    done
  } >"$dir/nutcracker.yml"
  "$NUTCRACKER_BIN" -t -c "$dir/nutcracker.yml" >"$dir/check.log" 2>&1 ||
    die "nutcracker rejects its configuration: $(cat "$dir/check.log")"
  "$NUTCRACKER_BIN" -c "$dir/nutcracker.yml" -s "$(free_port)" -a 127.0.0.1 \
    -p "$dir/nutcracker.pid" -o "$dir/nutcracker.log" -v 4 &
  NUTCRACKER_PID=$!
  PIDS+=("$NUTCRACKER_PID")
  wait_until nutcracker "$NUTCRACKER_PID" "$dir/nutcracker.log" redis_ping "$NUTCRACKER_PORT"
}

start_roost() {
  local nodes="" port
  for port in "${NODE_PORTS[@]}"; do
    nodes+="${nodes:+,}redis://127.0.0.1:$port"
  done
  start_roost_fleet roost "$nodes" ROOST_REPLICAS=1 CACHE_TTL=0
  ROOST_PID=$STARTED_PID
}

# port_of SERVER / pid_of SERVER: where a server listens, and the process whose CPU
# time its runs are charged (the proxy; the redis-server itself for direct).
port_of() {
  case $1 in
    direct) echo "$DIRECT_PORT" ;;
    nutcracker) echo "$NUTCRACKER_PORT" ;;
    roost) echo "$ROOST_RESP_PORT" ;;
  esac
}

pid_of() {
  case $1 in
    direct) echo "$DIRECT_PID" ;;
    nutcracker) echo "$NUTCRACKER_PID" ;;
    roost) echo "$ROOST_PID" ;;
  esac
}

node_keys() {
  local port
  for port in "${NODE_PORTS[@]}"; do
    redis-cli -p "$port" DBSIZE
  done
}

flush_nodes() {
  local port
  for port in "${NODE_PORTS[@]}"; do
    redis-cli -p "$port" FLUSHALL >/dev/null
  done
}

fill() {
  "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:$1" --keys "$KEYSPACE" \
    --value-size "$VALUE_SIZE" --key-digits 12 --batch 1000 --connections 4 --no-progress \
    >/dev/null
}

# Fills through each proxy into empty nodes and records how the keys spread over the
# nodes (SPREAD: server, then keys per node); then both fills again, so each proxy
# finds every key where it looks for it (the two place a key on different nodes).
preload() {
  local server keys total
  for server in nutcracker $([[ -n "${ROOST_PID:-}" ]] && echo roost); do
    flush_nodes
    fill "$(port_of "$server")"
    keys=$(node_keys | paste -sd' ')
    total=$(python3 -c 'import sys; print(sum(map(int, sys.argv[1:])))' $keys)
    ((total == KEYSPACE)) || die "$server put $total keys on the nodes ($keys), expected $KEYSPACE"
    printf '%s\t%s\n' "$server" "$keys" >>"$SPREAD"
    echo "preload: $server spread $KEYSPACE keys over the nodes as $keys"
  done
  fill "$(port_of nutcracker)"
  fill "$DIRECT_PORT"
  keys=$(redis-cli -p "$DIRECT_PORT" DBSIZE)
  [[ "$keys" == "$KEYSPACE" ]] || die "direct redis holds $keys keys after fill, expected $KEYSPACE"
}

# Appends one result line: tool server op pipeline repeat ops_per_second p50_ms p99_ms
# errors operations proxy_cpu_seconds nodes_cpu_seconds node_read_syscalls get_hit_ratio
record() {
  local IFS=$'\t'
  echo "$*" >>"$RUNS"
}

# measured SERVER CMD...: runs CMD, sets CPU_PROXY and CPU_NODES to the CPU seconds the
# server's proxy process and the three nodes used meanwhile, and NODE_READS to the read
# system calls the nodes made (direct: the redis-server's own).
measured() {
  local server=$1 pid proxy_before nodes_before reads_before
  shift
  pid=$(pid_of "$server")
  proxy_before=$(cpu_seconds "$pid")
  nodes_before=$(cpu_seconds "${NODE_PIDS[@]}")
  reads_before=$(read_syscalls "${NODE_PIDS[@]}" "$DIRECT_PID")
  "$@"
  CPU_PROXY=$(python3 -c 'import sys; print(f"{float(sys.argv[1]) - float(sys.argv[2]):.2f}")' \
    "$(cpu_seconds "$pid")" "$proxy_before")
  CPU_NODES=$(python3 -c 'import sys; print(f"{float(sys.argv[1]) - float(sys.argv[2]):.2f}")' \
    "$(cpu_seconds "${NODE_PIDS[@]}")" "$nodes_before")
  NODE_READS=$(($(read_syscalls "${NODE_PIDS[@]}" "$DIRECT_PID") - reads_before))
  [[ "$server" == direct ]] && CPU_NODES=0
  return 0
}

run_redis_benchmark() {
  local server=$1 depth=$2 repeat=$3 op requests out line
  requests=$((RB_REQUESTS_PER_DEPTH * depth))
  ((requests <= RB_MAX)) || requests=$RB_MAX
  for op in get set; do
    out="$WORK_DIR/rb-$server-$op-$depth-$repeat.csv"
    measured "$server" redis-benchmark -h 127.0.0.1 -p "$(port_of "$server")" -t "$op" \
      -c "$CONNECTIONS" -P "$depth" -n "$requests" -r "$KEYSPACE" -d "$VALUE_SIZE" -q --csv \
      >"$out" 2>"$out.err" || die "redis-benchmark against $server failed: $(tail -n 3 "$out.err")"
    line=$(grep "^\"${op^^}\"" "$out") ||
      die "redis-benchmark printed no ${op^^} line for $server: $(cat "$out" "$out.err")"
    # "test","rps","avg","min","p50","p95","p99","max" (latencies in ms)
    IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"${line//\"/}"
    record redis-benchmark "$server" "$op" "$depth" "$repeat" "$rps" "$p50" "$p99" 0 \
      "$requests" "$CPU_PROXY" "$CPU_NODES" "$NODE_READS" -
  done
}

run_roost_bench() {
  local server=$1 depth=$2 repeat=$3 op json fields
  for op in get set; do
    json="$WORK_DIR/rbench-$server-$op-$depth-$repeat.json"
    measured "$server" "$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:$(port_of "$server")" \
      --uniform --keyspace "$KEYSPACE" --key-digits 12 --value-size "$VALUE_SIZE" --ttl 0 \
      --connections "$CONNECTIONS" --no-progress --json "$json" --mix "$op=1" \
      --pipeline "$depth" --threads "$BENCH_THREADS" --duration "$BENCH_DURATION" >/dev/null
    fields=$(python3 - "$json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
row = report["operations"][0]
hits = report["get_hit_ratio"]
print(row["ops_per_second"], row["p50_micros"] / 1e3, row["p99_micros"] / 1e3,
      report["total_errors"], report["total_ops"], "-" if hits is None else hits)
PY
    )
    read -r rps p50 p99 errors ops hits <<<"$fields"
    record roost-bench "$server" "$op" "$depth" "$repeat" "$rps" "$p50" "$p99" "$errors" \
      "$ops" "$CPU_PROXY" "$CPU_NODES" "$NODE_READS" "$hits"
  done
}

# Medians over repeats, ratios, CPU per million operations and the issue's targets:
# JSON to $1 and markdown tables on stdout.
summarise() {
  python3 - "$RUNS" "$SPREAD" "$1" "$KEYSPACE" "$VALUE_SIZE" "$CONNECTIONS" "$REPEATS" \
    "$BENCH_THREADS" "$QUICK" "$NUTCRACKER_SERVER_CONNECTIONS" "$LOAD_AT_START" \
    "$ROOST_COMMIT" <<'PY'
import json, os, platform, statistics, sys, time
runs_path, spread_path, out = sys.argv[1:4]
keyspace, value_size, connections, repeats, threads, quick, server_connections = map(int, sys.argv[4:11])
load_at_start, roost_commit = sys.argv[11], sys.argv[12]
load_at_end = open("/proc/loadavg").read().split()[:3]
runs = []
for line in open(runs_path):
    (tool, server, op, depth, repeat, ops, p50, p99, errors, operations, cpu_proxy, cpu_nodes,
     reads, hits) = line.rstrip("\n").split("\t")
    runs.append(dict(tool=tool, server=server, op=op, pipeline=int(depth), repeat=int(repeat),
                     ops_per_second=float(ops), p50_ms=float(p50), p99_ms=float(p99),
                     errors=int(errors), operations=int(operations),
                     proxy_cpu_seconds=float(cpu_proxy), nodes_cpu_seconds=float(cpu_nodes),
                     node_read_syscalls=int(reads),
                     get_hit_ratio=None if hits == "-" else float(hits)))
groups = {}
for run in runs:
    groups.setdefault((run["tool"], run["server"], run["op"], run["pipeline"]), []).append(run)
def per_million(group, field):
    return statistics.median(r[field] / r["operations"] * 1e6 for r in group)
medians = []
for (tool, server, op, depth), group in groups.items():
    hit_ratios = [r["get_hit_ratio"] for r in group if r["get_hit_ratio"] is not None]
    medians.append(dict(
        tool=tool, server=server, op=op, pipeline=depth, repeats=len(group),
        ops_per_second=statistics.median(r["ops_per_second"] for r in group),
        p50_ms=statistics.median(r["p50_ms"] for r in group),
        p99_ms=statistics.median(r["p99_ms"] for r in group),
        errors=sum(r["errors"] for r in group),
        proxy_cpu_seconds_per_million=per_million(group, "proxy_cpu_seconds"),
        nodes_cpu_seconds_per_million=per_million(group, "nodes_cpu_seconds"),
        node_read_syscalls_per_operation=per_million(group, "node_read_syscalls") / 1e6,
        min_get_hit_ratio=min(hit_ratios) if hit_ratios else None))
def median(tool, server, op, depth):
    return next((m for m in medians if (m["tool"], m["server"], m["op"], m["pipeline"])
                 == (tool, server, op, depth)), None)
targets = []
def target(name, value, goal, met):
    targets.append(dict(target=name, measured=round(value, 3), goal=goal, met=met))
    return f"{'met' if met else 'MISSED'} (>= {goal.split()[-1]})"
depths = sorted({m["pipeline"] for m in medians})
lines = ["| client | op | P | direct redis ops/s | nutcracker ops/s | Roost ops/s | Roost/nutcracker | Roost/direct | issue targets |",
         "|---|---|---:|---:|---:|---:|---:|---:|---|"]
cpu = ["| client | op | P | nutcracker CPU-s/M ops | Roost CPU-s/M ops | nodes under nutcracker | nodes under Roost | direct redis-server | node reads/op: nutcracker | Roost | direct |",
       "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for tool in ("redis-benchmark", "roost-bench"):
    for op in ("get", "set"):
        for depth in depths:
            direct, twem, roost = (median(tool, s, op, depth) for s in ("direct", "nutcracker", "roost"))
            if not (direct and twem):
                continue
            if not roost:
                lines.append(f"| {tool} | {op.upper()} | {depth} | {direct['ops_per_second']:,.0f} | "
                             f"{twem['ops_per_second']:,.0f} | not run | | | |")
                continue
            vs_twem = roost["ops_per_second"] / twem["ops_per_second"]
            vs_direct = roost["ops_per_second"] / direct["ops_per_second"]
            verdicts = []
            goal = {1: 1.3, 16: 1.5}.get(depth)
            label = f"{tool} {op.upper()} P={depth}"
            if goal:
                verdicts.append("nutcracker " + target(f"{label} Roost/nutcracker", vs_twem, f">= {goal}", vs_twem >= goal))
            if depth == 1:
                verdicts.append("direct " + target(f"{label} Roost/direct redis", vs_direct, ">= 0.9", vs_direct >= 0.9))
            errors = " (errors!)" if direct["errors"] or twem["errors"] or roost["errors"] else ""
            misses = [s for s, m in (("direct", direct), ("nutcracker", twem), ("roost", roost))
                      if m["min_get_hit_ratio"] is not None and m["min_get_hit_ratio"] < 1]
            if misses:
                errors += f" (GET misses: {', '.join(misses)})"
            lines.append(f"| {tool} | {op.upper()} | {depth} | {direct['ops_per_second']:,.0f} | "
                         f"{twem['ops_per_second']:,.0f} | {roost['ops_per_second']:,.0f} | "
                         f"{vs_twem:.2f}x | {vs_direct:.2f}x{errors} | {'; '.join(verdicts) or '-'} |")
            cpu.append(f"| {tool} | {op.upper()} | {depth} | {twem['proxy_cpu_seconds_per_million']:.2f} | "
                       f"{roost['proxy_cpu_seconds_per_million']:.2f} | {twem['nodes_cpu_seconds_per_million']:.2f} | "
                       f"{roost['nodes_cpu_seconds_per_million']:.2f} | {direct['proxy_cpu_seconds_per_million']:.2f} | "
                       f"{twem['node_read_syscalls_per_operation']:.3f} | {roost['node_read_syscalls_per_operation']:.3f} | "
                       f"{direct['node_read_syscalls_per_operation']:.3f} |")
spread = {}
for line in open(spread_path):
    server, keys = line.rstrip("\n").split("\t")
    spread[server] = [int(k) for k in keys.split()]
report = dict(
    measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    machine=f"{platform.node()} {platform.machine()} {platform.release()}",
    roost_commit=roost_commit,
    roost_binary_built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(os.environ["ROOST_BIN"]))),
    note="clients, proxies and nodes share the machine's cores; medians of the repeats; "
         "CPU-seconds per million operations from utime+stime in /proc/<pid>/stat",
    load_average_at_start=load_at_start.split(), load_average_at_end=load_at_end,
    parameters=dict(keyspace=keyspace, value_size=value_size, connections=connections,
                    repeats=repeats, bench_threads=threads, quick=bool(quick),
                    nutcracker=dict(hash="fnv1a_64", distribution="ketama", preconnect=True,
                                    server_connections=server_connections, timeout_ms=1000),
                    roost=dict(backend="redis", replicas=1)),
    keys_per_node_after_fill=spread,
    medians=medians, targets=targets, runs=runs)
with open(out, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
print()
print("\n".join(lines))
print()
print("CPU-seconds per million operations (the proxy process; the three nodes together), and read")
print("system calls per operation on the nodes (fewer: the proxy batches more commands per write):")
print()
print("\n".join(cpu))
print()
print(f"keys per node after a fill of {keyspace}: " +
      "; ".join(f"{s} {k}" for s, k in spread.items()))
print(f"load average (1, 5, 15 min) at start {load_at_start}, at end {' '.join(load_at_end)}")
PY
}

main() {
  check_peers
  [[ "$QUICK" == 1 ]] || wait_for_quiet_machine "$QUIET_LOAD" "$QUIET_WAIT"
  local started=$SECONDS
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  ROOST_COMMIT=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
  echo "fleet: keyspace $KEYSPACE, value $VALUE_SIZE B, $CONNECTIONS connections," \
    "pipelines $PIPELINES, $REPEATS repeats; $(nproc) cores shared by clients, proxies and nodes"
  start_nodes
  start_nutcracker
  [[ " ${SERVERS[*]} " == *" roost "* ]] && start_roost
  preload
  local repeat depth server turn count=${#SERVERS[@]}
  for repeat in $(seq 1 "$REPEATS"); do
    for depth in $PIPELINES; do
      for turn in $(seq 0 $((count - 1))); do
        server=${SERVERS[$(((repeat + turn) % count))]}
        echo "repeat $repeat: P=$depth against $server ($((SECONDS - started)) s)"
        run_redis_benchmark "$server" "$depth" "$repeat"
        run_roost_bench "$server" "$depth" "$repeat"
      done
    done
  done
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/fleet-$(date -u +%Y-%m-%d).json"
  summarise "$out"
  cp "$out" "$RESULTS_DIR/fleet-latest.json"
  echo "wrote $out and fleet-latest.json in $((SECONDS - started)) s"
}

# bench/near.sh sources this file for its nodes, nutcracker, preload and CPU
# accounting, and runs its own main.
[[ "${BASH_SOURCE[0]}" != "$0" ]] || main "$@"
