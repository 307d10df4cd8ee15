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
# jemalloc (the server's allocator) and ring (rustls) build C code.
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc)
# tests/geo.rs skews a region's clock with Debian's libfaketime.
command -v faketime >/dev/null 2>&1 || need_pkgs+=(faketime)
# roost-bench's HTTP client is tested against a real webdis.
command -v webdis >/dev/null 2>&1 || need_pkgs+=(webdis)
# The dashboard's end-to-end test drives Debian's Chromium (never a downloaded
# browser); the Prometheus test runs the Debian prometheus and promtool.
[[ -x /usr/bin/chromium ]] || need_pkgs+=(chromium)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need_pkgs+=(prometheus)
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

# --- the dashboard: first, because roost embeds dashboard/dist ------------
if ! command -v npm >/dev/null 2>&1 ||
  ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "test.sh: the dashboard needs Node.js >= 20.19 with npm" >&2
  exit 1
fi
step "dashboard: npm ci, typecheck, lint, build, unit tests"
(cd dashboard && npm ci --no-audit --no-fund && npm run typecheck && npm run lint && npm run build && npm test)
touch crates/roost/src/api/dashboard.rs # embed the fresh build

# --- gates ---------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
# Unused dependencies (cargo-machete reads the sources; no build) and what may enter
# the dependency tree (deny.toml): about a second each, so before clippy. Installed
# once when missing (~1 and ~3 minutes), at the versions deny.toml was written for.
# `advisories` is not checked: the RustSec database is cloned from github.com, which
# the build machines cannot reach; where it is, `cargo deny check advisories` works
# with deny.toml as it is.
for tool in cargo-machete@0.9.2 cargo-deny@0.20.2; do
  if ! command -v "${tool%@*}" >/dev/null 2>&1; then
    step "installing $tool"
    cargo install --locked --quiet "$tool"
  fi
done
step "cargo machete"
cargo machete
step "cargo deny check bans licenses sources"
cargo deny check --hide-inclusion-graph bans licenses sources
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "shell scripts parse"
for f in build.sh start.sh stop.sh demo.sh test.sh bench/*.sh deploy/*.sh dashboard/*.sh; do bash -n "$f"; done

# --- tests ---------------------------------------------------------------
step "cargo test"
cargo test --workspace --no-fail-fast

step "dashboard end-to-end in headless Chromium"
(cd dashboard && ROOST_BIN="$PWD/../target/debug/roost" npm run e2e)

# --- the scripts, as a user runs them on a fresh checkout ---------------
step "start.sh / demo.sh / stop.sh smoke run"
smoke_dir=$(mktemp -d)
cleanup() { ROOST_RUN_DIR="$smoke_dir" ./stop.sh >/dev/null 2>&1 || true; rm -rf "$smoke_dir"; }
trap cleanup EXIT
export ROOST_RUN_DIR="$smoke_dir"
prometheus_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ROOST_HTTP_ADDR=127.0.0.1:0 ROOST_RESP_ADDR=127.0.0.1:0 ROOST_DASHBOARD_ADDR=127.0.0.1:0 \
  PROMETHEUS_ADDR="127.0.0.1:$prometheus_port" ./start.sh | tee "$smoke_dir/start.out"
dashboard_url=$(sed -nE 's/^  dashboard +(http[^ ]+).*/\1/p' "$smoke_dir/start.out")
curl -fsS "$dashboard_url" | grep -q 'id="root"'
curl -fsS "http://127.0.0.1:$prometheus_port/-/ready" >/dev/null
DEMO_DURATION=3s DEMO_CONNECTIONS=4 ./demo.sh | tee "$smoke_dir/demo.out"
grep -q "hit ratio" "$smoke_dir/demo.out"
./stop.sh
if [[ -f "$smoke_dir/roost.pid" || -f "$smoke_dir/prometheus.pid" ]]; then
  echo "stop.sh left a pid file behind" >&2
  exit 1
fi
echo
echo "test.sh: all gates and tests passed"
