#!/usr/bin/env bash
# Prints a directory holding the Node.js this project runs on (the major in .nvmrc) and a matching npm,
# installing both from the npm registry into a per-user cache when the machine's node is older or missing:
#
#   export PATH="$(scripts/use-node.sh):$PATH"   # then npm ci, npm run dev, npm test … run on it
#
# The registry's node-<os>-<cpu> packages ship the official Node binary (the `node` package is a wrapper
# that installs one of them from an install script; installing it directly needs no install script).
# npm 11 comes along: the machine's npm (Debian's npm 9, say) may not run on the new Node.
# Messages go to stderr; stdout is only the directory. NODE_CACHE_DIR moves the cache.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
major="$(tr -d ' \nv' <"$root/.nvmrc")"
cache="${NODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/r2-signer/node-$major}"
say() { echo "use-node: $*" >&2; }

# The machine's node is new enough: use it (its directory, so prepending it to PATH changes nothing).
if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi
bin="$cache/node_modules/.bin"
if [ -x "$bin/node" ] && [ -x "$bin/npm" ] && [ "$("$bin/node" -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  echo "$bin"
  exit 0
fi

case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) say "no Node $major package for $(uname -s); install Node $major yourself"; exit 1 ;; esac
case "$(uname -m)" in x86_64 | amd64) cpu=x64 ;; aarch64 | arm64) cpu=arm64 ;; *) say "no Node $major package for $(uname -m); install Node $major yourself"; exit 1 ;; esac
if ! command -v npm >/dev/null; then
  say "npm is needed to fetch Node $major from the npm registry: install it first (Debian: apt-get install npm)"
  exit 1
fi
have="$(command -v node >/dev/null && node --version || echo 'no node')"
say "the machine has $have, this project needs Node $major: installing node-$os-$cpu@$major and npm@11 from the npm registry into $cache"
mkdir -p "$cache"
# The machine's npm does the install; --ignore-scripts: neither package needs one.
npm install --prefix "$cache" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error \
  "node-$os-$cpu@$major" npm@11 >&2
# node-<os>-<cpu> declares bin/node as its `node` bin, so npm links it into .bin.
say "installed Node $("$bin/node" --version) and npm $("$bin/node" "$bin/npm" --version) in $bin"
echo "$bin"
