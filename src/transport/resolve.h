/*
 * resolve.h - host names resolved off the service thread (resolve.c).
 *
 * An answer is a list of numeric addresses separated by spaces, at most
 * XRT_MAX_ADDRS, in the order RFC 8305 tries them (families interleaved,
 * the first family the one getaddrinfo() put first).
 */
#ifndef XRT_RESOLVE_H
#define XRT_RESOLVE_H

#include "loop.h"

#define XRT_MAX_ADDRS 16

int xrt_is_numeric_host(const char *host);
/* in (a list) in that order; the resolve option's addresses go through it
 * too, as a DNS answer does */
void xrt_order_addresses(const char *in, char *out, size_t outlen);
/* Service thread.  The cached addresses of host, or NULL: then *pending
 * is set when an answer will come (to every endpoint's ops->resolved),
 * and err says why not otherwise. */
const char *xrt_resolve(xrt_loop *loop, const char *host, int *pending,
			char *err, size_t errlen);

#endif
