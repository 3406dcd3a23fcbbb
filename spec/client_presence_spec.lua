-- Listen to Presence: presence_full gives the whole list on each join,
-- presence_update a join or leave; Get presence (ch:presence()) returns a
-- copy, marked stale while the connection is down and replaced on rejoin.
local H = require "support.helpers"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("presence", function()
  local srv
  local function member(opts)
    local c = H.track(realtime.new{ url = srv:base_url(), canonical = "test",
                                   reconnect = { initial = 0.02, max = 0.05 } })
    local ch = c:channel("room", opts or { presence = true })
    local rec, got = H.recorder()
    ch:on(rec)
    ch:open()
    return { c = c, ch = ch, got = got }
  end
  local function ids(list)
    local out = {}
    for i, e in ipairs(list) do out[i] = e.socketId end
    table.sort(out)
    return out
  end
  local function members()
    local out = srv:members("room")
    table.sort(out)
    return out
  end

  before_each(function() srv = H.track(assert(server.start{ port = 0, canonical = "test" })) end)
  after_each(function() H.cleanup() end)

  it("lists everyone in the channel, itself included", function()
    local a = member()
    local b = member()
    H.wait_until(function() return #a.ch:presence() == 2 and #b.ch:presence() == 2 end, "both lists")
    assert.same(members(), ids(a.ch:presence()))
    assert.same(members(), ids(b.ch:presence()))
  end)

  it("fires presence_full for the joiner and presence_update for the others", function()
    local a = member()
    H.wait_until(function() return #a.ch:presence() == 1 end, "a alone")
    local joins = {}
    a.ch:on("presence_update", function(ev) joins[#joins + 1] = ev end, { event = "join" })
    local b = member()
    local function fulls() return H.count(b.got, function(ev) return ev.action == "presence_full" end) end
    H.wait_until(function() return #joins == 1 and fulls() == 1 end, "the join of b, and b's full list")
    assert.equal("join", joins[1].payload.action)
    -- b itself gets the full list, not an update about its own join
    assert.equal(0, H.count(b.got, function(ev) return ev.action == "presence_update" end))
  end)

  it("removes a client that leaves or disconnects", function()
    local a, b, c = member(), member(), member()
    H.wait_until(function() return #a.ch:presence() == 3 and #b.ch:presence() == 3 end, "three")
    local leaves = {}
    a.ch:on("presence_update", function(ev) leaves[#leaves + 1] = ev.payload.presence.socketId end, { event = "leave" })
    -- b's and c's socket ids: the ones that leave the server's list
    local b_sid, c_sid
    local before = members()
    b.ch:close()
    H.wait_until(function() return #srv:members("room") == 2 end, "b's leave on the server")
    for _, id in ipairs(before) do
      local still = false
      for _, m in ipairs(srv:members("room")) do if m == id then still = true end end
      if not still then b_sid = id end
    end
    c.c:close()
    H.wait_until(function() return #srv:members("room") == 1 end, "c's disconnect on the server")
    for _, id in ipairs(before) do
      if id ~= b_sid and id ~= srv:members("room")[1] then c_sid = id end
    end
    H.wait_until(function() return #a.ch:presence() == 1 and #leaves == 2 end, "a alone again")
    -- one leave each, for b and for c
    local want = { b_sid, c_sid }
    table.sort(want)
    table.sort(leaves)
    assert.same(want, leaves)
    assert.same(members(), ids(a.ch:presence()))
    -- a later join is the marker: a repeated leave would have come before it
    local joins = {}
    a.ch:on("presence_update", function(ev) joins[#joins + 1] = ev end, { event = "join" })
    member()
    H.wait_until(function() return #joins == 1 end, "the marker join")
    assert.equal(2, #leaves)
  end)

  it("hands out a copy that the app may change", function()
    local a = member()
    H.wait_until(function() return #a.ch:presence() == 1 end, "a")
    local list = a.ch:presence()
    list[1] = nil
    assert.equal(1, #a.ch:presence())
  end)

  it("is stale while the connection is down and replaced on the rejoin", function()
    local a = member()
    local b = member()
    H.wait_until(function() return #a.ch:presence() == 2 end, "two")
    local port = srv.port
    srv:close()
    H.wait_until(function() return a.c:status() == "disconnected" end, "the loss")
    local list, stale = a.ch:presence()
    assert.is_true(stale)
    assert.equal(2, #list)
    srv = H.track(assert(server.start{ port = port, canonical = "test" }))
    H.wait_until(function()
      local l, s = a.ch:presence()
      return not s and #l == 2 and #srv:members("room") == 2
    end, "a fresh list after both rejoined")
    assert.same(members(), ids(a.ch:presence()))
  end)

  it("lists nobody once the channel is closed here, and lists afresh when reopened", function()
    local a, b = member(), member()
    H.wait_until(function() return #a.ch:presence() == 2 end, "both in a's list")
    a.ch:close()
    local list, stale = a.ch:presence()
    assert.same({}, list)
    assert.is_false(stale)
    b.c:close()
    H.wait_until(function() return #srv:members("room") == 0 end, "both gone from the server")
    a.ch:open()
    H.wait_until(function() return #srv:members("room") == 1 and #a.ch:presence() == 1 end, "a alone, listed afresh")
    assert.same(members(), ids(a.ch:presence()))
  end)

  it("lists nobody once its client is closed", function()
    local a, b = member(), member()
    H.wait_until(function() return #a.ch:presence() == 2 end, "both in a's list")
    a.c:close()
    local list, stale = a.ch:presence()
    assert.same({}, list)
    assert.is_false(stale)
    H.wait_until(function() return #srv:members("room") == 1 end, "a gone from the server")
    assert.same({}, (a.ch:presence()))
    H.wait_until(function() return #b.ch:presence() == 1 end, "b alone in its own list")
  end)

  it("is not kept for a channel opened without presence", function()
    local a = member({})
    H.wait_until(function() return #srv:members("room") == 1 end, "joined")
    assert.has_error(function() a.ch:presence() end, "channel 'room' was not opened with presence = true")
    a.ch:send("marker")
    H.wait_until(function() return #a.got >= 2 end, "the echo")
    assert.equal(0, H.count(a.got, function(ev) return ev.action == "presence_full" end))
  end)
end)
