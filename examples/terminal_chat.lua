-- Terminal chat: run it in two terminals and talk.  Each line you type is
-- a message; the chat shows who is here, and what was said before you came.
--
--   On app load                 -> Realtime | Open channel "terminal-chat"
--                                  (presence, history, queue offline actions)
--   On input (a line)           -> Realtime | Send message to everyone
--   On realtime - history       -> print what was said before
--   On realtime - presence full -> say hello privately to each one here
--   On realtime - message       -> print it; answer a private hello with
--                                  our own name (Send message, Single audience)
--   On realtime - presence update (Leave) -> "<name> left"
--
-- Presence lists sockets, not names (anonymous clients carry none), so
-- the clients introduce themselves with private messages.
--
--   make server                 # in another terminal: ws://127.0.0.1:8080/rt/local
--   lua5.4 examples/terminal_chat.lua --name Ann     # in one terminal
--   lua5.4 examples/terminal_chat.lua --name Bob     # in another
-- Type /quit (or Ctrl-D) to leave.  Bounded: --seconds N, --script "say hi; wait 1; quit".
package.path = ((arg and arg[0] or ""):match("^(.*)[/\\]") or ".") .. "/?.lua;" .. package.path
local page = require "page"

local app = page.new{
  title = "Terminal chat",
  usage = "usage: terminal_chat.lua [options]\n\nA chat in channel terminal-chat: each line you type is a message.\n\n",
  options = { room = "terminal-chat" },
}
local client = app.client
local me = app.opts.name
local chat = client:channel(app.opts.room, { presence = true, history = true, queue_offline = true })
local names = {} -- socketId -> name
local my_socket

local function text_of(frame)
  local p = frame.payload
  if type(p) == "table" and p.text then return ("<%s> %s"):format(tostring(p.from), tostring(p.text)) end
end

-- On app load: Realtime | Open channel
client:workflow(function()
  chat:open()
end)

client:on("connection_status", function(ev) app:log("* %s", ev.payload.status) end)
client:on("error", function(ev) app:log("* error: %s", ev.payload.message) end)

-- On realtime - history: what was said before we came in
chat:on("history", function(ev)
  local said = {}
  for _, frame in ipairs(ev.payload.history) do said[#said + 1] = text_of(frame) end
  if #said > 0 then app:log("* earlier in %s:", chat.name) end
  for _, line in ipairs(said) do app:log("  %s", line) end
end)

-- On realtime - presence full: we are in; introduce ourselves to each one
chat:on("presence_full", function()
  local here = chat:presence()
  app:log("* you are in %s as %s; %d here", chat.name, me, #here)
  for _, who in ipairs(here) do chat:send_to(who.socketId, { hello = me }) end
end)

-- On realtime - message
chat:on("message", function(ev)
  local p, from = ev.payload, ev.client and ev.client.socketId
  if type(p) ~= "table" then return end
  if p.hello then -- a private introduction
    if ev.options.socketId == from then
      my_socket = from -- the hello we sent ourselves
      return
    end
    local known = names[from]
    names[from] = tostring(p.hello)
    if p.reply then
      if not known then app:log("* %s is here", names[from]) end
    else
      app:log("* %s joined", names[from])
      chat:send_to(from, { hello = me, reply = true })
    end
    return
  end
  local line = text_of(ev)
  if line then app:log("%s", line) end
end)

-- On realtime - presence update (Leave)
chat:on("presence_update", function(ev)
  local sid = ev.payload.presence.socketId
  if sid ~= my_socket then app:log("* %s left", names[sid] or page.short(sid)) end
  names[sid] = nil
end, { event = "leave" })

-- On input: Realtime | Send message to everyone (queued while offline)
app:on_input(function(text)
  local ok, err = chat:send({ from = me, text = text })
  if not ok then app:log("* not sent: %s", err) end
end)

local code = app:run()
app:log("* bye")
os.exit(code, true) -- closing the state lets the client send what it still holds
