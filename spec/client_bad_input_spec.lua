-- Bad input from the server that spec/client_errors_spec.lua does not
-- cover: known fields with the wrong types, and a 16 MiB frame against the
-- default max_frame.  Each becomes an error event (on the channel it names
-- when that channel is open, and on the client), changes no presence or
-- history state, and the connection and the other channels keep working.
local H = require "support.helpers"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("bad input from the server", function()
  local srv, c, room, other, me, peer
  local errs, room_errs, room_msgs, other_msgs

  local function ids(list)
    local out = {}
    for i = 1, #list do out[i] = list[i].socketId end
    table.sort(out)
    return table.concat(out, ",")
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "test", config = {
      channels = {
        { pattern = "room", anonymous_clients = true, presence = true, message_history = 25 },
        { pattern = "other", anonymous_clients = true },
      },
    } }))
    -- a second member, so that the presence list has two entries to keep
    peer = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    peer:channel("room", { presence = true }):open()
    H.wait_until(function() return #srv:members("room") == 1 end, "the peer's join")

    c = H.track(realtime.new{ url = srv:base_url(), canonical = "test", reconnect = { initial = 0.02, max = 0.05 } })
    local rec
    rec, errs = H.recorder()
    c:on("error", rec)
    room = c:channel("room", { presence = true, history = true })
    other = c:channel("other")
    rec, room_errs = H.recorder()
    room:on("error", rec)
    rec, room_msgs = H.recorder()
    room:on("message", rec)
    rec, other_msgs = H.recorder()
    other:on("message", rec)
    room:open()
    other:open()
    H.wait_until(function()
      return #srv:members("room") == 2 and #srv:members("other") == 1 and #room:presence() == 2
    end, "both joins and the presence list")
    for _, s in ipairs(srv:sockets()) do
      if #s.channels == 2 then me = s.socketId end
    end
    assert.is_string(me)
    -- one message through the room, so that history has state to keep
    assert.is_true(room:send("before"))
    H.wait_until(function() return #room_msgs == 1 end, "the first echo")
  end)
  after_each(function() H.cleanup() end)

  -- both channels still carry messages both ways
  local function still_working()
    local r0, o0 = #room_msgs, #other_msgs
    assert.is_true(room:send("room still works"))
    assert.is_true(other:send("other still works"))
    H.wait_until(function() return #room_msgs == r0 + 1 and #other_msgs == o0 + 1 end,
      "the echoes on both channels")
    assert.equal("room still works", room_msgs[#room_msgs].payload)
    assert.equal("other still works", other_msgs[#other_msgs].payload)
    assert.equal("connected", c:status())
  end

  local ROOM = '"options":{"channel":"room"}'
  local cases = {
    { "presence_full whose payload.presence is not a list",
      '{"action":"presence_full",' .. ROOM .. ',"payload":{"presence":"nobody"}}',
      "presence_full without a payload.presence list", true },
    { "presence_full whose payload.presence is an object",
      '{"action":"presence_full",' .. ROOM .. ',"payload":{"presence":{"socketId":"x"}}}',
      "presence_full without a payload.presence list", true },
    { "presence_full without a payload",
      '{"action":"presence_full",' .. ROOM .. '}',
      "presence_full without a payload.presence list", true },
    { "presence_update without presence",
      '{"action":"presence_update",' .. ROOM .. ',"payload":{"action":"leave"}}',
      "presence_update without a payload.presence entry", true },
    { "presence_update whose presence is a number",
      '{"action":"presence_update",' .. ROOM .. ',"payload":{"action":"join","presence":7}}',
      "presence_update without a payload.presence entry", true },
    { "presence_update whose presence has no socketId",
      '{"action":"presence_update",' .. ROOM .. ',"payload":{"action":"join","presence":{"extras":{}}}}',
      "presence_update without a payload.presence entry", true },
    { "history whose payload.history is not a list",
      '{"action":"history",' .. ROOM .. ',"payload":{"history":"all of it"}}',
      "history without a payload.history list", true },
    { "history whose payload is a string",
      '{"action":"history",' .. ROOM .. ',"payload":"history"}',
      "history without a payload.history list", true },
    { "options that is a string",
      '{"action":"message","options":"room","payload":"x"}',
      "options is not an object", false },
    { "options that is a list",
      '{"action":"message","options":["room"],"payload":"x"}',
      "options is not an object", false },
    { "client that is a number",
      '{"action":"message",' .. ROOM .. ',"client":5,"payload":"x"}',
      "client is not an object", true },
    { "an error frame whose payload.message is not a string",
      '{"action":"error",' .. ROOM .. ',"payload":{"message":42}}',
      "error without a string payload.message", true },
    { "an error frame whose payload is a string",
      '{"action":"error","options":{},"payload":"boom"}',
      "error without a string payload.message", false },
  }

  for _, case in ipairs(cases) do
    it("turns " .. case[1] .. " into an error event and keeps its state", function()
      local presence_before = ids(room:presence())
      local msgs_before = #room_msgs
      local malformed = c:stats().malformed
      assert(srv:send_raw(me, case[2]))
      H.wait_until(function() return #errs == 1 end, "the error event")
      assert.matches("malformed frame from the server: " .. case[3]:gsub("%.", "%%."), errs[1].payload.message)
      assert.equal(case[2], errs[1].payload.frame)
      assert.equal(malformed + 1, c:stats().malformed)
      if case[4] then
        -- the channel the frame names hears it too
        assert.equal(1, #room_errs)
        assert.equal("room", errs[1].channel)
      else
        assert.equal(0, #room_errs)
      end
      -- nothing else reached the app, and no state moved
      assert.equal(msgs_before, #room_msgs)
      assert.equal(presence_before, ids(room:presence()))
      still_working()
      assert.equal(1, #errs)
      -- the history record is intact: after a rejoin, the history the
      -- server replays is recognised as all seen, with no gap
      local rejoins = {}
      room:on("history", function(ev) if ev.rejoin then rejoins[#rejoins + 1] = ev end end)
      srv:drop(me, 1011, "restart")
      H.wait_until(function() return #rejoins == 1 end, "the history after the rejoin")
      local h = rejoins[1].payload
      assert.same({}, h.history)
      assert.equal(#srv:history("room"), h.duplicates)
      assert.is_false(h.gap_possible)
      assert.equal(1, #errs)
    end)
  end

  it("discards a 16 MiB frame (default max_frame), says so, and goes on", function()
    local size = 16 * 1024 * 1024
    local head = '{"action":"message",' .. ROOM .. ',"payload":"'
    local big = head .. string.rep("x", size - #head - 2) .. '"}'
    assert.equal(size, #big)
    local frames_in = c:stats().frames_in
    assert(srv:send_raw(me, big))
    big = nil -- luacheck: ignore
    H.wait_until(function() return #errs == 1 end, "the error event", 30)
    assert.equal("frame_too_big", errs[1].payload.kind)
    assert.matches("frame of 16777216 bytes is above max_frame %(1048576%) and was discarded", errs[1].payload.message)
    assert.equal(frames_in + 1, c:stats().frames_in)
    assert.equal(1, #room_msgs)
    still_working()
  end)

  it("keeps a valid presence_update working after the bad ones", function()
    assert(srv:send_raw(me, '{"action":"presence_update",' .. ROOM .. ',"payload":{"action":"join"}}'))
    H.wait_until(function() return #errs == 1 end, "the error event")
    -- a third client joins: the real update still applies
    local third = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    third:channel("room"):open()
    H.wait_until(function() return #room:presence() == 3 end, "the third member in presence")
    assert.equal(1, #errs)
  end)
end)
