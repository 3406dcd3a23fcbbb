/*
 * rawmode_client.c - the throughput workload of raw_client.c, with the
 * WebSocket protocol done here instead of by libwebsockets: what a client
 * would cost if it read its socket itself.
 *
 * libwebsockets 4.1.6 parses a client's received frames one byte at a time
 * (most of raw_client's instructions, and of the library's service thread:
 * bench/README.md, "Where the time goes").  This program opens the
 * connection with lws in RAW mode (method "RAW": lws connects and then only
 * moves bytes), writes the upgrade request itself,
 * checks the 101 answer with the project's HTTP status reader and
 * Sec-WebSocket-Accept digest, parses every frame of each read in one pass
 * (header in place, payload not copied when the frame is whole in the
 * read), checks text with the project's UTF-8 check, and writes masked
 * frames batched the way raw_client does (the same code, so the two differ
 * by the receive path only).
 *
 *   rawmode_client throughput --port P [--n N] [--window W] [--warmup N]
 *                             [--limit S] [--rxbuf BYTES]
 *   rawmode_client probe --port P [--host NAME] [--tls 0|1|2|3] [--ca FILE]
 *                        [--proxy HOST:PORT] [--address IP] [--hold S]
 *
 * throughput: as raw_client throughput (one connection, one channel
 * "bench", N echoes after the warm-up, W in flight), one JSON line.
 * --rxbuf: lws's per-thread read buffer (pt_serv_buf_size, default 4096):
 * the most one read hands over.
 *
 * probe: connect to --address (default 127.0.0.1, so that the --host name
 * need not resolve), through an HTTP CONNECT proxy when --proxy is given;
 * TLS by lws when --tls is 1 (certificate checked against --ca, name from
 * --host, which is also the SNI and the Host header) or 2 (any
 * certificate), or TLS done here when --tls is 3 (OpenSSL over memory
 * BIOs, lws moving the encrypted bytes; SNI, name and chain checked the
 * same way); then upgrade, send one message and wait for its echo.  Prints
 * one JSON line saying how far it got ("stage") and what lws said.  --hold S: stay
 * connected S seconds after the echo (is the link closed by lws?).
 * Environment: XRT_LWS_LOG (lws log bits), XRT_LWS_TIMEOUT (lws's
 * timeout_secs, 30), XRT_KEEP_PROXY_TIMEOUT=1 (leave the proxy-answer
 * timeout lws set in place).
 *
 * Built by bench/rawmode.sh (with src/transport/wsframe.c, queue.c and
 * http.c).  Every run is bounded by --limit seconds.
 */
#include "http.h"	/* the project's codecs (src/transport) */
#include "wsframe.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_client.h"

enum { M_THROUGHPUT, M_PROBE };
enum { S_CONNECTING, S_UPGRADING, S_OPEN, S_CLOSED };

typedef struct conn {
	struct lws *wsi;
	int state;
	int req_sent;
	int may_upgrade;		/* connected, and past the proxy if any */
	char key[32];		/* Sec-WebSocket-Key sent */
	/* received bytes not yet a whole head or frame */
	unsigned char *rx;
	size_t rxlen, rxcap;
	/* a fragmented message being assembled */
	unsigned char *frag;
	size_t fraglen, fragcap;
	int fragop;
	/* control frames to answer */
	int pong_due, close_due;
	unsigned char pong[125];
	size_t ponglen;
	int joins_left, ping_due;
	long to_send, sent, got;
	char chan[48];
} conn;

static struct {
	int mode, port, tls;
	long n, window, warmup, rxbuf;
	double limit, hold;
	const char *host, *ca, *proxy, *address;
} o = { -1, 0, 0, 50000, 256, 5000, 0, 120, 0, NULL, NULL, NULL, "127.0.0.1" };

static struct lws_context *ctx;
static conn cn;
static volatile sig_atomic_t stop_sig;
static int done, timed_out;
static double t_start, t_end;
static struct rusage ru0, ru1;
static long total_got, reads, frames;
static lws_sorted_usec_list_t sul_limit;
static char host_hdr[300];
static const char *stage = "connect";
static char lws_said[256];
/* probe: what lws did with a RAW client */
static int seen_connected, seen_writable_early, proxy_answered, hold_ok = -1;
/* --tls 3: TLS over the RAW link, done here */
static SSL_CTX *sslctx;
static SSL *ssl;
static BIO *rbio, *wbio;
static int tls_up;
static double hold_until;

static void
finish(void)
{
	done = 1;
	lws_cancel_service(ctx);
}

static void
fail(const char *why)
{
	if (!lws_said[0])
		snprintf(lws_said, sizeof(lws_said), "%s", why);
	finish();
}

static int
append(unsigned char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;
		unsigned char *q;

		while (c < *len + n)
			c *= 2;
		q = realloc(*buf, c);
		if (!q)
			return -1;
		*buf = q;
		*cap = c;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

static void
want_write(conn *c)
{
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

/* ------------------------------------------------------------- workload */

static lws_sorted_usec_list_t sul_hold;

static void
hold_fire(lws_sorted_usec_list_t *sul)
{
	hold_ok = 1;
	finish();
}

static void
on_message(conn *c, const unsigned char *p, size_t len)
{
	const char *s = memmem(p, len, "\"seq\":", 6);
	long seq;

	if (!s)
		return;
	seq = strtol(s + 6, NULL, 10);
	if (seq == 0) {		/* the ping after the join */
		if (o.mode == M_PROBE) {
			stage = "echo";
			if (o.hold > 0) {
				/* stay connected: does lws close it by itself? */
				hold_until = now() + o.hold;
				lws_sul_schedule(ctx, 0, &sul_hold, hold_fire,
						 (lws_usec_t)(o.hold * 1e6));
				return;
			}
			finish();
			return;
		}
		o.n += o.warmup;
		if (!o.warmup) {
			t_start = now();
			getrusage(RUSAGE_SELF, &ru0);
		}
		c->to_send = o.window < o.n ? o.window : o.n;
		return;
	}
	c->got++;
	total_got++;
	if (total_got == o.warmup) {
		t_start = now();
		getrusage(RUSAGE_SELF, &ru0);
	}
	if (c->sent + c->to_send < o.n)
		c->to_send++;
	if (total_got == o.n) {
		t_end = now();
		getrusage(RUSAGE_SELF, &ru1);
		finish();
	}
}

/* the next frame's text into p (room bytes); its length, 0 when none
 * (raw_client.c's, for one channel) */
static int
next_frame(conn *c, char *p, size_t room)
{
	if (c->joins_left) {
		c->joins_left--;
		return snprintf(p, room, BENCH_JOIN_FMT, c->chan);
	}
	if (c->ping_due) {
		c->ping_due = 0;
		return snprintf(p, room, BENCH_MESSAGE_FMT, c->chan, 0L);
	}
	if (c->to_send > 0) {
		long seq = c->sent + 1;

		c->to_send--;
		c->sent++;
		return snprintf(p, room, BENCH_MESSAGE_FMT, c->chan, seq);
	}
	return 0;
}

/* ----------------------------------------------------------- the wire */

/* A masked client frame at d: the project's header with the mask bit set,
 * the key, the payload masked byte by byte as raw_client.c does.  Its
 * length. */
static size_t
put_frame(unsigned char *d, int opcode, const unsigned char *p, size_t n)
{
	unsigned char key[4];
	unsigned h = xrt_ws_header(d, opcode, n);

	d[1] |= 0x80;
	mask_key(ctx, key);
	memcpy(d + h, key, 4);
	if (n)
		mask_bytes(d + h + 4, p, n, key);
	return h + 4 + n;
}

/* Everything TLS has to send, to the socket. */
static int
flush_tls(struct lws *wsi)
{
	static unsigned char out[LWS_PRE + 16384];
	int k;

	while ((k = BIO_read(wbio, out + LWS_PRE, 16384)) > 0)
		if (lws_write(wsi, out + LWS_PRE, (size_t)k, LWS_WRITE_RAW) < k)
			return -1;
	return 0;
}

/* Bytes to the peer (p has LWS_PRE bytes of room before it): through
 * TLS when it is ours, else straight to lws. */
static int
wire_write(struct lws *wsi, unsigned char *p, size_t n)
{
	if (!ssl)
		return lws_write(wsi, p, n, LWS_WRITE_RAW) < (int)n ? -1 : 0;
	if (n && SSL_write(ssl, p, (int)n) != (int)n)
		return -1;
	return flush_tls(wsi);
}

/* --tls 3: the client side of TLS over memory BIOs, SNI and the name to
 * check set from --host, the chain checked against --ca (or the system's
 * CAs); the ClientHello goes out at once. */
static int
tls_start(conn *c)
{
	const char *name = o.host ? o.host : o.address;

	ssl = SSL_new(sslctx);
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (!ssl || !rbio || !wbio)
		return -1;
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_connect_state(ssl);
	SSL_set_tlsext_host_name(ssl, name);
	if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name))
		SSL_set1_host(ssl, name);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	stage = "tls-handshake";
	SSL_do_handshake(ssl);
	return flush_tls(c->wsi);
}

static int
send_upgrade(conn *c, struct lws *wsi)
{
	unsigned char buf[LWS_PRE + 1024], nonce[16];
	char *p = (char *)buf + LWS_PRE;
	int n;

	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return -1;
	if (lws_b64_encode_string((const char *)nonce, 16, c->key, sizeof(c->key)) != 24)
		return -1;
	n = snprintf(p, 1024, "GET /rt/bench HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\nOrigin: http://%s\r\n\r\n",
		     host_hdr, c->key, host_hdr);
	c->req_sent = 1;
	c->state = S_UPGRADING;
	stage = "upgrade";
	return wire_write(wsi, (unsigned char *)p, (size_t)n);
}

/* The 101 answer: its length when whole and right, 0 when incomplete, -1
 * when refused. */
static long
check_upgrade(conn *c, const unsigned char *in, size_t len)
{
	char reason[64], want[XRT_WS_ACCEPT_LEN];
	xrt_span key = { c->key, strlen(c->key) };
	int st = xrt_http_status((const char *)in, len, reason, sizeof(reason));
	const unsigned char *end;
	const char *h;
	size_t hl;

	if (st == 0)
		return 0;
	if (st != 101) {
		snprintf(lws_said, sizeof(lws_said), "upgrade answered %d %s", st, reason);
		return -1;
	}
	end = memmem(in, len, "\r\n\r\n", 4);
	hl = (size_t)(end - in) + 4;
	xrt_ws_accept(&key, want);
	for (h = (const char *)in; h && h < (const char *)end; h = memchr(h, '\n', (size_t)((const char *)end - h))) {
		if (*h == '\n')
			h++;
		if (!strncasecmp(h, "sec-websocket-accept:", 21)) {
			const char *v = h + 21;

			while (*v == ' ' || *v == '\t')
				v++;
			if (!strncmp(v, want, 28) && (v[28] == '\r' || v[28] == ' '))
				return (long)hl;
			break;
		}
	}
	snprintf(lws_said, sizeof(lws_said), "bad Sec-WebSocket-Accept");
	return -1;
}

/* One whole frame's payload (unmasked: a server's). 0, or -1 to close. */
static int
on_frame(conn *c, int fin, int op, const unsigned char *p, size_t n)
{
	frames++;
	if (op >= XRT_WS_CLOSE) {
		if (!fin || n > 125)
			return -1;
		if (op == XRT_WS_PING) {
			memcpy(c->pong, p, n);
			c->ponglen = n;
			c->pong_due = 1;
			want_write(c);
		} else if (op == XRT_WS_CLOSE) {
			c->close_due = 1;
			want_write(c);
		}
		return 0;
	}
	if (op == XRT_WS_CONT) {
		if (!c->fragop)
			return -1;
	} else if (c->fragop) {
		return -1;
	} else if (fin) {
		/* the usual case: the whole message in one frame */
		if (op == XRT_WS_TEXT && !xrt_utf8_valid(p, n))
			return -1;
		on_message(c, p, n);
		return 0;
	} else {
		c->fragop = op;
		c->fraglen = 0;
	}
	if (append(&c->frag, &c->fraglen, &c->fragcap, p, n))
		return -1;
	if (fin) {
		if (c->fragop == XRT_WS_TEXT && !xrt_utf8_valid(c->frag, c->fraglen))
			return -1;
		c->fragop = 0;
		on_message(c, c->frag, c->fraglen);
	}
	return 0;
}

/* Every whole frame in in[0..len): the bytes consumed, or -1. */
static long
parse_frames(conn *c, const unsigned char *in, size_t len)
{
	size_t pos = 0;

	while (len - pos >= 2) {
		const unsigned char *h = in + pos;
		uint64_t n = h[1] & 0x7f;
		size_t hl = 2;

		if ((h[0] & 0x70) || (h[1] & 0x80))
			return -1;	/* no extension; a server never masks */
		if (n == 126) {
			if (len - pos < 4)
				break;
			n = ((uint64_t)h[2] << 8) | h[3];
			hl = 4;
		} else if (n == 127) {
			unsigned i;

			if (len - pos < 10)
				break;
			for (n = 0, i = 2; i < 10; i++)
				n = (n << 8) | h[i];
			if (n >> 62)
				return -1;
			hl = 10;
		}
		if ((uint64_t)(len - pos - hl) < n)
			break;
		if (on_frame(c, h[0] & 0x80, h[0] & 0x0f, h + hl, (size_t)n))
			return -1;
		pos += hl + (size_t)n;
	}
	return (long)pos;
}

/* Received bytes: the upgrade's answer, then frames.  Bytes that do not
 * make a whole head or frame wait in c->rx; when nothing waits, frames are
 * parsed where lws read them. */
static int
on_plain(conn *c, const unsigned char *in, size_t len)
{
	const unsigned char *p = in;
	size_t n = len;
	int from_rx = c->rxlen != 0;
	long used;

	if (from_rx) {
		if (append(&c->rx, &c->rxlen, &c->rxcap, in, len))
			return -1;
		p = c->rx;
		n = c->rxlen;
	}
	if (c->state == S_CONNECTING && o.proxy) {
		/* lws 4.1.6 wrote the CONNECT but hands its answer to a RAW
		 * client as data (ops-raw-skt.c has no LRS_WAITING_PROXY_REPLY
		 * case); its proxy timeout is still set */
		char reason[64];
		int st = xrt_http_status((const char *)p, n, reason, sizeof(reason));
		const unsigned char *end;

		if (st == 0)
			return from_rx ? 0 : append(&c->rx, &c->rxlen, &c->rxcap, in, len);
		if (st != 200) {
			snprintf(lws_said, sizeof(lws_said), "proxy answered %d %s", st, reason);
			return -1;
		}
		end = memmem(p, n, "\r\n\r\n", 4);
		n -= (size_t)(end + 4 - p);
		p = end + 4;
		if (!getenv("XRT_KEEP_PROXY_TIMEOUT"))
			lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
		stage = "proxy";
		proxy_answered = 1;
		if (o.tls == 3 && tls_start(c))
			return -1;
		c->may_upgrade = o.tls != 3;
		want_write(c);
		if (n) {
			snprintf(lws_said, sizeof(lws_said), "bytes after the proxy's answer");
			return -1;
		}
		if (from_rx)
			c->rxlen = 0;
		return 0;
	}
	if (c->state == S_UPGRADING) {
		used = check_upgrade(c, p, n);
		if (used < 0)
			return -1;
		if (used == 0)
			return from_rx ? 0 : append(&c->rx, &c->rxlen, &c->rxcap, in, len);
		c->state = S_OPEN;
		stage = "open";
		c->joins_left = 1;
		c->ping_due = 1;
		want_write(c);
		p += used;
		n -= (size_t)used;
	}
	used = parse_frames(c, p, n);
	if (used < 0) {
		if (!lws_said[0])
			snprintf(lws_said, sizeof(lws_said), "protocol error in a frame");
		return -1;
	}
	p += used;
	n -= (size_t)used;
	if (from_rx) {
		memmove(c->rx, p, n);
		c->rxlen = n;
	} else if (n && append(&c->rx, &c->rxlen, &c->rxcap, p, n)) {
		return -1;
	}
	/* raw_client.c's rule (want_batch): gather 32 replies before
	 * writing, unless half the window is back or nothing more is due */
	if (c->to_send >= 32 || (c->to_send > 0 && (c->sent - c->got < o.window / 2 ||
						     c->sent + c->to_send >= o.n)))
		want_write(c);
	return 0;
}

/* Received bytes: straight to on_plain(), or, once our TLS runs,
 * through it. */
static int
on_rx(conn *c, const unsigned char *in, size_t len)
{
	static unsigned char plain[16384];
	int k;

	reads++;
	if (!ssl)
		return on_plain(c, in, len);
	if (BIO_write(rbio, in, (int)len) != (int)len)
		return -1;
	if (!tls_up) {
		k = SSL_do_handshake(ssl);
		if (k != 1) {
			int e = SSL_get_error(ssl, k);

			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				long v = SSL_get_verify_result(ssl);

				snprintf(lws_said, sizeof(lws_said), "TLS: %s%s%s",
					 ERR_reason_error_string(ERR_peek_last_error()) ?
					 ERR_reason_error_string(ERR_peek_last_error()) : "handshake failed",
					 v != X509_V_OK ? ": " : "",
					 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
				return -1;
			}
			return flush_tls(c->wsi);
		}
		tls_up = 1;
		stage = "tls";
		c->may_upgrade = 1;
		want_write(c);
		if (flush_tls(c->wsi))
			return -1;
	}
	while ((k = SSL_read(ssl, plain, sizeof(plain))) > 0)
		if (on_plain(c, plain, (size_t)k))
			return -1;
	return flush_tls(c->wsi);
}

/* Writable: the upgrade first; then a pong or close that is due, then
 * every pending frame, masked into one buffer and written at once
 * (raw_client.c's batching: up to 64 frames or about 4 KB). */
static int
on_writable(conn *c, struct lws *wsi)
{
	static unsigned char frame[512];
	static unsigned char batch[LWS_PRE + 8192];
	size_t blen = 0;
	int k, n;

	if (!c->req_sent) {
		if (!c->may_upgrade) {
			/* 4.1.6: a RAW client behind a proxy is told it may
			 * write before the proxy answered the CONNECT */
			if (o.proxy && !proxy_answered)
				seen_writable_early = 1;
			return 0;
		}
		return send_upgrade(c, wsi);
	}
	if (c->state != S_OPEN)
		return 0;
	if (c->pong_due) {
		c->pong_due = 0;
		blen += put_frame(batch + LWS_PRE, XRT_WS_PONG, c->pong, c->ponglen);
	}
	if (c->close_due) {
		blen += put_frame(batch + LWS_PRE + blen, XRT_WS_CLOSE, NULL, 0);
		wire_write(wsi, batch + LWS_PRE, blen);
		return -1;
	}
	for (k = 0; k < 64; k++) {
		n = next_frame(c, (char *)frame, sizeof(frame));
		if (n <= 0)
			break;
		blen += put_frame(batch + LWS_PRE + blen, XRT_WS_TEXT, frame, (size_t)n);
		if (blen >= 4000)
			break;
	}
	if (blen && wire_write(wsi, batch + LWS_PRE, blen))
		return -1;
	if (c->joins_left || c->ping_due || c->to_send > 0)
		lws_callback_on_writable(wsi);
	return 0;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	 void *in, size_t len)
{
	conn *c = &cn;

	switch (reason) {
	case LWS_CALLBACK_RAW_CONNECTED:
		stage = "tcp";
		seen_connected = 1;
		c->wsi = wsi;
		if (o.tls == 3 && !o.proxy) {
			if (tls_start(c))
				return -1;
			break;
		}
		c->may_upgrade = 1;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_RAW_RX:
		if (on_rx(c, in, len))
			return -1;
		break;
	case LWS_CALLBACK_RAW_WRITEABLE:
		/* 4.1.6 can call this before RAW_CONNECTED (a RAW client
		 * whose TLS handshake finished at once: client-handshake.c) */
		c->wsi = wsi;
		return on_writable(c, wsi);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(lws_said, sizeof(lws_said), "connection error: %.*s",
			 in ? (int)len : 4, in ? (const char *)in : "none");
		c->wsi = NULL;
		finish();
		break;
	case LWS_CALLBACK_RAW_CLOSE:
		c->wsi = NULL;
		c->state = S_CLOSED;
		if (!done)
			fail("closed");
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "rawws", callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
limit_fire(lws_sorted_usec_list_t *sul)
{
	timed_out = 1;
	if (!t_end)
		t_end = now();
	getrusage(RUSAGE_SELF, &ru1);
	finish();
}

static void
on_signal(int sig)
{
	(void)sig;
	stop_sig = 1;
	if (ctx)
		lws_cancel_service(ctx);
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
report(void)
{
	if (o.mode == M_PROBE) {
		printf("{\"impl\":\"rawmode\",\"mode\":\"probe\",\"tls\":%d,\"proxy\":", o.tls);
		if (o.proxy)
			json_str(o.proxy);
		else
			printf("null");
		printf(",\"host\":");
		json_str(host_hdr);
		printf(",\"stage\":");
		json_str(stage);
		printf(",\"raw_connected\":%s,\"writable_before_proxy_answer\":%s",
		       seen_connected ? "true" : "false", seen_writable_early ? "true" : "false");
		if (o.hold > 0)
			printf(",\"held_s\":%.1f,\"still_open_after_hold\":%s", o.hold,
			       hold_ok == 1 ? "true" : "false");
		printf(",\"ok\":%s,\"said\":", strcmp(stage, "echo") || (o.hold > 0 && hold_ok != 1) ?
		       "false" : "true");
		json_str(lws_said);
		printf("%s}\n", timed_out ? ",\"timeout\":true" : "");
	} else {
		long m = total_got > o.warmup ? total_got - o.warmup : 0;
		double el = t_end - t_start;

		printf("{\"impl\":\"rawmode\",\"mode\":\"throughput\"%s", timed_out ? ",\"timeout\":true" : "");
		printf(",\"n\":%ld,\"warmup\":%ld,\"seconds\":%.6f,\"rate\":%.1f,"
		       "\"cpu_us\":%.0f,\"cpu_us_per_msg\":%.3f,\"reads\":%ld,\"frames\":%ld",
		       m, o.warmup, el, el > 0 ? (double)m / el : 0, cpu_us(&ru0, &ru1),
		       m ? cpu_us(&ru0, &ru1) / (double)m : 0, reads, frames);
		printf(",\"user_us_per_msg\":%.3f,\"sys_us_per_msg\":%.3f",
		       m ? part_us(&ru0.ru_utime, &ru1.ru_utime) / (double)m : 0,
		       m ? part_us(&ru0.ru_stime, &ru1.ru_stime) / (double)m : 0);
		printf(",\"threads\":[{\"role\":\"main\",\"cpu_us_per_msg\":%.3f,"
		       "\"vcsw_per_msg\":%.4f,\"nvcsw_per_msg\":%.4f}]",
		       m ? cpu_us(&ru0, &ru1) / (double)m : 0,
		       m ? (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) / (double)m : 0,
		       m ? (double)(ru1.ru_nivcsw - ru0.ru_nivcsw) / (double)m : 0);
		if (*lws_said) {
			printf(",\"said\":");
			json_str(lws_said);
		}
		printf("}\n");
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info i;
	char proxy_addr[256];
	const char *conn_host;
	int k;

	if (argc > 1 && !strcmp(argv[1], "throughput"))
		o.mode = M_THROUGHPUT;
	else if (argc > 1 && !strcmp(argv[1], "probe"))
		o.mode = M_PROBE;
	for (k = 2; k + 1 < argc; k += 2) {
		const char *key = argv[k], *v = argv[k + 1];

		if (!strcmp(key, "--port")) o.port = atoi(v);
		else if (!strcmp(key, "--n")) o.n = atol(v);
		else if (!strcmp(key, "--window")) o.window = atol(v);
		else if (!strcmp(key, "--warmup")) o.warmup = atol(v);
		else if (!strcmp(key, "--limit")) o.limit = atof(v);
		else if (!strcmp(key, "--rxbuf")) o.rxbuf = atol(v);
		else if (!strcmp(key, "--tls")) o.tls = atoi(v);
		else if (!strcmp(key, "--host")) o.host = v;
		else if (!strcmp(key, "--ca")) o.ca = v;
		else if (!strcmp(key, "--proxy")) o.proxy = v;
		else if (!strcmp(key, "--address")) o.address = v;
		else if (!strcmp(key, "--hold")) o.hold = atof(v);
		else {
			fprintf(stderr, "rawmode_client: unknown option %s\n", key);
			return 2;
		}
	}
	if (o.mode < 0 || o.port <= 0) {
		fprintf(stderr, "usage: rawmode_client throughput|probe --port P [options] (see the source)\n");
		return 2;
	}
	/* XRT_LWS_LOG: lws's log level bits (probe: errors, warnings and
	 * notices by default) */
	lws_set_log_level(getenv("XRT_LWS_LOG") ? atoi(getenv("XRT_LWS_LOG")) :
			  o.mode == M_PROBE ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR, NULL);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	conn_host = o.host ? o.host : "127.0.0.1";
	snprintf(host_hdr, sizeof(host_hdr), "%s:%d", conn_host, o.port);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       (o.tls == 1 || o.tls == 2 ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.port = CONTEXT_PORT_NO_LISTEN;
	/* XRT_LWS_TIMEOUT: lws's timeout_secs (the proxy answer's, among others) */
	info.timeout_secs = getenv("XRT_LWS_TIMEOUT") ? (unsigned)atoi(getenv("XRT_LWS_TIMEOUT")) : 30;
	info.connect_timeout_secs = 30;
	if (o.rxbuf > 0)
		info.pt_serv_buf_size = (unsigned int)o.rxbuf;
	ctx = lws_create_context(&info);
	if (!ctx)
		return 1;
	info.options = o.tls == 1 || o.tls == 2 ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	if (o.tls == 3) {
		sslctx = SSL_CTX_new(TLS_client_method());
		if (!sslctx || (o.ca ? !SSL_CTX_load_verify_locations(sslctx, o.ca, NULL) :
				      !SSL_CTX_set_default_verify_paths(sslctx)))
			return 1;
	}
	info.protocols = protocols;
	info.vhost_name = "rawmode";
	if (o.ca && o.tls != 3)
		info.client_ssl_ca_filepath = o.ca;
	if (o.proxy) {
		/* lws 4.1.6: the vhost's proxy, "host:port" */
		snprintf(proxy_addr, sizeof(proxy_addr), "%s", o.proxy);
		info.http_proxy_address = proxy_addr;
	}
	if (!lws_create_vhost(ctx, &info))
		return 1;

	snprintf(cn.chan, sizeof(cn.chan), "bench");
	memset(&i, 0, sizeof(i));
	i.context = ctx;
	i.address = o.address;
	i.port = o.port;
	i.path = "/rt/bench";
	i.host = conn_host;
	i.origin = conn_host;
	i.method = "RAW";
	i.local_protocol_name = "rawws";
	i.ssl_connection = o.tls == 1 ? LCCSCF_USE_SSL :
			   o.tls == 2 ? LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED |
					LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					LCCSCF_ALLOW_INSECURE : 0;
	i.pwsi = &cn.wsi;
	if (!lws_client_connect_via_info(&i)) {
		cn.wsi = NULL;
		fail("lws_client_connect_via_info failed");
	}
	lws_sul_schedule(ctx, 0, &sul_limit, limit_fire, (lws_usec_t)(o.limit * 1e6));
	while (!done && !stop_sig)
		if (lws_service(ctx, 0) < 0)
			break;
	if (!t_end) {
		t_end = now();
		getrusage(RUSAGE_SELF, &ru1);
	}
	report();
	lws_sul_cancel(&sul_limit);
	lws_sul_cancel(&sul_hold);
	lws_context_destroy(ctx);
	free(cn.rx);
	if (ssl)
		SSL_free(ssl);	/* and its BIOs */
	if (sslctx)
		SSL_CTX_free(sslctx);
	free(cn.frag);
	return 0;
}
