/*
 * loop_internal.h - struct xrt_loop and what the loop's own files share
 * (loop.c, endpoint.c, signal.c).  Other units use the accessors of
 * loop.h (xrt_loop_lock, xrt_loop_context, ...).
 */
#ifndef XRT_LOOP_INTERNAL_H
#define XRT_LOOP_INTERNAL_H

#include "loop.h"

#define XRT_KINDS_MAX 4		/* kinds in xrt_kinds */
#define XRT_DATA_MAX 4		/* units keeping data per loop */

typedef struct xrt_loop_datum {
	const void *key;
	void *data;
	void (*release)(void *data);
} xrt_loop_datum;

struct xrt_loop {
	pthread_mutex_t mu;
	pthread_t thread;
	int thread_started;
	struct lws_context *ctx;
	struct lws_vhost *vh;	/* the loop's vhost: every kind's protocol */
	/* its protocols: the kinds', the loop's own, the terminator */
	struct lws_protocols protocols[XRT_KINDS_MAX + 2];
	lws_sorted_usec_list_t sul_cmds;
	lws_sorted_usec_list_t sul_stop;
	xrt_fifo cmds;		/* under mu */
	xrt_signal sig;		/* any endpoint has events */
	size_t pending;		/* under mu: events waiting, all endpoints */
	int refs;		/* under mu: Lua handle + endpoints */
	int stop;		/* under mu: 1 = shut down, 2 = exit now */
	xrt_endpoint *eps;	/* under mu */
	xrt_endpoint *staged;	/* service: endpoints with staged events */
	int shutting;		/* service: shutdown begun */
	xrt_loop_datum data[XRT_DATA_MAX];	/* service: xrt_loop_data */
	struct xrt_loop *next_live;	/* under live_mu (loop.c) */
	uint64_t rng;		/* service */
};

/* The signal rules (signal.c), under mu: see xrt_signal in loop.h. */
int xrt_sig_init(xrt_signal *s);
void xrt_sig_filled(xrt_signal *s);	/* events now wait where there were none */
void xrt_sig_emptied(xrt_signal *s);	/* no event waits any more */
int xrt_sig_export(xrt_signal *s, size_t waiting);
/* 1 when fd is readable within timeout (s), 0 if not, -1 on a signal */
int xrt_poll_fd(int fd, double timeout);

/* Set on every service thread: xrt_ep_event() stages what it is given
 * there, and hands it over at once from a Lua thread. */
extern _Thread_local int xrt_on_service_thread;

#endif
