--- JSON for the client: a private lua-cjson instance (so the application's
--- cjson settings are left alone), the frames the client sends, built the
--- way @xano/js-sdk builds them, and a canonical encoding used to recognise
--- a message seen before.
local cjson = require "cjson"

local json = cjson.new and cjson.new() or cjson
json.encode_sparse_array(true)

local encode, decode = json.encode, json.decode
local concat, sort = table.concat, table.sort
local type, pairs, tostring = type, pairs, tostring

local M = { null = cjson.null, encode = encode }

--- Decodes a frame; returns the value, or nil and a message.
function M.decode(text)
  local ok, v = pcall(decode, text)
  if ok then return v end
  return nil, tostring(v)
end

-- {"action":A,"options":{...,"channel":C},"payload":P}: the caller's
-- options first and the channel last, like the SDK.
local function frame(action, channel, payload, extra)
  local p
  if payload == nil then p = "null" else p = encode(payload) end
  return '{"action":"' .. action .. '","options":{' .. (extra or "") ..
    '"channel":' .. encode(channel) .. '},"payload":' .. p .. '}'
end

function M.join(channel, history, presence)
  return '{"action":"join","options":{"channel":' .. encode(channel) ..
    '},"payload":{"history":' .. tostring(history and true or false) ..
    ',"presence":' .. tostring(presence and true or false) .. '}}'
end

function M.leave(channel)
  return frame("leave", channel, nil)
end

function M.message(channel, payload, authenticated)
  return frame("message", channel, payload, authenticated and '"authenticated":true,' or nil)
end

function M.private(channel, socket_id, payload)
  return '{"action":"message","options":{"channel":' .. encode(channel) ..
    ',"socketId":' .. encode(socket_id) .. '},"payload":' ..
    (payload == nil and "null" or encode(payload)) .. '}'
end

function M.history(channel)
  return frame("history", channel, nil)
end

-- Canonical text of a value: object keys sorted, so that two decodings of
-- the same message compare equal.
local function canon(v, out)
  local t = type(v)
  if t ~= "table" then
    out[#out + 1] = encode(v)
    return
  end
  local n = #v
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  if n > 0 and #keys == n then
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      canon(v[i], out)
    end
    out[#out + 1] = "]"
    return
  end
  for i = 1, #keys do keys[i] = tostring(keys[i]) end
  sort(keys)
  out[#out + 1] = "{"
  for i = 1, #keys do
    local k = keys[i]
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = encode(k)
    out[#out + 1] = ":"
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    canon(val, out)
  end
  out[#out + 1] = "}"
end

function M.canonical(v)
  local out = {}
  canon(v, out)
  return concat(out)
end

return M
