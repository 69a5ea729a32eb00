# Tabs opened at once in a fresh browser (a restored session, a folder of
# bookmarks): every tab starts its own flow, none overwrites another's,
# and every one lands on its own page, signed in, with ONE session, so
# that oneid_session_max_per_user 1 ends nothing.  Stale callbacks (the
# back button after a login, a login page left open past
# oneid_state_timeout, a used callback while signed in) go somewhere
# useful and never loop.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(header_values);
use Test::OneID::Conf qw(server_config);
use Digest::SHA qw(sha256_hex);

my $redis = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} // 16379);

sub start {
    my (%o) = @_;
    return Test::OneID->new(
        http_config   => "oneid_redis $redis prefix=oneid231:;\n"
                         . "oneid_key_file " . Test::OneID::Conf::key_file()
                         . ";\n",
        config        => server_config(extra => "oneid_session_max_per_user 1;\n"
                                                . ($o{extra} // '')),
        root_location => 0,
        log_level     => 'info',
    );
}

my $t = start();

sub live_sessions {
    return scalar grep { ($t->redis('GET', $_) // '') !~ /^E\n/ }
                  $t->session_keys('oneid231:');
}

# follow redirects on nginx and the mock (mock_user signs in) up to $max
# hops: the answers, the last one first
sub follow_all {
    my ($b, $res, $max) = @_;
    my @chain = ($res);
    while ($chain[-1]->is_redirect && @chain <= $max) {
        my $loc = $chain[-1]->header('Location');
        $loc .= '&mock_user=doctor' if $loc =~ m{/sso/oauth/Authorization\.do} && $loc !~ /mock_user/;
        $loc =~ s{^https?://127\.0\.0\.1:$ENV{TEST_NGINX_PORT}}{} if $ENV{TEST_NGINX_PORT};
        push @chain, $b->get($loc);
    }
    return reverse @chain;
}

for my $n (4, 10) {
    $t->clear_keys('oneid231:');
    $t->mark_error_log;
    my $b = $t->browser;
    my @paths = map { "/tab/$n/$_?x=$_" } 1 .. $n;
    my @res = $b->tabs_login('doctor', @paths);

    is scalar(grep { $_->{status} == 302 } @res), $n, "$n tabs at once: $n callbacks redirect";
    is scalar(grep { ($res[$_]{location} // '') =~ m{\Q$paths[$_]\E$} } 0 .. $#res), $n,
       '... each to its own page';
    my %sids = map { (join(' ', header_values($_, 'Set-Cookie')) =~ /(?:^| )oneid_session=([A-Za-z0-9_-]{43});/) ? ($1 => 1) : () } @res;
    is scalar(keys %sids), 1, '... all with the same session cookie';
    is live_sessions(), 1, '... one session in Redis';
    unlike $t->error_log_since_mark // '', qr/the oldest one was ended/,
           '... oneid_session_max_per_user 1 ended nothing';
    is scalar(keys %{ $b->flow_cookies }), 0, '... no flow cookie left';
    my @pages = $b->parallel_get(@paths);
    is scalar(grep { $_->{status} == 200 } @pages), $n, '... and every tab shows its page';
}

# stale callbacks
$t->clear_keys('oneid231:');
my $b = $t->browser;
my $first = $b->login('/ward/1', user => 'doctor');
(my $cb = $first->{login_steps}[2]{url}) =~ s{^https?://[^/]+}{};

# the back button after the login: the used callback again
my @chain = follow_all($b, $b->get($cb), 5);
is $chain[0]{status}, 200, 'the back button to a used callback: the user ends on a page';
cmp_ok scalar(@chain), '<=', 2, '... after one redirect (' . (@chain - 1) . ')';
is live_sessions(), 1, '... still one session';

# another tab's callback that failed and is reloaded while signed in
my $z = $t->browser;
my $c2 = $z->callback_for('doctor', '/ward/2');
my $c3 = $z->callback_for('doctor', '/ward/3');
is $z->get($c2)->{status}, 302, 'two flows of one browser: the first completes';
is $z->get($c3)->{status}, 302, '... the second too';
@chain = follow_all($z, $z->get($c3), 5);
is $chain[0]{status}, 200, 'a used callback while signed in: a page';
is scalar(@chain), 2, '... straight from the callback';

# a login page left open past oneid_state_timeout, not signed in
{
    my $s = start(extra => 'oneid_state_timeout 2s;');

    # the browser dropped the flow (Max-Age): nothing better than the page
    my $x = $s->browser;
    my $start = $x->get('/ward/left-open');
    sleep 3;
    my $idp = $x->get($start->header('Location') . '&mock_user=doctor');
    (my $late = $idp->header('Location')) =~ s{^https?://[^/]+}{};
    my $res = $x->get($late);
    is $res->{status}, 302, 'a login page left open, its flow dropped by the browser: a new login';
    like $res->{location} // '', qr{state=~}, '... marked as restarted';
    $idp = $x->get($res->header('Location') . '&mock_user=doctor');
    ($late = $idp->header('Location')) =~ s{^https?://[^/]+}{};
    $res = $x->get($late);
    is $res->{status}, 302, '... which signs the user in';
    like $res->{location} // '', qr{/$}, '... at home (its page is not known)';
    is $x->get('/ward')->{status}, 200, '... signed in';

    # a browser keeping no cookies at all: one restart, then the page
    my $n = $s->browser;
    $start = $n->get('/ward/nocookies');
    $n->clear_cookies;
    $idp = $n->get($start->header('Location') . '&mock_user=doctor');
    ($late = $idp->header('Location')) =~ s{^https?://[^/]+}{};
    $res = $n->get($late);
    is $res->{status}, 302, 'no cookies kept: one new login';
    $n->clear_cookies;
    $idp = $n->get($res->header('Location') . '&mock_user=doctor');
    ($late = $idp->header('Location')) =~ s{^https?://[^/]+}{};
    $res = $n->get($late);
    is $res->{status}, 400, '... then the 400 page, no loop';
    ok !$res->is_redirect, '... not a redirect';

    # a browser that kept the cookie longer: a fresh login to its page
    my $y = $s->browser;
    $start = $y->get('/ward/kept');
    my ($st) = $start->header('Location') =~ /state=([^&]+)/;
    my $flow = $y->cookie(Test::OneID::flow_name($st));
    sleep 3;
    $y->set_cookie(Test::OneID::flow_name($st) => $flow);
    $idp = $y->get($start->header('Location') . '&mock_user=doctor');
    ($late = $idp->header('Location')) =~ s{^https?://[^/]+}{};
    $res = $y->get($late);
    like $res->header('Location') // '', qr{/sso/oauth/Authorization\.do\?.*state=~},
         'a flow kept past oneid_state_timeout: a fresh login, marked restarted';
    @chain = follow_all($y, $res, 6);
    is $chain[0]{status}, 200, '... OneID signs the user straight in';
    like $chain[1]->header('Location') // '', qr{/ward/kept$}, "... to the flow's page";
    cmp_ok scalar(@chain), '<=', 4, '... in ' . (@chain - 1) . ' redirects, no loop';

    # the restarted flow kept past the timeout as well: the page
    my $z = $s->browser;
    $start = $z->get('/ward');
    ($st) = $start->header('Location') =~ /state=([^&]+)/;
    $flow = $z->cookie(Test::OneID::flow_name($st));
    sleep 3;
    $z->set_cookie(Test::OneID::flow_name($st) => $flow);
    $res = $z->get(($z->get($start->header('Location') . '&mock_user=doctor')->header('Location')
                    =~ s{^https?://[^/]+}{}r));
    my $again = $res->header('Location') // '';
    ($st) = $again =~ /state=([^&]+)/;
    $flow = $z->cookie(Test::OneID::flow_name($st));
    sleep 3;
    $z->set_cookie(Test::OneID::flow_name($st) => $flow);
    $idp = $z->get($again . '&mock_user=doctor');
    ($late = $idp->header('Location')) =~ s{^https?://[^/]+}{};
    is $z->get($late)->{status}, 400, '... restarted and left open again: 400, not a loop';
    $t = start();
}

done_testing;
