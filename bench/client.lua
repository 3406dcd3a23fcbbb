-- bench/client.lua - the benchmark client for this library (xano.realtime),
-- on Lua 5.4 or LuaJIT.  Same modes, options and output as
-- bench/raw_client.c and bench/sdk_client.js:
--
--   lua5.4 bench/client.lua MODE --port P [options]
--
--   throughput     --n N --window W         one client, channel "bench", N echoes
--   latency        --rate R --seconds S     round trips at a fixed rate
--   fanin-recv     --channels S --n TOTAL   joins fanin-1..S, counts TOTAL messages
--   scale-clients  --clients C              C clients, each in its own channel
--   scale-channels --channels K             one client in K channels
--   idle           --clients C --seconds S  C joined clients, idle for S seconds
--   storm          --clients C              C joined clients survive a server restart
--
-- A channel counts as joined when a message sent on it after the join comes
-- back (Xano does not acknowledge joins).  Modes that wait for the
-- orchestrator print "ready" first.  The result is one JSON line on stdout.
-- Every run is bounded by --limit seconds (default 120).

local function root_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  return dir .. "/.."
end

local ROOT = root_dir()
local VERSION = _VERSION:match("%d+%.%d+")
-- LuaJIT's build is build/luajit (build/5.1 before the Makefile had it)
local TAG = VERSION
if type(jit) == "table" then
  local f = io.open(ROOT .. "/build/luajit/xano/realtime/core.so", "r")
  TAG = f and "luajit" or "5.1"
  if f then f:close() end
end
local BUILD = os.getenv("XRT_BUILD") or (ROOT .. "/build/" .. TAG)
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = BUILD .. "/?.so;" .. ROOT .. "/build/bench/" .. (type(jit) == "table" and "luajit" or VERSION) ..
  "/?.so;" .. package.cpath

local core = require "xano.realtime.core"
core.set_log_level(0)
local rt = require "xano.realtime"
local B = require "xrt_bench"
local cjson = require "cjson"

local now = core.now
local impl = (type(jit) == "table" and "luajit" or "lua" .. VERSION)

-- ------------------------------------------------------------ options

local mode = arg[1]
local o = { port = 0, n = 50000, window = 256, warmup = 5000, rate = 1000, seconds = 5,
  settle = 2, clients = 1, channels = 1, limit = 120 }
for i = 2, #arg, 2 do
  local k, v = arg[i]:match("^%-%-(.+)$"), arg[i + 1]
  if not k or o[k] == nil or v == nil then
    io.stderr:write("client.lua: bad option ", tostring(arg[i]), "\n")
    os.exit(2)
  end
  o[k] = tonumber(v)
end
if not mode or o.port <= 0 then
  io.stderr:write("usage: client.lua MODE --port P [options] (see the header)\n")
  os.exit(2)
end

local URL = "http://127.0.0.1:" .. o.port
local TEXT = string.rep("x", 64)
local started = now()
local deadline = started + o.limit
local result = { impl = impl, mode = mode }

local function emit()
  io.stdout:write(cjson.encode(result), "\n")
  io.stdout:flush()
end

local function ready_line()
  io.stdout:write("ready\n")
  io.stdout:flush()
end

local function timed_out()
  if now() >= deadline then
    result.timeout = true
    return true
  end
  return false
end

local function cpu_since(r0)
  local r1 = B.rusage()
  return r1.cpu_us - r0.cpu_us, r1
end

-- Per thread over the measured phase, per message: the Lua thread (this
-- one, whose id is the process's) and the service thread.
local function threads_since(th0, n)
  local th1, list, pid = B.threads(), {}, B.pid()
  for tid, t in pairs(th1) do
    local s = th0[tid] or { cpu_us = 0, vcsw = 0, nvcsw = 0 }
    list[#list + 1] = { role = tid == pid and "lua" or "service",
      cpu_us_per_msg = (t.cpu_us - s.cpu_us) / n, vcsw_per_msg = (t.vcsw - s.vcsw) / n,
      nvcsw_per_msg = (t.nvcsw - s.nvcsw) / n }
  end
  table.sort(list, function(a, b) return a.role < b.role end)
  return list
end

local function collect()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- nearest-rank percentiles of a sorted array
local function pct(v, p)
  local n = #v
  if n == 0 then return 0 end
  local i = math.ceil(p * n)
  if i < 1 then i = 1 end
  if i > n then i = n end
  return v[i]
end

local function new_client()
  return rt.new{ url = URL, canonical = "bench" }
end

-- Opens channel name on client c; calls on_ready() when a ping sent after
-- the join comes back.  The ping goes out once the client is connected.
local function join_and_ping(c, ch, on_ready)
  local pinged = false
  c:on("connection_status", function(ev)
    if ev.payload.status == "connected" and not pinged then
      pinged = true
      ch:send({ seq = 0, text = TEXT })
    elseif ev.payload.status == "disconnected" then
      pinged = false
    end
  end)
  ch:on("message", function(ev)
    if ev.payload.seq == 0 then on_ready(ev) end
  end)
  ch:open()
end

-- --------------------------------------------------------------- modes

local modes = {}

function modes.throughput()
  local c = new_client()
  local ch = c:channel("bench")
  local sent, got, done = 0, 0, false
  local WARM, W = o.warmup, o.window
  local N = o.n + WARM -- the first WARM echoes warm up and are not measured
  local t0, r0, t1, r1, th0
  local payload = { seq = 0, text = TEXT }
  local function send_next()
    sent = sent + 1
    payload.seq = sent
    ch:send(payload)
  end
  ch:on("message", function(ev)
    local seq = ev.payload.seq
    if seq == 0 then
      if sent > 0 then return end
      if WARM == 0 then t0, r0, th0 = now(), B.rusage(), B.threads() end
      for _ = 1, math.min(W, N) do send_next() end
      return
    end
    got = got + 1
    if got == WARM then t0, r0, th0 = now(), B.rusage(), B.threads() end
    if sent < N then send_next() end
    if got == N then
      t1 = now()
      result.cpu_us, r1 = cpu_since(r0)
      if th0 then result.threads = threads_since(th0, N - WARM) end
      done = true
    end
  end)
  c:on("connection_status", function(ev)
    if ev.payload.status == "connected" then ch:send({ seq = 0, text = TEXT }) end
  end)
  ch:open()
  while not done and not timed_out() do c:poll(0.5) end
  t1 = t1 or now()
  if not result.cpu_us and r0 then result.cpu_us = cpu_since(r0) end
  local el = t0 and t1 - t0 or 0
  local measured = math.max(0, got - WARM)
  result.n, result.warmup, result.seconds = measured, WARM, el
  result.rate = el > 0 and measured / el or 0
  result.cpu_us_per_msg = measured > 0 and (result.cpu_us or 0) / measured or 0
  c:close()
end

function modes.latency()
  local c = new_client()
  local ch = c:channel("bench")
  local total = math.floor(o.rate * o.seconds)
  local sendt, rtt = {}, {}
  local sent, got = 0, 0
  local t0, r0
  local payload = { seq = 0, text = TEXT }
  join_and_ping(c, ch, function() if not t0 then t0, r0 = now(), B.rusage() end end)
  ch:on("message", function(ev)
    local seq = ev.payload.seq
    if seq > 0 and not rtt[seq] then
      rtt[seq] = now() - sendt[seq]
      got = got + 1
    end
  end)
  while not t0 and not timed_out() do c:poll(0.1) end
  local grace
  while not timed_out() do
    local t = now()
    local due = math.min(total, math.floor((t - t0) * o.rate) + 1)
    while sent < due do
      sent = sent + 1
      payload.seq = sent
      sendt[sent] = now()
      ch:send(payload)
    end
    if sent == total then
      grace = grace or now() + 1
      if got >= total or now() >= grace then break end
    end
    c:poll(0.001)
  end
  local t1 = now()
  result.cpu_us = r0 and cpu_since(r0) or 0
  local v = {}
  local sum = 0
  local warm = math.floor(total / 10) -- the first tenth warms up, not counted
  for i = warm + 1, sent do
    local r = rtt[i]
    if r then
      v[#v + 1] = r * 1e6
      sum = sum + r * 1e6
    end
  end
  table.sort(v)
  result.target_rate, result.sent, result.received = o.rate, sent - warm, #v
  result.warmup = warm
  result.seconds = t0 and t1 - t0 or 0
  result.rate = result.seconds > 0 and sent / result.seconds or 0
  result.p50_us, result.p99_us, result.p999_us = pct(v, 0.5), pct(v, 0.99), pct(v, 0.999)
  result.max_us = v[#v] or 0
  result.mean_us = #v > 0 and sum / #v or 0
  c:close()
end

modes["fanin-recv"] = function()
  local c = new_client()
  local S, N = o.channels, o.n
  local WARM = math.max(1, math.floor(N / 10)) -- the first tenth warms up, not measured
  local got, ready, done = 0, false, false
  local t_first, t_last, r0
  for i = 1, S do c:channel("fanin-" .. i):open() end
  local last = c:channel("fanin-" .. S)
  c:on("connection_status", function(ev)
    if ev.payload.status == "connected" and not ready then last:send({ seq = 0, text = TEXT }) end
  end)
  c:on("message", function(ev)
    local seq = ev.payload.seq
    if seq == 0 then
      if not ready and ev.channel == last.name then
        ready = true
        ready_line()
      end
      return
    end
    got = got + 1
    if got == WARM then t_first, r0 = now(), B.rusage() end
    t_last = now()
    if got == N then
      result.cpu_us = cpu_since(r0)
      done = true
    end
  end)
  while not done and not timed_out() do c:poll(0.5) end
  if not result.cpu_us and r0 then result.cpu_us = cpu_since(r0) end
  local el = t_first and t_last - t_first or 0
  local m = math.max(0, got - WARM)
  result.n, result.warmup, result.seconds = m, WARM, el
  result.rate = el > 0 and m / el or 0
  result.cpu_us_per_msg = m > 0 and (result.cpu_us or 0) / m or 0
  c:close()
end

-- C clients, each joined to its own channel; returns them once all are ready
local function many_clients(C, on_each_ready)
  local clients, nready = {}, 0
  for i = 1, C do
    local c = new_client()
    local ch = c:channel("c-" .. i)
    local was_ready = false
    join_and_ping(c, ch, function()
      if not was_ready then
        was_ready = true
        nready = nready + 1
      end
      if on_each_ready then on_each_ready(i) end
    end)
    clients[i] = { c = c, ch = ch, reset = function() if was_ready then was_ready = false; nready = nready - 1 end end }
  end
  while nready < C and not timed_out() do rt.poll(0.5) end
  return clients, function() return nready end
end

modes["scale-clients"] = function()
  collect()
  local rss0 = B.rss()
  local t0 = now()
  local clients, nready = many_clients(o.clients)
  local t1 = now()
  collect()
  result.count, result.ready, result.seconds = o.clients, nready(), t1 - t0
  result.rss_before, result.rss_after = rss0, B.rss()
  for _, x in ipairs(clients) do x.c:close() end
end

modes["scale-channels"] = function()
  local c = new_client()
  local K = o.channels
  local done, connected = false, false
  collect()
  local rss0 = B.rss()
  local t0 = now()
  local last
  for i = 1, K do
    last = c:channel("ch-" .. i)
    last:open()
  end
  c:on("connection_status", function(ev)
    if ev.payload.status == "connected" and not connected then
      connected = true
      last:send({ seq = 0, text = TEXT })
    end
  end)
  last:on("message", function(ev) if ev.payload.seq == 0 then done = true end end)
  while not done and not timed_out() do c:poll(0.5) end
  local t1 = now()
  collect()
  result.count, result.ready, result.seconds = K, done and K or 0, t1 - t0
  result.rss_before, result.rss_after = rss0, B.rss()
  c:close()
end

function modes.idle()
  local clients, nready = many_clients(o.clients)
  ready_line()
  collect()
  -- settle: what follows a start (JIT, timers) is not idleness
  local settle = now() + o.settle
  while now() < settle do rt.poll(settle - now()) end
  local r0, t0 = B.rusage(), now()
  local stop = t0 + o.seconds
  while true do
    local left = stop - now()
    if left <= 0 then break end
    rt.poll(left)
  end
  local t1 = now()
  local r1 = B.rusage()
  result.clients, result.ready, result.seconds = o.clients, nready(), t1 - t0
  result.cpu_us = r1.cpu_us - r0.cpu_us
  result.nvcsw, result.nivcsw = r1.nvcsw - r0.nvcsw, r1.nivcsw - r0.nivcsw
  result.rss = B.rss()
  for _, x in ipairs(clients) do x.c:close() end
end

function modes.storm()
  local C = o.clients
  local phase = 0 -- 0 setup, 1 all ready, 2 the server went away
  local down_at
  local rejoin, attempts = {}, {}
  local nrejoined = 0
  local clients
  clients = many_clients(C, function(i)
    if phase == 2 and not rejoin[i] then
      rejoin[i] = now() - down_at
      nrejoined = nrejoined + 1
    end
  end)
  local first = {}
  for i, x in ipairs(clients) do
    x.c:on("connection_status", function(ev)
      if ev.payload.status == "disconnected" and phase >= 1 then
        if phase == 1 then
          phase = 2
          down_at = now()
        end
        x.reset()
      end
    end)
    x.c:on("reconnecting", function(ev)
      if phase == 2 then
        local t = now() + ev.payload.delay - down_at
        attempts[#attempts + 1] = t
        first[i] = first[i] or t
      end
    end)
  end
  phase = 1
  ready_line()
  while nrejoined < C and not timed_out() do rt.poll(0.5) end
  result.clients, result.rejoined = C, nrejoined
  result.down_at = down_at or 0
  local last = 0
  local list = {}
  for i = 1, C do
    list[i] = rejoin[i] or -1
    if rejoin[i] and rejoin[i] > last then last = rejoin[i] end
  end
  result.all_rejoined_s = nrejoined == C and last or -1
  local firsts = {}
  for i = 1, C do firsts[i] = first[i] or -1 end
  result.rejoin_s, result.attempt_s, result.first_attempt_s = list, attempts, firsts
  for _, x in ipairs(clients) do x.c:close() end
end

if not modes[mode] then
  io.stderr:write("client.lua: unknown mode ", mode, "\n")
  os.exit(2)
end
modes[mode]()
emit()
os.exit(0)
