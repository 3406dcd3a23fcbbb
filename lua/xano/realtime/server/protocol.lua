-- xano.realtime.server.protocol - the Xano Realtime v1 protocol on the
-- server: a socket's upgrade and token rules, the frames a client sends
-- (join, leave, message, history), the permission checks and error frames
-- that answer them, and a socket's end.  The server's methods.

local core = require "xano.realtime.core"
local rawjson = require "xano.realtime.server.rawjson"
local config = require "xano.realtime.server.config"
local frames = require "xano.realtime.server.frames"
local channels = require "xano.realtime.server.channels"

local json = rawjson.json
local null = json.null
local object_members = rawjson.object_members
local first_char = rawjson.first_char
local short = config.short
local DEFAULT_ERRORS = config.DEFAULT_ERRORS
local error_frame, message_frame = frames.error_frame, frames.message_frame
local presence_full_frame = frames.presence_full_frame
local presence_update_frame = frames.presence_update_frame
local client_entry = frames.client_entry
local remove_member, member_ids = channels.remove_member, channels.member_ids
local subscribed_to_presence = channels.subscribed_to_presence
local is_authenticated = channels.is_authenticated

local Server = {}

local KNOWN_ACTIONS = { join = true, leave = true, message = true, history = true }

function Server:refuse(sock, channel, err, detail)
  local message = self.errors[err]
  if detail and message == DEFAULT_ERRORS[err] then
    message = message .. ": " .. detail
  end
  if self.tap then self.tap("error", sock, channel, message) end
  self:send_one(sock, error_frame(channel, message))
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

return Server
