#!/usr/bin/env bash
# Redis's collection commands on Roost's embedded store against a redis-server in
# the same run (issue 17, item 2): redis-benchmark -t
# hset,lpush,rpush,lpop,rpop,sadd,spop,zadd,lrange_100, plus HGET and ZRANGE by
# rank, one test per run, at each pipeline depth in PIPELINES, the two servers in
# alternating order, REPEATS times; prints the median requests/s of each and
# Roost/redis-server, and each server's CPU time per request (user + system, from
# /proc/<pid>/stat around each run). Both are single processes on this machine's
# cores with redis-benchmark: read ratios, not absolute numbers.
#
# Environment (defaults): REPEATS (3)  REQUESTS (100000)  CONNECTIONS (50)
#   PIPELINES ("1 16")  KEYSPACE (100000)  ROOST_BIN (target/release/roost)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOST_BIN=${ROOST_BIN:-$ROOT/target/release/roost}
ROOST_BENCH_BIN=${ROOST_BENCH_BIN:-$ROOT/target/release/roost-bench}
REPEATS=${REPEATS:-3}
REQUESTS=${REQUESTS:-100000}
CONNECTIONS=${CONNECTIONS:-50}
PIPELINES=${PIPELINES:-1 16}
KEYSPACE=${KEYSPACE:-100000}
READY_DEADLINE_SECONDS=${READY_DEADLINE_SECONDS:-60}
WORK_DIR=$(mktemp -d)
PIDS=()

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
stop_started_on_exit

require_tools "redis-server redis-tools" redis-server redis-cli redis-benchmark
ensure_release_binaries
start_redis
REDIS_PID=${PIDS[-1]}
start_roost_embedded
ROOST_PID=${PIDS[-1]}

TESTS=(lpush rpush lpop rpop sadd hset spop zadd lrange_100 "HGET" "ZRANGE")

# bench PORT TEST P: requests/s of one redis-benchmark run (its last row:
# -t lrange_100 first runs the LPUSH that fills the list, and reports it too).
bench() {
  local port=$1 test=$2 pipeline=$3
  local args=(-p "$port" -c "$CONNECTIONS" -P "$pipeline" -n "$REQUESTS" -r "$KEYSPACE" --csv)
  case $test in
    HGET) redis-benchmark "${args[@]}" HGET myhash "element:__rand_int__" ;;
    ZRANGE) redis-benchmark "${args[@]}" ZRANGE myzset 0 9 ;;
    *) redis-benchmark "${args[@]}" -t "$test" ;;
  esac | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); rps = $2 } END { print rps }'
}

declare -A RESULTS CPU
for p in $PIPELINES; do
  for ((run = 1; run <= REPEATS; run++)); do
    order=(redis roost)
    ((run % 2 == 0)) && order=(roost redis)
    for server in "${order[@]}"; do
      port=$REDIS_PORT pid=$REDIS_PID
      [[ $server == roost ]] && port=$ROOST_RESP_PORT pid=$ROOST_PID
      redis-cli -p "$port" FLUSHALL >/dev/null
      for test in "${TESTS[@]}"; do
        before=$(cpu_seconds "$pid")
        RESULTS["$server|$test|$p"]+="$(bench "$port" "$test" "$p") "
        after=$(cpu_seconds "$pid")
        # Server CPU per request, in µs (lrange_100's run sends 2N requests).
        requests=$REQUESTS
        [[ $test == lrange_100 ]] && requests=$((2 * REQUESTS))
        CPU["$server|$test|$p"]+="$(python3 -c "print(f'{($after - $before) * 1e6 / $requests:.2f}')") "
      done
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "| command | P | redis-server req/s | Roost embedded req/s | Roost / redis-server | CPU µs/req redis-server | CPU µs/req Roost |"
echo "|---|---|---|---|---|---|---|"
for p in $PIPELINES; do
  for test in "${TESTS[@]}"; do
    redis=$(median <<<"${RESULTS["redis|$test|$p"]}")
    roost=$(median <<<"${RESULTS["roost|$test|$p"]}")
    ratio=$(python3 -c "print(f'{$roost / $redis:.2f}')")
    redis_cpu=$(median <<<"${CPU["redis|$test|$p"]}")
    roost_cpu=$(median <<<"${CPU["roost|$test|$p"]}")
    echo "| ${test^^} | $p | ${redis%.*} | ${roost%.*} | $ratio | $redis_cpu | $roost_cpu |"
  done
done
