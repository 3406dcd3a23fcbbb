/*
 * client_internal.h - struct xrt_client and what the client unit's files
 * share: client.c (lifetime, the outgoing stream, the Lua-thread API),
 * client_link.c (attempts, timers and commands on the service thread),
 * client_wire.c (the libwebsockets callback: receive and the writer).
 * Every other unit goes through client.h.
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

/* client_link.c: what the address race calls (dial, won, lost), handed to
 * xrt_race_init by xrt_client_new. */
extern const xrt_race_ops xrt_client_race_ops;

/* client_tls.c: the client's lws protocol, and a terminator. */
extern const struct lws_protocols xrt_client_protocols[2];
/* client_tls.c: a vhost for outgoing connections with TLS trust (ca_file,
 * NULL: the system's) and an HTTP proxy ("[user:pass@]addr:port", numeric,
 * or NULL): lws 4.1.6 keeps both per vhost.  Service thread; NULL and err
 * on failure. */
struct lws_vhost *xrt_client_vhost(xrt_loop *loop, int tls,
				   const char *ca_file, const char *proxy,
				   char *err, size_t errlen);
/* client_tls.c: a connection through lws to one numeric address of the
 * host (or of the proxy); NULL when it failed at once. */
struct lws *xrt_client_dial(xrt_client *c, const char *addr);
/* client_tls.c: LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION's
 * check of the server's certificate; 1 fails the handshake. */
int xrt_client_check_cert(xrt_client *c, void *user, size_t len);

/* client.c: both threads let go of the client. */
void xrt_client_destroy(xrt_client *c);

/* client_wire.c: the lws callback of the client's protocol. */
int xrt_client_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);

/* The outgoing stream (client.c), under mu. */
int xrt_client_join_add(xrt_client *c, int64_t tag, xrt_buf *frame);
xrt_buf *xrt_client_join_remove(xrt_client *c, int64_t tag);
xrt_item *xrt_client_pop_frame(xrt_client *c);
void xrt_client_skip_left(xrt_client *c);	/* a new link: see client.c */

/* The link's life (client_link.c), service thread. */
void xrt_client_set_state(xrt_client *c, int state);	/* takes mu */
void xrt_client_set_reason(xrt_client *c, const char *why);
void xrt_client_attempt_ended(xrt_client *c);
void xrt_client_deadline_fire(lws_sorted_usec_list_t *sul);
void xrt_client_ping_fire(lws_sorted_usec_list_t *sul);

#endif
