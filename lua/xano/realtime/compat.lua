--- xano.realtime.compat: what the Lua layer needs to behave the same on
--- Lua 5.1, 5.2-5.4 and LuaJIT.  (The C side has src/lua/compat.h.)
local M = {}

--- error(message [, level]) with the levels of Lua 5.2 and later.
---
--- On PUC Lua 5.1 a tail call leaves a "(tail call)" entry on the stack;
--- it counts as a level and has no position.  An error meant for the
--- caller of a method that was reached by a tail call (the self-checking
--- method wrappers of xano.realtime) would then lose the caller's file and
--- line.  Lua 5.2+ and LuaJIT keep no such entry; this error skips it, and
--- is the plain error everywhere else.
M.error = error

if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  local raw_error, getinfo = error, debug.getinfo

  function M.error(message, level)
    level = level or 1
    if level <= 0 then return raw_error(message, 0) end
    -- stack levels as seen from here: 1 is this function, 2 its caller
    local at, seen = 1, 0
    while seen < level do
      at = at + 1
      local info = getinfo(at, "S")
      if not info then break end
      if info.what ~= "tail" then seen = seen + 1 end
    end
    return raw_error(message, at)
  end
end

return M
