# oneid_metrics: oneid_sentinel_failovers_total moves when the worker
# follows a Sentinel failover.  One nginx worker reaching Redis through
# three real Sentinels (a master, a replica; the ports of t/100-sentinel.t
# and t/201, which never run at the same time): nothing counted while the
# first master is learnt, exactly one after a SENTINEL FAILOVER the worker
# follows, and no more once the Sentinels settle and requests go on.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);

my $NAME = 'oneidtest';
my $FAILOVERS = 'oneid_sentinel_failovers_total';

Test::Nginx::Server::ensure_servroot();
my $s = Test::OneID::Sentinels->new(
    base => Test::OneID::Conf::env('REDIS_PORT', 16379) + 30,
    dir  => Test::Nginx::Server::servroot() . '/sentinel',
    name => $NAME);

my $t = Test::OneID->new(
    http_config   => http_config(redis => $s->sentinels . " master=$NAME"),
    config        => server_config(locations => <<'END'),
    location = /oneid/metrics {
        allow 127.0.0.1;
        deny all;
        oneid_metrics;
    }
END
    root_location => 0,
    log_level     => 'info',
    workers       => 1,
    master_process => 1,
);
my @workers = $t->worker_pids;
is scalar @workers, 1, "one nginx worker (@workers)";

my $scraper = $t->browser;
sub failovers {
    my $m = Test::OneID::metrics($scraper) or return 'no metrics page';
    return $m->{$FAILOVERS} // 'missing';
}

$t->mark_error_log;
my $old = $s->master;
is failovers(), 0, 'no failover counted before the first request';

# the Sentinels are asked at the first command: the master is learnt, not
# a failover
my $b = $t->browser;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'signed in through the Sentinels';
is $b->get('/ward')->{status}, 200, '... and served';
ok $t->wait_for_error_log(qr/sentinel.*"$NAME".* at 127\.0\.0\.1:$old\b/, 2),
    "the worker learnt the master ($old)";
is failovers(), 0, '... which is not counted as a failover';

my $new = $s->failover;
ok $new, "SENTINEL FAILOVER: the Sentinels name $new";
ok $t->wait_for_error_log(qr/\[notice\].*oneid: redis (?:sentinels announce a new master|master moved to)[^\n]*127\.0\.0\.1:$new\b/, 5),
    '... the worker follows (its log says so)';
ok Test::OneID::wait_until(5, sub { failovers() eq '1' }),
    'the failover is counted once' or diag 'failovers: ' . failovers();

ok $s->settled($new), 'the Sentinels settle (the old master replicates from the new one)';
ok Test::OneID::wait_until(10, sub { $b->get('/ward')->{status} == 200 }),
    'the session is served from the new master';
is $b->get('/ward')->{status}, 200, '... again';
is failovers(), 1, 'still one failover counted';

# every scrape above too: the metrics page once closed its request twice
unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts';

$t->stop;
$s->stop;

done_testing;
