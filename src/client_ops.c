/*
 * client_ops.c - what a client does for the loop (xrt_ep_ops): its
 * commands, its part in the Lua state's shutdown and in the process's
 * exit, the answers of the resolver and the proxy, and its lws protocol;
 * and what it does for its address race (xrt_race_ops).
 */
#include "client_internal.h"

static const struct lws_protocols client_protocol = {
	"xano-realtime", xrt_client_callback, 0, 0, 0, NULL, 0
};

static void
client_command(xrt_endpoint *ep, xrt_item *cmd)
{
	xrt_client_command((xrt_client *)ep, cmd->kind);
}

static void
client_shutdown(xrt_endpoint *ep)
{
	xrt_client_command((xrt_client *)ep, XCMD_RELEASE);
}

/* A client without a link may be about to connect to send what its close
 * left queued. */
static int
client_busy(const xrt_endpoint *ep)
{
	const xrt_client *c = (const xrt_client *)ep;

	return c->wsi || c->flush_stop;
}

static int64_t
client_exit_drain_us(const xrt_endpoint *ep)
{
	return ((const xrt_client *)ep)->drain_timeout_us;
}

static void
client_destroy(xrt_endpoint *ep)
{
	xrt_client_destroy((xrt_client *)ep);
}

static void
client_resolved(xrt_endpoint *ep, const char *host, const char *addrs,
		const char *err)
{
	xrt_client_resolved((xrt_client *)ep, host, addrs, err);
}

static void
client_proxy_answer(xrt_endpoint *ep, uint64_t id, int status, const char *msg)
{
	xrt_client *c = (xrt_client *)ep;

	if (c->proxy_asking == id)
		xrt_client_proxy_refused(c, status, msg);
}

const xrt_ep_ops xrt_client_ops = {
	"client", &client_protocol, client_command, client_shutdown,
	client_busy, client_exit_drain_us, client_destroy, client_resolved,
	client_proxy_answer
};

static struct lws *
race_dial(void *owner, const char *addr)
{
	return xrt_client_dial(owner, addr);
}

static void
race_won(void *owner, struct lws *wsi, const char *addr)
{
	xrt_client_race_won(owner, wsi, addr);
}

static void
race_lost(void *owner, const char *reason)
{
	xrt_client_race_lost(owner, reason);
}

const xrt_race_ops xrt_client_race_ops = { race_dial, race_won, race_lost };
