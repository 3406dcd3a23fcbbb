-- xano.realtime.server.push - what the server sends of its own accord:
-- Xano's "Realtime Event" (srv:event, POST /event) and the console's
-- message as the server.  The server's methods.

local rawjson = require "xano.realtime.server.rawjson"
local config = require "xano.realtime.server.config"
local frames = require "xano.realtime.server.frames"
local channels = require "xano.realtime.server.channels"

local json = rawjson.json
local null = json.null
local is_integer = config.is_integer
local channel_options = frames.channel_options
local message_frame, event_frame = frames.message_frame, frames.event_frame
local member_ids = channels.member_ids

local Server = {}

-- an id as text, so 2, 2.0 (a config may hold either) and "2" agree
local function id_text(v)
  if type(v) == "number" and v - v == 0 then return json.number(v) end
  return tostring(v)
end

function Server:deliver_event(channel, raw_data, dbo_id, row_id)
  if not self:permissions_for(channel) then return nil, "unknown channel" end
  local ch = self.chans[channel]
  if not ch then return 0 end
  local want_row = row_id ~= 0 and id_text(row_id) or nil
  local ids = member_ids(ch, function(m)
    local id = m.sock.identity
    if dbo_id ~= 0 and not (id and id.dbo_id == dbo_id) then return false end
    if want_row and not (id and id_text(id.row_id) == want_row) then return false end
    return true
  end)
  local n = self:send_to(ids, event_frame(channel, raw_data, dbo_id, row_id))
  if self.tap then self.tap("event", channel, raw_data, n) end
  return n
end

local SERVER_ENTRY = '{"socketId":"server","extras":{},"permissions":{"dbo_id":0,"row_id":0}}'

-- A message to every member of a channel from the server itself (the
-- console's "send as the server"; its client is socketId "server"), kept
-- in the channel's history.  Returns the number of sockets reached.
function Server:server_message(channel, raw_payload)
  local ch = self.chans[channel]
  local n = 0
  if ch then
    local frame = message_frame(channel_options(channel), SERVER_ENTRY, raw_payload)
    n = self:send_to(member_ids(ch), frame)
    self:store_history(ch, frame, false)
    self.n_messages = self.n_messages + 1
  end
  if self.tap then self.tap("server_message", channel, raw_payload, n) end
  return n
end

-- Xano's "Realtime Event" function: pushes data to a channel's members
-- (only those of auth table dbo_id, and of row row_id, when given).
-- Returns the number of sockets reached, or nil, "unknown channel".
function Server:event(channel, data, opts)
  self:check_open("event")
  if type(channel) ~= "string" or channel == "" then
    error("xano.realtime.server: event: channel must be a non-empty string", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("xano.realtime.server: event: options must be a table {dbo_id=, row_id=}", 2)
  end
  opts = opts or {}
  local dbo_id, row_id = opts.dbo_id or 0, opts.row_id or 0
  if not is_integer(dbo_id) then
    error("xano.realtime.server: event: dbo_id must be an integer", 2)
  end
  if type(row_id) ~= "number" and type(row_id) ~= "string" then
    error("xano.realtime.server: event: row_id must be a number or a string", 2)
  end
  local ok, raw = pcall(json.encode, data == nil and null or data)
  if not ok then
    error("xano.realtime.server: event: data cannot be encoded as JSON: " .. tostring(raw), 2)
  end
  return self:deliver_event(channel, raw, dbo_id, row_id)
end

return Server
