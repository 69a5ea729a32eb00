# The subscription to "oneid:revoked" follows the master through a Redis
# Sentinel failover: two nginx instances (the suite's, node A, and a second
# one, node B), both with oneid_session_cache ttl=60s, reach Redis through
# three real Sentinels (a master, a replica; the ports of
# t/100-sentinel.t, which never runs at the same time).  After a
# SENTINEL FAILOVER every worker subscribes on the new master (and leaves
# the old one, which stays up and writable for a while), and a logout on A
# still reaches B's cache within a second.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(time sleep);

my $CHANNEL = 'oneid:revoked';
my $NAME = 'oneidtest';

Test::Nginx::Server::ensure_servroot();
my $s = Test::OneID::Sentinels->new(
    base => Test::OneID::Conf::env('REDIS_PORT', 16379) + 30,
    dir  => Test::Nginx::Server::servroot() . '/sentinel',
    name => $NAME);

my $redis = $s->sentinels . " master=$NAME";
my $CACHE = "oneid_session_cache zone=sessions:1m ttl=60s;\n";

my $t = Test::OneID->new(
    http_config   => http_config(redis => $redis) . $CACHE,
    config        => server_config(),
    root_location => 0,
    log_level     => 'info',
);
my $node = Test::OneID::Node->new(
    port        => Test::OneID::Conf::env('PORT', 1984) + 100,
    http_config => "oneid_redis $redis;\n$CACHE",
    config      => server_config());

sub subscribers { $s->rc($_[0], 'PUBSUB', 'NUMSUB', $CHANNEL)->[1] }

# signed in on A; the same cookie in a browser for B; cached on both
sub signed_in {
    my $a = $t->browser;
    my $res = $a->login('/ward', user => 'doctor');
    my $b = $node->browser;
    $b->set_cookie(oneid_session => $a->cookie('oneid_session') // '');
    my @st = ($res->{status}, map { $_->get('/ward')->{status} } $a, $b, $a, $b);
    my $ok = "@st" eq '302 200 200 200 200';
    diag "login, then A, B, A, B: @st; login: " . $res->summary unless $ok;
    return ($a, $b, $ok);
}

sub refused_within {
    my ($b, $since) = @_;
    my $status;
    while (1) {
        $status = $b->get('/ward')->{status};
        last if $status != 200 || time - $since > 3;
        sleep 0.02;
    }
    return ($status, time - $since);
}

my $old = $s->master;

# the Sentinels are asked on the first request; the subscription follows
my ($a, $b, $ok) = signed_in();
ok $ok, 'signed in through the Sentinels, served by both nodes';
ok Test::OneID::wait_until(5, sub { subscribers($old) == 2 }),
    "both nodes subscribe on the master ($old)";

my $new = $s->failover;
ok $new, "SENTINEL FAILOVER: the Sentinels name $new";
ok Test::OneID::wait_until(5, sub { subscribers($new) == 2 && subscribers($old) == 0 }),
    '... both nodes move their subscriptions there'
    or diag "subscribers: old " . subscribers($old) . ', new ' . subscribers($new);
like $s->rc($old, 'ROLE')->[0], qr/^master$|^slave$/, '(the old master is still up)';
ok $t->wait_for_error_log(
        qr/\[notice\].*oneid: redis master moved to 127\.0\.0\.1:$new \(master "$NAME"\), subscribing to "oneid:revoked" there/, 2),
    "A's log says so";

my ($a2, $b2, $ok2) = signed_in();
ok $ok2, 'a session signed in after the failover, cached on both nodes';
is $a2->get('/oneid/logout')->{status}, 302, 'logout on A';
my ($status, $window) = refused_within($b2, time);
is $status, 302, 'B refuses the old cookie';
ok $window < 1, sprintf('... within a second (%.1f ms)', $window * 1000);
diag sprintf('cross-node revocation window after a Sentinel failover: %.1f ms', $window * 1000);

ok $s->settled($new), 'the Sentinels settle (the old master replicates from the new one)';
is $a->get('/ward')->{status}, 200, 'the first session still works on A';
is $b->get('/ward')->{status}, 200, '... and on B';

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'A: no alerts';
unlike $node->error_log, qr/\[(alert|crit|emerg)\]/, 'B: no alerts';

$node->stop;
$t->stop;
$s->stop;

done_testing;
