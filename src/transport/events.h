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
#include "events.def"
	XEV_COUNT
};

/* Error kinds carried by XEV_ERROR: XERR_<ID>, from 1 */
enum {
	XERR_NONE_,
#define XRT_ERROR(ID, name) XERR_##ID,
#include "events.def"
	XERR_COUNT
};

/* The sides that receive events, each with its own fields per kind. */
enum { XRT_SIDE_CLIENT, XRT_SIDE_SERVER, XRT_SIDES };

/* The most fields an event carries: what Lua passes on to a handler. */
#define XRT_MAX_FIELDS 3

#endif
