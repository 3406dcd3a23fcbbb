-- xano.realtime.server.console - the live console of the local server:
-- GET /_console (a self-contained page), GET /_console/state (the same
-- state as JSON), a live feed over a WebSocket on /_console/feed, and the
-- actions the page offers (a server event, a message as the server, closing
-- a socket).  Exists only when the server has an admin key; every request
-- needs that key (X-Admin-Key) or a session cookie the page got by logging
-- in with it.
--
-- The server calls srv.tap(kind, ...) at a few points (a client frame, an
-- error sent, an upgrade refused, a socket opened or closed, a server
-- event).  srv.tap is nil while no feed is open, so a server nobody watches
-- builds no log record at all.  Each feed has a bounded queue of log lines:
-- the page asks for the next batch when it has shown the last one, so a
-- slow or stalled page holds at most one batch in the server's send queue;
-- when its queue is full the oldest lines go and are counted.
local core = require "xano.realtime.core"
-- as the server's: strict, numbers exact both ways (xano.realtime.json)
local json = require("xano.realtime.json").codec{ strict = true }
local PAGE = require "xano.realtime.server.console_page"
-- the server's own checks (this module is loaded by the server's new())
local is_integer = require("xano.realtime.server.config").is_integer

local null = json.null

local M = {}

M.FEED_LIMIT = 1000	-- log lines a feed holds for its page
M.PREVIEW = 160		-- bytes of a payload shown in a log line
M.MAX_SESSIONS = 64
M.SESSION_SECONDS = 12 * 3600
M.TICKET_SECONDS = 30
M.COOKIE = "xrt_console"

local Console = {}
Console.__index = Console

-- ------------------------------------------------------------- helpers

-- The wall clock in milliseconds: os.time() at start plus the monotonic
-- clock since, so it has milliseconds and never goes back.
local function clock()
  local wall0, mono0 = os.time(), core.now()
  return function() return math.floor((wall0 + core.now() - mono0) * 1000) end
end

-- Cuts s to at most n bytes, never inside a UTF-8 sequence.
local function preview(s, n)
  n = n or M.PREVIEW
  if s == nil then return nil end
  if #s <= n then return s end
  local i = n
  while i > 0 do
    local b = s:byte(i + 1)
    if not b or b < 0x80 or b >= 0xC0 then break end
    i = i - 1
  end
  return s:sub(1, i) .. "…"
end
M._preview = preview

-- equal strings, in time that does not depend on where they differ
local function same_secret(a, b)
  if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    if a:byte(i) ~= b:byte(i) then diff = diff + 1 end
  end
  return diff == 0
end

local function cookie_value(headers, name)
  local c = headers.cookie
  if not c then return nil end
  for k, v in c:gmatch("([^=;%s]+)=([^;]*)") do
    if k == name then return (v:gsub("%s+$", "")) end
  end
  return nil
end

local function query_value(target, name)
  local q = target:match("%?([^#]*)")
  if not q then return nil end
  for k, v in q:gmatch("([^&=]+)=([^&]*)") do
    if k == name then return v end
  end
  return nil
end

-- close codes a peer may receive: 1000-1003, 1007-1014, 3000-4999
local function sendable_close_code(c)
  return is_integer(c) and ((c >= 1000 and c <= 1003) or (c >= 1007 and c <= 1014)
    or (c >= 3000 and c <= 4999))
end

-- cjson writes an empty table as {}: lists of the state go through
-- list(), and encode() turns the marker of an empty one into [] (the
-- marker is random, so no client-chosen string can be it)
local EMPTY = "\1" .. core.random_hex(8)
local EMPTY_JSON = json.encode(EMPTY)

local function list(t)
  if #t == 0 then return EMPTY end
  return t
end

local function encode(t)
  local s = json.encode(t):gsub("\\/", "/")
  return (s:gsub(EMPTY_JSON, "[]"))
end

local NO_STORE = { ["Cache-Control"] = "no-store", ["X-Content-Type-Options"] = "nosniff" }

local function with(base, extra)
  local h = {}
  for k, v in pairs(base) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

local function reply(status, t, headers)
  return status, encode(t), "application/json", with(NO_STORE, headers)
end

-- ------------------------------------------------------------- the object

function M.new(srv)
  return setmetatable({
    srv = srv,
    now_ms = clock(),
    sessions = {},	-- cookie value -> expiry (core.now())
    n_sessions = 0,
    tickets = {},	-- single-use feed tickets -> expiry
    feeds = {},		-- socket id -> feed
    n_feeds = 0,
    started = os.time(),
  }, Console)
end

-- ----------------------------------------------------------------- access

function Console:session_ok(value)
  local exp = value and self.sessions[value]
  if not exp then return false end
  if exp < core.now() then
    self.sessions[value] = nil
    self.n_sessions = self.n_sessions - 1
    return false
  end
  return true
end

function Console:authorized(headers)
  if headers["x-admin-key"] ~= nil then
    return same_secret(headers["x-admin-key"], self.srv.admin_key)
  end
  return self:session_ok(cookie_value(headers, M.COOKIE))
end

function Console:new_session()
  if self.n_sessions >= M.MAX_SESSIONS then
    -- the one closest to expiry goes
    local oldest, at
    for k, exp in pairs(self.sessions) do
      if not at or exp < at then oldest, at = k, exp end
    end
    self.sessions[oldest] = nil
    self.n_sessions = self.n_sessions - 1
  end
  local value = core.random_hex(32)
  self.sessions[value] = core.now() + M.SESSION_SECONDS
  self.n_sessions = self.n_sessions + 1
  return value
end

function Console:cookie(value, max_age)
  return M.COOKIE .. "=" .. value .. "; Path=/_console; Max-Age=" .. max_age ..
    "; HttpOnly; SameSite=Strict" .. (self.srv.tls and "; Secure" or "")
end

function Console:new_ticket()
  local now = core.now()
  for k, exp in pairs(self.tickets) do
    if exp < now then self.tickets[k] = nil end
  end
  local t = core.random_hex(16)
  self.tickets[t] = now + M.TICKET_SECONDS
  return t
end

function Console:take_ticket(t)
  local exp = t and self.tickets[t]
  if not exp then return false end
  self.tickets[t] = nil
  return exp >= core.now()
end

-- ------------------------------------------------------------------ state

local function identity_of(sock)
  local id = sock.identity
  if not id then return null end
  return { dbo_id = id.dbo_id, row_id = id.row_id, extras = id.extras or json.decode("{}") }
end

-- Everything the page shows, as plain tables (sorted, so it reads the
-- same twice).  Never holds a token.
function Console:state()
  local srv = self.srv
  local socks = {}
  for id, sock in pairs(srv.socks) do
    local names = {}
    for name in pairs(sock.channels) do names[#names + 1] = name end
    table.sort(names)
    local fin, fout = srv.h:counts(id)
    socks[#socks + 1] = { socketId = sock.socketId, identity = identity_of(sock),
      anonymous = not sock.authenticated, since = sock.since, channels = list(names),
      frames_in = fin or 0, frames_out = fout or 0, _id = id }
  end
  table.sort(socks, function(a, b) return a._id < b._id end)
  for i = 1, #socks do socks[i]._id = nil end

  local chans = {}
  for name, ch in pairs(srv.chans) do
    local members, presence, subscribers = {}, {}, {}
    for i = 1, #ch.members do
      local m = ch.members[i]
      members[i] = m.sock.socketId
      presence[i] = json.decode(m.sock.entry)
      if m.presence then subscribers[#subscribers + 1] = m.sock.socketId end
    end
    chans[#chans + 1] = { name = name, members = list(members),
      presence = list(ch.perm.presence and presence or {}),
      presence_enabled = ch.perm.presence, subscribers = list(subscribers),
      -- the server trims its history list in bulk: the last limit count
      history = ch.perm.message_history > 0 and math.min(#ch.history, ch.perm.message_history) or #ch.history,
      history_limit = ch.perm.message_history }
  end
  table.sort(chans, function(a, b) return a.name < b.name end)

  local st = srv.h:stats()
  return {
    server = { url = srv:url(), canonical = srv.canonical, started = self.started,
      sockets = srv.n_socks, messages = srv.n_messages,
      frames_in = st.frames_in, frames_out = st.frames_out, consoles = self.n_feeds },
    sockets = list(socks), channels = list(chans),
  }
end

-- --------------------------------------------------------------- the log

-- Builds one log line (JSON text) and queues it on every feed.  Called
-- through srv.tap, which is set only while a feed is open.
function Console:record(kind, a, b, c, d)
  local rec = { t = self.now_ms(), kind = kind }
  if kind == "frame" then
    -- a (sock), b (decoded frame), c (raw members)
    local opts = type(b.options) == "table" and b.options or {}
    rec.socket = a.socketId
    rec.channel = type(opts.channel) == "string" and opts.channel or nil
    local action = b.action
    if action == "message" and type(opts.socketId) == "string" then
      rec.kind, rec.to = "private", opts.socketId
    elseif action == "join" or action == "leave" or action == "message" or action == "history" then
      rec.kind = action
    else
      rec.kind = "frame"
    end
    if c.payload ~= "null" then rec.preview = preview(c.payload) end
  elseif kind == "error" then
    -- a (sock), b (channel), c (message)
    rec.socket, rec.channel, rec.preview = a.socketId, b, preview(c)
  elseif kind == "event" then
    -- a (channel), b (raw data), c (sockets reached)
    rec.channel, rec.preview, rec.reached = a, preview(b), c
    rec.socket = "server"
  elseif kind == "server_message" then
    rec.kind = "message"
    rec.channel, rec.preview, rec.reached, rec.socket = a, preview(b), c, "server"
  elseif kind == "refused" then
    -- a (path), b (status), c (why)
    rec.preview = preview(b .. " " .. c .. " (" .. a .. ")")
  elseif kind == "open" then
    rec.socket = a.socketId
    rec.preview = a.identity and ("dbo_id " .. tostring(a.identity.dbo_id) ..
      ", row_id " .. tostring(a.identity.row_id)) or "anonymous"
  elseif kind == "closed" then
    -- a (sock), b (close code)
    rec.socket, rec.preview = a.socketId, "close code " .. tostring(b)
  end
  local line = encode(rec)
  for _, feed in pairs(self.feeds) do
    self:queue_line(feed, line)
  end
end

function Console:queue_line(feed, line)
  local q = feed.q
  q.last = q.last + 1
  q[q.last] = line
  if q.last - q.first + 1 > M.FEED_LIMIT then
    q[q.first] = nil
    q.first = q.first + 1
    feed.dropped = feed.dropped + 1
  end
  feed.dirty = true
  if feed.waiting then self:flush(feed) end
end

-- Sends the feed's queued lines (and the state) as one frame.
function Console:flush(feed)
  local q = feed.q
  local lines = {}
  for i = q.first, q.last do lines[#lines + 1] = q[i] end
  feed.q = { first = 1, last = 0 }
  feed.waiting = false
  feed.dirty = false
  local ok, state = pcall(encode, self:state())
  if not ok then state = "null" end
  self.srv.h:send(feed.id, '{"log":[' .. table.concat(lines, ",") .. '],"dropped":' ..
    feed.dropped .. ',"state":' .. state .. '}')
end

function Console:update_tap()
  local srv = self.srv
  if self.n_feeds > 0 then
    srv.tap = function(kind, a, b, c, d) self:record(kind, a, b, c, d) end
  else
    srv.tap = nil
  end
end

-- An upgrade on /_console/feed?ticket=T.  True when it was the console's
-- to answer (accepted or refused).
function Console:on_upgrade(id, target)
  if (target:gsub("[?#].*$", "")) ~= "/_console/feed" then return false end
  local srv = self.srv
  if not self:take_ticket(query_value(target, "ticket")) then
    srv.h:respond(id, 401, "a console feed needs a ticket: POST /_console/ticket\n")
    return true
  end
  self.feeds[id] = { id = id, q = { first = 1, last = 0 }, dropped = 0,
    waiting = false, dirty = true }
  self.n_feeds = self.n_feeds + 1
  self:update_tap()
  srv.h:accept(id)
  return true
end

function Console:is_feed(id)
  return self.feeds[id] ~= nil
end

-- The page asks for the next batch ("next"); it gets one at once when
-- anything waits, else as soon as something happens.
function Console:on_frame(id, text)
  local feed = self.feeds[id]
  if not feed or text ~= "next" then return end
  if feed.dirty or feed.q.last >= feed.q.first then
    self:flush(feed)
  else
    feed.waiting = true
  end
end

function Console:on_gone(id)
  if not self.feeds[id] then return end
  self.feeds[id] = nil
  self.n_feeds = self.n_feeds - 1
  self:update_tap()
end

-- ---------------------------------------------------------------- actions

local function json_body(headers, body)
  local ctype = (headers["content-type"] or ""):lower()
  if not ctype:find("^application/json") then
    return nil, "send Content-Type: application/json"
  end
  local ok, t = pcall(json.decode, body or "")
  if not ok or type(t) ~= "table" then return nil, "the body must be a JSON object" end
  return t
end

function Console:do_message(t, body)
  local srv = self.srv
  if type(t.channel) ~= "string" or t.channel == "" then
    return reply(400, { error = "channel must be a non-empty string" })
  end
  if not srv:permissions_for(t.channel) then
    return reply(404, { error = "unknown channel" })
  end
  local raw = require("xano.realtime.server.rawjson").object_members(body)
  local raw_payload = raw and raw.payload or "null"
  local n = srv:server_message(t.channel, raw_payload)
  return reply(200, { delivered = n })
end

function Console:do_close(t)
  local srv = self.srv
  local code = t.code == nil and 1000 or t.code
  if not sendable_close_code(code) then
    return reply(400, { error = "code must be 1000-1003, 1007-1014 or 3000-4999" })
  end
  if t.reason ~= nil and (type(t.reason) ~= "string" or #t.reason > 123) then
    return reply(400, { error = "reason must be a string of at most 123 bytes" })
  end
  if type(t.socketId) ~= "string" then
    return reply(400, { error = "socketId must be a string" })
  end
  local ok, err = srv:drop(t.socketId, code, t.reason)
  if not ok then return reply(404, { error = err }) end
  return reply(200, { closed = t.socketId, code = code })
end

local PAGE_CSP = "default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; " ..
  "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

function Console:page(status, authed)
  local nonce = core.random_hex(16)
  local html = PAGE.html:gsub("{{NONCE}}", nonce):gsub("{{MODE}}", authed and "console" or "login")
  return status, html, "text/html; charset=utf-8", with(NO_STORE, {
    ["Content-Security-Policy"] = PAGE_CSP:format(nonce, nonce),
    ["X-Frame-Options"] = "DENY", ["Referrer-Policy"] = "no-referrer" })
end

-- Every /_console request: status, body, content type, header table.
function Console:route(method, path, headers, body)
  if path == "/_console/login" then
    if method ~= "POST" then return reply(405, { error = "method not allowed" }) end
    local t, err = json_body(headers, body)
    if not t then return reply(400, { error = err }) end
    if not same_secret(t.key, self.srv.admin_key) then
      return reply(401, { error = "wrong admin key" })
    end
    return 204, "", nil, with(NO_STORE, {
      ["Set-Cookie"] = self:cookie(self:new_session(), M.SESSION_SECONDS) })
  end
  local authed = self:authorized(headers)
  if path == "/_console" or path == "/_console/" then
    if method ~= "GET" and method ~= "HEAD" then return reply(405, { error = "method not allowed" }) end
    return self:page(authed and 200 or 401, authed)
  end
  if not authed then
    return reply(401, { error = "the console needs the admin key (X-Admin-Key) or a login" })
  end
  if path == "/_console/state" then
    if method ~= "GET" then return reply(405, { error = "method not allowed" }) end
    return reply(200, self:state())
  end
  if path == "/_console/logout" then
    if method ~= "POST" then return reply(405, { error = "method not allowed" }) end
    local v = cookie_value(headers, M.COOKIE)
    if v and self.sessions[v] then
      self.sessions[v] = nil
      self.n_sessions = self.n_sessions - 1
    end
    return 204, "", nil, with(NO_STORE, { ["Set-Cookie"] = self:cookie("", 0) })
  end
  local actions = { ["/_console/ticket"] = true, ["/_console/event"] = true,
    ["/_console/message"] = true, ["/_console/close"] = true }
  if not actions[path] then return reply(404, { error = "not found" }) end
  if method ~= "POST" then return reply(405, { error = "method not allowed" }) end
  -- JSON only: a cross-site form cannot send it without a preflight,
  -- which this server never grants
  local t, err = json_body(headers, body)
  if not t then return reply(400, { error = err }) end
  if path == "/_console/ticket" then
    return reply(200, { ticket = self:new_ticket(), expires_in = M.TICKET_SECONDS })
  elseif path == "/_console/event" then
    local status, text = self.srv:event_request(body, t)
    return status, text, "application/json", with(NO_STORE)
  elseif path == "/_console/message" then
    return self:do_message(t, body)
  end
  return self:do_close(t)
end

return M
