-- Security: the token never shows in logs or error messages, and the
-- server keeps its promises against a hostile client: anonymous clients do
-- not send where they may not, private messages reach their target and no
-- one else, and nobody reads a channel's history or presence without
-- joining it.  (TLS verification is spec/client_tls_spec.lua's.)
local H = require "support.helpers"
local RC = require "support.rawclient"
local core = require "xano.realtime.core"
local server = require "xano.realtime.server"

local P = require "support.proc"

-- A program in the background, its stdout and stderr kept apart; tracked
-- so that cleanup kills it even when a spec fails.
local function spawn(argv)
  return H.track(P.spawn(argv, { stderr = "split" }))
end

describe("the token", function()
  after_each(H.cleanup)

  it("never appears in events, stats, error messages, or anything either side writes", function()
    local token = "SeCrEt-tOkEn-" .. core.random_hex(8)
    local good = "GoOd-tOkEn-" .. core.random_hex(8)
    -- the server: the command, refusing unknown tokens, its output kept
    local cfg = os.tmpname()
    local f = assert(io.open(cfg, "w"))
    f:write(('return { canonical = "test", unknown_token = "refuse", tokens = { [%q] = { dbo_id = 1, row_id = 1 } } }')
      :format(good))
    f:close()
    local lua = os.getenv("XRT_LUA") or "lua5.4"
    local srv = spawn({ lua, P.ROOT .. "/bin/xano-realtime-server", "--port", "0", "--config", cfg })
    local port
    H.wait_until(function()
      port = tonumber(srv:output():match("^listening ws://127%.0%.0%.1:(%d+)/rt/test\n"))
      assert(not srv:status(), "the server exited: " .. srv:stderr())
      return port
    end, "the server's ready line")

    -- the client side, with every libwebsockets log level on
    local build = os.getenv("XRT_BUILD") or "build/5.4"
    local child = spawn({ lua, "spec/support/token_child.lua", build, "http://127.0.0.1:" .. port, token, good })
    H.wait_until(function() return child:status() ~= nil end, "the client process", 60)
    os.remove(cfg)
    local out, err = child:output(), child:stderr()
    assert.equal(0, child:status(), "the client process failed: " .. err)
    assert.matches("\ndone\n$", out)

    -- the token was really presented, and refused; the good one accepted
    assert.matches("event error [^\n]*code=401;[^\n]*the server refused the realtime token %(HTTP 401%)", out)
    assert.matches("event connection_status [^\n]*code=401;", out)
    assert.matches("stats a [^\n]*last_close_reason=upgrade refused: HTTP 401;", out)
    assert.matches("set_token error [^\n]*bad argument #1 to 'set_token'", out)
    assert.matches("new error [^\n]*bad option 'token'", out)
    assert.matches("status after the good token connected", out)
    assert.matches("xano.realtime: the server refused the realtime token %(HTTP 401%)", err) -- the unhandled errors went here
    -- libwebsockets logged at every level set_log_level allows
    assert.matches("%] N: ", err)
    assert.matches("%] I: ", err)

    -- and nowhere is the token: not in events, stats, messages, or logs
    for name, text in pairs({ ["client stdout"] = out, ["client stderr"] = err,
                              ["server stdout"] = srv:output(), ["server stderr"] = srv:stderr() }) do
      assert.is_nil(text:find(token, 1, true), "the token appears in the " .. name)
      assert.is_nil(text:find(good, 1, true), "the good token appears in the " .. name)
    end
  end)
end)

describe("the server against a hostile client", function()
  local srv, alice, bob, carol, mallory

  local TOKENS = {
    ["alice-token"] = { dbo_id = 1, row_id = 1 },
    ["bob-token"] = { dbo_id = 1, row_id = 2 },
    ["carol-token"] = { dbo_id = 1, row_id = 3 },
  }

  -- frames of c with this action and channel
  local function frames(c, action, channel)
    local out = {}
    for _, f in ipairs(c.frames) do
      local t = f.t
      if t and (not action or t.action == action) and (not channel or (t.options or {}).channel == channel) then
        out[#out + 1] = t
      end
    end
    return out
  end

  local function count_raw(c, needle)
    local n = 0
    for _, f in ipairs(c.frames) do
      if f.raw:find(needle, 1, true) then n = n + 1 end
    end
    return n
  end

  -- sends a frame and waits for the error frame the server answers with
  local function refused(c, frame, message, channel)
    local before = #frames(c, "error")
    c:send(frame)
    H.wait_until(function() return #frames(c, "error") > before end, "the refusal of " .. frame)
    local e = frames(c, "error")[before + 1]
    assert.equal(message, e.payload.message)
    if channel then assert.equal(channel, e.options.channel) end
    assert.equal("open", c.state)
  end

  -- after this, every frame that the attacks before it made the server
  -- send has reached everybody: the server handled them first
  local sentinels = 0
  local function barrier()
    sentinels = sentinels + 1
    local word = "sentinel-" .. sentinels
    alice:message("open", word)
    H.wait_until(function()
      for _, c in ipairs({ alice, bob, carol, mallory }) do
        if count_raw(c, word) == 0 then return false end
      end
      return true
    end, "the sentinel at every client")
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "test", config = {
      tokens = TOKENS,
      channels = {
        { pattern = "vault", anonymous_clients = false, presence = true, message_history = 100 },
        { pattern = "lounge", anonymous_clients = true, public_auth_only = true, private_auth_only = true,
          presence = true, message_history = 100 },
        { pattern = "open" },
      },
    } }))
    alice = RC.open(srv, { token = "alice-token" })
    bob = RC.open(srv, { token = "bob-token" })
    carol = RC.open(srv, { token = "carol-token" }) -- authenticated, but never joins the vault
    mallory = RC.open(srv)                             -- anonymous
    alice:joined("vault", { presence = true, history = true })
    bob:joined("vault", { presence = true, history = true })
    for _, c in ipairs({ alice, bob, carol, mallory }) do
      c:joined("lounge", { presence = true, history = true })
      c:joined("open")
    end
    -- what the vault holds
    alice:message("vault", "vault secret")
    alice:message("vault", "vault private", { socketId = bob.socketId })
    bob:message("lounge", "lounge members only", { authenticated = true })
    -- bob's own echo: the server has handled his message (another socket
    -- than the sentinel's, so the barrier alone would not say so)
    H.wait_until(function() return count_raw(bob, "lounge members only") == 1 end, "bob's echo")
    barrier()
  end)
  after_each(H.cleanup)

  it("keeps anonymous clients out of where they may not be or send", function()
    local V = '"options":{"channel":"vault"'
    refused(mallory, '{"action":"join",' .. V .. '},"payload":{"presence":true,"history":true}}',
      "anonymous clients may not join this channel", "vault")
    refused(mallory, '{"action":"message",' .. V .. '},"payload":"let me in"}',
      "not joined to this channel", "vault")
    refused(mallory, '{"action":"message",' .. V .. ',"socketId":"' .. alice.socketId .. '"},"payload":"psst"}',
      "not joined to this channel", "vault")
    refused(mallory, '{"action":"message","options":{"channel":"lounge"},"payload":"hello all"}',
      "public messaging requires authentication on this channel", "lounge")
    refused(mallory, '{"action":"message","options":{"channel":"lounge","socketId":"' .. alice.socketId ..
      '"},"payload":"hello alice"}', "private messaging requires authentication on this channel", "lounge")
    refused(mallory, '{"action":"message","options":{"channel":"open","authenticated":true},"payload":"as if"}',
      "authenticated messages require an authenticated sender", "open")
    -- names that look like the vault are not the vault
    for _, name in ipairs({ "VAULT", "vault/", "vault/x", " vault", "vault\\u0000", "vault*" }) do
      refused(mallory, '{"action":"join","options":{"channel":"' .. name .. '"},"payload":{"history":true}}',
        "unknown channel")
    end
    barrier()
    assert.same({ alice.socketId, bob.socketId }, srv:members("vault"))
    -- nothing mallory tried reached anybody
    for _, c in ipairs({ alice, bob, carol }) do
      for _, word in ipairs({ "let me in", "psst", "hello all", "hello alice", "as if" }) do
        assert.equal(0, count_raw(c, word), word)
      end
    end
    -- and mallory never saw what the vault or the authenticated hold
    for _, f in ipairs(frames(mallory, nil, "vault")) do assert.equal("error", f.action) end
    assert.equal(0, count_raw(mallory, "vault secret"))
    assert.equal(0, count_raw(mallory, "vault private"))
    assert.equal(0, count_raw(mallory, "lounge members only"))
    assert.equal(1, count_raw(carol, "lounge members only")) -- carol is authenticated
  end)

  it("never lets a client read a channel's history or presence without joining it", function()
    local V = '"options":{"channel":"vault"}'
    for _, c in ipairs({ carol, mallory }) do
      refused(c, '{"action":"history",' .. V .. ',"payload":null}', "not joined to this channel", "vault")
      refused(c, '{"action":"leave",' .. V .. ',"payload":null}', "not joined to this channel", "vault")
    end
    -- a member that left reads no more
    bob:leave("vault")
    H.wait_until(function() return #srv:members("vault") == 1 end, "bob's leave")
    refused(bob, '{"action":"history",' .. V .. ',"payload":null}', "not joined to this channel", "vault")
    alice:message("vault", "after bob left")
    barrier()
    assert.equal(0, count_raw(bob, "after bob left"))
    -- the outsiders got no history, no presence, no message of the vault
    for _, c in ipairs({ carol, mallory }) do
      for _, f in ipairs(frames(c, nil, "vault")) do
        assert.equal("error", f.action)
      end
      assert.equal(0, count_raw(c, "vault secret"))
    end
    -- while the members did get them (the spec can see them)
    assert.equal(1, #frames(bob, "presence_full", "vault"))
    assert.equal(1, #frames(bob, "history", "vault"))
    assert.equal(1, count_raw(bob, "vault secret"))
    -- presence: bob's leave reached the one member left, and nobody else
    assert.equal(2, #frames(alice, "presence_update", "vault")) -- bob's join, then his leave
    for _, c in ipairs({ carol, mallory }) do assert.equal(0, #frames(c, "presence_update", "vault")) end
  end)

  it("delivers a private message to its target only, once", function()
    alice:message("open", "for bob only", { socketId = bob.socketId })
    bob:message("lounge", "for carol only", { socketId = carol.socketId })
    H.wait_until(function() return count_raw(carol, "for carol only") == 1 end, "carol's private message")
    -- a socket id that is not in the channel is refused, not delivered
    refused(alice, '{"action":"message","options":{"channel":"vault","socketId":"' .. carol.socketId ..
      '"},"payload":"carol is not here"}', "the target client is not in this channel", "vault")
    refused(alice, '{"action":"message","options":{"channel":"open","socketId":"no-such-socket"},' ..
      '"payload":"nobody"}', "the target client is not in this channel", "open")
    barrier()
    assert.equal(1, count_raw(bob, "for bob only"))
    assert.equal(1, count_raw(carol, "for carol only"))
    assert.equal(1, count_raw(bob, "vault private")) -- from before_each
    for _, c in ipairs({ alice, carol, mallory }) do assert.equal(0, count_raw(c, "for bob only")) end
    for _, c in ipairs({ alice, bob, mallory }) do assert.equal(0, count_raw(c, "for carol only")) end
    for _, c in ipairs({ alice, carol, mallory }) do assert.equal(0, count_raw(c, "vault private")) end
    for _, c in ipairs({ alice, bob, carol, mallory }) do
      assert.equal(0, count_raw(c, "carol is not here"))
      assert.equal(0, count_raw(c, "nobody"))
    end
  end)

  it("names the real sender: a client cannot pass itself off as another", function()
    mallory:send('{"action":"message","options":{"channel":"open"},"client":{"socketId":"' .. alice.socketId ..
      '","permissions":{"dbo_id":1,"row_id":1}},"payload":"it is me, alice"}')
    H.wait_until(function() return count_raw(mallory, "it is me, alice") == 1 end, "mallory's echo")
    barrier()
    for _, c in ipairs({ alice, bob, carol, mallory }) do
      local got
      for _, f in ipairs(frames(c, "message", "open")) do
        if f.payload == "it is me, alice" then got = f end
      end
      assert.is_table(got)
      assert.equal(mallory.socketId, got.client.socketId)
      assert.same({ dbo_id = 0, row_id = 0 }, got.client.permissions)
    end
  end)
end)
