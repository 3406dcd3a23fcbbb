/*
 * resolve.c - host names resolved off the service thread.
 *
 * Debian's libwebsockets 4.1.6 resolves names with a blocking
 * getaddrinfo() on the thread that connects, which would stall every
 * other connection of the Lua state for as long as a name server takes.
 * So a client hands lws numeric addresses: a short-lived thread resolves
 * the name and posts the answer back as a command.  Answers are cached for
 * a minute, and clients that want the same name wait for one lookup.
 *
 * An answer is every address of the name (A and AAAA), in the order RFC
 * 8305 section 4 tries them: getaddrinfo() sorts them by RFC 6724
 * preference; the families are then interleaved, starting with the family
 * of the first, so that a dead family costs one attempt, not all of them.
 * The answer reaches every endpoint through its ops (resolved).
 */
#include "resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DNS_TTL_US (60 * LWS_US_PER_SEC)

struct xrt_dns {
	struct xrt_dns *next;
	char *host;
	char addrs[XRT_MAX_ADDRS * (INET6_ADDRSTRLEN + 1)];
	int64_t expires;	/* lws_now_usecs() */
	int pending;
};

static const char cache_key;	/* xrt_loop_data: the cache */
static void resolved(xrt_loop *loop, xrt_item *cmd);
static xrt_job resolved_job = { resolved };

typedef struct dns_job {
	xrt_loop *loop;
	char *host;
} dns_job;

int
xrt_is_numeric_host(const char *host)
{
	unsigned char b[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* A list of numeric addresses in RFC 8305 order (see the top): the
 * families interleaved, the first family first, each family's addresses
 * in the order given, each address once, at most XRT_MAX_ADDRS. */
void
xrt_order_addresses(const char *in, char *out, size_t outlen)
{
	char fam[2][XRT_MAX_ADDRS][INET6_ADDRSTRLEN];
	int nfam[2] = { 0, 0 }, first = -1, i, k, f;
	size_t used = 0;

	out[0] = '\0';
	while (*in) {
		size_t n = strcspn(in, " ");
		char a[INET6_ADDRSTRLEN];

		if (n && n < sizeof(a)) {
			memcpy(a, in, n);
			a[n] = '\0';
			f = strchr(a, ':') ? 1 : 0;
			for (k = 0; k < nfam[f] && strcmp(fam[f][k], a); k++)
				;
			if (k == nfam[f] && nfam[f] < XRT_MAX_ADDRS) {
				memcpy(fam[f][nfam[f]++], a, n + 1);
				if (first < 0)
					first = f;
			}
		}
		in += n;
		while (*in == ' ')
			in++;
	}
	for (i = 0, k = 0; first >= 0 && k < XRT_MAX_ADDRS &&
	     (i < nfam[0] || i < nfam[1]); i++) {
		int order[2] = { first, !first }, j;

		for (j = 0; j < 2 && k < XRT_MAX_ADDRS; j++) {
			f = order[j];
			if (i >= nfam[f] || used >= outlen)
				continue;
			used += (size_t)snprintf(out + used, outlen - used, "%s%s",
						 used ? " " : "", fam[f][i]);
			k++;
		}
	}
}

/* The addresses of res, in getaddrinfo()'s order (RFC 6724), then RFC
 * 8305's. */
static void
order_addresses(const struct addrinfo *res, char *out, size_t outlen)
{
	char all[XRT_MAX_ADDRS * 2 * (INET6_ADDRSTRLEN + 1)];
	size_t used = 0;
	int n = 0;

	all[0] = '\0';
	for (; res && n < 2 * XRT_MAX_ADDRS; res = res->ai_next) {
		char a[INET6_ADDRSTRLEN];

		if (res->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr,
				  a, sizeof(a));
		else if (res->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr,
				  a, sizeof(a));
		else
			continue;
		used += (size_t)snprintf(all + used, sizeof(all) - used, "%s%s",
					 used ? " " : "", a);
		n++;
	}
	xrt_order_addresses(all, out, outlen);
}

static void *
resolver_main(void *arg)
{
	dns_job *job = arg;
	struct addrinfo hints, *res = NULL;
	char addrs[XRT_MAX_ADDRS * (INET6_ADDRSTRLEN + 1)] = "", err[128] = "";
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	r = getaddrinfo(job->host, NULL, &hints, &res);
	if (r)
		snprintf(err, sizeof(err), "%s", gai_strerror(r));
	else
		order_addresses(res, addrs, sizeof(addrs));
	if (!r && !addrs[0])
		snprintf(err, sizeof(err), "no address");
	if (res)
		freeaddrinfo(res);

	/* a = 1 when resolved; buf = the name, buf2 = addresses or error */
	xrt_loop_post(job->loop, &resolved_job, addrs[0] ? 1 : 0, 0,
		      xrt_buf_from(job->host, strlen(job->host)),
		      addrs[0] ? xrt_buf_from(addrs, strlen(addrs)) :
				 xrt_buf_from(err, strlen(err)));
	xrt_loop_unref(job->loop);
	free(job->host);
	free(job);
	return NULL;
}

static void
free_cache(void *data)
{
	struct xrt_dns *d;

	while ((d = data)) {
		data = d->next;
		free(d->host);
		free(d);
	}
}

static struct xrt_dns *
find(xrt_loop *loop, const char *host)
{
	struct xrt_dns *d;

	for (d = xrt_loop_data(loop, &cache_key); d; d = d->next)
		if (!strcmp(d->host, host))
			return d;
	return NULL;
}

/* Service thread.  Returns the cached addresses of host, or NULL: then
 * *pending is set when an answer will come (resolved_job), and err says
 * why not otherwise. */
const char *
xrt_resolve(xrt_loop *loop, const char *host, int *pending, char *err,
	    size_t errlen)
{
	struct xrt_dns *d = find(loop, host);
	pthread_attr_t attr;
	pthread_t t;
	dns_job *job;

	*pending = 0;
	if (d && d->addrs[0] && d->expires > lws_now_usecs())
		return d->addrs;
	if (d && d->pending) {
		*pending = 1;
		return NULL;
	}
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d || !(d->host = strdup(host))) {
			free(d);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		d->next = xrt_loop_data(loop, &cache_key);
		if (xrt_loop_set_data(loop, &cache_key, d, free_cache)) {
			free(d->host);
			free(d);
			snprintf(err, errlen, "no room for the name cache");
			return NULL;
		}
	}
	job = calloc(1, sizeof(*job));
	if (!job || !(job->host = strdup(host))) {
		free(job);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	job->loop = loop;
	xrt_loop_ref(loop);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, resolver_main, job)) {
		pthread_attr_destroy(&attr);
		xrt_loop_unref(loop);
		free(job->host);
		free(job);
		snprintf(err, errlen, "cannot start a resolver thread");
		return NULL;
	}
	pthread_attr_destroy(&attr);
	d->pending = 1;
	*pending = 1;
	return NULL;
}

typedef struct answer {
	const char *host, *addrs, *err;
} answer;

static void
tell(xrt_endpoint *ep, void *ud)
{
	const answer *a = ud;

	if (ep->ops->resolved)
		ep->ops->resolved(ep, a->host, a->addrs, a->err);
}

/* Service thread: an answer came; keep it and tell the endpoints (those
 * waiting for host take it). */
static void
resolved(xrt_loop *loop, xrt_item *cmd)
{
	const char *host = (const char *)xrt_buf_data(cmd->buf);
	const char *res = cmd->buf2 ? (const char *)xrt_buf_data(cmd->buf2) : "";
	struct xrt_dns *d = find(loop, host);
	answer a;

	if (d) {
		d->pending = 0;
		if (cmd->a) {
			snprintf(d->addrs, sizeof(d->addrs), "%s", res);
			d->expires = lws_now_usecs() + DNS_TTL_US;
		} else {
			d->addrs[0] = '\0';
		}
	}
	a.host = host;
	a.addrs = cmd->a ? res : NULL;
	a.err = res;
	xrt_loop_each(loop, tell, &a);
}
