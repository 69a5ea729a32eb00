# oneid_health: 200 while Redis answers PING within oneid_redis's timeout,
# 503 (within that timeout) while Redis hangs or is down, 200 again once it
# is back; never a session read or written, never a cookie; text, or JSON
# for clients that ask for it; the health failures and the timeout show in
# oneid_metrics; nginx -t wants oneid_redis.
#
# nginx -> HoldProxy (keeps Redis's answers back: a hung Redis) ->
# RedisProxy (closes every connection: Redis down) -> the suite's Redis.
# With Sentinel the PING goes the same way as a session's GETEX, to the
# master the worker follows; that is not tested here.

use strict;
use warnings;

use lib 't/lib';
use File::Temp ();
use JSON::PP ();
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config env);
use Time::HiRes qw(time sleep);

my $prefix = 'oneid281:';
my $redis_port = env('REDIS_PORT', 16379);
my ($down_port, $hold_port) = ($redis_port + 41, $redis_port + 42);
my $dir = File::Temp::tempdir(CLEANUP => 1);

my $down = Test::OneID::RedisProxy->new(listen => $down_port,
    upstream => $redis_port, status => "$dir/redis-proxy.status");
my $hold = Test::OneID::HoldProxy->new(listen => $hold_port,
    upstream => $down_port, status => "$dir/hold-proxy.status");

my $LOCATIONS = <<'END';
    location = /health { oneid_health; }
    location = /oneid/metrics { allow 127.0.0.1; deny all; oneid_metrics; }
END

my $t = Test::OneID->new(
    http_config   => http_config(redis => "127.0.0.1:$hold_port prefix=$prefix"
                                          . " timeout=500ms"),
    config        => server_config(locations => $LOCATIONS,
                                   extra => 'oneid on;'),
    root_location => 0,
    log_level     => 'info',
);

my $b = $t->browser;
my $json = { Accept => 'application/json' };

sub metric {
    my ($series) = @_;
    my $m = Test::OneID::metrics($b) or return undef;
    return $m->{$series};
}

sub health_reads {
    return map { $t->command_calls($_) } qw(get getex getdel set eval ping);
}

# --- Redis answers
{
    my @before = health_reads();
    my $res = $b->get('/health', { Cookie => 'oneid_session=' . ('S' x 43) });
    is $res->{status}, 200, 'Redis up: 200 (behind "oneid on", no sign-in)';
    is $res->{body}, "ok\n", '... "ok"';
    like $res->header('Content-Type'), qr{^text/plain}, '... as text';
    is $res->header('Cache-Control'), 'no-store', '... never cached';
    ok !defined $res->header('Set-Cookie'), '... no cookie set';
    my @after = health_reads();
    my @diff = map { $after[$_] - $before[$_] } 0 .. $#after;
    is "@diff[0 .. 4]", '0 0 0 0 0', '... no session read or written';
    ok $diff[5] >= 1, '... PING sent';

    $res = $b->get('/health', $json);
    is $res->{status}, 200, 'JSON: 200';
    is_deeply eval { JSON::PP->new->decode($res->{body}) }, { status => 'ok' },
        '... {"status":"ok"}' or diag $res->{body};
    like $res->header('Content-Type'), qr{^application/json}, '... as JSON';

    is $b->post('/health', 'x=1')->{status}, 405, 'POST: 405';
}

# --- Redis hangs: 503 after the timeout, not later
{
    my $timeouts = metric('oneid_redis_errors_total{kind="timeout"}');
    my $failed = metric('oneid_health_checks_total{result="failed"}');

    $hold->hold;
    my $start = time;
    my $res = $b->get('/health');
    my $took = time - $start;
    is $res->{status}, 503, 'Redis hangs: 503';
    is $res->{body}, "unavailable: redis did not answer in time\n", '... saying why';
    ok $took >= 0.4 && $took < 2, sprintf('... after the 500 ms timeout (%.2f s)', $took);
    is $res->header('Cache-Control'), 'no-store', '... never cached';

    # the connection was dropped: the next attempt waits a second
    $start = time;
    $res = $b->get('/health', $json);
    $took = time - $start;
    is $res->{status}, 503, 'Redis hangs, JSON: 503';
    is_deeply eval { JSON::PP->new->decode($res->{body}) },
        { status => 'unavailable', reason => 'redis is down, next connection attempt soon' },
        '... with the reason' or diag $res->{body};
    ok $took < 0.4, sprintf('... at once, as the connection was given up (%.2f s)', $took);

    is metric('oneid_redis_errors_total{kind="timeout"}') - $timeouts, 1,
        'metrics: a Redis timeout';
    is metric('oneid_health_checks_total{result="failed"}') - $failed, 2,
        'metrics: two failed health checks';

    $hold->release;
    ok Test::OneID::wait_until(5, sub { $b->get('/health')->{status} == 200 }),
        'Redis answers again: 200';
}

# --- Redis down: 503 at once
{
    $down->down;
    my $start = time;
    my $res = $b->get('/health');
    my $took = time - $start;
    is $res->{status}, 503, 'Redis down: 503';
    like $res->{body}, qr/^unavailable: .*redis/, '... saying why' or diag $res->{body};
    ok $took < 0.5, sprintf('... without waiting for the timeout (%.2f s)', $took);

    $res = $b->get('/health');
    is $res->{status}, 503, 'Redis still down: 503';

    $down->pass;
    ok Test::OneID::wait_until(5, sub { $b->get('/health')->{status} == 200 }),
        'Redis back: 200';
    ok metric('oneid_health_checks_total{result="ok"}') >= 3, 'metrics: health checks ok';
}

# --- nginx -t
{
    my ($ok, $out) = Test::OneID::nginx_t(
        "server { listen 127.0.0.1:1; location = /h { oneid_health; } }",
        server => 0, redis => 0);
    ok !$ok, 'nginx -t: oneid_health without oneid_redis refused';
    like $out, qr/"oneid_health" needs "oneid_redis"/, '... saying so';

    ($ok, $out) = Test::OneID::nginx_t("oneid_health;", server => 0);
    ok !$ok, 'nginx -t: oneid_health in the http block refused';
    like $out, qr/"oneid_health" directive is not allowed here/, '... as not allowed there';

    ($ok, $out) = Test::OneID::nginx_t(
        "server { listen 127.0.0.1:1; location = /h { oneid_health; oneid_health; } }",
        server => 0);
    ok !$ok, 'nginx -t: oneid_health twice refused';
}

done_testing;
