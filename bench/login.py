#!/usr/bin/env python3
"""Complete OneID logins against nginx + the mock OneID, as a browser would.

bench/login.py --nginx http://127.0.0.1:18092 [--count N] [--parallel P]
               [--user doctor[,citizen-eds,...]] [--print-cookie]
               [--print-cookies] [--starts]

Each login: GET a protected page (302 to OneID), GET the authorize URL with
mock_user (302 to the callback), GET the callback with the cookies the page
set (the login's own cookie since 0.5.0, the state cookie before; 302 back,
Set-Cookie: oneid_session).  Prints logins per second, or with
--print-cookie the session cookie of one login, or with --print-cookies
the session cookie of each of the --count logins (one a line, in no
particular order), or with --starts login starts per second (the first
step only: what an anonymous client costs).  Several users separated by
commas sign in in turn.
"""

import argparse
import http.client
import sys
import threading
import time
import urllib.parse


def get(url, cookie=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    path = u.path + ("?" + u.query if u.query else "")
    headers = {"Cookie": cookie} if cookie else {}
    conn.request("GET", path, headers=headers)
    res = conn.getresponse()
    res.read()
    conn.close()
    return res


def cookie_from(res, name):
    for k, v in res.getheaders():
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";", 1)[0]
    return None


def cookies_set(res):
    """All cookies an answer sets, as a Cookie header."""
    pairs = [v.split(";", 1)[0] for k, v in res.getheaders()
             if k.lower() == "set-cookie"]
    return "; ".join(p for p in pairs if not p.endswith("="))


def login(base, user):
    res = get(base + "/bench/page?x=1")
    if res.status != 302:
        raise RuntimeError("protected page: %d" % res.status)
    state_cookie = cookies_set(res)
    authorize = res.getheader("Location") + "&mock_user=" + user
    res = get(authorize)
    if res.status != 302:
        raise RuntimeError("authorize: %d" % res.status)
    callback = urllib.parse.urlsplit(res.getheader("Location"))
    res = get(base + callback.path + "?" + callback.query, state_cookie)
    session = cookie_from(res, "oneid_session")
    if res.status != 302 or session is None:
        raise RuntimeError("callback: %d" % res.status)
    return session


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--user", default="doctor")
    ap.add_argument("--print-cookie", action="store_true")
    ap.add_argument("--print-cookies", action="store_true")
    ap.add_argument("--starts", action="store_true")
    args = ap.parse_args()

    users = args.user.split(",")

    if args.print_cookie:
        print(login(args.nginx, users[0]))
        return 0

    errors = []
    cookies = []
    per_thread = args.count // args.parallel

    def start_only(base, user):
        res = get(base + "/bench/page?x=1")
        if res.status != 302:
            raise RuntimeError("protected page: %d" % res.status)

    step = start_only if args.starts else login
    what = "login starts" if args.starts else "logins"

    def worker(t):
        for i in range(per_thread):
            user = users[(t * per_thread + i) % len(users)]
            try:
                cookie = step(args.nginx, user)
                if args.print_cookies:
                    cookies.append(cookie)
            except Exception as e:      # counted, reported below
                errors.append(str(e))

    threads = [threading.Thread(target=worker, args=(t,))
               for t in range(args.parallel)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    done = per_thread * args.parallel - len(errors)
    if args.print_cookies:
        print("\n".join(cookies))
        if errors:
            print("%d logins failed, first: %s" % (len(errors), errors[0]),
                  file=sys.stderr)
        return 1 if errors else 0
    print("%d %s in %.2f s: %.1f %s/s, %d errors"
          % (done, what, elapsed, done / elapsed, what, len(errors)))
    if errors:
        print("first error:", errors[0], file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
