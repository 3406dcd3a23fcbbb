/*
 * wsframe.h - the WebSocket and HTTP codecs (wsframe.c).
 *
 * Pure functions over bytes: a streaming parser for the masked frames a
 * client sends, the unmasked frame header a server writes, UTF-8
 * validation, an HTTP request head parser, an HTTP response status reader
 * and the Sec-WebSocket-Accept digest.  No socket, no thread, no lws call.
 */
#ifndef XRT_WSFRAME_H
#define XRT_WSFRAME_H

#include "queue.h"

enum {
	XRT_WS_CONT = 0, XRT_WS_TEXT = 1, XRT_WS_BINARY = 2,
	XRT_WS_CLOSE = 8, XRT_WS_PING = 9, XRT_WS_PONG = 10
};

/* Streaming parser for frames a client sends to a server (masked). */
typedef struct xrt_wsparser {
	int state;
	unsigned char hdr[14];
	unsigned hdrlen, hdrneed;
	int opcode, fin;
	uint64_t remaining;
	unsigned char mask[4];
	unsigned maskpos;
	int msg_opcode;		/* data message being assembled, 0 if none */
	xrt_buf *msg;
	unsigned char ctl[125];
	size_t ctllen;
	size_t max_message;
	int failed;		/* first non-zero result; the parser is stopped */
} xrt_wsparser;

/* Called for each complete message.  For data messages msg is handed over
 * (the callee owns it); for control frames ctl/len hold the payload.
 * A non-zero return stops the parser and is returned by xrt_ws_feed(). */
typedef int (*xrt_ws_cb)(void *ud, int opcode, xrt_buf *msg,
			 const unsigned char *ctl, size_t len);

void xrt_ws_init(xrt_wsparser *p, size_t max_message);
void xrt_ws_free(xrt_wsparser *p);
/* 0 when all input was consumed, a WebSocket close code (1002, 1007, 1009)
 * when the peer broke the protocol, or the callback's non-zero return.
 * After a non-zero result the parser is stopped: every later call returns
 * the same value and consumes nothing (the byte stream is out of step). */
int xrt_ws_feed(xrt_wsparser *p, const unsigned char *in, size_t len,
		xrt_ws_cb cb, void *ud);
/* Writes an unmasked FIN frame header for len payload bytes; returns its
 * length (2, 4 or 10). */
unsigned xrt_ws_header(unsigned char *dst, int opcode, size_t len);
int xrt_utf8_valid(const unsigned char *s, size_t len);

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
