-- Shared by the specs: drive every endpoint of the test until a condition
-- holds, with a deadline that only matters when something is broken.
-- No sleeps: waiting is done on the loop's event fd.
local core = require "xano.realtime.core"
local socket = require "socket"

local H = {}

H.TIMEOUT = tonumber(os.getenv("TEST_TIMEOUT")) or 10

local tracked = {}

-- Registers anything with :poll(timeout) and :close(); returns it.
function H.track(obj)
  tracked[#tracked + 1] = obj
  return obj
end

-- Polls every tracked endpoint once without waiting.
function H.poll_all()
  local n = 0
  for i = 1, #tracked do
    local o = tracked[i]
    if o.poll and not (o.is_closed and o:is_closed()) then
      n = n + (o:poll(0) or 0)
    end
  end
  return n
end

-- Sleeps until the core has events for the state, a tracked object's
-- socket is readable, or the timeout passes.
local function wait_any(timeout)
  local fd = core.fd()
  local list = {}
  if fd then list[1] = { getfd = function() return fd end, dirty = function() return false end } end
  for i = 1, #tracked do
    local o = tracked[i]
    if o.wait_sockets then
      for _, s in ipairs(o:wait_sockets()) do list[#list + 1] = s end
    end
  end
  if #list == 0 then return core.wait(timeout) end
  socket.select(list, nil, timeout)
end

-- Runs the tracked endpoints until pred() is true; raises on timeout.
-- what names the condition in the error message.
function H.wait_until(pred, what, timeout)
  local deadline = core.now() + (timeout or H.TIMEOUT)
  local rounds = 0
  while true do
    H.poll_all()
    if pred() then return true end
    local left = deadline - core.now()
    if left <= 0 then
      error("timed out waiting for " .. (what or "condition"), 2)
    end
    rounds = rounds + 1
    assert(rounds < 10000000, "wait_until loop bound")
    wait_any(math.min(left, 0.05))
  end
end

-- Runs the tracked endpoints for a window of seconds: what must NOT
-- happen is judged after it (a later positive marker is better when there
-- is one).
function H.settle(seconds)
  local t0 = core.now()
  H.wait_until(function() return core.now() - t0 >= seconds end, "the end of a " .. seconds .. " s window",
    seconds + H.TIMEOUT)
end

-- Closes everything tracked (newest first); call from after_each.  Every
-- object is closed even when one close() raises; the errors are raised
-- together once all are closed, so that a close() that fails is reported.
function H.cleanup()
  local errs = {}
  for i = #tracked, 1, -1 do
    local o = tracked[i]
    tracked[i] = nil
    local ok, err = pcall(o.close, o)
    if not ok then errs[#errs + 1] = tostring(o) .. ": " .. tostring(err) end
  end
  if #errs > 0 then
    error("cleanup: close() raised:\n  " .. table.concat(errs, "\n  "), 2)
  end
end

-- Collects events into a list: local rec, list = H.recorder()
function H.recorder()
  local list = {}
  return function(ev) list[#list + 1] = ev end, list
end

-- Tracks client c and records its connection_status events:
-- local c, events = H.watched(realtime.new{ ... })
function H.watched(c)
  H.track(c)
  local rec, events = H.recorder()
  c:on("connection_status", rec)
  return c, events
end

-- Opens channel "room" on client c, waits until the server srv holds the
-- join, sends text and returns the payload that comes back to c.
function H.echo(c, srv, text)
  local ch = c:channel("room")
  local got
  ch:on("message", function(m) got = m.payload end)
  ch:open()
  H.wait_until(function() return #srv:members("room") == 1 end, "the join on the server")
  ch:send(text)
  H.wait_until(function() return got ~= nil end, "the echo")
  return got
end

-- Counts the items of list for which f(item) is true.
function H.count(list, f)
  local n = 0
  for i = 1, #list do
    if f(list[i]) then n = n + 1 end
  end
  return n
end

-- A failed attempt's reason is the core's words (what happened, where),
-- then ": " and what to check (xano.realtime.advice): asserts both parts,
-- the second containing advice when it is given.
function H.reason(core_words, reason, advice)
  local check = require "luassert"
  check.equal(core_words, reason:sub(1, #core_words))
  local rest = reason:sub(#core_words + 1)
  check.matches("^: %S", rest)
  if advice then check.matches(advice, rest, 1, true) end
end

return H
