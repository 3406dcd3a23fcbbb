--- xano.realtime.advice: what a failed connection attempt means, and
--- what to do about it.  The C core says what happened ("upgrade refused:
--- HTTP 404", "TLS certificate refused: self-signed certificate", ...);
--- this turns the failures a user meets first into a sentence naming the
--- cause and the fix, used as the `disconnected` reason and the `error`
--- message.  Anything it does not recognise is returned unchanged.

local M = {}

-- "ws://host:port/rt/canonical" -> host, port, canonical, tls
local function target(url)
  local scheme, host, port, canonical = url:match("^(wss?)://(.-):(%d+)/rt/(.*)$")
  return host or "?", port or "?", canonical or "?", scheme == "wss"
end

-- By HTTP status of a refused upgrade.
local HTTP = {
  [404] = function(t)
    return ("no realtime connection with canonical '%s' at %s (HTTP 404): check the connection "
      .. "canonical in Xano's Realtime Settings (the local server prints its own when it starts) "
      .. "and the instance URL"):format(t.canonical, t.base)
  end,
  [401] = function(t)
    return ("the server refused the realtime token (HTTP 401) at %s: give the client a valid "
      .. "token (token = ..., or client:set_token), or none to connect anonymously"):format(t.base)
  end,
  [403] = function(t)
    return ("the server refused this client (HTTP 403) at %s: check the realtime token and that "
      .. "Realtime is enabled for the instance"):format(t.base)
  end,
}

-- What each certificate check failing means for the user.
local function certificate_fix(detail, t)
  local d = detail:lower()
  if d:find("mismatch", 1, true) then
    return ("the certificate was not issued for '%s': use the host name it names in url"):format(t.host)
  elseif d:find("expired", 1, true) or d:find("not yet valid", 1, true) then
    return "the certificate is out of its validity dates (or this machine's clock is wrong)"
  end
  return "trust the CA that signed it with tls = { ca_file = \"ca.pem\" } (or, for development "
    .. "only, tls = { verify = false })"
end

--- The explanation of a failed attempt: code is the HTTP status of a
--- refused upgrade or a close code, reason the core's text, url the
--- client's WebSocket URL.  Returns the message (reason when there is
--- nothing to add).
function M.explain(code, reason, url)
  reason = tostring(reason or "")
  local host, port, canonical, tls = target(url or "")
  local t = { host = host, port = port, canonical = canonical,
    base = (tls and "https://" or "http://") .. host .. ":" .. port }
  -- the proxy's own words come first: its 401, 403 or 407 is not the
  -- server's, and the fix is on this side of the proxy
  if reason:find("^proxy ") or reason:find("^cannot connect to the proxy ")
      or reason:find("^cannot resolve the proxy ") or reason:find("^the proxy ")
      or reason:find("through the proxy", 1, true) then
    return reason .. ": check the proxy (the proxy option, or https_proxy, http_proxy, all_proxy "
      .. "and no_proxy) and its credentials"
  end
  if HTTP[code] then return HTTP[code](t) end
  if type(code) == "number" and code < 1000 then return reason end -- another HTTP status
  local detail = reason:match("^TLS certificate refused: (.*)$")
  if detail then
    return ("TLS certificate refused: %s (%s:%s): %s"):format(detail, host, port, certificate_fix(detail, t))
  end
  if reason:find("^TLS handshake failed") then
    return ("TLS handshake failed with %s:%s: does the server speak TLS on this port? A plain "
      .. "ws:// server needs an http:// url"):format(host, port)
  end
  -- the core's own words for a connect that failed name the host, port
  -- and what each address said: kept, and followed by what to check
  if reason:find("^cannot connect to ") then
    return reason .. ": is the server running, and is this its port? (the local server: make "
      .. "server, port 8080)"
  elseif reason:find("^connect timeout: ") then
    return reason .. ": check that this machine can reach that host (network, firewall, proxy)"
  elseif reason:find("^handshake timeout: ") then
    return reason .. ": check that the url names a realtime server, and its scheme (https:// "
      .. "for a server that speaks TLS, http:// for one that does not)"
  end
  local r = reason:lower()
  if r:find("resolve", 1, true) or r:find("name or service not known", 1, true) then
    return ("cannot resolve the host name '%s' (%s): check the host in url, and this machine's "
      .. "DNS"):format(host, reason:match(":%s*([^:]+)$") or reason)
  end
  if r:find("unable to connect", 1, true) or r:find("refused", 1, true) then
    return ("could not connect to %s:%s (%s): is the server running, and is this its port? "
      .. "(the local server: make server, port 8080)"):format(host, port, reason)
  end
  if r:find("timed out", 1, true) or (r:find("timeout", 1, true) and not r:find("pong", 1, true))
      or r:find("unreachable", 1, true)
      or r:find("no route", 1, true) then
    return ("no answer from %s:%s (%s): check that this machine can reach that host (network, "
      .. "firewall, proxy)"):format(host, port, reason)
  end
  return reason
end

return M
