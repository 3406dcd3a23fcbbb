/*
 * client.c - one outgoing WebSocket connection that stays up.
 *
 * Owns the connection's state machine on the service thread: connect (the
 * token travels as the only subprotocol), reconnect after an unexpected
 * loss with capped full-jitter backoff and a close-code policy, WebSocket
 * pings that find a dead link, and the outgoing stream: one FIFO of joins,
 * leaves and actions in the order the app asked for them, kept across
 * outages, with the joins of the channels joined at its head replayed
 * first after every (re)connect (see xrt_join in client.h).
 * The Lua thread reaches it only through the functions marked "Lua thread",
 * which take the loop mutex, and through commands.
 * Its parts: this file (lifetime, the stream, the Lua-thread API),
 * client_link.c (attempts, timers, commands) and client_wire.c (the lws
 * callback: receive and the writer).
 */
#include "client_internal.h"
#include "wsframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t
to_us(double s)
{
	return (int64_t)(s * 1e6);
}

/* --------------------------------------------------------------- lifetime */

xrt_client *
xrt_client_new(xrt_loop *loop, const xrt_client_opts *o)
{
	xrt_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->host = strdup(o->host);
	c->path = strdup(o->path);
	c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	c->token = o->token ? strdup(o->token) : NULL;
	c->resolve = o->resolve ? strdup(o->resolve) : NULL;
	c->proxy_host = o->proxy_host ? strdup(o->proxy_host) : NULL;
	c->proxy_auth = o->proxy_auth ? strdup(o->proxy_auth) : NULL;
	c->tx = xrt_buf_new(1024);
	if (!c->host || !c->path || (o->ca_file && !c->ca_file) ||
	    (o->token && !c->token) || !c->tx || (o->resolve && !c->resolve) ||
	    (o->proxy_host && !c->proxy_host) ||
	    (o->proxy_auth && !c->proxy_auth)) {
		c->ep.loop = NULL;
		xrt_client_destroy(c);
		return NULL;
	}
	c->proxy_port = o->proxy_port;
	xrt_race_init(&c->race, xrt_loop_context(loop), &xrt_client_race_ops, c);
	c->port = o->port;
	c->tls = o->tls;
	c->verify = o->verify;
	c->reconnect_initial_us = to_us(o->reconnect_initial);
	c->reconnect_max_us = to_us(o->reconnect_max);
	c->stable_after_us = to_us(o->stable_after);
	c->ping_interval_us = to_us(o->ping_interval);
	c->ping_timeout_us = to_us(o->ping_timeout);
	c->connect_timeout_us = to_us(o->connect_timeout);
	c->handshake_timeout_us = to_us(o->handshake_timeout);
	c->drain_timeout_us = to_us(o->drain_timeout);
	c->queue_limit = o->queue_limit;
	c->send_limit = o->send_limit;
	c->max_frame = o->max_frame;
	if (xrt_ep_init(&c->ep, loop, &xrt_client_ops, o->in_limit) < 0) {
		xrt_client_destroy(c);
		return NULL;
	}
	return c;
}

/* Called once both threads have let go. */
void
xrt_client_destroy(xrt_client *c)
{
	int i;

	xrt_fifo_clear(&c->out);
	for (i = 0; i < c->njoins; i++)
		xrt_buf_unref(c->joins[i].frame);
	free(c->joins);
	xrt_buf_unref(c->rx);
	xrt_buf_unref(c->tx);
	free(c->host);
	free(c->path);
	free(c->ca_file);
	free(c->token);
	free(c->resolve);
	free(c->proxy_host);
	free(c->proxy_auth);
	free(c);
}

/* ---------------------------------------------- the stream (under mu) */

static int
join_find(xrt_client *c, int64_t tag)
{
	int i;

	for (i = 0; i < c->njoins; i++)
		if (c->joins[i].tag == tag)
			return i;
	return -1;
}

/* tag is joined at the head of the stream with frame (taken); not replayed
 * again on this link: it was just written, or the link is going away. */
int
xrt_client_join_add(xrt_client *c, int64_t tag, xrt_buf *frame)
{
	int i = join_find(c, tag);

	if (i >= 0) {
		xrt_buf_unref(c->joins[i].frame);
		c->joins[i].frame = frame;
		return 0;
	}
	if (c->njoins == c->capjoins) {
		int cap = c->capjoins ? c->capjoins * 2 : 8;
		xrt_join *j = realloc(c->joins, sizeof(*j) * (size_t)cap);

		if (!j) {
			xrt_buf_unref(frame);
			return -1;
		}
		c->joins = j;
		c->capjoins = cap;
	}
	c->joins[c->njoins].tag = tag;
	c->joins[c->njoins].frame = frame;
	if (c->join_cursor == c->njoins)
		c->join_cursor++;
	c->njoins++;
	return 0;
}

/* tag is no longer joined at the head; returns its join frame (the
 * caller's reference), NULL when it was not joined. */
xrt_buf *
xrt_client_join_remove(xrt_client *c, int64_t tag)
{
	int i = join_find(c, tag);
	xrt_buf *f;

	if (i < 0)
		return NULL;
	f = c->joins[i].frame;
	memmove(c->joins + i, c->joins + i + 1,
		sizeof(*c->joins) * (size_t)(c->njoins - i - 1));
	c->njoins--;
	if (i < c->join_cursor)
		c->join_cursor--;
	return f;
}

/* Appends a frame to the stream; wakes the writer of an open link. */
static int
push_frame(xrt_client *c, xrt_item *it)
{
	xrt_fifo_push(&c->out, it);
	if (it->b == XRT_FRAME_DATA)
		c->ndata++;
	if (c->state == XRT_OPEN && !c->write_queued)
		return c->write_queued = 1;
	return 0;
}

xrt_item *
xrt_client_pop_frame(xrt_client *c)
{
	xrt_item *it = xrt_fifo_pop(&c->out);

	if (it && it->b == XRT_FRAME_DATA)
		c->ndata--;
	return it;
}

/* Takes it (after prev, NULL: it is the head) out of the stream. */
static void
unlink_frame(xrt_client *c, xrt_item *prev, xrt_item *it)
{
	if (prev)
		prev->next = it->next;
	else
		c->out.head = it->next;
	if (c->out.tail == it)
		c->out.tail = prev;
	it->next = NULL;
	c->out.count--;
	c->out.bytes -= xrt_item_cost(it);
	if (it->b == XRT_FRAME_DATA)
		c->ndata--;
}

/* Takes the oldest action off the stream (the queue is full); joins and
 * leaves stay. */
static xrt_item *
pop_oldest_data(xrt_client *c)
{
	xrt_item *it, *prev = NULL;

	for (it = c->out.head; it; prev = it, it = it->next)
		if (it->b == XRT_FRAME_DATA)
			break;
	if (!it)
		return NULL;
	unlink_frame(c, prev, it);
	return it;
}

/* A new link starts with nothing joined on the server.  A channel joined
 * at the head of the stream whose next frame there is its leave (none of
 * its actions between) would be joined on that link only to be left: the
 * app closed it before the link came.  Neither frame is sent, so that a
 * reopening (a join after that leave) is the one join the server sees,
 * and the app gets one history and one presence for it. */
void
xrt_client_skip_left(xrt_client *c)
{
	int i = 0;

	while (i < c->njoins) {
		int64_t tag = c->joins[i].tag;
		xrt_item *it, *prev = NULL;

		for (it = c->out.head; it && it->a != tag; prev = it, it = it->next)
			;
		if (!it || it->b != XRT_FRAME_LEAVE) {
			i++;
			continue;
		}
		unlink_frame(c, prev, it);
		xrt_item_free(it);
		xrt_buf_unref(xrt_client_join_remove(c, tag));
	}
}

/* Moves the actions (of tag, or every one with all) to dropped, in order;
 * frees the joins and leaves of tag with them when drop_marks is set. */
static void
take_data(xrt_client *c, int64_t tag, int all, int drop_marks,
	  xrt_fifo *dropped)
{
	xrt_fifo keep = { NULL, NULL, 0, 0 };
	xrt_item *it;

	while ((it = xrt_fifo_pop(&c->out))) {
		if (!all && it->a != tag) {
			xrt_fifo_push(&keep, it);
		} else if (it->b == XRT_FRAME_DATA) {
			c->ndata--;
			xrt_fifo_push(dropped, it);
		} else if (drop_marks) {
			xrt_item_free(it);
		} else {
			xrt_fifo_push(&keep, it);
		}
	}
	c->out = keep;
}

/* ------------------------------------------------------------ Lua thread */

int
xrt_client_send(xrt_client *c, xrt_buf *frame, int64_t tag, int queue,
		xrt_buf **dropped)
{
	xrt_loop *loop = c->ep.loop;
	xrt_item *it = xrt_item_new(XRT_WS_TEXT, frame);
	int r = XSEND_OK, wake = 0;

	*dropped = NULL;
	if (!it)
		return XSEND_FULL;
	it->a = tag;
	it->b = XRT_FRAME_DATA;
	xrt_loop_lock(loop);
	if (c->state == XRT_CLOSED) {
		r = XSEND_CLOSED;
	} else if (c->state == XRT_OPEN) {
		if (c->out.bytes + frame->len > c->send_limit && c->out.count)
			r = XSEND_FULL;
		else {
			wake = push_frame(c, it);
			it = NULL;
		}
	} else if (queue) {
		if (c->ndata >= c->queue_limit) {
			xrt_item *old = pop_oldest_data(c);

			if (old) {
				*dropped = old->buf;
				old->buf = NULL;
				xrt_item_free(old);
				c->stats.dropped++;
				r = XSEND_DROPPED;
			}
		}
		if (c->queue_limit) {
			push_frame(c, it);
			it = NULL;
		} else {
			r = XSEND_FULL;
		}
	} else {
		r = XSEND_NOTCONN;
	}
	xrt_loop_unlock(loop);
	xrt_item_free(it);
	if (wake)
		xrt_loop_cmd(loop, XCMD_WRITE, c, 0, 0, NULL, NULL);
	return r;
}

/* Connects unless connected or connecting.  The state says "connecting"
 * from here on, before the service thread runs the command. */
void
xrt_client_start(xrt_client *c)
{
	xrt_loop_lock(c->ep.loop);
	if (c->state == XRT_IDLE || c->state == XRT_DOWN) {
		c->state = XRT_CONNECTING;
		c->start_pending = 1;
	}
	xrt_loop_unlock(c->ep.loop);
	xrt_loop_cmd(c->ep.loop, XCMD_START, c, 0, 0, NULL, NULL);
}

/* The channel's join goes on the stream after everything asked before. */
void
xrt_client_open_channel(xrt_client *c, int64_t tag, xrt_buf *join)
{
	xrt_loop *loop = c->ep.loop;
	xrt_item *it = xrt_item_new(XRT_WS_TEXT, join);
	int wake = 0;

	if (!it)
		return;
	it->a = tag;
	it->b = XRT_FRAME_JOIN;
	xrt_loop_lock(loop);
	if (c->state != XRT_CLOSED) {
		wake = push_frame(c, it);
		it = NULL;
	}
	xrt_loop_unlock(loop);
	xrt_item_free(it);
	if (wake)
		xrt_loop_cmd(loop, XCMD_WRITE, c, 0, 0, NULL, NULL);
}

/* On an open link the leave goes on the stream after everything asked
 * before, which is sent first.  Otherwise the server holds nothing of this
 * link: the channel's frames leave the stream (its actions into dropped,
 * to be reported), and it is no longer joined at the head, so that no
 * replay joins it. */
void
xrt_client_close_channel(xrt_client *c, int64_t tag, xrt_buf *leave,
			 xrt_fifo *dropped)
{
	xrt_loop *loop = c->ep.loop;
	xrt_item *it = xrt_item_new(XRT_WS_TEXT, leave);
	int wake = 0;

	if (!it)
		return;
	it->a = tag;
	it->b = XRT_FRAME_LEAVE;
	xrt_loop_lock(loop);
	if (c->state == XRT_OPEN) {
		wake = push_frame(c, it);
		it = NULL;
	} else if (c->state != XRT_CLOSED) {
		take_data(c, tag, 0, 1, dropped);
		xrt_buf_unref(xrt_client_join_remove(c, tag));
	}
	xrt_loop_unlock(loop);
	xrt_item_free(it);
	if (wake)
		xrt_loop_cmd(loop, XCMD_WRITE, c, 0, 0, NULL, NULL);
}

/* The actions still queued, taken off the stream. */
void
xrt_client_take(xrt_client *c, xrt_fifo *out)
{
	xrt_loop_lock(c->ep.loop);
	take_data(c, 0, 1, 0, out);
	xrt_loop_unlock(c->ep.loop);
}

void
xrt_client_set_token(xrt_client *c, const char *token)
{
	char *t = token ? strdup(token) : NULL;

	xrt_loop_lock(c->ep.loop);
	free(c->token);
	c->token = t;
	xrt_loop_unlock(c->ep.loop);
}

void
xrt_client_set_policy(xrt_client *c, const int *codes, int n)
{
	int i;

	if (n > (int)(sizeof(c->policy) / sizeof(c->policy[0])))
		n = (int)(sizeof(c->policy) / sizeof(c->policy[0]));
	if (c->ep.loop)
		xrt_loop_lock(c->ep.loop);
	for (i = 0; i < n; i++)
		c->policy[i] = (int16_t)codes[i];
	c->npolicy = n;
	if (c->ep.loop)
		xrt_loop_unlock(c->ep.loop);
}

int
xrt_client_state(xrt_client *c)
{
	int s;

	xrt_loop_lock(c->ep.loop);
	s = c->state;
	xrt_loop_unlock(c->ep.loop);
	return s;
}

void
xrt_client_stats(xrt_client *c, xrt_stats *s, size_t *queued, char *reason,
		 size_t reasonlen)
{
	xrt_loop_lock(c->ep.loop);
	*s = c->stats;
	*queued = c->ndata;
	snprintf(reason, reasonlen, "%s", c->last_close_reason);
	xrt_loop_unlock(c->ep.loop);
}
