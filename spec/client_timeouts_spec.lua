-- Timeouts of the client's own, each reported as what it is:
-- connect_timeout (default 10 s) bounds the name lookup and the TCP
-- connects, every address together; handshake_timeout (default 10 s) bounds
-- what follows: the proxy's tunnel, TLS and the WebSocket upgrade.  A host
-- that drops SYNs no longer waits for the kernel's minutes-long default.
local H = require "support.helpers"
local listeners = require "support.listeners"
local realtime = require "xano.realtime"

describe("timeouts", function()
  after_each(function() H.cleanup() end)

  local function client(url, opts)
    opts.url, opts.canonical = url, "t"
    opts.reconnect = { initial = 30, max = 30 }
    local c = H.track(realtime.new(opts))
    local rec, events = H.recorder()
    c:on("connection_status", rec)
    c:channel("room"):open()
    return c, events
  end

  it("reports a connect timeout when no SYN is answered", function()
    local port = listeners.never_accepts("127.0.0.1")
    local c, events = client("http://127.0.0.1:" .. port, { connect_timeout = 0.5 })
    H.wait_until(function() return #events >= 1 end, "the timeout")
    assert.equal("disconnected", events[1].payload.status)
    H.reason("connect timeout: no connection to 127.0.0.1 port " .. port ..
      " within 0.5 s (127.0.0.1: no answer)", events[1].payload.reason, "check that this machine can reach")
    -- a timeout is a loss like any other: the policy reconnects
    assert.equal("waiting", c._core:state())
  end)

  it("reports a handshake timeout when the server accepts and never answers the upgrade", function()
    local port, held = listeners.never_answers()
    local _, events = client("http://127.0.0.1:" .. port, { handshake_timeout = 0.5 })
    H.wait_until(function() return #events >= 1 end, "the timeout")
    assert.equal(1, #held)
    assert.equal("disconnected", events[1].payload.status)
    H.reason("handshake timeout: the server did not complete the WebSocket upgrade within 0.5 s",
      events[1].payload.reason, "names a realtime server")
  end)

  it("reports a handshake timeout when the server never answers the TLS hello", function()
    local port = listeners.never_answers()
    local _, events = client("https://127.0.0.1:" .. port, { handshake_timeout = 0.5 })
    H.wait_until(function() return #events >= 1 end, "the timeout")
    H.reason("handshake timeout: the server did not complete TLS and the WebSocket upgrade within 0.5 s",
      events[1].payload.reason, "names a realtime server")
  end)

  it("lets the connect run its own course: a slow handshake is not a connect timeout", function()
    -- the TCP connection is up at once, which ends the connect timeout:
    -- had it kept running, it would have fired at 1 s, before the
    -- handshake timeout's 1.5 s
    local port, held = listeners.never_answers()
    local _, events = client("http://127.0.0.1:" .. port, { connect_timeout = 1, handshake_timeout = 1.5 })
    H.wait_until(function() return #events >= 1 end, "the timeout")
    assert.equal(1, #held)
    assert.matches("^handshake timeout: [^:]* within 1%.5 s: ", events[1].payload.reason)
  end)

  it("checks its options", function()
    for _, k in ipairs{ "connect_timeout", "handshake_timeout" } do
      assert.has_error(function()
        realtime.new{ url = "http://127.0.0.1:1", canonical = "t", [k] = 0 }
      end, "bad option '" .. k .. "' (positive number expected, got 0)")
    end
  end)
end)
