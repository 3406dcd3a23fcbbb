-- The system the model drives: the bundled server (in-process, killed and
-- restarted on the same port), the fault proxy between the clients under
-- test and the server, observer peers (one per channel, joined throughout,
-- with presence), visitors that join and leave, and up to three clients
-- under test in this one Lua state.  Peers reach the server through a
-- proxy of their own that never misbehaves, except when the server is
-- killed: then every link is reset (RST, no close frame) before the
-- server goes, as a killed process's links are.
--
-- Every client has its own tokens, so the server's record of a socket
-- (its identity's row_id) says whose socket it is: token j of the g-th
-- client made in slot k has row_id 1000 k + 10 g + j (its "owner" is
-- 100 k + g), observers 800 + i, visitors 900 + i.
local core = require "xano.realtime.core"
local realtime = require "xano.realtime"
local server = require "xano.realtime.server"
local socket = require "socket"
local Proxy = require "support.proxy"
local G = require "support.model.gen"

local W = {}
W.__index = W

local CANONICAL = "model"
local RECONNECT = { initial = 0.02, max = 0.1, stable = 0.5 }

-- clients made in one slot over a run (a client closed, then a new one)
W.GENERATIONS = 9

function W.token(k, g, j)
  return ("c%dg%dt%d"):format(k, g, j)
end

-- the client a row_id belongs to (100 k + g), or nil
function W.owner(row)
  if type(row) == "number" and row >= 1000 then return math.floor(row / 10) end
end

local function tokens()
  local t = {}
  for k = 1, G.MAX_CLIENTS do
    for g = 1, W.GENERATIONS do
      for j = 1, G.TOKENS do
        t[W.token(k, g, j)] = { dbo_id = 1, row_id = 1000 * k + 10 * g + j }
      end
    end
  end
  for i, name in ipairs(G.CHANNELS) do t["obs-" .. name] = { dbo_id = 2, row_id = 800 + i } end
  for v = 1, G.VISITORS do t["v" .. v] = { dbo_id = 3, row_id = 900 + v } end
  return t
end

function W.new(oracle)
  local self = setmetatable({ oracle = oracle, clients = {}, observers = {}, visitors = {},
    server_up = false, stalled = false, slow = false, port = 0, extra = {}, gen = {},
    closed_clients = {} }, W)
  return self
end

-- Clients and peers reach the server only through the proxies, so a
-- restarted server may take another port: another process on the machine
-- can take the killed server's port meanwhile.
function W:start_server()
  local srv, err
  for _ = 1, 50 do
    srv, err = server.start{ port = self.port, canonical = CANONICAL, config = { tokens = tokens() } }
    if srv then break end
    -- the port of the killed server may take a moment to be free again
    socket.select(nil, nil, 0.02)
  end
  if not srv and self.port ~= 0 then
    srv, err = server.start{ port = 0, canonical = CANONICAL, config = { tokens = tokens() } }
  end
  assert(srv, "the server does not start again: " .. tostring(err))
  self.srv = srv
  self.port = srv.port
  self.server_up = true
  srv.hooks.frame = function(sid, f) self.oracle:on_server_frame(self, sid, f) end
  for _, p in ipairs({ self.proxy, self.peer_proxy }) do
    p:retarget(srv.port)
    p:refuse(false)
  end
end

-- While the server is down the proxies turn every connection away (as
-- they do when the dead port refuses them), whoever binds that port
-- meanwhile: a server of another process on the machine is never reached.
function W:stop_server()
  for _, p in ipairs({ self.proxy, self.peer_proxy }) do
    p:refuse(true)
    p:reset()
  end
  if self.srv then self.srv:close() end
  self.server_up = false
end

-- The row_id of the identity behind a socketId of the running server.
function W:row_of(sid)
  local sock = self.srv and self.server_up and self.srv.by_sid[sid]
  return sock and sock.identity and sock.identity.row_id or nil
end

-- { {sid =, row =}, ... } of a channel on the server
function W:members(name)
  local out = {}
  if not self.server_up then return out end
  for _, sid in ipairs(self.srv:members(name)) do out[#out + 1] = { sid = sid, row = self:row_of(sid) } end
  return out
end

-- how many sockets of the server carry a row_id matching pred(row)
function W:sockets_where(pred)
  local n = 0
  if not self.server_up then return 0 end
  for _, sock in pairs(self.srv.socks) do
    local row = sock.identity and sock.identity.row_id
    if row and pred(row) then n = n + 1 end
  end
  return n
end

local function peer(self, url, token)
  return realtime.new{ url = url, canonical = CANONICAL, token = token, reconnect = RECONNECT,
    ping_interval = 0 }
end

function W:setup()
  self:start_server()
  self.proxy = Proxy.start{ target_port = self.srv.port }
  self.peer_proxy = Proxy.start{ target_port = self.srv.port }
  local direct = "http://127.0.0.1:" .. self.peer_proxy.port
  for i, name in ipairs(G.CHANNELS) do
    local o = { name = name, row = 800 + i, got = {}, order = {} }
    o.c = peer(self, direct, "obs-" .. name)
    o.ch = o.c:channel(name, { presence = true })
    o.ch:on("message", function(ev) self.oracle:on_peer_message(o, ev) end)
    o.ch:open()
    self.observers[name] = o
  end
  for v = 1, G.VISITORS do
    local vis = { v = v, row = 900 + v, got = {}, order = {} }
    vis.c = peer(self, direct, "v" .. v)
    vis.chans = {}
    for _, name in ipairs(G.CHANNELS) do
      vis.chans[name] = vis.c:channel(name, { presence = true })
      vis.chans[name]:on("message", function(ev) self.oracle:on_peer_message(vis, ev) end)
    end
    self.visitors[v] = vis
  end
end

-- every endpoint, once, without waiting
function W:poll_once()
  if self.server_up then self.srv:poll(0) end
  if self.proxy then self.proxy:poll() end
  if self.peer_proxy then self.peer_proxy:poll() end
  realtime.poll(0)
  if self.server_up then self.srv:poll(0) end
  if self.proxy then self.proxy:poll() end
  if self.peer_proxy then self.peer_proxy:poll() end
end

-- sleeps until the core has events, a proxy socket is readable, or timeout
function W:wait(timeout)
  local list = {}
  local fd = core.fd()
  if fd then list[1] = { getfd = function() return fd end, dirty = function() return false end } end
  for _, p in ipairs({ self.proxy, self.peer_proxy }) do
    for _, s in ipairs(p:wait_sockets()) do list[#list + 1] = s end
  end
  socket.select(list, nil, timeout)
end

-- polls until pred() or the deadline; returns pred()'s last result
function W:poll_until(pred, seconds)
  local deadline = core.now() + seconds
  for _ = 1, 1000000 do
    self:poll_once()
    if pred() then return true end
    local left = deadline - core.now()
    if left <= 0 then return false end
    self:wait(math.min(left, 0.02))
  end
  return false
end

function W:close()
  for _, cl in pairs(self.clients) do pcall(cl.c.close, cl.c) end
  for _, o in pairs(self.observers) do pcall(o.c.close, o.c) end
  for _, v in pairs(self.visitors) do pcall(v.c.close, v.c) end
  for _, x in ipairs(self.extra) do pcall(x.close, x) end
  if self.proxy then pcall(self.proxy.close, self.proxy) end
  if self.peer_proxy then pcall(self.peer_proxy.close, self.peer_proxy) end
  if self.srv and self.server_up then pcall(self.srv.close, self.srv) end
  self.server_up = false
  -- the sockets of the clients closed above are collected now, not at
  -- some later run's garbage collection
  collectgarbage()
  collectgarbage()
end

-- a subject client: through the proxy, with handlers on everything
function W:new_client(k, opts)
  local o = self.oracle
  local g = (self.gen[k] or 0) + 1
  self.gen[k] = g
  local old = self.clients[k]
  if old then self.closed_clients[#self.closed_clients + 1] = old end
  local cl = { k = k, g = g, owner = 100 * k + g, token_row = 1000 * k + 10 * g + 1, chans = {},
    disc = 0, connected = 0, closed = false }
  cl.c = realtime.new{ url = "http://127.0.0.1:" .. self.proxy.port, canonical = CANONICAL,
    token = W.token(k, g, 1), reconnect = RECONNECT, ping_interval = 0.5, ping_timeout = 3 }
  cl.c:on(function(ev) o:on_client_event(self, cl, ev) end)
  for _, name in ipairs(G.CHANNELS) do
    local co = opts[name]
    local ch = cl.c:channel(name, { presence = co.presence, history = co.history,
      queue_offline = co.queue_offline })
    local chs = { name = name, ch = ch, opts = co, open = false, joined_once = false, seen = {},
      -- the rule: queue_offline defaults to true
      q = co.queue_offline ~= false }
    ch:on(function(ev) o:on_channel_event(self, cl, chs, ev) end)
    cl.chans[name] = chs
  end
  self.clients[k] = cl
  return cl
end

return W
