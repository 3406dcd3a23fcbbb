-- Faults on the way to the server, made on purpose: the server process
-- killed (SIGKILL) and restarted on the same port, a connection reset in
-- the middle of a frame, a link that stalls while TCP stays up, a link
-- that moves one byte at a time, upgrades refused with HTTP 401, 404 and
-- 503, and a host name that does not resolve.
--
-- For each: the connection_status events the app sees, reconnect attempts
-- spaced as the policy says (the delays the "reconnecting" events report,
-- checked against the caps of full-jitter backoff and against the time
-- that really passed between attempts, measured where the attempts arrive:
-- the proxy's accepts, or the events themselves when nothing listens; and
-- attempt counts over a window), and with queue_offline every action queued while offline
-- reaching the server exactly once and in order, counted on the server
-- (hooks.frame, or the server's own history for the separate process).
-- Frames already written to a socket that dies are delivered at most once
-- (docs/client.md, "Delivery guarantees"); the specs check that too, no more.
local H = require "support.helpers"
local Proxy = require "support.proxy"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"
local socket = require "socket"

-- The caps of full-jitter backoff: attempt i waits in [0, min(max, initial * 2^(i-1))].
-- starts, when given, are measured times (socket.gettime()): starts[1] no
-- later than the moment the first retry was scheduled, starts[k + 1] no
-- earlier than the start of the attempt that followed tries[k].  The time
-- that passed must cover the delays the events announced: a core that
-- retried at once while reporting jittered delays fails here.  Each check
-- runs from starts[1], so a late reading of one time does not add up.
local SLACK = 0.05 -- how late the spec may read the first time
local function check_backoff(tries, initial, max, starts)
  assert.is_true(#tries > 0, "no reconnecting event")
  for i, ev in ipairs(tries) do
    local p = ev.payload
    assert.equal(i, p.attempt, "attempts are numbered 1, 2, 3...")
    local cap = math.min(max, initial * 2 ^ (i - 1))
    assert.is_true(p.delay >= 0 and p.delay <= cap + 0.0015,
      ("attempt %d waited %.4f s, above its cap of %.4f s"):format(i, p.delay, cap))
  end
  if starts then
    assert.is_true(#starts >= 2, "no attempt was seen after a retry was scheduled")
    local owed = 0
    for k = 1, math.min(#tries, #starts - 1) do
      owed = owed + tries[k].payload.delay
      local passed = starts[k + 1] - starts[1]
      assert.is_true(passed >= owed - SLACK,
        ("attempt %d began %.3f s after the first retry was scheduled, before the %.3f s the events announced")
          :format(k + 1, passed, owed))
    end
  end
end

-- The times at which the reconnecting events of tries reached the app.
local function event_times(tries)
  local out = {}
  for i, ev in ipairs(tries) do out[i] = ev.at end
  return out
end

-- The proxy's accepts after the first n, preceded by t0.
local function accepts_after(p, n, t0)
  local out = { t0 }
  for i = n + 1, #p.accepts do out[#out + 1] = p.accepts[i] end
  return out
end

local function statuses(list)
  local out = {}
  for _, ev in ipairs(list) do out[#out + 1] = ev.payload.status end
  return table.concat(out, ",")
end

-- Polls everything for `seconds` (a window in which to count attempts).
local function window(seconds)
  local t0 = core.now()
  H.wait_until(function() return core.now() - t0 >= seconds end, "the end of the window", seconds + 5)
end

local P = require "support.proc"

-- bin/xano-realtime-server as a separate process, on the Lua and build
-- the specs run on (XRT_LUA, XRT_BUILD), tracked so that cleanup kills it
-- even when a spec fails.
local function spawn_cli(port)
  local p = H.track(P.spawn({ os.getenv("XRT_LUA") or "lua5.4", P.ROOT .. "/bin/xano-realtime-server",
    "--port", tostring(port), "--canonical", "test" }, { stderr = "split" }))
  H.wait_until(function()
    p.port = tonumber(p:output():match("^listening ws://127%.0%.0%.1:(%d+)/rt/test\n"))
    assert(not p:exited(), "the server exited: " .. p:stderr())
    return p.port
  end, "the server's ready line")
  return p
end

-- A tiny HTTP responder that answers every request with one status and
-- closes: what a load balancer in front of a server that is down does.
local function responder(status)
  local l = assert(socket.bind("127.0.0.1", 0))
  l:settimeout(0)
  local _, port = l:getsockname()
  local r = { port = tonumber(port), count = 0, conns = {} }
  function r.poll()
    for _ = 1, 16 do
      local c = l:accept()
      if not c then break end
      c:settimeout(0)
      r.count = r.count + 1
      r.conns[#r.conns + 1] = { sock = c, buf = "" }
    end
    local keep = {}
    for _, k in ipairs(r.conns) do
      local data, err, partial = k.sock:receive(4096)
      k.buf = k.buf .. (data or partial or "")
      if k.buf:find("\r\n\r\n", 1, true) then
        k.sock:send(("HTTP/1.1 %d Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
          :format(status))
        k.sock:close()
      elseif err == "closed" then
        k.sock:close()
      else
        keep[#keep + 1] = k
      end
    end
    r.conns = keep
    return 0
  end
  function r.sockets()
    local list = { l }
    for _, k in ipairs(r.conns) do list[#list + 1] = k.sock end
    return list
  end
  function r.close()
    for _, k in ipairs(r.conns) do k.sock:close() end
    l:close()
  end
  return H.track(r)
end

describe("faults", function()
  local srv, frames

  -- the in-process server, counting every frame it receives
  local function start_server(config)
    srv = H.track(assert(server.start{ port = 0, canonical = "test", config = config }))
    frames = {}
    srv.hooks.frame = function(sid, f) frames[#frames + 1] = { sid = sid, frame = f } end
    return srv
  end
  -- the payloads of the messages the server received, in order, and by
  -- which socket
  local function messages(sid)
    local out = {}
    for _, f in ipairs(frames) do
      if f.frame.action == "message" and (not sid or f.sid == sid) then
        out[#out + 1] = f.frame.payload
      end
    end
    return out
  end
  local function client(url, opts)
    opts = opts or {}
    opts.url, opts.canonical = url, opts.canonical or "test"
    opts.reconnect = opts.reconnect or { initial = 0.05, max = 0.4 }
    local c = H.track(realtime.new(opts))
    local rec, st = H.recorder()
    c:on("connection_status", rec)
    local tries = {}
    c:on("reconnecting", function(ev)
      ev.at = socket.gettime()
      tries[#tries + 1] = ev
    end)
    return c, st, tries
  end

  after_each(function() H.cleanup() end)

  it("survives the server process killed with SIGKILL and restarted on the same port", function()
    local p = spawn_cli(0)
    local port = p.port
    local c, st, tries = client("http://127.0.0.1:" .. port, { reconnect = { initial = 0.05, max = 0.4 } })
    local ch = c:channel("room", { queue_offline = true })
    local echoes = {}
    ch:on("message", function(ev) echoes[#echoes + 1] = ev.payload end)
    local rec, history = H.recorder()
    ch:on("history", rec)
    ch:open()
    assert.is_true(ch:send("before"))
    H.wait_until(function() return #echoes == 1 end, "the first echo")

    p:signal("KILL")
    H.wait_until(function() return p:status() ~= nil end, "the server to die")
    assert.equal(137, p:status())
    H.wait_until(function() return statuses(st) == "connected,disconnected" end, "the loss")
    assert.equal(1006, st[2].payload.code)
    -- offline: kept in order while the port refuses connections
    for i = 1, 20 do assert.is_true(ch:send("queued " .. i)) end
    H.wait_until(function() return #tries >= 3 end, "three attempts against the dead port")
    assert.equal(20, c:stats().queued)

    local p2 = spawn_cli(port)
    assert.equal(port, p2.port)
    H.wait_until(function() return #echoes == 21 end, "the queued messages, echoed by the new server")
    assert.equal("connected,disconnected,connected", statuses(st))
    assert.equal(0, c:stats().queued)
    for i = 1, 20 do assert.equal("queued " .. i, echoes[i + 1]) end
    -- the new server's own record: each queued message once, in order
    assert.is_true(ch:history())
    H.wait_until(function() return #history == 1 end, "the history of the new server")
    local stored = {}
    for i, m in ipairs(history[1].payload.history) do stored[i] = m.payload end
    assert.equal(20, #stored)
    for i = 1, 20 do assert.equal("queued " .. i, stored[i]) end
    -- nothing listens on the dead port: each failed attempt's event is
    -- the time it ended, after the delay announced before it
    check_backoff(tries, 0.05, 0.4, event_times(tries))
    assert.equal(#tries, c:stats().reconnects)
  end)

  it("loses no queued frame when the link is reset in the middle of a frame", function()
    start_server()
    local p = H.track(Proxy.start{ target_port = srv.port })
    local c, st, tries = client("http://127.0.0.1:" .. p.port, { ping_interval = 0 })
    local ch = c:channel("room", { queue_offline = true })
    ch:open()
    H.wait_until(function() return #srv:members("room") == 1 end, "the join")
    local first = srv:members("room")[1]
    local up0 = p.bytes_up

    -- 40 frames of 256 KiB: more than the kernel buffers between the
    -- client and the proxy hold, so some are still queued in the client
    local pad = string.rep("p", 256 * 1024)
    local n = 40
    p:slow(16384)
    for i = 1, n do assert.is_true(ch:send({ seq = i, pad = pad })) end
    local frame_len = #('{"action":"message","options":{"channel":"room"},"payload":{"seq":1,"pad":""}}') + #pad + 14
    -- cut the link in the middle of the second frame: stop the proxy
    -- there, let the server take the first frame, then reset
    H.wait_until(function()
      if p.bytes_up - up0 >= frame_len * 1.5 then p:stall(true) end
      return p.stalled
    end, "a frame and a half through the proxy")
    assert.is_true(p.bytes_up - up0 < frame_len * 2, "the proxy stopped inside the second frame")
    H.wait_until(function() return #messages(first) == 1 end, "the first frame on the server")
    local reset_at, accepted = socket.gettime(), p.accepted
    p:reset()
    p:stall(false)
    p:slow(nil)
    H.wait_until(function() return statuses(st) == "connected,disconnected" end, "the loss")
    -- offline actions after the loss
    for i = 1, 5 do assert.is_true(ch:send({ seq = n + i })) end
    H.wait_until(function()
      local last = frames[#frames]
      return last and last.frame.action == "message" and last.frame.payload.seq == n + 5
    end, "the last offline action", 30)
    assert.equal("connected,disconnected,connected", statuses(st))

    -- the first socket got exactly the first frame: the second was cut
    local got1 = messages(first)
    assert.equal(1, #got1)
    assert.equal(1, got1[1].seq)
    -- the new socket got a contiguous run up to the end, each once, in order
    local sid2 = srv:members("room")[1]
    assert.are_not.equal(first, sid2)
    local got2 = messages(sid2)
    local s = got2[1].seq
    assert.is_true(s >= 2, "frames already handed to the dead socket are not sent twice")
    assert.equal(n + 5 - s + 1, #got2)
    for i, m in ipairs(got2) do assert.equal(s + i - 1, m.seq) end
    -- the frames in between (2 .. s-1) were written to the socket that
    -- died, once each and never again: at most once
    local stats = c:stats()
    assert.equal(2 + n + 5, stats.frames_out) -- two joins and every message exactly once
    assert.equal(0, stats.queued)
    check_backoff(tries, 0.05, 0.4, accepts_after(p, accepted, reset_at))
  end)

  it("drops a frame from the server cut in the middle, and goes on", function()
    start_server()
    local p = H.track(Proxy.start{ target_port = srv.port })
    local c, st = client("http://127.0.0.1:" .. p.port, { ping_interval = 0 })
    local ch = c:channel("room")
    local got, errs = {}, {}
    ch:on("message", function(ev) got[#got + 1] = ev.payload end)
    c:on("error", function(ev) errs[#errs + 1] = ev end)
    ch:open()
    H.wait_until(function() return #srv:members("room") == 1 end, "the join")
    local me = srv:members("room")[1]
    local down0 = p.bytes_down
    p:slow(4096)
    local big = '{"action":"message","options":{"channel":"room"},"payload":"' .. string.rep("b", 500000) .. '"}'
    assert(srv:send_raw(me, big))
    H.wait_until(function() return p.bytes_down - down0 >= 200000 end, "part of the big frame")
    p:reset()
    p:slow(nil)
    H.wait_until(function() return statuses(st) == "connected,disconnected,connected" and #srv:members("room") == 1 end,
      "the reconnect")
    assert.is_true(ch:send("after"))
    H.wait_until(function() return #got == 1 end, "the echo")
    -- nothing of the cut frame reached the app, and nothing was reported
    -- as malformed: it never arrived whole
    assert.same({ "after" }, got)
    assert.equal(0, #errs)
    assert.equal(0, c:stats().malformed)
  end)

  it("finds a stalled link with its pings within the configured window", function()
    start_server()
    local p = H.track(Proxy.start{ target_port = srv.port })
    -- ping_timeout 1 s: a pong late on a loaded machine is not a stall
    local c, st, tries = client("http://127.0.0.1:" .. p.port, { ping_interval = 0.2, ping_timeout = 1,
      connect_timeout = 2 })
    local ch = c:channel("room", { queue_offline = true })
    ch:open()
    H.wait_until(function() return c:stats().pongs >= 1 end, "a ping answered")
    local first = srv:members("room")[1]
    local stall_at, accepted = socket.gettime(), p.accepted
    p:stall(true)
    local pings = c:stats().pings
    -- written while the client still thinks it is connected: at most once
    assert.is_true(ch:send("during the stall"))
    H.wait_until(function() return statuses(st) == "connected,disconnected" end, "the stall to be noticed")
    assert.matches("no pong within ping_timeout", st[2].payload.reason)
    -- noticed at the first unanswered ping: within ping_interval + ping_timeout
    assert.is_true(c:stats().pings - pings <= 1, "one ping at most went unanswered")
    for i = 1, 5 do assert.is_true(ch:send("offline " .. i)) end
    -- the dead NAT entry goes, the network comes back
    p:reset()
    p:stall(false)
    H.wait_until(function() return #messages() >= 5 and statuses(st) == "connected,disconnected,connected" end,
      "the rejoin and the offline actions")
    local sid2 = srv:members("room")[1]
    assert.are_not.equal(first, sid2)
    assert.same({ "offline 1", "offline 2", "offline 3", "offline 4", "offline 5" }, messages(sid2))
    local stalled = 0
    for _, m in ipairs(messages()) do if m == "during the stall" then stalled = stalled + 1 end end
    assert.is_true(stalled <= 1)
    check_backoff(tries, 0.05, 0.4, accepts_after(p, accepted, stall_at))
  end)

  it("works over a link that moves one byte at a time", function()
    start_server()
    local p = H.track(Proxy.start{ target_port = srv.port })
    p:slow(1)
    local c, st = client("http://127.0.0.1:" .. p.port)
    local ch = c:channel("room", { presence = true, queue_offline = true })
    local got = {}
    ch:on("message", function(ev) got[#got + 1] = ev.payload end)
    ch:open()
    -- queued before the (slow) handshake completes
    for i = 1, 3 do assert.is_true(ch:send("early " .. i)) end
    H.wait_until(function() return #got == 3 end, "the early messages, echoed", 30)
    -- a second client on a direct link talks to the slow one
    local other = H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
    local och = other:channel("room")
    och:open()
    H.wait_until(function() return #ch:presence() == 2 end, "the other client in presence", 30)
    assert.is_true(och:send("from the fast side"))
    assert.is_true(ch:send("late"))
    H.wait_until(function() return #got == 5 end, "both messages", 30)
    assert.equal("connected", statuses(st))
    assert.same({ "early 1", "early 2", "early 3" }, { got[1], got[2], got[3] })
    local rest = { got[4], got[5] }
    table.sort(rest)
    assert.same({ "from the fast side", "late" }, rest)
    -- on the server: what the slow client sent, once each, in order
    local slow_sid
    for _, f in ipairs(frames) do
      if f.frame.payload == "early 1" then slow_sid = f.sid end
    end
    assert.same({ "early 1", "early 2", "early 3", "late" }, messages(slow_sid))
    assert.equal(5, #messages())
    assert.equal(0, c:stats().reconnects)
  end)

  describe("refused upgrades", function()
    it("401 (unknown token): one attempt, no storm, and the queue waits for a good token", function()
      start_server{ unknown_token = "refuse", tokens = { ["good-token"] = { dbo_id = 1, row_id = 1 } } }
      local p = H.track(Proxy.start{ target_port = srv.port })
      local c, st, tries = client("http://127.0.0.1:" .. p.port,
        { token = "bad-token", reconnect = { initial = 0.02, max = 0.1 } })
      local rec, errs = H.recorder()
      c:on("error", rec)
      local ch = c:channel("room", { queue_offline = true })
      ch:open()
      for i = 1, 3 do assert.is_true(ch:send("m" .. i)) end
      H.wait_until(function() return #errs == 1 end, "the refusal")
      assert.equal(401, errs[1].payload.code)
      assert.matches("HTTP 401", errs[1].payload.message)
      window(0.5) -- a storm at initial = 0.02 s would make 25 attempts here
      assert.equal(1, p.accepted)
      assert.equal(0, #tries)
      assert.equal(1, #errs)
      assert.equal("disconnected", statuses(st))
      assert.equal(401, st[1].payload.code)
      assert.equal("disconnected", c:status())
      assert.equal(3, c:stats().queued)
      -- the app fixes what only it can fix
      c:set_token("good-token")
      H.wait_until(function() return #messages() == 3 end, "the queued messages")
      assert.same({ "m1", "m2", "m3" }, messages())
      assert.equal("disconnected,connected", statuses(st))
      assert.equal(2, p.accepted)
    end)

    it("404 (wrong canonical): one attempt, no storm, and close() says what was not sent", function()
      start_server()
      local p = H.track(Proxy.start{ target_port = srv.port })
      local c, st, tries = client("http://127.0.0.1:" .. p.port,
        { canonical = "wrong", reconnect = { initial = 0.02, max = 0.1 } })
      local rec, errs = H.recorder()
      c:on("error", rec)
      local ch = c:channel("room", { queue_offline = true })
      ch:open()
      for i = 1, 4 do assert.is_true(ch:send("m" .. i)) end
      H.wait_until(function() return #errs == 1 end, "the refusal")
      assert.equal(404, errs[1].payload.code)
      window(0.5)
      assert.equal(1, p.accepted)
      assert.equal(0, #tries)
      assert.equal("disconnected", statuses(st))
      assert.equal(0, #frames)
      local ok, discarded = c:close()
      assert.is_true(ok)
      assert.equal(4, discarded)
    end)

    it("503: attempts spaced by the backoff, then the queue goes through once the server is back", function()
      start_server()
      local r = responder(503)
      local p = H.track(Proxy.start{ target_port = r.port })
      local initial, max = 0.02, 0.16
      local c, st, tries = client("http://127.0.0.1:" .. p.port, { reconnect = { initial = initial, max = max } })
      local rec, errs = H.recorder()
      c:on("error", rec)
      local ch = c:channel("room", { queue_offline = true })
      ch:open()
      for i = 1, 5 do assert.is_true(ch:send("m" .. i)) end
      H.wait_until(function() return #tries >= 8 end, "eight scheduled attempts")
      -- every attempt but the first waited for a delay the policy allows,
      -- as the proxy saw the attempts arrive
      local attempts, scheduled = r.count, #tries
      assert.is_true(attempts == scheduled or attempts == scheduled + 1,
        ("%d attempts for %d scheduled retries"):format(attempts, scheduled))
      check_backoff(tries, initial, max, p.accepts)
      for _, ev in ipairs(tries) do
        assert.equal(503, ev.payload.code)
        assert.matches("HTTP 503", ev.payload.reason)
      end
      -- one disconnected for the whole outage; each refusal is an error
      assert.equal("disconnected", statuses(st))
      assert.is_true(#errs >= scheduled and #errs <= scheduled + 1)
      assert.equal(5, c:stats().queued)
      -- the server is back behind the balancer
      p:retarget(srv.port)
      H.wait_until(function() return #messages() == 5 end, "the queued messages")
      assert.same({ "m1", "m2", "m3", "m4", "m5" }, messages())
      assert.equal("disconnected,connected", statuses(st))
    end)
  end)

  it("retries a host name that does not resolve, with backoff, and sends nothing anywhere", function()
    -- A name with an empty label: glibc's resolver refuses it before
    -- building a query (checked with strace: no packet to the name
    -- server, unlike a name under .invalid, which is sent to it).
    local name = "xrt-faults..invalid"
    assert.is_nil((socket.dns.getaddrinfo(name)))
    local initial, max = 0.02, 0.1
    local c, st, tries = client("http://" .. name .. ":8080", { reconnect = { initial = initial, max = max } })
    local ch = c:channel("room", { queue_offline = true })
    ch:open()
    for i = 1, 3 do assert.is_true(ch:send("m" .. i)) end
    H.wait_until(function() return #tries >= 5 end, "five scheduled attempts")
    check_backoff(tries, initial, max, event_times(tries))
    assert.equal("disconnected", statuses(st))
    assert.equal(1006, st[1].payload.code)
    assert.matches("resolve", st[1].payload.reason)
    assert.equal(0, c:stats().connects)
    assert.equal(3, c:stats().queued)
    local ok, discarded = c:close()
    assert.is_true(ok)
    assert.equal(3, discarded)
  end)
end)
