/*
 * client_tls.c - how a client's connection is set up through lws: the
 * vhost it goes through (lws 4.1.6 keeps TLS trust and the HTTP proxy per
 * vhost), the connect to one address with its TLS and proxy settings
 * (dial), and the check of the server's certificate.
 */
#include "client_internal.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
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

/* The client's protocol (on the loop's vhost, xrt_client_ops), and alone
 * on the vhosts of this file, which serve outgoing connections only. */
const struct lws_protocols xrt_client_protocols[2] = {
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
	info.protocols = xrt_client_protocols;
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

/* The address race (connect.c) dials each address through this: a
 * connection through lws to one numeric address (of the host, or of the
 * proxy, which then gets a CONNECT for the host). */
struct lws *
xrt_client_dial(xrt_client *c, const char *addr)
{
	struct lws_client_connect_info i;
	struct lws_vhost *vh;
	char hosthdr[300], err[160], proxy[400], target[300];
	char *token = NULL;
	struct lws *wsi;
	int v6 = strchr(addr, ':') != NULL;

	if (c->proxy_host)
		snprintf(proxy, sizeof(proxy), "%s%s%s%s%s:%d",
			 c->proxy_auth ? c->proxy_auth : "",
			 c->proxy_auth ? "@" : "", v6 ? "[" : "", addr,
			 v6 ? "]" : "", c->proxy_port);
	vh = xrt_client_vhost(c->ep.loop, c->tls, c->ca_file,
			      c->proxy_host ? proxy : NULL, err, sizeof(err));
	if (!vh) {
		xrt_client_set_reason(c, err);
		return NULL;
	}
	xrt_loop_lock(c->ep.loop);
	if (c->token)
		token = strdup(c->token);
	xrt_loop_unlock(c->ep.loop);

	if ((c->tls && c->port == 443) || (!c->tls && c->port == 80))
		snprintf(hosthdr, sizeof(hosthdr), "%s%s%s",
			 strchr(c->host, ':') ? "[" : "", c->host,
			 strchr(c->host, ':') ? "]" : "");
	else if (strchr(c->host, ':'))
		snprintf(hosthdr, sizeof(hosthdr), "[%s]:%d", c->host, c->port);
	else
		snprintf(hosthdr, sizeof(hosthdr), "%s:%d", c->host, c->port);
	/* through a proxy, lws writes "CONNECT <address>:<port>": the name,
	 * which the proxy resolves (as curl does) */
	snprintf(target, sizeof(target), "%s%s%s",
		 c->proxy_host && strchr(c->host, ':') ? "[" : "", c->host,
		 c->proxy_host && strchr(c->host, ':') ? "]" : "");

	memset(&i, 0, sizeof(i));
	i.context = xrt_loop_context(c->ep.loop);
	i.vhost = vh;
	/* numeric, or the proxy's vhost connects to its numeric address:
	 * lws would otherwise resolve a name on this thread */
	i.address = c->proxy_host ? target : addr;
	i.port = c->port;
	i.path = c->path;
	i.host = hosthdr;	/* also the TLS server name lws checks */
	i.protocol = token;
	i.local_protocol_name = xrt_client_protocols[0].name;
	i.ietf_version_or_minus_one = -1;
	i.opaque_user_data = c;
	if (c->tls) {
		i.ssl_connection = LCCSCF_USE_SSL;
		/* lws 4.1.6 takes the name to check from the Host header, cut
		 * at the first ':': "[::1]:443" would be checked as "[".  An
		 * IPv6 literal is checked here instead (see the callback). */
		if (strchr(c->host, ':'))
			i.ssl_connection |= LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
		if (!c->verify)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					    LCCSCF_ALLOW_EXPIRED |
					    LCCSCF_ALLOW_INSECURE;
	}

	c->in_connect = 1;
	c->sync_failed = 0;
	wsi = lws_client_connect_via_info(&i);
	c->in_connect = 0;
	free(token);
	if (c->wsi && c->sync_failed) {
		/* it won during the dial, and failed in it */
		c->wsi = wsi;
		xrt_client_attempt_ended(c);
		return NULL;
	}
	return wsi;
}

/* One certificate of the server's chain (user: the X509_STORE_CTX), with
 * OpenSSL's verdict in len (preverify_ok: 0 refused); 1 fails the
 * handshake. */
int
xrt_client_check_cert(xrt_client *c, void *user, size_t len)
{
	/* lws keeps OpenSSL's verdict (we return 0); we keep its
	 * reason, which lws would otherwise only log */
	if (!len && user) {
		int err = X509_STORE_CTX_get_error((X509_STORE_CTX *)user);
		char m[128];

		if (err != X509_V_OK) {
			snprintf(m, sizeof(m), "TLS certificate refused: %s",
				 X509_verify_cert_error_string(err));
			xrt_client_set_reason(c, m);
		}
	} else if (user && c->verify && strchr(c->host, ':') &&
		   !X509_STORE_CTX_get_error_depth((X509_STORE_CTX *)user)) {
		/* the server's own certificate, for an IPv6 literal URL */
		X509 *cert = X509_STORE_CTX_get_current_cert((X509_STORE_CTX *)user);

		if (!cert || X509_check_ip_asc(cert, c->host, 0) != 1) {
			X509_STORE_CTX_set_error((X509_STORE_CTX *)user,
						 X509_V_ERR_IP_ADDRESS_MISMATCH);
			xrt_client_set_reason(c, "TLS certificate refused: IP address mismatch");
			return 1;	/* lws fails the handshake */
		}
	}
	return 0;
}
