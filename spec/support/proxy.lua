-- A TCP proxy on 127.0.0.1 that the specs control, to make a network
-- misbehave on purpose: stall (stop forwarding while TCP stays open),
-- reset every connection, refuse new ones, or trickle one byte at a time.
-- It runs inside the test's Lua state: helpers.wait_until polls it along
-- with the endpoints, and selects on its sockets.
--
-- What it has not carried yet stands for bytes still in the sender's
-- socket on a slow link: a side that ends with an EOF has everything it
-- wrote before carried on first, but once a side can no longer be
-- written to (it closed and was sent more: the kernel aborts such a
-- socket), the pair closes and what the other side still had on its way
-- is dropped, as an aborted TCP connection drops what it had not sent.
local socket = require "socket"

local Proxy = {}
Proxy.__index = Proxy

-- Proxy.start{ target_port = P [, target_host = "127.0.0.1"] }
function Proxy.start(opts)
  local listener = assert(socket.bind("127.0.0.1", 0))
  listener:settimeout(0)
  local _, port = listener:getsockname()
  return setmetatable({
    port = tonumber(port),
    target_host = opts.target_host or "127.0.0.1",
    target_port = assert(opts.target_port, "target_port"),
    listener = listener,
    pairs = {},
    accepted = 0,
    accepts = {}, -- socket.gettime() of each accepted connection
    stalled = false,
    refusing = false,
    trickle = nil,
    bytes_up = 0, bytes_down = 0,
  }, Proxy)
end

-- Points the proxy at another port (a restarted server).
function Proxy:retarget(port)
  self.target_port = port
end

-- Stops forwarding in both directions; connections stay open.
function Proxy:stall(on)
  self.stalled = on ~= false
end

-- Forwards at most n bytes per direction and connection per poll.
function Proxy:slow(n)
  self.trickle = n
end

-- New connections are accepted and closed at once.
function Proxy:refuse(on)
  self.refusing = on ~= false
end

local function close_pair(p)
  p.down:close()
  if p.up then p.up:close() end
  p.closed = true
end

-- Drops every connection abruptly (RST, no close handshake).
function Proxy:reset()
  for _, p in ipairs(self.pairs) do
    p.down:setoption("linger", { on = true, timeout = 0 })
    if p.up then p.up:setoption("linger", { on = true, timeout = 0 }) end
    close_pair(p)
  end
  self.pairs = {}
end

function Proxy:connections()
  return #self.pairs
end

local function pump(self, from, to, pending, limit)
  -- returns new pending, bytes moved, closed?
  local moved = 0
  if #pending == 0 then
    local data, err, partial = from:receive(limit or 65536)
    data = data or partial
    if data and #data > 0 then pending = data end
    if err == "closed" and #pending == 0 then return pending, 0, true end
  end
  if #pending > 0 then
    local chunk = limit and pending:sub(1, limit) or pending
    local sent, err, last = to:send(chunk)
    sent = sent or last or 0
    moved = sent
    pending = pending:sub(sent + 1)
    if err == "closed" then return pending, moved, true end
  end
  return pending, moved, false
end

function Proxy:poll()
  local n = 0
  for _ = 1, 64 do
    local c = self.listener:accept()
    if not c then break end
    c:settimeout(0)
    self.accepted = self.accepted + 1
    self.accepts[self.accepted] = socket.gettime()
    if self.refusing then
      c:close()
    else
      local up = socket.tcp()
      up:settimeout(1)
      local ok = up:connect(self.target_host, self.target_port)
      if ok then
        up:settimeout(0)
        up:setoption("tcp-nodelay", true)
        c:setoption("tcp-nodelay", true)
        self.pairs[#self.pairs + 1] = { down = c, up = up, to_up = "", to_down = "" }
      else
        up:close()
        c:close()
      end
    end
    n = n + 1
  end
  if self.stalled then return n end
  local keep = {}
  for _, p in ipairs(self.pairs) do
    local moved1, moved2, closed1, closed2
    p.to_up, moved1, closed1 = pump(self, p.down, p.up, p.to_up, self.trickle)
    p.to_down, moved2, closed2 = pump(self, p.up, p.down, p.to_down, self.trickle)
    self.bytes_up = self.bytes_up + moved1
    self.bytes_down = self.bytes_down + moved2
    n = n + moved1 + moved2
    if closed1 or closed2 then close_pair(p) else keep[#keep + 1] = p end
  end
  self.pairs = keep
  return n
end

-- Sockets to select on while waiting.
function Proxy:wait_sockets()
  local list = { self.listener }
  if not self.stalled then
    for _, p in ipairs(self.pairs) do
      list[#list + 1] = p.down
      list[#list + 1] = p.up
    end
  end
  return list
end

function Proxy:close()
  for _, p in ipairs(self.pairs) do close_pair(p) end
  self.pairs = {}
  self.listener:close()
end

return Proxy
