-- A tiny test client for the server specs: the C client handle
-- (xano.realtime.core.client) with no reconnects, frames decoded with
-- cjson, and waiting done through spec/support/helpers (H.wait_until).
-- It is deliberately not the library's Lua client layer: the server specs
-- must not depend on it.
local core = require "xano.realtime.core"
local options = require "xano.realtime.options"
local cjson = require "cjson"
local events = require "xano.realtime.events"
local H = require "support.helpers"

local RC = {}
RC.__index = RC

local MAX_EVENTS = 100000

-- Starts connecting to port.  opts: path (default "/rt/test"), token,
-- max_frame.  Tracked by H, so H.cleanup() closes it.
function RC.connect(port, opts)
  opts = opts or {}
  -- the core takes every setting explicitly: the library's defaults
  local c = core.client(options.core_defaults("127.0.0.1", port,
    opts.path or "/rt/" .. (opts.canonical or "test"),
    { token = opts.token, max_frame = opts.max_frame }))
  c:set_policy({})	-- never reconnect: a spec sees every close
  c:start()
  local self = setmetatable({ c = c, frames = {}, read = 0, errors = {},
    state = "connecting" }, RC)
  return H.track(self)
end

-- Connects to srv, waits until open, and learns its socketId from the
-- server (so connect one at a time).  opts as for RC.connect.
function RC.open(srv, opts)
  opts = opts or {}
  local before = {}
  for _, s in ipairs(srv:sockets()) do before[s.socketId] = true end
  opts.canonical = opts.canonical or srv.canonical
  local self = RC.connect(srv.port, opts)
  self:wait_open()
  for _, s in ipairs(srv:sockets()) do
    if not before[s.socketId] then self.socketId = s.socketId end
  end
  assert(self.socketId, "the server did not record the new socket")
  self.srv = srv
  return self
end

-- The core client's events (checked against core.events at load).
local ON = events.bind("client", {
  connected = function(self) self.state = "open" end,
  frame = function(self, text)
    local ok, t = pcall(cjson.decode, text)
    self.frames[#self.frames + 1] = { raw = text, t = ok and t or nil }
  end,
  closed = function(self, code, was_open, reason)
    self.state = "closed"
    self.close_code, self.close_reason = code, reason
  end,
  error = function(self, kind, message)
    self.errors[#self.errors + 1] = message
  end,
  retry = function(self, delay, attempt) end,
  stopped = function(self) end,
  ["local"] = function(self) end,
})

function RC:poll()
  if self.handle_closed then return 0 end
  local n = 0
  while n < MAX_EVENTS do
    local kind, v1, v2, v3 = self.c:next()
    if not kind then break end
    n = n + 1
    ON[kind](self, v1, v2, v3)
  end
  return n
end

function RC:wait_open()
  H.wait_until(function() return self.state ~= "connecting" end, "client to connect")
  assert(self.state == "open", "connection failed: " .. tostring(self.close_code) ..
    " " .. tostring(self.close_reason))
  return self
end

function RC:wait_closed()
  H.wait_until(function() return self.state == "closed" end, "client to be closed")
  return self.close_code, self.close_reason
end

-- Sends a frame: a string as is, a table encoded as JSON.
function RC:send(frame)
  if type(frame) ~= "string" then frame = cjson.encode(frame) end
  return assert(self.c:send(frame, 0, false))
end

function RC:join(channel, payload)
  return self:send('{"action":"join","options":{"channel":' .. cjson.encode(channel) ..
    '},"payload":' .. cjson.encode(payload or { history = false, presence = false }) .. '}')
end

-- Joins and waits until the server lists this socket as a member, so
-- that what other sockets do next is ordered after the join (RC.open
-- clients only).
function RC:joined(channel, payload)
  assert(self.srv, "joined() needs a client made by RC.open")
  self:join(channel, payload)
  H.wait_until(function()
    for _, id in ipairs(self.srv:members(channel)) do
      if id == self.socketId then return true end
    end
    return false
  end, "join of " .. channel)
  return self
end

function RC:leave(channel)
  return self:send({ action = "leave", options = { channel = channel }, payload = cjson.null })
end

-- options: a table merged with the channel; payload any JSON value
function RC:message(channel, payload, options)
  local o = { channel = channel }
  for k, v in pairs(options or {}) do o[k] = v end
  return self:send({ action = "message", options = o, payload = payload })
end

function RC:history(channel)
  return self:send({ action = "history", options = { channel = channel }, payload = cjson.null })
end

-- The next frame not read yet, waiting for it: decoded table, raw text.
function RC:next_frame(what)
  H.wait_until(function() return #self.frames > self.read end,
    what or "a frame", nil)
  self.read = self.read + 1
  local f = self.frames[self.read]
  return f.t, f.raw
end

-- The next frame, which must have this action (and channel when given).
function RC:expect(action, channel)
  local f, raw = self:next_frame(action .. " frame")
  assert(type(f) == "table", "not JSON: " .. tostring(raw))
  if f.action ~= action or (channel and (f.options or {}).channel ~= channel) then
    error(("expected %s on %s, got %s"):format(action, tostring(channel), raw), 2)
  end
  return f, raw
end

-- Frames received and not read yet.
function RC:unread()
  return #self.frames - self.read
end

function RC:is_closed()
  return self.handle_closed == true
end

function RC:close()
  if not self.handle_closed then
    self.handle_closed = true
    self.c:close()
  end
end

return RC
