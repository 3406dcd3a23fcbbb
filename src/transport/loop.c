/*
 * loop.c - the service thread of one Lua state.
 *
 * Owns the libwebsockets context, the thread that runs lws_service(), the
 * command queue that carries Lua's requests to that thread (woken with
 * lws_cancel_service(), the only cross-thread lws call), the shutdown of
 * the state and the process's exit.  Every endpoint (client connection or
 * server) of a Lua state lives on this one thread; the endpoints and the
 * events they hand back to Lua are endpoint.c's, the eventfd signals that
 * tell the Lua thread or a host loop are signal.c's.
 *
 * The loop knows no kind of endpoint: it calls the ops table each kind
 * registered (xrt_kinds, loop.h), and runs the jobs that the transport's
 * helper threads post (xrt_loop_post).
 */
#include "loop_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The item kind of a job (xrt_loop_post); commands for endpoints are > 0. */
#define LOOP_JOB (-1)

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

_Thread_local int xrt_on_service_thread;	/* see loop_internal.h */

static void *
service_main(void *arg)
{
	xrt_loop *loop = arg;
	xrt_endpoint *ep, *next;
	int i;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	xrt_on_service_thread = 1;

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
	if (xrt_sig_init(&loop->sig) < 0) {
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
	info.vhost_name = "xrt-loop";	/* every kind's protocol: xrt_kinds */
	info.options = 0;
	info.http_proxy_address = "";	/* no proxy unless chosen (see above) */
	loop->vh = lws_create_vhost(loop->ctx, &info);
	if (!loop->vh) {
		snprintf(err, errlen, "cannot create the loop's vhost");
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
