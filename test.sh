#!/usr/bin/env bash
# Runs every gate and every test. On a fresh Debian machine it first installs
# what the tests need. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n== %s\n' "$*"; }

# --- what the tests need ---------------------------------------------------
need_pkgs=()
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_pkgs+=(redis-tools)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
  step "installing ${need_pkgs[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "test.sh: need ${need_pkgs[*]} but am not root; install them and re-run" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# The packaged redis-server may start a system instance; tests start their own.
# redis-py for crates/roost/tests/resp_clients.rs (tests/python/redis_py_check.py).
if ! python3 -c 'import redis' >/dev/null 2>&1; then
  step "installing redis-py"
  python3 -m pip install --quiet redis
fi

# --- gates ---------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "shell scripts parse"
for f in build.sh start.sh stop.sh demo.sh test.sh bench/*.sh; do bash -n "$f"; done

# --- tests ---------------------------------------------------------------
step "cargo test"
cargo test --workspace

# --- the scripts, as a user runs them on a fresh checkout ---------------
step "start.sh / demo.sh / stop.sh smoke run"
smoke_dir=$(mktemp -d)
cleanup() { ROOST_RUN_DIR="$smoke_dir" ./stop.sh >/dev/null 2>&1 || true; rm -rf "$smoke_dir"; }
trap cleanup EXIT
export ROOST_RUN_DIR="$smoke_dir"
ROOST_HTTP_ADDR=127.0.0.1:0 ./start.sh
DEMO_DURATION=3s DEMO_CONNECTIONS=4 ./demo.sh | tee "$smoke_dir/demo.out"
grep -q "hit ratio" "$smoke_dir/demo.out"
./stop.sh
if [[ -f "$smoke_dir/roost.pid" ]]; then
  echo "stop.sh left a pid file behind" >&2
  exit 1
fi
echo
echo "test.sh: all gates and tests passed"
