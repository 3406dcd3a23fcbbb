-- Get presence keeps who is in a channel: presence_full replaces the list,
-- presence_update applies a join or a leave by socketId.
local Presence = require "xano.realtime.presence"

local function entry(id) return { socketId = id, extras = {}, permissions = { dbo_id = 0, row_id = 0 } } end
local function ids(p)
  local out = {}
  for i, e in ipairs(p:copy()) do out[i] = e.socketId end
  return out
end

describe("presence", function()
  it("replaces the whole list on presence_full", function()
    local p = Presence.new()
    p:replace({ entry("a"), entry("b") })
    p:replace({ entry("c") })
    assert.same({ "c" }, ids(p))
  end)

  it("adds a joiner once, however often its join is reported", function()
    local p = Presence.new()
    p:replace({ entry("a") })
    assert.is_true(p:apply({ action = "join", presence = entry("b") }))
    assert.is_true(p:apply({ action = "join", presence = entry("b") }))
    assert.same({ "a", "b" }, ids(p))
  end)

  it("removes a leaver, and ignores a leave of someone unknown", function()
    local p = Presence.new()
    p:replace({ entry("a"), entry("b") })
    p:apply({ action = "leave", presence = entry("a") })
    p:apply({ action = "leave", presence = entry("zz") })
    assert.same({ "b" }, ids(p))
  end)

  it("rejects updates that are not join or leave", function()
    local p = Presence.new()
    assert.is_false(p:apply({ action = "move", presence = entry("a") }))
    assert.is_false(p:apply("nonsense"))
    assert.same({}, ids(p))
  end)

  it("hands out a copy: changing it changes nothing inside", function()
    local p = Presence.new()
    p:replace({ entry("a") })
    local list = p:copy()
    list[2] = entry("x")
    assert.same({ "a" }, ids(p))
  end)

  it("drops duplicate socketIds in a presence_full", function()
    local p = Presence.new()
    p:replace({ entry("a"), entry("a"), entry("b") })
    assert.same({ "a", "b" }, ids(p))
  end)

  it("clears staleness when a full list arrives", function()
    local p = Presence.new()
    p.stale = true
    p:replace({ entry("a") })
    assert.is_false(p.stale)
  end)
end)
