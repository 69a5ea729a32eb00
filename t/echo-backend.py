#!/usr/bin/env python3
"""The test suite's upstream: answers every request with what it received.

nginx's own server blocks cannot play the upstream here, because the module
removes X-OneID-* request headers on every location of the nginx it runs in
(that is the point).  Body: the request line, then every header line exactly
as received (order and duplicates kept), a blank line, then the request body.
"""

import argparse
import os
import signal
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        request_line = self.rfile.readline(65537)
        if not request_line:
            return
        headers = []
        length = 0
        while True:
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            headers.append(line.rstrip(b"\r\n"))
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        body = self.rfile.read(length) if length else b""
        out = request_line.rstrip(b"\r\n") + b"\n"
        out += b"".join(h + b"\n" for h in headers) + b"\n" + body
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Connection: close\r\nContent-Length: "
                         + str(len(out)).encode() + b"\r\n\r\n" + out)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:18081")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = Server((host, int(port)), Handler)
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(str(os.getpid()))

    def stop(*_):
        if args.pidfile and os.path.exists(args.pidfile):
            os.unlink(args.pidfile)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        stop()


if __name__ == "__main__":
    main()
