#!/usr/bin/env bash
# Runs Prometheus beside a Roost started by ./start.sh, with deploy/prometheus.yml
# and deploy/alerts.yml, scraping the address Roost actually bound.
#   deploy/prometheus.sh start ROOST_ADDR   (prints the URL; a no-op without the binary)
#   deploy/prometheus.sh stop
# PROMETHEUS_ADDR (default 127.0.0.1:9090) is where Prometheus listens. Its
# storage, config copy, pid and log live in $ROOST_RUN_DIR/prometheus (./run).
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir=${ROOST_RUN_DIR:-run}
dir="$run_dir/prometheus"
pid_file="$run_dir/prometheus.pid"
listen=${PROMETHEUS_ADDR:-127.0.0.1:9090}

start() {
  local roost_addr=$1
  if ! command -v prometheus >/dev/null 2>&1; then
    echo "  prometheus  not installed (apt-get install prometheus); skipped"
    return 0
  fi
  if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "  prometheus  already running (pid $(cat "$pid_file"))"
    return 0
  fi
  if curl -fsS "http://$listen/-/ready" >/dev/null 2>&1; then
    echo "  prometheus  $listen is taken by another Prometheus; not starting one (PROMETHEUS_ADDR moves it)"
    return 0
  fi
  mkdir -p "$dir/data"
  sed "s/127\.0\.0\.1:8000/$roost_addr/" deploy/prometheus.yml >"$dir/prometheus.yml"
  cp deploy/alerts.yml "$dir/alerts.yml"
  nohup prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="$listen" >"$run_dir/prometheus.log" 2>&1 &
  echo $! >"$pid_file"
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if curl -fsS "http://$listen/-/ready" >/dev/null 2>&1; then
      echo "  prometheus  http://$listen (scraping $roost_addr; alerts from deploy/alerts.yml)"
      return 0
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "  prometheus  did not start; see $run_dir/prometheus.log" >&2
  stop >/dev/null
}

stop() {
  [[ -f "$pid_file" ]] || return 0
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "prometheus stopped"
  fi
  rm -f "$pid_file"
}

case "${1:-}" in
  start) start "${2:?usage: deploy/prometheus.sh start ROOST_ADDR}" ;;
  stop) stop ;;
  *) echo "usage: deploy/prometheus.sh start ROOST_ADDR | stop" >&2; exit 2 ;;
esac
