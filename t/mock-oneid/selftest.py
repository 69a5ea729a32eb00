#!/usr/bin/env python3
"""Self-test of the mock OneID: starts a private instance and checks it.

  python3 t/mock-oneid/selftest.py [-v]

Generates a test CA with gen-certs.sh in a temporary directory, starts
mock_oneid.py on a free loopback port with HTTPS, talks to it as
"sso.egov.uz" (so the certificate's names are checked too) and runs through
the protocol, every fixture and the robustness cases.  Touches no shared
state: the suite's own mock and its ports are left alone.  Exit status 0
when everything passed.
"""

import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402

PATH = "/sso/oauth/Authorization.do"
SECRET = "dm3d+S3cr/et=&x=="
REDIRECT = "http://127.0.0.1:1984/oneid/callback"
VERBOSE = "-v" in sys.argv
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("not ok - " + what)
    elif VERBOSE:
        print("ok - " + what)


class Client:
    def __init__(self, port, cafile):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=cafile)

    def request(self, method, target, body=None, headers=None, raw=None):
        """(status, headers dict lowercased, body bytes)."""
        if raw is not None:     # bytes straight onto the TLS connection
            s = self.ctx.wrap_socket(
                socket.create_connection(("127.0.0.1", self.port), 5),
                server_hostname="sso.egov.uz")
            s.sendall(raw)
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                pass
            s.close()
            m = re.match(rb"HTTP/1\.[01] (\d+)", data)
            return int(m.group(1)) if m else None, {}, data
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=self.ctx, timeout=15)
        # http.client takes the SNI/verification name from host: connect
        # by IP but verify the name sso.egov.uz
        conn.host = "sso.egov.uz"
        conn._create_connection = lambda addr, *a, **k: \
            socket.create_connection(("127.0.0.1", self.port), *a, **k)
        h = dict(headers or {})
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, target, body=body, headers=h)
        res = conn.getresponse()
        data = res.read()
        hdrs = {k.lower(): v for k, v in res.getheaders()}
        conn.close()
        return res.status, hdrs, data

    def get(self, target, headers=None):
        return self.request("GET", target, headers=headers)

    def post(self, params, query="", headers=None):
        return self.request("POST", PATH + query, body=params, headers=headers)

    # protocol steps

    def authorize(self, user, state="st", client_id="dmed", extra=None):
        q = {"response_type": "one_code", "client_id": client_id,
             "redirect_uri": REDIRECT, "scope": client_id, "state": state}
        if user is not None:
            q["mock_user"] = user
        q.update(extra or {})
        return self.get(PATH + "?" + urllib.parse.urlencode(q))

    def code(self, user, client_id="dmed"):
        status, h, _ = self.authorize(user, client_id=client_id)
        assert status == 302, (user, status)
        return urllib.parse.parse_qs(
            urllib.parse.urlsplit(h["location"]).query)["code"][0]

    def token(self, code, secret=SECRET, client_id="dmed", **extra):
        p = {"grant_type": "one_authorization_code", "client_id": client_id,
             "client_secret": secret, "code": code,
             "redirect_uri": REDIRECT}
        p.update(extra)
        return self.post(p)

    def access_token(self, user, client_id="dmed", secret=SECRET):
        status, _, body = self.token(self.code(user, client_id), secret,
                                     client_id)
        assert status == 200, (user, status, body)
        return json.loads(body)["access_token"]

    def identify(self, token, client_id="dmed", secret=SECRET, scope=None):
        return self.post({"grant_type": "one_access_token_identify",
                          "client_id": client_id, "client_secret": secret,
                          "access_token": token,
                          "scope": scope or client_id})

    def logout(self, token, client_id="dmed", secret=SECRET):
        return self.post({"grant_type": "one_log_out",
                          "client_id": client_id, "client_secret": secret,
                          "access_token": token, "scope": client_id})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pin_ok(ident):
    """14 digits, digits 2-7 = DDMMYY of birth_date (when there is one)."""
    pin = ident.get("pin")
    if not (isinstance(pin, str) and re.fullmatch(r"\d{14}", pin)):
        return False
    bd = re.sub(r"\D", "", ident.get("birth_date") or "")
    return not bd or pin[1:7] == bd[6:8] + bd[4:6] + bd[2:4]


def main():
    tmp = tempfile.mkdtemp(prefix="mock-oneid-selftest.")
    subprocess.run([os.path.join(HERE, "gen-certs.sh"), tmp], check=True,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    log = os.path.join(tmp, "mock.log")
    pidfile = os.path.join(tmp, "mock.pid")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "mock_oneid.py"),
         "--listen", "127.0.0.1:%d" % port,
         "--cert", os.path.join(tmp, "server.crt"),
         "--key", os.path.join(tmp, "server.key"),
         "--config", os.path.join(HERE, "clients.json"),
         "--log", log, "--pidfile", pidfile, "--slow-seconds", "0.3"],
        stderr=subprocess.PIPE)
    first = proc.stderr.readline().decode()
    check(first.startswith("mock OneID listening on https://"),
          "start-up line: %r" % first)
    c = Client(port, os.path.join(tmp, "ca.crt"))
    try:
        run(c)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        rest = proc.stderr.read().decode()
        check(rc == 0, "SIGTERM: exit status 0 (%s)" % rc)
        check(rest == "", "nothing else on stderr: %r" % rest[:300])
        check(not os.path.exists(pidfile), "pidfile removed")
        with open(log) as f:
            lines = f.read().splitlines()
        check(len(lines) > 50, "request log written (%d lines)" % len(lines))
        check(not any("dm3d" in l for l in lines), "secret never logged")
    print("%s: %d failure(s)" % ("FAIL" if failures else "PASS",
                                 len(failures)))
    return 1 if failures else 0


def run(c):
    j = json.loads

    # --- control endpoints
    check(c.get("/__mock/health")[2] == b"ok\n", "health")
    check(c.request("POST", "/__mock/reset")[0] == 200, "reset")
    check(c.get("/nope")[0] == 404, "other paths: 404")
    check(c.get("/sso/oauth/authorization.do")[0] == 404,
          "path is case-sensitive")

    # --- the whole flow
    status, h, _ = c.authorize("doctor", state="a+b/c=d e")
    loc = h.get("location", "")
    check(status == 302, "authorize: 302")
    check(re.fullmatch(re.escape(REDIRECT) + r"\?code=[0-9a-f-]{36}"
                       r"&state=a%2Bb%2Fc%3Dd%20e", loc),
          "authorize: code first, state percent-encoded: " + loc)
    code = re.search(r"code=([^&]+)", loc).group(1)
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]"
                       r"{3}-[0-9a-f]{12}", code), "code: lowercase UUID")

    status, h, body = c.token(code)
    check(status == 200, "token: 200")
    check(h.get("content-type") == "application/json;charset=UTF-8",
          "token: Content-Type")
    tok = j(body)
    check(list(tok) == ["scope", "expires_in", "token_type", "refresh_token",
                        "access_token"], "token: key order")
    check(tok["scope"] == "dmed" and tok["token_type"] == "Bearer",
          "token: scope, token_type")
    check(isinstance(tok["expires_in"], int) and abs(
        tok["expires_in"] - (time.time() + 3600) * 1000) < 60000,
        "token: expires_in absolute epoch ms")
    at = tok["access_token"]

    status, _, body = c.token(code)
    check(status == 400 and j(body) == {
        "error": "token_not_found", "error_description": "Token Not Found"},
        "code reuse: 400 token_not_found")
    check(c.token("f" * 8 + "-0000-4000-8000-" + "0" * 12)[0] == 400,
          "unknown code: 400")

    status, _, body = c.identify(at)
    ident = j(body)
    check(status == 200 and ident["pin"] == "41203870000017",
          "identify: doctor")
    check(ident["sess_id"] == at, "identify: sess_id is the access token")
    check(ident["valid"] == "true" and ident["ret_cd"] == "0",
          "identify: strings")
    check("\u2018" in ident["mid_name"] and ident["mid_name"].endswith("QIZI"),
          "identify: U+2018, QIZI")
    check(b"\\u" not in body, "identify: raw UTF-8, no escapes")
    check(c.identify(at)[0] == 200, "identify: repeatable")

    check(c.logout(at)[2] == b'{"ret_cd":"0"}', "logout: ret_cd 0")
    check(c.logout(at)[0] == 200, "logout: idempotent")
    check(c.logout("nonsense")[0] == 200, "logout: unknown token 200")
    status, _, body = c.identify(at)
    check(status == 400 and j(body)["error"] == "token_not_found",
          "identify after logout: 400 token_not_found")

    # --- client authentication
    code = c.code("doctor")
    status, _, body = c.token(code, secret="dm3d S3cr/et=&x==")
    check(status == 401 and j(body) == {
        "error": "invalid_client",
        "error_description": "Client authentication failed"},
        "secret with + decoded as space: 401 invalid_client")
    status, _, body = c.request(
        "POST", PATH, body="grant_type=one_authorization_code&client_id=dmed"
        "&client_secret=dm3d+S3cr/et=&x==&code=" + c.code("doctor"),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(status == 401, "secret not percent-encoded: 401")
    check(c.token(c.code("doctor"), secret=SECRET, client_id="nobody")[0]
          == 401, "unknown client: 401")
    check(c.post({"client_id": "dmed", "client_secret": SECRET})[0] == 400,
          "no grant_type: 400")
    status, _, body = c.post({"grant_type": "password", "client_id": "dmed",
                              "client_secret": SECRET})
    check(status == 400 and j(body)["error"] == "unsupported_grant_type",
          "unknown grant_type: 400 unsupported_grant_type")
    status, h, _ = c.get(PATH + "?grant_type=one_log_out&client_id=dmed")
    check(status == 405 and h.get("allow") == "POST",
          "GET with grant_type: 405")

    # --- query string and body
    code = c.code("citizen-basic")
    q = "?" + urllib.parse.urlencode({
        "grant_type": "one_authorization_code", "client_id": "dmed",
        "client_secret": SECRET, "code": code})
    status, _, _ = c.post({"client_secret": "wrong", "code": "bogus"}, q)
    check(status == 200, "query string wins over the form body")
    status, _, _ = c.request("POST", PATH + q.replace(code, c.code("doctor")))
    check(status == 200, "query-string POST with an empty body")
    code = c.code("doctor")
    status, _, _ = c.post({"client_secret": SECRET, "code": code},
                          "?grant_type=one_authorization_code&client_id=dmed"
                          "&client_secret=wrong")
    check(status == 401, "wrong secret in the query beats a right one in "
                         "the body")
    code = c.code("doctor")
    status, _, _ = c.request(
        "POST", PATH, body=urllib.parse.urlencode({
            "grant_type": "one_authorization_code", "client_id": "dmed",
            "client_secret": SECRET, "code": code}),
        headers={"Content-Type": "text/plain"})
    check(status == 401, "body without a form Content-Type is ignored")
    status, _, _ = c.request(
        "POST", PATH, body=urllib.parse.urlencode({
            "grant_type": "one_authorization_code", "client_id": "dmed",
            "client_secret": SECRET, "code": code}),
        headers={"Content-Type":
                 "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
                 "Authorization": "Bearer xyz", "Accept": "text/html"})
    check(status == 200, "form Content-Type with charset, extra headers")

    recs = j(c.get("/__mock/requests?grant_type=one_authorization_code")[2])
    last = recs[-1]
    check(last["params"]["client_secret"] == SECRET
          and last["params"]["code"] == code, "record: merged params")
    check(last["method"] == "POST" and last["query"] == ""
          and "client_secret=dm3d%2BS3cr%2Fet%3D%26x%3D%3D" in last["body"],
          "record: method, query, raw body")
    check(last["headers"].get("Authorization") == ["Bearer xyz"],
          "record: headers as lists")
    check(last["status"] == 200, "record: status")
    check(all(r["params"].get("grant_type") == "one_authorization_code"
              for r in recs), "records filtered by grant_type")
    since = j(c.get("/__mock/requests?since=%d" % last["id"])[2])
    check(all(r["id"] > last["id"] for r in since), "records ?since=")
    check(any(r["method"] == "GET" and r["status"] == 405
              for r in j(c.get("/__mock/requests?grant_type=one_log_out")[2])),
          "GET with grant_type recorded")

    # --- front channel
    def front(q):
        return c.get(PATH + "?" + q)

    base = "response_type=one_code&client_id=dmed&redirect_uri=" + \
        urllib.parse.quote(REDIRECT, safe="")
    for q, what in (
            (base.replace("one_code", "code") + "&mock_user=doctor",
             "response_type code"),
            (base.replace("client_id=dmed", "client_id=x") +
             "&mock_user=doctor", "unknown client"),
            (base + "%2F&mock_user=doctor", "redirect_uri with a slash more"),
            (base.replace("127.0.0.1", "localhost") + "x&mock_user=doctor",
             "unregistered redirect_uri"),
            ("response_type=one_code&client_id=dmed&mock_user=doctor",
             "no redirect_uri")):
        status, h, body = front(q)
        check(status == 400 and "location" not in h
              and body.startswith(b"<!DOCTYPE html>"),
              "authorize, %s: 400 page, no redirect" % what)
    check(front(base + "&mock_user=doctor")[0] == 302, "no scope: fine")
    check(front(base + "&Scope=DMED&mock_user=doctor")[0] == 302,
          "Scope: fine")
    status, h, _ = front(base + "&mock_user=doctor")
    check("state" not in h["location"], "no state: none sent back")
    status, h, _ = front(base.replace("callback", "callback%3Fa%3D1") +
                         "&mock_user=doctor")
    check(status == 400, "redirect_uri with a query: not registered")
    status, h, _ = front(base + "&state=%FF%00x&mock_user=doctor")
    check(h["location"].endswith("&state=%FF%00x"), "state byte-exact")
    status, h, _ = front(base + "&state=" + "Ab+/="*60 + "&mock_user=doctor")
    check(status == 302 and len(h["location"]) > 300, "300-char state")

    status, h, body = front(base + "&state=s&mock_user=abandon")
    check(status == 200 and "location" not in h and b"waiting" in body,
          "abandon: waiting page")
    status, h, _ = front(base + "&state=s&mock_user=no-code")
    check(h.get("location") == REDIRECT + "?state=s", "no-code")
    status, h, _ = front(base + "&state=s&mock_user=error")
    check(h.get("location") == REDIRECT + "?error=access_denied&state=s",
          "error")

    status, _, body = front(base + "&state=s")
    names = re.findall(rb"mock_user=([\w-]+)", body)
    check(status == 200 and b"choose a test user" in body, "picker page")
    check({n.decode() for n in names} == set(fixtures.USERS) |
          set(fixtures.SCENARIOS) | set(fixtures.FRONT_SCENARIOS),
          "picker lists every fixture")
    check(b"state=s&amp;mock_user=doctor" in body, "picker keeps the query")
    status, _, body = front(base + "&state=s&mock_user=nobody")
    check(status == 400 and b"Unknown test user" in body, "unknown user")

    status, h, _ = front(base + "&state=s", )
    status, h, _ = c.get(PATH + "?" + base + "&state=c",
                         {"Cookie": "mock_user=citizen-eds"})
    at = c.token(re.search(r"code=([^&]+)", h["location"]).group(1))
    check(j(c.identify(j(at[2])["access_token"])[2])["pin"] ==
          "30201850000022", "mock_user cookie")

    # SSO session: the next authorize needs no mock_user, logout ends it
    status, h, _ = front(base + "&state=s&mock_user=legal-rep")
    sso = re.match(r"mock_sso=([^;]+)", h["set-cookie"]).group(1)
    check("HttpOnly" in h["set-cookie"] and "Secure" in h["set-cookie"],
          "SSO cookie set")
    status, h, _ = c.get(PATH + "?" + base + "&state=s",
                         {"Cookie": "mock_sso=" + sso})
    check(status == 302, "SSO session: signed in without a choice")
    at = j(c.token(re.search(r"code=([^&]+)", h["location"]).group(1))[2])[
        "access_token"]
    check(j(c.identify(at)[2])["user_type"] == "L", "SSO session: same user")
    c.logout(at)
    status, h, _ = c.get(PATH + "?" + base + "&state=s",
                         {"Cookie": "mock_sso=" + sso})
    check(status == 200, "after one_log_out the SSO session is over")

    # --- strict client
    status, h, _ = c.authorize("doctor", client_id="dmed-strict",
                               extra={"scope": "dmed"})
    check(status == 400, "strict: authorize with a wrong scope: 400")
    code = c.code("doctor", "dmed-strict")
    check(c.token(code, "strict-secret-0123456789", "dmed-strict",
                  redirect_uri=REDIRECT + "x")[0] == 400,
          "strict: token with another redirect_uri: 400")
    at = c.access_token("doctor", "dmed-strict", "strict-secret-0123456789")
    status, _, body = c.identify(at, "dmed-strict",
                                 "strict-secret-0123456789", scope="dmed")
    check(status == 400 and j(body)["error"] == "invalid_scope",
          "strict: identify with a wrong scope: 400 invalid_scope")
    check(c.identify(at, "dmed-strict", "strict-secret-0123456789")[0] == 200,
          "strict: identify with the scope: 200")
    check(c.identify(at)[0] == 400, "token of another client: 400")
    code = c.code("doctor", "dmed-strict")
    check(c.token(code)[0] == 400, "code of another client: 400")

    # --- people
    for user, (_, data) in fixtures.USERS.items():
        at = c.access_token(user)
        status, _, body = c.identify(at)
        ident = j(body)
        check(status == 200, "%s: 200" % user)
        check(pin_ok(ident), "%s: pin matches birth_date" % user)
        scalars = [v for k, v in ident.items()
                   if k not in ("legal_info", "valid_methods")]
        check(all(v is None or isinstance(v, str) for v in scalars),
              "%s: every scalar a string" % user)
        for e in ident.get("legal_info") or []:
            check(isinstance(e["is_basic"], bool), "%s: is_basic bool" % user)
        check(("pkcs_legal_tin" in ident) ==
              (ident.get("auth_method") == "LEPKCSMETHOD"),
              "%s: pkcs_legal_tin only for LEPKCSMETHOD" % user)
        if user == "legacy-formats":
            check(b"O\\u2018RINOV" in body, "legacy-formats: \\u2018 escapes")
            check(re.fullmatch(r"[0-9a-f]{128}", ident["sess_id"]),
                  "legacy-formats: 128-hex sess_id")
            check(c.logout(ident["sess_id"])[0] == 200
                  and c.identify(at)[0] == 400,
                  "legacy-formats: logout by sess_id")
        else:
            check(ident["sess_id"] == at, "%s: sess_id" % user)
    ident = j(c.identify(c.access_token("sparse"))[2])
    check(ident.get("mid_name", 1) is None and ident.get("email") == ""
          and "user_type" not in ident, "sparse: null, \"\", absent")

    # --- back-channel scenarios
    def token_step(user):
        return c.token(c.code(user))

    def identify_step(user):
        return c.identify(c.access_token(user))

    s, h, b = token_step("token-500")
    check(s == 500 and h["content-type"].startswith("text/html"), "token-500")
    s, h, b = token_step("token-html")
    check(s == 200 and h["content-type"].startswith("text/html"),
          "token-html")
    t0 = time.time()
    s, h, b = token_step("token-slow")
    check(s == 200 and time.time() - t0 >= 0.3, "token-slow")
    s, h, b = token_step("token-not-found")
    check(s == 400 and j(b)["error"] == "token_not_found", "token-not-found")
    s, h, b = token_step("token-no-access-token")
    check(s == 200 and "access_token" not in j(b) and "scope" in j(b),
          "token-no-access-token")
    s, h, b = token_step("token-429")
    check(s == 429 and h.get("retry-after") == "60", "token-429")

    s, h, b = identify_step("identify-500")
    check(s == 500, "identify-500")
    s, h, b = identify_step("identify-html")
    check(s == 200 and b.lstrip().startswith(b"<"), "identify-html")
    s, h, b = identify_step("identify-truncated")
    try:
        j(b)
        bad = False
    except ValueError:
        bad = True
    check(s == 200 and bad and b.startswith(b'{"valid"'),
          "identify-truncated")
    s, h, b = identify_step("identify-huge")
    check(s == 200 and 64 * 1024 <= len(b) < 70 * 1024 and j(b)["pin"],
          "identify-huge: %d bytes" % len(b))
    t0 = time.time()
    s, h, b = identify_step("identify-slow")
    check(s == 200 and time.time() - t0 >= 0.3, "identify-slow")
    s, h, b = identify_step("identify-429")
    check(s == 429 and h.get("retry-after") == "60", "identify-429")
    ident = j(identify_step("identify-ret-cd")[2])
    check(ident["ret_cd"] == "1" and ident["pin"], "identify-ret-cd")
    check(j(identify_step("identify-bad-pin")[2])["pin"] == "12345",
          "identify-bad-pin")
    check("pin" not in j(identify_step("identify-no-pin")[2]),
          "identify-no-pin")
    check(isinstance(j(identify_step("identify-pin-number")[2])["pin"], int),
          "identify-pin-number")
    check(isinstance(j(identify_step("identify-legal-object")[2])[
        "legal_info"], dict), "identify-legal-object")
    ident = j(identify_step("identify-null-fields")[2])
    check(ident["pin"] and ident["full_name"] is None
          and ident["legal_info"] is None, "identify-null-fields")
    ident = j(identify_step("identify-crlf")[2])
    check("\r\nX-Injected: 1" in ident["full_name"], "identify-crlf")
    s, h, b = identify_step("identify-nested")
    check(s == 200 and b.count(b"[") >= 5000 and len(b) < 16384,
          "identify-nested: deep and under 16 KB (%d bytes)" % len(b))
    sys.setrecursionlimit(20000)
    check(j(b)["pin"], "identify-nested: valid JSON")

    s, h, b = token_step("token-503")
    check(s == 503 and b == b"" and h.get("retry-after") == "120",
          "token-503")
    s, h, b = token_step("token-truncated")
    check(s == 200 and b.startswith(b'{"scope"') and b"}" not in b,
          "token-truncated")
    s, h, b = token_step("token-number")
    check(s == 200 and isinstance(j(b)["access_token"], int), "token-number")
    s, h, b = token_step("token-array")
    check(s == 200 and isinstance(j(b), list) and j(b)[0]["access_token"],
          "token-array")
    s, h, b = identify_step("identify-502")
    check(s == 502 and b"502 Bad Gateway" in b, "identify-502")
    s, h, b = identify_step("identify-empty")
    check(s == 200 and b == b"" and h["content-type"].startswith(
        "application/json"), "identify-empty")
    s, h, b = identify_step("identify-array")
    check(s == 200 and j(b)[0]["pin"] == "31505900000011", "identify-array")
    s, h, b = identify_step("identify-duplicate-pin")
    check(s == 200 and b.count(b'"pin":') == 2
          and b.startswith(b'{"pin":"%s"' % fixtures.DUPLICATE_PIN.encode())
          and j(b)["pin"] == "31505900000011", "identify-duplicate-pin")
    check(isinstance(j(identify_step("identify-name-object")[2])[
        "full_name"], dict), "identify-name-object")
    check(isinstance(j(identify_step("identify-legal-tin-number")[2])[
        "legal_info"][0]["tin"], int), "identify-legal-tin-number")
    s, h, b = identify_step("identify-nested-deep")
    check(s == 200 and b.count(b'{"r":') == fixtures.NESTED_DEEP
          and 16384 < len(b) < 128 * 1024,
          "identify-nested-deep: 10000 deep, 16k..128k (%d bytes)" % len(b))
    check(j(b)["pin"], "identify-nested-deep: valid JSON")
    s, h, b = identify_step("identify-giant")
    check(s == 200 and 1024 * 1024 <= len(b) < 1100 * 1024 and j(b)["pin"],
          "identify-giant: %d bytes" % len(b))
    s, h, b = identify_step("identify-inject")
    ident = j(b)
    check(s == 200 and "\r\n" in ident["user_id"]
          and "\x00" in ident["sur_name"] and "\x7f" in ident["sur_name"]
          and len(ident["full_name"].encode()) > 1024
          and ident["legal_info"][0]["is_basic"] is True, "identify-inject")

    for name, low, high in (("identify-legal-3k", 3072, 3500),
                            ("identify-legal-20k", 20480, 21000),
                            ("identify-legal-60k", 61440, 62000),
                            ("identify-legal-1m", 1048576, 1048576),
                            ("identify-legal-1m-plus", 1048577, 1048577)):
        s, h, b = identify_step(name)
        ident = j(b)
        li = ident["legal_info"]
        check(s == 200 and low <= len(b) <= high
              and int(h["content-length"]) == len(b)
              and ident["user_type"] == "L" and len(li) > 1
              and li[-1]["is_basic"] is True
              and li[-1]["tin"] == ident["pkcs_legal_tin"]
              and not any(e["is_basic"] for e in li[:-1]),
              "%s: %d bytes, %d organisations" % (name, len(b), len(li)))
    at = c.access_token("identify-legal-20k", "dmed-chunked",
                        "chunked-secret-0123456789")
    s, h, b = c.identify(at, "dmed-chunked", "chunked-secret-0123456789")
    check(s == 200 and h.get("transfer-encoding") == "chunked"
          and "content-length" not in h and len(b) >= 20480
          and j(b)["legal_info"][-1]["is_basic"] is True,
          "dmed-chunked: identify chunked, no Content-Length")

    at = c.access_token("logout-500")
    check(c.identify(at)[0] == 200, "logout-500: identify fine")
    check(c.logout(at)[0] == 500, "logout-500: one_log_out 500")

    # --- codes expire, reset forgets
    code = c.code("doctor")
    c.request("POST", "/__mock/reset")
    check(j(c.get("/__mock/requests")[2]) == [], "reset forgets requests")
    check(c.token(code)[0] == 400, "reset forgets codes")

    # --- switches at run time
    status, _, body = c.request("POST", "/__mock/settings",
                                body='{"error_status": 200, '
                                     '"expires_in": "seconds", '
                                     '"methods_key": "validation_method", '
                                     '"charset": false, "code_ttl": 0}')
    check(status == 200 and j(body)["error_status"] == 200, "settings")
    check(c.request("POST", "/__mock/settings", body='{"x": 1}')[0] == 400,
          "unknown setting: 400")
    s, h, b = c.token("nope")
    check(s == 200 and j(b)["error"] == "token_not_found"
          and h["content-type"] == "application/json", "errors-200, charset")
    code = c.code("doctor")
    time.sleep(0.05)
    check(c.token(code)[0] == 200 and j(c.token(code)[2])["error"],
          "code_ttl 0: expired")
    c.request("POST", "/__mock/settings", body='{"code_ttl": 120}')
    tok = j(c.token(c.code("citizen-eds"))[2])
    check(tok["expires_in"] == 3600, "expires_in in seconds")
    ident = j(c.identify(tok["access_token"])[2])
    check("validation_method" in ident and "valid_methods" not in ident,
          "validation_method")
    c.request("POST", "/__mock/settings",
              body='{"identify_error": "ret_cd", "refresh": true, '
                   '"get_back_channel": "accept", "rate_limit": 3}')
    check(c.identify("nope")[2] == b'{"ret_cd":"1"}', "identify_error ret_cd")
    s, _, b = c.get(PATH + "?" + urllib.parse.urlencode({
        "grant_type": "refresh_token", "client_id": "dmed",
        "client_secret": SECRET, "refresh_token": tok["refresh_token"]}))
    check(s == 200 and j(b)["access_token"] != tok["access_token"],
          "refresh by GET (lenient)")
    statuses = [c.logout("x")[0] for _ in range(3)]
    check(statuses[-1] == 429, "rate limit: 429 (%s)" % statuses)
    c.request("POST", "/__mock/reset")
    check(j(c.get("/__mock/settings")[2])["rate_limit"] == 0,
          "reset restores the settings")

    # --- robustness
    s, _, _ = c.request("POST", PATH, body="x" * (64 * 1024 + 1),
                        headers={"Content-Type":
                                 "application/x-www-form-urlencoded"})
    check(s == 413, "body over 64 KB: 413")
    s, _, _ = c.request("POST", PATH, body="x" * (2 * 1024 * 1024),
                        headers={"Content-Type":
                                 "application/x-www-form-urlencoded"})
    check(s == 413, "2 MB body: 413")
    s, _, d = c.request(None, None, raw=(
        b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 99999999\r\nExpect: 100-continue\r\n\r\n"))
    check(s == 413, "Expect: 100-continue with a huge length: 413")
    s, _, _ = c.request(None, None, raw=(
        b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: abc\r\n\r\n"))
    check(s == 400, "bad Content-Length: 400")
    s, _, d = c.request(None, None, raw=(
        b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        b"b\r\nclient_id=d\r\n3\r\nmed\r\n0\r\n\r\n"))
    check(s == 401, "chunked body parsed")
    recs = j(c.get("/__mock/requests")[2])
    check(recs[-1]["params"].get("client_id") == "dmed", "chunked: params")
    s, _, _ = c.request("POST", PATH, body=b"client_id=\xff\xfe%ff&%zz=%&&=",
                        headers={"Content-Type":
                                 "application/x-www-form-urlencoded"})
    check(s == 401, "non-UTF-8 and malformed form body: 401, no crash")
    s, _, _ = c.request(None, None, raw=(
        b"GET " + PATH.encode() + b"?%%%&&=&\xff=\xfe;;&client_id=%C0 "
        b"HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    check(s == 400, "malformed query: 400")
    s, _, d = c.request(None, None, raw=b"GET /" + b"a" * 70000 +
                        b" HTTP/1.1\r\n\r\n")
    check(s == 414, "huge request line: 414")
    s, _, d = c.request(None, None, raw=b"\x16\x03garbage\r\n\r\n")
    check(b"400" in d, "garbage request: 400 (an HTTP/0.9-style answer)")
    s, _, d = c.request(None, None, raw=b"GET / HTTP/1.1\r\n" + b"".join(
        b"X-A%d: 1\r\n" % i for i in range(120)) + b"\r\n")
    check(s == 431, "too many headers: 431")
    # plain HTTP on the TLS port, then a dropped connection
    sock = socket.create_connection(("127.0.0.1", c.port), 5)
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    sock.recv(100)
    sock.close()
    sock = socket.create_connection(("127.0.0.1", c.port), 5)
    sock.close()
    s = c.request("DELETE", PATH)[0]
    check(s == 405, "DELETE: 405")
    check(c.get("/__mock/health")[0] == 200, "still alive")


if __name__ == "__main__":
    sys.exit(main())
