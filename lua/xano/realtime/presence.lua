--- Presence: who is in a channel, as the server reports it.  presence_full
--- replaces the list; presence_update applies one join or leave, keyed by
--- socketId so that a repeated join never duplicates an entry.  The list is
--- marked stale while the connection is down and replaced on the rejoin.
local M = {}
M.__index = M

function M.new()
  return setmetatable({ list = {}, stale = false }, M)
end

local function index_of(list, socket_id)
  for i = 1, #list do
    if list[i].socketId == socket_id then return i end
  end
  return nil
end

--- Replaces the whole list (presence_full).
function M:replace(entries)
  local list = {}
  if type(entries) == "table" then
    for i = 1, #entries do
      local e = entries[i]
      if type(e) == "table" and e.socketId ~= nil then
        local at = index_of(list, e.socketId)
        if at then list[at] = e else list[#list + 1] = e end
      end
    end
  end
  self.list = list
  self.stale = false
end

--- Applies a presence_update payload; returns false when it makes no sense.
function M:apply(payload)
  if type(payload) ~= "table" or type(payload.presence) ~= "table" then
    return false
  end
  local e, list = payload.presence, self.list
  if e.socketId == nil then return false end
  local at = index_of(list, e.socketId)
  if payload.action == "join" then
    if at then list[at] = e else list[#list + 1] = e end
    return true
  elseif payload.action == "leave" then
    if at then table.remove(list, at) end
    return true
  end
  return false
end

--- A copy of the list (entries are shared, the array is not).
function M:copy()
  local out = {}
  for i = 1, #self.list do out[i] = self.list[i] end
  return out
end

function M:clear()
  self.list = {}
  self.stale = false
end

return M
