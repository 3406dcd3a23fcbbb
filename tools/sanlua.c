/*
 * sanlua.c - a minimal stand-in for the lua5.4 interpreter, built with a
 * sanitizer runtime (make tsan): "sanlua SCRIPT [ARGS...]" runs SCRIPT
 * with the standard libraries and the usual arg table.
 *
 * Why: a ThreadSanitizer build of the core needs the TSan runtime in the
 * process from the start.  LD_PRELOAD would do it, but every child the
 * specs start inherits it, and TSan preloaded into an uninstrumented
 * /bin/sh crashes.  An interpreter linked with the runtime needs no
 * preload.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

static int
traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

int
main(int argc, char **argv)
{
	lua_State *L;
	int i, status;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", argv[0]);
		return 2;
	}
	L = luaL_newstate();
	if (!L)
		return 1;
	luaL_openlibs(L);
	/* as lua.c: arg[-1] the interpreter, arg[0] the script, then ARGS */
	lua_createtable(L, argc, 1);
	for (i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - 1);
	}
	lua_setglobal(L, "arg");
	lua_pushcfunction(L, traceback);
	status = luaL_loadfile(L, argv[1]);
	if (status == LUA_OK) {
		for (i = 2; i < argc; i++)
			lua_pushstring(L, argv[i]);
		status = lua_pcall(L, argc - 2, 0, 1);
	}
	if (status != LUA_OK)
		fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
	lua_close(L);
	return status == LUA_OK ? 0 : 1;
}
