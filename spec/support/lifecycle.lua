-- A client's whole life, for valgrind (make valgrind): connect, channels,
-- messages both ways, private messages, presence, history, a reconnect
-- after the server drops the socket, offline actions queued and sent, a
-- new token, a TLS handshake that fails, channels closed, a client closed
-- with actions still queued, a client dropped without close() and
-- collected, the server closed.
-- Ends by itself; the interpreter then closes the state, so every
-- finalizer runs and the service thread stops: what is still allocated
-- after that is a leak.
--
--   lua5.4 spec/support/lifecycle.lua [BUILD]
package.path = "lua/?.lua;spec/?.lua;" .. package.path
package.cpath = (arg[1] or os.getenv("XRT_BUILD") or "build/5.4") .. "/?.so;" .. package.cpath

local H = require "support.helpers"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

H.TIMEOUT = 60 -- valgrind runs everything much slower
core.set_log_level(0)

local function check(cond, what)
  if not cond then error("lifecycle: " .. what, 2) end
end

local srv = H.track(assert(server.start{ port = 0, canonical = "test", config = {
  tokens = { ["tok-a"] = { dbo_id = 1, row_id = 1 }, ["tok-b"] = { dbo_id = 1, row_id = 2 } },
} }))

local function client(token)
  return H.track(realtime.new{ url = srv:base_url(), canonical = "test", token = token,
    reconnect = { initial = 0.05, max = 0.2 }, ping_interval = 0.5, ping_timeout = 2 })
end

-- two clients, two channels each
local a, b = client("tok-a"), client()
local got_a, got_b, hist = {}, {}, {}
local ra = a:channel("room", { presence = true, history = true, queue_offline = true })
local rb = b:channel("room", { presence = true })
ra:on("message", function(ev) got_a[#got_a + 1] = ev.payload end)
rb:on("message", function(ev) got_b[#got_b + 1] = ev.payload end)
ra:on("history", function(ev) hist[#hist + 1] = ev end)
local side = a:channel("side")
side:open()
ra:open()
rb:open()
H.wait_until(function() return #srv:members("room") == 2 and #ra:presence() == 2 end, "joins")

-- messages both ways, a private one, a history request
check(ra:send({ text = "hello", n = 1 }), "send")
check(rb:send("hi back"), "send back")
local b_id
for _, e in ipairs(ra:presence()) do
  if e.permissions.dbo_id == 0 then b_id = e.socketId end
end
check(ra:send_to(b_id, "psst"), "send_to")
check(ra:history(), "history")
H.wait_until(function() return #got_a == 2 and #got_b == 3 and #hist >= 2 end, "messages")

-- the server drops a; it reconnects and rejoins; actions taken meanwhile go after
local old = srv:members("side")[1]
srv:drop(old, 1011, "restart")
H.wait_until(function() return a:status() == "disconnected" or a:stats().reconnects > 0 end, "the drop")
ra:send("while away")
H.wait_until(function()
  local m = srv:members("side")[1]
  return m and m ~= old and a:stats().queued == 0 and #got_b >= 4
end, "the rejoin and the queued message")

-- a new token: reconnects at once, channels kept
a:set_token("tok-b")
H.wait_until(function() return a:status() == "connected" and #srv:members("side") == 1 and
  srv:members("side")[1] ~= old end, "the new token")

-- pings on a quiet link
H.wait_until(function() return a:stats().pongs >= 1 end, "a pong")

-- TLS: a wss client against the plain server gets no TLS answer and
-- gives up at its connect timeout (the client TLS context, a failed
-- attempt and the deadline, set up and torn down)
local t = H.track(realtime.new{ url = "https://127.0.0.1:" .. srv.port, canonical = "test",
  reconnect = { initial = 0.05, max = 0.2 }, connect_timeout = 1 })
t:channel("room"):open()
H.wait_until(function() return t:status() == "disconnected" end, "the TLS failure")
t:close()

-- closing channels, then a client with actions still queued
side:close()
H.wait_until(function() return #srv:members("side") == 0 end, "side closed")
local c = client()
local rc = c:channel("room", { queue_offline = true })
srv:close()
H.wait_until(function() return a:status() == "disconnected" end, "the server gone")
rc:open()
rc:send("never sent")
ra:send("never sent either")
local _, discarded = c:close()
check(discarded == 1, "close() reports the queued action")

-- a client dropped without close(), collected
do
  local d = realtime.new{ url = "http://127.0.0.1:9", canonical = "test" }
  d:channel("x"):open()
end
collectgarbage()
collectgarbage()

H.cleanup()
collectgarbage()
collectgarbage()
print("lifecycle done")
