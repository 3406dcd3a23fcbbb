-- A client dropped without close() frees its socket and its share of the
-- service thread when collected; in Lua 5.4 `local c <close> = ...` closes
-- it at the end of the block.
local H = require "support.helpers"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("client lifetime", function()
  local srv
  before_each(function() srv = H.track(assert(server.start{ port = 0, canonical = "test" })) end)
  after_each(function() H.cleanup(); collectgarbage(); collectgarbage() end)

  it("frees the socket of a client dropped without close()", function()
    do
      local c = realtime.new{ url = srv:base_url(), canonical = "test" }
      c:channel("room"):open()
      H.wait_until(function() return #srv:sockets() == 1 end, "connected")
    end
    collectgarbage(); collectgarbage()
    H.wait_until(function() return #srv:sockets() == 0 end, "the socket to close")
  end)

  for _, parked in ipairs({ "sleeps", "waits" }) do
    it("frees a client dropped without close() while a workflow " .. parked, function()
      -- made in a function of its own: no stack slot of this one keeps it
      local function start()
        local c = realtime.new{ url = srv:base_url(), canonical = "test" }
        local ch = c:channel("room")
        ch:open()
        c:workflow(function()
          if parked == "sleeps" then realtime.sleep(1000) else ch:wait("message", 1000) end
        end)
        -- realtime.poll, not c:poll: a closure over c could outlive this
        -- function (LuaJIT's compiled traces keep the functions they call)
        H.wait_until(function() realtime.poll(0); return #srv:sockets() == 1 end, "connected")
        return setmetatable({ c = c }, { __mode = "v" })
      end
      local ref = start()
      for _ = 1, 4 do collectgarbage() end
      assert.is_nil(ref.c, "the client was collected")
      H.wait_until(function() return #srv:sockets() == 0 end, "the socket to close")
    end)
  end

  it("sends every frame still queued on a live link before client:close()", function()
    local c = realtime.new{ url = srv:base_url(), canonical = "test" }
    local ch = c:channel("room")
    ch:open()
    local peer = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local got = {}
    peer:channel("room"):on("message", function(ev) got[#got + 1] = ev.payload end)
    peer:channel("room"):open()
    H.wait_until(function() c:poll(0); return #srv:members("room") == 2 and c:status() == "connected" end, "both joined")
    for i = 1, 50 do assert.is_true(ch:send(i)) end
    local ok, discarded = c:close()
    assert.is_true(ok)
    assert.equal(0, discarded)
    H.wait_until(function() return #srv:members("room") == 1 end, "the close")
    assert.is_true(peer:channel("room"):send("end"))
    H.wait_until(function() return got[#got] == "end" end, "a later marker")
    assert.equal(51, #got)
    for i = 1, 50 do assert.equal(i, got[i]) end
  end)

  it("sends what client:close() left queued even when the process exits at once", function()
    -- os.exit(0) does not close the Lua state: only the core's exit hook
    -- can wait for the service thread to write what close() accepted
    local P = require "support.proc"
    local dir = P.tmpdir("exit")
    local script = dir .. "/client.lua"
    local f = assert(io.open(script, "w"))
    f:write(("package.path = %q .. package.path; package.cpath = %q .. package.cpath\n")
      :format(package.path .. ";", package.cpath .. ";"))
    f:write([[
      local realtime = require "xano.realtime"
      local core = require "xano.realtime.core"
      local c = realtime.new{ url = arg[1], canonical = "test" }
      local ch = c:channel("room")
      ch:open()
      local deadline = core.now() + 5
      repeat c:poll(0.02) until c:status() == "connected" or core.now() > deadline
      for i = 1, 200 do ch:send(i) end
      c:close()
      os.exit(0)
    ]])
    f:close()
    local got = {}
    srv.hooks.frame = function(_, fr) if fr.action == "message" then got[#got + 1] = fr.payload end end
    local proc = P.spawn({ os.getenv("XRT_LUA") or "lua5.4", script, srv:base_url() }, { dir = dir })
    H.track({ close = function() proc:kill(); P.rmdir(dir) end })
    H.wait_until(function() return proc:exited() end, "the child to exit")
    assert.equal(0, proc:status(), proc:output())
    H.wait_until(function() return #srv:sockets() == 0 end, "its socket to close")
    assert.equal(200, #got)
    for i = 1, 200 do assert.equal(i, got[i]) end
  end)

  it("stops the service thread when the last endpoint of the state goes", function()
    local c = realtime.new{ url = srv:base_url(), canonical = "test" }
    c:channel("room"):open()
    H.wait_until(function() return #srv:sockets() == 1 end, "connected")
    assert.equal(1, core.threads())
    c = nil
    collectgarbage(); collectgarbage()
    H.wait_until(function() return #srv:sockets() == 0 end, "the socket to close")
    H.cleanup()
    collectgarbage(); collectgarbage()
    assert.equal(0, core.threads())
  end)

  it("closes at the end of a <close> block", function()
    if _VERSION ~= "Lua 5.4" then
      pending("to-be-closed variables are Lua 5.4")
      return
    end
    local f = assert(load([[
      local realtime, url = ...
      local keep
      do
        local c <close> = realtime.new{ url = url, canonical = "test" }
        keep = c
      end
      return keep
    ]]))
    local c = f(realtime, srv:base_url())
    assert.is_true(c:is_closed())
    assert.equal("closed", c:status())
  end)

  it("shows its URL and state in tostring", function()
    local c = realtime.new{ url = srv:base_url(), canonical = "test" }
    assert.matches("^xano%.realtime%.client ws://127%.0%.0%.1:%d+/rt/test %(idle%)$", tostring(c))
    c:close()
    assert.equal("xano.realtime.client (closed)", tostring(c))
    assert.matches('xano.realtime.channel "room" %(closed%)', tostring(c._channels.room or realtime.new{ url = "http://h", canonical = "x" }:channel("room")))
  end)
end)
