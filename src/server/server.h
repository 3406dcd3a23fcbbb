/*
 * server.h - a listening WebSocket and HTTP server (server.c).
 *
 * The functions marked "Lua thread" are what the binding (lua_server.c)
 * calls.  struct xrt_server is the unit's own (server_internal.h); other
 * units hold an xrt_server * and may use it as its xrt_endpoint (the
 * first member).
 */
#ifndef XRT_SERVER_H
#define XRT_SERVER_H

#include "events.h"
#include "loop.h"
#include "wsframe.h"

/* The server's commands (besides the loop's XCMD_RESUME, _RELEASE, _WRITE) */
enum {
	XCMD_LISTEN = XCMD_KIND, XCMD_ACCEPT, XCMD_RESPOND, XCMD_SOCK_CLOSE,
	XCMD_SERVER_CLOSE
};

#define XRT_SERVER_TX 16384	/* bytes of frames a server socket writes at once */

typedef struct xrt_server_opts {
	const char *host;
	int port;
	size_t max_frame, max_queue, max_head, max_body, in_limit;
	const char *cert, *key;
	double ping_interval;
} xrt_server_opts;

typedef struct xrt_server xrt_server;
typedef struct xrt_sock xrt_sock;

/* what the loop calls (server.c): commands, shutdown, destroy */
extern const xrt_ep_ops xrt_server_ops;

/* Lua thread */
xrt_server *xrt_server_new(xrt_loop *loop, const xrt_server_opts *o);
/* Queues frame to each listed socket; returns how many took it. */
int xrt_server_send(xrt_server *s, const uint64_t *ids, size_t n,
		    int opcode, const void *data, size_t len);
int xrt_server_counts(xrt_server *s, uint64_t id, uint64_t *in,
		      uint64_t *out);
/* The server's counts: data frames taken in and sent, sockets open. */
void xrt_server_stats(xrt_server *s, uint64_t *in, uint64_t *out,
		      size_t *socks);

#endif
