# Self-tests of the test harness (t/lib): needs plain nginx only -- no
# OneID module, no Redis, no mock OneID server.
#
#  1. blocks below: each section type of Test::Nginx::Socket, passing;
#  2. a generated .t of failing blocks run in a child perl: every kind of
#     assertion must be able to fail, with a useful message;
#  3. Test::OneID: browser, cookie jar, redirects, login() against a fake
#     IdP served by nginx itself, RESP parser over a socketpair.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use File::Temp ();
use IO::Socket::INET;
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use Test::OneID;

log_level('info');
add_block_preprocessor(sub {
    my $block = shift;
    # A preprocessor can fill in sections a block leaves out.
    $block->set_value(main_config => "worker_rlimit_nofile 1024;\n")
        unless defined $block->main_config;
    $block->set_value(more_headers => "X-Preprocessed: yes\n")
        unless defined $block->more_headers;
    # Without one, upstream Test::Nginx would reuse the previous block's nginx.
    $block->set_value(config => '') unless defined $block->config;
});

run_tests();
# Under upstream Test::Nginx (make test-upstream) its nginx runs until the
# end of the file; the self-tests below need the port.
Test::Nginx::Server::kill_stale_nginx(Test::Nginx::Server::servroot());
failing_blocks_fail();
oneid_helpers();

# ---------------------------------------------------------------------------

sub failing_blocks_fail {
    # Outside servroot: upstream Test::Nginx refuses to reuse a servroot
    # holding files it does not know.
    my $tmp  = File::Temp::tempdir('oneid-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $root = "$tmp/servroot";
    my $file = "$tmp/failing.t";
    open my $fh, '>', $file or die "$file: $!";
    print {$fh} failing_t();
    close $fh;

    local $ENV{TEST_NGINX_SERVROOT}   = $root;
    local $ENV{TEST_NGINX_NO_SHUFFLE} = 1;
    my $out = `$^X -It/lib $file 2>&1`;
    my $exit = $? >> 8;

    my %result;
    $result{$2} = $1 ? 'not ok' : 'ok' while $out =~ /^(not )?ok \d+ - (.*)$/mg;
    # Each of these must fail; the comments name the upstream Test::Nginx
    # semantics the harness must keep (README, Tests).
    my @want_fail = (
        'TEST 1: wrong status - status code ok',
        'TEST 2: wrong headers - header X-Foo ok',
        # deliberately stricter than upstream: names match in any case
        'TEST 2: wrong headers - header content-type absent',
        # response_headers_like is anchored: value =~ /^regex$/
        'TEST 2a: header regexes are anchored - header X-Foo like (?^:^ba$)',
        'TEST 2a: header regexes are anchored - header X-Two like (?^:^b$)',
        'TEST 2a: header regexes are anchored - header Content-Type like (?^:^plain$)',
        # a header given twice is compared as "a, b"
        'TEST 2b: all values of a header, joined - header X-Two ok',
        'TEST 3: wrong body - response_body ok',
        # the "\n" that ends a plain response_body_like section stays
        'TEST 3a: body regex, trailing newline of a section kept - response_body_like ok',
        'TEST 3b: body unlike - response_body_unlike ok',
        # upstream would check only response_body, or only qr/hello/
        'TEST 3c: a section upstream would ignore - block is usable',
        'TEST 3d: several patterns for one request - block is usable',
        # $TEST_NGINX_ in request and more_headers is sent as is
        'TEST 3e: request and more_headers are not expanded - response_body ok',
        'TEST 4: wrong logs - error_log: "this never gets logged"',
        'TEST 4: wrong logs - no_error_log: "[error]"',
        # an eval string is split into lines, one substring each
        'TEST 4a: an eval string is one pattern per line - error_log: "nor this one"',
        'TEST 5: timeout - status code ok',
        'TEST 6: bad config - status code ok',
        'TEST 6: bad config - response_body ok',
        'TEST 7: must_die but starts - nginx failed to start as expected',
        'TEST 8: unsupported section - block is usable',
        # upstream would keep the nginx of the block before
        'TEST 8a: no config - block is usable',
    );
    for my $name (@want_fail) {
        is($result{$name} // 'missing', 'not ok', "self-test: '$name' fails");
    }
    is($result{$_}, 'ok', "self-test: '$_' passes") for
        'TEST 9: passes - status code ok',
        'TEST 4a: an eval string is one pattern per line - error_log: "No such file or directory"';
    is($exit, scalar @want_fail, 'self-test: exit code counts the failures');
    like($out, qr/got: '200'\n#\s+expected: '201'/, 'self-test: status diag shows got/expected');
    like($out, qr/client socket timed out after 0\.3s/, 'self-test: timeout is explained');
    like($out, qr/--- response_body and --- response_body_like in one block: upstream/,
        'self-test: a combination upstream half-ignores is explained');
    like($out, qr/--- response_body_like gave 2 values: upstream .* checks only the first/,
        'self-test: an array of patterns for one request is explained');
    like($out, qr/nginx failed to start: .*?unknown directive "no_such_directive"/s,
        'self-test: startup failure shows nginx stderr');
    like($out, qr/unexpected error\.log line\(s\):\n.*No such file or directory/,
        'self-test: no_error_log shows the offending line');
    like($out, qr/not supported by .*--- grep_error_log/, 'self-test: unsupported section named');
    ok(!-e "$root/logs/nginx.pid", 'self-test: child stopped its nginx')
        or diag(`cat $root/logs/nginx.pid`);
}

sub failing_t {
    # A literal __DATA__ line here would end this file's code: Test::Base's
    # source filter cuts at the first such line, even inside a heredoc.
    (my $t = <<'EOF') =~ s/^DATA_MARKER$/__DATA__/m;
use Test::Nginx::Socket 'no_plan';
log_level('info');
run_tests();
DATA_MARKER
=== TEST 1: wrong status
--- config
    location /t { return 200 "x"; }
--- request
GET /t
--- error_code: 201

=== TEST 2: wrong headers
--- config
    location /t { add_header X-Foo bar; return 200 "x"; }
--- request
GET /t
--- response_headers
X-Foo: baz
!content-type
--- error_code: 200

=== TEST 2a: header regexes are anchored
--- config
    location /t { add_header X-Foo bar; add_header X-Two a; add_header X-Two b; return 200 "x"; }
--- request
GET /t
--- response_headers_like
X-Foo: ba
X-Two: b
Content-Type: plain

=== TEST 2b: all values of a header, joined
--- config
    location /t { add_header X-Two a; add_header X-Two b; return 200 "x"; }
--- request
GET /t
--- response_headers
X-Two: a

=== TEST 3: wrong body
--- config
    location /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body
bye

=== TEST 3a: body regex, trailing newline of a section kept
--- config
    location /t { return 200 "hello"; }
--- request
GET /t
--- response_body_like
^hello

=== TEST 3b: body unlike
--- config
    location /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body_unlike: ell

=== TEST 3c: a section upstream would ignore
--- config
    location /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body
hello
--- response_body_like: bye

=== TEST 3d: several patterns for one request
--- config
    location /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body_like eval
[qr/hello/, qr/bye/]

=== TEST 3e: request and more_headers are not expanded
--- config
    location /t { return 200 "[$arg_x] [$http_x_y]\n"; }
--- request
GET /t?x=$TEST_NGINX_SERVER_PORT
--- more_headers
X-Y: $TEST_NGINX_SERVER_PORT
--- response_body eval
"[$ENV{TEST_NGINX_SERVER_PORT}] [$ENV{TEST_NGINX_SERVER_PORT}]\n"

=== TEST 4: wrong logs
--- config
--- request
GET /missing.html
--- error_code: 404
--- error_log
this never gets logged
--- no_error_log
[error]

=== TEST 4a: an eval string is one pattern per line
--- config
--- request
GET /missing.html
--- error_code: 404
--- error_log eval
"No such file or directory\nnor this one"

=== TEST 5: timeout
--- user_files eval
[["big.txt", "x" x 1000]]
--- config
    location = /big.txt { limit_rate_after 500; limit_rate 1; }
--- request
GET /big.txt
--- timeout: 0.3

=== TEST 6: bad config
--- config
    no_such_directive on;
--- request
GET /t
--- response_body
x

=== TEST 7: must_die but starts
--- config
    location /t { return 200; }
--- must_die

=== TEST 8: unsupported section
--- config
    location /t { return 200; }
--- request
GET /t
--- grep_error_log: foo

=== TEST 8a: no config
--- request
GET /

=== TEST 9: passes
--- config
    location /t { return 200; }
--- request
GET /t
EOF
    return $t;
}

# ---------------------------------------------------------------------------

sub oneid_helpers {
    my $port = server_port();
    # Fake IdP: a second nginx server on a free port, i.e. another origin.
    my $idp = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
        ->sockport;
    local $ENV{TEST_NGINX_IDP_PORT} = $idp;
    my $t = Test::OneID->new(
        log_level   => 'info',
        http_config => <<"EOF",
    server {
        listen $idp;
        location = /authorize {
            return 302 "https://app.example.uz/oneid/callback?code=c-\$arg_mock_user&state=\$arg_state&extra=\$arg_extra";
        }
    }
EOF
        config => <<'EOF',
        location = /patients/42 {
            if ($cookie_oneid_session = "") {
                return 302 "http://127.0.0.1:$TEST_NGINX_IDP_PORT/authorize?state=s1";
            }
            return 200 "patient 42 for $cookie_oneid_session\n";
        }
        location = /oneid/callback {
            add_header Set-Cookie "oneid_session=sess-$arg_code; Path=/; HttpOnly; SameSite=Lax";
            return 302 /patients/42;
        }
        location = /cookies {
            add_header Set-Cookie "a=1; Path=/";
            add_header Set-Cookie "scoped=2; Path=/only";
            add_header Set-Cookie "sec=3; Path=/; Secure";
            add_header Set-Cookie "old=4; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT";
            return 200 "cookie header: [$http_cookie]\n";
        }
        location = /logout {
            add_header Set-Cookie "a=; Path=/; Max-Age=0";
            return 200 "cookie header: [$http_cookie]\n";
        }
        location /only { return 200 "cookie header: [$http_cookie]\n"; }
        location = /echo-headers { return 200 "accept=$http_accept\n"; }
        location = /post {
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/post-back;
            proxy_set_header X-Body $request_body;
        }
        location = /post-back { return 200 "body=[$http_x_body] type=[$http_content_type]\n"; }
        location = /rel { return 302 "/cookies"; }
EOF
    );

    my $b = $t->browser;
    my $res = $b->get('/cookies');
    is($res->{status}, 200, 'browser: GET relative URL');
    is(scalar @{ $res->{headers}{'set-cookie'} }, 4, 'browser: all Set-Cookie lines exposed');
    is($b->cookie('a'), '1', 'jar: cookie stored');
    is($b->cookie('old'), undef, 'jar: Expires in the past is not stored');
    ok($b->cookie_attrs('sec')->{secure}, 'jar: Secure cookie stored, flag recorded');
    is($res->header('Content-Type'), 'text/plain', 'response: header() method');
    is($res->{header}->('content-type'), 'text/plain', 'response: header coderef');

    $res = $b->get('/cookies');
    is($res->{body}, "cookie header: [a=1; sec=3]\n", 'jar: only path-matching cookies sent');
    $res = $b->get('/only/x');
    like($res->{body}, qr/^cookie header: \[scoped=2; a=1; sec=3\]/, 'jar: longest path first');
    $res = $b->get('/logout');
    is($b->cookie('a'), undef, 'jar: Max-Age=0 deletes');

    $res = $b->get('/echo-headers', { Accept => 'application/json' });
    is($res->{body}, "accept=application/json\n", 'browser: extra request headers');
    $res = $b->post('/post', { x => 'a b' });
    is($res->{body}, "body=[x=a+b] type=[application/x-www-form-urlencoded]\n",
        'browser: POST form body');

    $res = $b->get('/rel');
    is($res->{status}, 302, 'browser: redirects are not followed');
    $res = $b->follow($res);
    is($res->{url}, $t->base_url . '/cookies', 'browser: follow() resolves Location');

    $b->clear_cookies;
    is_deeply($b->cookies, {}, 'jar: clear_cookies');
    $b->set_cookie(oneid_session => 'forged');
    $res = $b->get('/patients/42');
    is($res->{body}, "patient 42 for forged\n", 'jar: set_cookie');
    $b->clear_cookies;

    $res = $b->login('/patients/42', user => 'citizen-basic', params => { extra => 'x y' });
    is($res->{status}, 302, 'login: callback response returned');
    is($res->{location}, "http://127.0.0.1:$port/patients/42", 'login: callback redirects back');
    is(scalar @{ $res->{login_steps} }, 3, 'login: three steps recorded');
    like($res->{login_steps}[1]{location}, qr/code=c-citizen-basic&state=s1&extra=x%20y$/,
        'login: mock_user and params sent to the IdP');
    is($b->cookie('oneid_session'), 'sess-c-citizen-basic', 'login: session cookie stored');
    is($b->cookie('oneid_session', "http://127.0.0.1:$idp/"), undef,
        'jar: nginx cookies are not sent to the IdP origin');
    my $attrs = $b->cookie_attrs('oneid_session');
    ok($attrs->{httponly} && $attrs->{samesite} eq 'Lax', 'jar: HttpOnly and SameSite recorded');
    is($b->follow($res)->{body}, "patient 42 for sess-c-citizen-basic\n", 'login: session works');

    my @diag;
    {
        no warnings 'redefine';
        local *Test::More::diag = sub { push @diag, join '', @_ };
        $res = $b->login('/cookies');
    }
    is($res->{status}, 200, 'login: failing step returns its response');
    like($diag[0] // '', qr{step 1/3 failed: .*GET http://127\.0\.0\.1:\d+/cookies -> 200}s,
        'login: failing step explained');

    $t->mark_error_log;
    $b->get('/nonexistent-file');
    like($t->error_log_since_mark, qr/nonexistent-file" failed/, 'error_log_since_mark');
    ok($t->wait_for_error_log('nonexistent-file'), 'wait_for_error_log');

    # RESP parser against canned replies on a socketpair.
    socketpair(my $client, my $server, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    $t->{redis} = $client;
    my @replies = ("+OK\r\n", "\$5\r\nhello\r\n", "\$-1\r\n", ":42\r\n",
        "*3\r\n\$1\r\na\r\n:7\r\n*-1\r\n", "-ERR wrong type\r\n");
    syswrite $server, join '', @replies;
    is($t->redis('SET', 'k', 'v'), 'OK', 'redis: simple string');
    my $sent = '';
    sysread $server, $sent, 1000;
    is($sent, "*3\r\n\$3\r\nSET\r\n\$1\r\nk\r\n\$1\r\nv\r\n", 'redis: command encoded as RESP');
    is($t->redis('GET', 'k'), 'hello', 'redis: bulk string');
    is($t->redis('GET', 'nope'), undef, 'redis: nil bulk');
    is($t->redis('INCR', 'n'), 42, 'redis: integer');
    is_deeply($t->redis('X'), ['a', 7, undef], 'redis: array');
    ok(!eval { $t->redis('LPUSH', 'k', 'v'); 1 } && $@ =~ /Redis error: ERR wrong type/,
        'redis: error reply dies with the message');

    $t->stop;
    ok(!Test::Nginx::Server::port_accepts(), 'stop: nginx is gone');
}

__DATA__

=== TEST 1: static file from user_files
--- user_files
>>> index.html
<p>hello</p>
--- request
GET /
--- response_body
<p>hello</p>
--- response_headers
Content-Length: 13
Content-Type: text/html
!X-Absent

=== TEST 2: nested user file, HTTP/1.0 request
--- user_files
>>> sub/dir/file.txt
nested
--- request
GET /sub/dir/file.txt HTTP/1.0
--- response_body
nested
--- response_headers
Connection: close

=== TEST 3: redirect with Location checked by regex; variables expanded
--- config
    location /t { return 302 /login?next=$uri; }
--- request
GET /t
--- error_code: 302
--- response_headers_like eval
"Location: http://localhost:$ENV{TEST_NGINX_SERVER_PORT}/login\\?next=/t"
--- response_body_like: 302 Found

=== TEST 4: more_headers reach nginx; absent header
--- config
    location /t {
        add_header X-Echo $http_x_foo;
        add_header X-Cookie-A $cookie_a;
        return 200 "ok\n";
    }
--- more_headers
X-Foo: bar baz
Cookie: a=b; c=d
--- request
GET /t
--- response_headers
X-Echo: bar baz
X-Cookie-A: b
!X-Absent

=== TEST 5: 404 of a missing file is logged
--- request
GET /missing.html
--- error_code: 404
--- error_log
open() "
/html/missing.html" failed (2: No such file or directory)
--- no_error_log
[alert]
[emerg]

=== TEST 6: POST body reaches the backend
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
        proxy_set_header X-Req-Body $request_body;
        proxy_set_header X-Req-Len $content_length;
    }
    location = /back { return 200 "body=[$http_x_req_body] len=$http_x_req_len"; }
--- request
POST /echo
hello world
--- response_body chomp
body=[hello world] len=11

=== TEST 7: request eval, http_config, per-block log_level, main_config from preprocessor
--- log_level: debug
--- http_config
    map $arg_n $double { default "?"; 2 4; }
--- config
    location /t { return 200 "double=$double\n"; }
--- request eval
"GET /t?n=" . (1 + 1)
--- response_body
double=4
--- error_log eval
[qr/http request line: "GET \/t\?n=2 HTTP\/1\.1"/]

=== TEST 8: chunked response is decoded
--- user_files
>>> ssi.txt
a<!--# echo var="arg_x" -->b
--- config
    location = /ssi.txt { ssi on; ssi_types *; }
--- request
GET /ssi.txt?x=123
--- response_headers
Transfer-Encoding: chunked
--- response_body
a123b

=== TEST 9: raw_request, body_like with a one-element arrayref
--- config
    location /t { return 200 "alpha beta\n"; }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: x\r\n\r\n"
--- response_body_like eval
[qr/^alpha (?!gamma)beta$/]

=== TEST 10: init runs after nginx is up
--- init
open my $fh, '>', html_dir() . "/from-init.txt" or die $!;
print $fh "written by init\n";
close $fh;
--- request
GET /from-init.txt
--- response_body
written by init

=== TEST 11: abort at timeout is not a failure
--- user_files eval
[["big.txt", "x" x 1000]]
--- config
    location = /big.txt { limit_rate_after 500; limit_rate 1; }
--- request
GET /big.txt
--- timeout: 0.3
--- abort
--- response_headers
Content-Length: 1000

=== TEST 12: must_die for a bad config
--- config
    no_such_directive on;
--- must_die
--- error_log
unknown directive "no_such_directive"

=== TEST 13: wait section; status without body; preprocessor's more_headers
--- config
    location /t { add_header X-Pre $http_x_preprocessed; return 204; }
--- request
GET /t
--- wait: 0.05
--- error_code: 204
--- response_headers
X-Pre: yes
--- no_error_log
[error]

=== TEST 14: upstream semantics that pass: joined header values, anchored like, request not expanded
--- config
    location /t {
        add_header X-Two a;
        add_header X-Two b;
        return 200 "[$arg_x]\n";
    }
--- request
GET /t?x=$TEST_NGINX_SERVER_PORT
--- response_headers_like
X-Two: a, b
Content-Type: text/.*
X-Absent:
--- response_body_like
^\[\$TEST_NGINX_SERVER_PORT\]$

=== TEST 15: request defaults, trimmed body, default index.html, error_log eval string
--- log_level: debug
--- request
# a comment line before the request line

GET
--- response_body_like: It works!
--- error_log eval
"\"GET / HTTP/1.1\"\nhttp request line"

=== TEST 16: POST body is sent whitespace-trimmed with its length
--- config
    location = /len {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
        proxy_set_header X-Len $content_length;
    }
    location = /back { return 200 "len=$http_x_len\n"; }
--- request
POST /len
   hello  

--- response_body
len=5

=== TEST 17: response_headers: $ServerPort replaced, header name with _ for -
--- config
    location /t { return 301 /x; }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: http://localhost:$ServerPort/x
Content_Type: text/html
