/*
 * relay_server.c - a minimal Xano-Realtime-shaped relay for the benchmarks,
 * in C over libwebsockets, for where the bundled Lua server would be the
 * bottleneck (throughput, latency, fan-in).
 *
 * It understands just enough of the protocol: a text frame that begins
 * {"action":"join" or {"action":"leave" adds or removes the sender from the
 * channel named by the first "channel":"..." in it; one that begins
 * {"action":"message" is relayed byte for byte to every member of its
 * channel, the sender included (the echo the Xano server sends).  There is
 * no JSON parsing, no presence, no history, no permissions and no "client"
 * field in what it relays.
 *
 *   relay_server [--port N]      prints "listening ws://127.0.0.1:PORT/rt/bench"
 *
 * Runs until SIGINT or SIGTERM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct msg {
	int refs;
	size_t len;
	unsigned char mem[];	/* LWS_PRE + len */
} msg;

typedef struct qnode {
	struct qnode *next;
	msg *m;
} qnode;

struct pss;

typedef struct chan {
	struct chan *next;
	struct pss **mem;
	int n, cap;
	char name[];
} chan;

typedef struct pss {
	struct lws *wsi;
	qnode *head, *tail;
	unsigned char *rx;
	size_t rxlen, rxcap;
	chan **joined;
	int nj, capj;
} pss;

#define NBUCKETS 65536
static chan *buckets[NBUCKETS];
static volatile sig_atomic_t stopping;
static struct lws_context *ctx;

static unsigned
hash(const char *s, size_t n)
{
	unsigned h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h & (NBUCKETS - 1);
}

static chan *
find_chan(const char *name, size_t n, int create)
{
	unsigned h = hash(name, n);
	chan *c;

	for (c = buckets[h]; c; c = c->next)
		if (strlen(c->name) == n && !memcmp(c->name, name, n))
			return c;
	if (!create)
		return NULL;
	c = calloc(1, sizeof(*c) + n + 1);
	if (!c)
		return NULL;
	memcpy(c->name, name, n);
	c->next = buckets[h];
	buckets[h] = c;
	return c;
}

static int
grow(void **p, int *cap, int need, size_t size)
{
	void *q;
	int nc;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap * 2 : 4;
	while (nc < need)
		nc *= 2;
	q = realloc(*p, size * (size_t)nc);
	if (!q)
		return -1;
	*p = q;
	*cap = nc;
	return 0;
}

static int
is_member(chan *c, pss *p)
{
	int i;

	for (i = 0; i < p->nj; i++)
		if (p->joined[i] == c)
			return 1;
	return 0;
}

static void
join(pss *p, chan *c)
{
	if (is_member(c, p))
		return;
	if (grow((void **)&c->mem, &c->cap, c->n + 1, sizeof(pss *)) ||
	    grow((void **)&p->joined, &p->capj, p->nj + 1, sizeof(chan *)))
		return;
	c->mem[c->n++] = p;
	p->joined[p->nj++] = c;
}

static void
leave(pss *p, chan *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (c->mem[i] == p) {
			c->mem[i] = c->mem[--c->n];
			break;
		}
	for (i = 0; i < p->nj; i++)
		if (p->joined[i] == c) {
			p->joined[i] = p->joined[--p->nj];
			break;
		}
}

static void
unref(msg *m)
{
	if (--m->refs == 0)
		free(m);
}

static void
enqueue(pss *p, msg *m)
{
	qnode *q = malloc(sizeof(*q));

	if (!q)
		return;
	q->next = NULL;
	q->m = m;
	m->refs++;
	if (p->tail)
		p->tail->next = q;
	else
		p->head = q;
	p->tail = q;
	lws_callback_on_writable(p->wsi);
}

/* the channel name of a frame: the first "channel":"..." */
static const char *
channel_of(const char *s, size_t len, size_t *n)
{
	static const char key[] = "\"channel\":\"";
	const char *p = memmem(s, len, key, sizeof(key) - 1), *e;

	if (!p)
		return NULL;
	p += sizeof(key) - 1;
	e = memchr(p, '"', len - (size_t)(p - s));
	if (!e)
		return NULL;
	*n = (size_t)(e - p);
	return p;
}

static void
on_frame(pss *p, const char *s, size_t len)
{
	static const char j[] = "{\"action\":\"join\"";
	static const char l[] = "{\"action\":\"leave\"";
	static const char m[] = "{\"action\":\"message\"";
	const char *name;
	size_t n;
	chan *c;
	msg *mm;
	int i;

	name = channel_of(s, len, &n);
	if (!name)
		return;
	if (len >= sizeof(m) - 1 && !memcmp(s, m, sizeof(m) - 1)) {
		c = find_chan(name, n, 0);
		if (!c || !is_member(c, p))
			return;
		mm = malloc(sizeof(*mm) + LWS_PRE + len);
		if (!mm)
			return;
		mm->refs = 1;
		mm->len = len;
		memcpy(mm->mem + LWS_PRE, s, len);
		for (i = 0; i < c->n; i++)
			enqueue(c->mem[i], mm);
		unref(mm);
	} else if (len >= sizeof(j) - 1 && !memcmp(s, j, sizeof(j) - 1)) {
		c = find_chan(name, n, 1);
		if (c)
			join(p, c);
	} else if (len >= sizeof(l) - 1 && !memcmp(s, l, sizeof(l) - 1)) {
		c = find_chan(name, n, 0);
		if (c)
			leave(p, c);
	}
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	 void *in, size_t len)
{
	pss *p = user;
	int k;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(p, 0, sizeof(*p));
		p->wsi = wsi;
		break;

	case LWS_CALLBACK_RECEIVE:
		if (p->rxlen + len > p->rxcap) {
			size_t cap = p->rxcap ? p->rxcap : 1024;
			unsigned char *r;

			while (cap < p->rxlen + len)
				cap *= 2;
			r = realloc(p->rx, cap);
			if (!r)
				return -1;
			p->rx = r;
			p->rxcap = cap;
		}
		memcpy(p->rx + p->rxlen, in, len);
		p->rxlen += len;
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			on_frame(p, (const char *)p->rx, p->rxlen);
			p->rxlen = 0;
		}
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		for (k = 0; k < 64 && p->head; k++) {
			qnode *q = p->head;

			p->head = q->next;
			if (!p->head)
				p->tail = NULL;
			if (lws_write(wsi, q->m->mem + LWS_PRE, q->m->len,
				      LWS_WRITE_TEXT) < (int)q->m->len) {
				unref(q->m);
				free(q);
				return -1;
			}
			unref(q->m);
			free(q);
			if (lws_send_pipe_choked(wsi))
				break;
		}
		if (p->head)
			lws_callback_on_writable(wsi);
		break;

	case LWS_CALLBACK_CLOSED:
		while (p->nj)
			leave(p, p->joined[p->nj - 1]);
		free(p->joined);
		while (p->head) {
			qnode *q = p->head;

			p->head = q->next;
			unref(q->m);
			free(q);
		}
		free(p->rx);
		memset(p, 0, sizeof(*p));
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "xano-relay", callback, sizeof(pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
	if (ctx)
		lws_cancel_service(ctx);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_vhost *vh;
	int port = 0, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: relay_server [--port N]\n");
			return 2;
		}
	}
	lws_set_log_level(LLL_ERR, NULL);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_DISABLE_IPV6;
	info.port = CONTEXT_PORT_NO_LISTEN;
	ctx = lws_create_context(&info);
	if (!ctx)
		return 1;
	info.port = port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.vhost_name = "relay";
	info.timeout_secs = 60;
	vh = lws_create_vhost(ctx, &info);
	if (!vh) {
		fprintf(stderr, "relay_server: cannot listen on 127.0.0.1:%d\n", port);
		lws_context_destroy(ctx);
		return 1;
	}
	printf("listening ws://127.0.0.1:%d/rt/bench\n", lws_get_vhost_listen_port(vh));
	fflush(stdout);
	while (!stopping)
		if (lws_service(ctx, 0) < 0)
			break;
	lws_context_destroy(ctx);
	return 0;
}
