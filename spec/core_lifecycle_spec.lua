-- The C core's objects follow Lua's io library: created usable, closed by
-- close(), __gc or __close alike, any number of times, and a closed one
-- says so.  One service thread serves every endpoint of a Lua state and
-- stops when the last one goes.
local core = require "xano.realtime.core"

local options = require "xano.realtime.options"

-- the core takes every setting explicitly: the library's defaults
local function client() return core.client(options.core_defaults("127.0.0.1", 9, "/")) end

describe("core objects", function()
  after_each(function()
    require("support.helpers").cleanup()
    collectgarbage(); collectgarbage()
  end)

  it("close twice, and use after close raises", function()
    local c = client()
    c:close()
    c:close()
    assert.has_error(function() c:start() end, "attempt to use a closed client")
    assert.equal("closed", c:state())
  end)

  it("show their state in tostring", function()
    local c = client()
    assert.matches("^xano%.realtime%.core%.client %(idle%): ", tostring(c))
    c:close()
    assert.equal("xano.realtime.core.client (closed)", tostring(c))
  end)

  it("share one service thread per Lua state", function()
    local before = core.threads()
    local a, b, s = client(), client(), assert(core.server{ port = 0 })
    assert.equal(before == 0 and 1 or before, core.threads())
    a:close(); b:close(); s:close()
  end)

  it("stop the thread once the last endpoint is closed and collected", function()
    collectgarbage(); collectgarbage()
    local c = client()
    assert.is_true(core.threads() >= 1)
    c:close()
    c = nil
    collectgarbage(); collectgarbage()
    assert.equal(0, core.threads())
  end)

  it("free their socket and thread share when dropped without close", function()
    do local _ = client() end
    collectgarbage(); collectgarbage()
    assert.equal(0, core.threads())
  end)

  it("close at the end of a <close> block", function()
    if _VERSION ~= "Lua 5.4" then
      pending("to-be-closed variables are Lua 5.4")
      return
    end
    -- connected inside the block: the socket must go with the block
    local H = require "support.helpers"
    local server = require "xano.realtime.server"
    local srv = H.track(assert(server.start{ port = 0, canonical = "test" }))
    local f = assert(load([[
      local core, port, H, srv, options = ...
      local keep
      do
        local c <close> = core.client(options.core_defaults("127.0.0.1", port, "/rt/test"))
        keep = c
        c:start()
        H.wait_until(function() return #srv:sockets() == 1 end, "the connect")
      end
      return keep
    ]]))
    local c = f(core, srv.port, H, srv, options)
    assert.equal("closed", c:state())
    H.wait_until(function() return #srv:sockets() == 0 end, "the socket to close at the end of the block")
    H.cleanup()
  end)

  it("reject bad options with the option's name", function()
    assert.has_error(function() core.client{} end, "option 'host' is required")
    assert.has_error(function() core.client{ host = "h", port = "x" } end, "option 'port': number expected, got string")
    assert.error_matches(function() core.server{ port = 70000 } end, "option 'port': out of range %(0 to 65535")
  end)

  it("keep no client defaults of their own: every setting comes from the Lua layer", function()
    local full = options.core_defaults("127.0.0.1", 9, "/")
    local keys = {}
    for k in pairs(full) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.is_true(#keys >= 17)
    for _, k in ipairs(keys) do
      local t = {}
      for k2, v in pairs(full) do t[k2] = v end
      t[k] = nil
      assert.has_error(function() core.client(t) end, "option '" .. k .. "' is required")
    end
    core.client(full):close()
    local proxied = options.core_defaults("127.0.0.1", 9, "/", { proxy_host = "127.0.0.1" })
    assert.has_error(function() core.client(proxied) end, "option 'proxy_port' is required")
    assert.has_error(function() core.client(options.core_defaults("127.0.0.1", 9, "/", { tls = 1 })) end,
      "option 'tls': boolean expected, got number")
  end)

  it("return nil and a message when a server cannot listen", function()
    local s = assert(core.server{ port = 0 })
    local t, err = core.server{ port = s:port() }
    assert.is_nil(t)
    assert.matches("cannot listen on 127.0.0.1:" .. s:port(), err)
    s:close()
  end)
end)
