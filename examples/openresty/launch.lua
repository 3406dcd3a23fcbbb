-- launch: runs the OpenResty example (nginx.conf + realtime_worker.lua) on
-- 127.0.0.1 with a prefix directory of its own.
--
--   lua5.4 examples/openresty/launch.lua [--url URL] [--canonical NAME]
--       [--channel NAME] [--workers N] [--prefix DIR]
--
-- The defaults are those of "make server": --url http://127.0.0.1:8080,
-- --canonical local, --channel lobby.
--
-- prints the base URL of nginx and the command that stops it.  The specs
-- use it as a module: require "launch" (with examples/openresty/ on
-- package.path).
--
-- nginx cannot listen on port 0 and tell us which port it got, so a free
-- port is picked right before nginx starts: bind 127.0.0.1:0 with
-- LuaSocket, read the port, close.  Should another process take it in
-- between, nginx fails with "Address already in use" and start() tries
-- again with a new port (3 times).
local socket = require "socket"

local M = {}

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"exit:$?\"", "r"))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit:(%d+)%s*$"))
  return code == 0, (out:gsub("exit:%d+%s*$", ""))
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- The checkout this file belongs to, as an absolute path.
local function root()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/examples/openresty/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then
    local ok, cwd = sh("pwd")
    assert(ok, cwd)
    dir = cwd:gsub("%s+$", "") .. (dir == "." and "" or "/" .. dir)
  end
  return dir
end

M.ROOT = root()
M.NGINX = os.getenv("NGINX") or (io.open("/usr/sbin/nginx") and "/usr/sbin/nginx") or "nginx"
M.MODULES = os.getenv("NGINX_MODULES") or "/usr/lib/nginx/modules"

--- A port of 127.0.0.1 that was free a moment ago.
function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

--- Replaces every ${NAME} of text with vars.NAME (an error if missing).
function M.render(text, vars)
  return (text:gsub("%${([%w_]+)}", function(name)
    local v = vars[name]
    if v == nil then error("template: no value for ${" .. name .. "}", 0) end
    return tostring(v)
  end))
end

--- Writes PREFIX/nginx.conf and the directories nginx needs.
--- o: prefix (required), url, canonical, channel, workers, port,
--- template (a file), vars (more ${...} values).
function M.prepare(o)
  assert(o.prefix, "prefix required")
  local template = assert(read(o.template or (M.ROOT .. "/examples/openresty/nginx.conf")))
  local ok, out = sh("mkdir -p " .. quote(o.prefix .. "/logs") .. " " .. quote(o.prefix .. "/temp"))
  assert(ok, out)
  local port = o.port or M.free_port()
  local vars = {
    ROOT = M.ROOT, NGINX_MODULES = M.MODULES, PORT = port,
    WORKERS = o.workers or 2,
    XANO_URL = o.url or "http://127.0.0.1:8080",
    CANONICAL = o.canonical or "local",
    CHANNEL = o.channel or "lobby",
    -- workers run as whoever starts nginx, so that they can read the
    -- checkout (as root nginx would switch them to nobody otherwise)
    USER_DIRECTIVE = sh("test \"$(id -u)\" = 0") and "user root;" or "",
  }
  for k, v in pairs(o.vars or {}) do vars[k] = v end
  local conf = o.prefix .. "/nginx.conf"
  local f = assert(io.open(conf, "w"))
  f:write(M.render(template, vars))
  f:close()
  return { prefix = o.prefix, conf = conf, port = port, base = "http://127.0.0.1:" .. port }
end

--- Runs nginx -p PREFIX -c CONF [extra] (env: table of variables for it).
function M.nginx(cfg, extra, env)
  local pre = ""
  for k, v in pairs(env or {}) do pre = pre .. k .. "=" .. quote(v) .. " " end
  if pre ~= "" then pre = "env " .. pre end
  return sh(pre .. quote(M.NGINX) .. " -p " .. quote(cfg.prefix) .. " -c " .. quote(cfg.conf) ..
    (extra and " " .. extra or ""))
end

--- prepare() and start nginx (it returns once the master listens).
--- Returns cfg, or nil and nginx's message.
function M.start(o)
  local err
  for _ = 1, 3 do
    local cfg = M.prepare(o)
    local ok, out = M.nginx(cfg, nil, o.env)
    if ok then return cfg end
    err = out .. (read(cfg.prefix .. "/logs/error.log") or "")
    if o.port or not err:find("Address already in use", 1, true) then break end
  end
  return nil, err
end

--- The master's pid (from PREFIX/logs/nginx.pid), or nil.
function M.master_pid(cfg)
  return tonumber(read(cfg.prefix .. "/logs/nginx.pid") or "")
end

local function main(argv)
  local o, i = {}, 1
  while argv[i] do
    local k, v = argv[i]:match("^%-%-(%w+)$"), argv[i + 1]
    if not k or not v then
      io.stderr:write("usage: launch.lua --url URL [--canonical NAME] [--channel NAME] ",
        "[--workers N] [--prefix DIR]\n")
      os.exit(2)
    end
    o[k] = v
    i = i + 2
  end
  if not o.prefix then
    local ok, dir = sh("mktemp -d \"${TMPDIR:-/tmp}/xrt-nginx.XXXXXX\"")
    assert(ok, dir)
    o.prefix = dir:gsub("%s+$", "")
  end
  local cfg, err = M.start(o)
  if not cfg then
    io.stderr:write("launch.lua: nginx did not start:\n", err, "\n")
    os.exit(1)
  end
  print(cfg.base)
  print("stop with: " .. M.NGINX .. " -p " .. cfg.prefix .. " -c " .. cfg.conf .. " -s quit")
end

if ... ~= "launch" then main(arg or {}) end

return M
