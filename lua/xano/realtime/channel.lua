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

--- Used by Client:channel(); not part of the public API.
function Channel._new(client, name, opts, tag)
  local self = setmetatable({
    name = name,
    _client = client,
    _tag = tag,
    _presence_on = opts.presence and true or false,
    _history_on = opts.history and true or false,
    _queue = opts.queue_offline ~= false, -- on unless asked off, as in WeWeb
    _joining = false,
    _open = false,
    _joined_before = false,
    _rejoin_history = false,
    _handlers = Handlers.new(Handlers.CHANNEL_ACTIONS),
    _presence = Presence.new(),
    _history = opts.history and History.new() or nil,
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
  -- a new opening: a rejoin's history is cut by what this one delivers
  if self._history then self._history:clear() end
  client:_channel_opened(self, json.join(self.name, self._history_on, self._presence_on))
  return true
end

--- Close channel: leaves.  Fires no "disconnected" event.  Actions still
--- queued for this channel while offline are reported as an "error" event
--- on the client (they can no longer be sent).
---@return true
function Channel:close()
  if not self._open then return true end
  self._open = false
  self._presence:clear()
  self._client:_channel_closed(self, json.leave(self.name))
  workflow.cancel(self, "closed")
  return true
end

local function send(self, frame, what)
  return self._client:_send(self, frame, what)
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

return Channel
