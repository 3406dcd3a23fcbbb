#!/bin/sh
# Installs playwright-core, pinned, into the project's cache folder
# (.cache/browser, git-ignored), only when it is missing.  playwright-core
# is the driver alone: it never downloads a browser; the console spec
# points it at Debian's /usr/bin/chromium (installed by .ci/deps).
#
#   sh spec/support/browser/install.sh     # exit 0 = ready
#
# XRT_BROWSER_PREFIX overrides the folder, XRT_NPM the program.
# Diagnostics go to stderr; stdout prints the folder that holds node_modules.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
prefix=${XRT_BROWSER_PREFIX:-$root/.cache/browser}
npm=${XRT_NPM:-npm}
want=1.65.1
manifest=$prefix/node_modules/playwright-core/package.json

installed() {
  [ -f "$manifest" ] && grep -q "\"version\": *\"$want\"" "$manifest"
}

if installed; then
  echo "$prefix"
  exit 0
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
echo "install.sh: installing playwright-core@$want into $prefix" >&2
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, and
# this says so to any install hook that might
if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$npm" install --prefix "$prefix" \
    "playwright-core@$want" --save-exact --no-audit --no-fund --loglevel=error >&2; then
  echo "install.sh: npm install playwright-core@$want failed" >&2
  exit 3
fi
if ! installed; then
  echo "install.sh: playwright-core@$want is still not in $prefix after npm install" >&2
  exit 3
fi
echo "$prefix"
