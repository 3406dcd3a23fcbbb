-- OpenResty: Debian's nginx with libnginx-mod-http-lua runs the example of
-- examples/openresty (nginx.conf + realtime_worker.lua): the LuaJIT build
-- loaded in init_worker_by_lua, one client per worker polled by a timer,
-- /send and /messages.  The spec drives it over HTTP on 127.0.0.1 against
-- the local server, reloads and quits it, and shows that no DNS, connect
-- or TLS handshake of a client ever holds up the worker.  Latencies are
-- measured and written to build/reports/openresty.txt, never asserted.
local H = require "support.helpers"
local P = require "support.proc"
local N = require "support.nginx"
local socket = require "socket"
local server = require "xano.realtime.server"

local report = {}
local function note(fmt, ...)
  report[#report + 1] = fmt:format(...)
  P.sh("mkdir -p build/reports")
  local f = io.open("build/reports/openresty.txt", "w")
  if f then f:write(table.concat(report, "\n"), "\n"); f:close() end
end

-- max, median and mean of a list of seconds, in milliseconds
local function summary(list)
  local s = {}
  for i = 1, #list do s[i] = list[i] end
  table.sort(s)
  local sum = 0
  for i = 1, #s do sum = sum + s[i] end
  return ("n=%d max=%.2fms median=%.2fms mean=%.2fms"):format(#s, s[#s] * 1e3,
    s[math.floor((#s + 1) / 2)] * 1e3, sum / #s * 1e3)
end

-- Does a /messages reply (from whichever worker answers) hold the text?
local function has(ng, text)
  local code, r = N.get(ng, "/messages")
  if code ~= 200 or type(r) ~= "table" then return false end
  for _, m in ipairs(r.messages) do
    if type(m.payload) == "table" and m.payload.text == text then return true end
  end
  return false
end

-- K requests in turn to /status, /send and /messages: every one must be
-- served (200); returns their durations and the /status replies.
local function hammer(ng, k)
  local took, statuses = {}, {}
  for i = 1, k do
    local path = ({ "/status", "/send", "/messages" })[i % 3 + 1]
    local code, r, t
    if path == "/send" then
      code, r, t = N.post(ng, path, { text = "probe " .. i })
    else
      code, r, t = N.get(ng, path)
    end
    assert.equal(200, code, path .. ": " .. tostring(r))
    took[#took + 1] = t
    if path == "/status" then statuses[#statuses + 1] = r end
  end
  return took, statuses
end

describe("OpenResty (examples/openresty)", function()
  local ng, srv
  local cleanup = {}
  after_each(function()
    N.stop(ng)
    ng = nil
    local errs = {}
    for i = #cleanup, 1, -1 do
      local ok, err = pcall(cleanup[i])
      if not ok then errs[#errs + 1] = tostring(err) end
      cleanup[i] = nil
    end
    H.cleanup()
    assert(#errs == 0, "cleanup raised: " .. table.concat(errs, "; "))
  end)

  local function start_server(port)
    srv = H.track(assert(server.start{ port = port or 0, canonical = "local" }))
    return srv
  end
  local function members() return #srv:members("lobby") end

  it("sends and receives through the local server, also after it restarts", function()
    start_server()
    ng = N.start{ url = srv:base_url(), workers = 2 }
    H.wait_until(function() return members() == 2 end, "both workers to join")

    local code, r = N.post(ng, "/send", { text = "one" })
    assert.equal(200, code)
    assert.is_true(r.ok)
    H.wait_until(function() return has(ng, "one") end, "'one' back through the server")

    -- the server goes away: the workers notice, /send still takes messages
    local port = srv.port
    srv:close()
    H.wait_until(function()
      local c, st = N.get(ng, "/status")
      return c == 200 and st.status == "disconnected"
    end, "a worker to see the server gone")
    code, r = N.post(ng, "/send", { text = "during" })
    assert.equal(200, code)
    assert.is_true(r.ok)

    -- it comes back on the same port: both workers rejoin by themselves
    start_server(port)
    H.wait_until(function() return members() == 2 end, "both workers to rejoin")
    code = N.post(ng, "/send", { text = "after" })
    assert.equal(200, code)
    H.wait_until(function() return has(ng, "during") and has(ng, "after") end,
      "'during' and 'after' back through the restarted server")

    local took = hammer(ng, 30)
    note("connected, 2 workers: HTTP requests %s", summary(took))
    -- the timer's poll(0) cost, once it has run a few hundred times
    local st
    H.wait_until(function()
      local code
      code, st = N.get(ng, "/status")
      return code == 200 and st.polls >= 300
    end, "300 timer polls in a worker")
    note("timer poll(0) in a worker: %d calls, mean %.4fms, worst %.3fms",
      st.polls, st.poll_mean_ms, st.poll_worst_ms)
    N.assert_clean_log(ng)
  end)

  it("leaves no thread or socket behind after nginx -s reload and -s quit", function()
    start_server()
    ng = N.start{ url = srv:base_url(), workers = 2 }
    H.wait_until(function() return members() == 2 end, "both workers to join")

    -- each worker: its main thread and one service thread, and one
    -- socket connected to the server; the master loads no client
    local function check_generation(pids)
      assert.equal(2, #pids)
      for _, pid in ipairs(pids) do
        assert.equal(2, N.threads(pid), "threads of worker " .. pid)
        assert.equal(1, N.connections(pid, srv.port), "server connections of worker " .. pid)
      end
      assert.equal(1, N.threads(ng.master))
      assert.equal(0, N.connections(ng.master, srv.port))
    end
    -- sockets per worker (sorted: a worker also holds its peers' channels)
    local function socket_counts(pids)
      local t = {}
      for i, pid in ipairs(pids) do t[i] = #N.socket_inodes(pid) end
      table.sort(t)
      return t
    end
    local gen1 = N.workers(ng)
    check_generation(gen1)
    local sockets1 = socket_counts(gen1)

    assert(N.signal(ng, "reload"))
    H.wait_until(function()
      for _, pid in ipairs(gen1) do if P.alive(pid) then return false end end
      local now = N.workers(ng)
      return #now == 2 and members() == 2 and #srv:sockets() == 2
    end, "the old workers to exit and two new ones to join")
    local gen2 = N.workers(ng)
    for _, pid in ipairs(gen2) do
      for _, old in ipairs(gen1) do assert.are_not.equal(old, pid) end
    end
    check_generation(gen2)
    assert.same(sockets1, socket_counts(gen2))

    -- the old workers closed their clients before exiting: back to the one
    -- thread they had before the client existed
    local log = N.error_log(ng)
    for _, pid in ipairs(gen1) do
      assert.truthy(log:find("worker " .. pid .. " closed its client: threads=1 (1 before the client)", 1, true),
        "exit line of worker " .. pid .. " in:\n" .. log)
    end

    -- the new generation works
    assert.equal(200, (N.post(ng, "/send", { text = "reloaded" })))
    H.wait_until(function() return has(ng, "reloaded") end, "a round trip after the reload")

    assert(N.signal(ng, "quit"))
    H.wait_until(function()
      return not P.alive(ng.master) and #N.workers(ng) == 0 and #srv:sockets() == 0
    end, "nginx to exit and the server to see every connection closed")
    local left = 0
    for _, st in pairs(N.tcp_to(srv.port)) do if st == "01" then left = left + 1 end end
    assert.equal(0, left)
    log = N.error_log(ng)
    for _, pid in ipairs(gen2) do
      assert.truthy(log:find("worker " .. pid .. " closed its client: threads=1", 1, true))
    end
    N.assert_clean_log(ng)
  end)

  describe("never blocks a worker on the network", function()
    -- A worker whose client is stuck in a name lookup, a connect or a TLS
    -- handshake still serves every request; the stuck step is still
    -- stuck after the last one.

    it("while the name lookup hangs (it runs on the service thread)", function()
      local dir = P.tmpdir("dns")
      cleanup[#cleanup + 1] = function() P.rmdir(dir) end
      local ok, out = P.sh("cc -shared -fPIC -o " .. dir .. "/slowdns.so spec/support/slowdns.c -ldl")
      assert(ok, out)
      local log, release = dir .. "/dns.log", dir .. "/release"
      cleanup[#cleanup + 1] = function() io.open(release, "w"):close() end
      ng = N.start{ url = "http://slow-dns.test:9", workers = 1, env = {
        LD_PRELOAD = dir .. "/slowdns.so", XRT_SLOW_DNS_NAME = "slow-dns.test",
        XRT_SLOW_DNS_LOG = log, XRT_SLOW_DNS_RELEASE = release } }
      H.wait_until(function() return (P.read(log) or ""):find("begin") end, "the lookup to start")
      local worker = N.workers(ng)[1]
      local pid, tid = (P.read(log)):match("begin (%d+) (%d+)")
      assert.equal(worker, tonumber(pid))
      assert.are_not.equal(pid, tid) -- not the worker's main thread

      local took, statuses = hammer(ng, 30)
      for _, st in ipairs(statuses) do assert.equal("connecting", st.status) end
      assert.falsy((P.read(log)):find("end"), "the lookup was released early")
      note("worker with a name lookup held: HTTP requests %s", summary(took))

      io.open(release, "w"):close()
      H.wait_until(function() return (P.read(log) or ""):find("end") end, "the lookup to return")
      N.assert_clean_log(ng)
    end)

    it("while the connect gets no answer", function()
      -- a listener with backlog 0 and one connection waiting: the kernel
      -- drops further SYNs, so a connect to it hangs
      local trap = socket.tcp()
      assert(trap:bind("127.0.0.1", 0))
      assert(trap:listen(0))
      local _, port = trap:getsockname()
      port = tonumber(port)
      local filler = socket.tcp()
      filler:settimeout(2)
      assert(filler:connect("127.0.0.1", port))
      cleanup[#cleanup + 1] = function() filler:close(); trap:close() end

      ng = N.start{ url = "http://127.0.0.1:" .. port, workers = 1 }
      local worker
      local function syn_sent()
        worker = N.workers(ng)[1]
        if not worker then return nil end
        local tcp = N.tcp_to(port)
        for _, ino in ipairs(N.socket_inodes(worker)) do
          if tcp[ino] == "02" then return ino end -- SYN_SENT
        end
      end
      H.wait_until(syn_sent, "the worker's connect to be pending")
      local ino = syn_sent()

      local took, statuses = hammer(ng, 30)
      for _, st in ipairs(statuses) do
        assert.equal("connecting", st.status)
        assert.equal(0, st.reconnects)
      end
      assert.equal(ino, syn_sent(), "the same connect is still pending")
      note("worker with a connect unanswered: HTTP requests %s", summary(took))
      N.assert_clean_log(ng)
    end)

    it("while the TLS handshake gets no answer", function()
      -- the kernel completes the TCP handshake; nobody ever reads the
      -- ClientHello
      local trap = assert(socket.bind("127.0.0.1", 0))
      local _, port = trap:getsockname()
      port = tonumber(port)
      cleanup[#cleanup + 1] = function() trap:close() end

      ng = N.start{ url = "https://127.0.0.1:" .. port, workers = 1 }
      local function established()
        local worker = N.workers(ng)[1]
        if not worker then return nil end
        local tcp = N.tcp_to(port)
        for _, ino in ipairs(N.socket_inodes(worker)) do
          if tcp[ino] == "01" then return ino end
        end
      end
      H.wait_until(established, "the worker's TLS connection")
      local ino = established()

      local took, statuses = hammer(ng, 30)
      for _, st in ipairs(statuses) do
        assert.equal("connecting", st.status)
        assert.equal(0, st.reconnects)
      end
      assert.equal(ino, established(), "the same handshake is still pending")
      note("worker with a TLS handshake unanswered: HTTP requests %s", summary(took))

      -- what waited there all along: a TLS handshake record (ClientHello)
      trap:settimeout(2)
      local conn = assert(trap:accept())
      conn:settimeout(2)
      local first = assert(conn:receive(1))
      conn:close()
      assert.equal(0x16, first:byte())
      N.assert_clean_log(ng)
    end)
  end)
end)
