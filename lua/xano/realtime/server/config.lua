-- xano.realtime.server.config - what a server may be started with: the
-- config table's keys and their checks (check_config, with a clear error
-- naming the first bad key), config files (load_config), the start options,
-- and the defaults a channel row and the error texts fall back to.

-- strict: what JavaScript's JSON.parse refuses (NaN, hex numbers) is
-- invalid JSON; numbers exact both ways, integers on Lua 5.3+
local json = require("xano.realtime.server.rawjson").json

local M = {}

local DEFAULT_ERRORS = {
  invalid_json = "invalid JSON",
  not_object = "frame must be a JSON object",
  missing_action = "missing action",
  unknown_action = "unknown action",
  binary_frame = "binary frames are not supported",
  malformed = "malformed frame",
  unknown_channel = "unknown channel",
  not_joined = "not joined to this channel",
  anonymous_not_allowed = "anonymous clients may not join this channel",
  public_messaging_disabled = "public messaging is disabled on this channel",
  public_auth_only = "public messaging requires authentication on this channel",
  private_messaging_disabled = "private messaging is disabled on this channel",
  private_auth_only = "private messaging requires authentication on this channel",
  target_not_found = "the target client is not in this channel",
  target_not_authenticated = "the target client is not authenticated",
  authentication_required = "authenticated messages require an authenticated sender",
  history_disabled = "message history is disabled on this channel",
}
M.DEFAULT_ERRORS = DEFAULT_ERRORS

-- every permission on: what a channel gets with no config, and what a
-- channel row gets for each key it leaves out
local OPEN_CHANNEL = {
  nested = false,
  anonymous_clients = true,
  presence = true,
  public_messaging = true,
  public_auth_only = false,
  private_messaging = true,
  private_auth_only = false,
  authenticated_messaging = false,
  message_history = 100,
}

local HISTORY_SIZES = { [0] = true, [25] = true, [50] = true, [100] = true,
  [250] = true, [1000] = true }

-- --------------------------------------------------------- config checks

local function config_error(fmt, ...)
  error("xano.realtime.server: config: " .. string.format(fmt, ...), 0)
end

local function short(s)
  s = tostring(s)
  if #s > 40 then s = s:sub(1, 37) .. "..." end
  return s
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53
end
M.is_integer = is_integer
M.short = short

-- RFC 7230 token characters: what a Sec-WebSocket-Protocol value may hold
local function is_token(s)
  return type(s) == "string" and s:find("^[%w!#%$%%&'%*%+%-%.%^_`|~]+$") ~= nil
end

local function is_url_segment(s)
  return type(s) == "string" and s:find("^[%w%-%._~]+$") ~= nil
end

local function check_boolean(where, v)
  if v ~= nil and type(v) ~= "boolean" then
    config_error("%s must be true or false, got %s", where, type(v))
  end
end

local function check_identity(token, id)
  local where = "tokens[" .. short(token) .. "]"
  if type(id) ~= "table" then
    config_error("%s must be a table {dbo_id=, row_id=, extras=}", where)
  end
  for k in pairs(id) do
    if k ~= "dbo_id" and k ~= "row_id" and k ~= "extras" then
      config_error("%s.%s is not a known key (dbo_id, row_id, extras)", where, tostring(k))
    end
  end
  if not is_integer(id.dbo_id) or id.dbo_id <= 0 then
    config_error("%s.dbo_id must be a positive integer (the auth table id)", where)
  end
  local row = id.row_id
  if not ((is_integer(row) and row > 0) or (type(row) == "string" and row ~= "")) then
    config_error("%s.row_id must be a positive integer or a non-empty string", where)
  end
  if id.extras ~= nil then
    if type(id.extras) ~= "table" then
      config_error("%s.extras must be a table", where)
    end
    local ok, err = pcall(json.encode, id.extras)
    if not ok then
      config_error("%s.extras cannot be encoded as JSON: %s", where, tostring(err))
    end
  end
end

local CHANNEL_KEYS = {
  pattern = true, nested = true, description = true, anonymous_clients = true,
  presence = true, public_messaging = true, public_auth_only = true,
  private_messaging = true, private_auth_only = true,
  authenticated_messaging = true, message_history = true,
}

local function check_channel_row(i, row)
  local where = "channels[" .. i .. "]"
  if type(row) ~= "table" then
    config_error("%s must be a table", where)
  end
  for k in pairs(row) do
    if not CHANNEL_KEYS[k] then
      config_error("%s.%s is not a known key", where, tostring(k))
    end
  end
  if type(row.pattern) ~= "string" or row.pattern == "" then
    config_error("%s.pattern must be a non-empty string", where)
  end
  for k, default in pairs(OPEN_CHANNEL) do
    if type(default) == "boolean" then check_boolean(where .. "." .. k, row[k]) end
  end
  if row.nested and not row.pattern:find("..%*$") then
    config_error("%s.pattern must end in '*' after a prefix when nested is true (e.g. \"chatroom/*\")", where)
  end
  if row.message_history ~= nil and not HISTORY_SIZES[row.message_history] then
    config_error("%s.message_history must be one of 0, 25, 50, 100, 250, 1000", where)
  end
  if row.description ~= nil and type(row.description) ~= "string" then
    config_error("%s.description must be a string", where)
  end
end

local CONFIG_KEYS = {
  canonical = true, admin_key = true, max_frame = true, unknown_token = true,
  tokens = true, channels = true, errors = true, ping_interval = true, tls = true,
}

-- Raises a clear error naming the first bad key of a config table.
function M.check_config(cfg)
  if type(cfg) ~= "table" then
    config_error("must be a table, got %s", type(cfg))
  end
  for k in pairs(cfg) do
    if not CONFIG_KEYS[k] then
      config_error("%s is not a known key", tostring(k))
    end
  end
  if cfg.canonical ~= nil and not is_url_segment(cfg.canonical) then
    config_error("canonical must be a non-empty string of letters, digits, '-', '_', '.', '~'")
  end
  if cfg.admin_key ~= nil and (type(cfg.admin_key) ~= "string" or cfg.admin_key == "") then
    config_error("admin_key must be a non-empty string")
  end
  if cfg.max_frame ~= nil and (not is_integer(cfg.max_frame) or cfg.max_frame < 16) then
    config_error("max_frame must be an integer number of bytes, at least 16")
  end
  if cfg.ping_interval ~= nil and (type(cfg.ping_interval) ~= "number"
      or not (cfg.ping_interval >= 0 and cfg.ping_interval <= 86400)) then
    config_error("ping_interval must be a number of seconds, 0 (pings off) to 86400")
  end
  if cfg.tls ~= nil then
    local t = cfg.tls
    if type(t) ~= "table" or type(t.cert) ~= "string" or type(t.key) ~= "string" then
      config_error("tls must be a table { cert = PEM file, key = PEM file }")
    end
    for k in pairs(t) do
      if k ~= "cert" and k ~= "key" then config_error("tls.%s is not a known key", tostring(k)) end
    end
  end
  if cfg.unknown_token ~= nil and cfg.unknown_token ~= "refuse" and cfg.unknown_token ~= "anonymous" then
    config_error("unknown_token must be \"refuse\" or \"anonymous\"")
  end
  if cfg.tokens ~= nil then
    if type(cfg.tokens) ~= "table" then
      config_error("tokens must be a table mapping token strings to identities")
    end
    for token, id in pairs(cfg.tokens) do
      if not is_token(token) then
        config_error("tokens: key %s is not a valid token (letters, digits and !#$%%&'*+-.^_`|~ only)",
          short(token))
      end
      check_identity(token, id)
    end
  end
  if cfg.channels ~= nil then
    if type(cfg.channels) ~= "table" then
      config_error("channels must be a list of channel rows")
    end
    local n = #cfg.channels
    for k in pairs(cfg.channels) do
      if not is_integer(k) or k < 1 or k > n then
        config_error("channels must be a list (found key %s)", tostring(k))
      end
    end
    for i = 1, n do check_channel_row(i, cfg.channels[i]) end
  end
  if cfg.errors ~= nil then
    if type(cfg.errors) ~= "table" then
      config_error("errors must be a table mapping error names to messages")
    end
    for k, v in pairs(cfg.errors) do
      if not DEFAULT_ERRORS[k] then
        config_error("errors.%s is not a known error name", tostring(k))
      end
      if type(v) ~= "string" or v == "" then
        config_error("errors.%s must be a non-empty string", k)
      end
    end
  end
  return cfg
end

-- Loads a config file (Lua returning a table); nil, message when it
-- cannot be read or run.  Does not check the table (check_config does).
function M.load_config(path)
  if type(path) ~= "string" then
    error("xano.realtime.server: load_config: a file name expected", 2)
  end
  local env = setmetatable({}, { __index = _G })
  local chunk, err
  if setfenv then
    chunk, err = loadfile(path)
    if chunk then setfenv(chunk, env) end
  else
    chunk, err = loadfile(path, "t", env)
  end
  if not chunk then
    return nil, "cannot load config file: " .. tostring(err)
  end
  local ok, cfg = pcall(chunk)
  if not ok then
    return nil, "config file " .. path .. " failed: " .. tostring(cfg)
  end
  if type(cfg) ~= "table" then
    return nil, "config file " .. path .. " must return a table, got " .. type(cfg)
  end
  return cfg
end

-- a channel row with every permission it leaves out filled in
local function complete_row(row)
  local perm = {}
  for k, v in pairs(OPEN_CHANNEL) do
    if row[k] == nil then perm[k] = v else perm[k] = row[k] end
  end
  perm.pattern = row.pattern
  return perm
end
M.complete_row = complete_row

-- ------------------------------------------------------ start options

local START_KEYS = { host = true, port = true, canonical = true, config = true,
  config_file = true, admin_key = true, max_frame = true, ping_interval = true, tls = true }

local function check_start_options(o)
  if type(o) ~= "table" then
    error("xano.realtime.server: start: options table expected", 3)
  end
  for k in pairs(o) do
    if not START_KEYS[k] then
      error("xano.realtime.server: start: unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  if o.config ~= nil and o.config_file ~= nil then
    error("xano.realtime.server: start: give config or config_file, not both", 3)
  end
  if o.host ~= nil and (type(o.host) ~= "string" or o.host == "") then
    error("xano.realtime.server: start: host must be a non-empty string", 3)
  end
  if o.port ~= nil and (not is_integer(o.port) or o.port < 0 or o.port > 65535) then
    error("xano.realtime.server: start: port must be an integer 0..65535", 3)
  end
  if o.config_file ~= nil and type(o.config_file) ~= "string" then
    error("xano.realtime.server: start: config_file must be a file name", 3)
  end
end
M.check_start_options = check_start_options

-- Start options override the config's own keys.
local function merged_config(o)
  local cfg = {}
  local base = o.config
  if o.config_file then
    local err
    base, err = M.load_config(o.config_file)
    if not base then return nil, err end
  end
  for k, v in pairs(base or {}) do cfg[k] = v end
  for _, k in ipairs({ "canonical", "admin_key", "max_frame", "ping_interval", "tls" }) do
    if o[k] ~= nil then cfg[k] = o[k] end
  end
  return M.check_config(cfg)
end
M.merged_config = merged_config

return M
