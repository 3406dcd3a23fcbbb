--- History without duplicates.  Xano's history carries no message ids, and
--- a rejoin asks for the whole history again, so each channel remembers a
--- bounded record of the messages it delivered (by canonical text) and,
--- when the history that follows a rejoin arrives, delivers only what comes
--- after the last message it had already delivered.  The record covers one
--- opening of the channel: open() starts it afresh (clear), so that a
--- reopened channel's history is cut only by what that opening delivered.
--- A private message (options.socketId names its one recipient) is not
--- recorded: the channel's history never holds one.
local json = require "xano.realtime.json"

local M = {}
M.__index = M

M.LIMIT = 1000 -- the largest history a Xano channel keeps

local function key_of(frame)
  if type(frame) ~= "table" then return json.canonical(frame) end
  local client = type(frame.client) == "table" and frame.client.socketId or nil
  return json.canonical({ client, frame.options, frame.payload })
end

local function private(frame)
  local o = type(frame) == "table" and frame.options
  return type(o) == "table" and type(o.socketId) == "string"
end

function M.new(limit)
  return setmetatable({ keys = {}, first = 1, last = 0, limit = limit or M.LIMIT }, M)
end

--- Records a delivered message.
function M:seen(frame)
  if private(frame) then return end
  self.last = self.last + 1
  self.keys[self.last] = key_of(frame)
  if self.last - self.first + 1 > self.limit then
    self.keys[self.first] = nil
    self.first = self.first + 1
  end
end

--- Forgets every delivered message (the channel opens again).
function M:clear()
  self.keys = {}
  self.first = 1
  self.last = 0
end

function M:count()
  return self.last - self.first + 1
end

-- Does history item j, and the few before it, line up with the end of
-- what was delivered?
local function lines_up(self, hkeys, j)
  local depth = 0
  while depth < 3 and j - depth >= 1 and self.last - depth >= self.first do
    if hkeys[j - depth] ~= self.keys[self.last - depth] then return false end
    depth = depth + 1
  end
  return true
end

--- Splits a history (oldest first) into what is new to this channel.
--- Returns the new items, how many were dropped as already delivered, and
--- whether messages may have been missed (nothing lined up).
function M:fresh(items)
  if type(items) ~= "table" or #items == 0 or self:count() == 0 then
    return items or {}, 0, false
  end
  local hkeys = {}
  for i = 1, #items do hkeys[i] = key_of(items[i]) end
  for j = #items, 1, -1 do
    if hkeys[j] == self.keys[self.last] and lines_up(self, hkeys, j) then
      local out = {}
      for i = j + 1, #items do out[#out + 1] = items[i] end
      return out, j, false
    end
  end
  return items, 0, true
end

return M
