-- The model-based spec: seeded random sequences of what apps and networks
-- do (open, close, reopen, send, send_to, history, set_token, reconnect,
-- client close, new clients, two channels per socket, peers joining and
-- leaving; the link reset, stalled, slowed; the server killed and
-- restarted), often back to back with no poll between, checked against a
-- reference model of what the app and its peers must observe
-- (spec/support/model/oracle.lua says what).
--
--   XRT_MODEL_SEED=n        replay one seed
--   XRT_MODEL_RUNS=n        how many sequences (default 12 per Lua)
--   XRT_MODEL_STEPS=n       steps per sequence (default 30)
--   XRT_MODEL_SECONDS=s     run sequences for s seconds instead (make soak)
--   XRT_MODEL_BASE=n        the first seed (default: from the clock)
--
-- A failure names its seed and prints the shortest failing sequence that
-- delta debugging found (XRT_MODEL_SHRINK_SECONDS bounds the search).
local R = require "support.model.run"
local core = require "xano.realtime.core"

local function env_number(name)
  local v = os.getenv(name)
  if v and v ~= "" then return assert(tonumber(v), name .. " must be a number") end
end

describe("the model of what apps and peers observe", function()
  it("holds for seeded random sequences of app actions and network faults", function()
    local seeds = {}
    local one = env_number("XRT_MODEL_SEED")
    local seconds = env_number("XRT_MODEL_SECONDS")
    local runs = env_number("XRT_MODEL_RUNS") or 12
    local base = env_number("XRT_MODEL_BASE") or (math.floor(core.now() * 1000) % 1000000000)
    local t0 = core.now()
    local n, failures = 0, {}
    local function next_seed()
      if one then return n == 0 and one or nil end
      if seconds then return core.now() - t0 < seconds and base + n or nil end
      return n < runs and base + n or nil
    end
    for _ = 1, 10000000 do
      local seed = next_seed()
      if not seed then break end
      n = n + 1
      local report = R.seed(seed)
      if report then
        failures[#failures + 1] = report
        io.stderr:write(report, "\n")
        break
      end
    end
    io.stderr:write(("model: %d sequence(s) of %d steps from seed %d in %.1f s, %d failed\n")
      :format(n, R.LENGTH, one or base, core.now() - t0, #failures))
    assert.is_true(n > 0, "no sequence ran")
    assert.equal(0, #failures, failures[1])
  end)
end)
