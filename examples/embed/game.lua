-- A "game" for the xrt-host frame loop (examples/embed/host.c): it plays a
-- session through a server that goes down and comes back, and says what
-- happens on stdout, one line per step, so whoever runs the server knows
-- when to stop and restart it.
--
--   build/embed/xrt-host examples/embed/game.lua URL [CANONICAL]
--
-- Steps:  connected -> sends "before", gets it back, plays 60 frames
--           -> "ready for restart"
--         disconnected -> sends "during" (kept in the offline queue), plays
--           on; after 30 frames and 2 reconnect attempts -> "still down"
--         connected again -> sends "after" -> gets "during" and "after",
--           plays 60 more frames, until every position update sent came
--           back -> "done", and the loop ends.
-- Every 6th frame it also sends a small position update, as a game would.
local realtime = require "xano.realtime"

local url, canonical = ...
assert(url, "usage: xrt-host game.lua URL [CANONICAL]")

local function say(...)
  io.write("game: ", ...)
  io.write("\n")
  io.stdout:flush()
end

local client = realtime.new{
  url = url,
  canonical = canonical or "local",
  reconnect = { initial = 0.05, max = 0.5 },
}
local room = client:channel("game", { queue_offline = true })

local got = {}
local connects, ticks, ticks_back, attempts = 0, 0, 0, 0
local step, since = "start", 0 -- the step and the frames played in it

local function enter(name)
  step, since = name, 0
  host.phase(name)
end

client:on("reconnecting", function() attempts = attempts + 1 end)

room:on("connection_status", function(ev)
  if ev.payload.status == "connected" then
    connects = connects + 1
    if connects == 1 then
      enter("connected")
      say("connected")
      room:send({ text = "before" })
    else
      enter("back")
      say("reconnected after ", attempts, " attempts")
      room:send({ text = "after" })
    end
  else
    enter("down")
    attempts = 0
    say("server down")
    room:send({ text = "during" })
  end
end)

room:on("message", function(ev)
  local p = ev.payload
  if type(p) ~= "table" then return end
  if p.tick then
    ticks_back = ticks_back + 1
    return
  end
  got[p.text] = true
  say("got ", p.text)
end)

room:open()

return {
  client = client,
  update = function(dt, frame)
    since = since + 1
    if frame % 6 == 0 and connects > 0 then
      ticks = ticks + 1
      room:send({ tick = ticks, x = frame % 320, y = frame % 200 })
    end
    if step == "connected" and got.before and since == 60 then
      say("ready for restart")
    elseif step == "down" and since >= 30 and attempts >= 2 and not got.waited then
      got.waited = true
      say("still down after ", since, " frames and ", attempts, " attempts")
    elseif step == "back" and got.during and got.after and since >= 60 and ticks_back == ticks then
      say("done: ", ticks, " ticks sent, ", ticks_back, " came back")
      return false
    end
  end,
  quit = function()
    client:close()
  end,
}
