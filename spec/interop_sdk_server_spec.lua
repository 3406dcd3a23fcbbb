-- Interop: the official @xano/js-sdk 3.0.1, unmodified, run under Node
-- (spec/support/sdk/run.js), against the local server started in-process.
-- One Node process per SDK client: the SDK's socket is a process-wide
-- singleton.  Absence is always checked against a later
-- positive marker, never by waiting "a while".
local server = require "xano.realtime.server"
local SDK = require "support.sdk"
local H = require "support.helpers"
local cjson = require "cjson"

local CANONICAL = "abc"
local ROOM = "interop/room 1"
local CONFIG = {
  tokens = {
    ["tok-alice"] = { dbo_id = 1, row_id = 1, extras = { name = "Alice" } },
    ["tok-bob"] = { dbo_id = 1, row_id = 2, extras = { name = "Bob" } },
  },
  unknown_token = "refuse",
  -- no channels: every channel allows everything, history 100
}

-- The last events of each client, for timeout messages.
local function dump(clients)
  local out = {}
  for _, c in ipairs(clients or {}) do
    out[#out + 1] = "--- " .. c.id .. " (" .. #c.events .. " events)"
    for i = math.max(1, #c.events - 14), #c.events do
      out[#out + 1] = cjson.encode(c.events[i])
    end
    local err = c:stderr()
    if err ~= "" then out[#out + 1] = "stderr: " .. err end
  end
  return table.concat(out, "\n")
end

local function wait(pred, what, clients)
  local ok, err = pcall(H.wait_until, pred, what)
  if not ok then error(tostring(err) .. "\n" .. dump(clients), 2) end
end

-- Waits for the first frame of that action (and pred) the SDK handed to
-- client c's on() handler; returns it.
local function wait_frame(c, action, pred, what)
  local found
  wait(function()
    found = c:find_frame(action, pred, ROOM)
    return found ~= nil
  end, what or (c.id .. " gets " .. action), { c })
  return found
end

local function count_frames(c, action, pred)
  local n = 0
  for _, f in ipairs(c:frames(action, ROOM)) do
    if not pred or pred(f) then n = n + 1 end
  end
  return n
end

local function payload_field(k, v)
  return function(f) return type(f.payload) == "table" and f.payload[k] == v end
end

-- Nothing went wrong inside the SDK process: no error frame reached
-- onError, no exception escaped, every command succeeded.
local function assert_clean(c)
  assert.same({}, c:all("error"), c.id .. " got error frames")
  assert.same({}, c:all("exception"), c.id .. " had exceptions")
  assert.same({}, c:all("fail"), c.id .. " had failed commands")
end

describe("the official @xano/js-sdk 3.0.1 against the local server", function()
  local srv

  -- Starts SDK clients, one Node process each, their start-ups
  -- overlapping: start{ {id, token}, ... } (token nil = anonymous).
  local function start(list)
    local opts = {}
    for i, x in ipairs(list) do
      opts[i] = { port = srv.port, canonical = CANONICAL, id = x[1], token = x[2],
                  websocket = x.websocket, pump = H.poll_all }
    end
    local clients = { SDK.start_all(opts) }
    for _, c in ipairs(clients) do H.track(c) end
    return (table.unpack or unpack)(clients, 1, #list)
  end

  -- Client c opens ROOM with presence (and the given options) and waits
  -- for its presence_full; returns c, its own presence entry (the one
  -- entry not among known) and that presence_full.
  local function open(c, options, known)
    local o = { presence = true, queueOfflineActions = true }
    for k, v in pairs(options or {}) do o[k] = v end
    c:call{ cmd = "channel", channel = ROOM, options = o }
    c:call{ cmd = "on", channel = ROOM }
    local full = wait_frame(c, "presence_full")
    local mine = {}
    for _, e in ipairs(full.payload.presence) do
      local seen = false
      for _, k in ipairs(known or {}) do
        if k.socketId == e.socketId then seen = true end
      end
      if not seen then mine[#mine + 1] = e end
    end
    assert.equal(1, #mine, c.id .. ": exactly one new entry in its presence_full")
    return c, mine[1], full
  end

  local function join(id, token, options, known)
    return open(start{ { id, token } }, options, known)
  end

  -- Waits until client c's own SDK presence cache holds exactly the
  -- entries with these socketIds.
  local function wait_presence_cache(c, entries)
    local want = {}
    for i, e in ipairs(entries) do want[i] = e.socketId end
    table.sort(want)
    local got
    wait(function()
      c:call{ cmd = "presence", channel = ROOM }
      local last
      for _, e in ipairs(c:all("presence", function(p) return not p.auto end)) do last = e end
      got = {}
      for i, e in ipairs(last and last.list or {}) do got[i] = e.socketId end
      table.sort(got)
      return #got == #want and table.concat(got, ",") == table.concat(want, ",")
    end, c.id .. "'s getPresence() = {" .. table.concat(want, ",") .. "}", { c })
  end

  -- alice and bob (both authenticated) in ROOM, each seeing the other
  local function pair(options)
    local a, b = start{ { "alice", "tok-alice" }, { "bob", "tok-bob" } }
    local _, alice = open(a, options)
    local _, bob = open(b, options, { alice })
    wait_frame(a, "presence_update", function(f)
      return f.payload.action == "join" and f.payload.presence.socketId == bob.socketId
    end, "alice sees bob join")
    return a, alice, b, bob
  end

  -- alice, bob and an anonymous client in ROOM, everyone seeing everyone
  local function trio()
    local a, b, c = start{ { "alice", "tok-alice" }, { "bob", "tok-bob" }, { "anon", nil } }
    local _, alice = open(a)
    local _, bob = open(b, nil, { alice })
    wait_frame(a, "presence_update", function(f)
      return f.payload.action == "join" and f.payload.presence.socketId == bob.socketId
    end, "alice sees bob join")
    local _, anon = open(c, nil, { alice, bob })
    for _, x in ipairs({ a, b }) do
      wait_frame(x, "presence_update", function(f)
        return f.payload.action == "join" and f.payload.presence.socketId == anon.socketId
      end, x.id .. " sees the anonymous client join")
    end
    return a, alice, b, bob, c, anon
  end

  before_each(function()
    srv = H.track(assert(server.start{ host = "127.0.0.1", port = 0, canonical = CANONICAL,
                                       config = CONFIG }))
  end)

  after_each(function()
    H.cleanup() -- the SDK processes first (newest first), then the server
    srv = nil
  end)

  it("can run (node, npm and @xano/js-sdk 3.0.1 are available)", function()
    local ok, why = SDK.available()
    assert(ok, "the interop specs need node (20 or later; 18 works with ws) and npm: " .. tostring(why))
  end)

  it("connects with the SDK's own URL and the token as the echoed subprotocol", function()
    local a, alice = join("alice", "tok-alice")
    assert.equal("3.0.1", a.ready.sdk)
    local open = a:find("socket", function(e) return e.what == "open" end)
    assert.truthy(open, "the SDK's socket opened")
    assert.equal("wss://xano.test/rt/" .. CANONICAL, open.url) -- built by the SDK
    assert.equal(("ws://127.0.0.1:%d/rt/%s"):format(srv.port, CANONICAL), open.to)
    assert.same({ "tok-alice" }, open.protocols)
    assert.equal("tok-alice", open.protocol) -- the server echoed it
    assert.same({ name = "Alice" }, alice.extras)
    assert.same({ dbo_id = 1, row_id = 1 }, alice.permissions)
    assert.same({ alice.socketId }, srv:members(ROOM))
    assert_clean(a)
  end)

  it("gives both clients presence_full and presence_update", function()
    local a, b = start{ { "alice", "tok-alice" }, { "bob", "tok-bob" } }
    local _, alice, full_a = open(a)
    assert.equal(ROOM, full_a.options.channel)
    assert.equal(1, #full_a.payload.presence)

    local _, bob, full_b = open(b, nil, { alice })
    assert.equal(ROOM, full_b.options.channel)
    assert.equal(2, #full_b.payload.presence, "bob's presence_full lists alice and bob")
    assert.same({ name = "Bob" }, bob.extras)
    assert.same({ dbo_id = 1, row_id = 2 }, bob.permissions)

    local joined = wait_frame(a, "presence_update", function(f)
      return f.payload.action == "join"
    end, "alice gets bob's join")
    assert.equal(ROOM, joined.options.channel)
    assert.same(bob, joined.payload.presence)
    wait_presence_cache(a, { alice, bob })
    wait_presence_cache(b, { alice, bob })

    -- alice closes the channel (the SDK sends leave): bob sees it
    a:call{ cmd = "destroy", channel = ROOM }
    local left = wait_frame(b, "presence_update", function(f)
      return f.payload.action == "leave"
    end, "bob gets alice's leave")
    assert.equal(ROOM, left.options.channel)
    assert.equal(alice.socketId, left.payload.presence.socketId)
    wait_presence_cache(b, { bob })
    assert.equal(1, count_frames(a, "presence_full"))
    assert.equal(1, count_frames(b, "presence_full"))
    assert.equal(1, count_frames(a, "presence_update"), "alice: only bob's join")
    assert_clean(a)
    assert_clean(b)
  end)

  it("delivers a message from one client to both, each way", function()
    local a, alice, b, bob = pair()

    a:call{ cmd = "message", channel = ROOM, payload = { text = "hi from alice", n = 1 } }
    local got = {}
    for _, c in ipairs({ a, b }) do
      got[c.id] = wait_frame(c, "message", payload_field("n", 1), c.id .. " gets alice's message")
    end
    for _, f in pairs(got) do
      assert.same({ text = "hi from alice", n = 1 }, f.payload)
      assert.equal(ROOM, f.options.channel)
      assert.same(alice, f.client) -- socketId, extras and permissions of the sender
    end

    b:call{ cmd = "message", channel = ROOM, payload = "plain text from bob" }
    for _, c in ipairs({ a, b }) do
      local f = wait_frame(c, "message", function(x) return x.payload == "plain text from bob" end,
        c.id .. " gets bob's message")
      assert.same(bob, f.client)
      assert.equal(ROOM, f.options.channel)
      -- bob's message came after alice's: no copy of hers can still be on its way
      assert.equal(1, count_frames(c, "message", payload_field("n", 1)))
    end
    assert_clean(a)
    assert_clean(b)
  end)

  it("returns earlier messages in order with history: true on join", function()
    local a, b = start{ { "alice", "tok-alice" }, { "bob", "tok-bob" } }
    local _, alice = open(a, { history = true })
    local empty = wait_frame(a, "history")
    assert.equal(ROOM, empty.options.channel)
    assert.equal(0, #empty.payload.history, "history of a new channel is empty")

    for i = 1, 3 do
      a:call{ cmd = "message", channel = ROOM, payload = { text = "message " .. i, i = i } }
    end
    wait_frame(a, "message", payload_field("i", 3), "alice gets her third message back")

    local _, bob = open(b, { history = true }, { alice })
    local h = wait_frame(b, "history")
    assert.equal(ROOM, h.options.channel)
    local list = h.payload.history
    assert.equal(3, #list)
    for i = 1, 3 do
      assert.equal("message", list[i].action)
      assert.equal(ROOM, list[i].options.channel)
      assert.same({ text = "message " .. i, i = i }, list[i].payload)
      assert.same(alice, list[i].client)
    end

    -- and channel.history() (Request history) answers the same
    b:call{ cmd = "message", channel = ROOM, payload = { text = "message 4", i = 4 } }
    wait_frame(b, "message", payload_field("i", 4), "bob gets his message back")
    b:call{ cmd = "history", channel = ROOM }
    wait(function() return count_frames(b, "history") == 2 end, "bob's second history", { b })
    local again = b:frames("history", ROOM)[2]
    assert.equal(4, #again.payload.history)
    for i = 1, 4 do assert.equal(i, again.payload.history[i].payload.i) end
    assert.same(bob, again.payload.history[4].client)
    assert_clean(a)
    assert_clean(b)
  end)

  it("delivers a private message only to its target", function()
    local a, alice, b, bob, c = trio()

    -- alice -> bob through bob's presence entry (XanoRealtimeClient.message)
    a:call{ cmd = "private", channel = ROOM, socketId = bob.socketId,
            payload = { secret = "for bob" } }
    local f = wait_frame(b, "message", payload_field("secret", "for bob"), "bob gets alice's private")
    assert.same(alice, f.client)
    assert.equal(bob.socketId, f.options.socketId)
    assert.equal(ROOM, f.options.channel)
    -- a later public message from alice reaches everyone after it
    a:call{ cmd = "message", channel = ROOM, payload = { marker = 1 } }
    for _, x in ipairs({ a, b, c }) do
      wait_frame(x, "message", payload_field("marker", 1), x.id .. " gets marker 1")
    end
    assert.equal(0, count_frames(a, "message", payload_field("secret", "for bob")), "no echo to the sender")
    assert.equal(0, count_frames(c, "message", payload_field("secret", "for bob")), "not to a third client")
    assert.equal(1, count_frames(b, "message", payload_field("secret", "for bob")))

    -- bob -> alice through channel.message(payload, {socketId})
    b:call{ cmd = "private", via = "channel", channel = ROOM, socketId = alice.socketId,
            payload = { secret = "for alice" } }
    local g = wait_frame(a, "message", payload_field("secret", "for alice"), "alice gets bob's private")
    assert.same(bob, g.client)
    b:call{ cmd = "message", channel = ROOM, payload = { marker = 2 } }
    for _, x in ipairs({ a, b, c }) do
      wait_frame(x, "message", payload_field("marker", 2), x.id .. " gets marker 2")
    end
    assert.equal(0, count_frames(b, "message", payload_field("secret", "for alice")))
    assert.equal(0, count_frames(c, "message", payload_field("secret", "for alice")))
    assert_clean(a)
    assert_clean(b)
    assert_clean(c)
  end)

  it("delivers an authenticated-only message only to authenticated clients", function()
    local a, alice, b, _, c, anon = trio()
    assert.same({ dbo_id = 0, row_id = 0 }, anon.permissions, "the third client is anonymous")

    a:call{ cmd = "message", channel = ROOM, payload = { only = "authenticated" },
            options = { authenticated = true } }
    for _, x in ipairs({ b, a }) do -- a: the sender's echo
      local f = wait_frame(x, "message", payload_field("only", "authenticated"),
        x.id .. " gets the authenticated-only message")
      assert.same(alice, f.client)
      assert.is_true(f.options.authenticated)
    end
    a:call{ cmd = "message", channel = ROOM, payload = { marker = 3 } }
    for _, x in ipairs({ a, b, c }) do
      wait_frame(x, "message", payload_field("marker", 3), x.id .. " gets marker 3")
    end
    assert.equal(0, count_frames(c, "message", payload_field("only", "authenticated")),
      "the anonymous client must not get it")
    assert.equal(1, count_frames(b, "message", payload_field("only", "authenticated")))
    assert_clean(a)
    assert_clean(b)
    assert_clean(c)
  end)

  it("works the same on the ws package (what Node 18 uses)", function()
    -- alice on Node's own WebSocket where this Node has one
    local a, b = start{ { "alice", "tok-alice" }, { "bob", "tok-bob", websocket = "ws" } }
    assert.equal("ws", b.ready.websocket)
    local _, alice = open(a)
    local _, bob = open(b, nil, { alice })
    local open_b = b:find("socket", function(e) return e.what == "open" end)
    assert.equal("tok-bob", open_b.protocol)
    wait_frame(a, "presence_update", function(f)
      return f.payload.action == "join" and f.payload.presence.socketId == bob.socketId
    end, "alice sees bob join")
    b:call{ cmd = "message", channel = ROOM, payload = { from = "bob on ws" } }
    a:call{ cmd = "message", channel = ROOM, payload = { from = "alice" } }
    for _, c in ipairs({ a, b }) do
      assert.same(bob, wait_frame(c, "message", payload_field("from", "bob on ws")).client)
      assert.same(alice, wait_frame(c, "message", payload_field("from", "alice")).client)
    end
    assert_clean(a)
    assert_clean(b)
  end)

  it("delivers a server event to both clients", function()
    local a, _, b = pair()
    local reached = srv:event(ROOM, { kind = "refresh", n = 42 })
    assert.equal(2, reached)
    for _, c in ipairs({ a, b }) do
      local f = wait_frame(c, "event", nil, c.id .. " gets the event")
      assert.equal(ROOM, f.options.channel)
      assert.same({ data = { kind = "refresh", n = 42 }, dbo_id = 0, row_id = 0 }, f.payload)
      assert.is_nil(f.client)
    end
    assert_clean(a)
    assert_clean(b)
  end)
end)
