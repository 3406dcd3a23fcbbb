-- Numbers arrive as they were sent.  lua-cjson parses and encodes; around
-- it, xano.realtime.json writes every integer with all its digits (Lua
-- 5.3+ integers up to 2^63-1; on Lua 5.1 and LuaJIT, integral numbers up
-- to 2^53) and every other number with the shortest text that reads back
-- to the same double, and, on Lua 5.3+, reads every integral number within
-- +-(2^53-1) (JavaScript's safe integers) as a Lua integer: a score of
-- 1234 prints "1234", not "1234.0".  Lua 5.1 and LuaJIT have one number
-- type: the value is exact, and tostring shows 14 significant digits (as
-- it does for any number there); string.format("%.0f") shows them all.
-- The same holds for what the bundled server decodes and encodes itself
-- (server events, ids, extras, its history); payloads it relays byte for
-- byte.
local H = require "support.helpers"
local RC = require "support.rawclient"
local HTTP = require "support.http"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"
local json = require "xano.realtime.json"
local History = require "xano.realtime.history"

local INTEGERS = math.type ~= nil -- Lua 5.3+: integers are a subtype
local BIG = 123456789012345 -- 15 digits: lua-cjson 2.1 wrote 1.2345678901234e+14
local SAFE = 9007199254740991 -- 2^53-1
-- made at run time: Lua 5.1 folds a -0.0 constant into 0 when 0 is a constant too
local NEG_ZERO = -tonumber("0.0")

-- what the app sees of a number
local function kind(v)
  return INTEGERS and math.type(v) or type(v)
end
local function digits(v)
  if INTEGERS and math.type(v) == "integer" then return string.format("%d", v) end
  return string.format("%.0f", v)
end

local TOKENS = {
  ["tok-big"] = { dbo_id = 1, row_id = BIG,
    extras = { level = 3, ratio = 0.1, safe = SAFE, third = 1 / 3 } },
}

describe("numbers", function()
  local srv
  local function client(token)
    return H.track(realtime.new{ url = srv:base_url(), canonical = "test", token = token })
  end
  -- opens room on a new client and records its messages, events and history
  local function member(token, opts)
    local c = client(token)
    local ch = c:channel("room", opts)
    local rec, got = H.recorder()
    ch:on("message", rec)
    ch:on("event", rec)
    local hrec, history = H.recorder()
    ch:on("history", hrec)
    ch:open()
    return { c = c, ch = ch, got = got, history = history }
  end
  local function joined(n)
    H.wait_until(function() return #srv:members("room") == n end, n .. " members")
  end
  -- sends each payload from a to b; returns what b's handler saw
  local function through(a, b, ...)
    local before = #b.got
    local list = { ... }
    for i = 1, #list do assert.is_true(a.ch:send(list[i])) end
    H.wait_until(function() return #b.got == before + #list end, "the messages at the peer")
    local out = {}
    for i = 1, #list do out[i] = b.got[before + i].payload end
    return out
  end
  -- sends payload between two new clients, with a raw client in the room
  -- too; returns what the peer's handler saw and the frame's text as sent
  local function through_with_text(payload)
    local a, b = member(), member()
    local raw = RC.open(srv):joined("room")
    joined(3)
    local p = through(a, b, payload)[1]
    local _, text = raw:expect("message", "room")
    return p, text
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "test",
      config = { tokens = TOKENS, admin_key = "sesame" } }))
  end)
  after_each(function() H.cleanup() end)

  describe("between two clients, through the server", function()
    it("an integer arrives as an integer that prints without '.0'", function()
      local a, b = member(), member()
      joined(2)
      local p = through(a, b, { score = 1234, lives = 0, debt = -5 })[1]
      assert.equal("Score: 1234", "Score: " .. p.score)
      assert.equal("0", tostring(p.lives))
      assert.equal("-5", tostring(p.debt))
      if INTEGERS then
        assert.equal("integer", math.type(p.score))
        assert.equal("integer", math.type(p.lives))
      end
    end)

    it("integers keep every digit up to 2^53-1", function()
      local a, b = member(), member()
      joined(2)
      local p = through(a, b, { big = BIG, safe = SAFE, low = -SAFE, e15 = 1000000000000000 })[1]
      assert.equal(BIG, p.big)
      assert.equal(SAFE, p.safe)
      assert.equal(-SAFE, p.low)
      assert.equal("123456789012345", digits(p.big))
      assert.equal("9007199254740991", digits(p.safe))
      assert.equal("-9007199254740991", digits(p.low))
      assert.equal("1000000000000000", digits(p.e15))
      if INTEGERS then
        assert.equal("integer", math.type(p.big))
        assert.equal("integer", math.type(p.safe))
        assert.equal("integer", math.type(p.low))
        assert.equal("123456789012345", tostring(p.big))
      else
        -- one number type: tostring shows 14 significant digits (the last
        -- one rounded by LuaJIT's formatter or C's, 4 or 5)
        assert.matches("^1%.234567890123[45]e%+14$", tostring(p.big))
      end
    end)

    if INTEGERS then
      it("Lua 5.4: an integer beyond 2^53 leaves with all its digits; a peer reads the nearest double", function()
        local p, text = through_with_text({ over = SAFE + 2, max = math.maxinteger, min = math.mininteger })
        assert.truthy(text:find('"over":9007199254740993', 1, true), text)
        assert.truthy(text:find('"max":9223372036854775807', 1, true), text)
        assert.truthy(text:find('"min":-9223372036854775808', 1, true), text)
        -- not safe integers: JSON.parse and every JSON reader see a double
        assert.equal("float", math.type(p.over))
        assert.equal(2 ^ 53, p.over) -- 9007199254740993 is no double: halfway, to even
        assert.equal("float", math.type(p.max))
        assert.equal(2 ^ 63, p.max)
        assert.equal(-2 ^ 63, p.min) -- -2^63 is a double: exact
      end)
    else
      it("LuaJIT/5.1: an integral number beyond 2^53 is a double, sent with the shortest text", function()
        local p, text = through_with_text({ over = 2 ^ 60 })
        assert.truthy(text:find('"over":1.152921504606847e+18', 1, true), text)
        assert.equal(2 ^ 60, p.over)
      end)
    end

    it("floats arrive as the same double, written with the shortest text", function()
      local sent = { tenth = 0.1, third = 1 / 3, sum = 0.1 + 0.2, huge = 1e300, tiny = 5e-324,
        neg = -2.5, max = 1.7976931348623157e308 }
      local p, text = through_with_text(sent)
      for k, v in pairs(sent) do
        assert.equal(v, p[k], k)
        if INTEGERS then assert.equal("float", math.type(p[k]), k) end
      end
      for _, want in ipairs({ '"tenth":0.1', '"third":0.3333333333333333', '"sum":0.30000000000000004',
        '"huge":1e+300', '"tiny":5e-324', '"neg":-2.5', '"max":1.7976931348623157e+308' }) do
        assert.truthy(text:find(want, 1, true), want .. " in " .. text)
      end
    end)

    it("-0.0 stays a negative zero, a float", function()
      local a, b = member(), member()
      joined(2)
      local p = through(a, b, { z = NEG_ZERO })[1]
      assert.equal(0, p.z)
      assert.equal(-math.huge, 1 / p.z)
      if INTEGERS then assert.equal("float", math.type(p.z)) end
    end)

    it("an integral float arrives as an integer on Lua 5.4 (JSON writes 2.0 as 2, as JavaScript does)", function()
      local a, b = member(), member()
      joined(2)
      local p = through(a, b, { two = 2.0, half = 0.5 })[1]
      assert.equal(2, p.two)
      assert.equal("2", tostring(p.two))
      assert.equal(kind(1), kind(p.two))
      assert.equal(0.5, p.half)
    end)

    it("numbers deep in nested tables and arrays, and a bare number payload", function()
      local a, b = member(), member()
      joined(2)
      local got = through(a, b,
        { list = { 1, 2.5, { deep = { BIG, -7, 1 / 3 } } }, m = { a = { b = { c = 7 } } } },
        BIG, 42, { 10, 20, 30 })
      local p = got[1]
      assert.same({ list = { 1, 2.5, { deep = { BIG, -7, 1 / 3 } } }, m = { a = { b = { c = 7 } } } }, p)
      assert.equal(kind(1), kind(p.list[1]))
      assert.equal(kind(1), kind(p.list[3].deep[1]))
      assert.equal(kind(1), kind(p.m.a.b.c))
      assert.equal(BIG, got[2])
      assert.equal("42", tostring(got[3]))
      assert.same({ 10, 20, 30 }, got[4])
      assert.equal(kind(1), kind(got[4][3]))
    end)

    it("a private message keeps its numbers too", function()
      local a, b = member(), member()
      joined(2)
      through(a, b, "hello") -- b learns a's socketId from the sender of a message
      H.wait_until(function() return #a.got == 1 end, "the sender's own copy")
      local a_id = b.got[1].client.socketId
      assert.is_true(b.ch:send_to(a_id, { big = BIG, f = 0.1 }))
      H.wait_until(function() return #a.got == 2 end, "the private message")
      local p = a.got[2].payload
      assert.equal(BIG, p.big)
      assert.equal(kind(1), kind(p.big))
      assert.equal(0.1, p.f)
    end)
  end)

  describe("what the server writes itself", function()
    it("srv:event: data, dbo_id and row_id arrive exact, integers as integers", function()
      local m = member("tok-big")
      joined(1)
      assert.equal(1, srv:event("room", { score = 1234, big = BIG, third = 1 / 3 },
        { dbo_id = 1, row_id = BIG }))
      H.wait_until(function() return #m.got == 1 end, "the event")
      local p = m.got[1].payload
      assert.equal("event", m.got[1].action)
      assert.equal(1, p.dbo_id)
      assert.equal(BIG, p.row_id)
      assert.equal("123456789012345", digits(p.row_id))
      assert.equal("Score: 1234", "Score: " .. p.data.score)
      assert.equal(BIG, p.data.big)
      assert.equal(1 / 3, p.data.third)
      assert.equal(kind(1), kind(p.dbo_id))
      assert.equal(kind(1), kind(p.row_id))
      assert.equal(kind(1), kind(p.data.big))
    end)

    it("POST /event: the body's ids are decoded and written again with every digit", function()
      local m = member("tok-big")
      joined(1)
      local body = '{"channel":"room","data":{"score":1234,"big":123456789012345,"f":0.1},' ..
        '"dbo_id":1,"row_id":123456789012345}'
      local res = HTTP.request(srv.port, "POST", "/event",
        { ["Content-Type"] = "application/json", ["X-Admin-Key"] = "sesame" }, body)
      assert.equal(200, res.status, res.body)
      assert.equal('{"delivered":1}', res.body)
      H.wait_until(function() return #m.got == 1 end, "the event")
      local p = m.got[1].payload
      assert.equal(BIG, p.row_id)
      assert.equal(kind(1), kind(p.row_id))
      assert.equal(1, p.dbo_id)
      assert.equal(BIG, p.data.big)
      assert.equal(1234, p.data.score)
      assert.equal(0.1, p.data.f)
    end)

    it("presence entries: permissions and the config's extras, exact", function()
      local m = member("tok-big", { presence = true })
      H.wait_until(function() return #m.ch:presence() == 1 end, "the presence entry")
      local e = m.ch:presence()[1]
      assert.equal(1, e.permissions.dbo_id)
      assert.equal(BIG, e.permissions.row_id)
      assert.equal(kind(1), kind(e.permissions.dbo_id))
      assert.equal(kind(1), kind(e.permissions.row_id))
      assert.equal(3, e.extras.level)
      assert.equal(kind(1), kind(e.extras.level))
      assert.equal(0.1, e.extras.ratio)
      assert.equal(SAFE, e.extras.safe)
      assert.equal(1 / 3, e.extras.third)
      -- the sender of a message carries the same entry
      local other = member()
      joined(2)
      local p = through(m, other, "hi")
      assert.equal("hi", p[1])
      assert.equal(BIG, other.got[1].client.permissions.row_id)
      assert.equal(kind(1), kind(other.got[1].client.permissions.row_id))
    end)

    it("history: what a later joiner gets, and srv:history(), keep the numbers", function()
      local a = member()
      joined(1)
      a.ch:send({ score = 1234, big = BIG, f = 1 / 3 })
      a.ch:send(SAFE)
      H.wait_until(function() return #a.got == 2 end, "both messages back at the sender")
      local b = member(nil, { history = true })
      H.wait_until(function() return #b.history == 1 end, "the history")
      local items = b.history[1].payload.history
      assert.equal(2, #items)
      assert.equal("Score: 1234", "Score: " .. items[1].payload.score)
      assert.equal(kind(1), kind(items[1].payload.score))
      assert.equal(BIG, items[1].payload.big)
      assert.equal(1 / 3, items[1].payload.f)
      assert.equal(SAFE, items[2].payload)
      assert.equal(kind(1), kind(items[2].payload))
      local kept = srv:history("room")
      assert.equal(BIG, kept[1].payload.big)
      assert.equal(kind(1), kind(kept[1].payload.score))
    end)

    it("the console's state (GET /_console/state) shows ids and extras with every digit", function()
      member("tok-big", { presence = true })
      joined(1)
      local res = HTTP.request(srv.port, "GET", "/_console/state", { ["X-Admin-Key"] = "sesame" })
      assert.equal(200, res.status, res.body)
      for _, want in ipairs({ '"row_id":123456789012345', '"safe":9007199254740991',
        '"third":0.3333333333333333', '"ratio":0.1' }) do
        assert.truthy(res.body:find(want, 1, true), want .. " in " .. res.body)
      end
    end)

    it("payloads are relayed byte for byte: digits no reader can hold stay as sent", function()
      local x = RC.open(srv):joined("room")
      local y = RC.open(srv):joined("room")
      local payload = '{"n":123456789012345678901234567890,"f":1.50,"e":1E+2,"z":-0}'
      x:send('{"action":"message","options":{"channel":"room"},"payload":' .. payload .. '}')
      local _, text = y:expect("message", "room")
      assert.truthy(text:find('"payload":' .. payload, 1, true), text)
    end)
  end)

  describe("what cannot be sent", function()
    it("NaN and infinities raise, as lua-cjson refuses them, wherever they are", function()
      local a = member()
      joined(1)
      for _, bad in ipairs({ { x = 0 / 0 }, { x = math.huge }, { big = BIG, x = -math.huge }, { { 1, { 0 / 0 } } } }) do
        local ok, err = pcall(a.ch.send, a.ch, bad)
        assert.is_false(ok)
        assert.matches("payload cannot be encoded as JSON: Cannot serialise number: must not be NaN or Inf", err, 1, true)
      end
    end)
  end)

  describe("the codec (xano.realtime.json)", function()
    it("writes each number with the text that reads back to it", function()
      local cases = {
        { 0, "0" }, { NEG_ZERO, "-0" }, { 5, "5" }, { 0.1, "0.1" }, { 1 / 3, "0.3333333333333333" },
        { 1e300, "1e+300" }, { 5e-324, "5e-324" }, { 2 ^ 53, "9007199254740992" },
        { BIG, "123456789012345" }, { 1e15, "1000000000000000" }, { -1.5e-7, "-1.5e-07" },
      }
      if INTEGERS then
        cases[#cases + 1] = { math.maxinteger, "9223372036854775807" }
        cases[#cases + 1] = { math.mininteger, "-9223372036854775808" }
      end
      for _, c in ipairs(cases) do
        assert.equal(c[2], json.encode(c[1]), tostring(c[1]))
        assert.equal(c[2], json.encode({ c[1] }):sub(2, -2), tostring(c[1]))
        assert.equal(c[2], json.encode({ [1.5] = c[1] }):match(':(.*)}'), tostring(c[1]))
      end
    end)

    it("reads integral numbers within +-(2^53-1) as integers on Lua 5.3+", function()
      local v = json.decode('[5, 1.0, 1e2, 9007199254740991, -9007199254740991, 9007199254740992, 2.5, -0]')
      assert.same({ 5, 1, 100, SAFE, -SAFE, 2 ^ 53, 2.5, 0 }, v)
      if INTEGERS then
        local kinds = {}
        for i = 1, #v do kinds[i] = math.type(v[i]) end
        assert.same({ "integer", "integer", "integer", "integer", "integer", "float", "float", "float" }, kinds)
      end
    end)

    it("shortest round trip over 20,000 seeded random doubles, short decimals and their neighbours", function()
      math.randomseed(20261130)
      local function shortest(x)
        if x == math.floor(x) and math.abs(x) <= 2 ^ 53 then return string.format("%.0f", x) end
        for p = 1, 17 do
          local s = string.format("%." .. p .. "g", x)
          if tonumber(s) == x then return s end
        end
      end
      local bad = {}
      for i = 1, 20000 do
        local r = i % 4
        local x
        if r == 0 then x = (math.random() - 0.5) * 2 ^ math.random(-1074, 1023)
        elseif r == 1 then x = math.random(-1000000, 1000000) / 10 ^ math.random(0, 8)
        elseif r == 2 then
          -- the double just above or below a short decimal: 16 or 17 digits
          x = math.random(-1000000, 1000000) / 10 ^ math.random(1, 8)
          x = x * (math.random(2) == 1 and 1 + 2 ^ -52 or 1 - 2 ^ -53)
        else x = math.random() end
        if x - x == 0 then
          local text = json.encode(x)
          local back = json.decode(text)
          if back ~= x or #text ~= #shortest(x) then
            bad[#bad + 1] = string.format("%.17g -> %s", x, text)
          end
        end
      end
      assert.same({}, bad)
    end)

    it("keeps the encoding rules of lua-cjson for everything else", function()
      -- sparse arrays become objects, empty tables objects, null is null
      local t = json.decode(json.encode({ [1] = BIG, [20] = 1 }))
      assert.equal(BIG, t["1"])
      assert.equal("{}", json.encode({}))
      assert.equal("[1,null,123456789012345]", json.encode({ 1, json.null, BIG }))
      local ok, err = pcall(json.encode, { BIG, print })
      assert.is_false(ok)
      assert.matches("Cannot serialise function: type not supported", err, 1, true)
    end)

    it("history dedupe tells apart messages that differ beyond the 14th digit", function()
      local function msg(n)
        return { action = "message", options = { channel = "room" }, payload = { id = n },
          client = { socketId = "s" } }
      end
      -- both were 1.2345678901235e+14 to lua-cjson 2.1
      local x, y = 123456789012346, 123456789012347
      local h = History.new()
      h:seen(msg(x))
      local fresh, skipped = h:fresh({ msg(x), msg(y) })
      assert.equal(1, skipped)
      assert.equal(1, #fresh)
      assert.equal(y, fresh[1].payload.id)
    end)
  end)
end)
