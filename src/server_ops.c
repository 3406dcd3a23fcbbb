/*
 * server_ops.c - what a server does for the loop (xrt_ep_ops): its
 * commands and its part in the Lua state's shutdown.  Its connections
 * live on the vhost each server makes, so it adds no protocol to the
 * loop's; the process's exit does not wait for it.
 */
#include "server_internal.h"

#include <string.h>

static void
server_command(xrt_endpoint *ep, xrt_item *cmd)
{
	xrt_server_command((xrt_server *)ep, cmd);
}

static void
server_shutdown(xrt_endpoint *ep)
{
	xrt_item cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.kind = XCMD_SERVER_CLOSE;
	xrt_server_command((xrt_server *)ep, &cmd);
}

static int
server_busy(const xrt_endpoint *ep)
{
	const xrt_server *s = (const xrt_server *)ep;

	return s->vh || s->lwsi || s->nsocks;
}

static int64_t
server_exit_drain_us(const xrt_endpoint *ep)
{
	return -1;
}

static void
server_destroy(xrt_endpoint *ep)
{
	xrt_server_destroy((xrt_server *)ep);
}

const xrt_ep_ops xrt_server_ops = {
	"server", NULL, server_command, server_shutdown, server_busy,
	server_exit_drain_us, server_destroy, NULL, NULL
};
