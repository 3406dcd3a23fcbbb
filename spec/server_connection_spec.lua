-- The local Xano Realtime server: how a client connects.  The URL is
-- /rt/<canonical>; the auth token travels as the only WebSocket
-- subprotocol and must be echoed back; the token decides the identity.
local H = require "support.helpers"
local RC = require "support.rawclient"
local HTTP = require "support.http"
local server = require "xano.realtime.server"

local TOKENS = {
  ["alice-token"] = { dbo_id = 1, row_id = 7, extras = { name = "Alice" } },
}

local function start(cfg)
  local config = { tokens = TOKENS }
  for k, v in pairs(cfg or {}) do config[k] = v end
  return H.track(assert(server.start{ port = 0, canonical = "abc", config = config }))
end

-- the presence entry a client sees for itself after joining with presence
local function own_entry(c, channel)
  c:join(channel, { presence = true })
  local f = c:expect("presence_full", channel)
  for _, e in ipairs(f.payload.presence) do
    if e.socketId == c.socketId then return e end
  end
  error("own entry missing from presence_full")
end

describe("server connection", function()
  after_each(H.cleanup)

  it("listens on the port it reports and builds its URLs from it", function()
    local srv = start()
    assert.is_true(srv.port > 0)
    assert.equal("ws://127.0.0.1:" .. srv.port .. "/rt/abc", srv:url())
    assert.equal("http://127.0.0.1:" .. srv.port, srv:base_url())
    RC.open(srv)
    assert.equal(1, #srv:sockets())
  end)

  describe("the path", function()
    it("accepts the upgrade on /rt/<canonical>", function()
      local srv = start()
      local res = HTTP.upgrade(srv.port, "/rt/abc")
      assert.equal(101, res.status)
    end)

    it("answers any other path with HTTP 404", function()
      local srv = start()
      for _, path in ipairs({ "/rt/other", "/rt/abcd", "/rt/abc/x", "/ws/abc", "/rt/", "/" }) do
        local res = HTTP.upgrade(srv.port, path)
        assert.equal(404, res.status, path)
      end
      local c = RC.connect(srv.port, { path = "/rt/wrong" })
      assert.equal(404, (c:wait_closed()))
      assert.equal(0, #srv:sockets())
    end)
  end)

  describe("the token", function()
    it("is echoed back exactly as the selected subprotocol, even at 600 bytes", function()
      local srv = start()
      local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
      local parts = {}
      for i = 1, 600 do
        local k = (i * 7) % #alphabet + 1
        parts[i] = alphabet:sub(k, k)
      end
      local token = table.concat(parts)
      local res = HTTP.upgrade(srv.port, "/rt/abc", token)
      assert.equal(101, res.status)
      assert.equal(token, res.headers["sec-websocket-protocol"])
      -- a real WebSocket client fails the handshake unless the echo is exact
      local c = RC.open(srv, { token = token })
      assert.equal("open", c.state)
    end)

    it("without one, the 101 names no subprotocol", function()
      local srv = start()
      local res = HTTP.upgrade(srv.port, "/rt/abc")
      assert.equal(101, res.status)
      assert.is_nil(res.headers["sec-websocket-protocol"])
    end)

    it("known: gives the socket the token's identity", function()
      local srv = start()
      local c = RC.open(srv, { token = "alice-token" })
      local e = own_entry(c, "room")
      assert.same({ name = "Alice" }, e.extras)
      assert.same({ dbo_id = 1, row_id = 7 }, e.permissions)
      assert.is_true(srv:sockets()[1].authenticated)
    end)

    it("absent: the socket is anonymous, extras {} and ids 0", function()
      local srv = start()
      local c = RC.open(srv)
      local e = own_entry(c, "room")
      assert.same({}, e.extras)
      assert.same({ dbo_id = 0, row_id = 0 }, e.permissions)
      assert.is_false(srv:sockets()[1].authenticated)
    end)

    it("unknown: anonymous by default, the token still echoed", function()
      local srv = start()
      local res = HTTP.upgrade(srv.port, "/rt/abc", "no-such-token")
      assert.equal(101, res.status)
      assert.equal("no-such-token", res.headers["sec-websocket-protocol"])
      local c = RC.open(srv, { token = "no-such-token" })
      local e = own_entry(c, "room")
      assert.same({ dbo_id = 0, row_id = 0 }, e.permissions)
    end)

    it("unknown with unknown_token = \"refuse\": HTTP 401 at the upgrade", function()
      local srv = start({ unknown_token = "refuse" })
      local res = HTTP.upgrade(srv.port, "/rt/abc", "no-such-token")
      assert.equal(401, res.status)
      local c = RC.connect(srv.port, { canonical = "abc", token = "no-such-token" })
      assert.equal(401, (c:wait_closed()))
      -- known tokens and anonymous clients still get in
      RC.open(srv, { token = "alice-token" })
      RC.open(srv)
      assert.equal(2, #srv:sockets())
    end)
  end)

  it("gives every socket its own unguessable socketId", function()
    local srv = start()
    local a, b = RC.open(srv), RC.open(srv)
    assert.not_equal(a.socketId, b.socketId)
    for _, id in ipairs({ a.socketId, b.socketId }) do
      assert.truthy(id:match("^%x+$"), id)
      assert.is_true(#id >= 32, id)
    end
  end)

  it("forgets a socket once its client closes", function()
    local srv = start()
    local c = RC.open(srv)
    assert.equal(1, srv:stats().sockets)
    c:close()
    H.wait_until(function() return #srv:sockets() == 0 end, "socket forgotten")
    assert.equal(0, srv:stats().sockets)
  end)

  describe("plain HTTP on the same port", function()
    it("GET / answers 200 with a short text", function()
      local srv = start()
      local res = HTTP.request(srv.port, "GET", "/")
      assert.equal(200, res.status)
      assert.truthy(res.body:find("Xano Realtime", 1, true))
    end)

    it("unknown paths are 404, a wrong method 405", function()
      local srv = start()
      assert.equal(404, HTTP.request(srv.port, "GET", "/nope").status)
      assert.equal(404, HTTP.request(srv.port, "GET", "/rt/abc").status)
      assert.equal(405, HTTP.request(srv.port, "GET", "/event").status)
      assert.equal(405, HTTP.request(srv.port, "POST", "/", {}, "x").status)
    end)
  end)

  it("close() closes every socket with 1001 and stops listening", function()
    local srv = start()
    local a, b = RC.open(srv), RC.open(srv)
    local port = srv.port
    srv:close()
    assert.is_true(srv:is_closed())
    assert.equal(1001, (a:wait_closed()))
    assert.equal(1001, (b:wait_closed()))
    -- nothing listens any more: the connection itself fails (1006)
    local c = RC.connect(port, { canonical = "abc" })
    assert.equal(1006, (c:wait_closed()))
  end)
end)
