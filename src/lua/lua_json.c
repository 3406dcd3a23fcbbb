/*
 * lua_json.c - the numbers around lua-cjson, for xano.realtime.json (which
 * owns JSON; lua-cjson still parses and encodes):
 *
 *   core.json_inexact(v)   true when lua-cjson 2.1 would write one of the
 *                          numbers of v (values or keys, at any depth)
 *                          inexactly: it writes every number with "%.14g"
 *   core.json_number(x)    the exact JSON text of a number: every digit of
 *                          an integer (and of an integral float up to 2^53),
 *                          else the shortest text that reads back to the
 *                          same double; nil for NaN and infinities
 *   core.json_integers(v)  (Lua 5.3+) v, a value fresh from lua-cjson's
 *                          decode, with every integral float within
 *                          +-(2^53 - 1) turned into an integer, in place
 *   core.json_decoder(f)   (Lua 5.3+) a function text -> value | nil, err
 *                          that decodes with f (lua-cjson's decode) and
 *                          then does json_integers: the client's decode
 *
 * The walks are in C because they run on every frame: on Lua 5.4 the Lua
 * versions of the same walks measured 3 to 4 times slower (bench/README.md,
 * "JSON numbers").
 */
#include "lua_binding.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* lua-cjson's default encode and decode nesting limits */
#define CJSON_MAX_DEPTH 1000
/* "%.14g" writes every integral number below this with all its digits */
#define CJSON_EXACT_INTEGRAL 1e14
/* 2^53 - 1: the largest integer below which every integer is a double */
#define SAFE_INTEGER 9007199254740991.0

/* Does lua-cjson write the number at idx exactly?  Non-finite numbers
 * count as exact: lua-cjson refuses them, and that is kept. */
static const double POW10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8 };

static int
cjson_exact(lua_State *L, int idx)
{
	double d;
	char buf[32];
	int k;

#if LUA_VERSION_NUM >= 503
	if (lua_isinteger(L, idx)) {
		lua_Integer i = lua_tointeger(L, idx);
		return i > -(lua_Integer)CJSON_EXACT_INTEGRAL && i < (lua_Integer)CJSON_EXACT_INTEGRAL;
	}
#endif
	d = lua_tonumber(L, idx);
	if (!isfinite(d))
		return 1;
	if (d == floor(d))
		return fabs(d) < CJSON_EXACT_INTEGRAL;
	if (fabs(d) < DBL_MIN)
		return 0;	/* subnormal: "%.14g" may round-trip and not be the shortest */
	/* A decimal of at most 8 places and 14 digits, m / 10^k, without
	 * printing: if d * 10^k is an integer m and d is the double nearest
	 * to m / 10^k (one correctly rounded division of exact doubles), then
	 * "%.14g" writes m / 10^k, which reads back as d (DBL_DIG is 15). */
	for (k = 1; k <= 8; k++) {
		double y = d * POW10[k];

		if (fabs(y) >= CJSON_EXACT_INTEGRAL)
			break;
		if (y == floor(y)) {
			if (d == y / POW10[k])
				return 1;
			break;
		}
	}
	snprintf(buf, sizeof buf, "%.14g", d);
	return strtod(buf, NULL) == d;
}

/* 1 when the value at idx holds an inexact number, 0 when not, -1 when it
 * nests deeper than lua-cjson encodes (lua-cjson then raises its error). */
static int
inexact(lua_State *L, int idx, int depth)
{
	int t = lua_type(L, idx);

	if (t == LUA_TNUMBER)
		return !cjson_exact(L, idx);
	if (t != LUA_TTABLE)
		return 0;
	if (depth > CJSON_MAX_DEPTH || !lua_checkstack(L, 3))
		return -1;
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int r = 0;

		if (lua_type(L, -2) == LUA_TNUMBER && !cjson_exact(L, -2))
			r = 1;
		else
			r = inexact(L, -1, depth + 1);
		lua_pop(L, 1);
		if (r) {
			lua_pop(L, 1);
			return r;
		}
	}
	return 0;
}

static int
json_inexact(lua_State *L)
{
	luaL_checkany(L, 1);
	lua_pushboolean(L, inexact(L, 1, 1) == 1);
	return 1;
}

/* Shortest "%.Ng" text of d that reads back as d, from `from` digits up. */
static void
shortest(char *buf, size_t size, double d, int from)
{
	int p;

	for (p = from; p < 17; p++) {
		snprintf(buf, size, "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			return;
	}
	snprintf(buf, size, "%.17g", d);
}

static int
json_number(lua_State *L)
{
	char buf[40];
	double d;

#if LUA_VERSION_NUM >= 503
	if (lua_isinteger(L, 1)) {
		snprintf(buf, sizeof buf, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, 1));
		lua_pushstring(L, buf);
		return 1;
	}
#endif
	d = luaL_checknumber(L, 1);
	if (!isfinite(d)) {
		lua_pushnil(L);
		return 1;
	}
	if (d == floor(d) && fabs(d) <= SAFE_INTEGER + 1)
		snprintf(buf, sizeof buf, "%.0f", d);
	else if (fabs(d) < DBL_MIN)
		/* a subnormal: fewer bits, so fewer digits may do */
		shortest(buf, sizeof buf, d, 1);
	else
		/* any decimal of 15 digits or fewer survives a trip through a
		 * double (DBL_DIG), so "%.15g" is the shortest when one is */
		shortest(buf, sizeof buf, d, 15);
	lua_pushstring(L, buf);
	return 1;
}

#if LUA_VERSION_NUM >= 503
static int
is_safe_integral(double d)
{
	return d == floor(d) && fabs(d) <= SAFE_INTEGER && !(d == 0 && signbit(d));
}

/* Turns the integral floats of the table at idx, the top of the stack, at
 * any depth, into integers.  Objects are walked with lua_next (assigning
 * existing fields during the traversal is allowed).  An array (lua-cjson
 * fills 1..n, nulls included, and nothing else; lua_next gives the key 1
 * first) is read by index, which costs less.  A level takes at most two
 * slots (key, value) and a conversion two more: the stack is grown every
 * 8 levels. */
static void
to_integers(lua_State *L, int idx, int depth)
{
	if (depth > CJSON_MAX_DEPTH)
		return;
	if ((depth & 7) == 0)
		luaL_checkstack(L, 20, "JSON value nested too deeply");
	lua_pushnil(L);
	if (!lua_next(L, idx))
		return;
	if (lua_type(L, -2) == LUA_TNUMBER) {
		lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);

		lua_pop(L, 2);
		for (i = 1; i <= n; i++) {
			int t = lua_rawgeti(L, idx, i);

			if (t == LUA_TNUMBER) {
				if (!lua_isinteger(L, -1) && is_safe_integral(lua_tonumber(L, -1))) {
					lua_pushinteger(L, (lua_Integer)lua_tonumber(L, -1));
					lua_rawseti(L, idx, i);
				}
			} else if (t == LUA_TTABLE) {
				to_integers(L, idx + 1, depth + 1);
			}
			lua_pop(L, 1);
		}
		return;
	}
	do {
		int t = lua_type(L, -1);

		if (t == LUA_TNUMBER) {
			if (!lua_isinteger(L, -1) && is_safe_integral(lua_tonumber(L, -1))) {
				lua_pushvalue(L, -2);
				lua_pushinteger(L, (lua_Integer)lua_tonumber(L, -2));
				lua_rawset(L, idx);
			}
		} else if (t == LUA_TTABLE) {
			to_integers(L, idx + 2, depth + 1);
		}
		lua_pop(L, 1);
	} while (lua_next(L, idx));
}

static int
json_integers(lua_State *L)
{
	int t = lua_type(L, 1);

	luaL_checkany(L, 1);
	lua_settop(L, 1);
	if (t == LUA_TTABLE)
		to_integers(L, 1, 1);
	else if (t == LUA_TNUMBER && !lua_isinteger(L, 1) && is_safe_integral(lua_tonumber(L, 1)))
		lua_pushinteger(L, (lua_Integer)lua_tonumber(L, 1));
	return 1;
}

/* decode(text) -> value | nil, message: lua-cjson's decode (the upvalue),
 * then json_integers; one call from Lua instead of a pcall and a call. */
static int
decode_to_integers(lua_State *L)
{
	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		luaL_tolstring(L, -1, NULL);
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	if (lua_type(L, 1) == LUA_TTABLE)
		to_integers(L, 1, 1);
	else if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1) &&
		 is_safe_integral(lua_tonumber(L, 1)))
		lua_pushinteger(L, (lua_Integer)lua_tonumber(L, 1));
	return 1;
}

static int
json_decoder(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_pushcclosure(L, decode_to_integers, 1);
	return 1;
}
#endif

static const luaL_Reg json_funcs[] = {
	{ "json_inexact", json_inexact },
	{ "json_number", json_number },
#if LUA_VERSION_NUM >= 503
	{ "json_integers", json_integers },
	{ "json_decoder", json_decoder },
#endif
	{ NULL, NULL }
};

void
xrt_open_json(lua_State *L)
{
	luaL_setfuncs(L, json_funcs, 0);
}
