# Hostile request headers that need no session, one request each (the
# rest of t/150-hostile-input.t's header spoofing, with signed-in users,
# stays there):
#
# - client copies of the identity headers in every spelling (case, "_"
#   and "-", the bare prefix, duplicates, empty values, no space after the
#   colon, 60 header lines, a 3 KB header) never reach the echo backend,
#   on "oneid off" and on the callback (its error_page proxies to the
#   backend); on "oneid on" without a session the login starts and nothing
#   is proxied;
# - obs-fold continuation lines and whitespace, NUL or a bare CR around
#   header names are refused by nginx (400), nothing proxied;
#
# each with nginx's defaults, with "underscores_in_headers on" and with
# "ignore_invalid_headers off".  The requests are raw_request: byte for
# byte, which more_headers would not keep.  Block format: runs under t/lib's
# harness and under upstream Test::Nginx.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Test::OneID;
use Test::OneID::Conf qw(http_config defaults);

no_root_location();
log_level('info');

# every spelling of an identity header among headers that must pass
our (@LINES, @KEEP);
{
    my ($lines, $keep) = Test::OneID::spoofed_headers();
    @LINES = @$lines;
    @KEEP = @$keep;
}

sub spoof_request {
    my ($target) = @_;
    return "GET $target HTTP/1.1\r\nHost: localhost\r\n"
        . join('', map { "$_\r\n" } @LINES) . "Connection: close\r\n\r\n";
}

# The echo backend's answer (the request line, the header lines as
# received, a blank line, no body): no client-sent value anywhere, no
# header named X-OneID(-|_...) in any spelling, the 3 KB header, and the
# X-Keep-<n> lines exactly @KEEP, once each, in order.
my $other = '(?:(?!X-Keep-\d)[^\n]+\n)*';
our $SPOOF_ECHO = '\A(?!(?i:.*spoof))(?!(?i:.*\nx[-_]oneid[-_:]))'
    . '(?=.*\nX-Keep-Big: k{3000}\n)'
    . "[^\\n]*\\n$other"
    . join('', map { quotemeta($_) . "\\n$other" } @KEEP)
    . '\n\z';

add_block_preprocessor(sub { defaults(shift) });

run_tests();

__DATA__

=== TEST 1: defaults, oneid off: no client copy of an identity header reaches the backend
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
main::spoof_request('/api/mobile/h')
--- error_code: 200
--- response_body_like eval
$main::SPOOF_ECHO
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 2: defaults, callback whose error_page proxies: no client copy reaches the backend
--- config eval
Test::OneID::Conf::server_config(locations => <<"END")
    location = /oneid/callback-echo {
        oneid_callback;
        error_page 400 = \@echo;
    }
    location \@echo { proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT}; }
END
--- raw_request eval
main::spoof_request('/oneid/callback-echo?code=x')
--- error_code: 200
--- response_body_like eval
$main::SPOOF_ECHO
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 3: defaults, oneid on, no session: login starts, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
main::spoof_request('/id/h')
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*
--- response_body_unlike eval
qr/spoof|GET \/id/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 4: underscores_in_headers on, oneid off: no client copy of an identity header reaches the backend
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
main::spoof_request('/api/mobile/h')
--- error_code: 200
--- response_body_like eval
$main::SPOOF_ECHO
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 5: underscores_in_headers on, callback whose error_page proxies: no client copy reaches the backend
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;', locations => <<"END")
    location = /oneid/callback-echo {
        oneid_callback;
        error_page 400 = \@echo;
    }
    location \@echo { proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT}; }
END
--- raw_request eval
main::spoof_request('/oneid/callback-echo?code=x')
--- error_code: 200
--- response_body_like eval
$main::SPOOF_ECHO
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 6: underscores_in_headers on, oneid on, no session: login starts, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
main::spoof_request('/id/h')
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*
--- response_body_unlike eval
qr/spoof|GET \/id/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 7: ignore_invalid_headers off, oneid off: no client copy of an identity header reaches the backend
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
main::spoof_request('/api/mobile/h')
--- error_code: 200
--- response_body_like eval
$main::SPOOF_ECHO
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 8: ignore_invalid_headers off, callback whose error_page proxies: no client copy reaches the backend
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;', locations => <<"END")
    location = /oneid/callback-echo {
        oneid_callback;
        error_page 400 = \@echo;
    }
    location \@echo { proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_BACKEND_PORT}; }
END
--- raw_request eval
main::spoof_request('/oneid/callback-echo?code=x')
--- error_code: 200
--- response_body_like eval
$main::SPOOF_ECHO
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 9: ignore_invalid_headers off, oneid on, no session: login starts, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
main::spoof_request('/id/h')
--- error_code: 302
--- response_headers_like
Location: https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*
--- response_body_unlike eval
qr/spoof|GET \/id/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 10: defaults, continuation line after another header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\r\n X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 11: defaults, continuation of an identity header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin: spoof-a\r\n\tspoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 12: defaults, tab-folded identity header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\r\n\tX-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 13: defaults, space before the colon: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin : spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 14: defaults, tab before the colon: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin\t: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 15: defaults, first header line folded: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . " X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 16: defaults, NUL in the name: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin\x00: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 17: defaults, NUL in a value: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\x00X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 18: defaults, bare CR inside a line: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config()
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\rX-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 19: underscores_in_headers on, continuation line after another header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\r\n X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 20: underscores_in_headers on, continuation of an identity header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin: spoof-a\r\n\tspoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 21: underscores_in_headers on, tab-folded identity header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\r\n\tX-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 22: underscores_in_headers on, space before the colon: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin : spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 23: underscores_in_headers on, tab before the colon: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin\t: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 24: underscores_in_headers on, first header line folded: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . " X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 25: underscores_in_headers on, NUL in the name: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin\x00: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 26: underscores_in_headers on, NUL in a value: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\x00X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 27: underscores_in_headers on, bare CR inside a line: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'underscores_in_headers on;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\rX-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 28: ignore_invalid_headers off, continuation line after another header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\r\n X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 29: ignore_invalid_headers off, continuation of an identity header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin: spoof-a\r\n\tspoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 30: ignore_invalid_headers off, tab-folded identity header: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\r\n\tX-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 31: ignore_invalid_headers off, space before the colon: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin : spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 32: ignore_invalid_headers off, tab before the colon: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin\t: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 33: ignore_invalid_headers off, first header line folded: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . " X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 34: ignore_invalid_headers off, NUL in the name: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-OneID-Pin\x00: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 35: ignore_invalid_headers off, NUL in a value: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\x00X-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 36: ignore_invalid_headers off, bare CR inside a line: nginx answers 400, nothing proxied
--- config eval
Test::OneID::Conf::server_config(extra => 'ignore_invalid_headers off;')
--- raw_request eval
"GET /api/mobile/fold HTTP/1.1\r\nHost: localhost\r\n"
    . "X-Keep: a\rX-OneID-Pin: spoof-fold"
    . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body_unlike eval
qr/spoof|GET \/api/i
--- no_error_log
[alert]
[crit]
[emerg]
