/*
 * lua_members.c - core.json_members(text, decode): the top-level members
 * of a JSON object as { key = raw value text }, for the bundled server,
 * which relays values byte for byte as their sender wrote them.
 *
 * text must already be valid JSON (the server decodes it with lua-cjson
 * first); this only finds the spans.  Returns nil when text is not an
 * object, or when a string in it holds a raw control character (below
 * 0x20), which lua-cjson lets through and JSON (and JSON.parse) forbids.
 * A key written with escapes is decoded with decode (xano.realtime.json's
 * decode) from its quoted text.  When a key repeats, the last one counts,
 * as in lua-cjson.
 *
 * In C because it runs on every frame the server receives: the same scan
 * in Lua (string.find and string.sub per token) took 4.6 us of a 7.5 us
 * message frame on Lua 5.4.
 */
#include "lua_binding.h"

#include <string.h>

static size_t
skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i;
}

/* s[i] is '"': the index of the closing quote, or len when the string
 * does not end or holds a raw control character */
static size_t
string_end(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			return i;
		if (c < 0x20)
			return len;
		if (c == '\\')
			i++;	/* the escaped character, whatever it is */
	}
	return len;
}

/* The index of the last byte of the value that starts at s[i], or len
 * when it does not end (or holds a raw control character in a string).
 * *empty is set for a scalar with no text before its terminator. */
static size_t
value_end(const char *s, size_t len, size_t i, int *empty)
{
	*empty = 0;
	if (i >= len)
		return len;
	if (s[i] == '"')
		return string_end(s, len, i);
	if (s[i] == '{' || s[i] == '[') {
		size_t depth = 0;

		for (; i < len; i++) {
			char c = s[i];

			if (c == '"') {
				i = string_end(s, len, i);
				if (i == len)
					return len;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (--depth == 0)
					return i;
			}
		}
		return len;
	}
	/* a number, true, false or null: up to the next terminator */
	{
		size_t k = i;

		while (k < len && s[k] != ',' && s[k] != '}' && s[k] != ']' &&
		       s[k] != ' ' && s[k] != '\t' && s[k] != '\r' && s[k] != '\n')
			k++;
		if (k == i) {
			*empty = 1;
			return i;
		}
		return k - 1;	/* up to the end of the text when none follows */
	}
}

static int
json_members(lua_State *L)
{
	size_t len, i;
	const char *s = luaL_checklstring(L, 1, &len);

	luaL_checktype(L, 2, LUA_TFUNCTION);
	i = skip_ws(s, len, 0);
	if (i >= len || s[i] != '{')
		return 0;
	lua_newtable(L);
	i = skip_ws(s, len, i + 1);
	if (i < len && s[i] == '}')
		return 1;
	for (;;) {
		size_t ke, ve;
		int empty;

		if (i >= len || s[i] != '"')
			return 0;
		ke = string_end(s, len, i);
		if (ke == len)
			return 0;
		if (memchr(s + i + 1, '\\', ke - i - 1)) {
			lua_pushvalue(L, 2);
			lua_pushlstring(L, s + i, ke - i + 1);
			lua_call(L, 1, 1);
		} else {
			lua_pushlstring(L, s + i + 1, ke - i - 1);
		}
		i = skip_ws(s, len, ke + 1);
		if (i >= len || s[i] != ':')
			return 0;
		i = skip_ws(s, len, i + 1);
		ve = value_end(s, len, i, &empty);
		if (ve == len)
			return 0;
		if (empty)
			lua_pushliteral(L, "");
		else
			lua_pushlstring(L, s + i, ve - i + 1);
		lua_rawset(L, -3);
		i = skip_ws(s, len, (empty ? ve : ve + 1));
		if (i < len && s[i] == '}')
			return 1;
		if (i >= len || s[i] != ',')
			return 0;
		i = skip_ws(s, len, i + 1);
	}
}

void
xrt_open_members(lua_State *L)
{
	lua_pushcfunction(L, json_members);
	lua_setfield(L, -2, "json_members");
}
