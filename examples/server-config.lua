-- The config of "make server", the server the quickstart, the examples,
-- the demo and the documentation's snippets talk to (and an example for
-- server.start{ config_file = ... }).  It uses every key; docs/server.md
-- explains them.
--
--   make server        (bin/xano-realtime-server --port 8080 --config examples/server-config.lua)
--
-- Clients connect to ws://127.0.0.1:8080/rt/local (url = "http://127.0.0.1:8080",
-- canonical = "local"), with one of the tokens below as the WebSocket
-- subprotocol (realtimeAuthToken in the JS SDK), or with no token as
-- anonymous clients.
return {
  canonical = "local",             -- the path is /rt/local, the server's default too
  admin_key = "change-me",         -- POST /event needs X-Admin-Key: change-me
  max_frame = 65536,               -- larger client frames: close 1009
  unknown_token = "anonymous",     -- or "refuse": HTTP 401 at the upgrade
  ping_interval = 30,              -- seconds between WebSocket pings to idle clients
  -- tls = { cert = "server.pem", key = "server.key" },  -- serve wss:// instead of ws://

  -- opaque token strings and the identity each one stands for
  tokens = {
    ["alice-token"] = { dbo_id = 1, row_id = 1, extras = { name = "Alice", role = "agent" } },
    ["bob-token"] = { dbo_id = 1, row_id = 2, extras = { name = "Bob" } },
    ["device-7"] = { dbo_id = 2, row_id = "7f3c9a" },
  },

  -- permission rows, as in Xano's Realtime settings; a channel that
  -- matches no row is refused with "unknown channel"
  channels = {
    { -- the quickstart's and the support chat's room: anyone may come in,
      -- talk, and see who is there
      pattern = "room1",
      anonymous_clients = true,
      presence = true,
      public_messaging = true,
      private_messaging = true,
      message_history = 100,
    },
    { -- the channels of the other examples, open to all as room1 is
      pattern = "mousemove",              -- examples/live_cursors.lua
      message_history = 0,
    },
    { pattern = "product-updates" },      -- examples/product_updates.lua
    { pattern = "terminal-chat" },        -- examples/terminal_chat.lua
    { pattern = "game" },                 -- examples/embed/game.lua
    { -- an open lobby (the OpenResty example's channel)
      pattern = "lobby",
      anonymous_clients = true,
      presence = true,
      public_messaging = true,
      private_messaging = true,
      message_history = 50,
    },
    { -- support/<ticket>: anonymous visitors may listen, only staff talk
      pattern = "support/*",
      nested = true,
      description = "one channel per support ticket",
      anonymous_clients = true,
      presence = true,
      public_messaging = true,
      public_auth_only = true,
      private_messaging = true,
      private_auth_only = true,
      message_history = 100,
    },
    { -- staff room: authenticated clients only, messages for them alone
      pattern = "staff",
      anonymous_clients = false,
      presence = true,
      public_messaging = true,
      authenticated_messaging = true,
      private_messaging = false,
      message_history = 25,
    },
    { -- notifications: clients only listen; the server pushes events
      pattern = "notifications",
      anonymous_clients = true,
      presence = false,
      public_messaging = false,
      private_messaging = false,
      message_history = 0,
    },
  },

  -- replace any error message (names: docs/server.md)
  errors = {
    unknown_channel = "unknown channel",
    not_joined = "join the channel first",
  },
}
