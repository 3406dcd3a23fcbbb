/*
 * server_sock.h - one connection of the server, private to the server unit:
 * its phases, its state, and what server.c (the listener, the commands,
 * the lws callback) asks of server_sock.c (the connection's HTTP request,
 * WebSocket frames and writes).
 */
#ifndef XRT_SERVER_SOCK_H
#define XRT_SERVER_SOCK_H

#include "http.h"
#include "server_internal.h"

enum {
	PH_HEAD = 0,		/* reading the request head */
	PH_BODY,		/* reading a request body */
	PH_WAIT,		/* Lua decides: upgrade or response */
	PH_WS,			/* WebSocket open */
	PH_CLOSING,		/* our close frame sent, waiting for the reply */
	PH_DONE			/* last bytes queued, close after writing */
};

struct xrt_sock {
	uint64_t id;
	struct lws *wsi;
	xrt_server *srv;
	xrt_sock *hnext;
	int phase;
	int known;		/* Lua heard of it */
	int upgrade;		/* PH_WAIT for an upgrade, not a request */
	int dirty, overflow, paused;	/* under mu */
	int close_wanted;		/* under mu: our close code, after the data */
	char close_reason[124];
	int close_code;
	xrt_buf *head;		/* request head and body, or early frames */
	size_t headlen, body_need;
	xrt_wsparser ws;
	xrt_fifo out;		/* under mu: data frames from Lua */
	xrt_fifo ctl;		/* service: responses and control frames */
	int64_t last_rx;
	int ping_out;
	uint64_t frames_in, frames_out;	/* under mu: data frames, for the console */
};

/* Service thread.  A control frame (a pong, a ping, a close) queued ahead of
 * the data frames; close_after: close once it is written. */
void xrt_sock_queue_frame(xrt_sock *k, int opcode, const void *p, size_t len,
			  int close_after);
/* Our close with code, after the data frames already queued; the caller
 * holds mu for the _locked form. */
void xrt_sock_close_locked(xrt_sock *k, int code, const char *reason);
void xrt_sock_close(xrt_sock *k, int code, const char *reason);
/* The answer to a plain HTTP request; the socket closes once it is sent. */
void xrt_sock_respond(xrt_sock *k, int status, const char *ctype,
		      const void *body, size_t len);
/* Lua accepted the upgrade request, with this subprotocol (or none). */
void xrt_sock_accept(xrt_sock *k, xrt_buf *proto);
/* Bytes read from the socket; the socket may write. */
void xrt_sock_rx(xrt_sock *k, const unsigned char *in, size_t len);
int xrt_sock_writable(xrt_sock *k);

/* server_listen.c, service thread: the listening socket's fd (the port it
 * got in s->port), or -1 and why in msg; the connections waiting on it. */
int xrt_server_open_listener(xrt_server *s, char *msg, size_t msglen);
void xrt_server_accept_pending(xrt_server *s);

#endif
