#!/bin/sh
# bench/rawmode.sh - the receive path without libwebsockets' client frame
# parser: builds bench/rawmode_client.c (lws in RAW client mode, the
# WebSocket protocol done with the project's codec) and compares it with
# build/bench/raw_client (lws's own WebSocket client) on the throughput
# workload against build/bench/relay_server.
#
#   sh bench/rawmode.sh build                 build/bench/rawmode_client
#   sh bench/rawmode.sh compare [RUNS] [N]    interleaved runs, both clients
#                                             (default 7 runs of 50,000)
#   sh bench/rawmode.sh callgrind [N1 N2]     instructions per message, both
#                                             (bench/profile.sh, 5000 15000)
#   sh bench/rawmode.sh probe                 TLS and CONNECT-proxy probes of
#                                             a RAW client (bench/rawmode_probe.py)
#
# compare pins the client to CPU 0 and the relay to CPU 1 as make bench
# does (XRT_BENCH_PIN=0: not pinned; XRT_BENCH_PIN=same: both on CPU 0, so
# that the rate says what client and relay cost together, with no idle
# waits) and prints each run's JSON line with the 1-minute load average
# before it, then the medians.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
CC=${CC:-cc}
out=build/bench/rawmode_client

build() {
  mkdir -p build/bench
  # shellcheck disable=SC2046
  $CC -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Isrc/transport \
    $(pkg-config --cflags libwebsockets 2>/dev/null) \
    bench/rawmode_client.c src/transport/wsframe.c src/transport/queue.c src/transport/http.c -o "$out" \
    $(pkg-config --libs libwebsockets 2>/dev/null || echo -lwebsockets) -lssl -lcrypto -lpthread
  [ -x build/bench/raw_client ] && [ -x build/bench/relay_server ] ||
    make --no-print-directory build/bench/raw_client build/bench/relay_server >/dev/null
}

pin() { # cpu -> taskset prefix (XRT_BENCH_PIN=same: relay on the client's CPU 0 too)
  if [ "${XRT_BENCH_PIN:-1}" = same ] && command -v taskset >/dev/null; then
    echo "taskset -c 0"
  elif [ "${XRT_BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null; then
    echo "taskset -c $1"
  fi
}

start_relay() {
  log=$(mktemp)
  # shellcheck disable=SC2046
  $(pin 1) build/bench/relay_server --port 0 >"$log" 2>&1 &
  relay=$!
  port=$(listen_port "$log")
  rm -f "$log"
  [ -n "$port" ] || { echo "relay_server did not start" >&2; kill "$relay"; exit 1; }
}

stop_relay() {
  kill "$relay" 2>/dev/null || true
  wait "$relay" 2>/dev/null || true
}

compare() {
  runs=${1:-7}
  n=${2:-50000}
  res=$(mktemp)
  trap 'stop_relay; rm -f "$res"' EXIT
  r=1
  while [ "$r" -le "$runs" ]; do
    for c in raw_client rawmode_client; do
      start_relay
      load=$(cut -d' ' -f1 /proc/loadavg)
      # shellcheck disable=SC2046
      line=$($(pin 0) build/bench/$c throughput --port "$port" --n "$n" --limit 120)
      stop_relay
      echo "load $load $c $line" | tee -a "$res"
    done
    r=$((r + 1))
  done
  lua5.4 - "$res" <<'LUA'
local by = {}
local keys = { "cpu_us_per_msg", "user_us_per_msg", "sys_us_per_msg", "rate" }
for l in io.lines(arg[1]) do
  local load, c = l:match("^load (%S+) (%S+)")
  local t = by[c] or { load = {}, reads = {} }
  by[c] = t
  for _, k in ipairs(keys) do
    t[k] = t[k] or {}
    t[k][#t[k] + 1] = tonumber(l:match('"' .. k .. '":([%d.]+)'))
  end
  local reads, n = l:match('"reads":(%d+)'), l:match('"n":(%d+)')
  if reads then t.reads[#t.reads + 1] = tonumber(reads) / tonumber(n) end
  t.load[#t.load + 1] = tonumber(load)
end
local function med(v) table.sort(v); local n = #v
  return n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2 end
for _, c in ipairs({ "raw_client", "rawmode_client" }) do
  local t = by[c]
  if t then
    local lo, hi = math.min(table.unpack(t.load)), math.max(table.unpack(t.load))
    print(string.format("%-15s medians of %d: CPU %.3f us/msg (user %.3f, sys %.3f; best CPU %.3f), %.0f msgs/s (best %.0f)%s; load %.2f-%.2f",
      c, #t.load, med(t.cpu_us_per_msg), med(t.user_us_per_msg), med(t.sys_us_per_msg),
      math.min(table.unpack(t.cpu_us_per_msg)), med(t.rate), math.max(table.unpack(t.rate)),
      #t.reads > 0 and string.format(", %.2f reads/msg", med(t.reads)) or "", lo, hi))
  end
end
LUA
}

case ${1:-} in
build) build ;;
compare) build; shift; compare "$@" ;;
callgrind)
  build
  for c in raw_client rawmode_client; do
    echo "== $c"
    sh bench/profile.sh callgrind "build/bench/$c throughput" "${2:-5000}" "${3:-15000}"
  done ;;
probe) build; python3 bench/rawmode_probe.py ;;
*) sed -n '2,20p' "$0"; exit 2 ;;
esac
