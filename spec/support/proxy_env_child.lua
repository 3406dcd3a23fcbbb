-- Run by spec/client_proxy_spec.lua as a separate process, so that the
-- proxy variables of its environment are the ones the spec chose:
--
--   lua spec/support/proxy_env_child.lua BUILD URL [no-proxy-option]
--
-- Opens a channel on URL and prints "connected" once connected (then sends
-- "hello" and prints the echo), or "disconnected: <reason>".  With a third
-- argument the client is created with proxy = false.
local build, url, off = arg[1], arg[2], arg[3]
package.path = "lua/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath
local realtime = require "xano.realtime"
local now = require("xano.realtime.core").now

io.stdout:setvbuf("line")
local opts = { url = url, canonical = "px", reconnect = { initial = 30, max = 30 } }
if off then opts.proxy = false end
local c = realtime.new(opts)
local ch = c:channel("room")
local done
ch:on("message", function(m) print("echo: " .. tostring(m.payload)); done = true end)
c:on("connection_status", function(e)
  if e.payload.status == "connected" then
    print("connected")
    ch:send("hello")
  else
    print("disconnected: " .. tostring(e.payload.reason))
    done = true
  end
end)
ch:open()
local deadline = now() + 10
while not done and now() < deadline do c:poll(0.05) end
c:close()
