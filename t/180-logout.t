# Logout is final and cannot be forced from another site: a request not
# known to come from this site gets a confirmation page; a Redis failure
# keeps the cookie and says the session is still active; when OneID's
# session could not be ended the page says so.  Block format: runs under
# t/lib's harness and under upstream Test::Nginx.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config defaults);

no_root_location();
no_shuffle();
log_level('info');

# one session per block that may end it
Test::OneID::seed_session("logout${_}S" . ('l' x 35), ttl => 3600)
    for qw(A B C D E F G);

our $LOCATIONS = <<'END';
    location = /logout-dead-oneid {
        oneid_logout;
        oneid_backend /_dead;
    }

    location = /_dead {
        internal;
        proxy_pass http://127.0.0.1:9;
    }
END

add_block_preprocessor(sub {
    defaults(shift, config => server_config(locations => $LOCATIONS));
});

run_tests();

__DATA__

=== TEST 1: a link on another site: a confirmation page, nothing ended
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: cross-site
Cookie: oneid_session=logoutASlllllllllllllllllllllllllllllllllll
--- error_code: 200
--- response_headers
!Set-Cookie
!Location
Cache-Control: no-store
--- response_body_like chomp
<form method="post" action="/oneid/logout"><button type="submit">Chiqish</button></form>
--- error_log
logout not known to come from this site, asking for confirmation
--- no_error_log
signed out



=== TEST 2: the session survived the cross-site link
--- request
GET /
--- more_headers
Cookie: oneid_session=logoutASlllllllllllllllllllllllllllllllllll
--- error_code: 200



=== TEST 3: a form on another site (Origin), in Russian
--- request
POST /oneid/logout
--- more_headers
Origin: https://evil.example
Accept-Language: ru
Cookie: oneid_session=logoutASlllllllllllllllllllllllllllllllllll
--- error_code: 200
--- response_body_like chomp
Подтвердите выход.*<button type="submit">Выйти</button>
--- response_headers
!Set-Cookie



=== TEST 4: no sign of where it comes from (an old browser, a script)
--- request
GET /oneid/logout
--- more_headers
Cookie: oneid_session=logoutASlllllllllllllllllllllllllllllllllll
Accept-Language: en
--- error_code: 200
--- response_body_like chomp
Please confirm that you want to sign out\..*<button type="submit">Sign out</button>



=== TEST 5: the button: a POST from this site signs out
--- request
POST /oneid/logout
--- more_headers
Origin: http://localhost
Cookie: oneid_session=logoutASlllllllllllllllllllllllllllllllllll
--- error_code: 302
--- response_headers_like
Set-Cookie: oneid_session=; Max-Age=0;.*
Location: ^http://[^/]+/$
--- error_log
user "seeded.user" signed out



=== TEST 6: the MIS's own logout link (Referer of this site) works
--- request
GET /oneid/logout
--- more_headers
Referer: http://localhost/patients/42
Cookie: oneid_session=logoutBSlllllllllllllllllllllllllllllllllll
--- error_code: 302
--- error_log
user "seeded.user" signed out



=== TEST 7: a Referer of a look-alike host is not this site
--- request
GET /oneid/logout
--- more_headers
Referer: http://localhost.evil.example/
Cookie: oneid_session=logoutCSlllllllllllllllllllllllllllllllllll
--- error_code: 200
--- no_error_log
signed out



=== TEST 8: typed in the address bar (Sec-Fetch-Site: none) works
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: none
Cookie: oneid_session=logoutCSlllllllllllllllllllllllllllllllllll
--- error_code: 302
--- error_log
user "seeded.user" signed out



=== TEST 9: Redis down: 503, the cookie kept, a retry button, a clear log line
--- http_config eval
Test::OneID::Conf::http_config(redis => '127.0.0.1:9')
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
Accept-Language: en
Cookie: oneid_session=logoutDSlllllllllllllllllllllllllllllllllll
--- error_code: 503
--- response_headers
!Set-Cookie
--- response_body_like chomp
your session is still active.*<button type="submit">Try again</button>
--- error_log
session store unavailable while ending a session, the session is still active



=== TEST 10: OneID's logout fails: signed out here, and the page says so
--- request
GET /logout-dead-oneid
--- more_headers
Sec-Fetch-Site: same-origin
Accept-Language: en
Cookie: oneid_session=logoutESlllllllllllllllllllllllllllllllllll
--- error_code: 200
--- response_headers_like
Set-Cookie: oneid_session=; Max-Age=0;.*
--- response_body_like chomp
signing out of OneID could not be confirmed
--- error_log
OneID one_log_out failed



=== TEST 11: no session and no token left: signed out here, the page says so
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
Cookie: oneid_session=logoutXSlllllllllllllllllllllllllllllllllll
--- error_code: 200
--- response_headers_like
Set-Cookie: oneid_session=; Max-Age=0;.*
--- response_body_like chomp
OneID\xe2\x80\x99dan chiqish tasdiqlanmadi|OneID’dan chiqish tasdiqlanmadi
--- error_log
no OneID token left for this session



=== TEST 12: no cookie at all: nothing to end, back home
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
--- error_code: 302
--- response_headers_like
Location: ^http://[^/]+/$



=== TEST 13: two different session cookies: the conflict page, not a success
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: same-origin
Cookie: oneid_session=logoutFSlllllllllllllllllllllllllllllllllll; oneid_session=logoutGSlllllllllllllllllllllllllllllllllll
--- error_code: 400
--- response_headers
Set-Cookie:
--- no_error_log
signed out



=== TEST 14: the confirmation page is no error: no status number on it
--- request
GET /oneid/logout
--- more_headers
Sec-Fetch-Site: cross-site
--- error_code: 200
--- response_body_like chomp
\A(?!.*<small>).*<button type="submit">Chiqish</button>
