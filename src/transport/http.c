/*
 * http.c - HTTP/1.1 as pure functions over bytes: the request head a client
 * sends the server (its length, its request line and the fields the server
 * uses, a field's tokens), the WebSocket accept key, and the status line of
 * a response (a proxy's answer to CONNECT).
 *
 * The server transport reads requests on a raw socket (see wsframe.c for
 * why); the Lua side reads a request head through the same parser
 * (lua_server.c).  No I/O and no libwebsockets state beyond SHA-1 and
 * base64, so the fuzz targets drive every function directly.
 */
#include "http.h"

#include <libwebsockets.h>

#include <string.h>

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
	return xrt_http_parse_fields(head, len, r, NULL, NULL);
}

int
xrt_http_parse_fields(const char *head, size_t len, xrt_http_req *r,
		      xrt_http_field_cb field, void *ud)
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
		if (field) {
			xrt_span fn = { name, (size_t)(colon - name) };
			xrt_span fv = { v, (size_t)(ve - v) };

			field(ud, fn, fv);
		}
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
