-- xano.realtime.server.frames - the text of every frame the server sends,
-- built from raw JSON pieces (the sender's values as written).

local json = require("xano.realtime.server.rawjson").json

local M = {}

-- JSON text of a string, with "/" left as is (as JSON.stringify writes it;
-- cjson writes "\/", which means the same)
local function encode_string(s)
  return (json.encode(s):gsub("\\/", "/"))
end

local function channel_options(channel)
  return '{"channel":' .. encode_string(channel) .. '}'
end

local function error_frame(channel, message)
  return '{"action":"error","options":' ..
    (channel and channel_options(channel) or "{}") ..
    ',"payload":{"message":' .. encode_string(message) .. '}}'
end

local function message_frame(raw_options, client_json, raw_payload)
  return '{"action":"message","options":' .. raw_options .. ',"client":' ..
    client_json .. ',"payload":' .. raw_payload .. '}'
end

local function history_frame(channel, raw_frames)
  return '{"action":"history","options":' .. channel_options(channel) ..
    ',"payload":{"history":[' .. table.concat(raw_frames, ",") .. ']}}'
end

local function presence_full_frame(channel, entries)
  return '{"action":"presence_full","options":' .. channel_options(channel) ..
    ',"payload":{"presence":[' .. table.concat(entries, ",") .. ']}}'
end

local function presence_update_frame(channel, what, entry)
  return '{"action":"presence_update","options":' .. channel_options(channel) ..
    ',"payload":{"action":"' .. what .. '","presence":' .. entry .. '}}'
end

local function event_frame(channel, raw_data, dbo_id, row_id)
  return '{"action":"event","options":' .. channel_options(channel) ..
    ',"payload":{"data":' .. raw_data .. ',"dbo_id":' .. json.encode(dbo_id) ..
    ',"row_id":' .. json.encode(row_id) .. '}}'
end

local function client_entry(socket_id, identity)
  local extras = "{}"
  if identity and identity.extras and next(identity.extras) ~= nil then
    extras = json.encode(identity.extras)
  end
  return '{"socketId":' .. encode_string(socket_id) .. ',"extras":' .. extras ..
    ',"permissions":{"dbo_id":' .. json.encode(identity and identity.dbo_id or 0) ..
    ',"row_id":' .. json.encode(identity and identity.row_id or 0) .. '}}'
end

M.encode_string = encode_string
M.channel_options = channel_options
M.error_frame = error_frame
M.message_frame = message_frame
M.history_frame = history_frame
M.presence_full_frame = presence_full_frame
M.presence_update_frame = presence_update_frame
M.event_frame = event_frame
M.client_entry = client_entry

return M
