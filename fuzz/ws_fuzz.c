/*
 * ws_fuzz.c - libFuzzer target for the server's WebSocket frame parser
 * (xrt_ws_feed in src/transport/wsframe.c), and for the client's frame writer
 * (xrt_ws_header_masked, xrt_ws_mask) against it: every input, its first
 * 4 bytes as the key, is framed and must parse back as it was.
 *
 * The first input byte picks the mode and the parser's message limit:
 *
 *   raw mode    the rest is fed as client bytes, cut into chunks of sizes
 *               taken from a small generator seeded by the second byte.
 *               Whatever comes out must respect the parser's contract:
 *               data messages no longer than the limit, NUL-terminated,
 *               text that is valid UTF-8, control payloads <= 125 bytes,
 *               errors that are close codes, and after an error the
 *               parser stays stopped (the same result, no message) however
 *               much more is fed.
 *   frame mode  the rest is cut into messages that the harness frames
 *               itself (masked, fragmented, with pings in between) and
 *               the parser must give back exactly those messages.
 */
#include "../src/transport/wsframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const size_t limits[8] = { 0, 1, 125, 126, 1000, 65535, 65536, 1 << 20 };

/* Reference UTF-8 check written independently of xrt_utf8_valid. */
static int
utf8_ref(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned long cp;
		int need, k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = s[i] & 0x07;
		} else {
			return 0;
		}
		if (i + (size_t)need >= n)
			return 0;	/* truncated */
		for (k = 1; k <= need; k++) {
			if ((s[i + (size_t)k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + (size_t)k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000))
			return 0;	/* overlong */
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += (size_t)need + 1;
	}
	return 1;
}

struct want {
	int opcode;
	const unsigned char *p;
	size_t len;
};

struct ctx {
	size_t limit;
	int frame_mode;
	struct want *want;
	size_t nwant, got;
	int stop_at;		/* raw mode: callback return after n messages */
	int calls;
};

static int
on_msg(void *ud, int opcode, xrt_buf *msg, const unsigned char *ctl,
       size_t len)
{
	struct ctx *c = ud;

	c->calls++;
	if (opcode == XRT_WS_TEXT || opcode == XRT_WS_BINARY) {
		if (!msg || ctl)
			abort();
		if (msg->len > c->limit)
			abort();
		if (xrt_buf_data(msg)[msg->len] != '\0')
			abort();
		if (opcode == XRT_WS_TEXT && !utf8_ref(xrt_buf_data(msg), msg->len))
			abort();
		if (c->frame_mode) {
			struct want *w;

			if (c->got >= c->nwant)
				abort();
			w = &c->want[c->got++];
			if (w->opcode != opcode || w->len != msg->len ||
			    (w->len && memcmp(w->p, xrt_buf_data(msg), w->len)))
				abort();
		}
		xrt_buf_unref(msg);
	} else if (opcode == XRT_WS_CLOSE || opcode == XRT_WS_PING ||
		   opcode == XRT_WS_PONG) {
		if (msg || len > 125)
			abort();
		if (len && !ctl)
			abort();
	} else {
		abort();
	}
	if (c->stop_at && c->calls == c->stop_at)
		return 7;
	return 0;
}

static uint32_t
next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
raw_mode(const uint8_t *data, size_t size, size_t limit)
{
	xrt_wsparser p;
	struct ctx c;
	uint32_t seed;
	size_t off = 0;
	int r = 0;

	if (size < 2)
		return;
	memset(&c, 0, sizeof(c));
	c.limit = limit;
	c.stop_at = data[1] & 0x80 ? (data[1] & 0x07) + 1 : 0;
	seed = data[1];
	data += 2;
	size -= 2;
	xrt_ws_init(&p, limit);
	while (off < size) {
		size_t n = next_rand(&seed) % 9;	/* 0..8, 0 = all */
		int calls = c.calls, r2;

		if (!n || n > size - off)
			n = size - off;
		r2 = xrt_ws_feed(&p, data + off, n, on_msg, &c);
		off += n;
		if (r) {
			/* stopped: the same result again, and no message */
			if (r2 != r || c.calls != calls)
				abort();
		} else {
			r = r2;
		}
	}
	/* the contract: 0, a close code the parser chose, or ours */
	if (r && r != 7 && r != 1002 && r != 1007 && r != 1009 && r != 1011)
		abort();
	xrt_ws_free(&p);
}

/* Frames one message (masked, split into up to 4 fragments), maybe with a
 * ping in front of a continuation.  Returns bytes written to out. */
static size_t
frame_msg(unsigned char *out, int opcode, const unsigned char *p, size_t len,
	  uint32_t *seed)
{
	size_t o = 0, done = 0;
	int first = 1;

	do {
		size_t n = len - done, i;
		unsigned char mask[4];
		int fin;

		if (n > 1 && (next_rand(seed) & 1))
			n = next_rand(seed) % n + 1;
		fin = done + n == len;
		if (!first && (next_rand(seed) & 3) == 0) {
			/* a ping between fragments */
			out[o++] = 0x89;
			out[o++] = 0x80 | 1;
			memset(out + o, 0x5a, 4);
			o += 4;
			out[o++] = 'x' ^ 0x5a;
		}
		out[o++] = (unsigned char)((fin ? 0x80 : 0) | (first ? opcode : 0));
		if (n < 126) {
			out[o++] = (unsigned char)(0x80 | n);
		} else if (n <= 0xffff && (next_rand(seed) & 1)) {
			out[o++] = 0x80 | 126;
			out[o++] = (unsigned char)(n >> 8);
			out[o++] = (unsigned char)n;
		} else {
			int k;

			out[o++] = 0x80 | 127;
			for (k = 7; k >= 0; k--)
				out[o++] = (unsigned char)((uint64_t)n >> (8 * k));
		}
		for (i = 0; i < 4; i++)
			mask[i] = (unsigned char)next_rand(seed);
		memcpy(out + o, mask, 4);
		o += 4;
		for (i = 0; i < n; i++)
			out[o + i] = p[done + i] ^ mask[i & 3];
		o += n;
		done += n;
		first = 0;
	} while (done < len);
	return o;
}

static void
frame_mode(const uint8_t *data, size_t size, size_t limit)
{
	struct want want[64];
	unsigned char *stream;
	size_t nwant = 0, off = 0, slen = 0, pos;
	uint32_t seed;
	xrt_wsparser p;
	struct ctx c;
	int r = 0;

	if (size < 2)
		return;
	seed = data[1];
	data += 2;
	size -= 2;
	/* worst case: one-byte fragments, each with a 14-byte header and a
	 * 7-byte ping in front */
	stream = malloc(size * 22 + 64 * 32 + 1);
	if (!stream)
		return;
	/* messages separated by 0xff bytes; text when valid UTF-8 */
	while (off <= size && nwant < 64) {
		const uint8_t *e = memchr(data + off, 0xff, size - off);
		size_t len = e ? (size_t)(e - (data + off)) : size - off;
		int op = utf8_ref(data + off, len) ? XRT_WS_TEXT : XRT_WS_BINARY;

		if (len > limit)
			break;		/* the parser would refuse it (1009) */
		want[nwant].opcode = op;
		want[nwant].p = data + off;
		want[nwant].len = len;
		nwant++;
		slen += frame_msg(stream + slen, op, data + off, len, &seed);
		off += len + 1;
		if (!e)
			break;
	}
	memset(&c, 0, sizeof(c));
	c.limit = limit;
	c.frame_mode = 1;
	c.want = want;
	c.nwant = nwant;
	xrt_ws_init(&p, limit);
	for (pos = 0; pos < slen && !r;) {
		size_t n = next_rand(&seed) % 17 + 1;

		if (n > slen - pos)
			n = slen - pos;
		r = xrt_ws_feed(&p, stream + pos, n, on_msg, &c);
		pos += n;
	}
	if (r || c.got != nwant)
		abort();
	xrt_ws_free(&p);
	free(stream);
}

struct echo {
	const unsigned char *p;
	size_t len;
	int got;
};

static int
on_echo(void *ud, int opcode, xrt_buf *msg, const unsigned char *ctl,
	size_t len)
{
	struct echo *e = ud;

	(void)ctl;
	(void)len;
	if (opcode != XRT_WS_BINARY || !msg || msg->len != e->len ||
	    (e->len && memcmp(xrt_buf_data(msg), e->p, e->len)))
		abort();
	e->got++;
	xrt_buf_unref(msg);
	return 0;
}

/* The writer a client uses (xrt_ws_header_masked, xrt_ws_mask) makes a
 * frame the parser gives back as it was: the input's first 4 bytes are the
 * key, the rest the payload. */
static void
writer_mode(const uint8_t *data, size_t size)
{
	struct echo e = { data + 4, size - 4, 0 };
	unsigned char *f = malloc(size - 4 + XRT_WS_MAX_HEADER);
	unsigned h;
	xrt_wsparser p;

	if (!f)
		return;
	h = xrt_ws_header_masked(f, XRT_WS_BINARY, e.len, data);
	if (h != (e.len < 126 ? 6u : e.len < 65536 ? 8u : 14u))
		abort();
	xrt_ws_mask(f + h, e.p, e.len, data);
	xrt_ws_init(&p, 1 << 20);
	if (xrt_ws_feed(&p, f, h + e.len, on_echo, &e) || e.got != 1)
		abort();
	xrt_ws_free(&p);
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t limit;

	if (!size)
		return 0;
	if (size >= 4 && size - 4 <= (1 << 20))
		writer_mode(data, size);
	limit = limits[data[0] & 7];
	if (data[0] & 0x80)
		frame_mode(data, size, limit);
	else
		raw_mode(data, size, limit);
	return 0;
}
