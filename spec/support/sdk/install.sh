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

# ws comes with the SDK (a declared dependency); run.js falls back to it
# when the Node in use has no global WebSocket
exec sh "$here/../npm_install.sh" \
  --needs "$node" "install nodejs (Node 20 or later)" "$prefix" @xano/js-sdk 3.0.1 \
  @xano/js-sdk/lib/index.js ws/package.json
