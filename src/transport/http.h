/*
 * http.h - HTTP/1.1 as pure functions over bytes (http.c): the request head
 * a client sends the server, the Sec-WebSocket-Accept digest, and the
 * status line of a response (a proxy's answer to CONNECT).  No socket, no
 * thread.
 */
#ifndef XRT_HTTP_H
#define XRT_HTTP_H

#include <stddef.h>

typedef struct xrt_span { const char *p; size_t n; } xrt_span;

typedef struct xrt_http_req {
	xrt_span method, path;
	xrt_span upgrade, connection, ws_key, ws_version, ws_protocol;
	long long content_length;	/* -1 when absent */
} xrt_http_req;

/* Length of the request head including the blank line, 0 when incomplete. */
size_t xrt_http_head_len(const char *p, size_t len);
/* 0 on success, -1 when the head is malformed. */
int xrt_http_parse(const char *head, size_t len, xrt_http_req *r);
/* The same, calling field(ud, name, value) for every header field in
 * order (value without its surrounding blanks; name as sent). */
typedef void (*xrt_http_field_cb)(void *ud, xrt_span name, xrt_span value);
int xrt_http_parse_fields(const char *head, size_t len, xrt_http_req *r,
			  xrt_http_field_cb field, void *ud);
int xrt_span_has_token(xrt_span s, const char *token);
/* The status of an HTTP response head ("HTTP/1.x NNN reason", up to the
 * blank line that ends the head): 100-999, 0 while the head is not
 * complete, -1 when it is not HTTP or longer than 8 KiB.  The reason
 * phrase goes to reason (NUL-terminated, non-printable bytes as '?'). */
int xrt_http_status(const char *p, size_t len, char *reason, size_t reasonlen);
/* Sec-WebSocket-Accept for a key: 28 characters and a NUL. */
#define XRT_WS_ACCEPT_LEN 32
void xrt_ws_accept(const xrt_span *key, char out[XRT_WS_ACCEPT_LEN]);

#endif
