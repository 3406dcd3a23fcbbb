--- A channel of a client: WeWeb's Open channel / Close channel / Send
--- message / Request history / Get presence, and the channel's triggers.
--- Channels share their client's one socket; the C core sends each
--- channel's join, actions and leave in the order they were asked for, and
--- replays the joins of the open channels first after every reconnect.
local json = require "xano.realtime.json"
local Presence = require "xano.realtime.presence"
local History = require "xano.realtime.history"
local Handlers = require "xano.realtime.handlers"
local workflow = require "xano.realtime.workflow"
local CHANNEL_DEFAULTS = require("xano.realtime.options").CHANNEL
local error = require("xano.realtime.compat").error -- error levels as in Lua 5.2+

---@class xano.realtime.ChannelOptions
---@field presence? boolean       Listen to Presence: keep who is in the channel
---@field history? boolean        Get History on Join: the channel's history arrives after each join
---@field queue_offline? boolean  Queue Offline Actions: keep actions taken while disconnected and send them after the rejoin

---@class xano.realtime.Event
---@field action string   "message" | "event" | "history" | "presence_full" | "presence_update" | "error" | "connection_status" | ...
---@field channel? string the channel it belongs to
---@field options? table  the options the sender used
---@field payload any     the data
---@field client? table   the sender: {socketId, extras, permissions={dbo_id,row_id}}
---@field rejoin? boolean  on a "history" after a reconnect: payload.history holds only what is new
---                        (payload.duplicates: how many were dropped; payload.gap_possible)

---@class xano.realtime.PresenceEntry
---@field socketId string  the client's socket id (the target of send_to)
---@field extras table     what its token says about it ({} for anonymous clients)
---@field permissions {dbo_id: integer, row_id: integer|string}  its auth table and row (0, 0: anonymous)

---@class xano.realtime.Channel
---@field name string
local Channel = {}
Channel.__index = Channel

local function check_open(self, what)
  if not self._open then
    error("channel '" .. self.name .. "' is not open: call open() before " .. what, 3)
  end
  self._client:_check()
end

-- A connection_status event: of the channel named channel, or of the
-- client when channel is nil.
local function status_event(status, extra, channel)
  local payload = { status = status }
  if extra then for k, v in pairs(extra) do payload[k] = v end end
  return { action = "connection_status", channel = channel, options = {}, payload = payload }
end
Channel._status_event = status_event

--- The arguments of client:channel(name, opts), checked (errors point at
--- its caller); returns opts, {} when nil.
function Channel._check_options(name, opts)
  if type(name) ~= "string" or name == "" then
    error("bad argument #1 to 'channel' (channel name expected, got " ..
      (name == "" and "empty string" or type(name)) .. ")", 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'channel' (options table expected, got " .. type(opts) .. ")", 3)
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    if CHANNEL_DEFAULTS[k] == nil then
      error("bad argument #2 to 'channel' (unknown option '" .. tostring(k) .. "')", 3)
    end
    if type(v) ~= "boolean" then
      error("bad argument #2 to 'channel' (option '" .. k .. "' must be a boolean)", 3)
    end
  end
  return opts
end

-- Asked again for this channel: different options are an error.
function Channel:_check_same(opts)
  local have = self:options()
  for k, v in pairs(opts) do
    if have[k] ~= v then
      error("channel '" .. self.name .. "' already exists with " .. k .. " = " .. tostring(have[k]), 3)
    end
  end
end

-- An option of opts, or its default.
local function option(opts, k)
  local v = opts[k]
  if v == nil then return CHANNEL_DEFAULTS[k] end
  return v
end

--- Used by Client:channel(); not part of the public API.
function Channel._new(client, name, opts, tag)
  local history = option(opts, "history")
  local self = setmetatable({
    name = name,
    _client = client,
    _tag = tag,
    _presence_on = option(opts, "presence"),
    _history_on = history,
    _queue = option(opts, "queue_offline"),
    _joining = false,
    _open = false,
    _joined_before = false,
    _rejoin_history = false,
    _handlers = Handlers.new(Handlers.CHANNEL_ACTIONS),
    _presence = Presence.new(),
    _history = history and History.new() or nil,
  }, Channel)
  return self
end

function Channel:__tostring()
  return ("xano.realtime.channel %q (%s)"):format(self.name, self._open and "open" or "closed")
end

--- The options the channel was created with.
---@return xano.realtime.ChannelOptions
function Channel:options()
  return { presence = self._presence_on, history = self._history_on, queue_offline = self._queue }
end

--- Registers a handler for one action, or for every action when the first
--- argument is a function.  filter.event ("join" | "leave") narrows
--- presence_update.  Returns an id for off().
---@param action string|fun(ev: xano.realtime.Event)
---@param fn? fun(ev: xano.realtime.Event)
---@param filter? {event?: "join"|"leave"}
---@return integer id
function Channel:on(action, fn, filter)
  -- not a tail call: the error level counts this frame
  local id = self._handlers:add(action, fn, filter, 2)
  return id
end

--- Removes a handler registered with on(); true when it was there.
---@param id integer
---@return boolean
function Channel:off(id)
  -- not a tail call: the error level counts this frame
  local removed = self._handlers:remove(id, 2)
  return removed
end

--- True between open() and close().
---@return boolean
function Channel:is_open()
  return self._open
end

--- Open channel: joins, and connects the client's socket on first use.
--- A channel opened while the client is connected gets a
--- connection_status "connected" event of its own.
---@return true
function Channel:open()
  local client = self._client
  client:_check()
  if self._open then return true end
  self._open = true
  self._rejoin_history = false
  local st, live = client:_channel_opened(self, self._tag,
    json.join(self.name, self._history_on, self._presence_on))
  -- until the first connect succeeds or fails, the channel is connecting,
  -- not offline: its actions wait for the join whatever queue_offline says
  self._joining = st ~= "open" and st ~= "waiting" and st ~= "down"
  if live then
    -- joined now, on the live link: it still hears that it is connected
    self._joined_before = true
    client:_local(self, status_event("connected", nil, self.name), true)
  end
  return true
end

--- Close channel: leaves.  Fires no "disconnected" event.  Actions still
--- queued for this channel while offline are reported as an "error" event
--- on the client (they can no longer be sent).
---@return true
function Channel:close()
  if not self._open then return true end
  self._open = false
  self._joined_before = false
  self._joining = false
  self._presence:clear()
  self._client:_channel_closed(self, self._tag, json.leave(self.name))
  workflow.cancel(self, "closed")
  return true
end

local function send(self, frame, what)
  return self._client:_send(self, frame, self._tag, self._queue or self._joining)
end

local function encode_check(argn, fname, fn, ...)
  local ok, frame = pcall(fn, ...)
  if not ok then
    error("bad argument #" .. argn .. " to '" .. fname .. "' (payload cannot be encoded as JSON: " ..
      tostring(frame):gsub("^[^\n]-:%d+: ", "") .. ")", 3)
  end
  return frame
end

--- Send message to everyone in the channel, or only to authenticated
--- clients with opts.authenticated.  Returns true, or nil and a reason
--- ("not connected" when offline without queue_offline).
---@param payload any JSON-encodable
---@param opts? {authenticated?: boolean}
---@return true|nil ok
---@return string? err
function Channel:send(payload, opts)
  check_open(self, "send()")
  local auth = false
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("bad argument #2 to 'send' (table expected, got " .. type(opts) .. ")", 2)
    end
    if opts.authenticated ~= nil and type(opts.authenticated) ~= "boolean" then
      error("bad argument #2 to 'send' (authenticated must be a boolean)", 2)
    end
    if opts.socketId ~= nil then
      error("bad argument #2 to 'send' (use send_to(socket_id, payload) for a private message)", 2)
    end
    for k in pairs(opts) do
      if k ~= "authenticated" then
        error("bad argument #2 to 'send' (unknown option '" .. tostring(k) .. "'; only 'authenticated' is known)", 2)
      end
    end
    auth = opts.authenticated
  end
  return send(self, encode_check(1, "send", json.message, self.name, payload, auth), "message")
end

--- Send a private message to one client of the channel.
---@param socket_id string
---@param payload any
---@return true|nil ok
---@return string? err
function Channel:send_to(socket_id, payload)
  if type(socket_id) ~= "string" or socket_id == "" then
    error("bad argument #1 to 'send_to' (socket id string expected, got " ..
      (socket_id == "" and "empty string" or type(socket_id)) .. ")", 2)
  end
  check_open(self, "send_to()")
  return send(self, encode_check(2, "send_to", json.private, self.name, socket_id, payload), "private message")
end

--- Request history: the reply arrives as a "history" event.
---@return true|nil ok
---@return string? err
function Channel:history()
  check_open(self, "history()")
  return send(self, json.history(self.name), "history request")
end

--- Get presence: a copy of who is in the channel, and whether the list is
--- stale (the connection is down; it is replaced on the rejoin).
---@return xano.realtime.PresenceEntry[] list
---@return boolean stale
function Channel:presence()
  if not self._presence_on then
    error("channel '" .. self.name .. "' was not opened with presence = true", 2)
  end
  return self._presence:copy(), self._presence.stale
end

--- In a workflow: waits for the channel's next event with that action (any
--- action when nil).  Returns the event, or nil and "timeout" / "closed".
---@param action? string
---@param timeout? number seconds
---@return xano.realtime.Event|nil
---@return string? err
function Channel:wait(action, timeout)
  if action ~= nil and type(action) ~= "string" then
    error("bad argument #1 to 'wait' (action name expected, got " .. type(action) .. ")", 2)
  end
  if action ~= nil then self._handlers:check_action(action, "wait", 1, 2) end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    error("bad argument #2 to 'wait' (non-negative number expected, got " ..
      (type(timeout) == "number" and tostring(timeout) or type(timeout)) .. ")", 2)
  end
  if not self._open then return nil, "closed" end
  -- not a tail call: the error level counts this frame
  local ev, err = workflow.wait(self, action, timeout, 2)
  return ev, err
end

-- ------------------------------------------------------------ internals
-- What the client calls: it routes the link's news and the channel's
-- frames here; the channel's state changes only here.

local function history_items(ev)
  local p = ev.payload
  return type(p) == "table" and type(p.history) == "table" and p.history or nil
end

-- Runs the channel's handlers and the workflows waiting on it for ev;
-- their errors go to owner.  Returns how many ran.
function Channel:_run(ev, owner)
  return self._handlers:dispatch(ev, owner) + workflow.deliver(self, ev)
end

-- A frame from the server, decoded and checked, for this open channel:
-- keeps presence and history, then hands it to the client to dispatch.
function Channel:_on_frame(ev)
  local client = self._client
  local action = ev.action
  if action == "message" then
    if self._history then self._history:seen(ev) end
  elseif action == "presence_full" then
    if self._presence_on then self._presence:replace(ev.payload.presence) end
  elseif action == "presence_update" then
    if self._presence_on then self._presence:apply(ev.payload) end
  elseif action == "history" then
    local items = history_items(ev)
    if items and self._history then
      if self._rejoin_history then
        self._rejoin_history = false
        local fresh, skipped, gap = self._history:fresh(items)
        ev.payload.history = fresh
        ev.payload.duplicates = skipped
        ev.payload.gap_possible = gap
        ev.rejoin = true
        client:_count("duplicates", skipped)
        items = fresh
      end
      for i = 1, #items do self._history:seen(items[i]) end
    end
  elseif action == "error" then
    return client:_dispatch_error(self, ev)
  end
  return client:_dispatch(self, ev)
end

-- The link is up and the core replayed the channel's join: after a
-- reconnect, the history that follows the join holds what was seen.
function Channel:_connected()
  self._joining = false
  if self._joined_before and self._history_on then self._rejoin_history = true end
  self._joined_before = true
end

-- The link went down; stale: the app is told, so presence is stale
-- until the rejoin replaces it.
function Channel:_link_lost(stale)
  self._joining = false
  if stale then self._presence.stale = true end
end

-- The client closed: the channel is closed with it, its waiters told.
function Channel:_client_closed()
  self._open = false
  self._presence:clear()
  workflow.cancel(self, "closed")
end

return Channel
