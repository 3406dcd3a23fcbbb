-- Background processes for the host specs (game-loop host, nginx, a Lua
-- interpreter): each runs in its own session, so that kill() ends it and
-- whatever it started, with its output in a file read back as it grows.
-- Nothing here waits: the specs wait with H.wait_until.
local socket = require "socket"

local P = {}

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
P.quote = quote

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
P.read = read

-- Writes text to dir/name; returns the path.
function P.write(dir, name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- The variables that let a Lua started from the checkout's root find its
-- lua/ and the build (e.g. "build/5.4"), whatever the Lua's version,
-- plus the entries of extra.
function P.module_env(build, extra)
  local path, cpath = "lua/?.lua;lua/?/init.lua;;", build .. "/?.so;;"
  local env = { LUA_PATH = path, LUA_CPATH = cpath, LUA_PATH_5_3 = path, LUA_CPATH_5_3 = cpath,
    LUA_PATH_5_4 = path, LUA_CPATH_5_4 = cpath }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

-- Runs a shell command; returns true when it exits 0, and its output.
function P.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"exit:$?\"", "r"))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit:(%d+)%s*$"))
  return code == 0, (out:gsub("exit:%d+%s*$", "")), code
end

-- A fresh directory under $TMPDIR (removed by P.rmdir).
function P.tmpdir(tag)
  local ok, out = P.sh("mktemp -d \"${TMPDIR:-/tmp}/xrt-" .. (tag or "spec") .. ".XXXXXX\"")
  assert(ok, "mktemp: " .. out)
  return (out:gsub("%s+$", ""))
end

function P.rmdir(dir)
  if dir and dir:match("/xrt%-[%w_-]+%.%w+$") then P.sh("rm -rf " .. quote(dir)) end
end

-- /proc/PID/stat: state, ppid, pgrp (nil when the process is gone)
function P.stat(pid)
  local s = read("/proc/" .. pid .. "/stat")
  if not s then return nil end
  local state, ppid, pgrp = s:match("%) (%S) (%d+) (%d+)")
  return state, tonumber(ppid), tonumber(pgrp)
end

-- Is the process running (a zombie nobody reaped counts as gone)?
function P.alive(pid)
  local state = P.stat(pid)
  return state ~= nil and state ~= "Z" and state ~= "X"
end

-- Every pid with a /proc entry.
function P.pids()
  local p = assert(io.popen("ls /proc", "r"))
  local list = {}
  for name in p:lines() do
    if name:match("^%d+$") then list[#list + 1] = tonumber(name) end
  end
  p:close()
  return list
end

-- The live processes whose parent (field "ppid") or group ("pgrp") is id.
function P.select(field, id)
  local out = {}
  for _, pid in ipairs(P.pids()) do
    local state, ppid, pgrp = P.stat(pid)
    if state and state ~= "Z" and state ~= "X" and
       ((field == "ppid" and ppid == id) or (field == "pgrp" and pgrp == id)) then
      out[#out + 1] = pid
    end
  end
  table.sort(out)
  return out
end

local Proc = {}
Proc.__index = Proc

-- Runs Lua code in a child process of the Lua the specs run on (XRT_LUA)
-- that finds the modules this process finds: the code is written to
-- dir/<name>.lua after a line that sets this process's package.path and
-- package.cpath; args follow the script on its command line (arg[1]...).
-- The handle's output and status go to dir too.
function P.spawn_lua(dir, name, code, args)
  local script = P.write(dir, name .. ".lua",
    ("package.path = %q .. package.path; package.cpath = %q .. package.cpath\n")
      :format(package.path .. ";", package.cpath .. ";") .. code)
  local argv = { os.getenv("XRT_LUA") or "lua5.4", script }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return P.spawn(argv, { dir = dir })
end

-- spawn(argv, opts): argv is a list of words (quoted here) or a shell
-- string; opts.dir (where out/status go; a new tmpdir by default),
-- opts.env (table of variables).  Returns a handle.
function P.spawn(argv, opts)
  opts = opts or {}
  local dir = opts.dir or P.tmpdir("proc")
  local cmd = argv
  if type(argv) == "table" then
    local words = {}
    for i = 1, #argv do words[i] = quote(argv[i]) end
    cmd = table.concat(words, " ")
  end
  local env = {}
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. quote(v) end
  if #env > 0 then cmd = "env " .. table.concat(env, " ") .. " " .. cmd end
  local self = setmetatable({ dir = dir, out = dir .. "/out", statusfile = dir .. "/status",
    own_dir = not opts.dir }, Proc)
  local inner = "exec 0</dev/null; " .. cmd .. " > " .. quote(self.out) .. " 2>&1; echo $? > " ..
    quote(self.statusfile .. ".tmp") .. " && mv " .. quote(self.statusfile .. ".tmp") .. " " ..
    quote(self.statusfile)
  local p = assert(io.popen("setsid sh -c " .. quote(inner) .. " >/dev/null 2>&1 & echo $!", "r"))
  self.pid = tonumber(p:read("*l"))
  p:close()
  assert(self.pid, "could not start: " .. cmd)
  return self
end

function Proc:output()
  return read(self.out) or ""
end

-- Has the command exited?  Then its exit status.
function Proc:exited()
  local s = read(self.statusfile)
  return s ~= nil and s:find("%d") ~= nil
end

function Proc:status()
  return tonumber(read(self.statusfile) or "")
end

-- Ends the session: TERM, and KILL for whatever is still there after a
-- bounded wait; removes the directory it made.  Safe to call twice.
function Proc:kill()
  if self.pid then
    local pgid = self.pid
    if #P.select("pgrp", pgid) > 0 then
      os.execute("kill -TERM -" .. pgid .. " 2>/dev/null")
      local deadline = socket.gettime() + 5
      while #P.select("pgrp", pgid) > 0 and socket.gettime() < deadline do
        socket.select(nil, nil, 0.02)
      end
      if #P.select("pgrp", pgid) > 0 then os.execute("kill -KILL -" .. pgid .. " 2>/dev/null") end
    end
  end
  self.pid = nil
  if self.own_dir then P.rmdir(self.dir) end
end

return P
