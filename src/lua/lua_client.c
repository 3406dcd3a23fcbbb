/*
 * lua_client.c - the Lua handle of a client connection
 * (xano.realtime.core.client).
 *
 * Follows liolib's object model: the handle is created closed, one checker
 * raises "attempt to use a closed client", and close(), __gc and __close
 * share one idempotent close that hands the connection to the service
 * thread for a clean shutdown.
 */
#include "lua_binding.h"
#include "client.h"
#include "resolve.h"

#include <stdio.h>
#include <string.h>

typedef struct client_handle {
	xrt_ep_handle h;	/* first */
} client_handle;

static const char *const state_names[] = {
	"idle", "connecting", "open", "waiting", "down", "stopping", "closed"
};

static client_handle *
check_handle(lua_State *L)
{
	return luaL_checkudata(L, 1, XRT_CLIENT_MT);
}

/* The open client's endpoint (the xrt_client is one: its first member). */
static xrt_endpoint *
check_ep(lua_State *L)
{
	client_handle *ch = check_handle(L);

	if (!ch->h.ep)
		luaL_error(L, "attempt to use a closed client");
	return ch->h.ep;
}

static xrt_client *
check_open(lua_State *L)
{
	return (xrt_client *)check_ep(L);
}

/* options.resolve: a list of numeric addresses ("[::1]" or "::1"), as
 * one space-separated string, left on the stack for as long as it is used */
static const char *
opt_resolve(lua_State *L, int t)
{
	char list[XRT_MAX_ADDRS * 48];
	size_t used = 0;
	lua_Integer i, n;
	int tab;

	lua_getfield(L, t, "resolve");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return NULL;
	}
	tab = lua_gettop(L);
	luaL_argcheck(L, lua_istable(L, tab), t, "option 'resolve' must be a list");
	n = (lua_Integer)lua_rawlen(L, tab);
	luaL_argcheck(L, n > 0 && n <= XRT_MAX_ADDRS, t,
		      "option 'resolve' must list 1 to 16 addresses");
	for (i = 1; i <= n; i++) {
		char a[48];
		size_t len = 0;
		const char *s;

		lua_rawgeti(L, tab, i);
		s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
		if (s && len > 2 && s[0] == '[' && s[len - 1] == ']') {
			s++;
			len -= 2;
		}
		if (s && len < sizeof(a)) {
			memcpy(a, s, len);
			a[len] = '\0';
		}
		if (!s || len >= sizeof(a) || !xrt_is_numeric_host(a)) {
			luaL_error(L, "bad option 'resolve' (entry %d is not a "
				   "numeric address)", (int)i);
			return NULL;
		}
		lua_pop(L, 1);
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
					 i > 1 ? " " : "", a);
	}
	lua_pushstring(L, list);
	lua_replace(L, tab);
	return lua_tostring(L, tab);
}

/* The core keeps no option defaults: the Lua layer owns them
 * (xano.realtime.options) and passes every setting; the core only checks
 * that each is there and fits what it is stored in. */
static int
need_bool(lua_State *L, const char *k)
{
	int v;

	xrt_need(L, 1, k);
	lua_getfield(L, 1, k);
	if (!lua_isboolean(L, -1))
		luaL_error(L, "option '%s': boolean expected, got %s", k,
			   luaL_typename(L, -1));
	v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

/* core.client(options) */
static int
client_new(lua_State *L)
{
	xrt_client_opts o;
	client_handle *ch;
	xrt_loop_handle *lh;

	luaL_checktype(L, 1, LUA_TTABLE);
	memset(&o, 0, sizeof(o));
	o.host = xrt_need_str(L, 1, "host");
	o.port = (int)xrt_need_num(L, 1, "port", 65535);
	o.path = xrt_need_str(L, 1, "path");
	o.tls = need_bool(L, "tls");
	o.verify = need_bool(L, "verify");
	o.ca_file = xrt_opt_str(L, 1, "ca_file", NULL);
	o.token = xrt_opt_str(L, 1, "token", NULL);
	o.proxy_host = xrt_opt_str(L, 1, "proxy_host", NULL);
	if (o.proxy_host)
		o.proxy_port = (int)xrt_need_num(L, 1, "proxy_port", 65535);
	o.proxy_auth = xrt_opt_str(L, 1, "proxy_auth", NULL);
	luaL_argcheck(L, !o.proxy_auth || strlen(o.proxy_auth) < 96, 1,
		      "proxy credentials longer than 95 bytes");
	o.reconnect_initial = xrt_need_num(L, 1, "reconnect_initial", XRT_MAX_SECONDS);
	o.reconnect_max = xrt_need_num(L, 1, "reconnect_max", XRT_MAX_SECONDS);
	o.stable_after = xrt_need_num(L, 1, "stable_after", XRT_MAX_SECONDS);
	o.ping_interval = xrt_need_num(L, 1, "ping_interval", XRT_MAX_SECONDS);
	o.ping_timeout = xrt_need_num(L, 1, "ping_timeout", XRT_MAX_SECONDS);
	o.connect_timeout = xrt_need_num(L, 1, "connect_timeout", XRT_MAX_SECONDS);
	o.handshake_timeout = xrt_need_num(L, 1, "handshake_timeout", XRT_MAX_SECONDS);
	o.drain_timeout = xrt_need_num(L, 1, "drain_timeout", XRT_MAX_SECONDS);
	o.queue_limit = (size_t)xrt_need_num(L, 1, "queue_limit", XRT_MAX_COUNT);
	o.send_limit = (size_t)xrt_need_num(L, 1, "send_limit", XRT_MAX_COUNT);
	o.max_frame = (size_t)xrt_need_num(L, 1, "max_frame", XRT_MAX_COUNT);
	o.in_limit = (size_t)xrt_need_num(L, 1, "in_limit", XRT_MAX_COUNT);
	luaL_argcheck(L, o.port > 0 && o.port < 65536, 1, "port out of range");
	luaL_argcheck(L, !o.proxy_host || (o.proxy_port > 0 && o.proxy_port < 65536),
		      1, "proxy_port out of range");
	o.resolve = opt_resolve(L, 1);	/* kept on the stack until the end */

	ch = lua_newuserdatauv(L, sizeof(*ch), 0);
	ch->h.ep = NULL;	/* closed until fully built */
	ch->h.lh = NULL;
	luaL_setmetatable(L, XRT_CLIENT_MT);
	lh = xrt_lua_loop(L);
	ch->h.ep = (xrt_endpoint *)xrt_client_new(lh->loop, &o);
	if (!ch->h.ep)
		return luaL_error(L, "xano.realtime: cannot create a client");
	ch->h.lh = lh;
	xrt_lua_ep_opened(L, &ch->h);
	return 1;
}

static int
client_close(lua_State *L)
{
	client_handle *ch = check_handle(L);
	xrt_endpoint *ep = ch->h.ep;

	if (ep) {
		ch->h.ep = NULL;
		xrt_loop_cmd(ep->loop, XCMD_RELEASE, ep, 0, 0, NULL, NULL);
		xrt_ep_release(ep);
		xrt_lua_ep_closed(L, &ch->h);
	}
	return 0;
}

static int
client_tostring(lua_State *L)
{
	client_handle *ch = check_handle(L);

	if (!ch->h.ep)
		lua_pushliteral(L, "xano.realtime.core.client (closed)");
	else
		lua_pushfstring(L, "xano.realtime.core.client (%s): %p",
				state_names[xrt_client_state((xrt_client *)ch->h.ep)],
				(void *)ch);
	return 1;
}

static int
command(lua_State *L, int kind)
{
	xrt_endpoint *ep = check_ep(L);

	xrt_loop_cmd(ep->loop, kind, ep, 0, 0, NULL, NULL);
	return 0;
}

static int
client_start(lua_State *L)
{
	xrt_client_start(check_open(L));
	return 0;
}

static int client_stop(lua_State *L) { return command(L, XCMD_STOP); }
static int client_reconnect(lua_State *L) { return command(L, XCMD_RECONNECT); }
static int client_kill(lua_State *L) { return command(L, XCMD_KILL); }

static xrt_buf *
check_frame(lua_State *L, int arg)
{
	size_t len;
	const char *s = luaL_checklstring(L, arg, &len);
	xrt_buf *b = xrt_buf_from(s, len);

	if (!b)
		luaL_error(L, "out of memory");
	return b;
}

/* send(frame, tag, queue) -> true | true, dropped_frame | nil, reason */
static int
client_send(lua_State *L)
{
	xrt_client *c = check_open(L);
	lua_Integer tag = luaL_checkinteger(L, 3);
	int queue = lua_toboolean(L, 4);
	xrt_buf *dropped = NULL;
	int r;

	luaL_checkstring(L, 2);
	r = xrt_client_send(c, check_frame(L, 2), tag, queue, &dropped);
	switch (r) {
	case XSEND_OK:
		lua_pushboolean(L, 1);
		return 1;
	case XSEND_DROPPED:
		lua_pushboolean(L, 1);
		lua_pushlstring(L, (const char *)xrt_buf_data(dropped), dropped->len);
		xrt_buf_unref(dropped);
		return 2;
	default:
		luaL_pushfail(L);
		lua_pushstring(L, r == XSEND_NOTCONN ? "not connected" :
			       r == XSEND_CLOSED ? "closed" : "send buffer full");
		return 2;
	}
}

/* Pushes the frames of a FIFO as a list of strings, and frees them. */
static void
push_frames(lua_State *L, xrt_fifo *got)
{
	xrt_item *it;
	int i = 0;

	lua_createtable(L, (int)got->count, 0);
	while ((it = xrt_fifo_pop(got))) {
		lua_pushlstring(L, (const char *)xrt_buf_data(it->buf), it->buf->len);
		lua_rawseti(L, -2, ++i);
		xrt_item_free(it);
	}
}

/* open_channel(tag, join_frame) */
static int
client_open_channel(lua_State *L)
{
	xrt_client *c = check_open(L);
	lua_Integer tag = luaL_checkinteger(L, 2);

	luaL_checkstring(L, 3);
	xrt_client_open_channel(c, tag, check_frame(L, 3));
	return 0;
}

/* close_channel(tag, leave_frame) -> the channel's actions that will never
 * be sent (closed while offline) */
static int
client_close_channel(lua_State *L)
{
	xrt_client *c = check_open(L);
	lua_Integer tag = luaL_checkinteger(L, 2);
	xrt_fifo got = { NULL, NULL, 0, 0 };

	luaL_checkstring(L, 3);
	xrt_client_close_channel(c, tag, check_frame(L, 3), &got);
	push_frames(L, &got);
	return 1;
}

/* take() -> the queued actions, removed */
static int
client_take(lua_State *L)
{
	xrt_fifo got = { NULL, NULL, 0, 0 };

	xrt_client_take(check_open(L), &got);
	push_frames(L, &got);
	return 1;
}

static int
client_set_token(lua_State *L)
{
	xrt_client *c = check_open(L);

	xrt_client_set_token(c, luaL_optstring(L, 2, NULL));
	return 0;
}

static int
client_set_policy(lua_State *L)
{
	xrt_client *c = check_open(L);
	int codes[64], n = 0, i;

	luaL_checktype(L, 2, LUA_TTABLE);
	for (i = 1; n < 64; i++) {
		lua_rawgeti(L, 2, i);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			break;
		}
		codes[n++] = (int)luaL_checkinteger(L, -1);
		lua_pop(L, 1);
	}
	xrt_client_set_policy(c, codes, n);
	return 0;
}

static int
client_next(lua_State *L)
{
	xrt_item *it = xrt_ep_next(check_ep(L));

	if (!it)
		return 0;
	return xrt_lua_push_event(L, XRT_SIDE_CLIENT, it);
}

/* post(): queue a "local" event, so that fd() turns readable and the next
 * poll runs what the Lua side queued for itself */
static int
client_post(lua_State *L)
{
	xrt_ep_event(check_ep(L), XEV_LOCAL, 0, 0, NULL, NULL);
	return 0;
}

static int
client_wait(lua_State *L)
{
	xrt_endpoint *ep = check_ep(L);

	return xrt_lua_wait(L, ep->loop, ep, 2);
}

static int
client_fd(lua_State *L)
{
	lua_pushinteger(L, xrt_ep_fd(check_ep(L)));
	return 1;
}

static int
client_state(lua_State *L)
{
	client_handle *ch = check_handle(L);

	lua_pushstring(L, ch->h.ep ? state_names[xrt_client_state(
		(xrt_client *)ch->h.ep)] : "closed");
	return 1;
}

static int
client_stats(lua_State *L)
{
	xrt_client *c = check_open(L);
	xrt_stats s;
	size_t queued;
	char reason[128];

	xrt_client_stats(c, &s, &queued, reason, sizeof(reason));
	lua_createtable(L, 0, 14);
#define SET_INT(k, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, k))
	SET_INT("frames_in", s.frames_in);
	SET_INT("frames_out", s.frames_out);
	SET_INT("bytes_in", s.bytes_in);
	SET_INT("bytes_out", s.bytes_out);
	SET_INT("queued", queued);
	SET_INT("dropped", s.dropped);
	SET_INT("reconnects", s.reconnects);
	SET_INT("connects", s.connects);
	SET_INT("pings", s.pings);
	SET_INT("pongs", s.pongs);
#undef SET_INT
	if (s.last_close_code) {
		lua_pushinteger(L, s.last_close_code);
		lua_setfield(L, -2, "last_close_code");
		lua_pushstring(L, reason);
		lua_setfield(L, -2, "last_close_reason");
	}
	if (s.rtt > 0) {
		lua_pushnumber(L, s.rtt);
		lua_setfield(L, -2, "rtt");
	}
	return 1;
}

static const luaL_Reg client_methods[] = {
	{ "start", client_start },
	{ "stop", client_stop },
	{ "reconnect", client_reconnect },
	{ "kill", client_kill },
	{ "send", client_send },
	{ "open_channel", client_open_channel },
	{ "close_channel", client_close_channel },
	{ "take", client_take },
	{ "set_token", client_set_token },
	{ "set_policy", client_set_policy },
	{ "next", client_next },
	{ "post", client_post },
	{ "wait", client_wait },
	{ "fd", client_fd },
	{ "state", client_state },
	{ "stats", client_stats },
	{ "close", client_close },
	{ NULL, NULL }
};

static const luaL_Reg client_meta[] = {
	{ "__gc", client_close },
	{ "__close", client_close },
	{ "__tostring", client_tostring },
	{ NULL, NULL }
};

void
xrt_open_client(lua_State *L)
{
	if (luaL_newmetatable(L, XRT_CLIENT_MT)) {
		luaL_setfuncs(L, client_meta, 0);
		luaL_newlib(L, client_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	lua_pushcfunction(L, client_new);
	lua_setfield(L, -2, "client");
}
