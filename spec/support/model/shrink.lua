-- Delta debugging (Zeller's ddmin): the shortest failing subsequence it
-- can find within a time budget.  fails(steps) runs a candidate and says
-- whether it still fails the same way.
local core = require "xano.realtime.core"

local S = {}

-- S.shrink(steps, fails, seconds) -> shortest failing steps, tries
function S.shrink(steps, fails, seconds)
  local deadline = core.now() + seconds
  local tries = 0
  local n = 2
  while #steps >= 2 and core.now() < deadline do
    local size = math.ceil(#steps / n)
    local reduced = false
    for start = 1, #steps, size do
      if core.now() >= deadline then break end
      local rest = {}
      for i = 1, #steps do
        if i < start or i >= start + size then rest[#rest + 1] = steps[i] end
      end
      tries = tries + 1
      if #rest > 0 and fails(rest) then
        steps = rest
        n = math.max(n - 1, 2)
        reduced = true
        break
      end
    end
    if not reduced then
      if size <= 1 then break end
      n = math.min(n * 2, #steps)
    end
  end
  return steps, tries
end

return S
