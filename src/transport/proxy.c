/*
 * proxy.c - why an HTTP proxy refused a tunnel.
 *
 * The proxy itself is chosen by the Lua layer (the proxy option, or the
 * conventional environment variables and no_proxy) and is driven by
 * libwebsockets 4.1.6: a client vhost per proxy address (client_tls.c)
 * makes lws connect to the proxy, write "CONNECT host:port" with Basic
 * credentials, and run TLS and the upgrade inside the tunnel, so that the
 * proxy sees the CONNECT and nothing of the realtime token.  What lws
 * 4.1.6 does not do is say why a proxy refused: it reads the answer, keeps
 * it, and reports "proxy not h1".  So when that happens, this file asks
 * the proxy the same question once more, on a short-lived thread (the
 * service thread never blocks), reads the status line of the answer and
 * posts it back (a job, to every endpoint's ops->proxy_answer): "proxy
 * refused the tunnel: HTTP 407 Proxy Authentication Required", with 407 as
 * the attempt's code for the reconnect policy.  A tunnel is never opened
 * by this question: on a 200 the connection is closed at once.
 */
#include "proxy.h"
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ASK_TIMEOUT_MS 5000
#define ASK_MAX_HEAD 8192

typedef struct ask_job {
	xrt_loop *loop;
	uint64_t id;
	char addr[48];
	int port;
	char request[1024];
} ask_job;

static atomic_uint_fast64_t next_id = 1;

static void answered(xrt_loop *loop, xrt_item *cmd);
static xrt_job answered_job = { answered };

/* -------------------------------------------------------- off the thread */

static void
b64(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < outlen; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static int
wait_fd(int fd, short ev, int64_t deadline_ms)
{
	struct pollfd pfd;
	int64_t left = deadline_ms - (int64_t)(xrt_now() * 1000);
	int r;

	if (left <= 0)
		return 0;
	pfd.fd = fd;
	pfd.events = ev;
	do
		r = poll(&pfd, 1, (int)left);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* The status of the proxy's answer, or -1 and why in msg. */
static int
ask(ask_job *job, char *msg, size_t msglen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char head[ASK_MAX_HEAD + 1];
	size_t got = 0, len = strlen(job->request);
	int64_t deadline = (int64_t)(xrt_now() * 1000) + ASK_TIMEOUT_MS;
	int fd, status = 0, e = 0;
	ssize_t n;

	memset(&ss, 0, sizeof(ss));
	if (strchr(job->addr, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)job->port);
		inet_pton(AF_INET6, job->addr, &a->sin6_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)job->port);
		inet_pton(AF_INET, job->addr, &a->sin_addr);
		sl = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(msg, msglen, "%s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		snprintf(msg, msglen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!wait_fd(fd, POLLOUT, deadline)) {
		snprintf(msg, msglen, "no answer");
		close(fd);
		return -1;
	}
	sl = sizeof(e);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl);
	if (e) {
		snprintf(msg, msglen, "%s", strerror(e));
		close(fd);
		return -1;
	}
	if (send(fd, job->request, len, MSG_NOSIGNAL) != (ssize_t)len) {
		snprintf(msg, msglen, "cannot write the CONNECT");
		close(fd);
		return -1;
	}
	while (!status) {
		if (got == ASK_MAX_HEAD || !wait_fd(fd, POLLIN, deadline)) {
			snprintf(msg, msglen, "no answer to the CONNECT");
			status = -1;
			break;
		}
		n = recv(fd, head + got, ASK_MAX_HEAD - got, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			snprintf(msg, msglen, "the proxy closed the connection "
				 "without an answer");
			status = -1;
			break;
		}
		got += (size_t)n;
		status = xrt_http_status(head, got, msg, msglen);
		if (status < 0)
			snprintf(msg, msglen, "the proxy's answer is not HTTP");
	}
	close(fd);
	return status;
}

static void *
ask_main(void *arg)
{
	ask_job *job = arg;
	char msg[128] = "";
	int status = ask(job, msg, sizeof(msg));

	xrt_loop_post(job->loop, &answered_job, (int64_t)job->id, status,
		      xrt_buf_from(msg, strlen(msg)), NULL);
	xrt_loop_unref(job->loop);
	free(job);
	return NULL;
}

/* ------------------------------------------------------ service thread */

uint64_t
xrt_proxy_ask(xrt_loop *loop, const char *host, int port,
	      const char *proxy_addr, int proxy_port, const char *auth)
{
	ask_job *job = calloc(1, sizeof(*job));
	char cred[600] = "", target[300];
	pthread_attr_t attr;
	pthread_t t;
	uint64_t id;

	if (!job)
		return 0;
	if (auth) {
		char enc[500];

		b64((const unsigned char *)auth, strlen(auth), enc, sizeof(enc));
		snprintf(cred, sizeof(cred), "Proxy-authorization: basic %s\r\n", enc);
	}
	snprintf(target, sizeof(target), "%s%s%s:%d",
		 strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", port);
	if ((size_t)snprintf(job->request, sizeof(job->request),
			     "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-agent: lws\r\n%s\r\n",
			     target, target, cred) >= sizeof(job->request)) {
		free(job);	/* a cut request would ask the wrong question */
		return 0;
	}
	snprintf(job->addr, sizeof(job->addr), "%s", proxy_addr);
	job->port = proxy_port;
	job->loop = loop;
	job->id = id = atomic_fetch_add(&next_id, 1);
	xrt_loop_ref(loop);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, ask_main, job)) {
		pthread_attr_destroy(&attr);
		xrt_loop_unref(loop);
		free(job);
		return 0;
	}
	pthread_attr_destroy(&attr);
	return id;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return NULL;
	}
}

typedef struct answer {
	uint64_t id;
	int status;
	const char *msg;
} answer;

static void
tell(xrt_endpoint *ep, void *ud)
{
	const answer *a = ud;

	if (ep->ops->proxy_answer)
		ep->ops->proxy_answer(ep, a->id, a->status, a->msg);
}

/* Service thread: the answer to question cmd->a; the endpoint that asked
 * it, if still there, takes it. */
static void
answered(xrt_loop *loop, xrt_item *cmd)
{
	const char *said = cmd->buf ? (const char *)xrt_buf_data(cmd->buf) : "";
	int status = (int)cmd->b;
	char m[200];
	answer a;

	if (status > 0 && (status < 200 || status >= 300)) {
		const char *t = status_text(status);

		snprintf(m, sizeof(m), "proxy refused the tunnel: HTTP %d %.100s",
			 status, t ? t : said[0] ? said : "(no reason given)");
	} else if (status > 0) {
		/* it said yes when asked again: a passing refusal */
		snprintf(m, sizeof(m), "proxy refused the tunnel (and accepted "
			 "it when asked again)");
		status = 0;
	} else {
		snprintf(m, sizeof(m), "proxy refused the tunnel (%.120s)", said);
		status = 0;
	}
	a.id = (uint64_t)cmd->a;
	a.status = status;
	a.msg = m;
	xrt_loop_each(loop, tell, &a);
}
