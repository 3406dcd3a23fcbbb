--- xano.realtime: a Xano Realtime client for Lua.
---
--- One socket per client carries every channel.  The C core
--- (xano.realtime.core) owns the socket, its service thread, reconnects,
--- pings and the queues; the Lua layer owns option defaults and
--- validation (xano.realtime.options), JSON, the client (routing,
--- xano.realtime.client), its channels (state, presence, history:
--- xano.realtime.channel) and the callbacks, which run only inside poll()
--- / run() on the calling Lua thread.  This module creates clients and
--- polls them all.
local core = require "xano.realtime.core"
local json = require "xano.realtime.json"
local Client = require "xano.realtime.client"
local Channel = require "xano.realtime.channel"
local workflow = require "xano.realtime.workflow"
local options = require "xano.realtime.options"

local type, pairs, getmetatable = type, pairs, getmetatable
local error = require("xano.realtime.compat").error -- error levels as in Lua 5.2+

---@alias xano.realtime.Status "idle"|"connecting"|"connected"|"disconnected"|"closed"

---@class xano.realtime
---@field _VERSION string
---@field null lightuserdata  JSON null, as found in decoded payloads
---@field sleep fun(seconds: number)  in a handler or workflow: waits without blocking the loop
---@field reconnect_codes table<integer, boolean>  close codes (and HTTP statuses) that reconnect
local M = {
  _VERSION = core._VERSION, -- the one version string: the C core's
  null = json.null,
  sleep = workflow.sleep,
}

--- Close codes (and HTTP statuses of a refused upgrade) after which a
--- client reconnects, as a set: options.RECONNECT_CODES says which and
--- why.  Change it before creating clients, or pass reconnect.codes to
--- new().  A close the app asked for (code 1000 from close()) never
--- reconnects.
M.reconnect_codes = {}
for _, code in ipairs(options.RECONNECT_CODES) do M.reconnect_codes[code] = true end

--- Creates a client.  Nothing connects until a channel opens.
---@param opts xano.realtime.Options
---@return xano.realtime.Client
function M.new(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'new' (options table expected, got " .. type(opts) .. ")", 2)
  end
  -- not a tail call: the option errors point at new()'s caller
  local settings, url, codes = options.check(opts, M.reconnect_codes)
  local c = Client._new(settings, url, codes)
  return c
end

--- Polls every client of this Lua state, and resumes every workflow that
--- is due; waits up to timeout for the first event or timer of any of
--- them.  Returns how many callbacks ran.
---@param timeout? number
---@return integer
function M.poll(timeout)
  Client._check_seconds(timeout, "poll")
  local n = workflow.run_due()
  if timeout and timeout > 0 and n == 0 then
    local due = workflow.next_due()
    core.wait(due and due < timeout and due or timeout)
  end
  for c in pairs(Client._clients) do n = n + c:poll(0) end
  return n
end

-- A method called with a dot (client.poll(1)) or on another value raises a
-- clear error, the way Lua's own methods do, instead of "attempt to index a
-- nil value".  The check tail-calls the method, so the error levels the
-- methods use still point at the app's line.
local function guard_self(class, what)
  local names = {}
  for name, fn in pairs(class) do
    if type(fn) == "function" and not name:find("^_") then names[#names + 1] = name end
  end
  for i = 1, #names do
    local name = names[i]
    local fn = class[name]
    class[name] = function(self, ...)
      if getmetatable(self) ~= class then
        error("calling '" .. name .. "' on bad self (" .. what .. " expected, got " .. type(self) .. ")", 2)
      end
      return fn(self, ...)
    end
  end
end
guard_self(Client, "xano.realtime client")
guard_self(Channel, "xano.realtime channel")

return M

