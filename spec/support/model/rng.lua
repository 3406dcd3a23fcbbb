-- A small seeded random generator (Park-Miller, 16807 mod 2^31-1), exact
-- in doubles, so that a seed gives the same sequence on every Lua.
local Rng = {}
Rng.__index = Rng

local M = 2147483647

function Rng.new(seed)
  local s = math.floor(tonumber(seed) or 1) % M
  if s <= 0 then s = s + M - 1 end
  return setmetatable({ s = s }, Rng)
end

-- an integer in [1, n]
function Rng:int(n)
  self.s = (self.s * 16807) % M
  return 1 + math.floor((self.s - 1) / (M - 1) * n)
end

-- true with probability p
function Rng:chance(p)
  return self:int(1000000) <= p * 1000000
end

-- one of the items of list; or, with weights {{w, item}, ...}, weighted
function Rng:pick(list)
  return list[self:int(#list)]
end

function Rng:weighted(list)
  local total = 0
  for i = 1, #list do total = total + list[i][1] end
  local r = self:int(total)
  for i = 1, #list do
    r = r - list[i][1]
    if r <= 0 then return list[i][2] end
  end
  return list[#list][2]
end

return Rng
