-- bin/xano-realtime-server: the server as a command.  It prints one ready
-- line "listening ws://HOST:PORT/rt/CANONICAL" (and, with an admin key, a
-- second line "console http://HOST:PORT/_console"), serves until
-- SIGINT or SIGTERM, closes every socket cleanly (1001) and exits 0.  Bad
-- flags or a bad config exit 2 with a message on stderr.
local H = require "support.helpers"
local RC = require "support.rawclient"
local HTTP = require "support.http"

local P = require "support.proc"
local BIN = P.ROOT .. "/bin/xano-realtime-server"

-- Runs the server in the background (bounded: killed by cleanup), its
-- stdout and stderr apart: p:output(), p:stderr(), p:status().
local function spawn(args)
  local argv = { BIN }
  for word in args:gmatch("%S+") do argv[#argv + 1] = word end
  return H.track(P.spawn(argv, { stderr = "split" }))
end

-- waits for the ready line (the first); returns host, port, canonical
local function ready(p)
  H.wait_until(function() return p:output():find("\n", 1, true) or p:status() end, "ready line")
  local host, port, canonical = p:output():match("^listening ws://([^:]+):(%d+)/rt/(%S+)\n")
  assert(port, "no ready line; stdout: " .. p:output() .. " stderr: " .. p:stderr())
  return host, tonumber(port), canonical
end

local function wait_exit(p)
  H.wait_until(function() return p:status() ~= nil end, "server exit")
  return p:status()
end

-- SIGTERM, then the clean exit (status 0) it must bring
local function stop(p)
  p:signal("TERM")
  assert.equal(0, wait_exit(p))
end

-- a stand-in for srv in RC.open: the port and canonical, no introspection
local function connect(port, canonical, token)
  return RC.connect(port, { canonical = canonical, token = token }):wait_open()
end

describe("bin/xano-realtime-server", function()
  after_each(H.cleanup)

  it("prints one ready line, serves, and on SIGTERM closes sockets with 1001 and exits 0", function()
    local p = spawn("--port 0 --canonical clitest")
    local host, port, canonical = ready(p)
    assert.equal("127.0.0.1", host)
    assert.is_true(port > 0)
    assert.equal("clitest", canonical)
    local c = connect(port, "clitest")
    c:join("room")
    c:message("room", "hello")
    assert.equal("hello", c:expect("message", "room").payload)
    p:signal("TERM")
    assert.equal(1001, (c:wait_closed()))
    assert.equal(0, wait_exit(p))
    assert.equal("listening ws://127.0.0.1:" .. port .. "/rt/clitest\n", p:output())
  end)

  it("stops the same way on SIGINT", function()
    local p = spawn("--port 0")
    local _, port, canonical = ready(p)
    local c = connect(port, canonical)
    p:signal("INT")
    assert.equal(1001, (c:wait_closed()))
    assert.equal(0, wait_exit(p))
  end)

  it("takes --config, with --canonical and --admin-key overriding it", function()
    local p = spawn("--port 0 --config " .. P.ROOT .. "/examples/server-config.lua" ..
      " --canonical override --admin-key cli-key")
    local _, port, canonical = ready(p)
    assert.equal("override", canonical)
    -- the config's tokens and channel rows apply
    local alice = connect(port, canonical, "alice-token")
    alice:join("lobby", { presence = true })
    local f = alice:expect("presence_full", "lobby")
    assert.same({ name = "Alice", role = "agent" }, f.payload.presence[1].extras)
    alice:join("nowhere")
    assert.equal("unknown channel", alice:expect("error", "nowhere").payload.message)
    -- POST /event takes the key from the command line, not the file's
    local body = '{"channel":"lobby","data":"from cli"}'
    local res = HTTP.request(port, "POST", "/event", { ["X-Admin-Key"] = "change-me" }, body)
    assert.equal(401, res.status)
    res = HTTP.request(port, "POST", "/event", { ["X-Admin-Key"] = "cli-key" }, body)
    assert.equal(200, res.status)
    assert.equal("from cli", alice:expect("event", "lobby").payload.data)
    stop(p)
  end)

  it("with an admin key, prints the console's URL on a second line, and the console answers", function()
    local p = spawn("--port 0 --canonical clitest --admin-key console-key")
    local _, port = ready(p)
    H.wait_until(function() return select(2, p:output():gsub("\n", "")) >= 2 or p:status() end, "console line")
    local url = "http://127.0.0.1:" .. port .. "/_console"
    assert.equal("listening ws://127.0.0.1:" .. port .. "/rt/clitest\nconsole " .. url .. "\n", p:output())
    assert.equal(401, HTTP.request(port, "GET", "/_console/state").status)
    local res = HTTP.request(port, "GET", "/_console/state", { ["X-Admin-Key"] = "console-key" })
    assert.equal(200, res.status)
    assert.truthy(res.body:find('"canonical":"clitest"', 1, true))
    stop(p)
  end)

  it("without an admin key, prints the ready line alone and has no console", function()
    local p = spawn("--port 0 --canonical clitest")
    local _, port = ready(p)
    assert.equal(404, HTTP.request(port, "GET", "/_console").status)
    assert.equal("listening ws://127.0.0.1:" .. port .. "/rt/clitest\n", p:output())
    stop(p)
  end)

  describe("refuses to start", function()
    local base
    before_each(function() base = os.tmpname() end)
    after_each(function()
      for _, ext in ipairs({ "", ".err", ".out", ".lua" }) do os.remove(base .. ext) end
    end)

    -- runs the server to its end (it must refuse at once); returns its
    -- exit status, stderr and stdout
    local function run(args)
      local p = spawn(args)
      H.wait_until(function() return p:exited() end, "the server to exit", 20)
      return p:status(), p:stderr(), p:output()
    end

    it("on an unknown flag or a flag without its value: exit 2, usage on stderr", function()
      local code, err, out = run("--bogus")
      assert.equal(2, code)
      assert.truthy(err:find("unknown argument: --bogus", 1, true))
      assert.truthy(err:find("usage:", 1, true))
      assert.equal("", out)
      code, err = run("--port")
      assert.equal(2, code)
      assert.truthy(err:find("--port needs a value", 1, true))
      code, err = run("--port 70000")
      assert.equal(2, code)
      assert.truthy(err:find("--port", 1, true))
    end)

    it("on a config that names a bad key: exit 2, the key in the message", function()
      local f = assert(io.open(base .. ".lua", "w"))
      f:write('return { channels = { { pattern = "a", message_history = 7 } } }')
      f:close()
      local code, err = run("--config " .. base .. ".lua")
      assert.equal(2, code)
      assert.truthy(err:find("channels[1].message_history", 1, true), err)
    end)

    it("on a config file that cannot be read: exit 2", function()
      local code, err = run("--config " .. base .. ".missing")
      assert.equal(2, code)
      assert.truthy(err:find("cannot load config file", 1, true), err)
    end)

    it("on a port that is taken: exit 1", function()
      local p = spawn("--port 0")
      local _, port = ready(p)
      local code, err = run("--port " .. port)
      assert.equal(1, code)
      assert.truthy(err:find("cannot listen", 1, true), err)
      stop(p)
    end)
  end)

  it("--help prints the usage and exits 0", function()
    local p = H.track(P.spawn({ BIN, "--help" }))
    H.wait_until(function() return p:exited() end, "the usage", 20)
    local code, out = p:status(), p:output()
    assert.equal(0, code)
    assert.truthy(out:find("--config FILE", 1, true))
  end)
end)
