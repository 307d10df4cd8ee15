#!/usr/bin/env bash
# Memory per entry: Roost's embedded store against redis-server, measured in one run.
#
# For each of REPEATS rounds, starts a fresh redis-server and a fresh `roost serve`,
# reads their resident memory (VmRSS), loads ENTRIES entries of VALUE_SIZE-byte values
# (redis: DEBUG POPULATE; roost: roost-bench fill over the REST API, keys key:0..),
# reads VmRSS again, and reports (after - before) / ENTRIES. Also reports what each
# server itself accounts (redis INFO used_memory, Roost .memory.used_bytes). Prints the
# medians and the Roost/redis ratio and writes bench/results/memory.json.
#
# Environment: ENTRIES (1000000), VALUE_SIZE (100), REPEATS (3),
# MEMORY_TARGETS ("redis roost"; one of them alone for a partial run),
# ROOST_BIN, ROOST_BENCH_BIN (target/release/...), MEMORY_JSON (output path).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENTRIES=${ENTRIES:-1000000}
VALUE_SIZE=${VALUE_SIZE:-100}
REPEATS=${REPEATS:-3}
MEMORY_TARGETS=${MEMORY_TARGETS:-redis roost}
ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
MEMORY_JSON=${MEMORY_JSON:-$ROOT/bench/results/memory.json}
READY_DEADLINE_SECONDS=30

WORK_DIR=$(mktemp -d -t roost-memory.XXXXXX)
RESULTS="$WORK_DIR/results.tsv"
: >"$RESULTS"
SERVER_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  stop_server
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rss_bytes() {
  awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}

# Prints the value at a dotted path (e.g. memory.used_bytes) of the JSON at a URL.
json_field() {
  python3 - "$1" "$2" <<'PY'
import json, sys, urllib.request
value = json.load(urllib.request.urlopen(sys.argv[1], timeout=10))
for part in sys.argv[2].split("."):
    value = value[part]
print(value)
PY
}


measure_redis() {
  local round=$1 port dir
  port=$(free_port)
  dir="$WORK_DIR/redis-$round"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --enable-debug-command yes --dir "$dir" --logfile "$dir/redis.log" &
  SERVER_PID=$!
  wait_until redis-server "$SERVER_PID" "$dir/redis.log" redis_ping "$port"
  local before after used keys
  before=$(rss_bytes "$SERVER_PID")
  redis-cli -p "$port" DEBUG POPULATE "$ENTRIES" key "$VALUE_SIZE" >/dev/null
  keys=$(redis-cli -p "$port" DBSIZE)
  [[ "$keys" == "$ENTRIES" ]] || die "redis holds $keys keys, expected $ENTRIES"
  after=$(rss_bytes "$SERVER_PID")
  used=$(redis-cli -p "$port" INFO memory | awk -F: '/^used_memory:/ { print $2 + 0 }')
  stop_server
  printf 'redis\t%s\t%s\t%s\t%s\n' "$round" "$before" "$after" "$used" >>"$RESULTS"
  echo "round $round redis: rss $before -> $after bytes, used_memory $used"
}

measure_roost() {
  local round=$1 port dir
  port=$(free_port)
  dir="$WORK_DIR/roost-$round"
  mkdir -p "$dir"
  # Run from an empty directory so no roost.toml or .env of the caller applies;
  # CACHE_TTL=0 because redis's entries carry no TTL either.
  (cd "$dir" && exec env ROOST_HTTP_ADDR="127.0.0.1:$port" \
    ROOST_RESP_ADDR="127.0.0.1:$(free_port)" ROOST_DASHBOARD_ADDR="127.0.0.1:$(free_port)" \
    ROOST_MAX_MEMORY=4GiB CACHE_TTL=0 ROOST_LOG=warn "$ROOST_BIN" serve) >"$dir/roost.log" 2>&1 &
  SERVER_PID=$!
  local base="http://127.0.0.1:$port"
  wait_until roost "$SERVER_PID" "$dir/roost.log" http_ok "$base/readyz"
  local before after used
  before=$(rss_bytes "$SERVER_PID")
  "$ROOST_BENCH_BIN" fill --target "$base" --keys "$ENTRIES" --value-size "$VALUE_SIZE" \
    --prefix key: --no-progress
  after=$(rss_bytes "$SERVER_PID")
  used=$(json_field "$base/api/cache/stats/overview" memory.used_bytes)
  stop_server
  printf 'roost\t%s\t%s\t%s\t%s\n' "$round" "$before" "$after" "$used" >>"$RESULTS"
  echo "round $round roost: rss $before -> $after bytes, accounted $used"
}

summarise() {
  python3 - "$RESULTS" "$MEMORY_JSON" "$ENTRIES" "$VALUE_SIZE" <<'PY'
import json, platform, statistics, sys, time
results, out, entries, value_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
servers = {}
for line in open(results):
    server, round_, before, after, used = line.split("\t")
    rounds = servers.setdefault(server, [])
    rounds.append({
        "round": int(round_),
        "rss_before_bytes": int(before),
        "rss_after_bytes": int(after),
        "rss_bytes_per_entry": (int(after) - int(before)) / entries,
        "self_accounted_bytes_per_entry": float(used) / entries,
    })
report = {
    "entries": entries,
    "value_size": value_size,
    "machine": f"{platform.node()} {platform.machine()} {platform.release()}",
    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "self_accounted_means": {"redis": "INFO used_memory", "roost": ".memory.used_bytes"},
}
for server, rounds in servers.items():
    report[server] = {
        "rounds": rounds,
        "median_rss_bytes_per_entry": statistics.median(r["rss_bytes_per_entry"] for r in rounds),
        "median_self_accounted_bytes_per_entry":
            statistics.median(r["self_accounted_bytes_per_entry"] for r in rounds),
    }
    print(f"{server:<6} median RSS growth {report[server]['median_rss_bytes_per_entry']:8.1f} B/entry"
          f"   self-accounted {report[server]['median_self_accounted_bytes_per_entry']:8.1f} B/entry")
if "redis" in servers and "roost" in servers:
    ratio = report["roost"]["median_rss_bytes_per_entry"] / report["redis"]["median_rss_bytes_per_entry"]
    report["ratio_roost_over_redis_rss"] = ratio
    print(f"Roost / redis (RSS per entry): {ratio:.2f}")
with open(out, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
print(f"wrote {out}")
PY
}

main() {
  local target
  for target in $MEMORY_TARGETS; do
    case "$target" in
      redis) command -v redis-server >/dev/null || die "redis-server not installed (apt-get install redis-server)" ;;
      roost)
        [[ -x "$ROOST_BIN" && -x "$ROOST_BENCH_BIN" ]] ||
          (cd "$ROOT" && cargo build --release -p roost -p roost-bench) ||
          die "cannot build $ROOST_BIN and $ROOST_BENCH_BIN"
        ;;
      *) die "unknown target $target in MEMORY_TARGETS (expected redis and/or roost)" ;;
    esac
  done
  echo "memory per entry: $ENTRIES entries of $VALUE_SIZE-byte values, $REPEATS rounds"
  local round
  for round in $(seq 1 "$REPEATS"); do
    for target in $MEMORY_TARGETS; do
      "measure_$target" "$round"
    done
  done
  mkdir -p "$(dirname "$MEMORY_JSON")"
  summarise
}

main "$@"
