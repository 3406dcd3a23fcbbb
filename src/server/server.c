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
 *
 * This file holds the server itself: its lifetime and the Lua thread's
 * calls, the map of its connections by id, its vhost, pings and shutdown,
 * the commands and the lws callback, and its ops for the loop.  One
 * connection's life is server_sock.c's; the listening socket is
 * server_listen.c's.
 */
#include "server_sock.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int server_callback(struct lws *wsi, enum lws_callback_reasons reason,
			   void *user, void *in, size_t len);
static void server_free(xrt_server *s);

static const struct lws_protocols server_protocols[] = {
	{ "xano-realtime-server", server_callback, sizeof(xrt_sock), 0,
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
		server_free(s);
		return NULL;
	}
	s->want_port = o->port;
	s->max_frame = o->max_frame;
	s->max_queue = o->max_queue;
	s->max_head = o->max_head;
	s->max_body = o->max_body;
	s->ping_interval_us = (int64_t)(o->ping_interval * 1e6);
	s->next_id = 1;
	if (xrt_ep_init(&s->ep, loop, &xrt_server_ops, o->in_limit) < 0) {
		server_free(s);
		return NULL;
	}
	return s;
}

static void
server_free(xrt_server *s)
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

	xrt_loop_lock(s->ep.loop);
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
	xrt_loop_unlock(s->ep.loop);
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

	xrt_loop_lock(s->ep.loop);
	k = map_get(s, id);
	if (k) {
		*in = k->frames_in;
		*out = k->frames_out;
		r = 0;
	}
	xrt_loop_unlock(s->ep.loop);
	return r;
}

/* The server's counts: data frames taken in and sent, sockets open. */
void
xrt_server_stats(xrt_server *s, uint64_t *in, uint64_t *out, size_t *socks)
{
	xrt_loop_lock(s->ep.loop);
	*in = s->frames_in;
	*out = s->frames_out;
	*socks = s->mapcount;
	xrt_loop_unlock(s->ep.loop);
}

/* -------------------------------------------------------- service thread */

static xrt_server *
server_of(struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);

	return vh ? lws_vhost_user(vh) : NULL;
}

static void
sock_closed(xrt_sock *k)
{
	xrt_server *s = k->srv;
	int code = k->close_code ? k->close_code : 1006;

	xrt_loop_lock(s->ep.loop);
	map_del(s, k);
	xrt_fifo_clear(&k->out);
	xrt_loop_unlock(s->ep.loop);
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
		lws_sul_schedule(xrt_loop_context(s->ep.loop), 0, &s->sul_finish,
				 close_finish, 1);
}

static void
close_deadline(lws_sorted_usec_list_t *sul)
{
	xrt_server *s = lws_container_of(sul, xrt_server, sul_close);
	xrt_sock *k;
	size_t i;

	xrt_loop_lock(s->ep.loop);
	for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k))
		lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	xrt_loop_unlock(s->ep.loop);
}

static void
ping_fire(lws_sorted_usec_list_t *sul)
{
	xrt_server *s = lws_container_of(sul, xrt_server, sul_ping);
	int64_t now = lws_now_usecs();
	xrt_sock *k;
	size_t i;

	xrt_loop_lock(s->ep.loop);
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
	xrt_loop_unlock(s->ep.loop);
	lws_sul_schedule(xrt_loop_context(s->ep.loop), 0, &s->sul_ping, ping_fire,
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
	xrt_loop_lock(s->ep.loop);
	s->closing = 1;
	for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k)) {
		if (k->phase == PH_WS)
			xrt_sock_close_locked(k, 1001, "server shutting down");
		else if (k->phase != PH_CLOSING && k->phase != PH_DONE)
			lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
	}
	xrt_loop_unlock(s->ep.loop);
	lws_sul_schedule(xrt_loop_context(s->ep.loop), 0, &s->sul_close, close_deadline,
			 2 * LWS_US_PER_SEC);
	close_done_check(s);
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
	s->vh = lws_create_vhost(xrt_loop_context(s->ep.loop), &info);
	if (!s->vh) {
		snprintf(msg, sizeof(msg), "cannot serve on %s:%d%s", s->host,
			 s->want_port, s->cert ? ": bad certificate or key" : "");
		listen_failed(s, msg);
		return;
	}
	xrt_loop_lock(s->ep.loop);
	fd = xrt_server_open_listener(s, msg, sizeof(msg));
	xrt_loop_unlock(s->ep.loop);
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
		lws_sul_schedule(xrt_loop_context(s->ep.loop), 0, &s->sul_ping, ping_fire,
				 s->ping_interval_us / 2);
	xrt_ep_event(&s->ep, XEV_LISTENING, s->port, 0, NULL, NULL);
}


static void
server_command(xrt_endpoint *ep, xrt_item *cmd)
{
	xrt_server *s = (xrt_server *)ep;
	xrt_sock *k = NULL;
	size_t i;

	if (cmd->kind == XCMD_ACCEPT || cmd->kind == XCMD_RESPOND ||
	    cmd->kind == XCMD_SOCK_CLOSE) {
		xrt_loop_lock(s->ep.loop);
		k = map_get(s, (uint64_t)cmd->a);
		xrt_loop_unlock(s->ep.loop);
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
		xrt_loop_lock(s->ep.loop);
		for (i = 0; i < s->ndirty; i++) {
			xrt_sock *d = map_get(s, s->dirty[i]);

			if (d) {
				d->dirty = 0;
				lws_callback_on_writable(d->wsi);
			}
		}
		s->ndirty = 0;
		xrt_loop_unlock(s->ep.loop);
		break;
	}
	case XCMD_RESUME:
		xrt_loop_lock(s->ep.loop);
		for (k = map_next(s, &i, NULL); k; k = map_next(s, &i, k))
			if (k->paused) {
				k->paused = 0;
				lws_rx_flow_control(k->wsi, 1);
			}
		xrt_loop_unlock(s->ep.loop);
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

static int
server_callback(struct lws *wsi, enum lws_callback_reasons reason,
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
		xrt_loop_lock(s->ep.loop);
		k->id = s->next_id++;
		if (map_put(s, k) < 0) {
			xrt_loop_unlock(s->ep.loop);
			return -1;
		}
		xrt_loop_unlock(s->ep.loop);
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
			xrt_server_accept_pending(s);
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

/* ------------------------------------------------------- for the loop */

static void
server_shutdown(xrt_endpoint *ep)
{
	begin_close((xrt_server *)ep);
}

/* the listener or a connection still open */
static int
server_busy(const xrt_endpoint *ep)
{
	const xrt_server *s = (const xrt_server *)ep;

	return s->vh || s->lwsi || s->nsocks;
}

/* the process's exit does not wait for a server */
static int64_t
server_exit_drain_us(const xrt_endpoint *ep)
{
	(void)ep;
	return -1;
}

static void
server_destroy(xrt_endpoint *ep)
{
	server_free((xrt_server *)ep);
}

/* Its connections live on the vhost each server makes (do_listen), so it
 * adds no protocol to the loop's; nor does it resolve or ask proxies. */
const xrt_ep_ops xrt_server_ops = {
	"server", NULL, server_command, server_shutdown, server_busy,
	server_exit_drain_us, server_destroy, NULL, NULL
};
