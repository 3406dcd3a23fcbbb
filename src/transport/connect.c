/*
 * connect.c - one connection attempt raced over every address of a host
 * (RFC 8305, "Happy Eyeballs").
 *
 * Owns the race on the service thread: the addresses (resolved, pinned
 * with the resolve option, or a proxy's) are tried in order, the next one
 * started 250 ms after the previous one, or at once when the previous one
 * failed; the first whose TCP connection is up wins and the others are
 * closed; when every address failed, the attempt fails with what each one
 * said.
 *
 * Why lws connections and not sockets of our own: libwebsockets 4.1.6
 * cannot adopt a connected socket as a WebSocket client (adopted
 * descriptors are server or raw connections), so a socket raced here could
 * not carry the upgrade.  Instead each address gets its own lws client
 * connection, given that numeric address (lws then neither resolves nor
 * tries another), and lws's LWS_CALLBACK_WSI_CREATE, which 4.1.6 sends to
 * a client connection exactly when its TCP connect completed and before
 * it writes anything (client-handshake.c, "the tcp connection has
 * happend"), marks the winner.  A loser is closed before it sent a byte:
 * the token goes to one server only.  lws reports a failed address as
 * "Unable to connect" (it reads and clears SO_ERROR itself), so a failed
 * address is described as refused or unreachable, and one still trying
 * when connect_timeout ends as "no answer".
 */
#include "connect.h"

#include <stdio.h>
#include <string.h>

#define XRT_ATTEMPT_DELAY_US (250 * 1000)	/* RFC 8305 section 5 */

static void start_next(xrt_race *r);

static void
next_fire(lws_sorted_usec_list_t *sul)
{
	xrt_race *r = lws_container_of(sul, xrt_race, sul_next);

	if (r->active)
		start_next(r);
}

static void
drop_try(xrt_try *t)
{
	if (t->wsi) {
		lws_set_opaque_user_data(t->wsi, NULL);
		lws_set_timeout(t->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		t->wsi = NULL;
	}
}

static void
cancel_all(xrt_race *r, int except)
{
	int i;

	lws_sul_cancel(&r->sul_next);
	for (i = 0; i < r->n; i++)
		if (i != except && r->tries[i].state == XTRY_CONNECTING) {
			drop_try(&r->tries[i]);
			r->tries[i].state = XTRY_WAITING;
			snprintf(r->tries[i].why, sizeof(r->tries[i].why),
				 "%s", "no answer");
		}
	r->live = 0;
	r->active = 0;
}

/* The race is over when nothing is trying and nothing is left to try. */
static void
check_lost(xrt_race *r)
{
	char why[300];

	if (!r->active || r->live || r->next < r->n)
		return;
	r->active = 0;
	lws_sul_cancel(&r->sul_next);
	xrt_race_describe(r, why, sizeof(why));
	r->ops->lost(r->owner, why);
}

static void
failed(xrt_race *r, int i, const char *what)
{
	xrt_try *t = &r->tries[i];

	if (t->state != XTRY_CONNECTING)
		return;
	t->state = XTRY_FAILED;
	/* lws still calls back for it (its close, its destroy) after this
	 * callback returns, and the owner may be gone by then: the race
	 * just lost can end a client whose close was waiting for it */
	if (t->wsi)
		lws_set_opaque_user_data(t->wsi, NULL);
	t->wsi = NULL;
	r->live--;
	snprintf(t->why, sizeof(t->why), "%s",
		 !strcmp(what, "Unable to connect") ?
		 "refused or unreachable" : what);
	/* a failure starts the next address at once (RFC 8305 section 5) */
	if (r->next < r->n) {
		lws_sul_schedule(r->ctx, 0, &r->sul_next, next_fire, 1);
		return;
	}
	check_lost(r);
}

static void
start_next(xrt_race *r)
{
	struct lws *wsi;
	int i;

	if (!r->active || r->next >= r->n)
		return;
	i = r->next++;
	r->tries[i].state = XTRY_CONNECTING;
	r->live++;
	r->dialing = i;
	wsi = r->ops->dial(r->owner, r->tries[i].addr);
	r->dialing = -1;
	if (!r->active)		/* it connected during the dial and won */
		return;
	if (r->tries[i].state != XTRY_CONNECTING) {
		/* failed inside the dial; failed() scheduled what is next */
		if (wsi)
			lws_set_opaque_user_data(wsi, NULL);
		return;
	}
	if (!wsi) {
		failed(r, i, "cannot start a connection");
		return;
	}
	r->tries[i].wsi = wsi;
	if (r->next < r->n)
		lws_sul_schedule(r->ctx, 0, &r->sul_next, next_fire,
				 XRT_ATTEMPT_DELAY_US);
}

void
xrt_race_init(xrt_race *r, struct lws_context *ctx, const xrt_race_ops *ops,
	      void *owner)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->ops = ops;
	r->owner = owner;
	r->dialing = -1;
}

void
xrt_race_start(xrt_race *r, const char *addrs)
{
	const char *p = addrs;

	xrt_race_cancel(r);
	memset(r->tries, 0, sizeof(r->tries));
	r->n = r->next = r->live = 0;
	r->dialing = -1;
	while (*p && r->n < XRT_MAX_ADDRS) {
		size_t n = strcspn(p, " ");

		if (n && n < sizeof(r->tries[0].addr)) {
			memcpy(r->tries[r->n].addr, p, n);
			r->tries[r->n].addr[n] = '\0';
			snprintf(r->tries[r->n].why, sizeof(r->tries[0].why),
				 "%s", "not tried");
			r->n++;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	r->active = 1;
	if (!r->n) {
		r->active = 0;
		r->ops->lost(r->owner, "no address to try");
		return;
	}
	start_next(r);
}

void
xrt_race_cancel(xrt_race *r)
{
	cancel_all(r, -1);
}

int
xrt_race_callback(xrt_race *r, struct lws *wsi,
		  enum lws_callback_reasons reason, void *in, size_t len)
{
	int i;

	if (!r->active)
		return 0;
	for (i = 0; i < r->n; i++)
		if (r->tries[i].state == XTRY_CONNECTING &&
		    (r->tries[i].wsi == wsi || (r->dialing == i && !r->tries[i].wsi)))
			break;
	if (i == r->n)
		return 0;

	switch (reason) {
	case LWS_CALLBACK_WSI_CREATE:
		/* its TCP connection is up, nothing was written yet: it won */
		r->tries[i].state = XTRY_WON;
		r->tries[i].wsi = NULL;
		cancel_all(r, i);
		r->ops->won(r->owner, wsi, r->tries[i].addr);
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		failed(r, i, in ? (const char *)in : "connection failed");
		break;

	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		/* gone without a word */
		failed(r, i, "connection failed");
		break;

	default:
		break;
	}
	return 1;
}

void
xrt_race_describe(const xrt_race *r, char *out, size_t len)
{
	size_t used = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < r->n && used + 1 < len; i++) {
		const xrt_try *t = &r->tries[i];
		int v6 = strchr(t->addr, ':') != NULL;

		used += (size_t)snprintf(out + used, len - used, "%s%s%s%s: %s",
					 i ? ", " : "", v6 ? "[" : "", t->addr,
					 v6 ? "]" : "", t->why);
	}
}
