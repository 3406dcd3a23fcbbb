/*
 * server_internal.h - struct xrt_server, shared by the server unit's own
 * files (server*.c); every other unit goes through server.h.
 */
#ifndef XRT_SERVER_INTERNAL_H
#define XRT_SERVER_INTERNAL_H

#include "server.h"

struct xrt_server {
	xrt_endpoint ep;	/* first */
	char *host, *cert, *key;
	int want_port;
	size_t max_frame, max_queue, max_head, max_body;
	int64_t ping_interval_us;
	/* under mu */
	int port;
	uint64_t next_id;
	xrt_sock **map;		/* open hash by id */
	size_t mapcap, mapcount;
	uint64_t *dirty;
	size_t ndirty, capdirty;
	unsigned char *tx;	/* service: LWS_PRE + XRT_SERVER_TX, frames gathered for one write */
	int closing;
	uint64_t frames_in, frames_out;
	/* service thread */
	struct lws_vhost *vh;
	lws_sorted_usec_list_t sul_close, sul_ping, sul_finish;
	struct lws *lwsi;	/* the listening socket, adopted */
	int nsocks, closing_started, release;
};

#endif
