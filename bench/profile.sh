#!/bin/sh
# bench/profile.sh - where a client's time goes, per echoed message and per
# thread, in counts that do not depend on how busy the machine is:
# instructions (valgrind's callgrind), system calls (strace), allocations
# (bench/malloc_count.c, preloaded).  Each tool runs the client twice,
# with --n N1 and --n N2 (after the same warm-up), against
# build/bench/relay_server, and prints (count at N2 - count at N1) /
# (N2 - N1): what one more message costs, start-up and warm-up excluded.
# Context switches and CPU per thread come from the client's own result
# ("threads", over the measured phase; sh bench/compare.sh shows them).
#
#   sh bench/profile.sh TOOL "CLIENT ARGS" [N1 N2]
#   sh bench/profile.sh callgrind "lua5.4 bench/client.lua throughput"
#   sh bench/profile.sh strace "build/bench/raw_client throughput"
#   sh bench/profile.sh mallocs "luajit bench/client.lua throughput"
#
# TOOL: callgrind | strace | syscalls | mallocs.  syscalls: perf's
# syscall tracepoints, all threads together (strace's stops batch the
# threads' work differently, so use it only to see which thread calls what).  Needs valgrind and strace for theirs.
set -u
. "$(dirname "$0")/lib.sh"
tool=$1
cmd=$2
n1=${3:-10000}
n2=${4:-30000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ -f build/bench/malloc_count.so ] && [ build/bench/malloc_count.so -nt bench/malloc_count.c ] ||
  ${CC:-cc} -O2 -shared -fPIC bench/malloc_count.c -o build/bench/malloc_count.so

run_one() { # n -> per-thread counts on stdout: "thread count" lines
  n=$1
  log=$dir/srv.log
  build/bench/relay_server --port 0 >"$log" 2>&1 &
  srv=$!
  port=$(listen_port "$log")
  out=$dir/out.$n
  rm -rf "$out" && mkdir -p "$out"
  # shellcheck disable=SC2086
  case $tool in
  callgrind)
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.%p" \
      $cmd --n "$n" --warmup 2000 --port "$port" --limit 600 >"$out/result" 2>"$out/err"
    for f in "$out"/cg.*-*; do
      t=${f##*-}
      printf '%s %s\n' "$((t + 0))" "$(sed -n 's/^summary: \([0-9]*\).*/\1/p;s/^totals: \([0-9]*\).*/\1/p' "$f" | head -1)"
    done ;;
  strace)
    strace -f -qq -o "$out/trace" $cmd --n "$n" --warmup 2000 --port "$port" >"$out/result" 2>"$out/err"
    # thread 1: the first process id in the trace (the main thread)
    awk '{ if (!main) main = $1; name = $2; sub(/\(.*/, "", name)
           if (name ~ /^[a-z_0-9]+$/) c[($1 == main ? 1 : 2) " " name]++ }
         END { for (k in c) print k, c[k] }' "$out/trace" ;;
  syscalls)
    # every thread together, unslowed (strace's stops make batches bigger)
    perf stat -x, -o "$out/stat" -e 'syscalls:sys_enter_*' -e context-switches \
      $cmd --n "$n" --warmup 2000 --port "$port" >"$out/result" 2>"$out/err"
    awk -F, '$1 ~ /^[0-9]+$/ && $1 > 0 { e = $3; sub(/^syscalls:sys_enter_/, "", e); print "0 " e, $1 }' "$out/stat" ;;
  mallocs)
    LD_PRELOAD=$PWD/build/bench/malloc_count.so $cmd --n "$n" --warmup 2000 --port "$port" \
      >"$out/result" 2>"$out/err"
    sed -n 's/^mallocs \([0-9]*\) thread \([0-9]*\)$/\2 \1/p' "$out/err" ;;
  esac
  kill "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null
}

run_one "$n1" >"$dir/a"
run_one "$n2" >"$dir/b"
lua5.4 - "$dir/a" "$dir/b" "$n1" "$n2" "$tool" <<'LUA'
local function load(p)
  local t = {}
  for l in io.lines(p) do
    local k, v = l:match("^(.-)%s+(%d+)$")
    if k then t[k] = (t[k] or 0) + tonumber(v) end
  end
  return t
end
local a, b = load(arg[1]), load(arg[2])
local per = tonumber(arg[4]) - tonumber(arg[3])
local keys = {}
for k in pairs(b) do keys[#keys + 1] = k end
table.sort(keys)
local names = { ["0"] = "all threads", ["1"] = "thread 1 (main/Lua)", ["2"] = "thread 2 (service)" }
for _, k in ipairs(keys) do
  local d = (b[k] - (a[k] or 0)) / per
  if math.abs(d) >= 0.005 then
    local th, rest = k:match("^(%d+)%s*(.*)$")
    print(string.format("%-22s %-16s %12.3f per message", names[th] or ("thread " .. th), rest, d))
  end
end
LUA
