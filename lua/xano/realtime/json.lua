--- JSON for the client and the bundled server: lua-cjson parses and
--- encodes, in private instances (so the application's cjson settings are
--- left alone), with exact numbers around it; the frames the client sends,
--- built the way @xano/js-sdk builds them; and a canonical encoding used to
--- recognise a message seen before.
---
--- Numbers.  lua-cjson 2.1 writes every number with "%.14g" (so
--- 123456789012345 became 1.2345678901234e+14) and decodes every number
--- as a float (5.0 on Lua 5.3+).  Here:
--- * encoding writes every integer with all its digits (Lua 5.3+ integers
---   to 2^63-1; on Lua 5.1 and LuaJIT, integral numbers up to 2^53) and
---   every other number with the shortest text that reads back to the same
---   double; NaN and infinities are refused, as lua-cjson refuses them.  A
---   value whose numbers lua-cjson writes exactly (the common case: small
---   integers, short decimals) is encoded by lua-cjson alone; core's
---   json_inexact tells, and only the others take the encoder below.
--- * decoding on Lua 5.3+ turns every integral number within +-(2^53-1)
---   (JavaScript's safe integers) into a Lua integer; others stay floats,
---   -0 too.  Lua 5.1 and LuaJIT have one number type.
local cjson = require "cjson"
local core = require "xano.realtime.core"

local inexact, number_text = core.json_inexact, core.json_number
local to_integers = core.json_integers -- nil before Lua 5.3
local concat, sort = table.concat, table.sort
local type, next, rawget, tostring, error, floor = type, next, rawget, tostring, error, math.floor

-- lua-cjson's defaults, which the encoder below follows
local MAX_DEPTH = 1000
local SPARSE_RATIO, SPARSE_SAFE = 2, 10

--- A codec over a new lua-cjson instance: encode(v) and decode(text), both
--- raising as lua-cjson does.  opts.strict refuses what JavaScript's
--- JSON.parse refuses (NaN, Infinity, hex numbers); opts.sparse_convert
--- writes excessively sparse arrays as objects instead of refusing them.
local function codec(opts)
  local cj = cjson.new and cjson.new() or cjson
  if opts.strict then cj.decode_invalid_numbers(false) end
  if opts.sparse_convert then cj.encode_sparse_array(true) end
  local cj_encode, cj_decode = cj.encode, cj.decode
  local null = cjson.null
  local sparse_convert = opts.sparse_convert and true or false

  local function number(x)
    local s = number_text(x)
    if not s then error("Cannot serialise number: must not be NaN or Inf", 0) end
    return s
  end

  -- lua-cjson's choice: an array when every key is an integer >= 1 and the
  -- array is not too sparse; its length, or nil for an object
  local function array_length(t)
    local max, items = 0, 0
    for k in next, t do
      if type(k) ~= "number" or k < 1 or floor(k) ~= k then return nil end
      if k > max then max = k end
      items = items + 1
    end
    if max > items * SPARSE_RATIO and max > SPARSE_SAFE then
      if not sparse_convert then error("Cannot serialise table: excessively sparse array", 0) end
      return nil
    end
    return max
  end

  -- lua-cjson's encoding, but for numbers (what json_inexact flagged)
  local function put(v, out, depth)
    local t = type(v)
    if t == "string" then
      out[#out + 1] = cj_encode(v)
    elseif t == "boolean" then
      out[#out + 1] = tostring(v)
    elseif t == "number" then
      out[#out + 1] = number(v)
    elseif t == "table" then
      if depth > MAX_DEPTH then
        error("Cannot serialise, excessive nesting (" .. depth .. ")", 0)
      end
      local n = array_length(v)
      if n and n > 0 then
        out[#out + 1] = "["
        for i = 1, n do
          if i > 1 then out[#out + 1] = "," end
          local e = rawget(v, i)
          if e == nil then out[#out + 1] = "null" else put(e, out, depth + 1) end
        end
        out[#out + 1] = "]"
        return
      end
      out[#out + 1] = "{"
      local first = true
      for k, e in next, v do
        if not first then out[#out + 1] = "," end
        first = false
        local kt = type(k)
        if kt == "string" then
          out[#out + 1] = cj_encode(k)
        elseif kt == "number" then
          out[#out + 1] = '"' .. number(k) .. '"'
        else
          error("Cannot serialise " .. kt .. ": table key must be a number or string", 0)
        end
        out[#out + 1] = ":"
        put(e, out, depth + 1)
      end
      out[#out + 1] = "}"
    elseif v == null then
      out[#out + 1] = "null"
    else
      error("Cannot serialise " .. t .. ": type not supported", 0)
    end
  end

  local function slow_encode(v)
    local out = {}
    local ok, err = pcall(put, v, out, 1)
    -- raised here, so that the message carries a position as lua-cjson's do
    if not ok then error(err, 1) end
    return concat(out)
  end

  local C = { null = null, number = number,
    -- for the client's hot paths, which call them without a wrapper
    cjson_encode = cj_encode, cjson_decode = cj_decode, slow_encode = slow_encode }

  function C.encode(v)
    if inexact(v) then return slow_encode(v) end
    return cj_encode(v)
  end

  if to_integers then
    function C.decode(text)
      return to_integers(cj_decode(text))
    end
  else
    C.decode = cj_decode
  end
  return C
end

-- the client's codec: lenient decoding (as lua-cjson), sparse arrays as objects
local C = codec{ sparse_convert = true }
local encode, cj_encode, cj_decode, slow_encode = C.encode, C.cjson_encode, C.cjson_decode, C.slow_encode

-- Every frame repeats its channel name (and a private message its socket
-- id): their JSON text, and the start of a message frame, are kept per
-- name, a table lookup instead of an encoding.  Bounded.
local function bounded_cache(make)
  local cache, n = {}, 0
  return function(s)
    local v = cache[s]
    if v then return v end
    v = make(s)
    if type(s) == "string" then
      if n >= 256 then cache, n = {}, 0 end
      cache[s], n = v, n + 1
    end
    return v
  end
end

local cj_string = bounded_cache(cj_encode)
local message_start = bounded_cache(function(channel)
  return '{"action":"message","options":{"channel":' .. cj_encode(channel) .. '},"payload":'
end)

local M = { null = cjson.null, encode = encode, number = C.number, codec = codec }

--- Decodes a frame; returns the value, or nil and a message.
if to_integers then
  -- the same as below, then json_integers, in one call (every frame)
  M.decode = core.json_decoder(cj_decode)
else
  function M.decode(text)
    local ok, v = pcall(cj_decode, text)
    if ok then return v end
    return nil, tostring(v)
  end
end

-- START .. P .. "}": a frame whose text up to its payload is START
local function frame_with(start, payload)
  local p
  if payload == nil then
    p = "null"
  elseif inexact(payload) then
    p = slow_encode(payload)
  else
    p = cj_encode(payload)
  end
  return start .. p .. "}"
end

-- {"action":A,"options":{...,"channel":C},"payload":P}: the caller's
-- options first and the channel last, like the SDK.
local function frame(action, channel, payload, extra)
  return frame_with('{"action":"' .. action .. '","options":{' .. (extra or "") ..
    '"channel":' .. cj_string(channel) .. '},"payload":', payload)
end

function M.join(channel, history, presence)
  return '{"action":"join","options":{"channel":' .. cj_string(channel) ..
    '},"payload":{"history":' .. tostring(history and true or false) ..
    ',"presence":' .. tostring(presence and true or false) .. '}}'
end

function M.leave(channel)
  return frame("leave", channel, nil)
end

function M.message(channel, payload, authenticated)
  if authenticated then return frame("message", channel, payload, '"authenticated":true,') end
  return frame_with(message_start(channel), payload)
end

function M.private(channel, socket_id, payload)
  return '{"action":"message","options":{"channel":' .. cj_string(channel) ..
    ',"socketId":' .. cj_string(socket_id) .. '},"payload":' ..
    (payload == nil and "null" or encode(payload)) .. '}'
end

function M.history(channel)
  return frame("history", channel, nil)
end

-- Canonical text of a value: object keys sorted, numbers exact, so that
-- two decodings of the same message compare equal and two different
-- messages do not.
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
    out[#out + 1] = cj_string(k)
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
