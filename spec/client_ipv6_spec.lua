-- IPv6: literal URLs (http://[::1]:PORT) with the Host header a server
-- expects, addresses pinned as AAAA, and the bundled server listening on
-- ::1 or on a dual-stack :: that IPv4 clients reach too.
local H = require "support.helpers"
local certs = require "support.certs"
local P = require "support.proc"
local socket = require "socket"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

local function has_ipv6_loopback()
  local s = socket.tcp6()
  local ok = s and s:bind("::1", 0)
  if s then s:close() end
  return ok
end

describe("IPv6", function()
  after_each(function() H.cleanup() end)
  if not has_ipv6_loopback() then
    pending("this machine has no ::1 (IPv6 loopback): the IPv6 specs cannot run")
    return
  end

  local function client(url, opts)
    opts = opts or {}
    opts.url, opts.canonical = url, "v6"
    opts.reconnect = { initial = 30, max = 30 }
    return H.watched(realtime.new(opts))
  end

  local function round_trip(c, srv)
    assert.equal("over IPv6?", H.echo(c, srv, "over IPv6?"))
  end

  it("connects to a literal URL on ::1 and exchanges messages", function()
    local srv = H.track(assert(server.start{ host = "::1", port = 0, canonical = "v6" }))
    assert.equal("http://[::1]:" .. srv.port, srv:base_url())
    local c, events = client(srv:base_url())
    round_trip(c, srv)
    assert.equal("connected", events[1].payload.status)
  end)

  it("sends Host: [::1]:PORT to a literal IPv6 URL", function()
    local l = assert(socket.tcp6())
    assert(l:bind("::1", 0))
    assert(l:listen(4))
    l:settimeout(0)
    H.track({ close = function() l:close() end })
    local _, port = l:getsockname()
    local c = client("http://[::1]:" .. port)
    c:channel("room"):open()
    local conn, head = nil, ""
    H.wait_until(function()
      conn = conn or l:accept()
      if conn then
        conn:settimeout(0)
        local data, _, partial = conn:receive(4096)
        head = head .. (data or partial or "")
      end
      return head:find("\r\n\r\n", 1, true) ~= nil
    end, "the upgrade request")
    conn:close()
    assert.matches("^GET /rt/v6 HTTP/1%.1\r\n", head)
    assert.matches("\r\n[Hh]ost: %[::1%]:" .. port .. "\r\n", head)
  end)

  it("connects to a name pinned to an IPv6 address", function()
    local srv = H.track(assert(server.start{ host = "::1", port = 0, canonical = "v6" }))
    local c = client("http://rt6.test:" .. srv.port, { resolve = { "::1" } })
    round_trip(c, srv)
  end)

  it("serves IPv4 and IPv6 clients on a dual-stack ::", function()
    local srv = H.track(assert(server.start{ host = "::", port = 0, canonical = "v6" }))
    assert.equal("http://[::1]:" .. srv.port, srv:base_url())
    local c4 = client("http://127.0.0.1:" .. srv.port)
    local c6 = client("http://[::1]:" .. srv.port)
    c4:channel("room"):open()
    c6:channel("room"):open()
    H.wait_until(function() return #srv:members("room") == 2 end, "both joins on the server")
    assert.equal("connected", c4:status())
    assert.equal("connected", c6:status())
  end)

  describe("with TLS", function()
    local pem
    setup(function() pem = certs.make() end)
    teardown(function() pem.remove() end)

    local function tls_attempt(pair)
      local srv = H.track(assert(server.start{ host = "::1", port = 0, canonical = "v6", tls = pair }))
      assert.equal("https://[::1]:" .. srv.port, srv:base_url())
      local c, events = client(srv:base_url(), { tls = { ca_file = pem.ca } })
      c:channel("room"):open()
      H.wait_until(function() return #events >= 1 end, "the first status")
      return events[1].payload
    end

    it("verifies a certificate for the IPv6 address of a literal URL", function()
      assert.equal("connected", tls_attempt(pem.v6).status)
    end)

    it("refuses a trusted certificate for another address", function()
      local ev = tls_attempt(pem.server) -- IP:127.0.0.1
      assert.equal("disconnected", ev.status)
      assert.matches("^TLS certificate refused: IP address mismatch %(%[::1%]:%d+%): the certificate was not issued for",
        ev.reason)
    end)
  end)

  it("serves on :: from the command line (--host ::), reached on ::1 and 127.0.0.1", function()
    local proc = P.spawn({ os.getenv("XRT_LUA") or "lua5.4", "bin/xano-realtime-server",
                           "--host", "::", "--port", "0", "--canonical", "v6" })
    H.track({ close = function() proc:kill() end })
    H.wait_until(function() return proc:output():find("\n", 1, true) or proc:exited() end, "the ready line")
    local port = tonumber(proc:output():match("^listening ws://%[::1%]:(%d+)/rt/v6\n"))
    assert(port, "ready line: " .. proc:output())
    for _, url in ipairs{ "http://[::1]:" .. port, "http://127.0.0.1:" .. port } do
      local c, events = client(url)
      c:channel("room"):open()
      H.wait_until(function() return #events >= 1 end, "the first status on " .. url)
      assert.equal("connected", events[1].payload.status, url)
    end
  end)

  it("listens on ::1 only when told ::1", function()
    local srv = H.track(assert(server.start{ host = "::1", port = 0, canonical = "v6" }))
    local c, events = client("http://127.0.0.1:" .. srv.port)
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the failure")
    assert.equal("disconnected", events[1].payload.status)
    assert.matches("127.0.0.1: refused or unreachable", events[1].payload.reason, 1, true)
  end)
end)
