--- xano.realtime.client: a client of a Xano Realtime connection.
---
--- One socket per client carries every channel.  The C core
--- (xano.realtime.core) owns the socket, its service thread, reconnects,
--- pings and the queues; the client routes what the core says to its
--- channels and its own handlers, and runs its callbacks and its
--- workflows only inside poll() / run() on the calling Lua thread.
local core = require "xano.realtime.core"
local json = require "xano.realtime.json"
local Channel = require "xano.realtime.channel"
local Handlers = require "xano.realtime.handlers"
local workflow = require "xano.realtime.workflow"
local advice = require "xano.realtime.advice"
local frames = require "xano.realtime.frames"
local decode_frame, bad_field, sample = frames.decode, frames.bad_field, frames.sample
local options = require "xano.realtime.options"
local events = require "xano.realtime.events"

local type, pairs, tostring, setmetatable = type, pairs, tostring, setmetatable
local error = require("xano.realtime.compat").error -- error levels as in Lua 5.2+
local now = core.now

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

--- Every live client of the Lua state (realtime.poll() polls them).
local clients = setmetatable({}, { __mode = "k" })

---@class xano.realtime.Client
local Client = {}
Client.__index = Client
Client._clients = clients

--- Used by realtime.new(), with the checked options: the table for
--- core.client(), the WebSocket URL, the set of codes that reconnect.
function Client._new(settings, url, codes)
  local h = core.client(settings)
  local self = setmetatable({
    _core = h,
    _url = url,
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
  -- the client's scheduler: its poll resumes these owners' workflows
  self._owners = { self._report, self._report_errors }
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
  -- not tail calls: their errors point at channel()'s caller
  opts = Channel._check_options(name, opts)
  local ch = self._channels[name]
  if ch then
    ch:_check_same(opts)
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
  return workflow.next_due(self._owners)
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
  local list, err = options.code_list(codes)
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

local status_event, error_event, decode_list = frames.status_event, frames.error_event, frames.decode_list

-- An event made on the Lua side (not read from the socket) runs at the
-- next poll; the core is told so that fd() turns readable.
function Client:_local(target, ev, channel_only)
  local p = self._pending
  p[#p + 1] = { target = target, ev = ev, channel_only = channel_only }
  if #p == 1 then self._core:post() end
end

-- The core keeps one ordered stream of frames per client: a channel's
-- join, actions and leave go out in the order they were asked for, and
-- the joins of the open channels are replayed first after a reconnect.
-- Returns the core's state before the join, and true when the channel
-- joins on a live link (it still hears that the client is connected).
function Client:_channel_opened(ch, tag, join)
  self._open[ch.name] = ch
  self._nopen = self._nopen + 1
  self._stop_pending = false
  local st = self._core:state()
  self._core:open_channel(tag, join)
  self._core:start()
  return st, st == "open" and self._connected
end

function Client:_channel_closed(ch, tag, leave)
  self._open[ch.name] = nil
  self._nopen = self._nopen - 1
  local dropped = self._core:close_channel(tag, leave)
  if #dropped > 0 then
    self:_local(nil, error_event(ch.name, ("%d queued action(s) of channel '%s' were not sent: the channel closed while offline")
      :format(#dropped, ch.name), { dropped = decode_list(dropped) }))
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

-- Sends a channel's frame (tag: the channel's in the core; queue: kept
-- while offline).
function Client:_send(ch, frame, tag, queue)
  local ok, r = self._core:send(frame, tag, queue)
  if not ok then return nil, r end
  if r then
    -- the offline queue was full: the oldest action gave way
    local old = json.decode(r) or r
    local where = type(old) == "table" and type(old.options) == "table" and old.options.channel
    self:_local(nil, error_event((self._channels[where] or ch).name,
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
  local n = ch:_run(ev, self._report)
  self._counters.callbacks = self._counters.callbacks + n
  return n
end

-- The client's own (app-level) handlers; counted.
function Client:_run_client(ev)
  local n = self._handlers:dispatch(ev, self._report)
  self._counters.callbacks = self._counters.callbacks + n
  return n
end

-- Both in one: the path of every message, so no call more than needed.
function Client:_dispatch(ch, ev)
  local counters, report = self._counters, self._report
  local n = ch and ch:_run(ev, report) or 0
  counters.callbacks = counters.callbacks + n
  local m = self._handlers:dispatch(ev, report)
  counters.callbacks = counters.callbacks + m
  return n + m
end

-- An error nobody listens to still reaches someone: stderr.
function Client:_dispatch_error(ch, ev)
  local n = self:_dispatch(ch, ev)
  if n == 0 then
    -- one write: stderr is unbuffered, and libwebsockets' log lines from
    -- the service thread must not land inside this one
    io.stderr:write("xano.realtime: " .. (ev.channel and ("channel '" .. ev.channel .. "': ") or "")
      .. tostring(ev.payload.message) .. "\n")
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
  for _, ch in pairs(self._open) do ch:_connected() end
  return self:_status_event("connected")
end

function Client:_on_closed(code, was_open, reason)
  self._connected = false
  local report = self._nopen > 0 and (was_open or not self._down_reported)
  for _, ch in pairs(self._open) do ch:_link_lost(report) end
  self._last_close = { code = code, reason = reason }
  local n = 0
  -- an attempt that failed says why in words that name the fix
  if not was_open then reason = advice.explain(code, reason, self._url) end
  local first_failure = self._nopen > 0 and not was_open and not self._down_reported
  if report then
    self._down_reported = true
    n = n + self:_status_event("disconnected", { code = code, reason = reason })
  end
  if not was_open and ((code >= 100 and code < 600) or first_failure) then
    -- the server refused the upgrade (something only the app can fix), or
    -- the first attempt failed (a wrong URL looks like that): an error too
    n = n + self:_dispatch_error(nil, error_event(nil, reason, { code = code }))
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
  local why = self._core:stats().last_close_reason
  return self:_dispatch_error(nil, error_event(nil,
    ("%d queued action(s) were not sent: their channels closed and the link that was to send them ended (%s)")
      :format(#left, why ~= "" and why or "no connection"), { dropped = decode_list(left) }))
end

-- A count of stats(), kept by the Lua layer.
function Client:_count(name, n)
  self._counters[name] = self._counters[name] + n
end

-- A frame from the server: decoded, checked, and routed to its channel
-- (or to the client's handlers when it names none).
function Client:_on_frame(text)
  local ev, name = decode_frame(text)
  if not ev then
    self._counters.malformed = self._counters.malformed + 1
    return self:_dispatch_error(nil, error_event(nil, "malformed frame from the server: " .. name,
      { frame = sample(text) }))
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
    return self:_dispatch_error(ch, error_event(name, "malformed frame from the server: " .. bad,
      { frame = sample(text) }))
  end
  if name == nil then
    -- no channel named: it concerns the connection, not one channel
    ev.channel = nil
    if ev.action == "error" then return self:_dispatch_error(nil, ev) end
    return self:_dispatch(nil, ev)
  end
  ev.channel = name
  return ch:_on_frame(ev)
end

-- An inbound frame the core refused (kind "frame_too_big", "binary_frame",
-- "invalid_utf8"), or reading paused ("reading_paused").
function Client:_on_error(kind, message)
  return self:_dispatch_error(nil, error_event(nil, message, { kind = kind }))
end

-- What the Lua side queued for itself (post()), run in order.
function Client:_on_local()
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
      if t:is_open() then n = n + self:_run_channel(t, ev) end
    elseif ev.action == "error" then
      n = n + self:_dispatch_error(t, ev)
    else
      n = n + self:_dispatch(t, ev)
    end
  end
  return n
end

-- The next attempt is scheduled: say when, and why we are down.
function Client:_on_retry(delay, attempt)
  local last = self._last_close or {}
  local ev = { action = "reconnecting", options = {},
               payload = { delay = delay, attempt = attempt, code = last.code, reason = last.reason } }
  return self:_run_client(ev)
end

function Client:_on_stopped()
  self._connected = false
  return self:_report_stranded()
end

-- The core's events, by name, each returning how many callbacks ran;
-- checked against the core's description of them (src/transport/events.def) here,
-- when the module loads.
local ON = events.bind("client", {
  frame = Client._on_frame,
  connected = Client._on_connected,
  closed = Client._on_closed,
  error = Client._on_error,
  ["local"] = Client._on_local,
  retry = Client._on_retry,
  stopped = Client._on_stopped,
})

local MAX_EVENTS_PER_POLL = options.LIMITS.events_per_poll

local check_seconds = options.check_seconds

--- Runs the callbacks that are ready and the client's own workflows that
--- are due; waits up to timeout seconds (default 0) for the first.  Another
--- client's workflows wait for that client's poll (or realtime.poll()).
--- Returns how many callbacks ran.
---@param timeout? number
---@return integer
function Client:poll(timeout)
  check_seconds(timeout, "poll")
  if self._closed then return 0 end
  local h = self._core
  local n = workflow.run_due(self._owners)
  if timeout and timeout > 0 and n == 0 then
    local due = workflow.next_due(self._owners)
    h:wait(due and due < timeout and due or timeout)
  end
  for _ = 1, MAX_EVENTS_PER_POLL do
    local kind, v1, v2, v3 = h:next()
    if not kind then break end
    n = n + ON[kind](self, v1, v2, v3)
    if self._closed then return n end
  end
  return n + workflow.run_due(self._owners)
end

-- True while something could still produce an event for this client: an
-- open channel, a workflow it parked, work it posted for itself, or a
-- connection still winding down.
function Client:_busy()
  if self._nopen > 0 or #self._pending > 0 or self._stop_pending then return true end
  if workflow.parked(self._owners) > 0 then return true end
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
  for _, ch in pairs(self._open) do ch:_client_closed() end
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
return Client
