#!/bin/sh
# bench/compare.sh - before/after runs of one benchmark client on two (or
# more) checkouts, interleaved so that the load of the machine falls on all
# of them alike; prints the medians and the best runs.  Each checkout must
# be built (make, make LUA=luajit, and the benchmark programs:
# make build/bench/relay_server build/bench/raw_client
# build/bench/5.4/xrt_bench.so).
#
#   sh bench/compare.sh REPS "CLIENT ARGS" DIR...
#   sh bench/compare.sh 7 "lua5.4 bench/client.lua throughput --n 50000" /tmp/before .
#
# Each run starts DIR/build/bench/relay_server on a free port, runs the
# client in DIR with --port added, and stops the server.  As in make bench,
# the server runs on CPU 1 and the client on CPU 0 (XRT_BENCH_PIN=0: not).
set -u
. "$(dirname "$0")/lib.sh"
pin_srv=
pin_cli=
if [ "${XRT_BENCH_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && taskset -c 0 true 2>/dev/null; then
  pin_srv="taskset -c 1"
  pin_cli="taskset -c 0"
fi
reps=$1
cmd=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
i=0
while [ "$i" -lt "$reps" ]; do
  i=$((i + 1))
  for dir in "$@"; do
    log=$(mktemp)
    # shellcheck disable=SC2086
    (cd "$dir" && exec $pin_srv build/bench/relay_server --port 0) >"$log" 2>&1 &
    srv=$!
    port=$(listen_port "$log")
    if [ -n "$port" ]; then
      # shellcheck disable=SC2086
      line=$(cd "$dir" && timeout 120 $pin_cli $cmd --port "$port" 2>/dev/null | tail -1)
      echo "$dir $line" >>"$out"
    fi
    kill "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    rm -f "$log"
  done
done
lua5.4 - "$out" "$@" <<'EOF'
local rows = {}
for l in io.lines(arg[1]) do
  local d, js = l:match("^(%S+) (.*)$")
  local r = rows[d] or { cpu = {}, rate = {}, p50 = {}, p99 = {}, th = {} }
  rows[d] = r
  -- the threads' figures first, then taken out: their keys repeat the run's
  for t in js:gmatch('{[^{}]*"role"[^{}]*}') do
    local role = t:match('"role":"(%a+)"')
    for _, k in ipairs({ "cpu_us_per_msg", "vcsw_per_msg", "nvcsw_per_msg" }) do
      local key = role .. " " .. k:gsub("_per_msg", "")
      r.th[key] = r.th[key] or {}
      local v = tonumber(t:match('"' .. k .. '":([%d.e+-]+)'))
      if v then table.insert(r.th[key], v) end
    end
  end
  js = js:gsub('"threads":%[.-%]', "")
  for k, t in pairs({ cpu_us_per_msg = r.cpu, rate = r.rate, p50_us = r.p50, p99_us = r.p99 }) do
    local v = tonumber(js:match('"' .. k .. '":([%d.e+-]+)'))
    if v then t[#t + 1] = v end
  end
end
local function med(t)
  if #t == 0 then return 0 end
  table.sort(t)
  return t[math.ceil(#t / 2)]
end
-- best: the least CPU and the highest rate (others' work only slows a run)
local function best(t, highest)
  if #t == 0 then return 0 end
  table.sort(t)
  return highest and t[#t] or t[1]
end
for i = 2, #arg do
  local r = rows[arg[i]] or { cpu = {}, rate = {}, p50 = {}, p99 = {} }
  print(string.format("%-24s runs %d  CPU us/msg %6.2f  msgs/s %8.0f  p50 us %6.0f  p99 us %7.0f" ..
    "  (best: CPU us/msg %6.2f  msgs/s %8.0f)",
    arg[i], #r.rate, med(r.cpu), med(r.rate), med(r.p50), med(r.p99), best(r.cpu), best(r.rate, true)))
  -- per thread (throughput): CPU us, voluntary and involuntary switches per message, medians
  local keys = {}
  for k in pairs(r.th or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = string.format("%s %.4f", k, med(r.th[k])) end
  if #parts > 0 then print("    per message, medians: " .. table.concat(parts, ", ")) end
end
EOF
