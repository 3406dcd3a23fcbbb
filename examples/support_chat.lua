-- Support chat: WeWeb's "Open and close a Xano channel" story.
--
--   On click "support-icon"  -> Realtime | Open channel room1
--                               (Listen to Presence, Get History on Join,
--                                Queue Offline Actions)
--   On input (Enter)         -> Realtime | Send message
--   On click "leave-room"    -> Realtime | Close channel room1
--                               Change variable myStatus = "disconnected"
--   On realtime - connection status / history / presence / message
--                            -> update the page
--
-- Xano sends no "disconnected" event when you close a channel yourself;
-- that is why "Leave room" sets myStatus itself.  This page counts the
-- disconnected events it receives and prints the count when it closes.
--
-- Against the bundled server:
--   make server                 # in another terminal: ws://127.0.0.1:8080/rt/local
--   lua5.4 examples/support_chat.lua --name Ann
--   then type "/click support-icon", some text, "/click leave-room", "/quit".
-- Headless, bounded:
--   lua5.4 examples/support_chat.lua --seconds 10 --script \
--     "click support-icon; await myStatus=connected; say Hello; await chat=1; click leave-room; quit"
package.path = ((arg and arg[0] or ""):match("^(.*)[/\\]") or ".") .. "/?.lua;" .. package.path
local page = require "page"

local app = page.new{
  title = "Support chat",
  usage = "usage: support_chat.lua [options]\n\nA support chat in channel room1.\n\n",
  options = { room = "room1" },
}
local client = app.client
local room = client:channel(app.opts.room, { presence = true, history = true, queue_offline = true })

app:set("myStatus", "disconnected")
app.vars.chat = {}
local disconnected_events = 0

local function line(frame) -- a chat message as text
  local p = frame.payload
  if type(p) == "table" then return ("<%s> %s"):format(tostring(p.from), tostring(p.text)) end
  return ("<%s> %s"):format(page.short(frame.client), tostring(p))
end

-- On click "support-icon": Realtime | Open channel
app:on_click("support-icon", function()
  app:log("Open channel %s (presence, history, queue offline)", room.name)
  room:open()
end)

-- On realtime - connection status: mirror it in myStatus
client:on("connection_status", function(ev)
  if ev.payload.status == "disconnected" then disconnected_events = disconnected_events + 1 end
  app:log("connection status: %s", ev.payload.status)
  app:set("myStatus", ev.payload.status)
end)

-- On realtime - history: the messages sent before we came in
room:on("history", function(ev)
  local h = ev.payload.history
  app:log("history: %d earlier message(s)", #h)
  for i = 1, #h do app:log("  %s", line(h[i])) end
end)

-- On realtime - presence full, and presence update (Join / Leave)
room:on("presence_full", function()
  local names = {}
  for _, who in ipairs(room:presence()) do names[#names + 1] = page.short(who) end
  app:log("presence: %d in %s (%s)", #names, room.name, table.concat(names, ", "))
end)
room:on("presence_update", function(ev)
  app:log("%s joined", page.short(ev.payload.presence))
end, { event = "join" })
room:on("presence_update", function(ev)
  app:log("%s left", page.short(ev.payload.presence))
end, { event = "leave" })

-- On realtime - message: add it to the chat
room:on("message", function(ev)
  table.insert(app.vars.chat, ev.payload)
  app:log("%s", line(ev))
  app:set("chat", app.vars.chat)
end)

-- On realtime - error
client:on("error", function(ev) app:log("error: %s", ev.payload.message) end)

-- On input (Enter): Realtime | Send message to everyone in the channel
app:on_input(function(text)
  if not room:is_open() then return app:log("(open the chat first: click support-icon)") end
  local ok, err = room:send({ from = app.opts.name, text = text })
  if not ok then app:log("not sent: %s", err) end
end)

-- On click "leave-room": Realtime | Close channel, then myStatus = "disconnected"
app:on_click("leave-room", function()
  app:log("Close channel %s", room.name)
  room:close()
  app:set("myStatus", "disconnected")
end)

local code = app:run()
app:log("disconnected events received: %d", disconnected_events)
os.exit(code, true) -- closing the state lets the client send what it still holds
