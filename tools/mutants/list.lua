-- Deliberate breakages that the specs must catch (make mutants, see
-- tools/mutants/run.lua).  Each entry breaks one behaviour a user relies
-- on: `file` holds `search` exactly once (plain text, not a pattern), and
-- `replace` takes its place in a scratch copy; `specs` are the spec files
-- that must then fail.  Search texts are short and name what they change,
-- so that they survive small edits around them; one that no longer
-- matches is reported as an error by make mutants, never skipped.
local CLIENT = {
  "spec/client_connection_spec.lua", "spec/client_messages_spec.lua",
  "spec/client_offline_queue_spec.lua", "spec/client_reconnect_spec.lua",
  "spec/client_history_spec.lua", "spec/client_presence_spec.lua",
  "spec/client_errors_spec.lua", "spec/client_lifetime_spec.lua",
  "spec/client_host_loop_spec.lua", "spec/client_bad_input_spec.lua",
  "spec/client_order_spec.lua",
}
local function with(list, ...)
  local out = {}
  for i = 1, #list do out[i] = list[i] end
  for i = 1, select("#", ...) do out[#out + 1] = select(i, ...) end
  return out
end
local WORKFLOWS = { "spec/workflows_spec.lua", "spec/client_lifetime_spec.lua", "spec/client_host_loop_spec.lua" }

return {
  -- ------------------------------------- client.lua, realtime.lua (the client)
  { id = "M-A", file = "lua/xano/realtime/client.lua",
    behaviour = "client:close() on a live link drops the frames still queued instead of sending them",
    search = [[if h:state() ~= "open" then discarded = #h:take() end]],
    replace = [[discarded = #h:take()]],
    specs = CLIENT },
  { id = "M-B", file = "lua/xano/realtime/client.lua",
    behaviour = "frames for a channel closed here are dispatched to the app anyway",
    search = [[local ch = name ~= nil and self._open[name] or nil]],
    replace = [[local ch = name ~= nil and (self._open[name] or self._channels[name]) or nil]],
    specs = CLIENT },
  { id = "M-C", file = "lua/xano/realtime/client.lua",
    behaviour = "client:reconnect() does nothing unless the client is down",
    search = [[if st == "down" then self._core:start() elseif st ~= "idle" then self:_replace_link() end]],
    replace = [[if st == "down" then self._core:start() end]],
    specs = CLIENT },
  { id = "M-D", file = "lua/xano/realtime/client.lua",
    behaviour = "set_token(t) keeps the old identity while the socket is open (nil still honoured)",
    search = [[self._core:set_token(token)]],
    replace = [[if token == nil or self._core:state() ~= "open" then self._core:set_token(token) end]],
    specs = CLIENT },
  { id = "R01", file = "lua/xano/realtime/client.lua",
    behaviour = "frames for a channel closed here are not counted in stats().ignored",
    search = [[self._counters.ignored = self._counters.ignored + 1]],
    replace = [[self._counters.ignored = self._counters.ignored + 0]],
    specs = CLIENT },
  { id = "R02", file = "lua/xano/realtime/client.lua",
    behaviour = "a lost connection is reported as disconnected on every failed attempt, not once",
    search = [[(was_open or not self._down_reported)]],
    replace = [[(true)]],
    specs = with(CLIENT, "spec/faults_spec.lua") },
  { id = "R03", file = "lua/xano/realtime/channel.lua",
    behaviour = "presence is not marked stale while the connection is down",
    search = [[if stale then self._presence.stale = true end]],
    replace = [[]],
    specs = CLIENT },
  { id = "R04", file = "lua/xano/realtime/channel.lua",
    behaviour = "the history after a rejoin is delivered whole, duplicates included",
    search = [[if self._joined_before and self._history_on then self._rejoin_history = true end]],
    replace = [[]],
    specs = CLIENT },
  { id = "R05", file = "lua/xano/realtime/client.lua",
    behaviour = "channel events no longer reach the client's app-level handlers",
    search = [[local m = self._handlers:dispatch(ev, report)]],
    replace = [[local m = 0]],
    specs = with(CLIENT, "spec/workflows_spec.lua") },
  { id = "R06", file = "lua/xano/realtime/client.lua",
    behaviour = "connection_status events reach the client's handlers but no open channel",
    search = [[n = n + self:_run_channel(ch, status_event(status, extra, ch.name))]],
    replace = [[n = n + 0]],
    specs = CLIENT },
  { id = "R07", file = "lua/xano/realtime.lua",
    behaviour = "realtime.poll() polls only one client of the state",
    search = [[for c in pairs(Client._clients) do n = n + c:poll(0) end]],
    replace = [[for c in pairs(Client._clients) do n = n + c:poll(0) break end]],
    specs = with(CLIENT, "spec/workflows_spec.lua") },
  { id = "R08", file = "lua/xano/realtime/client.lua",
    behaviour = "client:poll(timeout) returns at once instead of waiting for the first event",
    search = [[h:wait(due and due < timeout and due or timeout)]],
    replace = [[h:wait(0)]],
    specs = CLIENT },
  { id = "R09", file = "src/lua/lua_events.c",
    behaviour = "the reconnecting event reports a delay ten times the real one",
    search = [[lua_pushnumber(L, (lua_Number)v / 1000);]],
    replace = [[lua_pushnumber(L, (lua_Number)v / 100);]],
    specs = with(CLIENT, "spec/faults_spec.lua") },
  { id = "R10", file = "lua/xano/realtime/client.lua",
    behaviour = "a full offline queue drops its oldest action without telling the app",
    search = [[if r then
    -- the offline queue was full]],
    replace = [[if false then
    -- the offline queue was full]],
    specs = CLIENT },
  { id = "R11", file = "lua/xano/realtime/channel.lua",
    behaviour = "closing the client leaves the workflows waiting on its channels parked forever",
    search = [[  self._presence:clear()
  workflow.cancel(self, "closed")]],
    replace = [[  self._presence:clear()]],
    specs = with(CLIENT, "spec/workflows_spec.lua") },
  { id = "R12", file = "lua/xano/realtime/channel.lua",
    behaviour = "a send made while the first join is in progress is refused unless queue_offline",
    search = [[self._queue or self._joining)]],
    replace = [[self._queue)]],
    specs = CLIENT },
  { id = "R13", file = "lua/xano/realtime/client.lua",
    behaviour = "Close channel of the last channel before the first connect leaves the socket to connect",
    search = [[      -- sent them
      self._core:stop()
]],
    replace = [[      -- sent them
]],
    specs = CLIENT },
  { id = "R15", file = "lua/xano/realtime/client.lua",
    behaviour = "a channel opened while the last close winds down, or before the start ran, says idle instead of connecting",
    search = [[if (st == "stopping" or st == "idle") and self._nopen > 0 then return "connecting" end]],
    replace = [[]],
    specs = CLIENT },
  { id = "R14", file = "lua/xano/realtime/client.lua",
    behaviour = "client:run() with nothing left that could produce an event blocks forever",
    search = [[    if not self:_busy() then]],
    replace = [[    if false then]],
    timeout = 60,
    specs = { "spec/client_host_loop_spec.lua", "spec/client_lifetime_spec.lua", "spec/workflows_spec.lua" } },
  { id = "M-E", file = "lua/xano/realtime/workflow.lua",
    behaviour = "closing one client ends every client's sleeping and waiting workflows",
    search = [[owner.sleepers, owner.waiters = {}, {}]],
    replace = [[for o in pairs(owners) do o.sleepers, o.waiters = {}, {} end]],
    specs = WORKFLOWS },

  -- --------------------------------------------------------------- channel.lua
  { id = "CH1", file = "lua/xano/realtime/channel.lua",
    behaviour = "send{authenticated = true} reaches anonymous clients too",
    search = [[auth = opts.authenticated]],
    replace = [[auth = false]],
    specs = CLIENT },
  { id = "CH2", file = "lua/xano/realtime/channel.lua",
    behaviour = "Close channel does not wake the workflows waiting on it",
    search = [[json.leave(self.name))
  workflow.cancel(self, "closed")]],
    replace = [[json.leave(self.name))]],
    specs = WORKFLOWS },
  { id = "CH3", file = "lua/xano/realtime/channel.lua",
    behaviour = "Request history sends nothing",
    search = [[return send(self, json.history(self.name), "history request")]],
    replace = [[return true]],
    specs = CLIENT },
  { id = "CH5", file = "lua/xano/realtime/options.lua",
    behaviour = "Queue Offline Actions is off unless asked for (WeWeb's default is on)",
    search = [[queue_offline = true }]],
    replace = [[queue_offline = false }]],
    specs = CLIENT },
  { id = "CH6", file = "lua/xano/realtime/channel.lua",
    behaviour = "a channel whose client closed keeps its old presence list",
    search = [[  self._open = false
  self._presence:clear()
  workflow.cancel(self, "closed")]],
    replace = [[  self._open = false
  workflow.cancel(self, "closed")]],
    specs = { "spec/client_presence_spec.lua" } },
  { id = "CH4", file = "lua/xano/realtime/channel.lua",
    behaviour = "a channel closed here keeps its old presence list",
    search = [[  self._joining = false
  self._presence:clear()
  self._client:_channel_closed(]],
    replace = [[  self._joining = false
  self._client:_channel_closed(]],
    specs = CLIENT },

  -- -------------------------------------------------------------- handlers.lua
  { id = "HA1", file = "lua/xano/realtime/handlers.lua",
    behaviour = "a presence filter (event = join/leave) lets every presence_update through",
    search = [[return ev.action == "presence_update" and type(p) == "table" and p.action == h.event]],
    replace = [[return ev.action == "presence_update"]],
    specs = with(CLIENT, "spec/workflows_spec.lua") },
  { id = "HA2", file = "lua/xano/realtime/handlers.lua",
    behaviour = "off() says true but leaves the handler in place",
    search = [[table.remove(list, i)
      return true]],
    replace = [[return true]],
    specs = with(CLIENT, "spec/workflows_spec.lua") },
  { id = "HA3", file = "lua/xano/realtime/handlers.lua",
    behaviour = "handlers run in reverse registration order",
    search = [[for i = 1, #run do workflow.invoke(run[i], ev, report) end]],
    replace = [[for i = #run, 1, -1 do workflow.invoke(run[i], ev, report) end]],
    specs = with(CLIENT, "spec/workflows_spec.lua") },
  { id = "HA4", file = "lua/xano/realtime/handlers.lua",
    behaviour = "a handler for one action fires for every action",
    search = [[if h.action ~= nil and h.action ~= ev.action then return false end]],
    replace = [[]],
    specs = with(CLIENT, "spec/workflows_spec.lua") },

  -- -------------------------------------------------------------- workflow.lua
  { id = "WF1", file = "lua/xano/realtime/workflow.lua",
    behaviour = "a handler that waits is handed the event it is handling",
    search = [[w.skip ~= ev and]],
    replace = [[]],
    specs = WORKFLOWS },
  { id = "WF2", file = "lua/xano/realtime/workflow.lua",
    behaviour = "realtime.sleep(s) returns at the next poll, whatever s",
    search = [[at = now() + seconds]],
    replace = [[at = now()]],
    specs = WORKFLOWS },
  { id = "WF3", file = "lua/xano/realtime/workflow.lua",
    behaviour = "ch:wait(action, timeout) never times out",
    search = [[at = timeout and now() + timeout or nil]],
    replace = [[at = nil]],
    specs = WORKFLOWS },
  { id = "WF4", file = "lua/xano/realtime/workflow.lua",
    behaviour = "an error raised in a handler is swallowed instead of reported",
    search = [[owner(r, traceback(co, tostring(r)))]],
    replace = [[]],
    specs = with(WORKFLOWS, "spec/client_errors_spec.lua") },
  { id = "WF5", file = "lua/xano/realtime/workflow.lua",
    behaviour = "due timers resume latest first",
    search = [[if x.at ~= y.at then return x.at < y.at end]],
    replace = [[if x.at ~= y.at then return x.at > y.at end]],
    specs = WORKFLOWS },

  -- -------------------------------------------------------------- presence.lua
  { id = "PR1", file = "lua/xano/realtime/presence.lua",
    behaviour = "a repeated join adds the member twice",
    search = [[if payload.action == "join" then
    if at then list[at] = e else list[#list + 1] = e end]],
    replace = [[if payload.action == "join" then
    list[#list + 1] = e]],
    specs = { "spec/presence_spec.lua", "spec/client_presence_spec.lua" } },
  { id = "PR2", file = "lua/xano/realtime/presence.lua",
    behaviour = "a leave leaves the member in the list",
    search = [[if at then table.remove(list, at) end]],
    replace = [[]],
    specs = { "spec/presence_spec.lua", "spec/client_presence_spec.lua" } },

  -- --------------------------------------------------------------- history.lua
  { id = "HI1", file = "lua/xano/realtime/history.lua",
    behaviour = "the history after a rejoin keeps what was already delivered",
    search = [[return out, j, false]],
    replace = [[return items, 0, false]],
    specs = { "spec/history_dedupe_spec.lua", "spec/client_history_spec.lua" } },
  { id = "HI2", file = "lua/xano/realtime/history.lua",
    behaviour = "messages of two senders with the same payload are taken for one",
    search = [[json.canonical({ client, frame.options, frame.payload })]],
    replace = [[json.canonical({ frame.options, frame.payload })]],
    specs = { "spec/history_dedupe_spec.lua", "spec/client_history_spec.lua" } },

  -- ------------------------------------------------------------------ json.lua
  { id = "JS1", file = "lua/xano/realtime/json.lua",
    behaviour = "the join frame never asks for presence",
    search = [[',"presence":' .. tostring(presence and true or false)]],
    replace = [[',"presence":false']],
    specs = CLIENT },
  { id = "JS2", file = "lua/xano/realtime/json.lua",
    behaviour = "a private message goes to the whole channel (no socketId in its options)",
    search = [[',"socketId":' .. cj_string(socket_id)]],
    replace = [[',"socket_id":' .. cj_string(socket_id)]],
    specs = CLIENT },
  { id = "JS3", file = "lua/xano/realtime/json.lua",
    behaviour = "the join frame never asks for history",
    search = [['},"payload":{"history":' .. tostring(history and true or false)]],
    replace = [['},"payload":{"history":false']],
    specs = CLIENT },

  -- ------------------------------------------------------- src/transport/queue.c (FIFOs)
  { id = "Q1", file = "src/transport/queue.c",
    behaviour = "a frame taken off a queue stays counted: stats().queued never goes down",
    search = [[	it->next = NULL;
	q->count--;]],
    replace = [[	it->next = NULL;]],
    specs = { "spec/client_offline_queue_spec.lua", "spec/faults_spec.lua" } },
  { id = "Q2", file = "src/transport/queue.c",
    behaviour = "queued frames leave last in, first out",
    search = [[	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;]],
    replace = [[	it->next = q->head;
	q->head = it;
	if (!q->tail)
		q->tail = it;]],
    specs = { "spec/client_offline_queue_spec.lua", "spec/client_messages_spec.lua" } },
  { id = "Q3", file = "src/transport/queue.c",
    behaviour = "a queue never gives back the bytes of what it sent: send_limit refuses early",
    search = [[	q->count--;
	q->bytes -= xrt_item_cost(it);]],
    replace = [[	q->count--;]],
    specs = CLIENT },

  -- --------------------------------- src/client/client.c (the stream, writer, timers)
  { id = "C1", file = "src/client/client.c",
    behaviour = "a full offline queue keeps one action more than queue_limit",
    search = [[if (c->ndata >= c->queue_limit) {]],
    replace = [[if (c->ndata > c->queue_limit) {]],
    specs = { "spec/client_offline_queue_spec.lua" } },
  { id = "C2", file = "src/client/client_link.c",
    behaviour = "reconnect attempts start at once while the events report jittered delays",
    search = [[delay > 0 ? delay : 1);]],
    replace = [[1);]],
    specs = { "spec/client_reconnect_spec.lua", "spec/faults_spec.lua" } },
  { id = "C3", file = "src/client/client_link.c",
    behaviour = "the backoff cap never grows past reconnect.initial",
    search = [[cap *= 2;]],
    replace = [[cap *= 1;]],
    specs = { "spec/client_reconnect_spec.lua", "spec/faults_spec.lua" } },
  { id = "C4", file = "src/client/client_link.c",
    behaviour = "the backoff resets after any connection, stable or not",
    search = [[if (was_open && lws_now_usecs() - c->opened_at >= c->stable_after_us)]],
    replace = [[if (was_open)]],
    specs = { "spec/client_reconnect_spec.lua" } },
  { id = "C5", file = "src/client/client_link.c",
    behaviour = "an unanswered ping never ends a dead link",
    search = [[if (now - c->ping_sent >= c->ping_timeout_us) {]],
    replace = [[if (0) {]],
    specs = { "spec/client_reconnect_spec.lua" } },
  { id = "C6", file = "src/client/client_link.c",
    behaviour = "no jitter: every attempt waits the full cap",
    search = [[delay = cap > 0 ? (int64_t)(xrt_random(c->ep.loop) % (uint64_t)(cap + 1)) : 0;]],
    replace = [[delay = cap;]],
    specs = { "spec/client_reconnect_spec.lua" } },
  { id = "C7", file = "src/client/client_wire.c",
    behaviour = "the joins of the open channels are not replayed after a reconnect",
    search = [[		if (c->join_cursor < c->njoins) {
			f = xrt_buf_ref(c->joins[c->join_cursor++].frame);]],
    replace = [[		if (0) {
			f = NULL;]],
    specs = { "spec/client_reconnect_spec.lua", "spec/client_offline_queue_spec.lua" } },
  { id = "C14", file = "src/client/client.c",
    behaviour = "a live link takes every frame, however much is unwritten: send_limit is ignored",
    search = [[if (c->out.bytes + frame->len > c->send_limit && c->out.count)]],
    replace = [[if (0)]],
    specs = { "spec/client_offline_queue_spec.lua" } },
  { id = "C8", file = "src/client/client_wire.c",
    behaviour = "a link opened only to send what a closed channel left queued stays open after",
    search = [[if (c->flush_stop && !c->closing) {]],
    replace = [[if (0) {]],
    specs = CLIENT },
  { id = "C9", file = "src/client/client_wire.c",
    behaviour = "a leave written on a live link leaves the channel joined at the head: a reconnect rejoins it",
    search = [[it->buf2 = xrt_client_join_remove(c, it->a);]],
    replace = [[it->buf2 = NULL;]],
    specs = CLIENT },
  { id = "C10", file = "src/client/client_wire.c",
    behaviour = "a join written on a live link is not kept at the head: a reconnect forgets the channel",
    search = [[xrt_client_join_add(c, it->a, xrt_buf_ref(f));]],
    replace = [[(void)0;]],
    specs = CLIENT },
  { id = "C11", file = "src/client/client.c",
    behaviour = "a join jumps ahead of the frames asked before it (a leave of the same channel included)",
    search = [[	it->b = XRT_FRAME_JOIN;
	xrt_loop_lock(loop);
	if (c->state != XRT_CLOSED) {
		wake = push_frame(c, it);
		it = NULL;
	}]],
    replace = [[	it->b = XRT_FRAME_JOIN;
	xrt_loop_lock(loop);
	if (c->state != XRT_CLOSED) {
		xrt_fifo_push_front(&c->out, it);
		if (c->state == XRT_OPEN && !c->write_queued)
			wake = c->write_queued = 1;
		it = NULL;
	}]],
    specs = CLIENT },
  { id = "C12", file = "src/client/client_link.c",
    behaviour = "a quiet link is never pinged, so a healthy one is taken for dead",
    search = [[		c->ping_pending = 1;
		c->ping_sent = now;]],
    replace = [[		c->ping_sent = now;]],
    specs = { "spec/client_reconnect_spec.lua" } },
  { id = "C13", file = "src/client/client_wire.c",
    behaviour = "a connection let go of while connecting (stopped before the first connect) is left "
      .. "to lws's kill timeout, which the handshake replaces: the socket stays",
    search = [[		case LWS_CALLBACK_CLIENT_WRITEABLE:
			return -1;]],
    replace = [[		case LWS_CALLBACK_CLIENT_WRITEABLE:
			return 0;]],
    specs = { "spec/client_order_spec.lua" } },
  { id = "C16", file = "src/client/client_link.c",
    behaviour = "client:close() after a reconnect's close frame left drops what was sent since, reporting 0 discarded",
    search = [[if (queued && !drain_here &&]],
    replace = [[if (queued && kind == XCMD_STOP && !drain_here &&]],
    specs = CLIENT },
  { id = "C17", file = "src/client/client_link.c",
    behaviour = "a link made only to send what closed channels left is retried forever when it fails",
    search = [[if (c->flush_stop && !c->restart) {]],
    replace = [[if (0) {]],
    specs = CLIENT },
  { id = "R16", file = "lua/xano/realtime/client.lua",
    behaviour = "what closed channels left for a link that never came is never reported",
    search = [[local left = self._core:take()
  if #left == 0 then return 0 end]],
    replace = [[local left = {}
  if #left == 0 then return 0 end]],
    specs = CLIENT },
  { id = "EV1", file = "src/lua/lua_events.c",
    behaviour = "every boolean field reaches Lua as true: a failed attempt looks like a lost link",
    search = [[lua_pushboolean(L, v != 0);]],
    replace = [[lua_pushboolean(L, 1);]],
    specs = { "spec/events_spec.lua", "spec/client_connection_spec.lua", "spec/client_errors_spec.lua" } },
  { id = "EV2", file = "src/transport/events.def",
    behaviour = "a field is added to an event in C and the Lua handlers are not told",
    search = [[XRT_FIELD(b, attempt, integer)]],
    replace = [[XRT_FIELD(b, attempt, integer)
XRT_FIELD(a, attempt_ms, integer)]],
    specs = { "spec/events_spec.lua" } },
  { id = "C18", file = "src/client/client_link.c",
    behaviour = "a close that comes while a reconnect's close handshake is under way drops the socket at once: "
      .. "on a slow link, what the old link wrote just before never reaches the server",
    search = [[	if (c->closing == 2)
		return;]],
    replace = [[]],
    specs = { "spec/client_reconnect_spec.lua" } },
}
