-- Runs the official @xano/js-sdk@3.0.1 under Node from a spec.
--
--   local SDK = require "support.sdk"
--   local ok, why = SDK.available()           -- false, reason without node/npm/SDK
--   local a = H.track(SDK.start{ port = srv.port, canonical = "abc",
--                                token = "tok-alice", id = "alice",
--                                pump = H.poll_all })
--   a:call{ cmd = "channel", channel = "room1", options = { presence = true } }
--   a:call{ cmd = "on", channel = "room1" }
--   H.wait_until(function() return a:find_frame("presence_full") end, "presence")
--   a:close()
--
-- One Node process per SDK client (the SDK's socket is a process-wide
-- singleton).  The process connects back to a LuaSocket
-- listener on 127.0.0.1 (port 0) and speaks the line-oriented JSON protocol
-- described at the top of spec/support/sdk/run.js; every line it sends is
-- decoded into self.events, in order.  The process exits by itself when the
-- connection closes or after `lifetime` seconds, and close() kills it if
-- it has not.
local socket = require "socket"
local cjson = require "cjson"
local P = require "support.proc"

local SDK = {}

local function source_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then
    local pwd = os.getenv("PWD")
    if pwd and pwd ~= "" then dir = pwd .. "/" .. dir end
  end
  return dir
end

local HERE = source_dir() .. "/sdk"
SDK.dir = HERE
SDK.NODE = os.getenv("XRT_NODE") or "node"
SDK.VERSION = "3.0.1"

local shell_quote = P.quote
local capture = P.sh -- ok, all its output (stdout and stderr)

local function now()
  return socket.gettime()
end

-- Node flags: Node 20.10 to 21 have a global WebSocket behind
-- --experimental-websocket, 22 and later have it by default; older Nodes
-- (18, Debian 12's) use the ws package installed with the SDK instead.
local function node_flags(version)
  local major, minor = version:match("^v(%d+)%.(%d+)")
  major, minor = tonumber(major), tonumber(minor)
  if not major then return nil, "cannot read the Node version from " .. version end
  if major < 18 then return nil, "Node " .. version .. " is too old (18 or later)" end
  if (major == 20 and minor >= 10) or major == 21 then
    return "--experimental-websocket"
  end
  return ""
end

local avail -- cached {ok, reason}

-- true, or false and why the SDK cannot run here.  Installs the SDK into
-- .cache/npm when it is missing (spec/support/sdk/install.sh).
function SDK.available()
  if avail then return avail[1], avail[2] end
  local function fail(why)
    avail = { false, why }
    return false, why
  end
  local ok, version = capture(shell_quote(SDK.NODE) .. " --version")
  version = version:gsub("%s+$", "")
  if not ok then
    return fail("node is not installed or does not run (" .. version ..
      "): install nodejs and npm (.ci/deps)")
  end
  local flags, why = node_flags(version)
  if not flags then return fail(why) end
  local iok, out = capture("sh " .. shell_quote(HERE .. "/install.sh"), 900) -- npm, maybe a download
  if not iok then
    return fail("cannot install @xano/js-sdk@" .. SDK.VERSION .. ": " .. out)
  end
  SDK.node_version = version
  SDK.flags = flags
  SDK.prefix = out:match("([^\n]+)\n?$")
  avail = { true }
  return true
end

local S = {}
S.__index = S

-- Starts one SDK client and returns it once the SDK is loaded and its
-- XanoClient exists (its socket opens at the first "on", as in the SDK).
-- o: port (of the local server, required), host, canonical, token (nil =
-- anonymous), id, base_url, hash (send the canonical as
-- realtimeConnectionHash), wire (also report raw frames), websocket
-- ("auto", "native" or "ws": the ws package, as on Node 18), lifetime
-- (seconds, default 60), timeout (seconds to start and to answer, default
-- 15), pump (called while this object waits, e.g. H.poll_all).
function SDK.start(o)
  local self = SDK.spawn(o)
  local ok, err = pcall(self.wait_started, self)
  if not ok then
    self:close()
    error(err, 2)
  end
  return self
end

-- Starts several clients at once (the Node start-ups overlap); returns
-- them in order.  Raises, leaving none running, if any fails.
function SDK.start_all(list)
  local started = {}
  local ok, err = pcall(function()
    for i, o in ipairs(list) do started[i] = SDK.spawn(o) end
    for _, c in ipairs(started) do c:wait_started() end
  end)
  if not ok then
    for _, c in ipairs(started) do c:close() end
    error(err, 2)
  end
  return (table.unpack or unpack)(started, 1, #list)
end

-- Launches the Node process and returns at once; wait_started() finishes.
function SDK.spawn(o)
  assert(type(o) == "table" and tonumber(o.port), "SDK.start{port = <server port>, ...}")
  local ok, why = SDK.available()
  if not ok then error("the JS SDK cannot run here: " .. why, 3) end

  local self = setmetatable({
    id = o.id or "sdk",
    opts = o,
    events = {},
    buf = "",
    seq = 0,
    acks = {},
    pump = o.pump,
    timeout = o.timeout or 15,
    eof = false,
    closed = false,
  }, S)

  local listener = assert(socket.bind("127.0.0.1", 0))
  listener:settimeout(0)
  self.listener = listener
  local _, ctrl_port = listener:getsockname()
  self.key = ("%08x%08x"):format(math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  local argv = { SDK.NODE }
  if SDK.flags ~= "" then argv[#argv + 1] = SDK.flags end
  for _, w in ipairs({ HERE .. "/run.js",
    "--port", string.format("%d", tonumber(o.port)),
    "--host", o.host or "127.0.0.1",
    "--connect", tostring(ctrl_port),
    "--key", self.key,
    "--lifetime", tostring(o.lifetime or 60),
    "--prefix", SDK.prefix,
    "--websocket", o.websocket or os.getenv("XRT_SDK_WEBSOCKET") or "auto" }) do
    argv[#argv + 1] = w
  end
  self.proc = P.spawn(argv, { stderr = "split" })
  return self
end

-- Waits (bounded) for the process to connect back, load the SDK and
-- create its client.
function S:wait_started()
  if self.ready then return self end
  local listener = assert(self.listener, "not starting")
  local deadline = now() + self.timeout
  local conn
  for _ = 1, 100000 do
    conn = listener:accept()
    if conn then break end
    local left = deadline - now()
    if left <= 0 or not self:alive() then break end
    socket.select({ listener }, nil, math.min(left, 0.1))
  end
  listener:close()
  self.listener = nil
  if not conn then
    error("the SDK harness " .. self.id .. " did not connect back: " .. self:stderr(), 2)
  end
  conn:settimeout(0)
  conn:setoption("tcp-nodelay", true)
  self.conn = conn

  local ready = self:wait_for(function() return self:find("ready") end, "ready")
  if not ready or ready.key ~= self.key then
    error("the SDK harness " .. self.id .. " did not start: " .. self:stderr(), 2)
  end
  self.ready = ready
  local o = self.opts
  self:call{ cmd = "client", id = self.id, token = o.token, canonical = o.canonical,
             base_url = o.base_url, hash = o.hash, wire = o.wire }
  return self
end

-- true while the Node process runs (an exited process that is not reaped
-- yet does not count)
function S:alive()
  return self.proc ~= nil and self.proc:alive()
end

-- Reads what is available; returns how many events were added.
function S:_read()
  if not self.conn or self.eof then return 0 end
  local n = 0
  for _ = 1, 10000 do
    local data, err, partial = self.conn:receive(65536)
    data = data or partial
    if data and #data > 0 then self.buf = self.buf .. data end
    if err == "closed" then
      self.eof = true
      break
    end
    if not data or #data == 0 or err == "timeout" then break end
  end
  local buf, pos = self.buf, 1
  while true do
    local nl = buf:find("\n", pos, true)
    if not nl then break end
    local line = buf:sub(pos, nl - 1)
    pos = nl + 1
    local ok, ev = pcall(cjson.decode, line)
    if not ok or type(ev) ~= "table" then
      ev = { ev = "garbage", line = line }
    end
    self.events[#self.events + 1] = ev
    if (ev.ev == "ok" or ev.ev == "fail") and ev.seq ~= nil and ev.seq ~= cjson.null then
      self.acks[ev.seq] = ev
    end
    n = n + 1
  end
  self.buf = buf:sub(pos)
  return n
end

-- Non-blocking read of observed events into self.events; with a timeout,
-- waits up to that long for the first one.  Returns how many were added.
function S:poll(timeout)
  local n = self:_read()
  if n == 0 and timeout and timeout > 0 and self.conn and not self.eof then
    socket.select({ self.conn }, nil, timeout)
    n = self:_read()
  end
  return n
end

function S:is_closed()
  return self.closed
end

-- The LuaSocket objects to wait on for this client's events (used by
-- H.wait_until to wake up as soon as the harness reports something).
function S:wait_sockets()
  if self.conn and not self.eof then return { self.conn } end
  return {}
end

-- Sends one command (a table, see run.js); returns its seq.  Does not wait.
function S:send(cmd)
  assert(self.conn and not self.closed, "the SDK harness is closed")
  self.seq = self.seq + 1
  cmd.seq = self.seq
  if cmd.client == nil and cmd.cmd ~= "client" and cmd.cmd ~= "exit" then
    cmd.client = self.id
  end
  local line = cjson.encode(cmd) .. "\n"
  local i, deadline = 1, now() + self.timeout
  for _ = 1, 100000 do
    local last, err, partial = self.conn:send(line, i)
    if last then break end
    if err ~= "timeout" then error("SDK harness " .. self.id .. ": send: " .. err, 2) end
    i = partial + 1
    local left = deadline - now()
    if left <= 0 then error("SDK harness " .. self.id .. ": send timed out", 2) end
    socket.select(nil, { self.conn }, math.min(left, 0.1))
  end
  return self.seq
end

-- Polls (and pumps) until pred() returns a true value; returns it, or
-- nil after timeout seconds.
function S:wait_for(pred, what, timeout)
  local deadline = now() + (timeout or self.timeout)
  for _ = 1, 1000000 do
    if self.pump then self.pump() end
    self:_read()
    local v = pred()
    if v then return v end
    local left = deadline - now()
    if left <= 0 or self.eof then return nil end
    socket.select({ self.conn }, nil, math.min(left, self.pump and 0.02 or 0.1))
  end
end

-- Sends a command and waits for its answer; raises when the harness
-- reports a failure (the message names it) or does not answer.
function S:call(cmd, timeout)
  local seq = self:send(cmd)
  local ack = self:wait_for(function() return self.acks[seq] end, cmd.cmd, timeout)
  if not ack then
    error(("SDK harness %s: no answer to %s%s"):format(self.id, cmd.cmd,
      self.eof and " (the process ended: " .. self:stderr() .. ")" or ""), 2)
  end
  if ack.ev == "fail" then
    error(("SDK harness %s: %s failed: %s"):format(self.id, cmd.cmd, tostring(ack.message)), 2)
  end
  return ack
end

-- The answer to a sent command: the ok/fail event, or nil while pending.
function S:ack(seq)
  return self.acks[seq]
end

-- First event (after index `from`) named ev for which f(event) is true.
function S:find(ev, f, from)
  for i = (from or 0) + 1, #self.events do
    local e = self.events[i]
    if e.ev == ev and (not f or f(e)) then return e, i end
  end
end

-- Every event named ev for which f(event) is true.
function S:all(ev, f)
  local t = {}
  for i = 1, #self.events do
    local e = self.events[i]
    if e.ev == ev and (not f or f(e)) then t[#t + 1] = e end
  end
  return t
end

-- Frames the SDK handed to on() (or onError with ev = "error"), optionally
-- only one action and one channel: a list of frame tables.
function S:frames(action, channel, ev)
  local t = {}
  for i = 1, #self.events do
    local e = self.events[i]
    if e.ev == (ev or "frame") and type(e.frame) == "table"
      and (not action or e.frame.action == action)
      and (not channel or e.channel == channel) then
      t[#t + 1] = e.frame
    end
  end
  return t
end

-- First frame of that action for which f(frame) is true.
function S:find_frame(action, f, channel)
  local list = self:frames(action, channel)
  for i = 1, #list do
    if not f or f(list[i]) then return list[i] end
  end
end

-- The harness's stderr so far (for failure messages).
function S:stderr()
  return self.proc and self.proc:stderr() or ""
end

-- Stops the process: asks it to exit, closes the control connection,
-- kills it if it is still there, and reaps it.  Safe to call twice.
function S:close()
  if self.closed then return end
  self.closed = true
  if self.listener then
    self.listener:close()
    self.listener = nil
  end
  if self.conn then
    if not self.eof then
      pcall(function()
        self.conn:send(cjson.encode{ cmd = "exit" } .. "\n")
        local deadline = now() + 2
        for _ = 1, 1000 do
          self:_read()
          if self.eof or now() >= deadline then break end
          socket.select({ self.conn }, nil, math.min(deadline - now(), 0.1))
        end
      end)
    end
    self.conn:close()
    self.conn = nil
  end
  if self.proc then
    -- It said bye and closed the connection (or did not within 2 s):
    -- nothing more can come from it.  Node's own exit can still take
    -- ~150 ms after a native WebSocket was used (V8 joins a background
    -- thread), so end it now: KILL, no grace.
    self.proc:kill(0)
    self.proc = nil
  end
end

S.__gc = S.close
S.__close = S.close

return SDK
