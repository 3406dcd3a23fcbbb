/*
 * lua_events.c - the C side of the event boundary: hands an event to Lua
 * as its name followed by its fields, typed as events.def says, and
 * exports that description as core.events for the Lua layer to check its
 * handlers against.
 *
 * No table is made per event: the fields go on the stack as next()'s
 * results, and the description is a constant walked in order.
 */
#include "lua_binding.h"
#include "wsframe.h"

enum { SLOT_END, SLOT_a, SLOT_b, SLOT_buf, SLOT_buf2 };
enum {
	TYPE_integer, TYPE_boolean, TYPE_seconds, TYPE_string,
	TYPE_error_kind, TYPE_opcode
};

static const char *const slot_names[] = { "", "a", "b", "buf", "buf2" };

static const char *const type_names[] = {
	"integer", "boolean", "seconds", "string", "error_kind", "opcode"
};

static const char *const kind_names[XEV_COUNT] = {
	NULL,
#define XRT_KIND(ID, name) #name,
#include "events.def"
};

static const char *const error_names[XERR_COUNT] = {
	NULL,
#define XRT_ERROR(ID, name) #name,
#include "events.def"
};

/* The event and field lines of events.def, numbered in order: LINE_<SIDE>_<ID>
 * for an event's own line, its fields after it. */
#define LINE_CAT_(a, b) a##b
#define LINE_CAT(a, b) LINE_CAT_(a, b)
enum {
#define XRT_EVENT(SIDE, ID) LINE_##SIDE##_##ID,
#define XRT_FIELD(slot, name, type) LINE_CAT(LINE_FIELD_, __LINE__),
#include "events.def"
	LINE_COUNT
};

/* The same lines: an event's own line ends the fields of the one before
 * it (slot SLOT_END), and one more ends the last. */
typedef struct line {
	unsigned char slot;
	unsigned char type;
	const char *name;
} line;

static const line lines[LINE_COUNT + 1] = {
#define XRT_EVENT(SIDE, ID) { SLOT_END, 0, NULL },
#define XRT_FIELD(slot, name, type) { SLOT_##slot, TYPE_##type, #name },
#include "events.def"
	{ SLOT_END, 0, NULL }
};

/* first[side][kind]: the line of the kind's first field as side receives
 * it (its end line when it has none); 0 when side never receives it. */
static const unsigned short first[XRT_SIDES][XEV_COUNT] = {
#define XRT_EVENT(SIDE, ID) [XRT_SIDE_##SIDE][XEV_##ID] = LINE_##SIDE##_##ID + 1,
#include "events.def"
};

static const char *const side_names[XRT_SIDES] = { "client", "server" };

static void
push_name(lua_State *L, const char *const *names, int64_t n, int64_t v)
{
	if (v > 0 && v < n)
		lua_pushstring(L, names[v]);
	else
		lua_pushnil(L);
}

/* Pushes the event's name, then its fields; returns how many values. */
int
xrt_lua_push_event(lua_State *L, int side, const xrt_item *it)
{
	const line *l;
	int n = 1;

	if (it->kind <= 0 || it->kind >= XEV_COUNT || !first[side][it->kind])
		return luaL_error(L, "xano.realtime: a %s received event %d, "
				  "which events.def does not describe for it",
				  side_names[side], it->kind);
	lua_pushstring(L, kind_names[it->kind]);
	for (l = &lines[first[side][it->kind]]; l->slot != SLOT_END; l++, n++) {
		int64_t v = l->slot == SLOT_a ? it->a : it->b;
		const xrt_buf *b = l->slot == SLOT_buf ? it->buf : it->buf2;

		switch (l->type) {
		case TYPE_integer:
			lua_pushinteger(L, (lua_Integer)v);
			break;
		case TYPE_boolean:
			lua_pushboolean(L, v != 0);
			break;
		case TYPE_seconds:
			lua_pushnumber(L, (lua_Number)v / 1000);
			break;
		case TYPE_error_kind:
			push_name(L, error_names, XERR_COUNT, v);
			break;
		case TYPE_opcode:
			if (v == XRT_WS_TEXT)
				lua_pushliteral(L, "text");
			else if (v == XRT_WS_BINARY)
				lua_pushliteral(L, "binary");
			else
				lua_pushnil(L);
			break;
		default:	/* TYPE_string */
			if (b)
				lua_pushlstring(L, (const char *)xrt_buf_data(b),
						b->len);
			else
				lua_pushnil(L);
			break;
		}
	}
	return n;
}

/* core.events: { client = { <name> = { {name =, type =}, ... }, ... },
 * server = { ... }, error_kinds = { <name>, ... }, max_fields = n } */
void
xrt_open_events(lua_State *L)
{
	int side, k, i;

	lua_createtable(L, 0, XRT_SIDES + 2);
	for (side = 0; side < XRT_SIDES; side++) {
		lua_newtable(L);
		for (k = 1; k < XEV_COUNT; k++) {
			const line *l;

			if (!first[side][k])
				continue;
			lua_newtable(L);
			i = 0;
			for (l = &lines[first[side][k]]; l->slot != SLOT_END; l++) {
				int text = l->slot == SLOT_buf || l->slot == SLOT_buf2;

				if (++i > XRT_MAX_FIELDS)
					luaL_error(L, "events.def: the %s's %s event "
						   "has more than %d fields",
						   side_names[side], kind_names[k],
						   XRT_MAX_FIELDS);
				if (text != (l->type == TYPE_string))
					luaL_error(L, "events.def: the %s's %s event: "
						   "a field of type %s cannot come "
						   "from slot %s", side_names[side],
						   kind_names[k], type_names[l->type],
						   slot_names[l->slot]);
				lua_createtable(L, 0, 2);
				lua_pushstring(L, l->name);
				lua_setfield(L, -2, "name");
				lua_pushstring(L, type_names[l->type]);
				lua_setfield(L, -2, "type");
				lua_rawseti(L, -2, i);
			}
			lua_setfield(L, -2, kind_names[k]);
		}
		lua_setfield(L, -2, side_names[side]);
	}
	lua_createtable(L, XERR_COUNT - 1, 0);
	for (k = 1; k < XERR_COUNT; k++) {
		lua_pushstring(L, error_names[k]);
		lua_rawseti(L, -2, k);
	}
	lua_setfield(L, -2, "error_kinds");
	lua_pushinteger(L, XRT_MAX_FIELDS);
	lua_setfield(L, -2, "max_fields");
	lua_setfield(L, -2, "events");
}
