-- TLS: https:// URLs connect with wss://, verifying the certificate chain
-- and the host name by default.  A self-signed certificate is refused, a
-- certificate from a private CA is accepted with tls.ca_file, a certificate
-- for another name is refused, and tls.verify = false accepts anything.
-- Certificates are made fresh for each run (spec/support/certs.lua).
local H = require "support.helpers"
local certs = require "support.certs"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("TLS", function()
  local pem

  setup(function() pem = certs.make() end)
  teardown(function() pem.remove() end)
  after_each(function() H.cleanup() end)

  -- a server with that certificate, a client with those TLS options, and
  -- what happened: the client's events
  local function attempt(pair, tls)
    local srv = H.track(assert(server.start{ port = 0, canonical = "tls", tls = pair }))
    assert.matches("^https://127%.0%.0%.1:%d+$", srv:base_url())
    local c = H.track(realtime.new{ url = srv:base_url(), canonical = "tls", tls = tls,
                                   reconnect = { initial = 5, max = 5 } })
    local rec, events = H.recorder()
    c:on("connection_status", rec)
    local ch = c:channel("room", { queue_offline = true })
    ch:open()
    H.wait_until(function() return #events >= 1 end, "the first connection status")
    return c, events[1], srv, ch
  end

  it("refuses a self-signed certificate by default", function()
    local c, ev = attempt(pem.self)
    assert.equal("disconnected", ev.payload.status)
    assert.matches("TLS certificate refused: self%-signed certificate", ev.payload.reason)
    assert.equal("disconnected", c:status())
  end)

  it("refuses a certificate its CA store does not trust", function()
    local _, ev = attempt(pem.server)
    assert.equal("disconnected", ev.payload.status)
    assert.matches("TLS certificate refused: unable to get local issuer certificate", ev.payload.reason)
  end)

  it("accepts a certificate from a private CA given as tls.ca_file", function()
    local c, ev, srv, ch = attempt(pem.server, { ca_file = pem.ca })
    assert.equal("connected", ev.payload.status)
    local got
    ch:on("message", function(m) got = m.payload end)
    ch:send("over TLS")
    H.wait_until(function() return got ~= nil end, "the echo")
    assert.equal("over TLS", got)
    assert.equal(1, #srv:members("room"))
    assert.equal("connected", c:status())
  end)

  it("refuses a trusted certificate for another host name", function()
    local _, ev = attempt(pem.othername, { ca_file = pem.ca })
    assert.equal("disconnected", ev.payload.status)
    assert.matches("TLS certificate refused: IP address mismatch", ev.payload.reason)
  end)

  it("accepts anything with tls.verify = false", function()
    local _, ev = attempt(pem.self, { verify = false })
    assert.equal("connected", ev.payload.status)
  end)

  it("says so when the server does not speak TLS on that port", function()
    local srv = H.track(assert(server.start{ port = 0, canonical = "tls" }))
    local c = H.track(realtime.new{ url = "https://127.0.0.1:" .. srv.port, canonical = "tls",
                                   reconnect = { initial = 5, max = 5 } })
    local rec, events = H.recorder()
    c:on("connection_status", rec)
    c:channel("room"):open()
    H.wait_until(function() return #events == 1 end, "the failure")
    assert.equal("disconnected", events[1].payload.status)
    assert.matches("TLS handshake failed", events[1].payload.reason)
  end)

  it("refuses a CA file it cannot read, naming it", function()
    local ok, err = pcall(realtime.new, { url = "https://127.0.0.1:1", canonical = "tls",
                                         tls = { ca_file = pem.dir .. "/missing.pem" } })
    assert.is_false(ok)
    assert.matches("bad option 'tls%.ca_file' %(.*missing%.pem", err)
  end)
end)
