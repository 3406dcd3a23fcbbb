/*
 * compat.h - the one place where Lua versions differ.
 *
 * The core is written against the Lua 5.4 API; this header maps the few
 * calls it uses onto Lua 5.1, LuaJIT 2.1 and Lua 5.3.  No other file tests
 * LUA_VERSION_NUM.
 */
#ifndef XRT_COMPAT_H
#define XRT_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/*
 * Lua 5.1 and LuaJIT 2.1.  LuaJIT's lauxlib.h already has some of these
 * (luaL_setfuncs, luaL_testudata, luaL_setmetatable as functions,
 * luaL_newlib as a macro) and Lua 5.1's has none: the same static copies
 * serve both, under our own names so no symbol is defined twice.
 */
#undef luaL_newlibtable
#undef luaL_newlib
#define luaL_newlibtable(L, l) lua_createtable((L), 0, sizeof(l) / sizeof((l)[0]) - 1)
#define luaL_newlib(L, l) (luaL_newlibtable((L), (l)), xrt_setfuncs((L), (l), 0))
#define luaL_setfuncs(L, l, n) xrt_setfuncs((L), (l), (n))
#define luaL_testudata(L, i, t) xrt_testudata((L), (i), (t))
#define luaL_setmetatable(L, t) (luaL_getmetatable((L), (t)), lua_setmetatable((L), -2))
#define lua_rawlen(L, i) lua_objlen((L), (i))
#define lua_absindex(L, i) \
	(((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)

static inline void
xrt_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
	luaL_checkstack(L, nup + 1, "too many upvalues");
	for (; l->name; l++) {
		int i;
		for (i = 0; i < nup; i++)
			lua_pushvalue(L, -nup);
		lua_pushcclosure(L, l->func, nup);
		lua_setfield(L, -(nup + 2), l->name);
	}
	lua_pop(L, nup);
}

static inline void *
xrt_testudata(lua_State *L, int i, const char *tname)
{
	void *p = lua_touserdata(L, i);
	if (p && lua_getmetatable(L, i)) {
		luaL_getmetatable(L, tname);
		if (!lua_rawequal(L, -1, -2))
			p = NULL;
		lua_pop(L, 2);
		return p;
	}
	return NULL;
}
#endif

#if LUA_VERSION_NUM < 503
#define lua_isinteger(L, i) 0
#endif

/* the module's one exported symbol, whatever -fvisibility says */
#define XRT_EXPORT __attribute__((visibility("default")))

#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, sz, nuv) lua_newuserdata((L), (sz))
#define luaL_pushfail(L) lua_pushnil(L)
#endif

#endif
