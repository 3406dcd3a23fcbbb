-- Callbacks run only inside poll() / run(), on the calling thread, and a
-- host loop (luv, cqueues, nginx, a game engine) can drive a client by
-- fd(): readable exactly while events wait for it.
local H = require "support.helpers"
local socket = require "socket"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("driving a client from a host loop", function()
  local srv
  before_each(function() srv = H.track(assert(server.start{ port = 0, canonical = "test" })) end)
  after_each(function() H.cleanup() end)

  local function fdobj(fd) return { getfd = function() return fd end, dirty = function() return false end } end

  it("runs callbacks only inside poll", function()
    local c = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local ch = c:channel("room", { queue_offline = true })
    local got = 0
    ch:on("message", function() got = got + 1 end)
    ch:open()
    ch:send("x")
    -- the server runs, the client is not polled: nothing is delivered
    local t = socket.gettime()
    while socket.gettime() - t < 5 and #srv:history("room") == 0 do srv:poll(0.01) end
    assert.equal(1, #srv:history("room"))
    assert.equal(0, got)
    H.wait_until(function() return got == 1 end, "the echo once polled")
  end)

  it("works from poll(0) calls guided by fd() readiness alone", function()
    local c = realtime.new{ url = srv:base_url(), canonical = "test" }
    local ch = c:channel("room")
    local log = {}
    ch:on(function(ev) log[#log + 1] = ev.action end)
    ch:open()
    local cfd, sfd = fdobj(c:fd()), fdobj(srv:fd())
    local sent, done, polls = false, false, 0
    local deadline = socket.gettime() + 10
    while not done and socket.gettime() < deadline do
      local ready = socket.select({ cfd, sfd }, nil, 1)
      for _, r in ipairs(ready) do
        if r == sfd then srv:poll(0) end
        if r == cfd then
          polls = polls + 1
          c:poll(0)
          if not sent and c:status() == "connected" then sent = true; ch:send("ping") end
          done = log[#log] == "message"
        end
      end
    end
    assert.is_true(done, "the echo arrived")
    assert.same({ "connection_status", "message" }, log)
    -- nothing waits now: fd is not readable
    local ready = socket.select({ cfd }, nil, 0)
    assert.equal(0, #ready)
    assert.is_true(polls >= 2)
    c:close()
  end)

  it("polls every client of the state with realtime.poll", function()
    local a = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local b = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local got, chans = 0, {}
    for _, c in ipairs({ a, b }) do
      local ch = c:channel("room")
      ch:on("message", function() got = got + 1 end)
      ch:open()
      chans[#chans + 1] = ch
    end
    local deadline = socket.gettime() + 10
    while (a:status() ~= "connected" or b:status() ~= "connected" or #srv:members("room") < 2)
      and socket.gettime() < deadline do
      srv:poll(0)
      realtime.poll(0.01)
    end
    chans[1]:send("hi"); chans[2]:send("hi")
    while got < 4 and socket.gettime() < deadline do
      srv:poll(0)
      realtime.poll(0.01)
    end
    assert.equal(4, got)
  end)

  it("returns how many callbacks ran, and waits up to the timeout for the first", function()
    local c = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local ch = c:channel("room")
    ch:on("connection_status", function() end)
    c:on("connection_status", function() end)
    ch:open()
    local ran = 0
    local deadline = socket.gettime() + 10
    while ran == 0 and socket.gettime() < deadline do
      srv:poll(0)
      ran = c:poll(0.05)
    end
    assert.equal(2, ran)
    assert.equal(0, c:poll(0))
  end)

  describe("client:run() without seconds", function()
    local P = require "support.proc"
    local core = require "xano.realtime.core"
    local function client(url)
      return H.track(realtime.new{ url = url or "http://127.0.0.1:9", canonical = "test" })
    end
    -- run() must return by itself; if it does not, the hook ends it with
    -- an error instead of hanging the suite
    local function bounded(f)
      local deadline = core.now() + 10
      debug.sethook(function()
        if core.now() > deadline then error("run() did not return") end
      end, "", 1000)
      local ok, r = pcall(f)
      debug.sethook()
      assert(ok, r)
      return r
    end

    it("returns at once when nothing could produce an event", function()
      local c = client()
      assert.equal(0, bounded(function() return c:run() end))
      assert.is_false(c:is_closed())
      assert.equal("idle", c:status())
    end)

    it("returns once its last workflow ended", function()
      local c = client()
      local done = false
      c:workflow(function() realtime.sleep(0.05); done = true end)
      bounded(function() return c:run() end)
      assert.is_true(done)
    end)

    it("returns once the last channel closed and the socket went", function()
      -- the server runs in its own process: run() polls only this client
      local proc = P.spawn({ os.getenv("XRT_LUA") or "lua5.4", "bin/xano-realtime-server",
                             "--port", "0", "--canonical", "test" })
      H.track({ close = function() proc:kill() end })
      local port
      H.wait_until(function()
        port = proc:output():match("listening ws://127%.0%.0%.1:(%d+)/")
        assert(not proc:exited(), "the server exited: " .. proc:output())
        return port
      end, "the server's ready line")
      local c = client("http://127.0.0.1:" .. port)
      local ch = c:channel("room")
      local got
      ch:on("message", function(ev) got = ev.payload; ch:close() end)
      ch:open()
      assert.is_true(ch:send("bye"))
      bounded(function() return c:run() end)
      assert.equal("bye", got)
      assert.equal("idle", c:status())
    end)
  end)
end)
