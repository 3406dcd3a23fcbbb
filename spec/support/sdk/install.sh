#!/bin/sh
# Installs the official Xano JavaScript SDK, pinned to exactly 3.0.1, into
# the project's npm cache folder (.cache/npm, git-ignored), only when it is
# missing.  Idempotent; returns at once when the right version is there.
#
#   sh spec/support/sdk/install.sh          # exit 0 = ready
#
# XRT_NPM_PREFIX overrides the folder, XRT_NODE and XRT_NPM the programs.
# Diagnostics go to stderr; stdout prints the folder that holds node_modules.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
prefix=${XRT_NPM_PREFIX:-$root/.cache/npm}
node=${XRT_NODE:-node}
npm=${XRT_NPM:-npm}
want=3.0.1
manifest=$prefix/node_modules/@xano/js-sdk/package.json

installed() {
  [ -f "$manifest" ] &&
    grep -q "\"version\": *\"$want\"" "$manifest" &&
    [ -f "$prefix/node_modules/@xano/js-sdk/lib/index.js" ] &&
    # ws comes with the SDK (a declared dependency); run.js falls back to
    # it when the Node in use has no global WebSocket
    [ -f "$prefix/node_modules/ws/package.json" ]
}

if installed; then
  echo "$prefix"
  exit 0
fi

if ! command -v "$node" >/dev/null 2>&1; then
  echo "install.sh: '$node' not found: install nodejs (Node 20 or later)" >&2
  exit 2
fi
if ! command -v "$npm" >/dev/null 2>&1; then
  echo "install.sh: '$npm' not found: install npm" >&2
  exit 2
fi

mkdir -p "$prefix"
# one install at a time (two spec runs on a fresh machine)
if command -v flock >/dev/null 2>&1; then
  exec 9>"$prefix/.install.lock"
  flock -w 300 9 || { echo "install.sh: $prefix/.install.lock is held" >&2; exit 3; }
  if installed; then
    echo "$prefix"
    exit 0
  fi
fi
echo "install.sh: installing @xano/js-sdk@$want into $prefix" >&2
if ! "$npm" install --prefix "$prefix" "@xano/js-sdk@$want" \
    --save-exact --no-audit --no-fund --loglevel=error >&2; then
  echo "install.sh: npm install @xano/js-sdk@$want failed" >&2
  exit 3
fi

if ! installed; then
  echo "install.sh: @xano/js-sdk@$want is still not in $prefix after npm install" >&2
  exit 3
fi
echo "$prefix"
