-- The local Xano Realtime server at scale: one server holds 1,000
-- concurrent WebSockets joined to one channel, and one broadcast (and one
-- server event) reaches every one of them.  The clients are raw C client
-- handles in this same Lua state, so the whole run shares one service
-- thread; it takes a few seconds.
local H = require "support.helpers"
local RC = require "support.rawclient"
local server = require "xano.realtime.server"

local N = 1000
local LIMIT = 30	-- seconds for each phase; a healthy run needs far less

local function count(list, pred)
  local n = 0
  for i = 1, #list do
    if pred(list[i]) then n = n + 1 end
  end
  return n
end

describe("server scale", function()
  after_each(H.cleanup)

  it("holds 1,000 concurrent sockets in one channel; a broadcast reaches them all", function()
    local srv = H.track(assert(server.start{ port = 0, canonical = "scale" }))
    local clients = {}
    for i = 1, N do clients[i] = RC.connect(srv.port, { canonical = "scale" }) end
    H.wait_until(function()
      return count(clients, function(c) return c.state ~= "connecting" end) == N
    end, "1,000 connections", LIMIT)
    assert.equal(N, count(clients, function(c) return c.state == "open" end))
    assert.equal(N, srv:stats().sockets)

    for i = 1, N do clients[i]:join("crowd") end
    H.wait_until(function() return #srv:members("crowd") == N end, "1,000 joins", LIMIT)

    clients[1]:message("crowd", { text = "to everyone" })
    H.wait_until(function()
      return count(clients, function(c) return c:unread() >= 1 end) == N
    end, "the broadcast everywhere", LIMIT)
    local sender
    for i = 1, N do
      local f = clients[i]:expect("message", "crowd")
      assert.equal("to everyone", f.payload.text)
      sender = sender or f.client.socketId
      assert.equal(sender, f.client.socketId)
    end

    assert.equal(N, srv:event("crowd", "event for all"))
    H.wait_until(function()
      return count(clients, function(c) return c:unread() >= 1 end) == N
    end, "the event everywhere", LIMIT)
    for i = 1, N do
      assert.equal("event for all", clients[i]:expect("event", "crowd").payload.data)
    end
    assert.equal(N, srv:stats().sockets)
  end)
end)
