/*
 * connect.h - one connection attempt raced over every address of a host
 * (connect.c, RFC 8305).  Service thread only.  The race knows nothing of
 * its owner: it asks it for each connection (dial) and tells it the
 * winner or the loss through the ops it was given.
 */
#ifndef XRT_CONNECT_H
#define XRT_CONNECT_H

#include "resolve.h"

/* One address of an attempt's race. */
typedef struct xrt_try {
	char addr[48];		/* numeric */
	struct lws *wsi;	/* while connecting */
	int state;		/* XTRY_* */
	char why[64];		/* what this address said */
} xrt_try;

enum { XTRY_WAITING = 0, XTRY_CONNECTING, XTRY_FAILED, XTRY_WON };

typedef struct xrt_race_ops {
	/* a connection through lws to addr (NULL when it failed at once) */
	struct lws *(*dial)(void *owner, const char *addr);
	/* the winner, once its TCP connection is up */
	void (*won)(void *owner, struct lws *wsi, const char *addr);
	/* every address failed: why (see xrt_race_describe) */
	void (*lost)(void *owner, const char *reason);
} xrt_race_ops;

typedef struct xrt_race {
	struct lws_context *ctx;
	const xrt_race_ops *ops;
	void *owner;
	xrt_try tries[XRT_MAX_ADDRS];
	int n, next, live;
	int dialing;		/* index being handed to lws, -1 when none */
	int active;		/* racing: no address has connected yet */
	lws_sorted_usec_list_t sul_next;
} xrt_race;

void xrt_race_init(xrt_race *r, struct lws_context *ctx,
		   const xrt_race_ops *ops, void *owner);
/* The race of an attempt to the addresses (a list, see resolve.h). */
void xrt_race_start(xrt_race *r, const char *addrs);
/* 1 when wsi is one of the race's connections (the callback is handled) */
int xrt_race_callback(xrt_race *r, struct lws *wsi,
		      enum lws_callback_reasons reason, void *in, size_t len);
void xrt_race_cancel(xrt_race *r);
/* "addr: what it said, ..." for a failure's reason */
void xrt_race_describe(const xrt_race *r, char *out, size_t len);

#endif
