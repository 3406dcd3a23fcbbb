/*
 * proxy.h - why an HTTP proxy refused a tunnel (proxy.c).
 *
 * lws 4.1.6 runs the CONNECT of a proxied connection and keeps the
 * proxy's answer to itself ("proxy not h1"): the client asks the proxy
 * again, off the service thread, to say why.
 */
#ifndef XRT_PROXY_H
#define XRT_PROXY_H

#include "loop.h"

/* Service thread: asks the proxy at proxy_addr:proxy_port (numeric) for a
 * tunnel to host:port, with auth ("user:pass", or NULL).  Returns the
 * question's id, 0 when it cannot ask.  The answer reaches every
 * endpoint's ops->proxy_answer: status is the proxy's HTTP status (0:
 * unknown) and msg the reason to report. */
uint64_t xrt_proxy_ask(xrt_loop *loop, const char *host, int port,
		       const char *proxy_addr, int proxy_port,
		       const char *auth);

#endif
