-- docs/hosts.md, "Running inside a host": every snippet marked "<!-- snippet: NAME -->" runs
-- here exactly as the page shows it, against the local server configured as make server
-- configures it (examples/server-config.lua, so the snippets' channels must exist): the plain
-- script, luv and cqueues with the Lua under test, the game script in the
-- game-loop host, the nginx part in nginx.
local H = require "support.helpers"
local P = require "support.proc"
local N = require "support.nginx"
local server = require "xano.realtime.server"

local LUA = os.getenv("XRT_LUA") or "lua5.4"
local BUILD = os.getenv("XRT_BUILD") or "build/5.4"
local HOST = os.getenv("XRT_HOST") or "build/embed/xrt-host"

local function snippets()
  local text = assert(P.read("docs/hosts.md"), "docs/hosts.md missing")
  local t = {}
  for name, lang, body in text:gmatch("<!%-%- snippet: ([%w_-]+) %-%->\n```(%w+)\n(.-\n)```") do
    t[name] = { lang = lang, body = body }
  end
  return t
end

-- The main context nginx needs around the snippet of the http block.
local NGINX_HEAD = [[
load_module ${NGINX_MODULES}/ndk_http_module.so;
load_module ${NGINX_MODULES}/ngx_http_lua_module.so;
${USER_DIRECTIVE}
worker_processes ${WORKERS};
pid logs/nginx.pid;
error_log logs/error.log notice;
events { worker_connections 64; }
http {
access_log off;
client_body_temp_path temp/body;
proxy_temp_path temp/proxy;
fastcgi_temp_path temp/fastcgi;
uwsgi_temp_path temp/uwsgi;
scgi_temp_path temp/scgi;
]]

describe("the host snippets of docs/hosts.md", function()
  local srv, proc, ng, dir
  local doc = snippets()

  before_each(function()
    srv = H.track(assert(server.start{ port = 0, config_file = "examples/server-config.lua" }))
    dir = P.tmpdir("doc")
  end)
  after_each(function()
    if proc then proc:kill(); proc = nil end
    N.stop(ng)
    ng = nil
    H.cleanup()
    P.rmdir(dir)
  end)

  local function write(name, text) return P.write(dir, name, text) end

  local function env()
    return P.module_env(BUILD, { XANO_URL = srv:base_url(), XANO_CANONICAL = "local" })
  end

  -- Runs argv to its end while the server runs; returns its output.
  local function run(argv)
    proc = P.spawn(argv, { env = env() })
    H.wait_until(function() return proc:exited() end, table.concat(argv, " "), 20)
    local out = proc:output()
    assert.equal(0, proc:status(), out)
    return out
  end

  it("has the five snippets", function()
    local names = {}
    for name in pairs(doc) do names[#names + 1] = name end
    table.sort(names)
    assert.same({ "cqueues", "game", "luv", "openresty", "plain" }, names)
  end)

  for _, name in ipairs({ "plain", "luv", "cqueues" }) do
    it("runs the " .. name .. " snippet", function()
      local s = assert(doc[name], "no snippet " .. name)
      assert.equal("lua", s.lang)
      local out = run({ LUA, write(name .. ".lua", s.body) })
      assert.truthy(out:find("message: hello", 1, true), out)
    end)
  end

  it("runs the game snippet in the game-loop host", function()
    assert(io.open(HOST, "r"), HOST .. " is missing: make embed builds it"):close()
    local s = assert(doc.game)
    local out = run({ HOST, "--max-frames", "1200", write("game.lua", s.body) })
    local frames = tonumber(out:match("phase=all frames=(%d+)"))
    -- three sends, 30 frames apart, and the snippet ended the game itself
    -- (three echoes), not the host's 1200-frame cap
    assert.truthy(frames and frames >= 90, out)
    assert.truthy(frames < 1200, out)
  end)

  it("runs the openresty snippet in nginx", function()
    local s = assert(doc.openresty)
    assert.equal("nginx", s.lang)
    local template = write("nginx.conf.in", NGINX_HEAD .. s.body .. "}\n")
    ng = N.start{ template = template, url = srv:base_url(), workers = 1 }
    H.wait_until(function() return #srv:members("lobby") == 1 end, "the worker to join lobby")
    assert.equal(200, (N.post(ng, "/send", { text = "from the doc" })))
    H.wait_until(function()
      local code, r = N.get(ng, "/messages")
      if code ~= 200 then return false end
      for _, m in ipairs(r.messages) do
        if m.payload.text == "from the doc" then return true end
      end
    end, "the message back in /messages")
    N.assert_clean_log(ng)
  end)
end)
