-- Product updates: an app-wide channel that tells every user about new
-- releases, pushed by the backend (Xano's "Realtime Event" function; on
-- the bundled server, POST /event or srv:event()).
--
--   On app load               -> Realtime | Open channel "product-updates"
--                                (no presence, no history: users only listen)
--   On realtime - event       -> add the update to the list, show a toast
--   On realtime - connection status -> myStatus
--
-- Against the bundled server:
--   make server                 # in another terminal: ws://127.0.0.1:8080/rt/local
--   lua5.4 examples/product_updates.lua --seconds 60 &
--   curl -H 'X-Admin-Key: change-me' -d '{"channel":"product-updates",
--        "data":{"title":"Dark mode","version":"2.4"}}' http://127.0.0.1:8080/event
-- Headless, bounded: --seconds 10 --script "await updates=2; quit"
package.path = ((arg and arg[0] or ""):match("^(.*)[/\\]") or ".") .. "/?.lua;" .. package.path
local page = require "page"

local app = page.new{
  title = "Product updates",
  usage = "usage: product_updates.lua [options]\n\nListens to server events in channel product-updates.\n\n",
  options = { room = "product-updates" },
}
local client = app.client
local updates = client:channel(app.opts.room)
app.vars.updates = {}

-- On app load: Realtime | Open channel.  client:workflow runs it at once,
-- before the page's own triggers.
client:workflow(function()
  app:log("Open channel %s", updates.name)
  updates:open()
end)

-- On realtime - connection status
client:on("connection_status", function(ev)
  app:set("myStatus", ev.payload.status)
end)

-- On realtime - event: payload = { data = ..., dbo_id = ..., row_id = ... }
updates:on("event", function(ev)
  local data = ev.payload.data
  table.insert(app.vars.updates, data)
  if type(data) == "table" then
    app:log("toast: %s (version %s)", tostring(data.title), tostring(data.version))
  else
    app:log("toast: %s", tostring(data))
  end
  app:set("updates", app.vars.updates)
end)

-- On realtime - error
client:on("error", function(ev) app:log("error: %s", ev.payload.message) end)

local code = app:run()
app:log("%d update(s) received", #app.vars.updates)
os.exit(code, true) -- closing the state lets the client send what it still holds
