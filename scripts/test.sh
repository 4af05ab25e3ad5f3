#!/usr/bin/env bash
# The test command, for a developer's machine as for a fresh Debian one (as root, or with sudo):
#  1. installs the Debian packages the suite needs and the machine lacks (apt-get): Ceph's S3 gateway
#     (unless TEST_S3_ENDPOINT names another S3 server), Chromium, redis-server, ffmpeg, and npm
#     when there is no npm to fetch Node with;
#  2. runs on Node .nvmrc's major, installing it from the npm registry when the machine's is older
#     (scripts/use-node.sh);
#  3. npm ci, then npm test; its arguments go to tap (e.g. scripts/test.sh test/auth.test.ts).
# It says what it installs as it does. Everything but `npm test` writes to stderr, so stdout is
# exactly `npm test`'s (.ci/run counts the TAP stream there).
#   scripts/test.sh --dry-run   prints what it would install, installs and runs nothing
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "scripts/test.sh: $*" >&2; }

# The Debian packages to install: those whose programs are missing.
missing_packages() {
  local ceph_missing=0 bin
  if [ -z "${TEST_S3_ENDPOINT:-}" ]; then
    # The programs test/storage/ceph.ts runs; ceph, radosgw-admin and monmaptool come with the three packages.
    for bin in radosgw ceph-mon ceph-osd ceph radosgw-admin monmaptool; do
      command -v "$bin" >/dev/null || ceph_missing=1
    done
  fi
  [ "$ceph_missing" = 0 ] || echo radosgw ceph-mon ceph-osd
  # Debian's Chromium, driven by playwright-core (which downloads no browser); CHROMIUM_PATH points elsewhere.
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || echo chromium
  command -v redis-server >/dev/null || echo redis-server
  command -v ffmpeg >/dev/null || echo ffmpeg
  # scripts/use-node.sh fetches Node with npm (Debian's npm brings a Node to run it).
  command -v npm >/dev/null || echo nodejs npm
}

# shellcheck disable=SC2207 # the names have no spaces
packages=($(missing_packages))
node_major="$(tr -d ' \nv' <.nvmrc)"
node_version="$(command -v node >/dev/null && node --version || echo none)"

if [ "${1:-}" = --dry-run ]; then
  echo "apt-get install: ${packages[*]:-(nothing, all present)}"
  if [ "$node_version" != none ] && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge "$node_major" ]; then
    echo "Node: the machine's $node_version"
  else
    echo "Node: $node_major from the npm registry (the machine has: $node_version)"
  fi
  exit 0
fi

if [ "${#packages[@]}" -gt 0 ]; then
  say "installing Debian packages the tests need: ${packages[*]} (apt-get)"
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >&2
fi

node_bin="$(scripts/use-node.sh)"
export PATH="$node_bin:$PATH"
say "running on Node $(node --version), npm $(npm --version)"

npm ci --no-audit --no-fund --no-update-notifier >&2
exec npm test ${1+-- "$@"}
