-- A server that floods its first client, run as a separate process by
-- spec/flood_spec.lua so that the spec process holds only the client and
-- its resident size measures the client alone.
--
--   lua5.4 spec/support/flooder.lua BUILD FRAMES SIZE
--
-- Uses the bare transport (xano.realtime.core.server, from BUILD; the
-- server's other settings at their defaults) with a send queue big enough
-- for the whole flood.  Prints "listening PORT",
-- accepts the first upgrade, and when that client's first frame (its join)
-- arrives queues FRAMES text frames at once, each a message of channel
-- "flood" whose payload is {seq = i, pad = SIZE bytes} (SIZE 0: the frame
-- is empty, not JSON at all), then prints "flooded FRAMES".  Exits when its
-- client is gone, on SIGTERM, or after 120 s whatever happens.
local build, frames, size = arg[1], tonumber(arg[2]), tonumber(arg[3])
package.cpath = build .. "/?.so;" .. package.cpath
package.path = build .. "/../../lua/?.lua;" .. package.path
local core = require "xano.realtime.core"
local config = require "xano.realtime.server.config"

core.catch_signals()
local total = frames * (size + 512)
local h = assert(core.server(config.core_defaults("127.0.0.1", 0, { max_queue = total + (1 << 20),
  in_limit = 1 << 20, ping_interval = 0 })))
io.stdout:write("listening ", h:port(), "\n")
io.stdout:flush()

local deadline = core.now() + 120
local client, flooded
local pad = string.rep("f", size)
while core.now() < deadline and not core.signaled() do
  h:wait(0.5)
  for _ = 1, 1000 do
    -- upgrade, request, frame and gone all carry the socket first
    local kind, socket = h:next()
    if not kind then break end
    if kind == "upgrade" and not client then
      client = socket
      h:accept(socket)
    elseif kind == "upgrade" or kind == "request" then
      h:respond(socket, 503, "busy\n")
    elseif kind == "frame" and socket == client and not flooded then
      flooded = true
      for i = 1, frames do
        local text = size == 0 and "" or
          '{"action":"message","options":{"channel":"flood"},"payload":{"seq":' .. i ..
          ',"pad":"' .. pad .. '"}}'
        assert(h:send(socket, text) == 1, "the send queue refused frame " .. i)
      end
      io.stdout:write("flooded ", frames, "\n")
      io.stdout:flush()
    elseif kind == "gone" and socket == client then
      deadline = 0
    end
  end
end
h:close()
