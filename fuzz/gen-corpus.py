#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<harness>/ (small, realistic inputs).

The OneID answers come from the mock OneID's fixtures (t/mock-oneid),
every person there is made up.  Run it again after changing it; the
files are committed, so make fuzz does not need it.  File names are the
first 16 hex digits of the content's SHA-1, plus a hint.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "t", "mock-oneid"))

import fixtures  # noqa: E402

TOKEN = "q0D8o3yVv1jzJ7mB0wS4xR5tY6uI7oP8aS9dF0gH1jK"       # 43 base64url
STATE = "Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV4cXV1eHF1dXg"
UUID = "a3eed750-0c4c-4a4e-9b8e-1c2d3e4f5a6b"


def write(harness, hint, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16] + "-" + hint
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def js(obj, ascii_only=False):
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":"))


def idp():
    people = {
        "doctor": fixtures.DOCTOR,
        "citizen-basic": fixtures.CITIZEN_BASIC,
        "citizen-eds": fixtures.CITIZEN_EDS,
        "legal-rep": fixtures.LEGAL_REP,
        "sparse": fixtures.SPARSE,
    }
    for name, person in people.items():
        p = dict(person, sess_id=UUID)
        write("idp", name, js(p))
    write("idp", "legacy-escaped",
          js(dict(fixtures.LEGACY_FORMATS, sess_id="ab" * 64), True))
    write("idp", "doctor-pretty",
          json.dumps(fixtures.DOCTOR, ensure_ascii=False, indent=2))

    base = dict(fixtures.CITIZEN_BASIC, sess_id=UUID)

    def variant(hint, **changes):
        p = dict(base)
        for k, v in changes.items():
            if v is KeyError:
                p.pop(k, None)
            else:
                p[k] = v
        write("idp", hint, js(p))

    variant("ret-cd-1", ret_cd="1")
    variant("ret-cd-int0", ret_cd=0)
    variant("ret-cd-int1", ret_cd=1)
    variant("ret-cd-null", ret_cd=None)
    variant("no-ret-cd", ret_cd=KeyError)
    variant("bad-pin", pin="12345")
    variant("pin-15", pin="315059000000111")
    variant("pin-letters", pin="3150590000001A")
    variant("pin-number", pin=31505900000011)
    variant("pin-null", pin=None)
    variant("no-pin", pin=KeyError)
    variant("pin-nul", pin="3150590000001\u00001")
    variant("pin-space", pin=" 31505900000011")
    variant("legal-object", legal_info={"is_basic": True, "tin": "1"})
    variant("legal-string", legal_info="[]")
    variant("legal-basic-string",
            legal_info=[{"is_basic": "true", "le_tin": "301234567",
                         "le_name": "\"NAMUNA\" MChJ"}])
    variant("legal-tin-number",
            legal_info=[{"is_basic": True, "tin": 301234567}])
    variant("legal-not-object", legal_info=[1, "x", None, [],
                                            {"is_basic": True}])
    variant("pkcs-legal-tin", pkcs_legal_tin="301234567",
            auth_method="LEPKCSMETHOD")
    variant("name-object", full_name={"uz": "OLIM", "ru": "ОЛИМ"})
    variant("name-array", full_name=["OLIM"])
    variant("name-bool", first_name=True)
    variant("name-number", sur_name=1.5e300)
    variant("all-null", user_id=None, full_name=None, first_name=None,
            sur_name=None, mid_name=None, user_type=None, auth_method=None)
    variant("crlf",
            full_name="TOSHPO\u2018LATOV\r\nX-Injected: 1\r\n OLIM",
            first_name="OLIM\u0000NUL", mid_name="\t\u001b[31m\u007f")
    variant("controls-only", full_name="\r\n\u0000\u0001\u001f\u007f")
    variant("u2028", full_name="A\u2028B\u0085C\ufeffD")
    long_name = "A" * 1023 + "\u2018" + "B" * 20
    variant("cap-in-utf8", full_name=long_name)
    variant("cap-4byte", full_name="\U0001F600" * 300)
    variant("cap-controls", full_name="\u0001" * 1100 + "TAIL")
    variant("big-per-adr", per_adr="Ж" * 4000)

    write("idp", "nested-arrays",
          '{"pin":"31505900000011","role_list":' + "[" * 3000
          + "]" * 3000 + "}")
    write("idp", "nested-objects",
          '{"pin":"31505900000011","x":' + '{"a":' * 200 + "1"
          + "}" * 200 + "}")
    write("idp", "duplicate-pin",
          '{"pin":"41203870000017","pin":"31505900000011","ret_cd":"0"}')
    write("idp", "array", "[" + js(base) + "]")
    write("idp", "truncated", js(base)[:200])
    write("idp", "empty", "")
    write("idp", "html",
          "<html><head><title>502 Bad Gateway</title></head><body>"
          "<center><h1>502 Bad Gateway</h1></center></body></html>\r\n")
    write("idp", "raw-nul", b'{"pin":"31505900000011","full_name":"A\x00B"}')
    write("idp", "bad-utf8", b'{"pin":"31505900000011","full_name":"\xc0\xaf"}')
    write("idp", "lone-surrogate",
          '{"pin":"31505900000011","full_name":"\\ud800x"}')

    # token answers
    write("idp", "token", js({"scope": "dmed_uz", "expires_in": 1768123120604,
                              "token_type": "Bearer",
                              "refresh_token": UUID,
                              "access_token": UUID}))
    write("idp", "token-number", '{"access_token":12345}')
    write("idp", "token-empty", '{"access_token":""}')
    write("idp", "token-long", js({"access_token": "t" * 600}))
    write("idp", "token-crlf", js({"access_token": UUID + "\r\nX: 1"}))
    write("idp", "token-error", js({"error": "token_not_found",
                                    "error_description": "Token Not Found"}))
    write("idp", "token-error-crlf", js({"error": "bad\r\nline"}))


def cookie():
    hdrs = [
        "oneid_session\n_ga=GA1.2.1234567890.1700000000; oneid_session="
        + TOKEN + "; csrftoken=Xy7",
        "oneid_session\noneid_session_state=" + STATE + "\noneid_session="
        + TOKEN,
        "oneid_session\noneid_session=" + TOKEN,
        "oneid_session\nlang=uz;oneid_session=" + TOKEN + ";theme=dark",
        "oneid_session\n  oneid_session=" + TOKEN + " \t; a=1",
        "oneid_session\noneid_session=first; oneid_session=second",
        "oneid_session\noneid_session =x; oneid_sessionX=1; xoneid_session=2",
        "oneid_session\n;;; ;\t;",
        "oneid_session\n",
        "oneid_session\n\noneid_session=" + TOKEN + "\n",
        "oneid_session\noneid_session=\"quoted\"; PHPSESSID=abc",
        "oneid_session\noneid_session=; a=",
        "oneid_session\na=1; oneid_session_state=" + STATE,
        "sid\nsid=1;sid=2;sid=3",
        "\n=bare; x=1",
        "my-app_sso\nmy-app_sso=" + TOKEN + "; my-app_sso_state=" + STATE,
    ]
    for i, h in enumerate(hdrs):
        write("cookie", "h%d" % i, h)


def headers():
    ident = [
        "31505900000011", "olim.toshpo\u2018latov",
        "TOSHPO\u2018LATOV OLIM G\u2018OFUR O\u2018G\u2018LI", "OLIM",
        "TOSHPO\u2018LATOV", "G\u2018OFUR O\u2018G\u2018LI", "I",
        "LOGINPASSMETHOD", "301234567", "\"NAMUNA KLINIKA\" MChJ",
    ]
    client = [
        "Host: app.example.uz",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
        "Accept: text/html,application/xhtml+xml,*/*;q=0.8",
        "Cookie: _ga=GA1.2.1; oneid_session=" + TOKEN,
        "X-OneID-Pin: 99999999999999",
        "x_oneid_user_id: admin",
        "X-ONEID: 1",
        "X-OneIDx: kept",
        "Cookie: oneid_session_state=" + STATE,
        "Cookie:",
    ]
    for flags in (0, 1, 2, 3, 4):
        write("headers", "flags%d" % flags,
              bytes([flags]) + "\n".join(ident + client).encode())
    write("headers", "ajax", b"\x00" + "\n".join(
        ["31505900000011"] + [""] * 9
        + ["X-Requested-With: XMLHttpRequest",
           "Accept: application/json"]).encode())
    write("headers", "fetch-image", b"\x00" + "\n".join(
        ["31505900000011"] + [""] * 9
        + ["Accept: image/avif,image/webp,*/*", "Sec-Fetch-Mode: no-cors",
           "Sec-Fetch-Mode: navigate"]).encode())
    write("headers", "fetch-navigate", b"\x00" + "\n".join(
        ["31505900000011"] + [""] * 9
        + ["Accept: text/html", "Sec-Fetch-Mode: NAVIGATE"]).encode())
    write("headers", "json-html", b"\x00" + "\n".join(
        ["31505900000011"] + [""] * 9
        + ["Accept: application/json, text/html"]).encode())
    write("headers", "percent", b"\x00" + "\n".join(
        ["31505900000011", "100%", "A\rB\x00C\x7fD\x1b", "\u00ff\u00fe",
         "\u2018\u2019", " lead trail ", "%41", "", "", ""]).encode())
    write("headers", "many", b"\x02" + "\n".join(
        ["31505900000011"] + [""] * 9
        + ["X-Oneid-%d: %d" % (i, i) for i in range(30)]
        + ["Cookie: oneid_session=x"]).encode())


def callback():
    qs = [
        "code=" + UUID + "&state=" + STATE,
        "state=" + STATE + "&code=" + UUID,
        "code=" + UUID + "&state=" + STATE + "&state=" + TOKEN,
        "CODE=" + UUID + "&State=" + STATE,
        "code=q1w2e3r4t5y6u7i8o9p0aA%3D%3D&state=" + STATE,
        "code=ab%2Bcd%2Fef%3D&state=" + STATE,
        "code=" + UUID + "&state=" + STATE[:-1] + "%2B",
        "code=" + UUID + "&state=" + STATE + "%00",
        "code=%0d%0aSet-Cookie:%20x&state=" + STATE,
        "code=%&state=%4",
        "code=&state=",
        "xcode=1&state_x=2",
        "error=access_denied&state=" + STATE,
        "&&code=1&&state=" + STATE + "&&",
        "code=" + "c" * 600 + "&state=" + STATE,
        "code=%e2%80%98&state=" + STATE,
        "code=a+b&state=" + STATE,
        "state=" + "%41" * 43 + "&code=1",
    ]
    for i, q in enumerate(qs):
        write("callback", "q%d" % i, q)


def return_uri():
    uris = [
        "/", "/app/patients?id=17&tab=history", "/dmed/#/visits",
        "//evil.example", "/\\evil.example", "/%2f%2fevil.example",
        "/%5Cevil.example", "/\tevil", "/x\r\nLocation: https://evil",
        "javascript:alert(1)", "https://evil.example/", "\\\\evil.example",
        "/./evil", "/..//evil", " /x", "/x y", "/\u00fc", "/x\x00y",
        "/x\x7f", "/" + "a" * 2047, "/" + "a" * 2048, "", "/?next=//evil",
        "/%0d%0aX:1", "///", "/\\/evil",
    ]
    for i, u in enumerate(uris):
        write("return_uri", "u%d" % i, u)


def session():
    fields = ["31505900000011", "olim.toshpo\u2018latov",
              "TOSHPO\u2018LATOV OLIM G\u2018OFUR O\u2018G\u2018LI", "OLIM",
              "TOSHPO\u2018LATOV", "G\u2018OFUR O\u2018G\u2018LI", "I",
              "LOGINPASSMETHOD", "", ""]
    ok = "1\n1732000000\n" + UUID + "\n" + "\n".join(fields)
    write("session", "ok", ok)
    write("session", "no-pin", "1\n1732000000\n" + UUID + "\n"
          + "\n".join([""] + fields[1:]))
    write("session", "v2", "2" + ok[1:])
    write("session", "extra-line", ok + "\nextra")
    write("session", "short", "1\n1732000000\n" + UUID)
    write("session", "bad-time", "1\n-5\n" + UUID + "\n" + "\n".join(fields))
    write("session", "huge-time", "1\n99999999999999999999\n" + UUID + "\n"
          + "\n".join(fields))
    write("session", "empty-time", "1\n\n\n" + "\n".join(fields))
    write("session", "crlf", ok.replace("\n", "\r\n"))


def token():
    for i, t in enumerate([TOKEN, STATE, TOKEN[:-1], TOKEN + "A",
                           TOKEN[:-1] + "+", TOKEN[:-1] + "/",
                           TOKEN[:-1] + "=", TOKEN[:-1] + "\x00", UUID]):
        write("token", "t%d" % i, t)


# the fixed server key of fuzz/fuzz_flow.c, and the login-state MAC made
# as ngx_http_oneid_key.c and ngx_http_oneid_flow.c do

FLOW_KEY = b"0neID-fuzz-server-key/not-a-secret+48bytes0123"
FLOW_NAME = "__Host-oneid_state"


def hkdf(ikm, info):
    prk = hmac.new(b"ngx_http_oneid_module", ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def flow_cookie(state, uri, issued, flag="n"):
    key = hkdf(FLOW_KEY, b"ngx_http_oneid_module login state v1")
    uri64 = base64.urlsafe_b64encode(uri.encode()).decode().rstrip("=")
    sealed = "1%s.%d.%s" % (flag, issued, uri64)
    mac = hmac.new(key, (state + "." + sealed).encode(),
                   hashlib.sha256).digest()[:16]
    mac64 = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    return "%s_%s=%s.%s" % (FLOW_NAME, state[:8], sealed, mac64)


def flow():
    """state, return URI, change bytes, then Cookie headers"""
    s1 = "Zm9vYmFyYmF6cXV4cXV1eH"
    s2 = "~m9vYmFyYmF6cXV4cXV1eH"
    old = 1764900000        # Dec 2025: expired when the fuzzer runs
    future = 4102444800     # 2100: refused
    c1 = flow_cookie(s1, "/app/report?id=7&x=%2F", old)
    c2 = flow_cookie(s2, "/", old, "r")
    write("flow", "sealed", "\n".join([s1, "/app/", "\x01\x00\x05\x07", c1]))
    write("flow", "restarted", "\n".join([s2, "/", "\x02\x00\x00\x3d", c2]))
    write("flow", "planted", "\n".join([
        s1, "/a?b=c", "\x80\x00\x30\x00",
        FLOW_NAME + "_" + s1[:8] + "=garbage; other=1",
        "sid=x; " + c1 + "; " + c1]))
    write("flow", "future", "\n".join([s1, "/", "\x04\x00\x10\xff",
                                       flow_cookie(s1, "/", future)]))
    write("flow", "bad-mac", "\n".join([s1, "/", "\x00",
                                        c1[:-2] + "AA"]))
    write("flow", "unsafe-uri", "\n".join([
        s1, "//evil.example/", "\x01\x01\x01\x01",
        flow_cookie(s1, "//evil.example/", old),
        flow_cookie(s1, "/\\evil", old)]))
    write("flow", "long-uri", "\n".join([s1, "/" + "a" * 600 + "?q=1", "",
                                         ""]))
    write("flow", "long-path", "\n".join([s1, "/" + "b" * 520 + "?q", ""]))
    write("flow", "short-state", "\n".join(["abc", "/", "", "x=1"]))
    write("flow", "bad-state", "\n".join(["Zm9v;YmFy YmF6cXV4cXV1", "/",
                                          "", "a=b"]))
    write("flow", "many", "\n".join([s1, "/", ""] + [
        "; ".join(flow_cookie(s1, "/%d" % i, old + i) for i in range(20))]))


def preserve():
    """a urlencoded form body"""
    write("preserve", "simple", "name=Ali&comment=Salom+dunyo%21")
    write("preserve", "repeated", "tag=a&tag=b&tag=&=x&flag&&x=1%262")
    write("preserve", "script", "note=%3C%2Fscript%3E%3C%21--&b=</script>")
    write("preserve", "u2028", "a=%E2%80%A8%E2%80%A9&b=\u2028")
    write("preserve", "utf8", "ism=%D0%90%D0%BB%D0%B8&f=\u2018Ali\u2019")
    write("preserve", "bad-utf8", "a=%C0%AF&b=%FF")
    write("preserve", "raw-bad-utf8", b"a=\xc3(&b=\xed\xa0\x80")
    write("preserve", "nul", "a=%00b&c=d%0D%0A")
    write("preserve", "percent", "a=%&b=%4&c=%zz&d=%41%4a+%2B")
    write("preserve", "json-chars", 'q="\\\\"&r=%5C%22%08%7F')
    write("preserve", "empty", "")


def main():
    shutil.rmtree(os.path.join(HERE, "corpus"), ignore_errors=True)
    idp()
    cookie()
    headers()
    callback()
    return_uri()
    session()
    token()
    flow()
    preserve()


if __name__ == "__main__":
    main()
