-- HTTP proxies, chosen as curl chooses them: the proxy option
-- ("http://user:pass@host:port", or false for none), or else https_proxy /
-- HTTPS_PROXY for https:// URLs, http_proxy / HTTP_PROXY for http://,
-- all_proxy / ALL_PROXY, and no_proxy / NO_PROXY for the hosts reached
-- directly.  The client opens an HTTP CONNECT tunnel (Basic credentials
-- when given) and runs TLS and the upgrade inside it: the proxy sees the
-- CONNECT, never the realtime token.  A refusal is reported with its
-- status and follows the reconnect policy (401, 403 and 407 stay down).
-- The proxy is spec/support/connect_proxy.lua, on loopback.
local H = require "support.helpers"
local P = require "support.proc"
local CP = require "support.connect_proxy"
local certs = require "support.certs"
local listeners = require "support.listeners"
local mime = require "mime"
local proxy = require "xano.realtime.proxy"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

local LUA = os.getenv("XRT_LUA") or "lua5.4"
local BUILD = os.getenv("XRT_BUILD") or "build/5.4"

-- what a proxy's failure says after the proxy's own words
local function says(core_words, reason) H.reason(core_words, reason, "check the proxy") end

describe("HTTP proxies", function()
  local srv
  before_each(function() srv = H.track(assert(server.start{ port = 0, canonical = "px" })) end)
  after_each(function() H.cleanup() end)

  local function start_proxy(opts)
    opts = opts or {}
    opts.hosts = { ["rt.test"] = "127.0.0.1", ["elsewhere.example"] = "127.0.0.1" }
    return H.track(CP.start(opts))
  end

  local function client(opts)
    opts.canonical = "px"
    opts.url = opts.url or ("http://rt.test:" .. srv.port)
    opts.reconnect = opts.reconnect or { initial = 30, max = 30 }
    return H.watched(realtime.new(opts))
  end

  local function echo(c, text) return H.echo(c, srv, text) end

  -- A proxy started with proxy_opts, and a client (reconnect delays 0.01
  -- to max s) that opens a channel through it: both, once the first
  -- status has come.
  local function refused(proxy_opts, max)
    local p = start_proxy(proxy_opts)
    local c, events = client{ proxy = p:url(), reconnect = { initial = 0.01, max = max } }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the refusal")
    return p, c, events
  end

  it("tunnels through the proxy option; the proxy reads one CONNECT for the URL's host", function()
    local p = start_proxy()
    local c = client{ proxy = p:url(), token = "tok-secret-1" }
    assert.equal("through the tunnel", echo(c, "through the tunnel"))
    assert.equal(1, p.tunnels)
    assert.equal(1, #p.heads)
    assert.matches("^CONNECT rt%.test:" .. srv.port .. " HTTP/1%.1\r\n", p.heads[1])
    assert.is_nil(p.heads[1]:find("tok-secret-1", 1, true))
  end)

  it("runs TLS to the origin inside the tunnel, checking the URL's host name", function()
    local pem = certs.make()
    finally(function() pem.remove() end)
    local tls_srv = H.track(assert(server.start{ port = 0, canonical = "px", tls = pem.othername }))
    local p = start_proxy()
    local c, events = client{ url = "https://elsewhere.example:" .. tls_srv.port, proxy = p:url(),
                              token = "tok-secret-2", tls = { ca_file = pem.ca } }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the first status")
    assert.equal("connected", events[1].payload.status)
    assert.matches("^CONNECT elsewhere%.example:" .. tls_srv.port .. " ", p.heads[1])
    assert.equal(1, #p.heads)
    -- the token crossed the proxy encrypted
    assert.is_true(#p.relayed > 0)
    assert.is_nil(p.relayed:find("tok-secret-2", 1, true))
  end)

  it("gives Basic credentials (percent-decoded) to a proxy that asks for them", function()
    local p = start_proxy{ user = "app", password = "p@ss:w0rd" }
    local c = client{ proxy = p:url("app", "p%40ss%3Aw0rd") }
    assert.equal("with credentials", echo(c, "with credentials"))
    assert.matches("\r\nProxy%-authorization: basic " .. mime.b64("app:p@ss:w0rd"):gsub("%p", "%%%0") .. "\r\n",
      p.heads[1])
  end)

  it("says HTTP 407 when the proxy wants credentials, and stays down", function()
    local p, c, events = refused({ user = "app", password = "secret" }, 0.01)
    assert.equal("disconnected", events[1].payload.status)
    says("proxy refused the tunnel: HTTP 407 Proxy Authentication Required", events[1].payload.reason)
    assert.equal(407, events[1].payload.code)
    assert.equal("down", c._core:state())
    assert.equal(0, p.tunnels)
  end)

  it("says HTTP 403 when the proxy forbids the tunnel, and stays down", function()
    local _, c, events = refused({ refuse = 403 }, 0.01)
    says("proxy refused the tunnel: HTTP 403 Forbidden", events[1].payload.reason)
    assert.equal("down", c._core:state())
  end)

  it("reconnects after a refusal its policy lists (502 from the proxy)", function()
    local p, c, events = refused({ refuse = 502 }, 0.05)
    says("proxy refused the tunnel: HTTP 502 Bad Gateway", events[1].payload.reason)
    p.refuse = nil
    H.wait_until(function() return c:status() == "connected" end, "the reconnect through the proxy")
    -- the client holds one tunnel: the link.  (A refused attempt's second
    -- CONNECT, which reads the proxy's status, may open a tunnel of its own
    -- when the refusals end in between; it closes it at once.)
    H.wait_until(function() return p:open_tunnels() == 1 end, "one tunnel open, the client's")
    assert.equal("through after the refusals", H.echo(c, srv, "through after the refusals"))
  end)

  it("reports the loss when the proxy dies mid-tunnel, and reconnects", function()
    local p = start_proxy()
    local c, events = client{ proxy = p:url(), reconnect = { initial = 0.01, max = 0.05 } }
    echo(c, "before")
    p:kill()
    H.wait_until(function() return #events >= 3 end, "the loss and the reconnect")
    assert.equal("connected", events[1].payload.status)
    assert.equal("disconnected", events[2].payload.status)
    assert.equal("connected", events[3].payload.status)
    assert.equal(2, p.tunnels)
    H.wait_until(function() return #srv:members("room") == 1 end, "the rejoin")
  end)

  it("says so when the proxy cannot be reached", function()
    local p = start_proxy()
    local port = p.port
    p:close()
    local c, events = client{ proxy = "http://127.0.0.1:" .. port }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the failure")
    says("cannot connect to the proxy 127.0.0.1 port " .. port ..
      " (127.0.0.1: refused or unreachable)", events[1].payload.reason)
  end)

  it("reports a handshake timeout when the proxy never answers the CONNECT", function()
    local port, held = listeners.never_answers()
    local c, events = client{ proxy = "http://127.0.0.1:" .. port, handshake_timeout = 0.5 }
    c:channel("room"):open()
    H.wait_until(function() return #events >= 1 end, "the timeout")
    assert.equal(1, #held)
    says("handshake timeout: the tunnel through the proxy and the WebSocket upgrade did not complete within 0.5 s",
      events[1].payload.reason)
  end)

  it("rejects a proxy it cannot use", function()
    assert.has_error(function() client{ proxy = "socks5://127.0.0.1:1080" } end,
      "bad option 'proxy' (only http:// proxies are supported (got socks5://))")
    assert.has_error(function() client{ proxy = 8080 } end,
      "bad option 'proxy' (string or false expected, got number)")
  end)

  describe("from the environment", function()
    -- a client in a child process whose environment the spec sets
    local function child(url, env, off)
      local proc = P.spawn({ LUA, "spec/support/proxy_env_child.lua", BUILD, url, off }, { env = env })
      H.track({ close = function() proc:kill() end })
      H.wait_until(function() return proc:output():find("echo: hello", 1, true) or
                                 proc:output():find("disconnected:", 1, true) end,
                   "the child's connection", 15)
      return proc:output()
    end

    it("takes http_proxy for an http:// URL", function()
      local p = start_proxy()
      local out = child("http://rt.test:" .. srv.port, { http_proxy = p:url() })
      assert.matches("connected\necho: hello", out)
      assert.equal(1, p.tunnels)
    end)

    it("goes direct to a host that no_proxy lists, though http_proxy is set", function()
      local p = start_proxy()
      local out = child("http://127.0.0.1:" .. srv.port,
                        { http_proxy = p:url(), no_proxy = "example.com, 127.0.0.1" })
      assert.matches("connected\necho: hello", out)
      assert.equal(0, #p.heads)
    end)

    it("ignores the environment with proxy = false", function()
      local p = start_proxy()
      local out = child("http://127.0.0.1:" .. srv.port, { http_proxy = p:url(), all_proxy = p:url() }, "off")
      assert.matches("connected\necho: hello", out)
      assert.equal(0, #p.heads)
    end)
  end)

  describe("choice", function()
    local function env(t) return function(k) return t[k] end end

    it("follows the URL's scheme, then all_proxy", function()
      local e = env{ http_proxy = "http://h:1", HTTPS_PROXY = "http://s:2", ALL_PROXY = "http://a:3" }
      assert.same({ host = "h", port = 1 }, proxy.choose(nil, false, "x.test", e))
      assert.same({ host = "s", port = 2 }, proxy.choose(nil, true, "x.test", e))
      assert.same({ host = "a", port = 3 },
        proxy.choose(nil, true, "x.test", env{ http_proxy = "http://h:1", all_proxy = "http://a:3" }))
      assert.is_false(proxy.choose(nil, true, "x.test", env{ http_proxy = "http://h:1" }))
      assert.is_false(proxy.choose(nil, false, "x.test", env{ http_proxy = "" }))
    end)

    it("reads no_proxy as curl does: names and their subdomains, IPs, CIDR blocks, *", function()
      local cases = {
        { "example.com", "example.com", true }, { "example.com", "rt.example.com", true },
        { ".example.com", "rt.example.com", true }, { "example.com", "badexample.com", false },
        { "127.0.0.1", "127.0.0.1", true }, { "127.0.0.1", "127.0.0.2", false },
        { "10.0.0.0/8", "10.1.2.3", true }, { "10.0.0.0/8", "11.0.0.1", false },
        { "::1", "::1", true }, { "[::1]", "::1", true }, { "*", "anything.test", true },
        { "a.test,  b.test", "b.test", true }, { "EXAMPLE.com", "rt.example.COM", true },
      }
      for _, k in ipairs(cases) do
        assert.equal(k[3], proxy.bypassed(k[1], k[2]), k[1] .. " vs " .. k[2])
      end
    end)

    it("parses credentials, IPv6 hosts and the default port", function()
      assert.same({ host = "::1", port = 3128, auth = "u:p w" }, proxy.parse("http://u:p%20w@[::1]:3128"))
      assert.same({ host = "proxy.test", port = 1080 }, proxy.parse("proxy.test"))
      assert.is_nil((proxy.parse("https://proxy.test:443")))
    end)
  end)
end)
