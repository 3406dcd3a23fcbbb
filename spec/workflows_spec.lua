-- Workflows: every handler runs as a workflow, the way a WeWeb trigger runs
-- its list of actions.  A workflow may wait without blocking the loop:
-- realtime.sleep(seconds), and ch:wait(action [, timeout]), which returns
-- the channel's next matching event, or nil and "timeout" / "closed".
-- client:workflow(fn) starts one at once (WeWeb's "On app load"); its
-- errors are reported like a callback's.  App-level triggers
-- (client:on("message", fn)) hear every channel, and the presence_update
-- trigger has WeWeb's Join / Leave filter.
local H = require "support.helpers"
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

local now = core.now

describe("workflows", function()
  local srv
  local function client(opts)
    opts = opts or {}
    opts.url = srv:base_url()
    opts.canonical = "test"
    return H.track(realtime.new(opts))
  end
  -- a client with `name` open and joined
  local function joined(name, opts)
    local c = client()
    local ch = c:channel(name or "room", opts)
    ch:open()
    H.wait_until(function() return c:status() == "connected" end, "connected")
    return c, ch
  end
  local function payloads(list)
    local out = {}
    for i, ev in ipairs(list) do out[i] = ev.payload end
    return out
  end

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, canonical = "test" }))
  end)
  after_each(function() H.cleanup() end)

  describe("realtime.sleep", function()
    it("pauses one handler while the loop goes on with the others", function()
      local c, ch = joined()
      local log = {}
      ch:on("message", function(ev)
        log[#log + 1] = "start " .. ev.payload
        if ev.payload == "a" then
          -- a sleeps until b has been handled: the loop must go on meanwhile
          ch:send("b")
          for _ = 1, 1000 do
            if log[2] == "start b" then break end
            realtime.sleep(0.01)
          end
        end
        log[#log + 1] = "end " .. ev.payload
      end)
      ch:send("a")
      H.wait_until(function() return #log == 4 end, "both handlers done")
      -- b was handled while a slept
      assert.same({ "start a", "start b", "end b", "end a" }, log)
    end)

    it("lasts at least the time asked", function()
      local c = client()
      local t0, t1
      c:workflow(function()
        t0 = now()
        realtime.sleep(0.2)
        t1 = now()
      end)
      H.wait_until(function() return t1 ~= nil end, "the end of the sleep")
      assert.is_true(t1 - t0 >= 0.2, "woke after " .. (t1 - t0) .. " s")
    end)

    it("does not busy-wait: poll sleeps until the next timer", function()
      local c = client()
      local woke
      c:workflow(function() realtime.sleep(0.3); woke = now() end)
      local left = c:timeout()
      assert.is_true(left > 0.2 and left <= 0.3)
      local t0, cpu0 = now(), os.clock()
      local ran, polls = 0, 0
      for _ = 1, 100 do
        polls = polls + 1
        ran = ran + c:poll(30)
        if woke then break end
      end
      local elapsed, cpu = now() - t0, os.clock() - cpu0
      assert.is_truthy(woke)
      assert.equal(1, ran)
      -- one poll: it slept, and until the timer (0.3 s), not its own
      -- timeout (30 s); a busy wait would spin or burn the CPU it waited
      assert.equal(1, polls)
      assert.is_true(elapsed >= 0.25, "woke after " .. elapsed .. " s")
      assert.is_true(elapsed < 15, "poll(30) waited for its timeout, not the timer")
      assert.is_true(cpu < elapsed / 2, ("%.3f s of CPU in %.3f s"):format(cpu, elapsed))
      assert.is_nil(c:timeout())
    end)

    it("resumes sleeps that fell due together in the order they fell due", function()
      local c = client()
      local order = {}
      c:workflow(function() realtime.sleep(0.2); order[#order + 1] = "long" end)
      c:workflow(function() realtime.sleep(0.1); order[#order + 1] = "short" end)
      c:workflow(function() realtime.sleep(0.15); order[#order + 1] = "middle" end)
      -- nothing polls until all three are due: one poll resumes them all
      local t0 = now()
      for _ = 1, 100000 do
        if now() - t0 >= 0.25 then break end
        core.wait(0.25 - (now() - t0))
      end
      assert.is_true(now() - t0 >= 0.25)
      assert.equal(3, c:poll(0))
      assert.same({ "short", "middle", "long" }, order)
    end)

    it("is resumed by realtime.poll() too, for every client of the state", function()
      local a, b = client(), client()
      local done = {}
      a:workflow(function() realtime.sleep(0.05); done[#done + 1] = "a" end)
      b:workflow(function() realtime.sleep(0.1); done[#done + 1] = "b" end)
      local deadline = now() + 5
      while #done < 2 and now() < deadline do realtime.poll(0.5) end
      assert.same({ "a", "b" }, done)
    end)

    it("belongs to its client: client:poll() resumes that client's workflows, not another's", function()
      local a, b = client(), client()
      local done = {}
      a:workflow(function() realtime.sleep(0.05); done[#done + 1] = "a" end)
      b:workflow(function() realtime.sleep(0.05); done[#done + 1] = "b" end)
      local t0 = now()
      for _ = 1, 100000 do
        if now() - t0 >= 0.1 then break end
        core.wait(0.1 - (now() - t0))
      end
      -- both are due: a's poll runs a's alone, and b's timer says b is due
      assert.equal(1, a:poll(0))
      assert.same({ "a" }, done)
      assert.is_nil(a:timeout())
      assert.equal(0, b:timeout())
      assert.equal(1, b:poll(0))
      assert.same({ "a", "b" }, done)
      assert.is_nil(b:timeout())
    end)

    it("can only be called from a handler or a workflow, with a number", function()
      assert.has_error(function() realtime.sleep(0.1) end,
        "realtime.sleep can only be called from an event handler or a workflow")
      assert.has_error(function() realtime.sleep(-1) end,
        "bad argument #1 to 'sleep' (non-negative number expected, got -1)")
      assert.has_error(function() realtime.sleep("1") end,
        "bad argument #1 to 'sleep' (non-negative number expected, got string)")
    end)
  end)

  describe("ch:wait", function()
    it("returns the channel's next event with that action", function()
      local a, room = joined("room")
      local b, broom = joined("room")
      local got
      a:workflow(function()
        got = { room:wait("message", 5) }
      end)
      broom:send({ text = "hi" })
      H.wait_until(function() return got ~= nil end, "the message")
      assert.equal("message", got[1].action)
      assert.equal("room", got[1].channel)
      assert.same({ text = "hi" }, got[1].payload)
      assert.is_nil(got[2])
    end)

    it("with no action, returns the next event of any kind", function()
      local c = client()
      local ch = c:channel("room")
      local got
      ch:open()
      c:workflow(function() got = ch:wait() end)
      H.wait_until(function() return got ~= nil end, "the first event")
      assert.equal("connection_status", got.action)
      assert.equal("connected", got.payload.status)
    end)

    it("returns nil, \"timeout\" when nothing comes in time", function()
      local c, ch = joined()
      local r, t0, t1
      c:workflow(function()
        t0 = now()
        r = { ch:wait("message", 0.2) }
        t1 = now()
      end)
      H.wait_until(function() return r ~= nil end, "the timeout")
      assert.same({ nil, "timeout" }, r)
      assert.is_true(t1 - t0 >= 0.2)
    end)

    it("returns nil, \"closed\" when the channel closes, or is not open", function()
      local c, ch = joined()
      local r
      c:workflow(function() r = { ch:wait("message") } end)
      assert.is_nil(r)
      ch:close()
      assert.same({ nil, "closed" }, r)
      c:workflow(function() r = { ch:wait("message", 5) } end)
      assert.same({ nil, "closed" }, r)
    end)

    it("returns nil, \"closed\" to its waiters when the client closes", function()
      local c, ch = joined()
      local r
      c:workflow(function() r = { ch:wait("message") } end)
      c:close()
      assert.same({ nil, "closed" }, r)
    end)

    it("in a loop, sees each event once and in order", function()
      local a, room = joined("room")
      local b, broom = joined("room")
      local seen = {}
      a:workflow(function()
        for _ = 1, 10 do
          local ev = room:wait("message", 5)
          if not ev then break end
          seen[#seen + 1] = ev.payload
          if ev.payload == "three" then break end
        end
      end)
      broom:send("one")
      broom:send("two")
      broom:send("three")
      H.wait_until(function() return seen[#seen] == "three" end, "three messages")
      assert.same({ "one", "two", "three" }, seen)
    end)

    it("in a handler, returns the next event, not the one being handled", function()
      local a, room = joined("room")
      local b, broom = joined("room")
      local pairs_seen = {}
      local function follow(ev)
        if ev.payload ~= "question" then return end
        local answer = room:wait("message", 5)
        pairs_seen[#pairs_seen + 1] = ev.payload .. " -> " .. (answer and answer.payload or "none")
      end
      room:on("message", follow) -- a channel trigger
      a:on("message", follow)    -- an app-level trigger
      broom:send("question")
      broom:send("answer")
      H.wait_until(function() return #pairs_seen == 2 end, "both handlers answered")
      assert.same({ "question -> answer", "question -> answer" }, pairs_seen)
    end)

    it("goes to every workflow waiting on the channel", function()
      local a, room = joined("room")
      local b, broom = joined("room")
      local got = {}
      for i = 1, 3 do
        a:workflow(function() got[i] = room:wait("message", 5).payload end)
      end
      broom:send("all of you")
      H.wait_until(function() return #got == 3 end, "three waiters")
      assert.same({ "all of you", "all of you", "all of you" }, got)
    end)

    it("can only be called from a handler or a workflow, with good arguments", function()
      local c, ch = joined()
      assert.has_error(function() ch:wait("message") end,
        "wait can only be called from an event handler or a workflow")
      assert.error_matches(function() ch:wait(5) end,
        "bad argument #1 to 'wait' (action name expected", 1, true)
      assert.error_matches(function() ch:wait("message", -1) end,
        "bad argument #2 to 'wait' (non-negative number expected", 1, true)
    end)
  end)

  describe("client:workflow (On app load)", function()
    it("runs at once, up to its first wait, and reads like a list of actions", function()
      local c = client()
      local steps = {}
      c:workflow(function(cl)
        assert.equal(c, cl)
        local ch = cl:channel("updates", { history = true })
        ch:open()                                   -- Open channel
        steps[#steps + 1] = "opened"
        local st = ch:wait("connection_status", 5)  -- wait until connected
        steps[#steps + 1] = st.payload.status
        ch:send("hello")                            -- Send message
        local echo = ch:wait("message", 5)          -- the echo of our message
        steps[#steps + 1] = echo.payload
      end)
      assert.same({ "opened" }, steps)
      H.wait_until(function() return #steps == 3 end, "the whole workflow")
      assert.same({ "opened", "connected", "hello" }, steps)
    end)

    it("reports its error like a callback error, and the loop goes on", function()
      local c, ch = joined()
      local rec, errs = H.recorder()
      c:on("callback_error", rec)
      c:workflow(function()
        realtime.sleep(0.05)
        error("the workflow broke")
      end)
      c:workflow(function() error("at once") end)
      H.wait_until(function() return #errs == 2 end, "both errors")
      assert.matches("at once", errs[1].payload.message)
      assert.matches("the workflow broke", errs[2].payload.message)
      assert.matches("stack traceback", errs[2].payload.traceback)
      assert.equal(2, c:stats().callback_errors)
      -- the client still works
      local got
      ch:on("message", function(ev) got = ev.payload end)
      ch:send("still fine")
      H.wait_until(function() return got == "still fine" end, "a later message")
    end)

    it("reports a bare coroutine.yield() instead of breaking the loop", function()
      local c = client()
      local rec, errs = H.recorder()
      c:on("callback_error", rec)
      c:workflow(function() coroutine.yield("oops") end)
      H.wait_until(function() return #errs == 1 end, "the error")
      assert.matches("yielded %(oops%) outside realtime.sleep%(%) or wait%(%)", errs[1].payload.message)
    end)

    it("ends with its client: a closed client's sleeping workflows never resume", function()
      local c = client()
      local other = client()
      local resumed, marker = false, false
      c:workflow(function() realtime.sleep(0.05); resumed = true end)
      -- the marker: another client's workflow, due later, does resume
      other:workflow(function() realtime.sleep(0.1); marker = true end)
      c:close()
      H.wait_until(function() return marker end, "the other client's workflow")
      realtime.poll(0)
      assert.is_false(resumed)
      assert.is_nil(other:timeout())
    end)

    it("ends only with its own client: another client's sleeping and waiting workflows go on", function()
      local c = client()
      local other, room = joined("room")
      local slept, heard = false, nil
      c:workflow(function() realtime.sleep(30) end)
      other:workflow(function() realtime.sleep(0.05); slept = true end)
      other:workflow(function() heard = room:wait("message", 5) end)
      c:close()
      H.wait_until(function() return slept end, "the other client's sleep to end")
      assert.is_true(room:send("still here"))
      H.wait_until(function() return heard ~= nil end, "the other client's wait to end")
      assert.equal("still here", heard.payload)
    end)

    it("goes on after its channel closed, as a WeWeb workflow does, and hears nothing more of it", function()
      local c, ch = joined("room")
      local peer, proom = joined("room")
      local steps, heard = {}, 0
      ch:on("message", function(ev)
        heard = heard + 1
        steps[#steps + 1] = "handled " .. tostring(ev.payload)
        realtime.sleep(0.05)
        -- the channel closed meanwhile: the rest of the list of actions runs
        steps[#steps + 1] = "woke, open: " .. tostring(ch:is_open())
        local ev2, why = ch:wait("message", 5)
        steps[#steps + 1] = "wait: " .. tostring(ev2) .. ", " .. tostring(why)
      end)
      H.wait_until(function() return #srv:members("room") == 2 end, "both joined")
      assert.is_true(proom:send("first"))
      H.wait_until(function() return heard == 1 end, "the first message")
      ch:close()
      assert.is_true(proom:send("after the close"))
      H.wait_until(function() return #steps == 3 end, "the handler to finish")
      assert.same({ "handled first", "woke, open: false", "wait: nil, closed" }, steps)
      -- a later marker, heard by the peer itself: the closed channel's
      -- handler heard nothing more
      local mine = nil
      peer:on("message", function(ev) mine = ev.payload end)
      assert.is_true(proom:send("marker"))
      H.wait_until(function() return mine == "marker" end, "a later marker")
      c:poll(0)
      assert.equal(1, heard)
    end)

    it("needs a function", function()
      local c = client()
      assert.has_error(function() c:workflow("go") end,
        "bad argument #1 to 'workflow' (function expected, got string)")
    end)
  end)

  describe("app-level triggers", function()
    it("client:on(\"message\") hears every channel, and each event names its channel", function()
      local c = client()
      local a, b = c:channel("room-a"), c:channel("room-b")
      local rec, got = H.recorder()
      c:on("message", rec)
      a:open(); b:open()
      H.wait_until(function() return #srv:members("room-a") == 1 and #srv:members("room-b") == 1 end, "both joined")
      a:send("to a")
      b:send("to b")
      H.wait_until(function() return #got == 2 end, "both messages")
      local by = {}
      for _, ev in ipairs(got) do by[ev.channel] = ev.payload end
      assert.same({ ["room-a"] = "to a", ["room-b"] = "to b" }, by)
    end)

    it("run after the channel's own handlers, each as its own workflow", function()
      local c, ch = joined()
      local order = {}
      c:on("message", function() order[#order + 1] = "app" end)
      ch:on("message", function()
        order[#order + 1] = "channel"
        realtime.sleep(0.05)
        order[#order + 1] = "channel, later"
      end)
      ch:send("x")
      H.wait_until(function() return #order == 3 end, "all three steps")
      assert.same({ "channel", "app", "channel, later" }, order)
    end)

    it("of one channel, and of the client, run in the order they were registered", function()
      local c, ch = joined()
      local order = {}
      for i = 1, 3 do ch:on("message", function() order[#order + 1] = "channel " .. i end) end
      for i = 1, 3 do c:on("message", function() order[#order + 1] = "app " .. i end) end
      ch:send("x")
      H.wait_until(function() return #order == 6 end, "all six handlers")
      assert.same({ "channel 1", "channel 2", "channel 3", "app 1", "app 2", "app 3" }, order)
    end)

    it("filter presence_update by Join or Leave, on the client or a channel", function()
      local c, ch = joined("room", { presence = true })
      local joins, leaves, any = {}, {}, {}
      c:on("presence_update", function(ev) joins[#joins + 1] = ev.payload.presence.socketId end, { event = "join" })
      ch:on("presence_update", function(ev) leaves[#leaves + 1] = ev.payload.presence.socketId end, { event = "leave" })
      -- an all-action handler with a filter hears only those presence updates
      c:on(function(ev) any[#any + 1] = ev.action .. ":" .. ev.payload.action end, { event = "leave" })
      local other = joined("room", { presence = true })
      H.wait_until(function() return #joins == 1 end, "the join")
      other:close()
      H.wait_until(function() return #leaves == 1 and #any == 1 end, "the leave")
      assert.equal(joins[1], leaves[1])
      assert.same({ "presence_update:leave" }, any)
    end)

    it("refuse filters they cannot honour", function()
      local c = client()
      local ch = c:channel("room")
      local f = function() end
      assert.has_error(function() c:on("message", f, { event = "join" }) end,
        "bad argument #3 to 'on' (filter.event applies to presence_update, not message)")
      assert.has_error(function() ch:on("presence_update", f, { event = "enter" }) end,
        "bad argument #3 to 'on' (filter.event must be \"join\" or \"leave\")")
      assert.has_error(function() ch:on("presence_update", f, { kind = "join" }) end,
        "bad argument #3 to 'on' (unknown filter 'kind'; only 'event' is known)")
      assert.has_error(function() ch:on(f, "join") end,
        "bad argument #2 to 'on' (filter table or nothing expected after a function, got string)")
    end)
  end)

  describe("a WeWeb page, written as triggers and actions", function()
    it("On click opens a channel; Leave room closes it, sets myStatus, and no disconnected arrives", function()
      local c = client()
      local vars = { myStatus = "idle" }
      local statuses = {}
      local room = c:channel("room1", { presence = true, history = true })
      -- On realtime - connection status
      c:on("connection_status", function(ev)
        statuses[#statuses + 1] = ev.payload.status
        vars.myStatus = ev.payload.status
      end)
      -- On click "support icon": Open channel
      local function click_support_icon() room:open() end
      -- On click "Leave room": Close channel, then myStatus = "disconnected"
      local function click_leave_room()
        room:close()
        vars.myStatus = "disconnected"
      end
      click_support_icon()
      H.wait_until(function() return vars.myStatus == "connected" end, "connected")
      click_leave_room()
      H.wait_until(function() return #srv:members("room1") == 0 and c:status() == "idle" end, "the leave")
      H.wait_until(function() return #srv:sockets() == 0 end, "the socket closed")
      H.poll_all()
      assert.equal("disconnected", vars.myStatus)
      assert.same({ "connected" }, statuses)
    end)
  end)
end)
