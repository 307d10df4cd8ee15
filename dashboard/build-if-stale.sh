#!/usr/bin/env bash
# Builds the dashboard (npm ci && npm run build) when Node.js and npm are
# installed and dashboard/dist is missing or older than its sources, then marks
# the server's embedding module changed so the next cargo build embeds the new
# files. Without Node.js it says so and leaves roost to serve a page that tells
# how to build the dashboard. Called by ./build.sh (and so ./start.sh).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [[ ! -f dist/index.html ]]; then
    echo "dashboard: Node.js/npm not installed; roost will be built without the dashboard" >&2
  fi
  exit 0
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "dashboard: Node.js $(node --version) is older than 20.19 (Vite needs it); not rebuilding the dashboard" >&2
  exit 0
fi

sources=(src public index.html package.json package-lock.json vite.config.ts tsconfig.json)
if [[ -f dist/index.html ]] && [[ -z $(find "${sources[@]}" -newer dist/index.html -print -quit) ]]; then
  exit 0
fi
echo "== building the dashboard (dashboard/dist)"
if [[ ! -f node_modules/.package-lock.json ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build
# Cargo tracks only the embedded files that existed at the last build; a new
# or first build must recompile the module that embeds them.
touch ../crates/roost/src/api/dashboard.rs
