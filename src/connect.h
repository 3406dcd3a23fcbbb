/*
 * connect.h - one connection attempt raced over every address of a host
 * (connect.c, RFC 8305), for the client.  Service thread only.
 */
#ifndef XRT_CONNECT_H
#define XRT_CONNECT_H

#include "resolve.h"

typedef struct xrt_client xrt_client;

/* One address of an attempt's race. */
typedef struct xrt_try {
	char addr[48];		/* numeric */
	struct lws *wsi;	/* while connecting */
	int state;		/* XTRY_* */
	char why[64];		/* what this address said */
} xrt_try;

enum { XTRY_WAITING = 0, XTRY_CONNECTING, XTRY_FAILED, XTRY_WON };

typedef struct xrt_race {
	xrt_try tries[XRT_MAX_ADDRS];
	int n, next, live;
	int dialing;		/* index being handed to lws, -1 when none */
	int active;		/* racing: no address has connected yet */
	lws_sorted_usec_list_t sul_next;
} xrt_race;

/* The race of an attempt to the addresses (a list, see resolve.h). */
void xrt_race_start(xrt_client *c, const char *addrs);
/* 1 when wsi is one of the race's connections (the callback is handled) */
int xrt_race_callback(xrt_client *c, struct lws *wsi,
		      enum lws_callback_reasons reason, void *in, size_t len);
void xrt_race_cancel(xrt_client *c);
/* "addr: what it said; ..." for a failure's reason */
void xrt_race_describe(xrt_client *c, char *out, size_t len);

/* What the race asks of the client: a connection to addr through lws
 * (NULL when it failed at once), the winner once its TCP connection is
 * up, and the end of a race that nothing won. */
struct lws *xrt_client_dial(xrt_client *c, const char *addr);
void xrt_client_race_won(xrt_client *c, struct lws *wsi, const char *addr);
void xrt_client_race_lost(xrt_client *c, const char *reason);

#endif
