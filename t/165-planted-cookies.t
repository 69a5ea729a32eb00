# Cookies a sibling subdomain or a plain-HTTP man in the middle could plant:
# __Host- names by default with oneid_cookie_secure on, several cookies of
# the same name (garbage, two sessions, a planted login cookie), and the
# upgrade of a session cookie from the old name "oneid_session".
# Sessions are written into Redis by "--- init"; login flows are cookies
# sealed under the server key of $T165_KEY_FILE.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config defaults);
use File::Temp qw(tempdir);

no_root_location();
log_level('info');

our $T165_KEY = 'T165' x 10;
our $T165_KEY_FILE = tempdir(CLEANUP => 1) . '/server.key';
open my $fh, '>', $T165_KEY_FILE or die "$T165_KEY_FILE: $!";
print $fh "$T165_KEY\n";
close $fh;
chmod 0600, $T165_KEY_FILE;

add_block_preprocessor(sub {
    defaults(shift, config => server_config(cookie_secure => 'on'),
             http_config => http_config() . "oneid_key_file $T165_KEY_FILE;\n");
});

run_tests();

__DATA__

=== TEST 1: oneid_cookie_secure on: the login cookie has a __Host- name
--- request
GET /ward
--- error_code: 302
--- response_headers_like
Set-Cookie: ^__Host-oneid_session_state_[A-Za-z0-9_-]{8}=1n\.\d+\.L3dhcmQ\.[A-Za-z0-9_-]{22}; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax, __Host-oneid_session_browser=[A-Za-z0-9_-]{43}; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax$
--- no_error_log
[error]



=== TEST 2: oneid_cookie_secure on: logout expires the __Host- session cookie
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
--- error_code: 302
--- response_headers
Set-Cookie: __Host-oneid_session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Path=/; HttpOnly; Secure; SameSite=Lax



=== TEST 3: oneid_cookie_secure off: the names stay as they were
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'off')
--- request
GET /ward
--- error_code: 302
--- response_headers_like
Set-Cookie: ^oneid_session_state_[A-Za-z0-9_-]{8}=1n\.\d+\.L3dhcmQ\.[A-Za-z0-9_-]{22}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax, oneid_session_browser=[A-Za-z0-9_-]{43}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax$



=== TEST 4: the default name follows the merged oneid_cookie_secure (off on server, on in location)
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'off',
    protected => 'oneid_cookie_secure on;')
--- request
GET /ward
--- error_code: 302
--- response_headers_like
Set-Cookie: ^__Host-oneid_session_state_[^;]+; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax, __Host-oneid_session_browser=.*; Secure; SameSite=Lax$



=== TEST 5: the default name follows the merged oneid_cookie_secure (on on server, off in location)
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'on',
    protected => 'oneid_cookie_secure off;')
--- request
GET /ward
--- error_code: 302
--- response_headers_like
Set-Cookie: ^oneid_session_state_[^;]+; Max-Age=600; Path=/; HttpOnly; SameSite=Lax, oneid_session_browser=[^;]+; Max-Age=600; Path=/; HttpOnly; SameSite=Lax$



=== TEST 6: an explicit oneid_cookie_name is used as written
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'on',
    extra => 'oneid_cookie_name mis_sid;')
--- request
GET /ward
--- error_code: 302
--- response_headers_like
Set-Cookie: ^mis_sid_state_[^;]+; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax, mis_sid_browser=[^;]+; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax$



=== TEST 7: a garbage cookie with a longer path before a valid session: 200, not a login loop
--- init
Test::OneID::seed_session('T165g' . 'A' x 38, user_id => 'garbage.victim');
--- request
GET /ward/7
--- more_headers
Cookie: __Host-oneid_session=x%22garbage; __Host-oneid_session=T165gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 200
--- response_body_like chomp
\A(?!.*oneid_session)(?=.*X-OneID-User-Id: garbage\.victim)GET /ward/7[ ]



=== TEST 7b: the same with oneid_cookie_secure off (the first cookie used to win)
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'off')
--- init
Test::OneID::seed_session('T165h' . 'A' x 38, user_id => 'garbage.victim');
--- request
GET /ward/7
--- more_headers
Cookie: oneid_session=; oneid_session=T165hAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 200
--- response_body_like
X-OneID-User-Id: garbage\.victim



=== TEST 8: the same session twice (two paths): used, no conflict
--- init
Test::OneID::seed_session('T165s' . 'A' x 38, user_id => 'same.twice');
--- request
GET /ward
--- more_headers
Cookie: __Host-oneid_session=T165sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
Cookie: a=1; __Host-oneid_session=T165sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 200
--- response_body_like
X-OneID-User-Id: same\.twice



=== TEST 9: two different valid sessions: 400 page, neither used, one warning
--- init
Test::OneID::seed_session('T165a' . 'A' x 38, user_id => 'the.attacker');
Test::OneID::seed_session('T165v' . 'A' x 38, user_id => 'the.victim');
--- request
GET /ward
--- more_headers
Cookie: __Host-oneid_session=T165aAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; __Host-oneid_session=T165vAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
Accept-Language: en
--- error_code: 400
--- response_headers
Content-Type: text/html; charset=utf-8
Cache-Control: no-store
!Location
!Set-Cookie
--- response_body_like chomp
\A(?!(?i:.*(?:attacker|victim|T165|X-OneID)|GET))(?=.*<html lang="en">)(?=.*conflicting sign-in cookies)(?i:.*cookies)
--- error_log eval
qr/\[warn\] .*oneid: the browser sent 2 different "__Host-oneid_session" cookies, none used/



=== TEST 10: two different valid sessions, a script: JSON 400 (oneid_cookie_secure off)
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'off')
--- init
Test::OneID::seed_session('T165a' . 'A' x 38, user_id => 'the.attacker');
Test::OneID::seed_session('T165v' . 'A' x 38, user_id => 'the.victim');
--- request
GET /api/x
--- more_headers
X-Requested-With: XMLHttpRequest
Cookie: oneid_session=T165vAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
Cookie: oneid_session=T165aAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 400
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like chomp
^\{"error":"cookie_conflict","status":400,"message":"[^"]+"\}\r?\n$
--- error_log
oneid: the browser sent 2 different "oneid_session" cookies, none used



=== TEST 11: two different sessions in Russian and Uzbek pages
--- init
Test::OneID::seed_session('T165a' . 'A' x 38, user_id => 'the.attacker');
--- request
GET /ward
--- more_headers
Cookie: __Host-oneid_session=T165aAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; __Host-oneid_session=T165zAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
Accept-Language: ru
--- error_code: 400
--- response_body_like chomp
<html lang="ru">



=== TEST 12: login CSRF: a valid flow cookie planted under the non-prefixed name is refused (a new login of the browser's own, no session)
--- request
GET /oneid/callback?code=3f0e6a3c-0000-4000-8000-000000000000&state=T165stAAAAAAAAAAAAAAAA
--- more_headers eval
'Cookie: oneid_session_state_T165stAA='
    . Test::OneID::flow_cookie($main::T165_KEY, 'T165stAAAAAAAAAAAAAAAA', '/ward')
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*state=~.*
--- error_log
for a flow this browser does not hold



=== TEST 13: several cookies of a flow's name: one that verifies is enough
--- request
GET /oneid/callback?code=3f0e6a3c-0000-4000-8000-000000000000&state=T165s2AAAAAAAAAAAAAAAA
--- more_headers eval
'Cookie: __Host-oneid_session_state_T165s2AA=garbage; __Host-oneid_session_state_T165s2AA='
    . Test::OneID::flow_cookie('other' x 8, 'T165s2AAAAAAAAAAAAAAAA', '/ward')
    . '; __Host-oneid_session_state_T165s2AA='
    . Test::OneID::flow_cookie($main::T165_KEY, 'T165s2AAAAAAAAAAAAAAAA', '/ward')
--- error_code: 502
--- no_error_log
does not verify
does not hold



=== TEST 14: upgrade: a session under the old name works once and is moved to the new name
--- init
Test::OneID::seed_session('T165o' . 'A' x 38, user_id => 'old.cookie');
--- request
GET /ward/1
--- more_headers
Cookie: a=1; oneid_session=T165oAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 200
--- response_headers
Set-Cookie: __Host-oneid_session=T165oAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; Path=/; HttpOnly; Secure; SameSite=Lax, oneid_session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Path=/; HttpOnly; Secure; SameSite=Lax
--- response_body_like chomp
\A(?!.*T165o)(?=.*X-OneID-User-Id: old\.cookie)(?=.*Cookie: a=1\r?\n)



=== TEST 15: upgrade: then the new cookie alone works, and nothing is re-issued
--- init
Test::OneID::seed_session('T165o' . 'A' x 38, user_id => 'old.cookie');
--- request
GET /ward/2
--- more_headers
Cookie: __Host-oneid_session=T165oAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 200
--- response_headers
!Set-Cookie
--- response_body_like
X-OneID-User-Id: old\.cookie



=== TEST 16: upgrade: a new-name cookie wins over an old-name one
--- init
Test::OneID::seed_session('T165n' . 'A' x 38, user_id => 'new.cookie');
Test::OneID::seed_session('T165o' . 'A' x 38, user_id => 'old.cookie');
--- request
GET /ward
--- more_headers
Cookie: oneid_session=T165oAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; __Host-oneid_session=T165nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 200
--- response_body_like chomp
\A(?!.*T165).*X-OneID-User-Id: new\.cookie



=== TEST 17: upgrade only from the default name: an explicit name is not migrated
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'on',
    extra => 'oneid_cookie_name __Host-mis;')
--- init
Test::OneID::seed_session('T165o' . 'A' x 38, user_id => 'old.cookie');
--- request
GET /ward
--- more_headers
Cookie: oneid_session=T165oAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 302
--- response_headers_like
Set-Cookie: ^__Host-mis_state_[A-Za-z0-9_-]{8}=.*



=== TEST 18: logout expires the old name too when the browser still has it, and ends that session
--- init
Test::OneID::seed_session('T165l' . 'A' x 38, user_id => 'old.logout');
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
Cookie: oneid_session=T165lAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 302
--- response_headers
Set-Cookie: __Host-oneid_session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Path=/; HttpOnly; Secure; SameSite=Lax, oneid_session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Path=/; HttpOnly; Secure; SameSite=Lax
--- error_log
user "old.logout" signed out



=== TEST 19: an old-name cookie is not upgraded when oneid_cookie_secure is off (one name only)
--- config eval
Test::OneID::Conf::server_config(cookie_secure => 'off')
--- init
Test::OneID::seed_session('T165o' . 'A' x 38, user_id => 'old.cookie');
--- request
GET /ward
--- more_headers
Cookie: oneid_session=T165oAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- error_code: 200
--- response_headers
!Set-Cookie
--- response_body_like
X-OneID-User-Id: old\.cookie
