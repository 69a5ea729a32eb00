# oneid_idp_session: with "keep" (the default) OneID's own session lives
# on after the sign-in, so the browser is signed straight back in without
# a password, and the logout ends it; with "end" the callback ends it with
# one_log_out right after identify, the next sign-in asks OneID who you are
# again, the session keeps no token and the logout only redirects.  A
# one_log_out that fails at the sign-in does not keep the user out.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(sleep);

sub start {
    my ($mode) = @_;
    return Test::OneID->new(
        http_config   => http_config(),
        config        => server_config(
                             extra => $mode ? "oneid_idp_session $mode;" : ''),
        root_location => 0,
        log_level     => 'info',
    );
}

my $t;

sub token_of {
    my ($sid) = @_;
    my $rec = $t->session_record($sid) // '';
    return (split /\n/, $rec, -1)[2];
}

sub token_key { Test::OneID::token_key($_[0]) }

# the grant types the mock was asked for since $mark, in order
sub grants_since {
    my ($mark) = @_;
    return map { $_->{params}{grant_type} } @{ $t->mock_requests(undef, $mark) };
}

# Starts a sign-in in a browser that has signed in before, without naming
# a user: the status of OneID's answer (302 straight back: its session is
# alive; 200: the page that asks who you are).
sub oneid_asks_again {
    my ($b) = @_;
    my $res = $b->get('/ward');
    return 0 unless $res->{status} == 302;
    return $b->get($res->{location})->{status};
}

# 1. keep (the default)
$t = start(undef);
my $b = $t->browser;
my $mark = $t->mock_last_id;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'keep: signed in';
my $sid = $b->cookie('oneid_session');
is join(' ', grants_since($mark)), 'one_authorization_code one_access_token_identify',
    '... no one_log_out at the sign-in';
my $token = token_of($sid);
like $token, qr/^[0-9a-f-]{36}$/, '... the session holds the OneID token';

$mark = $t->mock_last_id;
my $res = $b->get('/oneid/logout');
is $res->{status}, 302, '... the logout redirects';
my @out = @{ $t->mock_requests('one_log_out', $mark) };
is scalar @out, 1, '... after one one_log_out';
is $out[0]{params}{access_token}, $token, '... with the token of the session';

my $c = $t->browser;
is $c->login('/ward', user => 'doctor')->{status}, 302, 'keep: signed in in another browser';
is $c->get('/ward')->{status}, 200, '... the session works';
$t->redis('DEL', Test::OneID::session_key($c->cookie('oneid_session')));    # idle expiry
is oneid_asks_again($c), 302,
    '... after the idle expiry OneID signs the browser straight back in (its session lives)';

# 2. end
$t = start('end');
$b = $t->browser;
$mark = $t->mock_last_id;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'end: signed in';
$sid = $b->cookie('oneid_session');
my @req = @{ $t->mock_requests(undef, $mark) };
is join(' ', map { $_->{params}{grant_type} } @req),
    'one_authorization_code one_access_token_identify one_log_out',
    '... one one_log_out, right after identify';
is $req[2]{params}{access_token}, $req[1]{params}{access_token},
    '... with the token of this sign-in';
is token_of($sid), '', '... the session keeps no token';
sleep 0.2;    # the token record would be written without waiting
ok !$t->redis('EXISTS', token_key($sid)), '... and no token record';
is $b->get('/ward')->{status}, 200, '... the session works';
like $t->error_log_since_mark, qr/user "dilnoza\.karimova" signed in/, '... signed in';

$mark = $t->mock_last_id;
$res = $b->get('/oneid/logout');
is $res->{status}, 302, 'end: the logout redirects';
like $res->{location} // '', qr{^http://[^/]+/$}, '... to oneid_logout_redirect';
is scalar(grants_since($mark)), 0, '... without a second one_log_out';
is oneid_asks_again($b), 200, '... and the next sign-in makes OneID ask who you are';

# the session expired (8 hours idle) before the logout: still just a redirect
$c = $t->browser;
is $c->login('/ward', user => 'doctor')->{status}, 302, 'end: signed in again';
$t->redis('DEL', Test::OneID::session_key($c->cookie('oneid_session')));
$mark = $t->mock_last_id;
$res = $c->get('/oneid/logout');
is $res->{status}, 302, '... a logout after the idle expiry redirects too (no "could not be ended" page)';
is scalar(grants_since($mark)), 0, '... and calls nothing';
is oneid_asks_again($c), 200, '... OneID asks who you are after the idle expiry';

# 3. end, and OneID fails the one_log_out: signed in anyway, with a warning
$t->mark_error_log;
my $d = $t->browser;
$mark = $t->mock_last_id;
is $d->login('/ward', user => 'logout-500')->{status}, 302,
    'end: one_log_out failing at the sign-in: signed in anyway';
is join(' ', grants_since($mark)),
    'one_authorization_code one_access_token_identify one_log_out',
    '... after the one_log_out was tried';
ok $t->wait_for_error_log(qr/\[warn\].*one_log_out at the sign-in of user ".*" failed \(status 500\); signed in anyway/),
    '... a warning says so';
is $d->get('/ward')->{status}, 200, '... the session works';
my $kept = token_of($d->cookie('oneid_session'));
like $kept, qr/^[0-9a-f-]{36}$/, '... and keeps the token, for the logout to try again';
$mark = $t->mock_last_id;
$d->get('/oneid/logout');
@out = @{ $t->mock_requests('one_log_out', $mark) };
is scalar(@out) && $out[0]{params}{access_token}, $kept, '... which it does';

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts';

done_testing;
