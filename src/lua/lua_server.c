/*
 * lua_server.c - the Lua handle of a listening server
 * (xano.realtime.core.server), the transport under xano.realtime.server.
 *
 * Same object model as the client handle.  core.server() returns only once
 * the socket listens, so callers can read the port back at once.
 */
#include "lua_binding.h"
#include "http.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

typedef struct server_handle {
	xrt_ep_handle h;	/* first */
	int port;
} server_handle;

static server_handle *
check_handle(lua_State *L)
{
	return luaL_checkudata(L, 1, XRT_SERVER_MT);
}

static xrt_server *
check_open(lua_State *L)
{
	server_handle *sh = check_handle(L);

	if (!sh->h.ep)
		luaL_error(L, "attempt to use a closed server");
	return (xrt_server *)sh->h.ep;
}

/* The open server as the loop's endpoint (its first member): what the
 * commands and the event queue take. */
static xrt_endpoint *
check_ep(lua_State *L)
{
	check_open(L);
	return check_handle(L)->h.ep;
}

static void
release(lua_State *L, server_handle *sh)
{
	xrt_endpoint *ep = sh->h.ep;

	if (ep) {
		sh->h.ep = NULL;
		xrt_loop_cmd(xrt_ep_loop(ep), XCMD_RELEASE, ep, 0, 0, NULL, NULL);
		xrt_ep_release(ep);
		xrt_lua_ep_closed(L, &sh->h);
	}
}

/* core.server(options) -> server | nil, message */
static int
server_new(lua_State *L)
{
	xrt_server_opts o;
	server_handle *sh;
	xrt_loop_handle *lh;
	xrt_item *it;
	double deadline;

	luaL_checktype(L, 1, LUA_TTABLE);
	memset(&o, 0, sizeof(o));
	/* every setting comes from the Lua layer, which owns the defaults
	 * (xano.realtime.server.config); the core checks what fits */
	o.host = xrt_need_str(L, 1, "host");
	o.port = (int)xrt_need_num(L, 1, "port", 65535);
	o.max_frame = (size_t)xrt_need_num(L, 1, "max_frame", XRT_MAX_COUNT);
	o.max_queue = (size_t)xrt_need_num(L, 1, "max_queue", XRT_MAX_COUNT);
	o.max_head = (size_t)xrt_need_num(L, 1, "max_head", XRT_MAX_COUNT);
	o.max_body = (size_t)xrt_need_num(L, 1, "max_body", XRT_MAX_COUNT);
	o.in_limit = (size_t)xrt_need_num(L, 1, "in_limit", XRT_MAX_COUNT);
	o.ping_interval = xrt_need_num(L, 1, "ping_interval", XRT_MAX_SECONDS);
	o.cert = xrt_opt_str(L, 1, "cert", NULL);
	o.key = xrt_opt_str(L, 1, "key", NULL);
	luaL_argcheck(L, o.port >= 0 && o.port < 65536, 1, "port out of range");
	luaL_argcheck(L, !o.cert == !o.key, 1, "cert and key go together");

	sh = lua_newuserdatauv(L, sizeof(*sh), 0);
	sh->h.ep = NULL;
	sh->h.lh = NULL;
	sh->port = 0;
	luaL_setmetatable(L, XRT_SERVER_MT);
	lh = xrt_lua_loop(L);
	sh->h.ep = (xrt_endpoint *)xrt_server_new(lh->loop, &o);
	if (!sh->h.ep)
		return luaL_error(L, "xano.realtime: cannot create a server");
	sh->h.lh = lh;
	xrt_lua_ep_opened(L, &sh->h);
	xrt_loop_cmd(lh->loop, XCMD_LISTEN, sh->h.ep, 0, 0, NULL, NULL);

	/* the first event says whether it listens */
	deadline = xrt_now() + 10;
	while (!(it = xrt_ep_next(sh->h.ep))) {
		double left = deadline - xrt_now();

		if (left <= 0)
			break;
		xrt_ep_wait(sh->h.ep, left);
	}
	if (it && it->kind == XEV_LISTENING) {
		sh->port = (int)it->a;
		return 1;
	}
	luaL_pushfail(L);
	if (it && it->buf)
		lua_pushlstring(L, (const char *)xrt_buf_data(it->buf), it->buf->len);
	else
		lua_pushliteral(L, "the server did not start listening");
	release(L, sh);
	return 2;
}

static int
server_close(lua_State *L)
{
	release(L, check_handle(L));
	return 0;
}

/* shutdown(timeout): close every socket cleanly and stop listening,
 * waiting up to timeout seconds; true when done. */
static int
server_shutdown(lua_State *L)
{
	xrt_endpoint *ep = check_ep(L);
	double timeout = luaL_checknumber(L, 2);
	double deadline;
	int done = 0;

	luaL_argcheck(L, timeout >= 0 && timeout <= XRT_MAX_SECONDS, 2,
		      "seconds expected");
	deadline = xrt_now() + timeout;

	xrt_loop_cmd(xrt_ep_loop(ep), XCMD_SERVER_CLOSE, ep, 0, 0, NULL, NULL);
	while (!done) {
		xrt_item *it = xrt_ep_next(ep);
		double left;

		if (it) {
			done = it->kind == XEV_STOPPED;
			continue;
		}
		left = deadline - xrt_now();
		if (left <= 0)
			break;
		xrt_ep_wait(ep, left);
	}
	lua_pushboolean(L, done);
	return 1;
}

static int
server_tostring(lua_State *L)
{
	server_handle *sh = check_handle(L);

	if (!sh->h.ep)
		lua_pushliteral(L, "xano.realtime.core.server (closed)");
	else
		lua_pushfstring(L, "xano.realtime.core.server (port %d): %p",
				sh->port, (void *)sh);
	return 1;
}

static int
server_port(lua_State *L)
{
	check_open(L);
	lua_pushinteger(L, check_handle(L)->port);
	return 1;
}

/* send(id | {ids}, text [, "binary"]) -> number of sockets that took it */
static int
server_send(lua_State *L)
{
	xrt_server *s = check_open(L);
	size_t len, n = 0, i;
	const char *data = luaL_checklstring(L, 3, &len);
	int opcode = XRT_WS_TEXT;
	uint64_t one, *ids = &one;
	int took;

	if (!lua_isnoneornil(L, 4)) {
		const char *mode = luaL_checkstring(L, 4);

		if (!strcmp(mode, "binary"))
			opcode = XRT_WS_BINARY;
		else if (strcmp(mode, "text"))
			return luaL_argerror(L, 4, "\"text\" or \"binary\" expected");
	}
	if (lua_type(L, 2) == LUA_TTABLE) {
		n = lua_rawlen(L, 2);
		if (!n) {
			lua_pushinteger(L, 0);
			return 1;
		}
		/* Lua-owned scratch, so a raise below leaks nothing */
		ids = lua_newuserdatauv(L, n * sizeof(*ids), 0);
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, 2, (int)i + 1);
			ids[i] = (uint64_t)luaL_checkinteger(L, -1);
			lua_pop(L, 1);
		}
	} else {
		one = (uint64_t)luaL_checkinteger(L, 2);
		n = 1;
	}
	took = xrt_server_send(s, ids, n, opcode, data, len);
	if (took < 0)
		return luaL_error(L, "out of memory");
	lua_pushinteger(L, took);
	return 1;
}

static xrt_buf *
opt_buf(lua_State *L, int arg)
{
	size_t len;
	const char *p;
	xrt_buf *b;

	if (lua_isnoneornil(L, arg))
		return NULL;
	p = luaL_checklstring(L, arg, &len);
	b = xrt_buf_from(p, len);
	if (!b)
		luaL_error(L, "out of memory");
	return b;
}

/* accept(id [, subprotocol]) */
static int
server_accept(lua_State *L)
{
	xrt_endpoint *ep = check_ep(L);
	lua_Integer id = luaL_checkinteger(L, 2);

	xrt_loop_cmd(xrt_ep_loop(ep), XCMD_ACCEPT, ep, id, 0, opt_buf(L, 3), NULL);
	return 0;
}

/* Is s free of CR, LF and NUL (so it cannot end a header line)? */
static int
header_safe(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return 0;
	return 1;
}

/* The Content-Type value and, after it, the header lines of a table
 * {name = value} (names are tokens, values one line), as one buffer.
 * Everything is checked before the buffer is made, so a raise leaks
 * nothing. */
static xrt_buf *
head_lines(lua_State *L, int ctype_arg, int headers_arg)
{
	size_t len;
	const char *ct = luaL_optlstring(L, ctype_arg, "text/plain; charset=utf-8",
					 &len);
	xrt_buf *b;
	int pass;

	luaL_argcheck(L, header_safe(ct, len), ctype_arg,
		      "content type holds a line break");
	if (lua_isnoneornil(L, headers_arg))
		return opt_buf(L, ctype_arg);
	luaL_checktype(L, headers_arg, LUA_TTABLE);
	b = NULL;
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && !(b = xrt_buf_from(ct, len)))
			luaL_error(L, "out of memory");
		lua_pushnil(L);
		while (lua_next(L, headers_arg)) {
			size_t nl, vl, i;
			const char *name, *value;

			if (pass == 0) {
				luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING &&
					      lua_type(L, -1) == LUA_TSTRING,
					      headers_arg, "header names and "
					      "values must be strings");
			}
			name = lua_tolstring(L, -2, &nl);
			value = lua_tolstring(L, -1, &vl);
			if (pass == 0) {
				luaL_argcheck(L, nl > 0, headers_arg, "bad header name");
				for (i = 0; i < nl; i++)
					luaL_argcheck(L, name[i] > 32 && name[i] < 127 &&
						      name[i] != ':', headers_arg,
						      "bad header name");
				luaL_argcheck(L, header_safe(value, vl), headers_arg,
					      "header value holds a line break");
			} else if (xrt_buf_append(&b, "\r\n", 2) < 0 ||
				   xrt_buf_append(&b, name, nl) < 0 ||
				   xrt_buf_append(&b, ": ", 2) < 0 ||
				   xrt_buf_append(&b, value, vl) < 0) {
				xrt_buf_unref(b);
				luaL_error(L, "out of memory");
			}
			lua_pop(L, 1);
		}
	}
	return b;
}

/* respond(id, status [, body [, content_type [, headers]]]) */
static int
server_respond(lua_State *L)
{
	xrt_endpoint *ep = check_ep(L);
	lua_Integer id = luaL_checkinteger(L, 2);
	lua_Integer status = luaL_checkinteger(L, 3);
	xrt_buf *ctype, *body;

	luaL_argcheck(L, status >= 100 && status <= 599, 3, "HTTP status expected");
	luaL_optstring(L, 4, NULL);
	ctype = head_lines(L, 5, 6);
	body = opt_buf(L, 4);
	xrt_loop_cmd(xrt_ep_loop(ep), XCMD_RESPOND, ep, id, status, body, ctype);
	return 0;
}

/* counts(id) -> frames in, frames out of a socket; nil when it is gone */
static int
server_counts(lua_State *L)
{
	xrt_server *s = check_open(L);
	uint64_t in, out;

	if (xrt_server_counts(s, (uint64_t)luaL_checkinteger(L, 2), &in, &out))
		return 0;
	lua_pushinteger(L, (lua_Integer)in);
	lua_pushinteger(L, (lua_Integer)out);
	return 2;
}

/* close_socket(id, code [, reason]): code 1005 sends a close frame
 * without a code */
static int
server_close_socket(lua_State *L)
{
	xrt_endpoint *ep = check_ep(L);
	lua_Integer id = luaL_checkinteger(L, 2);
	lua_Integer code = luaL_checkinteger(L, 3);

	luaL_argcheck(L, code >= 1000 && code <= 4999, 3, "close code expected");
	luaL_optstring(L, 4, NULL);
	xrt_loop_cmd(xrt_ep_loop(ep), XCMD_SOCK_CLOSE, ep, id, code, opt_buf(L, 4),
		     NULL);
	return 0;
}

static int
server_next(lua_State *L)
{
	xrt_endpoint *ep = check_ep(L);
	xrt_item *it = xrt_ep_next(ep);

	if (!it)
		return 0;
	return xrt_lua_push_event(L, XRT_SIDE_SERVER, it);
}

static int
server_wait(lua_State *L)
{
	xrt_endpoint *ep = check_ep(L);

	return xrt_lua_wait(L, xrt_ep_loop(ep), ep, 2);
}

static int
server_fd(lua_State *L)
{
	lua_pushinteger(L, xrt_ep_fd(check_ep(L)));
	return 1;
}

static int
server_stats(lua_State *L)
{
	xrt_server *s = check_open(L);
	uint64_t in, out;
	size_t socks;

	xrt_server_stats(s, &in, &out, &socks);
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, (lua_Integer)in);
	lua_setfield(L, -2, "frames_in");
	lua_pushinteger(L, (lua_Integer)out);
	lua_setfield(L, -2, "frames_out");
	lua_pushinteger(L, (lua_Integer)socks);
	lua_setfield(L, -2, "sockets");
	return 1;
}

/* A header field into the table on top: its name lowercased; a name sent
 * twice keeps its last value. */
static void
set_field(void *ud, xrt_span name, xrt_span value)
{
	lua_State *L = ud;
	char low[256];
	size_t i;

	if (name.n > sizeof(low))
		return;		/* no field the server reads is this long */
	for (i = 0; i < name.n; i++)
		low[i] = (char)(name.p[i] >= 'A' && name.p[i] <= 'Z' ?
				name.p[i] - 'A' + 'a' : name.p[i]);
	lua_pushlstring(L, low, name.n);
	lua_pushlstring(L, value.p, value.n);
	lua_rawset(L, -3);
}

/* core.http_request(head) -> method, path, headers | nil: a request head
 * (a "request" event's) read by the transport's own parser: the path
 * without its query or fragment, the header names lowercased. */
static int
http_request(lua_State *L)
{
	size_t len, n = 0;
	const char *head = luaL_checklstring(L, 1, &len);
	xrt_http_req r;

	lua_newtable(L);
	if (xrt_http_parse_fields(head, len, &r, set_field, L))
		return 0;
	while (n < r.path.n && r.path.p[n] != '?' && r.path.p[n] != '#')
		n++;
	lua_pushlstring(L, r.method.p, r.method.n);
	lua_pushlstring(L, r.path.p, n);
	lua_pushvalue(L, -3);
	return 3;
}

static const luaL_Reg server_methods[] = {
	{ "port", server_port },
	{ "send", server_send },
	{ "accept", server_accept },
	{ "respond", server_respond },
	{ "close_socket", server_close_socket },
	{ "next", server_next },
	{ "wait", server_wait },
	{ "fd", server_fd },
	{ "stats", server_stats },
	{ "counts", server_counts },
	{ "shutdown", server_shutdown },
	{ "close", server_close },
	{ NULL, NULL }
};

static const luaL_Reg server_meta[] = {
	{ "__gc", server_close },
	{ "__close", server_close },
	{ "__tostring", server_tostring },
	{ NULL, NULL }
};

void
xrt_open_server(lua_State *L)
{
	if (luaL_newmetatable(L, XRT_SERVER_MT)) {
		luaL_setfuncs(L, server_meta, 0);
		luaL_newlib(L, server_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	lua_pushcfunction(L, server_new);
	lua_setfield(L, -2, "server");
	lua_pushcfunction(L, http_request);
	lua_setfield(L, -2, "http_request");
}
