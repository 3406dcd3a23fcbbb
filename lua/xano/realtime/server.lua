-- xano.realtime.server - a local server that speaks Xano Realtime v1 (the
-- /rt/ protocol of @xano/js-sdk 3.0.1): the upgrade and token rules, the
-- join/leave/message/history frames, presence, history, channel
-- permissions, the "Realtime Event" function (srv:event and POST /event),
-- introspection for specs, and the few hooks of the live console
-- (server/console.lua: self.console, self.tap).  The C transport
-- (xano.realtime.core.server) moves frames and connection events;
-- everything that knows JSON is here.
--
-- Payloads and options are relayed byte for byte: the server decodes a
-- frame to check it, but builds the frames it sends from the raw JSON text
-- of the sender's values, so nothing is lost to a decode/encode round trip
-- (empty arrays, big integers, key order).  What it encodes itself
-- (event data, ids, extras) keeps every digit (xano.realtime.json).

-- The parts (lua/xano/realtime/server/): config (checks, files, start
-- options), rawjson (the strict codec, the raw-member scan), frames (the
-- frames sent), channels (permissions, members, history), protocol (the
-- client frames, sockets), admin (plain HTTP), push (events the server
-- sends itself), console (the live console).  This module holds the
-- server object: events in, the run loop, introspection, start.

local core = require "xano.realtime.core"
local events = require "xano.realtime.events"
local rawjson = require "xano.realtime.server.rawjson"
local config = require "xano.realtime.server.config"
local channels = require "xano.realtime.server.channels"

local json = rawjson.json
local is_integer = config.is_integer
local history_start = channels.history_start
local check_start_options = config.check_start_options
local merged_config = config.merged_config
local complete_row = config.complete_row
local DEFAULT_ERRORS = config.DEFAULT_ERRORS

local M = {}
M._VERSION = core._VERSION

local Server = {}
Server.__index = Server

local MAX_EVENTS_PER_POLL = config.EVENTS_PER_POLL

M.DEFAULT_ERRORS = DEFAULT_ERRORS
M.check_config = config.check_config
M.load_config = config.load_config

-- the methods of the parts
for _, part in ipairs({ "protocol", "admin", "push" }) do
  for name, f in pairs(require("xano.realtime.server." .. part)) do Server[name] = f end
end
for name, f in pairs(channels.methods) do Server[name] = f end

-- ---------------------------------------------------------------- events

-- The core's events, by name; checked against the core's description of
-- them (src/transport/events.def) when the module loads.  core.server() itself takes
-- "listening" (or the "error" that it could not listen) and shutdown()
-- takes "stopped": a poll that meets one has nothing left to do.
local ON = events.bind("server", {
  frame = Server.on_frame,
  upgrade = function(self, socket, path, protocol) return self:on_upgrade(socket, path, protocol) end,
  request = function(self, socket, body, head) return self:on_request(socket, body, head) end,
  gone = function(self, socket, code) return self:on_gone(socket, code) end,
  listening = function(self, port) end,
  error = function(self, kind, message) end,
  stopped = function(self) end,
})

-- Handles what is pending; waits up to timeout for the first event.
function Server:poll(timeout)
  if self.closed then return 0 end
  if timeout ~= nil and type(timeout) ~= "number" then
    error("xano.realtime.server: poll: timeout must be a number", 2)
  end
  local h = self.h
  local n = 0
  while n < MAX_EVENTS_PER_POLL do
    local kind, v1, v2, v3 = h:next()
    if not kind then
      if n > 0 or not timeout or timeout <= 0 then break end
      local ready = h:wait(timeout)
      timeout = 0
      if not ready then break end
    else
      n = n + 1
      ON[kind](self, v1, v2, v3)
      if self.closed then break end
    end
  end
  return n
end

-- Runs until closed, a caught signal, or seconds are up; returns why:
-- "closed", "timeout", or the signal's name ("SIGINT", "SIGTERM").
function Server:run(seconds)
  if seconds ~= nil and type(seconds) ~= "number" then
    error("xano.realtime.server: run: seconds must be a number", 2)
  end
  local deadline = seconds and core.now() + seconds
  while not self.closed do
    local sig = core.signaled()
    if sig then return sig end
    local wait = 1
    if deadline then
      local left = deadline - core.now()
      if left <= 0 then return "timeout" end
      if left < wait then wait = left end
    end
    local ready, why = self.h:wait(wait)
    if ready == nil and why == "interrupted" then
      return core.signaled() or "interrupted"
    end
    if ready then self:poll(0) end
  end
  return "closed"
end

-- ------------------------------------------------------ life and access

function Server:check_open(what)
  if self.closed then
    error("xano.realtime.server: " .. what .. ": the server is closed", 3)
  end
end

-- The console's page, when the server has one (an admin key).
function Server:console_url()
  return self.console and self:base_url() .. "/_console" or nil
end

function Server:url()
  return (self.tls and "wss://" or "ws://") .. self.authority .. self.path
end

function Server:base_url()
  return (self.tls and "https://" or "http://") .. self.authority
end

function Server:fd()
  self:check_open("fd")
  return self.h:fd()
end

function Server:is_closed()
  return self.closed
end

-- Closes every socket cleanly (1001) and stops listening.
function Server:close()
  if self.closed then return end
  self.closed = true
  pcall(self.h.shutdown, self.h, config.SHUTDOWN_TIMEOUT)
  self.h:close()
  self.socks, self.by_sid, self.chans, self.n_socks = {}, {}, {}, 0
end

function Server:sockets()
  local list = {}
  for _, sock in pairs(self.socks) do
    local names = {}
    for name in pairs(sock.channels) do names[#names + 1] = name end
    table.sort(names)
    list[#list + 1] = { socketId = sock.socketId, authenticated = sock.authenticated,
      channels = names, id = sock.id }
  end
  table.sort(list, function(x, y) return x.id < y.id end)
  for i = 1, #list do list[i].id = nil end
  return list
end

function Server:members(channel)
  local ch = self.chans[channel]
  local list = {}
  if ch then
    for i = 1, #ch.members do list[i] = ch.members[i].sock.socketId end
  end
  return list
end

function Server:history(channel)
  local ch = self.chans[channel]
  local list = {}
  if ch then
    for i = history_start(ch), #ch.history do list[#list + 1] = json.decode(ch.history[i].raw) end
  end
  return list
end

function Server:send_raw(socketId, bytes, mode)
  self:check_open("send_raw")
  if type(bytes) ~= "string" then
    error("xano.realtime.server: send_raw: bytes must be a string", 2)
  end
  local sock = self.by_sid[socketId]
  if not sock then return nil, "no such socket" end
  if self.h:send({ sock.id }, bytes, mode) == 1 then return true end
  return nil, "not sent (socket closing or its queue is full)"
end

function Server:drop(socketId, code, reason)
  self:check_open("drop")
  local sock = self.by_sid[socketId]
  if not sock then return nil, "no such socket" end
  self.h:close_socket(sock.id, code or 1000, reason)
  return true
end

function Server:stats()
  local s = self.closed and {} or self.h:stats()
  return { sockets = self.n_socks, frames_in = s.frames_in or 0,
    frames_out = s.frames_out or 0, messages = self.n_messages }
end

-- ------------------------------------------------------------------ start

-- The authority clients use: a wildcard address ("::" listens on both
-- families, "0.0.0.0" on IPv4) is reached on the loopback of its family.
local function authority(host, port)
  if host == "::" then host = "::1" elseif host == "0.0.0.0" then host = "127.0.0.1" end
  if host:find(":", 1, true) then return "[" .. host .. "]:" .. port end
  return host .. ":" .. port
end

-- server.start{host=, port=, canonical=, config=|config_file=, admin_key=,
-- max_frame=, ping_interval=, tls={cert=, key=}}
-- -> server, or nil and a message when it cannot listen or read the file.
-- Raises on a bad option or a bad config.
function M.start(o)
  o = o or {}
  check_start_options(o)
  local cfg, err = merged_config(o)
  if not cfg then return nil, err end
  local settings = config.core_options(o, cfg)
  local host, tls = settings.host, cfg.tls
  local h, lerr = core.server(settings)
  if not h then return nil, lerr end

  local self = setmetatable({}, Server)
  self.h = h
  self.tls = tls and true or false
  self.host = host
  self.port = h:port()
  self.authority = authority(host, self.port)
  self.canonical = cfg.canonical or config.CANONICAL
  self.path = "/rt/" .. self.canonical
  self.admin_key = cfg.admin_key
  self.unknown_token = cfg.unknown_token or "anonymous"
  self.tokens = cfg.tokens or {}
  self.errors = {}
  for k, v in pairs(DEFAULT_ERRORS) do self.errors[k] = v end
  for k, v in pairs(cfg.errors or {}) do self.errors[k] = v end
  if cfg.channels then
    self.rows = {}
    for i = 1, #cfg.channels do self.rows[i] = complete_row(cfg.channels[i]) end
  else
    self.open_perm = complete_row({ pattern = "*" })
  end
  self.hooks = {}
  self.socks, self.by_sid, self.chans = {}, {}, {}
  self.n_socks, self.n_messages = 0, 0
  self.closed = false
  -- the live console (GET /_console) exists only with an admin key
  if self.admin_key then
    self.console = require("xano.realtime.server.console").new(self)
  end
  return self
end

return M
