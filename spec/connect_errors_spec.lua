-- Errors that say what to do: the failures a user meets first (a wrong
-- canonical, a refused token, a certificate or a port without TLS, a name
-- that does not resolve, nothing listening) reach the app as one
-- `disconnected` status whose reason names the cause and the fix, and an
-- `error` event with the same message, also when the client retries.
local H = require "support.helpers"
local certs = require "support.certs"
local socket = require "socket"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"
local advice = require "xano.realtime.advice"

describe("a connection that fails", function()
  after_each(H.cleanup)

  -- a client of url/canonical that opens a channel; its first status and
  -- error events, once both arrived
  local function attempt(url, canonical, opts)
    local o = { url = url, canonical = canonical, reconnect = { initial = 30, max = 30 } }
    for k, v in pairs(opts or {}) do o[k] = v end
    local c = H.track(realtime.new(o))
    local srec, statuses = H.recorder()
    local erec, errors = H.recorder()
    c:on("connection_status", srec)
    c:on("error", erec)
    c:channel("room1"):open()
    H.wait_until(function() return #statuses >= 1 and #errors >= 1 end, "the failure reported")
    assert.equal("disconnected", statuses[1].payload.status)
    assert.equal(statuses[1].payload.reason, errors[1].payload.message)
    return statuses[1].payload, errors[1].payload, c
  end

  it("on a wrong canonical (HTTP 404) names the canonical and where to find the right one", function()
    local srv = H.track(assert(server.start{ port = 0 }))
    local st, err = attempt(srv:base_url(), "1lK90n16tnnylJpJ0Xa7Km6_KxA")
    assert.equal(404, st.code)
    assert.equal(404, err.code)
    assert.equal("no realtime connection with canonical '1lK90n16tnnylJpJ0Xa7Km6_KxA' at "
      .. srv:base_url() .. " (HTTP 404): check the connection canonical in Xano's Realtime "
      .. "Settings (the local server prints its own when it starts) and the instance URL", st.reason)
  end)

  it("on a refused token (HTTP 401) says to give a valid token or none", function()
    local srv = H.track(assert(server.start{ port = 0, config = { unknown_token = "refuse" } }))
    local st = attempt(srv:base_url(), "local", { token = "expired-token" })
    assert.equal(401, st.code)
    assert.matches("^the server refused the realtime token %(HTTP 401%) at " .. srv:base_url():gsub("%p", "%%%0"), st.reason)
    assert.matches("give the client a valid token %(token = %.%.%., or client:set_token%), or none", st.reason)
    -- the token itself is never part of the message
    assert.is_nil(st.reason:find("expired-token", 1, true))
  end)

  describe("over TLS", function()
    local pem
    setup(function() pem = certs.make() end)
    teardown(function() pem.remove() end)

    it("names the certificate check that failed and how to trust the certificate", function()
      local srv = H.track(assert(server.start{ port = 0, tls = pem.self }))
      local st = attempt(srv:base_url(), "local")
      assert.equal("TLS certificate refused: self-signed certificate (127.0.0.1:" .. srv.port .. "): "
        .. "trust the CA that signed it with tls = { ca_file = \"ca.pem\" } (or, for development "
        .. "only, tls = { verify = false })", st.reason)
    end)

    it("names the host a certificate for another name was refused for", function()
      local srv = H.track(assert(server.start{ port = 0, tls = pem.othername }))
      local st = attempt(srv:base_url(), "local", { tls = { ca_file = pem.ca } })
      assert.matches("^TLS certificate refused: IP address mismatch %(127%.0%.0%.1:%d+%): "
        .. "the certificate was not issued for '127%.0%.0%.1'", st.reason)
    end)

    it("says when the port does not speak TLS at all", function()
      local srv = H.track(assert(server.start{ port = 0 }))
      local st = attempt("https://127.0.0.1:" .. srv.port, "local")
      assert.equal("TLS handshake failed with 127.0.0.1:" .. srv.port .. ": does the server speak "
        .. "TLS on this port? A plain ws:// server needs an http:// url", st.reason)
    end)
  end)

  it("with nothing listening says to start the server, once, while it retries", function()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close() -- a port nothing listens on
    local st, _, c = attempt("http://127.0.0.1:" .. port, "local", { reconnect = { initial = 0.02, max = 0.05 } })
    assert.equal(1006, st.code)
    assert.matches("^cannot connect to 127%.0%.0%.1 port " .. port .. " %(127%.0%.0%.1: refused or unreachable%): "
      .. "is the server running, and is this its port%? %(the local server: make server, port 8080%)$", st.reason)
    -- it keeps retrying; the report is not repeated for every attempt
    local tries = 0
    local errors = 0
    c:on("reconnecting", function() tries = tries + 1 end)
    c:on("error", function() errors = errors + 1 end)
    H.wait_until(function() return tries >= 3 end, "three more attempts")
    assert.equal(0, errors)
  end)

  it("on a name that does not resolve names the host to check", function()
    -- the resolver's text as the core reports it (resolving a real name
    -- would leave 127.0.0.1)
    assert.equal("cannot resolve the host name 'x8ki-letl-twmt.n7.xano.io' (Name or service not "
      .. "known): check the host in url, and this machine's DNS",
      advice.explain(1006, "cannot resolve x8ki-letl-twmt.n7.xano.io: Name or service not known",
        "wss://x8ki-letl-twmt.n7.xano.io:443/rt/abc"))
  end)

  it("with no answer at all names the host to reach", function()
    assert.equal("no answer from 10.1.2.3:443 (connect timed out): check that this machine can "
      .. "reach that host (network, firewall, proxy)",
      advice.explain(1006, "connect timed out", "wss://10.1.2.3:443/rt/abc"))
    assert.matches("^no answer from 10%.1%.2%.3:443 %(Network is unreachable%)",
      advice.explain(1006, "Network is unreachable", "wss://10.1.2.3:443/rt/abc"))
  end)

  it("keeps any other reason as the core gave it", function()
    assert.equal("upgrade refused: HTTP 503", advice.explain(503, "upgrade refused: HTTP 503", "ws://h:1/rt/c"))
    assert.equal("no pong within ping_timeout", advice.explain(1006, "no pong within ping_timeout", "ws://h:1/rt/c"))
  end)
end)
