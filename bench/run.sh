#!/bin/sh
# bench/run.sh - what `make bench` runs: bench/run.lua in a process group of
# its own, so that every server and client it started is gone afterwards,
# also when it fails or is interrupted (the group is killed by its id).
cd "$(dirname "$0")/.." || exit 1
setsid lua5.4 bench/run.lua "$@" &
pid=$!
trap 'kill -TERM -- -"$pid" 2>/dev/null; sleep 1; kill -KILL -- -"$pid" 2>/dev/null; exit 130' INT TERM
wait "$pid"
rc=$?
kill -KILL -- -"$pid" 2>/dev/null
exit "$rc"
