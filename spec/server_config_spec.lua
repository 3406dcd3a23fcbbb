-- The local Xano Realtime server: its config.  A table (or a Lua file
-- returning one) with canonical, admin_key, max_frame, unknown_token,
-- tokens, channels, errors and ping_interval.  Every bad key raises an
-- error that names it; with no config at all every channel allows
-- everything, anonymous clients included, with 100 messages of history.
local H = require "support.helpers"
local RC = require "support.rawclient"
local HTTP = require "support.http"
local server = require "xano.realtime.server"

local function start(o)
  o.port = o.port or 0
  return H.track(assert(server.start(o)))
end

local function start_error(o)
  o.port = 0
  local ok, err = pcall(server.start, o)
  assert.is_false(ok, "start should have raised")
  return err
end

describe("server config", function()
  after_each(H.cleanup)

  it("examples/server-config.lua uses every key (tls commented out) and starts", function()
    local cfg = assert(server.load_config("examples/server-config.lua"))
    local text = assert(io.open("examples/server-config.lua")):read("*a")
    assert.matches("%-%- tls = { cert = ", text)
    local keys = {}
    for k in pairs(cfg) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "admin_key", "canonical", "channels", "errors", "max_frame", "ping_interval",
      "tokens", "unknown_token" }, keys)
    local row_keys = {}
    for _, row in ipairs(cfg.channels) do
      for k in pairs(row) do row_keys[k] = true end
    end
    for _, k in ipairs({ "pattern", "nested", "anonymous_clients", "presence", "public_messaging",
      "public_auth_only", "private_messaging", "private_auth_only", "authenticated_messaging",
      "message_history" }) do
      assert.is_true(row_keys[k] == true, k)
    end
    local srv = start{ config_file = "examples/server-config.lua" }
    assert.equal("ws://127.0.0.1:" .. srv.port .. "/rt/local", srv:url())
    local bob = RC.open(srv, { token = "bob-token" })
    bob:join("support/17", { presence = true })
    assert.same({ name = "Bob" }, bob:expect("presence_full", "support/17").payload.presence[1].extras)
    bob:message("notifications", "x")
    -- the config's errors map replaced this message
    assert.equal("join the channel first", bob:expect("error", "notifications").payload.message)
  end)

  it("without a config: canonical \"local\", and every channel allows everything", function()
    local srv = start{}
    assert.equal("ws://127.0.0.1:" .. srv.port .. "/rt/local", srv:url())
    local a = RC.open(srv):joined("any/channel/at all", { presence = true, history = true })
    local b = RC.open(srv):joined("any/channel/at all")
    a:expect("presence_full")
    a:expect("history")
    a:message("any/channel/at all", "public")
    assert.equal("public", b:expect("message").payload)
    a:message("any/channel/at all", "private", { socketId = b.socketId })
    assert.equal("private", b:expect("message").payload)
  end)

  it("without a config: history keeps the last 100 messages", function()
    local srv = start{}
    local a = RC.open(srv):joined("room")
    for i = 1, 105 do a:message("room", i) end
    for _ = 1, 105 do a:expect("message", "room") end
    local h = srv:history("room")
    assert.equal(100, #h)
    assert.equal(6, h[1].payload)
    assert.equal(105, h[100].payload)
  end)

  it("without options at all: listens on 127.0.0.1, on a free port", function()
    local srv = H.track(assert(server.start()))
    assert.is_true(srv.port > 0)
    assert.equal("ws://127.0.0.1:" .. srv.port .. "/rt/local", srv:url())
    RC.open(srv, { canonical = "local" }):joined("room")
    assert.equal(1, #srv:members("room"))
  end)

  it("without a config: a client may send frames of up to 1 MiB, a bigger one closes its socket with 1009", function()
    local srv = start{}
    local a = RC.open(srv, { canonical = "local" }):joined("room")
    local b = RC.open(srv, { canonical = "local", max_frame = 2 * 1024 * 1024 }):joined("room")
    local fits = string.rep("x", 1024 * 1024 - 1024)
    a:message("room", fits)
    assert.equal(#fits, #b:expect("message", "room").payload)
    a:message("room", string.rep("x", 1024 * 1024))
    assert.equal(1009, (a:wait_closed()))
    H.wait_until(function() return #srv:members("room") == 1 end, "the sender removed")
  end)

  it("start options override the config's canonical and admin_key", function()
    local srv = start{ canonical = "mine", admin_key = "start-key",
      config = { canonical = "theirs", admin_key = "config-key" } }
    assert.equal("ws://127.0.0.1:" .. srv.port .. "/rt/mine", srv:url())
    -- the upgrade path is the start option's, not the config's
    local a = RC.open(srv):joined("room")
    assert.same({ a.socketId }, srv:members("room"))
    local function post(key)
      return HTTP.request(srv.port, "POST", "/event",
        { ["Content-Type"] = "application/json", ["X-Admin-Key"] = key }, '{"channel":"room","data":1}').status
    end
    assert.equal(200, post("start-key"))
    assert.equal(401, post("config-key"))
  end)

  describe("errors name the bad key", function()
    local cases = {
      { { colour = "red" }, "config: colour is not a known key" },
      { { canonical = "a/b" }, "config: canonical must be" },
      { { canonical = "" }, "config: canonical must be" },
      { { admin_key = 5 }, "config: admin_key must be a non-empty string" },
      { { max_frame = 1.5 }, "config: max_frame must be an integer" },
      { { max_frame = 2 }, "config: max_frame must be an integer number of bytes, at least 16" },
      { { ping_interval = -1 }, "config: ping_interval must be" },
      { { unknown_token = "allow" }, 'config: unknown_token must be "refuse" or "anonymous"' },
      { { tokens = "x" }, "config: tokens must be a table" },
      { { tokens = { ["has space"] = { dbo_id = 1, row_id = 1 } } }, "tokens: key has space is not a valid token" },
      { { tokens = { t = { row_id = 1 } } }, "config: tokens[t].dbo_id must be a positive integer" },
      { { tokens = { t = { dbo_id = 1 } } }, "config: tokens[t].row_id must be" },
      { { tokens = { t = { dbo_id = 1, row_id = 1, extras = "x" } } }, "config: tokens[t].extras must be a table" },
      { { tokens = { t = { dbo_id = 1, row_id = 1, role = "x" } } }, "config: tokens[t].role is not a known key" },
      { { channels = { pattern = "a" } }, "config: channels must be a list" },
      { { channels = { "a" } }, "config: channels[1] must be a table" },
      { { channels = { {} } }, "config: channels[1].pattern must be a non-empty string" },
      { { channels = { { pattern = "a" }, { pattern = "b", presense = true } } },
        "config: channels[2].presense is not a known key" },
      { { channels = { { pattern = "a", presence = "yes" } } }, "config: channels[1].presence must be true or false" },
      { { channels = { { pattern = "a", message_history = 10 } } },
        "config: channels[1].message_history must be one of 0, 25, 50, 100, 250, 1000" },
      { { channels = { { pattern = "chat", nested = true } } }, "config: channels[1].pattern must end in '*'" },
      { { errors = { nope = "x" } }, "config: errors.nope is not a known error name" },
      { { errors = { unknown_channel = "" } }, "config: errors.unknown_channel must be a non-empty string" },
    }
    for _, case in ipairs(cases) do
      it(case[2], function()
        local err = start_error{ config = case[1] }
        assert.truthy(err:find(case[2], 1, true), err)
      end)
    end
  end)

  describe("start", function()
    it("raises on an unknown option or a bad port", function()
      assert.truthy(start_error{ colour = 1 }:find("unknown option 'colour'", 1, true))
      local ok, err = pcall(server.start, { port = 70000 })
      assert.is_false(ok)
      assert.truthy(err:find("port must be an integer 0..65535", 1, true))
    end)

    it("raises when given both config and config_file", function()
      local err = start_error{ config = {}, config_file = "examples/server-config.lua" }
      assert.truthy(err:find("config or config_file, not both", 1, true))
    end)

    it("returns nil and a message when the config file cannot be read or run", function()
      local srv, err = server.start{ port = 0, config_file = "no/such/file.lua" }
      assert.is_nil(srv)
      assert.truthy(err:find("cannot load config file", 1, true))
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write("return 42")
      f:close()
      srv, err = server.start{ port = 0, config_file = path }
      os.remove(path)
      assert.is_nil(srv)
      assert.truthy(err:find("must return a table", 1, true))
    end)

    it("returns nil and a message when the port is taken", function()
      local first = start{}
      local srv, err = server.start{ port = first.port }
      assert.is_nil(srv)
      assert.truthy(err:find("cannot listen", 1, true), err)
    end)
  end)
end)
