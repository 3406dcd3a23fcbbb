-- The model-based spec: seeded random sequences of what apps and networks
-- do (open, close, reopen, send, send_to, history, set_token, reconnect,
-- client close, new clients, two channels per socket, peers joining and
-- leaving; the link reset, stalled, slowed; the server killed and
-- restarted), often back to back with no poll between, checked against a
-- reference model of what the app and its peers must observe
-- (spec/support/model/oracle.lua says what).
--
--   XRT_MODEL_SEED=n        replay one seed
--   XRT_MODEL_RUNS=n        how many sequences (default 60 per Lua)
--   XRT_MODEL_STEPS=n       steps per sequence (default 30)
--   XRT_MODEL_BASE=n        the first seed (default: from the clock)
--   XRT_MODEL_KEEP_GOING=1  run every sequence even after a failure
--   XRT_MODEL_IGNORE=a,b    set aside violations containing these texts (triage:
--                           one known defect hides the next)
--   XRT_MODEL_TRACE=1       print each step as it runs
--   XRT_MODEL_SECONDS=s     sequences for s seconds instead (make soak), with
--                           the process's RSS and descriptors measured after a
--                           warm-up and at the end (XRT_MODEL_SOAK_RSS_KIB and
--                           XRT_MODEL_SOAK_FDS: how much they may grow)
--
-- A failure names its seed and prints the shortest failing sequence that
-- delta debugging found (XRT_MODEL_SHRINK_SECONDS bounds the search).
local R = require "support.model.run"
local core = require "xano.realtime.core"
local proc = require "support.proc"

local function env_number(name)
  local v = os.getenv(name)
  if v and v ~= "" then return assert(tonumber(v), name .. " must be a number") end
end

-- this process's resident set (KiB) and open descriptors
local function footprint()
  collectgarbage()
  collectgarbage()
  local status = proc.read("/proc/self/status") or ""
  local rss = tonumber(status:match("VmRSS:%s*(%d+)"))
  local fds = #proc.lines("ls /proc/" .. (proc.read("/proc/self/stat") or ""):match("^(%d+)") .. "/fd")
  return rss, fds
end

describe("the model of what apps and peers observe", function()
  it("holds for seeded random sequences of app actions and network faults", function()
    local one = env_number("XRT_MODEL_SEED")
    local seconds = env_number("XRT_MODEL_SECONDS")
    local runs = env_number("XRT_MODEL_RUNS") or 60
    local base = env_number("XRT_MODEL_BASE") or (math.floor(core.now() * 1000) % 1000000000)
    local t0 = core.now()
    -- soak: measured after a warm-up (a tenth of the time, at most a minute)
    local warm = seconds and math.min(seconds / 10, 60)
    local start_rss, start_fds
    local keep_going = os.getenv("XRT_MODEL_KEEP_GOING") == "1"
    local n, failures = 0, {}
    local function next_seed()
      if one then return n == 0 and one or nil end
      if seconds then return core.now() - t0 < seconds and base + n or nil end
      return n < runs and base + n or nil
    end
    for _ = 1, 10000000 do
      local seed = next_seed()
      if not seed then break end
      if warm and not start_rss and core.now() - t0 >= warm then start_rss, start_fds = footprint() end
      n = n + 1
      local report = R.seed(seed)
      if report then
        failures[#failures + 1] = report
        io.stderr:write(report, "\n")
        if not keep_going then break end
      end
    end
    local took = core.now() - t0
    io.stderr:write(("model: %d sequence(s) of %d steps from seed %d in %.1f s (%.2f s each), %d failed\n")
      :format(n, R.LENGTH, one or base, took, took / math.max(n, 1), #failures))
    assert.is_true(n > 0, "no sequence ran")
    assert.equal(0, #failures, failures[1])
    if seconds then
      local end_rss, end_fds = footprint()
      start_rss, start_fds = start_rss or end_rss, start_fds or end_fds
      local rss_slack = env_number("XRT_MODEL_SOAK_RSS_KIB") or 8192
      local fd_slack = env_number("XRT_MODEL_SOAK_FDS") or 4
      io.stderr:write(("soak: %d sequences in %.0f s; RSS %d KiB after the warm-up, %d KiB at the end (%+d KiB, slack %d); " ..
        "open descriptors %d, then %d (%+d, slack %d)\n"):format(n, took, start_rss, end_rss,
        end_rss - start_rss, rss_slack, start_fds, end_fds, end_fds - start_fds, fd_slack))
      assert.is_true(end_rss - start_rss <= rss_slack, "RSS grew by " .. (end_rss - start_rss) .. " KiB")
      assert.is_true(end_fds - start_fds <= fd_slack, "open descriptors grew by " .. (end_fds - start_fds))
    end
  end)
end)
