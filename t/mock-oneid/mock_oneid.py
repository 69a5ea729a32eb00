#!/usr/bin/env python3
"""A mock OneID (sso.egov.uz) for the test suite and the demo.

Follows shared/oneid-protocol.md section 7, quirks included: one URL for
everything, parameters from the query string and the form body (query wins),
tokens and codes are UUIDs, expires_in is epoch milliseconds, every identity
scalar is a string, errors are HTTP 400 {"error":"token_not_found",...}.

Test hooks the real server does not have (it ignores unknown parameters):
  mock_user=<fixture>        on the authorize URL picks the test user;
                             without it a page lists them for a person
  GET  /__mock/requests      recorded back-channel requests (JSON)
       ?grant_type=X         only those of one grant
  POST /__mock/reset         forget requests, codes and tokens
  GET  /__mock/health        "ok"

python3 mock_oneid.py --listen 127.0.0.1:18443 --cert C --key K
                      --config clients.json [--log F] [--pidfile F]
                      [--plain] [--slow-seconds N]
"""

import argparse
import html
import json
import os
import signal
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

PATH = "/sso/oauth/Authorization.do"
MAX_BODY = 64 * 1024
JSON_TYPE = "application/json;charset=UTF-8"


class State:
    def __init__(self, clients, code_ttl, token_ttl, slow):
        self.lock = threading.Lock()
        self.clients = clients
        self.code_ttl = code_ttl
        self.token_ttl = token_ttl
        self.slow = slow
        self.reset()

    def reset(self):
        with self.lock:
            self.codes = {}      # code -> (client_id, redirect_uri, user, t)
            self.tokens = {}     # access token -> (client_id, user, t)
            self.requests = []

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-200]


def identity_of(user):
    """(identity dict, scenario kind or None, step) for a fixture name."""
    if user in fixtures.USERS:
        return dict(fixtures.USERS[user][1]), None, None
    step, kind = fixtures.SCENARIOS[user]
    return dict(fixtures.CITIZEN_BASIC), kind, step


class Handler(BaseHTTPRequestHandler):
    server_version = "MockOneID/1.0"
    protocol_version = "HTTP/1.1"

    # plumbing

    def log_message(self, fmt, *args):
        log = self.server.log
        if log:
            log.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"),
                                   fmt % args))
            log.flush()

    def send(self, status, body, ctype=JSON_TYPE, headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, obj, ascii_only=False, headers=()):
        self.send(status, json.dumps(obj, ensure_ascii=ascii_only),
                  headers=headers)

    def send_page(self, status, title, text):
        self.send(status, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                  "<title>%s</title></head><body><h1>%s</h1><p>%s</p>"
                  "</body></html>" % (title, title, text),
                  "text/html;charset=UTF-8")

    def token_not_found(self):
        self.send_json(400, {"error": "token_not_found",
                             "error_description": "Token Not Found"})

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def params(self, query, body):
        merged = {}
        ctype = self.headers.get("Content-Type", "")
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            for k, v in urllib.parse.parse_qsl(
                    body.decode("utf-8", "replace"), keep_blank_values=True):
                merged.setdefault(k, v)
        qs = {}
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
            qs.setdefault(k, v)
        merged.update(qs)       # the query string wins, like getParameter()
        return merged

    # routing

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/__mock/health":
            return self.send(200, "ok\n", "text/plain")
        if url.path == "/__mock/requests":
            grant = dict(urllib.parse.parse_qsl(url.query)).get("grant_type")
            with self.server.state.lock:
                reqs = [r for r in self.server.state.requests
                        if grant is None
                        or r["params"].get("grant_type") == grant]
            return self.send_json(200, reqs)
        if url.path != PATH:
            return self.send_page(404, "Not Found", "No such page.")
        params = self.params(url.query, b"")
        if "grant_type" in params:
            return self.send_page(405, "Method Not Allowed",
                                  "The back channel takes POST.")
        return self.authorize(params, url.query)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        if body is None:
            self.close_connection = True
            return self.send_page(413, "Too Large", "Request too large.")
        if url.path == "/__mock/reset":
            self.server.state.reset()
            return self.send(200, "reset\n", "text/plain")
        if url.path != PATH:
            return self.send_page(404, "Not Found", "No such page.")
        params = self.params(url.query, body)
        self.server.state.record({
            "method": "POST", "path": url.path, "query": url.query,
            "headers": {k: self.headers.get_all(k)
                        for k in set(self.headers.keys())},
            "body": body.decode("utf-8", "replace"), "params": params,
        })
        return self.back_channel(params)

    # front channel

    def authorize(self, p, query):
        st = self.server.state
        client = st.clients.get(p.get("client_id", ""))
        if p.get("response_type") != "one_code":
            return self.send_page(400, "Bad request",
                                  "response_type must be one_code.")
        if client is None:
            return self.send_page(400, "Bad request", "Unknown client_id.")
        redirect_uri = p.get("redirect_uri", "")
        if redirect_uri not in client["redirect_uris"]:
            return self.send_page(400, "Bad request",
                                  "redirect_uri is not registered.")
        if client.get("strict_scope") and p.get("scope") != client["scope"]:
            return self.send_page(400, "Bad request", "Wrong scope.")

        user = p.get("mock_user") or self.cookie("mock_user")
        if not user:
            return self.picker(query)
        if user in fixtures.FRONT_SCENARIOS:
            return self.front_scenario(user, redirect_uri, p.get("state"))
        if user not in fixtures.USERS and user not in fixtures.SCENARIOS:
            return self.send_page(400, "Bad request", "Unknown mock_user.")

        code = str(uuid.uuid4())
        with st.lock:
            st.codes[code] = (client["client_id"], redirect_uri, user,
                              time.time())
        args = [("code", code)]
        if "state" in p:
            args.append(("state", p["state"]))
        sep = "&" if "?" in redirect_uri else "?"
        self.send(302, "", "text/plain", [
            ("Location", redirect_uri + sep + urllib.parse.urlencode(args))])

    def cookie(self, name):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
        return None

    def picker(self, query):
        items = []
        for name, (desc, ident) in fixtures.USERS.items():
            q = query + "&" + urllib.parse.urlencode({"mock_user": name})
            items.append('<li><a href="%s?%s"><b>%s</b></a> %s &mdash; %s'
                         '</li>' % (PATH, html.escape(q), html.escape(name),
                                    html.escape(ident["full_name"]),
                                    html.escape(desc)))
        self.send(200, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                  "<title>Mock OneID</title><style>body{font-family:"
                  "sans-serif;max-width:40em;margin:2em auto}li{margin:.6em"
                  " 0}</style></head><body><h1>Mock OneID &mdash; choose a "
                  "test user</h1><p>This stands in for id.egov.uz in the "
                  "demo and the tests. All people here are made up.</p><ul>"
                  + "".join(items) + "</ul></body></html>",
                  "text/html;charset=UTF-8")

    def front_scenario(self, user, redirect_uri, state):
        if user == "abandon":
            return self.send_page(200, "Waiting", "Waiting for the user...")
        args = [] if user == "no-code" else [("error", "access_denied")]
        if state is not None:
            args.append(("state", state))
        sep = "&" if "?" in redirect_uri else "?"
        self.send(302, "", "text/plain", [
            ("Location", redirect_uri + sep + urllib.parse.urlencode(args))])

    # back channel

    def back_channel(self, p):
        st = self.server.state
        client = st.clients.get(p.get("client_id", ""))
        if client is None or p.get("client_secret") != client["client_secret"]:
            return self.send_json(401, {
                "error": "invalid_client",
                "error_description": "Client authentication failed"})
        grant = p.get("grant_type")
        if grant == "one_authorization_code":
            return self.grant_code(client, p)
        if grant == "one_access_token_identify":
            return self.grant_identify(client, p)
        if grant == "one_log_out":
            return self.grant_logout(client, p)
        return self.send_json(400, {
            "error": "unsupported_grant_type",
            "error_description": "Unsupported grant_type"})

    def misbehave(self, kind):
        """Answer for scenario kinds shared by all steps; False if none."""
        if kind == "http-500":
            self.send_page(500, "Internal Server Error", "Server error.")
        elif kind == "html-200":
            self.send(200, "<html><body>Technical works</body></html>",
                      "text/html;charset=UTF-8")
        elif kind == "http-429":
            self.send_json(429, {"error": "too_many_requests"},
                           headers=[("Retry-After", "60")])
        else:
            return False
        return True

    def grant_code(self, client, p):
        st = self.server.state
        with st.lock:
            entry = st.codes.pop(p.get("code", ""), None)
        if (entry is None or entry[0] != client["client_id"]
                or time.time() - entry[3] > st.code_ttl):
            return self.token_not_found()
        user = entry[2]
        _, kind, step = identity_of(user)
        if step == "token":
            if kind == "slow":
                time.sleep(st.slow)
            elif kind == "not-found":
                return self.token_not_found()
            elif kind == "no-access-token":
                return self.send_json(200, {"scope": client["scope"],
                                            "token_type": "Bearer"})
            elif self.misbehave(kind):
                return
        token = str(uuid.uuid4())
        with st.lock:
            st.tokens[token] = (client["client_id"], user, time.time())
        # key order of the official sample
        self.send_json(200, {
            "scope": client["scope"],
            "expires_in": int(time.time() * 1000) + st.token_ttl * 1000,
            "token_type": "Bearer",
            "refresh_token": str(uuid.uuid4()),
            "access_token": token,
        })

    def live_token(self, client, token):
        st = self.server.state
        with st.lock:
            entry = st.tokens.get(token)
        if (entry is None or entry[0] != client["client_id"]
                or time.time() - entry[2] > st.token_ttl):
            return None
        return entry

    def grant_identify(self, client, p):
        st = self.server.state
        token = p.get("access_token", "")
        entry = self.live_token(client, token)
        if entry is None:
            return self.token_not_found()
        if client.get("strict_scope") and p.get("scope") != client["scope"]:
            return self.send_json(400, {"error": "invalid_scope",
                                        "error_description": "Wrong scope"})
        ident, kind, step = identity_of(entry[1])
        ident["sess_id"] = token
        if entry[1] == "legacy-formats":
            ident["sess_id"] = uuid.uuid4().hex * 4
            return self.send_json(200, ident, ascii_only=True)
        if step != "identify":
            return self.send_json(200, ident)
        if kind == "slow":
            time.sleep(st.slow)
            return self.send_json(200, ident)
        if self.misbehave(kind):
            return
        if kind == "truncated":
            body = json.dumps(ident, ensure_ascii=False)
            return self.send(200, body[:len(body) // 2])
        if kind == "huge":
            ident["per_adr"] = "Ж" * 32 * 1024
            return self.send_json(200, ident)
        if kind == "ret-cd":
            ident["ret_cd"] = "1"
        elif kind == "bad-pin":
            ident["pin"] = "12345"
        elif kind == "no-pin":
            del ident["pin"]
        elif kind == "pin-number":
            ident["pin"] = int(ident["pin"])
        elif kind == "legal-object":
            ident["legal_info"] = {"is_basic": True, "tin": "301234567"}
        elif kind == "null-fields":
            for k in list(ident):
                if k not in ("pin", "ret_cd", "sess_id"):
                    ident[k] = None
        elif kind == "crlf":
            ident["full_name"] = "EVIL\r\nX-Injected: 1\r\n\r\nNAME\x00"
            ident["first_name"] = "A\nB"
        elif kind == "nested":
            # deeper than jansson's limit (2048), small enough for 16k
            return self.send(200, json.dumps(ident)[:-1]
                             + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}")
        return self.send_json(200, ident)

    def grant_logout(self, client, p):
        st = self.server.state
        token = p.get("access_token", "")
        entry = self.live_token(client, token)
        if entry is not None and identity_of(entry[1])[1:] == ("http-500",
                                                               "logout"):
            return self.send_page(500, "Internal Server Error", "Error.")
        with st.lock:
            st.tokens.pop(token, None)
        self.send_json(200, {"ret_cd": "0"})


def load_clients(path):
    with open(path, encoding="utf-8") as f:
        conf = json.load(f)
    clients = {}
    for c in conf["clients"]:
        c.setdefault("scope", c["client_id"])
        clients[c["client_id"]] = c
    return clients, conf.get("code_ttl", 120), conf.get("token_ttl", 3600)


def main():
    ap = argparse.ArgumentParser(description="mock OneID")
    ap.add_argument("--listen", default="127.0.0.1:18443")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--config", required=True)
    ap.add_argument("--log")
    ap.add_argument("--pidfile")
    ap.add_argument("--plain", action="store_true", help="no TLS")
    ap.add_argument("--slow-seconds", type=float, default=3.0)
    args = ap.parse_args()

    clients, code_ttl, token_ttl = load_clients(args.config)
    host, port = args.listen.rsplit(":", 1)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.state = State(clients, code_ttl, token_ttl, args.slow_seconds)
    server.log = open(args.log, "a", encoding="utf-8") if args.log else None

    scheme = "http"
    if not args.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                       do_handshake_on_connect=False)
        scheme = "https"

    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())

    def stop(*_):
        if args.pidfile and os.path.exists(args.pidfile):
            os.unlink(args.pidfile)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("mock OneID listening on %s://%s\n"
                     % (scheme, args.listen))
    try:
        server.serve_forever()
    finally:
        stop()


if __name__ == "__main__":
    main()
