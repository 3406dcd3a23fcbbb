-- The local Xano Realtime server: bad input and misbehaving clients.
-- Frames that are not JSON objects, lack an action, name an unknown one,
-- or are binary get an error frame and the connection stays open; a frame
-- above max_frame closes that socket with 1009, invalid UTF-8 with 1007;
-- a client that vanishes while frames are queued for it harms no other.
local cjson = require "cjson"
local H = require "support.helpers"
local RC = require "support.rawclient"
local HTTP = require "support.http"
local server = require "xano.realtime.server"

local function start(config)
  return H.track(assert(server.start{ port = 0, canonical = "test", config = config }))
end

-- sends text, expects an error frame with this message and these options;
-- then shows the socket is still served
local function assert_error_reply(c, text, message, options)
  c:send(text)
  local e = c:expect("error")
  assert.same(options or {}, e.options)
  assert.equal(message, e.payload.message)
  c:send('{"action":"history","options":{"channel":"probe"},"payload":null}')
  assert.equal("not joined to this channel", c:expect("error", "probe").payload.message)
end

-- a raw WebSocket connection that joined channel
local function raw_member(srv, channel)
  local res, conn = HTTP.upgrade(srv.port, "/rt/test")
  assert.equal(101, res.status)
  conn:send(HTTP.ws_frame('{"action":"join","options":{"channel":"' .. channel ..
    '"},"payload":{"presence":true}}'))
  local op, text = HTTP.read_ws_frame(conn)
  assert.equal(1, op)
  assert.equal("presence_full", cjson.decode(text).action)
  return conn
end

describe("server robustness", function()
  after_each(H.cleanup)

  describe("frames that are not usable JSON objects get an error frame", function()
    it("not JSON at all, or empty", function()
      local c = RC.open(start())
      assert_error_reply(c, "hello there", "invalid JSON")
      assert_error_reply(c, "", "invalid JSON")
      assert_error_reply(c, '{"action":"join",', "invalid JSON")
    end)

    it("JSON that JavaScript's JSON.parse refuses: NaN, hex, raw control characters", function()
      local c = RC.open(start())
      assert_error_reply(c, '{"action":"message","options":{"channel":"r"},"payload":NaN}', "invalid JSON")
      assert_error_reply(c, '{"action":"message","options":{"channel":"r"},"payload":0x10}', "invalid JSON")
      assert_error_reply(c, '{"action":"message","options":{"channel":"r"},"payload":"a\tb"}', "invalid JSON")
    end)

    it("JSON that is not an object", function()
      local c = RC.open(start())
      for _, text in ipairs({ "[1,2]", "[]", '"join"', "42", "null", "true" }) do
        assert_error_reply(c, text, "frame must be a JSON object")
      end
    end)

    it("deeper than the decoder allows", function()
      local c = RC.open(start())
      assert_error_reply(c, string.rep("[", 2000) .. string.rep("]", 2000), "invalid JSON")
    end)

    it("no action, or not a string", function()
      local c = RC.open(start())
      assert_error_reply(c, '{"options":{"channel":"room"},"payload":null}', "missing action",
        { channel = "room" })
      assert_error_reply(c, '{"action":7,"options":{"channel":"room"}}', "missing action",
        { channel = "room" })
      assert_error_reply(c, '{"action":""}', "missing action")
    end)

    it("an action v1 does not have", function()
      local c = RC.open(start())
      assert_error_reply(c, '{"action":"ping"}', "unknown action: ping")
      assert_error_reply(c, '{"action":"' .. string.rep("x", 100) .. '"}',
        "unknown action: " .. string.rep("x", 37) .. "...")
      assert_error_reply(c, '{"action":"presence_full","options":{"channel":"room"}}',
        "unknown action: presence_full", { channel = "room" })
    end)

    it("options that are not an object, or no channel", function()
      local c = RC.open(start())
      assert_error_reply(c, '{"action":"join","options":"room"}',
        "malformed frame: options must be an object")
      assert_error_reply(c, '{"action":"join","payload":{}}',
        "malformed frame: options must be an object")
      assert_error_reply(c, '{"action":"join","options":{}}',
        "malformed frame: options.channel must be a non-empty string")
      assert_error_reply(c, '{"action":"message","options":{"channel":""}}',
        "malformed frame: options.channel must be a non-empty string")
      assert_error_reply(c, '{"action":"join","options":{"channel":"room"},"payload":"yes"}',
        "malformed frame: join payload must be an object", { channel = "room" })
      assert_error_reply(c, '{"action":"join","options":{"channel":"room"},"payload":[]}',
        "malformed frame: join payload must be an object", { channel = "room" })
    end)

    it("a binary frame", function()
      local srv = start()
      local res, conn = HTTP.upgrade(srv.port, "/rt/test")
      assert.equal(101, res.status)
      conn:send(HTTP.ws_frame('{"action":"join","options":{"channel":"room"}}', 2))
      local op, text = HTTP.read_ws_frame(conn)
      assert.equal(1, op)
      assert.same({ action = "error", options = {},
        payload = { message = "binary frames are not supported" } }, cjson.decode(text))
      -- still served: a text join works
      conn:send(HTTP.ws_frame('{"action":"join","options":{"channel":"room"},"payload":{"presence":true}}'))
      op, text = HTTP.read_ws_frame(conn)
      assert.equal("presence_full", cjson.decode(text).action)
    end)
  end)

  it("closes a socket that sends a frame above max_frame with 1009, and only that one", function()
    local srv = start({ max_frame = 1024 })
    local big = RC.open(srv, { canonical = "test" }):joined("room")
    local other = RC.open(srv):joined("room")
    big:message("room", string.rep("x", 2000))
    assert.equal(1009, (big:wait_closed()))
    H.wait_until(function() return #srv:members("room") == 1 end, "big removed")
    other:message("room", string.rep("y", 900))
    assert.equal(900, #other:expect("message", "room").payload)
  end)

  it("closes a socket that sends invalid UTF-8 text with 1007", function()
    local srv = start()
    local res, conn = HTTP.upgrade(srv.port, "/rt/test")
    assert.equal(101, res.status)
    conn:send(HTTP.ws_frame('{"action":"join","options":{"channel":"\255"}}'))
    local op, payload = HTTP.read_ws_frame(conn)
    assert.equal(8, op)
    assert.equal(1007, payload:byte(1) * 256 + payload:byte(2))
  end)

  it("a client that stops reading and vanishes with frames queued harms no other", function()
    local srv = start()
    local reader = RC.open(srv):joined("room")
    local vanisher = raw_member(srv, "room")
    assert.equal(2, #srv:members("room"))
    local chunk = string.rep("z", 65536)
    -- 8 MB for a socket that reads nothing: far more than the kernel buffers
    for i = 1, 128 do
      assert.equal(2, srv:event("room", { n = i, pad = chunk }))
    end
    vanisher:close()
    for i = 129, 140 do srv:event("room", { n = i, pad = chunk }) end
    for i = 1, 140 do
      local f = reader:expect("event", "room")
      assert.equal(i, f.payload.data.n)
    end
    H.wait_until(function() return #srv:members("room") == 1 end, "vanisher removed")
    assert.same({ reader.socketId }, srv:members("room"))
    -- and the server still takes new clients
    local late = RC.open(srv):joined("room")
    late:message("room", "still here")
    assert.equal("still here", reader:expect("message", "room").payload)
  end)

  it("a client that vanishes in the middle of its handshake harms no other", function()
    local srv = start()
    local c = RC.open(srv):joined("room")
    local half = HTTP.connect(srv.port)
    half:send("GET /rt/test HTTP/1.1\r\nHost: x\r\nUpg")
    half:close()
    c:message("room", "fine")
    assert.equal("fine", c:expect("message", "room").payload)
    assert.equal(1, #srv:sockets())
  end)

  describe("fault injection for specs of clients", function()
    it("send_raw sends any bytes to one socket, text or binary", function()
      local srv = start()
      local c = RC.open(srv)
      assert.is_true(srv:send_raw(c.socketId, "not json at all"))
      local f, raw = c:next_frame()
      assert.is_nil(f)
      assert.equal("not json at all", raw)
      assert.is_true(srv:send_raw(c.socketId, "\1\2\3", "binary"))
      H.wait_until(function() return #c.errors > 0 end, "binary frame reported")
      assert.truthy(c.errors[1]:find("binary", 1, true))
      local n, err = srv:send_raw("nobody", "x")
      assert.is_nil(n)
      assert.equal("no such socket", err)
    end)

    it("drop closes one socket with the given code", function()
      local srv = start()
      local a, b = RC.open(srv), RC.open(srv)
      assert.is_true(srv:drop(a.socketId, 4000, "reconnect please"))
      assert.equal(4000, (a:wait_closed()))
      H.wait_until(function() return #srv:sockets() == 1 end, "a forgotten")
      assert.equal(b.socketId, srv:sockets()[1].socketId)
    end)
  end)

  it("counts sockets, frames and messages in stats()", function()
    local srv = start()
    local c = RC.open(srv):joined("room")
    c:message("room", 1)
    c:expect("message", "room")
    local s = srv:stats()
    assert.equal(1, s.sockets)
    assert.equal(1, s.messages)
    assert.equal(2, s.frames_in)
    assert.equal(1, s.frames_out)
  end)
end)
