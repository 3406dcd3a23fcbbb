-- Every address of a host, in a sensible order (RFC 8305, "Happy
-- Eyeballs"): the client tries the addresses one after the other, starting
-- the next one 250 ms after the previous one when that one has not
-- connected yet (at once when it failed), keeps the first that connects and
-- closes the others.  Only when every address failed is the attempt a
-- failure, and its reason says what each address said.  The resolve option
-- pins the addresses of the URL's host, as curl's --resolve does; TLS still
-- checks the URL's host name.  Loopback only: 127.0.0.0/8 and ::1.
local H = require "support.helpers"
local certs = require "support.certs"
local listeners = require "support.listeners"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("every address of a host", function()
  local srv
  before_each(function() srv = H.track(assert(server.start{ port = 0, canonical = "net" })) end)
  after_each(function() H.cleanup() end)

  local function client(opts)
    opts.canonical = "net"
    opts.reconnect = opts.reconnect or { initial = 30, max = 30 }
    return H.watched(realtime.new(opts))
  end

  it("connects to the second pinned address when the first refuses", function()
    -- nothing listens on 127.0.0.3 at the server's port: refused at once
    local c, events = client{ url = "http://rt.test:" .. srv.port, resolve = { "127.0.0.3", "127.0.0.1" } }
    local ch = c:channel("room")
    local got
    ch:on("message", function(m) got = m.payload end)
    ch:open()
    H.wait_until(function() return #events >= 1 end, "the first status")
    assert.equal("connected", events[1].payload.status)
    H.wait_until(function() return #srv:members("room") == 1 end, "the join on the server")
    ch:send("through the second address")
    H.wait_until(function() return got ~= nil end, "the echo")
    assert.equal("through the second address", got)
    assert.equal(1, #srv:sockets())
  end)

  it("starts the next address while the first does not answer, and keeps the one that connects", function()
    -- 127.0.0.2 drops the SYNs; without a second attempt started while the
    -- first waits, the attempt would end at connect_timeout as a failure
    listeners.never_accepts("127.0.0.2", srv.port)
    local c, events = client{ url = "http://rt.test:" .. srv.port, resolve = { "127.0.0.2", "127.0.0.1" },
                              connect_timeout = 5 }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the first status", 10)
    assert.equal("connected", events[1].payload.status)
    H.wait_until(function() return #srv:members("room") == 1 end, "the join on the server")
    assert.equal(1, #srv:sockets())
  end)

  it("fails only when every address failed, saying what each one said", function()
    local c, events = client{ url = "http://rt.test:" .. srv.port,
                              resolve = { "127.0.0.3", "[::1]", "127.0.0.4" } }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the failure")
    local ev = events[1].payload
    assert.equal("disconnected", ev.status)
    assert.matches("cannot connect to rt.test port " .. srv.port, ev.reason, 1, true)
    assert.matches("127.0.0.3: refused or unreachable", ev.reason, 1, true)
    assert.matches("[::1]: refused or unreachable", ev.reason, 1, true)
    assert.matches("127.0.0.4: refused or unreachable", ev.reason, 1, true)
    -- a connection failure follows the reconnect policy
    assert.equal("waiting", c._core:state())
  end)

  it("tries the families in turn, as RFC 8305 orders a DNS answer, each address once", function()
    local c, events = client{ url = "http://rt.test:" .. srv.port,
                              resolve = { "127.0.0.3", "127.0.0.4", "::1", "127.0.0.5", "[::1]" } }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the failure")
    H.reason("cannot connect to rt.test port " .. srv.port .. " (127.0.0.3: refused or unreachable, " ..
      "[::1]: refused or unreachable, 127.0.0.4: refused or unreachable, 127.0.0.5: refused or unreachable)",
      events[1].payload.reason, "is the server running")
  end)

  it("says which address did not answer when connect_timeout ends the race", function()
    listeners.never_accepts("127.0.0.2", srv.port)
    local c, events = client{ url = "http://rt.test:" .. srv.port, resolve = { "127.0.0.3", "127.0.0.2" },
                              connect_timeout = 0.5 }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the failure")
    local reason = events[1].payload.reason
    assert.matches("^connect timeout: no connection to rt%.test port %d+ within 0%.5 s", reason)
    assert.matches("127.0.0.3: refused or unreachable", reason, 1, true)
    assert.matches("127.0.0.2: no answer", reason, 1, true)
  end)

  it("resolves a name off the service thread and connects to what it found", function()
    -- localhost is 127.0.0.1 in /etc/hosts (and ::1 on some machines:
    -- then ::1 is refused first and 127.0.0.1 still connects)
    local c, events = client{ url = "http://localhost:" .. srv.port }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the first status")
    assert.equal("connected", events[1].payload.status)
  end)

  it("names the host that does not resolve", function()
    -- (a machine without a name server may not answer in time: then the
    -- connect timeout says which name did not resolve)
    local c, events = client{ url = "http://no-such-host.invalid:" .. srv.port, connect_timeout = 5 }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the failure", 10)
    local reason = events[1].payload.reason
    assert.is_truthy(reason:match("^cannot resolve the host name 'no%-such%-host%.invalid' %(.+%): check the host") or
      reason:match("^connect timeout: no%-such%-host%.invalid did not resolve within 5 s: "), reason)
  end)

  it("rejects a pinned address that is not numeric", function()
    assert.has_error(function()
      realtime.new{ url = "http://rt.test:1", canonical = "net", resolve = { "localhost" } }
    end, "bad option 'resolve' (entry 1 is not a numeric address: localhost)")
    assert.has_error(function()
      realtime.new{ url = "http://rt.test:1", canonical = "net", resolve = {} }
    end, "bad option 'resolve' (a list of 1 to 16 numeric addresses expected)")
  end)

  describe("with TLS", function()
    local pem
    setup(function() pem = certs.make() end)
    teardown(function() pem.remove() end)

    local function tls_attempt(pair)
      local s = H.track(assert(server.start{ port = 0, canonical = "net", tls = pair }))
      local c, events = client{ url = "https://elsewhere.example:" .. s.port, resolve = { "127.0.0.1" },
                                tls = { ca_file = pem.ca } }
      c:channel("room"):open()
      H.wait_until(function() return #events >= 1 end, "the first status")
      return events[1].payload
    end

    it("checks the certificate against the URL's host name, not the pinned address", function()
      local ev = tls_attempt(pem.othername) -- DNS:elsewhere.example
      assert.equal("connected", ev.status)
    end)

    it("refuses a certificate for the pinned address but not for the URL's host", function()
      local ev = tls_attempt(pem.server) -- IP:127.0.0.1 only
      assert.equal("disconnected", ev.status)
      assert.matches("TLS certificate refused: [Hh]ostname mismatch", ev.reason)
    end)
  end)
end)
