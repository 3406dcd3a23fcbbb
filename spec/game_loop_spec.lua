-- The game-loop host (examples/embed): a C program embedding Lua 5.4 runs
-- a fixed 60 Hz frame loop that calls client:poll(0) once a frame, through
-- a session in which the server goes down and comes back.  The host
-- measures its worst frame; the figures go to build/reports/ and the
-- docs/hosts.md, never into an assertion (speed is measured, not asserted).
local H = require "support.helpers"
local P = require "support.proc"
local server = require "xano.realtime.server"

local HOST = os.getenv("XRT_HOST") or "build/embed/xrt-host"

-- "xrt-host: phase=NAME k=v ..." lines -> { NAME = { k = number } }
local function phases(out)
  local t = {}
  for name, rest in out:gmatch("xrt%-host: phase=(%S+)([^\n]*)") do
    local row = {}
    for k, v in rest:gmatch("([%w_]+)=([%d.]+)") do row[k] = tonumber(v) end
    t[name] = row
  end
  return t
end

local function keep_report(name, text)
  P.sh("mkdir -p build/reports")
  local f = io.open("build/reports/" .. name, "w")
  if f then f:write(text); f:close() end
end

describe("the game-loop host (examples/embed)", function()
  local proc
  after_each(function()
    if proc then proc:kill(); proc = nil end
    H.cleanup()
  end)

  it("plays a session through a server restart, one poll(0) a frame", function()
    assert(io.open(HOST, "r"), HOST .. " is missing: make embed builds it"):close()
    local srv = H.track(assert(server.start{ port = 0, canonical = "test" }))
    local port = srv.port
    proc = P.spawn({ HOST, "--hz", "60", "--max-frames", "3600",
      "examples/embed/game.lua", srv:base_url(), "test" })
    local function seen(s) return proc:output():find(s, 1, true) ~= nil end
    local function step(s, timeout)
      H.wait_until(function() return seen(s) or proc:exited() end, s, timeout)
      assert(seen(s), "the host ended before '" .. s .. "':\n" .. proc:output())
    end

    step("game: ready for restart")
    srv:close()
    step("game: server down")
    step("game: still down")
    srv = H.track(assert(server.start{ port = port, canonical = "test" }))
    step("game: done", 20)
    H.wait_until(function() return proc:exited() end, "the host to exit")

    local out = proc:output()
    assert.equal(0, proc:status(), out)
    -- messages before the restart, and after it (one sent while down)
    for _, line in ipairs({ "game: got before", "game: got during", "game: got after" }) do
      assert(seen(line), line .. " missing:\n" .. out)
    end
    assert.truthy(out:find("game: reconnected after %d+ attempts"))
    local ticks, back = out:match("game: done: (%d+) ticks sent, (%d+) came back")
    assert.truthy(tonumber(ticks) > 0)
    assert.equal(ticks, back)

    -- the host reported its frames and worst frame, for each step
    local p = phases(out)
    for _, name in ipairs({ "connected", "down", "back", "all" }) do
      assert(p[name], "no report for " .. name .. ":\n" .. out)
      assert.truthy(p[name].frames > 0)
      assert.is_number(p[name].worst_poll_ms)
      assert.is_number(p[name].worst_frame_ms)
    end
    -- every frame was played in one of the steps (frame counts, not the
    -- wall clock: how many frames a step takes depends on the machine)
    assert.equal(p.all.frames, (p.start and p.start.frames or 0) + p.connected.frames + p.down.frames + p.back.frames)
    keep_report("game_loop.txt", out)
  end)
end)
