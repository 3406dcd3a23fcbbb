/*
 * server.c - the server transport: a listening socket whose connections
 * speak HTTP/1.1 and, once upgraded, RFC 6455.
 *
 * Runs on a raw libwebsockets vhost (see wsframe.c for why) on the loop's
 * service thread.  It knows nothing of JSON or channels: each upgrade
 * request and each plain HTTP request goes to Lua, which accepts, refuses
 * or answers it; each text frame goes to Lua; Lua's frames come back
 * through xrt_server_send(), which frames a payload once and queues the
 * same buffer on every recipient.
 */
#include "server_sock.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct lws_protocols server_protocols[] = {
	{ "xano-realtime-server", xrt_server_callback, sizeof(xrt_sock), 0,
	  0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ----------------------------------------------------- id map (under mu) */

static xrt_sock *
map_get(xrt_server *s, uint64_t id)
{
	xrt_sock *k;

	if (!s->mapcap)
		return NULL;
	for (k = s->map[id & (s->mapcap - 1)]; k; k = k->hnext)
		if (k->id == id)
			return k;
	return NULL;
}

static int
map_put(xrt_server *s, xrt_sock *k)
{
	size_t i;

	if (s->mapcount >= s->mapcap) {
		size_t cap = s->mapcap ? s->mapcap * 2 : 64;
		xrt_sock **m = calloc(cap, sizeof(*m));

		if (!m)
			return -1;
		for (i = 0; i < s->mapcap; i++) {
			xrt_sock *e = s->map[i], *n;

			for (; e; e = n) {
				n = e->hnext;
				e->hnext = m[e->id & (cap - 1)];
				m[e->id & (cap - 1)] = e;
			}
		}
		free(s->map);
		s->map = m;
		s->mapcap = cap;
	}
	i = k->id & (s->mapcap - 1);
	k->hnext = s->map[i];
	s->map[i] = k;
	s->mapcount++;
	return 0;
}

static void
map_del(xrt_server *s, xrt_sock *k)
{
	xrt_sock **pp;

	if (!s->mapcap)
		return;
	for (pp = &s->map[k->id & (s->mapcap - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == k) {
			*pp = k->hnext;
			s->mapcount--;
			return;
		}
}

/* Every socket of the map, in no order; the body must not remove any:
 *	for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k)) */
static xrt_sock *
map_next(xrt_server *s, size_t *i, xrt_sock *k)
{
	if (k && k->hnext)
		return k->hnext;
	for (*i = k ? *i + 1 : 0; *i < s->mapcap; (*i)++)
		if (s->map[*i])
			return s->map[*i];
	return NULL;
}

/* ------------------------------------------------------------ Lua thread */

xrt_server *
xrt_server_new(xrt_loop *loop, const xrt_server_opts *o)
{
	xrt_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->host = strdup(o->host);
	s->cert = o->cert ? strdup(o->cert) : NULL;
	s->key = o->key ? strdup(o->key) : NULL;
	if (!s->host || (o->cert && !s->cert) || (o->key && !s->key)) {
		xrt_server_destroy(s);
		return NULL;
	}
	s->want_port = o->port;
	s->max_frame = o->max_frame;
	s->max_queue = o->max_queue;
	s->max_head = o->max_head;
	s->max_body = o->max_body;
	s->ping_interval_us = (int64_t)(o->ping_interval * 1e6);
	s->next_id = 1;
	if (xrt_ep_init(&s->ep, loop, XRT_SERVER, o->in_limit) < 0) {
		xrt_server_destroy(s);
		return NULL;
	}
	return s;
}

void
xrt_server_destroy(xrt_server *s)
{
	free(s->map);
	free(s->dirty);
	free(s->tx);
	free(s->host);
	free(s->cert);
	free(s->key);
	free(s);
}

/* under mu */
static void
mark_dirty(xrt_server *s, xrt_sock *k, int *wake)
{
	if (k->dirty)
		return;
	if (s->ndirty == s->capdirty) {
		size_t cap = s->capdirty ? s->capdirty * 2 : 64;
		uint64_t *d = realloc(s->dirty, cap * sizeof(*d));

		if (!d)
			return;
		s->dirty = d;
		s->capdirty = cap;
	}
	k->dirty = 1;
	if (!s->ndirty)
		*wake = 1;
	s->dirty[s->ndirty++] = k->id;
}

int
xrt_server_send(xrt_server *s, const uint64_t *ids, size_t n, int opcode,
		const void *data, size_t len)
{
	xrt_buf *b = xrt_buf_from(data, len);
	unsigned char hdr[14];
	size_t i;
	int took = 0, wake = 0;

	if (!b)
		return -1;
	b->hlen = xrt_ws_header(hdr, opcode, len);
	memcpy(xrt_buf_data(b) - b->hlen, hdr, b->hlen);

	pthread_mutex_lock(&s->ep.loop->mu);
	for (i = 0; i < n; i++) {
		xrt_sock *k = map_get(s, ids[i]);
		xrt_item *it;

		if (!k || k->phase != PH_WS || k->overflow || k->close_wanted)
			continue;
		if (k->out.bytes + len > s->max_queue) {
			/* a consumer this slow is closed, not allowed to grow */
			k->overflow = 1;
			mark_dirty(s, k, &wake);
			continue;
		}
		it = xrt_item_new(XRT_WS_TEXT, xrt_buf_ref(b));
		if (!it)
			continue;
		xrt_fifo_push(&k->out, it);
		s->frames_out++;
		k->frames_out++;
		mark_dirty(s, k, &wake);
		took++;
	}
	pthread_mutex_unlock(&s->ep.loop->mu);
	xrt_buf_unref(b);
	if (wake)
		xrt_loop_cmd(s->ep.loop, XCMD_WRITE, s, 0, 0, NULL, NULL);
	return took;
}

/* The data frames a socket has taken in and been sent; -1 when the id is
 * not a socket of the server. */
int
xrt_server_counts(xrt_server *s, uint64_t id, uint64_t *in, uint64_t *out)
{
	xrt_sock *k;
	int r = -1;

	pthread_mutex_lock(&s->ep.loop->mu);
	k = map_get(s, id);
	if (k) {
		*in = k->frames_in;
		*out = k->frames_out;
		r = 0;
	}
	pthread_mutex_unlock(&s->ep.loop->mu);
	return r;
}

/* The server's counts: data frames taken in and sent, sockets open. */
void
xrt_server_stats(xrt_server *s, uint64_t *in, uint64_t *out, size_t *socks)
{
	pthread_mutex_lock(&s->ep.loop->mu);
	*in = s->frames_in;
	*out = s->frames_out;
	*socks = s->mapcount;
	pthread_mutex_unlock(&s->ep.loop->mu);
}

/* -------------------------------------------------------- service thread */

static xrt_server *
server_of(struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);

	return vh ? lws_vhost_user(vh) : NULL;
}

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
	pthread_mutex_lock(&k->srv->ep.loop->mu);
	k->phase = phase;
	pthread_mutex_unlock(&k->srv->ep.loop->mu);
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
	pthread_mutex_lock(&k->srv->ep.loop->mu);
	xrt_sock_close_locked(k, code, reason);
	pthread_mutex_unlock(&k->srv->ep.loop->mu);
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
		pthread_mutex_lock(&s->ep.loop->mu);
		s->frames_in++;
		k->frames_in++;
		if (!s->ep.paused && xrt_ep_backlog(&s->ep) > s->ep.in_limit)
			s->ep.paused = 1;
		if (s->ep.paused && !k->paused)
			pause = k->paused = 1;
		pthread_mutex_unlock(&s->ep.loop->mu);
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
	pthread_mutex_lock(&k->srv->ep.loop->mu);
	k->phase = PH_WS;
	pthread_mutex_unlock(&k->srv->ep.loop->mu);
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
	pthread_mutex_lock(&k->srv->ep.loop->mu);
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
	pthread_mutex_unlock(&k->srv->ep.loop->mu);
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
			pthread_mutex_lock(&k->srv->ep.loop->mu);
			xrt_fifo_append(&batch, &k->out);
			k->out = batch;
			pthread_mutex_unlock(&k->srv->ep.loop->mu);
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

static void
sock_closed(xrt_sock *k)
{
	xrt_server *s = k->srv;
	int code = k->close_code ? k->close_code : 1006;

	pthread_mutex_lock(&s->ep.loop->mu);
	map_del(s, k);
	xrt_fifo_clear(&k->out);
	pthread_mutex_unlock(&s->ep.loop->mu);
	xrt_fifo_clear(&k->ctl);
	xrt_ws_free(&k->ws);
	xrt_buf_unref(k->head);
	k->head = NULL;
	if (k->known)
		xrt_ep_event(&s->ep, XEV_GONE, (int64_t)k->id, code, NULL, NULL);
	s->nsocks--;
}

/* Every socket and the listener are closed: the port is free.  Runs
 * outside any callback of the vhost it destroys; with nothing bound to it
 * lws destroys it at once. */
static void
close_finish(lws_sorted_usec_list_t *sul)
{
	xrt_server *s = lws_container_of(sul, xrt_server, sul_finish);

	if (s->nsocks || s->lwsi)
		return;
	lws_sul_cancel(&s->sul_ping);
	lws_sul_cancel(&s->sul_close);
	if (s->vh) {
		struct lws_vhost *vh = s->vh;

		s->vh = NULL;
		lws_vhost_destroy(vh);
		xrt_ep_event(&s->ep, XEV_STOPPED, 0, 0, NULL, NULL);
	}
	if (s->release)
		xrt_ep_service_done(&s->ep);
}

static void
close_done_check(xrt_server *s)
{
	if (s->closing_started && !s->nsocks && !s->lwsi)
		lws_sul_schedule(s->ep.loop->ctx, 0, &s->sul_finish,
				 close_finish, 1);
}

static void
close_deadline(lws_sorted_usec_list_t *sul)
{
	xrt_server *s = lws_container_of(sul, xrt_server, sul_close);
	xrt_sock *k;
	size_t i;

	pthread_mutex_lock(&s->ep.loop->mu);
	for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k))
		lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	pthread_mutex_unlock(&s->ep.loop->mu);
}

static void
ping_fire(lws_sorted_usec_list_t *sul)
{
	xrt_server *s = lws_container_of(sul, xrt_server, sul_ping);
	int64_t now = lws_now_usecs();
	xrt_sock *k;
	size_t i;

	pthread_mutex_lock(&s->ep.loop->mu);
	for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k)) {
		if (k->phase != PH_WS || k->paused)
			continue;
		if (now - k->last_rx >= 2 * s->ping_interval_us)
			lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		else if (now - k->last_rx >= s->ping_interval_us && !k->ping_out) {
			k->ping_out = 1;
			xrt_sock_queue_frame(k, XRT_WS_PING, NULL, 0, 0);
		}
	}
	pthread_mutex_unlock(&s->ep.loop->mu);
	lws_sul_schedule(s->ep.loop->ctx, 0, &s->sul_ping, ping_fire,
			 s->ping_interval_us / 2);
}

static void
begin_close(xrt_server *s)
{
	xrt_sock *k;
	size_t i;

	if (s->closing_started) {
		close_done_check(s);
		return;
	}
	s->closing_started = 1;
	if (s->lwsi)
		lws_set_timeout(s->lwsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	pthread_mutex_lock(&s->ep.loop->mu);
	s->closing = 1;
	for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k)) {
		if (k->phase == PH_WS)
			xrt_sock_close_locked(k, 1001, "server shutting down");
		else if (k->phase != PH_CLOSING && k->phase != PH_DONE)
			lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
	}
	pthread_mutex_unlock(&s->ep.loop->mu);
	lws_sul_schedule(s->ep.loop->ctx, 0, &s->sul_close, close_deadline,
			 2 * LWS_US_PER_SEC);
	close_done_check(s);
}

/* A listening socket of our own: lws would keep a destroyed vhost's
 * listener open until its 30 s housekeeping, and would quietly share one
 * port between two vhosts of a context.  -1 and msg on failure. */
static int
open_listener(xrt_server *s, char *msg, size_t msglen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int fd = -1, one = 1, r, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", s->want_port);
	r = getaddrinfo(s->host, port, &hints, &res);
	if (r) {
		snprintf(msg, msglen, "cannot listen on %s:%d: %s", s->host,
			 s->want_port, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			/* "::" serves both families (dual-stack) whatever the
			 * system's net.ipv6.bindv6only says */
			int v6only = !IN6_IS_ADDR_UNSPECIFIED(
				&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
				   sizeof(v6only));
		}
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) &&
		    !listen(fd, SOMAXCONN))
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot listen on %s:%d: %s", s->host,
			 s->want_port, strerror(err));
		return -1;
	}
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
			s->port = ntohs(ss.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)&ss)->sin6_port :
				((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

static void
listen_failed(xrt_server *s, const char *msg)
{
	xrt_ep_event(&s->ep, XEV_ERROR, XERR_LISTEN, 0,
		     xrt_buf_from(msg, strlen(msg)), NULL);
	s->closing_started = 1;
	close_done_check(s);
}

static void
do_listen(xrt_server *s)
{
	struct lws_context_creation_info info;
	lws_sock_file_fd_type lfd;
	char msg[200];
	int fd;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;	/* we adopt sockets */
	info.protocols = server_protocols;
	info.vhost_name = "server";
	info.user = s;
	if (s->cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = s->cert;
		info.ssl_private_key_filepath = s->key;
	}
	s->vh = lws_create_vhost(s->ep.loop->ctx, &info);
	if (!s->vh) {
		snprintf(msg, sizeof(msg), "cannot serve on %s:%d%s", s->host,
			 s->want_port, s->cert ? ": bad certificate or key" : "");
		listen_failed(s, msg);
		return;
	}
	pthread_mutex_lock(&s->ep.loop->mu);
	fd = open_listener(s, msg, sizeof(msg));
	pthread_mutex_unlock(&s->ep.loop->mu);
	if (fd < 0) {
		listen_failed(s, msg);
		return;
	}
	lfd.filefd = fd;
	s->lwsi = lws_adopt_descriptor_vhost(s->vh, LWS_ADOPT_RAW_FILE_DESC, lfd,
					     "xano-realtime-server", NULL);
	if (!s->lwsi) {
		snprintf(msg, sizeof(msg), "cannot listen on %s:%d: lws would not "
			 "adopt the socket", s->host, s->want_port);
		listen_failed(s, msg);
		return;
	}
	if (s->ping_interval_us > 0)
		lws_sul_schedule(s->ep.loop->ctx, 0, &s->sul_ping, ping_fire,
				 s->ping_interval_us / 2);
	xrt_ep_event(&s->ep, XEV_LISTENING, s->port, 0, NULL, NULL);
}

/* The listener is readable: take what waits, bounded per wakeup. */
static void
accept_pending(xrt_server *s)
{
	int i;

	for (i = 0; i < 64; i++) {
		lws_sock_file_fd_type sfd;
		int fd = accept4(lws_get_socket_fd(s->lwsi), NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

		if (fd < 0)
			return;
		if (s->closing_started) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sfd.sockfd = fd;
		/* on failure lws closes fd itself */
		lws_adopt_descriptor_vhost(s->vh, LWS_ADOPT_SOCKET |
					   (s->cert ? LWS_ADOPT_ALLOW_SSL : 0), sfd,
					   "xano-realtime-server", NULL);
	}
}

void
xrt_server_command(xrt_server *s, xrt_item *cmd)
{
	xrt_sock *k = NULL;
	size_t i;

	if (cmd->kind == XCMD_ACCEPT || cmd->kind == XCMD_RESPOND ||
	    cmd->kind == XCMD_SOCK_CLOSE) {
		pthread_mutex_lock(&s->ep.loop->mu);
		k = map_get(s, (uint64_t)cmd->a);
		pthread_mutex_unlock(&s->ep.loop->mu);
		if (!k)
			return;
	}
	switch (cmd->kind) {
	case XCMD_LISTEN:
		do_listen(s);
		break;
	case XCMD_ACCEPT:
		xrt_sock_accept(k, cmd->buf);
		break;
	case XCMD_RESPOND:
		if (k->phase == PH_WAIT)
			xrt_sock_respond(k, (int)cmd->b,
				cmd->buf2 ? (const char *)xrt_buf_data(cmd->buf2) : NULL,
				cmd->buf ? xrt_buf_data(cmd->buf) : NULL,
				cmd->buf ? cmd->buf->len : 0);
		break;
	case XCMD_SOCK_CLOSE:
		if (k->phase == PH_WS)
			xrt_sock_close(k, (int)cmd->b, cmd->buf ?
				    (const char *)xrt_buf_data(cmd->buf) : NULL);
		else if (k->phase != PH_CLOSING && k->phase != PH_DONE)
			lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		break;
	case XCMD_WRITE: {
		pthread_mutex_lock(&s->ep.loop->mu);
		for (i = 0; i < s->ndirty; i++) {
			xrt_sock *d = map_get(s, s->dirty[i]);

			if (d) {
				d->dirty = 0;
				lws_callback_on_writable(d->wsi);
			}
		}
		s->ndirty = 0;
		pthread_mutex_unlock(&s->ep.loop->mu);
		break;
	}
	case XCMD_RESUME:
		pthread_mutex_lock(&s->ep.loop->mu);
		for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k))
			if (k->paused) {
				k->paused = 0;
				lws_rx_flow_control(k->wsi, 1);
			}
		pthread_mutex_unlock(&s->ep.loop->mu);
		break;
	case XCMD_SERVER_CLOSE:
		begin_close(s);
		break;
	case XCMD_RELEASE:
		s->release = 1;
		begin_close(s);
		break;
	}
}

int
xrt_server_callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	xrt_sock *k = user;
	xrt_server *s;

	if (xrt_loop_callback_common(wsi, reason))
		return 0;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		s = server_of(wsi);
		if (!s || !k || s->closing_started)
			return -1;
		memset(k, 0, sizeof(*k));
		k->wsi = wsi;
		k->srv = s;
		k->phase = PH_HEAD;
		pthread_mutex_lock(&s->ep.loop->mu);
		k->id = s->next_id++;
		if (map_put(s, k) < 0) {
			pthread_mutex_unlock(&s->ep.loop->mu);
			return -1;
		}
		pthread_mutex_unlock(&s->ep.loop->mu);
		s->nsocks++;
		k->last_rx = lws_now_usecs();
		/* a client that never finishes its request is dropped */
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 30);
		break;

	case LWS_CALLBACK_RAW_RX:
		if (!k || !k->srv)
			return -1;
		if (k->phase == PH_WAIT && !k->upgrade)
			break;
		xrt_sock_rx(k, in, len);
		break;

	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!k || !k->srv)
			return -1;
		return xrt_sock_writable(k);

	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* One certificate per server.  lws's SNI callback would pick
		 * any vhost "on the same port", and every server here adopts
		 * its sockets (port -2): another server of the process. */
		if (user)
			SSL_CTX_set_tlsext_servername_callback((SSL_CTX *)user, NULL);
		break;

	case LWS_CALLBACK_RAW_RX_FILE:	/* the listener */
		s = server_of(wsi);
		if (s && wsi == s->lwsi)
			accept_pending(s);
		break;

	case LWS_CALLBACK_RAW_CLOSE_FILE:
		s = server_of(wsi);
		if (s && wsi == s->lwsi) {
			s->lwsi = NULL;
			close_done_check(s);
		}
		break;

	case LWS_CALLBACK_RAW_CLOSE:
		if (k && k->srv) {
			s = k->srv;
			sock_closed(k);
			k->srv = NULL;
			if (s->closing_started)
				close_done_check(s);
		}
		break;

	default:
		break;
	}
	return 0;
}
