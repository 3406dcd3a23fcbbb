/*
 * wsframe.c - the server side of RFC 6455 framing and the HTTP/1.1 request
 * head, as pure functions over bytes.
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

/* ------------------------------------------------------------------ HTTP */

size_t
xrt_http_head_len(const char *p, size_t len)
{
	size_t i;

	for (i = 3; i < len; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' &&
		    p[i - 3] == '\r')
			return i + 1;
	return 0;
}

static int
name_is(const char *p, size_t n, const char *name)
{
	size_t i;

	if (strlen(name) != n)
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return 0;
	}
	return 1;
}

static int
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int
xrt_http_parse(const char *head, size_t len, xrt_http_req *r)
{
	const char *p = head, *end = head + len, *eol;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;

	/* request line: METHOD SP target SP HTTP/1.x CRLF */
	eol = memchr(p, '\r', len);
	if (!eol || eol + 1 >= end || eol[1] != '\n')
		return -1;
	r->method.p = p;
	while (p < eol && is_tchar(*p))
		p++;
	r->method.n = (size_t)(p - r->method.p);
	if (!r->method.n || p >= eol || *p != ' ')
		return -1;
	r->path.p = ++p;
	while (p < eol && *p != ' ' && (unsigned char)*p > 0x20 &&
	       (unsigned char)*p < 0x7f)
		p++;
	r->path.n = (size_t)(p - r->path.p);
	if (!r->path.n || p >= eol || *p != ' ')
		return -1;
	p++;
	if ((size_t)(eol - p) != 8 || memcmp(p, "HTTP/1.", 7) ||
	    (p[7] != '0' && p[7] != '1'))
		return -1;
	p = eol + 2;

	/* header fields, then the empty line */
	while (p < end) {
		const char *name, *colon, *v, *ve;
		xrt_span *slot = NULL;

		eol = memchr(p, '\r', (size_t)(end - p));
		if (!eol || eol + 1 >= end || eol[1] != '\n')
			return -1;
		if (eol == p)
			return p + 2 == end ? 0 : -1;
		name = p;
		while (p < eol && is_tchar(*p))
			p++;
		colon = p;
		if (colon == name || p >= eol || *p != ':')
			return -1;
		v = p + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		ve = eol;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		{
			size_t n = (size_t)(colon - name);

			if (name_is(name, n, "upgrade"))
				slot = &r->upgrade;
			else if (name_is(name, n, "connection"))
				slot = &r->connection;
			else if (name_is(name, n, "sec-websocket-key"))
				slot = &r->ws_key;
			else if (name_is(name, n, "sec-websocket-version"))
				slot = &r->ws_version;
			else if (name_is(name, n, "sec-websocket-protocol"))
				slot = &r->ws_protocol;
			else if (name_is(name, n, "content-length")) {
				const char *d = v;
				long long cl = 0;

				if (d == ve || r->content_length >= 0)
					return -1;
				/* at most 10^10: checked before the digit is
				 * added, so the bound holds exactly */
				for (; d < ve; d++) {
					if (*d < '0' || *d > '9' ||
					    cl > (10000000000LL - (*d - '0')) / 10)
						return -1;
					cl = cl * 10 + (*d - '0');
				}
				r->content_length = cl;
			}
		}
		if (slot && !slot->p) {
			slot->p = v;
			slot->n = (size_t)(ve - v);
		}
		p = eol + 2;
	}
	return -1;
}

int
xrt_span_has_token(xrt_span s, const char *token)
{
	const char *p = s.p, *end;

	if (!p)
		return 0;	/* header absent (NULL + 0 is undefined) */
	end = p + s.n;
	while (p < end) {
		const char *t, *te;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		t = p;
		while (p < end && *p != ',')
			p++;
		te = p;
		while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if (te > t && name_is(t, (size_t)(te - t), token))
			return 1;
	}
	return 0;
}

void
xrt_ws_accept(const xrt_span *key, char out[XRT_WS_ACCEPT_LEN])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char buf[128 + sizeof(guid)], md[20];
	size_t n = key->n < 128 ? key->n : 128;

	memcpy(buf, key->p, n);
	memcpy(buf + n, guid, sizeof(guid) - 1);
	lws_SHA1(buf, n + sizeof(guid) - 1, md);
	/* lws wants room for one more byte than the 28 + NUL it writes */
	if (lws_b64_encode_string((const char *)md, 20, out, XRT_WS_ACCEPT_LEN) != 28)
		out[0] = '\0';
}

/* ------------------------------------------------- HTTP response status */

#define XRT_STATUS_MAX_LINE 1024
#define XRT_STATUS_MAX_HEAD 8192

int
xrt_http_status(const char *p, size_t len, char *reason, size_t reasonlen)
{
	size_t i, eol, r = 0;
	int status = 0;

	if (reasonlen)
		reason[0] = '\0';
	/* the status line: "HTTP/d.d SP 3DIGIT [SP reason] CRLF" */
	if (memcmp(p, "HTTP/", len < 5 ? len : 5))
		return -1;
	for (eol = 0; eol < len && p[eol] != '\n'; eol++)
		;
	if (eol == len)
		return len > XRT_STATUS_MAX_LINE ? -1 : 0;
	if (eol > XRT_STATUS_MAX_LINE || eol < 13 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
	    p[7] < '0' || p[7] > '9' || p[8] != ' ' || p[eol - 1] != '\r')
		return -1;
	for (i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		status = status * 10 + (p[i] - '0');
	}
	if (status < 100 || (p[12] != ' ' && i + 1 != eol))
		return -1;
	for (i = 13; i + 1 < eol; i++)
		if (r + 1 < reasonlen)
			reason[r++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	if (reasonlen)
		reason[r] = '\0';
	/* the head ends with an empty line, within XRT_STATUS_MAX_HEAD */
	for (i = eol - 1; i + 3 < len && i + 3 < XRT_STATUS_MAX_HEAD; i++)
		if (!memcmp(p + i, "\r\n\r\n", 4))
			return status;
	return len >= XRT_STATUS_MAX_HEAD ? -1 : 0;
}
