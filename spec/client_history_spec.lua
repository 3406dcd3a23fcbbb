-- Get History on Join and Request history: the channel's stored messages,
-- oldest first, arrive as a "history" event.  After a reconnect the rejoin
-- asks again; what the app already got is not delivered twice.  A channel
-- closed and opened again starts afresh: its first history is whole, and
-- what a rejoin leaves out is only what this opening delivered.
local H = require "support.helpers"
local Proxy = require "support.proxy"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("history", function()
  local srv
  local function client()
    return H.track(realtime.new{ url = srv:base_url(), canonical = "test",
                                reconnect = { initial = 0.02, max = 0.05 } })
  end
  local function texts(items)
    local out = {}
    for i, m in ipairs(items) do out[i] = m.payload end
    return out
  end
  local function say(...)
    local msgs = { ... }
    local before = #srv:history("room")
    local c = client()
    local ch = c:channel("room", { queue_offline = true })
    ch:open()
    for _, m in ipairs(msgs) do assert(ch:send(m)) end
    H.wait_until(function() return #srv:history("room") >= before + #msgs end, "stored")
    c:close()
  end

  before_each(function()
    local tokens = { ["tok-a"] = { dbo_id = 1, row_id = 1 }, ["tok-b"] = { dbo_id = 1, row_id = 2 } }
    srv = H.track(assert(server.start{ port = 0, canonical = "test", config = { tokens = tokens } }))
  end)
  after_each(function() H.cleanup() end)

  it("arrives on join, oldest first, when the channel asks for it", function()
    say("one", "two", "three")
    local c = client()
    local ch = c:channel("room", { history = true })
    local rec, got = H.recorder()
    ch:on("history", rec)
    ch:open()
    H.wait_until(function() return #got == 1 end, "the history")
    assert.same({ "one", "two", "three" }, texts(got[1].payload.history))
    assert.equal("message", got[1].payload.history[1].action)
    assert.equal("room", got[1].channel)
  end)

  it("does not arrive on join without the option", function()
    say("one")
    local c = client()
    local ch = c:channel("room", { queue_offline = true })
    local rec, got = H.recorder()
    ch:on(rec)
    ch:open()
    ch:send("marker")
    H.wait_until(function() return H.count(got, function(e) return e.action == "message" end) == 1 end, "the echo")
    assert.equal(0, H.count(got, function(e) return e.action == "history" end))
  end)

  it("arrives when requested, as a separate event", function()
    say("a", "b")
    local c = client()
    local ch = c:channel("room", { queue_offline = true })
    local rec, got = H.recorder()
    ch:on("history", rec)
    ch:open()
    assert.is_true(ch:history())
    H.wait_until(function() return #got == 1 end, "the history")
    assert.same({ "a", "b" }, texts(got[1].payload.history))
  end)

  it("is not delivered twice after a reconnect", function()
    say("one", "two")
    local c = client()
    local ch = c:channel("room", { history = true })
    local rec, got = H.recorder()
    ch:on("history", rec)
    ch:open()
    H.wait_until(function() return #got == 1 end, "the first history")
    ch:send("three")
    H.wait_until(function() return #srv:history("room") == 3 end, "three stored")
    srv:drop(srv:members("room")[1], 1011)
    H.wait_until(function() return #got == 2 end, "the history after the rejoin")
    assert.same({}, texts(got[2].payload.history))
    assert.equal(3, got[2].payload.duplicates)
    assert.is_true(got[2].rejoin)
    -- an explicit request still gets everything
    ch:history()
    H.wait_until(function() return #got == 3 end, "the requested history")
    assert.same({ "one", "two", "three" }, texts(got[3].payload.history))
  end)

  it("is not delivered twice after a reconnect that follows a private message", function()
    local peer = client()
    local pch = peer:channel("room", { queue_offline = true })
    pch:open()
    H.wait_until(function() return #srv:members("room") == 1 end, "the peer joined")
    local peer_sid = srv:members("room")[1]
    pch:send("one")
    H.wait_until(function() return #srv:history("room") == 1 end, "one stored")
    local c = client()
    local ch = c:channel("room", { history = true })
    local rec, got = H.recorder()
    local msgs = {}
    ch:on("history", rec)
    ch:on("message", function(ev) msgs[#msgs + 1] = ev.payload end)
    ch:open()
    H.wait_until(function() return #got == 1 and #srv:members("room") == 2 end, "the first history")
    local mine = srv:members("room")[1] == peer_sid and srv:members("room")[2] or srv:members("room")[1]
    pch:send("two")
    -- private: delivered to this client only, kept out of the history
    assert.is_true(pch:send_to(mine, "just for you"))
    H.wait_until(function() return msgs[#msgs] == "just for you" end, "the private message")
    srv:drop(mine, 1011)
    H.wait_until(function() return #got == 2 end, "the history after the rejoin")
    assert.same({}, texts(got[2].payload.history))
    assert.equal(2, got[2].payload.duplicates)
    assert.is_false(got[2].payload.gap_possible)
  end)

  it("recovers what was missed while away, without what was already seen", function()
    local c = client()
    local ch = c:channel("room", { history = true })
    local hist_rec, hist = H.recorder()
    local msg_rec, msgs = H.recorder()
    ch:on("history", hist_rec)
    ch:on("message", msg_rec)
    ch:open()
    H.wait_until(function() return #hist == 1 end, "the first history")
    ch:send("seen 1"); ch:send("seen 2")
    H.wait_until(function() return #msgs == 2 end, "the echoes")
    local me = srv:members("room")[1]
    -- knock the client off and speak while it is away
    c:set_reconnect_codes({}) -- stay down after the next loss
    srv:drop(me, 1011)
    H.wait_until(function() return c:status() == "disconnected" end, "down")
    local other = client()
    local och = other:channel("room", { queue_offline = true })
    och:open()
    och:send("missed 1"); och:send("missed 2")
    H.wait_until(function() return #srv:history("room") == 4 end, "four stored")
    c:reconnect()
    H.wait_until(function() return #hist == 2 end, "the history after the rejoin")
    assert.same({ "missed 1", "missed 2" }, texts(hist[2].payload.history))
    assert.equal(2, hist[2].payload.duplicates)
    assert.is_false(hist[2].payload.gap_possible)
  end)

  -- what the channel shows the app from its open() on: "connected"
  -- statuses, histories (as texts, with the rejoin flag) and messages
  local function watch(ch)
    local seen = { connected = 0, histories = {}, messages = {} }
    ch:on(function(ev)
      if ev.action == "connection_status" and ev.payload.status == "connected" then
        seen.connected = seen.connected + 1
      elseif ev.action == "history" then
        seen.histories[#seen.histories + 1] = { texts = texts(ev.payload.history), rejoin = ev.rejoin,
          duplicates = ev.payload.duplicates }
      elseif ev.action == "message" then
        seen.messages[#seen.messages + 1] = ev.payload
      end
    end)
    return seen
  end
  local function last(list) return list[#list] end

  for _, how in ipairs({ "set_token()", "reconnect()" }) do
    it("arrives whole after close(), " .. how .. " and open() back to back, not cut as a rejoin", function()
      say("one", "two")
      local c = H.track(realtime.new{ url = srv:base_url(), canonical = "test", token = "tok-a",
                                      reconnect = { initial = 0.02, max = 0.05 } })
      local ch = c:channel("room", { history = true })
      local first = watch(ch)
      ch:open()
      H.wait_until(function() return #first.histories == 1 end, "the first history")
      assert.same({ "one", "two" }, first.histories[1].texts)
      -- the app closes the channel, changes the link and opens the channel
      -- again, with no poll between: a new opening, not a rejoin
      ch:close()
      if how == "set_token()" then c:set_token("tok-b") else c:reconnect() end
      ch:open()
      local again = watch(ch)
      first = nil
      ch:send("marker")
      -- the marker's echo comes after every reply to the joins before it
      H.wait_until(function() return last(again.messages) == "marker" end, "the marker's echo")
      -- one open(), one history (the old opening's join is not replayed)
      assert.equal(1, #again.histories, "histories after the reopen")
      for i, h in ipairs(again.histories) do
        assert.is_not_true(h.rejoin, "history " .. i .. " after the reopen is marked as a rejoin")
        assert.same({ "one", "two" }, h.texts)
      end
      assert.equal(1, again.connected)
    end)
  end

  it("after a reopen cut short, the rejoin's history leaves out only what this opening delivered", function()
    say("one", "two")
    local p = H.track(Proxy.start{ target_port = srv.port })
    local c = H.track(realtime.new{ url = "http://127.0.0.1:" .. p.port, canonical = "test",
                                    reconnect = { initial = 0.02, max = 0.05 } })
    local ch = c:channel("room", { history = true })
    local first = watch(ch)
    ch:open()
    H.wait_until(function() return #first.histories == 1 end, "the first history")
    assert.same({ "one", "two" }, first.histories[1].texts)
    say("three")
    H.wait_until(function() return last(first.messages) == "three" end, "three, live")
    -- the reopen's leave and join leave the client but are held on the
    -- wire, and the link is then cut: no history of this opening reaches
    -- the app before the rejoin's
    p:stall(true)
    local out = c:stats().frames_out
    ch:close()
    ch:open()
    local again = watch(ch)
    first = nil
    H.wait_until(function() return c:stats().frames_out >= out + 2 end, "the leave and the join written")
    p:stall(false)
    p:reset()
    H.wait_until(function() return #again.histories >= 1 end, "the history after the rejoin")
    ch:send("marker")
    H.wait_until(function() return last(again.messages) == "marker" end, "the marker's echo")
    for i, h in ipairs(again.histories) do
      assert.same({ "one", "two", "three" }, h.texts, "history " .. i .. " after the reopen")
      assert.equal(0, h.duplicates or 0)
    end
  end)
end)
