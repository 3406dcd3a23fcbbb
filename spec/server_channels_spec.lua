-- The local Xano Realtime server: channels.  A client joins a channel
-- with {"history":bool,"presence":bool}; the server answers the joiner
-- with presence_full (every member, itself included), tells the other
-- presence subscribers with presence_update, then sends the history.
-- leave and disconnects produce presence_update "leave".  Permission rows
-- decide who may join, whether presence and history exist, and nested
-- rows ("prefix/*") cover whole families of channels.
local H = require "support.helpers"
local RC = require "support.rawclient"
local server = require "xano.realtime.server"

local TOKENS = {
  ["alice-token"] = { dbo_id = 1, row_id = 1, extras = { name = "Alice" } },
  ["bob-token"] = { dbo_id = 1, row_id = 2 },
}

local function start(channels, extra)
  local config = { tokens = TOKENS, channels = channels }
  for k, v in pairs(extra or {}) do config[k] = v end
  return H.track(assert(server.start{ port = 0, canonical = "test", config = config }))
end

local function ids(entries)
  local out = {}
  for i, e in ipairs(entries) do out[i] = e.socketId end
  return out
end

local BOTH = { history = true, presence = true }

describe("server channels", function()
  after_each(H.cleanup)

  describe("join", function()
    it("sends presence_full (joiner included) then history to the joiner", function()
      local srv = start()
      local a = RC.open(srv)
      a:join("room", { presence = true })
      local first = a:expect("presence_full", "room")
      assert.same({ a.socketId }, ids(first.payload.presence))

      local b = RC.open(srv)
      b:join("room", BOTH)
      local full = b:expect("presence_full", "room")
      assert.same({ a.socketId, b.socketId }, ids(full.payload.presence))
      local hist = b:expect("history", "room")
      assert.same({}, hist.payload.history)
      assert.equal(0, b:unread())
    end)

    it("tells the other presence subscribers with presence_update join", function()
      local srv = start()
      local a = RC.open(srv)
      a:join("room", { presence = true })
      a:expect("presence_full", "room")
      local b = RC.open(srv, { token = "alice-token" })
      b:join("room")
      local up = a:expect("presence_update", "room")
      assert.equal("join", up.payload.action)
      assert.same({ socketId = b.socketId, extras = { name = "Alice" },
        permissions = { dbo_id = 1, row_id = 1 } }, up.payload.presence)
      assert.is_nil(up.client)
    end)

    it("lists in presence_full the members that joined without presence too", function()
      local srv = start()
      local quiet = RC.open(srv)
      quiet:joined("room")
      local a = RC.open(srv)
      a:join("room", { presence = true })
      assert.same({ quiet.socketId, a.socketId },
        ids(a:expect("presence_full", "room").payload.presence))
    end)

    it("sends no presence frames to a member that joined without presence", function()
      local srv = start()
      local quiet = RC.open(srv)
      quiet:joined("room")
      local b = RC.open(srv)
      b:join("room", { presence = true })
      b:expect("presence_full", "room")
      b:message("room", "marker")
      -- the first thing quiet hears is the message, not b's arrival
      assert.equal("marker", quiet:expect("message", "room").payload)
    end)

    it("is idempotent: a repeated join re-sends presence_full and history, once to the joiner only", function()
      local srv = start()
      local watcher = RC.open(srv)
      watcher:join("room", { presence = true })
      watcher:expect("presence_full", "room")
      local a = RC.open(srv)
      a:join("room", BOTH)
      a:join("room", BOTH)
      a:expect("presence_full", "room")
      a:expect("history", "room")
      local again = a:expect("presence_full", "room")
      assert.same({ watcher.socketId, a.socketId }, ids(again.payload.presence))
      a:expect("history", "room")
      assert.same({ watcher.socketId, a.socketId }, srv:members("room"))

      a:message("room", "after the joins")
      assert.equal("join", watcher:expect("presence_update", "room").payload.action)
      -- exactly one presence_update: the next frame is the message
      assert.equal("after the joins", watcher:expect("message", "room").payload)
    end)

    it("keeps channels apart: frames carry options.channel and stay in their channel", function()
      local srv = start()
      local a = RC.open(srv)
      a:join("one")
      a:join("two")
      local b = RC.open(srv)
      b:joined("two")
      a:message("one", "for one")
      a:message("two", "for two")
      assert.equal("for one", a:expect("message", "one").payload)
      assert.equal("for two", a:expect("message", "two").payload)
      assert.equal("for two", b:expect("message", "two").payload)
      assert.same({ "one", "two" }, srv:sockets()[1].channels)
    end)

    it("takes channel names verbatim: spaces, slashes and non-ASCII", function()
      local srv = start()
      local a = RC.open(srv)
      local name = "chat/room 1/\u{fc}"
      a:join(name, { presence = true })
      local f, raw = a:expect("presence_full", name)
      assert.equal(name, f.options.channel)
      assert.truthy(raw:find('"channel":"chat/room 1/\u{fc}"', 1, true))
      assert.same({ a.socketId }, srv:members(name))
    end)
  end)

  describe("leave", function()
    it("removes the member and tells presence subscribers", function()
      local srv = start()
      local a = RC.open(srv)
      a:join("room", { presence = true })
      a:expect("presence_full", "room")
      local b = RC.open(srv, { token = "bob-token" })
      b:join("room")
      a:expect("presence_update", "room")
      b:leave("room")
      local up = a:expect("presence_update", "room")
      assert.equal("leave", up.payload.action)
      assert.equal(b.socketId, up.payload.presence.socketId)
      assert.same({ dbo_id = 1, row_id = 2 }, up.payload.presence.permissions)
      assert.same({ a.socketId }, srv:members("room"))
    end)

    it("stops the channel's frames for the one who left", function()
      local srv = start()
      local a, b = RC.open(srv), RC.open(srv)
      a:join("other")
      a:joined("room")
      b:joined("room")
      a:leave("room")
      H.wait_until(function() return #srv:members("room") == 1 end, "a left")
      b:message("room", "not for a")
      b:expect("message", "room")
      b:join("other")
      b:message("other", "for a")
      assert.equal("for a", a:expect("message", "other").payload)
    end)

    it("of a channel not joined is refused with an error frame", function()
      local srv = start()
      local a = RC.open(srv)
      a:leave("room")
      local e = a:expect("error", "room")
      assert.equal("not joined to this channel", e.payload.message)
    end)
  end)

  it("a disconnect is a leave for every channel of the socket", function()
    local srv = start()
    local a = RC.open(srv)
    a:join("one", { presence = true })
    a:join("two", { presence = true })
    a:expect("presence_full", "one")
    a:expect("presence_full", "two")
    local b = RC.open(srv)
    b:join("one")
    b:join("two")
    a:expect("presence_update", "one")
    a:expect("presence_update", "two")
    b:close()
    local seen = {}
    for _ = 1, 2 do
      local up = a:expect("presence_update")
      assert.equal("leave", up.payload.action)
      assert.equal(b.socketId, up.payload.presence.socketId)
      seen[up.options.channel] = true
    end
    assert.same({ one = true, two = true }, seen)
    assert.same({ a.socketId }, srv:members("one"))
  end)

  describe("history", function()
    it("on join returns the stored message frames, oldest first", function()
      local srv = start()
      local a = RC.open(srv, { token = "alice-token" })
      a:join("room")
      for i = 1, 3 do a:message("room", { n = i }) end
      for _ = 1, 3 do a:expect("message", "room") end
      local b = RC.open(srv)
      b:join("room", { history = true })
      local h = b:expect("history", "room")
      assert.equal(3, #h.payload.history)
      for i, f in ipairs(h.payload.history) do
        assert.same({ action = "message", options = { channel = "room" },
          client = { socketId = a.socketId, extras = { name = "Alice" },
            permissions = { dbo_id = 1, row_id = 1 } },
          payload = { n = i } }, f)
      end
      assert.same(h.payload.history, srv:history("room"))
    end)

    it("answers a history request from a member", function()
      local srv = start()
      local a = RC.open(srv)
      a:join("room")
      a:message("room", "one")
      a:expect("message", "room")
      a:history("room")
      local h = a:expect("history", "room")
      assert.equal(1, #h.payload.history)
      assert.equal("one", h.payload.history[1].payload)
    end)

    it("ignores options.socketId in a history request: it is the channel's history", function()
      local srv = start()
      local a, b = RC.open(srv), RC.open(srv)
      a:joined("room")
      b:joined("room")
      a:message("room", "public")
      a:expect("message", "room")
      b:expect("message", "room")
      b:send({ action = "history", options = { channel = "room", socketId = a.socketId } })
      local h = b:expect("history", "room")
      assert.equal(1, #h.payload.history)
      assert.equal("public", h.payload.history[1].payload)
    end)

    it("keeps at most message_history frames, dropping the oldest", function()
      local srv = start({ { pattern = "room", message_history = 25 } })
      local a = RC.open(srv)
      a:join("room")
      for i = 1, 30 do a:message("room", i) end
      for _ = 1, 30 do a:expect("message", "room") end
      a:history("room")
      local h = a:expect("history", "room").payload.history
      assert.equal(25, #h)
      assert.equal(6, h[1].payload)
      assert.equal(30, h[25].payload)
    end)

    it("with message_history 0: none on join (silently), and a request is an error", function()
      local srv = start({ { pattern = "room", message_history = 0 } })
      local a = RC.open(srv)
      a:join("room", { history = true })
      a:message("room", "marker")
      assert.equal("marker", a:expect("message", "room").payload)
      a:history("room")
      local e = a:expect("error", "room")
      assert.equal("message history is disabled on this channel", e.payload.message)
      assert.same({}, srv:history("room"))
    end)

    it("stores neither private messages nor events", function()
      local srv = start()
      local a, b = RC.open(srv), RC.open(srv)
      a:joined("room")
      b:joined("room")
      a:message("room", "private", { socketId = b.socketId })
      b:expect("message", "room")
      srv:event("room", { kind = "event" })
      b:expect("event", "room")
      a:message("room", "public")
      b:expect("message", "room")
      b:history("room")
      local h = b:expect("history", "room").payload.history
      assert.equal(1, #h)
      assert.equal("public", h[1].payload)
    end)

    it("hides authenticated-only messages from an anonymous requester", function()
      local srv = start()
      local alice = RC.open(srv, { token = "alice-token" })
      alice:join("room")
      alice:message("room", "for everyone")
      alice:message("room", "for members", { authenticated = true })
      alice:expect("message", "room")
      alice:expect("message", "room")
      local anon = RC.open(srv)
      anon:join("room", { history = true })
      local seen = anon:expect("history", "room").payload.history
      assert.equal(1, #seen)
      assert.equal("for everyone", seen[1].payload)
      local bob = RC.open(srv, { token = "bob-token" })
      bob:join("room", { history = true })
      assert.equal(2, #bob:expect("history", "room").payload.history)
    end)

    it("is only readable by members: a request without joining is refused", function()
      local srv = start()
      local a = RC.open(srv)
      a:join("secret")
      a:message("secret", "hidden")
      a:expect("message", "secret")
      local spy = RC.open(srv)
      spy:history("secret")
      local e = spy:expect("error", "secret")
      assert.equal("not joined to this channel", e.payload.message)
      -- joining another channel does not show this one
      spy:join("public", BOTH)
      assert.same({ spy.socketId }, ids(spy:expect("presence_full", "public").payload.presence))
      assert.same({}, spy:expect("history", "public").payload.history)
    end)

    it("outlives its members: a later joiner still reads it", function()
      local srv = start()
      local a = RC.open(srv)
      a:join("room")
      a:message("room", "kept")
      a:expect("message", "room")
      a:close()
      H.wait_until(function() return #srv:members("room") == 0 end, "a gone")
      local b = RC.open(srv)
      b:join("room", { history = true })
      assert.equal("kept", b:expect("history", "room").payload.history[1].payload)
    end)
  end)

  describe("permission rows", function()
    it("with rows configured, a channel matching none is an unknown channel", function()
      local srv = start({ { pattern = "lobby" } })
      local a = RC.open(srv)
      a:join("elsewhere", BOTH)
      local e = a:expect("error", "elsewhere")
      assert.equal("unknown channel", e.payload.message)
      assert.same({}, srv:members("elsewhere"))
      a:join("lobby", { presence = true })
      a:expect("presence_full", "lobby")
    end)

    it("a nested row \"prefix/*\" covers every channel under the prefix, not the prefix itself", function()
      local srv = start({ { pattern = "chat/*", nested = true } })
      local a = RC.open(srv)
      a:join("chat/42", { presence = true })
      a:expect("presence_full", "chat/42")
      a:join("chat/a/b", { presence = true })
      a:expect("presence_full", "chat/a/b")
      a:join("chat", { presence = true })
      assert.equal("unknown channel", a:expect("error", "chat").payload.message)
      a:join("chatroom/1", { presence = true })
      assert.equal("unknown channel", a:expect("error", "chatroom/1").payload.message)
    end)

    it("without nested, \"prefix/*\" is just a channel name", function()
      local srv = start({ { pattern = "chat/*" } })
      local a = RC.open(srv)
      a:join("chat/1")
      assert.equal("unknown channel", a:expect("error", "chat/1").payload.message)
      a:join("chat/*", { presence = true })
      a:expect("presence_full", "chat/*")
    end)

    it("an exact row wins over a nested row, and the longest prefix wins among nested rows", function()
      local srv = start({
        { pattern = "chat/*", nested = true, presence = true },
        { pattern = "chat/quiet/*", nested = true, presence = false },
        { pattern = "chat/quiet/loud", presence = true },
      })
      local a = RC.open(srv)
      a:join("chat/quiet/1", { presence = true })
      a:message("chat/quiet/1", "no presence here")
      assert.equal("no presence here", a:expect("message", "chat/quiet/1").payload)
      a:join("chat/quiet/loud", { presence = true })
      a:expect("presence_full", "chat/quiet/loud")
      a:join("chat/1", { presence = true })
      a:expect("presence_full", "chat/1")
    end)

    it("anonymous_clients = false refuses anonymous joins, keeps the connection", function()
      local srv = start({ { pattern = "staff", anonymous_clients = false } })
      local anon = RC.open(srv)
      anon:join("staff", BOTH)
      local e = anon:expect("error", "staff")
      assert.equal("anonymous clients may not join this channel", e.payload.message)
      assert.same({}, srv:members("staff"))
      local alice = RC.open(srv, { token = "alice-token" })
      alice:join("staff", { presence = true })
      alice:expect("presence_full", "staff")
      -- the refused socket is still connected and served
      anon:history("staff")
      assert.equal("not joined to this channel", anon:expect("error", "staff").payload.message)
    end)

    it("presence = false: no presence_full and no presence_update, silently", function()
      local srv = start({ { pattern = "room", presence = false } })
      local a = RC.open(srv)
      a:joined("room", BOTH)
      local b = RC.open(srv)
      b:join("room", BOTH)
      -- each joiner's first frame is its history, a's next is b's message
      a:expect("history", "room")
      b:expect("history", "room")
      b:message("room", "marker")
      assert.equal("marker", a:expect("message", "room").payload)
      assert.same({ a.socketId, b.socketId }, srv:members("room"))
    end)
  end)
end)
