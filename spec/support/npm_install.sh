#!/bin/sh
# Installs one npm package, pinned to an exact version, into a cache folder,
# only when it is missing; the install scripts of spec/support/*/ call it.
# Two spec runs on a fresh machine install one at a time (flock).
#
#   sh spec/support/npm_install.sh [--needs PROGRAM HINT] FOLDER PACKAGE VERSION [FILE...]
#
# --needs: PROGRAM must be on PATH before anything is installed (HINT says
# how to get it); an install already in place is ready without it.
# FILEs (relative to FOLDER/node_modules) must also be there once installed.
# XRT_NPM overrides the npm program.  Diagnostics go to stderr; stdout
# prints FOLDER, the folder that holds node_modules.  Exit 0 = ready,
# 2 = npm missing, 3 = the install failed.
set -eu

needs= needs_hint=
if [ "${1:-}" = --needs ] && [ $# -ge 3 ]; then
  needs=$2 needs_hint=$3
  shift 3
fi
if [ $# -lt 3 ]; then
  echo "npm_install.sh: usage: npm_install.sh [--needs PROGRAM HINT] FOLDER PACKAGE VERSION [FILE...]" >&2
  exit 2
fi
prefix=$1
package=$2
want=$3
shift 3
npm=${XRT_NPM:-npm}
manifest=$prefix/node_modules/$package/package.json

installed() {
  [ -f "$manifest" ] && grep -q "\"version\": *\"$want\"" "$manifest" || return 1
  for f in "$@"; do
    [ -f "$prefix/node_modules/$f" ] || return 1
  done
}

if installed "$@"; then
  echo "$prefix"
  exit 0
fi
if [ -n "$needs" ] && ! command -v "$needs" >/dev/null 2>&1; then
  echo "install.sh: '$needs' not found: $needs_hint" >&2
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
  if installed "$@"; then
    echo "$prefix"
    exit 0
  fi
fi
echo "install.sh: installing $package@$want into $prefix" >&2
if ! "$npm" install --prefix "$prefix" "$package@$want" \
    --save-exact --no-audit --no-fund --loglevel=error >&2; then
  echo "install.sh: npm install $package@$want failed" >&2
  exit 3
fi
if ! installed "$@"; then
  echo "install.sh: $package@$want is still not in $prefix after npm install" >&2
  exit 3
fi
echo "$prefix"
