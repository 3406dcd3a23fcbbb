-- Errors never crash the loop: error frames from the server reach
-- on("error") and the all-action handlers; malformed frames become error
-- events and the connection goes on; an error raised in a callback goes to
-- "callback_error" (or stderr) and the other callbacks still run.
local H = require "support.helpers"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

describe("errors", function()
  local srv
  local function client(opts)
    opts = opts or {}
    opts.url, opts.canonical = srv:base_url(), "test"
    return H.track(realtime.new(opts))
  end
  local function joined(c, name)
    local ch = c:channel(name or "room", { queue_offline = true })
    ch:open()
    H.wait_until(function() return #srv:members(name or "room") >= 1 and c:status() == "connected" end, "joined")
    return ch, srv:members(name or "room")[1]
  end
  -- replaces io.stderr while fn runs; returns what was written
  local function capture_stderr(fn)
    local saved, out = io.stderr, {}
    io.stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do out[#out + 1] = tostring(s) end end }
    local ok, err = pcall(fn)
    io.stderr = saved
    assert(ok, err)
    return table.concat(out)
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "test", config = {
      channels = {
        { pattern = "room", anonymous_clients = true, public_messaging = true, presence = true, message_history = 25 },
        { pattern = "readonly", anonymous_clients = true, public_messaging = false },
      },
    } }))
  end)
  after_each(function() H.cleanup() end)

  it("from the server reach on('error'), the all-action handlers and the client", function()
    local c = client()
    local ch = joined(c, "readonly")
    local on_err, errs = H.recorder()
    local on_all, all = H.recorder()
    local on_client, client_errs = H.recorder()
    ch:on("error", on_err)
    ch:on(on_all)
    c:on("error", on_client)
    ch:send("not allowed here")
    H.wait_until(function() return #errs == 1 and #client_errs == 1 end, "the refusal")
    assert.equal("readonly", errs[1].channel)
    assert.equal("public messaging is disabled on this channel", errs[1].payload.message)
    assert.equal("readonly", client_errs[1].channel)
    assert.equal("public messaging is disabled on this channel", client_errs[1].payload.message)
    assert.equal(1, H.count(all, function(e) return e.action == "error" end))
  end)

  it("for a channel the server does not know reach that channel", function()
    local c = client()
    local ch = c:channel("nowhere")
    local rec, errs = H.recorder()
    ch:on("error", rec)
    ch:open()
    H.wait_until(function() return #errs == 1 end, "the refusal of the join")
    assert.matches("unknown channel", errs[1].payload.message)
  end)

  local bad = {
    { "a frame that is not JSON", "{oops", nil, "malformed frame from the server: not JSON" },
    { "JSON that is not an object", "[1,2,3]", nil, "JSON but not an object" },
    { "an object without action", '{"options":{"channel":"room"}}', nil, "no action" },
    { "a channel that is not a string", '{"action":"message","options":{"channel":7}}', nil, "options.channel is not a string" },
    { "a binary frame", "\1\2\3", "binary", "binary frame of 3 bytes was discarded" },
    { "text that is not UTF-8", '{"action":"message","payload":"\255\254"}', nil, "not valid UTF%-8" },
    { "deeply nested JSON", string.rep("[", 5000) .. string.rep("]", 5000), nil, "malformed frame from the server: not JSON" },
  }
  for _, case in ipairs(bad) do
    it("from a server sending " .. case[1] .. " become an error event, and the connection goes on", function()
      local c = client()
      local ch, me = joined(c)
      local rec, errs = H.recorder()
      local mrec, msgs = H.recorder()
      c:on("error", rec)
      ch:on("message", mrec)
      assert(srv:send_raw(me, case[2], case[3]))
      ch:send("still working")
      H.wait_until(function() return #errs == 1 and #msgs == 1 end, "the error and the echo")
      assert.matches(case[4], errs[1].payload.message)
      assert.equal("still working", msgs[1].payload)
      assert.equal("connected", c:status())
    end)
  end

  it("from a frame above max_frame become an error event, and the connection goes on", function()
    local c = client{ max_frame = 1000 }
    local ch, me = joined(c)
    local rec, errs = H.recorder()
    local mrec, msgs = H.recorder()
    c:on("error", rec)
    ch:on("message", mrec)
    srv:send_raw(me, '{"action":"message","options":{"channel":"room"},"payload":"' .. string.rep("x", 5000) .. '"}')
    ch:send("small")
    H.wait_until(function() return #errs == 1 and #msgs == 1 end, "the error and the echo")
    assert.matches("frame of 5%d%d%d bytes is above max_frame %(1000%)", errs[1].payload.message)
    assert.equal("frame_too_big", errs[1].payload.kind)
  end)

  it("raised in a callback go to callback_error, and the other callbacks still run", function()
    local c = client()
    local ch = joined(c)
    local rec, cb_errs = H.recorder()
    c:on("callback_error", rec)
    local after = 0
    ch:on("message", function() error("boom") end)
    ch:on("message", function() after = after + 1 end)
    ch:send("one"); ch:send("two")
    H.wait_until(function() return after == 2 and #cb_errs == 2 end, "both messages handled")
    assert.matches("boom", cb_errs[1].payload.message)
    assert.matches("stack traceback", cb_errs[1].payload.traceback)
    assert.equal(2, c:stats().callback_errors)
  end)

  it("raised in a callback with no callback_error handler go to stderr", function()
    local c = client()
    local ch = joined(c)
    ch:on("message", function() error("nobody listens") end)
    local seen = 0
    ch:on("message", function() seen = seen + 1 end)
    local text = capture_stderr(function()
      ch:send("x")
      H.wait_until(function() return seen == 1 end, "the message")
    end)
    assert.matches("error in a callback: .*nobody listens", text)
  end)

  it("that nobody handles are written to stderr, not dropped", function()
    local c = client()
    local _, me = joined(c)
    local text = capture_stderr(function()
      srv:send_raw(me, "nonsense")
      H.wait_until(function() return c:stats().malformed == 1 end, "the malformed frame")
    end)
    assert.matches("xano.realtime: malformed frame from the server", text)
  end)
end)
