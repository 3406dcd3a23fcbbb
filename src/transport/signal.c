/*
 * signal.c - the eventfd signals that tell the Lua thread, or a host
 * loop, that events wait (see xrt_signal in loop.h), and the clock.
 *
 * The rules, all under the loop's mutex: an eventfd is only written when
 * someone looks (a waiter, or a host loop it was exported to), and is
 * readable exactly while events wait from then on.
 */
#include "loop_internal.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

double
xrt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* The signal rules, all under mu (see xrt_signal in loop.h). */
int
xrt_sig_init(xrt_signal *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return s->fd < 0 ? -1 : 0;
}

/* Events now wait where there were none. */
void
xrt_sig_filled(xrt_signal *s)
{
	if (!s->raised && (s->exported || s->waiters)) {
		efd_set(s->fd);
		s->raised = 1;
	}
}

/* No event waits any more. */
void
xrt_sig_emptied(xrt_signal *s)
{
	if (s->raised) {
		efd_clear(s->fd);
		s->raised = 0;
	}
}

int
xrt_sig_export(xrt_signal *s, size_t waiting)
{
	s->exported = 1;
	if (waiting)
		xrt_sig_filled(s);
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

int
xrt_poll_fd(int fd, double timeout)
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
