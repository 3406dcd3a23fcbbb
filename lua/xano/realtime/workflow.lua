--- Workflows: every event handler runs in a coroutine, so it may wait
--- (realtime.sleep, ch:wait) without blocking the loop, the way a WeWeb
--- workflow waits between its actions.  Coroutines are reused when a handler
--- returns without waiting, so a plain handler costs one resume.  Nothing
--- here runs by itself: the poll of a client resumes what is due.
local core = require "xano.realtime.core"

local create, resume, yield, running, status =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running, coroutine.status
local traceback = debug.traceback
local now = core.now

local M = {}

local DONE = {}
local ours = setmetatable({}, { __mode = "k" }) -- coroutines we run
local pool = {}
local POOL_MAX = 32

local sleepers = {} -- { at = time, co = coroutine, report = fn }
local waiters = {}  -- { target = obj, action = s, at = time|nil, co = , report = }

local function worker(fn, a)
  while true do
    fn(a)
    fn, a = yield(DONE)
  end
end

-- Runs co until it finishes a handler or waits; report(err, tb) gets errors.
local function step(co, report, ...)
  local ok, r = resume(co, ...)
  if not ok then
    report(r, traceback(co, tostring(r)))
    return
  end
  if r == DONE then
    if #pool < POOL_MAX and status(co) == "suspended" then pool[#pool + 1] = co end
    return
  end
  -- a wait request
  r.co, r.report = co, report
  if r.kind == "sleep" then
    sleepers[#sleepers + 1] = r
  else
    waiters[#waiters + 1] = r
  end
end

--- Runs fn(arg) as a workflow; errors go to report(message, traceback).
function M.invoke(fn, arg, report)
  local co = pool[#pool]
  if co then
    pool[#pool] = nil
  else
    co = create(worker)
    ours[co] = true
  end
  step(co, report, fn, arg)
end

local function in_workflow(what)
  local co, main = running()
  if not co or main or not ours[co] then
    error(what .. " can only be called from an event handler or a workflow", 3)
  end
end

--- Suspends the calling workflow for seconds.
function M.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
    error("bad argument #1 to 'sleep' (non-negative number expected, got " ..
      (type(seconds) == "number" and tostring(seconds) or type(seconds)) .. ")", 2)
  end
  in_workflow("realtime.sleep")
  yield({ kind = "sleep", at = now() + seconds })
end

--- Suspends the calling workflow until target delivers an event whose
--- action matches (any action when nil), or the timeout passes.  Returns
--- the event, or nil and "timeout".
function M.wait(target, action, timeout)
  in_workflow("wait")
  return yield({ kind = "wait", target = target, action = action,
                 at = timeout and now() + timeout or nil })
end

--- Hands an event to the workflows waiting on target for it; returns how
--- many were resumed.
function M.deliver(target, ev)
  local n, i = 0, 1
  while i <= #waiters do
    local w = waiters[i]
    if w.target == target and (w.action == nil or w.action == ev.action) then
      table.remove(waiters, i)
      step(w.co, w.report, ev)
      n = n + 1
    else
      i = i + 1
    end
  end
  return n
end

--- Wakes waiters of target with nil, reason (e.g. the channel closed).
function M.cancel(target, reason)
  local i = 1
  while i <= #waiters do
    local w = waiters[i]
    if w.target == target then
      table.remove(waiters, i)
      step(w.co, w.report, nil, reason)
    else
      i = i + 1
    end
  end
end

--- Resumes what is due; returns how many resumed.
function M.run_due()
  if #sleepers == 0 and #waiters == 0 then return 0 end
  local t, n = now(), 0
  local i = 1
  while i <= #sleepers do
    local s = sleepers[i]
    if s.at <= t then
      table.remove(sleepers, i)
      step(s.co, s.report)
      n = n + 1
    else
      i = i + 1
    end
  end
  i = 1
  while i <= #waiters do
    local w = waiters[i]
    if w.at and w.at <= t then
      table.remove(waiters, i)
      step(w.co, w.report, nil, "timeout")
      n = n + 1
    else
      i = i + 1
    end
  end
  return n
end

--- Seconds until the next timer (nil when none).
function M.next_due()
  local best
  for i = 1, #sleepers do
    local at = sleepers[i].at
    if not best or at < best then best = at end
  end
  for i = 1, #waiters do
    local at = waiters[i].at
    if at and (not best or at < best) then best = at end
  end
  if best then
    local d = best - now()
    return d > 0 and d or 0
  end
  return nil
end

--- How many workflows are parked (sleeping or waiting).
function M.parked()
  return #sleepers + #waiters
end

return M
