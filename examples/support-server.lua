-- A config for bin/xano-realtime-server with the support room of
-- examples/demo.lua and examples/support_chat.lua: Alice is a signed-in
-- support agent (her realtime token is "alice-token"); visitors join
-- anonymously.
--
--   bin/xano-realtime-server --port 8080 --config examples/support-server.lua --admin-key secret
--   lua5.4 examples/support_chat.lua --canonical support --token alice-token --name Alice
return {
  canonical = "support",
  tokens = {
    ["alice-token"] = { dbo_id = 1, row_id = 1, extras = { name = "Alice", role = "agent" } },
  },
  channels = {
    { -- the support room: anyone may come in, talk, and see who is there
      pattern = "room1",
      anonymous_clients = true,
      presence = true,
      public_messaging = true,
      private_messaging = true,
      message_history = 100,
    },
  },
}
