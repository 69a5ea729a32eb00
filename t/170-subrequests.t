# "oneid on" holds for subrequests too: nginx runs no access handler for
# them, so ssi, auth_request and mirror used to reach a protected location
# without a session.  A subrequest is let through only with the main
# request's session, with that identity, and otherwise gets 401 without a
# byte of the protected answer.  Block format: runs under t/lib's harness
# and under upstream Test::Nginx.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config defaults);

no_root_location();
no_shuffle();
log_level('info');

# signed in as this user (seeded straight into Redis), for every block
our $SID = 'subrequestS' . ('x' x 32);
Test::OneID::seed_session($SID, pin => '31234567890123',
                          user_id => 'sub.user', ttl => 3600);

my $backend = Test::OneID::Conf::env('BACKEND_PORT', 18081);

our $LOCATIONS = <<"END";
    location = /ssi-rewritten {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 '[<!--# include virtual="/first/x" -->]';
    }

    location /first/ {
        oneid on;
        rewrite ^ /second/x last;
    }

    location /second/ {
        oneid on;
        oneid_pass_headers off;
        proxy_pass http://127.0.0.1:$backend;
    }

    location = /ssi {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 'before <!--# include virtual="/secret/data" --> after';
    }

    location = /ssi-many {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 '<!--# include virtual="/secret/1" --><!--# include virtual="/secret/2" --><!--# include virtual="/secret/3" --><!--# include virtual="/secret/4" --><!--# include virtual="/secret/5" --><!--# include virtual="/secret/6" --><!--# include virtual="/secret/7" --><!--# include virtual="/secret/8" --><!--# include virtual="/secret/9" --><!--# include virtual="/secret/10" -->';
    }

    location = /ssi-callback {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 '[<!--# include virtual="/oneid/callback?code=x&state=y" -->]';
    }

    location = /check {
        internal;
        oneid on;
        return 204;
    }

    location /guarded/ {
        oneid off;
        auth_request /check;
        proxy_set_header X-Pin \$oneid_pin;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /guarded-login/ {
        oneid off;
        auth_request /check;
        error_page 401 = \@login;
        proxy_pass http://127.0.0.1:$backend;
    }

    location \@login {
        oneid on;
    }

    location /mirrored/ {
        oneid off;
        mirror /mirror-target;
        proxy_pass http://127.0.0.1:$backend;
    }

    location = /mirror-target {
        internal;
        oneid on;
        proxy_pass http://127.0.0.1:\$server_port/sink;
    }

    location = /sink {
        deny all;
    }
END

add_block_preprocessor(sub {
    defaults(shift, config => server_config(locations => $LOCATIONS));
});

run_tests();

__DATA__

=== TEST 1: ssi without a session: the protected answer is not included
--- request
GET /ssi
--- error_code: 200
--- response_body_like chomp
\A(?!.*GET /secret/data)before .*401.* after$
--- error_log
subrequest "/secret/data" to a protected location without a session, denied



=== TEST 2: ssi with a session: included with the identity, without the cookie
--- request
GET /ssi
--- more_headers
Cookie: oneid_session=subrequestSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; clinic=7
--- error_code: 200
--- response_body_like chomp
\A(?!.*oneid_session)before GET /secret/data HTTP/1\.[01]\n(?:(?!oneid_session)[^\n]*\n)*?X-OneID-Pin: 31234567890123\n.* after$
--- no_error_log
[error]
denied



=== TEST 3: ten includes, every one with the identity
--- request
GET /ssi-many
--- more_headers
Cookie: oneid_session=subrequestSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
--- error_code: 200
--- response_body_like
^(?:GET /secret/\d+ HTTP/1\.[01]\n(?:[^\n]+\n)*?X-OneID-User-Id: sub\.user\n[^\x00]*?){10}$
--- no_error_log
[error]



=== TEST 4: auth_request to an "oneid on" location: 401 without a session
--- request
GET /guarded/page
--- error_code: 401
--- response_body_unlike
GET /guarded/page
--- error_log
subrequest "/check" to a protected location without a session, denied



=== TEST 5: auth_request with a session: passes, the identity in variables
--- request
GET /guarded/page
--- more_headers
Cookie: oneid_session=subrequestSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
--- error_code: 200
--- response_body_like chomp
\A(?!.*X-OneID-)(?=.*\nX-Pin: 31234567890123\n)GET /guarded/page HTTP/1\.[01]\n
--- no_error_log
[error]



=== TEST 6: auth_request, no session, error_page 401 to an "oneid on" location: login
--- request
GET /guarded-login/page?x=1
--- error_code: 302
--- response_headers_like
Location: ^https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?response_type=one_code&.*&state=[A-Za-z0-9_-]{22}$
--- error_log
oneid: login started for "/guarded-login/page?x=1"
--- log_level: debug



=== TEST 7: mirror without a session: the mirror subrequest is denied
--- request
GET /mirrored/x
--- error_code: 200
--- wait: 0.3
--- error_log
subrequest "/mirror-target" to a protected location without a session, denied
--- no_error_log
access forbidden by rule



=== TEST 8: mirror with a session: the mirror subrequest goes on
--- request
GET /mirrored/x
--- more_headers
Cookie: oneid_session=subrequestSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
--- error_code: 200
--- wait: 0.3
--- error_log
access forbidden by rule
--- no_error_log
denied



=== TEST 9: a subrequest to oneid_callback is refused
--- request
GET /ssi-callback
--- error_code: 200
--- response_body_like chomp
^\[.*403.*\]$
--- error_log
a subrequest cannot be a login callback or a logout, denied



=== TEST 10: a garbage session cookie is no session for subrequests either
--- request
GET /guarded/page
--- more_headers
Cookie: oneid_session=nonexistentSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
--- error_code: 401



=== TEST 11: "rewrite ... last" in a subrequest: the second location's settings
--- request
GET /ssi-rewritten
--- more_headers
Cookie: oneid_session=subrequestSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
--- error_code: 200
--- response_body_like chomp
\A(?!.*X-OneID-)\[GET /second/x HTTP/1\.[01]\n
