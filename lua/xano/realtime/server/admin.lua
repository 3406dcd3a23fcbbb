-- xano.realtime.server.admin - the server's plain HTTP side: GET / (what
-- this is), POST /event (Xano's "Realtime Event", behind the admin key)
-- and the console's pages.  The server's methods.

local core = require "xano.realtime.core"
local rawjson = require "xano.realtime.server.rawjson"
local config = require "xano.realtime.server.config"

local json = rawjson.json
local null = json.null
local object_members = rawjson.object_members
local is_integer = config.is_integer
local http_request = core.http_request

local Server = {}

local function json_reply(status, t)
  return status, json.encode(t), "application/json"
end

local function optional_integer(v)
  return v == nil or v == null or is_integer(v)
end

local function optional_row_id(v)
  return optional_integer(v) or type(v) == "string"
end

function Server:http_event(body, headers)
  if not self.admin_key then
    return json_reply(403, { error = "no admin_key is configured on this server" })
  end
  if headers["x-admin-key"] ~= self.admin_key then
    return json_reply(401, { error = "missing or wrong X-Admin-Key" })
  end
  return self:event_request(body)
end

-- The body of POST /event (also the console's "send event"): status and
-- JSON text.  t is the body already decoded, when it is.
function Server:event_request(body, t)
  local ok = true
  if t == nil then ok, t = pcall(json.decode, body or "") end
  local raw = ok and type(t) == "table" and object_members(body)
  if not raw then
    return json_reply(400, { error = "body must be a JSON object {channel, data, dbo_id, row_id}" })
  end
  if type(t.channel) ~= "string" or t.channel == "" then
    return json_reply(400, { error = "channel must be a non-empty string" })
  end
  if not optional_integer(t.dbo_id) or not optional_row_id(t.row_id) then
    return json_reply(400, { error = "dbo_id must be an integer, row_id an integer or a string" })
  end
  local n, err = self:deliver_event(t.channel, raw.data or "null",
    t.dbo_id ~= null and t.dbo_id or 0, t.row_id ~= null and t.row_id or 0)
  if not n then return json_reply(404, { error = err }) end
  return json_reply(200, { delivered = n })
end

local ROOT_TEXT = "xano-realtime-server: a local Xano Realtime (v1) server.\n" ..
  "WebSocket: /rt/<canonical>; server events: POST /event\n"

-- head: the request head, read by the transport's parser (the one that
-- checked it before handing it up)
function Server:route(head, body)
  local method, path, headers = http_request(head)
  if not method then return 400, "malformed request\n" end
  if path == "/" then
    if method ~= "GET" and method ~= "HEAD" then return 405, "method not allowed\n" end
    return 200, ROOT_TEXT
  end
  if path == "/event" then
    if method ~= "POST" then return 405, "method not allowed\n" end
    return self:http_event(body, headers)
  end
  if self.console and (path == "/_console" or path:sub(1, 10) == "/_console/") then
    return self.console:route(method, path, headers, body)
  end
  return 404, "not found\n"
end

function Server:on_request(id, body, head)
  local status, text, ctype, headers = self:route(head or "", body)
  self.h:respond(id, status, text, ctype, headers)
end

return Server
