--- xano.realtime: a Xano Realtime client for Lua.
---
--- One socket per client carries every channel.  The C core
--- (xano.realtime.core) owns the socket, its service thread, reconnects,
--- pings and the queues; this layer owns option defaults and validation,
--- JSON, channels, presence, history and the callbacks, which run only
--- inside poll() / run() on the calling Lua thread.
local core = require "xano.realtime.core"
local json = require "xano.realtime.json"
local Channel = require "xano.realtime.channel"
local Handlers = require "xano.realtime.handlers"
local workflow = require "xano.realtime.workflow"
local proxy = require "xano.realtime.proxy"
local advice = require "xano.realtime.advice"

local type, pairs, tostring, setmetatable = type, pairs, tostring, setmetatable
local error = require("xano.realtime.compat").error -- error levels as in Lua 5.2+
local now = core.now

---@alias xano.realtime.Status "idle"|"connecting"|"connected"|"disconnected"|"closed"

---@class xano.realtime
---@field _VERSION string
---@field null lightuserdata  JSON null, as found in decoded payloads
---@field sleep fun(seconds: number)  in a handler or workflow: waits without blocking the loop
---@field reconnect_codes table<integer, boolean>  close codes (and HTTP statuses) that reconnect
local M = {
  _VERSION = "0.1.0",
  null = json.null,
  sleep = workflow.sleep,
}

--- Close codes (and HTTP statuses of a refused upgrade) after which a
--- client reconnects: 1001, 1002, 1005, 1006, 1011-1014, 4000 and HTTP
--- 408, 429, 500, 502, 503, 504, as the C core defines them.  Change it
--- before creating clients, or pass reconnect.codes to new().  A close the
--- app asked for (code 1000 from close()) never reconnects.  1002 is here
--- because libwebsockets 4.1.6 reports a server's 1012-1014 (restart, try
--- again later, bad gateway) as 1002.
M.reconnect_codes = {}
for _, code in ipairs(core.reconnect_codes()) do M.reconnect_codes[code] = true end

---@class xano.realtime.Options
---@field url string          instance base URL: https -> wss, http -> ws; host and port honoured
---@field canonical? string   realtime connection canonical
---@field hash? string        legacy realtime connection hash (used when canonical is absent)
---@field token? string       realtime auth token, sent as the WebSocket subprotocol
---@field reconnect? {initial?: number, max?: number, stable?: number, codes?: table<integer, boolean>}
---@field ping_interval? number  seconds of silence before a ping (0: never)
---@field ping_timeout? number   seconds a ping may go unanswered before the link counts as dead
---@field connect_timeout? number   seconds for the name lookup and the TCP connect, every address (10)
---@field handshake_timeout? number seconds for the proxy tunnel, TLS and the WebSocket upgrade (10)
---@field resolve? string[]     numeric addresses to use for the URL's host, instead of DNS
---@field proxy? string|false   "http://[user:pass@]host[:port]", or false for none; default from the environment
---@field queue_limit? integer   offline actions kept per client
---@field max_frame? integer     largest frame accepted from the server, in bytes
---@field in_limit? integer      bytes of events waiting for poll() before reading pauses
---@field tls? {ca_file?: string, verify?: boolean}

local DEFAULTS = {
  ping_interval = 30, ping_timeout = 10, connect_timeout = 10, handshake_timeout = 10,
  queue_limit = 1000, max_frame = 1024 * 1024, in_limit = 16 * 1024 * 1024,
  send_limit = 16 * 1024 * 1024,
}

local clients = setmetatable({}, { __mode = "k" }) -- every live client of the state

-- "scheme://host[:port][/...]" -> tls, host, port
local function parse_url(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "url must look like https://host[:port]" end
  scheme = scheme:lower()
  local tls
  if scheme == "https" or scheme == "wss" then tls = true
  elseif scheme == "http" or scheme == "ws" then tls = false
  else return nil, "url scheme must be https, http, wss or ws" end
  local authority = rest:match("^[^/?#]*")
  if authority:find("@", 1, true) then return nil, "url must not carry credentials" end
  local host, port = proxy.authority(authority, tls and 443 or 80)
  if not host then return nil, port == "no host" and "url has no host" or "url has a bad port" end
  return tls, host, port
end

-- The options new() knows; any other key is a typo, and an error.
local OPTION_KEYS = {
  [""] = { url = true, canonical = true, hash = true, token = true, reconnect = true,
           ping_interval = true, ping_timeout = true, connect_timeout = true,
           handshake_timeout = true, resolve = true, proxy = true,
           queue_limit = true, send_limit = true, max_frame = true, in_limit = true, tls = true },
  ["reconnect."] = { initial = true, max = true, stable = true, codes = true },
  ["tls."] = { ca_file = true, verify = true },
}

-- Option errors point at the caller of new(): level 3 from a helper that
-- new() calls directly.
local function known_keys(t, prefix)
  local keys = OPTION_KEYS[prefix]
  for k in pairs(t) do
    if not keys[k] then
      error("bad option '" .. prefix .. tostring(k) .. "' (unknown option)", 3)
    end
  end
end

local function opt(opts, key, kind, default, name, level)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= kind then
    error("bad option '" .. (name or key) .. "' (" .. kind .. " expected, got " .. type(v) .. ")", level or 3)
  end
  return v
end

-- Seconds (or, with bytes, a count of bytes or actions): a finite number
-- the C core can hold in a 64-bit integer (infinity and NaN would be
-- undefined behaviour there), above 0 (or 0 with allow_zero).
local MAX_SECONDS, MAX_COUNT = 1e9, 2 ^ 53
local function positive(opts, key, default, allow_zero, name, bytes)
  name = name or key
  local v = opt(opts, key, "number", default, name, 4)
  if v ~= v or v < 0 or (v == 0 and not allow_zero) then
    error("bad option '" .. name .. "' (" .. (allow_zero and "non-negative" or "positive") ..
      " number expected, got " .. tostring(v) .. ")", 3)
  end
  if v > (bytes and MAX_COUNT or MAX_SECONDS) then
    error("bad option '" .. name .. "' (at most " .. (bytes and "2^53" or "1e9 seconds") ..
      " expected, got " .. tostring(v) .. ")", 3)
  end
  if bytes and v % 1 ~= 0 then
    error("bad option '" .. name .. "' (integer expected, got " .. tostring(v) .. ")", 3)
  end
  return v
end

---@class xano.realtime.Stats
---@field frames_in integer        frames received
---@field frames_out integer       frames sent
---@field bytes_in integer
---@field bytes_out integer
---@field queued integer           offline actions waiting for the rejoin
---@field dropped integer          offline actions dropped (queue full)
---@field connects integer         connections opened
---@field reconnects integer       reconnect attempts
---@field pings integer
---@field pongs integer
---@field rtt? number              the last ping round trip, seconds
---@field last_close_code? integer
---@field last_close_reason? string
---@field callbacks integer        handlers run
---@field callback_errors integer  handlers (and workflows) that raised
---@field ignored integer          frames for channels closed here
---@field malformed integer        frames that were not valid Xano frames
---@field duplicates integer       history items dropped as already delivered

-- The codes of a policy set table, sorted; nil and why when it is bad.
local function code_list(codes)
  local list = {}
  for code, on in pairs(codes) do
    if type(code) ~= "number" or code % 1 ~= 0 or code < 100 or code > 4999 then
      return nil, "bad code " .. tostring(code)
    end
    if on then list[#list + 1] = code end
  end
  if #list > 64 then return nil, "at most 64 codes" end
  table.sort(list)
  return list
end

---@class xano.realtime.Client
local Client = {}
Client.__index = Client

--- Creates a client.  Nothing connects until a channel opens.
---@param opts xano.realtime.Options
---@return xano.realtime.Client
function M.new(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'new' (options table expected, got " .. type(opts) .. ")", 2)
  end
  known_keys(opts, "")
  local url = opt(opts, "url", "string")
  if not url then error("bad option 'url' (string expected, got nil)", 2) end
  local tls, host, port = parse_url(url)
  if tls == nil then error("bad option 'url' (" .. host .. ")", 2) end
  local canonical = opt(opts, "canonical", "string") or opt(opts, "hash", "string")
  if not canonical or canonical == "" then
    error("bad option 'canonical' (the realtime connection canonical is required)", 2)
  end
  if canonical:find("[/?#%s]") then
    error("bad option 'canonical' (must not contain '/', '?', '#' or spaces)", 2)
  end
  local token = opt(opts, "token", "string")
  if token and (token == "" or token:find("[%s,]") or token:find("[%c\128-\255]")) then
    error("bad option 'token' (not usable as a WebSocket subprotocol)", 2)
  end
  local rc = opt(opts, "reconnect", "table", {})
  known_keys(rc, "reconnect.")
  local tlso = opt(opts, "tls", "table", {})
  known_keys(tlso, "tls.")
  local verify = opt(tlso, "verify", "boolean", true, "tls.verify")
  local ca_file = opt(tlso, "ca_file", "string", nil, "tls.ca_file")
  if ca_file then
    local f, why = io.open(ca_file, "r")
    if not f then error("bad option 'tls.ca_file' (" .. tostring(why) .. ")", 2) end
    f:close()
  end
  local codes = opt(rc, "codes", "table", M.reconnect_codes, "reconnect.codes")
  local _, codes_err = code_list(codes)
  if codes_err then error("bad option 'reconnect.codes' (" .. codes_err .. ")", 2) end

  local initial = positive(rc, "initial", 1, false, "reconnect.initial")
  local max = positive(rc, "max", 60, false, "reconnect.max")
  if max < initial then error("bad option 'reconnect.max' (must be >= reconnect.initial)", 2) end
  local queue_limit = positive(opts, "queue_limit", DEFAULTS.queue_limit, true, nil, true)
  local resolve = opt(opts, "resolve", "table")
  if resolve then
    if #resolve == 0 or #resolve > 16 then
      error("bad option 'resolve' (a list of 1 to 16 numeric addresses expected)", 2)
    end
    for i = 1, #resolve do
      local a = resolve[i]
      local v4 = type(a) == "string" and { a:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$") }
      local ok = v4 and ((#v4 == 4 and tonumber(v4[1]) < 256 and tonumber(v4[2]) < 256 and
        tonumber(v4[3]) < 256 and tonumber(v4[4]) < 256) or
        ((a:match("^%[[%x:.]+%]$") or a:match("^[%x:.]+$")) and a:find(":", 1, true)))
      if not ok then
        error("bad option 'resolve' (entry " .. i .. " is not a numeric address: " ..
          tostring(a) .. ")", 2)
      end
    end
  end
  local proxy_opt = opts.proxy
  if proxy_opt ~= nil and proxy_opt ~= false and type(proxy_opt) ~= "string" then
    error("bad option 'proxy' (string or false expected, got " .. type(proxy_opt) .. ")", 2)
  end
  local via, why = proxy.choose(proxy_opt, tls, host)
  if via == nil then
    error((proxy_opt and "bad option 'proxy' (" or "bad environment variable ") ..
      (proxy_opt and why .. ")" or why), 2)
  end

  local h = core.client{
    host = host, port = port, path = "/rt/" .. canonical, tls = tls,
    verify = verify, ca_file = ca_file, token = token,
    reconnect_initial = initial, reconnect_max = max,
    stable_after = positive(rc, "stable", 10, false, "reconnect.stable"),
    ping_interval = positive(opts, "ping_interval", DEFAULTS.ping_interval, true),
    ping_timeout = positive(opts, "ping_timeout", DEFAULTS.ping_timeout),
    connect_timeout = positive(opts, "connect_timeout", DEFAULTS.connect_timeout),
    handshake_timeout = positive(opts, "handshake_timeout", DEFAULTS.handshake_timeout),
    resolve = resolve,
    proxy_host = via and via.host or nil, proxy_port = via and via.port or nil,
    proxy_auth = via and via.auth or nil,
    queue_limit = queue_limit,
    send_limit = positive(opts, "send_limit", DEFAULTS.send_limit, false, nil, true),
    max_frame = positive(opts, "max_frame", DEFAULTS.max_frame, false, nil, true),
    in_limit = positive(opts, "in_limit", DEFAULTS.in_limit, false, nil, true),
  }
  local self = setmetatable({
    _core = h,
    _url = (tls and "wss://" or "ws://") .. (host:find(":", 1, true) and "[" .. host .. "]" or host) ..
      ":" .. port .. "/rt/" .. canonical,
    _channels = {},
    _open = {},
    _nopen = 0,
    _next_tag = 0,
    _handlers = Handlers.new(Handlers.CLIENT_ACTIONS),
    _pending = {},
    _closed = false,
    _down_reported = false,
    _connected = false,
    _counters = { callbacks = 0, callback_errors = 0, ignored = 0, malformed = 0, duplicates = 0 },
  }, Client)
  -- the client owns the workflows its handlers park: a client dropped
  -- without close() is collected with them
  self._report = workflow.owner(function(err, tb) self:_callback_error(err, tb) end)
  self._report_errors = workflow.owner(function(err, tb)
    self._counters.callback_errors = self._counters.callback_errors + 1
    io.stderr:write("xano.realtime: error in a callback_error handler: ", tb or tostring(err), "\n")
  end)
  self:set_reconnect_codes(codes)
  clients[self] = true
  return self
end

function Client:__tostring()
  if self._closed then return "xano.realtime.client (closed)" end
  return ("xano.realtime.client %s (%s)"):format(self._url, self:status())
end

function Client:_check()
  if self._closed then error("attempt to use a closed client", 3) end
end

--- The WebSocket URL the client connects to.
---@return string
function Client:url()
  return self._url
end

--- Returns the channel of that name, creating it (closed) the first time.
--- Asking again returns the same object; different options are an error.
---@param name string
---@param opts? xano.realtime.ChannelOptions
---@return xano.realtime.Channel
function Client:channel(name, opts)
  self:_check()
  if type(name) ~= "string" or name == "" then
    error("bad argument #1 to 'channel' (channel name expected, got " ..
      (name == "" and "empty string" or type(name)) .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'channel' (options table expected, got " .. type(opts) .. ")", 2)
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    if k ~= "presence" and k ~= "history" and k ~= "queue_offline" then
      error("bad argument #2 to 'channel' (unknown option '" .. tostring(k) .. "')", 2)
    end
    if type(v) ~= "boolean" then
      error("bad argument #2 to 'channel' (option '" .. k .. "' must be a boolean)", 2)
    end
  end
  local ch = self._channels[name]
  if ch then
    local have = ch:options()
    for k, v in pairs(opts) do
      if have[k] ~= v then
        error("channel '" .. name .. "' already exists with " .. k .. " = " .. tostring(have[k]), 2)
      end
    end
    return ch
  end
  self._next_tag = self._next_tag + 1
  ch = Channel._new(self, name, opts, self._next_tag)
  self._channels[name] = ch
  return ch
end

--- App-level triggers: handlers for an action on every channel (the event
--- names its channel), and the client's own "connection_status", "error",
--- "callback_error" and "reconnecting" (payload.delay seconds until the
--- next attempt, payload.attempt, and the code and reason of the last
--- close).  on(fn) takes every action.
---@param action string|fun(ev: xano.realtime.Event)
---@param fn? fun(ev: xano.realtime.Event)
---@param filter? {event?: "join"|"leave"}
---@return integer id
function Client:on(action, fn, filter)
  -- not a tail call: the error level counts this frame
  local id = self._handlers:add(action, fn, filter, 2)
  return id
end

--- Removes a handler registered with on(); true when it was there.
---@param id integer
---@return boolean
function Client:off(id)
  -- not a tail call: the error level counts this frame
  local removed = self._handlers:remove(id, 2)
  return removed
end

--- Starts fn as a workflow now (WeWeb's "On app load"): it may call
--- realtime.sleep() and ch:wait().  Errors are reported as callback errors.
---@param fn fun(client: xano.realtime.Client)
function Client:workflow(fn)
  self:_check()
  if type(fn) ~= "function" then
    error("bad argument #1 to 'workflow' (function expected, got " .. type(fn) .. ")", 2)
  end
  workflow.invoke(fn, self, self._report)
end

local STATUS = {
  idle = "idle", connecting = "connecting", open = "connected", waiting = "disconnected",
  down = "disconnected", stopping = "idle", closed = "closed",
}

--- "idle" | "connecting" | "connected" | "disconnected" | "closed"
---@return xano.realtime.Status
function Client:status()
  if self._closed then return "closed" end
  local st = self._core:state()
  -- a channel is open, so a start is under way: the one that reconnects
  -- once the last close has wound down, or one the core has yet to run
  if (st == "stopping" or st == "idle") and self._nopen > 0 then return "connecting" end
  return STATUS[st]
end

--- Descriptor readable while events wait for this client (for luv,
--- cqueues, nginx, game engines); poll the client when it is.
---@return integer fd
function Client:fd()
  self:_check()
  return self._core:fd()
end

--- Seconds until a waiting workflow times out (nil when none): a host loop
--- that watches fd() should also poll the client by then.
---@return number|nil seconds
function Client:timeout()
  return workflow.next_due()
end

--- Replaces the token and reconnects with it; channels are kept.
---@param token string|nil
function Client:set_token(token)
  self:_check()
  if token ~= nil and (type(token) ~= "string" or token == "" or token:find("[%s,%c\128-\255]")) then
    error("bad argument #1 to 'set_token' (token string or nil expected, got " ..
      (type(token) == "string" and (token == "" and "empty string" or "a string with spaces, commas or control characters")
       or type(token)) .. ")", 2)
  end
  self._core:set_token(token)
  local st = self._core:state()
  if st == "down" then
    self._core:start()
  elseif st ~= "idle" then
    self:_replace_link()
  end
end

--- Reconnects now (after a network change, say), resetting the backoff.
function Client:reconnect()
  self:_check()
  local st = self._core:state()
  if st == "down" then self._core:start() elseif st ~= "idle" then self:_replace_link() end
end

-- The link goes (the core replaces it): a channel opened from now on is
-- joined on the next link, whose "connected" it hears, and its first
-- history there is not a rejoin's.
function Client:_replace_link()
  self._connected = false
  self._core:reconnect()
end

--- Sets which close codes (and HTTP statuses) reconnect: a set table.
---@param codes table<integer, boolean>
function Client:set_reconnect_codes(codes)
  self:_check()
  if type(codes) ~= "table" then
    error("bad argument #1 to 'set_reconnect_codes' (table expected, got " .. type(codes) .. ")", 2)
  end
  local list, err = code_list(codes)
  if not list then error("bad argument #1 to 'set_reconnect_codes' (" .. err .. ")", 2) end
  self._core:set_policy(list)
  self._codes = {}
  for i = 1, #list do self._codes[list[i]] = true end
end

--- Frames in and out, queued and dropped actions, reconnects, the last
--- close code and reason, the ping round trip, callback counters.
---@return xano.realtime.Stats
function Client:stats()
  self:_check()
  local s = self._core:stats()
  for k, v in pairs(self._counters) do s[k] = v end
  return s
end

-- ------------------------------------------------------------ internals

local function status_event(status, extra, channel)
  local payload = { status = status }
  if extra then for k, v in pairs(extra) do payload[k] = v end end
  return { action = "connection_status", channel = channel, options = {}, payload = payload }
end


-- An event made on the Lua side (not read from the socket) runs at the
-- next poll; the core is told so that fd() turns readable.
function Client:_local(target, ev, channel_only)
  local p = self._pending
  p[#p + 1] = { target = target, ev = ev, channel_only = channel_only }
  if #p == 1 then self._core:post() end
end

function Client:_error(channel, message, extra)
  local payload = { message = message }
  if extra then for k, v in pairs(extra) do payload[k] = v end end
  return { action = "error", channel = channel and channel.name, options = {}, payload = payload }
end

-- The core keeps one ordered stream of frames per client: a channel's
-- join, actions and leave go out in the order they were asked for, and
-- the joins of the open channels are replayed first after a reconnect.
function Client:_channel_opened(ch, join)
  self._open[ch.name] = ch
  self._nopen = self._nopen + 1
  self._stop_pending = false
  local st = self._core:state()
  -- until the first connect succeeds or fails, the channel is connecting,
  -- not offline: its actions wait for the join whatever queue_offline says
  ch._joining = st ~= "open" and st ~= "waiting" and st ~= "down"
  self._core:open_channel(ch._tag, join)
  if st == "open" and self._connected then
    -- joined now, on the live link: it still hears that it is connected
    ch._joined_before = true
    self:_local(ch, status_event("connected", nil, ch.name), true)
  end
  self._core:start()
end

function Client:_channel_closed(ch, leave)
  self._open[ch.name] = nil
  self._nopen = self._nopen - 1
  ch._joined_before = false
  ch._joining = false
  local dropped = self._core:close_channel(ch._tag, leave)
  if #dropped > 0 then
    local frames = {}
    for i = 1, #dropped do frames[i] = json.decode(dropped[i]) or dropped[i] end
    self:_local(nil, self:_error(ch, ("%d queued action(s) of channel '%s' were not sent: the channel closed while offline")
      :format(#dropped, ch.name), { dropped = frames }))
  end
  if self._nopen == 0 then
    if self._core:state() == "open" then
      -- the socket closes at the next poll unless a channel opens first:
      -- closing and reopening a channel in one step (WeWeb's Open channel
      -- on an open channel) keeps the socket
      self._stop_pending = true
      self._core:post()
    else
      -- no link to keep: the attempt under way stops now, before it
      -- connects (an open() right after starts a new one), or, when
      -- actions accepted on a live link are still queued, once it has
      -- sent them
      self._core:stop()
    end
  end
end

function Client:_send(ch, frame, what)
  local ok, r = self._core:send(frame, ch._tag, ch._queue or ch._joining)
  if not ok then return nil, r end
  if r then
    -- the offline queue was full: the oldest action gave way
    local old = json.decode(r) or r
    local where = type(old) == "table" and type(old.options) == "table" and old.options.channel
    self:_local(nil, self:_error(self._channels[where] or ch,
      ("offline queue full (%d actions): the oldest, a %s to '%s', was dropped")
        :format(self._core:stats().queued, type(old) == "table" and old.action or "frame", tostring(where)),
      { dropped = old }))
  end
  return true
end

function Client:_callback_error(err, tb)
  local c = self._counters
  c.callback_errors = c.callback_errors + 1
  local ev = { action = "callback_error", options = {}, payload = { message = tostring(err), traceback = tb } }
  if not self._handlers:wants(ev) then
    io.stderr:write("xano.realtime: error in a callback: ", tb or tostring(err), "\n")
    return
  end
  self._handlers:dispatch(ev, self._report_errors)
end

-- Runs the handlers of ch (if any) and the client's for ev.
-- The handlers of ch and the workflows waiting on it; counted.
function Client:_run_channel(ch, ev)
  local n = ch._handlers:dispatch(ev, self._report) + workflow.deliver(ch, ev)
  self._counters.callbacks = self._counters.callbacks + n
  return n
end

-- The client's own (app-level) handlers; counted.
function Client:_run_client(ev)
  local n = self._handlers:dispatch(ev, self._report)
  self._counters.callbacks = self._counters.callbacks + n
  return n
end

function Client:_dispatch(ch, ev)
  return (ch and self:_run_channel(ch, ev) or 0) + self:_run_client(ev)
end

-- An error nobody listens to still reaches someone: stderr.
function Client:_dispatch_error(ch, ev)
  local n = self:_dispatch(ch, ev)
  if n == 0 then
    io.stderr:write("xano.realtime: ", ev.channel and ("channel '" .. ev.channel .. "': ") or "",
      tostring(ev.payload.message), "\n")
  end
  return n
end

-- connection_status reaches each open channel, and the client's handlers once.
function Client:_status_event(status, extra)
  local n = 0
  for _, ch in pairs(self._open) do
    n = n + self:_run_channel(ch, status_event(status, extra, ch.name))
  end
  return n + self:_run_client(status_event(status, extra))
end

function Client:_on_connected()
  self._connected = true
  self._down_reported = false
  -- a link made only to send what closed channels left queued: no news
  if self._nopen == 0 then return 0 end
  for _, ch in pairs(self._open) do
    ch._joining = false
    if ch._joined_before and ch._history_on then ch._rejoin_history = true end
    ch._joined_before = true
  end
  return self:_status_event("connected")
end

function Client:_on_closed(code, was_open, reason)
  self._connected = false
  for _, ch in pairs(self._open) do ch._joining = false end
  self._last_close = { code = code, reason = reason }
  local n = 0
  -- an attempt that failed says why in words that name the fix
  if was_open ~= 1 then reason = advice.explain(code, reason, self._url) end
  local first_failure = self._nopen > 0 and was_open ~= 1 and not self._down_reported
  if self._nopen > 0 and (was_open == 1 or not self._down_reported) then
    self._down_reported = true
    for _, ch in pairs(self._open) do ch._presence.stale = true end
    n = n + self:_status_event("disconnected", { code = code, reason = reason })
  end
  if was_open ~= 1 and ((code >= 100 and code < 600) or first_failure) then
    -- the server refused the upgrade (something only the app can fix), or
    -- the first attempt failed (a wrong URL looks like that): an error too
    n = n + self:_dispatch_error(nil, self:_error(nil, reason, { code = code }))
  end
  return n + self:_report_stranded()
end

-- With no channel open and no link left to write them (the stop ended, or
-- the server refused the link), the actions still queued (accepted on a
-- live link, for channels closed since) are taken off the stream and
-- reported; none is sent later.
function Client:_report_stranded()
  if self._nopen > 0 then return 0 end
  local st = self._core:state()
  if st ~= "idle" and st ~= "down" then return 0 end
  local left = self._core:take()
  if #left == 0 then return 0 end
  local frames = {}
  for i = 1, #left do frames[i] = json.decode(left[i]) or left[i] end
  local why = self._core:stats().last_close_reason
  return self:_dispatch_error(nil, self:_error(nil,
    ("%d queued action(s) were not sent: their channels closed and the link that was to send them ended (%s)")
      :format(#left, why ~= "" and why or "no connection"), { dropped = frames }))
end

local function history_items(ev)
  local p = ev.payload
  return type(p) == "table" and type(p.history) == "table" and p.history or nil
end

-- A JSON array as cjson decodes it: keys 1..n only ([] and {} look alike).
local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for k in pairs(v) do
    if type(k) ~= "number" then return false end
    n = n + 1
  end
  return n == #v
end

local function is_object(v)
  return type(v) == "table" and (next(v) == nil or not is_list(v))
end

local function absent(v)
  return v == nil or v == json.null
end

-- What is wrong with the known fields of a decoded frame; nil when they
-- have the types the protocol gives them.  Such a frame reaches the app
-- as an error event only, and changes no presence or history state.
local function bad_field(ev)
  local o, c, p, a = ev.options, ev.client, ev.payload, ev.action
  if not absent(o) and not is_object(o) then return "options is not an object" end
  if not absent(c) and not is_object(c) then return "client is not an object" end
  if a == "presence_full" then
    if not is_object(p) or not is_list(p.presence) then
      return "presence_full without a payload.presence list"
    end
  elseif a == "presence_update" then
    local e = is_object(p) and p.presence
    if not is_object(e) or type(e.socketId) ~= "string" then
      return "presence_update without a payload.presence entry with a socketId"
    end
  elseif a == "history" then
    if not is_object(p) or not is_list(p.history) then
      return "history without a payload.history list"
    end
  elseif a == "error" then
    if not is_object(p) or type(p.message) ~= "string" then
      return "error without a string payload.message"
    end
  end
  return nil
end

local function sample(text)
  return #text > 200 and text:sub(1, 200) .. "..." or text
end

-- A frame from the server, decoded, for an open channel.
function Client:_on_channel_frame(ch, ev)
  local action = ev.action
  if action == "message" then
    if ch._history then ch._history:seen(ev) end
  elseif action == "presence_full" then
    if ch._presence_on then ch._presence:replace(ev.payload.presence) end
  elseif action == "presence_update" then
    if ch._presence_on then ch._presence:apply(ev.payload) end
  elseif action == "history" then
    local items = history_items(ev)
    if items and ch._history then
      if ch._rejoin_history then
        ch._rejoin_history = false
        local fresh, skipped, gap = ch._history:fresh(items)
        ev.payload.history = fresh
        ev.payload.duplicates = skipped
        ev.payload.gap_possible = gap
        ev.rejoin = true
        self._counters.duplicates = self._counters.duplicates + skipped
        items = fresh
      end
      for i = 1, #items do ch._history:seen(items[i]) end
    end
  elseif action == "error" then
    return self:_dispatch_error(ch, ev)
  end
  return self:_dispatch(ch, ev)
end

function Client:_on_frame(text)
  local ev, err = json.decode(text)
  if type(ev) ~= "table" or ev[1] ~= nil or type(ev.action) ~= "string" or ev.action == "" then
    self._counters.malformed = self._counters.malformed + 1
    local why = ev == nil and ("not JSON (" .. tostring(err):gsub("^.-: ", "") .. ")")
      or (type(ev) ~= "table" or ev[1] ~= nil) and "JSON but not an object"
      or "no action"
    return self:_dispatch_error(nil, self:_error(nil, "malformed frame from the server: " .. why,
      { frame = #text > 200 and text:sub(1, 200) .. "..." or text }))
  end
  local opts = ev.options
  local name = type(opts) == "table" and opts.channel or nil
  if name ~= nil and type(name) ~= "string" then
    self._counters.malformed = self._counters.malformed + 1
    return self:_dispatch_error(nil, self:_error(nil, "malformed frame from the server: options.channel is not a string",
      { frame = #text > 200 and text:sub(1, 200) .. "..." or text }))
  end
  local ch = name ~= nil and self._open[name] or nil
  if name ~= nil and not ch then
    -- a channel closed here: frames still in flight are not for the app
    self._counters.ignored = self._counters.ignored + 1
    return 0
  end
  local bad = bad_field(ev)
  if bad then
    self._counters.malformed = self._counters.malformed + 1
    return self:_dispatch_error(ch, self:_error(ch, "malformed frame from the server: " .. bad,
      { frame = sample(text) }))
  end
  if name == nil then
    -- no channel named: it concerns the connection, not one channel
    ev.channel = nil
    if ev.action == "error" then return self:_dispatch_error(nil, ev) end
    return self:_dispatch(nil, ev)
  end
  ev.channel = name
  return self:_on_channel_frame(ch, ev)
end

local ERROR_NAMES = { "frame_too_big", "binary_frame", "invalid_utf8", "reading_paused" }

function Client:_handle(kind, a, b, s1)
  if kind == "frame" then
    return self:_on_frame(s1)
  elseif kind == "connected" then
    return self:_on_connected()
  elseif kind == "closed" then
    return self:_on_closed(a, b, s1)
  elseif kind == "error" then
    return self:_dispatch_error(nil, self:_error(nil, s1, { kind = ERROR_NAMES[a] }))
  elseif kind == "local" then
    if self._stop_pending then
      self._stop_pending = false
      if self._nopen == 0 then
        -- the link goes: a channel opened now is joined on the next one
        self._connected = false
        self._core:stop()
      end
    end
    local p = self._pending
    self._pending = {}
    local n = 0
    for i = 1, #p do
      local t = p[i].target
      local ev = p[i].ev
      if p[i].channel_only then
        if t._open then n = n + self:_run_channel(t, ev) end
      elseif ev.action == "error" then
        n = n + self:_dispatch_error(t, ev)
      else
        n = n + self:_dispatch(t, ev)
      end
    end
    return n
  elseif kind == "retry" then
    -- the next attempt is scheduled: say when, and why we are down
    local last = self._last_close or {}
    local ev = { action = "reconnecting", options = {},
                 payload = { delay = a / 1000, attempt = b, code = last.code, reason = last.reason } }
    return self:_run_client(ev)
  elseif kind == "stopped" then
    self._connected = false
    return self:_report_stranded()
  end
  return 0
end

local MAX_EVENTS_PER_POLL = 10000

-- An optional number of seconds: nil or >= 0.  NaN is refused: the C core
-- turns a timeout into milliseconds, and run(NaN) would never end.
local function check_seconds(v, fname)
  if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0) then
    error("bad argument #1 to '" .. fname .. "' (non-negative number expected, got " ..
      (type(v) == "number" and tostring(v) or type(v)) .. ")", 3)
  end
end

--- Runs the callbacks that are ready; waits up to timeout seconds (default
--- 0) for the first.  Returns how many callbacks ran.
---@param timeout? number
---@return integer
function Client:poll(timeout)
  check_seconds(timeout, "poll")
  if self._closed then return 0 end
  local h = self._core
  local n = workflow.run_due()
  if timeout and timeout > 0 and n == 0 then
    local due = workflow.next_due()
    h:wait(due and due < timeout and due or timeout)
  end
  for _ = 1, MAX_EVENTS_PER_POLL do
    local kind, a, b, s1 = h:next()
    if not kind then break end
    n = n + self:_handle(kind, a, b, s1)
    if self._closed then return n end
  end
  return n + workflow.run_due()
end

-- True while something could still produce an event for this client: an
-- open channel, a workflow it parked, work it posted for itself, or a
-- connection still winding down.
function Client:_busy()
  if self._nopen > 0 or #self._pending > 0 or self._stop_pending then return true end
  if workflow.parked(self._report) + workflow.parked(self._report_errors) > 0 then return true end
  local st = self._core:state()
  return st ~= "idle" and st ~= "down"
end

--- Polls until the client is closed, seconds have passed, or (libuv's
--- rule) nothing is left that could produce an event: no open channel, no
--- parked workflow.  Without seconds it runs as long as that holds.
--- Returns how many callbacks ran.
---@param seconds? number
---@return integer
function Client:run(seconds)
  check_seconds(seconds, "run")
  local deadline = seconds and now() + seconds
  local n = 0
  while not self._closed do
    if not self:_busy() then
      n = n + self:poll(0) -- what is left to read
      if self._closed or not self:_busy() then break end
    end
    local left = deadline and deadline - now() or 1
    if left <= 0 then break end
    n = n + self:poll(left < 1 and left or 1)
  end
  return n
end

--- True once close() was called.
---@return boolean
function Client:is_closed()
  return self._closed
end

--- Closes every channel and the socket (code 1000; no "disconnected"
--- event).  Returns true and how many offline actions were never sent.
---@return true
---@return integer discarded
function Client:close()
  if self._closed then return true, 0 end
  local h = self._core
  local discarded = 0
  if h:state() ~= "open" then discarded = #h:take() end
  for _, ch in pairs(self._open) do
    ch._open = false
    ch._presence:clear()
    workflow.cancel(ch, "closed")
  end
  self._open, self._nopen = {}, 0
  -- its sleeping workflows end with it (other clients' go on)
  workflow.drop(self._report)
  workflow.drop(self._report_errors)
  self._closed = true
  clients[self] = nil
  h:close()
  return true, discarded
end

Client.__close = Client.close
Client.__gc = Client.close

--- Polls every client of this Lua state; waits up to timeout for the first
--- event of any of them.  Returns how many callbacks ran.
---@param timeout? number
---@return integer
function M.poll(timeout)
  check_seconds(timeout, "poll")
  local n = workflow.run_due()
  if timeout and timeout > 0 and n == 0 then
    local due = workflow.next_due()
    core.wait(due and due < timeout and due or timeout)
  end
  for c in pairs(clients) do n = n + c:poll(0) end
  return n
end

-- A method called with a dot (client.poll(1)) or on another value raises a
-- clear error, the way Lua's own methods do, instead of "attempt to index a
-- nil value".  The check tail-calls the method, so the error levels the
-- methods use still point at the app's line.
local function guard_self(class, what)
  local names = {}
  for name, fn in pairs(class) do
    if type(fn) == "function" and not name:find("^_") then names[#names + 1] = name end
  end
  for i = 1, #names do
    local name = names[i]
    local fn = class[name]
    class[name] = function(self, ...)
      if getmetatable(self) ~= class then
        error("calling '" .. name .. "' on bad self (" .. what .. " expected, got " .. type(self) .. ")", 2)
      end
      return fn(self, ...)
    end
  end
end
guard_self(Client, "xano.realtime client")
guard_self(Channel, "xano.realtime channel")

return M
