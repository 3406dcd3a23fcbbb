/*
 * lua_core.c - the module xano.realtime.core: its entry point, the Lua
 * handle on the state's service loop, and the module functions (clock,
 * waiting, randomness, signals, log level).
 *
 * One loop per Lua state: it is kept in the registry while any endpoint
 * handle is open, and in a weak table after that, so the thread stops
 * when the last client or server of the state is closed or collected.
 */
#include "lua_binding.h"
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define LOOP_ANCHOR "xano.realtime.loop.anchor"
#define LOOP_WEAK "xano.realtime.loop.weak"

static atomic_int live_loops;
static volatile sig_atomic_t caught_signal;

static int
loop_gc(lua_State *L)
{
	xrt_loop_handle *lh = luaL_checkudata(L, 1, XRT_LOOP_MT);

	if (lh->loop) {
		xrt_loop_release(lh->loop);
		lh->loop = NULL;
		atomic_fetch_sub(&live_loops, 1);
	}
	return 0;
}

static int
loop_tostring(lua_State *L)
{
	xrt_loop_handle *lh = luaL_checkudata(L, 1, XRT_LOOP_MT);

	if (lh->loop)
		lua_pushfstring(L, "xano.realtime.loop (%d endpoints): %p",
				lh->endpoints, (void *)lh);
	else
		lua_pushliteral(L, "xano.realtime.loop (stopped)");
	return 1;
}

/* The state's loop if it has one; never creates it. */
static xrt_loop_handle *
existing_loop(lua_State *L)
{
	xrt_loop_handle *lh;

	lua_getfield(L, LUA_REGISTRYINDEX, LOOP_ANCHOR);
	lh = luaL_testudata(L, -1, XRT_LOOP_MT);
	lua_pop(L, 1);
	return lh && lh->loop ? lh : NULL;
}

/* Pushes nothing; returns the state's loop, creating it when needed. */
xrt_loop_handle *
xrt_lua_loop(lua_State *L)
{
	xrt_loop_handle *lh = existing_loop(L);
	char err[160];

	if (lh)
		return lh;

	/* a loop no longer anchored but not yet collected is reused */
	lua_getfield(L, LUA_REGISTRYINDEX, LOOP_WEAK);
	lua_getfield(L, -1, "loop");
	lh = luaL_testudata(L, -1, XRT_LOOP_MT);
	if (lh && lh->loop) {
		lua_setfield(L, LUA_REGISTRYINDEX, LOOP_ANCHOR);
		lua_pop(L, 1);
		return lh;
	}
	lua_pop(L, 1);

	lh = lua_newuserdatauv(L, sizeof(*lh), 0);
	lh->loop = NULL;
	lh->endpoints = 0;
	luaL_setmetatable(L, XRT_LOOP_MT);
	lh->loop = xrt_loop_new(err, sizeof(err));
	if (!lh->loop)
		luaL_error(L, "xano.realtime: %s", err);
	atomic_fetch_add(&live_loops, 1);
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "loop");
	lua_setfield(L, LUA_REGISTRYINDEX, LOOP_ANCHOR);
	lua_pop(L, 1);
	return lh;
}

void
xrt_lua_ep_opened(lua_State *L, xrt_ep_handle *h)
{
	(void)L;
	h->lh->endpoints++;
}

void
xrt_lua_ep_closed(lua_State *L, xrt_ep_handle *h)
{
	xrt_loop_handle *lh = h->lh;

	if (--lh->endpoints > 0)
		return;
	/* unanchor: the loop goes with the next collection unless reused */
	lua_getfield(L, LUA_REGISTRYINDEX, LOOP_ANCHOR);
	if (lua_touserdata(L, -1) == lh) {
		lua_pushnil(L);
		lua_setfield(L, LUA_REGISTRYINDEX, LOOP_ANCHOR);
	}
	lua_pop(L, 1);
}

/* ------------------------------------------------ option readers */

/* A number option of the table at t: def when absent; raises when it is
 * not a number or not in [0, max].  The core turns these into int64_t
 * microseconds or size_t bytes, where NaN, infinity or a negative value
 * would be undefined behaviour. */
double
xrt_opt_num(lua_State *L, int t, const char *k, double def, double max)
{
	double v;

	lua_getfield(L, t, k);
	if (lua_isnil(L, -1))
		v = def;
	else if (lua_type(L, -1) != LUA_TNUMBER)
		return luaL_error(L, "option '%s': number expected, got %s", k,
				  luaL_typename(L, -1));
	else
		v = lua_tonumber(L, -1);
	lua_pop(L, 1);
	if (!(v >= 0 && v <= max))	/* NaN fails too */
		return luaL_error(L, "option '%s': out of range (0 to %f)", k,
				  (lua_Number)max);
	return v;
}

/* The core keeps no option defaults of its own: the Lua layer owns them
 * and passes every setting, which these check is there. */
void
xrt_need(lua_State *L, int t, const char *k)
{
	lua_getfield(L, t, k);
	if (lua_isnil(L, -1))
		luaL_error(L, "option '%s' is required", k);
	lua_pop(L, 1);
}

double
xrt_need_num(lua_State *L, int t, const char *k, double max)
{
	xrt_need(L, t, k);
	return xrt_opt_num(L, t, k, 0, max);
}

const char *
xrt_need_str(lua_State *L, int t, const char *k)
{
	xrt_need(L, t, k);
	return xrt_opt_str(L, t, k, NULL);
}

/* A string option; the string stays valid while the table is on the
 * stack. */
const char *
xrt_opt_str(lua_State *L, int t, const char *k, const char *def)
{
	const char *v;

	lua_getfield(L, t, k);
	if (lua_isnil(L, -1))
		v = def;
	else if (lua_type(L, -1) != LUA_TSTRING)
		return luaL_error(L, "option '%s': string expected, got %s", k,
				  luaL_typename(L, -1)), NULL;
	else
		v = lua_tostring(L, -1);
	lua_pop(L, 1);
	return v;
}

/* wait(fd, [timeout]): true when ready, false on timeout, nil and
 * "interrupted" when a caught signal arrived. */
int
xrt_lua_wait(lua_State *L, xrt_loop *loop, xrt_endpoint *ep, int arg)
{
	double timeout = luaL_optnumber(L, arg, -1);
	int r;

	/* NaN would reach a float-to-int conversion (undefined behaviour) */
	luaL_argcheck(L, timeout == timeout, arg, "number expected, got nan");
	r = ep ? xrt_ep_wait(ep, timeout) : xrt_loop_wait(loop, timeout);

	if (r < 0) {
		luaL_pushfail(L);
		lua_pushliteral(L, "interrupted");
		return 2;
	}
	lua_pushboolean(L, r);
	return 1;
}

static int
core_now(lua_State *L)
{
	lua_pushnumber(L, xrt_now());
	return 1;
}

/* wait([timeout]): until any endpoint of the state has events; with no
 * endpoint at all nothing can arrive, so it just sleeps. */
static int
core_wait(lua_State *L)
{
	xrt_loop_handle *lh = existing_loop(L);

	if (!lh) {
		double t = luaL_optnumber(L, 1, 0);

		xrt_sleep(t > 0 ? t : 0);	/* NaN sleeps 0 too */
		lua_pushboolean(L, 0);
		return 1;
	}
	return xrt_lua_wait(L, lh->loop, NULL, 1);
}

/* fd(): readable while any endpoint of the state has events; nil when the
 * state has no endpoint. */
static int
core_fd(lua_State *L)
{
	xrt_loop_handle *lh = existing_loop(L);

	if (!lh)
		return 0;
	lua_pushinteger(L, xrt_loop_fd(lh->loop));
	return 1;
}

/* random_hex(n): n random bytes from the kernel, as 2n hex digits */
static int
core_random_hex(lua_State *L)
{
	unsigned char b[64];
	char hex[129];
	lua_Integer n = luaL_optinteger(L, 1, 16);
	ssize_t got;
	int i;

	luaL_argcheck(L, n > 0 && n <= 64, 1, "between 1 and 64 bytes");
	do
		got = getrandom(b, (size_t)n, 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)n)
		return luaL_error(L, "getrandom: %s", strerror(errno));
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
	lua_pushlstring(L, hex, (size_t)(2 * n));
	return 1;
}

/* set_log_level(bits): libwebsockets' log levels (LLL_*), written to
 * stderr.  Three are never turned on: parser and header, which print the
 * handshake's Sec-WebSocket-Protocol, that is the auth token; and debug,
 * at which lws_cancel_service() logs from the Lua thread while the
 * service thread logs too, and lws formats every line in one static
 * buffer (a data race ThreadSanitizer reports). */
static int
core_set_log_level(lua_State *L)
{
	lws_set_log_level((int)luaL_checkinteger(L, 1) &
			  ~(LLL_PARSER | LLL_HEADER | LLL_DEBUG), NULL);
	return 0;
}

static void
on_signal(int sig)
{
	caught_signal = sig;
}

/* catch_signals(): SIGINT and SIGTERM interrupt waits instead of killing
 * the process; signaled() then tells which arrived. */
static int
core_catch_signals(lua_State *L)
{
	struct sigaction sa;

	(void)L;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return 0;
}

static int
core_signaled(lua_State *L)
{
	int s = caught_signal;

	if (!s)
		lua_pushnil(L);
	else
		lua_pushstring(L, s == SIGINT ? "SIGINT" : s == SIGTERM ?
			       "SIGTERM" : "signal");
	return 1;
}

/* Service threads alive in the process (for leak checks). */
static int
core_threads(lua_State *L)
{
	lua_pushinteger(L, atomic_load(&live_loops));
	return 1;
}

static const luaL_Reg core_funcs[] = {
	{ "now", core_now },
	{ "wait", core_wait },
	{ "fd", core_fd },
	{ "random_hex", core_random_hex },
	{ "set_log_level", core_set_log_level },
	{ "catch_signals", core_catch_signals },
	{ "signaled", core_signaled },
	{ "threads", core_threads },
	{ NULL, NULL }
};

static const luaL_Reg loop_meta[] = {
	{ "__gc", loop_gc },
	{ "__tostring", loop_tostring },
	{ NULL, NULL }
};

XRT_EXPORT int luaopen_xano_realtime_core(lua_State *L);

XRT_EXPORT int
luaopen_xano_realtime_core(lua_State *L)
{
	static int log_set;

	if (!log_set) {
		/* lws stays quiet unless asked (set_log_level) */
		lws_set_log_level(0, NULL);
		log_set = 1;
	}
	if (luaL_newmetatable(L, XRT_LOOP_MT))
		luaL_setfuncs(L, loop_meta, 0);
	lua_pop(L, 1);

	lua_getfield(L, LUA_REGISTRYINDEX, LOOP_WEAK);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_newtable(L);
		lua_pushliteral(L, "v");
		lua_setfield(L, -2, "__mode");
		lua_setmetatable(L, -2);
		lua_setfield(L, LUA_REGISTRYINDEX, LOOP_WEAK);
	} else {
		lua_pop(L, 1);
	}

	luaL_newlib(L, core_funcs);
	xrt_open_client(L);
	xrt_open_server(L);
	xrt_open_json(L);
	xrt_open_members(L);
	xrt_open_events(L);
	lua_pushliteral(L, "0.1.0");
	lua_setfield(L, -2, "_VERSION");
	lua_pushstring(L, lws_get_library_version());
	lua_setfield(L, -2, "lws_version");
	return 1;
}
