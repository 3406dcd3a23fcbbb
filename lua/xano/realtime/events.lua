--- xano.realtime.events - the Lua side of the boundary between the C core
--- and Lua.  The core describes every event it hands up (core.events, built
--- from src/transport/events.def): per side ("client" or "server"), each event's name
--- and the name and type of each of its fields.  An endpoint's next()
--- returns the event's name, then its fields as typed values (no table).
---
--- bind() checks a table of handlers against that description when a
--- module loads, so that C and Lua cannot drift apart: one handler per
--- event the side receives and none for any other, each a function
--- (self, <the event's fields, named as the description names them>).
--- A poll loop then passes the values on without knowing what they mean:
---
---   local kind, v1, v2, v3 = h:next()
---   n = n + ON[kind](self, v1, v2, v3)

local core = require "xano.realtime.core"

local M = {}

--- How many values after the name a poll loop passes on to a handler.
M.FORWARDED = 3

-- A function's parameter names, or nil where the debug library does not
-- tell them (Lua 5.1; LuaJIT and Lua 5.2+ do).
local function parameters(f)
  local info = debug.getinfo(f, "u")
  if not info.nparams then return nil end
  local names = {}
  for i = 1, info.nparams do names[i] = debug.getlocal(f, i) end
  return names, info.isvararg
end

local function field_list(fields)
  local names = { "self" }
  for i = 1, #fields do names[i + 1] = fields[i].name end
  return table.concat(names, ", ")
end

--- The description of side's events (core.events[side]).
---@param side "client"|"server"
---@return table<string, {name: string, type: string}[]>
function M.described(side)
  local d = core.events[side]
  if not d then error("xano.realtime.events: unknown side '" .. tostring(side) .. "'", 2) end
  return d
end

--- Checks handlers against the events side receives and returns them.
--- Raises, naming the event, when one is missing, unknown, or does not
--- take the event's fields by their names.
---@param side "client"|"server"
---@param handlers table<string, function>
---@param description? table  the events described (default: the core's)
---@return table<string, function>
function M.bind(side, handlers, description)
  local d = description or M.described(side)
  local where = "xano.realtime.events: the " .. side .. "'s "
  for name, fields in pairs(d) do
    local f = handlers[name]
    if type(f) ~= "function" then
      error(where .. "'" .. name .. "' event has no handler (function(" .. field_list(fields) .. "))", 2)
    end
    if #fields > M.FORWARDED then
      error(where .. "'" .. name .. "' event has " .. #fields .. " fields; a poll passes on " ..
        M.FORWARDED, 2)
    end
    local got, vararg = parameters(f)
    if got then
      local want = field_list(fields)
      if vararg or table.concat(got, ", ") ~= want then
        error(where .. "'" .. name .. "' handler takes (" .. table.concat(got, ", ") ..
          (vararg and ", ..." or "") .. "); the event carries (" .. want .. ")", 2)
      end
    end
  end
  for name in pairs(handlers) do
    if not d[name] then
      error(where .. "handler '" .. tostring(name) .. "' is for an event the " .. side ..
        " never receives", 2)
    end
  end
  return handlers
end

return M
