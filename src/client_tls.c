/*
 * client_tls.c - the TLS and proxy side of a client's connections: the
 * vhosts they go through (lws 4.1.6 keeps TLS trust and the HTTP proxy per
 * vhost).
 */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Client vhosts beyond the plain one: lws 4.1.6 keeps TLS trust and the
 * HTTP proxy per vhost, so there is one per (TLS, CA file, proxy). */
struct xrt_ca_vhost {
	struct xrt_ca_vhost *next;
	int tls;
	char *ca_file;		/* NULL: the system CAs */
	char *proxy;		/* NULL: none */
	struct lws_vhost *vh;
};

/* The client's protocol alone: a vhost of this file serves outgoing
 * connections only. */
static const struct lws_protocols client_protocols[] = {
	{ "xano-realtime", xrt_client_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static const char ca_vhosts_key;	/* xrt_loop_data: the list */

static void
free_ca_vhosts(void *data)
{
	struct xrt_ca_vhost *v;

	while ((v = data)) {
		data = v->next;
		free(v->ca_file);
		free(v->proxy);
		free(v);
	}
}

static int
same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

struct lws_vhost *
xrt_client_vhost(xrt_loop *loop, int tls, const char *ca_file,
		 const char *proxy, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct xrt_ca_vhost *v;

	if (!tls)
		ca_file = NULL;
	if (!tls && !proxy)
		return xrt_loop_vhost(loop);
	for (v = xrt_loop_data(loop, &ca_vhosts_key); v; v = v->next)
		if (v->tls == tls && same(v->ca_file, ca_file) &&
		    same(v->proxy, proxy))
			return v->vh;
	v = calloc(1, sizeof(*v));
	if (!v || (ca_file && !(v->ca_file = strdup(ca_file))) ||
	    (proxy && !(v->proxy = strdup(proxy)))) {
		if (v) {
			free(v->ca_file);
			free(v);
		}
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->tls = tls;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.options = tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.vhost_name = ca_file ? "client-ca" : tls ? "client-tls" : "client-proxy";
	info.client_ssl_ca_filepath = v->ca_file;
	/* the proxy is ours to choose: "" keeps lws from taking http_proxy
	 * from the environment by itself */
	info.http_proxy_address = v->proxy ? v->proxy : "";
	v->vh = lws_create_vhost(xrt_loop_context(loop), &info);
	if (!v->vh) {
		snprintf(err, errlen, "cannot set up %s%s%s", tls ? "TLS" : "a proxy",
			 ca_file ? " with ca_file " : "", ca_file ? ca_file : "");
		free(v->ca_file);
		free(v->proxy);
		free(v);
		return NULL;
	}
	v->next = xrt_loop_data(loop, &ca_vhosts_key);
	if (xrt_loop_set_data(loop, &ca_vhosts_key, v, free_ca_vhosts)) {
		/* lws frees the vhost with its context */
		snprintf(err, errlen, "no room for the vhosts");
		free(v->ca_file);
		free(v->proxy);
		free(v);
		return NULL;
	}
	return v->vh;
}
