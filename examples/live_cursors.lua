-- Live cursors: each open page shows where the others point, as in a
-- live collaboration tool.
--
--   On page load               -> Realtime | Open channel "mousemove"
--                                 (Listen to Presence; no history: old
--                                 positions are worth nothing)
--   On mousemove               -> Change variable pointer = {x, y}
--   Every 1/30 s               -> Realtime | Send message {name, x, y},
--                                 when the pointer moved (30 Hz at most)
--   On realtime - message      -> move that user's cursor
--   On realtime - presence     -> who is here; a cursor goes when its user leaves
--
-- A terminal has no mouse: a workflow moves the pointer along a curve 60
-- times a second, the way a browser fires mousemove events.  Once a
-- second the page prints the cursors it shows.
--
-- Against the bundled server (run two of them):
--   make server                 # in another terminal: ws://127.0.0.1:8080/rt/local
--   lua5.4 examples/live_cursors.lua --name Ann --seconds 10 &
--   lua5.4 examples/live_cursors.lua --name Bob --seconds 10
package.path = ((arg and arg[0] or ""):match("^(.*)[/\\]") or ".") .. "/?.lua;" .. package.path
local page = require "page"
local realtime = page.realtime

local app = page.new{
  title = "Live cursors",
  usage = "usage: live_cursors.lua [options]\n\nBroadcasts a pointer at 30 Hz in channel mousemove.\n\n",
  options = { room = "mousemove", rate = "30" },
  stdin = false, -- nothing to type: it runs until --seconds or Ctrl-C
}
local client = app.client
local RATE = tonumber(app.opts.rate)
local moves = client:channel(app.opts.room, { presence = true })

local cursors = {} -- socketId -> { name, x, y }
local names = {}   -- socketId -> name, learned from their messages
local sent, received = 0, 0

local function who(entry)
  return names[entry.socketId] or page.short(entry)
end

-- On page load: Realtime | Open channel
app:on_page_load(function()
  app:log("Open channel %s (presence)", moves.name)
  moves:open()
end)

-- On mousemove (simulated): the pointer follows a curve
app:on_page_load(function()
  local t = 0
  while true do
    t = t + 1 / 60
    app.vars.pointer = { x = math.floor(400 + 300 * math.cos(t) + 0.5),
                         y = math.floor(300 + 200 * math.sin(1.7 * t) + 0.5) }
    realtime.sleep(1 / 60)
  end
end)

-- Every 1/30 s: Realtime | Send message, if the pointer moved.  The ticks
-- keep to the clock, so that a late wake-up does not slow the rate down.
app:on_page_load(function()
  local last, tick = nil, app:elapsed()
  while true do
    local p = app.vars.pointer
    if p and client:status() == "connected" and moves:is_open() and p ~= last then
      moves:send({ id = app.id, name = app.opts.name, x = p.x, y = p.y })
      sent, last = sent + 1, p
    end
    tick = math.max(tick + 1 / RATE, app:elapsed() - 1 / RATE) -- skips ticks missed by far
    realtime.sleep(math.max(0, tick - app:elapsed()))
  end
end)

-- On realtime - message: someone else's pointer moved
moves:on("message", function(ev)
  local p = ev.payload
  if type(p) ~= "table" or p.id == app.id then return end -- our own echo
  local sid = ev.client and ev.client.socketId or "?"
  if not cursors[sid] then app:log("%s's cursor appears", tostring(p.name)) end
  names[sid] = tostring(p.name)
  cursors[sid] = { name = names[sid], x = tonumber(p.x) or 0, y = tonumber(p.y) or 0 }
  received = received + 1
end)

-- On realtime - presence full / presence update
moves:on("presence_full", function(ev)
  app:log("here: %d", #moves:presence())
end)
moves:on("presence_update", function(ev)
  app:log("%s joined; here: %d", who(ev.payload.presence), #moves:presence())
end, { event = "join" })
moves:on("presence_update", function(ev)
  local sid = ev.payload.presence.socketId
  app:log("%s left; here: %d", who(ev.payload.presence), #moves:presence())
  cursors[sid] = nil
end, { event = "leave" })

client:on("connection_status", function(ev) app:log("connection status: %s", ev.payload.status) end)
client:on("error", function(ev) app:log("error: %s", ev.payload.message) end)

-- Once a second: draw the other cursors
app:on_page_load(function()
  while true do
    realtime.sleep(1)
    local shown = {}
    for _, c in pairs(cursors) do shown[#shown + 1] = ("%s (%.0f, %.0f)"):format(c.name, c.x, c.y) end
    table.sort(shown)
    app:log("cursors: %s", #shown > 0 and table.concat(shown, ", ") or "none")
  end
end)

local code = app:run()
local t = app:elapsed()
app:log("sent %d positions in %.1f s (%.1f per second); received %d", sent, t, sent / t, received)
os.exit(code, true) -- closing the state lets the client send what it still holds
