/*
 * endpoint.c - the endpoints of a loop and the events they hand to Lua.
 *
 * An endpoint (the first member of a client or a server) is held by its
 * Lua handle and by the service thread, and freed, through its kind's
 * ops->destroy, once both let go.  Its events go from the service thread
 * to the Lua thread in batches (see struct xrt_endpoint in loop.h); its
 * signal, and the loop's, are readable exactly while events wait.
 */
#include "loop_internal.h"

#include <stdlib.h>
#include <unistd.h>

/* Events waiting for Lua (under mu): those queued and those the Lua
 * thread took at its last take, which it may not have handed out yet. */
static size_t
ep_waiting(const xrt_endpoint *ep)
{
	return ep->events.count + ep->held;
}

/* Waits on s until events wait (for ep, or any endpoint when NULL). */
static int
sig_wait(xrt_loop *loop, xrt_signal *s, const xrt_endpoint *ep, double timeout)
{
	int r;

	pthread_mutex_lock(&loop->mu);
	if (ep ? ep_waiting(ep) : loop->pending) {
		pthread_mutex_unlock(&loop->mu);
		return 1;
	}
	s->waiters++;
	pthread_mutex_unlock(&loop->mu);
	r = xrt_poll_fd(s->fd, timeout);
	pthread_mutex_lock(&loop->mu);
	s->waiters--;
	pthread_mutex_unlock(&loop->mu);
	return r;
}

int
xrt_ep_wait(xrt_endpoint *ep, double timeout)
{
	if (ep->batch.count)	/* the Lua thread holds some: no need to look */
		return 1;
	return sig_wait(ep->loop, &ep->sig, ep, timeout);
}

int
xrt_loop_wait(xrt_loop *loop, double timeout)
{
	return sig_wait(loop, &loop->sig, NULL, timeout);
}

int
xrt_ep_fd(xrt_endpoint *ep)
{
	int fd;

	pthread_mutex_lock(&ep->loop->mu);
	fd = xrt_sig_export(&ep->sig, ep_waiting(ep));
	pthread_mutex_unlock(&ep->loop->mu);
	return fd;
}

int
xrt_loop_fd(xrt_loop *loop)
{
	int fd;

	pthread_mutex_lock(&loop->mu);
	fd = xrt_sig_export(&loop->sig, loop->pending);
	pthread_mutex_unlock(&loop->mu);
	return fd;
}


/* ------------------------------------------------------------ endpoints */

xrt_loop *
xrt_ep_loop(const xrt_endpoint *ep)
{
	return ep->loop;
}

int
xrt_ep_init(xrt_endpoint *ep, xrt_loop *loop, const xrt_ep_ops *ops,
	    size_t in_limit)
{
	if (xrt_sig_init(&ep->sig) < 0)
		return -1;
	ep->loop = loop;
	ep->ops = ops;
	ep->refs = 2;		/* the Lua handle and the service thread */
	ep->in_limit = in_limit;
	pthread_mutex_lock(&loop->mu);
	loop->refs++;
	ep->next = loop->eps;
	loop->eps = ep;
	pthread_mutex_unlock(&loop->mu);
	return 0;
}

static void
ep_free(xrt_endpoint *ep)
{
	xrt_loop *loop = ep->loop;
	xrt_endpoint **pp;

	pthread_mutex_lock(&loop->mu);
	for (pp = &loop->eps; *pp; pp = &(*pp)->next)
		if (*pp == ep) {
			*pp = ep->next;
			break;
		}
	pthread_mutex_unlock(&loop->mu);
	/* its events stopped counting and were freed at xrt_ep_release (the
	 * Lua handle's reference, always let go before this); the service
	 * thread let go too, so nothing is staged; the batch is nobody's */
	xrt_fifo_clear(&ep->staged);
	xrt_fifo_clear(&ep->batch);
	xrt_item_free(ep->cur);
	close(ep->sig.fd);
	ep->ops->destroy(ep);
	xrt_loop_unref(loop);
}

static void
ep_unref(xrt_endpoint *ep)
{
	int last;

	pthread_mutex_lock(&ep->loop->mu);
	last = --ep->refs == 0;
	pthread_mutex_unlock(&ep->loop->mu);
	if (last)
		ep_free(ep);
}

void
xrt_ep_release(xrt_endpoint *ep)
{
	xrt_loop *loop = ep->loop;

	/* What waits for it waits for nobody now: it stops counting at
	 * once, or a wait of the whole state would return for it until the
	 * service thread lets go. */
	pthread_mutex_lock(&loop->mu);
	ep->lua_closed = 1;
	loop->pending -= ep_waiting(ep);
	ep->held = ep->held_bytes = 0;
	xrt_fifo_clear(&ep->events);
	xrt_sig_emptied(&ep->sig);
	if (!loop->pending)
		xrt_sig_emptied(&loop->sig);
	pthread_mutex_unlock(&loop->mu);
	ep_unref(ep);
}

void
xrt_ep_service_done(xrt_endpoint *ep)
{
	if (ep->service_done)
		return;
	xrt_loop_flush(ep->loop);	/* its last events, and off the list */
	ep->service_done = 1;
	ep_unref(ep);
}

/* Hands queued events to Lua: appends them to ep's events, raising the
 * signals when events now wait.  Under mu. */
static void
hand_over(xrt_endpoint *ep, xrt_fifo *q)
{
	xrt_loop *loop = ep->loop;
	size_t n = q->count;

	if (!n)
		return;
	xrt_fifo_append(&ep->events, q);
	xrt_sig_filled(&ep->sig);	/* both do nothing when already raised */
	loop->pending += n;
	xrt_sig_filled(&loop->sig);
}

/* Service thread: hands every staged event over, under one lock. */
void
xrt_loop_flush(xrt_loop *loop)
{
	xrt_endpoint *ep, *next;
	xrt_fifo dropped = { NULL, NULL, 0, 0 };

	if (!loop->staged)
		return;
	pthread_mutex_lock(&loop->mu);
	for (ep = loop->staged; ep; ep = next) {
		next = ep->staged_next;
		ep->staged_next = NULL;
		ep->staged_on = 0;
		if (ep->lua_closed)
			xrt_fifo_append(&dropped, &ep->staged);
		else
			hand_over(ep, &ep->staged);
	}
	loop->staged = NULL;
	pthread_mutex_unlock(&loop->mu);
	xrt_fifo_clear(&dropped);
}

/* Service thread, after a received frame is counted: many staged events
 * are handed over at once, not at the end of the pass. */
void
xrt_ep_staged_check(xrt_endpoint *ep)
{
	if (ep->staged.count >= XRT_STAGE_MAX)
		xrt_loop_flush(ep->loop);
}

size_t
xrt_ep_backlog(const xrt_endpoint *ep)
{
	return ep->events.bytes + ep->held_bytes + ep->staged.bytes;
}

static xrt_item *
event_item(int kind, int64_t a, int64_t b, xrt_buf *buf, xrt_buf *buf2)
{
	xrt_item *it = xrt_item_new(kind, buf);

	if (!it) {
		xrt_buf_unref(buf2);
		return NULL;
	}
	it->a = a;
	it->b = b;
	it->buf2 = buf2;
	return it;
}

void
xrt_ep_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b, xrt_buf *buf,
	     xrt_buf *buf2)
{
	xrt_loop *loop = ep->loop;
	xrt_item *it = event_item(kind, a, b, buf, buf2);

	if (!it)
		return;
	if (xrt_on_service_thread)
		xrt_loop_flush(loop);	/* what it staged goes first */
	pthread_mutex_lock(&loop->mu);
	if (ep->lua_closed) {
		pthread_mutex_unlock(&loop->mu);
		xrt_item_free(it);
		return;
	}
	xrt_fifo_push(&ep->events, it);
	xrt_sig_filled(&ep->sig);
	if (++loop->pending == 1)
		xrt_sig_filled(&loop->sig);
	pthread_mutex_unlock(&loop->mu);
}

/* Service thread, for received frames (and what reading them reports):
 * staged, handed over with the others after this pass of lws_service()
 * (received data is serviced after its poll(), so the pass ends soon),
 * or at once when many wait (xrt_ep_staged_check), or before any other
 * event of this thread (xrt_ep_event), so the order holds. */
void
xrt_ep_rx_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b, xrt_buf *buf,
		xrt_buf *buf2)
{
	xrt_loop *loop = ep->loop;
	xrt_item *it;

	if (!xrt_on_service_thread) {
		xrt_ep_event(ep, kind, a, b, buf, buf2);
		return;
	}
	it = event_item(kind, a, b, buf, buf2);
	if (!it)
		return;
	xrt_fifo_push(&ep->staged, it);
	if (!ep->staged_on) {
		ep->staged_on = 1;
		ep->staged_next = loop->staged;
		loop->staged = ep;
	}
}

/* Takes the next batch, under one lock: what the last one held is handed
 * out by now, so it no longer counts as waiting; what the new one holds
 * does until it is handed out.  Lua thread. */
static void
take_batch(xrt_endpoint *ep)
{
	xrt_loop *loop = ep->loop;
	xrt_item *it;
	int resume = 0;

	pthread_mutex_lock(&loop->mu);
	loop->pending -= ep->held;
	while (ep->batch.count < XRT_BATCH_MAX && (it = xrt_fifo_pop(&ep->events)))
		xrt_fifo_push(&ep->batch, it);
	ep->held = ep->batch.count;
	ep->held_bytes = ep->batch.bytes;
	if (!ep_waiting(ep))
		xrt_sig_emptied(&ep->sig);
	if (!loop->pending)
		xrt_sig_emptied(&loop->sig);
	if (ep->paused && ep->events.bytes + ep->held_bytes <= ep->in_limit / 2) {
		ep->paused = 0;
		resume = 1;
	}
	pthread_mutex_unlock(&loop->mu);
	if (resume)
		xrt_loop_cmd(loop, XCMD_RESUME, ep, 0, 0, NULL, NULL);
}

/* The next event, or NULL.  The batch is taken again as soon as its last
 * event is handed out, not at the next call: an app that stops reading
 * after that event (a wait that got what it waited for) leaves nothing
 * counted as waiting, so the state's fd and wait() go quiet. */
xrt_item *
xrt_ep_next(xrt_endpoint *ep)
{
	xrt_item *it;

	xrt_item_free(ep->cur);
	if (!ep->batch.count)
		take_batch(ep);
	ep->cur = it = xrt_fifo_pop(&ep->batch);
	if (it && !ep->batch.count)
		take_batch(ep);
	return it;
}

/* ------------------------------------------------------------ accessors */

int
xrt_ep_pause_check(xrt_endpoint *ep)
{
	if (ep->paused || xrt_ep_backlog(ep) <= ep->in_limit)
		return 0;
	ep->paused = 1;
	return 1;
}

int
xrt_ep_paused(const xrt_endpoint *ep)
{
	return ep->paused;
}

size_t
xrt_ep_in_limit(const xrt_endpoint *ep)
{
	return ep->in_limit;
}
