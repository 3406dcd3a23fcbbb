/*
 * queue_fuzz.c - libFuzzer target for the buffers and FIFOs of
 * src/transport/queue.c (xrt_buf_*, xrt_item_*, xrt_fifo_*), the structures that
 * carry every frame, event and command across the two threads.
 *
 * The input is a program: each byte an operation on two FIFOs and a
 * scratch buffer, the next bytes its operands.  A simple model (arrays)
 * runs alongside, and after every operation the FIFOs must match it:
 * order, tags, contents, count and byte count (the sum of xrt_item_cost),
 * head and tail.  Buffers
 * shared between queues (xrt_buf_ref) must survive until the last unref;
 * ASan and LeakSanitizer catch a double free or a leak.
 */
#include "../src/transport/queue.h"

#include <stdlib.h>
#include <string.h>

#define MAXQ 128

struct mitem {
	int64_t tag;
	int kind;
	size_t len, len2;
	unsigned char first;	/* first payload byte (when len) */
};

struct model {
	struct mitem v[MAXQ];
	size_t n;
};

struct input {
	const uint8_t *p;
	size_t n;
};

static int
take(struct input *in, uint8_t *b)
{
	if (!in->n)
		return 0;
	*b = *in->p++;
	in->n--;
	return 1;
}

static void
check(const xrt_fifo *q, const struct model *m)
{
	const xrt_item *it, *last = NULL;
	size_t i = 0, bytes = 0;

	if (q->count != m->n)
		abort();
	for (it = q->head; it; it = it->next, i++) {
		const struct mitem *e;

		if (i >= m->n)
			abort();
		e = &m->v[i];
		if (it->a != e->tag || it->kind != e->kind)
			abort();
		if ((it->buf ? it->buf->len : 0) != e->len)
			abort();
		if ((it->buf2 ? it->buf2->len : 0) != e->len2)
			abort();
		if (e->len && xrt_buf_data(it->buf)[0] != e->first)
			abort();
		if (it->buf && xrt_buf_data(it->buf)[it->buf->len] != '\0')
			abort();
		/* the byte count is what the items cost, at least their payload */
		if (xrt_item_cost(it) < sizeof(*it) + e->len + e->len2)
			abort();
		bytes += xrt_item_cost(it);
		last = it;
	}
	if (i != m->n || q->tail != last || (!m->n && q->head))
		abort();
	if (q->bytes != bytes)
		abort();
}

static xrt_buf *
make_buf(struct input *in, size_t *len)
{
	uint8_t l = 0;
	size_t n;

	take(in, &l);
	n = l & 0x3f;
	if (n > in->n)
		n = in->n;
	*len = n;
	if (l & 0x40)
		return xrt_buf_from(in->p, n);
	/* grown by appends, the way the client assembles a frame */
	{
		xrt_buf *b = NULL;
		size_t done = 0;

		if (!n) {
			b = xrt_buf_new(0);
			return b;
		}
		while (done < n) {
			size_t k = (n - done + 1) / 2;

			if (xrt_buf_append(&b, in->p + done, k) < 0) {
				xrt_buf_unref(b);
				return NULL;
			}
			done += k;
		}
		return b;
	}
}

static void
model_push(struct model *m, struct mitem e, int front)
{
	if (front) {
		memmove(m->v + 1, m->v, m->n * sizeof(*m->v));
		m->v[0] = e;
	} else {
		m->v[m->n] = e;
	}
	m->n++;
}

/* Absurd sizes must fail cleanly, as malloc does outside ASan. */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	xrt_fifo q[2];
	static struct model m[2];
	xrt_buf *scratch = NULL;
	size_t scratch_len = 0;
	uint8_t op;

	memset(q, 0, sizeof(q));
	m[0].n = m[1].n = 0;
	while (take(&in, &op)) {
		int w = op & 1;
		uint8_t arg = 0;

		switch ((op >> 1) % 8) {
		case 0:		/* push or push_front a new item */
		case 1: {
			struct mitem e;
			size_t len, len2 = 0;
			xrt_buf *b, *b2 = NULL;
			xrt_item *it;

			if (m[w].n >= MAXQ)
				break;
			take(&in, &arg);
			b = (arg & 0x80) ? NULL : make_buf(&in, &len);
			if (arg & 0x80)
				len = 0;
			if (arg & 0x40) {
				b2 = make_buf(&in, &len2);
				if (!b2)
					len2 = 0;
			}
			if (!b)
				len = 0;
			it = xrt_item_new(arg & 0x0f, b);
			if (!it) {
				xrt_buf_unref(b2);
				break;
			}
			it->buf2 = b2;
			it->a = arg & 0x07;
			e.tag = it->a;
			e.kind = it->kind;
			e.len = len;
			e.len2 = len2;
			e.first = len ? xrt_buf_data(b)[0] : 0;
			if (((op >> 1) % 8) == 1) {
				xrt_fifo_push_front(&q[w], it);
				model_push(&m[w], e, 1);
			} else {
				xrt_fifo_push(&q[w], it);
				model_push(&m[w], e, 0);
			}
			break;
		}
		case 2: {	/* pop */
			xrt_item *it = xrt_fifo_pop(&q[w]);

			if (!m[w].n) {
				if (it)
					abort();
				break;
			}
			if (!it || it->next)
				abort();
			memmove(m[w].v, m[w].v + 1, (m[w].n - 1) * sizeof(*m[w].v));
			m[w].n--;
			xrt_item_free(it);
			break;
		}
		case 3: {	/* move q[w]'s head to the back of q[!w] */
			xrt_item *it;

			if (!m[w].n || m[!w].n >= MAXQ)
				break;
			it = xrt_fifo_pop(&q[w]);
			if (!it)
				abort();
			xrt_fifo_push(&q[!w], it);
			m[!w].v[m[!w].n++] = m[w].v[0];
			memmove(m[w].v, m[w].v + 1, (m[w].n - 1) * sizeof(*m[w].v));
			m[w].n--;
			break;
		}
		case 4:		/* clear */
			xrt_fifo_clear(&q[w]);
			m[w].n = 0;
			break;
		case 5: {	/* share the head's buffer with the other queue */
			xrt_item *it;

			if (!q[w].head || !q[w].head->buf || m[!w].n >= MAXQ)
				break;
			it = xrt_item_new(q[w].head->kind, xrt_buf_ref(q[w].head->buf));
			if (!it)
				break;
			it->a = q[w].head->a;
			xrt_fifo_push(&q[!w], it);
			{
				struct mitem e = m[w].v[0];

				e.len2 = 0;
				model_push(&m[!w], e, 0);
			}
			break;
		}
		case 6: {	/* append to the scratch buffer */
			size_t n;

			take(&in, &arg);
			n = arg;
			if (n > in.n)
				n = in.n;
			if (xrt_buf_append(&scratch, in.p, n) < 0)
				abort();
			if (memcmp(xrt_buf_data(scratch) + scratch_len, in.p, n))
				abort();
			scratch_len += n;
			in.p += n;
			in.n -= n;
			if (scratch->len != scratch_len || scratch->cap < scratch->len ||
			    xrt_buf_data(scratch)[scratch->len] != '\0')
				abort();
			break;
		}
		case 7: {	/* reserve on the scratch buffer; absurd sizes fail */
			size_t n;

			take(&in, &arg);
			n = (arg & 0x80) ? SIZE_MAX - (size_t)(arg & 0x7f) : (size_t)arg * 97;
			if (xrt_buf_reserve(&scratch, n) == 0) {
				if (scratch->cap - scratch->len < n)
					abort();
				/* the promised room is really there */
				memset(xrt_buf_data(scratch) + scratch->len, 0xab, n);
				xrt_buf_data(scratch)[scratch->len] = '\0';
			} else if (n < ((size_t)1 << 40)) {
				abort();
			}
			break;
		}
		}
		check(&q[0], &m[0]);
		check(&q[1], &m[1]);
	}
	xrt_fifo_clear(&q[0]);
	xrt_fifo_clear(&q[1]);
	xrt_buf_unref(scratch);
	return 0;
}
