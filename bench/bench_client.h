/*
 * bench_client.h - what the two C benchmark clients share (raw_client.c,
 * over libwebsockets' WebSocket client, and rawmode_client.c, over a RAW
 * lws connection), so that they differ only where they are compared, the
 * receive path: the clock, CPU time, the frames they send, their masking
 * keys and the masking itself.  Header-only; include after
 * <libwebsockets.h>.
 */
#ifndef XRT_BENCH_CLIENT_H
#define XRT_BENCH_CLIENT_H

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

/* the text every benchmark message carries */
#define BENCH_TEXT "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* a join of channel %s, and a message of channel %s with seq %ld */
#define BENCH_JOIN_FMT "{\"action\":\"join\",\"options\":{\"channel\":\"%s\"}," \
		       "\"payload\":{\"history\":false,\"presence\":false}}"
#define BENCH_MESSAGE_FMT "{\"action\":\"message\",\"options\":{\"channel\":\"%s\"}," \
			  "\"payload\":{\"seq\":%ld,\"text\":\"" BENCH_TEXT "\"}}"

static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* user plus system CPU between two getrusage() calls, µs */
static inline double
cpu_us(const struct rusage *a, const struct rusage *b)
{
	return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) * 1e6 +
	       (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec) +
	       (double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec) * 1e6 +
	       (double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec);
}

/* user or system CPU alone, µs */
static inline double
part_us(const struct timeval *a, const struct timeval *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_usec - a->tv_usec);
}

/* masking keys from getrandom(), 1024 at a time (lws reads /dev/urandom
 * once per frame) */
static inline void
mask_key(struct lws_context *cx, unsigned char key[4])
{
	static unsigned char pool[4096];
	static size_t pos = sizeof(pool);

	if (pos + 4 > sizeof(pool)) {
		if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
			lws_get_random(cx, pool, sizeof(pool));
		pos = 0;
	}
	memcpy(key, pool + pos, 4);
	pos += 4;
}

/* dst[i] = src[i] ^ key[i % 4], byte by byte */
static inline void
mask_bytes(unsigned char *dst, const unsigned char *src, size_t n,
	   const unsigned char key[4])
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = src[i] ^ key[i & 3];
}

#endif
