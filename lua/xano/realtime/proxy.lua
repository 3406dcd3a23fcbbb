--- xano.realtime.proxy: which HTTP proxy a client goes through, as curl
--- chooses it.
---
--- The proxy option wins: a URL ("http://[user:pass@]host[:port]") or
--- false for none.  Without it, the conventional variables decide:
--- https_proxy / HTTPS_PROXY for https:// URLs, http_proxy / HTTP_PROXY
--- for http://, then all_proxy / ALL_PROXY; no_proxy / NO_PROXY lists the
--- hosts reached directly (a name also covers its subdomains, a leading
--- dot is allowed, an IP address or an IPv4 CIDR block, "*" for all).
--- The C core then tunnels through the proxy with HTTP CONNECT.
local M = {}

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- "host[:port]" or "[v6]:port" -> host, port (default_port when absent),
--- or nil and why ("no host", "bad port").  new() reads the URL's with it.
function M.authority(authority, default_port)
  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^%[([%x:.]+)%](.*)$")
  else
    host, port = authority:match("^([^:]*)(.*)$")
  end
  if not host or host == "" then return nil, "no host" end
  if port == "" then return host, default_port end
  port = tonumber(port:match("^:(%d+)$"))
  if not port or port < 1 or port > 65535 then return nil, "bad port" end
  return host, port
end

--- Parses a proxy URL.  Returns { host =, port =, auth = "user:pass" or
--- nil }, or nil and why.
function M.parse(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then rest = url; scheme = "http" end -- curl takes "host:port"
  if scheme:lower() ~= "http" then
    return nil, "only http:// proxies are supported (got " .. scheme .. "://)"
  end
  local authority = rest:match("^[^/?#]*")
  local auth
  local at = authority:find("@[^@]*$")
  if at then
    local userinfo = authority:sub(1, at - 1)
    authority = authority:sub(at + 1)
    local user, pass = userinfo:match("^([^:]*):?(.*)$")
    auth = unescape(user) .. ":" .. unescape(pass)
    if #auth > 95 then return nil, "credentials longer than 95 bytes" end
  end
  local host, port = M.authority(authority, 1080) -- curl's default proxy port
  if not host then return nil, port end
  return { host = host, port = port, auth = auth }
end

local function ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if a > 255 or b > 255 or c > 255 or d > 255 then return nil end
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- Does one no_proxy entry cover host?
local function covers(entry, host)
  if entry == "*" then return true end
  entry = entry:gsub("^%[(.*)%]$", "%1")
  local net, bits = entry:match("^([%d.]+)/(%d+)$")
  if net then
    local h, n = ipv4(host), ipv4(net)
    bits = tonumber(bits)
    if not h or not n or bits > 32 then return false end
    local size = 2 ^ (32 - bits)
    return math.floor(h / size) == math.floor(n / size)
  end
  entry = entry:gsub("^%.", "")
  if entry == "" then return false end
  if host == entry then return true end
  return #host > #entry and host:sub(-#entry - 1) == "." .. entry
end

--- Is host listed in a no_proxy value?
function M.bypassed(no_proxy, host)
  host = host:lower():gsub("%.$", "")
  for entry in no_proxy:gmatch("[^,%s]+") do
    if covers(entry:lower():gsub("%.$", ""), host) then return true end
  end
  return false
end

local function env(getenv, a, b)
  local v = getenv(a)
  if v == nil or v == "" then v = getenv(b) end
  if v == "" then v = nil end
  return v, v and (getenv(a) == v and a or b)
end

--- The proxy for a URL: option is the proxy option (nil: from the
--- environment, false: none).  Returns the parsed proxy or false, and the
--- name of the variable it came from (nil for the option); raises nothing:
--- on a bad value returns nil and why.
function M.choose(option, tls, host, getenv)
  getenv = getenv or os.getenv
  if option == false then return false end
  if option ~= nil then return M.parse(option) end
  local url, var = env(getenv, tls and "https_proxy" or "http_proxy",
                       tls and "HTTPS_PROXY" or "HTTP_PROXY")
  if not url then url, var = env(getenv, "all_proxy", "ALL_PROXY") end
  if not url then return false end
  local no_proxy = env(getenv, "no_proxy", "NO_PROXY")
  if no_proxy and M.bypassed(no_proxy, host) then return false end
  local p, why = M.parse(url)
  if not p then return nil, var .. ": " .. why end
  return p, var
end

return M
