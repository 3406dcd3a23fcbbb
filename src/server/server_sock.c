/*
 * server_sock.c - one connection of the server, on the service thread: its
 * HTTP request (read, checked, handed to Lua), the upgrade Lua accepts, the
 * WebSocket frames it sends (parsed, control frames answered), and its
 * writes (responses and control frames first, then the data frames Lua
 * queued, gathered into one write).  The listener, the id map and the
 * commands are server.c's.
 */
#include "server_sock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
queue_ctl(xrt_sock *k, xrt_buf *b, int close_after)
{
	xrt_item *it = xrt_item_new(0, b);

	if (!it)
		return;
	it->b = close_after;
	xrt_fifo_push(&k->ctl, it);
	lws_callback_on_writable(k->wsi);
}

void
xrt_sock_queue_frame(xrt_sock *k, int opcode, const void *p, size_t len, int close_after)
{
	xrt_buf *b = xrt_buf_from(p, len);
	unsigned char hdr[14];

	if (!b)
		return;
	b->hlen = xrt_ws_header(hdr, opcode, len);
	memcpy(xrt_buf_data(b) - b->hlen, hdr, b->hlen);
	queue_ctl(k, b, close_after);
}

/* The Lua thread reads a socket's phase (under mu) to decide what it may
 * queue: a change from the WebSocket phase on is made under mu too. */
static void
set_phase(xrt_sock *k, int phase)
{
	xrt_loop_lock(k->srv->ep.loop);
	k->phase = phase;
	xrt_loop_unlock(k->srv->ep.loop);
}

/* The close frame itself: after an echo we close once it is written,
 * after our own we wait (2 s at most) for the peer's. */
static void
write_close(xrt_sock *k, int code, const char *reason, int close_after)
{
	unsigned char p[125];
	size_t rl = reason ? strlen(reason) : 0;

	if (rl > sizeof(p) - 2)
		rl = sizeof(p) - 2;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	if (rl)
		memcpy(p + 2, reason, rl);
	k->close_code = code;
	/* 1005 ("no status") is never sent: it means a close frame with no
	 * payload at all */
	xrt_sock_queue_frame(k, XRT_WS_CLOSE, p, code == 1005 ? 0 : rl + 2, close_after);
	if (!close_after) {
		set_phase(k, PH_CLOSING);
		lws_set_timeout(k->wsi, PENDING_TIMEOUT_CLOSE_ACK, 2);
	} else {
		set_phase(k, PH_DONE);
	}
}

/* Our close: the frames already queued go first, nothing is queued
 * after.  The caller holds mu. */
void
xrt_sock_close_locked(xrt_sock *k, int code, const char *reason)
{
	if (!k->close_wanted) {
		k->close_wanted = code;
		snprintf(k->close_reason, sizeof(k->close_reason), "%s",
			 reason ? reason : "");
	}
	lws_callback_on_writable(k->wsi);
}

void
xrt_sock_close(xrt_sock *k, int code, const char *reason)
{
	xrt_loop_lock(k->srv->ep.loop);
	xrt_sock_close_locked(k, code, reason);
	xrt_loop_unlock(k->srv->ep.loop);
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* ctype may carry more header lines after the type ("text/html\r\n
 * Set-Cookie: ..."): lua_server.c checks them. */
void
xrt_sock_respond(xrt_sock *k, int status, const char *ctype, const void *body,
	size_t len)
{
	char head[160];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: ",
			 status, status_text(status));
	xrt_buf *b = xrt_buf_from(head, (size_t)n);

	if (!ctype)
		ctype = "text/plain; charset=utf-8";
	n = snprintf(head, sizeof(head), "\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", len);
	if (b && (xrt_buf_append(&b, ctype, strlen(ctype)) < 0 ||
		  xrt_buf_append(&b, head, (size_t)n) < 0 ||
		  (len && xrt_buf_append(&b, body, len) < 0))) {
		xrt_buf_unref(b);
		b = NULL;
	}
	set_phase(k, PH_DONE);
	if (b)
		queue_ctl(k, b, 1);
	else
		lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void
respond_text(xrt_sock *k, int status, const char *text)
{
	xrt_sock_respond(k, status, NULL, text, strlen(text));
}

/* A complete message from the client. */
static int
on_message(void *ud, int opcode, xrt_buf *msg, const unsigned char *ctl,
	   size_t len)
{
	xrt_sock *k = ud;
	xrt_server *s = k->srv;
	int pause = 0;

	k->last_rx = lws_now_usecs();
	k->ping_out = 0;
	switch (opcode) {
	case XRT_WS_TEXT:
	case XRT_WS_BINARY:
		if (k->phase != PH_WS) {
			xrt_buf_unref(msg);
			return 0;
		}
		xrt_ep_rx_event(&s->ep, XEV_FRAME, (int64_t)k->id, opcode, msg, NULL);
		xrt_loop_lock(s->ep.loop);
		s->frames_in++;
		k->frames_in++;
		xrt_ep_pause_check(&s->ep);
		if (xrt_ep_paused(&s->ep) && !k->paused)
			pause = k->paused = 1;
		xrt_loop_unlock(s->ep.loop);
		xrt_ep_staged_check(&s->ep);
		if (pause)
			lws_rx_flow_control(k->wsi, 0);
		return 0;
	case XRT_WS_PING:
		if (k->phase == PH_WS)
			xrt_sock_queue_frame(k, XRT_WS_PONG, ctl, len, 0);
		return 0;
	case XRT_WS_PONG:
		return 0;
	case XRT_WS_CLOSE:
		if (k->phase == PH_CLOSING)
			return -1;	/* the reply to ours: done */
		k->close_code = len >= 2 ? (ctl[0] << 8) | ctl[1] : 1005;
		/* echo the code, then close */
		if (len >= 2)
			xrt_sock_queue_frame(k, XRT_WS_CLOSE, ctl, 2, 1);
		else
			xrt_sock_queue_frame(k, XRT_WS_CLOSE, NULL, 0, 1);
		set_phase(k, PH_DONE);
		return 1;
	}
	return 0;
}

static void
feed_ws(xrt_sock *k, const unsigned char *in, size_t len)
{
	int r = xrt_ws_feed(&k->ws, in, len, on_message, k);

	if (r == -1)
		lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	else if (r >= 1000 && k->phase == PH_WS)
		xrt_sock_close(k, r, r == 1009 ? "message too big" :
			    r == 1007 ? "invalid UTF-8" : "protocol error");
}

/* The head (and body) of a request are in; hand it to Lua or answer. */
static void
request_ready(xrt_sock *k, const xrt_http_req *r)
{
	xrt_server *s = k->srv;
	xrt_buf *head = xrt_buf_from(xrt_buf_data(k->head), k->headlen);

	if (r->upgrade.n) {
		xrt_buf *path, *proto = NULL;

		if (!xrt_span_has_token(r->upgrade, "websocket") ||
		    !xrt_span_has_token(r->connection, "upgrade") ||
		    r->method.n != 3 || memcmp(r->method.p, "GET", 3) ||
		    !r->ws_key.n || r->ws_key.n > 64) {
			xrt_buf_unref(head);
			respond_text(k, 400, "bad websocket upgrade\n");
			return;
		}
		if (r->ws_version.n != 2 || memcmp(r->ws_version.p, "13", 2)) {
			xrt_buf_unref(head);
			xrt_sock_respond(k, 426, NULL, "websocket version 13 only\n", 26);
			return;
		}
		path = xrt_buf_from(r->path.p, r->path.n);
		if (r->ws_protocol.p)
			proto = xrt_buf_from(r->ws_protocol.p, r->ws_protocol.n);
		/* keep the head: the accept needs the key */
		k->upgrade = 1;
		k->phase = PH_WAIT;
		k->known = 1;
		xrt_ep_event(&s->ep, XEV_UPGRADE, (int64_t)k->id, 0, path, proto);
		xrt_buf_unref(head);
		return;
	}
	k->phase = PH_WAIT;
	k->known = 1;
	xrt_ep_event(&s->ep, XEV_REQUEST, (int64_t)k->id, 0,
		     xrt_buf_from(xrt_buf_data(k->head) + k->headlen,
				  k->head->len - k->headlen), head);
}

void
xrt_sock_rx(xrt_sock *k, const unsigned char *in, size_t len)
{
	xrt_server *s = k->srv;
	xrt_http_req r;

	switch (k->phase) {
	case PH_WS:
	case PH_CLOSING:
		feed_ws(k, in, len);
		return;
	case PH_WAIT:
		/* early bytes (frames after the upgrade request): keep a few */
		if (k->upgrade && k->head->len + len <= s->max_head + 65536)
			xrt_buf_append(&k->head, in, len);
		return;
	case PH_DONE:
		return;
	}

	if (xrt_buf_append(&k->head, in, len) < 0) {
		respond_text(k, 500, "out of memory\n");
		return;
	}
	if (k->phase == PH_HEAD) {
		size_t hl;

		/* A request starts with its method; anything else (a TLS
		 * ClientHello on a plain port, say) is answered at once
		 * rather than held until the head timeout. */
		if (xrt_buf_data(k->head)[0] < 'A' || xrt_buf_data(k->head)[0] > 'Z') {
			respond_text(k, 400, "not an HTTP request\n");
			return;
		}
		hl = xrt_http_head_len((const char *)xrt_buf_data(k->head),
				       k->head->len);

		if (!hl) {
			if (k->head->len > s->max_head)
				respond_text(k, 431, "request head too large\n");
			return;
		}
		if (hl > s->max_head) {
			respond_text(k, 431, "request head too large\n");
			return;
		}
		if (xrt_http_parse((const char *)xrt_buf_data(k->head), hl, &r)) {
			respond_text(k, 400, "malformed request\n");
			return;
		}
		k->headlen = hl;
		if (r.content_length > 0 && !r.upgrade.n) {
			if ((size_t)r.content_length > s->max_body) {
				respond_text(k, 413, "request body too large\n");
				return;
			}
			k->body_need = (size_t)r.content_length;
			k->phase = PH_BODY;
		} else {
			request_ready(k, &r);
			return;
		}
	}
	if (k->phase == PH_BODY && k->head->len - k->headlen >= k->body_need) {
		k->head->len = k->headlen + k->body_need;
		xrt_http_parse((const char *)xrt_buf_data(k->head), k->headlen, &r);
		request_ready(k, &r);
	}
}

void
xrt_sock_accept(xrt_sock *k, xrt_buf *proto)
{
	xrt_http_req r;
	char accept[XRT_WS_ACCEPT_LEN];
	xrt_buf *b;
	size_t early;

	if (k->phase != PH_WAIT || !k->upgrade ||
	    xrt_http_parse((const char *)xrt_buf_data(k->head), k->headlen, &r))
		return;
	xrt_ws_accept(&r.ws_key, accept);
	b = xrt_buf_from("HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: ", 97);
	if (!b)
		return;
	xrt_buf_append(&b, accept, strlen(accept));
	if (proto && proto->len) {
		xrt_buf_append(&b, "\r\nSec-WebSocket-Protocol: ", 26);
		xrt_buf_append(&b, xrt_buf_data(proto), proto->len);
	}
	if (xrt_buf_append(&b, "\r\n\r\n", 4) < 0) {
		xrt_buf_unref(b);
		return;
	}
	queue_ctl(k, b, 0);
	xrt_ws_init(&k->ws, k->srv->max_frame);
	xrt_loop_lock(k->srv->ep.loop);
	k->phase = PH_WS;
	xrt_loop_unlock(k->srv->ep.loop);
	k->last_rx = lws_now_usecs();
	lws_set_timeout(k->wsi, NO_PENDING_TIMEOUT, 0);
	early = k->head->len - k->headlen;
	if (early) {
		xrt_buf *e = xrt_buf_from(xrt_buf_data(k->head) + k->headlen, early);

		if (e) {
			feed_ws(k, xrt_buf_data(e), e->len);
			xrt_buf_unref(e);
		}
	}
	xrt_buf_unref(k->head);
	k->head = NULL;
}

/* A frame's bytes on the wire: header and payload. */
static size_t
frame_bytes(const xrt_buf *b)
{
	return b->len + b->hlen;
}

int
xrt_sock_writable(xrt_sock *k)
{
	xrt_fifo batch = { NULL, NULL, 0, 0 };
	xrt_item *it;
	int close_after = 0, overflow, more, close_now;
	xrt_buf *b;

	if (k->phase == PH_DONE && !k->ctl.count && !lws_partial_buffered(k->wsi))
		return -1;
	it = xrt_fifo_pop(&k->ctl);
	xrt_loop_lock(k->srv->ep.loop);
	overflow = k->overflow;
	if (overflow) {
		/* a consumer this slow gets its close at once */
		xrt_fifo_clear(&k->out);
		k->overflow = 0;
		if (!k->close_wanted) {
			k->close_wanted = 1013;
			snprintf(k->close_reason, sizeof(k->close_reason),
				 "too slow: send queue full");
		}
	} else if (!it && k->phase == PH_WS) {
		it = xrt_fifo_pop(&k->out);
		/* the data frames behind it that fit go in the same write */
		if (it) {
			size_t bytes = frame_bytes(it->buf);

			while (k->out.head && batch.count < 63 &&
			       bytes + frame_bytes(k->out.head->buf) <= XRT_SERVER_TX) {
				bytes += frame_bytes(k->out.head->buf);
				xrt_fifo_push(&batch, xrt_fifo_pop(&k->out));
			}
		}
	}
	close_now = !it && k->phase == PH_WS && k->close_wanted && !k->out.count;
	/* a close waiting behind the data needs one more turn */
	more = k->ctl.count || (k->phase == PH_WS && (k->out.count || k->close_wanted));
	xrt_loop_unlock(k->srv->ep.loop);
	if (close_now) {
		write_close(k, k->close_wanted, k->close_reason, 0);
		it = xrt_fifo_pop(&k->ctl);
	}
	if (it && batch.count) {
		/* several data frames: one write (lws buffers what the socket
		 * does not take, and calls back only once it is sent) */
		unsigned char *p;
		xrt_item *x;
		int r;

		if (!k->srv->tx && !(k->srv->tx = malloc(LWS_PRE + XRT_SERVER_TX))) {
			/* no room to gather: the others wait for the next
			 * turns, in their order, and this one goes alone */
			xrt_loop_lock(k->srv->ep.loop);
			xrt_fifo_append(&batch, &k->out);
			k->out = batch;
			xrt_loop_unlock(k->srv->ep.loop);
			more = 1;
		} else {
			p = k->srv->tx + LWS_PRE;
			b = it->buf;
			memcpy(p, xrt_buf_data(b) - b->hlen, frame_bytes(b));
			p += frame_bytes(b);
			xrt_item_free(it);
			while ((x = xrt_fifo_pop(&batch))) {
				b = x->buf;
				memcpy(p, xrt_buf_data(b) - b->hlen, frame_bytes(b));
				p += frame_bytes(b);
				xrt_item_free(x);
			}
			it = NULL;
			r = lws_write(k->wsi, k->srv->tx + LWS_PRE,
				      (size_t)(p - (k->srv->tx + LWS_PRE)), LWS_WRITE_RAW);
			if (r < 0)
				return -1;
		}
	}
	if (it) {
		b = it->buf;
		close_after = (int)it->b;
		if (lws_write(k->wsi, xrt_buf_data(b) - b->hlen, b->len + b->hlen,
			      LWS_WRITE_RAW) < 0) {
			xrt_item_free(it);
			return -1;
		}
		xrt_item_free(it);
		if (close_after && !lws_partial_buffered(k->wsi) && !k->ctl.count)
			return -1;
	}
	if (more || close_after)
		lws_callback_on_writable(k->wsi);
	return 0;
}
