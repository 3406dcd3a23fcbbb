-- The local Xano Realtime server: client messages.  A public message goes
-- to every member of the channel, the sender included (the echo); one
-- with options.authenticated only to authenticated members; one with
-- options.socketId only to that member, without an echo.  The delivered
-- frame is {"action":"message","options":<the sender's options>,
-- "client":<the sender's entry>,"payload":<the sender's payload>}.
-- Every refusal is an error frame naming the channel, and the connection
-- stays open.
local H = require "support.helpers"
local RC = require "support.rawclient"
local server = require "xano.realtime.server"

local TOKENS = {
  ["alice-token"] = { dbo_id = 1, row_id = 1, extras = { name = "Alice" } },
  ["bob-token"] = { dbo_id = 1, row_id = 2, extras = { name = "Bob" } },
}

local function start(channels, extra)
  local config = { tokens = TOKENS, channels = channels }
  for k, v in pairs(extra or {}) do config[k] = v end
  return H.track(assert(server.start{ port = 0, canonical = "test", config = config }))
end

-- clients, joined to channel in order: "alice"/"bob" have tokens, any
-- other name is anonymous
local function members(srv, channel, names)
  local out = {}
  for _, name in ipairs(names) do
    local token = (name == "alice" or name == "bob") and name .. "-token" or nil
    out[name] = RC.open(srv, { token = token }):joined(channel)
  end
  return out
end

-- the refusal: an error frame on the channel with this message, and the
-- client still connected (most tests then show it is still served)
local function assert_refused(c, channel, message)
  local e = c:expect("error", channel)
  assert.same({ channel = channel }, e.options)
  assert.equal(message, e.payload.message)
  assert.is_nil(e.client)
  assert.equal("open", c.state)
end

describe("server messages", function()
  after_each(H.cleanup)

  describe("public", function()
    it("reach every member, the sender included, with the sender as client", function()
      local srv = start()
      local m = members(srv, "room", { "alice", "anon" })
      m.alice:message("room", { text = "hi" })
      for _, c in pairs(m) do
        local f = c:expect("message", "room")
        assert.same({ channel = "room" }, f.options)
        assert.same({ socketId = m.alice.socketId, extras = { name = "Alice" },
          permissions = { dbo_id = 1, row_id = 1 } }, f.client)
        assert.same({ text = "hi" }, f.payload)
      end
      assert.equal(1, srv:stats().messages)
    end)

    it("keep the sender's options as sent, socketId null and authenticated false included", function()
      local srv = start()
      local m = members(srv, "room", { "anon", "other" })
      -- the frame WeWeb sends for "Everyone"
      m.anon:send('{"action":"message","options":{"authenticated":false,"socketId":null,' ..
        '"channel":"room"},"payload":"to all"}')
      for _, c in pairs(m) do
        local f, raw = c:expect("message", "room")
        assert.equal("to all", f.payload)
        assert.truthy(raw:find('"options":{"authenticated":false,"socketId":null,"channel":"room"}',
          1, true), raw)
      end
    end)

    it("relay the payload byte for byte: big integers, empty arrays, key order", function()
      local srv = start()
      local m = members(srv, "room", { "a", "b" })
      local payload = '{"z":12345678901234567890,"a":[],"o":{},"s":"\\u00fc\\/x","n":null}'
      m.a:send('{"action":"message","options":{"channel":"room"},"payload":' .. payload .. '}')
      local _, raw = m.b:expect("message", "room")
      assert.equal(payload, raw:match('"payload":(.*)}$'))
    end)

    it("with no payload key carry payload null", function()
      local srv = start()
      local m = members(srv, "room", { "a" })
      m.a:send('{"action":"message","options":{"channel":"room"}}')
      local _, raw = m.a:expect("message", "room")
      assert.truthy(raw:find('"payload":null}', 1, true), raw)
    end)

    it("do not reach clients outside the channel", function()
      local srv = start()
      local m = members(srv, "room", { "a" })
      local outsider = RC.open(srv):joined("other")
      m.a:message("room", "inside")
      m.a:expect("message", "room")
      m.a:joined("other")
      m.a:message("other", "marker")
      assert.equal("marker", outsider:expect("message", "other").payload)
    end)

    it("are refused when public_messaging is off", function()
      local srv = start({ { pattern = "news", public_messaging = false } })
      local m = members(srv, "news", { "alice" })
      m.alice:message("news", "hello")
      assert_refused(m.alice, "news", "public messaging is disabled on this channel")
      assert.same({}, srv:history("news"))
    end)

    it("with public_auth_only: refused from anonymous senders, still seen by them", function()
      local srv = start({ { pattern = "talk", public_auth_only = true } })
      local m = members(srv, "talk", { "anon", "alice" })
      m.anon:message("talk", "may I?")
      assert_refused(m.anon, "talk", "public messaging requires authentication on this channel")
      m.alice:message("talk", "yes")
      assert.equal("yes", m.anon:expect("message", "talk").payload)
      assert.equal("yes", m.alice:expect("message", "talk").payload)
    end)
  end)

  describe("authenticated-only (options.authenticated = true)", function()
    it("reach only authenticated members, the sender's echo included", function()
      local srv = start()
      local m = members(srv, "room", { "alice", "bob", "anon" })
      m.alice:message("room", "members only", { authenticated = true })
      for _, name in ipairs({ "alice", "bob" }) do
        local f = m[name]:expect("message", "room")
        assert.equal("members only", f.payload)
        assert.is_true(f.options.authenticated)
      end
      m.alice:message("room", "marker")
      assert.equal("marker", m.anon:expect("message", "room").payload)
    end)

    it("are refused from an anonymous sender", function()
      local srv = start()
      local m = members(srv, "room", { "anon", "alice" })
      m.anon:message("room", "sneaky", { authenticated = true })
      assert_refused(m.anon, "room", "authenticated messages require an authenticated sender")
      m.anon:message("room", "marker")
      assert.equal("marker", m.alice:expect("message", "room").payload)
    end)

    it("authenticated_messaging on a channel makes every authenticated sender's message so", function()
      local srv = start({ { pattern = "room", authenticated_messaging = true } })
      local m = members(srv, "room", { "alice", "bob", "anon" })
      m.alice:message("room", "plain but scoped")
      assert.equal("plain but scoped", m.bob:expect("message", "room").payload)
      assert.equal("plain but scoped", m.alice:expect("message", "room").payload)
      -- an anonymous sender's message still goes to everyone
      m.anon:message("room", "from anon")
      assert.equal("from anon", m.anon:expect("message", "room").payload)
      assert.equal("from anon", m.bob:expect("message", "room").payload)
    end)
  end)

  describe("private (options.socketId)", function()
    it("reach only the target, with no echo to the sender", function()
      local srv = start()
      local m = members(srv, "room", { "alice", "bob", "third" })
      m.alice:message("room", { secret = 1 }, { socketId = m.bob.socketId })
      local f = m.bob:expect("message", "room")
      assert.same({ secret = 1 }, f.payload)
      assert.equal(m.alice.socketId, f.client.socketId)
      assert.same({ channel = "room", socketId = m.bob.socketId }, f.options)
      -- the next frame of the sender and of the third client is a broadcast
      m.bob:message("room", "marker")
      assert.equal("marker", m.alice:expect("message", "room").payload)
      assert.equal("marker", m.third:expect("message", "room").payload)
      local h = srv:history("room")
      assert.equal(1, #h)
      assert.equal("marker", h[1].payload)
    end)

    it("to a socket that is not in the channel are refused", function()
      local srv = start()
      local m = members(srv, "room", { "alice" })
      local elsewhere = RC.open(srv):joined("other")
      m.alice:message("room", "psst", { socketId = elsewhere.socketId })
      assert_refused(m.alice, "room", "the target client is not in this channel")
      m.alice:message("room", "psst", { socketId = "no-such-socket" })
      assert_refused(m.alice, "room", "the target client is not in this channel")
      m.alice:joined("other")
      m.alice:message("other", "marker")
      assert.equal("marker", elsewhere:expect("message", "other").payload)
    end)

    it("are refused when private_messaging is off", function()
      local srv = start({ { pattern = "room", private_messaging = false } })
      local m = members(srv, "room", { "alice", "bob" })
      m.alice:message("room", "psst", { socketId = m.bob.socketId })
      assert_refused(m.alice, "room", "private messaging is disabled on this channel")
      m.alice:message("room", "marker")
      assert.equal("marker", m.bob:expect("message", "room").payload)
    end)

    it("with private_auth_only need both ends authenticated", function()
      local srv = start({ { pattern = "room", private_auth_only = true } })
      local m = members(srv, "room", { "alice", "bob", "anon" })
      m.anon:message("room", "from anon", { socketId = m.bob.socketId })
      assert_refused(m.anon, "room", "private messaging requires authentication on this channel")
      m.alice:message("room", "to anon", { socketId = m.anon.socketId })
      assert_refused(m.alice, "room", "private messaging requires authentication on this channel")
      m.alice:message("room", "to bob", { socketId = m.bob.socketId })
      assert.equal("to bob", m.bob:expect("message", "room").payload)
    end)

    it("anonymous to anonymous work when private messaging is open", function()
      local srv = start()
      local m = members(srv, "room", { "x", "y" })
      m.x:message("room", "hey", { socketId = m.y.socketId })
      assert.equal("hey", m.y:expect("message", "room").payload)
    end)
  end)

  describe("refusals", function()
    it("a message to a channel not joined: error, connection kept", function()
      local srv = start()
      local a = RC.open(srv)
      a:message("room", "hello?")
      assert_refused(a, "room", "not joined to this channel")
      a:joined("room")
      a:message("room", "now")
      assert.equal("now", a:expect("message", "room").payload)
    end)

    it("a message to an unknown channel: error", function()
      local srv = start({ { pattern = "room" } })
      local a = RC.open(srv)
      a:message("nowhere", "hello?")
      assert_refused(a, "nowhere", "unknown channel")
    end)

    it("options.socketId or options.authenticated of the wrong type: malformed", function()
      local srv = start()
      local a = RC.open(srv):joined("room")
      a:send('{"action":"message","options":{"channel":"room","socketId":5},"payload":1}')
      assert_refused(a, "room", "malformed frame: options.socketId must be a string or null")
      a:send('{"action":"message","options":{"channel":"room","authenticated":"yes"},"payload":1}')
      assert_refused(a, "room", "malformed frame: options.authenticated must be a boolean")
    end)

    it("use the messages of the config's errors map", function()
      local srv = start({ { pattern = "room", public_messaging = false } },
        { errors = { public_messaging_disabled = "Nope.", not_joined = "Join first." } })
      local a = RC.open(srv)
      a:message("room", "x")
      assert_refused(a, "room", "Join first.")
      a:joined("room")
      a:message("room", "x")
      assert_refused(a, "room", "Nope.")
    end)
  end)

  it("lets a hook see every decoded client frame", function()
    local srv = start()
    local seen = {}
    srv.hooks.frame = function(socketId, frame, raw)
      seen[#seen + 1] = { socketId, frame.action, raw }
    end
    local a = RC.open(srv):joined("room")
    a:message("room", "counted")
    a:expect("message", "room")
    assert.equal(2, #seen)
    assert.same({ a.socketId, "join" }, { seen[1][1], seen[1][2] })
    assert.equal("message", seen[2][2])
    assert.truthy(seen[2][3]:find('"counted"', 1, true))
  end)
end)
