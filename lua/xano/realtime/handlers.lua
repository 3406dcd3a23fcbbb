--- Event handlers of a client or a channel: registration by action (or for
--- every action), removal by id, WeWeb's presence filter, and dispatch, in
--- registration order, each handler as a workflow.
local workflow = require "xano.realtime.workflow"

local type, pairs, tostring, getmetatable = type, pairs, tostring, getmetatable
local error = require("xano.realtime.compat").error -- error levels as in Lua 5.2+

local M = {}
M.__index = M

local next_id = 0

-- The actions a channel's events can have, and a client's (its channels'
-- and its own).  A name outside them is a typo that would never fire.
M.CHANNEL_ACTIONS = { "message", "event", "history", "presence_full", "presence_update",
                      "error", "connection_status" }
M.CLIENT_ACTIONS = { "message", "event", "history", "presence_full", "presence_update",
                     "error", "connection_status", "callback_error", "reconnecting" }

local function set_of(list)
  local set = {}
  for i = 1, #list do set[list[i]] = true end
  return set
end

--- A handler list for events whose actions are listed in actions.
function M.new(actions)
  return setmetatable({ list = {}, known = set_of(actions), names = actions }, M)
end

--- Raises (at level) unless action is one of the known actions.
function M:check_action(action, fname, argn, level)
  if not self.known[action] then
    error("bad argument #" .. argn .. " to '" .. fname .. "' (unknown action '" .. tostring(action) ..
      "'; known: " .. table.concat(self.names, ", ") .. ")", level + 1)
  end
end

--- on(action, fn [, filter]) or on(fn [, filter]): returns an id for off().
--- filter.event = "join" | "leave" keeps the presence_update events of that
--- kind (WeWeb's "Event type" condition); it applies to presence_update
--- handlers and to all-action handlers, which it narrows to presence_update.
function M:add(action, fn, filter, level)
  level = (level or 1) + 1
  local fpos = "#3" -- where the filter is: #2 after a function alone
  if type(action) == "function" or (getmetatable(action) and getmetatable(action).__call) then
    if fn ~= nil and type(fn) ~= "table" then
      error("bad argument #2 to 'on' (filter table or nothing expected after a function, got " ..
        type(fn) .. ")", level)
    end
    action, fn, filter = nil, action, fn
    fpos = "#2"
  end
  if action ~= nil and type(action) ~= "string" then
    error("bad argument #1 to 'on' (action name or function expected, got " .. type(action) .. ")", level)
  end
  if action == "" then
    error("bad argument #1 to 'on' (action name expected, got empty string)", level)
  end
  if action ~= nil then self:check_action(action, "on", 1, level) end
  if type(fn) ~= "function" and not (getmetatable(fn) and getmetatable(fn).__call) then
    error("bad argument #2 to 'on' (function expected, got " .. type(fn) .. ")", level)
  end
  local event
  if filter ~= nil then
    if type(filter) ~= "table" then
      error("bad argument " .. fpos .. " to 'on' (filter table expected, got " .. type(filter) .. ")", level)
    end
    for k in pairs(filter) do
      if k ~= "event" then
        error("bad argument " .. fpos .. " to 'on' (unknown filter '" .. tostring(k) .. "'; only 'event' is known)", level)
      end
    end
    event = filter.event
    if event ~= nil and event ~= "join" and event ~= "leave" then
      error("bad argument " .. fpos .. " to 'on' (filter.event must be \"join\" or \"leave\")", level)
    end
    if event ~= nil and action ~= nil and action ~= "presence_update" then
      error("bad argument " .. fpos .. " to 'on' (filter.event applies to presence_update, not " .. action .. ")", level)
    end
  end
  next_id = next_id + 1
  self.list[#self.list + 1] = { id = next_id, action = action, fn = fn, event = event }
  return next_id
end

--- Removes a handler; true when it was there.
--- Removes a handler; true when it was there.  level is the caller's, as
--- for add().
function M:remove(id, level)
  if type(id) ~= "number" then
    error("bad argument #1 to 'off' (handler id expected, got " .. type(id) .. ")", (level or 1) + 1)
  end
  local list = self.list
  for i = 1, #list do
    if list[i].id == id then
      table.remove(list, i)
      return true
    end
  end
  return false
end

local function matches(h, ev)
  if h.action ~= nil and h.action ~= ev.action then return false end
  if h.event then
    local p = ev.payload
    return ev.action == "presence_update" and type(p) == "table" and p.action == h.event
  end
  return true
end

--- True when some handler would take ev.
function M:wants(ev)
  local list = self.list
  for i = 1, #list do
    if matches(list[i], ev) then return true end
  end
  return false
end

--- Runs every matching handler; returns how many ran.
function M:dispatch(ev, report)
  local list = self.list
  local first, run
  -- a handler may add or remove handlers: run over a snapshot (a table
  -- only when more than one matches: this runs for every frame)
  for i = 1, #list do
    local h = list[i]
    if matches(h, ev) then
      if not first then
        first = h.fn
      else
        run = run or { first }
        run[#run + 1] = h.fn
      end
    end
  end
  if not run then
    if not first then return 0 end
    workflow.invoke(first, ev, report)
    return 1
  end
  for i = 1, #run do workflow.invoke(run[i], ev, report) end
  return #run
end

return M
