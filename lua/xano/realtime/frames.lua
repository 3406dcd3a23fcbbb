--- xano.realtime.frames: the frames the client receives, decoded and
--- checked before the client routes them.  A frame that is not a Xano
--- frame, or whose known fields have the wrong types, reaches the app as
--- an error event only, and changes no presence or history state.
local json = require "xano.realtime.json"

local type, pairs, next, tostring = type, pairs, next, tostring

local M = {}

-- A JSON array as cjson decodes it: keys 1..n only ([] and {} look alike).
local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for k in pairs(v) do
    if type(k) ~= "number" then return false end
    n = n + 1
  end
  return n == #v
end

local function is_object(v)
  return type(v) == "table" and (next(v) == nil or not is_list(v))
end

local function absent(v)
  return v == nil or v == json.null
end

--- What is wrong with the known fields of a decoded frame; nil when they
--- have the types the protocol gives them.
function M.bad_field(ev)
  local o, c, p, a = ev.options, ev.client, ev.payload, ev.action
  if not absent(o) and not is_object(o) then return "options is not an object" end
  if not absent(c) and not is_object(c) then return "client is not an object" end
  if a == "presence_full" then
    if not is_object(p) or not is_list(p.presence) then
      return "presence_full without a payload.presence list"
    end
  elseif a == "presence_update" then
    local e = is_object(p) and p.presence
    if not is_object(e) or type(e.socketId) ~= "string" then
      return "presence_update without a payload.presence entry with a socketId"
    end
  elseif a == "history" then
    if not is_object(p) or not is_list(p.history) then
      return "history without a payload.history list"
    end
  elseif a == "error" then
    if not is_object(p) or type(p.message) ~= "string" then
      return "error without a string payload.message"
    end
  end
  return nil
end

--- The start of a frame, for an error event.
function M.sample(text)
  return #text > 200 and text:sub(1, 200) .. "..." or text
end

--- The frame decoded, and the name of its channel (nil: none named); or
--- nil and what makes it malformed.
function M.decode(text)
  local ev, err = json.decode(text)
  if type(ev) ~= "table" or ev[1] ~= nil or type(ev.action) ~= "string" or ev.action == "" then
    return nil, ev == nil and ("not JSON (" .. tostring(err):gsub("^.-: ", "") .. ")")
      or (type(ev) ~= "table" or ev[1] ~= nil) and "JSON but not an object"
      or "no action"
  end
  local opts = ev.options
  local name = type(opts) == "table" and opts.channel or nil
  if name ~= nil and type(name) ~= "string" then
    return nil, "options.channel is not a string"
  end
  return ev, name
end

return M
