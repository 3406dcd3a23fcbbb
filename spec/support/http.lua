-- Plain HTTP and raw-socket exchanges with a server running in the same
-- Lua state, for the server specs.  LuaSocket in non-blocking mode: the
-- server answers only when it is polled, so reading is done inside
-- H.wait_until, which polls every tracked endpoint meanwhile.
local socket = require "socket"
local H = require "support.helpers"

local HTTP = {}

-- A raw TCP connection to 127.0.0.1:port.  Tracked: H.cleanup closes it.
function HTTP.connect(port)
  local tcp = assert(socket.tcp())
  tcp:settimeout(5)
  assert(tcp:connect("127.0.0.1", port))
  tcp:settimeout(0)
  local conn = { tcp = tcp, buf = "", eof = false }

  -- sends all of data (waiting for room, within the deadline)
  function conn:send(data)
    local i = 1
    H.wait_until(function()
      local last, err, partial = self.tcp:send(data, i)
      if last then i = #data + 1 return true end
      if err ~= "timeout" then error("send failed: " .. err) end
      i = partial + 1
      return i > #data
    end, "socket send")
  end

  -- reads what has arrived; true once the peer closed
  function conn:pump()
    if self.eof then return true end
    for _ = 1, 10000 do
      local data, err, partial = self.tcp:receive(65536)
      local got = data or partial
      if got and #got > 0 then self.buf = self.buf .. got end
      if err == "closed" then self.eof = true return true end
      if not data then return false end
    end
    return false
  end

  -- waits until pred(buf) or the peer closes
  function conn:read_until(pred, what)
    H.wait_until(function()
      local closed = self:pump()
      return pred(self.buf) or closed
    end, what or "socket data")
    return self.buf
  end

  function conn:close()
    if self.tcp then self.tcp:close() self.tcp = nil end
  end

  return H.track(conn)
end

local function parse_response(text)
  local head, body = text:match("^(.-\r\n)\r\n(.*)$")
  if not head then return nil end
  local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
    headers[name:lower()] = value
  end
  return { status = status, headers = headers, body = body, head = head }
end
HTTP.parse_response = parse_response

-- A whole request; the server closes after answering.
-- Returns {status=, headers= (lower-case names), body=}.
function HTTP.request(port, method, path, headers, body)
  local conn = HTTP.connect(port)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. port }
  for name, value in pairs(headers or {}) do lines[#lines + 1] = name .. ": " .. value end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  lines[#lines + 1] = "Connection: close"
  conn:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
  local text = conn:read_until(function() return false end, method .. " " .. path)
  conn:close()
  return assert(parse_response(text), "no HTTP response: " .. text)
end

-- A WebSocket upgrade request by hand; returns the response head (parsed)
-- and the open connection (101) for raw frames.
function HTTP.upgrade(port, path, protocol)
  local conn = HTTP.connect(port)
  local req = "GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1:" .. port ..
    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" ..
    (protocol and ("Sec-WebSocket-Protocol: " .. protocol .. "\r\n") or "") .. "\r\n"
  conn:send(req)
  local text = conn:read_until(function(b) return b:find("\r\n\r\n", 1, true) end,
    "upgrade response")
  local e = text:find("\r\n\r\n", 1, true)
  local res = assert(parse_response(text:sub(1, e + 3)), "no HTTP response: " .. text)
  conn.buf = text:sub(e + 4)
  return res, conn
end

-- big-endian bytes of n (arithmetic only: the specs also run on LuaJIT)
local function be_bytes(n, count)
  local out = {}
  for i = count, 1, -1 do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

-- A masked client frame (mask key 0, so the payload bytes stay as they are).
function HTTP.ws_frame(payload, opcode)
  local n = #payload
  local head = string.char(128 + (opcode or 1))
  if n < 126 then
    head = head .. string.char(128 + n)
  elseif n < 65536 then
    head = head .. string.char(128 + 126) .. be_bytes(n, 2)
  else
    head = head .. string.char(128 + 127) .. be_bytes(n, 8)
  end
  return head .. "\0\0\0\0" .. payload
end

-- The next frame the server sent on a raw connection (servers do not
-- mask): opcode, payload.  Waits for it; raises if the peer closes first.
function HTTP.read_ws_frame(conn)
  local opcode, payload
  conn:read_until(function(b)
    if #b < 2 then return false end
    local n, off = b:byte(2) % 128, 2
    if n == 126 then
      if #b < 4 then return false end
      n, off = b:byte(3) * 256 + b:byte(4), 4
    elseif n == 127 then
      if #b < 10 then return false end
      n = 0
      for i = 3, 10 do n = n * 256 + b:byte(i) end
      off = 10
    end
    if #b < off + n then return false end
    opcode, payload = b:byte(1) % 16, b:sub(off + 1, off + n)
    conn.buf = b:sub(off + n + 1)
    return true
  end, "a WebSocket frame")
  assert(opcode, "connection closed before a frame arrived")
  return opcode, payload
end

return HTTP
