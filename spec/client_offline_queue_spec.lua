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

  -- A client behind a proxy, and a way to take its link away (the proxy
  -- resets it and refuses new connections) and give it back, while the
  -- server, and the peers on it, stay up.
  local function behind_proxy(opts)
    local p = H.track(Proxy.start{ target_port = srv.port })
    opts = opts or {}
    opts.url = "http://127.0.0.1:" .. p.port
    local c = client(opts)
    local link = {}
    function link.down()
      p:refuse(true)
      p:reset()
      H.wait_until(function() return c:status() == "disconnected" and #srv:sockets() == 0 end, "the loss")
    end
    function link.up() p:refuse(false) end
    return c, link, p
  end
  -- A peer on the server: joins name and records the payloads it hears.
  local function peer(name)
    local c = client()
    local ch = c:channel(name)
    local heard = {}
    ch:on("message", function(ev) heard[#heard + 1] = ev.payload end)
    local before = #srv:members(name)
    ch:open()
    H.wait_until(function() return #srv:members(name) == before + 1 end, "the peer's join")
    return { c = c, ch = ch, heard = heard }
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

  it("keeps actions taken while offline and sends them after the rejoin, in order, once", function()
    local c, link = behind_proxy()
    local rec_h, hist = H.recorder()
    local rec_e, errs = H.recorder()
    c:on("history", rec_h)
    c:on("error", rec_e)
    local ch = open(c, "room", { queue_offline = true })
    open(c, "other")
    link.down()
    local bob = peer("room")
    local first = #frames
    assert.is_true(ch:send("m1"))
    assert.is_true(ch:send_to("some-socket", "private"))
    assert.is_true(ch:history())
    assert.is_true(ch:send("m2", { authenticated = false }))
    assert.equal(4, c:stats().queued)
    link.up()
    H.wait_until(function() return #bob.heard >= 2 end, "the queued messages at the peer")
    -- a live message after the queue is the marker: a copy of the queued
    -- ones would have arrived before it
    assert.is_true(ch:send("marker"))
    H.wait_until(function() return #bob.heard >= 3 end, "the marker at the peer")
    assert.same({ "m1", "m2", "marker" }, bob.heard)
    -- the app: one history reply, one error for the unknown target
    H.wait_until(function() return #hist == 1 and #errs == 1 end, "the history and the refusal")
    assert.equal("room", hist[1].channel)
    assert.equal("room", errs[1].channel)
    -- the server got the joins first (in the order the channels were
    -- opened), then the queue
    local got = summary(first + 1)
    assert.same({ "join:room", "join:other", "message:m1", "message:private", "history", "message:m2",
      "message:marker" }, got)
    assert.equal("some-socket", frames[first + 4].frame.options.socketId)
    assert.equal(0, c:stats().queued)
    -- written once each: 2 joins, 2 rejoins, 4 queued actions, the marker
    assert.equal(9, c:stats().frames_out)
  end)

  it("sends a long queue whole after the rejoin, each action once and in order", function()
    local c, link = behind_proxy()
    local ch = open(c, "room", { queue_offline = true })
    link.down()
    local bob = peer("room")
    local n = 300 -- several of the writer's batches
    for i = 1, n do assert.is_true(ch:send(i)) end
    assert.equal(n, c:stats().queued)
    link.up()
    H.wait_until(function() return #bob.heard >= n end, "the whole queue at the peer")
    assert.is_true(ch:send("marker"))
    H.wait_until(function() return #bob.heard >= n + 1 end, "the marker")
    assert.equal(n + 1, #bob.heard)
    for i = 1, n do assert.equal(i, bob.heard[i]) end
    assert.equal(0, c:stats().queued)
  end)

  it("says send buffer full when a live link holds send_limit unwritten, and sends what it took", function()
    local p = H.track(Proxy.start{ target_port = srv.port })
    local limit = 256 * 1024
    local c = client{ url = "http://127.0.0.1:" .. p.port, ping_interval = 0, send_limit = limit }
    local ch = open(c, "room")
    local bob = peer("room")
    p:stall(true) -- the link stays up, nothing moves: the kernel buffers fill, then the queue
    local pad = string.rep("p", 16 * 1024)
    local accepted, err = 0, nil
    for i = 1, 2000 do -- 32 MiB: far past the limit and the kernel's buffers
      local ok, e = ch:send({ seq = i, pad = pad })
      if not ok then err = e; break end
      accepted = i
    end
    assert.equal("send buffer full", err)
    -- at least what send_limit holds, less what each queued frame costs
    assert.is_true(accepted >= limit / #pad / 2, "refused after " .. accepted .. " frames")
    -- the link moves again: everything accepted arrives, once, in order
    p:stall(false)
    H.wait_until(function() return #bob.heard >= accepted end, "what was accepted, at the peer", 30)
    assert.is_true(ch:send({ seq = "marker" }))
    H.wait_until(function() return #bob.heard >= accepted + 1 end, "the marker")
    assert.equal(accepted + 1, #bob.heard)
    for i = 1, accepted do assert.equal(i, bob.heard[i].seq) end
  end)

  it("queues from the first open, before the socket ever connected", function()
    local c, link, p = behind_proxy()
    p:refuse(true) -- the first connect fails until link.up()
    local bob = peer("room")
    local ch = c:channel("room", { queue_offline = true })
    local echo = {}
    ch:on("message", function(ev) echo[#echo + 1] = ev.payload end)
    ch:open()
    assert.is_true(ch:send("early"))
    link.up()
    H.wait_until(function() return #bob.heard >= 1 end, "the early message at the peer")
    assert.is_true(ch:send("marker"))
    H.wait_until(function() return #bob.heard >= 2 and #echo >= 2 end, "the marker")
    assert.same({ "early", "marker" }, bob.heard)
    assert.same({ "early", "marker" }, echo)
    assert.equal(1, c:stats().connects)
  end)

  it("drops the oldest action when the queue is full, and says so", function()
    local c, link = behind_proxy{ queue_limit = 2 }
    local rec, errors = H.recorder()
    c:on("error", rec)
    local ch = open(c, "room", { queue_offline = true })
    link.down()
    local bob = peer("room")
    ch:send("a"); ch:send("b"); ch:send("c")
    H.wait_until(function() return #errors == 1 end, "the overflow report")
    assert.matches("offline queue full %(2 actions%): the oldest, a message to 'room', was dropped",
      errors[1].payload.message)
    assert.equal("a", errors[1].payload.dropped.payload)
    assert.equal("room", errors[1].channel)
    assert.equal(1, c:stats().dropped)
    assert.equal(2, c:stats().queued)
    link.up()
    H.wait_until(function() return #bob.heard >= 2 end, "what was kept, at the peer")
    assert.is_true(ch:send("marker"))
    H.wait_until(function() return #bob.heard >= 3 end, "the marker")
    assert.same({ "b", "c", "marker" }, bob.heard)
    assert.equal(1, #errors)
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

  for _, how in ipairs({ "is refused", "cannot reach the server" }) do
    it("reports what the last channels sent before their close when the link to send it " .. how .. ", and goes idle", function()
      srv:close()
      srv = H.track(assert(server.start{ port = port, canonical = "test",
        config = { tokens = { good = { dbo_id = 1, row_id = 1 } }, unknown_token = "refuse" } }))
      srv.hooks.frame = function(sid, f) frames[#frames + 1] = { sid = sid, frame = f } end
      local p = H.track(Proxy.start{ target_port = srv.port })
      local c = client{ url = "http://127.0.0.1:" .. p.port, token = "good" }
      local rec, errors = H.recorder()
      c:on("error", rec)
      local x = open(c, "x")
      local y = open(c, "y")
      -- the reconnect's old link writes no more and stays up, its close
      -- held back by the stalled proxy: the action and the leaves are
      -- accepted on it, for the new link, which the server refuses (401:
      -- not a code that reconnects)
      p:stall()
      if how == "is refused" then c:set_token("refused") else c:reconnect() end
      assert.is_true(x:send("accepted"))
      x:close(); y:close()
      assert.equal(1, c:stats().queued)
      c:poll(0)
      if how ~= "is refused" then p:refuse(true); p:reset() end
      p:stall(false)
      local report
      H.wait_until(function()
        for _, ev in ipairs(errors) do if ev.payload.dropped then report = ev end end
        return report and c:status() == "idle"
      end, "the report of what was not sent, and an idle client")
      assert.equal(1, #report.payload.dropped)
      assert.equal("accepted", report.payload.dropped[1].payload)
      assert.matches("1 queued action%(s%) were not sent", report.payload.message)
      assert.equal(0, c:stats().queued)
      -- nothing of it reaches the server later, on a new link
      c:set_token("good")
      p:refuse(false)
      local z = c:channel("z")
      z:open()
      H.wait_until(function() return #srv:members("z") == 1 end, "a later join")
      assert.is_true(z:send("marker"))
      H.wait_until(function() return frames[#frames].frame.payload == "marker" end, "a later marker")
      for _, f in ipairs(frames) do assert.are_not.equal("accepted", f.frame.payload) end
    end)
  end

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
    -- the stalled link takes what the kernel buffers hold, then the
    -- writer waits: 12.8 MB do not fit
    H.wait_until(function() return c:stats().frames_out >= 2 end, "the writer to start")
    p:refuse(true) -- no new link until the oracle is read
    p:reset()
    p:stall(false)
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    -- the oracle: what the client wrote to the link that died (the join
    -- and the first w messages) may be lost, at most once; every later
    -- message must arrive on the new link exactly once, in order
    local w = c:stats().frames_out - 1
    assert.is_true(w < n, "some frames were still queued: " .. w .. " of " .. n .. " written")
    assert.equal(n - w, c:stats().queued)
    p:refuse(false)
    H.wait_until(function()
      local f = frames[#frames]
      return #srv:members("room") == 1 and f and f.frame.action == "message" and f.frame.payload.seq == n
    end, "the last frame")
    local old_sid = frames[first] and frames[first].sid
    local sid = srv:members("room")[1]
    local after, before = {}, {}
    for i = first + 1, #frames do
      local f = frames[i]
      if f.frame.action == "message" then
        local list = f.sid == sid and after or before
        list[#list + 1] = f.frame.payload.seq
      else
        assert.equal("join", f.frame.action)
        assert.equal(sid, f.sid)
      end
    end
    assert.are_not.equal(old_sid, sid)
    assert.equal(n - w, #after)
    for i = 1, n - w do assert.equal(w + i, after[i]) end
    -- on the old link: a prefix of what was written, each at most once
    for i, seq in ipairs(before) do assert.equal(i, seq) end
    assert.is_true(#before <= w)
    assert.equal(n + 2, c:stats().frames_out) -- two joins, every message written once
  end)
end)
