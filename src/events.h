/*
 * events.h - what the service thread tells Lua: the event kinds an
 * endpoint queues (xrt_ep_event) and the error kinds of XEV_ERROR.
 */
#ifndef XRT_EVENTS_H
#define XRT_EVENTS_H

/* Events, service thread -> Lua */
enum {
	XEV_CONNECTED = 1,	/* client: link up */
	XEV_CLOSED,		/* client: an attempt or a link ended: a=code, b=was open, buf=reason */
	XEV_RETRY,		/* client: next attempt in a ms */
	XEV_STOPPED,		/* endpoint finished a voluntary close */
	XEV_FRAME,		/* a text frame: buf; server: a=socket id, b=opcode */
	XEV_ERROR,		/* a=error kind, buf=message, buf2=related data */
	XEV_LISTENING,		/* server: a=port */
	XEV_UPGRADE,		/* server: a=socket id, buf=path, buf2=subprotocol header */
	XEV_REQUEST,		/* server: a=socket id, buf=body, buf2=request head */
	XEV_GONE,		/* server: a=socket id, b=close code */
	XEV_LOCAL		/* Lua posted work for itself (makes the fd readable) */
};

/* Error kinds carried by XEV_ERROR */
enum {
	XERR_FRAME_TOO_BIG = 1,	/* inbound frame above max_frame, discarded */
	XERR_BINARY,		/* inbound binary frame, discarded */
	XERR_UTF8,		/* inbound text frame not UTF-8, discarded */
	XERR_PAUSED,		/* inbound limit reached, reading paused */
	XERR_LISTEN		/* server could not listen */
};

#endif
