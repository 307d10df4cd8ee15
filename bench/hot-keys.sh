#!/usr/bin/env bash
# The hot-key tracker's cost: bench/compare.sh's P=16 GET with tracking on
# (the default) and off (ROOST_HOT_KEYS=off), alternating on/off ROUNDS times
# in one session so drift in the machine's load hits both alike, then the
# medians and the on/off ratio, for Roost alone and normalised by redis-server
# measured in the same compare run. Then its precision against exact counts
# (crates/roost/examples/hot_keys_precision.rs).
#
# Environment (defaults):
#   ROUNDS (3: on/off pairs)  BENCH_DURATION (3s)  RB_REQUESTS_PER_DEPTH (60000)
#   HTTP_DURATION, LATENCY_DURATION (1s: compare.sh's HTTP and latency parts are not
#   what this measures)  COMPARE (1: the compare.sh rounds)  CPU (1: server CPU per
#   request, both servers at once)  CPU_ROUNDS (5)  CPU_REQUESTS (2000000)
#   PRECISION (1: also run the precision example)
# Everything else (KEYSPACE, CONNECTIONS, ROOST_BIN, …) passes through to compare.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
export PIPELINES=16 REPEATS=1
export BENCH_DURATION=${BENCH_DURATION:-3s}
export RB_REQUESTS_PER_DEPTH=${RB_REQUESTS_PER_DEPTH:-60000}
export HTTP_DURATION=${HTTP_DURATION:-1s} LATENCY_DURATION=${LATENCY_DURATION:-1s}
OUT=$(mktemp -d -t roost-hot-keys.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

[[ "${COMPARE:-1}" == 1 ]] || ROUNDS=0
for round in $(seq 1 "$ROUNDS"); do
  for mode in on off; do
    echo "== round $round: ROOST_HOT_KEYS=$mode (load $(cut -d' ' -f1-3 /proc/loadavg))"
    RESULTS_DIR="$OUT/$mode-$round" ROOST_HOT_KEYS=$mode "$ROOT/bench/compare.sh" >"$OUT/$mode-$round.log" 2>&1 ||
      { cat "$OUT/$mode-$round.log"; exit 1; }
  done
done

((ROUNDS == 0)) || python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
for mode in ("on", "off"):
    for r in range(1, rounds + 1):
        report = json.load(open(f"{out}/{mode}-{r}/compare-latest.json"))
        for m in report["medians"]:
            if m["op"] == "get" and m["pipeline"] == 16 and m["tool"] in ("redis-benchmark", "roost-bench"):
                rows.setdefault((m["tool"], mode), []).append((r, m["server"], m["ops_per_second"]))
        rows.setdefault(("load", mode), []).append(
            (r, report["load_average_at_start"][0], report["load_average_at_end"][0]))
print("| client | tracking | Roost GET P=16 ops/s per round | median | Roost/redis per round | median |")
print("|---|---|---|---:|---|---:|")
medians = {}
for tool in ("redis-benchmark", "roost-bench"):
    for mode in ("on", "off"):
        runs = rows[(tool, mode)]
        roost = [ops for _, s, ops in runs if s == "roost"]
        redis = [ops for _, s, ops in runs if s == "redis"]
        ratios = [a / b for a, b in zip(roost, redis)]
        medians[(tool, mode)] = (statistics.median(roost), statistics.median(ratios))
        print(f"| {tool} | {mode} | {', '.join(f'{x:,.0f}' for x in roost)} | {statistics.median(roost):,.0f} | "
              f"{', '.join(f'{x:.3f}' for x in ratios)} | {statistics.median(ratios):.3f} |")
print()
for tool in ("redis-benchmark", "roost-bench"):
    (on_ops, on_ratio), (off_ops, off_ratio) = medians[(tool, "on")], medians[(tool, "off")]
    print(f"{tool}: tracking costs {100 * (1 - on_ops / off_ops):+.1f} % of Roost's GET P=16 ops/s "
          f"({100 * (1 - on_ratio / off_ratio):+.1f} % normalised by redis-server in the same runs)")
print()
print("load average (1 min) at start/end of each run: " + "; ".join(
    f"{mode}{r} {a}/{b}" for mode in ("on", "off") for r, a, b in rows[("load", mode)]))
PY

# CPU per request: wall-clock throughput on a shared machine moves ±10 % between runs,
# the server's own CPU time per request much less. Both servers run at once; REPEATS
# alternating rounds of redis-benchmark GET P=16 against each, CPU ticks read from
# /proc/<pid>/stat around each round.
if [[ "${CPU:-1}" == 1 ]]; then
  ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
  ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
  KEYSPACE=${KEYSPACE:-100000}
  CPU_REQUESTS=${CPU_REQUESTS:-2000000}
  READY_DEADLINE_SECONDS=30
  WORK_DIR=$OUT PIDS=()
  # shellcheck source=bench/lib.sh
  source "$ROOT/bench/lib.sh"
  trap 'stop_started; rm -rf "$OUT"' EXIT
  declare -A PORT PID
  for mode in on off; do
    PORT[$mode]=$(free_port)
    mkdir -p "$OUT/cpu-$mode"
    (cd "$OUT/cpu-$mode" && exec env ROOST_HOT_KEYS=$mode ROOST_HTTP_ADDR="127.0.0.1:$(free_port)" \
      ROOST_RESP_ADDR="127.0.0.1:${PORT[$mode]}" ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" \
      ROOST_MAX_MEMORY=4GiB CACHE_TTL=0 ROOST_LOG=warn "$ROOST_BIN" serve) >"$OUT/cpu-$mode/log" 2>&1 &
    PID[$mode]=$!
    PIDS+=("$!")
    wait_until "roost ($mode)" "$!" "$OUT/cpu-$mode/log" redis_ping "${PORT[$mode]}"
    "$ROOST_BENCH_BIN" fill --target "resp://127.0.0.1:${PORT[$mode]}" --keys "$KEYSPACE" \
      --value-size 3 --key-digits 12 --no-progress >/dev/null
  done
  ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  : >"$OUT/cpu.tsv"
  for round in $(seq 1 "${CPU_ROUNDS:-5}"); do
    order="on off"
    ((round % 2)) || order="off on"
    for mode in $order; do
      before=$(ticks "${PID[$mode]}")
      rps=$(redis-benchmark -p "${PORT[$mode]}" -t get -P 16 -n "$CPU_REQUESTS" -r "$KEYSPACE" \
        -c 50 -q --csv 2>/dev/null | awk -F'"' '/^"GET"/ {print $4}')
      after=$(ticks "${PID[$mode]}")
      printf '%s\t%s\t%s\t%s\n' "$mode" "$round" "$((after - before))" "$rps" >>"$OUT/cpu.tsv"
    done
  done
  python3 - "$OUT/cpu.tsv" "$CPU_REQUESTS" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
path, n, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
by = {}
for line in open(path):
    mode, rnd, ticks, rps = line.split()
    by.setdefault(mode, []).append((int(ticks) / hz / n * 1e9, float(rps)))
print("\n| tracking | server CPU ns per GET (P=16), per round | median | ops/s median |")
print("|---|---|---:|---:|")
med = {}
for mode in ("on", "off"):
    ns = [x for x, _ in by[mode]]
    med[mode] = statistics.median(ns)
    print(f"| {mode} | {', '.join(f'{x:.0f}' for x in ns)} | {med[mode]:.0f} | "
          f"{statistics.median(r for _, r in by[mode]):,.0f} |")
print(f"\ntracking costs {100 * (med['on'] / med['off'] - 1):+.1f} % server CPU per GET at P=16")
PY
fi

if [[ "${PRECISION:-1}" == 1 ]]; then
  (cd "$ROOT" && cargo run --release -q -p roost --example hot_keys_precision)
fi
