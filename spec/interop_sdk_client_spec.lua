-- Cross-check: this client and the official @xano/js-sdk 3.0.1 (run
-- unmodified under Node, spec/support/sdk/) share a channel on the local
-- server: each sees the other in presence, and messages and private
-- messages go both ways.
local H = require "support.helpers"
local SDK = require "support.sdk"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

local ROOM = "interop/lua and js"
local TOKENS = {
  ["tok-lua"] = { dbo_id = 1, row_id = 1, extras = { name = "Lua" } },
  ["tok-js"] = { dbo_id = 1, row_id = 2, extras = { name = "JS" } },
}

describe("this client and the official JS SDK in one channel", function()
  local srv, lua, room, js, got

  -- the first frame of that action the SDK's on() handler received
  local function js_frame(action, pred, what)
    local found
    H.wait_until(function()
      found = js:find_frame(action, pred, ROOM)
      return found ~= nil
    end, what or ("the SDK gets " .. action))
    return found
  end
  local function ours(action, pred)
    for _, ev in ipairs(got) do
      if ev.action == action and (not pred or pred(ev)) then return ev end
    end
  end
  local function wait_ours(action, pred, what)
    local ev
    H.wait_until(function() ev = ours(action, pred); return ev ~= nil end, what or ("we get " .. action))
    return ev
  end
  local function text_is(t) return function(e) return type(e.payload) == "table" and e.payload.text == t end end

  before_each(function()
    assert(SDK.available())
    srv = H.track(assert(server.start{ port = 0, canonical = "abc", config = { tokens = TOKENS } }))
    lua = H.track(realtime.new{ url = srv:base_url(), canonical = "abc", token = "tok-lua" })
    room = lua:channel(ROOM, { presence = true, queue_offline = true })
    got = {}
    room:on(function(ev) got[#got + 1] = ev end)
    room:open()
    H.wait_until(function() return #room:presence() == 1 end, "our own presence_full")
    js = H.track(SDK.start{ port = srv.port, canonical = "abc", token = "tok-js", id = "js", pump = H.poll_all })
    js:call{ cmd = "channel", channel = ROOM, options = { presence = true, queueOfflineActions = true } }
    js:call{ cmd = "on", channel = ROOM }
    js_frame("presence_full", function(f) return #f.payload.presence == 2 end, "the SDK's presence_full with both")
  end)
  after_each(function() H.cleanup() end)

  local function js_entry()
    for _, e in ipairs(room:presence()) do
      if e.extras.name == "JS" then return e end
    end
  end
  local function lua_entry()
    for _, e in ipairs(room:presence()) do
      if e.extras.name == "Lua" then return e end
    end
  end

  it("sees each other in presence, both ways", function()
    local join = wait_ours("presence_update", function(e) return e.payload.action == "join" end, "the SDK's join")
    assert.equal("JS", join.payload.presence.extras.name)
    H.wait_until(function() return js_entry() ~= nil end, "the SDK in our presence list")
    local full = js:find_frame("presence_full", nil, ROOM)
    local names = {}
    for _, e in ipairs(full.payload.presence) do names[#names + 1] = e.extras.name end
    table.sort(names)
    assert.same({ "JS", "Lua" }, names)
    -- and our leave reaches the SDK
    room:close()
    local leave = js_frame("presence_update", function(f) return f.payload.action == "leave" end, "our leave")
    assert.equal("Lua", leave.payload.presence.extras.name)
  end)

  it("exchanges messages both ways", function()
    room:send({ text = "from lua" })
    local m = js_frame("message", function(f) return f.payload.text == "from lua" end, "our message at the SDK")
    assert.equal("Lua", m.client.extras.name)
    js:call{ cmd = "message", channel = ROOM, payload = { text = "from js" } }
    local ev = wait_ours("message", text_is("from js"), "the SDK's message")
    assert.equal("JS", ev.client.extras.name)
    assert.equal(ROOM, ev.channel)
  end)

  it("exchanges private messages both ways, each reaching only its target", function()
    H.wait_until(function() return js_entry() ~= nil end, "the SDK in our presence list")
    local third = H.track(realtime.new{ url = srv:base_url(), canonical = "abc" })
    local third_ch = third:channel(ROOM)
    local third_got = {}
    third_ch:on("message", function(ev) third_got[#third_got + 1] = ev.payload end)
    third_ch:open()
    H.wait_until(function() return #room:presence() == 3 end, "the third client")
    -- ours to the SDK
    room:send_to(js_entry().socketId, { text = "lua to js" })
    local p = js_frame("message", function(f) return f.payload.text == "lua to js" end, "the private message at the SDK")
    assert.equal(js_entry().socketId, p.options.socketId)
    -- the SDK's to us, through its presence entry for us
    js:call{ cmd = "private", channel = ROOM, socketId = lua_entry().socketId, payload = { text = "js to lua" } }
    local q = wait_ours("message", text_is("js to lua"), "the SDK's private message")
    assert.equal(lua_entry().socketId, q.options.socketId)
    -- the third client got neither: its next message is a later broadcast
    room:send({ text = "marker" })
    H.wait_until(function() return #third_got >= 1 end, "the marker at the third client")
    assert.same({ text = "marker" }, third_got[1])
    assert.same({}, js:all("error"))
  end)
end)
