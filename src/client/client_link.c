/*
 * client_link.c - the life of a client's link on the service thread:
 * attempts (name lookup, the address race, the handshake), their end and
 * the reconnect policy, backoff, the deadline and ping timers, and the
 * commands the Lua thread sends (start, stop, reconnect, write...); the
 * client's ops table (xrt_ep_ops) and what its address race calls.
 */
#include "client_internal.h"
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void connect_now(xrt_client *c);

void
xrt_client_set_state(xrt_client *c, int state)
{
	xrt_loop_lock(c->ep.loop);
	c->state = state;
	xrt_loop_unlock(c->ep.loop);
}

/* The first reason given for an attempt's end is the one reported. */
void
xrt_client_set_reason(xrt_client *c, const char *why)
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

/* -------------------------------------------------------- service thread */

static int
policy_reconnects(xrt_client *c, int code)
{
	int i, r = 0;

	xrt_loop_lock(c->ep.loop);
	for (i = 0; i < c->npolicy; i++)
		if (c->policy[i] == code)
			r = 1;
	xrt_loop_unlock(c->ep.loop);
	return r;
}

static void
retry_fire(lws_sorted_usec_list_t *sul)
{
	xrt_client *c = lws_container_of(sul, xrt_client, sul_retry);

	if (c->state == XRT_WAITING) {
		xrt_loop_lock(c->ep.loop);
		c->stats.reconnects++;
		xrt_loop_unlock(c->ep.loop);
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
	xrt_client_set_state(c, XRT_WAITING);
	lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_retry, restart_fire, 1);
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
	xrt_client_set_state(c, XRT_WAITING);
	xrt_ep_event(&c->ep, XEV_RETRY, delay / 1000, c->attempt, NULL, NULL);
	lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_retry, retry_fire,
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
		xrt_client_set_state(c, XRT_CLOSED);
		xrt_ep_service_done(&c->ep);
		return;
	}
	xrt_client_set_state(c, XRT_IDLE);
	xrt_ep_event(&c->ep, XEV_STOPPED, 0, 0, NULL, NULL);
	if (c->restart)
		schedule_restart(c);
}

/* The current attempt or link is over, for whatever reason. */
void
xrt_client_attempt_ended(xrt_client *c)
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

	xrt_loop_lock(c->ep.loop);
	c->stats.last_close_code = code;
	memcpy(c->last_close_reason, c->reason, sizeof(c->last_close_reason));
	state = c->state;
	c->join_cursor = 0;
	xrt_loop_unlock(c->ep.loop);

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
	xrt_client_set_state(c, retry ? XRT_WAITING : XRT_DOWN);
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

void
xrt_client_deadline_fire(lws_sorted_usec_list_t *sul)
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
		xrt_client_set_reason(c, m);
		xrt_client_attempt_ended(c);
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
		xrt_client_set_reason(c, m);
		xrt_client_attempt_ended(c);
		return;
	}
	seconds(s, sizeof(s), c->handshake_timeout_us);
	if (c->proxy_asking) {
		snprintf(m, sizeof(m), "handshake timeout: the proxy refused the "
			 "tunnel and did not say why within %s", s);
		xrt_client_set_reason(c, m);
		xrt_client_attempt_ended(c);
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
		xrt_client_set_reason(c, m);
	}
	kill_wsi(c->wsi);
}

void
xrt_client_ping_fire(lws_sorted_usec_list_t *sul)
{
	xrt_client *c = lws_container_of(sul, xrt_client, sul_ping);
	int64_t now = lws_now_usecs(), next;
	int paused;

	if (!c->wsi || c->state != XRT_OPEN || c->ping_interval_us <= 0)
		return;
	xrt_loop_lock(c->ep.loop);
	paused = xrt_ep_paused(&c->ep);
	xrt_loop_unlock(c->ep.loop);
	if (paused) {
		/* the app is behind, not the link: do not judge it now */
		c->ping_sent = 0;
		next = c->ping_interval_us;
	} else if (c->ping_sent && c->last_rx < c->ping_sent) {
		if (now - c->ping_sent >= c->ping_timeout_us) {
			xrt_client_set_reason(c, "no pong within ping_timeout");
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
	lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_ping, xrt_client_ping_fire,
			 next > 1000 ? next : 1000);
}

static void
xrt_client_race_won(xrt_client *c, struct lws *wsi, const char *addr)
{
	c->wsi = wsi;
	if (c->proxy_host)
		snprintf(c->proxy_addr, sizeof(c->proxy_addr), "%s", addr);
	/* from here the handshake timeout runs: TLS, the proxy's CONNECT and
	 * the upgrade */
	lws_sul_cancel(&c->sul_deadline);
	if (c->handshake_timeout_us > 0)
		lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_deadline,
				 xrt_client_deadline_fire, c->handshake_timeout_us);
}

static void
xrt_client_race_lost(xrt_client *c, const char *why)
{
	char m[320];

	if (c->proxy_host)
		snprintf(m, sizeof(m), "cannot connect to the proxy %.100s port %d "
			 "(%s)", c->proxy_host, c->proxy_port, why);
	else
		snprintf(m, sizeof(m), "cannot connect to %.100s port %d (%s)",
			 c->host, c->port, why);
	xrt_client_set_reason(c, m);
	xrt_client_attempt_ended(c);
}

static void
xrt_client_proxy_refused(xrt_client *c, int status, const char *why)
{
	if (!c->proxy_asking)
		return;
	c->proxy_asking = 0;
	c->http_status = status;
	xrt_client_set_reason(c, why);
	xrt_client_attempt_ended(c);
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
	xrt_client_set_state(c, XRT_CONNECTING);
	/* the connect timeout covers the name lookup and the TCP connects */
	if (c->connect_timeout_us > 0)
		lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_deadline,
				 xrt_client_deadline_fire, c->connect_timeout_us);
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
			xrt_client_set_reason(c, err);
			xrt_client_attempt_ended(c);
			return;
		}
	}
	xrt_race_start(&c->race, addrs);
}

static void
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
	xrt_client_set_reason(c, m);
	xrt_client_attempt_ended(c);
}

/* Begin a voluntary close: drain what is queued, then close with code.
 * Once the close frame is out (a reconnect's, say), the server's answer
 * ends the link, after the server has read everything written before it;
 * closing again would make lws drop the socket at once (a second close
 * does not wait for that answer), and the kernel aborts a socket closed
 * while the server still sends: what a slow link still carried is lost. */
static void
begin_close(xrt_client *c, int code)
{
	if (c->closing == 2)
		return;
	c->our_code = code;
	if (c->was_open && c->wsi) {
		c->closing = 1;
		lws_callback_on_writable(c->wsi);
		lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_deadline,
				 xrt_client_deadline_fire, c->drain_timeout_us > 0 ?
				 c->drain_timeout_us : 1);
	} else if (c->wsi) {
		kill_wsi(c->wsi);
	} else if (c->resolving || c->race.active || c->proxy_asking) {
		xrt_client_attempt_ended(c);
	}
}

static void
xrt_client_command(xrt_client *c, int kind)
{
	int state, pending, queued, drain_here;

	/* the Lua thread moves idle or down to connecting (start()); every
	 * other change is this thread's */
	xrt_loop_lock(c->ep.loop);
	state = c->state;
	pending = c->start_pending;
	queued = c->ndata > 0;
	if (kind == XCMD_START)
		c->start_pending = 0;
	xrt_loop_unlock(c->ep.loop);

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
			xrt_loop_lock(c->ep.loop);
			c->start_pending = 0;
			xrt_loop_unlock(c->ep.loop);
			finish_stop(c);
		} else if (state == XRT_OPEN || state == XRT_CONNECTING) {
			xrt_client_set_state(c, XRT_STOPPING);
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
			xrt_loop_lock(c->ep.loop);
			c->write_queued = 0;
			xrt_loop_unlock(c->ep.loop);
		}
		break;

	case XCMD_RESUME:
		if (c->wsi)
			lws_rx_flow_control(c->wsi, 1);
		break;

	case XCMD_KILL:
		if (c->wsi && state == XRT_OPEN) {
			xrt_client_set_reason(c, "connection killed");
			kill_wsi(c->wsi);
		}
		break;
	}
}

/* ------------------------------------------- what the loop and the race call */

static void
client_command(xrt_endpoint *ep, xrt_item *cmd)
{
	xrt_client_command((xrt_client *)ep, cmd->kind);
}

static void
client_shutdown(xrt_endpoint *ep)
{
	xrt_client_command((xrt_client *)ep, XCMD_RELEASE);
}

/* A client without a link may be about to connect to send what its close
 * left queued. */
static int
client_busy(const xrt_endpoint *ep)
{
	const xrt_client *c = (const xrt_client *)ep;

	return c->wsi || c->flush_stop;
}

static int64_t
client_exit_drain_us(const xrt_endpoint *ep)
{
	return ((const xrt_client *)ep)->drain_timeout_us;
}

static void
client_destroy(xrt_endpoint *ep)
{
	xrt_client_destroy((xrt_client *)ep);
}

static void
client_resolved(xrt_endpoint *ep, const char *host, const char *addrs,
		const char *err)
{
	xrt_client_resolved((xrt_client *)ep, host, addrs, err);
}

static void
client_proxy_answer(xrt_endpoint *ep, uint64_t id, int status, const char *msg)
{
	xrt_client *c = (xrt_client *)ep;

	if (c->proxy_asking == id)
		xrt_client_proxy_refused(c, status, msg);
}

const xrt_ep_ops xrt_client_ops = {
	"client", xrt_client_protocols, client_command, client_shutdown,
	client_busy, client_exit_drain_us, client_destroy, client_resolved,
	client_proxy_answer
};

static struct lws *
race_dial(void *owner, const char *addr)
{
	return xrt_client_dial(owner, addr);
}

static void
race_won(void *owner, struct lws *wsi, const char *addr)
{
	xrt_client_race_won(owner, wsi, addr);
}

static void
race_lost(void *owner, const char *reason)
{
	xrt_client_race_lost(owner, reason);
}

const xrt_race_ops xrt_client_race_ops = { race_dial, race_won, race_lost };
