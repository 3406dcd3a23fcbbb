/*
 * loop.c - the service thread of one Lua state.
 *
 * Owns the libwebsockets context, the thread that runs lws_service(), the
 * command queue that carries Lua's requests to that thread (woken with
 * lws_cancel_service(), the only cross-thread lws call), and the event
 * queues that carry what happened back to Lua.  Every endpoint (client
 * connection or server) of a Lua state lives on this one thread.
 *
 * Each endpoint, and the loop as a whole, has an eventfd that is readable
 * exactly while events wait for Lua, so a host loop (luv, cqueues, nginx,
 * a game engine) can poll it, and the Lua thread can sleep on it.
 *
 * The loop knows no kind of endpoint: it calls the ops table each kind
 * registered (xrt_kinds, loop.h), and runs the jobs that the transport's
 * helper threads post (xrt_loop_post).
 */
#include "loop_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Client vhosts beyond the plain one: lws 4.1.6 keeps TLS trust and the
 * HTTP proxy per vhost, so there is one per (TLS, CA file, proxy). */
struct xrt_ca_vhost {
	struct xrt_ca_vhost *next;
	int tls;
	char *ca_file;		/* NULL: the system CAs */
	char *proxy;		/* NULL: none */
	struct lws_vhost *vh;
};

/* The item kind of a job (xrt_loop_post); commands for endpoints are > 0. */
#define LOOP_JOB (-1)

double
xrt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t
xrt_random(xrt_loop *loop)
{
	/* xorshift64* */
	uint64_t x = loop->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	loop->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void
efd_set(int fd)
{
	uint64_t one = 1;
	ssize_t r;

	do
		r = write(fd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
}

static void
efd_clear(int fd)
{
	uint64_t v;
	ssize_t r;

	do
		r = read(fd, &v, sizeof(v));
	while (r < 0 && errno == EINTR);
}

/* The signal rules, all under mu (see xrt_signal in rt.h). */
static int
sig_init(xrt_signal *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return s->fd < 0 ? -1 : 0;
}

/* Events now wait where there were none. */
static void
sig_filled(xrt_signal *s)
{
	if (!s->raised && (s->exported || s->waiters)) {
		efd_set(s->fd);
		s->raised = 1;
	}
}

/* No event waits any more. */
static void
sig_emptied(xrt_signal *s)
{
	if (s->raised) {
		efd_clear(s->fd);
		s->raised = 0;
	}
}

static int
sig_export(xrt_signal *s, size_t waiting)
{
	s->exported = 1;
	if (waiting)
		sig_filled(s);
	return s->fd;
}

/* poll()'s milliseconds for a timeout in seconds: -1 (for ever) when
 * negative, rounded up, capped so that the conversion stays defined */
static int
timeout_ms(double timeout)
{
	if (timeout < 0)
		return -1;
	if (timeout > 2000000.0)
		return 2000000000;
	return (int)(timeout * 1000.0 + 0.999);
}

void
xrt_sleep(double seconds)
{
	poll(NULL, 0, timeout_ms(seconds));
}

static int
poll_fd(int fd, double timeout)
{
	struct pollfd pfd;
	int r;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	r = poll(&pfd, 1, timeout_ms(timeout));
	if (r < 0)
		return errno == EINTR ? -1 : 0;
	return r > 0;
}

/* Events waiting for Lua (under mu): those queued and those the Lua
 * thread took at its last take, which it may not have handed out yet. */
static size_t
ep_waiting(const xrt_endpoint *ep)
{
	return ep->events.count + ep->held;
}

/* Waits on s until events wait (for ep, or any endpoint when NULL). */
static int
sig_wait(xrt_loop *loop, xrt_signal *s, const xrt_endpoint *ep, double timeout)
{
	int r;

	pthread_mutex_lock(&loop->mu);
	if (ep ? ep_waiting(ep) : loop->pending) {
		pthread_mutex_unlock(&loop->mu);
		return 1;
	}
	s->waiters++;
	pthread_mutex_unlock(&loop->mu);
	r = poll_fd(s->fd, timeout);
	pthread_mutex_lock(&loop->mu);
	s->waiters--;
	pthread_mutex_unlock(&loop->mu);
	return r;
}

int
xrt_ep_wait(xrt_endpoint *ep, double timeout)
{
	if (ep->batch.count)	/* the Lua thread holds some: no need to look */
		return 1;
	return sig_wait(ep->loop, &ep->sig, ep, timeout);
}

int
xrt_loop_wait(xrt_loop *loop, double timeout)
{
	return sig_wait(loop, &loop->sig, NULL, timeout);
}

int
xrt_ep_fd(xrt_endpoint *ep)
{
	int fd;

	pthread_mutex_lock(&ep->loop->mu);
	fd = sig_export(&ep->sig, ep_waiting(ep));
	pthread_mutex_unlock(&ep->loop->mu);
	return fd;
}

int
xrt_loop_fd(xrt_loop *loop)
{
	int fd;

	pthread_mutex_lock(&loop->mu);
	fd = sig_export(&loop->sig, loop->pending);
	pthread_mutex_unlock(&loop->mu);
	return fd;
}

/* ------------------------------------------------------------ commands */

/* Any thread: queue a command for the service thread.  Takes buf/buf2. */
void
xrt_loop_cmd(xrt_loop *loop, int kind, void *ptr, int64_t a, int64_t b,
	     xrt_buf *buf, xrt_buf *buf2)
{
	xrt_item *it = xrt_item_new(kind, buf);
	int wake;

	if (!it) {
		xrt_buf_unref(buf2);
		return;
	}
	it->ptr = ptr;
	it->a = a;
	it->b = b;
	it->buf2 = buf2;
	pthread_mutex_lock(&loop->mu);
	if (loop->stop) {
		pthread_mutex_unlock(&loop->mu);
		xrt_item_free(it);
		return;
	}
	xrt_fifo_push(&loop->cmds, it);
	wake = loop->cmds.count == 1;
	pthread_mutex_unlock(&loop->mu);
	if (wake)
		lws_cancel_service(loop->ctx);
}

void
xrt_loop_post(xrt_loop *loop, xrt_job *job, int64_t a, int64_t b,
	      xrt_buf *buf, xrt_buf *buf2)
{
	xrt_loop_cmd(loop, LOOP_JOB, job, a, b, buf, buf2);
}

static void
begin_shutdown(xrt_loop *loop)
{
	xrt_endpoint *ep, *next;

	/* No endpoint appears once stop is set and the Lua thread is waiting
	 * in pthread_join(), so only this thread changes the list; an
	 * endpoint may free itself below, so step past it first. */
	for (ep = loop->eps; ep; ep = next) {
		next = ep->next;
		if (!ep->service_done)
			ep->ops->shutdown(ep);
	}
}

static void
stop_deadline(lws_sorted_usec_list_t *sul)
{
	xrt_loop *loop = lws_container_of(sul, xrt_loop, sul_stop);

	pthread_mutex_lock(&loop->mu);
	loop->stop = 2;
	pthread_mutex_unlock(&loop->mu);
}

static void
run_commands(lws_sorted_usec_list_t *sul)
{
	xrt_loop *loop = lws_container_of(sul, xrt_loop, sul_cmds);
	xrt_fifo q;
	xrt_item *it;
	int stop;

	pthread_mutex_lock(&loop->mu);
	q = loop->cmds;
	memset(&loop->cmds, 0, sizeof(loop->cmds));
	stop = loop->stop;
	pthread_mutex_unlock(&loop->mu);

	while ((it = xrt_fifo_pop(&q))) {
		if (it->kind == LOOP_JOB) {
			xrt_job *job = it->ptr;

			job->run(loop, it);
		} else if (it->ptr) {
			xrt_endpoint *ep = it->ptr;

			ep->ops->command(ep, it);
		}
		xrt_item_free(it);
	}
	if (stop == 1 && !loop->shutting) {
		loop->shutting = 1;
		begin_shutdown(loop);
		lws_sul_schedule(loop->ctx, 0, &loop->sul_stop, stop_deadline,
				 2 * LWS_US_PER_SEC);
		/* let service_main look at once: there may be nothing to wait for */
		lws_cancel_service(loop->ctx);
	}
}

/* Every protocol of every vhost gets the cancel; the loop's own protocol
 * (on its vhost) and any kind's that hands it here land here. */
int
xrt_loop_callback_common(struct lws *wsi, enum lws_callback_reasons reason)
{
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		xrt_loop *loop = lws_context_user(lws_get_context(wsi));

		if (loop)
			lws_sul_schedule(loop->ctx, 0, &loop->sul_cmds,
					 run_commands, 1);
		return 1;
	}
	return 0;
}

/* --------------------------------------------------------------- vhosts */

static const char ca_vhosts_key;	/* xrt_loop_data: the list */

static void
free_ca_vhosts(void *data)
{
	struct xrt_ca_vhost *v;

	while ((v = data)) {
		data = v->next;
		free(v->ca_file);
		free(v->proxy);
		free(v);
	}
}

static int
same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

struct lws_vhost *
xrt_loop_client_vhost(xrt_loop *loop, int tls, const char *ca_file,
		      const char *proxy, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct xrt_ca_vhost *v;

	if (!tls)
		ca_file = NULL;
	if (!tls && !proxy)
		return loop->vh;
	for (v = xrt_loop_data(loop, &ca_vhosts_key); v; v = v->next)
		if (v->tls == tls && same(v->ca_file, ca_file) &&
		    same(v->proxy, proxy))
			return v->vh;
	v = calloc(1, sizeof(*v));
	if (!v || (ca_file && !(v->ca_file = strdup(ca_file))) ||
	    (proxy && !(v->proxy = strdup(proxy)))) {
		if (v) {
			free(v->ca_file);
			free(v);
		}
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->tls = tls;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = loop->protocols;
	info.options = tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.vhost_name = ca_file ? "client-ca" : tls ? "client-tls" : "client-proxy";
	info.client_ssl_ca_filepath = v->ca_file;
	/* the proxy is ours to choose: "" keeps lws from taking http_proxy
	 * from the environment by itself */
	info.http_proxy_address = v->proxy ? v->proxy : "";
	v->vh = lws_create_vhost(loop->ctx, &info);
	if (!v->vh) {
		snprintf(err, errlen, "cannot set up %s%s%s", tls ? "TLS" : "a proxy",
			 ca_file ? " with ca_file " : "", ca_file ? ca_file : "");
		free(v->ca_file);
		free(v->proxy);
		free(v);
		return NULL;
	}
	v->next = xrt_loop_data(loop, &ca_vhosts_key);
	if (xrt_loop_set_data(loop, &ca_vhosts_key, v, free_ca_vhosts)) {
		/* lws frees the vhost with its context */
		snprintf(err, errlen, "no room for the vhosts");
		free(v->ca_file);
		free(v->proxy);
		free(v);
		return NULL;
	}
	return v->vh;
}

/* --------------------------------------------------------------- thread */

static int
shutdown_complete(xrt_loop *loop)
{
	xrt_endpoint *ep;

	for (ep = loop->eps; ep; ep = ep->next)
		if (!ep->service_done && ep->ops->busy(ep))
			return 0;	/* bounded by sul_stop */
	return 1;
}

/* Set on every service thread: xrt_ep_event() stages what it is given
 * there, and hands it over at once from a Lua thread. */
static _Thread_local int on_service_thread;

static void *
service_main(void *arg)
{
	xrt_loop *loop = arg;
	xrt_endpoint *ep, *next;
	int i;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	on_service_thread = 1;

	for (;;) {
		int stop;

		lws_service(loop->ctx, 0);
		xrt_loop_flush(loop);
		pthread_mutex_lock(&loop->mu);
		stop = loop->stop;
		pthread_mutex_unlock(&loop->mu);
		if (stop == 2 || (stop == 1 && loop->shutting &&
				  shutdown_complete(loop)))
			break;
	}
	lws_sul_cancel(&loop->sul_stop);
	lws_sul_cancel(&loop->sul_cmds);
	lws_context_destroy(loop->ctx);
	loop->ctx = NULL;
	xrt_loop_flush(loop);	/* what the closes staged */
	for (i = 0; i < XRT_DATA_MAX; i++)
		if (loop->data[i].key && loop->data[i].release)
			loop->data[i].release(loop->data[i].data);

	/* the service thread lets go of every endpoint it still held */
	pthread_mutex_lock(&loop->mu);
	ep = loop->eps;
	pthread_mutex_unlock(&loop->mu);
	for (; ep; ep = next) {
		pthread_mutex_lock(&loop->mu);
		next = ep->next;
		pthread_mutex_unlock(&loop->mu);
		if (!ep->service_done)
			xrt_ep_service_done(ep);
	}
	return NULL;
}

/* ------------------------------------------------------ process exit */

/* Every live loop, so that the process's exit can finish what the app
 * closed: os.exit() without closing the Lua state ends the process while
 * the service threads still write what client:close() left queued.  The
 * exit hook waits for those closes, bounded by their drain_timeout.  Lock
 * order: live_mu, then a loop's mu. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;
static xrt_loop *live_loops;

/* Endpoints the app closed whose close the service thread has not
 * finished and the exit waits for (clients); *longest gets the largest
 * time to wait among them. */
static int
closes_pending(int64_t *longest)
{
	xrt_loop *loop;
	xrt_endpoint *ep;
	int n = 0;

	pthread_mutex_lock(&live_mu);
	for (loop = live_loops; loop; loop = loop->next_live) {
		pthread_mutex_lock(&loop->mu);
		for (ep = loop->eps; ep; ep = ep->next) {
			int64_t d;

			if (!ep->lua_closed || (d = ep->ops->exit_drain_us(ep)) < 0)
				continue;
			if (d > *longest)
				*longest = d;
			n++;
		}
		pthread_mutex_unlock(&loop->mu);
	}
	pthread_mutex_unlock(&live_mu);
	return n;
}

static void
finish_closes_at_exit(void)
{
	int64_t longest = 0;
	double deadline;

	if (!closes_pending(&longest))
		return;
	/* the drain deadline runs on the service thread; this one only
	 * bounds the wait should that thread be stuck */
	deadline = xrt_now() + (double)longest / 1e6 + 1;
	while (closes_pending(&longest) && xrt_now() < deadline)
		xrt_sleep(0.005);
}

/* The hook is code of this library, which lua_close() may unload before
 * the process exits (and a sanitizer's atexit does not tie the hook to
 * the library): the library is first pinned in memory for the rest of
 * the process, and without that pin no hook is registered. */
static void
register_exit_hook(void)
{
	Dl_info info;

	if (dladdr((void *)finish_closes_at_exit, &info) && info.dli_fname &&
	    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
		atexit(finish_closes_at_exit);
}

static void
live_add(xrt_loop *loop)
{
	pthread_once(&live_once, register_exit_hook);
	pthread_mutex_lock(&live_mu);
	loop->next_live = live_loops;
	live_loops = loop;
	pthread_mutex_unlock(&live_mu);
}

static void
live_remove(xrt_loop *loop)
{
	xrt_loop **pp;

	pthread_mutex_lock(&live_mu);
	for (pp = &live_loops; *pp; pp = &(*pp)->next_live)
		if (*pp == loop) {
			*pp = loop->next_live;
			break;
		}
	pthread_mutex_unlock(&live_mu);
}

/* A process holding many connections needs more descriptors than the
 * usual soft limit of 1024; take what the hard limit allows (capped, since
 * lws sizes its tables by it). */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = rl.rlim_max < 65536 ? rl.rlim_max : 65536;

		if (rl.rlim_cur < want) {
			rl.rlim_cur = want;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
}

static int
loop_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	xrt_loop_callback_common(wsi, reason);
	return 0;
}

/* The loop's vhost: every kind's protocol (the first is lws's default),
 * then the loop's own, which takes lws_cancel_service()'s callback. */
static void
set_protocols(xrt_loop *loop)
{
	int i, n = 0;

	for (i = 0; xrt_kinds[i] && n < XRT_KINDS_MAX; i++)
		if (xrt_kinds[i]->protocol)
			loop->protocols[n++] = *xrt_kinds[i]->protocol;
	loop->protocols[n].name = "xano-realtime-loop";
	loop->protocols[n].callback = loop_callback;
}

xrt_loop *
xrt_loop_new(char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	xrt_loop *loop = calloc(1, sizeof(*loop));
	uint64_t seed = 0;

	if (!loop) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	raise_fd_limit();
	pthread_mutex_init(&loop->mu, NULL);
	loop->refs = 1;
	if (sig_init(&loop->sig) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	loop->rng = seed | 1;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.user = loop;
	info.timeout_secs = 20;
	info.connect_timeout_secs = 20;
	loop->ctx = lws_create_context(&info);
	if (!loop->ctx) {
		snprintf(err, errlen, "cannot create the libwebsockets context");
		goto fail;
	}
	set_protocols(loop);
	info.protocols = loop->protocols;
	info.vhost_name = "client";
	info.options = 0;
	info.http_proxy_address = "";	/* no proxy unless chosen (see above) */
	loop->vh = lws_create_vhost(loop->ctx, &info);
	if (!loop->vh) {
		snprintf(err, errlen, "cannot create the client vhost");
		goto fail;
	}
	if (pthread_create(&loop->thread, NULL, service_main, loop)) {
		snprintf(err, errlen, "cannot start the service thread");
		goto fail;
	}
	loop->thread_started = 1;
	live_add(loop);
	return loop;

fail:
	if (loop->ctx)
		lws_context_destroy(loop->ctx);
	if (loop->sig.fd >= 0)
		close(loop->sig.fd);
	pthread_mutex_destroy(&loop->mu);
	free(loop);
	return NULL;
}

void
xrt_loop_ref(xrt_loop *loop)
{
	pthread_mutex_lock(&loop->mu);
	loop->refs++;
	pthread_mutex_unlock(&loop->mu);
}

void
xrt_loop_unref(xrt_loop *loop)	/* takes and releases mu */
{
	int last;

	pthread_mutex_lock(&loop->mu);
	last = --loop->refs == 0;
	pthread_mutex_unlock(&loop->mu);
	if (!last)
		return;
	live_remove(loop);
	xrt_fifo_clear(&loop->cmds);
	close(loop->sig.fd);
	pthread_mutex_destroy(&loop->mu);
	free(loop);
}

/* The Lua handle of the loop is collected: stop the thread, closing every
 * connection cleanly (bounded by the 2 s deadline), and wait for it. */
void
xrt_loop_release(xrt_loop *loop)
{
	if (loop->thread_started) {
		pthread_mutex_lock(&loop->mu);
		loop->stop = 1;
		pthread_mutex_unlock(&loop->mu);
		lws_cancel_service(loop->ctx);
		pthread_join(loop->thread, NULL);
		loop->thread_started = 0;
	}
	xrt_loop_unref(loop);
}

/* ------------------------------------------------------------ endpoints */

int
xrt_ep_init(xrt_endpoint *ep, xrt_loop *loop, const xrt_ep_ops *ops,
	    size_t in_limit)
{
	if (sig_init(&ep->sig) < 0)
		return -1;
	ep->loop = loop;
	ep->ops = ops;
	ep->refs = 2;		/* the Lua handle and the service thread */
	ep->in_limit = in_limit;
	pthread_mutex_lock(&loop->mu);
	loop->refs++;
	ep->next = loop->eps;
	loop->eps = ep;
	pthread_mutex_unlock(&loop->mu);
	return 0;
}

static void
ep_free(xrt_endpoint *ep)
{
	xrt_loop *loop = ep->loop;
	xrt_endpoint **pp;

	pthread_mutex_lock(&loop->mu);
	for (pp = &loop->eps; *pp; pp = &(*pp)->next)
		if (*pp == ep) {
			*pp = ep->next;
			break;
		}
	loop->pending -= ep_waiting(ep);
	if (!loop->pending)
		sig_emptied(&loop->sig);
	xrt_fifo_clear(&ep->events);
	pthread_mutex_unlock(&loop->mu);
	/* the service thread let go of it, so nothing is staged; the Lua
	 * handle let go too, so the batch is nobody's */
	xrt_fifo_clear(&ep->staged);
	xrt_fifo_clear(&ep->batch);
	xrt_item_free(ep->cur);
	close(ep->sig.fd);
	ep->ops->destroy(ep);
	xrt_loop_unref(loop);
}

static void
ep_unref(xrt_endpoint *ep)
{
	int last;

	pthread_mutex_lock(&ep->loop->mu);
	last = --ep->refs == 0;
	pthread_mutex_unlock(&ep->loop->mu);
	if (last)
		ep_free(ep);
}

void
xrt_ep_release(xrt_endpoint *ep)
{
	xrt_loop *loop = ep->loop;

	/* What waits for it waits for nobody now: it stops counting at
	 * once, or a wait of the whole state would return for it until the
	 * service thread lets go. */
	pthread_mutex_lock(&loop->mu);
	ep->lua_closed = 1;
	loop->pending -= ep_waiting(ep);
	ep->held = ep->held_bytes = 0;
	xrt_fifo_clear(&ep->events);
	sig_emptied(&ep->sig);
	if (!loop->pending)
		sig_emptied(&loop->sig);
	pthread_mutex_unlock(&loop->mu);
	ep_unref(ep);
}

void
xrt_ep_service_done(xrt_endpoint *ep)
{
	if (ep->service_done)
		return;
	xrt_loop_flush(ep->loop);	/* its last events, and off the list */
	ep->service_done = 1;
	ep_unref(ep);
}

/* Hands queued events to Lua: appends them to ep's events, raising the
 * signals when events now wait.  Under mu. */
static void
hand_over(xrt_endpoint *ep, xrt_fifo *q)
{
	xrt_loop *loop = ep->loop;
	size_t n = q->count;

	if (!n)
		return;
	xrt_fifo_append(&ep->events, q);
	sig_filled(&ep->sig);	/* both do nothing when already raised */
	loop->pending += n;
	sig_filled(&loop->sig);
}

/* Service thread: hands every staged event over, under one lock. */
void
xrt_loop_flush(xrt_loop *loop)
{
	xrt_endpoint *ep, *next;
	xrt_fifo dropped = { NULL, NULL, 0, 0 };

	if (!loop->staged)
		return;
	pthread_mutex_lock(&loop->mu);
	for (ep = loop->staged; ep; ep = next) {
		next = ep->staged_next;
		ep->staged_next = NULL;
		ep->staged_on = 0;
		if (ep->lua_closed)
			xrt_fifo_append(&dropped, &ep->staged);
		else
			hand_over(ep, &ep->staged);
	}
	loop->staged = NULL;
	pthread_mutex_unlock(&loop->mu);
	xrt_fifo_clear(&dropped);
}

/* Service thread, after a received frame is counted: many staged events
 * are handed over at once, not at the end of the pass. */
void
xrt_ep_staged_check(xrt_endpoint *ep)
{
	if (ep->staged.count >= XRT_STAGE_MAX)
		xrt_loop_flush(ep->loop);
}

size_t
xrt_ep_backlog(const xrt_endpoint *ep)
{
	return ep->events.bytes + ep->held_bytes + ep->staged.bytes;
}

static xrt_item *
event_item(int kind, int64_t a, int64_t b, xrt_buf *buf, xrt_buf *buf2)
{
	xrt_item *it = xrt_item_new(kind, buf);

	if (!it) {
		xrt_buf_unref(buf2);
		return NULL;
	}
	it->a = a;
	it->b = b;
	it->buf2 = buf2;
	return it;
}

void
xrt_ep_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b, xrt_buf *buf,
	     xrt_buf *buf2)
{
	xrt_loop *loop = ep->loop;
	xrt_item *it = event_item(kind, a, b, buf, buf2);

	if (!it)
		return;
	if (on_service_thread)
		xrt_loop_flush(loop);	/* what it staged goes first */
	pthread_mutex_lock(&loop->mu);
	if (ep->lua_closed) {
		pthread_mutex_unlock(&loop->mu);
		xrt_item_free(it);
		return;
	}
	xrt_fifo_push(&ep->events, it);
	sig_filled(&ep->sig);
	if (++loop->pending == 1)
		sig_filled(&loop->sig);
	pthread_mutex_unlock(&loop->mu);
}

/* Service thread, for received frames (and what reading them reports):
 * staged, handed over with the others after this pass of lws_service()
 * (received data is serviced after its poll(), so the pass ends soon),
 * or at once when many wait (xrt_ep_staged_check), or before any other
 * event of this thread (xrt_ep_event), so the order holds. */
void
xrt_ep_rx_event(xrt_endpoint *ep, int kind, int64_t a, int64_t b, xrt_buf *buf,
		xrt_buf *buf2)
{
	xrt_loop *loop = ep->loop;
	xrt_item *it;

	if (!on_service_thread) {
		xrt_ep_event(ep, kind, a, b, buf, buf2);
		return;
	}
	it = event_item(kind, a, b, buf, buf2);
	if (!it)
		return;
	xrt_fifo_push(&ep->staged, it);
	if (!ep->staged_on) {
		ep->staged_on = 1;
		ep->staged_next = loop->staged;
		loop->staged = ep;
	}
}

/* Takes the next batch, under one lock: what the last one held is handed
 * out by now, so it no longer counts as waiting; what the new one holds
 * does until it is handed out.  Lua thread. */
static void
take_batch(xrt_endpoint *ep)
{
	xrt_loop *loop = ep->loop;
	xrt_item *it;
	int resume = 0;

	pthread_mutex_lock(&loop->mu);
	loop->pending -= ep->held;
	while (ep->batch.count < XRT_BATCH_MAX && (it = xrt_fifo_pop(&ep->events)))
		xrt_fifo_push(&ep->batch, it);
	ep->held = ep->batch.count;
	ep->held_bytes = ep->batch.bytes;
	if (!ep_waiting(ep))
		sig_emptied(&ep->sig);
	if (!loop->pending)
		sig_emptied(&loop->sig);
	if (ep->paused && ep->events.bytes + ep->held_bytes <= ep->in_limit / 2) {
		ep->paused = 0;
		resume = 1;
	}
	pthread_mutex_unlock(&loop->mu);
	if (resume)
		xrt_loop_cmd(loop, XCMD_RESUME, ep, 0, 0, NULL, NULL);
}

/* The next event, or NULL.  The batch is taken again as soon as its last
 * event is handed out, not at the next call: an app that stops reading
 * after that event (a wait that got what it waited for) leaves nothing
 * counted as waiting, so the state's fd and wait() go quiet. */
xrt_item *
xrt_ep_next(xrt_endpoint *ep)
{
	xrt_item *it;

	xrt_item_free(ep->cur);
	if (!ep->batch.count)
		take_batch(ep);
	ep->cur = it = xrt_fifo_pop(&ep->batch);
	if (it && !ep->batch.count)
		take_batch(ep);
	return it;
}

/* ------------------------------------------------------------ accessors */

xrt_loop *
xrt_ep_loop(const xrt_endpoint *ep)
{
	return ep->loop;
}

int
xrt_ep_lua_closed(const xrt_endpoint *ep)
{
	return ep->lua_closed;
}

int
xrt_ep_pause_check(xrt_endpoint *ep)
{
	if (ep->paused || xrt_ep_backlog(ep) <= ep->in_limit)
		return 0;
	ep->paused = 1;
	return 1;
}

int
xrt_ep_paused(const xrt_endpoint *ep)
{
	return ep->paused;
}

size_t
xrt_ep_in_limit(const xrt_endpoint *ep)
{
	return ep->in_limit;
}

/* The endpoints this thread still holds cannot be freed under us (the
 * Lua thread may free the others at any time), but one may let go while
 * told: they are listed first. */
void
xrt_loop_each(xrt_loop *loop, void (*fn)(xrt_endpoint *ep, void *ud), void *ud)
{
	xrt_endpoint **held, *ep;
	size_t n, i;

	pthread_mutex_lock(&loop->mu);
	for (ep = loop->eps, n = 0; ep; ep = ep->next)
		if (!ep->service_done)
			n++;
	held = n ? malloc(n * sizeof(*held)) : NULL;
	for (ep = loop->eps, n = 0; held && ep; ep = ep->next)
		if (!ep->service_done)
			held[n++] = ep;
	pthread_mutex_unlock(&loop->mu);
	for (i = 0; i < n; i++)
		fn(held[i], ud);
	free(held);
}

void
xrt_loop_lock(xrt_loop *loop)
{
	pthread_mutex_lock(&loop->mu);
}

void
xrt_loop_unlock(xrt_loop *loop)
{
	pthread_mutex_unlock(&loop->mu);
}

struct lws_context *
xrt_loop_context(const xrt_loop *loop)
{
	return loop->ctx;
}

struct lws_vhost *
xrt_loop_vhost(const xrt_loop *loop)
{
	return loop->vh;
}

void *
xrt_loop_data(xrt_loop *loop, const void *key)
{
	int i;

	for (i = 0; i < XRT_DATA_MAX; i++)
		if (loop->data[i].key == key)
			return loop->data[i].data;
	return NULL;
}

int
xrt_loop_set_data(xrt_loop *loop, const void *key, void *data,
		  void (*release)(void *data))
{
	int i, free_slot = -1;

	for (i = 0; i < XRT_DATA_MAX; i++) {
		if (loop->data[i].key == key) {
			loop->data[i].data = data;
			loop->data[i].release = release;
			return 0;
		}
		if (!loop->data[i].key && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return -1;
	loop->data[free_slot].key = key;
	loop->data[free_slot].data = data;
	loop->data[free_slot].release = release;
	return 0;
}
