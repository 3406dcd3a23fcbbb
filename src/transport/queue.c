/*
 * queue.c - frame buffers and FIFOs.
 *
 * An xrt_buf is a reference-counted byte string with headroom for
 * lws_write() and a WebSocket header, so one server frame can sit in the
 * queues of many sockets without copies.  An xrt_fifo is a singly linked
 * queue of xrt_items that keeps its length and byte count (what its items
 * cost in memory, see xrt_item_cost).  Nothing here
 * locks: callers hold the loop mutex where a queue is shared.
 */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

xrt_buf *
xrt_buf_new(size_t cap)
{
	xrt_buf *b;

	if (cap > SIZE_MAX - sizeof(*b) - XRT_HEADROOM - 1)
		return NULL;
	b = malloc(sizeof(*b) + XRT_HEADROOM + cap + 1);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = 0;
	b->cap = cap;
	b->hlen = 0;
	b->mem[XRT_HEADROOM] = '\0';
	return b;
}

xrt_buf *
xrt_buf_from(const void *p, size_t len)
{
	xrt_buf *b = xrt_buf_new(len);

	if (!b)
		return NULL;
	if (len)
		memcpy(xrt_buf_data(b), p, len);
	b->len = len;
	xrt_buf_data(b)[len] = '\0';
	return b;
}

/* Makes room for extra more bytes in *b, which must not be shared;
 * allocates it when NULL.  -1 on OOM. */
int
xrt_buf_reserve(xrt_buf **pb, size_t extra)
{
	xrt_buf *b = *pb;

	if (!b) {
		b = xrt_buf_new(extra > 256 ? extra : 256);
		if (!b)
			return -1;
		*pb = b;
	}
	if (extra > b->cap - b->len) {
		size_t cap = b->cap * 2;
		xrt_buf *nb;

		if (extra > SIZE_MAX / 2 - b->len)
			return -1;
		if (cap < b->len + extra)
			cap = b->len + extra;
		if (cap > SIZE_MAX - sizeof(*b) - XRT_HEADROOM - 1)
			return -1;
		nb = realloc(b, sizeof(*b) + XRT_HEADROOM + cap + 1);
		if (!nb)
			return -1;
		nb->cap = cap;
		*pb = nb;
	}
	return 0;
}

/* Appends to *b (see xrt_buf_reserve); -1 on OOM. */
int
xrt_buf_append(xrt_buf **pb, const void *p, size_t len)
{
	xrt_buf *b;

	if (xrt_buf_reserve(pb, len) < 0)
		return -1;
	b = *pb;
	if (len)
		memcpy(xrt_buf_data(b) + b->len, p, len);
	b->len += len;
	xrt_buf_data(b)[b->len] = '\0';
	return 0;
}

/* Gives back the spare capacity of a buffer nobody else holds: a message
 * assembled by appends can take twice its size, and queues count what
 * buffers take.  Keeps *b as it is when realloc fails. */
void
xrt_buf_fit(xrt_buf **pb)
{
	xrt_buf *b = *pb, *nb;

	if (!b || b->cap == b->len)
		return;
	nb = realloc(b, sizeof(*b) + XRT_HEADROOM + b->len + 1);
	if (nb) {
		nb->cap = nb->len;
		*pb = nb;
	}
}

xrt_buf *
xrt_buf_ref(xrt_buf *b)
{
	if (b)
		atomic_fetch_add(&b->refs, 1);
	return b;
}

void
xrt_buf_unref(xrt_buf *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

xrt_item *
xrt_item_new(int kind, xrt_buf *buf)
{
	xrt_item *it = calloc(1, sizeof(*it));

	if (!it) {
		xrt_buf_unref(buf);
		return NULL;
	}
	it->kind = kind;
	it->buf = buf;
	return it;
}

void
xrt_item_free(xrt_item *it)
{
	if (!it)
		return;
	xrt_buf_unref(it->buf);
	xrt_buf_unref(it->buf2);
	free(it);
}

static size_t
buf_cost(const xrt_buf *b)
{
	return b ? sizeof(*b) + XRT_HEADROOM + b->cap + 1 : 0;
}

/* A buffer's capacity is fixed while it sits in a FIFO (queued buffers are
 * never appended to), so push and pop count the same. */
size_t
xrt_item_cost(const xrt_item *it)
{
	return sizeof(*it) + buf_cost(it->buf) + buf_cost(it->buf2);
}

void
xrt_fifo_push(xrt_fifo *q, xrt_item *it)
{
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->count++;
	q->bytes += xrt_item_cost(it);
}

void
xrt_fifo_push_front(xrt_fifo *q, xrt_item *it)
{
	it->next = q->head;
	q->head = it;
	if (!q->tail)
		q->tail = it;
	q->count++;
	q->bytes += xrt_item_cost(it);
}

/* Moves every item of from to the end of q, in order; from is left empty. */
void
xrt_fifo_append(xrt_fifo *q, xrt_fifo *from)
{
	if (!from->head)
		return;
	if (q->tail)
		q->tail->next = from->head;
	else
		q->head = from->head;
	q->tail = from->tail;
	q->count += from->count;
	q->bytes += from->bytes;
	from->head = from->tail = NULL;
	from->count = from->bytes = 0;
}

xrt_item *
xrt_fifo_pop(xrt_fifo *q)
{
	xrt_item *it = q->head;

	if (!it)
		return NULL;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	it->next = NULL;
	q->count--;
	q->bytes -= xrt_item_cost(it);
	return it;
}

void
xrt_fifo_clear(xrt_fifo *q)
{
	xrt_item *it;

	while ((it = xrt_fifo_pop(q)))
		xrt_item_free(it);
}
