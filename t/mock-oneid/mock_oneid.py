#!/usr/bin/env python3
"""A mock OneID (sso.egov.uz) for the test suite and the demo.

Implements docs/oneid-protocol.md with the quirks of the real
server: one URL for everything; back-channel parameters from the query
string and the form body, merged, the query string winning (Java
getParameter); codes and tokens are lowercase UUIDs; expires_in is an
absolute time in epoch milliseconds; every identity scalar is a string;
errors look like {"error":"token_not_found","error_description":"Token Not
Found"}; Content-Type application/json;charset=UTF-8.

  python3 mock_oneid.py --listen 127.0.0.1:18443 --cert C --key K
                        --config clients.json [--log F] [--pidfile F]
                        [--plain] [--slow-seconds N] [switches, see --help]

Test hooks that the real server does not have (it ignores unknown
parameters):

  mock_user=<fixture>    on the authorize URL: sign in as that test user
                         (else the mock_user cookie, else the mock's SSO
                         session cookie, else a page to pick one)
  GET  /__mock/requests  recorded back-channel requests, oldest first (the
       [?grant_type=X]   last 200); ?since=ID: only those after record ID
  POST /__mock/reset     forget requests, codes, tokens and SSO sessions,
                         and restore the start-up settings
  GET  /__mock/health    "ok"
  GET  /__mock/fixtures  the test users, JSON
  GET  /__mock/settings  the switches, JSON; POST a JSON object to change
                         them until the next reset

The fixtures live in fixtures.py, the clients in clients.json; see
README.md.  Python 3 standard library only.
"""

import argparse
import collections
import hashlib
import hmac
import html
import json
import os
import re
import signal
import socket
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
MAX_BODY = 64 * 1024            # larger request bodies get 413
MAX_DRAIN = 8 * 1024 * 1024     # read at most this much of a refused body
MAX_RECORDS = 200               # recorded back-channel requests kept
MAX_ENTRIES = 100000            # codes, tokens, SSO sessions (each)
JSON_TYPE = "application/json;charset=UTF-8"
HTML_TYPE = "text/html;charset=UTF-8"
SSO_COOKIE = "mock_sso"

# The CHOICE switches of the protocol notes, with their defaults.  Global
# values come from here, then "settings" in clients.json, then the command
# line, then POST /__mock/settings; a client's own "settings" win over all.
DEFAULT_SETTINGS = {
    "code_ttl": 120.0,               # seconds a code lives
    "token_ttl": 3600.0,             # seconds an access token lives
    "error_status": 400,             # status of token_not_found (200: switch)
    "expires_in": "epoch_ms",        # or "seconds" (relative)
    "methods_key": "valid_methods",  # or "validation_method" or "none"
    "charset": True,                 # false: Content-Type application/json
    "ascii_json": False,             # true: every non-ASCII as \\uXXXX
    "identify_error": "token_not_found",  # or "ret_cd": 200 {"ret_cd":"1"}
    "rate_limit": 0,                 # back-channel requests/min/client; 0 off
    "get_back_channel": "405",       # or "accept": GET works like POST
    "refresh": False,                # accept grant_type=refresh_token
    "strict_scope": False,           # scope must equal the client's
    "strict_redirect_uri": False,    # token step: redirect_uri, if sent,
                                     # must equal the one of the code
    "slow_seconds": 3.0,             # token-slow, identify-slow
    "nested_depth": 5000,            # identify-nested
    "chunked": False,                # identify: Transfer-Encoding: chunked,
                                     # no Content-Length (as a servlet does
                                     # once its output buffer overflows)
}

CHOICES = {
    "expires_in": ("epoch_ms", "seconds"),
    "methods_key": ("valid_methods", "validation_method", "none"),
    "identify_error": ("token_not_found", "ret_cd"),
    "get_back_channel": ("405", "accept"),
}

TOKEN_NOT_FOUND = {"error": "token_not_found",
                   "error_description": "Token Not Found"}
INVALID_CLIENT = {"error": "invalid_client",
                  "error_description": "Client authentication failed"}
UNSUPPORTED_GRANT = {"error": "unsupported_grant_type",
                     "error_description": "Unsupported grant_type"}
INVALID_SCOPE = {"error": "invalid_scope",
                 "error_description": "Invalid scope"}

STYLE = ("<style>body{font-family:sans-serif;max-width:44em;margin:2em auto;"
         "padding:0 1em;color:#222}h1{font-size:1.4em}li{margin:.45em 0}"
         "small,.note{color:#666}code{color:#555}"
         "details{margin-top:1.5em}</style>")


def check_settings(new, base=None):
    """Validated copy of base updated with new; raises ValueError."""
    out = dict(base if base is not None else DEFAULT_SETTINGS)
    if not isinstance(new, dict):
        raise ValueError("settings must be a JSON object")
    for key, value in new.items():
        if key not in DEFAULT_SETTINGS:
            raise ValueError("unknown setting %r" % key)
        want = type(DEFAULT_SETTINGS[key])
        if key == "error_status" and value not in (200, 400):
            raise ValueError("error_status must be 200 or 400")
        if want is bool:
            if not isinstance(value, bool):
                raise ValueError("%s must be true or false" % key)
        elif want in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or value < 0:
                raise ValueError("%s must be a number >= 0" % key)
            value = want(value)
        elif str(value) not in CHOICES[key]:
            raise ValueError("%s must be one of %s"
                             % (key, ", ".join(CHOICES[key])))
        else:
            value = str(value)
        out[key] = value
    return out


def unquote(raw):
    """Form decoding of bytes: '+' is a space; bytes kept as surrogates."""
    return urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode(
        "utf-8", "surrogateescape")


def parse_pairs(raw):
    """[(name, value)] of an application/x-www-form-urlencoded string."""
    out = []
    for part in raw.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            out.append((unquote(name), unquote(value)))
    return out


def clean(s):
    """A string safe for JSON and logs: invalid UTF-8 becomes U+FFFD."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def quote(s):
    """Percent-encode everything but the RFC 3986 unreserved characters."""
    return urllib.parse.quote(s.encode("utf-8", "surrogateescape"), safe="")


def add_query(uri, pairs):
    """uri plus name=value pairs (None values left out), ? or &."""
    enc = "&".join(k + "=" + quote(v) for k, v in pairs if v is not None)
    if not enc:
        return uri
    return uri + ("&" if "?" in uri else "?") + enc


def dumps(obj, ascii_only=False):
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":"))


class Store:
    """Everything the mock remembers, behind one lock."""

    def __init__(self, settings):
        self.lock = threading.Lock()
        self.start_settings = settings
        self.reset()

    def reset(self):
        with self.lock:
            self.settings = dict(self.start_settings)
            self.codes = {}      # code -> dict(client_id, redirect_uri, ...)
            self.tokens = {}     # access token -> dict(client_id, user, ...)
            self.refresh = {}    # refresh token -> access token
            self.sso = {}        # SSO session id -> dict(user, expires)
            self.rate = {}       # client_id -> deque of request times
            self.requests = []
            self.seq = 0

    def put(self, table, key, value):
        """Insert under the lock; expired or oldest entries make room."""
        table[key] = value
        if len(table) > MAX_ENTRIES:
            now = time.time()
            for k in [k for k, v in table.items()
                      if isinstance(v, dict) and v.get("expires", now) < now]:
                del table[k]
            while len(table) > MAX_ENTRIES:
                del table[next(iter(table))]

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["id"] = self.seq
            self.requests.append(entry)
            del self.requests[:-MAX_RECORDS]

    def rate_ok(self, client_id, limit):
        now = time.time()
        with self.lock:
            q = self.rate.setdefault(client_id, collections.deque())
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= limit:
                return False
            q.append(now)
            return True


class Handler(BaseHTTPRequestHandler):
    server_version = "MockOneID/2.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30    # seconds of client silence before the connection goes
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    # --- plumbing ---------------------------------------------------------

    def handle_one_request(self):
        self.t0 = time.monotonic()
        self.status = None
        self.note = []
        super().handle_one_request()
        if self.status is not None:
            self.write_log()

    def log_request(self, code="-", size="-"):
        self.status = getattr(code, "value", code)

    def log_message(self, fmt, *args):
        if not hasattr(self, "note"):
            self.note = []
        self.note.append(fmt % args)

    def write_log(self):
        target = getattr(self, "path", "") or "-"
        target = re.sub(r"(?i)(client_secret=)[^&\s]*", r"\1***", target)
        if len(target) > 300:
            target = target[:300] + "..."
        line = "%s %s %s %s %s %dms%s" % (
            time.strftime("%Y-%m-%dT%H:%M:%S"), self.client_address[0],
            getattr(self, "command", None) or "-", target, self.status,
            (time.monotonic() - self.t0) * 1000,
            "".join(" " + n for n in self.note))
        self.server.log(line.encode("ascii", "backslashreplace").decode())

    def setting(self, key, client=None):
        if client is not None and key in client["settings"]:
            return client["settings"][key]
        return self.server.store.settings[key]

    def send(self, status, body, ctype=JSON_TYPE, headers=(), chunked=False):
        if isinstance(body, str):
            body = body.encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        if self.command == "HEAD":
            self.end_headers()
            return
        if not chunked:
            # headers and body in one write, as a servlet container sends
            # an answer that fits its output buffer: the gateway may then
            # read the whole answer at once
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()
            return
        self.end_headers()
        for i in range(0, len(body), 8192):
            part = body[i:i + 8192]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def send_json(self, status, obj, client=None, ascii_only=False,
                  headers=()):
        ctype = JSON_TYPE if self.setting("charset", client) \
            else "application/json"
        ascii_only = ascii_only or self.setting("ascii_json", client)
        self.send(status, dumps(obj, ascii_only), ctype, headers)

    def page(self, status, title, body_html, headers=()):
        title = html.escape(title)
        self.send(status, "<!DOCTYPE html>\n<html><head><meta "
                  "charset=\"utf-8\"><title>%s</title>%s</head><body>"
                  "<h1>%s</h1>%s</body></html>\n"
                  % (title, STYLE, title, body_html), HTML_TYPE, headers)

    def error_page(self, status, title, text):
        self.page(status, title, "<p>%s</p>" % html.escape(text))

    def bad_request(self, text):
        self.close_connection = True
        self.error_page(400, "Bad Request", text)

    def cookie(self, name):
        for header in self.headers.get_all("Cookie") or ():
            for part in header.split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return urllib.parse.unquote(v.strip().strip('"'))
        return None

    # --- request body -----------------------------------------------------

    def handle_expect_100(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            self.command = self.command or "POST"
            self.close_connection = True
            self.error_page(413, "Payload Too Large", "Request too large.")
            return False
        return super().handle_expect_100()

    def read_body(self):
        """The body as bytes, or None when an error was already sent."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                self.bad_request("Unsupported Transfer-Encoding.")
                return None
            return self.read_chunked()
        lengths = {v.strip() for v in self.headers.get_all("Content-Length")
                   or ()}
        if not lengths:
            return b""
        if len(lengths) != 1 or not lengths.copy().pop().isdigit():
            self.bad_request("Bad Content-Length.")
            return None
        length = int(lengths.pop())
        if length > MAX_BODY:
            self.refuse_large(length)
            return None
        body = self.rfile.read(length)
        if len(body) < length:       # the client went away
            self.close_connection = True
            return None
        return body

    def read_chunked(self):
        body = b""
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.bad_request("Bad chunked body.")
                return None
            if size < 0:
                self.bad_request("Bad chunked body.")
                return None
            if size == 0:
                break
            if len(body) + size > MAX_BODY:
                self.refuse_large(None)
                return None
            chunk = self.rfile.read(size)
            self.rfile.readline(3)
            if len(chunk) < size:
                self.close_connection = True
                return None
            body += chunk
        while self.rfile.readline(8194) not in (b"\r\n", b"\n", b""):
            pass                     # trailers
        return body

    def refuse_large(self, length):
        """413, then read (and drop) some of the body so that the client
        sees the answer rather than a connection reset."""
        self.close_connection = True
        self.error_page(413, "Payload Too Large", "Request too large.")
        try:
            self.wfile.flush()
            self.connection.settimeout(2)
            left = MAX_DRAIN if length is None else min(length, MAX_DRAIN)
            while left > 0:
                chunk = self.rfile.read1(min(left, 65536)) \
                    if hasattr(self.rfile, "read1") \
                    else self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except (OSError, ValueError):
            pass

    # --- routing ----------------------------------------------------------

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        try:
            self.dispatch()
        except (OSError, ssl.SSLError):
            raise                     # the connection; handle_error logs
        except Exception as e:        # a bug in the mock: say so, go on
            self.note.append("internal error: %s: %s" % (type(e).__name__, e))
            if self.status is None:
                self.close_connection = True
                self.error_page(500, "Mock OneID internal error",
                                "%s: %s" % (type(e).__name__, e))

    def dispatch(self):
        raw = self.path.encode("latin-1", "replace")
        if raw[:1] != b"/":           # absolute form: http://host/path?query
            m = re.match(rb"(?i)https?://[^/?#]*", raw)
            raw = raw[m.end():] if m else raw
            raw = raw if raw[:1] == b"/" else b"/" + raw
        raw = raw.split(b"#", 1)[0]
        path_b, _, query_b = raw.partition(b"?")
        path = path_b.decode("latin-1")

        body = self.read_body()
        if body is None:
            return

        if path == PATH:
            return self.oneid(query_b, body)
        if path.startswith("/__mock/"):
            return self.control(path, query_b, body)
        self.error_page(404, "Not Found", "No such page.")

    def oneid(self, query_b, body):
        method = self.command
        query = parse_pairs(query_b)
        if method not in ("GET", "POST"):
            return self.page(405, "Method Not Allowed",
                             "<p>GET or POST only.</p>",
                             [("Allow", "GET, POST")])
        if method == "GET" and not any(k == "grant_type" for k, _ in query):
            return self.authorize(dict(reversed(query)), query_b)

        # back channel: query string first, then the form body (only for
        # POST and a form Content-Type, like a servlet), first value wins
        params = {}
        for k, v in query:
            params.setdefault(clean(k), clean(v))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        form = ctype.strip().lower() == "application/x-www-form-urlencoded"
        if method == "POST" and body and form:
            for k, v in parse_pairs(body):
                params.setdefault(clean(k), clean(v))

        headers = {}
        seen = {}
        for k, v in self.headers.items():
            key = seen.setdefault(k.lower(), k)
            headers.setdefault(key, []).append(clean(v))
        rec = {
            "id": None, "time": int(time.time() * 1000), "method": method,
            "path": PATH,
            "query": query_b.decode("utf-8", "replace"), "headers": headers,
            "body": body.decode("utf-8", "replace"), "params": params,
            "status": None,
        }
        self.server.store.record(rec)
        self.note.append("grant_type=%s client_id=%s"
                         % (params.get("grant_type", "-"),
                            params.get("client_id", "-")))
        try:
            if method == "GET" \
                    and self.setting("get_back_channel") != "accept":
                return self.page(405, "Method Not Allowed",
                                 "<p>The back channel takes POST.</p>",
                                 [("Allow", "POST")])
            return self.back_channel(params)
        finally:
            with self.server.store.lock:
                rec["status"] = self.status

    # --- control endpoints ------------------------------------------------

    def control(self, path, query_b, body):
        st = self.server.store
        routes = {"/__mock/health": ("GET",), "/__mock/requests": ("GET",),
                  "/__mock/fixtures": ("GET",), "/__mock/reset": ("POST",),
                  "/__mock/settings": ("GET", "POST")}
        if path not in routes:
            return self.error_page(404, "Not Found", "No such page.")
        allowed = routes[path]
        if self.command not in allowed and not (
                self.command == "HEAD" and "GET" in allowed):
            return self.page(405, "Method Not Allowed", "",
                             [("Allow", ", ".join(allowed))])

        if path == "/__mock/health":
            return self.send(200, "ok\n", "text/plain;charset=UTF-8")

        if path == "/__mock/reset":
            st.reset()
            return self.send(200, "ok\n", "text/plain;charset=UTF-8")

        if path == "/__mock/requests":
            q = {clean(k): clean(v) for k, v in reversed(parse_pairs(query_b))}
            grant = q.get("grant_type")
            try:
                since = int(q.get("since") or 0)
            except ValueError:
                return self.send(400, dumps({"error": "bad since"}))
            with st.lock:
                out = [r for r in st.requests if r["id"] > since and (
                    grant is None or r["params"].get("grant_type") == grant)]
                body_out = dumps(out)
            return self.send(200, body_out)

        if path == "/__mock/fixtures":
            return self.send(200, dumps({
                "people": {k: v[0] for k, v in fixtures.USERS.items()},
                "identities": {k: v[1] for k, v in fixtures.USERS.items()},
                "front_channel": fixtures.FRONT_SCENARIOS,
                "back_channel": {k: v[2]
                                 for k, v in fixtures.SCENARIOS.items()},
            }))

        # /__mock/settings
        if self.command == "POST":
            try:
                new = json.loads(body.decode("utf-8") or "{}")
                with st.lock:
                    st.settings = check_settings(new, st.settings)
            except (ValueError, UnicodeDecodeError) as e:
                return self.send(400, dumps({"error": str(e)}))
        with st.lock:
            out = dict(st.settings)
        out["clients"] = {c["client_id"]: c["settings"]
                          for c in self.server.clients.values()}
        return self.send(200, dumps(out))

    # --- front channel ----------------------------------------------------

    def authorize(self, q, query_b):
        st = self.server.store
        if q.get("response_type") != "one_code":
            return self.error_page(400, "OneID: invalid request",
                                   "response_type must be one_code.")
        client = self.server.clients.get(q.get("client_id"))
        if client is None:
            return self.error_page(400, "OneID: invalid request",
                                   "Unknown client_id.")
        redirect_uri = q.get("redirect_uri")
        if redirect_uri not in client["redirect_uris"]:
            return self.error_page(400, "OneID: invalid request",
                                   "redirect_uri is not registered for this "
                                   "client.")
        if self.setting("strict_scope", client) \
                and q.get("scope") != client["scope"]:
            return self.error_page(400, "OneID: invalid request",
                                   "Invalid scope.")
        state = q.get("state")

        user, how, sso_id = self.pick_user(q, client)
        self.note.append("mock_user=%s" % clean(user or "-"))
        if user is None:
            return self.picker(client, redirect_uri, query_b)
        if not fixtures.known(user) or (client["fixtures"] is not None
                                        and user not in client["fixtures"]):
            return self.picker(client, redirect_uri, query_b,
                               "Unknown test user: %s" % clean(user))

        if user in fixtures.FRONT_SCENARIOS:
            if user == "abandon":
                return self.page(200, "Mock OneID \u2014 waiting\u2026",
                                 "<p>This test user never finishes signing "
                                 "in: nothing more will happen here.</p>")
            pairs = [("state", state)] if user == "no-code" else \
                [("error", "access_denied"), ("state", state)]
            return self.redirect(add_query(redirect_uri, pairs))

        now = time.time()
        headers = []
        with st.lock:
            if how == "query":     # a new sign-in: a new SSO session
                sso_id = str(uuid.uuid4())
                st.put(st.sso, sso_id, {
                    "user": user,
                    "expires": now + self.setting("token_ttl", client)})
            code = str(uuid.uuid4())
            st.put(st.codes, code, {
                "client_id": client["client_id"],
                "redirect_uri": redirect_uri, "user": user, "sso": sso_id,
                "expires": now + self.setting("code_ttl", client)})
        if how == "query":
            headers.append(("Set-Cookie", "%s=%s; Path=/sso/; HttpOnly; "
                            "SameSite=Lax%s" % (SSO_COOKIE, sso_id,
                                                "; Secure" if self.server.tls
                                                else "")))
        self.redirect(add_query(redirect_uri, [("code", code),
                                               ("state", state)]), headers)

    def pick_user(self, q, client):
        """(fixture name, how it was chosen, SSO session id) or Nones."""
        if q.get("mock_user"):
            return q["mock_user"], "query", None
        user = self.cookie("mock_user")
        if user:
            return user, "cookie", None
        sso_id = self.cookie(SSO_COOKIE)
        if sso_id:
            st = self.server.store
            with st.lock:
                sess = st.sso.get(sso_id)
                if sess is not None and sess["expires"] < time.time():
                    del st.sso[sso_id]
                    sess = None
            if sess is not None:
                return sess["user"], "sso", sso_id
        return None, None, None

    def redirect(self, location, headers=()):
        self.send(302, "", HTML_TYPE, [("Location", location)] + list(headers))

    def picker(self, client, redirect_uri, query_b, error=None):
        keep = b"&".join(p for p in query_b.split(b"&") if p and
                         unquote(p.partition(b"=")[0]) != "mock_user")
        base = PATH + "?" + keep.decode("latin-1") + ("&" if keep else "")

        def items(entries):
            out = []
            for name, desc in entries:
                if client["fixtures"] is not None \
                        and name not in client["fixtures"]:
                    continue
                out.append('<li><a href="%s"><b>%s</b></a> <small>%s</small>'
                           '</li>\n' % (html.escape(base + "mock_user="
                                                  + quote(name)),
                                      html.escape(name), html.escape(desc)))
            return "\n<ul>\n%s</ul>\n" % "".join(out)

        people = [(n, "%s \u2014 %s" % (i["full_name"], d))
                  for n, (d, i) in fixtures.USERS.items()]
        front = list(fixtures.FRONT_SCENARIOS.items())
        back = [(n, v[2]) for n, v in fixtures.SCENARIOS.items()]
        body = ('%s<p>Signing in to <code>%s</code>, then back to '
                '<code>%s</code>. This page stands in for the OneID login; '
                'every person here is made up.</p>%s'
                '<details><summary>Test scenarios: the sign-in itself goes '
                'wrong</summary>%s</details>'
                '<details><summary>Test scenarios: OneID misbehaves after '
                'the sign-in</summary>%s</details>') % (
            '<p style="color:#b00"><b>%s</b></p>' % html.escape(error)
            if error else "",
            html.escape(client["client_id"]), html.escape(redirect_uri),
            items(people), items(front), items(back))
        self.page(400 if error else 200,
                  "Mock OneID \u2014 choose a test user", body)

    # --- back channel -----------------------------------------------------

    def back_channel(self, p):
        st = self.server.store
        client = self.server.clients.get(p.get("client_id", ""))
        secret = p.get("client_secret")
        if client is None or secret is None or not hmac.compare_digest(
                secret.encode("utf-8"),
                client["client_secret"].encode("utf-8")):
            return self.send_json(401, INVALID_CLIENT, client)
        limit = self.setting("rate_limit", client)
        if limit and not st.rate_ok(client["client_id"], limit):
            return self.misbehave("http-429")
        grant = p.get("grant_type")
        if grant == "one_authorization_code":
            return self.grant_code(client, p)
        if grant == "one_access_token_identify":
            return self.grant_identify(client, p)
        if grant == "one_log_out":
            return self.grant_logout(client, p)
        if grant == "refresh_token" and self.setting("refresh", client):
            return self.grant_refresh(client, p)
        return self.send_json(400, UNSUPPORTED_GRANT, client)

    def token_not_found(self, client, status=None):
        self.send_json(status or self.setting("error_status", client),
                       TOKEN_NOT_FOUND, client)

    def misbehave(self, kind):
        """The answers shared by all steps; False if kind is not one."""
        if kind == "http-500":
            self.close_connection = True
            self.send(500, "<!doctype html><html lang=\"en\"><head><title>"
                      "HTTP Status 500 \u2013 Internal Server Error</title>"
                      "</head><body><h1>HTTP Status 500 \u2013 Internal "
                      "Server Error</h1><hr class=\"line\" /><p><b>Type</b> "
                      "Exception Report</p><p><b>Description</b> The server "
                      "encountered an unexpected condition that prevented it "
                      "from fulfilling the request.</p></body></html>",
                      "text/html;charset=utf-8")
        elif kind == "html-200":
            self.send(200, "<!DOCTYPE html><html><head><meta "
                      "charset=\"utf-8\"><title>OneID</title></head><body>"
                      "<h1>Texnik ishlar olib borilmoqda</h1>"
                      "<p>Технические работы.</p></body></html>", HTML_TYPE)
        elif kind == "http-503":
            self.send(503, "", "text/html", [("Retry-After", "120")])
        elif kind == "http-502":
            self.close_connection = True
            self.send(502, "<html>\r\n<head><title>502 Bad Gateway</title>"
                      "</head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
                      "</h1></center>\r\n<hr><center>nginx</center>\r\n"
                      "</body>\r\n</html>\r\n", "text/html")
        elif kind == "http-429":
            self.send(429, "<html><head><title>429 Too Many Requests</title>"
                      "</head><body><center><h1>429 Too Many Requests</h1>"
                      "</center><hr><center>nginx</center></body></html>\n",
                      "text/html", [("Retry-After", "60")])
        else:
            return False
        return True

    def slow(self, client):
        time.sleep(self.setting("slow_seconds", client))

    def issue_tokens(self, client, user, sso_id):
        st = self.server.store
        now = time.time()
        ttl = self.setting("token_ttl", client)
        access, refresh = str(uuid.uuid4()), str(uuid.uuid4())
        sess_id = hashlib.sha512(access.encode()).hexdigest() \
            if user in fixtures.HEX_SESS_ID else access
        with st.lock:
            st.put(st.tokens, access, {
                "client_id": client["client_id"], "user": user, "sso": sso_id,
                "sess_id": sess_id, "refresh": refresh, "expires": now + ttl})
            st.put(st.refresh, refresh, access)
        if self.setting("expires_in", client) == "epoch_ms":
            expires_in = int(now * 1000) + int(ttl * 1000)
        else:
            expires_in = int(ttl)
        # the key order of the official sample
        return {"scope": client["scope"], "expires_in": expires_in,
                "token_type": "Bearer", "refresh_token": refresh,
                "access_token": access}

    def grant_code(self, client, p):
        st = self.server.store
        with st.lock:
            entry = st.codes.pop(p.get("code", ""), None)   # single use
        if (entry is None or entry["client_id"] != client["client_id"]
                or entry["expires"] < time.time()):
            return self.token_not_found(client)
        if self.setting("strict_redirect_uri", client) \
                and "redirect_uri" in p \
                and p["redirect_uri"] != entry["redirect_uri"]:
            return self.token_not_found(client)
        user = entry["user"]
        self.note.append("mock_user=%s" % user)
        step, kind = fixtures.scenario(user)
        if step == "token":
            if kind == "slow":
                self.slow(client)
            elif kind == "not-found":
                return self.token_not_found(client, 400)
            elif kind == "no-access-token":
                answer = self.issue_tokens(client, user, entry["sso"])
                del answer["access_token"]
                return self.send_json(200, answer, client)
            elif kind in ("truncated", "number", "array"):
                answer = self.issue_tokens(client, user, entry["sso"])
                if kind == "number":
                    answer["access_token"] = 20260111
                    return self.send_json(200, answer, client)
                if kind == "array":
                    return self.send_json(200, [answer], client)
                body = dumps(answer)
                return self.send(200, body[:len(body) // 2], JSON_TYPE)
            elif self.misbehave(kind):
                return
        self.send_json(200, self.issue_tokens(client, user, entry["sso"]),
                       client)

    def live_token(self, client, token):
        st = self.server.store
        with st.lock:
            tok = st.tokens.get(token)
        if (tok is None or tok["client_id"] != client["client_id"]
                or tok["expires"] < time.time()):
            return None
        return tok

    def grant_identify(self, client, p):
        tok = self.live_token(client, p.get("access_token", ""))
        if tok is None:
            if self.setting("identify_error", client) == "ret_cd":
                return self.send_json(200, {"ret_cd": "1"}, client)
            return self.token_not_found(client)
        if self.setting("strict_scope", client) \
                and p.get("scope") != client["scope"]:
            return self.send_json(400, INVALID_SCOPE, client)

        user = tok["user"]
        self.note.append("mock_user=%s" % user)
        ident = fixtures.identity(user)
        ident["sess_id"] = tok["sess_id"]
        methods = self.setting("methods_key", client)
        if "valid_methods" in ident and methods != "valid_methods":
            value = ident.pop("valid_methods")
            if methods == "validation_method":
                ident["validation_method"] = value

        step, kind = fixtures.scenario(user)
        if step != "identify":
            kind = None
        elif kind == "slow":
            self.slow(client)
        elif self.misbehave(kind):
            return
        else:
            fixtures.apply_identify_scenario(kind, ident)

        ascii_only = user in fixtures.ASCII_ONLY \
            or self.setting("ascii_json", client)
        body = dumps(fixtures.ordered(ident), ascii_only)
        if kind == "truncated":
            body = body[:len(body) // 2]
        elif kind == "nested":
            depth = int(self.setting("nested_depth", client))
            body = body[:-1] + ',"role_list":' + "[" * depth + "]" * depth \
                + "}"
        elif kind == "nested-deep":
            depth = fixtures.NESTED_DEEP
            body = body[:-1] + ',"role_list":' + '{"r":' * depth + "1" \
                + "}" * depth + "}"
        elif kind == "empty":
            body = ""
        elif kind == "array":
            body = "[" + body + "]"
        elif kind == "duplicate-pin":
            body = '{"pin":"%s",%s' % (fixtures.DUPLICATE_PIN, body[1:])
        ctype = JSON_TYPE if self.setting("charset", client) \
            else "application/json"
        self.send(200, body, ctype,
                  chunked=bool(self.setting("chunked", client)))

    def grant_logout(self, client, p):
        st = self.server.store
        token = p.get("access_token") or p.get("sess_id") or ""
        with st.lock:
            access = token if token in st.tokens else next(
                (k for k, v in st.tokens.items() if v["sess_id"] == token),
                None) if len(token) == 128 else None
            tok = st.tokens.get(access) if access else None
        if tok is not None and tok["client_id"] == client["client_id"]:
            self.note.append("mock_user=%s" % tok["user"])
            if fixtures.scenario(tok["user"]) == ("logout", "http-500"):
                return self.misbehave("http-500")
            with st.lock:
                # the token, and the SSO session with every token of it
                dead = {access}
                if tok["sso"] is not None:
                    st.sso.pop(tok["sso"], None)
                    dead.update(k for k, v in st.tokens.items()
                                if v["sso"] == tok["sso"])
                for k in dead:
                    gone = st.tokens.pop(k, None)
                    if gone is not None:
                        st.refresh.pop(gone["refresh"], None)
        self.send_json(200, {"ret_cd": "0"}, client)

    def grant_refresh(self, client, p):
        st = self.server.store
        with st.lock:
            access = st.refresh.pop(p.get("refresh_token", ""), None)
            tok = st.tokens.get(access) if access else None
            if tok is None or tok["client_id"] != client["client_id"]:
                tok = None
            else:
                del st.tokens[access]
        if tok is None:
            return self.token_not_found(client)
        self.send_json(200, self.issue_tokens(client, tok["user"], tok["sso"]),
                       client)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, logfile):
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.logfile = logfile
        self.log_lock = threading.Lock()
        super().__init__(address, handler)

    def log(self, line):
        if self.logfile is not None:
            with self.log_lock:
                self.logfile.write(line + "\n")
                self.logfile.flush()

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        self.log("%s %s connection error: %s: %s"
                 % (time.strftime("%Y-%m-%dT%H:%M:%S"), client_address[0],
                    type(e).__name__, e))


def load_config(path):
    """(clients by id, global settings from the file); raises ValueError."""
    with open(path, encoding="utf-8") as f:
        conf = json.load(f)
    file_settings = dict(conf.get("settings", {}))
    for key in ("code_ttl", "token_ttl"):
        if key in conf:
            file_settings[key] = conf[key]
    clients = {}
    for c in conf.get("clients", []):
        for key in ("client_id", "client_secret", "redirect_uris"):
            if key not in c:
                raise ValueError("a client has no %r" % key)
        c = dict(c)
        c.setdefault("scope", c["client_id"])
        per = dict(c.get("settings", {}))
        if c.get("strict"):
            per.setdefault("strict_scope", True)
            per.setdefault("strict_redirect_uri", True)
        for key in ("strict_scope", "strict_redirect_uri"):
            if key in c:
                per[key] = c[key]
        check_settings(per)
        c["settings"] = per
        c["fixtures"] = c.get("fixtures")
        for name in c["fixtures"] or ():
            if not fixtures.known(name):
                raise ValueError("client %s: unknown fixture %r"
                                 % (c["client_id"], name))
        clients[c["client_id"]] = c
    if not clients:
        raise ValueError("no clients")
    return clients, file_settings


def main():
    ap = argparse.ArgumentParser(
        description="Mock OneID (sso.egov.uz) for tests and the demo.")
    ap.add_argument("--listen", default="127.0.0.1:18443",
                    help="HOST:PORT ([::1]:PORT for IPv6)")
    ap.add_argument("--cert", help="server certificate (PEM)")
    ap.add_argument("--key", help="server key (PEM)")
    ap.add_argument("--config", required=True, help="clients.json")
    ap.add_argument("--log", help="append one line per request here")
    ap.add_argument("--pidfile")
    ap.add_argument("--plain", action="store_true",
                    help="plain HTTP, no TLS (debugging, the demo)")
    sw = ap.add_argument_group("switches (defaults: see README.md)")
    sw.add_argument("--slow-seconds", type=float, dest="slow_seconds",
                    help="delay of token-slow and identify-slow (3)")
    sw.add_argument("--code-ttl", type=float, dest="code_ttl")
    sw.add_argument("--token-ttl", type=float, dest="token_ttl")
    sw.add_argument("--errors-200", action="store_const", const=200,
                    dest="error_status",
                    help="token_not_found with HTTP 200 instead of 400")
    sw.add_argument("--expires-in", choices=CHOICES["expires_in"],
                    dest="expires_in")
    sw.add_argument("--methods-key", choices=CHOICES["methods_key"],
                    dest="methods_key")
    sw.add_argument("--no-charset", action="store_const", const=False,
                    dest="charset")
    sw.add_argument("--ascii-json", action="store_const", const=True,
                    dest="ascii_json")
    sw.add_argument("--identify-error", choices=CHOICES["identify_error"],
                    dest="identify_error")
    sw.add_argument("--rate-limit", type=int, dest="rate_limit",
                    help="back-channel requests per minute per client")
    sw.add_argument("--get-back-channel", choices=CHOICES["get_back_channel"],
                    dest="get_back_channel")
    sw.add_argument("--refresh", action="store_const", const=True,
                    dest="refresh", help="accept grant_type=refresh_token")
    sw.add_argument("--nested-depth", type=int, dest="nested_depth")
    sw.add_argument("--chunked", action="store_const", const=True,
                    dest="chunked",
                    help="identify answers chunked, without Content-Length")
    args = ap.parse_args()

    def die(msg):
        sys.stderr.write("mock_oneid: %s\n" % msg)
        sys.exit(2)

    try:
        clients, file_settings = load_config(args.config)
        settings = check_settings(file_settings)
        settings = check_settings(
            {k: getattr(args, k) for k in DEFAULT_SETTINGS
             if getattr(args, k, None) is not None}, settings)
    except (OSError, ValueError) as e:
        die("%s: %s" % (args.config, e))

    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        die("--listen wants HOST:PORT")

    ctx = None
    if not args.plain:
        if not args.cert or not args.key:
            die("--cert and --key are needed (or --plain)")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as e:
            die("cannot load %s / %s: %s" % (args.cert, args.key, e))

    try:
        logfile = open(args.log, "a", encoding="utf-8") if args.log else None
        server = Server((host, int(port)), Handler, logfile)
    except OSError as e:
        die("cannot listen on %s: %s" % (args.listen, e))
    server.clients = clients
    server.store = Store(settings)
    server.tls = ctx is not None
    if ctx is not None:
        # the handshake happens in the request thread, on first read
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)

    pid = str(os.getpid())
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(pid + "\n")
        os.replace(tmp, args.pidfile)

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("mock OneID listening on %s://%s\n"
                     % ("https" if ctx else "http", args.listen))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except SystemExit:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.server_close()
        if args.pidfile:
            try:
                with open(args.pidfile) as f:
                    mine = f.read().strip() == pid
                if mine:
                    os.unlink(args.pidfile)
            except OSError:
                pass
        if logfile is not None:
            logfile.close()


if __name__ == "__main__":
    main()
