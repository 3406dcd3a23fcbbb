-- Processes for the specs: the one way a spec starts a program, waits for
-- it and stops it.
--
--   local P = require "support.proc"
--   local p = H.track(P.spawn({ LUA, "bin/xano-realtime-server", "--port", "0" },
--                             { stderr = "split" }))
--   H.wait_until(function() return p:output():find("\n") or p:exited() end, "the ready line")
--   p:signal("TERM")                      -- to the program alone
--   H.wait_until(function() return p:exited() end, "the exit")
--   assert.equal(0, p:status())
--   p:kill()                              -- H.cleanup does it too (close = kill)
--
-- Each program runs in a session of its own, under a small sh that waits
-- for it and writes its exit status to a file; its output goes to files
-- that the spec reads as they grow.  Nothing here waits for the program:
-- the specs wait with H.wait_until (or a loop of their own), with a
-- deadline.  kill() ends the whole session: TERM, then KILL for what is
-- left after a bounded wait.  Nothing outlives the spec process either:
-- the session holds the read end of a pipe whose only writer is this
-- process, and when that pipe closes (this process exits, crashes or is
-- killed, or drops the handle without kill()) it removes its directory
-- and KILLs itself (spec/support/session.sh).
--
-- P.sh runs a short command to its end (bounded by `timeout`) and returns
-- its output.
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

-- The checkout's root: the directory the specs run in (not $PWD, which
-- is the caller's under make -C).
do
  local p = assert(io.popen("pwd", "r"))
  P.ROOT = p:read("*l")
  p:close()
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

-- Runs a shell command to its end, at most timeout seconds (default 300;
-- then it is killed and the exit code is 124); returns true when it exits
-- 0, its output (stdout and stderr), and its exit code.
function P.sh(cmd, timeout)
  timeout = timeout or 300
  local p = assert(io.popen("timeout -k 5 " .. timeout .. " sh -c " .. quote(cmd) ..
    " </dev/null 2>&1; echo \"exit:$?\"", "r"))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit:(%d+)%s*$"))
  out = out:gsub("exit:%d+%s*$", "")
  if code == 124 then out = out .. "(timed out after " .. timeout .. " s: " .. cmd .. ")\n" end
  return code == 0, out, code
end

-- The lines a short command prints (stdout and stderr: redirect what is
-- not wanted), e.g. the files of a folder: P.lines("ls docs"); then
-- whether it exited 0.
function P.lines(cmd, timeout)
  local ok, out = P.sh(cmd, timeout)
  local list = {}
  for line in out:gmatch("[^\n]+") do list[#list + 1] = line end
  return list, ok
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

-- Sends signal sig (a name: "TERM", "KILL", ...) to pid, or to the
-- process group -pid when pid is negative; true when it was delivered.
function P.signal(pid, sig)
  local r = os.execute("kill -s " .. sig .. " -- " .. string.format("%d", pid) .. " 2>/dev/null")
  return r == true or r == 0
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

-- Polls pred every few milliseconds until it is true or seconds pass;
-- returns its last value.  Only for what takes milliseconds (a process
-- starting or dying): the specs' own waits go through H.wait_until.
local function within(seconds, pred)
  local deadline = socket.gettime() + seconds
  local pause = 0.001
  for _ = 1, 100000 do
    local v = pred()
    if v or socket.gettime() >= deadline then return v end
    socket.select(nil, nil, pause)
    pause = math.min(pause * 2, 0.02)
  end
  return pred()
end

-- The sh that runs each program (its header says what it does).
local SESSION = (function()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "spec/support"
  if dir:sub(1, 1) ~= "/" then dir = P.ROOT .. "/" .. dir end
  return dir .. "/session.sh"
end)()

local Proc = {}
Proc.__index = Proc

-- spawn(argv, opts): starts a program and returns its handle at once.
-- argv is a list of words (passed as they are, no shell) or a shell line
-- (run by sh -c).  opts.env: variables to add; opts.stderr = "split" keeps
-- stderr apart (p:stderr()), else it goes with stdout into p:output();
-- opts.stdin = true gives the program a pipe that p:write() feeds and
-- p:close_stdin() ends (else its stdin is /dev/null).  The handle's
-- files live in a directory of its own, removed by kill().
function P.spawn(argv, opts)
  opts = opts or {}
  local words = {}
  if type(argv) == "table" then
    for i = 1, #argv do words[i] = argv[i] end
  else
    words = { "/bin/sh", "-c", argv }
  end
  assert(#words > 0, "spawn: no program")
  local env = {}
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. tostring(v) end
  if #env > 0 then
    table.sort(env)
    table.insert(env, 1, "env")
    for i = #env, 1, -1 do table.insert(words, 1, env[i]) end
  end
  local dir = P.tmpdir("proc")
  local self = setmetatable({ dir = dir, argv = words, out = dir .. "/out", split = opts.stderr == "split" }, Proc)
  local stdin = "/dev/null"
  if opts.stdin then
    stdin = dir .. "/stdin"
    local ok, err = P.sh("mkfifo " .. quote(stdin))
    assert(ok, "mkfifo: " .. err)
  end
  local q = {}
  for i = 1, #words do q[i] = quote(words[i]) end
  self.guard = assert(io.popen("setsid -f sh " .. quote(SESSION) .. " " .. quote(dir) .. " " ..
    (self.split and "split" or "merge") .. " " .. quote(stdin) .. " " .. table.concat(q, " ") ..
    " >/dev/null 2>&1", "w"))
  self.pid = within(10, function() return tonumber((read(dir .. "/session") or ""):match("^(%d+)\n")) end)
  if not self.pid then
    self:kill()
    error("could not start: " .. table.concat(words, " "), 2)
  end
  if opts.stdin then
    -- a cat of ours feeds the pipe; it opens the pipe read-write, so that
    -- neither its open nor the program's waits for the other, and the
    -- program sees the end of its input when we close cat's stdin
    self.stdin = assert(io.popen("exec cat 1<> " .. quote(stdin), "w"))
  end
  return self
end

-- Runs Lua code in a child process of the Lua the specs run on (XRT_LUA)
-- that finds the modules this process finds: the code is written to
-- dir/<name>.lua after a line that sets this process's package.path and
-- package.cpath; args follow the script on its command line (arg[1]...).
function P.spawn_lua(dir, name, code, args, opts)
  local script = P.write(dir, name .. ".lua",
    ("package.path = %q .. package.path; package.cpath = %q .. package.cpath\n")
      :format(package.path .. ";", package.cpath .. ";") .. code)
  local argv = { os.getenv("XRT_LUA") or "lua5.4", script }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return P.spawn(argv, opts)
end

-- What the program wrote so far: stdout (with stderr unless split).
function Proc:output()
  return read(self.out) or ""
end
Proc.stdout = Proc.output

-- What it wrote to stderr so far ("" unless opts.stderr = "split").
function Proc:stderr()
  return self.split and read(self.dir .. "/err") or ""
end

-- Has the program exited?
function Proc:exited()
  local s = read(self.dir .. "/status")
  return s ~= nil and s:find("%d") ~= nil
end

-- Its exit status once it has exited (128 + N when signal N ended it),
-- else nil.
function Proc:status()
  return tonumber(read(self.dir .. "/status") or "")
end

-- The program's own pid (nil once the handle is killed, or if it never
-- started).
function Proc:main_pid()
  if not self.pid then return nil end
  if not self._main then
    self._main = within(10, function()
      return tonumber((read(self.dir .. "/main") or ""):match("^(%d+)\n")) or self:exited()
    end)
    if self._main == true then self._main = nil end
  end
  return self._main
end

-- Is the program still running?
function Proc:alive()
  local pid = self:main_pid()
  return pid ~= nil and not self:exited() and P.alive(pid)
end

-- Sends signal sig ("TERM", "INT", "KILL", ...) to the program alone (for
-- a shell line, to the sh that runs it); true when it was delivered.
function Proc:signal(sig)
  if not self:alive() then return false end
  return P.signal(self:main_pid(), sig)
end

-- Types a line into the program's stdin (opts.stdin).
function Proc:write(line)
  assert(self.stdin, "the process has no stdin pipe (spawn with stdin = true)")
  self.stdin:write(line, "\n")
  self.stdin:flush()
end

-- Ends the program's stdin: it reads the end of its input.
function Proc:close_stdin()
  if self.stdin then
    self.stdin:close()
    self.stdin = nil
  end
end

-- Ends the session: TERM to every process in it, KILL after grace seconds
-- (default 5; 0 sends KILL at once) for whatever is left, and a bounded
-- wait until the program and the session's sh are gone; then removes the
-- handle's directory.  Safe to call twice.
function Proc:kill(grace)
  grace = grace or 5
  local pid, main = self.pid, self._main or tonumber((read(self.dir .. "/main") or ""):match("^(%d+)\n"))
  self.pid = nil
  local function running()
    return P.alive(pid) or (main ~= nil and P.alive(main))
  end
  if pid then
    if grace > 0 and running() then
      P.signal(-pid, "TERM")
      within(grace, function() return not running() end)
    end
    P.signal(-pid, "KILL")
    within(5, function() return not running() end)
  end
  self:close_stdin()
  if self.guard then
    self.guard:close()
    self.guard = nil
  end
  P.rmdir(self.dir)
end

-- For H.track: cleanup kills it.
Proc.close = Proc.kill

function Proc:__tostring()
  local state = not self.guard and "killed" or self:exited() and ("exited " .. tostring(self:status())) or "running"
  return ("process (%s): %s"):format(state, table.concat(self.argv, " "))
end

return P
