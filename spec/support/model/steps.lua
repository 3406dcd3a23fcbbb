-- The steps of a sequence, run against the world by the model
-- (support.model.oracle): each one acts, checks what must hold at once
-- (what send returned, status() right after open(), is_open()), and
-- records what the next settle must see.
local O = require "support.model.oracle"
local open_count = O.open_count

local function live(world, k)
  local cl = world.clients[k]
  if cl and not cl.closed then return cl end
end

-- What send/send_to/history must return, or nil when either is right.
function O:expected_result(world, cl, chs)
  local b = self.batch
  if chs.q then return true, "queue_offline is on" end
  local quiet = not b.any_fault and not world.stalled and not b.link_action[cl.k]
  if not chs.joined_once and world.server_up and quiet and not b.server_down_seen then
    return true, "the channel's first join is in progress: the send is held"
  end
  if chs.joined_once and b.start_up[cl.k] and quiet and world.server_up then
    return true, "the link is up"
  end
  if chs.joined_once and b.start_down and b.start_down[cl.k] and not world.server_up then
    return false, "the link is down and queue_offline is off"
  end
  return nil
end

function O:send(world, cl, chs, kind)
  local want, why = self:expected_result(world, cl, chs)
  local ok, err
  if kind == "history" then
    ok, err = chs.ch:history()
  else
    self.seq = self.seq + 1
    local s = self.seq
    local payload = { k = cl.k, ch = chs.name, s = s }
    local m = { s = s, k = cl.k, owner = cl.owner, ch = chs.name, server = 0, fragile = world.stalled or self.batch.any_fault,
      private = kind == "send_to" }
    if kind == "send_to" then
      local target = world.observer_sid and world.observer_sid[chs.name] or "nobody"
      ok, err = chs.ch:send_to(target, payload)
    else
      ok, err = chs.ch:send(payload)
    end
    m.ok = ok
    self.msgs[s] = m
    self.batch.msgs[#self.batch.msgs + 1] = m
  end
  if want == true and ok ~= true then
    self:violation(("c%d.%s:%s returned %s, %s; expected true (%s)"):format(cl.k, chs.name, kind,
      tostring(ok), tostring(err), why))
  elseif want == false and ok then
    self:violation(("c%d.%s:%s returned true; expected nil, err (%s)"):format(cl.k, chs.name, kind, why))
  end
  if not ok and type(err) ~= "string" then
    self:violation(("c%d.%s:%s returned %s without a message"):format(cl.k, chs.name, kind, tostring(ok)))
  end
end

-- messages of a client (or one of its channels) not yet at the server,
-- about to be discarded unless the link is up and quiet
function O:discard_pending(world, cl, name)
  local b = self.batch
  local quiet = b.start_up[cl.k] and not b.any_fault and not world.stalled and not b.link_action[cl.k]
    and world.server_up
  if quiet then return end
  for _, m in pairs(self.msgs) do
    if m.k == cl.k and (not name or m.ch == name) and m.server == 0 then m.fragile = true end
  end
end

function O:open(world, cl, chs)
  local was_idle = open_count(cl) == 0
  local before = cl.c:status()
  chs.ch:open()
  chs.open = true
  chs.joined_once = false
  chs.seen = {}
  if was_idle then
    self.batch.link_action[cl.k] = true
    local st = cl.c:status()
    if before == "idle" and st ~= "connecting" then
      self:violation(("c%d: status() is %q right after the open() that starts the connection; expected \"connecting\"")
        :format(cl.k, st))
    end
  end
  if not chs.ch:is_open() then self:violation(("c%d.%s: is_open() false after open()"):format(cl.k, chs.name)) end
end

function O:close(world, cl, chs)
  self:discard_pending(world, cl, chs.name)
  chs.ch:close()
  chs.open = false
  if open_count(cl) == 0 then self.batch.link_action[cl.k] = true end
  if chs.ch:is_open() then self:violation(("c%d.%s: is_open() true after close()"):format(cl.k, chs.name)) end
end

-- set_token and reconnect replace a live link: the settle waits for the
-- old socket to leave the server and for the "connected" of the new one
function O:replacing_link(world, cl)
  local b = self.batch
  b.link_action[cl.k] = true
  if cl.c:status() == "idle" then return end
  cl.need_connected = cl.connected + 1
  if world.server_up then
    b.doomed = b.doomed or {}
    for sid, sock in pairs(world.srv.by_sid) do
      if sock.identity and world.owner(sock.identity.row_id) == cl.owner then b.doomed[sid] = true end
    end
  end
end

-- runs one step; returns false when it did not apply
function O:step(world, s)
  local op = s.op
  local cl = s.c and live(world, s.c)
  local chs = cl and s.ch and cl.chans[s.ch]
  if op == "new_client" then
    if world.clients[s.c] and not world.clients[s.c].closed then return false end
    if (world.gen[s.c] or 0) >= world.GENERATIONS then return false end
    cl = world:new_client(s.c, s.opts)
    if self.batch.sure_loss then self.batch.sure_loss[s.c] = nil end
    if self.batch.start_down then self.batch.start_down[s.c] = nil end
    self.batch.start_up[s.c] = false
    self.batch.link_action[s.c] = false
    self.batch.faults[s.c] = 0
  elseif op == "open" then
    if not chs or chs.open then return false end
    self:open(world, cl, chs)
  elseif op == "close" then
    if not chs or not chs.open then return false end
    self:close(world, cl, chs)
  elseif op == "reopen" then
    if not chs or not chs.open then return false end
    self:close(world, cl, chs)
    self:open(world, cl, chs)
  elseif op == "send" or op == "send_to" or op == "history" then
    if not chs or not chs.open then return false end
    self:send(world, cl, chs, op)
  elseif op == "set_token" then
    if not cl then return false end
    self:replacing_link(world, cl)
    cl.c:set_token(world.token(cl.k, cl.g, s.t))
    cl.token_row = 1000 * cl.k + 10 * cl.g + s.t
  elseif op == "reconnect" then
    if not cl then return false end
    self:replacing_link(world, cl)
    cl.c:reconnect()
  elseif op == "client_close" then
    if not cl then return false end
    local pending = 0
    for _, m in pairs(self.msgs) do
      -- (one in flight when the link died may be gone: not counted)
      if m.owner == cl.owner and m.ok and m.server == 0 and not m.fragile then pending = pending + 1 end
    end
    self:discard_pending(world, cl, nil)
    local _, discarded = cl.c:close()
    -- with the server down since the last settle, every accepted message
    -- is still queued: close() counts each as discarded
    local b = self.batch
    if b.start_down and b.start_down[cl.k] and not b.any_fault and not world.server_up then
      if type(discarded) ~= "number" or discarded < pending then
        self:violation(("c%d:close() with the server down left %d accepted message(s) unsent but says %s discarded")
          :format(cl.k, pending, tostring(discarded)))
      end
    end
    cl.closed = true
    if self.batch.sure_loss then self.batch.sure_loss[cl.k] = nil end
    for _, c in pairs(cl.chans) do
      c.open = false
      if c.ch:is_open() then self:violation(("c%d.%s: is_open() true after client:close()"):format(cl.k, c.name)) end
    end
    if cl.c:status() ~= "closed" then
      self:violation(("c%d: status() is %q after close()"):format(cl.k, cl.c:status()))
    end
  elseif op == "visitor_join" or op == "visitor_leave" then
    local v = world.visitors[s.v]
    if not v then return false end
    for name, ch in pairs(v.chans) do
      if ch:is_open() and (op == "visitor_leave" or name ~= s.ch) then ch:close() end
    end
    if op == "visitor_join" then v.chans[s.ch]:open() end
  elseif op == "reset" then
    world.proxy:reset()
    self:fault(world, "reset")
  elseif op == "stall" then
    if world.stalled then return false end
    world.proxy:stall(true)
    world.stalled = true
    self:fault(world, "stall")
  elseif op == "unstall" then
    if not world.stalled then return false end
    world.proxy:stall(false)
    world.stalled = false
    self:fault(world, "stall")
  elseif op == "slow" then
    if world.slow then return false end
    world.proxy:slow(64)
    world.slow = true
  elseif op == "fast" then
    if not world.slow then return false end
    world.proxy:slow(nil)
    world.slow = false
  elseif op == "server_stop" then
    if not world.server_up then return false end
    self:fault(world, "stop")
    world:stop_server()
  elseif op == "server_start" then
    if world.server_up then return false end
    world:start_server()
  elseif op == "server_restart" then
    if not world.server_up then return false end
    self:fault(world, "stop")
    world:stop_server()
    world:start_server()
  elseif op == "poll" then
    world:poll_once()
  elseif op == "settle" then
    return self:settle(world)
  else
    error("unknown step " .. tostring(op))
  end
  return true
end

return O
