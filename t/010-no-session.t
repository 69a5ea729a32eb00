# Requests without a usable session, and hostile input that must never get
# further than a login redirect or a short page.  Test::Nginx::Socket block
# format: runs under t/lib's harness (prove -I t/lib) and under upstream
# Test::Nginx (make test-upstream): t/lib comes last in @INC so that -I picks
# the harness; it still provides Test::OneID::Conf.

BEGIN { push @INC, 't/lib' }
use Test::Nginx::Socket 'no_plan';
use Test::OneID::Conf qw(http_config server_config defaults);

no_root_location();
log_level('info');

add_block_preprocessor(sub { defaults(shift) });

run_tests();

__DATA__

=== TEST 1: no cookie: 302 to OneID with every parameter, the flow's cookie and the browser cookie
--- request
GET /patients/42?tab=history
--- error_code: 302
--- response_headers_like
Location: ^https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?response_type=one_code&client_id=dmed&redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Foneid%2Fcallback&scope=dmed&state=[A-Za-z0-9_-]{22}$
Set-Cookie: ^oneid_session_state_[A-Za-z0-9_-]{8}=1n\.\d+\.L3BhdGllbnRzLzQyP3RhYj1oaXN0b3J5\.[A-Za-z0-9_-]{22}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax, oneid_session_browser=[A-Za-z0-9_-]{43}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax$
Cache-Control: no-store
--- no_error_log
[error]



=== TEST 2: the state cookie is Secure (and __Host-) unless switched off
--- config eval
Test::OneID::Conf::server_config(extra => 'oneid_cookie_secure on;')
=~ s/oneid_cookie_secure\s+off;//r
--- request
GET /
--- error_code: 302
--- response_headers_like
Set-Cookie: ^__Host-oneid_session_state_[A-Za-z0-9_-]{8}=[^;]+; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax, __Host-oneid_session_browser=[^;]+; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax$



=== TEST 3: XMLHttpRequest gets 401 JSON, not a redirect
--- request
GET /api/patients?page=2
--- more_headers
X-Requested-With: XMLHttpRequest
--- error_code: 401
--- response_headers
Content-Type: application/json; charset=utf-8
!Location
!Set-Cookie
--- response_body_like: ^\{"error":"login_required","status":401,"message":"[^"]+","login_url":"/api/patients\?page=2"\}\r?\n\z



=== TEST 4: Accept asking for JSON only gets 401
--- request
GET /api/x
--- more_headers
Accept: application/json
--- error_code: 401
--- response_body_like: "error":"login_required"



=== TEST 5: a browser Accept with HTML and JSON still gets the redirect
--- request
GET /page
--- more_headers
Accept: text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8
--- error_code: 302



=== TEST 5a: a browser's image request (Sec-Fetch-Mode: no-cors) gets 401, no login state
--- request
GET /img/logo.png
--- more_headers
Accept: image/avif,image/webp,*/*
Sec-Fetch-Mode: no-cors
Sec-Fetch-Dest: image
--- error_code: 401
--- response_headers
!Location
!Set-Cookie
--- response_body_like: "error":"login_required"



=== TEST 5b: a browser's page navigation (Sec-Fetch-Mode: navigate) is redirected
--- request
GET /ward
--- more_headers
Accept: text/html,application/xhtml+xml,*/*;q=0.8
Sec-Fetch-Mode: navigate
Sec-Fetch-Dest: document
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?response_type=one_code&.*
Set-Cookie: oneid_session_state_.*



=== TEST 6: session cookie too short: treated as no session
--- request
GET /ward
--- more_headers
Cookie: oneid_session=abc
--- error_code: 302
--- response_headers_like
Location: .*[?&]response_type=one_code&.*



=== TEST 7: session cookie with characters outside base64url
--- request
GET /ward
--- more_headers
Cookie: oneid_session=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/=
--- error_code: 302



=== TEST 8: a 10 KB session cookie
--- config eval
"large_client_header_buffers 4 16k;\n" . Test::OneID::Conf::server_config()
--- request
GET /ward
--- more_headers eval
"Cookie: oneid_session=" . ("A" x 10000)
--- error_code: 302



=== TEST 9: unknown but well-formed session id
--- request
GET /ward
--- more_headers
Cookie: a=1; oneid_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; b=2
--- error_code: 302
--- no_error_log
[error]



=== TEST 10: empty session cookie
--- request
GET /ward
--- more_headers
Cookie: oneid_session=
--- error_code: 302



=== TEST 11: POST without a session: redirect, body discarded
--- request
POST /ward/save
name=value&x=1
--- error_code: 302
--- response_headers_like
Location: .*[?&]response_type=one_code&.*



=== TEST 12: HEAD without a session
--- request
HEAD /ward
--- error_code: 302



=== TEST 13: oneid off passes, client identity headers removed
--- request
GET /api/mobile/ping
--- more_headers
X-OneID-Pin: 12345678901234
x-oneid-user-id: mallory
X-ONEID-FULL-NAME: Mallory
X-OneID: bare
X-Other: kept
--- error_code: 200
--- response_body_like: \A(?!.*(?i:oneid|mallory))GET /api/mobile/ping HTTP/
--- error_log
client sent identity header



=== TEST 14: headers with underscores are removed too
--- config eval
"underscores_in_headers on;\n" . Test::OneID::Conf::server_config()
--- request
GET /api/mobile/ping
--- more_headers
X_OneID_Pin: 12345678901234
x_oneid-user_id: mallory
X-Other: kept
--- error_code: 200
--- response_body_like: \A(?!.*(?i:oneid)).*\nX-Other: kept\n



=== TEST 15: callback without code or state: 400 page in Uzbek, no redirect
--- request
GET /oneid/callback
--- error_code: 400
--- response_headers
Content-Type: text/html; charset=utf-8
!Location
--- response_body_like: \A(?=.*<html lang="uz">)(?=.*Kirish yakunlanmadi)(?=.*id\.egov\.uz)(?=.*DMED)
--- error_log
oneid: login callback without a valid code and state



=== TEST 16: callback error page in Russian
--- request
GET /oneid/callback?error=access_denied
--- more_headers
Accept-Language: ru-RU,ru;q=0.9,en;q=0.8
--- error_code: 400
--- response_body_like: <html lang="ru">



=== TEST 17: English wins by q value
--- request
GET /oneid/callback
--- more_headers
Accept-Language: ru;q=0.1, en-GB;q=0.8
--- error_code: 400
--- response_body_like: Sign-in not completed



=== TEST 18: an unknown language falls back to Uzbek
--- request
GET /oneid/callback
--- more_headers
Accept-Language: fr-FR
--- error_code: 400
--- response_body_like: <html lang="uz">



=== TEST 19: callback error for a script is JSON
--- request
GET /oneid/callback?code=x
--- more_headers
X-Requested-With: XMLHttpRequest
--- error_code: 400
--- response_body_like: ^\{"error":"login_callback_invalid","status":400,



=== TEST 20: state of the wrong shape
--- request
GET /oneid/callback?code=3f0e6a3c-0000-4000-8000-000000000000&state=short
--- error_code: 400



=== TEST 21: oversized code
--- request eval
"GET /oneid/callback?code=" . ("c" x 600) . "&state=" . ("s" x 43)
--- error_code: 400



=== TEST 22: control characters in the code
--- request
GET /oneid/callback?code=abc%0d%0aSet-Cookie:%20x=1&state=AAAAAAAAAAAAAAAAAAAAAA
--- error_code: 400
--- response_headers
!Set-Cookie



=== TEST 23: well-formed state but no flow cookie: a new login (marked restarted), never its code
--- request
GET /oneid/callback?code=3f0e6a3c-0000-4000-8000-000000000000&state=AAAAAAAAAAAAAAAAAAAAAA
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*state=~.*
--- error_log
for a flow this browser does not hold



=== TEST 24: a flow cookie of the state's name that does not verify
--- request
GET /oneid/callback?code=3f0e6a3c-0000-4000-8000-000000000000&state=AAAAAAAAAAAAAAAAAAAAAA
--- more_headers
Cookie: oneid_session_state_AAAAAAAA=1n.1796435827.Lw.BBBBBBBBBBBBBBBBBBBBBB
--- error_code: 400
--- error_log
whose flow cookie does not verify



=== TEST 25: error_page overrides the built-in page
--- config eval
Test::OneID::Conf::server_config(extra => 'location = /cb2 { oneid_callback; error_page 400 /sorry.html; }',
    locations => 'location = /sorry.html { oneid off; root html; }')
--- user_files
>>> sorry.html
please start again from the portal
--- request
GET /cb2
--- error_code: 400
--- response_body
please start again from the portal



=== TEST 26: logout without a session: cookie expired, back home
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
--- error_code: 302
--- response_headers_like
Location: ^http://[^/]+/$
Set-Cookie: ^oneid_session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Path=/; HttpOnly; SameSite=Lax$
--- no_error_log
[error]



=== TEST 27: oneid_logout_redirect
--- config eval
Test::OneID::Conf::server_config(extra => 'oneid_logout_redirect /goodbye.html;')
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
--- error_code: 302
--- response_headers_like
Location: (?:http://[^/]+)?/goodbye\.html
