#!/usr/bin/env bash
# The dev command, for any machine with npm (a fresh Debian one included): r2-signer on embedded
# defaults (in-memory S3 store, reference permission service, example app; no account needed).
#  1. runs on Node .nvmrc's major, installing it from the npm registry when the machine's is older
#     (scripts/use-node.sh);
#  2. npm ci when node_modules is missing or older than package-lock.json;
#  3. npm run dev (its variables: docs/configuration.md, "Dev mode").
set -euo pipefail
cd "$(dirname "$0")/.."

node_bin="$(scripts/use-node.sh)"
export PATH="$node_bin:$PATH"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "scripts/dev.sh: installing dependencies (npm ci) on Node $(node --version)" >&2
  npm ci --no-audit --no-fund --no-update-notifier >&2
fi
exec npm run dev
