-- The local Xano Realtime server: server events, Xano's "Realtime Event"
-- function.  From Lua, srv:event(channel, data, {dbo_id=, row_id=}); over
-- HTTP, POST /event with a JSON body {channel, data, dbo_id, row_id} and
-- the header X-Admin-Key.  Members get
-- {"action":"event","options":{"channel":C},"payload":{"data":…,"dbo_id":…,"row_id":…}}
-- with no client; dbo_id ≠ 0 limits delivery to members authenticated
-- against that table, row_id ≠ 0 further to that row.
local cjson = require "cjson"
local H = require "support.helpers"
local RC = require "support.rawclient"
local HTTP = require "support.http"
local server = require "xano.realtime.server"

local TOKENS = {
  ["alice-token"] = { dbo_id = 1, row_id = 1 },
  ["bob-token"] = { dbo_id = 1, row_id = 2 },
  ["device-token"] = { dbo_id = 2, row_id = "7f3c" },
}

local function start(extra)
  local config = { tokens = TOKENS }
  for k, v in pairs(extra or {}) do config[k] = v end
  return H.track(assert(server.start{ port = 0, canonical = "test", config = config }))
end

local function client(srv, token, channel)
  return RC.open(srv, { token = token }):joined(channel or "feed")
end

local function post_event(srv, body, key)
  local headers = { ["Content-Type"] = "application/json" }
  if key then headers["X-Admin-Key"] = key end
  local res = HTTP.request(srv.port, "POST", "/event", headers, body)
  res.json = res.body ~= "" and select(2, pcall(cjson.decode, res.body)) or nil
  return res
end

describe("server events", function()
  after_each(H.cleanup)

  describe("srv:event", function()
    it("reaches every member with an event frame and no client", function()
      local srv = start()
      local a, b = client(srv), client(srv, "alice-token")
      assert.equal(2, srv:event("feed", { n = 1 }))
      for _, c in ipairs({ a, b }) do
        local f, raw = c:expect("event", "feed")
        assert.same({ action = "event", options = { channel = "feed" },
          payload = { data = { n = 1 }, dbo_id = 0, row_id = 0 } }, f)
        assert.is_nil(raw:find('"client"', 1, true))
      end
    end)

    it("does not reach clients outside the channel", function()
      local srv = start()
      local inside = client(srv, nil, "feed")
      local outside = client(srv, nil, "other")
      assert.equal(1, srv:event("feed", "only feed"))
      inside:expect("event", "feed")
      srv:event("other", "marker")
      assert.equal("marker", outside:expect("event", "other").payload.data)
    end)

    it("with dbo_id reaches only members of that auth table", function()
      local srv = start()
      local anon, alice, device = client(srv), client(srv, "alice-token"), client(srv, "device-token")
      assert.equal(1, srv:event("feed", "for table 2", { dbo_id = 2 }))
      local f = device:expect("event", "feed")
      assert.same({ data = "for table 2", dbo_id = 2, row_id = 0 }, f.payload)
      srv:event("feed", "marker")
      assert.equal("marker", anon:expect("event", "feed").payload.data)
      assert.equal("marker", alice:expect("event", "feed").payload.data)
    end)

    it("with dbo_id and row_id reaches only that user", function()
      local srv = start()
      local alice, bob = client(srv, "alice-token"), client(srv, "bob-token")
      local device = client(srv, "device-token")
      assert.equal(1, srv:event("feed", "for bob", { dbo_id = 1, row_id = 2 }))
      assert.same({ data = "for bob", dbo_id = 1, row_id = 2 }, bob:expect("event", "feed").payload)
      assert.equal(1, srv:event("feed", "for the device", { dbo_id = 2, row_id = "7f3c" }))
      assert.equal("7f3c", device:expect("event", "feed").payload.row_id)
      srv:event("feed", "marker")
      assert.equal("marker", alice:expect("event", "feed").payload.data)
    end)

    it("is never echoed anywhere nor stored in history", function()
      local srv = start()
      local a = client(srv)
      srv:event("feed", "event")
      a:expect("event", "feed")
      assert.same({}, srv:history("feed"))
    end)

    it("counts 0 for a channel nobody joined; nil for an unknown channel", function()
      local srv = start()
      assert.equal(0, srv:event("empty", "x"))
      local strict = start({ channels = { { pattern = "feed" } } })
      assert.equal(0, strict:event("feed", "x"))
      local n, err = strict:event("nope", "x")
      assert.is_nil(n)
      assert.equal("unknown channel", err)
    end)

    it("raises on misuse", function()
      local srv = start()
      assert.has_error(function() srv:event(nil, 1) end,
        "xano.realtime.server: event: channel must be a non-empty string")
      assert.has_error(function() srv:event("feed", 1, { dbo_id = "x" }) end,
        "xano.realtime.server: event: dbo_id must be an integer")
      assert.has_error(function() srv:event("feed", function() end) end,
        "xano.realtime.server: event: data cannot be encoded as JSON: Cannot serialise function: type not supported")
      srv:close()
      assert.has_error(function() srv:event("feed", 1) end,
        "xano.realtime.server: event: the server is closed")
    end)
  end)

  describe("POST /event", function()
    it("delivers and answers 200 {\"delivered\":n}, relaying data as sent", function()
      local srv = start({ admin_key = "sesame" })
      local a, b = client(srv), client(srv, "alice-token")
      local data = '{"big":12345678901234567890,"list":[]}'
      local res = post_event(srv, '{"channel":"feed","data":' .. data .. '}', "sesame")
      assert.equal(200, res.status)
      assert.same({ delivered = 2 }, res.json)
      assert.truthy(res.headers["content-type"]:find("application/json", 1, true))
      for _, c in ipairs({ a, b }) do
        local f, raw = c:expect("event", "feed")
        assert.equal(data, raw:match('"data":(.-),"dbo_id"'))
        assert.same({ dbo_id = 0, row_id = 0 }, { dbo_id = f.payload.dbo_id, row_id = f.payload.row_id })
      end
    end)

    it("honours dbo_id and row_id", function()
      local srv = start({ admin_key = "sesame" })
      local alice, bob = client(srv, "alice-token"), client(srv, "bob-token")
      local res = post_event(srv, '{"channel":"feed","data":"hi bob","dbo_id":1,"row_id":2}', "sesame")
      assert.same({ delivered = 1 }, res.json)
      assert.equal("hi bob", bob:expect("event", "feed").payload.data)
      srv:event("feed", "marker")
      assert.equal("marker", alice:expect("event", "feed").payload.data)
    end)

    it("without or with a wrong X-Admin-Key: 401, nothing delivered", function()
      local srv = start({ admin_key = "sesame" })
      local a = client(srv)
      assert.equal(401, post_event(srv, '{"channel":"feed","data":1}').status)
      assert.equal(401, post_event(srv, '{"channel":"feed","data":1}', "wrong").status)
      srv:event("feed", "marker")
      assert.equal("marker", a:expect("event", "feed").payload.data)
    end)

    it("when the server has no admin_key: 403", function()
      local srv = start()
      local res = post_event(srv, '{"channel":"feed","data":1}', "anything")
      assert.equal(403, res.status)
      assert.truthy(res.json.error)
    end)

    it("a body that is not a JSON object, or has no channel: 400", function()
      local srv = start({ admin_key = "sesame" })
      for _, body in ipairs({ "not json", "[1,2]", '"feed"', "{}", '{"channel":""}',
        '{"channel":"feed","dbo_id":"x"}', '{"channel":"feed","data":0x10}' }) do
        local res = post_event(srv, body, "sesame")
        assert.equal(400, res.status, body)
        assert.truthy(res.json.error, body)
      end
    end)

    it("an unknown channel: 404", function()
      local srv = start({ admin_key = "sesame", channels = { { pattern = "feed" } } })
      local res = post_event(srv, '{"channel":"nope","data":1}', "sesame")
      assert.equal(404, res.status)
      assert.equal("unknown channel", res.json.error)
    end)

    it("reads the request as HTTP has it: a header name in any case, a query after the path", function()
      local srv = start({ admin_key = "sesame" })
      local a = client(srv)
      local res = HTTP.request(srv.port, "POST", "/event?via=curl#top",
        { ["x-ADMIN-key"] = "sesame", ["Content-Type"] = "application/json" },
        '{"channel":"feed","data":"case"}')
      assert.equal(200, res.status)
      assert.equal("case", a:expect("event", "feed").payload.data)
      assert.equal(404, HTTP.request(srv.port, "POST", "/event/x", { ["X-Admin-Key"] = "sesame" },
        '{"channel":"feed","data":1}').status)
    end)

    it("takes the admin key from the start options too", function()
      local srv = H.track(assert(server.start{ port = 0, admin_key = "from-start" }))
      assert.equal(200, post_event(srv, '{"channel":"feed","data":1}', "from-start").status)
    end)
  end)
end)
