--- xano.realtime.options: the options of realtime.new().  Every default
--- and limit of a client is written here once, in NUMBERS and LIMITS;
--- check() holds the app's options against them and builds the table the
--- C core gets, with an explicit value for every setting (the core
--- enforces what its types can hold; it keeps no default of its own).
local proxy = require "xano.realtime.proxy"

local type, pairs, tostring = type, pairs, tostring
local error = require("xano.realtime.compat").error -- error levels as in Lua 5.2+

local M = {}

---@class xano.realtime.Options
---@field url string          instance base URL: https -> wss, http -> ws; host and port honoured
---@field canonical? string   realtime connection canonical
---@field hash? string        legacy realtime connection hash (used when canonical is absent)
---@field token? string       realtime auth token, sent as the WebSocket subprotocol
---@field reconnect? {initial?: number, max?: number, stable?: number, codes?: table<integer, boolean>}
---@field ping_interval? number  seconds of silence before a ping (0: never)
---@field ping_timeout? number   seconds a ping may go unanswered before the link counts as dead
---@field connect_timeout? number   seconds for the name lookup and the TCP connect, every address (10)
---@field handshake_timeout? number seconds for the proxy tunnel, TLS and the WebSocket upgrade (10)
---@field resolve? string[]     numeric addresses to use for the URL's host, instead of DNS
---@field proxy? string|false   "http://[user:pass@]host[:port]", or false for none; default from the environment
---@field queue_limit? integer   offline actions kept per client
---@field send_limit? integer    bytes of frames waiting to be written before send() refuses
---@field max_frame? integer     largest frame accepted from the server, in bytes
---@field in_limit? integer      bytes of events waiting for poll() before reading pauses
---@field tls? {ca_file?: string, verify?: boolean}

--- Limits of the values themselves.  Seconds and counts must fit the C
--- core's 64-bit integers (infinity and NaN would be undefined behaviour
--- there); resolve and reconnect.codes fit its fixed arrays.
M.LIMITS = {
  seconds = 1e9, seconds_text = "1e9 seconds",
  count = 2 ^ 53, count_text = "2^53",
  resolve = 16,     -- addresses in options.resolve
  codes = 64,       -- close codes in a reconnect policy
  events_per_poll = 10000, -- a poll hands out at most this many, then returns
}
local LIMITS = M.LIMITS

--- Every number of a client: the option
--- (a "table.key" path), its default, its unit ("seconds", or "count" of
--- bytes or actions: an integer), whether 0 is allowed, and the name the
--- C core knows it by.  An entry without an option is a setting the app
--- cannot change (drain_timeout: how long a close may take to send what
--- is left before the socket goes).
M.NUMBERS = {
  { option = "reconnect.initial", default = 1, unit = "seconds", core = "reconnect_initial" },
  { option = "reconnect.max", default = 60, unit = "seconds", core = "reconnect_max" },
  { option = "reconnect.stable", default = 10, unit = "seconds", core = "stable_after" },
  { option = "ping_interval", default = 30, unit = "seconds", zero = true, core = "ping_interval" },
  { option = "ping_timeout", default = 10, unit = "seconds", core = "ping_timeout" },
  { option = "connect_timeout", default = 10, unit = "seconds", core = "connect_timeout" },
  { option = "handshake_timeout", default = 10, unit = "seconds", core = "handshake_timeout" },
  { option = "queue_limit", default = 1000, unit = "count", zero = true, core = "queue_limit" },
  { option = "send_limit", default = 16 * 1024 * 1024, unit = "count", core = "send_limit" },
  { option = "max_frame", default = 1024 * 1024, unit = "count", core = "max_frame" },
  { option = "in_limit", default = 16 * 1024 * 1024, unit = "count", core = "in_limit" },
  { default = 2, unit = "seconds", core = "drain_timeout" },
}

--- The options of client:channel(name, opts) and their defaults: WeWeb's
--- Listen to Presence and Get History on Join are off, Queue Offline
--- Actions on, unless asked otherwise.
M.CHANNEL = { presence = false, history = false, queue_offline = true }

--- The close codes (and HTTP statuses of a refused upgrade) after which a
--- client reconnects unless told otherwise (realtime.reconnect_codes, the
--- default of reconnect.codes): going away, abnormal closes, server
--- errors and restarts, Xano's 4000, and HTTP timeouts, rate limits and
--- gateway errors.  1002 is here because libwebsockets 4.1.6 reports a
--- server's 1012-1014 (restart, try again later, bad gateway) as 1002.
--- A close the app asked for (code 1000) never reconnects.
M.RECONNECT_CODES = {
  1001, 1002, 1005, 1006, 1011, 1012, 1013, 1014, 4000,
  408, 429, 500, 502, 503, 504,
}

--- The default of each option, by its path ("ping_interval",
--- "reconnect.max", ...): read it here, never write the number again.
M.DEFAULTS = {}
for _, n in ipairs(M.NUMBERS) do
  if n.option then M.DEFAULTS[n.option] = n.default end
end

--- The table core.client() needs for a plain ws:// client of host:port at
--- path, every setting at its default (extra: keys to add or replace).
--- For code that drives the C core directly, as the specs do.
function M.core_defaults(host, port, path, extra)
  local c = { host = host, port = port, path = path, tls = false, verify = true }
  for _, n in ipairs(M.NUMBERS) do c[n.core] = n.default end
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- "scheme://host[:port][/...]" -> tls, host, port
local function parse_url(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "url must look like https://host[:port]" end
  scheme = scheme:lower()
  local tls
  if scheme == "https" or scheme == "wss" then tls = true
  elseif scheme == "http" or scheme == "ws" then tls = false
  else return nil, "url scheme must be https, http, wss or ws" end
  local authority = rest:match("^[^/?#]*")
  if authority:find("@", 1, true) then return nil, "url must not carry credentials" end
  local host, port = proxy.authority(authority, tls and 443 or 80)
  if not host then return nil, port == "no host" and "url has no host" or "url has a bad port" end
  return tls, host, port
end

-- The options new() knows; any other key is a typo, and an error.
local OPTION_KEYS = {
  [""] = { url = true, canonical = true, hash = true, token = true, reconnect = true,
           ping_interval = true, ping_timeout = true, connect_timeout = true,
           handshake_timeout = true, resolve = true, proxy = true,
           queue_limit = true, send_limit = true, max_frame = true, in_limit = true, tls = true },
  ["reconnect."] = { initial = true, max = true, stable = true, codes = true },
  ["tls."] = { ca_file = true, verify = true },
}

-- Option errors point at the caller of new(): level 4 from a helper that
-- check() calls directly (new -> check -> helper).
local function known_keys(t, prefix)
  local keys = OPTION_KEYS[prefix]
  for k in pairs(t) do
    if not keys[k] then
      error("bad option '" .. prefix .. tostring(k) .. "' (unknown option)", 4)
    end
  end
end

local function opt(opts, key, kind, default, name, level)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= kind then
    error("bad option '" .. (name or key) .. "' (" .. kind .. " expected, got " .. type(v) .. ")", level or 4)
  end
  return v
end

-- A number of NUMBERS from its table t (opts, or opts.reconnect): a
-- finite number within the limit of its unit, above 0 (or 0 when zero is
-- allowed), an integer when it counts.
local function number(t, n)
  local name = n.option
  local v = opt(t, name:match("[^.]*$"), "number", n.default, name, 5)
  if v ~= v or v < 0 or (v == 0 and not n.zero) then
    error("bad option '" .. name .. "' (" .. (n.zero and "non-negative" or "positive") ..
      " number expected, got " .. tostring(v) .. ")", 4)
  end
  local count = n.unit == "count"
  if v > (count and LIMITS.count or LIMITS.seconds) then
    error("bad option '" .. name .. "' (at most " .. (count and LIMITS.count_text or LIMITS.seconds_text) ..
      " expected, got " .. tostring(v) .. ")", 4)
  end
  if count and v % 1 ~= 0 then
    error("bad option '" .. name .. "' (integer expected, got " .. tostring(v) .. ")", 4)
  end
  return v
end

--- The codes of a policy set table, sorted; nil and why when it is bad.
function M.code_list(codes)
  local list = {}
  for code, on in pairs(codes) do
    if type(code) ~= "number" or code % 1 ~= 0 or code < 100 or code > 4999 then
      return nil, "bad code " .. tostring(code)
    end
    if on then list[#list + 1] = code end
  end
  if #list > LIMITS.codes then return nil, "at most " .. LIMITS.codes .. " codes" end
  table.sort(list)
  return list
end

-- Errors at level 4: new -> check -> check_resolve.
local function check_resolve(resolve)
  if #resolve == 0 or #resolve > LIMITS.resolve then
    error("bad option 'resolve' (a list of 1 to " .. LIMITS.resolve .. " numeric addresses expected)", 4)
  end
  for i = 1, #resolve do
    local a = resolve[i]
    local v4 = type(a) == "string" and { a:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$") }
    local ok = v4 and ((#v4 == 4 and tonumber(v4[1]) < 256 and tonumber(v4[2]) < 256 and
      tonumber(v4[3]) < 256 and tonumber(v4[4]) < 256) or
      ((a:match("^%[[%x:.]+%]$") or a:match("^[%x:.]+$")) and a:find(":", 1, true)))
    if not ok then
      error("bad option 'resolve' (entry " .. i .. " is not a numeric address: " ..
        tostring(a) .. ")", 4)
    end
  end
end

--- Checks the options of new(opts) (errors point at new()'s caller) and
--- returns the table for core.client(), every setting explicit, the
--- client's WebSocket URL, and the set of close codes that reconnect
--- (default_codes unless reconnect.codes is given).
---@param opts xano.realtime.Options
---@param default_codes table<integer, boolean>
function M.check(opts, default_codes)
  known_keys(opts, "")
  local url = opt(opts, "url", "string")
  if not url then error("bad option 'url' (string expected, got nil)", 3) end
  local tls, host, port = parse_url(url)
  if tls == nil then error("bad option 'url' (" .. host .. ")", 3) end
  local canonical = opt(opts, "canonical", "string") or opt(opts, "hash", "string")
  if not canonical or canonical == "" then
    error("bad option 'canonical' (the realtime connection canonical is required)", 3)
  end
  if canonical:find("[/?#%s]") then
    error("bad option 'canonical' (must not contain '/', '?', '#' or spaces)", 3)
  end
  local token = opt(opts, "token", "string")
  if token and (token == "" or token:find("[%s,]") or token:find("[%c\128-\255]")) then
    error("bad option 'token' (not usable as a WebSocket subprotocol)", 3)
  end
  local rc = opt(opts, "reconnect", "table", {})
  known_keys(rc, "reconnect.")
  local tlso = opt(opts, "tls", "table", {})
  known_keys(tlso, "tls.")
  local verify = opt(tlso, "verify", "boolean", true, "tls.verify")
  local ca_file = opt(tlso, "ca_file", "string", nil, "tls.ca_file")
  if ca_file then
    local f, why = io.open(ca_file, "r")
    if not f then error("bad option 'tls.ca_file' (" .. tostring(why) .. ")", 3) end
    f:close()
  end
  local codes = opt(rc, "codes", "table", default_codes, "reconnect.codes")
  local _, codes_err = M.code_list(codes)
  if codes_err then error("bad option 'reconnect.codes' (" .. codes_err .. ")", 3) end

  local c = {
    host = host, port = port, path = "/rt/" .. canonical, tls = tls,
    verify = verify, ca_file = ca_file, token = token,
  }
  for _, n in ipairs(M.NUMBERS) do
    local from = n.option and (n.option:find("^reconnect%.") and rc or opts)
    c[n.core] = from and number(from, n) or n.default
  end
  if c.reconnect_max < c.reconnect_initial then
    error("bad option 'reconnect.max' (must be >= reconnect.initial)", 3)
  end
  local resolve = opt(opts, "resolve", "table")
  if resolve then check_resolve(resolve) end
  c.resolve = resolve
  local proxy_opt = opts.proxy
  if proxy_opt ~= nil and proxy_opt ~= false and type(proxy_opt) ~= "string" then
    error("bad option 'proxy' (string or false expected, got " .. type(proxy_opt) .. ")", 3)
  end
  local via, why = proxy.choose(proxy_opt, tls, host)
  if via == nil then
    error((proxy_opt and "bad option 'proxy' (" or "bad environment variable ") ..
      (proxy_opt and why .. ")" or why), 3)
  end
  if via then c.proxy_host, c.proxy_port, c.proxy_auth = via.host, via.port, via.auth end
  local ws_url = (tls and "wss://" or "ws://") .. (host:find(":", 1, true) and "[" .. host .. "]" or host) ..
    ":" .. port .. "/rt/" .. canonical
  return c, ws_url, codes
end

return M
