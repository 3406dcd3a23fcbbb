-- xano.realtime.server.rawjson - the server's JSON: one strict codec for
-- every server module, and the raw-member scan that lets the server relay a
-- sender's values byte for byte.

local core = require "xano.realtime.core"
-- strict: what JavaScript's JSON.parse refuses (NaN, hex numbers) is
-- invalid JSON; numbers exact both ways, integers on Lua 5.3+
local json = require("xano.realtime.json").codec{ strict = true }

local M = { json = json }

-- Frames are decoded by cjson first (so they are valid JSON); this finds
-- the byte spans of the top-level members, so values can be relayed as
-- the sender wrote them.  It also refuses raw control characters in
-- strings, which cjson lets through but JSON (and JSON.parse) forbids.
-- The scan is core.json_members (src/lua/lua_members.c): in Lua it was most of
-- the server's work per message.

local json_members = core.json_members
local decode = json.decode

-- The top-level members of a JSON object as {key = raw value text}; nil
-- when s is not an object (or holds raw control characters in a string).
local function object_members(s)
  return json_members(s, decode)
end
M.object_members = object_members

local function first_char(raw)
  return raw and raw:match("^[ \t\r\n]*(.)")
end
M.first_char = first_char

return M
