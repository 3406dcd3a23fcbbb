-- History after a rejoin reaches the app without what it already got.
-- Xano's frames carry no ids, so a channel remembers what it delivered and
-- keeps only what follows the last delivered message.
local History = require "xano.realtime.history"

local function msg(sock, text)
  return { action = "message", options = { channel = "room" }, payload = { text = text },
           client = { socketId = sock, extras = {}, permissions = { dbo_id = 0, row_id = 0 } } }
end
local function texts(list)
  local out = {}
  for i, m in ipairs(list) do out[i] = m.payload.text end
  return out
end

describe("history dedupe", function()
  it("delivers everything when nothing was delivered before", function()
    local h = History.new()
    local fresh, skipped, gap = h:fresh({ msg("a", "1"), msg("a", "2") })
    assert.same({ "1", "2" }, texts(fresh))
    assert.equal(0, skipped)
    assert.is_false(gap)
  end)

  it("keeps only what came after the last delivered message", function()
    local h = History.new()
    h:seen(msg("a", "1")); h:seen(msg("b", "2"))
    local fresh, skipped, gap = h:fresh({ msg("a", "1"), msg("b", "2"), msg("a", "3"), msg("b", "4") })
    assert.same({ "3", "4" }, texts(fresh))
    assert.equal(2, skipped)
    assert.is_false(gap)
  end)

  it("recognises a message whatever the key order of its decoding", function()
    local h = History.new()
    h:seen({ payload = { a = 1, b = { 2, 3 } }, options = { channel = "r" }, client = { socketId = "s" } })
    local again = { client = { socketId = "s" }, options = { channel = "r" }, payload = { b = { 2, 3 }, a = 1 } }
    local fresh = h:fresh({ again, msg("s", "new") })
    assert.same({ "new" }, texts(fresh))
  end)

  it("tells repeated identical messages apart by what precedes them", function()
    local h = History.new()
    h:seen(msg("a", "ok")); h:seen(msg("a", "x")); h:seen(msg("a", "ok"))
    -- the history window starts after the first "ok"
    local fresh = h:fresh({ msg("a", "x"), msg("a", "ok"), msg("a", "later"), msg("a", "ok") })
    assert.same({ "later", "ok" }, texts(fresh))
  end)

  it("tells the same payload from two senders apart", function()
    local h = History.new()
    h:seen(msg("a", "hi"))
    -- b said "hi" too, after a: that one is new
    local fresh, skipped, gap = h:fresh({ msg("a", "hi"), msg("b", "hi") })
    assert.same({ "hi" }, texts(fresh))
    assert.equal("b", fresh[1].client.socketId)
    assert.equal(1, skipped)
    assert.is_false(gap)
  end)

  it("says a gap is possible when nothing lines up", function()
    local h = History.new()
    h:seen(msg("a", "old"))
    local fresh, skipped, gap = h:fresh({ msg("b", "10"), msg("b", "11") })
    assert.same({ "10", "11" }, texts(fresh))
    assert.equal(0, skipped)
    assert.is_true(gap)
  end)

  it("forgets what was delivered once cleared (the channel opens again)", function()
    local h = History.new()
    h:seen(msg("a", "1")); h:seen(msg("a", "2"))
    h:clear()
    assert.equal(0, h:count())
    local fresh, skipped, gap = h:fresh({ msg("a", "1"), msg("a", "2"), msg("a", "3") })
    assert.same({ "1", "2", "3" }, texts(fresh))
    assert.equal(0, skipped)
    assert.is_false(gap)
    h:seen(msg("a", "3"))
    assert.same({ "4" }, texts((h:fresh({ msg("a", "2"), msg("a", "3"), msg("a", "4") }))))
  end)

  it("lines up past a private message, which no history holds", function()
    local h = History.new()
    h:seen(msg("a", "1")); h:seen(msg("a", "2"))
    local private = msg("b", "for you")
    private.options.socketId = "me"
    h:seen(private)
    local fresh, skipped, gap = h:fresh({ msg("a", "1"), msg("a", "2"), msg("a", "3") })
    assert.same({ "3" }, texts(fresh))
    assert.equal(2, skipped)
    assert.is_false(gap)
  end)

  it("remembers a bounded number of messages", function()
    local h = History.new(3)
    for i = 1, 10 do h:seen(msg("a", tostring(i))) end
    assert.equal(3, h:count())
    local fresh = h:fresh({ msg("a", "9"), msg("a", "10"), msg("a", "11") })
    assert.same({ "11" }, texts(fresh))
  end)
end)
