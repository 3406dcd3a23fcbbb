-- Queue Offline Actions: with queue_offline, every action taken while the
-- client is not connected (send, send_to, history), backoff included, is
-- kept in order and sent after the rejoin, joins first.  The queue is
-- bounded by queue_limit; what overflows is reported.  It is on unless
-- asked off; off, send returns nil, "not connected" while offline, but
-- an action taken while the first join is in progress is held for it.  Frames accepted but not yet written when
-- the link drops are not lost.
local H = require "support.helpers"
local Proxy = require "support.proxy"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("Queue Offline Actions", function()
  local srv, port, frames

  local function start_server()
    srv = H.track(assert(server.start{ port = port or 0, canonical = "test" }))
    port = srv.port
    frames = {}
    srv.hooks.frame = function(sid, f) frames[#frames + 1] = { sid = sid, frame = f } end
  end
  local function client(opts)
    opts = opts or {}
    opts.url = opts.url or srv:base_url()
    opts.canonical = "test"
    opts.reconnect = { initial = 0.02, max = 0.05 }
    return H.track(realtime.new(opts))
  end
  local function open(c, name, opts)
    local ch = c:channel(name, opts)
    ch:open()
    H.wait_until(function() return c:status() == "connected" and #srv:members(name) == 1 end, "joined " .. name)
    return ch
  end
  local function summary(from)
    local out = {}
    for i = from or 1, #frames do
      local f = frames[i].frame
      if f.action == "join" then
        out[#out + 1] = "join:" .. f.options.channel
      elseif f.payload ~= nil and f.payload ~= realtime.null then
        out[#out + 1] = f.action .. ":" .. tostring(f.payload)
      else
        out[#out + 1] = f.action
      end
    end
    return out
  end

  before_each(function() port = nil; start_server() end)
  after_each(function() H.cleanup() end)

  it("is on by default, as in WeWeb's Open channel", function()
    local c = client()
    c:set_reconnect_codes({}) -- no automatic reconnect: the send is surely offline
    local ch = open(c, "room")
    assert.is_true(ch:options().queue_offline)
    local peer = client()
    local got = {}
    peer:channel("room"):on("message", function(ev) got[#got + 1] = ev.payload end)
    peer:channel("room"):open()
    H.wait_until(function() return #srv:members("room") == 2 end, "the peer joined")
    srv:drop(srv:members("room")[1], 1011)
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    assert.is_true(ch:send("while away"))
    c:reconnect()
    H.wait_until(function() return #got == 1 end, "the queued message at the peer")
    assert.is_true(ch:send("end"))
    H.wait_until(function() return got[#got] == "end" end, "a later marker")
    assert.same({ "while away", "end" }, got)
  end)

  it("turned off, send says not connected while offline, but not during the first join", function()
    local c = client()
    local ch = c:channel("room", { queue_offline = false })
    ch:open()
    -- the first join is in progress: the channel is connecting, not offline
    assert.is_true(ch:send("while connecting"))
    H.wait_until(function() return c:status() == "connected" end, "connected")
    H.wait_until(function() return #frames >= 2 end, "the join and the held message")
    assert.same({ "join:room", "message:while connecting" }, summary())
    srv:close()
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    assert.same({ nil, "not connected" }, { ch:send("during backoff") })
    assert.same({ nil, "not connected" }, { ch:history() })
  end)

  it("keeps actions taken while offline and sends them after the rejoin, in order", function()
    local c = client()
    local ch = open(c, "room", { queue_offline = true })
    local other = open(c, "other")
    srv:close()
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    assert.is_true(ch:send("m1"))
    assert.is_true(ch:send_to("some-socket", "private"))
    assert.is_true(ch:history())
    assert.is_true(ch:send("m2", { authenticated = false }))
    assert.equal(4, c:stats().queued)
    start_server()
    H.wait_until(function() return #frames >= 6 end, "joins and the queued actions")
    local got = summary()
    -- joins first (in the order the channels were opened), then the queue
    assert.same({ "join:room", "join:other", "message:m1", "message:private", "history", "message:m2" }, got)
    assert.equal("some-socket", frames[4].frame.options.socketId)
    assert.equal(0, c:stats().queued)
  end)

  it("queues from the first open, before the socket ever connected", function()
    srv:close()
    local c = client()
    local ch = c:channel("room", { queue_offline = true })
    ch:open()
    assert.is_true(ch:send("early"))
    start_server()
    H.wait_until(function() return #frames >= 2 end, "the join and the early message")
    assert.same({ "join:room", "message:early" }, summary())
  end)

  it("drops the oldest action when the queue is full, and says so", function()
    local c = client{ queue_limit = 2 }
    local rec, errors = H.recorder()
    c:on("error", rec)
    local ch = open(c, "room", { queue_offline = true })
    srv:close()
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    ch:send("a"); ch:send("b"); ch:send("c")
    H.wait_until(function() return #errors == 1 end, "the overflow report")
    assert.matches("offline queue full %(2 actions%): the oldest, a message to 'room', was dropped",
      errors[1].payload.message)
    assert.equal("a", errors[1].payload.dropped.payload)
    assert.equal("room", errors[1].channel)
    assert.equal(1, c:stats().dropped)
    start_server()
    H.wait_until(function() return #frames >= 3 end, "the rejoin and what was kept")
    assert.same({ "join:room", "message:b", "message:c" }, summary())
  end)

  it("reports the queued actions of a channel closed while offline", function()
    local c = client()
    local rec, errors = H.recorder()
    c:on("error", rec)
    local ch = open(c, "room", { queue_offline = true })
    local keep = open(c, "keep", { queue_offline = true })
    srv:close()
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    ch:send("lost 1"); keep:send("kept"); ch:send("lost 2")
    ch:close()
    H.wait_until(function() return #errors == 1 end, "the report")
    assert.matches("2 queued action%(s%) of channel 'room' were not sent", errors[1].payload.message)
    assert.equal("lost 1", errors[1].payload.dropped[1].payload)
    assert.equal("lost 2", errors[1].payload.dropped[2].payload)
    start_server()
    H.wait_until(function() return #frames >= 2 end, "the rejoin of keep")
    assert.same({ "join:keep", "message:kept" }, summary())
  end)

  it("reports what a channel opened and closed before the first connect held, and goes idle", function()
    srv:close()
    local c = client()
    local rec, errors = H.recorder()
    c:on("error", rec)
    local ch = c:channel("room")
    ch:open(); ch:history(); ch:send("never"); ch:close()
    H.wait_until(function() return #errors == 1 and c:status() == "idle" end, "the report, and an idle client")
    assert.equal(2, #errors[1].payload.dropped)
    assert.equal("history", errors[1].payload.dropped[1].action)
    assert.equal("never", errors[1].payload.dropped[2].payload)
    assert.equal(0, c:stats().queued)
  end)

  it("tells client:close() how many offline actions were never sent", function()
    local c = client()
    local ch = open(c, "room", { queue_offline = true })
    srv:close()
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    ch:send("x"); ch:send("y")
    local ok, discarded = c:close()
    assert.is_true(ok)
    assert.equal(2, discarded)
  end)

  it("does not lose frames accepted but not yet written when the link drops", function()
    local p = H.track(Proxy.start{ target_port = srv.port })
    local c = client{ url = "http://127.0.0.1:" .. p.port, ping_interval = 0 }
    local ch = open(c, "room")
    local first = #frames
    p:stall(true)
    local big = string.rep("x", 64 * 1024)
    local n = 200
    for i = 1, n do assert.is_true(ch:send({ seq = i, pad = big })) end
    -- the link takes what the kernel buffers hold, then the rest waits in the client
    local queued, stable = -1, 0
    H.wait_until(function()
      local q = c:stats().queued
      if q == queued then stable = stable + 1 else stable, queued = 0, q end
      return stable >= 5
    end, "the writer to block on the stalled link")
    assert.is_true(queued > 0 and queued < n, "some frames are still queued: " .. queued)
    p:reset()
    p:stall(false)
    H.wait_until(function() return #srv:members("room") == 1 and #frames > first + queued end,
      "the rejoin and the frames that were still queued")
    H.wait_until(function()
      local f = frames[#frames].frame
      return f.action == "message" and f.payload.seq == n
    end, "the last frame")
    -- after the rejoin: the join, then exactly the frames that never left the client
    local after = {}
    for i = first + 1, #frames do
      local f = frames[i].frame
      if f.action == "message" then after[#after + 1] = f.payload.seq
      else assert.equal("join", f.action) end
    end
    assert.equal(queued, #after)
    for i = 1, queued do assert.equal(n - queued + i, after[i]) end
  end)
end)
