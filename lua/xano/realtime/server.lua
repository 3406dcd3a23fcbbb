-- xano.realtime.server - a local server that speaks Xano Realtime v1 (the
-- /rt/ protocol of @xano/js-sdk 3.0.1): the upgrade and token rules, the
-- join/leave/message/history frames, presence, history, channel
-- permissions, the "Realtime Event" function (srv:event and POST /event),
-- introspection for specs, and the few hooks of the live console
-- (server/console.lua: self.console, self.tap).  The C transport
-- (xano.realtime.core.server) moves frames and connection events;
-- everything that knows JSON is here.
--
-- Payloads and options are relayed byte for byte: the server decodes a
-- frame to check it, but builds the frames it sends from the raw JSON text
-- of the sender's values, so nothing is lost to a decode/encode round trip
-- (empty arrays, big integers, key order).  What it encodes itself
-- (event data, ids, extras) keeps every digit (xano.realtime.json).

local core = require "xano.realtime.core"
local events = require "xano.realtime.events"
-- strict: what JavaScript's JSON.parse refuses (NaN, hex numbers) is
-- invalid JSON; numbers exact both ways, integers on Lua 5.3+
local json = require("xano.realtime.json").codec{ strict = true }

local null = json.null

local M = {}
M._VERSION = "0.1.0"

local Server = {}
Server.__index = Server

-- ------------------------------------------------------------ defaults

local DEFAULT_CANONICAL = "local"
local DEFAULT_MAX_FRAME = 1048576
local DEFAULT_PING_INTERVAL = 30
local MAX_EVENTS_PER_POLL = 100000
local SHUTDOWN_TIMEOUT = 5

local DEFAULT_ERRORS = {
  invalid_json = "invalid JSON",
  not_object = "frame must be a JSON object",
  missing_action = "missing action",
  unknown_action = "unknown action",
  binary_frame = "binary frames are not supported",
  malformed = "malformed frame",
  unknown_channel = "unknown channel",
  not_joined = "not joined to this channel",
  anonymous_not_allowed = "anonymous clients may not join this channel",
  public_messaging_disabled = "public messaging is disabled on this channel",
  public_auth_only = "public messaging requires authentication on this channel",
  private_messaging_disabled = "private messaging is disabled on this channel",
  private_auth_only = "private messaging requires authentication on this channel",
  target_not_found = "the target client is not in this channel",
  target_not_authenticated = "the target client is not authenticated",
  authentication_required = "authenticated messages require an authenticated sender",
  history_disabled = "message history is disabled on this channel",
}
M.DEFAULT_ERRORS = DEFAULT_ERRORS

-- every permission on: what a channel gets with no config, and what a
-- channel row gets for each key it leaves out
local OPEN_CHANNEL = {
  nested = false,
  anonymous_clients = true,
  presence = true,
  public_messaging = true,
  public_auth_only = false,
  private_messaging = true,
  private_auth_only = false,
  authenticated_messaging = false,
  message_history = 100,
}

local HISTORY_SIZES = { [0] = true, [25] = true, [50] = true, [100] = true,
  [250] = true, [1000] = true }

local KNOWN_ACTIONS = { join = true, leave = true, message = true, history = true }

-- --------------------------------------------------------- config checks

local function config_error(fmt, ...)
  error("xano.realtime.server: config: " .. string.format(fmt, ...), 0)
end

local function short(s)
  s = tostring(s)
  if #s > 40 then s = s:sub(1, 37) .. "..." end
  return s
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53
end
M._is_integer = is_integer -- for the console

-- RFC 7230 token characters: what a Sec-WebSocket-Protocol value may hold
local function is_token(s)
  return type(s) == "string" and s:find("^[%w!#%$%%&'%*%+%-%.%^_`|~]+$") ~= nil
end

local function is_url_segment(s)
  return type(s) == "string" and s:find("^[%w%-%._~]+$") ~= nil
end

local function check_boolean(where, v)
  if v ~= nil and type(v) ~= "boolean" then
    config_error("%s must be true or false, got %s", where, type(v))
  end
end

local function check_identity(token, id)
  local where = "tokens[" .. short(token) .. "]"
  if type(id) ~= "table" then
    config_error("%s must be a table {dbo_id=, row_id=, extras=}", where)
  end
  for k in pairs(id) do
    if k ~= "dbo_id" and k ~= "row_id" and k ~= "extras" then
      config_error("%s.%s is not a known key (dbo_id, row_id, extras)", where, tostring(k))
    end
  end
  if not is_integer(id.dbo_id) or id.dbo_id <= 0 then
    config_error("%s.dbo_id must be a positive integer (the auth table id)", where)
  end
  local row = id.row_id
  if not ((is_integer(row) and row > 0) or (type(row) == "string" and row ~= "")) then
    config_error("%s.row_id must be a positive integer or a non-empty string", where)
  end
  if id.extras ~= nil then
    if type(id.extras) ~= "table" then
      config_error("%s.extras must be a table", where)
    end
    local ok, err = pcall(json.encode, id.extras)
    if not ok then
      config_error("%s.extras cannot be encoded as JSON: %s", where, tostring(err))
    end
  end
end

local CHANNEL_KEYS = {
  pattern = true, nested = true, description = true, anonymous_clients = true,
  presence = true, public_messaging = true, public_auth_only = true,
  private_messaging = true, private_auth_only = true,
  authenticated_messaging = true, message_history = true,
}

local function check_channel_row(i, row)
  local where = "channels[" .. i .. "]"
  if type(row) ~= "table" then
    config_error("%s must be a table", where)
  end
  for k in pairs(row) do
    if not CHANNEL_KEYS[k] then
      config_error("%s.%s is not a known key", where, tostring(k))
    end
  end
  if type(row.pattern) ~= "string" or row.pattern == "" then
    config_error("%s.pattern must be a non-empty string", where)
  end
  for k, default in pairs(OPEN_CHANNEL) do
    if type(default) == "boolean" then check_boolean(where .. "." .. k, row[k]) end
  end
  if row.nested and not row.pattern:find("..%*$") then
    config_error("%s.pattern must end in '*' after a prefix when nested is true (e.g. \"chatroom/*\")", where)
  end
  if row.message_history ~= nil and not HISTORY_SIZES[row.message_history] then
    config_error("%s.message_history must be one of 0, 25, 50, 100, 250, 1000", where)
  end
  if row.description ~= nil and type(row.description) ~= "string" then
    config_error("%s.description must be a string", where)
  end
end

local CONFIG_KEYS = {
  canonical = true, admin_key = true, max_frame = true, unknown_token = true,
  tokens = true, channels = true, errors = true, ping_interval = true, tls = true,
}

-- Raises a clear error naming the first bad key of a config table.
function M.check_config(cfg)
  if type(cfg) ~= "table" then
    config_error("must be a table, got %s", type(cfg))
  end
  for k in pairs(cfg) do
    if not CONFIG_KEYS[k] then
      config_error("%s is not a known key", tostring(k))
    end
  end
  if cfg.canonical ~= nil and not is_url_segment(cfg.canonical) then
    config_error("canonical must be a non-empty string of letters, digits, '-', '_', '.', '~'")
  end
  if cfg.admin_key ~= nil and (type(cfg.admin_key) ~= "string" or cfg.admin_key == "") then
    config_error("admin_key must be a non-empty string")
  end
  if cfg.max_frame ~= nil and (not is_integer(cfg.max_frame) or cfg.max_frame < 16) then
    config_error("max_frame must be an integer number of bytes, at least 16")
  end
  if cfg.ping_interval ~= nil and (type(cfg.ping_interval) ~= "number"
      or not (cfg.ping_interval >= 0 and cfg.ping_interval <= 86400)) then
    config_error("ping_interval must be a number of seconds, 0 (pings off) to 86400")
  end
  if cfg.tls ~= nil then
    local t = cfg.tls
    if type(t) ~= "table" or type(t.cert) ~= "string" or type(t.key) ~= "string" then
      config_error("tls must be a table { cert = PEM file, key = PEM file }")
    end
    for k in pairs(t) do
      if k ~= "cert" and k ~= "key" then config_error("tls.%s is not a known key", tostring(k)) end
    end
  end
  if cfg.unknown_token ~= nil and cfg.unknown_token ~= "refuse" and cfg.unknown_token ~= "anonymous" then
    config_error("unknown_token must be \"refuse\" or \"anonymous\"")
  end
  if cfg.tokens ~= nil then
    if type(cfg.tokens) ~= "table" then
      config_error("tokens must be a table mapping token strings to identities")
    end
    for token, id in pairs(cfg.tokens) do
      if not is_token(token) then
        config_error("tokens: key %s is not a valid token (letters, digits and !#$%%&'*+-.^_`|~ only)",
          short(token))
      end
      check_identity(token, id)
    end
  end
  if cfg.channels ~= nil then
    if type(cfg.channels) ~= "table" then
      config_error("channels must be a list of channel rows")
    end
    local n = #cfg.channels
    for k in pairs(cfg.channels) do
      if not is_integer(k) or k < 1 or k > n then
        config_error("channels must be a list (found key %s)", tostring(k))
      end
    end
    for i = 1, n do check_channel_row(i, cfg.channels[i]) end
  end
  if cfg.errors ~= nil then
    if type(cfg.errors) ~= "table" then
      config_error("errors must be a table mapping error names to messages")
    end
    for k, v in pairs(cfg.errors) do
      if not DEFAULT_ERRORS[k] then
        config_error("errors.%s is not a known error name", tostring(k))
      end
      if type(v) ~= "string" or v == "" then
        config_error("errors.%s must be a non-empty string", k)
      end
    end
  end
  return cfg
end

-- Loads a config file (Lua returning a table); nil, message when it
-- cannot be read or run.  Does not check the table (check_config does).
function M.load_config(path)
  if type(path) ~= "string" then
    error("xano.realtime.server: load_config: a file name expected", 2)
  end
  local env = setmetatable({}, { __index = _G })
  local chunk, err
  if setfenv then
    chunk, err = loadfile(path)
    if chunk then setfenv(chunk, env) end
  else
    chunk, err = loadfile(path, "t", env)
  end
  if not chunk then
    return nil, "cannot load config file: " .. tostring(err)
  end
  local ok, cfg = pcall(chunk)
  if not ok then
    return nil, "config file " .. path .. " failed: " .. tostring(cfg)
  end
  if type(cfg) ~= "table" then
    return nil, "config file " .. path .. " must return a table, got " .. type(cfg)
  end
  return cfg
end

-- -------------------------------------------------- raw JSON scanning
-- Frames are decoded by cjson first (so they are valid JSON); this finds
-- the byte spans of the top-level members, so values can be relayed as
-- the sender wrote them.  It also refuses raw control characters in
-- strings, which cjson lets through but JSON (and JSON.parse) forbids.
-- The scan is core.json_members (src/lua_members.c): in Lua it was most of
-- the server's work per message.

local json_members = core.json_members
local decode = json.decode

-- The top-level members of a JSON object as {key = raw value text}; nil
-- when s is not an object (or holds raw control characters in a string).
local function object_members(s)
  return json_members(s, decode)
end
M._object_members = object_members -- for specs and the console

local function first_char(raw)
  return raw and raw:match("^[ \t\r\n]*(.)")
end

-- ----------------------------------------------------------- frames out

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

-- --------------------------------------------------------------- channels

local function row_matches(row, name)
  if row.pattern == name then return true end
  if row.nested then
    local prefix = row.pattern:sub(1, -2)
    return #name > #prefix and name:sub(1, #prefix) == prefix
  end
  return false
end

local function complete_row(row)
  local perm = {}
  for k, v in pairs(OPEN_CHANNEL) do
    if row[k] == nil then perm[k] = v else perm[k] = row[k] end
  end
  perm.pattern = row.pattern
  return perm
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

-- ---------------------------------------------------------------- sending

function Server:send_to(ids, text)
  if #ids == 0 then return 0 end
  return self.h:send(ids, text)
end

function Server:send_one(sock, text)
  return self:send_to({ sock.id }, text)
end

function Server:refuse(sock, channel, err, detail)
  local message = self.errors[err]
  if detail and message == DEFAULT_ERRORS[err] then
    message = message .. ": " .. detail
  end
  if self.tap then self.tap("error", sock, channel, message) end
  self:send_one(sock, error_frame(channel, message))
end

-- ------------------------------------------------------- client actions

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

function Server:do_join(sock, name, f, raw)
  local payload = f.payload
  if payload == nil or payload == null then
    payload = {}
  elseif first_char(raw.payload) ~= "{" then
    return self:refuse(sock, name, "malformed", "join payload must be an object")
  end
  local perm = self:permissions_for(name)
  if not perm then return self:refuse(sock, name, "unknown_channel") end
  if not sock.authenticated and not perm.anonymous_clients then
    return self:refuse(sock, name, "anonymous_not_allowed")
  end
  local ch = self:channel(name)
  local wants_presence = payload.presence == true and perm.presence
  local m = ch.member_of[sock]
  local first_join = m == nil
  if first_join then
    m = { sock = sock }
    ch.members[#ch.members + 1] = m
    ch.member_of[sock] = m
    sock.channels[name] = ch
  end
  -- a repeated join only updates the joiner's own subscription
  m.presence = wants_presence
  if wants_presence then
    local entries = {}
    for i = 1, #ch.members do entries[i] = ch.members[i].sock.entry end
    self:send_one(sock, presence_full_frame(name, entries))
  end
  if first_join and perm.presence then
    self:send_to(member_ids(ch, subscribed_to_presence, sock),
      presence_update_frame(name, "join", sock.entry))
  end
  if payload.history == true and perm.message_history > 0 then
    self:send_one(sock, self:history_for(ch, sock))
  end
end

function Server:leave_channel(sock, ch, notify)
  remove_member(ch, sock)
  sock.channels[ch.name] = nil
  if notify and ch.perm.presence then
    self:send_to(member_ids(ch, subscribed_to_presence),
      presence_update_frame(ch.name, "leave", sock.entry))
  end
  self:forget_if_idle(ch)
end

function Server:joined_channel(sock, name)
  if not self:permissions_for(name) then
    self:refuse(sock, name, "unknown_channel")
    return nil
  end
  local ch = sock.channels[name]
  if not ch then
    self:refuse(sock, name, "not_joined")
    return nil
  end
  return ch
end

function Server:do_leave(sock, name)
  local ch = self:joined_channel(sock, name)
  if ch then self:leave_channel(sock, ch, true) end
end

function Server:do_history(sock, name)
  local ch = self:joined_channel(sock, name)
  if not ch then return end
  if ch.perm.message_history <= 0 then
    return self:refuse(sock, name, "history_disabled")
  end
  self:send_one(sock, self:history_for(ch, sock))
end

function Server:send_private(sock, ch, opts, raw_options, raw_payload)
  local perm = ch.perm
  local name = ch.name
  if not perm.private_messaging then
    return self:refuse(sock, name, "private_messaging_disabled")
  end
  local target = self.by_sid[opts.socketId]
  if not target or not ch.member_of[target] then
    return self:refuse(sock, name, "target_not_found")
  end
  if perm.private_auth_only and not (sock.authenticated and target.authenticated) then
    return self:refuse(sock, name, "private_auth_only")
  end
  if opts.authenticated == true then
    if not sock.authenticated then
      return self:refuse(sock, name, "authentication_required")
    end
    if not target.authenticated then
      return self:refuse(sock, name, "target_not_authenticated")
    end
  end
  self.n_messages = self.n_messages + 1
  self:send_one(target, message_frame(raw_options, sock.entry, raw_payload))
end

function Server:send_public(sock, ch, opts, raw_options, raw_payload)
  local perm = ch.perm
  local name = ch.name
  if not perm.public_messaging then
    return self:refuse(sock, name, "public_messaging_disabled")
  end
  if perm.public_auth_only and not sock.authenticated then
    return self:refuse(sock, name, "public_auth_only")
  end
  if opts.authenticated == true and not sock.authenticated then
    return self:refuse(sock, name, "authentication_required")
  end
  local auth_only = opts.authenticated == true or
    (perm.authenticated_messaging and sock.authenticated) or false
  local frame = message_frame(raw_options, sock.entry, raw_payload)
  self.n_messages = self.n_messages + 1
  self:send_to(member_ids(ch, auth_only and is_authenticated or nil), frame)
  self:store_history(ch, frame, auth_only)
end

function Server:do_message(sock, name, opts, raw)
  local sid = opts.socketId
  if sid ~= nil and sid ~= null and type(sid) ~= "string" then
    return self:refuse(sock, name, "malformed", "options.socketId must be a string or null")
  end
  local auth = opts.authenticated
  if auth ~= nil and auth ~= null and type(auth) ~= "boolean" then
    return self:refuse(sock, name, "malformed", "options.authenticated must be a boolean")
  end
  local ch = self:joined_channel(sock, name)
  if not ch then return end
  local raw_payload = raw.payload or "null"
  if type(sid) == "string" then
    return self:send_private(sock, ch, opts, raw.options, raw_payload)
  end
  return self:send_public(sock, ch, opts, raw.options, raw_payload)
end

-- One text frame from a client: check it, then act on it.
function Server:on_client_frame(sock, text)
  local ok, f = pcall(json.decode, text)
  if not ok then return self:refuse(sock, nil, "invalid_json") end
  if type(f) ~= "table" or first_char(text) ~= "{" then
    return self:refuse(sock, nil, "not_object")
  end
  local raw = object_members(text)
  if not raw then return self:refuse(sock, nil, "invalid_json") end
  if self.hooks.frame then self.hooks.frame(sock.socketId, f, text) end
  if self.tap then self.tap("frame", sock, f, raw) end

  local opts = f.options
  local name = type(opts) == "table" and type(opts.channel) == "string" and
    opts.channel ~= "" and opts.channel or nil
  local action = f.action
  if type(action) ~= "string" or action == "" then
    return self:refuse(sock, name, "missing_action")
  end
  if not KNOWN_ACTIONS[action] then
    return self:refuse(sock, name, "unknown_action", short(action))
  end
  if first_char(raw.options) ~= "{" then
    return self:refuse(sock, nil, "malformed", "options must be an object")
  end
  if not name then
    return self:refuse(sock, nil, "malformed", "options.channel must be a non-empty string")
  end
  if action == "join" then return self:do_join(sock, name, f, raw) end
  if action == "leave" then return self:do_leave(sock, name) end
  if action == "history" then return self:do_history(sock, name) end
  return self:do_message(sock, name, opts, raw)
end

-- --------------------------------------------------------------- sockets

local function strip_query(path)
  return (path:gsub("[?#].*$", ""))
end

function Server:identity_for(token)
  if token == nil or token == "" then return nil, true end
  local id = self.tokens[token]
  if id then return id, true end
  return nil, self.unknown_token ~= "refuse"
end

function Server:new_socket_id()
  local sid
  repeat sid = core.random_hex(16) until not self.by_sid[sid]
  return sid
end

function Server:on_upgrade(id, path, token)
  path = path or ""
  if self.console and self.console:on_upgrade(id, path) then return end
  if strip_query(path) ~= self.path then
    if self.tap then self.tap("refused", strip_query(path), 404, "not found") end
    return self.h:respond(id, 404, "not found\n")
  end
  local identity, allowed = self:identity_for(token)
  if not allowed then
    if self.tap then self.tap("refused", strip_query(path), 401, "unknown token") end
    return self.h:respond(id, 401, "unknown token\n")
  end
  local sid = self:new_socket_id()
  local sock = { id = id, socketId = sid, identity = identity,
    authenticated = identity ~= nil, channels = {}, since = os.time(),
    entry = client_entry(sid, identity) }
  self.socks[id] = sock
  self.by_sid[sid] = sock
  self.n_socks = self.n_socks + 1
  if token == "" then token = nil end
  self.h:accept(id, token)
  if self.tap then self.tap("open", sock) end
end

function Server:on_gone(id, code)
  local sock = self.socks[id]
  if not sock then
    if self.console then self.console:on_gone(id) end
    return
  end
  self.socks[id] = nil
  self.by_sid[sock.socketId] = nil
  self.n_socks = self.n_socks - 1
  local names = {}
  for name in pairs(sock.channels) do names[#names + 1] = name end
  table.sort(names)
  for i = 1, #names do
    self:leave_channel(sock, sock.channels[names[i]], true)
  end
  if self.tap then self.tap("closed", sock, code) end
end

function Server:on_frame(socket, opcode, text)
  local sock = self.socks[socket]
  if not sock then
    if self.console then self.console:on_frame(socket, text) end
    return
  end
  if opcode ~= "text" then return self:refuse(sock, nil, "binary_frame") end
  return self:on_client_frame(sock, text)
end

-- ------------------------------------------------------------------ HTTP

local function parse_head(head)
  local method, target = head:match("^(%S+) (%S+)")
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
    headers[name:lower()] = value:gsub("[ \t]+$", "")
  end
  return method, strip_query(target or ""), headers
end

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

function Server:route(head, body)
  local method, path, headers = parse_head(head)
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

-- ---------------------------------------------------------------- events

-- The core's events, by name; checked against the core's description of
-- them (src/events.def) when the module loads.  core.server() itself takes
-- "listening" (or the "error" that it could not listen) and shutdown()
-- takes "stopped": a poll that meets one has nothing left to do.
local ON = events.bind("server", {
  frame = Server.on_frame,
  upgrade = function(self, socket, path, protocol) return self:on_upgrade(socket, path, protocol) end,
  request = function(self, socket, body, head) return self:on_request(socket, body, head) end,
  gone = function(self, socket, code) return self:on_gone(socket, code) end,
  listening = function(self, port) end,
  error = function(self, kind, message) end,
  stopped = function(self) end,
})

-- Handles what is pending; waits up to timeout for the first event.
function Server:poll(timeout)
  if self.closed then return 0 end
  if timeout ~= nil and type(timeout) ~= "number" then
    error("xano.realtime.server: poll: timeout must be a number", 2)
  end
  local h = self.h
  local n = 0
  while n < MAX_EVENTS_PER_POLL do
    local kind, v1, v2, v3 = h:next()
    if not kind then
      if n > 0 or not timeout or timeout <= 0 then break end
      local ready = h:wait(timeout)
      timeout = 0
      if not ready then break end
    else
      n = n + 1
      ON[kind](self, v1, v2, v3)
      if self.closed then break end
    end
  end
  return n
end

-- Runs until closed, a caught signal, or seconds are up; returns why:
-- "closed", "timeout", or the signal's name ("SIGINT", "SIGTERM").
function Server:run(seconds)
  if seconds ~= nil and type(seconds) ~= "number" then
    error("xano.realtime.server: run: seconds must be a number", 2)
  end
  local deadline = seconds and core.now() + seconds
  while not self.closed do
    local sig = core.signaled()
    if sig then return sig end
    local wait = 1
    if deadline then
      local left = deadline - core.now()
      if left <= 0 then return "timeout" end
      if left < wait then wait = left end
    end
    local ready, why = self.h:wait(wait)
    if ready == nil and why == "interrupted" then
      return core.signaled() or "interrupted"
    end
    if ready then self:poll(0) end
  end
  return "closed"
end

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

-- ------------------------------------------------------ life and access

function Server:check_open(what)
  if self.closed then
    error("xano.realtime.server: " .. what .. ": the server is closed", 3)
  end
end

-- The console's page, when the server has one (an admin key).
function Server:console_url()
  return self.console and self:base_url() .. "/_console" or nil
end

function Server:url()
  return (self.tls and "wss://" or "ws://") .. self.authority .. self.path
end

function Server:base_url()
  return (self.tls and "https://" or "http://") .. self.authority
end

function Server:fd()
  self:check_open("fd")
  return self.h:fd()
end

function Server:is_closed()
  return self.closed
end

-- Closes every socket cleanly (1001) and stops listening.
function Server:close()
  if self.closed then return end
  self.closed = true
  pcall(self.h.shutdown, self.h, SHUTDOWN_TIMEOUT)
  self.h:close()
  self.socks, self.by_sid, self.chans, self.n_socks = {}, {}, {}, 0
end

function Server:sockets()
  local list = {}
  for _, sock in pairs(self.socks) do
    local names = {}
    for name in pairs(sock.channels) do names[#names + 1] = name end
    table.sort(names)
    list[#list + 1] = { socketId = sock.socketId, authenticated = sock.authenticated,
      channels = names, id = sock.id }
  end
  table.sort(list, function(x, y) return x.id < y.id end)
  for i = 1, #list do list[i].id = nil end
  return list
end

function Server:members(channel)
  local ch = self.chans[channel]
  local list = {}
  if ch then
    for i = 1, #ch.members do list[i] = ch.members[i].sock.socketId end
  end
  return list
end

function Server:history(channel)
  local ch = self.chans[channel]
  local list = {}
  if ch then
    for i = history_start(ch), #ch.history do list[#list + 1] = json.decode(ch.history[i].raw) end
  end
  return list
end

function Server:send_raw(socketId, bytes, mode)
  self:check_open("send_raw")
  if type(bytes) ~= "string" then
    error("xano.realtime.server: send_raw: bytes must be a string", 2)
  end
  local sock = self.by_sid[socketId]
  if not sock then return nil, "no such socket" end
  if self.h:send({ sock.id }, bytes, mode) == 1 then return true end
  return nil, "not sent (socket closing or its queue is full)"
end

function Server:drop(socketId, code, reason)
  self:check_open("drop")
  local sock = self.by_sid[socketId]
  if not sock then return nil, "no such socket" end
  self.h:close_socket(sock.id, code or 1000, reason)
  return true
end

function Server:stats()
  local s = self.closed and {} or self.h:stats()
  return { sockets = self.n_socks, frames_in = s.frames_in or 0,
    frames_out = s.frames_out or 0, messages = self.n_messages }
end

-- ------------------------------------------------------------------ start

local START_KEYS = { host = true, port = true, canonical = true, config = true,
  config_file = true, admin_key = true, max_frame = true, ping_interval = true, tls = true }

local function check_start_options(o)
  if type(o) ~= "table" then
    error("xano.realtime.server: start: options table expected", 3)
  end
  for k in pairs(o) do
    if not START_KEYS[k] then
      error("xano.realtime.server: start: unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  if o.config ~= nil and o.config_file ~= nil then
    error("xano.realtime.server: start: give config or config_file, not both", 3)
  end
  if o.host ~= nil and (type(o.host) ~= "string" or o.host == "") then
    error("xano.realtime.server: start: host must be a non-empty string", 3)
  end
  if o.port ~= nil and (not is_integer(o.port) or o.port < 0 or o.port > 65535) then
    error("xano.realtime.server: start: port must be an integer 0..65535", 3)
  end
  if o.config_file ~= nil and type(o.config_file) ~= "string" then
    error("xano.realtime.server: start: config_file must be a file name", 3)
  end
end

-- Start options override the config's own keys.
local function merged_config(o)
  local cfg = {}
  local base = o.config
  if o.config_file then
    local err
    base, err = M.load_config(o.config_file)
    if not base then return nil, err end
  end
  for k, v in pairs(base or {}) do cfg[k] = v end
  for _, k in ipairs({ "canonical", "admin_key", "max_frame", "ping_interval", "tls" }) do
    if o[k] ~= nil then cfg[k] = o[k] end
  end
  return M.check_config(cfg)
end

-- The authority clients use: a wildcard address ("::" listens on both
-- families, "0.0.0.0" on IPv4) is reached on the loopback of its family.
local function authority(host, port)
  if host == "::" then host = "::1" elseif host == "0.0.0.0" then host = "127.0.0.1" end
  if host:find(":", 1, true) then return "[" .. host .. "]:" .. port end
  return host .. ":" .. port
end

-- server.start{host=, port=, canonical=, config=|config_file=, admin_key=,
-- max_frame=, ping_interval=, tls={cert=, key=}}
-- -> server, or nil and a message when it cannot listen or read the file.
-- Raises on a bad option or a bad config.
function M.start(o)
  o = o or {}
  check_start_options(o)
  local cfg, err = merged_config(o)
  if not cfg then return nil, err end
  local host = o.host or "127.0.0.1"
  local tls = cfg.tls
  local h, lerr = core.server{ host = host, port = o.port or 0,
    max_frame = cfg.max_frame or DEFAULT_MAX_FRAME,
    ping_interval = cfg.ping_interval or DEFAULT_PING_INTERVAL,
    cert = tls and tls.cert, key = tls and tls.key }
  if not h then return nil, lerr end

  local self = setmetatable({}, Server)
  self.h = h
  self.tls = tls and true or false
  self.host = host
  self.port = h:port()
  self.authority = authority(host, self.port)
  self.canonical = cfg.canonical or DEFAULT_CANONICAL
  self.path = "/rt/" .. self.canonical
  self.admin_key = cfg.admin_key
  self.unknown_token = cfg.unknown_token or "anonymous"
  self.tokens = cfg.tokens or {}
  self.errors = {}
  for k, v in pairs(DEFAULT_ERRORS) do self.errors[k] = v end
  for k, v in pairs(cfg.errors or {}) do self.errors[k] = v end
  if cfg.channels then
    self.rows = {}
    for i = 1, #cfg.channels do self.rows[i] = complete_row(cfg.channels[i]) end
  else
    self.open_perm = complete_row({ pattern = "*" })
  end
  self.hooks = {}
  self.socks, self.by_sid, self.chans = {}, {}, {}
  self.n_socks, self.n_messages = 0, 0
  self.closed = false
  -- the live console (GET /_console) exists only with an admin key
  if self.admin_key then
    self.console = require("xano.realtime.server.console").new(self)
  end
  return self
end

return M
