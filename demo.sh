#!/usr/bin/env bash
# Drives ~30 s of realistic mixed traffic through the REST API (Zipf-distributed
# keys; gets, sets with TTLs, mgets and deletes) and prints what Roost's stats
# endpoint reports. Starts Roost with ./start.sh if it is not running, and stops
# it again afterwards in that case.
#   DEMO_DURATION (default 30s)  DEMO_CONNECTIONS (default 16)
#
# DEMO_REGIONS=3 (or 2) shows geographic coherence instead (issue 16; docs/regions.md):
# three local regions us, eu and ap, each its own Roost on the embedded store with
# a temp ROOST_DATA_DIR and a shared ROOST_REGION_SECRET, each pulling the others'
# change logs through a `roost-bench proxy` that adds a one-way delay (us-eu 40 ms,
# us-ap and eu-ap 80 ms: DEMO_NEAR_MS, DEMO_FAR_MS). It drives writes, deletes and
# reads on shared keys in all three at once (roost-bench load over RESP, DEMO_RATE
# requests/s each, default 300), then prints how long the regions took to agree,
# whether a sample of keys holds the same value everywhere, and the staleness each
# region saw (roost_geo_staleness_seconds). The dashboards' Regions pages show the
# links live; the URLs are printed first. DEMO_GEO_MODE (default replicate).
# Everything it starts is stopped on exit; in a terminal it waits for Enter first.
set -euo pipefail
cd "$(dirname "$0")"
run_dir=${ROOST_RUN_DIR:-run}
duration=${DEMO_DURATION:-30s}
connections=${DEMO_CONNECTIONS:-16}

# regions_demo COUNT: the DEMO_REGIONS mode described above.
regions_demo() {
  local count=$1 near=${DEMO_NEAR_MS:-40} far=${DEMO_FAR_MS:-80} rate=${DEMO_RATE:-300}
  local mode=${DEMO_GEO_MODE:-replicate} keyspace=2000 names=(us eu ap)
  ROOT=$PWD
  ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
  ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
  READY_DEADLINE_SECONDS=30
  WORK_DIR=$(mktemp -d -t roost-regions.XXXXXX)
  PIDS=()
  # shellcheck source=bench/lib.sh
  source bench/lib.sh
  ((count == 2 || count == 3)) || die "DEMO_REGIONS is 2 or 3, not $count"
  stop_started_on_exit
  [[ -x "$ROOST_BIN" && -x "$ROOST_BENCH_BIN" ]] || ./build.sh
  names=("${names[@]:0:count}")
  local secret r p
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  declare -A http resp dash peers
  for r in "${names[@]}"; do
    http[$r]=$(free_port)
    resp[$r]=$(free_port)
    dash[$r]=$(free_port)
  done

  echo "== $count regions on this machine, $mode mode; each pulls the others through a delay proxy"
  for r in "${names[@]}"; do
    local list=()
    for p in "${names[@]}"; do
      [[ $p == "$r" ]] && continue
      local delay=$far port
      [[ "$r$p" == useu || "$r$p" == euus ]] && delay=$near
      port=$(free_port)
      "$ROOST_BENCH_BIN" proxy --listen "127.0.0.1:$port" --target "127.0.0.1:${http[$p]}" \
        --delay-ms "$delay" --control "127.0.0.1:$(free_port)" >"$WORK_DIR/proxy-$r-$p.log" 2>&1 &
      PIDS+=("$!")
      list+=("$p=http://127.0.0.1:$port")
      printf '   %s <- %s  %3d ms one-way (proxy 127.0.0.1:%s)\n' "$r" "$p" "$delay" "$port"
    done
    peers[$r]=$(IFS=,; echo "${list[*]}")
  done
  for r in "${names[@]}"; do
    mkdir -p "$WORK_DIR/$r/data"
    (cd "$WORK_DIR/$r" && exec env ROOST_BACKEND=embedded ROOST_REGION="$r" \
      ROOST_REGION_PEERS="${peers[$r]}" ROOST_REGION_SECRET="$secret" ROOST_GEO_MODE="$mode" \
      ROOST_DATA_DIR="$WORK_DIR/$r/data" ROOST_HTTP_ADDR="127.0.0.1:${http[$r]}" \
      ROOST_RESP_ADDR="127.0.0.1:${resp[$r]}" ROOST_DASHBOARD_ADDR="127.0.0.1:${dash[$r]}" \
      ROOST_LOG=warn "$ROOST_BIN" serve) >"$WORK_DIR/$r/roost.log" 2>&1 &
    PIDS+=("$!")
    wait_until "roost ($r)" "$!" "$WORK_DIR/$r/roost.log" http_ok "http://127.0.0.1:${http[$r]}/readyz"
  done
  local urls=()
  for r in "${names[@]}"; do urls+=("http://127.0.0.1:${http[$r]}"); done
  echo
  echo "== dashboards (Regions page: links, lag and staleness, live)"
  for r in "${names[@]}"; do
    printf '   %-3s http://127.0.0.1:%s/#/regions   REST http://127.0.0.1:%s   RESP 127.0.0.1:%s\n' \
      "$r" "${dash[$r]}" "${http[$r]}" "${resp[$r]}"
  done
  python3 bench/geo_probe.py quiesce --timeout 30 "${urls[@]}" >/dev/null ||
    die "the links did not come up within 30 s: $(python3 bench/geo_probe.py quiesce --timeout 0 "${urls[@]}")"

  echo
  echo "== $duration of traffic in every region at once: $rate requests/s each on the same $keyspace keys"
  echo "   (Zipf, 60% get, 30% set, 10% delete; roost-bench load over RESP)"
  local loads=()
  for r in "${names[@]}"; do
    "$ROOST_BENCH_BIN" load --target "resp://127.0.0.1:${resp[$r]}" --duration "$duration" \
      --rate "$rate" --connections 4 --keyspace "$keyspace" --zipf 0.99 --value-size 64 \
      --mix get=60,set=30,delete=10 --ttl 0 --prefix demo: --no-progress \
      --json "$WORK_DIR/load-$r.json" >"$WORK_DIR/load-$r.log" 2>&1 &
    loads+=("$!")
    PIDS+=("$!")
  done
  for p in "${loads[@]}"; do wait "$p" || die "a load run failed: $(tail -n 3 "$WORK_DIR"/load-*.log)"; done
  for r in "${names[@]}"; do
    python3 - "$r" "$WORK_DIR/load-$r.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[2]))
by = {o["operation"]: o["count"] for o in report["operations"]}
print(f"   {sys.argv[1]:<3} {report['total_ops']:>7} requests ({report['total_ops_per_second']:.0f}/s), "
      f"{by.get('set', 0)} sets, {by.get('delete', 0)} deletes, {report['total_errors']} errors")
PY
  done

  echo
  echo "== convergence"
  local quiet
  quiet=$(python3 bench/geo_probe.py quiesce --timeout 60 "${urls[@]}") || true
  python3 - "$quiet" <<'PY'
import json, sys
q = json.loads(sys.argv[1])
if q["quiet"]:
    print(f"   every link caught up (lag 0 changes) {q['seconds']:.2f} s after the traffic stopped")
else:
    print(f"   still lagging after {q['seconds']:.0f} s: " + "; ".join(q["lagging"]))
PY
  local converged staleness
  converged=$(python3 bench/geo_probe.py converge --prefix demo: --keyspace "$keyspace" --sample 300 \
    --mode "$mode" "${urls[@]}")
  python3 - "$converged" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
print(f"   {c['sampled']} keys sampled: {c['equal']} the same in every region, "
      f"{c['divergent']} different" +
      (f", {c['absent']} held in some regions only (invalidated in the others)" if c["absent"] else ""))
for e in c["examples"]:
    print(f"   differs: {e['key']}: {e['values']}")
PY

  echo
  echo "== staleness: from a change's version to its apply in the region (roost_geo_staleness_seconds)"
  staleness=$(python3 bench/geo_probe.py staleness "${urls[@]}")
  python3 - "$staleness" "${names[@]}" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])["staleness"]
fmt = lambda v: "-" if v is None else f"{v:.1f} ms"
for name, s in zip(sys.argv[2:], rows.values()):
    if s.get("error"):
        print(f"   {name:<3} {s['error']}")
    else:
        print(f"   {name:<3} {s['count']:>7} changes applied from peers   p50 {fmt(s['p50_ms'])}   p99 {fmt(s['p99_ms'])}")
PY
  echo "   (one-way delays: us-eu $near ms, others $far ms; staleness includes the delay)"

  echo
  if [[ -t 0 ]]; then
    echo "The regions keep running: see their dashboards above. Press Enter to stop them."
    read -r _ || true
  fi
  echo "stopping the regions and proxies"
}

if [[ -n "${DEMO_REGIONS:-}" && "${DEMO_REGIONS}" != 1 ]]; then
  regions_demo "$DEMO_REGIONS"
  exit 0
fi

started_here=0
if ! { [[ -f "$run_dir/roost.pid" ]] && kill -0 "$(cat "$run_dir/roost.pid")" 2>/dev/null; }; then
  ./start.sh
  started_here=1
fi
stop_if_started() { if [[ $started_here == 1 ]]; then ./stop.sh; fi; }
trap stop_if_started EXIT
addr=$(cat "$run_dir/roost.addr")
[[ -x target/release/roost-bench ]] || ./build.sh

progress=()
[[ -t 2 ]] || progress=(--no-progress)
echo "== driving $duration of mixed traffic at http://$addr (Zipf keys, $connections connections)"
target/release/roost-bench load --target "http://$addr" --duration "$duration" \
  --connections "$connections" --keyspace 20000 --zipf 0.99 --value-size 200 \
  --mix get=70,set=20,mget=5,delete=5 --mget-keys 10 --ttl 120 --ttl-ratio 0.5 "${progress[@]}"

echo
echo "== what Roost reports (GET /api/cache/stats/overview)"
curl -fsS "http://$addr/api/cache/stats/overview" | python3 bench/stats_summary.py
