-- The server's live console: GET /_console (a page), GET /_console/state
-- (JSON), a feed on /_console/feed (a WebSocket opened with a single-use
-- ticket), and actions (a server event, a message as the server, closing a
-- socket).  It exists only when the server has an admin key, and every
-- request needs that key (X-Admin-Key) or the session cookie that
-- POST /_console/login sets.  The page itself is driven in a browser by
-- spec/server_console_browser_spec.lua.
local cjson = require "cjson"
local H = require "support.helpers"
local RC = require "support.rawclient"
local HTTP = require "support.http"
local server = require "xano.realtime.server"
local console = require "xano.realtime.server.console"

local KEY = "console-admin-key"
local TOKENS = {
  ["alice-secret-token"] = { dbo_id = 1, row_id = 7, extras = { name = "Alice" } },
  ["bob-secret-token"] = { dbo_id = 1, row_id = 8 },
}

local function start(extra)
  local config = { tokens = TOKENS, admin_key = KEY }
  for k, v in pairs(extra or {}) do config[k] = v end
  return H.track(assert(server.start{ port = 0, canonical = "test", config = config }))
end

local function get(srv, path, headers)
  return HTTP.request(srv.port, "GET", path, headers)
end

local function post(srv, path, body, headers)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  local res = HTTP.request(srv.port, "POST", path, h, body)
  res.json = res.body ~= "" and select(2, pcall(cjson.decode, res.body)) or nil
  return res
end

local ADMIN = { ["X-Admin-Key"] = KEY }

local function state(srv)
  local res = get(srv, "/_console/state", ADMIN)
  assert.equal(200, res.status)
  return cjson.decode(res.body), res.body
end

local function by(list, key, value)
  for _, x in ipairs(list) do
    if x[key] == value then return x end
  end
  return nil
end

-- A feed as the page opens it: a ticket, then the WebSocket.
local function open_feed(srv)
  local t = post(srv, "/_console/ticket", "{}", ADMIN)
  assert.equal(200, t.status)
  return RC.connect(srv.port, { path = "/_console/feed?ticket=" .. t.json.ticket }):wait_open()
end

-- asks for the next batch and returns it (decoded, raw)
local function next_batch(feed)
  feed:send("next")
  return feed:next_frame("a console batch")
end

-- the log lines of the batches that arrive until pred(line) holds for one
local function lines_until(feed, pred)
  local all = {}
  for _ = 1, 50 do
    local b, raw = next_batch(feed)
    for _, l in ipairs(b.log) do
      all[#all + 1] = l
      if pred(l) then return all, b, raw end
    end
  end
  error("no such log line in 50 batches")
end

describe("server console", function()
  after_each(H.cleanup)

  describe("without an admin key", function()
    it("does not exist: every /_console path is 404, and so is the feed's upgrade", function()
      local srv = H.track(assert(server.start{ port = 0, canonical = "test" }))
      assert.is_nil(srv:console_url())
      for _, path in ipairs({ "/_console", "/_console/", "/_console/state" }) do
        assert.equal(404, get(srv, path, ADMIN).status)
      end
      assert.equal(404, post(srv, "/_console/login", cjson.encode{ key = KEY }).status)
      assert.equal(404, post(srv, "/_console/ticket", "{}", ADMIN).status)
      local res = HTTP.upgrade(srv.port, "/_console/feed")
      assert.equal(404, res.status)
      -- and the realtime path works as ever
      RC.open(srv):joined("room")
    end)
  end)

  describe("access", function()
    it("answers 401 without the key: a login page for the page, JSON for the rest", function()
      local srv = start()
      assert.equal("http://127.0.0.1:" .. srv.port .. "/_console", srv:console_url())
      local page = get(srv, "/_console")
      assert.equal(401, page.status)
      assert.truthy(page.headers["content-type"]:find("text/html", 1, true))
      assert.truthy(page.body:find('data-mode="login"', 1, true))
      assert.equal(401, get(srv, "/_console/state").status)
      assert.equal(401, get(srv, "/_console/state", { ["X-Admin-Key"] = KEY .. "x" }).status)
      assert.equal(401, get(srv, "/_console/state", { ["X-Admin-Key"] = "" }).status)
      assert.equal(401, post(srv, "/_console/ticket", "{}").status)
      -- an action without the key does nothing
      local c = RC.open(srv):joined("room")
      assert.equal(401, post(srv, "/_console/event", '{"channel":"room","data":1}').status)
      assert.equal(401, post(srv, "/_console/message", '{"channel":"room","payload":1}').status)
      assert.equal(401, post(srv, "/_console/close", cjson.encode{ socketId = c.socketId }).status)
      srv:event("room", "marker")
      assert.equal("marker", c:expect("event", "room").payload.data)
      assert.is_false(c.state == "closed")
    end)

    it("with X-Admin-Key serves the page (console mode) with a strict content policy", function()
      local srv = start()
      local page = get(srv, "/_console", ADMIN)
      assert.equal(200, page.status)
      assert.truthy(page.body:find('data-mode="console"', 1, true))
      local csp = page.headers["content-security-policy"]
      assert.truthy(csp:find("default-src 'none'", 1, true))
      local nonce = csp:match("script%-src 'nonce%-(%x+)'")
      assert.truthy(nonce)
      assert.truthy(page.body:find('<script nonce="' .. nonce .. '">', 1, true))
      assert.equal("DENY", page.headers["x-frame-options"])
      assert.equal("no-store", page.headers["cache-control"])
      -- self-contained: nothing is fetched from another origin
      assert.is_nil(page.body:find("https?://"))
      assert.is_nil(page.body:find("<link", 1, true))
    end)

    it("logs in with the key: an HttpOnly SameSite=Strict session cookie that is not the key", function()
      local srv = start()
      local bad = post(srv, "/_console/login", cjson.encode{ key = "wrong" })
      assert.equal(401, bad.status)
      assert.is_nil(bad.headers["set-cookie"])
      -- JSON only (a cross-site form cannot post it)
      local form = HTTP.request(srv.port, "POST", "/_console/login",
        { ["Content-Type"] = "application/x-www-form-urlencoded" }, "key=" .. KEY)
      assert.equal(400, form.status)
      local ok = post(srv, "/_console/login", cjson.encode{ key = KEY })
      assert.equal(204, ok.status)
      local cookie = ok.headers["set-cookie"]
      local value = cookie:match("^xrt_console=(%x+);")
      assert.truthy(value)
      assert.is_nil(cookie:find(KEY, 1, true))
      assert.truthy(cookie:find("; HttpOnly", 1, true))
      assert.truthy(cookie:find("; SameSite=Strict", 1, true))
      assert.truthy(cookie:find("; Path=/_console", 1, true))
      local jar = { Cookie = "xrt_console=" .. value }
      assert.equal(200, get(srv, "/_console/state", jar).status)
      assert.equal(200, get(srv, "/_console", jar).status)
      assert.equal(401, get(srv, "/_console/state", { Cookie = "xrt_console=" .. value:sub(2) .. "0" }).status)
      -- logging out ends the session
      local out = post(srv, "/_console/logout", "{}", jar)
      assert.equal(204, out.status)
      assert.truthy(out.headers["set-cookie"]:find("Max-Age=0", 1, true))
      assert.equal(401, get(srv, "/_console/state", jar).status)
    end)

    it("opens the feed only with a fresh ticket, each ticket once", function()
      local srv = start()
      assert.equal(401, (HTTP.upgrade(srv.port, "/_console/feed")).status)
      assert.equal(401, (HTTP.upgrade(srv.port, "/_console/feed?ticket=00112233445566778899aabbccddeeff")).status)
      local t = post(srv, "/_console/ticket", "{}", ADMIN).json.ticket
      assert.equal(101, (HTTP.upgrade(srv.port, "/_console/feed?ticket=" .. t)).status)
      assert.equal(401, (HTTP.upgrade(srv.port, "/_console/feed?ticket=" .. t)).status)
      -- a feed is not a realtime client
      assert.same({}, srv:sockets())
    end)

    it("never shows a token: not in the page, the state, the feed, nor a refused upgrade", function()
      local srv = start{ unknown_token = "refuse" }
      local feed = open_feed(srv)
      next_batch(feed)
      local a = RC.open(srv, { token = "alice-secret-token" }):joined("room", { presence = true })
      local b = RC.open(srv, { token = "bob-secret-token" }):joined("room")
      a:message("room", "hi")
      b:expect("message", "room")
      local refused = RC.connect(srv.port, { canonical = "test", token = "stranger-secret-token" })
      refused:wait_closed()
      local seen = {}
      local _, raw = state(srv)
      seen[#seen + 1] = raw
      seen[#seen + 1] = get(srv, "/_console", ADMIN).body
      local lines, _, last = lines_until(feed, function(l) return l.kind == "refused" end)
      assert.equal("401 unknown token (/rt/test)", lines[#lines].preview)
      for _, l in ipairs(lines) do seen[#seen + 1] = cjson.encode(l) end
      seen[#seen + 1] = last
      assert.truthy(table.concat(seen):find("Alice", 1, true)) -- the identity is there
      for _, text in ipairs(seen) do
        for _, secret in ipairs({ "alice-secret-token", "bob-secret-token", "stranger-secret-token", KEY }) do
          assert.is_nil(text:find(secret, 1, true), "found " .. secret)
        end
      end
    end)
    it("cannot have a header line injected: the transport refuses line breaks in headers", function()
      local srv = start()
      assert.has_error(function()
        srv.h:respond(1, 200, "x", "text/plain", { ["Set-Cookie"] = "a=1\r\nX-Injected: 1" })
      end)
      assert.has_error(function() srv.h:respond(1, 200, "x", "text/plain\r\nX-Injected: 1") end)
      assert.has_error(function() srv.h:respond(1, 200, "x", nil, { ["Bad Name"] = "1" }) end)
      assert.has_error(function() srv.h:respond(1, 200, "x", nil, { ["X-Ok"] = 1 }) end)
    end)
  end)

  describe("GET /_console/state", function()
    it("lists sockets (identity, channels, frames in and out) and channels (members, presence, history)", function()
      local srv = start()
      local a = RC.open(srv, { token = "alice-secret-token" }):joined("room", { presence = true })
      local b = RC.open(srv):joined("room")
      a:expect("presence_full", "room")
      a:expect("presence_update", "room")
      b:message("room", { text = "hello" })
      a:expect("message", "room")
      b:expect("message", "room")
      local st = state(srv)
      assert.equal(2, #st.sockets)
      local sa, sb = by(st.sockets, "socketId", a.socketId), by(st.sockets, "socketId", b.socketId)
      assert.same({ dbo_id = 1, row_id = 7, extras = { name = "Alice" } }, sa.identity)
      assert.is_false(sa.anonymous)
      assert.equal(cjson.null, sb.identity)
      assert.is_true(sb.anonymous)
      assert.same({ "room" }, sa.channels)
      assert.same({ "room" }, sb.channels)
      assert.is_true(math.abs(os.time() - sa.since) < 60)
      -- what each socket sent and was sent, as its peer counts them
      assert.equal(1, sa.frames_in)	-- join
      assert.equal(2, sb.frames_in)	-- join, message
      assert.equal(#a.frames, sa.frames_out)	-- presence_full, presence_update, message
      assert.equal(#b.frames, sb.frames_out)	-- message
      assert.equal(3, sa.frames_out)
      assert.equal(1, #st.channels)
      local ch = st.channels[1]
      assert.equal("room", ch.name)
      assert.same({ a.socketId, b.socketId }, ch.members)
      assert.same({ a.socketId }, ch.subscribers)
      assert.equal(2, #ch.presence)
      assert.same({ dbo_id = 1, row_id = 7 }, ch.presence[1].permissions)
      assert.equal(1, ch.history)
      assert.equal(100, ch.history_limit)
      assert.equal(2, st.server.sockets)
      assert.equal(1, st.server.messages)
    end)

    it("writes empty lists as [] and follows leaves and closes", function()
      local srv = start()
      local _, raw = state(srv)
      assert.truthy(raw:find('"sockets":[]', 1, true))
      assert.truthy(raw:find('"channels":[]', 1, true))
      local a = RC.open(srv):joined("room")
      local b = RC.open(srv):joined("room")
      a:leave("room")
      H.wait_until(function() return #srv:members("room") == 1 end, "leave")
      local st = state(srv)
      assert.same({ b.socketId }, st.channels[1].members)
      b:close()
      H.wait_until(function() return #srv:sockets() == 1 end, "close")
      st = state(srv)
      assert.equal(1, #st.sockets)
      assert.equal(0, #st.channels)
    end)
  end)

  describe("the feed", function()
    it("costs nothing while no console listens: the server's tap is set only while a feed is open", function()
      local srv = start()
      RC.open(srv):joined("room"):message("room", 1)
      assert.is_nil(srv.tap)
      local feed = open_feed(srv)
      H.wait_until(function() return srv.tap ~= nil end, "tap set")
      feed:close()
      H.wait_until(function() return srv.tap == nil end, "tap cleared")
    end)

    it("sends the state, then log lines of joins, messages, private messages, history, errors and closes", function()
      local srv = start()
      local feed = open_feed(srv)
      local first = next_batch(feed)
      assert.same({}, first.log)
      assert.equal(0, first.dropped)
      assert.equal(0, #first.state.sockets)
      local a = RC.open(srv, { token = "alice-secret-token" }):joined("room")
      local b = RC.open(srv):joined("room")
      a:message("room", { text = "hello there" })
      b:expect("message", "room")
      a:message("room", "psst", { socketId = b.socketId })
      b:expect("message", "room")
      b:history("room")
      b:expect("history", "room")
      b:message("nowhere", "x")
      b:expect("error", "nowhere")
      b:close()
      local lines, batch = lines_until(feed, function(l) return l.kind == "closed" end)
      local function find(kind, socket)
        for _, l in ipairs(lines) do
          if l.kind == kind and (not socket or l.socket == socket) then return l end
        end
      end
      assert.equal("room", find("join", a.socketId).channel)
      assert.equal("room", find("join", b.socketId).channel)
      local m = find("message", a.socketId)
      assert.equal("room", m.channel)
      assert.equal('{"text":"hello there"}', m.preview)
      local p = find("private", a.socketId)
      assert.equal(b.socketId, p.to)
      assert.equal('"psst"', p.preview)
      assert.equal("room", find("history", b.socketId).channel)
      local e = find("error", b.socketId)
      assert.equal("nowhere", e.channel)
      assert.truthy(e.preview:find("not joined", 1, true))
      assert.truthy(find("closed", b.socketId).preview:find("close code", 1, true))
      assert.is_true(lines[1].t > 0)
      -- the state in the same batch has one socket left
      assert.equal(1, #batch.state.sockets)
    end)

    it("a console that never reads cannot slow the server: its queue is bounded, the oldest lines dropped and counted", function()
      local saved = console.FEED_LIMIT
      console.FEED_LIMIT = 50
      finally(function() console.FEED_LIMIT = saved end)
      local srv = start()
      local a = RC.open(srv):joined("room")
      local b = RC.open(srv):joined("room")
      -- a raw feed that asks once, then reads nothing
      local t = post(srv, "/_console/ticket", "{}", ADMIN).json.ticket
      local res, conn = HTTP.upgrade(srv.port, "/_console/feed?ticket=" .. t)
      assert.equal(101, res.status)
      conn:send(HTTP.ws_frame("next"))
      H.wait_until(function()
        local feed = next(srv.console.feeds) and select(2, next(srv.console.feeds))
        return feed and not feed.waiting and not feed.dirty
      end, "first batch sent")
      local N = 400
      for i = 1, N do a:message("room", i) end
      -- every realtime peer gets every message, in order
      for i = 1, N do assert.equal(i, b:expect("message", "room").payload) end
      -- the page reads now: its first batch, then one with the newest lines
      local _, first = HTTP.read_ws_frame(conn)
      assert.same({}, cjson.decode(first).log)
      conn:send(HTTP.ws_frame("next"))
      local _, text = HTTP.read_ws_frame(conn)
      local batch = cjson.decode(text)
      assert.equal(50, #batch.log)
      assert.equal(N - 50, batch.dropped)
      assert.equal(tostring(N - 49), batch.log[1].preview)
      assert.equal(tostring(N), batch.log[50].preview)
    end)
  end)

  describe("actions", function()
    it("sends a server event (as POST /event does) and logs it", function()
      local srv = start()
      local feed = open_feed(srv)
      next_batch(feed)
      local a = RC.open(srv, { token = "alice-secret-token" }):joined("room")
      local b = RC.open(srv, { token = "bob-secret-token" }):joined("room")
      local res = post(srv, "/_console/event", '{"channel":"room","data":{"n":1}}', ADMIN)
      assert.equal(200, res.status)
      assert.equal(2, res.json.delivered)
      for _, c in ipairs({ a, b }) do
        assert.same({ n = 1 }, c:expect("event", "room").payload.data)
      end
      res = post(srv, "/_console/event", '{"channel":"room","data":"only bob","row_id":8}', ADMIN)
      assert.equal(1, res.json.delivered)
      assert.equal("only bob", b:expect("event", "room").payload.data)
      assert.equal(400, post(srv, "/_console/event", '{"data":1}', ADMIN).status)
      local lines = lines_until(feed, function(l) return l.kind == "event" and l.reached == 1 end)
      local ev = lines[#lines]
      assert.equal("room", ev.channel)
      assert.equal('"only bob"', ev.preview)
    end)

    it("sends a message as the server, kept in the channel's history", function()
      local srv = start()
      local a = RC.open(srv):joined("room")
      local res = post(srv, "/_console/message", '{"channel":"room","payload":{"big":12345678901234567890}}', ADMIN)
      assert.equal(200, res.status)
      assert.equal(1, res.json.delivered)
      local f, raw = a:expect("message", "room")
      assert.equal("server", f.client.socketId)
      assert.truthy(raw:find('"payload":{"big":12345678901234567890}', 1, true))
      assert.equal(1, #srv:history("room"))
      assert.equal(400, post(srv, "/_console/message", '{"channel":"","payload":1}', ADMIN).status)
      assert.equal(0, post(srv, "/_console/message", '{"channel":"empty","payload":1}', ADMIN).json.delivered)
    end)

    it("closes a socket with the chosen code and reason", function()
      local srv = start()
      local a = RC.open(srv):joined("room")
      local res = post(srv, "/_console/close", cjson.encode{ socketId = a.socketId, code = 4001,
        reason = "console test" }, ADMIN)
      assert.equal(200, res.status)
      local code, reason = a:wait_closed()
      assert.equal(4001, code)
      assert.truthy(reason:find("console test", 1, true))
      assert.equal(400, post(srv, "/_console/close", cjson.encode{ socketId = "x", code = 1006 }, ADMIN).status)
      assert.equal(404, post(srv, "/_console/close", cjson.encode{ socketId = "nobody", code = 1000 }, ADMIN).status)
    end)
  end)
end)
