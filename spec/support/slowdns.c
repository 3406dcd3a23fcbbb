/*
 * slowdns.c - an LD_PRELOAD shim for the OpenResty spec: a name lookup
 * that hangs, without any name server (everything stays on 127.0.0.1).
 *
 * getaddrinfo() of the name in XRT_SLOW_DNS_NAME writes "begin PID TID"
 * to the file XRT_SLOW_DNS_LOG, then waits until the file
 * XRT_SLOW_DNS_RELEASE exists (10 s at most), writes "end PID TID" and
 * fails with EAI_NONAME.  Every other lookup goes to libc.  The variables
 * are read when the library loads (nginx clears its workers' environment;
 * the workers inherit what the master read).
 *
 *   cc -shared -fPIC -o slowdns.so slowdns.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char name[256], logpath[4096], release[4096];

__attribute__((constructor)) static void
slowdns_init(void)
{
	const char *n = getenv("XRT_SLOW_DNS_NAME");
	const char *l = getenv("XRT_SLOW_DNS_LOG");
	const char *r = getenv("XRT_SLOW_DNS_RELEASE");

	if (n && l && r) {
		snprintf(name, sizeof(name), "%s", n);
		snprintf(logpath, sizeof(logpath), "%s", l);
		snprintf(release, sizeof(release), "%s", r);
	}
}

static void
note(const char *what)
{
	char line[128];
	int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %d %ld\n", what, (int)getpid(),
		     (long)syscall(SYS_gettid));
	if (write(fd, line, (size_t)n) < 0) {
		/* nothing to do */
	}
	close(fd);
}

int
getaddrinfo(const char *node, const char *service,
	    const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*real)(const char *, const char *,
			   const struct addrinfo *, struct addrinfo **);

	if (node && name[0] && strcmp(node, name) == 0) {
		struct timespec tick = { 0, 10 * 1000 * 1000 };
		int i;

		note("begin");
		for (i = 0; i < 1000 && access(release, F_OK) != 0; i++)
			nanosleep(&tick, NULL);
		note("end");
		return EAI_NONAME;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	return real(node, service, hints, res);
}
