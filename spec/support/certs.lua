-- Test certificates, made fresh in a temporary directory with the openssl
-- command: a private CA, a server certificate it signed for 127.0.0.1, one
-- for ::1, one it signed for another name only, and a self-signed one.
local P = require "support.proc"

local M = {}

local function run(cmd)
  local ok, out = P.sh(cmd, 60)
  assert(ok, "command failed: " .. cmd .. "\n" .. out)
end

function M.make()
  local dir = os.tmpname()
  os.remove(dir)
  run("mkdir -p " .. dir)
  local function p(name) return dir .. "/" .. name end
  local days = "-days 2"
  run(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s %s -subj /CN=xrt-test-ca " ..
       "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign")
      :format(p("ca.key"), p("ca.pem"), days))
  local function signed(name, san)
    run(("openssl req -newkey rsa:2048 -nodes -keyout %s -out %s -subj /CN=%s")
        :format(p(name .. ".key"), p(name .. ".csr"), name))
    local ext = p(name .. ".ext")
    local f = assert(io.open(ext, "w"))
    f:write("subjectAltName=" .. san .. "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    f:close()
    run(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -out %s %s -extfile %s")
        :format(p(name .. ".csr"), p("ca.pem"), p("ca.key"), p(name .. ".pem"), days, ext))
  end
  signed("server", "IP:127.0.0.1")
  signed("othername", "DNS:elsewhere.example")
  signed("v6", "IP:::1")
  run(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s %s -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1")
      :format(p("self.key"), p("self.pem"), days))
  return {
    dir = dir,
    ca = p("ca.pem"),
    server = { cert = p("server.pem"), key = p("server.key") },
    othername = { cert = p("othername.pem"), key = p("othername.key") },
    v6 = { cert = p("v6.pem"), key = p("v6.key") },
    self = { cert = p("self.pem"), key = p("self.key") },
    remove = function() P.sh("rm -rf " .. P.quote(dir)) end,
  }
end

return M
