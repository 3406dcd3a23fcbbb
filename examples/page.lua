--- page.lua: the part of a WeWeb page the examples need besides
--- xano.realtime, kept out of their way.
---
--- In WeWeb a workflow is a trigger that runs a list of actions.  The
--- realtime triggers and actions are the library's own (ch:on("message"),
--- ch:open(), ch:send() ...); this file gives the rest of the page:
---
---   * where the server is: --url / --canonical / --token, or the
---     environment (XANO_URL, XANO_CANONICAL, XANO_TOKEN);
---   * page variables (app:set logs each change, like WeWeb's debugger);
---   * the UI triggers: On click (app:on_click), a line typed in an input
---     (app:on_input), On page load (app:on_page_load), each run as a
---     workflow;
---   * what fires them: a --script for a bounded headless run, or lines
---     typed on stdin;
---   * a timestamped log, and a run bounded by --seconds.
---
--- Script commands, separated by ";" or new lines (on stdin, prefix them
--- with "/"; any other line is typed text):
---   click NAME          fire the On click triggers of NAME
---   say TEXT            type TEXT (the On input triggers)
---   wait SECONDS        pause the script
---   await VAR=VALUE     pause until a page variable shows VALUE (for a list:
---                       its length); also VAR>=NUMBER, or VAR (any value)
---   quit                leave the page
--- Runs on Lua 5.1 to 5.4 and LuaJIT.

-- Find the modules of this checkout (lua/ and build/<version>/, or the
-- build named by XRT_BUILD), before the installed ones.
local here = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
do
  local root = here .. "/.."
  local probe = io.open(root .. "/lua/xano/realtime.lua", "r")
  if probe then
    probe:close()
    local build = os.getenv("XRT_BUILD")
    if build and build ~= "" and not build:match("^/") then build = root .. "/" .. build end
    build = (build ~= "" and build) or (root .. "/build/" .. _VERSION:match("%d+%.%d+"))
    package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
    package.cpath = build .. "/?.so;" .. package.cpath
  end
end

local realtime = require "xano.realtime"
local core = require "xano.realtime.core" -- a clock and signal handling

local now = core.now
local unpack = table.unpack or unpack

local M = { realtime = realtime, dir = here }

local COMMON = [[
  --url URL          the Xano instance (or the bundled server) base URL
                     [env XANO_URL, default http://127.0.0.1:8080]
  --canonical C      the realtime connection canonical [env XANO_CANONICAL, default local]
  --token T          a realtime auth token [env XANO_TOKEN]
  --name NAME        who you are in the chat [env USER]
  --seconds N        leave the page after N seconds
  --script S         run these UI events instead of reading stdin, e.g.
                     "click support-icon; await myStatus=connected; say hi; quit"
]]

local function fail_usage(usage, msg)
  io.stderr:write(msg, "\n\n", usage, COMMON)
  os.exit(2)
end

-- --key value / --key=value into a table; extra = { key = default } for the
-- example's own options.
local function parse(argv, usage, extra)
  local o = {}
  local known = { url = true, canonical = true, token = true, name = true,
                  seconds = true, script = true }
  for k in pairs(extra or {}) do known[k] = true end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(usage, COMMON)
      os.exit(0)
    end
    local k, v = a:match("^%-%-([%w-]+)=(.*)$")
    if not k then
      k = a:match("^%-%-([%w-]+)$")
      i = i + 1
      v = argv[i]
    end
    if not k or not known[k] then fail_usage(usage, "unknown argument: " .. a) end
    if v == nil then fail_usage(usage, "--" .. k .. " needs a value") end
    o[k] = v
    i = i + 1
  end
  for k, default in pairs(extra or {}) do
    if o[k] == nil then o[k] = default end
  end
  o.url = o.url or os.getenv("XANO_URL") or "http://127.0.0.1:8080"
  o.canonical = o.canonical or os.getenv("XANO_CANONICAL") or "local"
  o.token = o.token or os.getenv("XANO_TOKEN")
  if o.token == "" then o.token = nil end
  o.name = o.name or os.getenv("USER") or "guest"
  if o.seconds then
    o.seconds = tonumber(o.seconds)
    if not o.seconds or o.seconds <= 0 then fail_usage(usage, "--seconds needs a positive number") end
  end
  return o
end

local Page = {}
Page.__index = Page

--- page.new{ title =, usage =, options = { key = default }, stdin = true }
--- parses the command line, creates the client (not connected: channels
--- connect it when they open) and returns the page.
function M.new(spec)
  local o = parse(arg or {}, spec.usage or "", spec.options)
  io.stdout:setvbuf("line")
  local self = setmetatable({
    title = spec.title, opts = o, vars = {}, t0 = now(), id = core.random_hex(4),
    clicks = {}, inputs = {}, loads = {}, inbox = {}, running = false,
    errors = 0, quitting = false, read_stdin = spec.stdin ~= false,
  }, Page)
  self.client = realtime.new{
    url = o.url, canonical = o.canonical, token = o.token,
    reconnect = { initial = 0.5, max = 5 },
  }
  -- a workflow that fails is reported here, and the page exits non-zero
  self.client:on("callback_error", function(ev)
    self.errors = self.errors + 1
    self:log("ERROR in a workflow: %s", ev.payload.traceback or ev.payload.message)
  end)
  self:log("%s: %s as %s", self.title, self.client:url(), o.name)
  return self
end

--- Seconds since the page opened.
function Page:elapsed() return now() - self.t0 end

--- Prints a line stamped with the seconds since the page opened.
function Page:log(fmt, ...)
  local text = select("#", ...) > 0 and fmt:format(...) or fmt
  io.stdout:write(("[%6.2f] %s\n"):format(now() - self.t0, text))
end

local function show(v)
  if type(v) == "table" then return "(" .. #v .. " item" .. (#v == 1 and "" or "s") .. ")" end
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

--- Change variable: sets a page variable and logs it.
function Page:set(name, value)
  self.vars[name] = value
  self:log("%s = %s", name, show(value))
end

--- On click NAME: fn() runs as a workflow.
function Page:on_click(name, fn) self.clicks[name] = self.clicks[name] or {}; table.insert(self.clicks[name], fn) end
--- A line typed in the input and sent: fn(text) runs as a workflow.
function Page:on_input(fn) table.insert(self.inputs, fn) end
--- On page load: fn() runs as a workflow when the page opens (run()).
function Page:on_page_load(fn) table.insert(self.loads, fn) end

-- Runs each trigger of list as its own workflow.
function Page:fire(list, ...)
  local args, n = { ... }, select("#", ...)
  for i = 1, #list do
    local fn = list[i]
    self.client:workflow(function() fn(unpack(args, 1, n)) end)
  end
  return #list
end

--- Simulates a click on the element NAME.
function Page:click(name)
  self:log("On click %s", name)
  if self:fire(self.clicks[name] or {}) == 0 then self:log("(nothing happens on %s)", name) end
end

--- Simulates typing text and pressing Enter.
function Page:type(text)
  self:fire(self.inputs, text)
end

-- Does the page variable match "VAR=VALUE", "VAR>=N" or "VAR"?
function Page:holds(cond)
  local var, op, want = cond:match("^%s*([%w_]+)%s*([>]?=)%s*(.-)%s*$")
  if not var then var = cond:match("^%s*([%w_]+)%s*$") end
  local v = self.vars[var]
  if type(v) == "table" then v = #v end
  if not op then return v ~= nil and v ~= false end
  if op == ">=" then return tonumber(v) ~= nil and tonumber(v) >= (tonumber(want) or math.huge) end
  return tostring(v) == want
end

-- A script that cannot go on: the page closes and exits non-zero.
function Page:give_up(why)
  self:log("script: %s", why)
  self.errors = self.errors + 1
  self.quitting = true
  return true
end

-- One script or stdin command; false when it is not one.
function Page:command(line)
  local cmd, rest = line:match("^%s*(%a+)%s*(.-)%s*$")
  if cmd == "click" and rest ~= "" then
    self:click(rest)
  elseif cmd == "say" then
    self:type(rest)
  elseif cmd == "wait" and tonumber(rest) then
    realtime.sleep(tonumber(rest))
  elseif cmd == "await" and rest ~= "" then
    -- re-checked 20 times a second, for at most 15 seconds
    local deadline = now() + 15
    while not self:holds(rest) do
      if now() > deadline then return self:give_up("gave up waiting for " .. rest) end
      realtime.sleep(0.05)
    end
  elseif cmd == "quit" then
    self.quitting = true
  else
    return false
  end
  return true
end

-- Script items and stdin lines go through one queue, run in order by one
-- workflow at a time, so that "wait" and "await" hold back what follows.
function Page:push(item)
  table.insert(self.inbox, item)
  if self.running then return end
  self.running = true
  self.client:workflow(function()
    while #self.inbox > 0 and not self.quitting do
      local it = table.remove(self.inbox, 1)
      if it.text then
        self:type(it.text)
      elseif not self:command(it.command) then
        if self.opts.script then self:give_up("unknown command: " .. it.command)
        else self:log("unknown command: /%s", it.command) end
      end
    end
    self.running = false
  end)
end

-- A line from stdin: "/command" or text typed in the input.
function Page:stdin_line(line)
  if line:sub(1, 1) == "/" then
    self:push({ command = line:sub(2) })
  elseif line:match("%S") then
    self:push({ text = line })
  end
end

--- Opens the page: runs its On page load triggers, then the script (or
--- stdin) until quit, --seconds, end of input or SIGINT/SIGTERM; then
--- closes the client.  Returns the exit code: 0, or 1 when a workflow (or
--- the script) failed.
function Page:run()
  local client = self.client
  core.catch_signals()
  self:fire(self.loads)
  if self.opts.script then
    for item in (self.opts.script .. ";"):gmatch("([^;\n]*)[;\n]") do
      if item:match("%S") then self:push({ command = item }) end
    end
  end
  local stdin, socket
  if self.read_stdin and not self.opts.script then
    socket = require "socket" -- LuaSocket: select() over stdin and the client
    io.stdin:setvbuf("no")    -- so that select() sees every line still unread
    stdin = { getfd = function() return 0 end, dirty = function() return false end }
  end
  local deadline = self.opts.seconds and self.t0 + self.opts.seconds
  for _ = 1, 1e9 do -- ends by quit, time, input or signal
    if self.quitting then break end
    local sig = core.signaled()
    if sig then self:log("%s: leaving the page", sig) break end
    local wait = 1
    if deadline then
      local left = deadline - now()
      if left <= 0 then
        self:log("time is up (%gs)", self.opts.seconds)
        if self.opts.script and (self.running or #self.inbox > 0) then
          self:give_up("the script did not finish in time")
        end
        break
      end
      if left < wait then wait = left end
    end
    local due = client:timeout()
    if due and due < wait then wait = due end
    if stdin then
      local fd = { getfd = function() return client:fd() end, dirty = function() return false end }
      local ready = socket.select({ stdin, fd }, nil, wait)
      client:poll(0)
      if ready[stdin] then
        local line = io.stdin:read("*l")
        if line == nil then
          -- what was typed before still runs, then the page closes
          stdin = nil
          self:push({ command = "quit" })
        else
          self:stdin_line(line)
        end
        client:poll(0)
      end
    else
      client:poll(wait)
    end
  end
  client:close()
  return self.errors == 0 and 0 or 1
end

--- A short name for a presence entry or a socket id.
function M.short(id)
  if type(id) == "table" then
    local extras = id.extras
    if type(extras) == "table" and extras.name then return tostring(extras.name) end
    id = id.socketId
  end
  return "#" .. tostring(id):sub(1, 6)
end

return M
