-- Run by spec/security_spec.lua as a separate process, so that everything
-- it writes to its stdout and stderr (file descriptors 1 and 2, the C
-- side and libwebsockets included) can be searched for the token.
--
--   lua spec/support/token_child.lua BUILD URL TOKEN GOOD_TOKEN
--
-- With every libwebsockets log level on, two clients present TOKEN to a
-- server that refuses it: one with handlers, whose every event payload,
-- stats and last close reason are written to stdout, and one without, so
-- that the library writes its unhandled errors to stderr itself.  Then the
-- first switches to GOOD_TOKEN (accepted), and the app makes mistakes with
-- tokens (invalid ones), whose error messages go to stdout too.  Ends with
-- the line "done".
local build, url, token, good = arg[1], arg[2], arg[3], arg[4]
package.path = "lua/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath
local core = require "xano.realtime.core"
core.set_log_level(4095) -- every level libwebsockets has (and set_log_level allows)
local realtime = require "xano.realtime"

local function dump(v, out)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do
      out[#out + 1] = k .. "="
      dump(v[k] ~= nil and v[k] or v[tonumber(k)], out)
      out[#out + 1] = ";"
    end
  else
    out[#out + 1] = tostring(v)
  end
  return out
end

local function say(...)
  io.stdout:write(table.concat({ ... }, " "), "\n")
  io.stdout:flush()
end

local opts = { url = url, canonical = "test", token = token, reconnect = { initial = 0.02, max = 0.05 } }
local seen = 0
local a = realtime.new(opts)
a:on(function(ev) say("event", ev.action, table.concat(dump(ev.payload, {}))) end)
for _, what in ipairs({ "connection_status", "error", "reconnecting", "callback_error" }) do
  a:on(what, function(ev)
    seen = seen + 1
    say("event", what, table.concat(dump(ev.payload, {})))
  end)
end
local b = realtime.new(opts) -- no handlers: its errors go to stderr
local cha = a:channel("room", { queue_offline = true })
cha:on(function(ev) say("channel event", ev.action, table.concat(dump(ev.payload, {}))) end)
cha:open()
cha:send("queued while refused")
b:channel("room"):open()

local deadline = core.now() + 10
while (a:status() ~= "disconnected" or b:status() ~= "disconnected" or seen < 2) and core.now() < deadline do
  realtime.poll(0.05)
end
say("status", a:status(), b:status())
say("stats a", table.concat(dump(a:stats(), {})))
say("stats b", table.concat(dump(b:stats(), {})))
say("tostring", tostring(a), a:url())

-- the app's mistakes with tokens
for _, bad in ipairs({ token .. " x", token .. ",", token .. "\n" }) do
  say("set_token error", select(2, pcall(a.set_token, a, bad)))
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.token = bad
  say("new error", select(2, pcall(realtime.new, o)))
end

-- a good token: accepted, the queued message goes
a:set_token(good)
deadline = core.now() + 10
while (a:status() ~= "connected" or a:stats().queued > 0) and core.now() < deadline do
  realtime.poll(0.05)
end
say("status after the good token", a:status())
say("stats a", table.concat(dump(a:stats(), {})))
a:close()
b:close()
say("done")
