/*
 * client_internal.h - struct xrt_client, shared by the client unit's own
 * files (client*.c, connect.c); every other unit goes through client.h.
 */
#ifndef XRT_CLIENT_INTERNAL_H
#define XRT_CLIENT_INTERNAL_H

#include "client.h"

struct xrt_client {
	xrt_endpoint ep;	/* first: an xrt_client is an xrt_endpoint */
	/* fixed at creation */
	char *host, *path, *ca_file;
	char *resolve;		/* pinned addresses, or NULL */
	char *proxy_host, *proxy_auth;	/* or NULL */
	int port, tls, verify, proxy_port;
	int64_t reconnect_initial_us, reconnect_max_us, stable_after_us;
	int64_t ping_interval_us, ping_timeout_us, connect_timeout_us;
	int64_t handshake_timeout_us, drain_timeout_us;
	size_t queue_limit, send_limit, max_frame;
	/* under mu */
	char *token;
	int state;
	xrt_fifo out;		/* the outgoing stream, XRT_FRAME_* items */
	size_t ndata;		/* XRT_FRAME_DATA items in out */
	xrt_join *joins;	/* joined at the head of out */
	int njoins, capjoins, join_cursor;
	int write_queued;
	int start_pending;	/* start() asked, XCMD_START not yet run */
	int16_t policy[64];
	int npolicy;
	xrt_stats stats;
	char last_close_reason[320];
	/* service thread */
	struct lws *wsi;
	lws_sorted_usec_list_t sul_retry, sul_ping, sul_deadline;
	int attempt, was_open, ping_pending, stop_final, restart;
	int peer_code, our_code, http_status;
	char reason[320];
	int64_t opened_at, last_rx, ping_sent;
	xrt_buf *rx;
	xrt_buf *tx;		/* copy of the frame being written */
	int rx_skip;		/* discarding the rest of an oversized message */
	int rx_binary;
	size_t rx_total;
	int closing;		/* 1: drain, then close; 2: close frame sent */
	int no_drain;		/* closing a link without writing more on it */
	int flush_stop;		/* stop once the queued actions are written */
	int in_connect, sync_failed;
	int resolving;		/* waiting for the addresses of host (or proxy) */
	xrt_race race;		/* the addresses being tried (connect.c) */
	char proxy_addr[48];	/* the proxy address that connected */
	uint64_t proxy_asking;	/* id of the question to the proxy, 0: none */
};

/* What the address race asks of the client (client_ops.c hands them over
 * as xrt_client_race_ops): a connection to addr through lws, the winner,
 * the end of a race that nothing won. */
struct lws *xrt_client_dial(xrt_client *c, const char *addr);
void xrt_client_race_won(xrt_client *c, struct lws *wsi, const char *addr);
void xrt_client_race_lost(xrt_client *c, const char *reason);
extern const xrt_race_ops xrt_client_race_ops;

#endif
