-- The examples run headless against a server, bounded in time, so that
-- none of them can rot: each is started as its own process (the Lua under
-- test, the build under test) against a server in this process, driven by
-- its --script or its stdin, and judged by what it prints and what the
-- server and a client of the spec saw.
local H = require "support.helpers"
local P = require "support.proc"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

local LUA = os.getenv("XRT_LUA") or "lua5.4"
local TIMEOUT = 30 -- seconds an example may take, at most

-- plain-text checks on an example's output
local function has(out, text) return out:find(text, 1, true) ~= nil end
local function in_order(out, list)
  local at = 1
  for _, text in ipairs(list) do
    local i, j = out:find(text, at, true)
    if not i then
      error(("expected %q after position %d in:\n%s"):format(text, at, out), 2)
    end
    at = j + 1
  end
  return true
end

describe("the examples", function()
  local srv

  -- Starts examples/NAME.lua against srv, tracked (killed by H.cleanup).
  -- With stdin = true, h:write(line) types into it, h:close_stdin() ends it.
  local function example(name, args, opts)
    opts = opts or {}
    local argv = { LUA, "examples/" .. name .. ".lua",
                   "--url", srv:base_url(), "--canonical", "examples" }
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    local h = { proc = P.spawn(argv, { stdin = opts.stdin }) }
    function h:output() return self.proc:output() end
    function h:exited() return self.proc:exited() end
    function h:status() return self.proc:status() end
    function h:write(line) self.proc:write(line) end
    function h:close_stdin() self.proc:close_stdin() end
    -- H.wait_until, with what the example printed in the error
    function h:wait_for(pred, what, timeout)
      local ok, err = pcall(H.wait_until, pred, what, timeout)
      if not ok then error(tostring(err) .. "\n" .. name .. " printed:\n" .. self:output(), 2) end
    end
    function h:wait_exit(what)
      self:wait_for(function() return self:exited() end, what or (name .. " exits"), TIMEOUT)
      return self:status(), self:output()
    end
    function h:close() self.proc:kill() end
    return H.track(h)
  end

  local function client()
    return H.track(realtime.new{ url = srv:base_url(), canonical = "examples" })
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "examples" }))
  end)
  after_each(function() H.cleanup() end)

  describe("support_chat.lua", function()
    it("opens room1 on a click, chats, and leaves with no disconnected event", function()
      -- a support agent is already in the room, and said something
      local agent = client()
      local room = agent:channel("room1", { presence = true, history = true })
      local rec, got = H.recorder()
      room:on(rec)
      room:open()
      H.wait_until(function() return agent:status() == "connected" end, "the agent in room1")
      room:send({ from = "agent", text = "Welcome! Ask us anything." })
      H.wait_until(function() return #srv:history("room1") == 1 end, "the welcome stored")

      local ex = example("support_chat", { "--name", "Ann", "--seconds", "20", "--script",
        "click support-icon; await myStatus=connected; say Hello, I need help; await chat=1; " ..
        "click leave-room; wait 0.3; quit" })
      local status, out = ex:wait_exit()
      assert.equal(0, status, out)
      in_order(out, {
        'myStatus = "disconnected"',
        "On click support-icon",
        "Open channel room1 (presence, history, queue offline)",
        "connection status: connected",
        'myStatus = "connected"',
        "presence: 2 in room1",
        "history: 1 earlier message(s)",
        "<agent> Welcome! Ask us anything.",
        "<Ann> Hello, I need help",
        "On click leave-room",
        "Close channel room1",
        'myStatus = "disconnected"',
        "disconnected events received: 0",
      })
      assert.is_false(has(out, "connection status: disconnected"))

      -- the agent saw Ann come, talk and go
      H.wait_until(function()
        return #got > 0 and got[#got].action == "presence_update" and got[#got].payload.action == "leave"
      end, "Ann's leave")
      local said, joined, left
      for _, ev in ipairs(got) do
        if ev.action == "message" and ev.payload.from == "Ann" then said = ev.payload.text end
        if ev.action == "presence_update" then
          if ev.payload.action == "join" then joined = ev.payload.presence.socketId end
          if ev.payload.action == "leave" then left = ev.payload.presence.socketId end
        end
      end
      assert.equal("Hello, I need help", said)
      assert.equal(joined, left)
      assert.same(srv:members("room1"), { room:presence()[1].socketId })
    end)

    it("fails, bounded, when its script cannot finish in time", function()
      local ex = example("support_chat", { "--seconds", "0.5", "--script", "await myStatus=connected" })
      local status, out = ex:wait_exit()
      assert.equal(1, status, out)
      assert.is_true(has(out, "script: the script did not finish in time"))
    end)
  end)

  describe("live_cursors.lua", function()
    it("opens mousemove on page load, broadcasts at 30 Hz and shows presence and cursors", function()
      local bob = client()
      local moves = bob:channel("mousemove", { presence = true })
      local xs, mine = {}, 0
      moves:on("message", function(ev)
        if ev.payload.name == "Alice" then xs[#xs + 1] = ev.payload.x end
        if ev.payload.name == "Bob" then mine = mine + 1 end
      end)
      moves:open()
      H.wait_until(function() return bob:status() == "connected" end, "Bob in mousemove")

      local ex = example("live_cursors", { "--name", "Alice", "--seconds", "2.5" })
      ex:wait_for(function() return #srv:members("mousemove") == 2 end, "Alice in mousemove")
      moves:send({ id = "spec", name = "Bob", x = 10, y = 20 })
      local status, out = ex:wait_exit()
      assert.equal(0, status, out)
      in_order(out, { "Open channel mousemove (presence)", "connection status: connected", "here: 2" })
      in_order(out, { "Bob's cursor appears", "cursors: Bob (10, 20)", "time is up (2.5s)" })
      local sent = tonumber(out:match("sent (%d+) positions in [%d.]+ s"))
      assert.is_truthy(sent, out)

      -- what Bob received: every position Alice sent, once (Bob's own
      -- echo is the marker: Alice has exited, nothing of hers comes later)
      H.wait_until(function() return #xs >= sent end, "every position at Bob")
      moves:send({ id = "spec", name = "Bob", x = 0, y = 0 })
      H.wait_until(function() return mine == 2 end, "Bob's marker")
      assert.equal(sent, #xs)
      assert.is_true(#xs >= 40, "Bob got " .. #xs .. " positions")
      -- in order: the pointer follows x = 400 + 300 cos(t), which only
      -- decreases over the run (t < pi), and moved between sends
      for i = 2, #xs do
        assert.is_true(xs[i] <= xs[i - 1], ("position %d (x = %d) came after x = %d"):format(i, xs[i], xs[i - 1]))
      end
      assert.is_true(xs[#xs] < xs[1])
    end)
  end)

  describe("product_updates.lua", function()
    it("opens its channel on app load and shows each server event", function()
      local ex = example("product_updates", { "--seconds", "20", "--script", "await updates=2; quit" })
      ex:wait_for(function() return #srv:members("product-updates") == 1 end, "the app's channel open")
      assert.equal(1, srv:event("product-updates", { title = "Dark mode", version = "2.4" }))
      assert.equal(1, srv:event("product-updates", "Faster sync"))
      local status, out = ex:wait_exit()
      assert.equal(0, status, out)
      in_order(out, {
        "Open channel product-updates",
        'myStatus = "connected"',
        "toast: Dark mode (version 2.4)",
        "updates = (1 item)",
        "toast: Faster sync",
        "updates = (2 items)",
        "2 update(s) received",
      })
    end)
  end)

  describe("terminal_chat.lua", function()
    it("lets two processes talk, with presence and history", function()
      local ann = example("terminal_chat", { "--name", "Ann", "--seconds", "25" }, { stdin = true })
      ann:wait_for(function() return #srv:members("terminal-chat") == 1 end, "Ann in the chat")
      ann:write("first, before Bob")
      ann:wait_for(function() return #srv:history("terminal-chat") == 1 end, "Ann's first line sent")

      local bob = example("terminal_chat", { "--name", "Bob", "--seconds", "25" }, { stdin = true })
      bob:wait_for(function() return has(bob:output(), "* Ann is here") end, "Bob meets Ann")
      in_order(bob:output(), {
        "* connected",
        "* you are in terminal-chat as Bob; 2 here",
        "* earlier in terminal-chat:",
        "  <Ann> first, before Bob",
      })
      ann:wait_for(function() return has(ann:output(), "* Bob joined") end, "Ann sees Bob")

      bob:write("hi Ann")
      ann:wait_for(function() return has(ann:output(), "<Bob> hi Ann") end, "Bob's line at Ann")
      ann:write("hello Bob")
      bob:wait_for(function() return has(bob:output(), "<Ann> hello Bob") end, "Ann's line at Bob")

      -- end of input: Ann leaves, and Bob sees it
      ann:close_stdin()
      local status, out = ann:wait_exit()
      assert.equal(0, status, out)
      in_order(out, { "* connected", "<Ann> first, before Bob", "* Bob joined", "<Bob> hi Ann",
                      "<Ann> hello Bob", "* bye" })
      bob:wait_for(function() return has(bob:output(), "* Ann left") end, "Bob sees Ann leave")

      bob:write("/quit")
      status, out = bob:wait_exit()
      assert.equal(0, status, out)
      assert.is_true(has(out, "* bye"))
      assert.is_false(has(out, "* disconnected"))
      H.wait_until(function() return #srv:sockets() == 0 end, "both gone")
    end)
  end)

  describe("every example", function()
    local EXAMPLES = { "support_chat", "live_cursors", "product_updates", "terminal_chat" }
    -- files of examples/ that are not examples run by this spec
    local OTHERS = { page = true, demo = true, ["server-config"] = true,
      quickstart = true } -- the quickstart runs in docs_spec.lua

    it("is run by this spec", function()
      local found = {}
      for _, file in ipairs(P.lines("ls examples")) do
        local name = file:match("^(.-)%.lua$")
        if name and not OTHERS[name] then found[#found + 1] = name end
      end
      table.sort(found)
      local want = {}
      for i, name in ipairs(EXAMPLES) do want[i] = name end
      table.sort(want)
      assert.same(want, found)
    end)

    it("prints its usage with --help, and refuses an unknown option", function()
      for _, name in ipairs(EXAMPLES) do
        local help = example(name, { "--help" })
        local status, out = help:wait_exit()
        assert.equal(0, status, out)
        assert.is_true(has(out, "usage: " .. name .. ".lua"), out)
        assert.is_true(has(out, "--seconds N"), out)
        local bad = example(name, { "--colour", "red" })
        status, out = bad:wait_exit()
        assert.equal(2, status, out)
        assert.is_true(has(out, "unknown argument: --colour"), out)
      end
    end)
  end)
end)
