-- One source for Lua 5.1, 5.3, 5.4 and LuaJIT: the suite runs on each
-- (make test LUA=...).  What differs between them is checked here: LuaJIT
-- and 5.1 have no integer type, so counters and ids come back as doubles
-- and must still be exact; error positions survive the self-checking
-- method wrappers (Lua 5.1 counts tail calls as stack levels).
local H = require "support.helpers"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("portability (" .. (rawget(_G, "jit") and jit.version or _VERSION) .. ")", function()
  local srv
  before_each(function() srv = H.track(assert(server.start{ port = 0, canonical = "test" })) end)
  after_each(function() H.cleanup() end)

  local function joined(name, opts)
    local c = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local ch = c:channel(name, opts)
    local n = #srv:members(name)
    ch:open()
    H.wait_until(function() return c:status() == "connected" and #srv:members(name) == n + 1 end,
      "joined")
    return c, ch
  end

  it("loads the core built for this interpreter", function()
    -- the module found first is the one of the build under test (make
    -- test sets XRT_BUILD to build/<lua>), and it is the one loaded
    local build = assert(os.getenv("XRT_BUILD"), "XRT_BUILD is not set: run the specs through make test")
    local path = assert(package.searchpath("xano.realtime.core", package.cpath))
    assert.equal(build .. "/xano/realtime/core.so", path)
    local tag = rawget(_G, "jit") and "luajit" or _VERSION:match("%d+%.%d+")
    assert.truthy(build:find(tag, 1, true), "build " .. build .. " is not the one for " .. tag)
    assert.equal(core, package.loaded["xano.realtime.core"])
    assert.is_string(core._VERSION)
  end)

  it("counts frames exactly, whatever the number type", function()
    local c, ch = joined("room")
    local got = 0
    ch:on("message", function() got = got + 1 end)
    local before = c:stats()
    for i = 1, 50 do assert(ch:send({ i = i })) end
    H.wait_until(function() return got == 50 end, "the 50 echoes")
    local after = c:stats()
    for k, v in pairs(after) do
      if type(v) == "number" and k ~= "rtt" and not k:find("_ms$") then
        assert.equal(0, v % 1, k .. " is not a whole number: " .. tostring(v))
      end
    end
    assert.equal(50, after.frames_out - before.frames_out)
    assert.equal(50, after.frames_in - before.frames_in)
  end)

  it("keeps socket ids intact: a private message reaches the id presence gave", function()
    local _, cha = joined("room", { presence = true })
    local _, chb = joined("room", { presence = true })
    local got, at_a = {}, {}
    chb:on("message", function(ev) got[#got + 1] = ev.payload end)
    cha:on("message", function(ev) at_a[#at_a + 1] = ev.payload end)
    H.wait_until(function() return #cha:presence() == 2 end, "both in a's list")
    local bid = srv:sockets()[2].socketId
    local found
    for _, m in ipairs(cha:presence()) do
      assert.is_string(m.socketId)
      if m.socketId == bid then found = m.socketId end
    end
    assert.equal(bid, found)
    assert(cha:send_to(found, "psst"))
    assert(cha:send("marker"))
    H.wait_until(function() return #got == 2 and #at_a == 1 end, "the private message, then the marker")
    -- b got it once, and the sender no copy
    assert.same({ "psst", "marker" }, got)
    assert.same({ "marker" }, at_a)
  end)

  it("points an argument error at the caller's line", function()
    local c = H.track(realtime.new{ url = "http://127.0.0.1:9", canonical = "test" })
    local ok, err = pcall(function() c:channel(42) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("portability_spec%.lua:%d+: bad argument #1 to 'channel'"), err)
  end)
end)
