# A session ended on one node is refused by every node within about a
# second, even where oneid_session_cache (ttl=60s here) holds a copy of it:
# the hash goes out on the Redis channel "oneid:revoked", to which every
# worker of every node with a cache subscribes.  Two nginx instances share
# the suite's Redis: node A (the suite's nginx) and node B (a second
# nginx, two workers), which talks to Redis through a proxy that can keep
# B's subscriptions out (or Redis altogether) without touching A.
#
# Measured: the window from a logout answered on A to B refusing the old
# cookie.  Checked: while B's subscription is down, B asks Redis for every
# request; a logout published meanwhile is honoured once B is back (its
# older cache entries are not trusted); B subscribes again by itself; the
# message format (several hashes, junk); a worker started while Redis is
# down does not serve from the cache.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Digest::SHA qw(sha256_hex);
use List::Util qw(max);
use Time::HiRes qw(time sleep);

my $CHANNEL = 'oneid:revoked';
my $CACHE = "oneid_session_cache zone=sessions:1m ttl=60s;\n";

my $t = Test::OneID->new(
    http_config   => http_config() . $CACHE,
    config        => server_config(),
    root_location => 0,
    log_level     => 'info',
);

my $port_b = Test::OneID::Conf::env('PORT', 1984) + 100;
my $proxy = Test::OneID::RedisProxy->new(
    listen   => $port_b + 1,
    upstream => Test::OneID::Conf::env('REDIS_PORT', 16379),
    status   => Test::Nginx::Server::servroot() . '/redis-proxy.status');
my $node = Test::OneID::Node->new(
    port        => $port_b,
    workers     => 2,
    http_config => 'oneid_redis 127.0.0.1:' . ($port_b + 1) . ";\n$CACHE",
    config      => server_config());

# A runs one process, B two workers
sub all_subscribed {
    my $ok = Test::OneID::wait_until(5, sub { $t->subscribers($CHANNEL) == 3 });
    sleep 0.1;    # the workers act on the confirmation
    return $ok;
}

ok all_subscribed(), 'every worker of both nodes subscribes to oneid:revoked'
    or diag 'subscribers: ' . $t->subscribers($CHANNEL);

# signed in on A; the same cookie in a browser for B; cached on both
sub signed_in {
    my $a = $t->browser;
    my $res = $a->login('/ward', user => 'doctor');
    my $b = $node->browser;
    $b->set_cookie(oneid_session => $a->cookie('oneid_session'));
    my $ok = $res->{status} == 302;
    for (1 .. 2) {
        $ok &&= $a->get('/ward')->{status} == 200;
        $ok &&= $b->get('/ward')->{status} == 200;
    }
    return ($a, $b, $ok);
}

sub getex { $t->command_calls('getex') }

# until B stops answering 200 (polled every 20 ms, at most 3 s): the
# status, and the seconds since $since
sub poll_until_refused {
    my ($b, $since) = @_;
    my $status;
    while (1) {
        $status = $b->get('/ward')->{status};
        last if $status != 200 || time - $since > 3;
        sleep 0.02;
    }
    return ($status, time - $since);
}

# ---------------------------------------------------------------------------
# 1. a logout on A reaches B's cache

my ($a, $b, $ok) = signed_in();
ok $ok, 'signed in on A, the session served by both nodes';
my $before = getex();
$ok = 1;
$ok &&= $b->get('/ward')->{status} == 200 for 1 .. 6;
ok $ok, 'B serves it again and again';
is getex() - $before, 0, '... from its cache, without asking Redis';

my @windows;
for my $round (1 .. 5) {
    ($a, $b, $ok) = ($a, $b, 1) if $round == 1;
    ($a, $b, $ok) = signed_in() if $round > 1;
    my $logout = $a->get('/oneid/logout');
    my ($status, $window) = poll_until_refused($b, time);
    $ok &&= $logout->{status} == 302 && $status == 302;
    push @windows, $window;
    ok $ok, "round $round: logged out on A, B sends the old cookie to the login page"
        or diag "logout: $logout->{status}, B: $status";
}
ok max(@windows) < 1, sprintf('... within a second every time (the longest: %.1f ms)',
                              max(@windows) * 1000);
diag sprintf('cross-node revocation window (logout answered on A until B refuses, '
             . 'B polled every 20 ms): %s ms', join ', ', map { sprintf '%.1f', $_ * 1000 } @windows);

# ---------------------------------------------------------------------------
# 2. B's subscription down

my ($a2, $b2, $ok2) = signed_in();    # stays signed in
my ($a3, $b3, $ok3) = signed_in();    # logged out while B does not listen
ok $ok2 && $ok3, 'two more sessions, cached on both nodes';

ok $proxy->cut, "B's subscriptions cut off (its commands still pass)";
ok Test::OneID::wait_until(5, sub { $t->subscribers($CHANNEL) == 1 }),
    '... B no longer listens';
ok Test::OneID::wait_until(3, sub {
        $node->error_log =~ /\[warn\].*oneid: lost the subscription to redis at \S+ for "oneid:revoked".*bypassed/
    }), '... and says so in its error log';

$before = getex();
$ok = 1;
$ok &&= $b2->get('/ward')->{status} == 200 for 1 .. 6;
ok $ok, 'B still serves a live session while it does not listen';
is getex() - $before, 6, '... asking Redis every time, not its cache';

is $a3->get('/oneid/logout')->{status}, 302, 'a logout on A while B does not listen';
sleep 0.2;    # the message went out to nobody on B

# B tries again by itself (once a second): no request to B until it is back
ok $proxy->pass, 'B may subscribe again';
ok all_subscribed(), '... and does, by itself';
ok Test::OneID::wait_until(3, sub {
        $node->error_log =~ /\[notice\].*oneid: subscribed to "oneid:revoked" at redis \S+ again/
    }), '... saying so';

is $b3->get('/ward')->{status}, 302,
    'the session logged out on A meanwhile is refused by B (its cached copy is older than the subscription)';

$before = getex();
is $b2->get('/ward')->{status}, 200, 'the live session is still served by B';
is getex() - $before, 1, '... read from Redis once more';
$before = getex();
$ok = 1;
$ok &&= $b2->get('/ward')->{status} == 200 for 1 .. 4;
ok $ok, '... and served again';
is getex() - $before, 0, '... from the cache again';

# ---------------------------------------------------------------------------
# 3. the message: hashes separated by single spaces; anything else ignored

my ($a4, $b4, $ok4) = signed_in();
my ($a5, $b5, $ok5) = signed_in();
ok $ok4 && $ok5, 'two more sessions, cached on both nodes';
my ($h4, $h5) = map { sha256_hex($_->cookie('oneid_session')) } $a4, $a5;

$t->mark_error_log;
$t->redis('PUBLISH', $CHANNEL, 'not-a-hash');
$t->redis('PUBLISH', $CHANNEL, uc $h4);
ok $t->wait_for_error_log(
        qr/\[info\].*oneid: 1 words that are not session hashes ignored in a message of 10 bytes on "oneid:revoked"/),
    'junk on the channel: one line at info';
is $a4->get('/ward')->{status}, 200, '... and nothing revoked (not even by an upper-case hash)';
is $b4->get('/ward')->{status}, 200, '... on either node';

$t->redis('PUBLISH', $CHANNEL, "$h4 junk $h5");
my $since = time;
my @st = (poll_until_refused($a4, $since), poll_until_refused($b4, $since),
          poll_until_refused($a5, $since), poll_until_refused($b5, $since));
is join(' ', @st[0, 2, 4, 6]), '302 302 302 302',
    'two hashes in one message (and a junk word between them): both sessions refused on both nodes';
ok $st[7] < 1, sprintf('... at once (%.1f ms)', $st[7] * 1000);
ok $t->redis('EXISTS', Test::OneID::session_key($a4->cookie('oneid_session'))),
    '... by the message alone (the session is still in Redis)';

# ---------------------------------------------------------------------------
# 4. a worker started while Redis is down does not serve from the cache

my ($a6, $b6, $ok6) = signed_in();
ok $ok6, 'another session, cached on both nodes';
ok $proxy->down, 'Redis out of reach of B';
ok $node->reload, 'B reloaded: new workers, the same cache zone';
my $res = $b6->get('/ward');
is $res->{status}, 503, 'a new worker does not serve the cached session, Redis is down: 503'
    or diag $res->summary;
ok $proxy->pass, 'Redis back';
ok all_subscribed(), "B's new workers subscribe";
is $b6->get('/ward')->{status}, 200, 'the session is served again';

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'A: no alerts';
unlike $node->error_log, qr/\[(alert|crit|emerg)\]/, 'B: no alerts';

$node->stop;
$proxy->stop;

done_testing;
