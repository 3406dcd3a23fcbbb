-- bench/run.lua - runs every benchmark side by side and writes the results:
-- bench/results/<timestamp>.json, bench/results/latest.json,
-- bench/results/latest.png and the figures section of bench/README.md.
--
--   lua5.4 bench/run.lua                  what `make bench` runs
--   XRT_BENCH_QUICK=1 lua5.4 bench/run.lua    small sizes, about a minute
--   XRT_BENCH_ONLY=throughput,latency ...     only those benchmarks
--   XRT_BENCH_CONTENDERS=lua5.4,raw ...        only those clients
--   lua5.4 bench/run.lua --report FILE.json   rewrite chart and README from a run
--
-- Contenders: this library on Lua 5.4 and on LuaJIT (when `make LUA=luajit`
-- built it), the official @xano/js-sdk 3.0.1 on Node, and a raw
-- libwebsockets C client (bench/raw_client.c).  Servers: bench/relay_server
-- (C) where the bundled Lua server would be the bottleneck, bench/server.lua
-- (the bundled server) everywhere else.  Every process runs on 127.0.0.1,
-- is bounded in time and is killed on the way out, error or not.

local function root_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then dir = (os.getenv("PWD") or ".") .. "/" .. dir end
  return (dir .. "/.."):gsub("/bench/%.%.$", "")
end

local ROOT = root_dir()
local RAW -- the raw client when it is not a contender (it still sends for fan-in)
package.cpath = ROOT .. "/build/bench/5.4/?.so;" .. package.cpath
package.path = ROOT .. "/bench/?.lua;" .. package.path
local B = require "xrt_bench"
local cjson = require "cjson"
local report = require "report"

local QUICK = os.getenv("XRT_BENCH_QUICK") == "1"
local ONLY = {}
for w in (os.getenv("XRT_BENCH_ONLY") or ""):gmatch("[%w%-]+") do ONLY[w] = true end
local function wanted(name) return next(ONLY) == nil or ONLY[name] end
local WHO = {}
for w in (os.getenv("XRT_BENCH_CONTENDERS") or ""):gmatch("[%w%.%-]+") do WHO[w] = true end

local TMP = ROOT .. "/bench/results/run.tmp" -- git-ignored; not in build/, which `make clean` empties
local RESULTS = ROOT .. "/bench/results"
local T0 = B.now()

local function log(fmt, ...)
  io.stderr:write(string.format("[%6.1fs] ", B.now() - T0), string.format(fmt, ...), "\n")
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local s = p and p:read("a") or ""
  if p then p:close() end
  return (s:gsub("%s+$", ""))
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- ------------------------------------------------------------ processes

local procs = {}
local nspawn = 0

-- Throughput and fan-in pin the client to CPU 0 and the relay
-- (and fan-in's senders) to CPU 1 when there are two CPUs or more: the
-- client gets one core of its own, the way a remote server leaves it, and
-- figures stop depending on where the scheduler happens to put threads
-- (in this VM a wake-up across cores costs far more than one on the same
-- core).  XRT_BENCH_PIN=0 turns it off.
local NPROC = tonumber((io.popen("nproc"):read("l"))) or 1
local PIN = NPROC >= 2 and os.getenv("XRT_BENCH_PIN") ~= "0" and
  os.execute("taskset -c 0 true >/dev/null 2>&1") and true or false
local function pinned(cpu, argv)
  if not PIN or not cpu then return argv end
  local a = { "taskset", "-c", tostring(cpu) }
  for i = 1, #argv do a[#a + 1] = argv[i] end
  return a
end

local function spawn(name, argv, env)
  nspawn = nspawn + 1
  local base = string.format("%s/%04d-%s", TMP, nspawn, name)
  local pid = B.spawn(argv, base .. ".out", base .. ".err", env)
  local p = { pid = pid, name = name, out = base .. ".out", err = base .. ".err",
    alive = true, started = B.now() }
  procs[pid] = p
  return p
end

local function reap(p, block)
  if not p.alive then return true end
  local st, ru = B.wait(p.pid, block)
  if st then
    p.alive, p.status, p.rusage = false, st, ru
    procs[p.pid] = nil
    return true
  end
  return false
end

local function lines(p)
  local s = read_file(p.out) or ""
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local function tail(p)
  local s = read_file(p.err) or ""
  return #s > 600 and s:sub(-600) or s
end

local function wait_line(p, pattern, timeout)
  local stop = B.now() + timeout
  while true do
    for _, l in ipairs(lines(p)) do
      local a, b = l:match(pattern)
      if a then return a, b end
    end
    if reap(p, false) then
      error(("%s exited (%s) before printing %q: %s"):format(p.name, tostring(p.status), pattern, tail(p)), 0)
    end
    if B.now() > stop then
      error(("%s: no %q within %ds: %s"):format(p.name, pattern, timeout, tail(p)), 0)
    end
    B.sleep(0.01)
  end
end

local function wait_exit(p, timeout)
  local stop = B.now() + timeout
  while not reap(p, false) do
    if B.now() > stop then
      B.kill(p.pid, 9)
      reap(p, true)
      p.timed_out = true
      return false
    end
    B.sleep(0.02)
  end
  return true
end

local function stop_proc(p, sig)
  if p.alive then
    B.kill(p.pid, sig or 15)
    wait_exit(p, 5)
  end
end

local function cleanup()
  for pid, p in pairs(procs) do
    if p.alive then B.kill(pid, 9) end
  end
  for _, p in pairs(procs) do reap(p, true) end
end

-- the last JSON line a program printed
local function result_of(p)
  local ls = lines(p)
  for i = #ls, 1, -1 do
    if ls[i]:sub(1, 1) == "{" then
      local ok, v = pcall(cjson.decode, ls[i])
      if ok then return v end
    end
  end
  return nil
end

-- CPU nanoseconds of every thread of a process (its schedstat)
local function proc_cpu_ns(pid)
  local total = 0
  for tid in sh("ls /proc/" .. pid .. "/task"):gmatch("%d+") do
    local s = read_file("/proc/" .. pid .. "/task/" .. tid .. "/schedstat")
    total = total + (tonumber(s and s:match("^(%d+)")) or 0)
  end
  return total
end

-- ------------------------------------------------------------ the machine

local function cpu_sample()
  local s = read_file("/proc/stat") or ""
  local nums = {}
  for n in s:match("^cpu%s+([^\n]+)"):gmatch("%d+") do nums[#nums + 1] = tonumber(n) end
  local total = 0
  for i = 1, #nums do total = total + nums[i] end
  return total, (nums[4] or 0) + (nums[5] or 0)
end

-- fraction of the machine busy over interval seconds (others' work: ours is
-- stopped whenever this is called)
local function busy(interval)
  local t1, i1 = cpu_sample()
  B.sleep(interval)
  local t2, i2 = cpu_sample()
  if t2 == t1 then return 0 end
  return 1 - (i2 - i1) / (t2 - t1)
end

local GATE_BUDGET = QUICK and 10 or 90 -- seconds spent waiting for quiet, in all
local gate_spent = 0

-- Before each measurement: wait (a little) for the machine to be quiet and
-- say how busy it was.  Other people's test suites share this machine.
local function gate()
  local b = busy(0.3)
  local t = B.now()
  while b > 0.25 and gate_spent < GATE_BUDGET do
    B.sleep(1)
    b = busy(0.3)
    gate_spent = gate_spent + (B.now() - t)
    t = B.now()
  end
  local l1, l5, l15 = B.loadavg()
  return { busy = math.floor(b * 1000 + 0.5) / 1000, load = { l1, l5, l15 } }
end

local function machine()
  local cpu = sh("grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[^:]*: *//'")
  local mem = tonumber(sh("awk '/MemTotal/ {print $2}' /proc/meminfo")) or 0
  local l1, l5, l15 = B.loadavg()
  return {
    nproc = tonumber(sh("nproc")),
    cpu = cpu,
    kernel = sh("uname -r"),
    os = sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
    mem_mb = math.floor(mem / 1024),
    load_at_start = { l1, l5, l15 },
  }
end

-- ------------------------------------------------------------ contenders

local function node_flags()
  local v = sh("node --version")
  local major, minor = v:match("^v(%d+)%.(%d+)")
  major, minor = tonumber(major), tonumber(minor)
  if not major or major < 20 or (major == 20 and minor < 10) then return nil, v end
  if major < 22 then return "--experimental-websocket", v end
  return nil, v, true
end

local function contenders()
  local list = {}
  local function add(c)
    -- raw_client also sends for fan-in: it is always built, listed only when asked
    if next(WHO) == nil or WHO[c.id] then list[#list + 1] = c else RAW = RAW or (c.id == "raw" and c) end
  end
  add{ id = "lua5.4", label = "xano.realtime, Lua 5.4", argv = { "lua5.4", ROOT .. "/bench/client.lua" },
    version = sh("lua5.4 -v") }
  local jit_ok = os.execute("luajit -e \"package.cpath='" .. ROOT .. "/build/luajit/?.so;" .. ROOT ..
    "/build/5.1/?.so;" .. ROOT .. "/build/bench/luajit/?.so;'..package.cpath; " ..
    "require'xano.realtime.core'; require'xrt_bench'; require'cjson'\" >/dev/null 2>&1")
  if jit_ok then
    add{ id = "luajit", label = "xano.realtime, LuaJIT", argv = { "luajit", ROOT .. "/bench/client.lua" },
      version = sh("luajit -v") }
  else
    log("LuaJIT: not benchmarked (no luajit, or `make LUA=luajit` did not build)")
  end
  local flag, nv, native = node_flags()
  local sdk_ok = (flag or native) and os.execute("sh " .. ROOT .. "/spec/support/sdk/install.sh >/dev/null 2>&1")
  if sdk_ok then
    local argv = { "node" }
    if flag then argv[#argv + 1] = flag end
    argv[#argv + 1] = "--expose-gc"
    argv[#argv + 1] = "--no-warnings"
    argv[#argv + 1] = ROOT .. "/bench/sdk_client.js"
    add{ id = "sdk", label = "@xano/js-sdk 3.0.1, Node", argv = argv, version = nv, per_process = true }
  else
    log("the JS SDK: not benchmarked (Node %s; needs Node >= 20.10 and npm)", nv)
  end
  add{ id = "raw", label = "raw libwebsockets, C", argv = { ROOT .. "/build/bench/raw_client" },
    version = "libwebsockets " .. sh("pkg-config --modversion libwebsockets") }
  return list
end

local function argv_of(c, mode, port, args)
  local a = {}
  for i = 1, #c.argv do a[i] = c.argv[i] end
  a[#a + 1] = mode
  a[#a + 1] = "--port"
  a[#a + 1] = tostring(port)
  for i = 1, #args do a[#a + 1] = tostring(args[i]) end
  return a
end

-- runs one client program to its end; returns its result
local function run_client(c, mode, port, args, timeout, cpu)
  local a = argv_of(c, mode, port, args)
  a[#a + 1] = "--limit"
  a[#a + 1] = tostring(timeout)
  local p = spawn(c.id .. "-" .. mode, pinned(cpu, a))
  wait_exit(p, timeout + 10)
  local r = result_of(p)
  if not r then
    log("%s %s: no result (%s): %s", c.id, mode, tostring(p.status), tail(p))
    return nil, p
  end
  return r, p
end

-- ------------------------------------------------------------ servers

local function start_relay(unpinned)
  local argv = { ROOT .. "/build/bench/relay_server", "--port", "0" }
  local p = spawn("relay", unpinned and argv or pinned(1, argv))
  p.port = tonumber(wait_line(p, "^listening ws://127%.0%.0%.1:(%d+)/", 10))
  return p
end

local function start_bundled(port, accepts, wait_file, cpu)
  local a = { "lua5.4", ROOT .. "/bench/server.lua", "--port", tostring(port or 0) }
  if accepts then
    a[#a + 1] = "--accepts"
    a[#a + 1] = accepts
  end
  if wait_file then
    a[#a + 1] = "--wait-file"
    a[#a + 1] = wait_file
  end
  local p = spawn("server", pinned(cpu, a))
  if wait_file then
    wait_line(p, "^(waiting)$", 30)
    return p
  end
  p.port = tonumber(wait_line(p, "^listening ws://127%.0%.0%.1:(%d+)/", 10))
  return p
end

-- ------------------------------------------------------------ statistics

local function sorted(t)
  local c = {}
  for i = 1, #t do c[i] = t[i] end
  table.sort(c)
  return c
end

local function pct(t, p)
  local s = sorted(t)
  if #s == 0 then return nil end
  local i = math.max(1, math.min(#s, math.ceil(p * #s)))
  return s[i]
end

local function mean(t)
  if #t == 0 then return nil end
  local s = 0
  for i = 1, #t do s = s + t[i] end
  return s / #t
end

local function stddev(t)
  local m = mean(t)
  if not m or #t < 2 then return nil end
  local s = 0
  for i = 1, #t do s = s + (t[i] - m) ^ 2 end
  return math.sqrt(s / (#t - 1))
end

local function round(x, d)
  if type(x) ~= "number" then return x end
  local m = 10 ^ (d or 0)
  return math.floor(x * m + 0.5) / m
end

-- ------------------------------------------------------------ sizes

local S = QUICK and {
  tp_n = 5000, tp_reps = 1, window = 256, warmup = 1000,
  lat_seconds = 1, lat_reps = 1, latmax_seconds = 1,
  fanin_senders = 10, fanin_per = 500, fanin_window = 64,
  scale_clients = 100, sdk_clients = 10, scale_channels = 1000,
  idle_clients = 20, idle_seconds = 3, idle_settle = 10, sdk_idle = 10,
  storm_clients = 100, sdk_storm = 10,
  fanout_members = 100, fanout_messages = 200, fanout_window = 64,
} or {
  tp_n = 50000, tp_reps = 5, window = 256, warmup = 5000,
  lat_seconds = 5, lat_reps = 3, latmax_seconds = 3,
  fanin_senders = 10, fanin_per = 5000, fanin_window = 64,
  scale_clients = 1000, sdk_clients = 50, scale_channels = 10000,
  idle_clients = 100, idle_seconds = 30, idle_settle = 10, sdk_idle = 100,
  storm_clients = 1000, sdk_storm = 50,
  fanout_members = 1000, fanout_messages = 500, fanout_window = 64,
}

-- XRT_BENCH_SIZES="tp_n=20000,sdk_storm=20" overrides sizes (development)
for k, v in (os.getenv("XRT_BENCH_SIZES") or ""):gmatch("([%w_]+)=([%d.]+)") do
  if S[k] == nil then error("XRT_BENCH_SIZES: unknown size " .. k) end
  S[k] = tonumber(v)
end

-- ------------------------------------------------------------ benchmarks

local bench = {}

-- S.tp_reps throughput runs of client c against server srv (CPU 0 for the
-- client): the best run (others' work on this shared machine only ever
-- slows a run down) and the median beside it, with the server's CPU per
-- message; nil when no run completed.
local function throughput_of(c, srv, where)
  local runs = {}
  for rep = 1, S.tp_reps do
    local g = gate()
    local cpu0 = proc_cpu_ns(srv.pid)
    local r = run_client(c, "throughput", srv.port, { "--n", S.tp_n, "--window", S.window, "--warmup", S.warmup }, 120, 0)
    if r and r.n == S.tp_n then
      r.server_cpu_us_per_msg = round((proc_cpu_ns(srv.pid) - cpu0) / 1e3 / r.n, 3)
      r.gate = g
      runs[#runs + 1] = r
      log("throughput %-7s%s rep %d: %8.0f msgs/s, %6.2f us CPU/msg (server %.2f), busy %.0f%%",
        c.id, where, rep, r.rate, r.cpu_us_per_msg, r.server_cpu_us_per_msg, g.busy * 100)
    end
  end
  if #runs == 0 then return nil end
  table.sort(runs, function(x, y) return x.rate < y.rate end)
  local best, med = runs[#runs], runs[math.ceil(#runs / 2)]
  return { id = c.id, rate = round(best.rate, 0), cpu_us_per_msg = round(best.cpu_us_per_msg, 2),
    server_cpu_us_per_msg = best.server_cpu_us_per_msg, median_rate = round(med.rate, 0),
    median_cpu_us_per_msg = round(med.cpu_us_per_msg, 2), runs = runs }
end

function bench.throughput(C, out)
  local relay = start_relay()
  local res = { server = "relay", n = S.tp_n, warmup = S.warmup, window = S.window, reps = S.tp_reps, results = {} }
  for _, c in ipairs(C) do
    res.results[c.id] = throughput_of(c, relay, "")
  end
  stop_proc(relay)
  -- the same against the bundled server: this library (what a user runs)
  -- and the raw client (what limits the server itself)
  local srv = start_bundled(nil, nil, nil, 1)
  local raw = RAW
  for _, c in ipairs(C) do if c.id == "raw" then raw = c end end
  res.bundled = throughput_of(C[1], srv, " via the bundled server,")
  if raw and raw ~= C[1] then res.bundled_raw = throughput_of(raw, srv, " via the bundled server,") end
  stop_proc(srv)
  out.throughput = res
end

local function sustainable(r)
  return r and r.received >= r.sent and r.sent > 0 and r.p50_us < 5000
end

-- Latency runs unpinned: at 1,000 msgs/s nothing is short of CPU, and a
-- client and a server kept on different vCPUs pay a cross-vCPU wake-up
-- (about 100 us here) on every hop, for every client alike.
function bench.latency(C, out)
  local relay = start_relay(true)
  local res = { server = "relay", fixed_rate = 1000, seconds = S.lat_seconds, reps = S.lat_reps, results = {} }
  for _, c in ipairs(C) do
    -- a tail latency is what others' work spoils first, in bursts a gate
    -- before the run cannot see: three runs, the median p99 kept, and how
    -- busy others kept the machine during each (less our client and relay)
    local runs = {}
    for _ = 1, S.lat_reps do
      local gg = gate()
      local t1, i1 = cpu_sample()
      local relay0 = proc_cpu_ns(relay.pid)
      local rr = run_client(c, "latency", relay.port, { "--rate", 1000, "--seconds", S.lat_seconds }, 60)
      local t2, i2 = cpu_sample()
      if rr then
        local secs = (t2 - t1) / NPROC / 100 -- USER_HZ ticks per CPU
        local ours = (proc_cpu_ns(relay.pid) - relay0) / 1e9 + (rr.cpu_us or 0) / 1e6
        local all = 1 - (i2 - i1) / math.max(1, t2 - t1)
        rr.others_busy = math.max(0, round(all - (secs > 0 and ours / (secs * NPROC) or 0), 3))
        rr.gate = gg
        runs[#runs + 1] = rr
      end
    end
    table.sort(runs, function(x, y) return x.p99_us < y.p99_us end)
    local r = runs[math.ceil(#runs / 2)]
    local g = r and r.gate
    if r then
      r.p99_runs = {}
      for i = 1, #runs do r.p99_runs[i] = round(runs[i].p99_us, 0) end
    end
    local entry = {}
    if r then
      r.gate = g
      entry.fixed = r
      log("latency %-7s @1000/s: p50 %.0f us, p99 %.0f us (runs: %s), p99.9 %.0f us, others %.0f%% busy during it",
        c.id, r.p50_us, r.p99_us, table.concat(r.p99_runs, " "), r.p999_us, r.others_busy * 100)
    end
    -- the highest sustainable rate: from 80 % of the measured throughput down
    local tp = out.throughput and out.throughput.results[c.id]
    local base = tp and tp.rate or 20000
    for _, f in ipairs({ 0.8, 0.6, 0.4, 0.2 }) do
      local rate = math.max(1000, math.floor(base * f / 500) * 500)
      g = gate()
      local m = run_client(c, "latency", relay.port, { "--rate", rate, "--seconds", S.latmax_seconds }, 60)
      if m then
        m.gate = g
        m.fraction_of_throughput = f
        log("latency %-7s @%d/s: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, %s", c.id, rate,
          m.p50_us, m.p99_us, m.p999_us, sustainable(m) and "sustained" or "NOT sustained")
        if sustainable(m) then
          entry.max = m
          break
        end
        entry.unsustained = entry.unsustained or {}
        entry.unsustained[#entry.unsustained + 1] = { rate = rate, p50_us = m.p50_us, received = m.received, sent = m.sent }
      end
      if rate == 1000 then break end
    end
    res.results[c.id] = entry
  end
  stop_proc(relay)
  out.latency = res
end

function bench.fanin(C, out)
  local relay = start_relay()
  local total = S.fanin_senders * S.fanin_per
  local res = { server = "relay", senders = S.fanin_senders, per_sender = S.fanin_per,
    sender = "raw_client (one process, one connection per sender)", results = {} }
  local raw = RAW
  for _, c in ipairs(C) do if c.id == "raw" then raw = c end end
  for _, c in ipairs(C) do
    local g = gate()
    local a = argv_of(c, "fanin-recv", relay.port, { "--channels", S.fanin_senders, "--n", total, "--limit", 60 })
    local rp = spawn(c.id .. "-fanin-recv", pinned(0, a))
    local ok, err = pcall(wait_line, rp, "^(ready)$", 30)
    if ok then
      local sp = spawn("raw-fanin-send", pinned(1, argv_of(raw, "fanin-send", relay.port,
        { "--senders", S.fanin_senders, "--n", S.fanin_per, "--window", S.fanin_window, "--limit", 60 })))
      wait_exit(rp, 70)
      wait_exit(sp, 10)
      local r = result_of(rp)
      if r then
        r.gate = g
        res.results[c.id] = r
        log("fan-in %-7s: %8.0f msgs/s received, %6.2f us CPU/msg", c.id, r.rate, r.cpu_us_per_msg or 0)
      end
    else
      log("fan-in %s: %s", c.id, err)
      stop_proc(rp, 9)
    end
  end
  stop_proc(relay)
  out.fanin = res
end

-- One sender, a channel of S.fanout_members members: what the server does
-- per delivery, the bundled one and the C relay.  Raw C receivers and
-- sender (the clients are not what is measured), on CPU 0; the server on 1.
function bench.fanout(C, out)
  local raw = RAW
  for _, c in ipairs(C) do if c.id == "raw" then raw = c end end
  local total = S.fanout_members * S.fanout_messages
  local res = { members = S.fanout_members, messages = S.fanout_messages, window = S.fanout_window,
    results = {} }
  for _, kind in ipairs({ "bundled", "relay" }) do
    local srv = kind == "bundled" and start_bundled(nil, nil, nil, 1) or start_relay()
    local g = gate()
    local rp = spawn("raw-fanout-recv", pinned(0, argv_of(raw, "fanout-recv", srv.port,
      { "--clients", S.fanout_members, "--n", total, "--limit", 90 })))
    local ok, err = pcall(wait_line, rp, "^(ready)$", 60)
    if ok then
      local cpu0 = proc_cpu_ns(srv.pid)
      local sp = spawn("raw-fanout-send", pinned(0, argv_of(raw, "throughput", srv.port,
        { "--channel", "fanout", "--n", S.fanout_messages, "--window", S.fanout_window, "--warmup", 0,
          "--limit", 90 })))
      wait_exit(sp, 100)
      wait_exit(rp, 30)
      local r = result_of(rp)
      if r and r.n then
        -- every member got each message, and the sender its echo
        r.server_cpu_us_per_delivery = round((proc_cpu_ns(srv.pid) - cpu0) / 1e3 /
          (total + S.fanout_messages), 3)
        r.gate = g
        res.results[kind] = r
        log("fan-out via the %s server: %8.0f deliveries/s, server %.2f us CPU per delivery", kind, r.rate,
          r.server_cpu_us_per_delivery)
      end
    else
      log("fan-out (%s): %s", kind, err)
      stop_proc(rp, 9)
    end
    stop_proc(srv)
  end
  out.fanout = res
end

-- N SDK processes, one client each: waits for every "ready"
local function sdk_fleet(c, mode, port, n, args, limit)
  local ps = {}
  local t0 = B.now()
  for i = 1, n do
    local a = argv_of(c, mode, port, { "--id", i, "--limit", limit or 120 })
    for j = 1, #(args or {}) do a[#a + 1] = tostring(args[j]) end
    ps[i] = spawn("sdk-" .. mode .. "-" .. i, a)
  end
  local infos = {}
  for i = 1, n do
    wait_line(ps[i], "^(ready)$", 90)
  end
  for i = 1, n do
    local deadline = B.now() + 5
    repeat
      infos[i] = result_of(ps[i])
      if not infos[i] then B.sleep(0.01) end
    until infos[i] or B.now() > deadline
  end
  return ps, infos, t0
end

function bench.scale(C, out)
  local res = { server = "bundled", clients = {}, channels = {} }
  for _, c in ipairs(C) do
    local srv = start_bundled()
    local g = gate()
    if c.per_process then
      local n = S.sdk_clients
      local ok, err = pcall(function()
        local ps, infos, t0 = sdk_fleet(c, "client", srv.port, n)
        local rss, last = {}, 0
        for i = 1, n do
          rss[i] = infos[i].rss
          if infos[i].ready_at > last then last = infos[i].ready_at end
        end
        for i = 1, n do stop_proc(ps[i]) end
        res.clients[c.id] = { count = n, ready = n, seconds = last - t0,
          rss_per_client = round(mean(rss), 0), note = "one Node process per client (the SDK's socket is a singleton)",
          gate = g }
      end)
      if not ok then log("scale %s clients: %s", c.id, err) end
    else
      local r = run_client(c, "scale-clients", srv.port, { "--clients", S.scale_clients }, 120)
      if r then
        r.rss_per_client = round((r.rss_after - r.rss_before) / r.count, 0)
        r.gate = g
        res.clients[c.id] = r
      end
    end
    local rc = res.clients[c.id]
    if rc then
      log("scale %-7s: %d clients in %.2fs, %.1f KiB RSS per client", c.id, rc.count, rc.seconds,
        rc.rss_per_client / 1024)
    end
    stop_proc(srv)
    srv = start_bundled()
    g = gate()
    local r = run_client(c, "scale-channels", srv.port, { "--channels", S.scale_channels }, 120)
    if r then
      r.rss_per_channel = round((r.rss_after - r.rss_before) / r.count, 0)
      r.gate = g
      res.channels[c.id] = r
      log("scale %-7s: %d channels in %.2fs, %.0f B RSS per channel", c.id, r.count, r.seconds, r.rss_per_channel)
    end
    stop_proc(srv)
  end
  out.scale = res
end

function bench.idle(C, out)
  local res = { server = "bundled (one per contender, all at once)", seconds = S.idle_seconds,
    settle = S.idle_settle, results = {} }
  local runs = {}
  local g = gate()
  for _, c in ipairs(C) do
    local srv = start_bundled()
    local run = { c = c, srv = srv }
    if c.per_process then
      local n = S.sdk_idle
      run.ps = {}
      for i = 1, n do
        run.ps[i] = spawn("sdk-idle-" .. i, argv_of(c, "idle", srv.port,
          { "--id", i, "--seconds", S.idle_seconds, "--settle", S.idle_settle,
            "--limit", S.idle_seconds + S.idle_settle + 120 }))
      end
    else
      run.ps = { spawn(c.id .. "-idle", argv_of(c, "idle", srv.port,
        { "--clients", S.idle_clients, "--seconds", S.idle_seconds, "--settle", S.idle_settle,
          "--limit", S.idle_seconds + S.idle_settle + 120 })) }
    end
    runs[#runs + 1] = run
  end
  for _, run in ipairs(runs) do
    for _, p in ipairs(run.ps) do wait_exit(p, S.idle_seconds + S.idle_settle + 130) end
    local cpu, cs, ics, secs, rss, n = 0, 0, 0, 0, 0, 0
    for _, p in ipairs(run.ps) do
      local r = result_of(p)
      if r then
        cpu, cs, ics = cpu + r.cpu_us, cs + r.nvcsw, ics + r.nivcsw
        secs = math.max(secs, r.seconds)
        rss = rss + (r.rss or 0)
        n = n + (r.clients or 1)
      end
    end
    stop_proc(run.srv)
    if n > 0 then
      local r = { clients = n, processes = #run.ps, seconds = round(secs, 3), cpu_us = cpu,
        cpu_percent = round(cpu / (secs * 1e6) * 100, 4), wakeups_per_s = round(cs / secs, 2),
        involuntary_per_s = round(ics / secs, 2), rss = rss, gate = g }
      res.results[run.c.id] = r
      log("idle %-7s: %d clients, %.4f%% CPU, %.2f wake-ups/s", run.c.id, n, r.cpu_percent, r.wakeups_per_s)
    end
  end
  out.idle = res
end

local function storm_one(c, per_process)
  local accepts = TMP .. "/accepts-" .. c.id .. ".txt"
  os.remove(accepts)
  local srv = start_bundled()
  local port = srv.port
  local ps
  if per_process then
    -- 30 s: the SDK retries at 1, 3, 7, 15 s after a loss (when it does)
    ps = sdk_fleet(c, "storm", port, S.sdk_storm, nil, 30)
  else
    ps = { spawn(c.id .. "-storm", argv_of(c, "storm", port, { "--clients", S.storm_clients, "--limit", 120 })) }
    wait_line(ps[1], "^(ready)$", 90)
  end
  -- the new server is loaded beforehand and listens as soon as the old one
  -- is gone: the restart takes milliseconds, however busy the machine is
  local go = TMP .. "/restart-" .. c.id
  os.remove(go)
  local srv2 = start_bundled(port, accepts, go)
  B.sleep(0.5)
  local t_kill = B.now()
  B.kill(srv.pid, 9)
  wait_exit(srv, 5)
  assert(io.open(go, "w")):close()
  wait_line(srv2, "^listening ws://127%.0%.0%.1:(%d+)/", 10)
  local t_listen = B.now()
  for _, p in ipairs(ps) do wait_exit(p, 90) end
  stop_proc(srv2)
  local rejoin, attempts, first_attempts, retried = {}, {}, {}, 0
  local n, nrej = 0, 0
  local codes = {}
  for _, p in ipairs(ps) do
    local r = result_of(p)
    if r and r.mode ~= "storm" then
      -- a client that never reported (gone, or killed at the limit)
      n = n + 1
    elseif r then
      for _, code in ipairs(r.close_codes or {}) do codes[tostring(code)] = (codes[tostring(code)] or 0) + 1 end
      n = n + r.clients
      nrej = nrej + r.rejoined
      for _, x in ipairs(r.rejoin_s) do
        if x >= 0 then rejoin[#rejoin + 1] = r.down_at + x - t_kill end
      end
      for _, x in ipairs(r.attempt_s) do attempts[#attempts + 1] = r.down_at + x - t_kill end
      for _, x in ipairs(r.first_attempt_s or {}) do
        if x >= 0 then first_attempts[#first_attempts + 1] = r.down_at + x - t_kill end
      end
    end
  end
  local acc = {}
  for l in (read_file(accepts) or ""):gmatch("[^\n]+") do acc[#acc + 1] = tonumber(l) - t_kill end
  -- the attempts beyond one per client were retries
  retried = #attempts - #first_attempts
  -- accepts per 100 ms
  local bins, peak = {}, 0
  for _, t in ipairs(acc) do
    local b = math.floor(t * 10)
    bins[b] = (bins[b] or 0) + 1
    if bins[b] > peak then peak = bins[b] end
  end
  local hist = {}
  local maxb = 0
  for b in pairs(bins) do if b > maxb then maxb = b end end
  for b = 0, maxb do hist[#hist + 1] = bins[b] or 0 end
  return {
    clients = n, rejoined = nrej, processes = #ps,
    restart_gap_s = round(t_listen - t_kill, 3),
    all_rejoined_s = nrej == n and round(pct(rejoin, 1), 3) or nil,
    rejoin_p50_s = round(pct(rejoin, 0.5), 3), rejoin_p90_s = round(pct(rejoin, 0.9), 3),
    attempts = #attempts, retries = retried,
    attempt_p10_s = round(pct(first_attempts, 0.1), 3), attempt_p50_s = round(pct(first_attempts, 0.5), 3),
    attempt_p90_s = round(pct(first_attempts, 0.9), 3),
    attempt_stddev_s = round(stddev(first_attempts), 3),
    accepts = #acc, peak_accepts_per_100ms = peak, accepts_per_100ms = hist,
    close_codes = next(codes) and codes or nil,
  }
end

function bench.storm(C, out)
  local res = { server = "bundled, killed (SIGKILL) and restarted on the same port (the new one loaded beforehand)",
    results = {} }
  for _, c in ipairs(C) do
    local g = gate()
    local ok, r = pcall(storm_one, c, c.per_process)
    if ok then
      r.gate = g
      if c.per_process then r.note = "one Node process per client" end
      res.results[c.id] = r
      log("storm %-7s: %d/%d rejoined, all by %s s, first attempts p10-p90 %s-%s s, peak %d accepts/100ms",
        c.id, r.rejoined, r.clients, tostring(r.all_rejoined_s), tostring(r.attempt_p10_s),
        tostring(r.attempt_p90_s), r.peak_accepts_per_100ms)
    else
      log("storm %s: %s", c.id, r)
    end
  end
  out.storm = res
end

-- ------------------------------------------------------------ main

local function main()
  if arg[1] == "--report" then
    local text = assert(read_file(arg[2]), "cannot read " .. tostring(arg[2]))
    local data = cjson.decode(text)
    report.write(ROOT, data)
    return
  end
  os.execute("mkdir -p '" .. TMP .. "' '" .. RESULTS .. "'")
  os.execute("rm -f '" .. TMP .. "'/*.out '" .. TMP .. "'/*.err '" .. TMP .. "'/*.txt")
  local C = contenders()
  local out = {
    timestamp = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    command = os.getenv("XRT_BENCH_COMMAND") or "make bench",
    quick = QUICK,
    pinned = PIN,
    machine = machine(),
    sizes = S,
    contenders = {},
    benchmarks = {},
  }
  for _, c in ipairs(C) do
    out.contenders[#out.contenders + 1] = { id = c.id, label = c.label, version = c.version }
  end
  log("machine: %d x %s, kernel %s, load %.2f %.2f %.2f", out.machine.nproc, out.machine.cpu,
    out.machine.kernel, table.unpack(out.machine.load_at_start))
  for _, name in ipairs({ "throughput", "latency", "fanin", "scale", "idle", "storm", "fanout" }) do
    if wanted(name) then
      log("== %s", name)
      bench[name](C, out.benchmarks)
    end
  end
  local l1, l5, l15 = B.loadavg()
  out.machine.load_at_end = { l1, l5, l15 }
  out.seconds = round(B.now() - T0, 1)
  local stamp = os.date("!%Y%m%dT%H%M%SZ")
  local text = cjson.encode(out)
  for _, name in ipairs({ stamp .. ".json", "latest.json" }) do
    local f = assert(io.open(RESULTS .. "/" .. name, "w"))
    f:write(text, "\n")
    f:close()
  end
  report.write(ROOT, out)
  log("done in %.0fs: bench/results/%s.json, bench/results/latest.json, bench/results/latest.png, bench/README.md",
    out.seconds, stamp)
end

local ok, err = xpcall(main, debug.traceback)
cleanup()
if not ok then
  io.stderr:write("bench: ", tostring(err), "\n")
  os.exit(1)
end
os.exit(0)
