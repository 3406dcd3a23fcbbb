-- An HTTP CONNECT proxy on loopback that the specs control, like the
-- proxies of offices and hotels: it reads a CONNECT head, checks Basic
-- credentials when told to, answers with a status of the spec's choice, and
-- then relays bytes both ways.  It records every request head it read (the
-- specs check that nothing but the CONNECT reaches the proxy as HTTP), and
-- can die with every tunnel open.  It runs inside the test's Lua state and
-- is polled by helpers.wait_until.
local socket = require "socket"
local mime = require "mime"

local ConnectProxy = {}
ConnectProxy.__index = ConnectProxy

local function b64(s) return (mime.b64(s)) end

-- ConnectProxy.start{ [host = "127.0.0.1"], [user =, password =],
--   [refuse = status], [hosts = { name = "127.0.0.1" }] }
function ConnectProxy.start(opts)
  opts = opts or {}
  local host = opts.host or "127.0.0.1"
  local listener = assert(socket.bind(host, 0))
  listener:settimeout(0)
  local _, port = listener:getsockname()
  return setmetatable({
    host = host,
    port = tonumber(port),
    listener = listener,
    auth = opts.user and ("Basic " .. b64(opts.user .. ":" .. (opts.password or ""))) or nil,
    refuse = opts.refuse,
    hosts = opts.hosts or {},
    heads = {},       -- every request head read, in order
    tunnels = 0,      -- tunnels opened
    relayed = "",     -- the first 64 KiB the clients sent through tunnels
    conns = {},
  }, ConnectProxy)
end

-- The proxy's URL, with credentials when given.
function ConnectProxy:url(user, password)
  local h = self.host:find(":", 1, true) and "[" .. self.host .. "]" or self.host
  local cred = user and (user .. ":" .. (password or "") .. "@") or ""
  return "http://" .. cred .. h .. ":" .. self.port
end

local function close_conn(c)
  c.down:close()
  if c.up then c.up:close() end
  c.closed = true
end

local function answer(c, status, text, extra)
  c.down:send(("HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\n\r\n"):format(status, text, extra or ""))
  close_conn(c)
end

-- A complete head arrived on c: decide, and open the tunnel or refuse.
function ConnectProxy:handle(c, head)
  self.heads[#self.heads + 1] = head
  local target = head:match("^CONNECT (%S+) HTTP/1%.[01]\r\n")
  if not target then return answer(c, 405, "Method Not Allowed") end
  if self.refuse then return answer(c, self.refuse, self.refuse == 403 and "Forbidden" or "Refused") end
  if self.auth then
    local given = head:match("\r\n[Pp]roxy%-[Aa]uthorization: *([^\r\n]*)")
    if not given or given:gsub("^basic", "Basic") ~= self.auth then
      return answer(c, 407, "Proxy Authentication Required",
        'Proxy-Authenticate: Basic realm="specs"\r\n')
    end
  end
  local h, p = target:match("^%[(.+)%]:(%d+)$")
  if not h then h, p = target:match("^(.+):(%d+)$") end
  h = self.hosts[h] or h
  local up = socket.tcp()
  if h:find(":", 1, true) then up = socket.tcp6() end
  up:settimeout(1)
  if not up:connect(h, tonumber(p)) then
    up:close()
    return answer(c, 502, "Bad Gateway")
  end
  up:settimeout(0)
  c.up = up
  c.to_up, c.to_down = "", ""
  self.tunnels = self.tunnels + 1
  c.down:send("HTTP/1.1 200 Connection established\r\n\r\n")
end

local function pump(from, to, pending)
  if #pending == 0 then
    local data, err, partial = from:receive(65536)
    data = data or partial
    if data and #data > 0 then pending = data end
    if err == "closed" and #pending == 0 then return pending, 0, true end
  end
  local moved, chunk = 0, nil
  if #pending > 0 then
    local sent, err, last = to:send(pending)
    moved = sent or last or 0
    chunk = pending:sub(1, moved)
    pending = pending:sub(moved + 1)
    if err == "closed" then return pending, moved, true, chunk end
  end
  return pending, moved, false, chunk
end

-- How many tunnels are open now.
function ConnectProxy:open_tunnels()
  local n = 0
  for _, c in ipairs(self.conns) do
    if c.up and not c.closed then n = n + 1 end
  end
  return n
end

function ConnectProxy:poll()
  local n = 0
  for _ = 1, 16 do
    local d = self.listener:accept()
    if not d then break end
    d:settimeout(0)
    self.conns[#self.conns + 1] = { down = d, head = "" }
    n = n + 1
  end
  local keep = {}
  for _, c in ipairs(self.conns) do
    if not c.up and not c.closed then
      local data, err, partial = c.down:receive(4096)
      data = data or partial
      if data and #data > 0 then
        c.head = c.head .. data
        n = n + 1
        local e = c.head:find("\r\n\r\n", 1, true)
        if e then self:handle(c, c.head:sub(1, e + 3)) end
      elseif err == "closed" then
        close_conn(c)
      end
    elseif c.up and not c.closed then
      local m1, m2, x1, x2
      local sent
      c.to_up, m1, x1, sent = pump(c.down, c.up, c.to_up)
      if sent and #self.relayed < 65536 then self.relayed = self.relayed .. sent end
      c.to_down, m2, x2 = pump(c.up, c.down, c.to_down)
      n = n + m1 + m2
      if x1 or x2 then close_conn(c) end
    end
    if not c.closed then keep[#keep + 1] = c end
  end
  self.conns = keep
  return n
end

function ConnectProxy:wait_sockets()
  local list = { self.listener }
  for _, c in ipairs(self.conns) do
    list[#list + 1] = c.down
    if c.up then list[#list + 1] = c.up end
  end
  return list
end

-- The proxy process dies: every tunnel and the listener go at once.
function ConnectProxy:kill()
  for _, c in ipairs(self.conns) do
    c.down:setoption("linger", { on = true, timeout = 0 })
    close_conn(c)
  end
  self.conns = {}
end

function ConnectProxy:close()
  for _, c in ipairs(self.conns) do close_conn(c) end
  self.conns = {}
  self.listener:close()
end

return ConnectProxy
