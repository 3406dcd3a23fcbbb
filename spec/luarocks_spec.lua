-- LuaRocks: rockspec/xano-realtime-scm-1.rockspec installs with
-- "luarocks make" from Debian's luarocks, without network (a proxy that
-- refuses every connection is set for it), into a temporary tree; a fresh
-- interpreter that sees only that tree and the system's cjson requires the
-- module and runs a round trip through the installed server.
--
-- Debian's lua-cjson is not a rock, so LuaRocks cannot see it as
-- installed: the build runs with --deps-mode=none (the rockspec still
-- declares lua-cjson for users of a rocks server).
local P = require "support.proc"

local ROCKSPEC = "rockspec/xano-realtime-scm-1.rockspec"

local function load_rockspec(path)
  local env = {}
  local chunk
  if setfenv then
    chunk = assert(loadfile(path))
    setfenv(chunk, env)
  else
    chunk = assert(loadfile(path, "t", env))
  end
  chunk()
  return env
end

local function ls(pattern)
  local t = P.lines("ls -1 " .. pattern .. " 2>/dev/null")
  table.sort(t)
  return t
end

-- The round trip the fresh interpreter runs (no LuaSocket there: it
-- waits with poll(timeout), on the core's events).
local CHECK = [[
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"
local core = require "xano.realtime.core"
print("core " .. package.searchpath("xano.realtime.core", package.cpath))
print("lua " .. package.searchpath("xano.realtime", package.path))
local srv = assert(server.start{ port = 0, canonical = "rock" })
local c = realtime.new{ url = srv:base_url(), canonical = "rock" }
local ch = c:channel("room", { queue_offline = true })
local got
ch:on("message", function(ev) got = ev.payload end)
ch:open()
ch:send("hello from the rock")
local deadline = core.now() + 10
while not got and core.now() < deadline do
  srv:poll(0)
  c:poll(0.02)
end
print("got " .. tostring(got))
c:close()
srv:close()
]]

describe("the LuaRocks package", function()
  local dir
  after_each(function() P.rmdir(dir); dir = nil end)

  it("lists every C source and Lua module of the tree", function()
    local spec = load_rockspec(ROCKSPEC)
    assert.equal("3.0", spec.rockspec_format)
    assert.truthy(spec.external_dependencies.LIBWEBSOCKETS)
    local deps = table.concat(spec.dependencies, " ")
    assert.truthy(deps:find("lua-cjson", 1, true))

    local mods = spec.build.modules
    local sources = {}
    for i, s in ipairs(mods["xano.realtime.core"].sources) do sources[i] = s end
    table.sort(sources)
    assert.same(ls("src/*/*.c"), sources)

    local files = {}
    for name, file in pairs(mods) do
      if type(file) == "string" then
        files[#files + 1] = file
        assert.equal(file, "lua/" .. name:gsub("%.", "/") .. ".lua")
      end
    end
    table.sort(files)
    local want = ls("lua/xano/realtime.lua lua/xano/realtime/*.lua lua/xano/realtime/*/*.lua")
    assert.same(want, files)
  end)

  it("installs with luarocks make, offline, and works from a fresh interpreter", function()
    dir = P.tmpdir("rock")
    local src, tree = dir .. "/src", dir .. "/tree"
    local ok, out = P.sh("mkdir -p " .. P.quote(src) .. " && cp -r src lua bin rockspec " .. P.quote(src))
    assert(ok, out)

    ok, out = P.sh("cd " .. P.quote(src) ..
      " && env http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9" ..
      " luarocks --lua-version=5.4 --tree=" .. P.quote(tree) ..
      " make --deps-mode=none " .. ROCKSPEC)
    assert(ok, out)
    assert.truthy(out:find("xano-realtime scm-1 is now installed", 1, true), out)
    for _, f in ipairs({ "/lib/lua/5.4/xano/realtime/core.so", "/share/lua/5.4/xano/realtime.lua",
                         "/share/lua/5.4/xano/realtime/server.lua",
                         "/share/lua/5.4/xano/realtime/server/console.lua",
                         "/share/lua/5.4/xano/realtime/server/console_page.lua",
                         "/bin/xano-realtime-server" }) do
      assert(io.open(tree .. f, "r"), tree .. f .. " missing:\n" .. out):close()
    end

    -- the system's cjson, wherever Debian put it for Lua 5.4
    ok, out = P.sh("lua5.4 -e 'print(package.searchpath(\"cjson\", package.cpath))'")
    assert(ok, out)
    local cjson_dir = out:match("^(%S+)/cjson%.so")
    assert(cjson_dir, out)

    local f = assert(io.open(dir .. "/check.lua", "w"))
    f:write(CHECK)
    f:close()
    ok, out = P.sh("env -i PATH=/usr/bin:/bin" ..
      " LUA_PATH=" .. P.quote(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua") ..
      " LUA_CPATH=" .. P.quote(tree .. "/lib/lua/5.4/?.so;" .. cjson_dir .. "/?.so") ..
      " lua5.4 " .. P.quote(dir .. "/check.lua"))
    assert(ok, out)
    assert.equal(tree .. "/lib/lua/5.4/xano/realtime/core.so", out:match("core (%S+)"))
    assert.equal(tree .. "/share/lua/5.4/xano/realtime.lua", out:match("lua (%S+)"))
    assert.truthy(out:find("got hello from the rock", 1, true), out)

    ok, out = P.sh("env -i PATH=/usr/bin:/bin " .. P.quote(tree .. "/bin/xano-realtime-server") .. " --help")
    assert(ok, out)
    assert.truthy(out:find("usage: xano-realtime-server", 1, true))
  end)
end)
