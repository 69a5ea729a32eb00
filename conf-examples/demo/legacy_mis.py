#!/usr/bin/env python3
"""A pretend legacy MIS for `make demo`: shows what nginx told it.

Every page lists the X-OneID-* headers it received (percent-decoded for
reading, with the raw value beside it) and the Cookie header, which shows
that the session cookie never reaches the application.  /api/mobile/...
stands for the mobile API that keeps its own MyID login.
"""

import argparse
import html
import json
import os
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Legacy MIS (demo)</title>
<style>body{{font-family:sans-serif;max-width:46em;margin:2em auto}}
td,th{{text-align:left;padding:.3em .8em;border-bottom:1px solid #ddd}}
code{{color:#555}}</style></head><body>
<h1>Legacy MIS (demo)</h1>
<p>This application knows nothing about OneID. nginx signed you in and
passed who you are in request headers:</p>
<table><tr><th>header</th><th>value</th><th>as received</th></tr>
{rows}</table>
<p>Cookie header received: <code>{cookie}</code></p>
<p>Requested: <code>{path}</code></p>
<p><a href="/oneid/logout">Log out</a> &middot;
<a href="/patients/42?tab=history">another page</a> &middot;
<a href="/api/mobile/ping">mobile API (no OneID)</a></p>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "LegacyMIS/1.0"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype):
        body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/api/mobile/"):
            return self.send(200, json.dumps({"api": "mobile",
                                              "auth": "MyID (untouched)"}),
                             "application/json")
        rows = []
        for name, value in self.headers.items():
            if not name.lower().startswith("x-oneid-"):
                continue
            rows.append("<tr><td>%s</td><td>%s</td><td><code>%s</code></td>"
                        "</tr>" % (html.escape(name),
                                   html.escape(urllib.parse.unquote(value)),
                                   html.escape(value)))
        if not rows:
            rows.append('<tr><td colspan="3">none: not signed in</td></tr>')
        self.send(200, PAGE.format(
            rows="\n".join(rows),
            cookie=html.escape(self.headers.get("Cookie") or "(none)"),
            path=html.escape(self.path)), "text/html; charset=utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:18080")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((host, int(port)), Handler)
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())

    def stop(*_):
        if args.pidfile and os.path.exists(args.pidfile):
            os.unlink(args.pidfile)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
