# A login's state lives in the browser that started it: one sealed cookie
# per flow (HMAC-SHA-256 under a key made from the server key), nothing in
# Redis until OneID has identified the user.  Tampered, forged, expired or
# foreign cookies are refused; a flow started before a key rotation still
# completes; a used callback cannot be replayed; a callback whose cookie
# the browser lacks cannot sign it in (login CSRF); the browser never holds
# more than a few flows.  Plain Perl: every case needs a cookie jar, Redis
# or a server key to forge with.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(get_request parallel header_values);
use Test::OneID::Conf qw(server_config);
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);

my $redis = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} // 16379);
my $dir = tempdir(CLEANUP => 1);

sub key_file {
    my ($name, $text) = @_;
    my $path = "$dir/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod 0600, $path;
    return $path;
}

my $key_a = 'k' x 40;
my $key_b = 'B' x 44;
my $file_a = key_file('a.key', "$key_a\n");
my $file_b = key_file('b.key', "$key_b\n");

sub start {
    my (%o) = @_;
    return Test::OneID->new(
        http_config   => "oneid_redis $redis prefix=oneid230:;\n"
                         . join('', map { "oneid_key_file $_;\n" } @{ $o{keys} || [$file_a] }),
        config        => server_config(extra => $o{extra} // '',
                                       cookie_secure => $o{secure} // 'off'),
        root_location => 0,
        log_level     => 'info',
    );
}

# the state and the flow cookie's name of a login start's answer
sub state_of {
    my ($res) = @_;
    my ($state) = ($res->{location} // $res->header('Location') // '') =~ /[?&]state=([^&]+)/;
    return $state // '';
}

my $t = start();
$t->clear_keys('oneid230:');
my $port = $t->port;

# 1. a burst of anonymous login starts writes nothing to Redis
{
    my $keys = () = $t->keys_of('oneid230:*');
    my $writes = $t->write_calls;
    my @res;
    for (1 .. 4) {
        push @res, parallel($port, map { get_request($port, "/ward/$_") } 1 .. 50);
    }
    is scalar(grep { $_->{status} == 302 } @res), 200,
       '200 anonymous requests: 200 redirects to OneID';
    is $t->write_calls - $writes, 0, '... and not one Redis write';
    is scalar(() = $t->keys_of('oneid230:*')), $keys, '... nor a new key';
    my %states = map { (header_values($_, 'Location'))[0] =~ /state=([^&]+)/ ? ($1 => 1) : () } @res;
    is scalar(keys %states), 200, '... 200 different states';
}

# 2. the flow cookie: its name, attributes and size; the state is short
{
    my $b = $t->browser;
    my $res = $b->get('/ward?tab=history');
    my $state = state_of($res);
    like $state, qr/^[A-Za-z0-9_-]{22}$/, 'the state is 22 characters (128 bits)';
    my @sc = header_values({ headers => [ map { [ 'Set-Cookie', $_ ] } @{ $res->{headers}{'set-cookie'} || [] } ] }, 'Set-Cookie');
    my ($flow) = grep { /^oneid_session_state_/ } @sc;
    like $flow // '', qr/^oneid_session_state_\Q${\ substr($state, 0, 8)}\E=1n\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/,
         'the flow cookie: named after the state, Max-Age = oneid_state_timeout';
    cmp_ok length($flow // ''), '<', 160, '... short (' . length($flow // '') . ' bytes)';
    ok((grep { /^oneid_session_browser=[A-Za-z0-9_-]{43}; Max-Age=600;/ } @sc),
       '... and the browser cookie the tabs share');
    ok !(grep { /^oneid_session_state=/ } @sc), '... no binding cookie of old';

    my $s = start(secure => 'on');
    $res = $s->browser->get('/ward');
    ($flow) = grep { /_state_/ } @{ $res->{headers}{'set-cookie'} || [] };
    like $flow // '', qr/^__Host-oneid_session_state_[A-Za-z0-9_-]{8}=[^;]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
         'with oneid_cookie_secure on: a __Host- cookie, Secure';
    $t = start();
}

# 3. a login completes; its flow cookie goes; the state is marked used
my $b = $t->browser;
my $start = $b->get('/ward/7');
my $state = state_of($start);
my $idp = $b->get($start->{location} . '&mock_user=doctor');
(my $cb = $idp->header('Location')) =~ s{^https?://[^/]+}{};
# a second code for the same state, as a replay with a code OneID accepts
$idp = $b->get($start->{location} . '&mock_user=doctor');
(my $cb2 = $idp->header('Location')) =~ s{^https?://[^/]+}{};
my $flow_cookie = $b->cookie(Test::OneID::flow_name($state));
my $res = $b->get($cb);
is $res->{status}, 302, 'the callback: 302';
like $res->header('Location'), qr{^http://127\.0\.0\.1:\d+\/ward\/7$}, '... to the page asked for';
ok defined $b->cookie('oneid_session'), '... signed in';
ok !defined $b->cookie(Test::OneID::flow_name($state)), '... the flow cookie expired';
my $ttl = $t->redis('TTL', 'oneid230:used:' . sha256_hex($state));
ok $ttl > 0 && $ttl <= 600, "the state is marked used for oneid_state_timeout ($ttl s)";

# 4. replays
{
    my $sessions = $t->session_keys('oneid230:');
    my $e = $t->browser;
    $e->set_cookie(Test::OneID::flow_name($state) => $flow_cookie);
    $t->mark_error_log;
    $res = $e->get($cb2);
    is $res->{status}, 400,
       'the used state again, with its flow cookie and a code OneID accepts, in another browser: 400';
    like $t->wait_for_error_log('replayed') // '', qr/\[warn\].*its state was used already/,
         '... logged as a replay';
    ok !defined $e->cookie('oneid_session'), '... not signed in';
    is scalar($t->session_keys('oneid230:')), $sessions, '... no session made';

    $b->set_cookie(Test::OneID::flow_name($state) => $flow_cookie);
    $idp = $b->get($start->{location} . '&mock_user=doctor');
    (my $cb3 = $idp->header('Location')) =~ s{^https?://[^/]+}{};
    $res = $b->get($cb3);
    is $res->{status}, 302, 'the same replay in the signed-in browser: 302';
    like $res->header('Location'), qr{^http://127\.0\.0\.1:\d+\/ward\/7$}, "... to the flow's page";
    is scalar($t->session_keys('oneid230:')), $sessions, '... no session made';
}

# 5. login CSRF: the attacker's callback in the victim's browser
{
    my $attacker = $t->browser;
    my $acb = $attacker->callback_for('citizen-basic', '/ward');
    my $victim = $t->browser;
    my $sessions = $t->session_keys('oneid230:');
    my $calls = scalar @{ $t->mock_requests('one_authorization_code') };
    $res = $victim->get($acb);
    ok $res->{status} == 400 || ($res->{location} // '') =~ m{^https://127\.0\.0\.1:\d+/sso/},
       "the attacker's callback in the victim's browser: a page or a fresh login of the victim's own";
    ok !defined $victim->cookie('oneid_session'), '... not signed in as the attacker';
    is scalar(@{ $t->mock_requests('one_authorization_code') }), $calls,
       "... the attacker's code never sent to OneID";
    is scalar($t->session_keys('oneid230:')), $sessions, '... no session made';
}

# 6. tampered, forged and foreign flow cookies
sub forged {
    my ($name, $value, $expect_log) = @_;
    my $x = $t->browser;
    my $st = state_of($x->get('/ward'));
    $x->set_cookie(Test::OneID::flow_name($st) => $value->($st, $x->cookie(Test::OneID::flow_name($st))));
    my $calls = scalar @{ $t->mock_requests('one_authorization_code') };
    $t->mark_error_log;
    my $r = $x->get("/oneid/callback?code=c-doctor-$st&state=$st");
    is $r->{status}, 400, "$name: 400";
    ok !defined $x->cookie('oneid_session'), '... not signed in';
    is scalar(@{ $t->mock_requests('one_authorization_code') }), $calls, '... OneID not asked';
    like $t->wait_for_error_log($expect_log) // '', qr/\Q$expect_log\E/, "... logged: $expect_log";
}

forged('a return URI changed', sub {
    my ($st, $v) = @_;
    $v =~ s/^(1n\.\d+\.)[^.]*/$1 . Test::OneID::b64url('https:\/\/evil.example\/')/e;
    $v;
}, 'does not verify');
forged('a MAC changed', sub { my ($st, $v) = @_; $v =~ s/(.)$/$1 eq 'A' ? 'B' : 'A'/e; $v }, 'does not verify');
forged('sealed under another key', sub { Test::OneID::flow_cookie('z' x 40, $_[0], '/ward') }, 'does not verify');
forged("another flow's cookie under this flow's name", sub {
    Test::OneID::flow_cookie($key_a, 'AAAAAAAAAAAAAAAAAAAAAA', '/ward') }, 'does not verify');
forged('issued in the future', sub { Test::OneID::flow_cookie($key_a, $_[0], '/ward', time + 3600) },
       'issued in the future');

# 7. expired: kept by the browser past oneid_state_timeout
{
    my $x = $t->browser;
    my $st = state_of($x->get('/ward'));
    $x->set_cookie(Test::OneID::flow_name($st) => Test::OneID::flow_cookie($key_a, $st, '/ward/old', time - 601));
    $res = $x->get("/oneid/callback?code=c-doctor-$st&state=$st");
    is $res->{status}, 302, 'an expired flow (issue time checked, not only Max-Age): 302';
    like $res->{location} // '', qr{^https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?.*state=~},
         '... a fresh login, marked restarted';
    ok !defined $x->cookie('oneid_session'), '... not signed in by the expired flow';
    my $st2 = state_of($res);
    like $x->cookie(Test::OneID::flow_name($st2)) // '', qr/^1r\./, '... its cookie says restarted';
    my $i = $x->get($res->{location} . '&mock_user=doctor');
    (my $cb2 = $i->header('Location')) =~ s{^https?://[^/]+}{};
    $res = $x->get($cb2);
    like $res->header('Location'), qr{^http://127\.0\.0\.1:\d+\/ward\/old$}, "... and it signs in to the expired flow's page";

    # a restarted flow expired too: no second restart
    my $y = $t->browser;
    my $st3 = '~' . substr(state_of($y->get('/ward')), 1);
    $y->set_cookie(Test::OneID::flow_name($st3) => Test::OneID::flow_cookie($key_a, $st3, '/w', time - 601, 'r'));
    is $y->get("/oneid/callback?code=c-doctor-x&state=$st3")->{status}, 400,
       'a restarted flow that expired as well: 400, no loop';
    is $y->get("/oneid/callback?code=c-doctor-x&state=$st3")->{status}, 400,
       'a restarted flow this browser does not hold: 400, no loop';
}

# 8. a key rotation: a flow started under the old key completes
{
    $t->clear_keys('oneid230:');
    my $x = $t->browser;
    my $s = $x->get('/ward/rotated');
    my $st = state_of($s);
    my $i = $x->get($s->{location} . '&mock_user=doctor');
    (my $c = $i->header('Location')) =~ s{^https?://[^/]+}{};
    $t = start(keys => [$file_b, $file_a]);
    $res = $x->get($c);
    is $res->{status}, 302, 'after a rotation, a flow sealed under the old key completes';
    like $res->header('Location'), qr{^http://127\.0\.0\.1:\d+\/ward\/rotated$}, '... to its page';
    my $y = $t->browser;
    my $st2 = state_of($y->get('/x'));
    my $v = $y->cookie(Test::OneID::flow_name($st2)) // '';
    my ($issued) = $v =~ /^1n\.(\d+)\./;
    is $v, Test::OneID::flow_cookie($key_b, $st2, '/x', $issued), '... new flows are sealed under the new key';
    $t = start(keys => [$file_b]);
    $x = $t->browser;
    $s = $x->get('/ward');
    $st = state_of($s);
    $x->set_cookie(Test::OneID::flow_name($st) => Test::OneID::flow_cookie($key_a, $st, '/ward'));
    is $x->get("/oneid/callback?code=c-doctor-x&state=$st")->{status}, 400,
       'a key no longer configured: refused';
}

# 9. 20 login starts in one browser: at most 4 flows, the Cookie header small
{
    my $x = $t->browser;
    my @states;
    for my $n (1 .. 20) {
        push @states, state_of($x->get("/ward/$n?" . ('q' x ($n % 2 ? 900 : 10))));
    }
    my $flows = $x->flow_cookies;
    ok keys(%$flows) >= 2 && keys(%$flows) <= 4,
       '20 login starts, half with 900-byte queries: the browser holds '
       . keys(%$flows) . ' flows';
    my $header = length $x->cookie_header($t->base_url . '/');
    cmp_ok $header, '<', 3000, "... a Cookie header of $header bytes";
    ok exists $flows->{ Test::OneID::flow_name($states[-1]) }, '... the newest one among them';
    ok !exists $flows->{ Test::OneID::flow_name($states[0]) }, '... the oldest gone';
    my $long = $x->get('/ward/long?' . ('z' x 3000));
    my ($sc) = grep { /_state_/ } @{ $long->{headers}{'set-cookie'} || [] };
    cmp_ok length($sc // ''), '<', 1600, 'a 3 KB return URI: the cookie stays small (loses the query)';
    $header = length $x->cookie_header($t->base_url . '/');
    cmp_ok $header, '<', 3000, "... the Cookie header still $header bytes";
    my $y = $t->browser;
    $y->get("/ward/$_") for 1 .. 20;
    is scalar(keys %{ $y->flow_cookies }), 4, '20 short login starts: 4 flows kept';
}

done_testing;
