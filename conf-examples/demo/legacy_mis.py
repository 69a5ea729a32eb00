#!/usr/bin/env python3
"""A pretend legacy MIS for `make demo`: shows what nginx told it.

  python3 legacy_mis.py --listen 127.0.0.1:18080 [--pidfile FILE]

Every page lists the X-OneID-* request headers it received, percent-decoded
for reading with the raw value beside it, and the Cookie header, which
shows that nginx's session cookie never reaches the application.
/api/mobile/... stands for the mobile API that keeps its own MyID login:
JSON, no OneID.  Python 3 standard library only; one log line per request
on stderr.
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
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto;
padding:0 1em;color:#222}}table{{border-collapse:collapse}}
td,th{{text-align:left;padding:.3em .8em;border-bottom:1px solid #ddd;
vertical-align:top}}code{{color:#555;word-break:break-all}}
.who{{background:#eef5ee;padding:.6em 1em}}</style></head><body>
<h1>Legacy MIS (demo)</h1>
<p class="who">{who}</p>
<p>This application knows nothing about OneID. nginx signed you in and
passed who you are in request headers:</p>
<table><tr><th>header</th><th>value (decoded)</th><th>as received</th></tr>
{rows}
</table>
<p>Cookie header received: <code>{cookie}</code><br>
<small>nginx removes its own session cookie before the request gets
here; any other cookie passes.</small></p>
<p>Requested: <code>{method} {path}</code></p>
<p><a href="/oneid/logout">Log out</a> &middot;
<a href="/patients/42?tab=history">another page</a> &middot;
<a href="/api/mobile/ping">mobile API (no OneID)</a></p>
</body></html>
"""


def header_text(value):
    """http.server decodes header bytes as Latin-1: get the UTF-8 back."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


class Handler(BaseHTTPRequestHandler):
    server_version = "LegacyMIS/1.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 60
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def send(self, status, body, ctype):
        body = body.encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/mobile/"):
            return self.send(200, json.dumps({"api": "mobile",
                                              "auth": "MyID (untouched)"},
                                             separators=(",", ":")),
                             "application/json")
        rows = []
        found = {}
        for name, value in self.headers.items():
            if not name.lower().startswith("x-oneid-"):
                continue
            raw = header_text(value)
            decoded = urllib.parse.unquote(raw, errors="replace")
            found.setdefault(name.lower(), decoded)
            rows.append("<tr><td>%s</td><td>%s</td><td><code>%s</code></td>"
                        "</tr>" % (html.escape(name), html.escape(decoded),
                                   html.escape(raw)))
        if found:
            who = "Signed in as <b>%s</b>, PINFL <b>%s</b>." % (
                html.escape(found.get("x-oneid-full-name") or "(no name)"),
                html.escape(found.get("x-oneid-pin") or "?"))
        else:
            who = "No X-OneID-* headers: this request did not pass the " \
                  "OneID gateway."
            rows.append('<tr><td colspan="3">none</td></tr>')
        cookie = "; ".join(header_text(c)
                           for c in self.headers.get_all("Cookie") or ())
        self.send(200, PAGE.format(
            who=who, rows="\n".join(rows),
            cookie=html.escape(cookie or "(none)"),
            method=html.escape(self.command),
            path=html.escape(header_text(self.path))),
            "text/html; charset=utf-8")

    do_HEAD = do_GET

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= 1024 * 1024:
            self.close_connection = True
            return self.send(413, "too large\n", "text/plain")
        self.rfile.read(length)
        self.do_GET()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        sys.stderr.write("%s: connection error: %s: %s\n"
                         % (client_address[0], type(e).__name__, e))


def main():
    ap = argparse.ArgumentParser(description="pretend legacy MIS (demo)")
    ap.add_argument("--listen", default="127.0.0.1:18080")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    try:
        server = Server((host.strip("[]"), int(port)), Handler)
    except (OSError, ValueError) as e:
        sys.stderr.write("legacy_mis: cannot listen on %s: %s\n"
                         % (args.listen, e))
        return 2
    pid = str(os.getpid())
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(pid + "\n")

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except SystemExit:
        pass
    finally:
        server.server_close()
        if args.pidfile:
            try:
                with open(args.pidfile) as f:
                    if f.read().strip() == pid:
                        os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
