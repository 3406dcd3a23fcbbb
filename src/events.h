/*
 * events.h - the kinds of event the service thread hands to Lua and the
 * error kinds they carry, built from events.def (which also says what
 * each event carries and how Lua receives it: lua_events.c).
 */
#ifndef XRT_EVENTS_H
#define XRT_EVENTS_H

/* Events, service thread -> Lua: XEV_<ID>, from 1 */
enum {
	XEV_NONE_,
#define XRT_KIND(ID, name) XEV_##ID,
#define XRT_ERROR(ID, name)
#define XRT_EVENT(SIDE, ID)
#define XRT_FIELD(slot, name, type)
#include "events.def"
#undef XRT_KIND
#undef XRT_ERROR
#undef XRT_EVENT
#undef XRT_FIELD
	XEV_COUNT
};

/* Error kinds carried by XEV_ERROR: XERR_<ID>, from 1 */
enum {
	XERR_NONE_,
#define XRT_KIND(ID, name)
#define XRT_ERROR(ID, name) XERR_##ID,
#define XRT_EVENT(SIDE, ID)
#define XRT_FIELD(slot, name, type)
#include "events.def"
#undef XRT_KIND
#undef XRT_ERROR
#undef XRT_EVENT
#undef XRT_FIELD
	XERR_COUNT
};

/* The sides that receive events, each with its own fields per kind. */
enum { XRT_SIDE_CLIENT, XRT_SIDE_SERVER, XRT_SIDES };

/* The most fields an event carries: what Lua passes on to a handler. */
#define XRT_MAX_FIELDS 3

#endif
