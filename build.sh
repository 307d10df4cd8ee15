#!/usr/bin/env bash
# Builds Roost (release): the live dashboard (when Node.js is installed), then
# the `roost` server, which embeds it, and the `roost-bench` load generator.
# Only builds; ./start.sh runs it.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null 2>&1; then
  echo "build.sh: cargo is not installed; install Rust from https://rustup.rs" >&2
  exit 1
fi
# jemalloc (the server's allocator) and ring (rustls) are built from C.
for tool in make cc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: '$tool' is not installed; Roost builds jemalloc and ring from C (Debian: apt-get install make gcc)" >&2
    exit 1
  fi
done
# The dashboard first: roost embeds dashboard/dist when it is compiled.
dashboard/build-if-stale.sh
cargo build --release -p roost -p roost-bench
echo "built: target/release/roost target/release/roost-bench"
