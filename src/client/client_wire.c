/*
 * client_wire.c - the libwebsockets callback of a client connection:
 * the link coming up, frames received (reassembled, checked, handed to
 * Lua as events), and the writer, which sends the stream in batches of
 * masked frames in one write.
 */
#include "client_internal.h"
#include "proxy.h"
#include "wsframe.h"

#include <sys/random.h>
#include <stdio.h>
#include <string.h>

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
		lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_deadline,
				 xrt_client_deadline_fire, c->drain_timeout_us > 0 ?
				 c->drain_timeout_us : 1);
		return;
	}
	xrt_loop_lock(c->ep.loop);
	c->state = XRT_OPEN;
	xrt_client_skip_left(c);
	c->join_cursor = 0;
	c->stats.connects++;
	work = c->njoins || c->out.count;
	c->write_queued = work;	/* the writer is busy exactly when there is work */
	xrt_loop_unlock(c->ep.loop);
	xrt_ep_event(&c->ep, XEV_CONNECTED, 0, 0, NULL, NULL);
	if (work || c->flush_stop)
		lws_callback_on_writable(c->wsi);
	if (c->ping_interval_us > 0)
		lws_sul_schedule(xrt_loop_context(c->ep.loop), 0, &c->sul_ping, xrt_client_ping_fire,
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

	xrt_loop_lock(c->ep.loop);
	c->stats.frames_in++;
	c->stats.bytes_in += c->rx_total;
	pause = xrt_ep_pause_check(&c->ep);
	xrt_loop_unlock(c->ep.loop);
	xrt_ep_staged_check(&c->ep);
	if (pause) {
		lws_rx_flow_control(wsi, 0);
		snprintf(msg, sizeof(msg), "more than %zu bytes of events wait "
			 "for the app: reading paused until it polls",
			 xrt_ep_in_limit(&c->ep));
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
	unsigned h;

	if (xrt_buf_reserve(out, XRT_WS_MAX_HEADER + len) < 0)
		return -1;
	d = xrt_buf_data(*out) + (*out)->len;
	mask_key(ctx, key);
	h = xrt_ws_header_masked(d, XRT_WS_TEXT, len, key);
	xrt_ws_mask(d + h, p, len, key);
	(*out)->len += h + len;
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
		xrt_loop_lock(c->ep.loop);
		c->stats.pings++;
		xrt_loop_unlock(c->ep.loop);
		lws_callback_on_writable(wsi);
		return 0;
	}

	/* Take a batch: the joins replayed after a (re)connect first, then
	 * the stream, whose joins and leaves update what is joined at its
	 * head as they go (undone below if the write fails).  write_queued
	 * stays set while this writer has work, so that send() wakes the
	 * service thread only when the writer is idle. */
	xrt_loop_lock(c->ep.loop);
	while (!c->no_drain && nb < XRT_BATCH_FRAMES &&
	       (!nb || bytes < XRT_BATCH_BYTES)) {
		xrt_item *it = NULL;
		xrt_buf *f;

		if (c->join_cursor < c->njoins) {
			f = xrt_buf_ref(c->joins[c->join_cursor++].frame);
		} else if ((it = xrt_client_pop_frame(c))) {
			f = it->buf;
			if (it->b == XRT_FRAME_JOIN)
				xrt_client_join_add(c, it->a, xrt_buf_ref(f));
			else if (it->b == XRT_FRAME_LEAVE)
				it->buf2 = xrt_client_join_remove(c, it->a);
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
	xrt_loop_unlock(c->ep.loop);

	if (!nb) {
		if (c->flush_stop && !c->closing) {
			/* connected only to send what was queued: done */
			c->flush_stop = 0;
			xrt_client_set_state(c, XRT_STOPPING);
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
		bad = append_frame(xrt_loop_context(c->ep.loop), &c->tx, xrt_buf_data(frames[k]),
				   frames[k]->len) < 0;
	n = bad ? -1 : lws_write(wsi, xrt_buf_data(c->tx), c->tx->len, LWS_WRITE_HTTP);
	if (n < 0) {
		/* not sent: keep the queued ones for the next connection */
		xrt_loop_lock(c->ep.loop);
		for (k = nb - 1; k >= 0; k--) {
			xrt_item *it = batch[k];

			if (!it)
				continue;
			if (it->b == XRT_FRAME_JOIN) {
				xrt_buf_unref(xrt_client_join_remove(c, it->a));
			} else if (it->b == XRT_FRAME_LEAVE && it->buf2) {
				xrt_client_join_add(c, it->a, it->buf2);
				it->buf2 = NULL;
			} else if (it->b == XRT_FRAME_DATA) {
				c->ndata++;
			}
			xrt_fifo_push_front(&c->out, it);
		}
		xrt_loop_unlock(c->ep.loop);
		for (k = 0; k < nb; k++)
			if (!batch[k])
				xrt_buf_unref(frames[k]);
		xrt_client_set_reason(c, "write failed");
		return -1;
	}
	xrt_loop_lock(c->ep.loop);
	c->stats.frames_out += (uint64_t)nb;
	c->stats.bytes_out += bytes;
	xrt_loop_unlock(c->ep.loop);
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
			xrt_client_set_reason(c, m);
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
			xrt_client_set_reason(c, "proxy refused the tunnel");
		} else if (c->proxy_host && in && (!strcmp(in, "proxy conn dead") ||
						   !strcmp(in, "proxy read err"))) {
			xrt_client_set_reason(c, "the proxy closed the connection before "
				   "answering the CONNECT");
		} else if (in && !strncmp(in, "connect SSL err", 15)) {
			/* lws's text here is OpenSSL's empty "error:00000001";
			 * a certificate problem was named by the verify callback */
			xrt_client_set_reason(c, "TLS handshake failed (does the server speak "
				   "TLS on this port?)");
		} else {
			xrt_client_set_reason(c, in ? (const char *)in : "connection failed");
		}
		if (c->in_connect)
			c->sync_failed = 1;
		else
			xrt_client_attempt_ended(c);
		break;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		on_established(c);
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		on_receive(c, wsi, in, len);
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		c->last_rx = lws_now_usecs();
		xrt_loop_lock(c->ep.loop);
		c->stats.pongs++;
		if (c->ping_sent)
			c->stats.rtt = (double)(c->last_rx - c->ping_sent) / 1e6;
		xrt_loop_unlock(c->ep.loop);
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
				xrt_client_set_reason(c, m);
			}
		} else {
			c->peer_code = 1005;
		}
		xrt_client_set_reason(c, "closed by the server");
		break;

	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		return xrt_client_check_cert(c, user, len);

	case LWS_CALLBACK_CLIENT_CLOSED:
		xrt_client_attempt_ended(c);
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		/* the last word on a connection whatever else was said */
		if (c->wsi == wsi)
			xrt_client_attempt_ended(c);
		break;

	default:
		break;
	}
	return 0;
}
