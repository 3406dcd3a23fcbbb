-- make demo runs examples/demo.lua: the bundled server as a subprocess,
-- and Alice and Bob through the support-chat story.  It must pass, tell
-- the story in its transcript, stay well under a minute, and leave
-- nothing running; when it cannot do its job it must say so and fail.
local H = require "support.helpers"
local P = require "support.proc"
local core = require "xano.realtime.core"
local server = require "xano.realtime.server"

local LUA = os.getenv("XRT_LUA") or "lua5.4"

local function in_order(out, list)
  local at = 1
  for _, text in ipairs(list) do
    local i, j = out:find(text, at, true)
    if not i then error(("expected %q after position %d in:\n%s"):format(text, at, out), 2) end
    at = j + 1
  end
  return at
end

describe("make demo (examples/demo.lua)", function()
  local function run(env)
    local proc = P.spawn({ LUA, "examples/demo.lua" }, { env = env })
    H.track({ close = function() proc:kill() end })
    local t0 = core.now()
    H.wait_until(function() return proc:exited() end, "the demo to finish", 60)
    return proc, proc:status(), proc:output(), core.now() - t0
  end

  after_each(function() H.cleanup() end)

  it("tells the support-chat story and exits 0 within a minute", function()
    local proc, status, out = run() -- run() gives it 60 s
    assert.equal(0, status, out)
    local port = out:match("server  listening ws://127%.0%.0%.1:(%d+)/rt/local")
    assert.is_truthy(port, out)
    local restart = in_order(out, {
      "Alice   clicks the support icon: Open channel room1 (presence, history, queue offline)",
      "Alice   connection status: connected",
      "Alice   sees 1 in room1: Alice",
      "Alice   got the history: 0 earlier message(s)",
      "Bob     clicks the support icon: Open channel room1",
      "Bob     sees 2 in room1: Alice",
      'Alice   sends "Hello! How can I help you?"',
      'Bob     got a message from Alice: "Hello! How can I help you?"',
      'Alice   got a message from Bob: "My order #1234 has not arrived."',
      'Bob     got a private message from Alice: "It ships today."',
      'Alice   got a message from Bob: "Great, thank you!"',
      "server  POST /event",
      "server  delivered the event to 2 socket(s)",
      "server  restarts: SIGTERM",
      'Alice   sends "Are you still there?"',
      "Alice   has 1 action(s) queued",
      "server  listening ws://127.0.0.1:" .. port .. "/rt/local again (same port)",
    })
    -- each got the event, and lost the link once, with the server's 1001
    assert.matches("Alice   got a server event: {[^\n]*shipped", out)
    assert.matches("Bob     got a server event: {[^\n]*shipped", out)
    assert.matches("Alice   connection status: disconnected %(close code 1001%)", out)
    assert.matches("Bob     connection status: disconnected %(close code 1001%)", out)
    -- after the restart: reconnected, and what was typed meanwhile arrived,
    -- live or in the history the rejoin brings
    local after = out:sub(restart)
    assert.matches("Alice   connection status: connected", after)
    assert.matches("Bob     connection status: connected", after)
    assert.is_truthy(after:find('Bob     got a message from Alice: "Are you still there?"', 1, true) or
      after:find('Bob       Alice: "Are you still there?"', 1, true), out)
    assert.is_truthy(after:find('Alice   got a message from Bob: "Yes, still here."', 1, true) or
      after:find('Alice     Bob: "Yes, still here."', 1, true), out)
    local leave = in_order(after, {
      'Bob     clicks Leave room: Close channel room1; myStatus = "disconnected"',
      "Alice   sees Bob leave",
      'Alice   clicks Leave room: Close channel room1; myStatus = "disconnected"',
      "check   no disconnected event after the voluntary closes",
      "server  stopped",
      "demo passed in",
    })
    assert.is_nil(after:sub(1, leave):match("disconnected %(close code"))

    -- nothing left running: the session is empty and the port is free
    H.wait_until(function() return #P.select("pgrp", proc.pid) == 0 end, "the demo's processes gone")
    local again = H.track(assert(server.start{ port = tonumber(port) }))
    assert.equal(tonumber(port), again.port)
  end)

  it("fails with a reason, and exits non-zero, when it cannot start the server", function()
    -- no `timeout` (nor anything else) on PATH: the server cannot start
    local lua = P.lines("command -v " .. LUA)[1]
    local proc = P.spawn(P.quote(lua) .. " examples/demo.lua", { env = { PATH = "/nonexistent" } })
    H.track({ close = function() proc:kill() end })
    H.wait_until(function() return proc:exited() end, "the demo to give up", 30)
    assert.equal(1, proc:status())
    assert.matches("demo FAILED: [^\n]*the server did not start", proc:output())
  end)
end)
