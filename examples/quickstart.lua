-- examples/quickstart.lua: joins room1, shows who is there, sends a
-- message, receives it back, and leaves.  It talks to the local server
-- (make server) unless XANO_URL, XANO_CANONICAL and XANO_TOKEN name
-- your Xano instance.
local realtime = require "xano.realtime"

local client = realtime.new{
  url = os.getenv("XANO_URL") or "http://127.0.0.1:8080",   -- your instance's base URL
  canonical = os.getenv("XANO_CANONICAL") or "local",       -- Realtime Settings: connection canonical
  token = os.getenv("XANO_TOKEN"),                          -- optional: an authenticated client
}

client:on("connection_status", function(ev)
  -- a "disconnected" says why, and what to do about it
  print("status: " .. ev.payload.status .. (ev.payload.reason and " - " .. ev.payload.reason or ""))
end)
client:on("error", function(ev) print("error: " .. ev.payload.message) end)

local room = client:channel("room1", { presence = true, history = true })
local text = "hello from " .. (os.getenv("USER") or "Lua")

room:on("history", function(ev)
  print(#ev.payload.history .. " message(s) in room1's history")
end)
room:on("presence_full", function(ev)         -- the join went through
  print(#ev.payload.presence .. " client(s) in room1")
  room:send({ text = text })                  -- Send message to everyone
end)
room:on("presence_update", function(ev)
  print(ev.payload.presence.socketId .. " " .. ev.payload.action .. "s")
end)
room:on("message", function(ev)
  print(ev.client.socketId .. ": " .. tostring(ev.payload.text))
  if ev.payload.text == text then             -- our own message, back from the server
    room:close()                              -- Close channel: no "disconnected" event
    client:close()
  end
end)

room:open()                                   -- Open channel: connects on first use
client:run(15)                                -- runs the callbacks until closed, 15 s at most
