# oneid_require: which of the signed-in users may use a location, by user
# type, auth method, legal entity TIN, a file of PINFLs or any variable.
# All directives of a location must hold, any value within one.  A user
# not allowed gets 403 with a page in uz/ru/en saying what is needed in
# general terms (never the rules), JSON for scripts (error "access_denied",
# "required"), one [info] line; the session goes on.  nginx -t refuses
# malformed rules and PINFL files, naming the file and line.  Sessions are
# seeded straight into Redis as the fixtures of t/mock-oneid/fixtures.py
# would leave them (doctor: MOBILEMETHOD, citizen-eds: PKCSMETHOD,
# legal-rep: user type L, LEPKCSMETHOD, TIN 301234567).  Block format.

BEGIN { push @INC, 't/lib' }
use Test::Nginx::Socket 'no_plan';
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config defaults);

no_root_location();
log_level('info');

our %SID = (
    doctor => 'T260doctor' . ('d' x 33),
    eds    => 'T260eds' . ('e' x 36),
    legal  => 'T260legal' . ('l' x 34),
);

Test::OneID::seed_session($SID{doctor}, pin => '41203870000017',
    user_id => 'dilnoza.karimova', user_type => 'I',
    auth_method => 'MOBILEMETHOD', ttl => 3600);
Test::OneID::seed_session($SID{eds}, pin => '30201850000022',
    user_id => 'jasur.aliyev', user_type => 'I',
    auth_method => 'PKCSMETHOD', ttl => 3600);
Test::OneID::seed_session($SID{legal}, pin => '32807880000033',
    user_id => 'bobur.rahimov', user_type => 'L',
    auth_method => 'LEPKCSMETHOD', legal_tin => '301234567', ttl => 3600);

my $backend = Test::OneID::Conf::env('BACKEND_PORT', 18081);

our $LOCATIONS = <<"END";
    location /eds/ {
        oneid on;
        oneid_require auth_method=PKCSMETHOD|LEPKCSMETHOD;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /legal/ {
        oneid on;
        oneid_require user_type=L;
        oneid_require legal_tin=309876543 legal_tin=301234567;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /guarded/ {
        oneid on;
        oneid_require user_type=L;
        error_page 403 /guarded/denied;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /person/ {
        oneid on;
        oneid_require user_type=I;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /other-tin/ {
        oneid on;
        oneid_require legal_tin=309876543;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /doctors/ {
        oneid on;
        oneid_require pinfl_file=../html/doctors.pinfl;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /var/ {
        oneid on;
        oneid_require \$t260_allowed;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /both/ {
        oneid on;
        oneid_require user_type=I;
        oneid_require auth_method=PKCSMETHOD;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /to-eds/ {
        oneid on;
        rewrite ^ /eds/x last;
    }

    location /gate/ {
        oneid off;
        auth_request /check-eds;
        proxy_pass http://127.0.0.1:$backend;
    }

    location = /check-eds {
        internal;
        oneid on;
        oneid_require auth_method=PKCSMETHOD;
        return 204;
    }
END

our $HTTP = http_config() . <<'END';
    map $oneid_user_id $t260_allowed {
        default           0;
        jasur.aliyev      1;
        bobur.rahimov     yes;
    }
END

our $PINFLS = <<'END';
# doctors of the clinic
41203870000017
  32807880000033  

END

add_block_preprocessor(sub {
    my $block = shift;
    defaults($block, http_config => $main::HTTP,
             config => server_config(locations => $main::LOCATIONS),
             user_files => ">>> doctors.pinfl\n$main::PINFLS");
});

run_tests();

__DATA__

=== TEST 1: auth_method: a signature login is let through
--- request
GET /eds/rx
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
--- error_code: 200
--- response_body_like chomp
X-OneID-User-Id: jasur\.aliyev
--- no_error_log
not allowed



=== TEST 2: auth_method: a mobile login gets the 403 page (Uzbek by default), one info line, the session kept
--- request
GET /eds/rx
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 403
--- response_headers
Content-Type: text/html; charset=utf-8
Cache-Control: no-store
!Set-Cookie
!Location
--- response_body_like chomp
\A(?s)(?!.*(?:PKCSMETHOD|MOBILEMETHOD|X-OneID))(?=.*<html lang="uz">)(?=.*elektron imzo kaliti \(E-IMZO\) bilan kirish kerak)(?=.*elektron kalitingiz bilan qaytadan kiring)
--- error_log eval
qr/\[info\] .*oneid: user "dilnoza\.karimova" not allowed: "oneid_require auth_method" in \S+nginx\.conf:\d+ not met \(auth_method "MOBILEMETHOD"\)/



=== TEST 3: the page in Russian
--- request
GET /eds/rx
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
Accept-Language: ru
--- error_code: 403
--- response_body_like chomp
\A(?s)(?=.*<html lang="ru">)(?=.*с ключом электронной подписи \(E-IMZO\))(?=.*войдите снова с вашим электронным ключом)



=== TEST 4: the page in English
--- request
GET /eds/rx
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
Accept-Language: en
--- error_code: 403
--- response_body_like chomp
\A(?s)(?=.*<html lang="en">)(?=.*Sign-in with an electronic signature required)(?=.*sign in again with your electronic key)



=== TEST 5: a script gets JSON: access_denied, required auth_method, no login_url
--- request
GET /eds/rx
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
Accept: application/json
Accept-Language: en
--- error_code: 403
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like chomp
\A\{"error":"access_denied","status":403,"message":"This page needs sign-in to OneID with an electronic signature key \(E-IMZO\)\. [^"]*","required":"auth_method"\}\r?\n?\z



=== TEST 6: the refused user still has the session: a location without rules lets them in
--- request
GET /ward
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 200
--- response_body_like chomp
X-OneID-User-Id: dilnoza\.karimova



=== TEST 7: user_type=L and the TIN: the legal representative is let through
--- request
GET /legal/x
--- more_headers
Cookie: oneid_session=T260legalllllllllllllllllllllllllllllllllll
--- error_code: 200
--- response_body_like chomp
X-OneID-User-Id: bobur\.rahimov



=== TEST 8: user_type=L: an individual gets the legal-entity page, JSON says user_type
--- request
GET /legal/x
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
Accept-Language: en
--- error_code: 403
--- response_body_like chomp
(?s)\A(?!.*301234567)(?=.*Legal entity account required)(?=.*for legal entity accounts only)
--- error_log eval
qr/oneid: user "jasur\.aliyev" not allowed: "oneid_require user_type" in \S+:\d+ not met \(user_type "I"\)/



=== TEST 9: user_type=I refuses a legal entity: personal account page; JSON required user_type
--- request
GET /person/x
--- more_headers
Cookie: oneid_session=T260legalllllllllllllllllllllllllllllllllll
X-Requested-With: XMLHttpRequest
Accept-Language: en
--- error_code: 403
--- response_body_like chomp
\A\{"error":"access_denied","status":403,"message":"This page is for personal accounts only\.[^"]*","required":"user_type"\}



=== TEST 10: user_type=I lets an individual through
--- request
GET /person/x
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 200



=== TEST 11: legal_tin: another entity's representative gets the generic page, the TIN neither in the page nor the log
--- request
GET /other-tin/x
--- more_headers
Cookie: oneid_session=T260legalllllllllllllllllllllllllllllllllll
Accept-Language: en
--- error_code: 403
--- response_body_like chomp
(?s)\A(?!.*30\d{7})(?=.*Access denied)(?=.*Your account is not allowed to open this page)
--- error_log eval
qr/oneid: user "bobur\.rahimov" not allowed: "oneid_require legal_tin" in \S+:\d+ not met, client:/



=== TEST 12: legal_tin, JSON: required account
--- request
GET /other-tin/x
--- more_headers
Cookie: oneid_session=T260legalllllllllllllllllllllllllllllllllll
Accept: application/json
--- error_code: 403
--- response_body_like chomp
"required":"account"



=== TEST 13: pinfl_file: a listed PINFL is let through (comments, blank lines, spaces around allowed)
--- request
GET /doctors/x
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 200
--- response_body_like chomp
X-OneID-Pin: 41203870000017



=== TEST 14: pinfl_file: a listed PINFL with spaces around it
--- request
GET /doctors/x
--- more_headers
Cookie: oneid_session=T260legalllllllllllllllllllllllllllllllllll
--- error_code: 200



=== TEST 15: pinfl_file: a PINFL not listed: 403, no PINFL in the log
--- request
GET /doctors/x
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
Accept-Language: ru
--- error_code: 403
--- response_body_like chomp
(?s)\A(?!.*\d{14})(?=.*Доступ запрещён)
--- error_log eval
qr/oneid: user "jasur\.aliyev" not allowed: "oneid_require pinfl_file" in \S+:\d+ not met, client:/
--- no_error_log
30201850000022



=== TEST 16: variable: "1" allows
--- request
GET /var/x
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
--- error_code: 200



=== TEST 17: variable: any other non-empty value allows
--- request
GET /var/x
--- more_headers
Cookie: oneid_session=T260legalllllllllllllllllllllllllllllllllll
--- error_code: 200



=== TEST 18: variable: "0" refuses
--- request
GET /var/x
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 403
--- error_log eval
qr/oneid: user "dilnoza\.karimova" not allowed: "oneid_require \$variable" in \S+:\d+ not met/



=== TEST 19: variable: empty refuses
--- http_config eval
Test::OneID::Conf::http_config() . 'map $oneid_user_id $t260_allowed { default ""; }'
--- request
GET /var/x
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
--- error_code: 403



=== TEST 20: two directives: both must hold (individual and signature)
--- request
GET /both/x
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
--- error_code: 200



=== TEST 21: two directives: the first holds, the second not: 403 for the second
--- request
GET /both/x
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 403
--- error_log eval
qr/"oneid_require auth_method" in \S+:\d+ not met/



=== TEST 22: two directives: the second holds, the first not
--- request
GET /both/x
--- more_headers
Cookie: oneid_session=T260legalllllllllllllllllllllllllllllllllll
--- error_code: 403
--- error_log eval
qr/"oneid_require user_type" in \S+:\d+ not met/



=== TEST 23: no session: the login redirect, not a 403
--- request
GET /eds/rx
--- error_code: 302



=== TEST 24: an internal redirect into a location with rules: its rules hold
--- request
GET /to-eds/x
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 403
--- response_body_like chomp
E-IMZO



=== TEST 25: an internal redirect into a location with rules: allowed
--- request
GET /to-eds/x
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
--- error_code: 200
--- response_body_like chomp
GET /eds/x



=== TEST 26: a subrequest follows its location's rules: auth_request refused with 403
--- request
GET /gate/x
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 403
--- error_log eval
qr/oneid: user "dilnoza\.karimova" not allowed: "oneid_require auth_method"/



=== TEST 27: a subrequest follows its location's rules: allowed
--- request
GET /gate/x
--- more_headers
Cookie: oneid_session=T260edseeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
--- error_code: 200
--- response_body_like chomp
GET /gate/x



=== TEST 28: nginx -t: unknown key
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require role=admin;')
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown "oneid_require" key "role".* in \S+nginx\.conf:\d+/



=== TEST 29: nginx -t: empty value
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require auth_method=;')
--- must_die
--- error_log eval
qr/\[emerg\] .*empty value of "oneid_require auth_method" in \S+nginx\.conf:\d+/



=== TEST 30: nginx -t: empty alternative
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require user_type=I|;')
--- must_die
--- error_log eval
qr/\[emerg\] .*empty value of "oneid_require user_type"/



=== TEST 31: nginx -t: a user type other than I or L
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require user_type=X;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "oneid_require user_type" "X"/



=== TEST 32: nginx -t: a TIN of 8 digits
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require legal_tin=30123456;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "oneid_require legal_tin" "30123456": 9 digits expected/



=== TEST 33: nginx -t: a lower-case auth method
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require auth_method=pkcsmethod;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "oneid_require auth_method" "pkcsmethod"/



=== TEST 34: nginx -t: no "=", and keys mixed in one directive
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require user_type=I auth_method=PKCSMETHOD;')
--- must_die
--- error_log eval
qr/\[emerg\] .*"oneid_require" mixes "user_type" with "auth_method"/



=== TEST 35: nginx -t: a bare word
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require PKCSMETHOD;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "oneid_require" rule "PKCSMETHOD": key=value or \$variable expected/



=== TEST 36: nginx -t: a PINFL of 13 digits, named by file and line
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require pinfl_file=../html/bad.pinfl;')
--- user_files
>>> bad.pinfl
# list
41203870000017

4120387000001
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid PINFL in \S+\/bad\.pinfl:4: 14 digits a line expected in \S+nginx\.conf:\d+/



=== TEST 37: nginx -t: a PINFL with a letter
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require pinfl_file=../html/bad.pinfl;')
--- user_files
>>> bad.pinfl
4120387000001x
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid PINFL in \S+\/bad\.pinfl:1:/



=== TEST 38: nginx -t: a missing PINFL file
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require pinfl_file=../html/none.pinfl;')
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) "\S+\/none\.pinfl" failed/



=== TEST 39: nginx -t: a variable with something else
--- config eval
Test::OneID::Conf::server_config(protected => 'oneid_require $oneid_pin user_type=I;')
--- must_die
--- error_log eval
qr/\[emerg\] .*"oneid_require" with a variable takes nothing else/



=== TEST 99: error_page 403 back into the refusing location does not let the request through
--- request
GET /guarded/x
--- more_headers
Cookie: oneid_session=T260doctorddddddddddddddddddddddddddddddddd
--- error_code: 403
--- response_body_like chomp
\A(?s)(?!.*X-OneID-User-Id)
