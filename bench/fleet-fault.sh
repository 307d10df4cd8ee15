#!/usr/bin/env bash
# Fault run: Roost over three redis-server nodes with two replicas per key, one node
# killed (kill -9) under load and restarted with empty data.
#
# Starts three redis-server nodes and `roost serve` in front of them (REDIS_CLUSTER_NODES,
# ROOST_REPLICAS=REPLICAS) on free loopback ports in a temp dir, then runs
# `roost-bench durability` against Roost's RESP port for DURATION: writes of unique
# keys and reads of acknowledged ones at RATE requests/s. At KILL_AT it kills node 2
# with SIGKILL and polls GET /api/cluster/nodes every 100 ms until that node is
# "down"; at RESTART_AT it starts node 2 again on the same port (empty, as after a
# crash without persistence) and polls until it is "up". When the load ends, every
# write Roost acknowledged is read back through Roost.
# Reports the success ratio (target >= 99.99 %), acknowledged writes lost (target 0),
# reads that found an acknowledged key missing, the time from the kill to "down" and
# from the restarted node answering PING to "up" (both to the 100 ms poll), and writes
# bench/results/fleet-fault-<date>.json and fleet-fault-latest.json.
#
# Environment (defaults; QUICK=1: 12 s, kill at 4 s, restart at 8 s):
#   DURATION (60) KILL_AT (20) RESTART_AT (40) seconds  RATE (5000 requests/s)
#   CONNECTIONS (16)  READ_SHARE (0.5)  REPLICAS (2)  WRITE_QUORUM (Roost's default)
#   QUIET_LOAD (1.5) QUIET_WAIT (600 s)  ROOST_BIN, ROOST_BENCH_BIN, RESULTS_DIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  DURATION=${DURATION:-12}
  KILL_AT=${KILL_AT:-4}
  RESTART_AT=${RESTART_AT:-8}
  QUIET_WAIT=${QUIET_WAIT:-0}
fi
DURATION=${DURATION:-60}
KILL_AT=${KILL_AT:-20}
RESTART_AT=${RESTART_AT:-40}
RATE=${RATE:-5000}
CONNECTIONS=${CONNECTIONS:-16}
READ_SHARE=${READ_SHARE:-0.5}
REPLICAS=${REPLICAS:-2}
WRITE_QUORUM=${WRITE_QUORUM:-}
QUIET_LOAD=${QUIET_LOAD:-1.5}
QUIET_WAIT=${QUIET_WAIT:-600}
export ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
READY_DEADLINE_SECONDS=30
((KILL_AT < RESTART_AT && RESTART_AT < DURATION)) || {
  echo "$0: need KILL_AT < RESTART_AT < DURATION" >&2
  exit 1
}

WORK_DIR=$(mktemp -d -t roost-fleet-fault.XXXXXX)
PIDS=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_started_on_exit

check_peers() {
  require_tools "redis-server redis-tools python3" redis-server redis-cli python3
  ensure_release_binaries
}

start_fleet() {
  NODE_PORTS=() NODE_PIDS=()
  local i port nodes=""
  for i in 1 2 3; do
    port=$(free_port)
    start_redis_node "node$i" "$port"
    NODE_PORTS+=("$port")
    NODE_PIDS+=("$STARTED_PID")
    nodes+="${nodes:+,}redis://127.0.0.1:$port"
  done
  local quorum=()
  [[ -n "$WRITE_QUORUM" ]] && quorum=("ROOST_WRITE_QUORUM=$WRITE_QUORUM")
  start_roost_fleet roost "$nodes" "ROOST_REPLICAS=$REPLICAS" CACHE_TTL=0 "${quorum[@]}"
  NODES_URL="http://127.0.0.1:$ROOST_HTTP_PORT/api/cluster/nodes"
  for port in "${NODE_PORTS[@]}"; do
    node_state_is "$port" up || die "node 127.0.0.1:$port is not up in $NODES_URL at start"
  done
}

# node_state_is PORT STATE: whether /api/cluster/nodes shows the node on PORT in STATE.
node_state_is() {
  python3 - "$NODES_URL" "$1" "$2" <<'PY'
import json, sys, urllib.request
url, port, state = sys.argv[1:]
nodes = json.load(urllib.request.urlopen(url, timeout=2))["nodes"]
node = next(n for n in nodes if n["address"].endswith(f":{port}") or n["id"].endswith(f":{port}"))
sys.exit(node["state"] != state)
PY
}

# await_state PORT STATE SINCE_MS UNTIL_MS: polls /api/cluster/nodes every 100 ms until
# the node on PORT shows STATE; prints the milliseconds from SINCE_MS, or "null" if
# UNTIL_MS (epoch ms) passed first. One process, so the poll keeps its period.
await_state() {
  python3 - "$NODES_URL" "$@" <<'PY'
import json, sys, time, urllib.request
url, port, state, since, until = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
while time.time() * 1000 < until:
    tick = time.monotonic()
    try:
        nodes = json.load(urllib.request.urlopen(url, timeout=1))["nodes"]
        node = next(n for n in nodes if n["address"].endswith(f":{port}") or n["id"].endswith(f":{port}"))
        if node["state"] == state:
            print(int(time.time() * 1000) - since)
            sys.exit(0)
    except (OSError, ValueError, StopIteration):
        pass
    time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
print("null")
PY
}

sleep_until_ms() {
  local wait_ms=$(($1 - $(now_ms)))
  ((wait_ms <= 0)) || sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
}

main() {
  check_peers
  [[ "$QUICK" == 1 ]] || wait_for_quiet_machine "$QUIET_LOAD" "$QUIET_WAIT"
  local load_at_start commit
  load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
  commit=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
  start_fleet
  local victim=2 port=${NODE_PORTS[1]} report="$WORK_DIR/durability.json"
  echo "fault run: ${DURATION} s at $RATE requests/s (reads $READ_SHARE) through Roost," \
    "R=$REPLICAS; kill -9 node $victim (127.0.0.1:$port) at ${KILL_AT} s, restart at ${RESTART_AT} s"
  local t0
  t0=$(now_ms)
  "$ROOST_BENCH_BIN" durability --target "resp://127.0.0.1:$ROOST_RESP_PORT" \
    --duration "${DURATION}s" --rate "$RATE" --connections "$CONNECTIONS" \
    --read-share "$READ_SHARE" --json "$report" >"$WORK_DIR/durability.txt" 2>&1 &
  local load_pid=$!
  PIDS+=("$load_pid")

  sleep_until_ms $((t0 + KILL_AT * 1000))
  kill -9 "${NODE_PIDS[1]}"
  local killed_ms
  killed_ms=$(now_ms)
  wait "${NODE_PIDS[1]}" 2>/dev/null || true
  local detect_ms
  detect_ms=$(await_state "$port" down "$killed_ms" $((t0 + RESTART_AT * 1000)))
  echo "killed node $victim at $(((killed_ms - t0) / 1000)) s; down after ${detect_ms} ms"

  sleep_until_ms $((t0 + RESTART_AT * 1000))
  start_redis_node "node${victim}-restarted" "$port"
  local restarted_ms readmit_ms
  restarted_ms=$(now_ms)
  readmit_ms=$(await_state "$port" up "$restarted_ms" $((t0 + (DURATION + 30) * 1000)))
  echo "restarted node $victim at $(((restarted_ms - t0) / 1000)) s; up after ${readmit_ms} ms"

  wait "$load_pid" || die "roost-bench durability failed: $(tail -n 5 "$WORK_DIR/durability.txt")"
  cat "$WORK_DIR/durability.txt"
  local nodes_json="$WORK_DIR/nodes.json"
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' \
    "$NODES_URL" >"$nodes_json"
  mkdir -p "$RESULTS_DIR"
  local out
  out="$RESULTS_DIR/fleet-fault-$(date -u +%Y-%m-%d).json"
  python3 - "$report" "$nodes_json" "$out" "$detect_ms" "$readmit_ms" "$load_at_start" "$commit" \
    "$DURATION" "$KILL_AT" "$RESTART_AT" "$RATE" "$CONNECTIONS" "$READ_SHARE" "$REPLICAS" \
    "${WRITE_QUORUM:-default}" "$QUICK" <<'PY'
import json, os, platform, sys, time
(report_path, nodes_path, out, detect, readmit, load_at_start, commit, duration, kill_at,
 restart_at, rate, connections, read_share, replicas, quorum, quick) = sys.argv[1:]
run = json.load(open(report_path))
detect = None if detect == "null" else int(detect)
readmit = None if readmit == "null" else int(readmit)
targets = [
    dict(target="success ratio", measured=run["success_ratio"], goal=">= 0.9999",
         met=run["success_ratio"] >= 0.9999),
    dict(target="acknowledged writes lost", measured=run["lost_writes"], goal="0",
         met=run["lost_writes"] == 0 and run["verify"]["unverified"] == 0),
]
result = dict(
    measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    machine=f"{platform.node()} {platform.machine()} {platform.release()}",
    roost_commit=commit,
    roost_binary_built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(os.environ["ROOST_BIN"]))),
    load_average_at_start=load_at_start.split(),
    load_average_at_end=open("/proc/loadavg").read().split()[:3],
    parameters=dict(duration_s=int(duration), kill_at_s=int(kill_at), restart_at_s=int(restart_at),
                    rate=float(rate), connections=int(connections), read_share=float(read_share),
                    replicas=int(replicas), write_quorum=quorum, quick=quick == "1"),
    kill_to_down_ms=detect, restart_to_up_ms=readmit,
    targets=targets, durability=run, nodes_at_end=json.load(open(nodes_path)))
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
load = run["load"]
print()
print("| fault run | measured | issue target |")
print("|---|---:|---|")
print(f"| success ratio | {run['success_ratio'] * 100:.4f} % ({load['write_errors'] + load['read_errors']} "
      f"failed of {load['writes'] + load['reads']}) | {'met' if targets[0]['met'] else 'MISSED'} (>= 99.99 %) |")
print(f"| acknowledged writes lost | {run['lost_writes']} of {load['writes_acknowledged']} "
      f"(unverified {run['verify']['unverified']}) | {'met' if targets[1]['met'] else 'MISSED'} (0) |")
print(f"| reads of an acknowledged key that found it missing / wrong | {load['reads_missing']} / {load['reads_wrong']} | - |")
print(f"| kill -9 to state \"down\" | {detect if detect is not None else 'never'} ms | - |")
print(f"| restart to state \"up\" | {readmit if readmit is not None else 'never'} ms | - |")
failing = [i for i, second in enumerate(load["timeline"]) if second["failed"]]
if failing:
    print(f"\nfailed requests in seconds {failing[0]}..{failing[-1]} of the run")
PY
  cp "$out" "$RESULTS_DIR/fleet-fault-latest.json"
  echo "wrote $out and fleet-fault-latest.json"
}

main "$@"
