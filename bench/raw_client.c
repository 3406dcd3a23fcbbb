/*
 * raw_client.c - the ceiling for the benchmarks: a plain libwebsockets
 * client doing the same work as bench/client.lua with no Lua and no JSON.
 * Frames are printf'd; the only thing read back from a frame is the
 * number after "seq":.
 *
 *   raw_client MODE --port P [options]     one JSON line on stdout at the end
 *
 *   throughput     --n N --window W         one connection, one channel, N echoes
 *   latency        --rate R --seconds S     round trips at a fixed rate
 *   fanin-recv     --channels S --n TOTAL   joins fanin-1..S, counts TOTAL messages
 *   fanin-send     --senders S --n N --window W   S connections, each sends N to fanin-i
 *   fanout-recv    --clients C --n TOTAL    C connections in channel "fanout",
 *                                           counts TOTAL messages over all of them
 *   scale-clients  --clients C              C connections, each in its own channel
 *   scale-channels --channels K             one connection in K channels
 *   idle           --clients C --seconds S  C joined connections, idle for S seconds
 *                                           (after --settle seconds, default 2)
 *   storm          --clients C --seconds S  C joined connections; survive a server
 *                                           restart; reconnect with full jitter
 *
 * --channel NAME: the channel of throughput (default "bench"; a fan-out's
 * sender uses "fanout").
 *
 * --batch 1 (the default) writes every pending frame in one raw write, masked
 * here, as the library does; --batch 0 calls lws_write() once per frame,
 * the usual way (lws then reads /dev/urandom for each mask).
 *
 * Modes that wait for the orchestrator print "ready" on a line first.
 * Every run is bounded: --limit seconds (default 120) ends it with
 * "timeout":true in the result.
 */
#include <libwebsockets.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_client.h"

enum { M_THROUGHPUT, M_LATENCY, M_FANIN_RECV, M_FANIN_SEND, M_SCALE_CLIENTS,
       M_SCALE_CHANNELS, M_IDLE, M_STORM, M_FANOUT_RECV };

typedef struct conn {
	int idx;
	struct lws *wsi;
	int open, ready;	/* link up; ping after the join echoed */
	int joins_left;		/* join frames still to write */
	int join_next;		/* next channel index to join */
	long to_send;		/* message frames still to write */
	long sent, got;
	int ping_due;		/* write a ping (seq 0) after the joins */
	int attempt;
	unsigned char *rx;
	size_t rxlen, rxcap;
	lws_sorted_usec_list_t sul_retry;
	double rejoined_at, first_attempt;
	int attempted;
	char chan[48];
} conn;

static struct {
	int mode, port;
	long n, window, warmup, clients, channels, senders, batch;
	double rate, seconds, settle, limit;
	const char *channel;
} o = { -1, 0, 50000, 256, 5000, 1, 1, 1, 1, 1000, 5, 2, 120, "bench" };

static struct lws_context *ctx;
static conn *conns;
static int nconns;
static volatile sig_atomic_t stop_sig;
static int done, timed_out;
static double t_start, t_end, t_first, t_last;
static struct rusage ru0, ru1;
static double rss0, rss1;
static long total_sent, total_got, nready;
static double *sendt, *rtt;	/* latency: by seq */
static lws_sorted_usec_list_t sul_limit, sul_end;
static double down_at;		/* storm: first loss */
static double *attempts;	/* storm: attempt times, relative to down_at */
static long nattempts, capattempts, nrejoined;
static uint64_t rng;
static int storm_phase;		/* 0 setup, 1 ready, 2 down seen */

static double
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long a = 0, b = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &a, &b) != 2)
			b = 0;
		fclose(f);
	}
	return (double)b * (double)sysconf(_SC_PAGESIZE);
}

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static void
finish(void)
{
	done = 1;
	lws_cancel_service(ctx);
}

static void
connect_conn(conn *c)
{
	struct lws_client_connect_info i;
	char host[64];

	snprintf(host, sizeof(host), "127.0.0.1:%d", o.port);
	memset(&i, 0, sizeof(i));
	i.context = ctx;
	i.address = "127.0.0.1";
	i.port = o.port;
	i.path = "/rt/bench";
	i.host = host;
	i.origin = host;
	i.local_protocol_name = "raw";
	i.ietf_version_or_minus_one = -1;
	i.opaque_user_data = c;
	i.pwsi = &c->wsi;
	c->open = 0;
	c->rxlen = 0;
	if (!lws_client_connect_via_info(&i))
		c->wsi = NULL;
}

/* storm: full jitter, like the library's default (1 s initial, 60 s max) */
static void
retry_fire(lws_sorted_usec_list_t *sul)
{
	conn *c = lws_container_of(sul, conn, sul_retry);

	double t = now() - down_at;

	if (nattempts < capattempts)
		attempts[nattempts++] = t;
	if (!c->attempted) {
		c->attempted = 1;
		c->first_attempt = t;
	}
	connect_conn(c);
}

static void
schedule_retry(conn *c)
{
	int64_t cap = 1000000;
	int i;

	for (i = 0; i < c->attempt && cap < 60000000; i++)
		cap *= 2;
	if (cap > 60000000)
		cap = 60000000;
	c->attempt++;
	lws_sul_schedule(ctx, 0, &c->sul_retry, retry_fire,
			 (lws_usec_t)(rnd() % (uint64_t)(cap + 1)) + 1);
}

static void
want_write(conn *c)
{
	if (c->wsi && c->open)
		lws_callback_on_writable(c->wsi);
}

static void tick(lws_sorted_usec_list_t *sul);
static void *pacer(void *arg);
static volatile int pacing;

/* idle: the window is over; latency: the last echoes had their second */
static void
end_fire(lws_sorted_usec_list_t *sul)
{
	t_end = now();
	getrusage(RUSAGE_SELF, &ru1);
	finish();
}

static void
idle_start(lws_sorted_usec_list_t *sul)
{
	t_start = now();
	getrusage(RUSAGE_SELF, &ru0);
	lws_sul_schedule(ctx, 0, &sul_end, end_fire, (lws_usec_t)(o.seconds * 1e6));
}

/* lws hands over one received frame per pass of its loop: asking to write
 * after each would send a frame or two per send().  Gather 32 replies, or
 * write at once when half the window is back or nothing more is due. */
static void
want_batch(conn *c)
{
	if (c->to_send >= 32 || c->sent - c->got < o.window / 2 ||
	    c->sent + c->to_send >= o.n)
		want_write(c);
}

static void
on_ready(conn *c)
{
	double t = now();

	c->ready = 1;
	nready++;
	switch (o.mode) {
	case M_THROUGHPUT:
		/* the first o.warmup echoes warm up and are not measured */
		o.n += o.warmup;
		if (!o.warmup) {
			t_start = t;
			getrusage(RUSAGE_SELF, &ru0);
		}
		c->to_send = o.window < o.n ? o.window : o.n;
		want_write(c);
		break;
	case M_LATENCY: {
		pthread_t th;

		t_start = t;
		getrusage(RUSAGE_SELF, &ru0);
		pacing = 1;
		if (pthread_create(&th, NULL, pacer, NULL) == 0)
			pthread_detach(th);
		tick(NULL);
		break;
	}
	case M_FANIN_RECV:
	case M_FANOUT_RECV:
	case M_IDLE:
		if (nready < nconns)
			break;
		printf("ready\n");
		fflush(stdout);
		if (o.mode == M_IDLE) {
			/* settle first, as the other clients do */
			lws_sul_schedule(ctx, 0, &sul_end, idle_start,
					 (lws_usec_t)(o.settle * 1e6) + 1);
			break;
		}
		t_start = t;
		getrusage(RUSAGE_SELF, &ru0);
		break;
	case M_FANIN_SEND:
		if (nready == nconns) {
			int i;

			t_start = t;
			for (i = 0; i < nconns; i++) {
				conns[i].to_send = o.window < o.n ? o.window : o.n;
				want_write(&conns[i]);
			}
		}
		break;
	case M_SCALE_CLIENTS:
	case M_SCALE_CHANNELS:
		if (nready == nconns) {
			t_end = t;
			rss1 = rss_bytes();
			finish();
		}
		break;
	case M_STORM:
		if (storm_phase == 0 && nready == nconns) {
			storm_phase = 1;
			printf("ready\n");
			fflush(stdout);
		} else if (storm_phase == 2) {
			c->rejoined_at = t - down_at;
			if (++nrejoined == nconns) {
				t_end = t;
				finish();
			}
		}
		break;
	}
}

static void
on_message(conn *c, long seq)
{
	double t = now();

	if (seq == 0) {		/* the ping after the join(s) */
		if (!c->ready || (o.mode == M_STORM && storm_phase == 2))
			on_ready(c);
		return;
	}
	c->got++;
	total_got++;
	switch (o.mode) {
	case M_THROUGHPUT:
		if (total_got == o.warmup) {
			t_start = t;
			getrusage(RUSAGE_SELF, &ru0);
		}
		if (c->sent + c->to_send < o.n) {
			c->to_send++;
			want_batch(c);
		}
		if (total_got == o.n) {
			t_end = t;
			getrusage(RUSAGE_SELF, &ru1);
			finish();
		}
		break;
	case M_LATENCY:
		if (seq > 0 && seq <= total_sent && rtt[seq] == 0)
			rtt[seq] = t - sendt[seq];
		if (total_got == (long)(o.rate * o.seconds)) {
			lws_sul_cancel(&sul_end);
			t_end = t;
			getrusage(RUSAGE_SELF, &ru1);
			finish();
		}
		break;
	case M_FANIN_RECV:
	case M_FANOUT_RECV:
		/* the first tenth warms up, not measured */
		if (total_got == (o.n / 10 > 1 ? o.n / 10 : 1)) {
			t_first = t;
			getrusage(RUSAGE_SELF, &ru0);
		}
		t_last = t;
		if (total_got == o.n) {
			getrusage(RUSAGE_SELF, &ru1);
			finish();
		}
		break;
	case M_FANIN_SEND:
		if (c->sent + c->to_send < o.n) {
			c->to_send++;
			want_batch(c);
		}
		if (total_got == o.n * nconns)
			finish();
		break;
	default:
		break;
	}
}

/*
 * latency: a pacing thread wakes the service loop every millisecond with
 * lws_cancel_service().  An lws_sul timer would not do: lws 4.1 turns the
 * time left until a timer into a poll() timeout in whole milliseconds,
 * rounded down, so it busy-polls through the last millisecond before each
 * timer fires.
 */
static void *
pacer(void *arg)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	while (pacing) {
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_nsec -= 1000000000;
			ts.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		lws_cancel_service(ctx);
	}
	return NULL;
}

/* latency: send what is due at rate R */
static void
tick(lws_sorted_usec_list_t *sul)
{
	long total = (long)(o.rate * o.seconds);
	double t = now();
	long due = (long)((t - t_start) * o.rate) + 1;
	conn *c = &conns[0];

	if (due > total)
		due = total;
	while (total_sent + c->to_send < due) {
		long seq = total_sent + c->to_send + 1;

		sendt[seq] = t;
		c->to_send++;
	}
	want_write(c);
	if (total_sent + c->to_send >= total && pacing) {
		/* everything is out: one second for the last echoes */
		pacing = 0;
		lws_sul_schedule(ctx, 0, &sul_end, end_fire, LWS_US_PER_SEC);
	}
}

static void
limit_fire(lws_sorted_usec_list_t *sul)
{
	timed_out = 1;
	if (!t_end)
		t_end = now();
	getrusage(RUSAGE_SELF, &ru1);
	finish();
}

/* the next frame's text into p (room bytes); its length, 0 when none */
static int
next_frame(conn *c, char *p, size_t room)
{
	if (c->joins_left) {
		char name[48];

		if (o.mode == M_FANIN_RECV)
			snprintf(name, sizeof(name), "fanin-%d", c->join_next + 1);
		else if (o.mode == M_FANOUT_RECV)
			/* "fanout", then a channel of its own for the ping: the
			 * server reads a socket's frames in order, so the ping's
			 * echo says the first join was taken */
			snprintf(name, sizeof(name), "%s", c->join_next ? c->chan : "fanout");
		else if (o.mode == M_SCALE_CHANNELS)
			snprintf(name, sizeof(name), "ch-%d", c->join_next + 1);
		else
			snprintf(name, sizeof(name), "%s", c->chan);
		c->join_next++;
		c->joins_left--;
		if (!c->joins_left)
			snprintf(c->chan, sizeof(c->chan), "%s", name);
		return snprintf(p, room, BENCH_JOIN_FMT, name);
	}
	if (c->ping_due) {
		c->ping_due = 0;
		return snprintf(p, room, BENCH_MESSAGE_FMT, c->chan, 0L);
	}
	if (c->to_send > 0) {
		long seq = (o.mode == M_LATENCY ? total_sent : c->sent) + 1;

		c->to_send--;
		c->sent++;
		total_sent++;
		return snprintf(p, room, BENCH_MESSAGE_FMT, c->chan, seq);
	}
	return 0;
}

/* Writable: with --batch 1 (the default), every pending frame masked into
 * one buffer and written at once, raw (what the library does); with
 * --batch 0, one lws_write() per frame (lws masks each). */
static int
on_writable(conn *c, struct lws *wsi)
{
	static unsigned char frame[LWS_PRE + 512];
	static unsigned char batch[LWS_PRE + 8192];
	size_t blen = 0;
	int k, n;

	for (k = 0; k < 64; k++) {
		char *p = (char *)frame + LWS_PRE;

		n = next_frame(c, p, sizeof(frame) - LWS_PRE);
		if (n <= 0)
			break;
		if (!o.batch) {
			if (lws_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_TEXT) < n)
				return -1;
			if (lws_send_pipe_choked(wsi))
				break;
			continue;
		} else {
			unsigned char *d = batch + LWS_PRE + blen, key[4];
			int h = n < 126 ? 2 : 4;

			d[0] = 0x81;
			if (h == 2) {
				d[1] = (unsigned char)(0x80 | n);
			} else {
				d[1] = 0x80 | 126;
				d[2] = (unsigned char)(n >> 8);
				d[3] = (unsigned char)n;
			}
			mask_key(ctx, key);
			memcpy(d + h, key, 4);
			mask_bytes(d + h + 4, (const unsigned char *)p, (size_t)n, key);
			blen += (size_t)(h + 4 + n);
			if (blen >= 4000)
				break;
		}
	}
	if (blen && lws_write(wsi, batch + LWS_PRE, blen, LWS_WRITE_HTTP) < 0)
		return -1;
	if (c->joins_left || c->ping_due || c->to_send > 0)
		lws_callback_on_writable(wsi);
	return 0;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	 void *in, size_t len)
{
	conn *c = lws_get_opaque_user_data(wsi);

	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		if (pacing)
			tick(NULL);
		return 0;
	}
	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->open = 1;
		c->attempt = 0;
		c->joins_left = o.mode == M_FANIN_RECV ? (int)o.channels :
				o.mode == M_SCALE_CHANNELS ? (int)o.channels :
				o.mode == M_FANOUT_RECV ? 2 : 1;
		c->join_next = 0;
		c->ping_due = 1;
		lws_callback_on_writable(wsi);
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c->rxlen + len > c->rxcap) {
			size_t cap = c->rxcap ? c->rxcap : 512;
			unsigned char *q;

			while (cap < c->rxlen + len)
				cap *= 2;
			q = realloc(c->rx, cap);
			if (!q)
				return -1;
			c->rx = q;
			c->rxcap = cap;
		}
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			const char *s = memmem(c->rx, c->rxlen, "\"seq\":", 6);

			if (s)
				on_message(c, strtol(s + 6, NULL, 10));
			c->rxlen = 0;
		}
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writable(c, wsi);

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c->wsi != wsi && c->wsi)
			break;
		c->wsi = NULL;
		c->open = 0;
		if (o.mode == M_STORM && storm_phase >= 1 && !done) {
			if (storm_phase == 1) {
				storm_phase = 2;
				down_at = now();
			}
			if (c->ready) {
				c->ready = 0;
				nready--;
			}
			schedule_retry(c);
		}
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "raw", callback, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest rank */
static double
pct(const double *v, long n, double p)
{
	long i;

	if (n <= 0)
		return 0;
	i = (long)ceil(p * (double)n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void
on_signal(int sig)
{
	(void)sig;
	stop_sig = 1;
	if (ctx)
		lws_cancel_service(ctx);
}

static void
report(void)
{
	double el;

	printf("{\"impl\":\"raw\",\"mode\":\"%s\"",
	       (const char *[]){ "throughput", "latency", "fanin-recv", "fanin-send",
				 "scale-clients", "scale-channels", "idle", "storm", "fanout-recv" }[o.mode]);
	if (timed_out)
		printf(",\"timeout\":true");
	switch (o.mode) {
	case M_THROUGHPUT: {
		long m = total_got > o.warmup ? total_got - o.warmup : 0;

		el = t_end - t_start;
		printf(",\"n\":%ld,\"warmup\":%ld,\"seconds\":%.6f,\"rate\":%.1f,"
		       "\"cpu_us\":%.0f,\"cpu_us_per_msg\":%.3f", m, o.warmup, el,
		       el > 0 ? (double)m / el : 0, cpu_us(&ru0, &ru1),
		       m ? cpu_us(&ru0, &ru1) / (double)m : 0);
		printf(",\"user_us_per_msg\":%.3f,\"sys_us_per_msg\":%.3f",
		       m ? part_us(&ru0.ru_utime, &ru1.ru_utime) / (double)m : 0,
		       m ? part_us(&ru0.ru_stime, &ru1.ru_stime) / (double)m : 0);
		/* one thread: the process's switches are its own */
		printf(",\"threads\":[{\"role\":\"main\",\"cpu_us_per_msg\":%.3f,"
		       "\"vcsw_per_msg\":%.4f,\"nvcsw_per_msg\":%.4f}]",
		       m ? cpu_us(&ru0, &ru1) / (double)m : 0,
		       m ? (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) / (double)m : 0,
		       m ? (double)(ru1.ru_nivcsw - ru0.ru_nivcsw) / (double)m : 0);
		break;
	}
	case M_LATENCY: {
		long total = (long)(o.rate * o.seconds), i, n = 0;
		long warm = total / 10;	/* the first tenth warms up, not counted */
		double *v = malloc(sizeof(double) * (size_t)(total + 1)), sum = 0;

		for (i = warm + 1; i <= total && v; i++)
			if (rtt[i] > 0) {
				v[n++] = rtt[i] * 1e6;
				sum += rtt[i] * 1e6;
			}
		if (v)
			qsort(v, (size_t)n, sizeof(double), cmpd);
		el = t_end - t_start;
		printf(",\"target_rate\":%.1f,\"sent\":%ld,\"received\":%ld,\"seconds\":%.3f,"
		       "\"rate\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
		       "\"max_us\":%.1f,\"mean_us\":%.1f,\"cpu_us\":%.0f",
		       o.rate, total_sent - warm, n, el, el > 0 ? (double)total_sent / el : 0,
		       pct(v, n, 0.5), pct(v, n, 0.99), pct(v, n, 0.999),
		       n ? v[n - 1] : 0, n ? sum / (double)n : 0, cpu_us(&ru0, &ru1));
		free(v);
		break;
	}
	case M_FANIN_RECV:
	case M_FANOUT_RECV: {
		long w = o.n / 10 > 1 ? o.n / 10 : 1;
		long m = total_got > w ? total_got - w : 0;

		el = t_last - t_first;
		printf(",\"n\":%ld,\"warmup\":%ld,\"seconds\":%.6f,\"rate\":%.1f,"
		       "\"cpu_us\":%.0f,\"cpu_us_per_msg\":%.3f", m, w, el,
		       el > 0 ? (double)m / el : 0, cpu_us(&ru0, &ru1),
		       m ? cpu_us(&ru0, &ru1) / (double)m : 0);
		break;
	}
	case M_FANIN_SEND:
		printf(",\"sent\":%ld,\"received\":%ld", total_sent, total_got);
		break;
	case M_SCALE_CLIENTS:
	case M_SCALE_CHANNELS:
		printf(",\"count\":%ld,\"ready\":%ld,\"seconds\":%.6f,\"rss_before\":%.0f,"
		       "\"rss_after\":%.0f", o.mode == M_SCALE_CLIENTS ? o.clients : o.channels,
		       o.mode == M_SCALE_CLIENTS ? nready : (long)(nready ? o.channels : 0),
		       t_end - t_start, rss0, rss1);
		break;
	case M_IDLE:
		el = t_end - t_start;
		printf(",\"clients\":%ld,\"ready\":%ld,\"seconds\":%.3f,\"cpu_us\":%.0f,"
		       "\"nvcsw\":%ld,\"nivcsw\":%ld,\"rss\":%.0f", o.clients, nready, el,
		       cpu_us(&ru0, &ru1), ru1.ru_nvcsw - ru0.ru_nvcsw,
		       ru1.ru_nivcsw - ru0.ru_nivcsw, rss_bytes());
		break;
	case M_STORM: {
		long i;

		printf(",\"clients\":%ld,\"rejoined\":%ld,\"down_at\":%.6f,\"all_rejoined_s\":%.6f",
		       o.clients, nrejoined, down_at, nrejoined == nconns ? t_end - down_at : -1.0);
		printf(",\"rejoin_s\":[");
		for (i = 0; i < nconns; i++)
			printf("%s%.4f", i ? "," : "", conns[i].rejoined_at);
		printf("],\"attempt_s\":[");
		for (i = 0; i < nattempts; i++)
			printf("%s%.4f", i ? "," : "", attempts[i]);
		printf("],\"first_attempt_s\":[");
		for (i = 0; i < nconns; i++)
			printf("%s%.4f", i ? "," : "", conns[i].attempted ? conns[i].first_attempt : -1.0);
		printf("]");
		break;
	}
	}
	printf("}\n");
	fflush(stdout);
}

static long
num(const char *s)
{
	return strtol(s, NULL, 10);
}

int
main(int argc, char **argv)
{
	static const char *modes[] = { "throughput", "latency", "fanin-recv", "fanin-send",
				       "scale-clients", "scale-channels", "idle", "storm",
				       "fanout-recv" };
	struct lws_context_creation_info info;
	int i;

	for (i = 0; i < 9 && argc > 1; i++)
		if (!strcmp(argv[1], modes[i]))
			o.mode = i;
	for (i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--port")) o.port = (int)num(v);
		else if (!strcmp(k, "--n")) o.n = num(v);
		else if (!strcmp(k, "--window")) o.window = num(v);
		else if (!strcmp(k, "--warmup")) o.warmup = num(v);
		else if (!strcmp(k, "--batch")) o.batch = num(v);
		else if (!strcmp(k, "--clients")) o.clients = num(v);
		else if (!strcmp(k, "--channels")) o.channels = num(v);
		else if (!strcmp(k, "--senders")) o.senders = num(v);
		else if (!strcmp(k, "--rate")) o.rate = atof(v);
		else if (!strcmp(k, "--seconds")) o.seconds = atof(v);
		else if (!strcmp(k, "--settle")) o.settle = atof(v);
		else if (!strcmp(k, "--limit")) o.limit = atof(v);
		else if (!strcmp(k, "--channel")) o.channel = v;
		else {
			fprintf(stderr, "raw_client: unknown option %s\n", k);
			return 2;
		}
	}
	if (o.mode < 0 || o.port <= 0) {
		fprintf(stderr, "usage: raw_client MODE --port P [options] (see the source)\n");
		return 2;
	}
	lws_set_log_level(LLL_ERR, NULL);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rng = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ 0x9E3779B97F4A7C15ULL;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.timeout_secs = 30;
	info.connect_timeout_secs = 30;
	ctx = lws_create_context(&info);
	if (!ctx)
		return 1;
	/* an explicit vhost: lws_cancel_service() reaches its protocol */
	info.options = 0;
	info.protocols = protocols;
	info.vhost_name = "raw";
	if (!lws_create_vhost(ctx, &info))
		return 1;

	nconns = o.mode == M_FANIN_SEND ? (int)o.senders :
		 (o.mode == M_SCALE_CLIENTS || o.mode == M_IDLE || o.mode == M_STORM ||
		  o.mode == M_FANOUT_RECV) ?
		 (int)o.clients : 1;
	conns = calloc((size_t)nconns, sizeof(*conns));
	if (o.mode == M_LATENCY) {
		long total = (long)(o.rate * o.seconds);

		sendt = calloc((size_t)total + 1, sizeof(double));
		rtt = calloc((size_t)total + 1, sizeof(double));
	}
	if (o.mode == M_STORM) {
		capattempts = nconns * 8;
		attempts = calloc((size_t)capattempts, sizeof(double));
	}
	if (!conns || (o.mode == M_LATENCY && (!sendt || !rtt)) ||
	    (o.mode == M_STORM && !attempts))
		return 1;
	rss0 = rss_bytes();
	t_start = now();
	for (i = 0; i < nconns; i++) {
		conn *c = &conns[i];

		c->idx = i;
		if (o.mode == M_FANIN_SEND)
			snprintf(c->chan, sizeof(c->chan), "fanin-%d", i + 1);
		else if (o.mode == M_THROUGHPUT)
			snprintf(c->chan, sizeof(c->chan), "%s", o.channel);
		else if (o.mode == M_LATENCY)
			snprintf(c->chan, sizeof(c->chan), "bench");
		else if (o.mode == M_FANOUT_RECV)
			snprintf(c->chan, sizeof(c->chan), "fanout-ready-%d", i + 1);
		else
			snprintf(c->chan, sizeof(c->chan), "c-%d", i + 1);
		connect_conn(c);
	}
	lws_sul_schedule(ctx, 0, &sul_limit, limit_fire,
			 (lws_usec_t)(o.limit * 1e6));
	while (!done && !stop_sig)
		if (lws_service(ctx, 0) < 0)
			break;
	if (!t_end) {
		t_end = now();
		getrusage(RUSAGE_SELF, &ru1);
	}
	report();
	lws_sul_cancel(&sul_limit);
	pacing = 0;
	lws_sul_cancel(&sul_end);
	for (i = 0; i < nconns; i++)
		lws_sul_cancel(&conns[i].sul_retry);
	lws_context_destroy(ctx);
	return 0;
}
