/*
 * queue.h - frame buffers and FIFOs (queue.c).
 *
 * A buffer is reference-counted and keeps room before its payload for a
 * frame header; an item is one queued thing (an outgoing frame, an event
 * for Lua, or a command for the service thread); a FIFO is a list of
 * items that counts them and the memory they take.  None of it locks: the
 * owner of a FIFO says which mutex guards it.
 */
#ifndef XRT_QUEUE_H
#define XRT_QUEUE_H

#include <libwebsockets.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Room before a payload: LWS_PRE for lws_write() and up to 14 bytes for a
 * server-side frame header written in front of the payload. */
#define XRT_HEADROOM (LWS_PRE + 16)

typedef struct xrt_buf {
	atomic_int refs;
	size_t len;		/* payload bytes */
	size_t cap;		/* payload bytes allocated */
	unsigned hlen;		/* frame header bytes just before the payload */
	unsigned char mem[];	/* XRT_HEADROOM + cap + 1 */
} xrt_buf;

#define xrt_buf_data(b) ((b)->mem + XRT_HEADROOM)

xrt_buf *xrt_buf_new(size_t cap);
xrt_buf *xrt_buf_from(const void *p, size_t len);
int xrt_buf_reserve(xrt_buf **b, size_t extra);
int xrt_buf_append(xrt_buf **b, const void *p, size_t len);
void xrt_buf_fit(xrt_buf **b);	/* capacity down to len; b not shared */
xrt_buf *xrt_buf_ref(xrt_buf *b);
void xrt_buf_unref(xrt_buf *b);

/* One queued thing: an outgoing frame, an event for Lua, or a command for
 * the service thread. */
typedef struct xrt_item {
	struct xrt_item *next;
	xrt_buf *buf;		/* payload (owned), may be NULL */
	xrt_buf *buf2;		/* second string of an event (owned), may be NULL */
	void *ptr;		/* command target */
	int kind;		/* event kind, command kind or frame opcode */
	int64_t a, b;		/* arguments; for a client frame, a is the channel
				 * tag and b its role (XRT_FRAME_*) */
} xrt_item;

typedef struct xrt_fifo {
	xrt_item *head, *tail;
	size_t count, bytes;
} xrt_fifo;

xrt_item *xrt_item_new(int kind, xrt_buf *buf);
void xrt_item_free(xrt_item *it);
void xrt_fifo_push(xrt_fifo *q, xrt_item *it);
void xrt_fifo_push_front(xrt_fifo *q, xrt_item *it);
void xrt_fifo_append(xrt_fifo *q, xrt_fifo *from);	/* moves every item */
xrt_item *xrt_fifo_pop(xrt_fifo *q);
void xrt_fifo_clear(xrt_fifo *q);
/* What a FIFO counts for an item in its bytes: the memory the item and its
 * buffers take (structs, headroom and capacity), not just payload bytes,
 * so that the byte limits (in_limit, send_limit, max_queue) also bound a
 * flood of tiny or empty frames. */
size_t xrt_item_cost(const xrt_item *it);

#endif
