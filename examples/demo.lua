-- make demo: the support-chat story, end to end, on the bundled server.
--
-- It starts bin/xano-realtime-server on a free port, then two people:
-- Alice, a support agent signed in with a realtime token, and Bob, an
-- anonymous visitor.  Both open room1 with presence and history, chat,
-- Alice answers Bob privately, the backend pushes an event, the server
-- restarts (what they type meanwhile is queued and delivered after the
-- reconnect), and both leave; no "disconnected" event follows a voluntary
-- close.  Everything each of them does and receives is printed.
--
-- Exits 0 when the story went as told, 1 otherwise; stops the server
-- either way.  Usage: lua5.4 examples/demo.lua (or make demo).
package.path = ((arg and arg[0] or ""):match("^(.*)[/\\]") or ".") .. "/?.lua;" .. package.path
local page = require "page" -- finds this checkout's modules
local realtime = page.realtime
local core = require "xano.realtime.core"
local cjson = require "cjson"

local now = core.now
local T0 = now()
local LIMIT = 50 -- seconds: the whole story, or it failed

io.stdout:setvbuf("line")

-- ------------------------------------------------------------ transcript

local function say(who, fmt, ...)
  local text = select("#", ...) > 0 and fmt:format(...) or fmt
  io.stdout:write(("[%5.2fs] %-7s %s\n"):format(now() - T0, who, text))
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- ------------------------------------------------------------ the server

local interpreter = "lua5.4" -- the one running this file, to find its build
do
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  if arg and arg[i] then interpreter = arg[i] end
end
local SERVER = page.dir .. "/../bin/xano-realtime-server"
local CONFIG = page.dir .. "/server-config.lua"
local ADMIN_KEY = core.random_hex(8)
local ERRLOG = os.tmpname()

-- Starts the server (on port, or a free one); returns it once it listens.
-- `timeout 120` makes sure it cannot outlive a demo that was killed;
-- --foreground keeps it in our process group, so Ctrl-C reaches it too.
local function start_server(port)
  -- the build this demo runs on (make demo sets XRT_BUILD) serves the server too
  local build = os.getenv("XRT_BUILD")
  local use_build = build and build ~= "" and
    (" -e " .. quote(("package.cpath = %q .. package.cpath"):format(build .. "/?.so;"))) or ""
  local cmd = "echo $$; exec timeout --foreground -s TERM 120 " .. quote(interpreter) .. use_build .. " " .. quote(SERVER) ..
    " --port " .. port .. " --config " .. quote(CONFIG) .. " --admin-key " .. ADMIN_KEY ..
    " 2>>" .. quote(ERRLOG)
  local pipe = assert(io.popen(cmd, "r"))
  local pid = tonumber(pipe:read("*l"))
  local ready = pipe:read("*l") -- "listening ws://HOST:PORT/rt/CANONICAL", or nil if it died
  if not pid or not ready then
    pipe:close()
    error("the server did not start on port " .. port)
  end
  local host, p = ready:match("^listening ws://([^/]+):(%d+)/rt/")
  return { pid = pid, pipe = pipe, port = tonumber(p), base = "http://" .. host .. ":" .. p,
           ready = ready }
end

-- SIGTERM: the server closes every socket (1001) and exits.
local function stop_server(srv)
  if not srv or not srv.pipe then return end
  os.execute("kill -TERM " .. srv.pid .. " 2>/dev/null")
  srv.pipe:read("*a") -- until it exits
  srv.pipe:close()
  srv.pipe = nil
end

-- Xano's "Realtime Event" function: POST /event on the bundled server.
local function post_event(srv, channel, data)
  local http = require "socket.http"
  local ltn12 = require "ltn12"
  http.TIMEOUT = 5
  local body = cjson.encode({ channel = channel, data = data })
  local out = {}
  local ok, status = http.request{
    url = srv.base .. "/event", method = "POST",
    headers = { ["content-type"] = "application/json", ["content-length"] = tostring(#body),
                ["x-admin-key"] = ADMIN_KEY },
    source = ltn12.source.string(body), sink = ltn12.sink.table(out),
  }
  if not ok or status ~= 200 then
    error("POST /event failed: " .. tostring(status) .. " " .. table.concat(out))
  end
  return cjson.decode(table.concat(out))
end

-- ------------------------------------------------------------ waiting

-- Runs every client until pred() holds; fails after secs (or the limit).
local function interrupted()
  local sig = core.signaled()
  if sig then error("interrupted by " .. sig, 3) end
end

local function await(what, pred, secs)
  local deadline = math.min(now() + (secs or 10), T0 + LIMIT)
  for _ = 1, 100000 do
    interrupted()
    if pred() then return end
    local left = deadline - now()
    if left <= 0 then break end
    realtime.poll(math.min(left, 0.1)) -- sleeps until an event or a timer
  end
  error("timed out waiting for " .. what, 2)
end

-- Runs every client for secs, to show that nothing more arrives.
local function settle(secs)
  local deadline = now() + secs
  for _ = 1, 100000 do
    interrupted()
    local left = deadline - now()
    if left <= 0 then return end
    realtime.poll(math.min(left, 0.1))
  end
end

-- ------------------------------------------------------------ the people

local function text_of(ev)
  local p = ev.payload
  if type(p) == "table" and p.text then return ("%s: %q"):format(tostring(p.from), p.text) end
  return cjson.encode(p)
end

local function count(list, pred)
  local n = 0
  for i = 1, #list do if pred(list[i]) then n = n + 1 end end
  return n
end

-- A page with room1: every realtime event it gets goes to the transcript
-- ("On realtime - all events") and to p.got.
local function person(name, token, base)
  local p = { name = name, got = {}, statuses = {}, vars = { myStatus = "disconnected" } }
  p.client = realtime.new{ url = base, canonical = "local", token = token,
                           reconnect = { initial = 0.2, max = 1 } }
  p.room = p.client:channel("room1", { presence = true, history = true, queue_offline = true })
  p.names = {}

  local function who(entry)
    if type(entry.extras) == "table" and entry.extras.name then return entry.extras.name end
    return p.names[entry.socketId] or ("anonymous " .. page.short(entry))
  end

  -- names come with messages: {from = name, text = ...}
  local function learn(frame)
    local c, m = frame.client, frame.payload
    if type(c) == "table" and type(m) == "table" and m.from then p.names[c.socketId] = m.from end
  end

  p.room:on(function(ev)
    p.got[#p.got + 1] = ev
    local a = ev.action
    if a == "message" then
      learn(ev)
      local private = ev.options and ev.options.socketId
      say(name, "%s %s", private and "got a private message from" or "got a message from", text_of(ev))
    elseif a == "event" then
      say(name, "got a server event: %s", cjson.encode(ev.payload.data))
    elseif a == "history" then
      local h = ev.payload.history
      if ev.rejoin then
        say(name, "got the history again after the rejoin: %d new, %d already seen",
          #h, ev.payload.duplicates or 0)
      else
        say(name, "got the history: %d earlier message(s)", #h)
      end
      for i = 1, #h do
        learn(h[i])
        say(name, "  %s", text_of(h[i]))
      end
    elseif a == "presence_full" then
      local names = {}
      for _, e in ipairs(p.room:presence()) do names[#names + 1] = who(e) end
      say(name, "sees %d in room1: %s", #names, table.concat(names, ", "))
    elseif a == "presence_update" then
      say(name, "sees %s %s", who(ev.payload.presence), ev.payload.action == "join" and "join" or "leave")
    elseif a == "error" then
      say(name, "got an error: %s", tostring(ev.payload.message))
    end
  end)

  -- On realtime - connection status (app level: it also hears the client
  -- after its last channel closed)
  p.client:on("connection_status", function(ev)
    local st = ev.payload.status
    p.statuses[#p.statuses + 1] = st
    p.vars.myStatus = st
    say(name, "connection status: %s%s", st, ev.payload.code and (" (close code " .. ev.payload.code .. ")") or "")
  end)
  p.client:on("callback_error", function(ev) say(name, "ERROR in a workflow: %s", ev.payload.message) end)

  function p:count(action, pred)
    return count(self.got, function(ev) return ev.action == action and (not pred or pred(ev)) end)
  end
  -- a message with this text, live or in a history
  function p:has(text)
    for _, ev in ipairs(self.got) do
      if ev.action == "message" and type(ev.payload) == "table" and ev.payload.text == text then return true end
      if ev.action == "history" then
        for _, f in ipairs(ev.payload.history) do
          if type(f.payload) == "table" and f.payload.text == text then return true end
        end
      end
    end
    return false
  end
  function p:send(text)
    say(name, "sends %q", text)
    assert(self.room:send({ from = name, text = text }))
  end
  return p
end

-- ------------------------------------------------------------ the story

local srv

local function story()
  print("xano.realtime demo: the support-chat story on the bundled server")
  print("(times are seconds since the start; each line says who did or got what)")
  print()
  srv = start_server(0)
  say("server", "%s (config %s)", srv.ready, "examples/server-config.lua")

  local alice = person("Alice", "alice-token", srv.base)
  local bob = person("Bob", nil, srv.base)

  -- Bob's workflow: when a private message comes, he takes a moment, then
  -- thanks everyone (the handler waits without holding the loop)
  bob.room:on("message", function(ev)
    if ev.options and ev.options.socketId then
      realtime.sleep(0.3)
      bob:send("Great, thank you!")
    end
  end)

  say("Alice", "clicks the support icon: Open channel room1 (presence, history, queue offline)")
  alice.room:open()
  await("Alice in room1", function()
    return alice.vars.myStatus == "connected" and alice:count("presence_full") == 1 and alice:count("history") == 1
  end)

  say("Bob", "clicks the support icon: Open channel room1 (presence, history, queue offline)")
  bob.room:open()
  await("Bob in room1, seen by Alice", function()
    return bob:count("presence_full") == 1 and bob:count("history") == 1 and
      alice:count("presence_update") == 1
  end)

  alice:send("Hello! How can I help you?")
  await("Alice's greeting", function() return bob:has("Hello! How can I help you?") and alice:has("Hello! How can I help you?") end)
  bob:send("My order #1234 has not arrived.")
  await("Bob's question", function() return alice:has("My order #1234 has not arrived.") end)

  -- Send message, audience Single: to Bob's socket only
  local bob_socket
  for _, e in ipairs(alice.room:presence()) do
    if type(e.permissions) == "table" and e.permissions.dbo_id == 0 then bob_socket = e.socketId end
  end
  assert(bob_socket, "Alice cannot find Bob in the presence list")
  say("Alice", "sends privately to Bob (socket %s): %q", page.short(bob_socket), "It ships today.")
  assert(alice.room:send_to(bob_socket, { from = "Alice", text = "It ships today." }))
  await("the private message, and Bob's thanks", function()
    return bob:count("message", function(ev) return ev.options.socketId ~= nil end) == 1 and
      alice:has("Great, thank you!")
  end)
  if alice:count("message", function(ev) return ev.options.socketId ~= nil end) ~= 0 then
    error("Alice got a copy of her private message")
  end

  say("server", "POST /event {channel: room1, data: {order: 1234, status: shipped}} (X-Admin-Key)")
  local reply = post_event(srv, "room1", { order = 1234, status = "shipped" })
  say("server", "delivered the event to %d socket(s)", reply.delivered)
  await("the server event on both", function() return alice:count("event") == 1 and bob:count("event") == 1 end)

  say("server", "restarts: SIGTERM")
  local port = srv.port
  stop_server(srv)
  await("both disconnected", function()
    return alice.vars.myStatus == "disconnected" and bob.vars.myStatus == "disconnected"
  end)
  alice:send("Are you still there?")
  bob:send("Yes, still here.")
  say("Alice", "has %d action(s) queued", alice.client:stats().queued)
  say("Bob", "has %d action(s) queued", bob.client:stats().queued)

  srv = start_server(port)
  say("server", "%s again (same port)", srv.ready)
  await("both reconnected, and the queued messages delivered", function()
    return alice.vars.myStatus == "connected" and bob.vars.myStatus == "connected" and
      bob:has("Are you still there?") and alice:has("Yes, still here.") and
      alice:has("Are you still there?") and bob:has("Yes, still here.")
  end)

  local downs = { Alice = #alice.statuses, Bob = #bob.statuses }
  say("Bob", "clicks Leave room: Close channel room1; myStatus = \"disconnected\"")
  bob.room:close()
  bob.vars.myStatus = "disconnected"
  await("Alice sees Bob leave", function()
    return alice:count("presence_update", function(ev) return ev.payload.action == "leave" end) >= 1 and
      bob.client:status() == "idle"
  end)
  say("Alice", "clicks Leave room: Close channel room1; myStatus = \"disconnected\"")
  alice.room:close()
  alice.vars.myStatus = "disconnected"
  await("Alice's socket closed", function() return alice.client:status() == "idle" end)
  settle(0.5)
  for _, p in ipairs({ alice, bob }) do
    if #p.statuses ~= downs[p.name] then
      error(p.name .. " got a connection_status after leaving: " .. p.statuses[#p.statuses])
    end
  end
  say("check", "no disconnected event after the voluntary closes; myStatus = %q for both",
    alice.vars.myStatus == bob.vars.myStatus and bob.vars.myStatus or "?")

  alice.client:close()
  bob.client:close()
  stop_server(srv)
  say("server", "stopped")
end

core.catch_signals() -- Ctrl-C: stop the server, then exit 1
local ok, err = xpcall(story, debug.traceback)
pcall(stop_server, srv)
local log = io.open(ERRLOG, "r")
local server_err = log and log:read("*a") or ""
if log then log:close() end
os.remove(ERRLOG)
if not ok then
  print()
  print("demo FAILED: " .. tostring(err))
  if server_err:match("%S") then print("server's stderr:\n" .. server_err) end
  os.exit(1)
end
print()
print(("demo passed in %.1f s"):format(now() - T0))
os.exit(0)
