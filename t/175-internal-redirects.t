# After an internal redirect (try_files, error_page, X-Accel-Redirect) the
# session found in the first location is reused only under the new
# location's settings: its oneid_pass_headers, oneid_session_lifetime,
# oneid_cookie_name and "oneid off".  Block format: runs under t/lib's
# harness and under upstream Test::Nginx.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config defaults);

no_root_location();
log_level('info');

our $SID = 'redirectsS' . ('r' x 33);
# logged in ten minutes ago
Test::OneID::seed_session($SID, pin => '41234567890123', ttl => 3600,
                          login_time => time - 600);
# for the tests that end their session
Test::OneID::seed_session('redirectsS' . ('k' x 33), ttl => 3600);
# the same, for the test that ends its session
Test::OneID::seed_session('redirectsS' . ('e' x 33), ttl => 3600,
                          login_time => time - 600);

my $backend = Test::OneID::Conf::env('BACKEND_PORT', 18081);

our $LOCATIONS = <<"END";
    location /to-no-headers/ { oneid on; try_files /nonexistent \@no_headers; }
    location \@no_headers {
        oneid on;
        oneid_pass_headers off;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /to-short/ { oneid on; try_files /nonexistent \@short; }
    location \@short {
        oneid on;
        oneid_session_lifetime 5m;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /to-long/ { oneid on; try_files /nonexistent \@long; }
    location \@long {
        oneid on;
        oneid_session_lifetime 1h;
        oneid_header_encoding raw;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /to-other-app/ { oneid on; try_files /nonexistent \@other_app; }
    location \@other_app {
        oneid on;
        oneid_cookie_name other_session;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /to-public/ { oneid on; try_files /nonexistent \@public; }
    location \@public {
        oneid off;
        proxy_pass http://127.0.0.1:$backend;
    }
END

add_block_preprocessor(sub {
    defaults(shift, config => server_config(locations => $LOCATIONS),
             more_headers =>
                 "Cookie: oneid_session=redirectsS" . ('r' x 33) . "\n");
});

run_tests();

__DATA__

=== TEST 1: oneid_pass_headers off in the target: no identity headers
--- request
GET /to-no-headers/x
--- error_code: 200
--- response_body_like chomp
\A(?!.*X-OneID-)GET /to-no-headers/x HTTP/1\.[01]\n



=== TEST 2: a shorter oneid_session_lifetime in the target: login again
--- request
GET /to-short/x
--- more_headers
Cookie: oneid_session=redirectsSeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*
--- error_log
session reached oneid_session_lifetime



=== TEST 3: a longer lifetime: served, with the target's header settings
--- request
GET /to-long/x
--- error_code: 200
--- response_body_like chomp
\nX-OneID-Pin: 41234567890123\n
--- no_error_log
[error]



=== TEST 4: another oneid_cookie_name in the target: that cookie is needed
--- request
GET /to-other-app/x
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*



=== TEST 5: "oneid off" in the target: the identity is not passed on
--- request
GET /to-public/x
--- error_code: 200
--- response_body_like chomp
\A(?!.*X-OneID-)GET /to-public/x HTTP/1\.[01]\n



=== TEST 6: the same settings: the identity headers once, not twice
--- config eval
Test::OneID::Conf::server_config(locations => <<"END")
    location /to-same/ { oneid on; try_files /nonexistent \@same; }
    location \@same {
        oneid on;
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT};
    }
END
--- request
GET /to-same/x
--- error_code: 200
--- response_body_like chomp
^(?:(?!X-OneID-Pin)[^\n]*\n)*X-OneID-Pin: 41234567890123\n(?:(?!X-OneID-Pin)[^\n]*\n)*\n$



=== TEST 7: a subrequest (auth_request) before the redirect: still signed in
--- config eval
Test::OneID::Conf::server_config(locations => <<"END")
    location = /authz { internal; oneid on; return 204; }
    location /checked/ {
        oneid on;
        auth_request /authz;
        try_files /nonexistent \@checked;
    }
    location \@checked {
        oneid on;
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT};
    }
END
--- request
GET /checked/x
--- error_code: 200
--- response_body_like chomp
\AGET /checked/x HTTP/1\.[01]\n(?:[^\n]*\n)*?X-OneID-Pin: 41234567890123\n



=== TEST 8: an internal redirect into the logout location ends the session
--- config eval
Test::OneID::Conf::server_config(locations => <<"END")
    location = /bye { oneid on; try_files /nonexistent /oneid/logout; }
END
--- request
GET /bye
--- more_headers
Sec-Fetch-Site: same-origin
Cookie: oneid_session=redirectsSkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk
--- error_code: 302
--- error_log
user "seeded.user" signed out
