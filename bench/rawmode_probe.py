#!/usr/bin/env python3
"""bench/rawmode_probe.py - can a libwebsockets 4.1.6 RAW client connection
carry what the library's client needs: TLS with the server's certificate
checked (CA and name), SNI, and an HTTP CONNECT proxy?

Runs build/bench/rawmode_client in probe mode (connect, upgrade, one message
and its echo) against servers started here, on 127.0.0.1 only, on ports
the kernel picks:

* a WebSocket echo server, plain and over TLS (a private CA, a certificate
  for the name rt.test; the TLS server records the SNI name each client
  sent), written here with Python's ssl module;
* an HTTP CONNECT proxy that records the request heads it reads, answers
  200 and relays bytes both ways.

Prints one line per case: what was tried, what a production client needs
(the link up and the echo back, or a refusal by the TLS handshake), what
the client reported (how far it got, what lws said) and what the servers
saw.  Exit status 0 when every case went as needed.  Usage (after
sh bench/rawmode.sh build): python3 bench/rawmode_probe.py
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench", "rawmode_client")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    p = lambda n: os.path.join(d, n)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"),
         "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=rawmode-probe-ca",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("srv.key"),
         "-out", p("srv.csr"), "-subj", "/CN=rt.test"])
    with open(p("srv.ext"), "w") as f:
        f.write("subjectAltName=DNS:rt.test\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", p("srv.csr"), "-CA", p("ca.pem"), "-CAkey",
         p("ca.key"), "-CAcreateserial", "-out", p("srv.pem"), "-days", "2",
         "-extfile", p("srv.ext")])
    return p("ca.pem"), p("srv.pem"), p("srv.key")


def recv_until(s, marker, limit=65536):
    buf = b""
    while marker not in buf:
        chunk = s.recv(4096)
        if not chunk or len(buf) > limit:
            return None
        buf += chunk
    return buf


def recv_exact(s, n, buf):
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return buf


class Listener:
    """A listening socket on 127.0.0.1 (a port the kernel picks) that serves
    each connection on a thread of its own with self.serve(sock)."""

    def listen(self):
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(16)
        self.port = self.lst.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                s, _ = self.lst.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()


class EchoServer(Listener):
    """A WebSocket server that echoes every text frame; TLS when given a
    certificate.  Records the SNI name of each TLS client."""

    def __init__(self, cert=None, key=None):
        self.sni = []
        self.upgrades = 0
        self.ctx = None
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
            self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.listen()

    def serve(self, s):
        s.settimeout(10)
        try:
            if self.ctx:
                s = self.ctx.wrap_socket(s, server_side=True)
            head = recv_until(s, b"\r\n\r\n")
            if not head:
                return
            key = None
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"sec-websocket-key:"):
                    key = line.split(b":", 1)[1].strip()
            if not key:
                s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
            self.upgrades += 1
            buf = head[head.index(b"\r\n\r\n") + 4:]
            while True:
                buf = recv_exact(s, 2, buf)
                if buf is None:
                    return
                op, n = buf[0] & 0x0F, buf[1] & 0x7F
                hl = 2
                if n == 126:
                    buf = recv_exact(s, 4, buf)
                    n, hl = int.from_bytes(buf[2:4], "big"), 4
                elif n == 127:
                    buf = recv_exact(s, 10, buf)
                    n, hl = int.from_bytes(buf[2:10], "big"), 10
                buf = recv_exact(s, hl + 4 + n, buf)
                if buf is None:
                    return
                mask = buf[hl:hl + 4]
                data = bytes(b ^ mask[i & 3] for i, b in enumerate(buf[hl + 4:hl + 4 + n]))
                buf = buf[hl + 4 + n:]
                if op == 8:
                    return
                if op == 1:
                    hdr = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + n.to_bytes(2, "big")
                    s.sendall(hdr + data)
        except (OSError, ssl.SSLError):
            return
        finally:
            s.close()


class ConnectProxy(Listener):
    """An HTTP CONNECT proxy: records each request head, answers 200 and
    relays both ways."""

    def __init__(self):
        self.heads = []
        self.listen()

    def serve(self, s):
        s.settimeout(10)
        try:
            head = recv_until(s, b"\r\n\r\n")
            if not head:
                return
            end = head.index(b"\r\n\r\n") + 4
            self.heads.append(head[:end].decode("latin-1"))
            parts = head.split(b" ", 2)
            if parts[0] != b"CONNECT":
                s.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = parts[1].rsplit(b":", 1)
            up = socket.create_connection((host.decode(), int(port)), timeout=10)
            s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if head[end:]:
                up.sendall(head[end:])

            def pump(a, b):
                try:
                    while True:
                        d = a.recv(65536)
                        if not d:
                            break
                        b.sendall(d)
                except OSError:
                    pass
                for x in (a, b):
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            t = threading.Thread(target=pump, args=(up, s), daemon=True)
            t.start()
            pump(s, up)
            t.join(10)
            up.close()
        except OSError:
            return
        finally:
            s.close()


def probe(port, *args, env=None):
    cmd = [CLIENT, "probe", "--port", str(port), "--limit", "8"] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, **(env or {})))
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
    r = json.loads(line)
    r["stderr"] = " | ".join(l for l in p.stderr.strip().splitlines()[-3:])
    return r


def main():
    if not os.access(CLIENT, os.X_OK):
        sys.exit("build it first: sh bench/rawmode.sh build")
    d = tempfile.mkdtemp(prefix="rawmode-probe-")
    try:
        ca, cert, key = make_certs(d)
        plain = EchoServer()
        tls = EchoServer(cert, key)
        proxy = ConnectProxy()
        px = "127.0.0.1:%d" % proxy.port
        cases = [
            ("plain, direct", True, plain, []),
            ("TLS, CA given, name rt.test (in the certificate)", True, tls,
             ["--tls", 1, "--ca", ca, "--host", "rt.test"]),
            ("TLS, CA given, name other.test (not in the certificate)", False, tls,
             ["--tls", 1, "--ca", ca, "--host", "other.test"]),
            ("TLS, no CA (certificate untrusted)", False, tls,
             ["--tls", 1, "--host", "rt.test"]),
            ("TLS, any certificate (ALLOW_SELFSIGNED|ALLOW_INSECURE|SKIP_HOSTNAME)", True, tls,
             ["--tls", 2, "--host", "rt.test"]),
            ("plain, through the CONNECT proxy", True, plain, ["--proxy", px]),
            ("plain, proxy, held 4 s, lws timeout 2 s, its proxy timeout left set", True, plain,
             ["--proxy", px, "--hold", 4], {"XRT_LWS_TIMEOUT": "2", "XRT_KEEP_PROXY_TIMEOUT": "1"}),
            ("plain, proxy, held 4 s, lws timeout 2 s, proxy timeout cleared", True, plain,
             ["--proxy", px, "--hold", 4], {"XRT_LWS_TIMEOUT": "2"}),
            ("TLS, CA given, name rt.test, through the CONNECT proxy", True, tls,
             ["--tls", 1, "--ca", ca, "--host", "rt.test", "--proxy", px]),
            ("own TLS (OpenSSL, memory BIOs), CA given, name rt.test", True, tls,
             ["--tls", 3, "--ca", ca, "--host", "rt.test"]),
            ("own TLS, CA given, name other.test (not in the certificate)", False, tls,
             ["--tls", 3, "--ca", ca, "--host", "other.test"]),
            ("own TLS, no CA (system CAs only: certificate untrusted)", False, tls,
             ["--tls", 3, "--host", "rt.test"]),
            ("own TLS, CA given, name rt.test, through the CONNECT proxy", True, tls,
             ["--tls", 3, "--ca", ca, "--host", "rt.test", "--proxy", px]),
        ]
        good = True
        for case in cases:
            name, want, srv, args = case[:4]
            env = case[4] if len(case) > 4 else None
            sni0, heads0 = len(getattr(srv, "sni", [])), len(proxy.heads)
            r = probe(srv.port, *args, env=env)
            ok = bool(r.get("ok"))
            sni = srv.sni[sni0:] if srv.ctx else None
            heads = [h.split("\r\n")[0] for h in proxy.heads[heads0:]]
            # a refusal counts only when it came from the TLS handshake,
            # not from lws refusing to start the connection at all
            early = r.get("said") == "lws_client_connect_via_info failed"
            met = ok == want and (want or not early)
            verdict = "as needed" if met else (
                "NOT as needed (lws refused to start the connection)" if early else "NOT as needed")
            good = good and met
            print("%-72s needed %-4s got %-4s %s; stage %s; RAW_CONNECTED %s; "
                  "writable before the proxy's answer %s;%s lws: %s%s%s" % (
                name, "ok" if want else "fail", "ok" if ok else "fail", verdict,
                r.get("stage"), r.get("raw_connected"), r.get("writable_before_proxy_answer"),
                " open after the hold: %s;" % r.get("still_open_after_hold") if "--hold" in args else "",
                r.get("said") or "-",
                "; SNI sent: %s" % (sni or "none") if sni is not None else "",
                "; proxy read: %s" % heads if "--proxy" in args else ""))
        return 0 if good else 1
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
