/*
 * client.h - one outgoing WebSocket connection that stays up (client.c,
 * client_link.c, client_wire.c).
 *
 * The functions below are what the binding (lua_client.c) calls, on the
 * Lua thread; they take the loop's mutex.  The loop reaches the client
 * only through its ops table, xrt_client_ops.
 * struct xrt_client is the unit's own (client_internal.h); other units
 * hold an xrt_client * and may use it as its xrt_endpoint (the first
 * member).
 */
#ifndef XRT_CLIENT_H
#define XRT_CLIENT_H

#include "connect.h"
#include "events.h"
#include "loop.h"

typedef struct xrt_client xrt_client;

/* The client's commands (besides the loop's XCMD_RESUME, _RELEASE, _WRITE) */
enum { XCMD_START = XCMD_KIND, XCMD_STOP, XCMD_RECONNECT, XCMD_KILL };

enum {
	XRT_IDLE = 0, XRT_CONNECTING, XRT_OPEN, XRT_WAITING, XRT_DOWN,
	XRT_STOPPING, XRT_CLOSED
};

/* A client's outgoing stream is one FIFO in the order the app asked:
 * actions, and the join and leave of each channel.  The joins array holds
 * the channels joined at the head of that stream (what the server has,
 * once every frame written so far was read): the writer updates it as it
 * writes a join or a leave, and replays it first after every (re)connect,
 * before the FIFO goes on. */
enum { XRT_FRAME_DATA = 0, XRT_FRAME_JOIN, XRT_FRAME_LEAVE };

typedef struct xrt_join {
	int64_t tag;
	xrt_buf *frame;
} xrt_join;

typedef struct xrt_client_opts {
	const char *host;
	int port;
	const char *path;
	int tls, verify;
	const char *ca_file;
	const char *token;
	const char *resolve;	/* pinned numeric addresses of host, or NULL */
	const char *proxy_host;	/* HTTP proxy, or NULL */
	int proxy_port;
	const char *proxy_auth;	/* "user:pass" (decoded), or NULL */
	double reconnect_initial, reconnect_max, stable_after;
	double ping_interval, ping_timeout, connect_timeout, handshake_timeout;
	double drain_timeout;
	size_t queue_limit, send_limit, max_frame, in_limit;
} xrt_client_opts;

typedef struct xrt_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t dropped, reconnects, connects, pings, pongs;
	int last_close_code;
	double rtt;
} xrt_stats;

/* send() results */
enum { XSEND_OK = 0, XSEND_NOTCONN, XSEND_FULL, XSEND_CLOSED, XSEND_DROPPED };

extern const xrt_ep_ops xrt_client_ops;

/* Lua thread */
xrt_client *xrt_client_new(xrt_loop *loop, const xrt_client_opts *o);
int xrt_client_send(xrt_client *c, xrt_buf *frame, int64_t tag, int queue,
		    xrt_buf **dropped);
void xrt_client_start(xrt_client *c);
void xrt_client_open_channel(xrt_client *c, int64_t tag, xrt_buf *join);
void xrt_client_close_channel(xrt_client *c, int64_t tag, xrt_buf *leave,
			      xrt_fifo *dropped);
void xrt_client_take(xrt_client *c, xrt_fifo *out);
void xrt_client_set_token(xrt_client *c, const char *token);
/* The close codes (and HTTP statuses) after which the client reconnects:
 * none until set (the Lua layer sets its default at creation). */
void xrt_client_set_policy(xrt_client *c, const int *codes, int n);
int xrt_client_state(xrt_client *c);
void xrt_client_stats(xrt_client *c, xrt_stats *s, size_t *queued,
		      char *reason, size_t reasonlen);

#endif
