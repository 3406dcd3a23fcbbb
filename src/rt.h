/*
 * rt.h - what the C files of xano.realtime.core share.
 *
 * Frame buffers and FIFOs (queue.c), the WebSocket and HTTP codecs
 * (wsframe.c), the per-Lua-state service loop (loop.c) and its two kinds of
 * endpoint: an outgoing client connection (client.c) and a listening server
 * (server.c).  Only the binding files (lua_*.c) know Lua.
 *
 * Threads: the service thread runs libwebsockets and never touches a
 * lua_State; the Lua thread never calls libwebsockets except
 * lws_cancel_service().  Everything both threads touch is guarded by the
 * loop's one mutex, and is marked "under mu" below.
 */
#ifndef XRT_RT_H
#define XRT_RT_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ buffers */

/* Room before a payload: LWS_PRE for lws_write() and up to 14 bytes for a
 * server-side frame header written in front of the payload. */
#define XRT_HEADROOM (LWS_PRE + 16)
#define XRT_STAGE_MAX 32	/* events staged before a hand-over */
#define XRT_BATCH_MAX 64	/* events taken by the Lua thread at once */
#define XRT_SERVER_TX 16384	/* bytes of frames a server socket writes at once */

typedef struct xrt_buf {
	atomic_int refs;
	size_t len;		/* payload bytes */
	size_t cap;		/* payload bytes allocated */
	unsigned hlen;		/* frame header bytes just before the payload */
	unsigned char mem[];	/* XRT_HEADROOM + cap + 1 */
} xrt_buf;

#define xrt_buf_data(b) ((b)->mem + XRT_HEADROOM)

xrt_buf *xrt_buf_new(size_t cap);
xrt_buf *xrt_buf_from(const void *p, size_t len);
int xrt_buf_reserve(xrt_buf **b, size_t extra);
int xrt_buf_append(xrt_buf **b, const void *p, size_t len);
void xrt_buf_fit(xrt_buf **b);	/* capacity down to len; b not shared */
xrt_buf *xrt_buf_ref(xrt_buf *b);
void xrt_buf_unref(xrt_buf *b);

/* One queued thing: an outgoing frame, an event for Lua, or a command for
 * the service thread. */
typedef struct xrt_item {
	struct xrt_item *next;
	xrt_buf *buf;		/* payload (owned), may be NULL */
	xrt_buf *buf2;		/* second string of an event (owned), may be NULL */
	void *ptr;		/* command target */
	int kind;		/* event kind, command kind or frame opcode */
	int64_t a, b;		/* arguments; for a client frame, a is the channel
				 * tag and b its role (XRT_FRAME_*) */
} xrt_item;

typedef struct xrt_fifo {
	xrt_item *head, *tail;
	size_t count, bytes;
} xrt_fifo;

xrt_item *xrt_item_new(int kind, xrt_buf *buf);
void xrt_item_free(xrt_item *it);
void xrt_fifo_push(xrt_fifo *q, xrt_item *it);
void xrt_fifo_push_front(xrt_fifo *q, xrt_item *it);
void xrt_fifo_append(xrt_fifo *q, xrt_fifo *from);	/* moves every item */
xrt_item *xrt_fifo_pop(xrt_fifo *q);
void xrt_fifo_clear(xrt_fifo *q);
/* What a FIFO counts for an item in its bytes: the memory the item and its
 * buffers take (structs, headroom and capacity), not just payload bytes,
 * so that the byte limits (in_limit, send_limit, max_queue) also bound a
 * flood of tiny or empty frames. */
size_t xrt_item_cost(const xrt_item *it);

/* ---------------------------------------------------------------- codecs */

enum {
	XRT_WS_CONT = 0, XRT_WS_TEXT = 1, XRT_WS_BINARY = 2,
	XRT_WS_CLOSE = 8, XRT_WS_PING = 9, XRT_WS_PONG = 10
};

/* Streaming parser for frames a client sends to a server (masked). */
typedef struct xrt_wsparser {
	int state;
	unsigned char hdr[14];
	unsigned hdrlen, hdrneed;
	int opcode, fin;
	uint64_t remaining;
	unsigned char mask[4];
	unsigned maskpos;
	int msg_opcode;		/* data message being assembled, 0 if none */
	xrt_buf *msg;
	unsigned char ctl[125];
	size_t ctllen;
	size_t max_message;
	int failed;		/* first non-zero result; the parser is stopped */
} xrt_wsparser;

/* Called for each complete message.  For data messages msg is handed over
 * (the callee owns it); for control frames ctl/len hold the payload.
 * A non-zero return stops the parser and is returned by xrt_ws_feed(). */
typedef int (*xrt_ws_cb)(void *ud, int opcode, xrt_buf *msg,
			 const unsigned char *ctl, size_t len);

void xrt_ws_init(xrt_wsparser *p, size_t max_message);
void xrt_ws_free(xrt_wsparser *p);
/* 0 when all input was consumed, a WebSocket close code (1002, 1007, 1009)
 * when the peer broke the protocol, or the callback's non-zero return.
 * After a non-zero result the parser is stopped: every later call returns
 * the same value and consumes nothing (the byte stream is out of step). */
int xrt_ws_feed(xrt_wsparser *p, const unsigned char *in, size_t len,
		xrt_ws_cb cb, void *ud);
/* Writes an unmasked FIN frame header for len payload bytes; returns its
 * length (2, 4 or 10). */
unsigned xrt_ws_header(unsigned char *dst, int opcode, size_t len);
/* The same with the mask bit set and the 4-byte key after it (a client's
 * frame); returns its length (6, 8 or 14). */
#define XRT_WS_MAX_HEADER 14
unsigned xrt_ws_header_masked(unsigned char *dst, int opcode, size_t len,
			      const unsigned char key[4]);
/* dst[i] = src[i] ^ key[i % 4] for a masked payload; dst may be src. */
void xrt_ws_mask(unsigned char *dst, const unsigned char *src, size_t len,
		 const unsigned char key[4]);
int xrt_utf8_valid(const unsigned char *s, size_t len);

typedef struct xrt_span { const char *p; size_t n; } xrt_span;

typedef struct xrt_http_req {
	xrt_span method, path;
	xrt_span upgrade, connection, ws_key, ws_version, ws_protocol;
	long long content_length;	/* -1 when absent */
} xrt_http_req;

/* Length of the request head including the blank line, 0 when incomplete. */
size_t xrt_http_head_len(const char *p, size_t len);
/* 0 on success, -1 when the head is malformed. */
int xrt_http_parse(const char *head, size_t len, xrt_http_req *r);
/* The same, calling field(ud, name, value) for every header field in
 * order (value without its surrounding blanks; name as sent). */
typedef void (*xrt_http_field_cb)(void *ud, xrt_span name, xrt_span value);
int xrt_http_parse_fields(const char *head, size_t len, xrt_http_req *r,
			  xrt_http_field_cb field, void *ud);
int xrt_span_has_token(xrt_span s, const char *token);
/* The status of an HTTP response head ("HTTP/1.x NNN reason", up to the
 * blank line that ends the head): 100-999, 0 while the head is not
 * complete, -1 when it is not HTTP or longer than 8 KiB.  The reason
 * phrase goes to reason (NUL-terminated, non-printable bytes as '?'). */
int xrt_http_status(const char *p, size_t len, char *reason, size_t reasonlen);
/* Sec-WebSocket-Accept for a key: 28 characters and a NUL. */
#define XRT_WS_ACCEPT_LEN 32
void xrt_ws_accept(const xrt_span *key, char out[XRT_WS_ACCEPT_LEN]);

/* ------------------------------------------------------------------ loop */

typedef struct xrt_loop xrt_loop;
typedef struct xrt_endpoint xrt_endpoint;

/* An eventfd that tells the Lua thread, or a host loop, that events wait.
 * It is only written when someone looks: while the Lua thread waits on it,
 * or once fd() handed it to a host loop, from when on it is readable
 * exactly while events wait.  A client that is simply polled costs no
 * system call per event. */
typedef struct xrt_signal {
	int fd;
	int exported;		/* under mu */
	int waiters;		/* under mu */
	int raised;		/* under mu: the eventfd holds a count */
} xrt_signal;

enum { XRT_CLIENT = 1, XRT_SERVER = 2 };

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

/* Commands, Lua -> service thread */
enum {
	XCMD_START = 1, XCMD_STOP, XCMD_RECONNECT, XCMD_WRITE, XCMD_RESUME,
	XCMD_RELEASE, XCMD_LISTEN, XCMD_ACCEPT, XCMD_RESPOND, XCMD_SOCK_CLOSE,
	XCMD_SERVER_CLOSE, XCMD_KILL, XCMD_RESOLVED, XCMD_PROXY_ANSWER
};

struct xrt_endpoint {
	xrt_loop *loop;
	int type;
	int refs;		/* under mu: the Lua handle and the service thread */
	xrt_signal sig;		/* events wait for Lua */
	xrt_fifo events;	/* under mu */
	/* The hand-offs are batched.  The service thread stages its events
	 * and hands them over under one lock after each pass of lws_service()
	 * (or every XRT_STAGE_MAX events); the Lua thread takes up to
	 * XRT_BATCH_MAX events under one lock and hands them to Lua one by
	 * one.  Taken events count as waiting (held) until the next take. */
	xrt_fifo staged;	/* service thread */
	xrt_endpoint *staged_next;	/* service thread: in loop->staged */
	int staged_on;		/* service thread: in loop->staged */
	xrt_fifo batch;		/* Lua thread: taken, not yet handed to Lua */
	size_t held, held_bytes;	/* under mu: taken at the last take */
	size_t in_limit;	/* event bytes above which reading pauses */
	int paused;		/* under mu */
	int lua_closed;		/* under mu */
	int service_done;	/* service thread let go of it */
	xrt_item *cur;		/* Lua thread: event last handed to Lua */
	xrt_endpoint *next;	/* under mu: in loop->eps */
};

struct xrt_loop {
	pthread_mutex_t mu;
	pthread_t thread;
	int thread_started;
	struct lws_context *ctx;
	struct lws_vhost *vh_client;	/* client vhost with the system CAs */
	struct xrt_ca_vhost *ca_vhosts;	/* service: client vhosts per CA file */
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
	struct xrt_dns *dns;	/* service: resolved names (resolve.c) */
	struct xrt_loop *next_live;	/* under live_mu (loop.c) */
	uint64_t rng;		/* service */
};

xrt_loop *xrt_loop_new(char *err, size_t errlen);
void xrt_loop_release(xrt_loop *loop);	/* the Lua handle lets go */
void xrt_loop_ref(xrt_loop *loop);	/* any thread */
void xrt_loop_unref(xrt_loop *loop);	/* any thread; frees on the last */
void xrt_loop_cmd(xrt_loop *loop, int kind, void *ptr, int64_t a, int64_t b,
		  xrt_buf *buf, xrt_buf *buf2);
void xrt_loop_wake(xrt_loop *loop);
double xrt_now(void);
void xrt_sleep(double seconds);	/* seconds >= 0 */
uint64_t xrt_random(xrt_loop *loop);

/* Endpoints: registration, events and waiting. */
int xrt_ep_init(xrt_endpoint *ep, xrt_loop *loop, int type, size_t in_limit);
void xrt_ep_unref(xrt_endpoint *ep);	/* under mu */
void xrt_ep_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b,
		  xrt_buf *buf, xrt_buf *buf2);	/* takes mu */
xrt_item *xrt_ep_next(xrt_endpoint *ep);	/* Lua thread; NULL when none */
size_t xrt_ep_backlog(const xrt_endpoint *ep);	/* service thread, under mu:
						 * bytes of events not yet handed to Lua */
void xrt_ep_rx_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b,
		     xrt_buf *buf, xrt_buf *buf2);	/* service thread: staged */
void xrt_loop_flush(xrt_loop *loop);	/* service thread: hand staged events over */
void xrt_ep_staged_check(xrt_endpoint *ep);	/* service thread, not under mu */
/* Lua thread: wait until events wait (1), timeout (0) or a caught signal
 * (-1); a negative timeout waits for ever. */
int xrt_ep_wait(xrt_endpoint *ep, double timeout);
int xrt_loop_wait(xrt_loop *loop, double timeout);
/* Lua thread: the descriptor for a host loop (see xrt_signal). */
int xrt_ep_fd(xrt_endpoint *ep);
int xrt_loop_fd(xrt_loop *loop);
void xrt_ep_release(xrt_endpoint *ep);	/* Lua handle lets go */
void xrt_ep_service_done(xrt_endpoint *ep);	/* service thread lets go */

/* Names resolved off the service thread (resolve.c).  An answer is a
 * list of numeric addresses separated by spaces, at most XRT_MAX_ADDRS,
 * in the order RFC 8305 tries them (families interleaved, the first
 * family the one getaddrinfo() put first). */
#define XRT_MAX_ADDRS 16
int xrt_is_numeric_host(const char *host);
/* in (a list) in that order; the resolve option's addresses go through it
 * too, as a DNS answer does */
void xrt_order_addresses(const char *in, char *out, size_t outlen);
const char *xrt_resolve(xrt_loop *loop, const char *host, int *pending,
			char *err, size_t errlen);
void xrt_resolved(xrt_loop *loop, xrt_item *cmd);
void xrt_dns_free(xrt_loop *loop);

/* Loop internals shared with client.c and server.c (service thread).
 * proxy: NULL, or lws's form of an HTTP proxy, "[user:pass@]addr:port"
 * with a numeric addr (a vhost per proxy: lws 4.1.6 keeps it there). */
struct lws_vhost *xrt_loop_client_vhost(xrt_loop *loop, int tls,
					const char *ca_file, const char *proxy,
					char *err, size_t errlen);
int xrt_loop_callback_common(struct lws *wsi, enum lws_callback_reasons reason);

/* ---------------------------------------------------------------- client */

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

/* One attempt's race over the addresses of a host (connect.c). */
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

typedef struct xrt_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t dropped, reconnects, connects, pings, pongs;
	int last_close_code;
	double rtt;
} xrt_stats;

typedef struct xrt_client {
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
} xrt_client;

/* send() results */
enum { XSEND_OK = 0, XSEND_NOTCONN, XSEND_FULL, XSEND_CLOSED, XSEND_DROPPED };

extern const int xrt_reconnect_codes[];	/* the default policy */
extern const int xrt_nreconnect_codes;
xrt_client *xrt_client_new(xrt_loop *loop, const xrt_client_opts *o);
int xrt_client_send(xrt_client *c, xrt_buf *frame, int64_t tag, int queue,
		    xrt_buf **dropped);
void xrt_client_start(xrt_client *c);
void xrt_client_open_channel(xrt_client *c, int64_t tag, xrt_buf *join);
void xrt_client_close_channel(xrt_client *c, int64_t tag, xrt_buf *leave,
			      xrt_fifo *dropped);
void xrt_client_take(xrt_client *c, xrt_fifo *out);
void xrt_client_set_token(xrt_client *c, const char *token);
void xrt_client_set_policy(xrt_client *c, const int *codes, int n);
int xrt_client_state(xrt_client *c);
void xrt_client_stats(xrt_client *c, xrt_stats *s, size_t *queued,
		      char *reason, size_t reasonlen);
void xrt_client_command(xrt_client *c, int kind);	/* service thread */
void xrt_client_resolved(xrt_client *c, const char *host, const char *addrs,
			 const char *err);		/* service thread */
/* What connect.c asks of client.c (service thread): a connection to
 * addr through lws (NULL when it failed at once), the winner once its TCP
 * connection is up, and the end of a race that nothing won. */
struct lws *xrt_client_dial(xrt_client *c, const char *addr);
void xrt_client_race_won(xrt_client *c, struct lws *wsi, const char *addr);
void xrt_client_race_lost(xrt_client *c, const char *reason);
/* proxy.c: the proxy said why it refused the tunnel (status 0: unknown) */
void xrt_client_proxy_refused(xrt_client *c, int status, const char *reason);

/* The address race of an attempt (connect.c, service thread) */
void xrt_race_start(xrt_client *c, const char *addrs);
/* 1 when wsi is one of the race's connections (the callback is handled) */
int xrt_race_callback(xrt_client *c, struct lws *wsi,
		      enum lws_callback_reasons reason, void *in, size_t len);
void xrt_race_cancel(xrt_client *c);
/* "addr: what it said; ..." for a failure's reason */
void xrt_race_describe(xrt_client *c, char *out, size_t len);

/* HTTP proxies (proxy.c).  lws 4.1.6 runs the CONNECT of a proxied
 * connection and keeps the proxy's answer to itself ("proxy not h1"): the
 * client asks the proxy again, off the service thread, to say why. */
int xrt_proxy_ask(xrt_client *c);		/* service thread; -1: cannot */
void xrt_proxy_answer(xrt_loop *loop, xrt_item *cmd);	/* service thread */

void xrt_client_destroy(xrt_client *c);
int xrt_client_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);

/* ---------------------------------------------------------------- server */

typedef struct xrt_server_opts {
	const char *host;
	int port;
	size_t max_frame, max_queue, max_head, max_body, in_limit;
	const char *cert, *key;
	double ping_interval;
} xrt_server_opts;

typedef struct xrt_sock xrt_sock;

typedef struct xrt_server {
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
} xrt_server;

xrt_server *xrt_server_new(xrt_loop *loop, const xrt_server_opts *o);
/* Queues frame to each listed socket; returns how many took it. */
int xrt_server_send(xrt_server *s, const uint64_t *ids, size_t n,
		    int opcode, const void *data, size_t len);
int xrt_server_counts(xrt_server *s, uint64_t id, uint64_t *in,
		      uint64_t *out);
void xrt_server_stats(xrt_server *s, uint64_t *in, uint64_t *out,
		      size_t *socks);
void xrt_server_command(xrt_server *s, xrt_item *cmd);	/* service thread */
void xrt_server_destroy(xrt_server *s);
int xrt_server_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);

#endif
