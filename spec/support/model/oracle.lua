-- The reference model: what the app and its peers must observe.  It runs
-- each step against the world, keeps what the step implies (which
-- channels are open, which messages were accepted, which faults happened
-- since the last settle), and after a settle checks:
--
--   * a channel is joined on the server exactly when ch:is_open() is true
--     (with the client's current token), and a client with no open
--     channel has no socket and says "idle";
--   * every message accepted by send (true) reaches the server exactly
--     once and every peer that was a member when the server took it,
--     once, in order; a message refused (nil, err) reaches nobody.  A
--     message in flight when the link broke (a fault between its send and
--     the next settle) may be lost, never duplicated;
--   * send returns true with queue_offline (the default), and, whatever
--     queue_offline says, while the channel's first join is in progress;
--     without queue_offline it returns true on a live link and nil, err
--     on a link known to be down;
--   * one "disconnected" for a sure loss (a live, quiet link cut), and
--     over the run no more than the losses that could have happened: none
--     for what the app did (close, reopen, set_token, reconnect);
--   * presence lists equal the server's membership;
--   * no message twice in a channel between open() and close() (live
--     messages and the history replayed after a rejoin);
--   * no handler runs for a closed channel or a closed client; the server
--     never answers "not joined" to an open channel;
--   * client:close() with the server down counts every accepted message
--     still unsent as discarded;
--   * status() is "connecting" right after the open() that starts the
--     connection.
local core = require "xano.realtime.core"

local O = {}
O.__index = O

O.SETTLE = tonumber(os.getenv("XRT_MODEL_SETTLE")) or 4

function O.new()
  return setmetatable({ msgs = {}, seq = 0, violations = {}, batch = nil }, O)
end

-- XRT_MODEL_IGNORE: comma-separated plain substrings of violations to set
-- aside while triaging (one known defect hides the next)
local IGNORE = {}
for part in (os.getenv("XRT_MODEL_IGNORE") or ""):gmatch("[^,]+") do IGNORE[#IGNORE + 1] = part end

function O:violation(text)
  for _, part in ipairs(IGNORE) do
    if text:find(part, 1, true) then return end
  end
  self.violations[#self.violations + 1] = text
end

function O:new_batch(world)
  local b = { faults = {}, link_action = {}, server_down_seen = not world.server_up,
    start_up = {}, msgs = {} }
  for k, cl in pairs(world.clients) do
    b.start_up[k] = cl.settled_up
    b.link_action[k] = false
    b.faults[k] = 0
  end
  self.batch = b
end

local function open_count(cl)
  local n = 0
  for _, chs in pairs(cl.chans) do if chs.open then n = n + 1 end end
  return n
end

-- a fault on the link of every client under test
function O:fault(world, kind)
  local b = self.batch
  b.any_fault = true
  for k, cl in pairs(world.clients) do
    -- a client with no open channel may still have its socket (it closes
    -- at the next poll, unless a channel opens first)
    if not cl.closed and (open_count(cl) > 0 or cl.c:status() ~= "idle") then
      b.faults[k] = (b.faults[k] or 0) + 1
      -- a sure loss: the link was up at the last settle, the app did
      -- nothing to it since, and this is the first fault of the batch
      if kind ~= "stall" and b.faults[k] == 1 and b.start_up[k] and not b.link_action[k] then
        b.sure_loss = b.sure_loss or {}
        b.sure_loss[k] = true
      end
    end
  end
  -- what is in flight may be lost
  for _, m in ipairs(b.msgs) do m.fragile = true end
  if kind == "reset" or kind == "stop" then
    -- and so may anything accepted earlier that the server has not read
    -- yet: the client may have written it on the link that just died (at
    -- most once); what is still queued is sent later, and its duplicates
    -- are still caught
    for _, m in pairs(self.msgs) do
      if m.server == 0 then m.fragile = true end
    end
    -- the settle waits for the consequences: the server rid of the
    -- sockets that died, and each client through its next "connected"
    -- (its events come in order, so a "disconnected" is in by then)
    b.doomed = b.doomed or {}
    if world.server_up then
      for sid, sock in pairs(world.srv.by_sid) do
        if sock.identity and world.owner(sock.identity.row_id) then b.doomed[sid] = true end
      end
    end
    for _, cl in pairs(world.clients) do
      if not cl.closed and cl.c:status() ~= "idle" then cl.need_connected = cl.connected + 1 end
    end
  end
  if kind == "stop" then
    b.server_down_seen = true
    for _, m in pairs(self.msgs) do
      if m.server > 0 then m.delivery_fragile = true end
    end
  end
end

-- ------------------------------------------------------------- observing

local function key_of(payload)
  if type(payload) == "table" and payload.s then return payload.s end
  return nil
end

function O:on_peer_message(p, ev)
  local s = key_of(ev.payload)
  if not s then return end
  p.got[s] = (p.got[s] or 0) + 1
  local m = self.msgs[s]
  local who = p.name and ("observer of " .. p.name) or ("visitor " .. p.v)
  if p.got[s] == 2 then self:violation(("%s received message %d twice"):format(who, s)) end
  if m then
    -- order is promised per client: a closed client's last messages may
    -- still be on their way when the next client of its slot sends
    local lane = m.owner .. "/" .. m.ch
    local last = p.order[lane]
    if last and s <= last then
      self:violation(("%s received message %d after message %d of the same sender and channel (out of order)")
        :format(who, s, last))
    end
    p.order[lane] = s
  end
end

function O:on_server_frame(world, sid, f)
  if f.action ~= "message" then return end
  local s = key_of(f.payload)
  local m = s and self.msgs[s]
  if not m then return end
  m.server = m.server + 1
  if m.server == 2 then self:violation(("the server received message %d twice"):format(s)) end
  if m.server > 1 then return end
  local members = world:members(m.ch)
  m.expected = {}
  for _, x in ipairs(members) do
    if x.sid == sid then m.sender_member = true end
  end
  if not m.sender_member then return end
  for _, x in ipairs(members) do
    for _, o in pairs(world.observers) do
      if x.row == o.row and o.name == m.ch then
        if not m.private or (type(f.options) == "table" and f.options.socketId == x.sid) then
          m.expected[o] = true
        end
      end
    end
  end
end

function O:on_client_event(world, cl, ev)
  if cl.c:is_closed() then
    self:violation(("c%d: a client handler ran after client:close() (%s)"):format(cl.k, tostring(ev.action)))
  end
  if ev.action == "connection_status" and ev.channel == nil then
    cl.status_log = (cl.status_log or "") .. ev.payload.status:sub(1, 1)
    if ev.payload.status == "disconnected" then cl.disc = cl.disc + 1 end
    if ev.payload.status == "connected" then cl.connected = cl.connected + 1 end
  end
end

function O:on_channel_event(world, cl, chs, ev)
  if not chs.ch:is_open() then
    self:violation(("c%d.%s: a handler ran on a closed channel (%s)"):format(cl.k, chs.name, tostring(ev.action)))
    return
  end
  if ev.action == "message" then
    local s = key_of(ev.payload)
    if s then
      if chs.seen[s] then
        self:violation(("c%d.%s: message %d delivered twice to the app since open()"):format(cl.k, chs.name, s))
      end
      chs.seen[s] = true
    end
  elseif ev.action == "history" and type(ev.payload) == "table" and type(ev.payload.history) == "table" then
    local inside = {}
    for _, item in ipairs(ev.payload.history) do
      local s = type(item) == "table" and key_of(item.payload)
      if s then
        if inside[s] then
          self:violation(("c%d.%s: message %d twice in one history reply"):format(cl.k, chs.name, s))
        end
        inside[s] = true
        if ev.rejoin then
          if chs.seen[s] then
            self:violation(("c%d.%s: message %d again in the history after a rejoin"):format(cl.k, chs.name, s))
          end
          chs.seen[s] = true
        end
      end
    end
  elseif ev.action == "error" and type(ev.payload) == "table" and
      tostring(ev.payload.message):find("not joined", 1, true) then
    self:violation(("c%d.%s: the server says \"%s\" while the channel is open"):format(cl.k, chs.name,
      tostring(ev.payload.message)))
  end
end

-- ----------------------------------------------------------------- settle

-- Every expectation that does not hold yet (an empty list: all hold).
function O:problems(world, final)
  local out = {}
  local function bad(fmt, ...) out[#out + 1] = fmt:format(...) end
  local b = self.batch
  if world.server_up and b.doomed then
    for sid in pairs(b.doomed) do
      if world.srv.by_sid[sid] then bad("the server still has socket %s, whose link was cut", sid) end
    end
  end
  if world.server_up and not world.stalled then
    for _, cl in pairs(world.clients) do
      if not cl.closed and open_count(cl) > 0 and cl.need_connected and cl.connected < cl.need_connected then
        bad("c%d has not reconnected since its link was cut", cl.k)
      end
    end
    for _, o in pairs(world.observers) do
      local found = false
      for _, x in ipairs(world:members(o.name)) do if x.row == o.row then found = true end end
      if not found then bad("observer of %s not joined yet", o.name) end
      local have, want = {}, {}
      for _, e in ipairs(o.ch:presence()) do have[#have + 1] = e.socketId end
      for _, x in ipairs(world:members(o.name)) do want[#want + 1] = x.sid end
      table.sort(have) table.sort(want)
      if table.concat(have, ",") ~= table.concat(want, ",") then
        bad("observer of %s: presence lists %d client(s), the server has %d members", o.name, #have, #want)
      end
    end
  end
  if world.server_up then
    local gone = {}
    for _, cl in ipairs(world.closed_clients) do gone[#gone + 1] = cl end
    for _, cl in pairs(world.clients) do if cl.closed then gone[#gone + 1] = cl end end
    for _, cl in ipairs(gone) do
      local n = world:sockets_where(function(row) return world.owner(row) == cl.owner end)
      if n > 0 then
        bad("c%d (the %s one made) is closed but the server still has %d socket(s) of it", cl.k,
          cl.g == 1 and "first" or ("#" .. cl.g), n)
      end
    end
  end
  for k, cl in pairs(world.clients) do
    local n_open = 0
    if not cl.closed then
      for name, chs in pairs(cl.chans) do
        if chs.ch:is_open() ~= chs.open then
          bad("c%d.%s: is_open() is %s, the model says %s", k, name, tostring(chs.ch:is_open()), tostring(chs.open))
        end
        if chs.open then n_open = n_open + 1 end
        if world.server_up and not world.stalled then
          local mine, other = 0, 0
          for _, x in ipairs(world:members(name)) do
            if x.row == cl.token_row then mine = mine + 1
            elseif world.owner(x.row) == cl.owner then other = other + 1 end
          end
          if chs.open and mine ~= 1 then
            bad("c%d.%s is open but the server has it joined %d time(s) with its current token", k, name, mine)
          elseif not chs.open and mine > 0 then
            bad("c%d.%s is closed but the server still has it joined", k, name)
          end
          if other > 0 then bad("c%d.%s: the server has %d member(s) with an old token of c%d", k, name, other, k) end
          if chs.open and chs.opts.presence and mine == 1 then
            local list = chs.ch:presence()
            local have, want = {}, {}
            for _, e in ipairs(list) do have[#have + 1] = e.socketId end
            for _, x in ipairs(world:members(name)) do want[#want + 1] = x.sid end
            table.sort(have) table.sort(want)
            if table.concat(have, ",") ~= table.concat(want, ",") then
              bad("c%d.%s: presence lists %d client(s), the server has %d members", k, name, #have, #want)
            end
          end
        end
      end
      local st = cl.c:status()
      if n_open == 0 then
        if st ~= "idle" then bad("c%d has no open channel but status() is %q", k, st) end
        if world.server_up then
          local n = world:sockets_where(function(row) return world.owner(row) == cl.owner end)
          if n > 0 then bad("c%d has no open channel but the server has %d socket(s) of it", k, n) end
        end
      elseif world.server_up and not world.stalled then
        if st ~= "connected" then bad("c%d: status() is %q with the server up", k, st) end
      elseif not world.server_up then
        if st == "connected" then bad("c%d: status() is \"connected\" with the server down", k) end
      end
      local delta = cl.disc - (cl.disc_mark or 0)
      -- (an app's reconnect right after the cut may take the loss over:
      -- then no event is owed)
      local sure = b.sure_loss and b.sure_loss[k] and not b.link_action[k]
      if sure and delta < 1 then bad("c%d: the link was lost but no \"disconnected\" event came", k) end
    end
  end
  if world.server_up and not world.stalled then
    for s, m in pairs(self.msgs) do
      if m.ok and not m.fragile and m.server == 0 then
        bad("message %d (c%d.%s, accepted by %s) never reached the server", s, m.k, m.ch,
          m.private and "send_to" or "send")
      end
      if m.ok and m.server > 0 and m.expected and not m.delivery_fragile then
        for o in pairs(m.expected) do
          if (o.got[s] or 0) == 0 then bad("observer of %s has not received message %d", o.name, s) end
        end
      end
    end
  end
  return out
end

-- The checks that hold whatever the timing: a list of failures.
function O:final_checks(world)
  local out = {}
  local function bad(fmt, ...) out[#out + 1] = fmt:format(...) end
  local b = self.batch
  for s, m in pairs(self.msgs) do
    if not m.ok and m.server > 0 then bad("message %d was refused by send but reached the server", s) end
    if m.ok and m.server > 0 and not m.sender_member and not m.fragile then
      bad("message %d (c%d.%s) reached the server while c%d was not joined to %s", s, m.k, m.ch, m.k, m.ch)
    end
    for _, o in pairs(world.observers) do
      if (o.got[s] or 0) > 0 and not (m.expected and m.expected[o]) then
        bad("observer of %s received message %d, which was not for it", o.name, s)
      end
    end
  end
  for k, cl in pairs(world.clients) do
    -- at most one event per fault that reached the client, and one per
    -- outage of the server; counted over the whole run, since the event of
    -- a loss seen at the end of one settle may come in the next
    cl.budget = (cl.budget or 0) + (b.faults[k] or 0) + (b.server_down_seen and 1 or 0)
    if cl.disc > cl.budget then
      bad("c%d: %d \"disconnected\" event(s) in all, for %d unexpected loss(es) at most", k, cl.disc, cl.budget)
    end
  end
  return out
end

O.open_count = open_count

function O:settle(world)
  if world.stalled then
    -- nothing is expected to move: poll for a short window, then check
    -- only what holds whatever the timing
    local t0 = core.now()
    world:poll_until(function() return core.now() - t0 > 0.3 end, 1)
  else
    world:poll_until(function()
      return #self.violations == 0 and #self:problems(world) == 0
    end, O.SETTLE)
    for _, p in ipairs(self:problems(world)) do self:violation(p) end
  end
  for _, p in ipairs(self:final_checks(world)) do self:violation(p) end
  -- what the next batch starts from
  world.observer_sid = {}
  for _, o in pairs(world.observers) do
    for _, x in ipairs(world:members(o.name)) do
      if x.row == o.row then world.observer_sid[o.name] = x.sid end
    end
  end
  for _, cl in pairs(world.clients) do
    cl.disc_mark = cl.disc
    cl.settled_up = not world.stalled and world.server_up and not cl.closed and open_count(cl) > 0 and
      cl.c:status() == "connected"
    for _, chs in pairs(cl.chans) do
      if chs.open and cl.settled_up then chs.joined_once = true end
    end
  end
  self:new_batch(world)
  local b = self.batch
  b.start_down = {}
  for k, cl in pairs(world.clients) do
    b.start_down[k] = not world.server_up and not cl.closed and open_count(cl) > 0
  end
  return true
end

return O
