-- bench/server.lua - the bundled server (xano.realtime.server, what
-- bin/xano-realtime-server runs) for the benchmarks, with one addition: it
-- notes the time of every WebSocket upgrade it accepts (CLOCK_MONOTONIC,
-- the clock of every benchmark program) and writes them, one per line, to
-- --accepts FILE when it stops on SIGTERM or SIGINT.  With --wait-file, it
-- loads, prints "waiting", and listens only once that file exists.
--
--   lua5.4 bench/server.lua [--port N] [--accepts FILE] [--wait-file FILE]
--
-- Prints "listening ws://127.0.0.1:PORT/rt/bench" once ready.

local function root_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  return dir .. "/.."
end

local ROOT = root_dir()
local VERSION = _VERSION:match("%d+%.%d+")
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("XRT_BUILD") or (ROOT .. "/build/" .. VERSION)) .. "/?.so;" .. package.cpath

local core = require "xano.realtime.core"
core.set_log_level(0)
local server = require "xano.realtime.server"

local port, accepts_file, wait_file = 0, nil, nil
for i = 1, #arg, 2 do
  if arg[i] == "--port" then port = tonumber(arg[i + 1])
  elseif arg[i] == "--accepts" then accepts_file = arg[i + 1]
  elseif arg[i] == "--wait-file" then wait_file = arg[i + 1]
  else
    io.stderr:write("bench/server.lua: unknown argument ", tostring(arg[i]), "\n")
    os.exit(2)
  end
end

core.catch_signals()
-- --wait-file: everything is loaded; listen once the file exists (a restart
-- that takes milliseconds, whatever the machine is doing)
if wait_file then
  io.stdout:write("waiting\n")
  io.stdout:flush()
  local deadline = core.now() + 120
  while core.now() < deadline do
    local f = io.open(wait_file, "r")
    if f then
      f:close()
      break
    end
    if core.signaled() then os.exit(0) end
    core.wait(0.002)
  end
end
local srv, err = server.start{ host = "127.0.0.1", port = port, canonical = "bench" }
if not srv then
  io.stderr:write("bench/server.lua: ", tostring(err), "\n")
  os.exit(1)
end

local accepts = {}
local on_upgrade = srv.on_upgrade
srv.on_upgrade = function(self, id, path, token)
  accepts[#accepts + 1] = core.now()
  return on_upgrade(self, id, path, token)
end

io.stdout:write("listening ", srv:url(), "\n")
io.stdout:flush()
srv:run()
if accepts_file then
  local f = assert(io.open(accepts_file, "w"))
  for i = 1, #accepts do f:write(string.format("%.6f\n", accepts[i])) end
  f:close()
end
srv:close()
os.exit(0)
