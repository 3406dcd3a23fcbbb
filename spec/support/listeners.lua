-- Listeners that misbehave the way hosts on real networks do, for the
-- specs of addresses and timeouts; each is tracked (helpers.track), so
-- that cleanup closes it.
local socket = require "socket"
local H = require "support.helpers"

local M = {}

-- A listener on addr:port (port 0: any) that never accepts: its backlog
-- is full, so the kernel drops every further SYN, as a host behind a
-- firewall that drops packets does.  Returns the port.
function M.never_accepts(addr, port)
  local l = assert(socket.tcp())
  assert(l:bind(addr, port or 0))
  assert(l:listen(0))
  local _, bound = l:getsockname()
  local fillers = {}
  for i = 1, 4 do
    local s = socket.tcp()
    s:settimeout(0)
    s:connect(addr, bound)
    fillers[i] = s
  end
  H.track({ close = function()
    for _, s in ipairs(fillers) do s:close() end
    l:close()
  end })
  return tonumber(bound)
end

-- A listener on 127.0.0.1 that accepts and never says a word.  Returns
-- the port and the list of connections it holds (filled as it is polled).
function M.never_answers()
  local l = assert(socket.bind("127.0.0.1", 0))
  l:settimeout(0)
  local held = {}
  local _, port = l:getsockname()
  H.track({
    poll = function()
      local a = l:accept()
      if a then held[#held + 1] = a return 1 end
      return 0
    end,
    close = function()
      for _, s in ipairs(held) do s:close() end
      l:close()
    end,
  })
  return tonumber(port), held
end

return M
