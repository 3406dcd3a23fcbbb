/*
 * wsframe.h - the WebSocket codec (wsframe.c).
 *
 * Pure functions over bytes: a streaming parser for the masked frames a
 * client sends, the frame header a server writes, the masked frame a
 * client writes, and UTF-8 validation.  No socket, no thread, no lws call.
 * HTTP is http.h's.
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
/* The same with the mask bit set and the 4-byte key after it (a client's
 * frame); returns its length (6, 8 or 14). */
#define XRT_WS_MAX_HEADER 14
unsigned xrt_ws_header_masked(unsigned char *dst, int opcode, size_t len,
			      const unsigned char key[4]);
/* dst[i] = src[i] ^ key[i % 4] for a masked payload; dst may be src. */
void xrt_ws_mask(unsigned char *dst, const unsigned char *src, size_t len,
		 const unsigned char key[4]);
int xrt_utf8_valid(const unsigned char *s, size_t len);

#endif
