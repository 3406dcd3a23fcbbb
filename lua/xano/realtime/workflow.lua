--- Workflows: every event handler runs in a coroutine, so it may wait
--- (realtime.sleep, ch:wait) without blocking the loop, the way a WeWeb
--- workflow waits between its actions.  Coroutines are reused when a handler
--- returns without waiting, so a plain handler costs one resume.  Nothing
--- here runs by itself: the poll of a client resumes what is due, and a
--- poll with a timeout sleeps no longer than the next timer (next_due).
---
--- A parked workflow is resumed exactly once per wait: an event, a
--- timeout or a cancel takes it off the lists before it runs, and what it
--- parks while running waits for the next event or the next poll.  A
--- handler that waits is never handed the event it is handling.
---
--- Workflows park with their owner: the owner holds them, and this module
--- knows the owners only weakly, so that a client dropped without close()
--- is still collected with the workflows it parked.  The scheduler is a
--- client's: a client owns the workflows its handlers and client:workflow()
--- start (two owners: one for handlers, one for callback_error handlers),
--- and its poll resumes those alone (run_due, next_due and parked take the
--- client's list of owners).  realtime.poll() runs every client's: with no
--- list, they cover every owner of the Lua state.  An event reaches every
--- workflow waiting on its channel, whoever owns it (deliver, cancel).
local core = require "xano.realtime.core"

local create, resume, yield, running, status =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running, coroutine.status

-- OpenResty: coroutine.* are ngx_lua's wrappers, which tie a coroutine to
-- the request or timer that created it, and a coroutine inherits that
-- request; a pooled or parked workflow resumed from a later one would use
-- a request that is gone and crash the worker.  So workflows use the plain
-- functions ngx_lua keeps (coroutine._create ...), and each resume hands
-- the coroutine the request of whoever resumes it (thread.exdata), so that
-- ngx.log and the like work in handlers, and no ngx coroutine context
-- (thread.exdata2): handlers must not call yielding ngx APIs (cosockets,
-- ngx.sleep); they can start an ngx.timer.at(0, fn) for that.
if rawget(_G, "ngx") and coroutine._create then
  create, resume, yield, status =
    coroutine._create, coroutine._resume, coroutine._yield, coroutine._status
  local has_ex, exdata = pcall(require, "thread.exdata")
  local has_ex2, exdata2 = pcall(require, "thread.exdata2")
  if has_ex then
    local NULL = has_ex2 and require("ffi").cast("void *", 0)
    local function enter(r, ...)
      exdata(r)
      if has_ex2 then exdata2(NULL) end
      return ...
    end
    local raw_create, raw_resume, raw_yield = create, resume, yield
    create = function(f) return raw_create(function(r, ...) return f(enter(r, ...)) end) end
    resume = function(co, ...) return raw_resume(co, exdata(), ...) end
    yield = function(...) return enter(raw_yield(...)) end
  end
end
local traceback = debug.traceback
local type, tostring, setmetatable, getmetatable, sort =
  type, tostring, setmetatable, getmetatable, table.sort
local error = require("xano.realtime.compat").error -- error levels as in Lua 5.2+
local now = core.now

local M = {}

local DONE = {}                                     -- a handler returned
local REQUEST = {}                                  -- metatable of sleep/wait requests
local ours = setmetatable({}, { __mode = "k" })     -- coroutines we run
local started_by = setmetatable({}, { __mode = "k" }) -- coroutine -> the event its handler got
local pool = {}
local POOL_MAX = 32

-- An owner: report(err, tb) for errors, and the requests it parked:
-- sleepers { at =, co =, owner =, seq = } and waiters { target =,
-- action =, at = (or nil), co =, owner =, seq = }.  Calling it reports.
local OWNER = { __call = function(o, err, tb) return o.report(err, tb) end }
local owners = setmetatable({}, { __mode = "k" }) -- owner -> true, weakly
local nsleeping = 0 -- sleepers of every owner: with no sleeper and no waiter,
                    -- run_due() and next_due() cost nothing (a poll runs both)
local nwaiting = 0 -- waiters of every owner: deliver() costs nothing without
local seq = 0

--- A new owner of workflows whose errors go to report(err, tb).  Whoever
--- holds it keeps its parked workflows alive; drop() forgets them.
function M.owner(report)
  local o = setmetatable({ report = report, sleepers = {}, waiters = {} }, OWNER)
  owners[o] = true
  return o
end

local function worker(fn, a)
  while true do
    fn(a)
    fn, a = nil, nil -- a pooled coroutine keeps no handler or event alive
    fn, a = yield(DONE)
  end
end

-- Runs co until it finishes a handler or parks with owner; owner(err, tb)
-- gets errors.
local function step(co, owner, ...)
  local ok, r = resume(co, ...)
  if not ok then
    started_by[co] = nil
    owner(r, traceback(co, tostring(r)))
    return
  end
  if r == DONE then
    started_by[co] = nil
    if #pool < POOL_MAX and status(co) == "suspended" then pool[#pool + 1] = co end
    return
  end
  if type(r) ~= "table" or getmetatable(r) ~= REQUEST then
    -- a bare coroutine.yield() in a handler: the workflow cannot go on
    started_by[co] = nil
    local msg = "a workflow yielded (" .. tostring(r) .. ") outside realtime.sleep() or wait(); " ..
      "it was stopped"
    owner(msg, traceback(co, msg))
    return
  end
  seq = seq + 1
  r.co, r.owner, r.seq = co, owner, seq
  -- a handler that waits wants the next event, not the one it is handling
  -- (which is handed to the waiters right after the handlers); only its
  -- first wait can see that event, and nothing else must keep it
  r.skip = started_by[co]
  started_by[co] = nil
  if r.kind == "sleep" then
    owner.sleepers[#owner.sleepers + 1] = r
    nsleeping = nsleeping + 1
  else
    owner.waiters[#owner.waiters + 1] = r
    nwaiting = nwaiting + 1
  end
end

--- Runs fn(arg) as a workflow of owner (from M.owner): errors go to
--- owner's report(message, traceback), and what it parks stays with owner.
function M.invoke(fn, arg, owner)
  local co = pool[#pool]
  if co then
    pool[#pool] = nil
  else
    co = create(worker)
    ours[co] = true
  end
  started_by[co] = arg
  step(co, owner, fn, arg)
end

local function in_workflow(what, level)
  local co, main = running()
  if not co or main or not ours[co] then
    error(what .. " can only be called from an event handler or a workflow", level + 1)
  end
end

--- Suspends the calling workflow for seconds.
---@param seconds number
function M.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
    error("bad argument #1 to 'sleep' (non-negative number expected, got " ..
      (type(seconds) == "number" and tostring(seconds) or type(seconds)) .. ")", 2)
  end
  in_workflow("realtime.sleep", 2)
  yield(setmetatable({ kind = "sleep", at = now() + seconds }, REQUEST))
end

--- Suspends the calling workflow until target delivers an event whose
--- action matches (any action when nil), or the timeout passes.  Returns
--- the event, or nil and "timeout".  level: where misuse is reported.
function M.wait(target, action, timeout, level)
  in_workflow("wait", (level or 1) + 1)
  return yield(setmetatable({ kind = "wait", target = target, action = action,
                              at = timeout and now() + timeout or nil }, REQUEST))
end

-- Takes the requests of list for which pick(r) is true off it, appending
-- them to out (a new table when nil); returns out.
local function take(list, pick, out)
  out = out or {}
  local keep = 0
  local n = #list
  for i = 1, n do
    local r = list[i]
    list[i] = nil
    if pick(r) then
      out[#out + 1] = r
    else
      keep = keep + 1
      list[keep] = r
    end
  end
  return out
end

-- The owners, listed first: steps may create owners while they run.
local function all_owners()
  local list = {}
  for o in pairs(owners) do list[#list + 1] = o end
  return list
end

-- Takes the waiters of every owner for which pick(w) is true.
local function take_waiters(pick)
  local ready = {}
  if nwaiting == 0 then return ready end
  for o in pairs(owners) do
    if #o.waiters > 0 then take(o.waiters, pick, ready) end
  end
  nwaiting = nwaiting - #ready
  return ready
end

local function by_time(x, y)
  if x.at ~= y.at then return x.at < y.at end
  return x.seq < y.seq
end

-- The order they parked in.
local function by_seq(x, y)
  return x.seq < y.seq
end

--- Hands an event to the workflows waiting on target for it; returns how
--- many were resumed.  A workflow that waits again waits for a later event.
function M.deliver(target, ev)
  if nwaiting == 0 then return 0 end
  local ready = take_waiters(function(w)
    return w.target == target and w.skip ~= ev and (w.action == nil or w.action == ev.action)
  end)
  if #ready > 1 then sort(ready, by_seq) end
  for i = 1, #ready do step(ready[i].co, ready[i].owner, ev) end
  return #ready
end

--- Wakes the waiters of target with nil, reason (e.g. the channel closed).
function M.cancel(target, reason)
  if nwaiting == 0 then return 0 end
  local ready = take_waiters(function(w) return w.target == target end)
  if #ready > 1 then sort(ready, by_seq) end
  for i = 1, #ready do step(ready[i].co, ready[i].owner, nil, reason) end
  return #ready
end

--- Forgets, without resuming them, the workflows owner parked (the
--- workflows of a client that closed).  Returns how many.
function M.drop(owner)
  local n, w = #owner.sleepers, #owner.waiters
  owner.sleepers, owner.waiters = {}, {}
  nsleeping = nsleeping - n
  nwaiting = nwaiting - w
  return n + w
end

local function due_at(t)
  return function(r) return r.at ~= nil and r.at <= t end
end

-- True when no owner of the list (every owner when nil) parked anything.
local function idle(owners)
  if owners == nil then return nsleeping == 0 and nwaiting == 0 end
  for i = 1, #owners do
    local o = owners[i]
    if #o.sleepers > 0 or #o.waiters > 0 then return false end
  end
  return true
end

--- Resumes what is due (sleeps over, waits timed out) among the
--- workflows of owners (a list; every owner when nil), oldest timer
--- first; returns how many resumed.
function M.run_due(owners)
  if idle(owners) then return 0 end
  local t = now()
  local due = due_at(t)
  local ready, timed_out = {}, {}
  local list = owners or all_owners()
  local sleeping = 0
  for i = 1, #list do
    local o = list[i]
    if #o.sleepers > 0 then take(o.sleepers, due, ready) end
    if #o.waiters > 0 then take(o.waiters, due, timed_out) end
    sleeping = sleeping + #o.sleepers
  end
  if owners then
    nsleeping = nsleeping - #ready
  else
    -- counted again: an owner collected with its sleepers leaves no trace
    nsleeping = sleeping
  end
  nwaiting = nwaiting - #timed_out
  for i = 1, #timed_out do
    timed_out[i].timed_out = true
    ready[#ready + 1] = timed_out[i]
  end
  if #ready == 0 then return 0 end
  sort(ready, by_time)
  for i = 1, #ready do
    local r = ready[i]
    if r.timed_out then
      step(r.co, r.owner, nil, "timeout")
    else
      step(r.co, r.owner)
    end
  end
  return #ready
end

--- Seconds until the next timer of the owners listed, or of every owner
--- when nil (nil when none).
function M.next_due(list)
  if idle(list) then return nil end
  list = list or all_owners()
  local best
  for j = 1, #list do
    local sleepers, waiters = list[j].sleepers, list[j].waiters
    for i = 1, #sleepers do
      local at = sleepers[i].at
      if not best or at < best then best = at end
    end
    for i = 1, #waiters do
      local at = waiters[i].at
      if at and (not best or at < best) then best = at end
    end
  end
  if best then
    local d = best - now()
    return d > 0 and d or 0
  end
  return nil
end

--- How many workflows the owners listed parked (sleeping or waiting), or
--- every owner when nil.
function M.parked(list)
  local n = 0
  if list then
    for i = 1, #list do n = n + #list[i].sleepers + #list[i].waiters end
    return n
  end
  for o in pairs(owners) do n = n + #o.sleepers + #o.waiters end
  return n
end

return M
