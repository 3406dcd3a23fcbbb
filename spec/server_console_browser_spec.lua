-- The server console in a real browser: headless Chromium (Debian's, at
-- /usr/bin/chromium, installed by .ci/deps) driven by playwright-core
-- (spec/support/browser/install.sh puts it in .cache/browser; it never
-- downloads a browser).  Two Lua clients join a channel and talk; the page,
-- opened with the admin key typed into its login form, must show both
-- sockets, the channel with two members and the message in its log, and
-- its "send event" form must reach both clients' event handlers.  The run
-- saves a screenshot of the page (to docs/console.png, the README's
-- picture, under make console-screenshot; to a scratch file otherwise)
-- (or where XRT_CONSOLE_SCREENSHOT says).
local cjson = require "cjson"
local H = require "support.helpers"
local P = require "support.proc"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"

local ROOT = P.ROOT
local CHROMIUM = os.getenv("XRT_CHROMIUM") or "/usr/bin/chromium"
local KEY = "browser-admin-key"

-- the folder holding node_modules/playwright-core, installed when missing
local function driver()
  -- P.sh merges stderr (npm's report) into the output: the folder is the last line
  local ok, out = P.sh("sh " .. P.quote(ROOT .. "/spec/support/browser/install.sh"), 900) -- npm, maybe a download
  assert(ok, "playwright-core is not installed (spec/support/browser/install.sh): " .. out)
  return (out:match("([^\n]+)\n?$"))
end

local function decode_lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    local ok, t = pcall(cjson.decode, line)
    if ok and type(t) == "table" then out[#out + 1] = t end
  end
  return out
end

describe("server console in a browser", function()
  after_each(H.cleanup)

  it("shows both sockets, the channel's two members and a message, and its event form reaches both clients", function()
    assert(io.open(CHROMIUM, "r"), CHROMIUM .. " is missing: install Debian's chromium (.ci/deps does)")
    local prefix = driver()
    local srv = H.track(assert(server.start{ port = 0, canonical = "demo", config = {
      admin_key = KEY,
      tokens = { ["alice-token"] = { dbo_id = 1, row_id = 42, extras = { name = "Alice", role = "player" } } },
    } }))

    local function client(token)
      return H.track(realtime.new{ url = srv:base_url(), canonical = "demo", token = token })
    end
    local alice, guest = client("alice-token"), client(nil)
    local events = { alice = {}, guest = {} }
    local lobby_a = alice:channel("lobby", { presence = true, history = true })
    local lobby_g = guest:channel("lobby", { presence = true })
    lobby_a:on("event", function(ev) events.alice[#events.alice + 1] = ev end)
    lobby_g:on("event", function(ev) events.guest[#events.guest + 1] = ev end)
    local heard = {}
    lobby_g:on("message", function(ev) heard[#heard + 1] = ev.payload end)
    lobby_a:open()
    lobby_g:open()
    H.wait_until(function() return #srv:members("lobby") == 2 end, "both clients in the lobby")
    assert(alice:channel("scores"):open())
    H.wait_until(function() return #srv:members("scores") == 1 end, "alice in scores")

    local sockets = {}
    for _, s in ipairs(srv:sockets()) do sockets[#sockets + 1] = s.socketId end
    assert.equal(2, #sockets)
    assert.same({ "lobby", "scores" }, srv:sockets()[1].channels) -- alice first

    local shot = os.getenv("XRT_CONSOLE_SCREENSHOT")
    if shot and shot:sub(1, 1) ~= "/" then shot = ROOT .. "/" .. shot end
    -- the README's picture is rewritten only when asked (make
    -- console-screenshot); a plain run leaves the checkout as it was
    local scratch = not shot and os.tmpname() .. ".png"
    shot = shot or scratch
    local event_data = '{"round":2,"note":"from the console"}'
    local proc = P.spawn({ os.getenv("XRT_NODE") or "node", ROOT .. "/spec/support/browser/console.js" }, {
      env = {
        -- the browser is not code under test: no sanitizer runtime preloaded
        -- into it (make sanitize preloads ASan into every child)
        LD_PRELOAD = "",
        XRT_PREFIX = prefix, XRT_CHROMIUM = CHROMIUM, XRT_URL = srv:console_url(), XRT_KEY = KEY,
        XRT_SOCKETS = table.concat(sockets, ","), XRT_CHANNEL = "lobby",
        XRT_MESSAGE = "hello from the game", XRT_EVENT = event_data, XRT_SCREENSHOT = shot,
        XRT_FILTER_CHANNEL = "scores",
      },
    })
    H.track({ close = function() proc:kill() end })
    -- the server and both clients run while the browser works; once the
    -- page shows the sockets (its feed is open), the clients talk
    local talked, paused = false, false
    H.wait_until(function()
      if not paused and proc:output():find('"step":"paused"', 1, true) then
        paused = true
        assert(lobby_a:send({ text = "while paused" }))
      end
      if not talked and proc:output():find('"step":"state"', 1, true) then
        talked = true
        assert(lobby_a:send({ text = "hello from the game" }))
        assert(lobby_g:send_to(sockets[1], { text = "hi Alice" }))
        assert(guest:channel("scores"):open())
        assert(lobby_a:history())
      end
      return proc:exited()
    end, "the browser run", 120)
    local out = proc:output()
    local steps = decode_lines(out)
    assert.equal(0, proc:status(), "browser run failed:\n" .. out)
    assert.is_true(steps[#steps].ok, out)
    assert.same({ { text = "hello from the game" }, { text = "while paused" } }, heard)

    local function step(name)
      for _, s in ipairs(steps) do
        if s.step == name then return s end
      end
      error("no step " .. name .. " in:\n" .. out)
    end
    assert.equal(401, step("login page").status)
    local login = step("logged in")
    assert.is_true(login.httpOnly)
    assert.equal("Strict", login.sameSite)
    assert.is_false(login.scriptSeesCookie)
    local rows = step("state").sockets
    assert.equal(2, #rows)
    local shown = {}
    for _, r in ipairs(rows) do shown[r.socketId] = r end
    for _, sid in ipairs(sockets) do assert.truthy(shown[sid], "socket " .. sid .. " not shown") end
    assert.equal("event delivered to 2 socket(s)", step("event sent").result)
    -- the log's filters: "scores" shows the guest's join there alone; the
    -- guest's socket shows its private message and that join
    local f = step("filters")
    assert.same({ { kind = "join", channel = "scores", who = sockets[2] } }, f.byChannel)
    local kinds = {}
    for _, l in ipairs(f.bySocket) do kinds[l.kind] = l end
    assert.equal(2, #f.bySocket)
    assert.equal(sockets[2] .. " → " .. sockets[1], kinds.private.who)
    assert.equal("scores", kinds.join.channel)
    assert.equal(5, f.all)
    -- paused, a new line is held; resumed, it shows
    assert.is_false(step("resumed").shownWhilePaused)

    -- both clients' handlers fired with what was typed into the form
    H.wait_until(function() return #events.alice == 1 and #events.guest == 1 end, "both event handlers")
    for _, list in pairs(events) do
      assert.same(cjson.decode(event_data), list[1].payload.data)
      assert.equal("lobby", list[1].channel)
    end

    -- the screenshot is a PNG of the page
    local f = assert(io.open(shot, "rb"))
    local png = f:read("*a")
    f:close()
    assert.equal("\137PNG\r\n\26\n", png:sub(1, 8))
    if scratch then os.remove(scratch); os.remove((scratch:gsub("%.png$", ""))) end
    assert.is_true(#png > 20000)
  end)
end)
