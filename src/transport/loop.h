/*
 * loop.h - the service loop of one Lua state and the endpoints it hosts
 * (loop.c), and the interface an endpoint kind implements (xrt_ep_ops).
 *
 * The loop knows no kind of endpoint: a kind (client, server) gives it an
 * ops table, and the loop calls only that.  Threads: the service thread
 * runs libwebsockets and never touches a lua_State; the Lua thread never
 * calls libwebsockets except lws_cancel_service().  Everything both
 * threads touch is guarded by the loop's one mutex (xrt_loop_lock) and is
 * marked "under mu".
 */
#ifndef XRT_LOOP_H
#define XRT_LOOP_H

#include "queue.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define XRT_STAGE_MAX 32	/* events staged before a hand-over */
#define XRT_BATCH_MAX 64	/* events taken by the Lua thread at once */

typedef struct xrt_loop xrt_loop;
typedef struct xrt_endpoint xrt_endpoint;

/* ------------------------------------------------------ endpoint kinds */

/* What a kind of endpoint does for the loop.  Every function but
 * exit_drain_us runs on the service thread. */
typedef struct xrt_ep_ops {
	const char *name;	/* "client", "server" */
	/* The lws protocol of the kind's connections on the loop's own vhost,
	 * or NULL when the kind makes its vhosts itself. */
	const struct lws_protocols *protocol;
	/* A command queued for ep (xrt_loop_cmd); the loop frees the item. */
	void (*command)(xrt_endpoint *ep, xrt_item *cmd);
	/* The Lua state closes: wind ep down (close, drain), then let go of it
	 * with xrt_ep_service_done(). */
	void (*shutdown)(xrt_endpoint *ep);
	/* Non-zero while the shutdown still has to wait for ep (sockets to
	 * close, queued frames to write). */
	int (*busy)(const xrt_endpoint *ep);
	/* Under mu, any thread: how long the process's exit waits at most for
	 * ep, which the app closed (microseconds), or -1: not waited for. */
	int64_t (*exit_drain_us)(const xrt_endpoint *ep);
	/* Both threads let go: free what the kind owns (the loop freed its part). */
	void (*destroy)(xrt_endpoint *ep);
	/* The answers of the transport's helper threads, given to every
	 * endpoint the service thread still holds; NULL when the kind never
	 * asks.  resolved: xrt_resolve()'s answer for host, addrs NULL and err
	 * set when it failed.  proxy_answer: xrt_proxy_ask()'s answer to the
	 * question id (ep checks it asked it). */
	void (*resolved)(xrt_endpoint *ep, const char *host, const char *addrs,
			 const char *err);
	void (*proxy_answer)(xrt_endpoint *ep, uint64_t id, int status,
			     const char *msg);
} xrt_ep_ops;

/* The kinds, NULL-terminated (kinds.c); the loop's vhost has their protocols. */
extern const xrt_ep_ops *const xrt_kinds[];

/* ------------------------------------------------------------- signals */

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

/* ------------------------------------------------------------ endpoints */

/* The first member of every kind's struct.  loop and ops are fixed at
 * xrt_ep_init; the other fields are the loop's own. */
struct xrt_endpoint {
	xrt_loop *loop;
	const xrt_ep_ops *ops;
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

/* Registers ep (zeroed); the Lua handle and the service thread hold it. */
xrt_loop *xrt_ep_loop(const xrt_endpoint *ep);	/* the loop it was registered with */
int xrt_ep_init(xrt_endpoint *ep, xrt_loop *loop, const xrt_ep_ops *ops,
		size_t in_limit);
void xrt_ep_release(xrt_endpoint *ep);	/* Lua handle lets go */
void xrt_ep_service_done(xrt_endpoint *ep);	/* service thread lets go */

/* Events for Lua.  xrt_ep_event: any thread, takes mu.  xrt_ep_rx_event:
 * service thread, for received frames and what reading them reports:
 * staged, handed over after this pass of lws_service() or at once when
 * XRT_STAGE_MAX wait (xrt_ep_staged_check, not under mu). */
void xrt_ep_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b,
		  xrt_buf *buf, xrt_buf *buf2);
void xrt_ep_rx_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b,
		     xrt_buf *buf, xrt_buf *buf2);
void xrt_ep_staged_check(xrt_endpoint *ep);
void xrt_loop_flush(xrt_loop *loop);	/* service thread: hand staged events over */

/* Reading pauses while more than in_limit bytes of events wait for Lua
 * (under mu): xrt_ep_pause_check pauses ep when they do and returns 1
 * when it paused it now; the Lua thread's take resumes it (XCMD_RESUME)
 * once half of them are handed out. */
int xrt_ep_pause_check(xrt_endpoint *ep);
int xrt_ep_paused(const xrt_endpoint *ep);
size_t xrt_ep_in_limit(const xrt_endpoint *ep);
size_t xrt_ep_backlog(const xrt_endpoint *ep);	/* under mu: bytes of events
						 * not yet handed to Lua */

/* Lua thread: the next event (NULL when none), valid until the next call;
 * wait until events wait (1), timeout (0) or a caught signal (-1), a
 * negative timeout waits for ever; the descriptor for a host loop. */
xrt_item *xrt_ep_next(xrt_endpoint *ep);
int xrt_ep_wait(xrt_endpoint *ep, double timeout);
int xrt_ep_fd(xrt_endpoint *ep);

/* Service thread: fn for every endpoint it holds (one may let go in fn). */
void xrt_loop_each(xrt_loop *loop, void (*fn)(xrt_endpoint *ep, void *ud),
		   void *ud);

/* ------------------------------------------------------------ commands */

/* Commands, Lua -> service thread, handed to ep->ops->command.  Every kind
 * takes these; a kind numbers its own from XCMD_KIND. */
enum { XCMD_RESUME = 1, XCMD_RELEASE, XCMD_WRITE, XCMD_KIND = 16 };

/* Any thread: queue a command for ep's service thread.  Takes buf/buf2. */
void xrt_loop_cmd(xrt_loop *loop, int kind, void *ep, int64_t a, int64_t b,
		  xrt_buf *buf, xrt_buf *buf2);

/* Any thread: run job->run on the service thread (a helper thread posts
 * its answer this way).  The job struct outlives the loop (static); the
 * item carries the arguments and is freed after the call. */
typedef struct xrt_job {
	void (*run)(xrt_loop *loop, xrt_item *args);
} xrt_job;
void xrt_loop_post(xrt_loop *loop, xrt_job *job, int64_t a, int64_t b,
		   xrt_buf *buf, xrt_buf *buf2);

/* ---------------------------------------------------------------- loop */

xrt_loop *xrt_loop_new(char *err, size_t errlen);
void xrt_loop_release(xrt_loop *loop);	/* the Lua handle lets go */
void xrt_loop_ref(xrt_loop *loop);	/* any thread */
void xrt_loop_unref(xrt_loop *loop);	/* any thread; frees on the last */
void xrt_loop_lock(xrt_loop *loop);	/* the mutex: "under mu" */
void xrt_loop_unlock(xrt_loop *loop);
struct lws_context *xrt_loop_context(const xrt_loop *loop);	/* service thread */
/* The loop's own vhost (no listening socket), with every kind's protocol. */
struct lws_vhost *xrt_loop_vhost(const xrt_loop *loop);
/* What a unit keeps per loop (service thread), found by a key of its own
 * (the address of a static object): data, freed with release after the
 * service thread destroyed the lws context.  set: -1 when full. */
void *xrt_loop_data(xrt_loop *loop, const void *key);
int xrt_loop_set_data(xrt_loop *loop, const void *key, void *data,
		      void (*release)(void *data));
uint64_t xrt_random(xrt_loop *loop);	/* service thread */
/* lws_cancel_service()'s callback reaches every protocol of every vhost;
 * a kind's callback may hand it here first (1: it was that). */
int xrt_loop_callback_common(struct lws *wsi, enum lws_callback_reasons reason);

/* Lua thread: xrt_ep_wait and xrt_ep_fd for every endpoint of the loop. */
int xrt_loop_wait(xrt_loop *loop, double timeout);
int xrt_loop_fd(xrt_loop *loop);

double xrt_now(void);
void xrt_sleep(double seconds);	/* seconds >= 0 */

#endif
