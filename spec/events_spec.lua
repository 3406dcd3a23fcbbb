-- The boundary between the C core and Lua describes itself: core.events
-- (from src/transport/events.def) names every event a client or a server endpoint
-- hands up and the name and type of each field; next() returns the
-- event's name and then exactly those fields, typed as described; and
-- xano.realtime.events refuses handlers that do not match the description.
local core = require "xano.realtime.core"
local events = require "xano.realtime.events"
local options = require "xano.realtime.options"
local H = require "support.helpers"
local server_config = require "xano.realtime.server.config"

local function pack(...) return { n = select("#", ...), ... } end

-- A core endpoint whose events are recorded as next() returned them.
local function recorded(side, h)
  local r = { side = side, h = h, got = {} }
  function r.poll()
    local n = 0
    for _ = 1, 1000 do
      local ev = pack(h:next())
      if ev.n == 0 then break end
      r.got[#r.got + 1] = ev
      n = n + 1
    end
    return n
  end
  function r.close() h:close() end
  function r.first(name)
    for i = 1, #r.got do
      if r.got[i][1] == name then return r.got[i] end
    end
  end
  return H.track(r)
end

local function is_integer(v)
  if math.type then return math.type(v) == "integer" end
  return type(v) == "number" and v == math.floor(v)
end

local error_kinds = {}
for _, k in ipairs(core.events.error_kinds) do error_kinds[k] = true end

local conforms = {
  integer = is_integer,
  boolean = function(v) return type(v) == "boolean" end,
  seconds = function(v) return type(v) == "number" and v >= 0 end,
  string = function(v) return v == nil or type(v) == "string" end,
  error_kind = function(v) return error_kinds[v] == true end,
  opcode = function(v) return v == "text" or v == "binary" end,
}

-- Every recorded event is described for its side, carries exactly its
-- fields, each of the described type.
local function assert_described(r)
  assert.is_true(#r.got > 0)
  for _, ev in ipairs(r.got) do
    local fields = core.events[r.side][ev[1]]
    assert(fields, ("a %s received '%s', not described for it"):format(r.side, tostring(ev[1])))
    assert.equal(1 + #fields, ev.n, ev[1] .. ": one value per field after the name")
    for i, f in ipairs(fields) do
      assert(conforms[f.type](ev[i + 1]), ("%s's %s event: field %s (%s) is %s"):format(
        r.side, ev[1], f.name, f.type, tostring(ev[i + 1])))
    end
  end
end

local function free_port()
  local s = assert(core.server(server_config.core_defaults("127.0.0.1", 0)))
  local port = s:port()
  s:close()
  return port
end

describe("the core's events", function()
  after_each(function() H.cleanup() end)

  it("are described by name, with the name and type of each field", function()
    local function names(fields)
      local t = {}
      for i, f in ipairs(fields) do t[i] = f.name .. ":" .. f.type end
      return table.concat(t, " ")
    end
    local client, server = core.events.client, core.events.server
    assert.equal("text:string", names(client.frame))
    assert.equal("code:integer was_open:boolean reason:string", names(client.closed))
    assert.equal("delay:seconds attempt:integer", names(client.retry))
    assert.equal("kind:error_kind message:string", names(client.error))
    assert.equal("", names(client.connected))
    assert.equal("socket:integer opcode:opcode text:string", names(server.frame))
    assert.equal("socket:integer path:string protocol:string", names(server.upgrade))
    assert.equal("socket:integer code:integer", names(server.gone))
    assert.is_nil(client.upgrade)
    assert.is_nil(server["local"])
    for _, side in ipairs({ "client", "server" }) do
      for name, fields in pairs(core.events[side]) do
        assert(#fields <= core.events.max_fields, name .. " has too many fields")
        for _, f in ipairs(fields) do
          assert(conforms[f.type], name .. "." .. f.name .. ": unknown type " .. tostring(f.type))
        end
      end
    end
  end)

  it("reach Lua as the described values, from a link's start to its close", function()
    local s = recorded("server", assert(core.server(server_config.core_defaults("127.0.0.1", 0, { ping_interval = 0 }))))
    local c = recorded("client", core.client(options.core_defaults("127.0.0.1", s.h:port(),
      "/rt/events", { token = "tok", max_frame = 64 })))
    c.h:set_policy({})
    c.h:start()
    H.wait_until(function() return s.first("upgrade") end, "the upgrade")
    local up = s.first("upgrade")
    local sock = up[2]
    assert.equal("/rt/events", up[3])
    assert.equal("string", type(up[4]))
    s.h:accept(sock)
    H.wait_until(function() return c.first("connected") end, "the client to connect")

    assert.is_true(c.h:send('{"n":1}', 1, false))
    H.wait_until(function() return s.first("frame") end, "the server to receive the frame")
    assert.same({ "frame", sock, "text", '{"n":1}', n = 4 }, s.first("frame"))

    s.h:send(sock, "hello")
    s.h:send(sock, string.rep("x", 100))
    H.wait_until(function() return c.first("frame") and c.first("error") end, "the frame and the refusal")
    assert.same({ "frame", "hello", n = 2 }, c.first("frame"))
    assert.equal("frame_too_big", c.first("error")[2])

    s.h:close_socket(sock, 4001, "bye")
    H.wait_until(function() return c.first("closed") and s.first("gone") end, "both ends to see the close")
    local closed = c.first("closed")
    assert.equal(4001, closed[2])
    assert.is_true(closed[3])
    assert.equal(sock, s.first("gone")[2])
    assert_described(c)
    assert_described(s)
  end)

  it("say a failed attempt was never open, and when the next one comes, in seconds", function()
    local c = recorded("client", core.client(options.core_defaults("127.0.0.1", free_port(), "/",
      { reconnect_initial = 0.05, reconnect_max = 0.05 })))
    c.h:set_policy({ 1006 })
    c.h:start()
    H.wait_until(function() return c.first("retry") end, "a retry to be scheduled")
    local closed, retry = c.first("closed"), c.first("retry")
    assert.is_false(closed[3])
    assert.is_true(retry[2] >= 0 and retry[2] <= 0.05)
    assert.equal(1, retry[3])
    assert_described(c)
  end)
end)

describe("handlers bound to the core's events", function()
  local description = {
    frame = { { name = "text", type = "string" } },
    closed = { { name = "code", type = "integer" }, { name = "was_open", type = "boolean" } },
  }
  local names_told = debug.getinfo(function() end, "u").nparams ~= nil

  it("load when there is one per event, taking its fields by name", function()
    local on = { frame = function(self, text) end, closed = function(self, code, was_open) end }
    assert.equal(on, events.bind("client", on, description))
  end)

  it("refuse a missing handler, naming the event and its fields", function()
    assert.has_error(function()
      events.bind("client", { frame = function(self, text) end }, description)
    end, "xano.realtime.events: the client's 'closed' event has no handler (function(self, code, was_open))")
  end)

  it("refuse a handler for an event the side never receives", function()
    assert.error_matches(function()
      events.bind("client", { frame = function(self, text) end, closed = function(self, code, was_open) end,
        upgrade = function(self) end }, description)
    end, "handler 'upgrade' is for an event the client never receives", nil, true)
  end)

  it("refuse a handler whose parameters do not name the fields", function()
    if not names_told then
      pending("Lua 5.1's debug library does not tell parameter names")
      return
    end
    assert.has_error(function()
      events.bind("client", { frame = function(self, s1) end, closed = function(self, code, was_open) end },
        description)
    end, "xano.realtime.events: the client's 'frame' handler takes (self, s1); the event carries (self, text)")
    assert.error_matches(function()
      events.bind("client", { frame = function(self, text) end, closed = function(self, a, b) end },
        description)
    end, "'closed' handler takes (self, a, b); the event carries (self, code, was_open)", nil, true)
  end)

  it("are what the client and the server modules load with", function()
    -- every Lua module of the library loads afresh (wherever the handlers
    -- live), then the state before comes back
    local saved = {}
    for name, m in pairs(package.loaded) do
      if name:match("^xano%.realtime") and name ~= "xano.realtime.core" and name ~= "xano.realtime.events" then
        saved[name] = m
      end
    end
    for name in pairs(saved) do package.loaded[name] = nil end
    local seen = {}
    local bind = events.bind
    events.bind = function(side, handlers, d)
      seen[side] = handlers
      return bind(side, handlers, d)
    end
    local ok, err = pcall(function()
      require "xano.realtime"
      require "xano.realtime.server"
    end)
    events.bind = bind
    for name in pairs(package.loaded) do
      if name:match("^xano%.realtime") and name ~= "xano.realtime.core" and name ~= "xano.realtime.events" then
        package.loaded[name] = nil
      end
    end
    for name, m in pairs(saved) do package.loaded[name] = m end
    assert(ok, err)
    for _, side in ipairs({ "client", "server" }) do
      assert(seen[side], side .. " handlers bound")
      for name in pairs(core.events[side]) do assert.is_function(seen[side][name]) end
    end
  end)
end)
