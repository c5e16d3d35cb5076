#!/usr/bin/env python3
"""A loopback HTTP proxy that counts requests (bench only; issue #19 item 2).

    count_proxy.py LISTEN_PORT UPSTREAM_PORT COUNT_FILE

Forwards every request to 127.0.0.1:UPSTREAM_PORT unchanged (LocalStack does not check the
SigV4 Host, Azure SharedKey does not sign it) and streams bodies both ways. After each request
it rewrites COUNT_FILE with one line per "METHOD operation" (operation = the sorted query keys,
e.g. `PUT uploadId,partNumber`, `HEAD -`) and its count, and a `total N` line. Loopback only.
"""
import http.client
import http.server
import socketserver
import sys
import threading
from collections import Counter
from urllib.parse import urlsplit, parse_qsl

LISTEN, UPSTREAM, OUT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
counts = Counter()
lock = threading.Lock()
# Expect: 100-continue is answered here (BaseHTTPRequestHandler does), not passed on.
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "expect"}


def record(method, path):
    query = urlsplit(path).query
    keys = ",".join(sorted({k for k, _ in parse_qsl(query, keep_blank_values=True)})) or "-"
    with lock:
        counts[f"{method} {keys}"] += 1
        lines = [f"{n} {op}" for op, n in sorted(counts.items())]
        lines.append(f"{sum(counts.values())} total")
        with open(OUT, "w") as f:
            f.write("\n".join(lines) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        record(self.command, self.path)
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=600)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length", 0) or 0)
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP:
                upstream.putheader(name, value)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.endheaders()
        if chunked:
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0], 16)
                upstream.send(size_line)
                if size == 0:
                    while True:  # trailers, then the empty line
                        line = self.rfile.readline()
                        upstream.send(line)
                        if line in (b"\r\n", b"\n", b""):
                            break
                    break
                upstream.send(self.rfile.read(size + 2))
        else:
            remaining = length
            while remaining > 0:
                data = self.rfile.read(min(remaining, 1 << 16))
                if not data:
                    break
                upstream.send(data)
                remaining -= len(data)
        response = upstream.getresponse()
        body = response.read()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        elif response.getheader("Content-Length") is not None:
            self.send_header("Content-Length", response.getheader("Content-Length"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


open(OUT, "w").write("0 total\n")
Server(("127.0.0.1", LISTEN), Handler).serve_forever()
