-- realtime_worker: one xano.realtime client per nginx worker (OpenResty
-- or Debian's nginx with libnginx-mod-http-lua, LuaJIT build of the core).
--
--   init_worker_by_lua_block { require("realtime_worker").start{ url = ..., canonical = ..., channel = ... } }
--   exit_worker_by_lua_block { require("realtime_worker").stop() }
--   location = /send     { content_by_lua_block { require("realtime_worker").send() } }
--   location = /messages { content_by_lua_block { require("realtime_worker").messages() } }
--
-- Nothing here blocks the worker.  Name resolution, connect, TLS, reads,
-- writes, pings and reconnects happen on the client's service thread (C);
-- the worker only ever calls client:poll(0), which takes what is ready
-- and returns at once.  It does so from a timer every `interval` seconds
-- and at the start of /messages, so a reply holds everything received up
-- to that moment.  (client:fd() is an eventfd; nginx offers Lua no way to
-- put a foreign descriptor into its event loop, hence the timer.)
local realtime = require "xano.realtime"
local cjson = require "cjson.safe"
local now = require("xano.realtime.core").now -- monotonic, sub-microsecond

local M = {}

local KEEP = 1000        -- messages kept per worker (the newest)
local client, room
local received, seq = {}, 0
local started = {}
local polls = { n = 0, total = 0, worst = 0 } -- the timer's poll(0) calls

-- Threads of this worker process, from /proc/self/status.
local function threads()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("\nThreads:%s*(%d+)"))
end
M.threads = threads

-- Replies with t as JSON; list (if any) goes in as t.messages, always an
-- array (Debian's lua-cjson writes an empty table as {}).
local function reply(status, t, list)
  local body = cjson.encode(t)
  if list then
    local items = {}
    for i = 1, #list do items[i] = cjson.encode(list[i]) end
    body = body:sub(1, -2) .. ',"messages":[' .. table.concat(items, ",") .. "]}"
  end
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(body)
end

--- Creates this worker's client and opens its channel (init_worker).
--- opts: url, canonical, token, channel, interval (seconds, 0.01).
function M.start(opts)
  started = { threads = threads(), pid = ngx.worker.pid() }
  client = realtime.new{
    url = opts.url,
    canonical = opts.canonical,
    token = opts.token,
    reconnect = opts.reconnect or { initial = 0.1, max = 2 },
  }
  -- queue_offline: what /send accepts while the link is down goes out
  -- after the rejoin; history: a worker that rejoins late still gets what
  -- was said meanwhile (the client drops what it already had)
  room = client:channel(opts.channel or "lobby", { queue_offline = true, history = true })
  local function keep(payload)
    seq = seq + 1
    received[seq] = { seq = seq, payload = payload }
    received[seq - KEEP] = nil
  end
  room:on("message", function(ev) keep(ev.payload) end)
  room:on("history", function(ev)
    for _, m in ipairs(ev.payload.history or {}) do keep(m.payload) end
  end)
  client:on("connection_status", function(ev)
    ngx.log(ngx.INFO, "xano-realtime: ", ev.payload.status)
  end)
  room:open()
  local ok, err = ngx.timer.every(opts.interval or 0.01, function(premature)
    if premature or not client then return end
    local t0 = now()
    client:poll(0)
    local took = now() - t0
    polls.n, polls.total = polls.n + 1, polls.total + took
    if took > polls.worst then polls.worst = took end
  end)
  if not ok then ngx.log(ngx.ERR, "xano-realtime: cannot start the poll timer: ", err) end
end

--- POST /send with a JSON body: the body becomes the message payload.
function M.send()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  local payload = body and cjson.decode(body)
  if payload == nil then
    return reply(400, { ok = false, error = "a JSON body is required" })
  end
  local ok, err = room:send(payload)
  if not ok then return reply(503, { ok = false, error = err }) end
  reply(200, { ok = true, status = client:status(), pid = ngx.worker.pid() })
end

--- GET /messages[?after=N]: what this worker received, oldest first.
function M.messages()
  client:poll(0)
  local after = tonumber(ngx.var.arg_after) or 0
  local list = {}
  for i = math.max(after + 1, seq - KEEP + 1, 1), seq do list[#list + 1] = received[i] end
  reply(200, { status = client:status(), pid = ngx.worker.pid(), last = seq }, list)
end

--- GET /status: the client's status and counters, this worker's pid and
--- thread count (now and before the client existed), and what the timer's
--- poll(0) calls cost (count, mean and worst milliseconds).
function M.status()
  client:poll(0)
  local st = client:stats()
  reply(200, { status = client:status(), pid = ngx.worker.pid(), threads = threads(),
    threads_before = started.threads, reconnects = st.reconnects, frames_in = st.frames_in,
    frames_out = st.frames_out, queued = st.queued,
    polls = polls.n, poll_mean_ms = polls.n > 0 and polls.total / polls.n * 1e3 or 0,
    poll_worst_ms = polls.worst * 1e3 })
end

--- Closes the client and lets its service thread go (exit_worker), then
--- logs the worker's thread count, which is back to what it was before.
function M.stop()
  if not client then return end
  client:close()
  client, room = nil, nil
  collectgarbage()
  collectgarbage()
  ngx.log(ngx.NOTICE, "xano-realtime: worker ", ngx.worker.pid(), " closed its client: threads=",
    threads(), " (", started.threads, " before the client)")
end

return M
