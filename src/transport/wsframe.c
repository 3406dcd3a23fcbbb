/*
 * wsframe.c - the server side of RFC 6455 framing (and UTF-8 checking), as
 * pure functions over bytes.  The HTTP/1.1 request head is http.c's.
 *
 * The server transport runs on a raw libwebsockets socket (lws 4.1.6 cannot
 * echo a subprotocol longer than 127 bytes, and Xano tokens are longer), so
 * it parses what clients send here.  No I/O and no libwebsockets state, so
 * the fuzz target can drive every function directly.
 */
#include "wsframe.h"

#include <stdlib.h>
#include <string.h>

enum { P_HEADER = 0, P_PAYLOAD };

void
xrt_ws_init(xrt_wsparser *p, size_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->hdrneed = 2;
	p->max_message = max_message;
}

void
xrt_ws_free(xrt_wsparser *p)
{
	xrt_buf_unref(p->msg);
	p->msg = NULL;
}

/* Header complete: check it and prepare for the payload. */
static int
header_done(xrt_wsparser *p)
{
	unsigned char b0 = p->hdr[0], b1 = p->hdr[1];
	uint64_t len = b1 & 0x7f;
	unsigned off = 2;

	p->fin = (b0 & 0x80) != 0;
	p->opcode = b0 & 0x0f;
	if (b0 & 0x70)
		return 1002;		/* no extension was negotiated */
	if (!(b1 & 0x80))
		return 1002;		/* clients must mask */
	if (len == 126) {
		len = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
		off = 4;
	} else if (len == 127) {
		unsigned i;

		len = 0;
		for (i = 0; i < 8; i++)
			len = (len << 8) | p->hdr[2 + i];
		if (len >> 63)
			return 1002;
		off = 10;
	}
	memcpy(p->mask, p->hdr + off, 4);
	p->maskpos = 0;
	p->remaining = len;

	switch (p->opcode) {
	case XRT_WS_CLOSE:
	case XRT_WS_PING:
	case XRT_WS_PONG:
		if (!p->fin || len > 125)
			return 1002;
		p->ctllen = 0;
		break;
	case XRT_WS_CONT:
		if (!p->msg_opcode)
			return 1002;
		goto data;
	case XRT_WS_TEXT:
	case XRT_WS_BINARY:
		if (p->msg_opcode)
			return 1002;
		p->msg_opcode = p->opcode;
data:
		{
			size_t have = p->msg ? p->msg->len : 0;

			if (len > p->max_message || have > p->max_message - len)
				return 1009;
			if (xrt_buf_reserve(&p->msg, (size_t)len) < 0)
				return 1011;
		}
		break;
	default:
		return 1002;
	}
	p->state = P_PAYLOAD;
	return 0;
}

/* Frame payload complete. */
static int
frame_done(xrt_wsparser *p, xrt_ws_cb cb, void *ud)
{
	int r;

	p->state = P_HEADER;
	p->hdrlen = 0;
	p->hdrneed = 2;
	if (p->opcode >= XRT_WS_CLOSE) {
		if (p->opcode == XRT_WS_CLOSE && p->ctllen == 1)
			return 1002;
		return cb(ud, p->opcode, NULL, p->ctl, p->ctllen);
	}
	if (!p->fin)
		return 0;
	{
		xrt_buf *m = p->msg;
		int op = p->msg_opcode;

		p->msg = NULL;
		p->msg_opcode = 0;
		xrt_buf_data(m)[m->len] = '\0';
		if (op == XRT_WS_TEXT && !xrt_utf8_valid(xrt_buf_data(m), m->len)) {
			xrt_buf_unref(m);
			return 1007;
		}
		r = cb(ud, op, m, NULL, 0);
	}
	return r;
}

static int
feed(xrt_wsparser *p, const unsigned char *in, size_t len, xrt_ws_cb cb,
     void *ud)
{
	int r;

	while (len || (p->state == P_PAYLOAD && !p->remaining)) {
		if (p->state == P_HEADER) {
			if (p->hdrlen >= sizeof(p->hdr))
				return 1002;	/* unreachable: headers end by 14 */
			p->hdr[p->hdrlen++] = *in++;
			len--;
			if (p->hdrlen == 2) {
				unsigned l = p->hdr[1] & 0x7f;

				p->hdrneed = 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) +
					     ((p->hdr[1] & 0x80) ? 4 : 0);
				if (!(p->hdr[1] & 0x80))
					return 1002;
			}
			if (p->hdrlen == p->hdrneed) {
				r = header_done(p);
				if (r)
					return r;
			}
			continue;
		}

		/* P_PAYLOAD */
		{
			size_t n = len;
			unsigned char *dst;
			size_t i;

			if ((uint64_t)n > p->remaining)
				n = (size_t)p->remaining;
			if (p->opcode >= XRT_WS_CLOSE) {
				dst = p->ctl + p->ctllen;
				p->ctllen += n;
			} else {
				dst = xrt_buf_data(p->msg) + p->msg->len;
				p->msg->len += n;
			}
			for (i = 0; i < n; i++)
				dst[i] = in[i] ^ p->mask[p->maskpos++ & 3];
			in += n;
			len -= n;
			p->remaining -= n;
			if (!p->remaining) {
				r = frame_done(p, cb, ud);
				if (r)
					return r;
			}
		}
	}
	return 0;
}

int
xrt_ws_feed(xrt_wsparser *p, const unsigned char *in, size_t len,
	    xrt_ws_cb cb, void *ud)
{
	/* After an error the parser sits in the middle of a header or a
	 * payload it gave up on; going on would misread the stream (and
	 * once wrote past hdr[]). */
	if (!p->failed)
		p->failed = feed(p, in, len, cb, ud);
	return p->failed;
}

unsigned
xrt_ws_header(unsigned char *dst, int opcode, size_t len)
{
	dst[0] = (unsigned char)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		dst[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		dst[1] = 126;
		dst[2] = (unsigned char)(len >> 8);
		dst[3] = (unsigned char)len;
		return 4;
	}
	{
		uint64_t l = len;
		int i;

		dst[1] = 127;
		for (i = 9; i >= 2; i--) {
			dst[i] = (unsigned char)l;
			l >>= 8;
		}
	}
	return 10;
}

/* A client's frame header: the server's, with the mask bit and the key. */
unsigned
xrt_ws_header_masked(unsigned char *dst, int opcode, size_t len,
		     const unsigned char key[4])
{
	unsigned h = xrt_ws_header(dst, opcode, len);

	dst[1] |= 0x80;
	memcpy(dst + h, key, 4);
	return h + 4;
}

/* RFC 6455 5.3, eight bytes at a time where it can. */
void
xrt_ws_mask(unsigned char *dst, const unsigned char *src, size_t len,
	    const unsigned char key[4])
{
	unsigned char k8[8] = { key[0], key[1], key[2], key[3],
				key[0], key[1], key[2], key[3] };
	uint64_t m;
	size_t i;

	memcpy(&m, k8, 8);
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		w ^= m;
		memcpy(dst + i, &w, 8);
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ key[i & 3];
}

/* Well-formed UTF-8 (RFC 3629): no overlongs, no surrogates, <= U+10FFFF. */
int
xrt_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];

		if (c < 0x80) {
			/* ASCII, the usual text of a frame: 8 bytes at a time */
			uint64_t w;

			i++;
			while (i + 8 <= len) {
				memcpy(&w, s + i, 8);
				if (w & 0x8080808080808080ULL)
					break;
				i += 8;
			}
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (i + 1 >= len || (s[i + 1] & 0xc0) != 0x80)
				return 0;
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			unsigned c1;

			if (i + 2 >= len)
				return 0;
			c1 = s[i + 1];
			if ((c1 & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
				return 0;
			if (c == 0xe0 && c1 < 0xa0)
				return 0;	/* overlong */
			if (c == 0xed && c1 > 0x9f)
				return 0;	/* surrogate */
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			unsigned c1;

			if (i + 3 >= len)
				return 0;
			c1 = s[i + 1];
			if ((c1 & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 ||
			    (s[i + 3] & 0xc0) != 0x80)
				return 0;
			if (c == 0xf0 && c1 < 0x90)
				return 0;	/* overlong */
			if (c == 0xf4 && c1 > 0x8f)
				return 0;	/* above U+10FFFF */
			i += 4;
		} else {
			return 0;
		}
	}
	return 1;
}
