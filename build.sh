#!/usr/bin/env bash
# Builds Roost (release): the `roost` server and the `roost-bench` load generator.
# Only builds; ./start.sh runs it.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null 2>&1; then
  echo "build.sh: cargo is not installed; install Rust from https://rustup.rs" >&2
  exit 1
fi
cargo build --release -p roost -p roost-bench
echo "built: target/release/roost target/release/roost-bench"
