-- xano.realtime.server.channels - a channel's state on the server: the
-- permissions of its name (the config's rows), its members, its history,
-- and sending to a list of its sockets.  Plain functions of a channel, and
-- M.methods: the server's methods over them.

local frames = require "xano.realtime.server.frames"
local history_frame = frames.history_frame

local M = {}
local Server = {}
M.methods = Server

local function row_matches(row, name)
  if row.pattern == name then return true end
  if row.nested then
    local prefix = row.pattern:sub(1, -2)
    return #name > #prefix and name:sub(1, #prefix) == prefix
  end
  return false
end

-- The permissions of a channel name: an exact row wins, then the nested
-- row with the longest prefix; nil when rows are configured and none
-- matches.
function Server:permissions_for(name)
  if not self.rows then return self.open_perm end
  local best, best_len
  for i = 1, #self.rows do
    local row = self.rows[i]
    if row.pattern == name and not row.nested then return row end
    if row_matches(row, name) and (not best or #row.pattern > best_len) then
      best, best_len = row, #row.pattern
    end
  end
  return best
end

-- the state of a channel (members, history), made on its first join
function Server:channel(name)
  local ch = self.chans[name]
  if not ch then
    ch = { name = name, perm = self:permissions_for(name), members = {},
      member_of = {}, history = {} }
    self.chans[name] = ch
  end
  return ch
end

function Server:forget_if_idle(ch)
  if #ch.members == 0 and #ch.history == 0 then
    self.chans[ch.name] = nil
  end
end

local function remove_member(ch, sock)
  local members = ch.members
  for i = 1, #members do
    if members[i].sock == sock then
      table.remove(members, i)
      break
    end
  end
  ch.member_of[sock] = nil
end

-- ids of the members for which keep(membership) is true, except `but`
local function member_ids(ch, keep, but)
  local ids = {}
  local members = ch.members
  for i = 1, #members do
    local m = members[i]
    if m.sock ~= but and (not keep or keep(m)) then
      ids[#ids + 1] = m.sock.id
    end
  end
  return ids
end

local function subscribed_to_presence(m) return m.presence end
local function is_authenticated(m) return m.sock.authenticated end

function Server:send_to(ids, text)
  if #ids == 0 then return 0 end
  return self.h:send(ids, text)
end

function Server:send_one(sock, text)
  return self:send_to({ sock.id }, text)
end

-- ch.history keeps the last perm.message_history messages from
-- history_start(ch) on: it is trimmed once it holds twice the limit, not
-- at every message (table.remove(list, 1) moved the whole list each time).
local function history_start(ch)
  local n, limit = #ch.history, ch.perm.message_history
  return limit > 0 and n > limit and n - limit + 1 or 1
end

function Server:history_for(ch, sock)
  local out = {}
  local list = ch.history
  for i = history_start(ch), #list do
    local h = list[i]
    if not h.auth_only or sock.authenticated then out[#out + 1] = h.raw end
  end
  return history_frame(ch.name, out)
end

function Server:store_history(ch, raw, auth_only)
  local limit = ch.perm.message_history
  if limit <= 0 then return end
  local list = ch.history
  local n = #list + 1
  list[n] = { raw = raw, auth_only = auth_only }
  if n >= 2 * limit then
    local from = n - limit
    for i = 1, limit do list[i] = list[from + i] end
    for i = n, limit + 1, -1 do list[i] = nil end
  end
end

M.remove_member = remove_member
M.member_ids = member_ids
M.subscribed_to_presence = subscribed_to_presence
M.is_authenticated = is_authenticated
M.history_start = history_start

return M
