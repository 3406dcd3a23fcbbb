/*
 * http_fuzz.c - libFuzzer target for the server's HTTP/1.1 request head
 * code (src/transport/http.c): xrt_http_head_len, xrt_http_parse (and its field
 * callback, the Lua side's reader), xrt_span_has_token and xrt_ws_accept,
 * used the way server.c and lua_server.c use them.
 *
 * The input is copied into a buffer of exactly its size, so any read past
 * the end is caught by ASan.  Every span the parser returns must lie
 * inside the head it was given.
 */
#include "../src/transport/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
check_span(const char *head, size_t len, xrt_span s)
{
	if (!s.p) {
		if (s.n)
			abort();
		return;
	}
	if (s.p < head || s.p > head + len || s.n > (size_t)(head + len - s.p))
		abort();
}

typedef struct field_check {
	const char *head;
	size_t len;
} field_check;

/* every field the Lua side is handed lies inside the head, with a name */
static void
check_field(void *ud, xrt_span name, xrt_span value)
{
	field_check *fc = ud;

	if (!name.n)
		abort();
	check_span(fc->head, fc->len, name);
	check_span(fc->head, fc->len, value);
}

static void
parse_and_check(const char *head, size_t len)
{
	xrt_http_req r, r2;
	char accept[XRT_WS_ACCEPT_LEN];
	field_check fc = { head, len };
	int bad = xrt_http_parse_fields(head, len, &r2, check_field, &fc);

	if (xrt_http_parse(head, len, &r) != bad)
		abort();	/* the two ways agree */
	if (bad)
		return;
	check_span(head, len, r.method);
	check_span(head, len, r.path);
	check_span(head, len, r.upgrade);
	check_span(head, len, r.connection);
	check_span(head, len, r.ws_key);
	check_span(head, len, r.ws_version);
	check_span(head, len, r.ws_protocol);
	if (!r.method.n || !r.path.n)
		abort();
	if (r.content_length < -1 || r.content_length > 10000000000LL)
		abort();
	(void)xrt_span_has_token(r.upgrade, "websocket");
	(void)xrt_span_has_token(r.connection, "upgrade");
	(void)xrt_span_has_token(r.ws_protocol, "x");
	if (r.ws_key.n) {
		xrt_ws_accept(&r.ws_key, accept);
		if (accept[0] && strlen(accept) != 28)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	size_t hl;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	hl = xrt_http_head_len(buf, size);
	if (hl) {
		if (hl > size || hl < 4 || memcmp(buf + hl - 4, "\r\n\r\n", 4))
			abort();
		/* no earlier blank line */
		if (hl > 4 && xrt_http_head_len(buf, hl - 1))
			abort();
		parse_and_check(buf, hl);
	}
	/* the parser must also survive heads cut anywhere */
	parse_and_check(buf, size);
	{
		xrt_span s = { buf, size };

		(void)xrt_span_has_token(s, "websocket");
		(void)xrt_span_has_token(s, "");
	}
	free(buf);
	return 0;
}
