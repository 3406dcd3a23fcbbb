-- Per-channel order: every frame of a channel leaves in the order the app
-- asked for it, whatever the state of the link.  A leave always goes before
-- the next join, so after any sequence of open() and close() the channel is
-- joined on the server exactly when ch:is_open() is true: on a live link,
-- while the first connect is made, and in the replay after a reconnect.
-- Calls come back to back, with no poll between; what is checked is what
-- the server's membership and a peer show.
local H = require "support.helpers"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("per-channel order", function()
  local srv, port

  local function start_server()
    srv = H.track(assert(server.start{ port = port or 0, canonical = "test" }))
    port = srv.port
  end
  local function client(opts)
    opts = opts or {}
    opts.url = srv:base_url()
    opts.canonical = "test"
    opts.reconnect = opts.reconnect or { initial = 0.02, max = 0.05 }
    return H.track(realtime.new(opts))
  end
  -- The socket id the server gave c: the only socket whose channels hold
  -- the marker channel "sync-<tag>".
  local function socket_of(tag)
    for _, s in ipairs(srv:sockets()) do
      for _, name in ipairs(s.channels) do
        if name == "sync-" .. tag then return s.socketId end
      end
    end
  end
  local function is_member(name, sid)
    for _, m in ipairs(srv:members(name)) do
      if m == sid then return true end
    end
    return false
  end
  -- A barrier on one socket: the server reads a socket's frames in order,
  -- so once it has a marker sent on the socket's always-open channel, it
  -- has every frame asked for before it.
  local marks = 0
  local function barrier(sync)
    marks = marks + 1
    local mark, seen = "mark-" .. marks, false
    local prev = srv.hooks.frame
    srv.hooks.frame = function(sid, f)
      if f.action == "message" and f.payload == mark then seen = true end
      if prev then return prev(sid, f) end
    end
    assert.is_true(sync:send(mark))
    H.wait_until(function() return seen end, "the server to read " .. mark)
    srv.hooks.frame = prev
  end

  before_each(function() port = nil; start_server() end)
  after_each(function() H.cleanup() end)

  it("keeps a channel closed and reopened back to back joined, and a peer's later message arrives once", function()
    local c = client()
    local sync = c:channel("sync-c")
    local ch = c:channel("room")
    local got = {}
    ch:on("message", function(ev) got[#got + 1] = ev.payload end)
    sync:open(); ch:open()
    local peer = client()
    local pch = peer:channel("room")
    pch:open()
    H.wait_until(function() return #srv:members("room") == 2 and c:status() == "connected" end, "both joined")
    local sid = socket_of("c")
    for round = 1, 10 do
      ch:close(); ch:open()
      barrier(sync)
      assert.is_true(is_member("room", sid), "joined after close+open, round " .. round)
      local text = "after reopen " .. round
      assert.is_true(pch:send(text))
      H.wait_until(function() return got[#got] == text end, "the peer's message of round " .. round)
    end
    -- exactly once each: a later marker from the peer has come, nothing doubled
    assert.is_true(pch:send("end"))
    H.wait_until(function() return got[#got] == "end" end, "the last marker")
    assert.equal(11, #got)
  end)

  it("ends joined exactly when is_open() says so, whatever the sequence", function()
    local c = client()
    local sync = c:channel("sync-c")
    local ch = c:channel("room")
    sync:open()
    H.wait_until(function() return #srv:members("sync-c") == 1 end, "connected")
    local sid = socket_of("c")
    -- every sequence of up to 5 open/close calls, from both starting states
    for bits = 0, 63 do
      local n = 1 + bits % 5
      for i = 1, n do
        if math.floor(bits / 2 ^ (i - 1)) % 2 == 1 then ch:open() else ch:close() end
      end
      barrier(sync)
      assert.equal(ch:is_open(), is_member("room", sid), "sequence " .. bits)
    end
  end)

  it("sends a channel's messages and its leave and join in the order asked", function()
    local c = client()
    local ch = c:channel("room")
    ch:open()
    local peer = client()
    local got = {}
    peer:channel("room"):on("message", function(ev) got[#got + 1] = ev.payload end)
    peer:channel("room"):open()
    H.wait_until(function() return #srv:members("room") == 2 end, "both joined")
    ch:send("before"); ch:close(); ch:open(); ch:send("after")
    H.wait_until(function() return #got == 2 end, "both messages at the peer")
    assert.same({ "before", "after" }, got)
  end)

  -- A message is delivered once, or, when its channel closed before any
  -- link could take it, reported in an error event: never both, never lost.
  local function once_or_reported(got, reported, n)
    local seen = {}
    for _, v in ipairs(got) do
      if v ~= "end" then
        assert.is_nil(seen[v], "delivered twice: " .. tostring(v))
        seen[v] = true
      end
    end
    for round = 1, n do
      assert.is_true((seen[round] or false) ~= (reported[round] or false),
        "round " .. round .. " delivered once or reported, not both")
    end
  end
  local function record_dropped(c)
    local reported = {}
    c:on("error", function(ev)
      for _, f in ipairs(ev.payload.dropped or {}) do reported[f.payload] = true end
    end)
    return reported
  end

  it("rejoins and delivers once when a channel opens while the last one's socket winds down", function()
    local c = client()
    local reported = record_dropped(c)
    local ch = c:channel("room")
    local other = c:channel("other")
    local peer = client()
    local got = {}
    peer:channel("other"):on("message", function(ev) got[#got + 1] = ev.payload end)
    peer:channel("other"):open()
    ch:open()
    H.wait_until(function() return #srv:members("room") == 1 and #srv:members("other") == 1 end, "joined")
    for round = 1, 5 do
      ch:close()
      c:poll(0) -- the socket starts to close: no channel is left
      other:open(); other:send(round); other:close(); ch:open()
      H.wait_until(function() return got[#got] == round or reported[round] end,
        "round " .. round .. " at the peer, or reported")
      H.wait_until(function() return c:status() == "connected" and #srv:members("room") == 1 end, "rejoined")
    end
    assert.is_true(peer:channel("other"):send("end"))
    H.wait_until(function() return got[#got] == "end" end, "a later marker")
    once_or_reported(got, reported, 5)
  end)

  it("delivers once, or reports, what a channel opened and closed while the socket winds down sent", function()
    local c = client()
    local reported = record_dropped(c)
    local ch = c:channel("room")
    local other = c:channel("other")
    local peer = client()
    local got = {}
    peer:channel("other"):on("message", function(ev) got[#got + 1] = ev.payload end)
    peer:channel("other"):open()
    for round = 1, 5 do
      ch:open()
      H.wait_until(function() return c:status() == "connected" and #srv:members("room") == 1 end, "joined")
      ch:close()
      c:poll(0) -- the socket starts to close: no channel is left
      other:open(); other:send(round); other:close()
      H.wait_until(function() return got[#got] == round or reported[round] end,
        "round " .. round .. " at the peer, or reported")
      H.wait_until(function() return c:status() == "idle" and #srv:members("other") == 1 end, "the client gone")
    end
    assert.is_true(peer:channel("other"):send("end"))
    H.wait_until(function() return got[#got] == "end" end, "a later marker")
    once_or_reported(got, reported, 5)
  end)

  it("closes the socket of a channel opened and closed before the first connect", function()
    -- the client runs in its own process, polled at once and all the
    -- time, while this process runs the server: the server accepts the
    -- socket whenever it can, not when this spec polls the client
    local P = require "support.proc"
    local dir = P.tmpdir("openclose")
    local script = dir .. "/client.lua"
    local f = assert(io.open(script, "w"))
    f:write(("package.path = %q .. package.path; package.cpath = %q .. package.cpath\n")
      :format(package.path .. ";", package.cpath .. ";"))
    f:write([[
      local realtime = require "xano.realtime"
      local core = require "xano.realtime.core"
      for round = 1, 3 do
        local c = realtime.new{ url = arg[1], canonical = "test" }
        local events = {}
        c:on("connection_status", function(ev) events[#events + 1] = ev.payload.status end)
        local ch = c:channel("room")
        ch:open(); ch:close()
        local deadline = core.now() + 5
        repeat c:poll(0.02) until c:status() == "idle" or core.now() > deadline
        print(("round %d: %s [%s]"):format(round, c:status(), table.concat(events, ",")))
        io.stdout:flush()
        -- keep polling: an orphan socket would stay open meanwhile
        deadline = core.now() + 20
        while not io.open(arg[2] .. "/next" .. round) and core.now() < deadline do c:poll(0.02) end
      end
    ]])
    f:close()
    local proc = P.spawn({ os.getenv("XRT_LUA") or "lua5.4", script, srv:base_url(), dir }, { dir = dir })
    H.track({ close = function() proc:kill(); P.rmdir(dir) end })
    for round = 1, 3 do
      local line
      H.wait_until(function()
        line = proc:output():match("round " .. round .. ": [^\n]*")
        assert(line or not proc:exited(), "the client exited: " .. proc:output())
        return line
      end, "round " .. round)
      assert.equal("round " .. round .. ": idle []", line)
      H.wait_until(function() return #srv:sockets() == 0 end, "no socket on the server, round " .. round)
      assert(io.open(dir .. "/next" .. round, "w")):close()
    end
  end)

  it("joins a channel opened, closed and opened again before the first connect", function()
    local c = client()
    local sync = c:channel("sync-c")
    local ch = c:channel("room")
    sync:open()
    ch:open(); ch:close(); ch:open(); ch:close(); ch:open()
    H.wait_until(function() return c:status() == "connected" end, "connected")
    barrier(sync)
    assert.same({ socket_of("c") }, srv:members("room"))
  end)

  it("rejoins after a reconnect exactly the channels open then, with the actions asked while away", function()
    -- no automatic reconnect: the actions are taken while surely offline
    local c = client{ reconnect = { codes = {} } }
    local sync = c:channel("sync-c")
    local ch = c:channel("room")
    local gone = c:channel("gone")
    sync:open(); ch:open(); gone:open()
    local peer = client()
    local got = {}
    peer:channel("room"):on("message", function(ev) got[#got + 1] = ev.payload end)
    peer:channel("room"):open()
    H.wait_until(function() return #srv:members("room") == 2 and #srv:members("gone") == 1 end, "joined")
    local rec, errors = H.recorder()
    c:on("error", rec)
    local joins = 0
    srv.hooks.frame = function(_, f)
      if f.action == "join" and f.options.channel == "room" then joins = joins + 1 end
    end
    srv:drop(socket_of("c"), 1011)
    H.wait_until(function() return c:status() == "disconnected" end, "the loss")
    -- while away: close and reopen, queue, close another for good
    ch:send("q1"); ch:close(); ch:open(); ch:send("q2"); gone:close()
    c:reconnect()
    H.wait_until(function() return c:status() == "connected" end, "the rejoin")
    barrier(sync)
    local sid = socket_of("c")
    assert.is_true(is_member("room", sid))
    assert.is_false(is_member("gone", sid))
    assert.equal(1, joins)
    H.wait_until(function() return #got >= 1 end, "the queued message at the peer")
    assert.is_true(peer:channel("room"):send("end"))
    H.wait_until(function() return got[#got] == "end" end, "the peer's own marker")
    -- q1 was reported when its channel closed offline; q2 arrived once
    assert.same({ "q2", "end" }, got)
    assert.equal(1, #errors)
    assert.equal("q1", errors[1].payload.dropped[1].payload)
  end)

  it("keeps the order when the channel closes and reopens during the replay", function()
    local c = client()
    local sync = c:channel("sync-c")
    local rooms = {}
    for i = 1, 20 do rooms[i] = c:channel("room" .. i) end
    sync:open()
    for i = 1, 20 do rooms[i]:open() end
    H.wait_until(function() return #srv:members("room20") == 1 end, "joined")
    local down = false
    c:on("connection_status", function(ev) if ev.payload.status == "disconnected" then down = true end end)
    srv:drop(socket_of("c"), 1011)
    H.wait_until(function() return down end, "the loss")
    -- the moment the link is back the replay starts; toggle channels as it runs
    H.wait_until(function() return c._core:state() == "open" end, "the link back")
    for i = 1, 20, 2 do rooms[i]:close() end
    for i = 1, 20, 4 do rooms[i]:open() end
    barrier(sync)
    local sid = socket_of("c")
    for i = 1, 20 do
      assert.equal(rooms[i]:is_open(), is_member("room" .. i, sid), "room" .. i)
    end
  end)
end)

describe("the first send", function()
  local srv
  before_each(function() srv = H.track(assert(server.start{ port = 0, canonical = "test" })) end)
  after_each(function() H.cleanup() end)
  local function client()
    return H.track(realtime.new{ url = srv:base_url(), canonical = "test" })
  end

  it("says connecting from open() on", function()
    for round = 1, 20 do
      local c = client()
      assert.equal("idle", c:status())
      c:channel("room"):open()
      assert.equal("connecting", c:status(), "round " .. round)
      if round == 20 then H.wait_until(function() return c:status() == "connected" end, "connected") end
      c:close()
    end
  end)

  it("says connecting when a channel opens while the last close winds down", function()
    local c = client()
    local ch = c:channel("room")
    for round = 1, 20 do
      ch:open()
      H.wait_until(function() return c:status() == "connected" and #srv:members("room") == 1 end, "joined")
      ch:close()
      c:poll(0) -- the stop goes out: no channel is left
      H.wait_until(function() return c._core:state() ~= "open" end, "the socket winding down")
      ch:open()
      assert.equal("connecting", c:status(), "round " .. round)
      H.wait_until(function() return c:status() == "connected" end, "connected again")
      ch:close()
      H.wait_until(function() return c:status() == "idle" end, "idle")
    end
  end)

  for _, q in ipairs({ "default", false, true }) do
    it("is held while the first join is in progress and reaches a peer once (queue_offline " ..
       tostring(q) .. ")", function()
      local peer = client()
      local got = {}
      peer:channel("room"):on("message", function(ev) got[#got + 1] = ev.payload end)
      peer:channel("room"):open()
      H.wait_until(function() return #srv:members("room") == 1 end, "the peer joined")
      local c = client()
      local ch = c:channel("room", q ~= "default" and { queue_offline = q } or nil)
      ch:open()
      assert.same({ true }, { ch:send("hello") })
      assert.is_true(ch:history())
      H.wait_until(function() return #got == 1 end, "the message at the peer")
      assert.is_true(ch:send("end"))
      H.wait_until(function() return got[#got] == "end" end, "a later marker")
      assert.same({ "hello", "end" }, got)
    end)
  end
end)
