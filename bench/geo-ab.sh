#!/usr/bin/env bash
# A/B of the change log's cost: bench/geo.sh's throughput part (off, a region alone,
# peered) for two builds, alternating A, B, A, B … so a drift in the shared machine's
# load does not favour one, with the per-process CPU sample on (CPU_SAMPLE=1). Prints
# the median of each figure per build and B/A, and keeps every run's JSON in
# RESULTS_DIR/geo-ab-<date>/.
#
# Environment (defaults): A_DIR (required: a directory holding the "before" build's
#   roost and roost-bench) B_DIR (target/release) ROUNDS (3) RESULTS_DIR (bench/results)
#   and anything bench/geo.sh reads (THROUGHPUT_DURATION, THROUGHPUT_CONNS …).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A_DIR=${A_DIR:?set A_DIR to a directory with the before build of roost and roost-bench}
B_DIR=${B_DIR:-$ROOT/target/release}
ROUNDS=${ROUNDS:-3}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
OUT="$RESULTS_DIR/geo-ab-$(date -u +%Y-%m-%d)"
mkdir -p "$OUT"

for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    dir=$A_DIR
    [[ "$side" == B ]] && dir=$B_DIR
    echo "== round $round/$ROUNDS, $side ($dir)" >&2
    tmp=$(mktemp -d -t roost-geo-ab.XXXXXX)
    ROOST_BIN="$dir/roost" ROOST_BENCH_BIN="$dir/roost-bench" RESULTS_DIR="$tmp" \
      PARTS=throughput RUNS=1 CPU_SAMPLE=1 "$ROOT/bench/geo.sh" >"$tmp/out.txt" 2>&1 ||
      { cat "$tmp/out.txt" >&2; exit 1; }
    cp "$tmp/geo-latest.json" "$OUT/$side-$round.json"
    rm -rf "$tmp"
  done
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json
import statistics
import sys

out, rounds = sys.argv[1], int(sys.argv[2])
runs = {side: [json.load(open(f"{out}/{side}-{r}.json")) for r in range(1, rounds + 1)]
        for side in "AB"}


def median(side, pick):
    values = [pick(run) for run in runs[side]]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fig(mode, *path):
    def pick(run):
        node = run["throughput"][mode]
        for step in path:
            node = node.get(step) if isinstance(node, dict) else None
            if node is None:
                return None
        return node
    return pick


rows = [("SETs/s, no region", fig("off", "sets_per_second")),
        ("SETs/s, a region alone", fig("alone", "sets_per_second")),
        ("SETs/s, a with b pulling", fig("peered", "sets_per_second")),
        ("cost of replication (1 - peered/off)", lambda r: r["throughput"]["cost_of_replication"]),
        ("alone: CPU µs per SET in a", fig("alone", "cpu", "us_per_set", "a")),
        ("alone: commits/s", fig("alone", "cpu", "commits_per_second")),
        ("alone: SETs per commit", fig("alone", "cpu", "appends_per_commit")),
        ("alone: mean wait for the log, ms", fig("alone", "cpu", "mean_commit_wait_ms")),
        ("peered: CPU µs per SET in a", fig("peered", "cpu", "us_per_set", "a")),
        ("peered: commits/s", fig("peered", "cpu", "commits_per_second"))]
print(f"\n{rounds} rounds, alternating; medians. A = {runs['A'][0]['roost_bin']}, "
      f"B = {runs['B'][0]['roost_bin']}\n")
print("| figure | A | B | B/A |")
print("|---|---:|---:|---:|")
for name, pick in rows:
    a, b = median("A", pick), median("B", pick)
    ratio = f"{b / a:.2f}" if a and b else ""
    size = a or 0
    fmt = ((lambda v: f"{v:,.0f}") if size > 100 else
           (lambda v: f"{v:.2f}") if size >= 1 else (lambda v: f"{v:.3f}"))
    print(f"| {name} | {fmt(a) if a is not None else ''} | {fmt(b) if b is not None else ''} | {ratio} |")
print(f"\nruns kept in {out}/")
PY
