/*
 * kinds.c - the kinds of endpoint a loop hosts, in one list: the only
 * place that names them all.  The loop's vhost takes their protocols in
 * this order (the first is lws's default protocol).
 */
#include "client.h"
#include "server.h"

const xrt_ep_ops *const xrt_kinds[] = {
	&xrt_client_ops,
	&xrt_server_ops,
	NULL
};
