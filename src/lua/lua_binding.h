/*
 * lua_binding.h - what the Lua binding files (lua_*.c) share: the handle
 * on the Lua state's service loop and the common endpoint methods.
 */
#ifndef XRT_LUA_BINDING_H
#define XRT_LUA_BINDING_H

#include "compat.h"
#include "events.h"
#include "loop.h"

#define XRT_LOOP_MT "xano.realtime.loop"
#define XRT_CLIENT_MT "xano.realtime.core.client"
#define XRT_SERVER_MT "xano.realtime.core.server"

/* The Lua state's loop, one per state, anchored while endpoints live. */
typedef struct xrt_loop_handle {
	xrt_loop *loop;
	int endpoints;		/* open endpoint handles */
} xrt_loop_handle;

/* Every endpoint handle starts with this. */
typedef struct xrt_ep_handle {
	xrt_endpoint *ep;	/* NULL once closed */
	xrt_loop_handle *lh;
} xrt_ep_handle;

/* Limits for xrt_opt_num: seconds, and counts or byte sizes (2^53). */
#define XRT_MAX_SECONDS 1e9
#define XRT_MAX_COUNT 9007199254740992.0

double xrt_opt_num(lua_State *L, int t, const char *k, double def, double max);
/* The same for a setting that must be given: "option 'k' is required". */
void xrt_need(lua_State *L, int t, const char *k);	/* raises when t.k is nil */
double xrt_need_num(lua_State *L, int t, const char *k, double max);
const char *xrt_need_str(lua_State *L, int t, const char *k);
const char *xrt_opt_str(lua_State *L, int t, const char *k, const char *def);

xrt_loop_handle *xrt_lua_loop(lua_State *L);
void xrt_lua_ep_opened(lua_State *L, xrt_ep_handle *h);
void xrt_lua_ep_closed(lua_State *L, xrt_ep_handle *h);
/* the event as side receives it: its name, then its fields (lua_events.c) */
int xrt_lua_push_event(lua_State *L, int side, const xrt_item *it);
/* wait([timeout]) for an endpoint (ep) or, ep NULL, any of the loop */
int xrt_lua_wait(lua_State *L, xrt_loop *loop, xrt_endpoint *ep, int arg);

void xrt_open_client(lua_State *L);
void xrt_open_server(lua_State *L);
void xrt_open_json(lua_State *L);
void xrt_open_members(lua_State *L);
void xrt_open_events(lua_State *L);

#endif
