#!/usr/bin/env bash
# Redis's data-type commands through Roost over three redis-server nodes against
# twemproxy (nutcracker) over the same three nodes, one run (issue 17).
#
# Sources bench/fleet.sh for its nodes, nutcracker, Roost (ROOST_REPLICAS=1) and CPU
# accounting, so both scripts measure the same set-up. Then, REPEATS times, at each
# pipeline depth in PIPELINES, the two proxies in alternating order; before each
# proxy's turn the nodes are emptied (FLUSHALL). A turn is two series of redis-benchmark
# runs, -c CONNECTIONS -P p -n N -r KEYSPACE --csv, one command per run so the CPU
# time and the nodes' reads can be charged to it:
#   one-key: the issue's `-t hset,lpush,lpop,rpush,rpop,sadd,spop,zadd,lrange_100`, one
#     test per run in redis-benchmark's own order (lpush rpush lpop rpop sadd hset spop
#     zadd lrange_100), so each test meets the state the combined command leaves it.
#     These tests use fixed key names (mylist, myset, myhash, myzset; -r only varies the
#     members and fields), so each test sends every command to one key on one node.
#     lrange_100's run also does its own LPUSH of N elements first (its CPU and reads
#     are charged to LRANGE_100 as 2N operations).
#   spread (SPREAD_KEYS=1): the same eight write commands on keys named with __rand_int__
#     (dt:h:<n>, dt:l:<n>, dt:s:<n>, dt:z:<n>, n < KEYSPACE), spread over the three nodes.
# Around every run it reads the user+system CPU time of the proxy and of the three
# nodes (/proc/<pid>/stat) and the nodes' read system calls (/proc/<pid>/io). Records
# which node holds each one-key test's key under each proxy. Prints markdown tables of
# medians and Roost/nutcracker ratios and writes bench/results/datatypes-<date>.json.
#
# Environment (defaults; QUICK=1 for a ~1-minute smoke run: 1 repeat, N/10):
#   REPEATS (3)  KEYSPACE (100000)  CONNECTIONS (50)  PIPELINES ("1 16")
#   REQUESTS_P1 (100000: -n at P=1)  REQUESTS_PIPELINED (300000: -n at P>1)
#   SPREAD_KEYS (1: also the spread-key series)  SERVERS ("nutcracker roost")
#   and fleet.sh's NUTCRACKER_SERVER_CONNECTIONS, QUIET_LOAD, QUIET_WAIT, ROOST_BIN,
#   RESULTS_DIR ...
# The machine's cores are shared by redis-benchmark, the proxies and the nodes: read
# ratios, not absolute numbers.
set -euo pipefail

DT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVERS=${SERVERS:-nutcracker roost}
if [[ "${QUICK:-0}" == 1 ]]; then
  REQUESTS_P1=${REQUESTS_P1:-10000}
  REQUESTS_PIPELINED=${REQUESTS_PIPELINED:-30000}
fi
# shellcheck source=bench/fleet.sh
source "$DT_ROOT/bench/fleet.sh"

REQUESTS_P1=${REQUESTS_P1:-100000}
REQUESTS_PIPELINED=${REQUESTS_PIPELINED:-300000}
SPREAD_KEYS=${SPREAD_KEYS:-1}
PLACEMENT="$WORK_DIR/placement.tsv"
: >"$PLACEMENT"

# The issue's tests in the order redis-benchmark runs them when given together, and
# the spread series: name, then the command redis-benchmark sends.
ONE_KEY_TESTS=(lpush rpush lpop rpop sadd hset spop zadd lrange_100)
SPREAD_TESTS=(
  "LPUSH|LPUSH dt:l:__rand_int__ v"
  "RPUSH|RPUSH dt:l:__rand_int__ v"
  "LPOP|LPOP dt:l:__rand_int__"
  "RPOP|RPOP dt:l:__rand_int__"
  "SADD|SADD dt:s:__rand_int__ m"
  "HSET|HSET dt:h:__rand_int__ f v"
  "SPOP|SPOP dt:s:__rand_int__"
  "ZADD|ZADD dt:z:__rand_int__ 1 m"
)

requests_at() {
  if (($1 == 1)); then echo "$REQUESTS_P1"; else echo "$REQUESTS_PIPELINED"; fi
}

# Each command answers through SERVER as from Redis, not with an error.
check_commands() {
  local server=$1 port reply
  port=$(port_of "$server")
  flush_nodes
  while read -r expect cmd; do
    # shellcheck disable=SC2086 # cmd is words on purpose
    reply=$(redis-cli -p "$port" $cmd 2>&1) || die "redis-cli $cmd through $server failed: $reply"
    [[ "$reply" == "$expect" ]] ||
      die "$server answered '$reply' to $cmd, expected '$expect'"
  done <<'EOF'
3 LPUSH mylist a b c
4 RPUSH mylist d
c LPOP mylist
d RPOP mylist
1 SADD myset m
1 HSET myhash f v
m SPOP myset
1 ZADD myzset 1 m
b LRANGE mylist 0 0
EOF
  flush_nodes
}

# bench_one SERVER SERIES NAME DEPTH REPEAT REDIS-BENCHMARK-ARGS...: one measured
# redis-benchmark run; records the line whose test name starts with NAME.
bench_one() {
  local server=$1 series=$2 name=$3 depth=$4 repeat=$5 requests out line operations
  shift 5
  requests=$(requests_at "$depth")
  out="$WORK_DIR/rb-$series-$server-$name-$depth-$repeat.csv"
  measured "$server" redis-benchmark -h 127.0.0.1 -p "$(port_of "$server")" \
    -c "$CONNECTIONS" -P "$depth" -n "$requests" -r "$KEYSPACE" -q --csv "$@" \
    >"$out" 2>"$out.err" ||
    die "redis-benchmark $* against $server failed: $(tail -n 3 "$out" "$out.err")"
  line=$(grep -i "^\"$name" "$out" | tail -n 1) ||
    die "redis-benchmark printed no $name line for $server: $(cat "$out" "$out.err")"
  # "test","rps","avg","min","p50","p95","p99","max" (latencies in ms); the test name
  # may hold commas (a spread command does not), so read from the end.
  local fields
  IFS=, read -r -a fields <<<"${line//\"/}"
  local n=${#fields[@]}
  operations=$requests
  [[ "$name" == LRANGE_100 ]] && operations=$((2 * requests))
  record "$series" "$server" "$name" "$depth" "$repeat" "${fields[n - 7]}" "${fields[n - 4]}" \
    "${fields[n - 2]}" "$requests" "$operations" "$CPU_PROXY" "$CPU_NODES" "$NODE_READS"
}

# Which node (1-3) holds each one-key test's key; myset is empty after SPOP, so it
# is written once more through the proxy first.
record_placement() {
  local server=$1 depth=$2 repeat=$3 key i port where
  redis-cli -p "$(port_of "$server")" SADD myset probe >/dev/null
  for key in mylist myhash myset myzset; do
    where=""
    i=0
    for port in "${NODE_PORTS[@]}"; do
      i=$((i + 1))
      [[ "$(redis-cli -p "$port" EXISTS "$key")" == 1 ]] && where+="${where:+,}$i"
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$depth" "$repeat" "$key" "${where:-none}" \
      >>"$PLACEMENT"
  done
}

run_turn() {
  local server=$1 depth=$2 repeat=$3 test entry
  flush_nodes
  for test in "${ONE_KEY_TESTS[@]}"; do
    bench_one "$server" one-key "${test^^}" "$depth" "$repeat" -t "$test"
  done
  record_placement "$server" "$depth" "$repeat"
  [[ "$SPREAD_KEYS" == 1 ]] || return 0
  for entry in "${SPREAD_TESTS[@]}"; do
    # shellcheck disable=SC2086 # the command is words on purpose
    bench_one "$server" spread "${entry%%|*}" "$depth" "$repeat" ${entry#*|}
  done
  SPREAD_KEYS_PER_NODE["$server"]=$(node_keys | paste -sd' ')
}

datatypes_summary() {
  python3 - "$RUNS" "$PLACEMENT" "$1" "$LOAD_AT_START" "$ROOST_COMMIT" "$KEYSPACE" \
    "$CONNECTIONS" "$REPEATS" "$QUICK" "$NUTCRACKER_SERVER_CONNECTIONS" "$REQUESTS_P1" \
    "$REQUESTS_PIPELINED" "${SPREAD_KEYS_PER_NODE[nutcracker]:-}" \
    "${SPREAD_KEYS_PER_NODE[roost]:-}" <<'PY'
import json, os, platform, statistics, sys, time
(runs_path, placement_path, out, load_start, commit, keyspace, conns, repeats, quick,
 server_connections, n1, npipe, spread_nut, spread_roost) = sys.argv[1:15]
load_end = open("/proc/loadavg").read().split()[:3]
runs = []
for line in open(runs_path):
    (series, server, op, depth, repeat, ops, p50, p99, requests, operations, cpu, nodes,
     reads) = line.rstrip("\n").split("\t")
    runs.append(dict(series=series, server=server, op=op, pipeline=int(depth),
                     repeat=int(repeat), ops_per_second=float(ops), p50_ms=float(p50),
                     p99_ms=float(p99), requests=int(requests), operations=int(operations),
                     proxy_cpu_seconds=float(cpu), nodes_cpu_seconds=float(nodes),
                     node_read_syscalls=int(reads)))
groups = {}
for r in runs:
    groups.setdefault((r["series"], r["server"], r["op"], r["pipeline"]), []).append(r)
def per_op(group, field):
    return statistics.median(r[field] / r["operations"] for r in group)
medians = []
for (series, server, op, depth), g in groups.items():
    medians.append(dict(series=series, server=server, op=op, pipeline=depth, repeats=len(g),
                        ops_per_second=statistics.median(r["ops_per_second"] for r in g),
                        p50_ms=statistics.median(r["p50_ms"] for r in g),
                        p99_ms=statistics.median(r["p99_ms"] for r in g),
                        proxy_cpu_seconds_per_million=per_op(g, "proxy_cpu_seconds") * 1e6,
                        nodes_cpu_seconds_per_million=per_op(g, "nodes_cpu_seconds") * 1e6,
                        node_read_syscalls_per_operation=per_op(g, "node_read_syscalls")))
def med(series, server, op, depth):
    return next((m for m in medians if (m["series"], m["server"], m["op"], m["pipeline"])
                 == (series, server, op, depth)), None)
order = ["HSET", "LPUSH", "LPOP", "RPUSH", "RPOP", "SADD", "SPOP", "ZADD", "LRANGE_100"]
depths = sorted({m["pipeline"] for m in medians})
label = {"one-key": "one key", "spread": f"{int(keyspace):,} keys"}
tput = ["| keys | command | P | nutcracker ops/s | Roost ops/s | Roost/nutcracker | p50 ms: nutcracker | Roost |",
        "|---|---|---:|---:|---:|---:|---:|---:|"]
cpu = ["| keys | command | P | nutcracker CPU-s/M | Roost CPU-s/M | nodes under nutcracker | nodes under Roost | node reads/op: nutcracker | Roost |",
       "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
ratios = []
for series in ("one-key", "spread"):
    for depth in depths:
        for op in order:
            t, r = med(series, "nutcracker", op, depth), med(series, "roost", op, depth)
            if not (t or r):
                continue
            cell = lambda m, f, fmt: format(m[f], fmt) if m else "not run"
            ratio = f"{r['ops_per_second'] / t['ops_per_second']:.2f}x" if t and r else "-"
            if t and r:
                ratios.append(dict(series=series, op=op, pipeline=depth,
                                   roost_over_nutcracker=round(r["ops_per_second"] / t["ops_per_second"], 3)))
            tput.append(f"| {label[series]} | {op} | {depth} | {cell(t, 'ops_per_second', ',.0f')} | "
                        f"{cell(r, 'ops_per_second', ',.0f')} | {ratio} | {cell(t, 'p50_ms', '.3f')} | "
                        f"{cell(r, 'p50_ms', '.3f')} |")
            cpu.append(f"| {label[series]} | {op} | {depth} | {cell(t, 'proxy_cpu_seconds_per_million', '.2f')} | "
                       f"{cell(r, 'proxy_cpu_seconds_per_million', '.2f')} | "
                       f"{cell(t, 'nodes_cpu_seconds_per_million', '.2f')} | "
                       f"{cell(r, 'nodes_cpu_seconds_per_million', '.2f')} | "
                       f"{cell(t, 'node_read_syscalls_per_operation', '.3f')} | "
                       f"{cell(r, 'node_read_syscalls_per_operation', '.3f')} |")
placement = {}
for line in open(placement_path):
    server, depth, repeat, key, where = line.rstrip("\n").split("\t")
    placement.setdefault(server, {}).setdefault(key, set()).add(where)
placement = {s: {k: sorted(v) for k, v in keys.items()} for s, keys in placement.items()}
spread = {s: [int(k) for k in v.split()] for s, v in (("nutcracker", spread_nut), ("roost", spread_roost)) if v}
report = dict(
    measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    machine=f"{platform.node()} {platform.machine()} {platform.release()}, {os.cpu_count()} cores",
    roost_commit=commit,
    roost_binary_built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(os.environ["ROOST_BIN"]))),
    note="redis-benchmark, the proxies and the nodes share the machine's cores; medians of the "
         "repeats; CPU-seconds per million operations from utime+stime in /proc/<pid>/stat; "
         "LRANGE_100's CPU and reads include the LPUSH redis-benchmark runs before it (2N operations)",
    load_average_at_start=load_start.split(), load_average_at_end=load_end,
    parameters=dict(keyspace=int(keyspace), connections=int(conns), repeats=int(repeats),
                    quick=quick == "1", requests_p1=int(n1), requests_pipelined=int(npipe),
                    nutcracker=dict(hash="fnv1a_64", distribution="ketama", preconnect=True,
                                    server_connections=int(server_connections)),
                    roost=dict(backend="redis", replicas=1)),
    one_key_placement=placement, spread_keys_per_node=spread,
    medians=medians, ratios=ratios, runs=runs)
with open(out, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
print()
print("\n".join(tput))
print()
print("CPU-seconds per million operations (the proxy process; the three nodes together) and")
print("read system calls per operation on the nodes (LRANGE_100: with its LPUSH, 2N operations):")
print()
print("\n".join(cpu))
print()
for server, keys in placement.items():
    print(f"one-key tests under {server}: " + ", ".join(f"{k} on node {'/'.join(v)}" for k, v in keys.items()))
for server, keys in spread.items():
    print(f"spread keys per node after {server}'s last turn: {' / '.join(map(str, keys))}")
print(f"load average (1, 5, 15 min) at start {load_start}, at end {' '.join(load_end)}")
PY
}

datatypes_main() {
  check_peers
  [[ "$QUICK" == 1 ]] || wait_for_quiet_machine "$QUIET_LOAD" "$QUIET_WAIT"
  local started=$SECONDS
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  ROOST_COMMIT=$(cd "$DT_ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
  declare -gA SPREAD_KEYS_PER_NODE=()
  echo "datatypes: -n $REQUESTS_P1 at P=1, $REQUESTS_PIPELINED at P>1, -r $KEYSPACE," \
    "$CONNECTIONS connections, pipelines $PIPELINES, $REPEATS repeats, spread keys $SPREAD_KEYS;" \
    "$(nproc) cores shared by redis-benchmark, the proxies and the nodes"
  start_nodes
  start_nutcracker
  [[ " ${SERVERS[*]} " == *" roost "* ]] && start_roost
  local repeat depth server turn count=${#SERVERS[@]}
  for server in "${SERVERS[@]}"; do
    check_commands "$server"
  done
  for repeat in $(seq 1 "$REPEATS"); do
    for depth in $PIPELINES; do
      for turn in $(seq 0 $((count - 1))); do
        server=${SERVERS[$(((repeat + turn) % count))]}
        echo "repeat $repeat: P=$depth through $server ($((SECONDS - started)) s)"
        run_turn "$server" "$depth" "$repeat"
      done
    done
  done
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/datatypes-$(date -u +%Y-%m-%d).json"
  datatypes_summary "$out"
  echo "wrote $out in $((SECONDS - started)) s"
}

datatypes_main "$@"
