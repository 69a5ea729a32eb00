# oneid_metrics: every counter moves when its event happens (logins
# started, completed and failed by reason, logouts, session checks by
# result, pages by status and reason, Redis commands, errors, reconnects
# and latency, the connection gauge, OneID calls, errors and latency); the
# counts are the sum of both workers and survive a reload; the page is
# Prometheus's text format as promtool checks it; no scrape logs an alert;
# nginx -t refuses the directive outside a location.
#
# Also the failures that need a setting of their own: Redis answering an
# error (OOM, maxmemory with noeviction, restored after), OneID slower than
# proxy_read_timeout (a callback location whose backend waits 1 s), and an
# answer over 1 MB.
#
# nginx talks to Redis through a proxy (Test::OneID::RedisProxy) that can
# close every connection, for the Redis outage.  The Sentinel failover
# counter is tested in t/282-metrics-sentinel.t (it needs the Sentinels of
# t/100).

use strict;
use warnings;

use lib 't/lib';
use File::Temp ();
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config env);
use Time::HiRes qw(sleep);

my $prefix = 'oneid280:';
my $redis_port = env('REDIS_PORT', 16379);
my $proxy_port = $redis_port + 40;
my $dir = File::Temp::tempdir(CLEANUP => 1);

my $proxy = Test::OneID::RedisProxy->new(listen => $proxy_port,
    upstream => $redis_port, status => "$dir/redis-proxy.status");

# the suite's /_oneid location, with proxy_read_timeout 1s (token-slow
# answers in 3 s)
(my $SLOW = server_config()) =~ s{.*(    location = /_oneid \{.*?\n    \}\n).*}{$1}s
    or die "no /_oneid location in server_config()\n";
$SLOW =~ s{location = /_oneid }{location = /_oneid_slow } or die;
$SLOW =~ s{proxy_read_timeout 5s;}{proxy_read_timeout 1s;} or die "no proxy_read_timeout\n";

my $LOCATIONS = $SLOW . <<'END';
    location = /oneid/metrics {
        allow 127.0.0.1;
        deny all;
        oneid_metrics;
    }

    location = /oneid/logout-all { oneid_logout all; }

    location = /oneid/callback-dead {
        oneid_callback;
        oneid_backend /_dead;
    }

    location = /oneid/callback-slow {
        oneid_callback;
        oneid_backend /_oneid_slow;
    }

    location = /_dead {
        internal;
        proxy_pass http://127.0.0.1:9;
    }
END

my $n = Test::OneID::Node->new(
    port => env('PORT', 1984),
    workers => 2,
    http_config => http_config(redis => "127.0.0.1:$proxy_port prefix=$prefix", key => 1)
        . "oneid_session_cache zone=sessions280:1m ttl=60s refresh=30s;\n",
    config => server_config(locations => $LOCATIONS,
                            protected => 'add_header X-Worker $pid always;'),
);

my $t = bless { pid => -1 }, 'Test::OneID';    # its Redis client only
$t->clear_keys($prefix);

my $scraper = $n->browser;
sub metrics { Test::OneID::metrics($scraper) }

# how much each series moved while $code ran
sub delta {
    my ($code) = @_;
    my $before = metrics() or return {};
    $code->();
    my $after = metrics() or return {};
    return { map { $_ => $after->{$_} - ($before->{$_} // 0) }
             grep { length && $after->{$_} =~ /^-?[\d.]+$/ } keys %$after };
}

sub moved {
    my ($d, %want) = @_;
    my $name = delete $want{name};
    for my $series (sort keys %want) {
        is $d->{$series} // 'missing', $want{$series}, "$name: $series +$want{$series}";
    }
}

my $STARTED = 'oneid_logins_started_total';
my $DONE = 'oneid_logins_completed_total';
my $FAILED = 'oneid_logins_failed_total';
sub failed   { qq/oneid_logins_failed_total{reason="$_[0]"}/ }
sub check    { qq/oneid_session_checks_total{result="$_[0]"}/ }
sub page     { qq/oneid_responses_total{status="$_[0]",reason="$_[1]"}/ }
sub idp      { qq/oneid_idp_requests_total{method="$_[0]"}/ }
sub idp_err  { qq/oneid_idp_errors_total{kind="$_[0]"}/ }
sub redis_err { qq/oneid_redis_errors_total{kind="$_[0]"}/ }

# the session cache serves once both workers hear of revocations
ok Test::OneID::wait_until(10, sub { $t->subscribers("${prefix}revoked") == 2 }),
    'both workers subscribe to the revoked channel';

# --- the page itself
{
    my $m = metrics();
    ok $m, 'GET /oneid/metrics: 200' or BAIL_OUT('no metrics page');
    my $res = $m->{''};
    is $res->header('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8',
        'the text format\'s Content-Type';
    is $res->header('Cache-Control'), 'no-store', 'never cached';
    ok !defined $res->header('Set-Cookie'), 'no cookie';
    like $res->{body}, qr/^oneid_build_info\{version="\d+\.\d+\.\d+"\} 1$/m, 'build info';
    like $res->{body}, qr/^# HELP oneid_logins_started_total \S.*\n# TYPE oneid_logins_started_total counter\n/m,
        'HELP and TYPE lines';
    like $res->{body}, qr/^oneid_redis_command_duration_seconds_bucket\{le="\+Inf"\} \d+$/m,
        'histogram buckets up to +Inf';
    # connections are made at the first command: none yet
    is $m->{'oneid_redis_connected'} // 'missing', 0, 'no worker connected to Redis yet'
        or diag $res->{body};

    my ($rc, $out) = Test::OneID::promtool_check($res->{body});
    if (defined $rc) {
        is $rc, 0, 'promtool check metrics accepts the page' or diag $out;
    } elsif ($ENV{CI}) {
        fail 'promtool is missing (make promtool)';
    } else {
        diag 'promtool missing (make promtool): the format check is skipped';
    }

    is $scraper->request('POST', '/oneid/metrics', 'x=1')->{status}, 405, 'POST: 405';
    my $head = $scraper->request('HEAD', '/oneid/metrics');
    is $head->{status}, 200, 'HEAD: 200';
    is $head->{body}, '', '... without a body';
}

# --- logins
my $b = $n->browser;
moved(delta(sub { $n->browser->get('/ward') }),
    name => 'a page without a session', $STARTED => 1, $DONE => 0);

{
    my $d = delta(sub { $b->login('/ward') });
    moved($d, name => 'a login', $STARTED => 1, $DONE => 1,
        idp('one_authorization_code') => 1, idp('one_access_token_identify') => 1,
        'oneid_idp_request_duration_seconds_count' => 2);
    ok(($d->{oneid_redis_commands_total} // 0) >= 1, 'a login: Redis commands counted');
    ok(($d->{oneid_redis_command_duration_seconds_count} // 0) >= 1,
        'a login: Redis latencies observed');
    ok defined $b->cookie('oneid_session'), 'signed in';
}

moved(delta(sub { $n->browser->get('/ward', { Accept => 'application/json' }) }),
    name => 'a script without a session', page(401, 'login_required') => 1, $STARTED => 0);

moved(delta(sub { $n->browser->get('/oneid/callback?code=abc&state=nothing') }),
    name => 'a callback without a valid state', failed('state') => 1,
    page(400, 'bad_callback') => 1);

for my $case (
    [ 'token-500', failed('oneid_unavailable'), idp_err('status'), page(502, 'oneid_unavailable') ],
    [ 'token-html', failed('oneid_unavailable'), idp_err('parse') ],
    [ 'identify-ret-cd', failed('identity_refused'), page(403, 'identity_refused') ],
)
{
    my ($user, @series) = @$case;
    my $c = $n->browser;
    my $cb = $c->callback_for($user);
    like $cb, qr{^/oneid/callback\?}, "$user: OneID sent the user back";
    moved(delta(sub { $c->get($cb) }), name => "login as $user",
        $DONE => 0, map { $_ => 1 } @series);
}

{
    my $c = $n->browser;
    (my $cb = $c->callback_for('citizen-basic')) =~ s{^/oneid/callback}{/oneid/callback-dead};
    moved(delta(sub { $c->get($cb) }), name => 'OneID unreachable',
        idp_err('connect') => 1, failed('oneid_unavailable') => 1, $DONE => 0);
}

# OneID slower than proxy_read_timeout: the proxy's 504
{
    my $c = $n->browser;
    (my $cb = $c->callback_for('token-slow')) =~ s{^/oneid/callback}{/oneid/callback-slow};
    moved(delta(sub { $c->get($cb) }), name => 'OneID too slow',
        idp_err('timeout') => 1, idp_err('connect') => 0,
        failed('oneid_unavailable') => 1, $DONE => 0);
}

# an identify answer one byte over 1 MB
{
    my $c = $n->browser;
    my $cb = $c->callback_for('identify-legal-1m-plus');
    moved(delta(sub { $c->get($cb) }), name => 'an answer over 1 MB',
        idp_err('size') => 1, idp_err('parse') => 0,
        failed('oneid_unavailable') => 1, page(502, 'oneid_unavailable') => 1, $DONE => 0);
}

# Redis answers an error: full (maxmemory 1, noeviction) at the callback's
# write; the suite's Redis settings are put back whatever happens
{
    my $c = $n->browser;
    my $cb = $c->callback_for('citizen-basic');
    like $cb, qr{^/oneid/callback\?}, 'a login reached the callback step';
    my %was = map { my $r = $t->redis('CONFIG', 'GET', $_); ($_ => $r->[1]) }
                  qw(maxmemory maxmemory-policy);
    my ($d, $res);
    my $ok = eval {
        $d = delta(sub {
            $t->redis('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
            $t->redis('CONFIG', 'SET', 'maxmemory', 1);
            $res = $c->get($cb);
            $t->redis('CONFIG', 'SET', 'maxmemory', $was{maxmemory});
        });
        1;
    };
    $t->redis('CONFIG', 'SET', $_, $was{$_}) for sort keys %was;
    ok $ok, 'Redis made full and back' or diag $@;
    is $res && $res->{status}, 503, 'Redis full: the callback answers 503';
    ok(($d->{redis_err('error_reply')} // 0) >= 1, 'Redis full: its error replies counted')
        or diag explain $d;
    moved($d, name => 'Redis full', failed('store_unavailable') => 1,
        redis_err('no_reply') => 0, $DONE => 0);
}

# --- session checks
{
    my $d = delta(sub { $b->get('/ward') for 1 .. 8 });
    is(($d->{check('found')} // 0) + ($d->{check('cached')} // 0), 8,
        '8 requests signed in: 8 sessions found, in Redis or the cache');
    ok(($d->{check('found')} // 0) >= 1, '... the first ones in Redis');
    ok(($d->{check('cached')} // 0) >= 1, '... the next ones in the cache')
        or diag explain $d;
}

moved(delta(sub {
        $n->browser->get('/ward', { Cookie => 'oneid_session=' . ('N' x 43) }) }),
    name => 'an unknown session', check('not_found') => 1, $STARTED => 1);

{
    my $sid = 'E' x 43;
    $t->redis('SET', session_key($sid, $prefix), "E\nrevoked", 'EX', 60);
    moved(delta(sub {
            $n->browser->get('/ward', { Cookie => "oneid_session=$sid" }) }),
        name => 'a session ended elsewhere', check('ended_elsewhere') => 1,
        page(401, 'session_revoked') => 1);
}

# --- logouts
moved(delta(sub { $b->get('/oneid/logout') }),
    name => 'a logout', 'oneid_logouts_total{scope="session"}' => 1,
    idp('one_log_out') => 1);

{
    my $c = $n->browser;
    is $c->login('/ward')->{status}, 302, 'signed in again';
    moved(delta(sub { $c->get('/oneid/logout-all') }),
        name => 'a logout everywhere', 'oneid_logouts_total{scope="all"}' => 1);
}

# --- Redis down, and back
{
    my $c = $n->browser;
    is $c->login('/ward')->{status}, 302, 'signed in, the session not cached yet';

    my $d = delta(sub {
        $proxy->down;
        ok Test::OneID::wait_until(5, sub { (metrics()->{oneid_redis_connected} // 1) == 0 }),
            'Redis down: no worker connected';
        is $c->get('/ward')->{status}, 503, 'Redis down: 503';
    });
    moved($d, name => 'Redis down', check('store_unavailable') => 1,
        page(503, 'store_unavailable') => 1);
    ok(($d->{redis_err('no_reply')} // 0) + ($d->{redis_err('down')} // 0) >= 1,
        'Redis down: Redis errors counted') or diag explain $d;

    $d = delta(sub {
        $proxy->pass;
        ok Test::OneID::wait_until(10, sub { $c->get('/ward')->{status} == 200 }),
            'Redis back: 200 again';
    });
    ok(($d->{oneid_redis_reconnects_total} // 0) >= 1, 'Redis back: a reconnect counted')
        or diag explain $d;
    ok((metrics()->{oneid_redis_connected} // 0) >= 1, 'Redis back: connected again');
}

# --- both workers count into the same page
{
    my (%seen, $requests);
    my $d = delta(sub {
        while (keys %seen < 2 && $requests++ < 200) {
            my $res = $n->browser->get('/ward');
            $seen{ $res->header('X-Worker') // '' }++;
        }
    });
    is scalar(keys %seen), 2, "both workers served ($requests requests)";
    is $d->{$STARTED}, $requests, 'the logins started in both workers are summed';
}

# --- a reload keeps the counts
{
    my $before = metrics();
    ok $n->reload, 'reloaded: new workers';
    my $after = metrics();
    my @lower = grep { length && !/connected/ && $after->{$_} < $before->{$_} } keys %$before;
    is "@lower", '', 'no count went down';
    ok $after->{$STARTED} >= $before->{$STARTED} && $before->{$STARTED} > 0,
        "logins started kept: $before->{$STARTED} -> $after->{$STARTED}";
    moved(delta(sub { $n->browser->get('/ward') }), name => 'after the reload', $STARTED => 1);
}

# a scrape answers and closes its request once (it used to finalize it
# twice: "http request count is zero" at each scrape)
unlike $n->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert, no crashed worker';

# --- nginx -t
{
    my ($ok, $out) = Test::OneID::nginx_t("server { listen 127.0.0.1:1; oneid_metrics; }",
                                          server => 0);
    ok !$ok, 'nginx -t: oneid_metrics in a server block refused';
    like $out, qr/"oneid_metrics" directive is not allowed here/, '... as not allowed there';

    ($ok, $out) = Test::OneID::nginx_t("server { listen 127.0.0.1:1;"
        . " location / { oneid on; oneid_metrics; } }", server => 0);
    ok !$ok, 'nginx -t: oneid_metrics behind "oneid on" refused';
    like $out, qr/"oneid_metrics" cannot share a location with "oneid on"/, '... saying why';
}

done_testing;
