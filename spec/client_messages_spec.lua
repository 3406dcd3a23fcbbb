-- Send message: to everyone in the channel (the sender gets its own copy),
-- to authenticated clients only, or privately to one socketId.  Messages
-- and server events arrive as "message" and "event" events carrying their
-- channel, the sender's options, the payload and the sender.
local H = require "support.helpers"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("messages", function()
  local srv
  local tokens = {
    ["tok-alice"] = { dbo_id = 1, row_id = 7, extras = { name = "Alice" } },
    ["tok-bob"] = { dbo_id = 1, row_id = 8, extras = { name = "Bob" } },
  }
  local function client(token)
    return H.track(realtime.new{ url = srv:base_url(), canonical = "test", token = token })
  end
  -- opens room on a client and records its messages and events
  local function member(token)
    local c = client(token)
    local ch = c:channel("room", { presence = true })
    local rec, got = H.recorder()
    ch:on("message", rec)
    ch:on("event", rec)
    ch:open()
    return { c = c, ch = ch, got = got }
  end
  local function payloads(list)
    local out = {}
    for i, ev in ipairs(list) do out[i] = ev.payload end
    return out
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "test", config = { tokens = tokens } }))
  end)
  after_each(function() H.cleanup() end)

  it("reach everyone in the channel, the sender included", function()
    local a, b = member("tok-alice"), member()
    H.wait_until(function() return #srv:members("room") == 2 end, "both joined")
    assert.is_true(a.ch:send({ text = "hello" }))
    H.wait_until(function() return #a.got == 1 and #b.got == 1 end, "the message on both")
    local ev = b.got[1]
    assert.equal("message", ev.action)
    assert.equal("room", ev.channel)
    assert.same({ text = "hello" }, ev.payload)
    assert.equal("Alice", ev.client.extras.name)
    assert.same({ dbo_id = 1, row_id = 7 }, ev.client.permissions)
    assert.is_string(ev.client.socketId)
  end)

  it("reach only authenticated clients when sent with authenticated = true", function()
    local alice, bob, anon = member("tok-alice"), member("tok-bob"), member()
    H.wait_until(function() return #srv:members("room") == 3 end, "all joined")
    alice.ch:send("for members", { authenticated = true })
    alice.ch:send("for all")
    H.wait_until(function() return #anon.got == 1 and #bob.got == 2 and #alice.got == 2 end, "both messages")
    assert.same({ "for members", "for all" }, payloads(bob.got))
    assert.same({ "for members", "for all" }, payloads(alice.got))
    assert.same({ "for all" }, payloads(anon.got))
    assert.is_true(bob.got[1].options.authenticated)
  end)

  it("reach only their target when sent privately, and the sender gets no copy", function()
    local a, b, c = member("tok-alice"), member("tok-bob"), member()
    H.wait_until(function() return #a.ch:presence() == 3 end, "presence of all three")
    local target
    for _, e in ipairs(a.ch:presence()) do
      if e.extras.name == "Bob" then target = e.socketId end
    end
    a.ch:send_to(target, "psst")
    a.ch:send("after")
    H.wait_until(function() return #c.got == 1 and #b.got == 2 and #a.got == 1 end, "the later broadcast everywhere")
    assert.same({ "psst", "after" }, payloads(b.got))
    assert.equal(target, b.got[1].options.socketId)
    assert.same({ "after" }, payloads(a.got))
    assert.same({ "after" }, payloads(c.got))
  end)

  it("keep any JSON payload: numbers, nested tables, unicode, null", function()
    local a, b = member(), member()
    H.wait_until(function() return #srv:members("room") == 2 end, "both joined")
    a.ch:send({ n = 42, f = 1.5, list = { 1, "two", { three = 3 } }, s = "ü 😀", none = realtime.null })
    a.ch:send("plain string")
    a.ch:send(12)
    H.wait_until(function() return #b.got == 3 end, "three messages")
    assert.same({ n = 42, f = 1.5, list = { 1, "two", { three = 3 } }, s = "ü 😀", none = realtime.null }, b.got[1].payload)
    assert.equal("plain string", b.got[2].payload)
    assert.equal(12, b.got[3].payload)
  end)

  it("deliver server events (Xano's Realtime Event function) as event", function()
    local a, b = member("tok-alice"), member()
    H.wait_until(function() return #srv:members("room") == 2 end, "both joined")
    assert.equal(2, srv:event("room", { order = 17 }))
    H.wait_until(function() return #a.got == 1 and #b.got == 1 end, "the event on both")
    local ev = a.got[1]
    assert.equal("event", ev.action)
    assert.equal("room", ev.channel)
    assert.same({ order = 17 }, ev.payload.data)
    assert.is_nil(ev.client)
  end)

  it("reach app-level handlers of every channel, naming the channel", function()
    local c = client()
    local rec, got = H.recorder()
    c:on("message", rec)
    local one, two = c:channel("one"), c:channel("two")
    one:open(); two:open()
    H.wait_until(function() return #srv:members("two") == 1 end, "joined")
    one:send("to one"); two:send("to two")
    H.wait_until(function() return #got == 2 end, "both echoes")
    assert.same({ "one", "two" }, { got[1].channel, got[2].channel })
  end)

  it("are not delivered to a channel closed here", function()
    local a, b = member(), member()
    H.wait_until(function() return #srv:members("room") == 2 end, "both joined")
    local other = b.c:channel("other")
    local rec, got = H.recorder()
    other:on("message", rec)
    other:open()
    H.wait_until(function() return #srv:members("other") == 1 end, "joined other")
    b.ch:close()
    H.wait_until(function() return #srv:members("room") == 1 end, "b left room")
    a.ch:send("to room")
    other:send("marker")
    H.wait_until(function() return #got == 1 end, "the marker")
    assert.equal(0, #b.got)
  end)

  it("in flight for a channel closed here reach no handler, and are counted as ignored", function()
    local b = member()
    local keep = b.c:channel("keep")
    local rec, kept = H.recorder()
    keep:on("message", rec)
    local app = {}
    b.c:on("message", function(ev) app[#app + 1] = ev end)
    keep:open()
    H.wait_until(function() return #srv:members("keep") == 1 and #b.ch:presence() == 1 end,
      "joined keep, and room's presence in")
    local me = srv:members("keep")[1]
    b.ch:close()
    -- frames the server sends before it reads the leave
    assert(srv:send_raw(me, '{"action":"message","options":{"channel":"room"},"payload":"late"}'))
    assert(srv:send_raw(me, '{"action":"message","options":{"channel":"keep"},"payload":"marker"}'))
    H.wait_until(function() return #kept == 1 end, "the marker")
    assert.equal(0, #b.got)
    assert.same({ "marker" }, payloads(app))
    assert.equal(1, b.c:stats().ignored)
  end)

  it("can be unsubscribed with off()", function()
    local a = member()
    local count = 0
    local id = a.ch:on("message", function() count = count + 1 end)
    H.wait_until(function() return #srv:members("room") == 1 end, "joined")
    a.ch:send("one")
    H.wait_until(function() return count == 1 end, "first")
    assert.is_true(a.ch:off(id))
    assert.is_false(a.ch:off(id))
    a.ch:send("two")
    H.wait_until(function() return #a.got == 2 end, "second")
    assert.equal(1, count)
  end)
end)
