-- The generator: a seeded random sequence of what apps and networks do.
-- A step is plain data ({ op = "open", c = 1, ch = "a" }), so that a
-- sequence can be printed, replayed and shrunk; a step that does not apply
-- when it runs (a send on a channel that is not open, a second start of a
-- running server) is skipped by the runner, so any subsequence of a
-- sequence is itself a valid sequence.
--
-- Between two steps there is nothing, one poll of everything, or a settle
-- (everything polled until the model's expectations hold or a deadline,
-- then checked): "poll" and "settle" are steps too, and back-to-back
-- steps with no poll between are as frequent as polled ones.
local Rng = require "support.model.rng"

local G = {}

G.CHANNELS = { "a", "b" }
G.MAX_CLIENTS = 3
G.TOKENS = 3   -- tokens per client (set_token switches among them)
G.VISITORS = 2

local function channel_options(rng)
  local q = rng:pick({ "default", true, false })
  local o = { presence = rng:chance(0.5), history = rng:chance(0.5) }
  if q ~= "default" then o.queue_offline = q end
  return o
end

-- G.sequence(seed, length) -> list of steps
function G.sequence(seed, length)
  local rng = Rng.new(seed)
  length = length or 30
  -- a rough view of the state, only to make most steps meaningful
  local clients, open = {}, {}
  local down, stalled, slow = false, false, false
  local steps = {}
  local function add(s) steps[#steps + 1] = s end
  local function new_client(k)
    local opts = {}
    for _, name in ipairs(G.CHANNELS) do opts[name] = channel_options(rng) end
    clients[k] = true
    open[k] = {}
    add({ op = "new_client", c = k, opts = opts })
  end
  local function some_client()
    local list = {}
    for k in pairs(clients) do list[#list + 1] = k end
    table.sort(list)
    if #list == 0 then return nil end
    return rng:pick(list)
  end
  new_client(1)
  while #steps < length do
    local c = some_client()
    local ch = rng:pick(G.CHANNELS)
    local op = rng:weighted({
      { 12, "open" }, { 7, "close" }, { 6, "reopen" }, { 14, "send" }, { 4, "send_to" },
      { 3, "history" }, { 3, "set_token" }, { 1, "reconnect" }, { 2, "client_close" },
      { 3, "new_client" }, { 3, "reset" }, { 2, stalled and "unstall" or "stall" },
      { 1, slow and "fast" or "slow" }, { 2, "server_restart" },
      { 2, down and "server_start" or "server_stop" },
      { 2, "visitor_join" }, { 2, "visitor_leave" }, { 10, "poll" }, { 12, "settle" },
    })
    if down and op ~= "server_start" and rng:chance(0.15) then op = "server_start" end
    if stalled and op ~= "unstall" and rng:chance(0.25) then op = "unstall" end
    if op == "new_client" or not c then
      local k
      for i = 1, G.MAX_CLIENTS do if not clients[i] then k = i break end end
      if k then new_client(k) end
    elseif op == "open" or op == "reopen" then
      open[c][ch] = true
      add({ op = op, c = c, ch = ch })
    elseif op == "close" then
      open[c][ch] = nil
      add({ op = op, c = c, ch = ch })
    elseif op == "send" or op == "send_to" or op == "history" then
      if not open[c][ch] and rng:chance(0.8) then
        open[c][ch] = true
        add({ op = "open", c = c, ch = ch })
      end
      add({ op = op, c = c, ch = ch })
    elseif op == "set_token" then
      add({ op = op, c = c, t = rng:int(G.TOKENS) })
    elseif op == "reconnect" then
      add({ op = op, c = c })
    elseif op == "client_close" then
      clients[c] = nil
      add({ op = op, c = c })
    elseif op == "visitor_join" or op == "visitor_leave" then
      add({ op = op, v = rng:int(G.VISITORS), ch = ch })
    else
      if op == "stall" then stalled = true elseif op == "unstall" then stalled = false
      elseif op == "slow" then slow = true elseif op == "fast" then slow = false
      elseif op == "server_stop" then down = true elseif op == "server_start" then down = false end
      add({ op = op })
      -- often let the loss be seen before the app acts on a dead link
      if op == "server_stop" and rng:chance(0.6) then add({ op = "settle" }) end
    end
  end
  return steps
end

local function bool(v) return v and "true" or "false" end

local function opts_text(o)
  local parts = { "presence=" .. bool(o.presence), "history=" .. bool(o.history) }
  if o.queue_offline ~= nil then parts[#parts + 1] = "queue_offline=" .. bool(o.queue_offline) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- One step as a line of pseudo-Lua.
function G.describe(s)
  local c = s.c and ("c" .. s.c) or ""
  local op = s.op
  if op == "new_client" then
    local parts = {}
    for _, name in ipairs(G.CHANNELS) do parts[#parts + 1] = name .. "=" .. opts_text(s.opts[name]) end
    return c .. " = new client; channels " .. table.concat(parts, " ")
  elseif op == "open" then return c .. "." .. s.ch .. ":open()"
  elseif op == "close" then return c .. "." .. s.ch .. ":close()"
  elseif op == "reopen" then return c .. "." .. s.ch .. ":close(); " .. c .. "." .. s.ch .. ":open()"
  elseif op == "send" then return c .. "." .. s.ch .. ":send(seq)"
  elseif op == "send_to" then return c .. "." .. s.ch .. ":send_to(observer of " .. s.ch .. ", seq)"
  elseif op == "history" then return c .. "." .. s.ch .. ":history()"
  elseif op == "set_token" then return c .. ":set_token(token " .. s.t .. ")"
  elseif op == "reconnect" then return c .. ":reconnect()"
  elseif op == "client_close" then return c .. ":close()"
  elseif op == "visitor_join" then return "visitor " .. s.v .. " joins " .. s.ch
  elseif op == "visitor_leave" then return "visitor " .. s.v .. " leaves"
  elseif op == "stall" then return "link stalls (proxy stops forwarding)"
  elseif op == "unstall" then return "link resumes"
  elseif op == "slow" then return "link slows to a trickle"
  elseif op == "fast" then return "link back to full speed"
  elseif op == "reset" then return "link reset (RST)"
  elseif op == "server_restart" then return "server killed and restarted"
  elseif op == "server_stop" then return "server killed"
  elseif op == "server_start" then return "server restarted"
  elseif op == "poll" then return "poll everything once"
  elseif op == "settle" then return "settle and check"
  end
  return op
end

function G.format(steps)
  local out = {}
  for i, s in ipairs(steps) do out[#out + 1] = ("  %2d. %s"):format(i, G.describe(s)) end
  return table.concat(out, "\n")
end

return G
