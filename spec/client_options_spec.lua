-- realtime.new{...} and client:channel(): what a client accepts, and the
-- clear errors it raises for everything else.  Nothing here connects, but
-- for the channel names, which travel to the local server and back.
local realtime = require "xano.realtime"

describe("realtime.new", function()
  local clients = {}
  local function new(opts)
    local c = realtime.new(opts)
    clients[#clients + 1] = c
    return c
  end
  after_each(function()
    for i = #clients, 1, -1 do clients[i]:close(); clients[i] = nil end
  end)

  it("turns the instance base URL into the realtime WebSocket URL", function()
    assert.equal("wss://x8ki-letl-twmt.n7.xano.io:443/rt/1lK90n16tnnylJpJ0Xa7Km6_KxA",
      new{ url = "https://x8ki-letl-twmt.n7.xano.io", canonical = "1lK90n16tnnylJpJ0Xa7Km6_KxA" }:url())
  end)

  it("honours the port and maps http to ws, ignoring the base URL's path", function()
    assert.equal("ws://127.0.0.1:8080/rt/abc",
      new{ url = "http://127.0.0.1:8080/api:jVuUQATw", canonical = "abc" }:url())
  end)

  it("accepts ws:// and wss:// URLs and IPv6 literals", function()
    assert.equal("ws://[::1]:9000/rt/abc", new{ url = "ws://[::1]:9000", canonical = "abc" }:url())
    assert.equal("wss://h.example:443/rt/abc", new{ url = "wss://h.example", canonical = "abc" }:url())
  end)

  it("accepts the legacy connection hash when there is no canonical", function()
    assert.equal("ws://h:80/rt/legacyhash", new{ url = "http://h", hash = "legacyhash" }:url())
    assert.equal("ws://h:80/rt/canon", new{ url = "http://h", hash = "legacyhash", canonical = "canon" }:url())
  end)

  it("starts idle: nothing connects before a channel opens", function()
    local c = new{ url = "http://127.0.0.1:1", canonical = "abc" }
    assert.equal("idle", c:status())
    assert.equal(0, c:stats().connects)
  end)

  local bad = {
    { "no options table", nil, "options table expected" },
    { "no url", { canonical = "a" }, "bad option 'url'" },
    { "a url of the wrong type", { url = 42, canonical = "a" }, "bad option 'url' %(string expected, got number%)" },
    { "an unknown scheme", { url = "ftp://h", canonical = "a" }, "scheme must be https, http, wss or ws" },
    { "a url without host", { url = "https://", canonical = "a" }, "url has no host" },
    { "a bad port", { url = "https://h:99999", canonical = "a" }, "bad port" },
    { "credentials in the url", { url = "https://u:p@h", canonical = "a" }, "credentials" },
    { "no canonical", { url = "https://h" }, "canonical is required" },
    { "a canonical with a slash", { url = "https://h", canonical = "a/b" }, "must not contain" },
    { "a token with a space", { url = "https://h", canonical = "a", token = "a b" }, "bad option 'token'" },
    { "an empty token", { url = "https://h", canonical = "a", token = "" }, "bad option 'token'" },
    { "a negative ping_interval", { url = "https://h", canonical = "a", ping_interval = -1 }, "bad option 'ping_interval'" },
    { "reconnect.max below reconnect.initial", { url = "https://h", canonical = "a", reconnect = { initial = 5, max = 1 } }, "reconnect.max" },
    { "a fractional queue_limit", { url = "https://h", canonical = "a", queue_limit = 1.5 }, "queue_limit" },
    { "tls.verify that is not a boolean", { url = "https://h", canonical = "a", tls = { verify = "no" } }, "tls.verify" },
    { "a close code out of range", { url = "https://h", canonical = "a", reconnect = { codes = { [99999] = true } } }, "bad code 99999" },
  }
  for _, case in ipairs(bad) do
    it("raises a clear error for " .. case[1], function()
      local ok, err = pcall(realtime.new, case[2])
      assert.is_false(ok)
      assert.matches(case[3], err)
    end)
  end
end)

describe("client:channel", function()
  local c
  before_each(function() c = realtime.new{ url = "http://127.0.0.1:1", canonical = "abc" } end)
  after_each(function()
    c:close()
    require("support.helpers").cleanup()
  end)

  it("returns the same object for the same name", function()
    local a = c:channel("room1", { presence = true })
    assert.equal(a, c:channel("room1"))
    assert.equal(a, c:channel("room1", { presence = true }))
  end)

  it("refuses the same name with other options", function()
    c:channel("room1", { presence = true })
    assert.has_error(function() c:channel("room1", { presence = false }) end,
      "channel 'room1' already exists with presence = true")
  end)

  it("refuses unknown options and options that are not booleans", function()
    assert.has_error(function() c:channel("r", { presense = true }) end,
      "bad argument #2 to 'channel' (unknown option 'presense')")
    assert.has_error(function() c:channel("r", { history = 1 }) end,
      "bad argument #2 to 'channel' (option 'history' must be a boolean)")
  end)

  it("refuses names that are not strings, or empty", function()
    assert.has_error(function() c:channel(42) end, "bad argument #1 to 'channel' (channel name expected, got number)")
    assert.has_error(function() c:channel("") end, "bad argument #1 to 'channel' (channel name expected, got empty string)")
  end)

  it("keeps any channel name, spaces, slashes and UTF-8 included", function()
    local H = require "support.helpers"
    local server = require "xano.realtime.server"
    local srv = H.track(assert(server.start{ port = 0, canonical = "test" }))
    local name = "chat/room 1/ü"
    local live = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local ch = live:channel(name)
    assert.equal(name, ch.name)
    local got = {}
    ch:on("message", function(ev) got[#got + 1] = ev end)
    ch:open()
    H.wait_until(function() return #srv:members(name) == 1 end, "the join under that name")
    assert.same({ name }, srv:sockets()[1].channels)
    assert.is_true(ch:send("hi"))
    H.wait_until(function() return #got == 1 end, "the echo")
    assert.equal(name, got[1].channel)
    assert.equal(name, got[1].options.channel)
  end)

  it("raises when an action is used before open()", function()
    local ch = c:channel("room1")
    assert.has_error(function() ch:send("hi") end, "channel 'room1' is not open: call open() before send()")
    assert.has_error(function() ch:history() end, "channel 'room1' is not open: call open() before history()")
    assert.has_error(function() ch:send_to("sock", "hi") end, "channel 'room1' is not open: call open() before send_to()")
  end)

  it("checks the arguments of every action", function()
    local ch = c:channel("room1", { presence = true })
    ch:open()
    assert.has_error(function() ch:send("x", "auth") end, "bad argument #2 to 'send' (table expected, got string)")
    assert.has_error(function() ch:send("x", { authenticated = 1 }) end,
      "bad argument #2 to 'send' (authenticated must be a boolean)")
    assert.has_error(function() ch:send(function() end) end,
      "bad argument #1 to 'send' (payload cannot be encoded as JSON: Cannot serialise function: type not supported)")
    assert.has_error(function() ch:send_to(nil, "x") end, "bad argument #1 to 'send_to' (socket id string expected, got nil)")
    assert.has_error(function() ch:on(42) end, "bad argument #1 to 'on' (action name or function expected, got number)")
    assert.has_error(function() ch:on("message", "f") end, "bad argument #2 to 'on' (function expected, got string)")
    assert.has_error(function() ch:on("presence_update", print, { event = "enter" }) end,
      "bad argument #3 to 'on' (filter.event must be \"join\" or \"leave\")")
    assert.has_error(function() ch:off("x") end, "bad argument #1 to 'off' (handler id expected, got string)")
    assert.has_error(function() c:channel("nopresence"):presence() end,
      "channel 'nopresence' was not opened with presence = true")
  end)

  it("says that a payload cannot be encoded", function()
    local ch = c:channel("room1")
    ch:open()
    local ok, err = pcall(ch.send, ch, { f = function() end })
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'send' %(payload cannot be encoded as JSON", err)
  end)

  it("refuses to work once the client is closed", function()
    local ch = c:channel("room1")
    c:close()
    assert.has_error(function() ch:open() end, "attempt to use a closed client")
    assert.has_error(function() c:channel("x") end, "attempt to use a closed client")
    assert.equal("closed", c:status())
    assert.equal(0, c:poll(0))
  end)
end)
