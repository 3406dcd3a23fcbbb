-- LuaRocks: builds the C core with the "builtin" back-end (no Makefile on
-- the user's side) from the same sources as the Makefile.
--
--   luarocks --lua-version=5.4 make rockspec/xano-realtime-scm-1.rockspec
--
-- Offline with Debian's packages: lua-cjson from Debian is not a rock, so
-- LuaRocks does not see it; add --deps-mode=none (spec/luarocks_spec.lua
-- does) and the installed module finds Debian's cjson on its usual path.
rockspec_format = "3.0"
package = "xano-realtime"
version = "scm-1"

source = {
  -- set to the published repository; "luarocks make" builds the checkout
  url = "git+https://github.com/OWNER/lua-xano-realtime.git",
}

description = {
  summary = "Xano Realtime client (C core, one service thread per Lua state) and a local server",
  detailed = [[
A Xano Realtime client for Lua 5.1-5.4 and LuaJIT: channels over one shared
WebSocket, presence, history, an offline queue, reconnects with jitter and
pings, driven by a C service thread (libwebsockets) so that a game loop or
an nginx worker only ever calls poll(0).  Also a local Xano-compatible
realtime server (xano.realtime.server, bin/xano-realtime-server).
]],
  license = "MIT",
  labels = { "websocket", "realtime", "xano", "openresty", "luajit" },
}

dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson >= 2.1",
}

external_dependencies = {
  LIBWEBSOCKETS = { header = "libwebsockets.h", library = "websockets" },
  OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
}

build = {
  type = "builtin",
  modules = {
    ["xano.realtime.core"] = {
      sources = {
        "src/transport/connect.c", "src/transport/endpoint.c", "src/transport/http.c",
        "src/transport/loop.c", "src/transport/proxy.c", "src/transport/queue.c",
        "src/transport/resolve.c", "src/transport/signal.c", "src/transport/wsframe.c",
        "src/client/client.c", "src/client/client_link.c", "src/client/client_tls.c",
        "src/client/client_wire.c",
        "src/server/server.c", "src/server/server_listen.c", "src/server/server_sock.c",
        "src/lua/kinds.c", "src/lua/lua_client.c", "src/lua/lua_core.c", "src/lua/lua_events.c",
        "src/lua/lua_json.c", "src/lua/lua_members.c", "src/lua/lua_server.c",
      },
      defines = { "_GNU_SOURCE" },
      libraries = { "websockets", "ssl", "crypto", "pthread" },
      incdirs = { "src/transport", "src/client", "src/server", "src/lua", "$(LIBWEBSOCKETS_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(LIBWEBSOCKETS_LIBDIR)", "$(OPENSSL_LIBDIR)" },
    },
    ["xano.realtime"] = "lua/xano/realtime.lua",
    ["xano.realtime.advice"] = "lua/xano/realtime/advice.lua",
    ["xano.realtime.channel"] = "lua/xano/realtime/channel.lua",
    ["xano.realtime.client"] = "lua/xano/realtime/client.lua",
    ["xano.realtime.compat"] = "lua/xano/realtime/compat.lua",
    ["xano.realtime.events"] = "lua/xano/realtime/events.lua",
    ["xano.realtime.handlers"] = "lua/xano/realtime/handlers.lua",
    ["xano.realtime.frames"] = "lua/xano/realtime/frames.lua",
    ["xano.realtime.history"] = "lua/xano/realtime/history.lua",
    ["xano.realtime.json"] = "lua/xano/realtime/json.lua",
    ["xano.realtime.options"] = "lua/xano/realtime/options.lua",
    ["xano.realtime.presence"] = "lua/xano/realtime/presence.lua",
    ["xano.realtime.proxy"] = "lua/xano/realtime/proxy.lua",
    ["xano.realtime.server"] = "lua/xano/realtime/server.lua",
    ["xano.realtime.server.admin"] = "lua/xano/realtime/server/admin.lua",
    ["xano.realtime.server.channels"] = "lua/xano/realtime/server/channels.lua",
    ["xano.realtime.server.config"] = "lua/xano/realtime/server/config.lua",
    ["xano.realtime.server.console"] = "lua/xano/realtime/server/console.lua",
    ["xano.realtime.server.console_page"] = "lua/xano/realtime/server/console_page.lua",
    ["xano.realtime.server.frames"] = "lua/xano/realtime/server/frames.lua",
    ["xano.realtime.server.protocol"] = "lua/xano/realtime/server/protocol.lua",
    ["xano.realtime.server.push"] = "lua/xano/realtime/server/push.lua",
    ["xano.realtime.server.rawjson"] = "lua/xano/realtime/server/rawjson.lua",
    ["xano.realtime.workflow"] = "lua/xano/realtime/workflow.lua",
  },
  install = {
    bin = { ["xano-realtime-server"] = "bin/xano-realtime-server" },
  },
}

test_dependencies = { "busted" }
test = { type = "busted" }
