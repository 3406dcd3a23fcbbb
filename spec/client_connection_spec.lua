-- Open channel connects the client's one shared socket; Close channel of
-- the last channel, or client:close(), closes it.  connection_status tells
-- every open channel and the client's handlers: a voluntary close fires
-- no "disconnected", an unexpected loss fires exactly one.
local H = require "support.helpers"
local Proxy = require "support.proxy"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("the client's connection", function()
  local srv
  local function client(opts)
    opts = opts or {}
    opts.url = opts.url or srv:base_url()
    opts.canonical = opts.canonical or "test"
    opts.reconnect = opts.reconnect or { initial = 0.05, max = 0.2 }
    return H.track(realtime.new(opts))
  end
  local function statuses(list)
    local out = {}
    for _, ev in ipairs(list) do
      if ev.action == "connection_status" then out[#out + 1] = ev.payload.status end
    end
    return out
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "test" }))
  end)
  after_each(function() H.cleanup() end)

  it("opens its socket at the first open(), not before", function()
    local c = client()
    local ch = c:channel("room1")
    -- long enough for a connect started at new() or channel() to arrive
    H.settle(0.2)
    assert.equal(0, #srv:sockets())
    assert.equal(0, c:stats().connects)
    assert.equal("idle", c:status())
    ch:open()
    H.wait_until(function() return #srv:members("room1") == 1 end, "the join")
    assert.equal("connected", c:status())
  end)

  it("carries every channel over one socket", function()
    local c = client()
    for i = 1, 5 do c:channel("room" .. i):open() end
    H.wait_until(function() return #srv:members("room5") == 1 end, "five joins")
    assert.equal(1, #srv:sockets())
    assert.equal(5, #srv:sockets()[1].channels)
  end)

  it("gives each client its own socket and token, all on one service thread", function()
    local a = client()
    local b = client()
    a:channel("room"):open()
    b:channel("room"):open()
    H.wait_until(function() return #srv:members("room") == 2 end, "both clients")
    assert.equal(2, #srv:sockets())
    assert.equal(1, core.threads())
  end)

  it("tells every open channel and the client that it is connected", function()
    local c = client()
    local rec_c, by_client = H.recorder()
    local rec_1, by_1 = H.recorder()
    local rec_2, by_2 = H.recorder()
    c:on("connection_status", rec_c)
    local one, two = c:channel("one"), c:channel("two")
    one:on("connection_status", rec_1)
    two:on("connection_status", rec_2)
    one:open(); two:open()
    H.wait_until(function() return #by_client == 1 and #by_1 == 1 and #by_2 == 1 end, "connected events")
    assert.same({ "connected" }, statuses(by_client))
    assert.same({ "connected" }, statuses(by_1))
    assert.same({ "connected" }, statuses(by_2))
    assert.equal("one", by_1[1].channel)
    assert.is_nil(by_client[1].channel)
  end)

  it("tells a channel opened on a live connection that it is connected", function()
    local c = client()
    c:channel("first"):open()
    H.wait_until(function() return c:status() == "connected" end, "connected")
    local rec, got = H.recorder()
    local late = c:channel("late")
    late:on("connection_status", rec)
    late:open()
    H.wait_until(function() return #got == 1 end, "the late channel's status")
    assert.same({ "connected" }, statuses(got))
  end)

  it("closes the socket when the last channel closes, with no disconnected event", function()
    local c = client()
    local rec, got = H.recorder()
    c:on("connection_status", rec)
    local a, b = c:channel("a"), c:channel("b")
    a:on("connection_status", rec)
    a:open(); b:open()
    H.wait_until(function() return #srv:members("b") == 1 end, "joins")
    a:close()
    H.wait_until(function() return #srv:members("a") == 0 end, "the leave of a")
    assert.equal(1, #srv:sockets())
    b:close()
    H.wait_until(function() return #srv:sockets() == 0 end, "the socket to close")
    H.wait_until(function() return c:status() == "idle" end, "idle")
    assert.same({ "connected", "connected" }, statuses(got))
  end)

  it("sends no disconnected event on client:close()", function()
    local c = client()
    local rec, got = H.recorder()
    c:on("connection_status", rec)
    c:channel("a"):open()
    H.wait_until(function() return #got == 1 end, "connected")
    c:close()
    H.wait_until(function() return #srv:sockets() == 0 end, "the server to see the close")
    assert.equal("closed", c:status())
    assert.same({ "connected" }, statuses(got))
  end)

  it("fires exactly one disconnected event when the connection is lost", function()
    local c = client()
    local rec, got = H.recorder()
    local ch = c:channel("a")
    ch:on("connection_status", rec)
    c:on("connection_status", rec)
    ch:open()
    H.wait_until(function() return #got == 2 end, "connected")
    local first = srv:sockets()[1].socketId
    srv:drop(first, 1011, "restarting")
    H.wait_until(function() return #got == 6 end, "disconnected, then connected again")
    assert.same({ "connected", "connected", "disconnected", "disconnected", "connected", "connected" }, statuses(got))
    local down = got[3]
    assert.equal(1011, down.payload.code)
    assert.matches("restarting", down.payload.reason)
    assert.are_not.equal(first, srv:sockets()[1].socketId)
  end)

  -- WeWeb's Open channel on an open channel closes it, then opens it, with
  -- no poll between: the server must see the leave before the join, and
  -- the channel must end joined, hearing and heard.
  for _, variant in ipairs({ "alone", "with a second channel open" }) do
    it("reopens a channel closed the moment before (" .. variant .. "): joined, and a peer hears it once", function()
      local peer = client()
      local heard = {}
      local pch = peer:channel("room")
      pch:on("message", function(ev) heard[#heard + 1] = ev.payload end)
      pch:open()
      H.wait_until(function() return #srv:members("room") == 1 end, "the peer's join")
      local peer_sid = srv:members("room")[1]
      local c = client()
      local errs, got = {}, {}
      c:on("error", function(ev) errs[#errs + 1] = ev end)
      local ch = c:channel("room")
      ch:on("message", function(ev) got[#got + 1] = ev.payload end)
      if variant ~= "alone" then c:channel("side"):open() end
      ch:open()
      H.wait_until(function() return #srv:members("room") == 2 end, "the first join")
      local sid
      for _, m in ipairs(srv:members("room")) do if m ~= peer_sid then sid = m end end
      local seen = {}
      srv.hooks.frame = function(from, f)
        if from == sid and type(f.options) == "table" and f.options.channel == "room" then
          seen[#seen + 1] = f.action
        end
      end
      ch:close()
      ch:open()
      H.wait_until(function() return #seen >= 2 end, "the leave and the join on the server")
      assert.same({ "leave", "join" }, seen)
      assert.is_true(ch:is_open())
      assert.is_true(ch:send("still here"))
      assert.is_true(ch:send("marker"))
      H.wait_until(function() return #heard == 2 end, "both messages at the peer")
      assert.same({ "still here", "marker" }, heard)
      H.wait_until(function() return #got == 2 end, "both echoes")
      assert.same({ "still here", "marker" }, got)
      -- one socket, joined: the server's membership matches the client
      assert.equal(2, #srv:sockets())
      local members = srv:members("room")
      table.sort(members)
      local want = { sid, peer_sid }
      table.sort(want)
      assert.same(want, members)
      assert.same({}, errs)
      assert.equal("connected", c:status())
    end)
  end

  it("says connecting for a channel opened while the last close winds down, then joins it", function()
    -- a stalled link keeps the close handshake of the last channel waiting
    local p = H.track(Proxy.start{ target_port = srv.port })
    local c = client{ url = "http://127.0.0.1:" .. p.port, ping_interval = 0 }
    local ch = c:channel("room")
    ch:open()
    H.wait_until(function() return #srv:members("room") == 1 end, "the join")
    p:stall(true)
    ch:close()
    H.wait_until(function() return c._core:state() == "stopping" end, "the close under way")
    local again = c:channel("again")
    again:open()
    assert.equal("connecting", c:status())
    p:stall(false)
    p:reset()
    H.wait_until(function() return #srv:members("again") == 1 end, "the join of the new channel")
    assert.equal("connected", c:status())
    assert.same({}, srv:members("room"))
  end)

  it("reports a refused upgrade as an error and stays down", function()
    local c = client{ canonical = "wrong" }
    local rec, errors = H.recorder()
    local srec, st = H.recorder()
    c:on("error", rec)
    c:on("connection_status", srec)
    c:channel("a"):open()
    H.wait_until(function() return #errors == 1 end, "the refusal")
    assert.equal(404, errors[1].payload.code)
    assert.matches("HTTP 404", errors[1].payload.message)
    -- stays down: no further attempt in a window many times the backoff
    -- (reconnect.initial 0.05 s)
    H.settle(0.5)
    assert.equal(1, #errors)
    assert.same({ "disconnected" }, statuses(st))
    assert.equal("disconnected", c:status())
    assert.equal(0, c:stats().reconnects)
    assert.equal(0, #srv:sockets())
  end)
end)
