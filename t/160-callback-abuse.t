# The callback under abuse, and OneID answers that 120 does not cover.
#
# 1. OneID faults: 503 with an empty body, 502 from a gateway, truncated
#    or non-object token answers, access_token as a number, an empty
#    identify body, the identity wrapped in an array, "pin" twice,
#    full_name as an object, a legal_info tin as a number, objects nested
#    10000 deep (through the suite's 16k buffer and through a 128k one:
#    the module collects the answer itself either way), over 1 MB of
#    JSON: 502, a page and not a redirect, exactly one [error] line
#    of the module naming the cause, no session; the spent state cannot
#    be replayed.
# 2. Bounced back without a code, with ?error=access_denied, with an empty
#    query: a 400 page, never a redirect; a signed-in user goes home.  A
#    browser that follows every redirect stops after OneID's one round
#    trip, also when OneID or the callback fails; a signed-in user is not
#    sent back to OneID by a page that nginx serves through an internal
#    redirect (index).
# 3. Replays: the same callback twice, a used code with a fresh state (in
#    the same and in another browser), two callbacks with one state at
#    the same time, a state from another browser.
# 4. Oversized input: code and state at and past their limits, raw and
#    percent-encoded; a long query string; one past nginx's header
#    buffers.
# 5. 200 logins started by one browser, 199 of them at the same time: one
#    state cookie, a Cookie header that does not grow, a bounded number of
#    state records in Redis (MAX_PENDING_STATES below), each with a TTL of
#    at most 10 minutes, and each state still usable on its own.  Also 10
#    tabs restored at once by a browser without a state cookie.
#
# Redis keys use this file's own prefix (oneid160:); the 128k-buffer
# server listens on TEST_NGINX_REDIS_PORT + 60.

use strict;
use warnings;

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use Test::More;
use Test::OneID qw(get_request parallel header_values state_key);
use Test::OneID::Conf qw(http_config server_config env);

# How many login states one browser may have pending in Redis.  Today
# every login start writes one record (10-minute TTL) and nothing caps
# them per browser: 200 starts leave 200 records.  Lower this when a
# per-browser cap exists.
my $MAX_PENDING_STATES = 200;

my $prefix = 'oneid160:';
my $redis = '127.0.0.1:' . env('REDIS_PORT', 16379);
my $main = Test::Nginx::Server::port();
my $big = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 60;

my $LOCATIONS = <<'END';
    location /static/ { oneid on; root html; index index.html; }
END

my $big_conf = server_config(buffer => '128k', locations => $LOCATIONS);
$big_conf =~ s/subrequest_output_buffer_size 16k;/subrequest_output_buffer_size 128k;/;

my $t = Test::OneID->new(
    http_config => http_config(redis => "$redis prefix=$prefix")
        . "server {\n    listen 127.0.0.1:$big;\n    server_name localhost;\n$big_conf\n}\n",
    config         => server_config(locations => $LOCATIONS),
    root_location  => 0,
    log_level      => 'info',
    master_process => 1,    # a crashing worker is then logged
    user_files     => ">>> static/index.html\nstatic index page\n",
);

$t->clear_keys($prefix);

sub state_of { ($_[0] =~ /[?&]state=([^&]+)/)[0] // '' }
sub code_of  { ($_[0] =~ /[?&]code=([^&]+)/)[0] // '' }

# a page, not a redirect, and no session created
sub is_page {
    my ($what, $res, $status, $b) = @_;
    is $res->{status}, $status, "$what: $status";
    ok !defined $res->{location}, "$what: a page, not a redirect";
    ok !(grep { /^oneid_session=/ } @{ $res->{headers}{'set-cookie'} || [] }),
        "$what: no session cookie";
    ok !defined $b->cookie('oneid_session'), "$what: the browser has no session" if $b;
}

# raw HTTP: Test::OneID::get_request, parallel, header_values

my $UZ_502 = 'OneID javob bermayapti';

# ---------------------------------------------------------------------------
# 1. OneID faults

# One failed login through the mock: the answer, one log line, no session.
#   %want: status, log (qr//), port, nginx_error (qr//, one line of nginx's own)
sub failed_login {
    my ($name, %want) = @_;
    my $b = $t->browser($want{port});
    my $before = join ' ', $t->session_keys($prefix);
    $t->mark_error_log;

    my $cb = $b->callback_for($want{user} // $name);
    like $cb, qr{^/oneid/callback\?code=[0-9a-f-]{36}&state=}, "$name: OneID sent the user back"
        or return;
    my $res = $b->get($cb);
    is_page($name, $res, $want{status}, $b);
    like $res->{body}, qr{<title>\Q$UZ_502\E</title>}, "$name: the \"OneID is not responding\" page";
    is join(' ', $t->session_keys($prefix)), $before, "$name: no session key in Redis";
    ok !defined $b->cookie(Test::OneID::flow_name(state_of($cb))), "$name: the flow is over (its cookie gone)";

    ok $t->wait_for_error_log($want{log}, 3), "$name: error log says $want{log}";
    my @errors = grep { /\[error\]/ } split /^/, $t->error_log_since_mark;
    my @ours = grep { /oneid:/ } @errors;
    is scalar @ours, 1, "$name: exactly one [error] line of the module" or diag @ours;
    my @other = grep { !/oneid:/ } @errors;
    is scalar @other, $want{nginx_error} ? 1 : 0, "$name: nginx's own [error] lines"
        or diag @other;
    like $other[0] // '', $want{nginx_error}, "$name: nginx says $want{nginx_error}"
        if $want{nginx_error};

    # the same callback again (the back button, a reload): its flow is
    # over, so a new login, never the old code again, no session
    my $again = $b->get($cb);
    is $again->{status}, 302, "$name, replayed: a new login";
    like $again->{location} // '', qr{/sso/oauth/Authorization\.do\?.*state=~},
        "$name, replayed: to OneID, marked as restarted (no second restart)";
    ok !defined $b->cookie('oneid_session'), "$name, replayed: no session";
}

my $BYTES = qr/\(\d+ bytes\)/;
my @faults = (
    [ 'token-503', log => qr/oneid: OneID token request answered with status 503, client:/ ],
    [ 'token-truncated', log => qr/oneid: OneID token response is not valid JSON $BYTES: .+ at byte \d+, client:/ ],
    [ 'token-array', log => qr/oneid: OneID token response is not a JSON object, client:/ ],
    [ 'token-number', log => qr/oneid: OneID field "access_token" is not a string, client:/ ],
    [ 'identify-502', log => qr/oneid: OneID identify request answered with status 502, client:/ ],
    [ 'identify-empty', log => qr/oneid: OneID identify response is not valid JSON \(0 bytes\): /ms ],
    [ 'identify-array', log => qr/oneid: OneID identify response is not a JSON object, client:/ ],
    [ 'identify-duplicate-pin', log => qr/oneid: OneID identify response is not valid JSON $BYTES: duplicate object key/ ],
    [ 'identify-name-object', log => qr/oneid: OneID field "full_name" is not a string, client:/ ],
    [ 'identify-legal-tin-number', log => qr/oneid: OneID field "tin" is not a string, client:/ ],
    [ 'identify-nested-deep',
      log => qr/oneid: OneID identify response is not valid JSON $BYTES: maximum parsing depth reached/ ],
    [ 'identify-nested-deep, 128k buffer', user => 'identify-nested-deep', port => $big,
      log => qr/oneid: OneID identify response is not valid JSON $BYTES: maximum parsing depth reached/ ],
    [ 'identify-giant', log => qr/oneid: OneID identify response is larger than 1 MB, client:/ ],
    [ 'identify-giant, 128k buffer', user => 'identify-giant', port => $big,
      log => qr/oneid: OneID identify response is larger than 1 MB, client:/ ],
);

for my $case (@faults) {
    my ($name, %want) = @$case;
    failed_login($name, status => 502, %want);
}

# ---------------------------------------------------------------------------
# 2. bounced back: a page, never a redirect, never a loop

{
    my $b = $t->browser;
    my $state = state_of($b->callback_for('citizen-basic'));    # a live state of this browser
    for my $case (
        [ 'no query',                         '/oneid/callback' ],
        [ 'empty query',                      '/oneid/callback?' ],
        [ 'only "&"',                         '/oneid/callback?&&' ],
        [ 'error=access_denied',              '/oneid/callback?error=access_denied&error_description=User%20cancelled' ],
        [ 'error=access_denied with the state', "/oneid/callback?error=access_denied&error_description=The+user+said+no&state=$state" ],
        [ 'state only',                       "/oneid/callback?state=$state" ],
        [ 'empty code',                       "/oneid/callback?code=&state=$state" ],
        [ 'code only',                        '/oneid/callback?code=3f0e6a3c-0000-4000-8000-000000000000' ],
        [ 'empty state',                      '/oneid/callback?code=3f0e6a3c-0000-4000-8000-000000000000&state=' ],
    )
    {
        my ($name, $path) = @$case;
        $t->mark_error_log;
        my $res = $b->get($path);
        is_page("bounced back, $name", $res, 400, $b);
        like $res->{body}, qr/Kirish yakunlanmadi/, "bounced back, $name: the \"sign-in not completed\" page";
        ok $t->wait_for_error_log(qr/\[info\].*oneid: login callback without a valid code and state/, 2),
            "bounced back, $name: [info] line";
    }
    ok defined $b->cookie(Test::OneID::flow_name($state)),
        'a callback without a usable code does not end the flow';
}

# a signed-in user bounced back goes home, and home is served
{
    my $b = $t->browser;
    is $b->login('/ward', user => 'doctor')->{status}, 302, 'doctor signs in';
    for my $path ('/oneid/callback', '/oneid/callback?error=access_denied', '/oneid/callback?') {
        my $res = $b->get($path);
        is $res->{status}, 302, "signed in, $path: 302";
        is $res->{location}, "http://127.0.0.1:$main/", "signed in, $path: home, not OneID";
    }
    is $b->get('/')->{status}, 200, 'signed in: home is served (no loop)';
}

# A browser that follows every redirect.  The mock signs in whoever its
# mock_user cookie names, the way OneID's own session does.
sub follow_all {
    my ($user, $path) = @_;
    my $b = $t->browser;
    $b->store_cookies($t->mock_url('/'), ["mock_user=$user; Path=/"]);
    my @hops;
    my $res = $b->get($path);
    while ($res->is_redirect && @hops < 10) {
        my $next = Test::OneID::Browser::resolve_url($res->{url}, $res->{location});
        push @hops, $next;
        $res = $b->get($next);
    }
    return ($res, scalar @hops, $b);
}

for my $case (
    [ 'doctor',          200, 3 ],    # OneID, callback, the page
    [ 'no-code',         400, 2 ],
    [ 'error',           400, 2 ],
    [ 'token-500',       502, 2 ],
    [ 'identify-ret-cd', 403, 2 ],
)
{
    my ($user, $status, $hops) = @$case;
    my ($res, $n) = follow_all($user, '/ward/1');
    is $res->{status}, $status, "following every redirect, $user: ends with $status";
    is $n, $hops, "following every redirect, $user: after $hops redirects";
}

# A signed-in user asks for a directory: nginx serves its index through an
# internal redirect, which runs the access phase again.  The session must
# still count; today the module no longer finds the session cookie there
# and sends the user to OneID, and from there to / (not the page).
{
    my $b = $t->browser;
    is $b->login('/ward', user => 'doctor')->{status}, 302, 'doctor signs in';
    my $sid = $b->cookie('oneid_session');
    is $b->get('/static/index.html')->{status}, 200, 'signed in: /static/index.html is served';
    my $res = $b->get('/static/');
    is $res->{status}, 200, 'signed in: /static/ (index, an internal redirect) is served'
        or diag $res->summary;
    is $b->cookie('oneid_session'), $sid, '... and the session is the same';
}

# ---------------------------------------------------------------------------
# 3. replays

{
    my $a = $t->browser;
    my $cb = $a->callback_for('citizen-eds');
    my $code = code_of($cb);
    my $flow = $a->cookie(Test::OneID::flow_name(state_of($cb)));
    is $a->get($cb)->{status}, 302, 'replay: first use of the callback logs in';

    my $res = $a->get($cb);
    is $res->{status}, 302, 'replay: same callback again, signed in: 302';
    is $res->{location}, "http://127.0.0.1:$main/", '... home, not OneID';

    my $c = $t->browser;
    $c->set_cookie(Test::OneID::flow_name(state_of($cb)) => $flow);
    is_page('replay: same callback in another browser, with the flow cookie copied: OneID refuses the code',
        $c->get($cb), 502, $c);

    # the used code with a fresh state of the same browser (signed out
    # first: a signed-in user is not sent to OneID): OneID refuses the
    # code, 502
    is $a->get('/oneid/logout')->{status}, 302, 'replay: the user signs out';
    $t->mark_error_log;
    my $state = state_of($a->callback_for('citizen-eds', '/again'));
    like $state, qr/^[A-Za-z0-9_-]{22}$/, '... and starts a new login';
    is_page('replay: used code, fresh state, same browser',
        $a->get("/oneid/callback?code=$code&state=$state"), 502, $a);
    ok $t->wait_for_error_log(qr/oneid: OneID token request answered with status 400 and error "token_not_found"/, 2),
        '... OneID said token_not_found';

    # and in another browser with its own state
    my $b = $t->browser;
    $state = state_of($b->callback_for('doctor'));
    is_page('replay: used code, fresh state, another browser',
        $b->get("/oneid/callback?code=$code&state=$state"), 502, $b);
}

# two callbacks with one state at the same moment: exactly one wins
{
    my $b = $t->browser;
    my $cb = $b->callback_for('doctor', '/race');
    my $cookie = 'Cookie: ' . $b->cookie_header("http://127.0.0.1:$main/");
    my @res = parallel($main, (get_request($main, $cb, $cookie)) x 2);
    # both carry the flow's cookie: OneID takes the code once, the other
    # gets OneID's refusal (the used marker would stop it after OneID)
    my @won = grep { $_->{status} == 302 } @res;
    my @lost = grep { $_->{status} == 502 || $_->{status} == 400 } @res;
    is scalar @won, 1, 'one state, two callbacks at once: one logs in';
    is scalar @lost, 1, '... the other gets a page';
    ok((grep { /^oneid_session=/ } map { header_values($_, 'Set-Cookie') } @won),
        '... the winner gets a session cookie');
    ok(!(grep { /^oneid_session=/ } map { header_values($_, 'Set-Cookie') } @lost),
        '... the other none');
}

# a state from another browser
{
    my $a = $t->browser;
    my $cb = $a->callback_for('doctor', '/mine');
    my $b = $t->browser;
    $b->callback_for('doctor', '/yours');    # b has a flow of its own
    $t->mark_error_log;
    my $before = scalar @{ $t->mock_requests('one_authorization_code') };
    my $res = $b->get($cb);
    is $res->{status}, 302, 'state of another browser: a login of its own';
    like $res->{location} // '', qr{/sso/oauth/Authorization\.do\?.*state=~},
        '... to OneID, never with the other browser\'s code';
    is scalar @{ $t->mock_requests('one_authorization_code') }, $before,
        '... which is not exchanged';
    ok !defined $b->cookie('oneid_session'), '... no session';
    ok $t->wait_for_error_log(qr/\[info\].*oneid: login callback for a flow this browser does not hold/, 2),
        '... [info] a flow this browser does not hold';
}

# ---------------------------------------------------------------------------
# 4. oversized input

{
    my $b = $t->browser;
    my $cb = $b->callback_for('doctor', '/long');
    my $state = state_of($cb);
    my $code = code_of($cb);
    $t->mark_error_log;

    for my $case (
        [ 'code of 513 bytes',                  'c' x 513,   $state ],
        [ 'code of 513 percent-encoded bytes',  '%41' x 513, $state ],
        [ 'code of 2048 bytes',                 'c' x 2048,  $state ],
        [ 'state of 23 bytes',                  $code, $state . 'A' ],
        [ 'state of 21 bytes',                  $code, substr($state, 0, 21) ],
        [ 'state of 1000 bytes',                $code, 'A' x 1000 ],
        [ 'state with padding',                 $code, substr($state, 0, 21) . '=' ],
        [ 'state with a control byte',          $code, substr($state, 0, 21) . '%0A' ],
        [ 'state with "~" inside',              $code, substr($state, 0, 10) . '~' . substr($state, 11) ],
    )
    {
        my ($name, $c, $s) = @$case;
        is_page("oversized: $name", $b->get("/oneid/callback?code=$c&state=$s"), 400, $b);
    }
    ok defined $b->cookie(Test::OneID::flow_name($state)), 'oversized: none of these ended the flow';

    # 5 KB of other parameters around a good code and state: ignored
    is_page('a 6 KB query without code and state', $b->get('/oneid/callback?x=' . ('x' x 6000)), 400, $b);
    my $res = $b->get("/oneid/callback?x=" . ('x' x 5000) . "&code=$code&state=$state&y=" . ('y' x 500));
    is $res->{status}, 302, 'a 5.5 KB query with a good code and state: the login completes';
    is $res->{location}, "http://127.0.0.1:$main/long", '... back to the page';

    # past nginx's header buffers (8k): nginx itself answers 414
    my $b2 = $t->browser;
    $cb = $b2->callback_for('doctor', '/longer');
    $res = $b2->get($cb . '&x=' . ('x' x 9000));
    is $res->{status}, 414, 'a 9 KB request line: nginx answers 414';
    ok defined $b2->cookie(Test::OneID::flow_name(state_of($cb))), '... and the flow is untouched';
    is $b2->get($cb)->{status}, 302, '... so the real callback still logs in';

    # the limits themselves are not refused: a code of exactly 512 bytes
    # (raw or percent-encoded) reaches OneID, which does not know it
    for my $c ('c' x 512, '%41' x 512) {
        my $b3 = $t->browser;
        my $s = state_of($b3->callback_for('doctor', '/limit'));
        is_page('a code of 512 bytes' . ($c =~ /%/ ? ', percent-encoded' : '') . ': OneID refuses it',
            $b3->get("/oneid/callback?code=$c&state=$s"), 502, $b3);
    }
}

# ---------------------------------------------------------------------------
# 5. many logins started by one browser

{
    # past about 100 at once, the Cookie header of the next request would
    # pass nginx's 8 KB header buffers before a login start could drop the
    # oldest flows: a browser does not open so many tabs at once
    my $N = 50;
    my $b = $t->browser;
    my $first = $b->get('/p/0');
    is $first->{status}, 302, 'login 0 started';
    my $cookie_header = $b->cookie_header("http://127.0.0.1:$main/");
    my $writes = $t->write_calls;

    my @res = ($first, parallel($main, map { get_request($main, "/p/$_", "Cookie: $cookie_header") } 1 .. $N - 1));
    my @started = grep { $_->{status} == 302 } @res[1 .. $#res];
    is scalar @started, $N - 1, ($N - 1) . ' more logins started at the same time: all 302';
    is $t->write_calls - $writes, 0, '... and not one Redis write';

    my @locs = ($first->{location} // '', map { (header_values($_, 'Location'))[0] // '' } @res[1 .. $#res]);
    my @states = map { state_of($_) } @locs;
    my %uniq = map { $_ => 1 } grep { length } @states;
    is scalar keys %uniq, $N, "$N different states";

    my @cookies = map { header_values($_, 'Set-Cookie') } @res[1 .. $#res];
    my $browser = $b->cookie('oneid_session_browser') // '-';
    is scalar(grep { /^oneid_session_browser=\Q$browser\E;/ } @cookies), $N - 1,
        'every answer keeps the browser cookie';
    $b->store_cookies("http://127.0.0.1:$main/", \@cookies);
    cmp_ok scalar(keys %{ $b->flow_cookies }), '<=', $N, "flows held after $N starts at once: at most $N";
    my $next = $b->get("/p/$N");
    push @locs, $next->{location} // '';
    push @states, state_of($locs[-1]);
    my $flows = $b->flow_cookies;
    my $count = keys %$flows;
    cmp_ok $count, '<=', 4, "the next login start leaves $count flows (at most 4)";
    cmp_ok $count, '>=', 1, '... at least one';
    cmp_ok length($b->cookie_header("http://127.0.0.1:$main/")), '<', 3000,
        '... the Cookie header back under 3000 bytes';

    # the flows the browser kept, taken out of order, each finish on
    # their own
    my @live = grep { exists $flows->{ Test::OneID::flow_name($states[$_]) } } 0 .. $N;
    is scalar @live, $count, 'the flows held are those of these logins';
    for my $i (@live[ int(@live / 2), 0, -1 ]) {
        my $idp = $b->get("$locs[$i]&mock_user=doctor");
        my $res = $b->get(Test::OneID::Browser::path_and_query($idp->{location} // "http://x/"));
        is $res->{status}, 302, "login $i of " . ($N + 1) . " completes";
        is $res->{location}, "http://127.0.0.1:$main/p/$i", "... back to /p/$i";
    }
}

# Ten tabs restored at once by a browser without any cookie: each tab's
# flow has its own cookie, so all ten log in, each to its own page
{
    my $b = $t->browser;
    my @res = $b->tabs_login('doctor', map { "/tab/$_" } 0 .. 9);
    my @ok = grep { $res[$_]{status} == 302 && ($res[$_]{location} // '') =~ m{/tab/$_$} } 0 .. 9;
    is scalar(@ok), 10, 'ten tabs without a cookie: all ten log in, each to its page';
}

# ---------------------------------------------------------------------------

{
    my $all = Test::Nginx::Server::read_error_log(0);
    unlike $all, qr/\[(alert|crit|emerg)\]/, 'no [alert], [crit] or [emerg] in error.log';
    unlike $all, qr/signal \d+|exited on signal/, 'no worker crashed';
}

$t->clear_keys($prefix);

done_testing;
