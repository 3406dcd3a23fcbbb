-- Bad input from the app: every public function, given arguments of the
-- wrong type or value, raises an error that names the function and the
-- argument (or option), at the app's line, and changes nothing.  Methods
-- called with a dot instead of a colon say so.  Nothing here connects: the
-- client points at a port nobody listens on and no channel is opened
-- unless the case needs one (opening one only queues a connect attempt).
local realtime = require "xano.realtime"

local unpack = table.unpack or unpack

-- Calls f from a Lua function of this file (not a tail call), so that the
-- position an error reports must be this file's line.
local function raises(f, ...)
  local n, args = select("#", ...), { ... }
  local ok, err = pcall(function()
    f(unpack(args, 1, n))
  end)
  assert(not ok, "no error was raised")
  return tostring(err)
end

local function check(expected, f, ...)
  local err = raises(f, ...)
  -- the position is the caller's (this spec), then the message
  local msg = err:match("api_arguments_spec%.lua:%d+: (.*)$")
  assert(msg, "the error does not point at the caller's line: " .. err)
  if msg ~= expected then
    error(("expected error\n  %s\ngot\n  %s"):format(expected, msg), 2)
  end
end

local function opts(extra)
  local o = { url = "http://127.0.0.1:9", canonical = "abc" }
  for k, v in pairs(extra) do o[k] = v end
  return o
end

local nan, inf = 0 / 0, math.huge
local function num(v) return tostring(v) end

describe("realtime.new", function()
  local cases = {
    { "bad argument #1 to 'new' (options table expected, got nil)", nil },
    { "bad argument #1 to 'new' (options table expected, got string)", "http://h" },
    { "bad option 'url' (string expected, got nil)", { canonical = "a" } },
    { "bad option 'url' (string expected, got table)", opts{ url = {} } },
    { "bad option 'url' (url must look like https://host[:port])", opts{ url = "127.0.0.1:80" } },
    { "bad option 'canonical' (string expected, got number)", opts{ canonical = 5 } },
    { "bad option 'hash' (string expected, got boolean)", { url = "http://h", hash = true } },
    { "bad option 'token' (string expected, got number)", opts{ token = 7 } },
    { "bad option 'token' (not usable as a WebSocket subprotocol)", opts{ token = "a,b" } },
    { "bad option 'ping_intervall' (unknown option)", opts{ ping_intervall = 5 } },
    { "bad option 'reconnect' (table expected, got number)", opts{ reconnect = 1 } },
    { "bad option 'reconnect.inital' (unknown option)", opts{ reconnect = { inital = 1 } } },
    { "bad option 'reconnect.initial' (number expected, got string)", opts{ reconnect = { initial = "1" } } },
    { "bad option 'reconnect.initial' (positive number expected, got 0)", opts{ reconnect = { initial = 0 } } },
    { "bad option 'reconnect.max' (positive number expected, got " .. num(nan) .. ")", opts{ reconnect = { max = nan } } },
    { "bad option 'reconnect.max' (at most 1e9 seconds expected, got " .. num(inf) .. ")", opts{ reconnect = { max = inf } } },
    { "bad option 'reconnect.stable' (positive number expected, got -1)", opts{ reconnect = { stable = -1 } } },
    { "bad option 'reconnect.codes' (table expected, got boolean)", opts{ reconnect = { codes = true } } },
    { "bad option 'ping_interval' (number expected, got string)", opts{ ping_interval = "30" } },
    { "bad option 'ping_interval' (at most 1e9 seconds expected, got " .. num(inf) .. ")", opts{ ping_interval = inf } },
    { "bad option 'ping_timeout' (positive number expected, got 0)", opts{ ping_timeout = 0 } },
    { "bad option 'connect_timeout' (positive number expected, got " .. num(nan) .. ")", opts{ connect_timeout = nan } },
    { "bad option 'queue_limit' (non-negative number expected, got -1)", opts{ queue_limit = -1 } },
    { "bad option 'queue_limit' (integer expected, got 2.5)", opts{ queue_limit = 2.5 } },
    { "bad option 'max_frame' (integer expected, got 1.5)", opts{ max_frame = 1.5 } },
    { "bad option 'max_frame' (at most 2^53 expected, got " .. num(inf) .. ")", opts{ max_frame = inf } },
    { "bad option 'in_limit' (positive number expected, got 0)", opts{ in_limit = 0 } },
    { "bad option 'send_limit' (number expected, got table)", opts{ send_limit = {} } },
    { "bad option 'tls' (table expected, got boolean)", opts{ tls = false } },
    { "bad option 'tls.verfy' (unknown option)", opts{ tls = { verfy = false } } },
    { "bad option 'tls.verify' (boolean expected, got string)", opts{ tls = { verify = "no" } } },
    { "bad option 'tls.ca_file' (string expected, got number)", opts{ tls = { ca_file = 1 } } },
  }
  for _, case in ipairs(cases) do
    it("raises \"" .. case[1] .. "\"", function()
      check(case[1], realtime.new, case[2])
    end)
  end

  it("raises on a bad close code in reconnect.codes", function()
    check("bad option 'reconnect.codes' (bad code 99999)",
      realtime.new, opts{ reconnect = { codes = { [99999] = true } } })
  end)
end)

describe("the module functions", function()
  it("realtime.poll checks its timeout", function()
    check("bad argument #1 to 'poll' (non-negative number expected, got string)", realtime.poll, "1")
    check("bad argument #1 to 'poll' (non-negative number expected, got -1)", realtime.poll, -1)
    check("bad argument #1 to 'poll' (non-negative number expected, got " .. num(nan) .. ")", realtime.poll, nan)
    assert.is_number(realtime.poll(0))
  end)

  it("realtime.sleep checks its argument, and where it is called", function()
    check("bad argument #1 to 'sleep' (non-negative number expected, got nil)", realtime.sleep)
    check("bad argument #1 to 'sleep' (non-negative number expected, got -2)", realtime.sleep, -2)
    check("bad argument #1 to 'sleep' (non-negative number expected, got " .. num(nan) .. ")", realtime.sleep, nan)
    check("realtime.sleep can only be called from an event handler or a workflow", realtime.sleep, 1)
  end)
end)

describe("client methods", function()
  local c
  before_each(function() c = realtime.new(opts{}) end)
  after_each(function() c:close() end)

  local cases = {
    { "channel", { nil }, "bad argument #1 to 'channel' (channel name expected, got nil)" },
    { "channel", { "" }, "bad argument #1 to 'channel' (channel name expected, got empty string)" },
    { "channel", { "r", "presence" }, "bad argument #2 to 'channel' (options table expected, got string)" },
    { "channel", { "r", { queue = true } }, "bad argument #2 to 'channel' (unknown option 'queue')" },
    { "channel", { "r", { presence = "yes" } }, "bad argument #2 to 'channel' (option 'presence' must be a boolean)" },
    { "on", { 5 }, "bad argument #1 to 'on' (action name or function expected, got number)" },
    { "on", { "message" }, "bad argument #2 to 'on' (function expected, got nil)" },
    { "on", { "message", print, "join" }, "bad argument #3 to 'on' (filter table expected, got string)" },
    { "on", { "presence_update", print, { event = "both" } },
      "bad argument #3 to 'on' (filter.event must be \"join\" or \"leave\")" },
    { "on", { "mesage", print }, "bad argument #1 to 'on' (unknown action 'mesage'; known: message, event, history, presence_full, presence_update, error, connection_status, callback_error, reconnecting)" },
    { "off", { "1" }, "bad argument #1 to 'off' (handler id expected, got string)" },
    { "workflow", { "f" }, "bad argument #1 to 'workflow' (function expected, got string)" },
    { "set_token", { 42 }, "bad argument #1 to 'set_token' (token string or nil expected, got number)" },
    { "set_token", { "" }, "bad argument #1 to 'set_token' (token string or nil expected, got empty string)" },
    { "set_token", { "a b" },
      "bad argument #1 to 'set_token' (token string or nil expected, got a string with spaces, commas or control characters)" },
    { "set_reconnect_codes", { "1006" }, "bad argument #1 to 'set_reconnect_codes' (table expected, got string)" },
    { "set_reconnect_codes", { { [1006.5] = true } }, "bad argument #1 to 'set_reconnect_codes' (bad code 1006.5)" },
    { "set_reconnect_codes", { { ["x"] = true } }, "bad argument #1 to 'set_reconnect_codes' (bad code x)" },
    { "poll", { "0" }, "bad argument #1 to 'poll' (non-negative number expected, got string)" },
    { "poll", { -0.5 }, "bad argument #1 to 'poll' (non-negative number expected, got -0.5)" },
    { "poll", { nan }, "bad argument #1 to 'poll' (non-negative number expected, got " .. num(nan) .. ")" },
    { "run", { {} }, "bad argument #1 to 'run' (non-negative number expected, got table)" },
    { "run", { nan }, "bad argument #1 to 'run' (non-negative number expected, got " .. num(nan) .. ")" },
  }
  for _, case in ipairs(cases) do
    it(case[1] .. " raises \"" .. case[3] .. "\"", function()
      check(case[3], function(...) return c[case[1]](c, ...) end, unpack(case[2], 1, 3))
      assert.equal("idle", c:status())
    end)
  end

  local methods = { "channel", "on", "off", "workflow", "status", "fd", "timeout", "set_token",
    "reconnect", "set_reconnect_codes", "stats", "poll", "run", "close", "url", "is_closed" }
  for _, name in ipairs(methods) do
    it(name .. " called with a dot says so", function()
      check("calling '" .. name .. "' on bad self (xano.realtime client expected, got nil)", c[name])
      check("calling '" .. name .. "' on bad self (xano.realtime client expected, got string)", c[name], "room")
    end)
  end

  it("every method but close, status, is_closed and poll refuses a closed client", function()
    c:close()
    for _, call in ipairs({
      function() c:channel("r") end, function() c:fd() end, function() c:set_token("t") end,
      function() c:reconnect() end, function() c:set_reconnect_codes({}) end,
      function() c:stats() end, function() c:workflow(print) end,
    }) do
      check("attempt to use a closed client", call)
    end
    assert.equal("closed", c:status())
    assert.is_true(c:is_closed())
    assert.equal(0, c:poll(0))
    assert.same({ true, 0 }, { c:close() })
  end)
end)

describe("channel methods", function()
  local c, ch
  before_each(function()
    c = realtime.new(opts{ reconnect = { initial = 60, max = 60 } })
    ch = c:channel("room", { presence = true })
  end)
  after_each(function() c:close() end)

  it("actions before open() say so", function()
    check("channel 'room' is not open: call open() before send()", ch.send, ch, "x")
    check("channel 'room' is not open: call open() before send_to()", ch.send_to, ch, "id", "x")
    check("channel 'room' is not open: call open() before history()", ch.history, ch)
  end)

  local cases = {
    { "send", { print }, "bad argument #1 to 'send' (payload cannot be encoded as JSON: Cannot serialise function: type not supported)" },
    { "send", { "x", true }, "bad argument #2 to 'send' (table expected, got boolean)" },
    { "send", { "x", { authenticated = "yes" } }, "bad argument #2 to 'send' (authenticated must be a boolean)" },
    { "send", { "x", { socketId = "s" } }, "bad argument #2 to 'send' (use send_to(socket_id, payload) for a private message)" },
    { "send", { "x", { authenticate = true } }, "bad argument #2 to 'send' (unknown option 'authenticate'; only 'authenticated' is known)" },
    { "send_to", { nil, "x" }, "bad argument #1 to 'send_to' (socket id string expected, got nil)" },
    { "send_to", { "", "x" }, "bad argument #1 to 'send_to' (socket id string expected, got empty string)" },
    { "send_to", { 12, "x" }, "bad argument #1 to 'send_to' (socket id string expected, got number)" },
    { "send_to", { "s", { f = print } },
      "bad argument #2 to 'send_to' (payload cannot be encoded as JSON: Cannot serialise function: type not supported)" },
    { "on", { {} }, "bad argument #1 to 'on' (action name or function expected, got table)" },
    { "on", { "message", 1 }, "bad argument #2 to 'on' (function expected, got number)" },
    { "on", { "mesage", print }, "bad argument #1 to 'on' (unknown action 'mesage'; known: message, event, history, presence_full, presence_update, error, connection_status)" },
    { "on", { "reconnecting", print }, "bad argument #1 to 'on' (unknown action 'reconnecting'; known: message, event, history, presence_full, presence_update, error, connection_status)" },
    { "off", { nil }, "bad argument #1 to 'off' (handler id expected, got nil)" },
    { "wait", { "mesage", 1 }, "bad argument #1 to 'wait' (unknown action 'mesage'; known: message, event, history, presence_full, presence_update, error, connection_status)" },
    { "wait", { 5 }, "bad argument #1 to 'wait' (action name expected, got number)" },
    { "wait", { "message", "1" }, "bad argument #2 to 'wait' (non-negative number expected, got string)" },
    { "wait", { "message", -1 }, "bad argument #2 to 'wait' (non-negative number expected, got -1)" },
    { "wait", { "message", nan }, "bad argument #2 to 'wait' (non-negative number expected, got " .. num(nan) .. ")" },
    { "wait", { "message", 1 }, "wait can only be called from an event handler or a workflow" },
  }
  for _, case in ipairs(cases) do
    it(case[1] .. " raises \"" .. case[3] .. "\"", function()
      ch:open()
      check(case[3], function(...) return ch[case[1]](ch, ...) end, unpack(case[2], 1, 2))
      assert.equal(0, c:stats().queued)
    end)
  end

  it("presence() without presence = true says so", function()
    check("channel 'plain' was not opened with presence = true", function() c:channel("plain"):presence() end)
  end)

  local methods = { "options", "on", "off", "is_open", "open", "close", "send", "send_to", "history",
    "presence", "wait" }
  for _, name in ipairs(methods) do
    it(name .. " called with a dot says so", function()
      check("calling '" .. name .. "' on bad self (xano.realtime channel expected, got nil)", ch[name])
      check("calling '" .. name .. "' on bad self (xano.realtime channel expected, got table)", ch[name], c)
    end)
  end

  it("a channel of a closed client refuses to open", function()
    c:close()
    check("attempt to use a closed client", ch.open, ch)
  end)
end)
