/*
 * client.c - one outgoing WebSocket connection that stays up.
 *
 * Owns the connection's state machine on the service thread: connect (the
 * token travels as the only subprotocol), reconnect after an unexpected
 * loss with capped full-jitter backoff and a close-code policy, WebSocket
 * pings that find a dead link, and the outgoing stream: one FIFO of joins,
 * leaves and actions in the order the app asked for them, kept across
 * outages, with the joins of the channels joined at its head replayed
 * first after every (re)connect (see xrt_join in rt.h).
 * The Lua thread reaches it only through the functions marked "Lua thread",
 * which take the loop mutex, and through commands.
 */
#include "rt.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void connect_now(xrt_client *c);

static int64_t
to_us(double s)
{
	return (int64_t)(s * 1e6);
}

static void
set_state(xrt_client *c, int state)
{
	pthread_mutex_lock(&c->ep.loop->mu);
	c->state = state;
	pthread_mutex_unlock(&c->ep.loop->mu);
}

/* The first reason given for an attempt's end is the one reported. */
static void
set_reason(xrt_client *c, const char *why)
{
	size_t n = strlen(why);

	if (c->reason[0])
		return;
	if (n >= sizeof(c->reason))
		n = sizeof(c->reason) - 1;	/* a long reason is cut */
	memcpy(c->reason, why, n);
	c->reason[n] = '\0';
}

static void
kill_wsi(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The close codes (and HTTP statuses of a refused upgrade) after which a
 * client reconnects unless told otherwise; the Lua layer offers them as
 * realtime.reconnect_codes.  1002 is here because libwebsockets 4.1.6
 * reports a server's 1012-1014 as 1002. */
const int xrt_reconnect_codes[] = {
	1001, 1002, 1005, 1006, 1011, 1012, 1013, 1014, 4000,
	408, 429, 500, 502, 503, 504
};
const int xrt_nreconnect_codes =
	(int)(sizeof(xrt_reconnect_codes) / sizeof(xrt_reconnect_codes[0]));

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
	xrt_client_set_policy(c, xrt_reconnect_codes, xrt_nreconnect_codes);
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
static int
join_add(xrt_client *c, int64_t tag, xrt_buf *frame)
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
static xrt_buf *
join_remove(xrt_client *c, int64_t tag)
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

static xrt_item *
pop_frame(xrt_client *c)
{
	xrt_item *it = xrt_fifo_pop(&c->out);

	if (it && it->b == XRT_FRAME_DATA)
		c->ndata--;
	return it;
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
	if (prev)
		prev->next = it->next;
	else
		c->out.head = it->next;
	if (c->out.tail == it)
		c->out.tail = prev;
	it->next = NULL;
	c->out.count--;
	c->out.bytes -= xrt_item_cost(it);
	c->ndata--;
	return it;
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
	pthread_mutex_lock(&loop->mu);
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
	pthread_mutex_unlock(&loop->mu);
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
	pthread_mutex_lock(&c->ep.loop->mu);
	if (c->state == XRT_IDLE || c->state == XRT_DOWN) {
		c->state = XRT_CONNECTING;
		c->start_pending = 1;
	}
	pthread_mutex_unlock(&c->ep.loop->mu);
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
	pthread_mutex_lock(&loop->mu);
	if (c->state != XRT_CLOSED) {
		wake = push_frame(c, it);
		it = NULL;
	}
	pthread_mutex_unlock(&loop->mu);
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
	pthread_mutex_lock(&loop->mu);
	if (c->state == XRT_OPEN) {
		wake = push_frame(c, it);
		it = NULL;
	} else if (c->state != XRT_CLOSED) {
		take_data(c, tag, 0, 1, dropped);
		xrt_buf_unref(join_remove(c, tag));
	}
	pthread_mutex_unlock(&loop->mu);
	xrt_item_free(it);
	if (wake)
		xrt_loop_cmd(loop, XCMD_WRITE, c, 0, 0, NULL, NULL);
}

/* The actions still queued, taken off the stream. */
void
xrt_client_take(xrt_client *c, xrt_fifo *out)
{
	pthread_mutex_lock(&c->ep.loop->mu);
	take_data(c, 0, 1, 0, out);
	pthread_mutex_unlock(&c->ep.loop->mu);
}

void
xrt_client_set_token(xrt_client *c, const char *token)
{
	char *t = token ? strdup(token) : NULL;

	pthread_mutex_lock(&c->ep.loop->mu);
	free(c->token);
	c->token = t;
	pthread_mutex_unlock(&c->ep.loop->mu);
}

void
xrt_client_set_policy(xrt_client *c, const int *codes, int n)
{
	int i;

	if (n > (int)(sizeof(c->policy) / sizeof(c->policy[0])))
		n = (int)(sizeof(c->policy) / sizeof(c->policy[0]));
	if (c->ep.loop)
		pthread_mutex_lock(&c->ep.loop->mu);
	for (i = 0; i < n; i++)
		c->policy[i] = (int16_t)codes[i];
	c->npolicy = n;
	if (c->ep.loop)
		pthread_mutex_unlock(&c->ep.loop->mu);
}

int
xrt_client_state(xrt_client *c)
{
	int s;

	pthread_mutex_lock(&c->ep.loop->mu);
	s = c->state;
	pthread_mutex_unlock(&c->ep.loop->mu);
	return s;
}

void
xrt_client_stats(xrt_client *c, xrt_stats *s, size_t *queued, char *reason,
		 size_t reasonlen)
{
	pthread_mutex_lock(&c->ep.loop->mu);
	*s = c->stats;
	*queued = c->ndata;
	snprintf(reason, reasonlen, "%s", c->last_close_reason);
	pthread_mutex_unlock(&c->ep.loop->mu);
}

/* -------------------------------------------------------- service thread */

static int
policy_reconnects(xrt_client *c, int code)
{
	int i, r = 0;

	pthread_mutex_lock(&c->ep.loop->mu);
	for (i = 0; i < c->npolicy; i++)
		if (c->policy[i] == code)
			r = 1;
	pthread_mutex_unlock(&c->ep.loop->mu);
	return r;
}

static void
retry_fire(lws_sorted_usec_list_t *sul)
{
	xrt_client *c = lws_container_of(sul, xrt_client, sul_retry);

	if (c->state == XRT_WAITING) {
		pthread_mutex_lock(&c->ep.loop->mu);
		c->stats.reconnects++;
		pthread_mutex_unlock(&c->ep.loop->mu);
		connect_now(c);
	}
}

/* A reconnect the app asked for (new token, restart after a stop): no
 * backoff, and not counted as a reconnect. */
static void
restart_fire(lws_sorted_usec_list_t *sul)
{
	xrt_client *c = lws_container_of(sul, xrt_client, sul_retry);

	if (c->state == XRT_WAITING)
		connect_now(c);
}

/* Attempts are always started from a timer, never from inside a callback
 * of the connection that just ended: lws is still tearing that one down. */
static void
schedule_restart(xrt_client *c)
{
	c->restart = 0;
	c->attempt = 0;
	set_state(c, XRT_WAITING);
	lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_retry, restart_fire, 1);
}

/* Full jitter: a uniform delay in [0, min(max, initial * 2^attempt)]. */
static void
schedule_retry(xrt_client *c)
{
	int64_t cap = c->reconnect_initial_us, delay;
	int i;

	for (i = 0; i < c->attempt && cap < c->reconnect_max_us; i++)
		cap *= 2;
	if (cap > c->reconnect_max_us)
		cap = c->reconnect_max_us;
	delay = cap > 0 ? (int64_t)(xrt_random(c->ep.loop) % (uint64_t)(cap + 1)) : 0;
	c->attempt++;
	set_state(c, XRT_WAITING);
	xrt_ep_event(&c->ep, XEV_RETRY, delay / 1000, c->attempt, NULL, NULL);
	lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_retry, retry_fire,
			 delay > 0 ? delay : 1);
}

/* A voluntary close finished. */
static void
finish_stop(xrt_client *c)
{
	lws_sul_cancel(&c->sul_retry);
	lws_sul_cancel(&c->sul_deadline);
	lws_sul_cancel(&c->sul_ping);
	xrt_race_cancel(&c->race);
	c->proxy_asking = 0;
	c->closing = 0;
	if (!c->restart || c->stop_final)
		c->flush_stop = 0;	/* else the restart connects to flush */
	if (c->stop_final) {
		set_state(c, XRT_CLOSED);
		xrt_ep_service_done(&c->ep);
		return;
	}
	set_state(c, XRT_IDLE);
	xrt_ep_event(&c->ep, XEV_STOPPED, 0, 0, NULL, NULL);
	if (c->restart)
		schedule_restart(c);
}

/* The current attempt or link is over, for whatever reason. */
static void
attempt_ended(xrt_client *c)
{
	int code, was_open = c->was_open, state, retry;

	code = c->http_status ? c->http_status : c->peer_code ? c->peer_code :
	       c->our_code ? c->our_code : 1006;
	if (!c->reason[0])
		snprintf(c->reason, sizeof(c->reason), "%s",
			 was_open ? "connection lost" : "connection failed");
	/* lws may still call back for this connection (WSI_DESTROY) after
	 * we let go of the client below: those callbacks must not find it */
	if (c->wsi)
		lws_set_opaque_user_data(c->wsi, NULL);
	c->wsi = NULL;
	xrt_race_cancel(&c->race);
	c->proxy_asking = 0;
	c->resolving = 0;
	c->was_open = 0;
	c->ping_pending = 0;
	c->closing = 0;
	lws_sul_cancel(&c->sul_ping);
	lws_sul_cancel(&c->sul_deadline);
	xrt_buf_unref(c->rx);
	c->rx = NULL;

	pthread_mutex_lock(&c->ep.loop->mu);
	c->stats.last_close_code = code;
	memcpy(c->last_close_reason, c->reason, sizeof(c->last_close_reason));
	state = c->state;
	c->join_cursor = 0;
	pthread_mutex_unlock(&c->ep.loop->mu);

	if (c->restart && c->flush_stop) {
		/* the link closed for a reconnect; what it left queued goes
		 * on the next one, even when the app has closed since */
		schedule_restart(c);
		return;
	}
	if (c->stop_final || state == XRT_STOPPING) {
		finish_stop(c);
		return;
	}
	if (c->flush_stop && !c->restart) {
		/* the link that was to send what closed channels left is
		 * refused or lost: with no channel open there is no retry,
		 * and what is left is for the app to hear of (the Lua layer
		 * takes and reports it when the stop ends) */
		finish_stop(c);
		return;
	}
	if (c->restart) {		/* a reconnect the app asked for */
		schedule_restart(c);
		return;
	}
	/* the state moves before the event goes out, so that the app never
	 * reads a state older than the event it handles */
	retry = policy_reconnects(c, code);
	set_state(c, retry ? XRT_WAITING : XRT_DOWN);
	xrt_ep_event(&c->ep, XEV_CLOSED, code, was_open,
		     xrt_buf_from(c->reason, strlen(c->reason)), NULL);
	if (was_open && lws_now_usecs() - c->opened_at >= c->stable_after_us)
		c->attempt = 0;
	if (retry)
		schedule_retry(c);
}

/* The seconds of a timeout, for a reason ("10 s", "0.25 s") */
static void
seconds(char *out, size_t len, int64_t us)
{
	snprintf(out, len, "%g s", (double)us / 1e6);
}

static void
deadline_fire(lws_sorted_usec_list_t *sul)
{
	xrt_client *c = lws_container_of(sul, xrt_client, sul_deadline);
	char m[600], s[32], who[300];

	if (c->closing) {		/* the drain of a voluntary close */
		if (c->wsi)
			kill_wsi(c->wsi);
		return;
	}
	if (c->resolving) {
		seconds(s, sizeof(s), c->connect_timeout_us);
		snprintf(m, sizeof(m), "connect timeout: %.200s did not resolve "
			 "within %s", c->proxy_host ? c->proxy_host : c->host, s);
		set_reason(c, m);
		attempt_ended(c);
		return;
	}
	if (c->race.active) {
		seconds(s, sizeof(s), c->connect_timeout_us);
		xrt_race_cancel(&c->race);
		xrt_race_describe(&c->race, who, sizeof(who));
		snprintf(m, sizeof(m), "connect timeout: no connection to %s%.100s "
			 "port %d within %s (%.150s)", c->proxy_host ? "the proxy " : "",
			 c->proxy_host ? c->proxy_host : c->host,
			 c->proxy_host ? c->proxy_port : c->port, s, who);
		set_reason(c, m);
		attempt_ended(c);
		return;
	}
	seconds(s, sizeof(s), c->handshake_timeout_us);
	if (c->proxy_asking) {
		snprintf(m, sizeof(m), "handshake timeout: the proxy refused the "
			 "tunnel and did not say why within %s", s);
		set_reason(c, m);
		attempt_ended(c);
		return;
	}
	if (!c->wsi)
		return;
	if (c->state == XRT_CONNECTING) {
		if (c->proxy_host)
			snprintf(m, sizeof(m), "handshake timeout: the tunnel through "
				 "the proxy%s and the WebSocket upgrade did not "
				 "complete within %s", c->tls ? ", TLS" : "", s);
		else
			snprintf(m, sizeof(m), "handshake timeout: the server did not "
				 "complete %sthe WebSocket upgrade within %s",
				 c->tls ? "TLS and " : "", s);
		set_reason(c, m);
	}
	kill_wsi(c->wsi);
}

static void
ping_fire(lws_sorted_usec_list_t *sul)
{
	xrt_client *c = lws_container_of(sul, xrt_client, sul_ping);
	int64_t now = lws_now_usecs(), next;
	int paused;

	if (!c->wsi || c->state != XRT_OPEN || c->ping_interval_us <= 0)
		return;
	pthread_mutex_lock(&c->ep.loop->mu);
	paused = c->ep.paused;
	pthread_mutex_unlock(&c->ep.loop->mu);
	if (paused) {
		/* the app is behind, not the link: do not judge it now */
		c->ping_sent = 0;
		next = c->ping_interval_us;
	} else if (c->ping_sent && c->last_rx < c->ping_sent) {
		if (now - c->ping_sent >= c->ping_timeout_us) {
			set_reason(c, "no pong within ping_timeout");
			c->our_code = 1006;
			kill_wsi(c->wsi);
			return;
		}
		next = c->ping_sent + c->ping_timeout_us - now;
	} else if (now - c->last_rx >= c->ping_interval_us) {
		c->ping_pending = 1;
		c->ping_sent = now;
		lws_callback_on_writable(c->wsi);
		next = c->ping_timeout_us;
	} else {
		c->ping_sent = 0;
		next = c->last_rx + c->ping_interval_us - now;
	}
	lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_ping, ping_fire,
			 next > 1000 ? next : 1000);
}

/* connect.c: a connection through lws to one numeric address (of the
 * host, or of the proxy, which then gets a CONNECT for the host). */
struct lws *
xrt_client_dial(xrt_client *c, const char *addr)
{
	struct lws_client_connect_info i;
	struct lws_vhost *vh;
	char hosthdr[300], err[160], proxy[400], target[300];
	char *token = NULL;
	struct lws *wsi;
	int v6 = strchr(addr, ':') != NULL;

	if (c->proxy_host)
		snprintf(proxy, sizeof(proxy), "%s%s%s%s%s:%d",
			 c->proxy_auth ? c->proxy_auth : "",
			 c->proxy_auth ? "@" : "", v6 ? "[" : "", addr,
			 v6 ? "]" : "", c->proxy_port);
	vh = xrt_loop_client_vhost(c->ep.loop, c->tls, c->ca_file,
				   c->proxy_host ? proxy : NULL, err, sizeof(err));
	if (!vh) {
		set_reason(c, err);
		return NULL;
	}
	pthread_mutex_lock(&c->ep.loop->mu);
	if (c->token)
		token = strdup(c->token);
	pthread_mutex_unlock(&c->ep.loop->mu);

	if ((c->tls && c->port == 443) || (!c->tls && c->port == 80))
		snprintf(hosthdr, sizeof(hosthdr), "%s%s%s",
			 strchr(c->host, ':') ? "[" : "", c->host,
			 strchr(c->host, ':') ? "]" : "");
	else if (strchr(c->host, ':'))
		snprintf(hosthdr, sizeof(hosthdr), "[%s]:%d", c->host, c->port);
	else
		snprintf(hosthdr, sizeof(hosthdr), "%s:%d", c->host, c->port);
	/* through a proxy, lws writes "CONNECT <address>:<port>": the name,
	 * which the proxy resolves (as curl does) */
	snprintf(target, sizeof(target), "%s%s%s",
		 c->proxy_host && strchr(c->host, ':') ? "[" : "", c->host,
		 c->proxy_host && strchr(c->host, ':') ? "]" : "");

	memset(&i, 0, sizeof(i));
	i.context = c->ep.loop->ctx;
	i.vhost = vh;
	/* numeric, or the proxy's vhost connects to its numeric address:
	 * lws would otherwise resolve a name on this thread */
	i.address = c->proxy_host ? target : addr;
	i.port = c->port;
	i.path = c->path;
	i.host = hosthdr;	/* also the TLS server name lws checks */
	i.protocol = token;
	i.local_protocol_name = "xano-realtime";
	i.ietf_version_or_minus_one = -1;
	i.opaque_user_data = c;
	if (c->tls) {
		i.ssl_connection = LCCSCF_USE_SSL;
		/* lws 4.1.6 takes the name to check from the Host header, cut
		 * at the first ':': "[::1]:443" would be checked as "[".  An
		 * IPv6 literal is checked here instead (see the callback). */
		if (strchr(c->host, ':'))
			i.ssl_connection |= LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
		if (!c->verify)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					    LCCSCF_ALLOW_EXPIRED |
					    LCCSCF_ALLOW_INSECURE;
	}

	c->in_connect = 1;
	c->sync_failed = 0;
	wsi = lws_client_connect_via_info(&i);
	c->in_connect = 0;
	free(token);
	if (c->wsi && c->sync_failed) {
		/* it won during the dial, and failed in it */
		c->wsi = wsi;
		attempt_ended(c);
		return NULL;
	}
	return wsi;
}

void
xrt_client_race_won(xrt_client *c, struct lws *wsi, const char *addr)
{
	c->wsi = wsi;
	if (c->proxy_host)
		snprintf(c->proxy_addr, sizeof(c->proxy_addr), "%s", addr);
	/* from here the handshake timeout runs: TLS, the proxy's CONNECT and
	 * the upgrade */
	lws_sul_cancel(&c->sul_deadline);
	if (c->handshake_timeout_us > 0)
		lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_deadline,
				 deadline_fire, c->handshake_timeout_us);
}

void
xrt_client_race_lost(xrt_client *c, const char *why)
{
	char m[320];

	if (c->proxy_host)
		snprintf(m, sizeof(m), "cannot connect to the proxy %.100s port %d "
			 "(%s)", c->proxy_host, c->proxy_port, why);
	else
		snprintf(m, sizeof(m), "cannot connect to %.100s port %d (%s)",
			 c->host, c->port, why);
	set_reason(c, m);
	attempt_ended(c);
}

void
xrt_client_proxy_refused(xrt_client *c, int status, const char *why)
{
	if (!c->proxy_asking)
		return;
	c->proxy_asking = 0;
	c->http_status = status;
	set_reason(c, why);
	attempt_ended(c);
}

static void
connect_now(xrt_client *c)
{
	const char *name = c->proxy_host ? c->proxy_host : c->host;
	const char *addrs = name;
	char err[160], pinned[XRT_MAX_ADDRS * 48];
	int pending = 0;

	c->reason[0] = '\0';
	c->peer_code = c->our_code = c->http_status = 0;
	c->was_open = 0;
	c->no_drain = 0;
	set_state(c, XRT_CONNECTING);
	/* the connect timeout covers the name lookup and the TCP connects */
	if (c->connect_timeout_us > 0)
		lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_deadline,
				 deadline_fire, c->connect_timeout_us);
	if (c->resolve && !c->proxy_host) {
		/* pinned, as curl's --resolve, and tried as an answer would be */
		xrt_order_addresses(c->resolve, pinned, sizeof(pinned));
		addrs = pinned;
	} else if (!xrt_is_numeric_host(name)) {
		addrs = xrt_resolve(c->ep.loop, name, &pending, err, sizeof(err));
		if (pending) {
			c->resolving = 1;
			return;
		}
		if (!addrs) {
			set_reason(c, err);
			attempt_ended(c);
			return;
		}
	}
	xrt_race_start(&c->race, addrs);
}

void
xrt_client_resolved(xrt_client *c, const char *host, const char *addrs,
		    const char *err)
{
	char m[320];

	if (!c->resolving ||
	    strcmp(host, c->proxy_host ? c->proxy_host : c->host))
		return;
	c->resolving = 0;
	if (addrs) {
		xrt_race_start(&c->race, addrs);
		return;
	}
	snprintf(m, sizeof(m), "cannot resolve %s%.100s: %.80s",
		 c->proxy_host ? "the proxy " : "", host, err);
	set_reason(c, m);
	attempt_ended(c);
}

/* Begin a voluntary close: drain what is queued, then close with code. */
static void
begin_close(xrt_client *c, int code)
{
	c->our_code = code;
	if (c->was_open && c->wsi) {
		c->closing = 1;
		lws_callback_on_writable(c->wsi);
		lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_deadline,
				 deadline_fire, c->drain_timeout_us > 0 ?
				 c->drain_timeout_us : 1);
	} else if (c->wsi) {
		kill_wsi(c->wsi);
	} else if (c->resolving || c->race.active || c->proxy_asking) {
		attempt_ended(c);
	}
}

void
xrt_client_command(xrt_client *c, int kind)
{
	int state, pending, queued, drain_here;

	/* the Lua thread moves idle or down to connecting (start()); every
	 * other change is this thread's */
	pthread_mutex_lock(&c->ep.loop->mu);
	state = c->state;
	pending = c->start_pending;
	queued = c->ndata > 0;
	if (kind == XCMD_START)
		c->start_pending = 0;
	pthread_mutex_unlock(&c->ep.loop->mu);

	switch (kind) {
	case XCMD_START:
		c->flush_stop = 0;
		if (state == XRT_IDLE || state == XRT_DOWN ||
		    (state == XRT_CONNECTING && pending)) {
			c->attempt = 0;
			connect_now(c);
		} else if (state == XRT_STOPPING && !c->stop_final) {
			/* reconnect once down; what is still queued waits for
			 * that link rather than go on this closing one */
			c->restart = 1;
			c->no_drain = 1;
		}
		break;

	case XCMD_STOP:
	case XCMD_RELEASE:
		if (kind == XCMD_RELEASE)
			c->stop_final = 1;
		/* the app's close() on a link that has not sent its close
		 * frame drains it there (below) */
		drain_here = kind == XCMD_RELEASE && state == XRT_OPEN &&
			     c->closing != 2;
		if (queued && !drain_here &&
		    (state == XRT_CONNECTING || state == XRT_WAITING ||
		     (c->restart && c->no_drain))) {
			/* actions wait that no link will write (none is up,
			 * or the one closing for a reconnect writes no more):
			 * connect for them, then stop once they are written
			 * (on_writable); a reconnect under way goes on.  The
			 * app's close() takes what is queued unless it saw a
			 * live link: what is left was accepted on one, so the
			 * release connects once for it too (one attempt: if
			 * it fails, the close ends there) */
			c->flush_stop = 1;
			if (kind == XCMD_RELEASE && state == XRT_WAITING) {
				lws_sul_cancel(&c->sul_retry);
				schedule_restart(c);
			}
			break;
		}
		c->restart = 0;
		c->flush_stop = 0;
		if (kind == XCMD_RELEASE && c->closing != 2)
			c->no_drain = 0;	/* the app's close drains, as ever */
		if (state == XRT_CONNECTING && pending) {
			/* a shutdown before the start ran: nothing to close */
			pthread_mutex_lock(&c->ep.loop->mu);
			c->start_pending = 0;
			pthread_mutex_unlock(&c->ep.loop->mu);
			finish_stop(c);
		} else if (state == XRT_OPEN || state == XRT_CONNECTING) {
			set_state(c, XRT_STOPPING);
			begin_close(c, 1000);
		} else if (state == XRT_STOPPING) {
			/* already on its way down */
		} else if (!c->wsi) {
			finish_stop(c);
		}
		break;

	case XCMD_RECONNECT:
		if (state == XRT_OPEN || state == XRT_CONNECTING) {
			/* nothing more is written on this link: what is still
			 * queued goes on the next one, after the rejoin, rather
			 * than just before a close that may lose it */
			c->restart = 1;
			c->no_drain = 1;
			begin_close(c, 4000);
		} else if (state == XRT_WAITING) {
			lws_sul_cancel(&c->sul_retry);
			schedule_restart(c);
		}
		break;

	case XCMD_WRITE:
		/* write_queued stays set until the writer finds nothing left */
		if (c->wsi && state == XRT_OPEN) {
			lws_callback_on_writable(c->wsi);
		} else {
			pthread_mutex_lock(&c->ep.loop->mu);
			c->write_queued = 0;
			pthread_mutex_unlock(&c->ep.loop->mu);
		}
		break;

	case XCMD_RESUME:
		if (c->wsi)
			lws_rx_flow_control(c->wsi, 1);
		break;

	case XCMD_KILL:
		if (c->wsi && state == XRT_OPEN) {
			set_reason(c, "connection killed");
			kill_wsi(c->wsi);
		}
		break;
	}
}

static void
on_established(xrt_client *c)
{
	int64_t now = lws_now_usecs();
	int work;

	lws_sul_cancel(&c->sul_deadline);
	c->was_open = 1;
	c->opened_at = c->last_rx = now;
	c->ping_sent = 0;
	if (c->state == XRT_STOPPING || c->restart) {
		/* a stop or a reconnect came while connecting (its kill of the
		 * connection does not survive the handshake): this link is
		 * closed at once, with nothing written on it and no event */
		c->closing = 1;
		c->no_drain = 1;
		lws_callback_on_writable(c->wsi);
		lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_deadline,
				 deadline_fire, c->drain_timeout_us > 0 ?
				 c->drain_timeout_us : 1);
		return;
	}
	pthread_mutex_lock(&c->ep.loop->mu);
	c->state = XRT_OPEN;
	c->join_cursor = 0;
	c->stats.connects++;
	work = c->njoins || c->out.count;
	c->write_queued = work;	/* the writer is busy exactly when there is work */
	pthread_mutex_unlock(&c->ep.loop->mu);
	xrt_ep_event(&c->ep, XEV_CONNECTED, 0, 0, NULL, NULL);
	if (work || c->flush_stop)
		lws_callback_on_writable(c->wsi);
	if (c->ping_interval_us > 0)
		lws_sul_schedule(c->ep.loop->ctx, 0, &c->sul_ping, ping_fire,
				 c->ping_interval_us);
}

static void
rx_error(xrt_client *c, int kind, const char *msg)
{
	xrt_ep_event(&c->ep, XEV_ERROR, kind, 0, xrt_buf_from(msg, strlen(msg)),
		     NULL);
}

/* What a received frame became: staged with the frames (xrt_ep_rx_event),
 * visible once the stats count that frame. */
static void
rx_report(xrt_client *c, int kind, const char *msg)
{
	xrt_ep_rx_event(&c->ep, XEV_ERROR, kind, 0, xrt_buf_from(msg, strlen(msg)),
			NULL);
}

static void
on_receive(xrt_client *c, struct lws *wsi, const void *in, size_t len)
{
	char msg[160];
	int pause = 0;

	c->last_rx = lws_now_usecs();
	if (lws_is_first_fragment(wsi)) {
		c->rx_total = 0;
		c->rx_skip = 0;
		c->rx_binary = lws_frame_is_binary(wsi);
		xrt_buf_unref(c->rx);
		c->rx = NULL;
	}
	c->rx_total += len;
	if (!c->rx_skip) {
		if (c->rx_total > c->max_frame || xrt_buf_append(&c->rx, in, len) < 0) {
			c->rx_skip = 1;
			xrt_buf_unref(c->rx);
			c->rx = NULL;
		}
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;

	/* the event is staged (xrt_ep_rx_event): it reaches Lua after the
	 * stats below count its frame */
	if (c->rx_skip) {
		snprintf(msg, sizeof(msg), "frame of %zu bytes is above max_frame "
			 "(%zu) and was discarded", c->rx_total, c->max_frame);
		rx_report(c, XERR_FRAME_TOO_BIG, msg);
	} else if (c->rx_binary) {
		snprintf(msg, sizeof(msg), "binary frame of %zu bytes was "
			 "discarded", c->rx_total);
		rx_report(c, XERR_BINARY, msg);
	} else if (!c->rx) {
		xrt_ep_rx_event(&c->ep, XEV_FRAME, 0, 0, xrt_buf_from("", 0), NULL);
	} else if (!xrt_utf8_valid(xrt_buf_data(c->rx), c->rx->len)) {
		snprintf(msg, sizeof(msg), "text frame of %zu bytes is not valid "
			 "UTF-8 and was discarded", c->rx_total);
		rx_report(c, XERR_UTF8, msg);
	} else {
		xrt_buf_fit(&c->rx);	/* it waits in the events: no spare room */
		xrt_ep_rx_event(&c->ep, XEV_FRAME, 0, 0, c->rx, NULL);
		c->rx = NULL;
	}
	xrt_buf_unref(c->rx);
	c->rx = NULL;

	pthread_mutex_lock(&c->ep.loop->mu);
	c->stats.frames_in++;
	c->stats.bytes_in += c->rx_total;
	if (!c->ep.paused && xrt_ep_backlog(&c->ep) > c->ep.in_limit) {
		c->ep.paused = 1;
		pause = 1;
	}
	pthread_mutex_unlock(&c->ep.loop->mu);
	xrt_ep_staged_check(&c->ep);
	if (pause) {
		lws_rx_flow_control(wsi, 0);
		snprintf(msg, sizeof(msg), "more than %zu bytes of events wait "
			 "for the app: reading paused until it polls",
			 c->ep.in_limit);
		rx_error(c, XERR_PAUSED, msg);
	}
}

/* A batch of frames goes out in one write of at most this many bytes
 * (lws sends up to its service buffer size, 4096, per write; a single
 * larger frame is still written whole and lws buffers the rest). */
#define XRT_BATCH_BYTES 4000
#define XRT_BATCH_FRAMES 64

/* Masking keys from the kernel's CSPRNG, 1024 at a time: lws would read
 * /dev/urandom once per frame (RFC 6455 5.3 wants unpredictable keys). */
static void
mask_key(struct lws_context *ctx, unsigned char key[4])
{
	static __thread unsigned char pool[4096];
	static __thread size_t pos = sizeof(pool);

	if (pos + 4 > sizeof(pool)) {
		size_t got = 0;

		while (got < sizeof(pool)) {
			ssize_t r = getrandom(pool + got, sizeof(pool) - got, 0);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got < sizeof(pool))	/* no entropy source: lws's way */
			lws_get_random(ctx, pool, sizeof(pool));
		pos = 0;
	}
	memcpy(key, pool + pos, 4);
	pos += 4;
}

/* Appends one masked client text frame (RFC 6455 5.2) to *out. */
static int
append_frame(struct lws_context *ctx, xrt_buf **out, const unsigned char *p,
	     size_t len)
{
	unsigned char *d, key[4];
	size_t i, h = len < 126 ? 2 : len < 65536 ? 4 : 10;

	if (xrt_buf_reserve(out, h + 4 + len) < 0)
		return -1;
	d = xrt_buf_data(*out) + (*out)->len;
	d[0] = 0x80 | XRT_WS_TEXT;
	if (h == 2) {
		d[1] = (unsigned char)(0x80 | len);
	} else if (h == 4) {
		d[1] = 0x80 | 126;
		d[2] = (unsigned char)(len >> 8);
		d[3] = (unsigned char)len;
	} else {
		d[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			d[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	mask_key(ctx, key);
	memcpy(d + h, key, 4);
	d += h + 4;
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w, m;
		unsigned char k8[8] = { key[0], key[1], key[2], key[3],
					key[0], key[1], key[2], key[3] };

		memcpy(&w, p + i, 8);
		memcpy(&m, k8, 8);
		w ^= m;
		memcpy(d + i, &w, 8);
	}
	for (; i < len; i++)
		d[i] = p[i] ^ key[i & 3];
	(*out)->len += h + 4 + len;
	return 0;
}

static int
on_writable(xrt_client *c, struct lws *wsi)
{
	xrt_item *batch[XRT_BATCH_FRAMES];	/* popped from out; NULL: a join */
	xrt_buf *frames[XRT_BATCH_FRAMES];
	int nb = 0, more, k, n, bad = 0;
	size_t bytes = 0;

	if (c->closing == 2)
		return 0;	/* the close frame is out: the rest waits for the next link */
	if (c->ping_pending) {
		unsigned char ping[LWS_PRE + 1];

		c->ping_pending = 0;
		if (lws_write(wsi, ping + LWS_PRE, 0, LWS_WRITE_PING) < 0)
			return -1;
		pthread_mutex_lock(&c->ep.loop->mu);
		c->stats.pings++;
		pthread_mutex_unlock(&c->ep.loop->mu);
		lws_callback_on_writable(wsi);
		return 0;
	}

	/* Take a batch: the joins replayed after a (re)connect first, then
	 * the stream, whose joins and leaves update what is joined at its
	 * head as they go (undone below if the write fails).  write_queued
	 * stays set while this writer has work, so that send() wakes the
	 * service thread only when the writer is idle. */
	pthread_mutex_lock(&c->ep.loop->mu);
	while (!c->no_drain && nb < XRT_BATCH_FRAMES &&
	       (!nb || bytes < XRT_BATCH_BYTES)) {
		xrt_item *it = NULL;
		xrt_buf *f;

		if (c->join_cursor < c->njoins) {
			f = xrt_buf_ref(c->joins[c->join_cursor++].frame);
		} else if ((it = pop_frame(c))) {
			f = it->buf;
			if (it->b == XRT_FRAME_JOIN)
				join_add(c, it->a, xrt_buf_ref(f));
			else if (it->b == XRT_FRAME_LEAVE)
				it->buf2 = join_remove(c, it->a);
		} else {
			break;
		}
		batch[nb] = it;
		frames[nb++] = f;
		bytes += f->len;
	}
	more = !c->no_drain && (c->join_cursor < c->njoins || c->out.count);
	if (!more)
		c->write_queued = 0;
	pthread_mutex_unlock(&c->ep.loop->mu);

	if (!nb) {
		if (c->flush_stop && !c->closing) {
			/* connected only to send what was queued: done */
			c->flush_stop = 0;
			set_state(c, XRT_STOPPING);
			c->our_code = 1000;
			c->closing = 1;
		}
		if (c->closing == 1) {
			/* once: lws then sends the close frame and waits for
			 * the server's, and calls back here meanwhile */
			c->closing = 2;
			lws_close_reason(wsi, (enum lws_close_status)c->our_code,
					 NULL, 0);
			return -1;
		}
		return 0;
	}
	/* The frames are masked into c->tx and written at once, raw: one
	 * send() for the batch instead of one per frame.  lws sends raw
	 * bytes in order, buffering what the socket does not take; the
	 * link is HTTP/1.1 (lws limits a ws client to the http/1.1 ALPN
	 * while connect_info.alpn is unset), so these bytes are the frames.
	 * The queued buffers stay intact, so that a join frame can be sent
	 * again after a reconnect, and a frame put back after a failed
	 * write is still whole. */
	c->tx->len = 0;
	for (k = 0; k < nb && !bad; k++)
		bad = append_frame(c->ep.loop->ctx, &c->tx, xrt_buf_data(frames[k]),
				   frames[k]->len) < 0;
	n = bad ? -1 : lws_write(wsi, xrt_buf_data(c->tx), c->tx->len, LWS_WRITE_HTTP);
	if (n < 0) {
		/* not sent: keep the queued ones for the next connection */
		pthread_mutex_lock(&c->ep.loop->mu);
		for (k = nb - 1; k >= 0; k--) {
			xrt_item *it = batch[k];

			if (!it)
				continue;
			if (it->b == XRT_FRAME_JOIN) {
				xrt_buf_unref(join_remove(c, it->a));
			} else if (it->b == XRT_FRAME_LEAVE && it->buf2) {
				join_add(c, it->a, it->buf2);
				it->buf2 = NULL;
			} else if (it->b == XRT_FRAME_DATA) {
				c->ndata++;
			}
			xrt_fifo_push_front(&c->out, it);
		}
		pthread_mutex_unlock(&c->ep.loop->mu);
		for (k = 0; k < nb; k++)
			if (!batch[k])
				xrt_buf_unref(frames[k]);
		set_reason(c, "write failed");
		return -1;
	}
	pthread_mutex_lock(&c->ep.loop->mu);
	c->stats.frames_out += (uint64_t)nb;
	c->stats.bytes_out += bytes;
	pthread_mutex_unlock(&c->ep.loop->mu);
	for (k = 0; k < nb; k++) {
		if (batch[k])
			xrt_item_free(batch[k]);
		else
			xrt_buf_unref(frames[k]);
	}
	if (more || c->closing == 1 || c->flush_stop)
		lws_callback_on_writable(wsi);
	return 0;
}

int
xrt_client_callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	xrt_client *c;

	if (xrt_loop_callback_common(wsi, reason))
		return 0;
	c = lws_get_opaque_user_data(wsi);
	if (!c) {
		/* a connection let go of (a race's loser, an attempt stopped
		 * while connecting): its kill timeout does not survive the
		 * handshake in lws 4.1.6, so it is closed here, at the first
		 * step of the handshake or the link it reaches */
		switch (reason) {
		case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		case LWS_CALLBACK_CLIENT_ESTABLISHED:
		case LWS_CALLBACK_CLIENT_RECEIVE:
		case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		case LWS_CALLBACK_CLIENT_WRITEABLE:
			return -1;
		default:
			return 0;
		}
	}
	/* the connections of an attempt's race belong to connect.c until
	 * one wins; callbacks of an earlier attempt's connection are stale */
	if (wsi != c->wsi) {
		xrt_race_callback(&c->race, wsi, reason, in, len);
		return 0;
	}

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		c->http_status = lws_http_client_http_response(wsi);
		if (c->http_status == 101 || c->http_status < 0)
			c->http_status = 0;
		if (c->http_status) {
			char m[64];

			snprintf(m, sizeof(m), "upgrade refused: HTTP %d",
				 c->http_status);
			set_reason(c, m);
		} else if (c->proxy_host && in && !strcmp(in, "proxy not h1")) {
			/* lws read the proxy's answer and kept it: ask again,
			 * and end the attempt when the answer comes */
			lws_set_opaque_user_data(wsi, NULL);
			c->wsi = NULL;
			if (!c->in_connect &&
			    (c->proxy_asking = xrt_proxy_ask(c->ep.loop, c->host,
							     c->port, c->proxy_addr,
							     c->proxy_port,
							     c->proxy_auth)))
				break;
			c->wsi = wsi;
			lws_set_opaque_user_data(wsi, c);
			set_reason(c, "proxy refused the tunnel");
		} else if (c->proxy_host && in && (!strcmp(in, "proxy conn dead") ||
						   !strcmp(in, "proxy read err"))) {
			set_reason(c, "the proxy closed the connection before "
				   "answering the CONNECT");
		} else if (in && !strncmp(in, "connect SSL err", 15)) {
			/* lws's text here is OpenSSL's empty "error:00000001";
			 * a certificate problem was named by the verify callback */
			set_reason(c, "TLS handshake failed (does the server speak "
				   "TLS on this port?)");
		} else {
			set_reason(c, in ? (const char *)in : "connection failed");
		}
		if (c->in_connect)
			c->sync_failed = 1;
		else
			attempt_ended(c);
		break;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		on_established(c);
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		on_receive(c, wsi, in, len);
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		c->last_rx = lws_now_usecs();
		pthread_mutex_lock(&c->ep.loop->mu);
		c->stats.pongs++;
		if (c->ping_sent)
			c->stats.rtt = (double)(c->last_rx - c->ping_sent) / 1e6;
		pthread_mutex_unlock(&c->ep.loop->mu);
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writable(c, wsi);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *p = in;
			char r[124];
			size_t rl = len - 2 < sizeof(r) - 1 ? len - 2 : sizeof(r) - 1;

			c->peer_code = (p[0] << 8) | p[1];
			memcpy(r, p + 2, rl);
			r[rl] = '\0';
			if (rl) {
				char m[160];

				snprintf(m, sizeof(m), "closed by the server: %s", r);
				set_reason(c, m);
			}
		} else {
			c->peer_code = 1005;
		}
		set_reason(c, "closed by the server");
		break;

	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		/* lws keeps OpenSSL's verdict (we return 0); we keep its
		 * reason, which lws would otherwise only log */
		if (!len && user) {
			int err = X509_STORE_CTX_get_error((X509_STORE_CTX *)user);
			char m[128];

			if (err != X509_V_OK) {
				snprintf(m, sizeof(m), "TLS certificate refused: %s",
					 X509_verify_cert_error_string(err));
				set_reason(c, m);
			}
		} else if (user && c->verify && strchr(c->host, ':') &&
			   !X509_STORE_CTX_get_error_depth((X509_STORE_CTX *)user)) {
			/* the server's own certificate, for an IPv6 literal URL */
			X509 *cert = X509_STORE_CTX_get_current_cert((X509_STORE_CTX *)user);

			if (!cert || X509_check_ip_asc(cert, c->host, 0) != 1) {
				X509_STORE_CTX_set_error((X509_STORE_CTX *)user,
							 X509_V_ERR_IP_ADDRESS_MISMATCH);
				set_reason(c, "TLS certificate refused: IP address mismatch");
				return 1;	/* lws fails the handshake */
			}
		}
		break;

	case LWS_CALLBACK_CLIENT_CLOSED:
		attempt_ended(c);
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		/* the last word on a connection whatever else was said */
		if (c->wsi == wsi)
			attempt_ended(c);
		break;

	default:
		break;
	}
	return 0;
}
