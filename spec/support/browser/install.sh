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

# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, and
# this says so to any install hook that might
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD
exec sh "$here/../npm_install.sh" "$prefix" playwright-core 1.65.1
