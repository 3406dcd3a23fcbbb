-- A server that sends faster than the app polls.  The client keeps at most
-- in_limit bytes of events waiting for the app (payload plus what each
-- event costs in memory, docs/client.md, "Delivery guarantees"); past that it stops reading
-- the socket (TCP pushes back on the server) and says so once, with an
-- "error" event of kind "reading_paused"; it reads on once the app has
-- polled the backlog down to half the limit.  Nothing is lost: every frame
-- reaches the app, once, in order.
--
-- The flooding server is a separate process (spec/support/flooder.lua),
-- so the resident size of this process measures the client alone.
local H = require "support.helpers"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local socket = require "socket"

local MiB = 1024 * 1024
-- Under ASan or TSan (make sanitize, make tsan) freed memory is held in
-- quarantine and shadow memory grows with the heap: resident size says
-- nothing about the client there, so only the other checks run.
local MEASURE_RSS = not os.getenv("XRT_SANITIZE")

local P = require "support.proc"
local read_file = P.read

-- Resident size of this process, in bytes.
local function rss()
  return tonumber(read_file("/proc/self/status"):match("VmRSS:%s*(%d+) kB")) * 1024
end

-- Waits for pred without polling the client (nothing here is tracked by
-- the helpers but the flooder process): checks every 10 ms, with a deadline.
local function wait_for(pred, what, timeout)
  local deadline = core.now() + (timeout or 20)
  for _ = 1, 100000 do
    if pred() then return end
    assert(core.now() < deadline, "timed out waiting for " .. what)
    socket.select(nil, nil, 0.01)
  end
  error("loop bound waiting for " .. what)
end

local function spawn_flooder(frames, size)
  local p = H.track(P.spawn({ "lua5.4", P.ROOT .. "/spec/support/flooder.lua", P.ROOT .. "/build/5.4",
    tostring(frames), tostring(size) }, { stderr = "split" }))
  wait_for(function()
    p.port = tonumber(p:output():match("^listening (%d+)\n"))
    assert(not p:exited(), "the flooder exited: " .. p:stderr())
    return p.port
  end, "the flooder's ready line")
  return p
end

describe("a server that sends faster than the app polls", function()
  local c
  after_each(function()
    if c then c:close() end
    c = nil
    H.cleanup()
    collectgarbage()
  end)

  -- Floods the client with frames of size bytes while nobody polls it;
  -- returns what was measured.
  local function flood(frames, size, in_limit)
    local p = spawn_flooder(frames, size)
    collectgarbage()
    collectgarbage()
    local base = rss()
    local m = { base = base, peak_unpolled = base, peak = base }
    local function sample(key)
      local r = rss()
      if r > m[key] then m[key] = r end
      if r > m.peak then m.peak = r end
    end
    c = realtime.new{ url = "http://127.0.0.1:" .. p.port, canonical = "test", in_limit = in_limit,
      ping_interval = 0 }
    local seq, order_ok, events = 0, true, {}
    c:on("error", function(ev)
      events[#events + 1] = ev.payload.kind or "malformed"
    end)
    local ch = c:channel("flood")
    ch:on("message", function(ev)
      seq = seq + 1
      if ev.payload.seq ~= seq then order_ok = false end
      events[#events + 1] = "message"
    end)
    ch:open()

    -- nobody polls: the client reads until the limit, then stops
    wait_for(function() sample("peak_unpolled"); return p:output():find("flooded") end, "the flood to be queued")
    local last, still = -1, 0
    wait_for(function()
      sample("peak_unpolled")
      local n = c:stats().frames_in
      if n == last then still = still + 1 else last, still = n, 0 end
      return n > 0 and still >= 50 -- 0.5 s without a frame read
    end, "the client to stop reading")
    local st = c:stats()
    m.read_unpolled, m.bytes_unpolled = st.frames_in, st.bytes_in

    -- the app polls again: everything arrives, once, in order
    wait_for(function()
      for _ = 1, 50 do
        c:poll(0)
        sample("peak")
      end
      return c:stats().frames_in == frames and c:poll(0) == 0
    end, "the whole flood", 60)
    m.seq, m.order_ok, m.events = seq, order_ok, events
    -- the pause while nobody polled was reported once, right after the
    -- frame that crossed the limit
    m.pauses_unpolled = 0
    for i = 1, m.read_unpolled + 1 do
      if events[i] == "reading_paused" then m.pauses_unpolled = m.pauses_unpolled + 1 end
    end
    m.status = c:status()
    m.stats = c:stats()
    return m
  end

  it("keeps at most in_limit of 64 KiB frames, reports the pause once, then delivers all of them", function()
    local frames, size, in_limit = 1024, 64 * 1024, 4 * MiB -- 64 MiB sent, 16 times the limit
    local m = flood(frames, size, in_limit)
    -- it stopped reading soon after the limit: one frame past it at most
    assert.is_true(m.read_unpolled < frames, "the client stopped reading")
    -- events count what they cost: payload and a little per event
    assert.is_true(m.bytes_unpolled > in_limit - size, "it read up to the limit")
    assert.is_true(m.bytes_unpolled <= in_limit + (size + 200),
      ("read %d bytes while paused, limit %d"):format(m.bytes_unpolled, in_limit))
    -- memory: what waits (in_limit and a frame) and its copy on the way in,
    -- plus 8 MiB for the allocator and Lua; far below the 64 MiB sent
    local bound = 2 * (in_limit + size) + 8 * MiB
    assert.is_true(not MEASURE_RSS or m.peak_unpolled - m.base <= bound,
      ("resident size grew by %.1f MiB while nobody polled (bound %.1f MiB)")
        :format((m.peak_unpolled - m.base) / MiB, bound / MiB))
    -- draining it: Lua garbage comes on top, still bounded
    assert.is_true(not MEASURE_RSS or m.peak - m.base <= 2 * bound,
      ("resident size grew by %.1f MiB while draining (bound %.1f MiB)"):format((m.peak - m.base) / MiB, 2 * bound / MiB))
    -- everything arrived once, in order
    assert.equal(frames, m.seq)
    assert.is_true(m.order_ok)
    assert.equal("connected", m.status)
    assert.equal(1, m.pauses_unpolled)
    assert.equal(0, m.stats.malformed)
  end)

  it("keeps memory bounded for a flood of empty frames too", function()
    -- empty frames cost no payload bytes, but each event still costs memory
    local frames, in_limit = 200000, 2 * MiB
    local m = flood(frames, 0, in_limit)
    assert.is_true(m.read_unpolled < frames, ("the client stopped reading (%d of %d frames read)")
      :format(m.read_unpolled, frames))
    local bound = 2 * in_limit + 8 * MiB
    assert.is_true(not MEASURE_RSS or m.peak_unpolled - m.base <= bound,
      ("resident size grew by %.1f MiB while nobody polled (bound %.1f MiB)")
        :format((m.peak_unpolled - m.base) / MiB, bound / MiB))
    assert.is_true(not MEASURE_RSS or m.peak - m.base <= 2 * bound,
      ("resident size grew by %.1f MiB while draining (bound %.1f MiB)"):format((m.peak - m.base) / MiB, 2 * bound / MiB))
    assert.equal(1, m.pauses_unpolled)
    -- each empty frame is reported as malformed; all of them arrive
    assert.equal(frames, m.stats.malformed)
    assert.equal("connected", m.status)
  end)
end)
