# A sign-out after the session expired (8 hours idle) still ends the OneID
# session: the token is kept apart for as long as the session could have
# lived, and goes with the session at a normal logout.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);

my $t = Test::OneID->new(
    http_config   => http_config(),
    config        => server_config(extra => 'oneid_session_lifetime 2h;'),
    root_location => 0,
    log_level     => 'info',
);

sub token_key { Test::OneID::token_key($_[0]) }

# the token is written without waiting for it: allow it a moment
sub kept_token {
    my ($sid) = @_;
    my $v;
    for (1 .. 50) {
        last if defined($v = $t->kept_token($sid));
        select undef, undef, undef, 0.02;
    }
    return $v;
}

sub one_log_out_with {
    my ($token) = @_;
    return scalar grep { ($_->{params}{access_token} // '') eq $token }
                  @{ $t->mock_requests('one_log_out') };
}

# 1. the session expires by idle time, then the user signs out
my $b = $t->browser;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'signed in';
my $sid = $b->cookie('oneid_session');
my $token = (split /\n/, $t->session_record($sid) // '')[2];
like $token, qr/^[0-9a-f-]{36}$/, 'the session holds the OneID token';
is kept_token($sid), $token, '... and the token is kept apart too';
my $ttl = $t->redis('TTL', token_key($sid));
ok $ttl > 7190 && $ttl <= 7200, "... for oneid_session_lifetime ($ttl s)";

$t->redis('DEL', Test::OneID::session_key($sid));    # 8 hours idle
my $res = $b->get('/oneid/logout');
is $res->{status}, 302, 'logout after the idle expiry: 302, as a normal logout';
is one_log_out_with($token), 1, '... OneID one_log_out called with the token';
ok !$t->redis('EXISTS', token_key($sid)), '... and the token is gone from Redis';
ok !defined $b->cookie('oneid_session'), '... the cookie expired';

# 2. a normal logout takes the kept token with it
is $b->login('/ward', user => 'doctor')->{status}, 302, 'signed in again';
$sid = $b->cookie('oneid_session');
ok defined kept_token($sid), 'token kept';
is $b->get('/oneid/logout')->{status}, 302, 'logout';
my $gone;
for (1 .. 50) { last if $gone = !$t->redis('EXISTS', token_key($sid)); select undef, undef, undef, 0.02 }
ok $gone, '... the kept token deleted with the session';

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts';

done_testing;
