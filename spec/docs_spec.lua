-- The documentation is executed.  Every fenced ```lua block of README.md and
-- docs/*.md runs as a script of its own, exactly as written, against a local
-- server configured as `make server` configures it (so a snippet that names a
-- channel the quickstart's server lacks fails too); it must exit 0 within its
-- deadline and write no unhandled error.  A block preceded by a marker line
-- runs otherwise:
--
--   <!-- doctest: compile-only -->      only compiled (it needs a host, a
--                                       backend, or waits for ever)
--   <!-- doctest: continue -->          run after the file's previous lua
--                                       block, as one script (a block that
--                                       uses what the previous one defined)
--   <!-- doctest: file PATH -->         must be PATH byte for byte (compiled
--                                       here; PATH runs in the shell test)
--   <!-- snippet: NAME -->              run in its host by hosts_doc_spec.lua
--                                       (compiled here)
--
-- The README's quickstart commands (```sh blocks marked
-- "<!-- doctest: shell -->") run too: make server in the background on a
-- free port, then the other lines in a shell.  And the documents link only
-- to files of the repository (Xano's own documentation excepted), and
-- bin/xano-realtime-server --help names only pages that exist.
local H = require "support.helpers"
local P = require "support.proc"
local socket = require "socket"
local server = require "xano.realtime.server"

local LUA = os.getenv("XRT_LUA") or "lua5.4"
local BUILD = os.getenv("XRT_BUILD") or "build/5.4"
local DEADLINE = 20 -- seconds a snippet may run; they take well under one
local ROOT = (select(2, P.sh("pwd")):gsub("%s+$", ""))

-- Pages other branches of work are writing: a link to one of them may
-- point nowhere yet, and is checked once the page exists.
local function documents()
  local list = { "README.md" }
  for _, path in ipairs(P.lines("ls docs/*.md 2>/dev/null")) do list[#list + 1] = path end
  return list
end

-- The fenced blocks of a Markdown text: { lang, body, line, marker }, the
-- marker being the last non-blank line before the fence when it is an
-- HTML comment.
local function blocks(text)
  local out, n, prev = {}, 0, nil
  local cur
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("(.-)\n") do
    n = n + 1
    if cur then
      if line:match("^```%s*$") then
        out[#out + 1] = cur
        cur = nil
      else
        cur.body = cur.body .. line .. "\n"
      end
    else
      local lang = line:match("^```(%w*)%s*$")
      if lang then
        cur = { lang = lang, body = "", line = n + 1,
                marker = prev and prev:match("^<!%-%-%s*(.-)%s*%-%->%s*$") }
      elseif line:match("%S") then
        prev = line
      end
    end
  end
  assert(not cur, "an unclosed fence at line " .. (cur and cur.line or 0))
  return out
end

local write = P.write

-- The lines a script wrote that report an error nobody handled.
local function unhandled(out)
  local bad = {}
  for line in out:gmatch("[^\n]+") do
    if line:match("^xano%.realtime: ") or line:match("^lua[%w.]*: ") or line:match("^luajit: ") then
      bad[#bad + 1] = line
    end
  end
  return bad
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- The commands the README gives a user run in a user's environment: none
-- of the variables of the make running the specs (LUA=luajit, MAKEFLAGS ...)
-- and no module path.
local function clean_env()
  local keep = {}
  for _, name in ipairs({ "PATH", "HOME", "TMPDIR", "LANG", "USER" }) do
    local v = os.getenv(name)
    if v then keep[#keep + 1] = name .. "=" .. P.quote(v) end
  end
  return "env -i " .. table.concat(keep, " ") .. " "
end
local CLEAN_ENV = clean_env()

describe("the documentation", function()
  local dir
  setup(function() dir = P.tmpdir("docs") end)
  teardown(function() P.rmdir(dir) end)

  describe("lua blocks", function()
    local srv, proc
    before_each(function()
      srv = H.track(assert(server.start{ port = 0, config_file = "examples/server-config.lua" }))
    end)
    after_each(function()
      if proc then proc:kill(); proc = nil end
      H.cleanup()
    end)

    local function env()
      return P.module_env(BUILD, { XANO_URL = srv:base_url(), XANO_CANONICAL = "local" })
    end

    -- Runs a script to its end, within the deadline; returns its output.
    local function run(path, what)
      proc = P.spawn({ LUA, path }, { env = env() })
      local ok, err = pcall(H.wait_until, function() return proc:exited() end, what, DEADLINE)
      local out = proc:output()
      assert(ok, tostring(err) .. " (a snippet must end by itself)\n" .. out)
      assert.equal(0, proc:status(), what .. " failed:\n" .. out)
      assert.same({}, unhandled(out), what .. " wrote an unhandled error:\n" .. out)
      return out
    end

    local found = 0
    for _, doc in ipairs(documents()) do
      local text = assert(P.read(doc))
      local previous -- the last lua block of this file, for "continue"
      for _, b in ipairs(blocks(text)) do
        if b.lang == "lua" then
          found = found + 1
          local what = ("%s, the lua block at line %d"):format(doc, b.line)
          local marker = b.marker or ""
          local kind = marker:match("^doctest:%s*(%S+)") or (marker:match("^snippet:") and "snippet") or "run"
          local body = b.body
          if kind == "continue" then
            assert(previous, what .. ": 'continue' with no lua block before it")
            body = previous .. body
          end
          previous = body
          it("compiles " .. what, function()
            assert(load(body, "=" .. what), select(2, load(body, "=" .. what)))
          end)
          if kind == "file" then
            local path = marker:match("^doctest:%s*file%s+(%S+)")
            it(what .. " is " .. tostring(path) .. ", byte for byte", function()
              assert.equal(assert(P.read(path), path .. " missing"), b.body)
            end)
          elseif kind == "run" or kind == "continue" then
            it("runs " .. what, function()
              run(write(dir, ("%s-%d.lua"):format(doc:gsub("%W", "_"), b.line), body), what)
            end)
          else
            assert(kind == "compile-only" or kind == "snippet", what .. ": unknown marker '" .. marker .. "'")
          end
        end
      end
    end

    it("found the lua blocks of README.md and docs/API.md", function()
      assert.is_true(found >= 8, "only " .. found .. " lua blocks")
    end)
  end)

  describe("the README's quickstart commands", function()
    local server_proc, script_proc
    after_each(function()
      if script_proc then script_proc:kill(); script_proc = nil end
      if server_proc then server_proc:kill(); server_proc = nil end
    end)

    -- the commands of the ```sh blocks marked "doctest: shell", comments removed
    local function commands()
      local list = {}
      for _, b in ipairs(blocks(assert(P.read("README.md")))) do
        if b.marker == "doctest: shell" then
          assert.equal("sh", b.lang)
          for line in b.body:gmatch("[^\n]+") do
            line = line:gsub("%s+#.*$", "")
            if line:match("%S") then list[#list + 1] = line end
          end
        end
      end
      return list
    end

    -- make server as the README says, on a free port (PORT=...); its port
    local function start_server(line)
      local port = free_port()
      server_proc = P.spawn(CLEAN_ENV .. "PORT=" .. port .. " " .. line)
      H.wait_until(function()
        assert(not server_proc:exited(), "make server exited:\n" .. server_proc:output())
        return server_proc:output():find("listening ws://127.0.0.1:" .. port .. "/rt/local\n", 1, true)
      end, "make server's ready line", 120)
      return port
    end

    local function run_script(lines, port, what)
      local script = write(dir, "quickstart.sh", "set -e\ncd " .. P.quote(ROOT) .. "\n" ..
        table.concat(lines, "\n") .. "\n")
      script_proc = P.spawn(CLEAN_ENV .. "XANO_URL=http://127.0.0.1:" .. port .. " bash " .. P.quote(script))
      H.wait_until(function() return script_proc:exited() end, what, 120)
      local out = script_proc:output()
      assert.equal(0, script_proc:status(), what .. " failed:\n" .. out)
      return out
    end

    it("start make server, then run examples/quickstart.lua, which joins, sends and receives", function()
      local cmds = commands()
      assert.equal("make server", cmds[1])
      local rest = {}
      for i = 2, #cmds do
        assert.is_nil(cmds[i]:match("^make server"), "one make server only")
        rest[#rest + 1] = cmds[i]
      end
      assert.same({ 'eval "$(make env)"', "lua5.4 examples/quickstart.lua" }, rest)
      local port = start_server(cmds[1])
      local out = run_script(rest, port, "the quickstart")
      assert.matches("status: connected\n", out)
      assert.matches("\n1 client%(s%) in room1\n", out)
      assert.matches("message%(s%) in room1's history\n", out)
      assert.matches("\n%x+: hello from [^\n]+\n", out)
      assert.is_nil(out:find("disconnected", 1, true), out)
    end)

    it("make env lets lua5.4 find the module from any folder", function()
      local port = start_server("make server")
      local elsewhere = P.tmpdir("elsewhere")
      local copy = write(elsewhere, "my.lua", assert(P.read("examples/quickstart.lua")))
      local ok, out = pcall(run_script,
        { 'eval "$(make env)"', "cd " .. P.quote(elsewhere), "lua5.4 my.lua" }, port, "a script elsewhere")
      os.remove(copy)
      P.rmdir(elsewhere)
      assert(ok, out)
      assert.matches("\n%x+: hello from [^\n]+\n", out)
    end)

    it("make env prints only export lines", function()
      local ok, out = P.sh(CLEAN_ENV .. "make --no-print-directory env 2>/dev/null")
      assert.is_true(ok, out)
      assert.equal(table.concat({
        ("export LUA_PATH_5_4='%s/lua/?.lua;%s/lua/?/init.lua;;'"):format(ROOT, ROOT),
        ("export LUA_CPATH_5_4='%s/build/5.4/?.so;;'"):format(ROOT),
        ("export PATH='%s/bin':\"$PATH\""):format(ROOT), "" }, "\n"), out)
    end)
  end)

  describe("links", function()
    -- [text](target) links of a Markdown text, with their line numbers
    local function links(text)
      local out, n = {}, 0
      for line in (text .. "\n"):gmatch("(.-)\n") do
        n = n + 1
        for target in line:gmatch("%]%(([^)%s]+)%)") do out[#out + 1] = { target = target, line = n } end
      end
      return out
    end

    -- GitHub's anchors for the headings of a Markdown file
    local function anchors(path)
      local set = {}
      local text = P.read(path)
      if not text then return nil end
      local infence = false
      for line in (text .. "\n"):gmatch("(.-)\n") do
        if line:match("^```") then infence = not infence end
        local title = not infence and line:match("^#+%s+(.-)%s*$")
        if title then
          set[(title:lower():gsub("[^%w%s_%-]", ""):gsub("%s", "-"))] = true
        end
      end
      return set
    end

    for _, doc in ipairs(documents()) do
      it("of " .. doc .. " stay in the repository", function()
        local text = assert(P.read(doc))
        local base = doc:match("^(.*)/[^/]*$") or "."
        for _, l in ipairs(links(text)) do
          local t = l.target
          local where = ("%s:%d: %s"):format(doc, l.line, t)
          if t:match("^%a[%w+.-]*:") then
            assert.matches("^https://docs%.xano%.com/", t, where .. " points outside the repository")
          else
            local path, anchor = t:match("^([^#]*)#?(.*)$")
            local full = doc
            if path ~= "" then
              full = (base == "." and path or base .. "/" .. path):gsub("/%./", "/")
              while full:find("[^/]+/%.%./") do full = full:gsub("[^/]+/%.%./", "", 1) end
            end
            local exists = os.rename(full, full) -- true for files and directories
            assert.is_truthy(exists, where .. " names a file that does not exist")
            if anchor ~= "" and full:match("%.md$") then
              assert.is_truthy(anchors(full)[anchor], where .. ": no such heading in " .. full)
            end
          end
        end
        -- references to notes that are not part of the repository
        assert.is_nil(text:find("%(G%.%d"), doc .. " cites outside notes (G.n)")
        assert.is_nil(text:find("research notes", 1, true), doc .. " cites outside notes")
        assert.is_nil(text:find("/work/", 1, true), doc .. " names a path outside the repository")
      end)
    end
  end)

  it("bin/xano-realtime-server --help names only pages that exist", function()
    local ok, out = P.sh(P.quote(LUA) .. " bin/xano-realtime-server --help")
    assert.is_true(ok, out)
    local named = 0
    for page in out:gmatch("docs/[%w_.-]+%.md") do
      named = named + 1
      assert.is_truthy(io.open(page, "r"), page .. " does not exist")
    end
    assert.is_true(named >= 1, out)
  end)
end)
