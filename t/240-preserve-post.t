# oneid_preserve_post: a form posted to a protected location after the
# session expired is kept in the browser (a page that stores it in
# sessionStorage, then goes to OneID) and posted again after the login
# (a page answered by the callback of that flow only).  Here: what the
# pages carry, that nothing of the form reaches Redis, that a field cannot
# break out of the data block, the owner cookie, and what is not kept
# (scripts, multipart, too large, another site, nobody signed in before,
# oneid_preserve_post off).  The browser part (the script itself) is in
# t/browser/run.js.

use strict;
use warnings;
use utf8;

use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Test::OneID qw(session_key preserve_data preserve_script form_urlencode
                   form_headers);
use Test::OneID::Conf qw(server_config);
use Time::HiRes ();

my $redis = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} // 16379);
my $backend = $ENV{TEST_NGINX_BACKEND_PORT} // 18081;

my $t = Test::OneID->new(
    http_config   => "oneid_redis $redis prefix=oneid240:;\n",
    config        => server_config(
        extra     => "oneid_state_timeout 300s;",
        protected => "client_body_buffer_size 64k;",
        locations => <<"END"),
    location /off/ {
        oneid on;
        oneid_preserve_post off;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /small/ {
        oneid on;
        oneid_preserve_post_max_size 1k;
        client_body_buffer_size 64k;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /tiny-buffer/ {
        oneid on;
        client_body_buffer_size 1k;
        proxy_pass http://127.0.0.1:$backend;
    }
END
    root_location => 0,
    log_level     => 'info',
);
$t->clear_keys('oneid240:');

my @form = (
    note    => "</script><script>alert(1)</script> <!-- x --> a\x{2028}b\x{2029}c",
    patient => 'Абдуллаев Ғайрат Ўктамович, o‘g‘li',
    dx      => 'J06.9',
    dx      => 'I10',
    'a&b=c' => "line1\r\nline2 + 100% & \"q\" 'r' \\ >",
    empty   => '',
    submit  => 'Saqlash',
);
my $body = form_urlencode(@form);
my $path = '/ward/form?id=7&x=%3Cy%3E';

sub expire {
    my ($b) = @_;
    $t->redis('DEL', session_key($b->cookie('oneid_session'), 'oneid240:'));
}

sub callback_of {
    my ($b, $res, $user) = @_;
    my $d = preserve_data($res->{body});
    my $idp = $b->get(($d ? $d->{go} : $res->header('Location')) . "&mock_user=$user");
    (my $cb = $idp->header('Location') // '') =~ s{^https?://[^/]+}{};
    return $b->get($cb);
}

sub redis_values {
    return join "\n", map { $t->redis('TYPE', $_) eq 'string'
                            ? $t->redis('GET', $_) // '' : '' }
                      $t->keys_of('oneid240:*');
}

# --- the owner cookie ------------------------------------------------------

my $b = $t->browser;
my $res = $b->login('/ward', user => 'doctor');
is $res->{status}, 302, 'a doctor signs in (no form: the usual redirect)';
my $owner = $b->cookie_attrs('oneid_session_owner');
like $owner && $owner->{value}, qr/^[0-9a-f]{32}$/,
     'the owner cookie: 32 hex digits';
ok $owner && $owner->{httponly} && !$owner->{secure}
   && lc($owner->{samesite} // '') eq 'lax' && $owner->{path} eq '/'
   && !defined $owner->{expires} && !defined $owner->{max_age},
   '... HttpOnly, SameSite=Lax, Path=/, no Secure (oneid_cookie_secure off),'
   . ' dies with the browser' or diag $owner && $owner->{raw};
unlike $owner->{value}, qr/41203870000017|\Q${\ sha256_hex('41203870000017')}\E/,
       '... neither the PINFL nor its plain hash';

my $b2 = $t->browser;
$b2->login('/ward', user => 'doctor');
is $b2->cookie('oneid_session_owner'), $owner->{value},
   'the same doctor elsewhere: the same tag';
my $b3 = $t->browser;
$b3->login('/ward', user => 'citizen-basic');
my $other_tag = $b3->cookie('oneid_session_owner');
like $other_tag, qr/^[0-9a-f]{32}$/, 'another user: a tag too';
isnt $other_tag, $owner->{value}, '... another one';

# --- the session expires, the doctor posts the form -----------------------

expire($b);
$t->mark_error_log;
$res = $b->post($path, $body, form_headers());
is $res->{status}, 200, 'a form after the session expired: 200, a page';
like $res->header('Content-Type'), qr{^text/html; charset=utf-8}, '... HTML';
is $res->header('Cache-Control'), 'no-store', '... never cached';
my $d = preserve_data($res->{body});
ok $d, '... with a data block that parses' or diag $res->{body};
is_deeply $d->{e}{fields}, [map { [$form[2 * $_], $form[2 * $_ + 1]] } 0 .. $#form / 2],
          '... every field, in order, repeated names kept, </script>, <!--,'
          . ' U+2028, Cyrillic and Uzbek intact';
is $d->{e}{url}, $path, '... the URL posted to';
is $d->{e}{owner}, $owner->{value}, '... the owner: the tag of the expired session';
my $timeout_ms = 300 * 1000;
ok abs($d->{e}{expires} - (time * 1000 + $timeout_ms)) < 5000,
   '... expires after oneid_state_timeout' or diag $d->{e}{expires};
my ($state) = ($d->{go} // '') =~ /[?&]state=([^&]+)/;
like $d->{go}, qr{^https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?},
     '... goes on to the OneID authorize URL';
is $d->{k}, "oneid-post:$state", "... under a key of the flow's state";
is $d->{m}, 'start', '... the "start" page';

my ($block) = $res->{body} =~ m{id="oneid-post">(.*?)</script>}s;
unlike $block, qr/[<>&]|\x{2028}|\xe2\x80[\xa8\xa9]/,
       'no "<", ">", "&" or raw U+2028/U+2029 left in the block';
like $block, qr/\\u003c\/script\\u003e\\u003cscript\\u003ealert/,
     '... "</script>" is there as \\u003c/script\\u003e';
is scalar(() = $res->{body} =~ /<script/g), 2,
   'two <script> elements in the page, no more';
my ($script, $source) = preserve_script($res->{body});
my $csp = $res->header('Content-Security-Policy') // '';
like $csp, qr/script-src \Q$source\E;/, "CSP allows the page's script by its hash";
like $csp, qr/default-src 'none'/, "... and nothing else";
my $readme = do { local (@ARGV, $/) = 'README.md'; <> };
like $readme, qr/script-src\s+\Q$source\E;/, '... the hash README tells sites to allow';
like $csp, qr/form-action 'self'/, "... forms may go to this site only";
like $res->{body}, qr{<noscript>.*href="https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?[^"]*&amp;state=\Q$state\E.*</noscript>}s,
     'without JavaScript: a link to OneID';
my $marker = $b->cookie_attrs('oneid_session_post');
is $marker && $marker->{value}, $state, 'the pending-form cookie names the flow';
is $marker && $marker->{max_age}, 300, '... for oneid_state_timeout';
ok $marker && $marker->{httponly}, '... HttpOnly';
my $after = redis_values();
unlike $after, qr/J06\.9|Абдуллаев|alert|Saqlash/, 'nothing of the form in Redis';
like $t->error_log_since_mark, qr/\[info\].*a form posted to "\/ward\/form\?id=7&x=%3Cy%3E" \(\d+ bytes\) is kept/,
     'an info line says the form is kept';

# --- the callback of that flow -------------------------------------------

$res = callback_of($b, $res, 'doctor');
is $res->{status}, 200, 'the callback of the flow with the form: 200, a page';
$d = preserve_data($res->{body});
is $d && $d->{m}, 'finish', '... the page that posts the form again';
is $d->{k}, "oneid-post:$state", '... for the entry of this flow';
is $d->{o}, $owner->{value}, "... with the tag of the user who signed in";
is $d->{u}, $path, '... to the same URL';
ok abs($d->{now} - time * 1000) < 5000, "... with the server's time";
like $res->{body}, qr{<a href="/ward/form\?id=7&amp;x=%3Cy%3E">}, '... a link to it, escaped';
my ($script2) = preserve_script($res->{body});
is $script2, $script, '... the same script (one hash)';
like $res->header('Content-Security-Policy') // '', qr/script-src \Q$source\E;/,
     '... allowed by the same CSP';
ok $b->cookie('oneid_session'), 'the session cookie came with it';
ok !defined $b->cookie('oneid_session_post'), 'the pending-form cookie is gone';
is $b->cookie('oneid_session_owner'), $owner->{value}, 'the owner cookie: the same doctor';
$res = $b->post($path, $body, form_headers());
is $res->{status}, 200, 'the form posted again (by the script) reaches the backend';
like $res->{body}, qr/^POST \Q$path\E HTTP/, '... as a POST to the same URL';
like $res->{body}, qr/\Q$body\E\z/, '... with the same body';

# --- another user signs in instead ----------------------------------------

expire($b);
$res = $b->post($path, $body, form_headers());
is $res->{status}, 200, 'the form again after expiry: the page';
my $entry = preserve_data($res->{body})->{e};
$res = callback_of($b, $res, 'citizen-basic');
is $res->{status}, 200, 'another user signs in: the page (the script decides)';
$d = preserve_data($res->{body});
is $d->{o}, $other_tag, "... with the new user's tag";
isnt $d->{o}, $entry->{owner}, "... which is not the form's owner: not posted";
like $res->{body}, qr/id="oneid-post-owner" hidden>.*another user signed in/s,
     '... the notice the script shows, hidden until then';
is $b->cookie('oneid_session_owner'), $other_tag, 'the owner cookie: the new user';

# --- only the flow that carried a form ------------------------------------

expire($b);
$res = $b->post($path, $body, form_headers());
my $with_form = $res;
expire($b);
my $plain = $b->get('/ward/other');
is $plain->{status}, 302, 'a plain GET meanwhile: the usual redirect';
$res = callback_of($b, $plain, 'citizen-basic');
is $res->{status}, 302, "its callback: the usual redirect, not the form's page";
like $res->{location}, qr{^(http://[^/]+)?/ward/other$}, '... to its own page';
ok defined $b->cookie('oneid_session_post'), '... the pending-form cookie stays';
$b->set_cookie(clinic => 'ward-3');
$res = $b->get('/ward/echo');
like $res->{body}, qr/^Cookie: clinic=ward-3\r?$/m,
     'the upstream gets neither the owner nor the pending-form cookie'
     or diag $res->{body};
$res = callback_of($b, $with_form, 'citizen-basic');
is $res->{status}, 200, "the form's flow: the page";

# --- what is not kept ------------------------------------------------------

sub not_kept {
    my ($name, $b, $url, $content, $headers, $status, $log) = @_;
    $t->mark_error_log;
    my $res = $b->post($url, $content, $headers);
    is $res->{status}, $status, "$name: $status";
    ok !preserve_data($res->{body}), "... no page that keeps the form";
    like $t->error_log_since_mark, $log, "... $log" if $log;
}

my $c = $t->browser;
$c->login('/ward', user => 'doctor');
expire($c);

# a body that arrives slowly: read asynchronously, then the page
{
    my $port = $t->port;
    my $cookie = $c->cookie_header($t->base_url . '/');
    my $s = Test::OneID::raw_send($port,
        "POST $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nConnection: close\r\n"
        . "Cookie: $cookie\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        . "Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n" . substr($body, 0, 20));
    Time::HiRes::sleep(0.3);
    Test::OneID::raw_write($s, substr($body, 20));
    my $raw = Test::OneID::raw_response($s);
    my $d = preserve_data($raw->{body} // '');
    is $raw->{status}, 200, 'a body sent in two parts 300 ms apart: the page';
    is_deeply $d && $d->{e}{fields}, [map { [$form[2 * $_], $form[2 * $_ + 1]] } 0 .. $#form / 2],
              '... with every field';
}

not_kept('XMLHttpRequest', $c, $path, $body,
         form_headers('X-Requested-With' => 'XMLHttpRequest'), 401);
not_kept('fetch() (Sec-Fetch-Mode: cors)', $c, $path, $body,
         form_headers('Sec-Fetch-Mode' => 'cors'), 401);
not_kept('a script asking for JSON', $c, $path, '{"a":1}',
         { 'Content-Type' => 'application/json', Accept => 'application/json' }, 401);
not_kept('a POST without Sec-Fetch-Mode nor text/html', $c, $path, $body,
         { 'Content-Type' => 'application/x-www-form-urlencoded', Accept => '*/*',
           'Sec-Fetch-Site' => 'same-origin' }, 302);
$res = $c->post($path, $body, { 'Content-Type' => 'application/x-www-form-urlencoded',
                                 Accept => 'text/html', 'Sec-Fetch-Site' => 'same-origin' });
ok $res->{status} == 200 && preserve_data($res->{body}),
   'no Sec-Fetch-Mode but Accept: text/html (an older browser): kept';
my $mp = "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ--\r\n";
not_kept('multipart/form-data', $c, $path, $mp,
         form_headers('Content-Type' => 'multipart/form-data; boundary=XyZ'), 302,
         qr/\[info\].*form posted to "\/ward\/form" is not kept across the login: multipart/);
not_kept('another site posts (Sec-Fetch-Site: cross-site)', $c, $path, $body,
         form_headers('Sec-Fetch-Site' => 'cross-site'), 302);
not_kept('larger than oneid_preserve_post_max_size (1k)', $c, '/small/form',
         form_urlencode(note => 'x' x 2000), form_headers(), 302,
         qr/\[info\].*"\/small\/form" is not kept .*larger than oneid_preserve_post_max_size/);
not_kept('in a temporary file (client_body_buffer_size 1k)', $c, '/tiny-buffer/form',
         form_urlencode(note => 'x' x 4000), form_headers(), 302,
         qr/\[info\].*"\/tiny-buffer\/form" is not kept .*temporary file/);
not_kept('not UTF-8', $c, $path, 'note=%FF%FE', form_headers(), 302,
         qr/\[info\].*is not kept .*not UTF-8/);
not_kept('oneid_preserve_post off', $c, '/off/form', $body, form_headers(), 302);
my $fresh = $t->browser;
not_kept('nobody signed in at this browser before (no owner cookie)', $fresh, $path,
         $body, form_headers(), 302,
         qr/\[info\].*is not kept .*nobody has signed in at this browser/);
$fresh->set_cookie(oneid_session_owner => 'not-hex');
not_kept('a malformed owner cookie', $fresh, $path, $body, form_headers(), 302);

is_deeply [$t->errors_since_mark], [], 'no [error] in the log';

done_testing;
