-- Runs sequences against a fresh world, and on a failure shrinks it.
local G = require "support.model.gen"
local W = require "support.model.world"
local O = require "support.model.oracle"
local S = require "support.model.shrink"
local core = require "xano.realtime.core"

local R = {}

-- what a run must end with: the network healed, every client closed, and
-- a settle after each
local function tail()
  local t = { { op = "unstall" }, { op = "fast" }, { op = "server_start" }, { op = "settle" } }
  for k = 1, G.MAX_CLIENTS do t[#t + 1] = { op = "client_close", c = k } end
  t[#t + 1] = { op = "settle" }
  return t
end

-- R.run(steps) -> nil, or { step = i, text = "...", kind = "..." }
function R.run(steps)
  local oracle = O.new()
  local world = W.new(oracle)
  local skipped = {}
  local ok, err = pcall(function()
    world:setup()
    oracle:new_batch(world)
    oracle.batch.start_down = {}
    local all = {}
    for _, s in ipairs(steps) do all[#all + 1] = s end
    for _, s in ipairs(tail()) do all[#all + 1] = s end
    for i, s in ipairs(all) do
      local applied = oracle:step(world, s)
      if i <= #steps then skipped[i] = not applied end
      if R.TRACE then io.stderr:write(("  %6.3f %s%s\n"):format(core.now(), G.describe(s), applied and "" or " (skipped)")) end
      if #oracle.violations > 0 then
        return { step = i, text = oracle.violations[1], all = oracle.violations }
      end
    end
  end)
  world:close()
  if not ok then return { step = 0, text = "error: " .. tostring(err), all = { tostring(err) } } end
  local failure = err
  if failure then
    failure.kind = failure.text:gsub("%d+", "#")
    failure.skipped = skipped
  end
  return failure
end

local function report(seed, steps, failure, shrunk, tries)
  local lines = {
    ("model: seed %s fails: %s"):format(tostring(seed), failure.text),
  }
  for i = 2, math.min(#failure.all, 4) do lines[#lines + 1] = "  also: " .. failure.all[i] end
  lines[#lines + 1] = ("shortest failing sequence found (%d of %d steps, %d tries; the run then heals the network, closes every client and settles):")
    :format(#shrunk.steps, #steps, tries)
  lines[#lines + 1] = G.format(shrunk.steps)
  lines[#lines + 1] = "  which fails with: " .. shrunk.failure.text
  lines[#lines + 1] = ("replay: XRT_MODEL_SEED=%s make test LUA=lua5.4 SPEC=spec/model_spec.lua"):format(tostring(seed))
  return table.concat(lines, "\n")
end

R.TRACE = os.getenv("XRT_MODEL_TRACE") == "1"
R.SHRINK_SECONDS = tonumber(os.getenv("XRT_MODEL_SHRINK_SECONDS")) or 120
R.LENGTH = tonumber(os.getenv("XRT_MODEL_STEPS")) or 30

-- R.seed(seed) -> nil, or the report of the failure (with the shrunk sequence)
function R.seed(seed, length)
  local steps = G.sequence(seed, length or R.LENGTH)
  local failure = R.run(steps)
  if not failure then return nil end
  local last = { steps = steps, failure = failure }
  -- the steps after the failing one play no part
  if failure.step >= 1 and failure.step <= #steps then
    local cut = {}
    for i = 1, failure.step do cut[i] = steps[i] end
    last.steps = cut
  end
  local shrunk, tries = S.shrink(last.steps, function(candidate)
    -- a timing-dependent failure gets two chances to show
    for _ = 1, 2 do
      local f = R.run(candidate)
      if f and f.kind == failure.kind then
        last = { steps = candidate, failure = f }
        return true
      end
    end
    return false
  end, R.SHRINK_SECONDS)
  last.steps = shrunk
  -- steps that did nothing in the last failing run (a send on a closed
  -- channel...) go, if it still fails without them
  local kept = {}
  for i, s in ipairs(last.steps) do
    if not (last.failure.skipped and last.failure.skipped[i]) then kept[#kept + 1] = s end
  end
  if #kept < #last.steps then
    for _ = 1, 2 do
      local f = R.run(kept)
      if f and f.kind == failure.kind then
        last = { steps = kept, failure = f }
        break
      end
    end
  end
  return report(seed, steps, failure, last, tries)
end

return R
