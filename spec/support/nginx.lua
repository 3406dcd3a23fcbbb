-- nginx for the specs: starts the OpenResty example (examples/openresty)
-- in a prefix of its own, talks HTTP to it on 127.0.0.1, and looks at its
-- processes from outside (/proc: workers, threads, sockets).
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"
local P = require "support.proc"

package.path = "examples/openresty/?.lua;" .. package.path
local launch = require "launch"

local N = { launch = launch }

N.LUAJIT_BUILD = os.getenv("XRT_BUILD_LUAJIT") or "build/luajit"

-- Starts nginx; o as for launch.start (url, workers, template, vars, env).
-- Returns a handle; N.stop(handle) ends it whatever state it is in.
-- nginx runs in the foreground (daemon off) under P.spawn, so that its
-- master and workers are one session that dies with the spec process;
-- launch.lua writes the configuration, as for a user.
function N.start(o)
  local so = io.open(N.LUAJIT_BUILD .. "/xano/realtime/core.so", "r")
  assert(so, N.LUAJIT_BUILD .. "/xano/realtime/core.so is missing: make LUA=luajit builds it")
  so:close()
  local prefix = P.tmpdir("nginx")
  o.prefix = prefix
  local err
  for _ = 1, 3 do -- launch.lua's free port may be taken before nginx binds it
    local cfg = launch.prepare(o)
    local proc = P.spawn({ launch.NGINX, "-p", cfg.prefix, "-c", cfg.conf, "-g", "daemon off;" },
      { env = o.env })
    -- the master writes its pid file once it listens
    local deadline = socket.gettime() + 20
    while not launch.master_pid(cfg) and not proc:exited() and socket.gettime() < deadline do
      socket.select(nil, nil, 0.01)
    end
    if launch.master_pid(cfg) and not proc:exited() then
      cfg.proc, cfg.env = proc, o.env
      cfg.master = launch.master_pid(cfg)
      return cfg
    end
    err = proc:output() .. (P.read(cfg.prefix .. "/logs/error.log") or "")
    proc:kill()
    if o.port or not err:find("Address already in use", 1, true) then break end
  end
  P.rmdir(prefix)
  error("nginx did not start: " .. tostring(err), 2)
end

-- nginx -s SIGNAL for this instance.
function N.signal(h, sig)
  return launch.nginx(h, "-s " .. sig, h.env)
end

-- The live worker processes of the master (sorted pids).
function N.workers(h)
  return P.select("ppid", h.master)
end

function N.error_log(h)
  return P.read(h.prefix .. "/logs/error.log") or ""
end

-- Raises if the error log shows a worker that crashed or any error,
-- alert or emergency line (a worker killed by a signal is restarted by the
-- master, so the HTTP side alone would not show it).
function N.assert_clean_log(h)
  local log = N.error_log(h)
  for line in log:gmatch("[^\n]+") do
    if line:find("exited on signal", 1, true) or line:find("%[error%]") or
       line:find("%[crit%]") or line:find("%[alert%]") or line:find("%[emerg%]") then
      error("nginx error log:\n" .. log, 2)
    end
  end
end

-- Stops nginx (quit, then TERM/KILL for what is left of its session
-- after a bounded wait) and removes its prefix.  Safe on a half-started
-- or stopped one.
function N.stop(h)
  if not h or h.stopped then return end
  h.stopped = true
  local function left()
    local n = #N.workers(h)
    if P.alive(h.master) then n = n + 1 end
    return n
  end
  if left() > 0 then
    N.signal(h, "quit")
    local deadline = socket.gettime() + 10
    while left() > 0 and socket.gettime() < deadline do socket.select(nil, nil, 0.02) end
  end
  h.proc:kill() -- TERM, then KILL, for whatever is left of the session
  if not os.getenv("XRT_KEEP_NGINX") then P.rmdir(h.prefix) end
end

-- One HTTP request (Connection: close) to nginx.  Returns the status, the
-- decoded JSON body (or the raw text), and the seconds it took.
function N.request(h, method, path, body)
  local out = {}
  local t0 = socket.gettime()
  local ok, code = http.request{
    url = h.base .. path, method = method,
    headers = body and { ["content-type"] = "application/json", ["content-length"] = #body } or nil,
    source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(out),
    create = function()
      local s = socket.tcp()
      s:settimeout(5)
      return s
    end,
  }
  local took = socket.gettime() - t0
  local text = table.concat(out)
  if not ok then return nil, code, took end
  local okj, v = pcall(cjson.decode, text)
  return code, okj and v or text, took
end

function N.get(h, path) return N.request(h, "GET", path) end
function N.post(h, path, t) return N.request(h, "POST", path, cjson.encode(t)) end

-- Threads of a process (the entries of /proc/PID/task).
function N.threads(pid)
  local s = P.read("/proc/" .. pid .. "/status")
  return s and tonumber(s:match("\nThreads:%s*(%d+)"))
end

-- The socket inodes a process holds (from its /proc/PID/fd links).
function N.socket_inodes(pid)
  local _, out = P.sh("ls -l /proc/" .. pid .. "/fd 2>/dev/null")
  local list = {}
  for ino in out:gmatch("socket:%[(%d+)%]") do list[#list + 1] = ino end
  return list
end

-- TCP sockets of the machine whose remote end is 127.0.0.1:port, as
-- { inode = state } (state "01" is ESTABLISHED), from /proc/net/tcp.
function N.tcp_to(port)
  local text = P.read("/proc/net/tcp") or ""
  local t = {}
  local want = ("0100007F:%04X"):format(port)
  for line in text:gmatch("[^\n]+") do
    local rem, st, ino = line:match("^%s*%d+:%s+%x+:%x+%s+(%x+:%x+)%s+(%x+)%s+%S+%s+%S+%s+%S+%s+%S+%s+%S+%s+(%d+)")
    if rem == want and ino ~= "0" then t[ino] = st end
  end
  return t
end

-- How many of pid's sockets are connected to 127.0.0.1:port.
function N.connections(pid, port)
  local tcp = N.tcp_to(port)
  local n = 0
  for _, ino in ipairs(N.socket_inodes(pid)) do
    if tcp[ino] == "01" then n = n + 1 end
  end
  return n
end

return N
