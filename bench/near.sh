#!/usr/bin/env bash
# The near cache: Roost over three redis-server nodes with ROOST_NEAR_CACHE_BYTES
# against Roost without it and nutcracker over the same nodes, one run; and how long a
# write through another gateway stays invisible to a near-cached reader.
#
# Sources bench/fleet.sh for its nodes, nutcracker, preload and CPU accounting (so
# both scripts measure the same set-up) and adds a second Roost (`roost-near`, the
# near cache on) over the same nodes. Then, REPEATS times, in rotating order:
# roost-bench GET at each pipeline depth in PIPELINES, with Zipf(ZIPF) keys and with
# uniform keys, CONNECTIONS connections. CPU-seconds per million operations of each
# proxy from /proc/<pid>/stat. Then bench/near_visibility.py: VISIBILITY_WRITES writes
# through plain Roost, each polled for on roost-near (p50/p99 of the delay from the
# SET's acknowledgement to the first GET that answers it). Prints markdown and writes
# bench/results/near-<date>.json and near-latest.json.
#
# Environment (defaults; QUICK=1 for a smoke run): REPEATS (3) KEYSPACE (100000)
#   VALUE_SIZE (3) CONNECTIONS (50) PIPELINES ("1 16") BENCH_DURATION (4s)
#   ZIPF (1.1) NEAR_BYTES (64MiB) HOT_SET (2048: ROOST_HOT_KEYS_HOT_SET)
#   VISIBILITY_WRITES (200) and fleet.sh's QUIET_LOAD, QUIET_WAIT, ROOST_BIN ...
set -euo pipefail

NEAR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/fleet.sh
source "$NEAR_ROOT/bench/fleet.sh"

ZIPF=${ZIPF:-1.1}
NEAR_BYTES=${NEAR_BYTES:-64MiB}
HOT_SET=${HOT_SET:-2048}
VISIBILITY_WRITES=${VISIBILITY_WRITES:-200}
[[ "$QUICK" == 1 ]] && VISIBILITY_WRITES=${VISIBILITY_WRITES_QUICK:-30}
NEAR_SERVERS=(nutcracker roost roost-near)

start_roost_near() {
  local nodes="" port
  for port in "${NODE_PORTS[@]}"; do
    nodes+="${nodes:+,}redis://127.0.0.1:$port"
  done
  start_roost_fleet roost-near "$nodes" ROOST_REPLICAS=1 CACHE_TTL=0 \
    ROOST_NEAR_CACHE_BYTES="$NEAR_BYTES" ROOST_HOT_KEYS_CAPACITY=$((HOT_SET * 2)) \
    ROOST_HOT_KEYS_HOT_SET="$HOT_SET"
  NEAR_PID=$STARTED_PID NEAR_RESP_PORT=$ROOST_RESP_PORT NEAR_HTTP_PORT=$ROOST_HTTP_PORT
}

# fleet.sh's port_of / pid_of, knowing roost-near too.
port_of() {
  case $1 in
    nutcracker) echo "$NUTCRACKER_PORT" ;;
    roost) echo "$PLAIN_RESP_PORT" ;;
    roost-near) echo "$NEAR_RESP_PORT" ;;
  esac
}

pid_of() {
  case $1 in
    nutcracker) echo "$NUTCRACKER_PID" ;;
    roost) echo "$ROOST_PID" ;;
    roost-near) echo "$NEAR_PID" ;;
  esac
}

run_get() {
  local server=$1 depth=$2 keys=$3 repeat=$4 json fields
  json="$WORK_DIR/near-$server-$keys-$depth-$repeat.json"
  local dist=(--uniform)
  [[ "$keys" == zipf ]] && dist=(--zipf "$ZIPF")
  measured "$server" "$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:$(port_of "$server")" \
    "${dist[@]}" --keyspace "$KEYSPACE" --key-digits 12 --value-size "$VALUE_SIZE" --ttl 0 \
    --connections "$CONNECTIONS" --no-progress --json "$json" --mix get=1 \
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
  record "$keys" "$server" get "$depth" "$repeat" "$rps" "$p50" "$p99" "$errors" "$ops" \
    "$CPU_PROXY" "$CPU_NODES" "$NODE_READS" "$hits"
}

near_summary() {
  python3 - "$RUNS" "$1" "$VISIBILITY" "$LOAD_AT_START" "$ROOST_COMMIT" "$ZIPF" "$NEAR_BYTES" \
    "$HOT_SET" "$KEYSPACE" "$CONNECTIONS" "$REPEATS" "$NEAR_HITS" <<'PY'
import json, statistics, sys, time
runs_path, out, visibility, load_start, commit, zipf, near_bytes, hot_set, keyspace, conns, repeats, near_hits = sys.argv[1:13]
runs = []
for line in open(runs_path):
    keys, server, op, depth, repeat, ops, p50, p99, errors, n, cpu, nodes, reads, hits = line.rstrip("\n").split("\t")
    runs.append(dict(keys=keys, server=server, pipeline=int(depth), repeat=int(repeat),
                     ops_per_second=float(ops), p50_ms=float(p50), p99_ms=float(p99),
                     errors=int(errors), operations=int(n), proxy_cpu_seconds=float(cpu),
                     nodes_cpu_seconds=float(nodes), get_hit_ratio=None if hits == "-" else float(hits)))
groups = {}
for r in runs:
    groups.setdefault((r["keys"], r["server"], r["pipeline"]), []).append(r)
med = {k: dict(ops=statistics.median(r["ops_per_second"] for r in g),
               p50=statistics.median(r["p50_ms"] for r in g),
               p99=statistics.median(r["p99_ms"] for r in g),
               cpu=statistics.median(r["proxy_cpu_seconds"] / r["operations"] * 1e6 for r in g),
               nodes=statistics.median(r["nodes_cpu_seconds"] / r["operations"] * 1e6 for r in g),
               errors=sum(r["errors"] for r in g))
       for k, g in groups.items()}
targets = []
lines = ["| keys | P | nutcracker ops/s | Roost ops/s | Roost+near ops/s | near/nutcracker | near/Roost | target |",
         "|---|---:|---:|---:|---:|---:|---:|---|"]
cpu = ["| keys | P | nutcracker CPU-s/M | Roost CPU-s/M | Roost+near CPU-s/M | nodes: nutcracker | Roost | Roost+near |",
       "|---|---:|---:|---:|---:|---:|---:|---:|"]
for keys in ("zipf", "uniform"):
    for depth in sorted({k[2] for k in med}):
        t, r, n = (med.get((keys, s, depth)) for s in ("nutcracker", "roost", "roost-near"))
        if not (t and r and n):
            continue
        vs_t, vs_r = n["ops"] / t["ops"], n["ops"] / r["ops"]
        if keys == "zipf":
            goal = {1: 1.3, 16: 1.5}.get(depth, 1.0)
            met = vs_t >= goal
            verdict = f"{'met' if met else 'MISSED'} (>= {goal}x nutcracker)"
            targets.append(dict(target=f"zipf P={depth} near/nutcracker", measured=round(vs_t, 3), goal=goal, met=met))
        else:
            met = vs_r >= 0.95
            verdict = f"{'met' if met else 'MISSED'} (no worse than without: >= 0.95x)"
            targets.append(dict(target=f"uniform P={depth} near/plain", measured=round(vs_r, 3), goal=0.95, met=met))
        errs = " (errors!)" if t["errors"] or r["errors"] or n["errors"] else ""
        label = f"Zipf({zipf})" if keys == "zipf" else "uniform"
        lines.append(f"| {label} | {depth} | {t['ops']:,.0f} | {r['ops']:,.0f} | {n['ops']:,.0f} | "
                     f"{vs_t:.2f}x | {vs_r:.2f}x{errs} | {verdict} |")
        cpu.append(f"| {label} | {depth} | {t['cpu']:.2f} | {r['cpu']:.2f} | {n['cpu']:.2f} | "
                   f"{t['nodes']:.2f} | {r['nodes']:.2f} | {n['nodes']:.2f} |")
vis = json.loads(visibility) if visibility else None
load_end = open("/proc/loadavg").read().split()[:3]
report = dict(measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), roost_commit=commit,
              parameters=dict(zipf=float(zipf), near_cache_bytes=near_bytes, hot_set=int(hot_set),
                              keyspace=int(keyspace), connections=int(conns), repeats=int(repeats)),
              load_average_at_start=load_start.split(), load_average_at_end=load_end,
              medians={f"{k[0]} {k[1]} P={k[2]}": v for k, v in med.items()},
              targets=targets, visibility=vis, near_hits_total=float(near_hits), runs=runs)
json.dump(report, open(out, "w"), indent=2)
print()
print("\n".join(lines))
print()
print("CPU-seconds per million GETs (the proxy process; the three nodes together):")
print()
print("\n".join(cpu))
print()
if vis:
    print(f"write through plain Roost, seen through roost-near: {vis['writes']} writes, "
          f"p50 {vis['p50_ms']} ms, p99 {vis['p99_ms']} ms, max {vis['max_ms']} ms "
          f"(target: within 50 ms: {'met' if vis['p99_ms'] <= 50 else 'MISSED'})")
print(f"roost-near's near-cache hits over the run: {float(near_hits):,.0f}")
print(f"load average (1, 5, 15 min) at start {load_start}, at end {' '.join(load_end)}")
PY
}

near_main() {
  check_peers
  [[ "$QUICK" == 1 ]] || wait_for_quiet_machine "$QUIET_LOAD" "$QUIET_WAIT"
  local started=$SECONDS
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  ROOST_COMMIT=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
  echo "near: keyspace $KEYSPACE, Zipf($ZIPF) and uniform GETs, $CONNECTIONS connections," \
    "pipelines $PIPELINES, $REPEATS repeats, near cache $NEAR_BYTES, hot set $HOT_SET; $(nproc) cores"
  start_nodes
  start_nutcracker
  start_roost
  PLAIN_RESP_PORT=$ROOST_RESP_PORT
  start_roost_near
  preload
  local repeat depth keys turn server count=${#NEAR_SERVERS[@]}
  for repeat in $(seq 1 "$REPEATS"); do
    for depth in $PIPELINES; do
      for keys in zipf uniform; do
        for turn in $(seq 0 $((count - 1))); do
          server=${NEAR_SERVERS[$(((repeat + turn) % count))]}
          echo "repeat $repeat: P=$depth $keys GET against $server ($((SECONDS - started)) s)"
          run_get "$server" "$depth" "$keys" "$repeat"
        done
      done
    done
  done
  NEAR_HITS=$(curl -s "http://127.0.0.1:$NEAR_HTTP_PORT/metrics" |
    awk '/^roost_near_cache_hits_total / {print $2}')
  echo "visibility: $VISIBILITY_WRITES writes through roost, read through roost-near"
  VISIBILITY=$(python3 "$NEAR_ROOT/bench/near_visibility.py" "$NEAR_RESP_PORT" \
    "$PLAIN_RESP_PORT" "$NEAR_HTTP_PORT" "$VISIBILITY_WRITES")
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/near-$(date -u +%Y-%m-%d).json"
  near_summary "$out"
  cp "$out" "$RESULTS_DIR/near-latest.json"
  echo "wrote $out and near-latest.json in $((SECONDS - started)) s"
}

near_main "$@"
