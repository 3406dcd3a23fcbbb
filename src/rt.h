/*
 * rt.h - every header of xano.realtime.core at once, for the files not yet
 * switched to the headers of the units they use (queue.h, wsframe.h,
 * http.h, events.h, loop.h, resolve.h, proxy.h, connect.h, client.h, server.h;
 * see src/README.md).  It also shows them struct xrt_loop, xrt_client and
 * xrt_server, which are private to their units.
 */
#ifndef XRT_RT_H
#define XRT_RT_H

#include "queue.h"
#include "wsframe.h"
#include "http.h"
#include "events.h"
#include "loop.h"
#include "loop_internal.h"
#include "resolve.h"
#include "proxy.h"
#include "connect.h"
#include "client.h"
#include "client_internal.h"
#include "server.h"
#include "server_internal.h"

#endif
