/*
 * client_impl.h - what the files of the client unit share, and no one
 * else: client.c (lifetime, the outgoing stream, the Lua-thread API),
 * client_link.c (attempts, timers and commands on the service thread) and
 * client_wire.c (the libwebsockets callback: receive and the writer).
 */
#ifndef XRT_CLIENT_IMPL_H
#define XRT_CLIENT_IMPL_H

#include "rt.h"

/* The outgoing stream (client.c), under mu. */
int xrt_client_join_add(xrt_client *c, int64_t tag, xrt_buf *frame);
xrt_buf *xrt_client_join_remove(xrt_client *c, int64_t tag);
xrt_item *xrt_client_pop_frame(xrt_client *c);

/* The link's life (client_link.c), service thread. */
void xrt_client_set_state(xrt_client *c, int state);	/* takes mu */
void xrt_client_set_reason(xrt_client *c, const char *why);
void xrt_client_attempt_ended(xrt_client *c);
void xrt_client_deadline_fire(lws_sorted_usec_list_t *sul);
void xrt_client_ping_fire(lws_sorted_usec_list_t *sul);

#endif
