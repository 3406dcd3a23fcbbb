/*
 * server_listen.c - the server's listening socket: opened by the server
 * itself (not by lws, see below) on its host and port, and the connections
 * waiting on it accepted and handed to lws.
 */
#include "server_sock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A listening socket of our own: lws would keep a destroyed vhost's
 * listener open until its 30 s housekeeping, and would quietly share one
 * port between two vhosts of a context.  -1 and msg on failure. */
int
xrt_server_open_listener(xrt_server *s, char *msg, size_t msglen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int fd = -1, one = 1, r, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", s->want_port);
	r = getaddrinfo(s->host, port, &hints, &res);
	if (r) {
		snprintf(msg, msglen, "cannot listen on %s:%d: %s", s->host,
			 s->want_port, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			/* "::" serves both families (dual-stack) whatever the
			 * system's net.ipv6.bindv6only says */
			int v6only = !IN6_IS_ADDR_UNSPECIFIED(
				&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
				   sizeof(v6only));
		}
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) &&
		    !listen(fd, SOMAXCONN))
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot listen on %s:%d: %s", s->host,
			 s->want_port, strerror(err));
		return -1;
	}
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
			s->port = ntohs(ss.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)&ss)->sin6_port :
				((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

/* The listener is readable: take what waits, bounded per wakeup. */
void
xrt_server_accept_pending(xrt_server *s)
{
	int i;

	for (i = 0; i < 64; i++) {
		lws_sock_file_fd_type sfd;
		int fd = accept4(lws_get_socket_fd(s->lwsi), NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

		if (fd < 0)
			return;
		if (s->closing_started) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sfd.sockfd = fd;
		/* on failure lws closes fd itself */
		lws_adopt_descriptor_vhost(s->vh, LWS_ADOPT_SOCKET |
					   (s->cert ? LWS_ADOPT_ALLOW_SSL : 0), sfd,
					   "xano-realtime-server", NULL);
	}
}
