# oneid_session_info, one request each: the session as JSON for the
# page's scripts (Cache-Control: no-store, never the access token nor the
# full PINFL), 401 JSON without a session, the idle warning script, and
# what is refused.  What a GET and a POST do to the idle timeout:
# t/196-session-info-flow.t.  Block format: runs under t/lib's harness and
# under upstream Test::Nginx.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config defaults);

no_root_location();
no_shuffle();
log_level('info');

Test::OneID::seed_session('info1S' . ('i' x 37), ttl => 600,
    pin => '41203870000017', full_name => 'KARIMOVA DILNOZA',
    user_type => 'I', auth_method => 'MOBILEMETHOD',
    access_token => 'secret-access-token-1', login_time => time - 100);
Test::OneID::seed_session('info2S' . ('i' x 37), ttl => 600,
    pin => '123', full_name => "O\x{2018}G\"Li \\ <b>\t",
    auth_method => 'LOGINPASSMETHOD');
Test::OneID::seed_session('info3S' . ('i' x 37), ttl => 600,
    pin => '31505900000011', full_name => '', first_name => 'ALISHER',
    sur_name => 'NAVOIY');

our $LOCATIONS = <<'END';
    location = /oneid/session { oneid_session_info warn=2m; }
    location = /oneid/session-default { oneid_session_info; }
END

add_block_preprocessor(sub {
    defaults(shift, config => server_config(locations => $LOCATIONS));
});

run_tests();

__DATA__

=== TEST 1: signed in: the session's fields with their types
--- request
GET /oneid/session
--- more_headers
Cookie: oneid_session=info1Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
Cache-Control: no-store
!Set-Cookie
--- response_body_like chomp
\A\{"authenticated":true,"name":"KARIMOVA DILNOZA","user_type":"I","auth_method":"MOBILEMETHOD","login_time":\d{10},"idle_timeout":28800,"idle_expires_in":(59\d|600),"lifetime_expires_in":86[23]\d\d,"pinfl":"4120\*\*\*\*\*\*\*017","warn_before":120\}\r\n\z



=== TEST 2: never the access token, never the full PINFL
--- request
GET /oneid/session
--- more_headers
Cookie: oneid_session=info1Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 200
--- response_body_unlike
(?:secret-access-token|41203870000017|token)



=== TEST 3: a name with quotes, a backslash, a tab and markup is valid JSON; a short PINFL is left out
--- request
GET /oneid/session-default
--- more_headers
Cookie: oneid_session=info2Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 200
--- response_body_like chomp
\A\{"authenticated":true,"name":"O\x{e2}\x{80}\x{98}G\\"Li \\\\ <b>\\t","user_type":"","auth_method":"LOGINPASSMETHOD","login_time":\d+,"idle_timeout":28800,"idle_expires_in":\d+,"lifetime_expires_in":\d+,"warn_before":300\}\r\n\z



=== TEST 4: no full name: first name and surname
--- request
GET /oneid/session
--- more_headers
Cookie: oneid_session=info3Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 200
--- response_body_like chomp
"name":"ALISHER NAVOIY".*"pinfl":"3150\*{7}011"



=== TEST 5: without a session cookie: 401 JSON, not a redirect
--- request
GET /oneid/session
--- error_code: 401
--- response_headers
Content-Type: application/json; charset=utf-8
Cache-Control: no-store
!Location
--- response_body eval
qq{{"authenticated":false,"error":"login_required","status":401}\r\n}



=== TEST 6: a cookie of no session: 401 JSON
--- request
GET /oneid/session
--- more_headers
Cookie: oneid_session=infoXSiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 401
--- response_body eval
qq{{"authenticated":false,"error":"login_required","status":401}\r\n}



=== TEST 7: a POST from another site is refused and ends nothing
--- request
POST /oneid/session
--- more_headers
Sec-Fetch-Site: cross-site
Cookie: oneid_session=info1Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 403
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body eval
qq{{"authenticated":null,"error":"not_same_origin","status":403}\r\n}
--- error_log
session extension not known to come from this site, refused



=== TEST 8: a POST without any sign of where it comes from is refused too
--- request
POST /oneid/session
--- more_headers
Cookie: oneid_session=info1Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 403



=== TEST 9: other methods: 405 with Allow
--- request
PUT /oneid/session
--- more_headers
Cookie: oneid_session=info1Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 405
--- response_headers
Allow: GET, HEAD, POST
--- response_body eval
qq{{"authenticated":null,"error":"method_not_allowed","status":405}\r\n}



=== TEST 10: ?script: the warning script, cacheable a little, without a session
--- request
GET /oneid/session?script
--- error_code: 200
--- response_headers
Content-Type: application/javascript; charset=utf-8
Cache-Control: max-age=300
--- response_body_like chomp
\A(?=.*data-oneid-session)(?=.*'role', 'alert')(?=.*Ishni davom ettirish)(?=.*Продолжить работу)(?=.*Continue working)\(function \(\) \{\n    'use strict';.*\}\)\(\);\n\z



=== TEST 11: the script has no eval, no inline handlers, nothing from elsewhere
--- request
GET /oneid/session?script
--- error_code: 200
--- response_body_unlike
(?:\beval\b|new Function|innerHTML|\.on(?:click|load)\s*=\s*['"]|setAttribute\('on|setAttribute\('style|https?://|document\.write)



=== TEST 12: HEAD of the script: headers only
--- request
HEAD /oneid/session?script
--- error_code: 200
--- response_headers
Content-Type: application/javascript; charset=utf-8
--- response_body



=== TEST 13: a subrequest cannot be the info location
--- config eval
Test::OneID::Conf::server_config(locations => $main::LOCATIONS . q{
    location = /ssi-info {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 'a <!--# include virtual="/oneid/session" --> b';
    }
})
--- request
GET /ssi-info
--- more_headers
Cookie: oneid_session=info1Siiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii
--- error_code: 200
--- response_body_unlike
authenticated
--- error_log
a subrequest cannot be a login callback or a logout, denied



=== TEST 14: nginx -t rejects a bad warn time
--- config eval
Test::OneID::Conf::server_config(locations =>
    'location = /oneid/session { oneid_session_info warn=soon; }')
--- must_die
--- error_log
invalid "warn=soon": a time such as "5m" is expected (0: no warning)



=== TEST 15: nginx -t rejects an unknown parameter
--- config eval
Test::OneID::Conf::server_config(locations =>
    'location = /oneid/session { oneid_session_info colour=red; }')
--- must_die
--- error_log
invalid parameter "colour=red"



=== TEST 16: nginx -t rejects a location with two roles
--- config eval
Test::OneID::Conf::server_config(locations =>
    'location = /oneid/session { oneid_logout; oneid_session_info; }')
--- must_die
--- error_log
"oneid_session_info" directive is duplicate
