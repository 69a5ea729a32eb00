# oneid_session_cache: most requests answered from shared memory, Redis
# still the source of truth.  Checked in Redis itself: how many commands
# the module sends, that the idle timeout is still pushed forward, and how
# long a logout done elsewhere (here: deleting the key) takes to be seen.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config);
use File::Temp ();
use Time::HiRes qw(time sleep);

my $t = Test::OneID->new(
    http_config   => http_config()
                     . "oneid_session_cache zone=sessions:1m ttl=2s refresh=1s;\n",
    config        => server_config(),
    root_location => 0,
    log_level     => 'info',
);

# the cache serves only once the worker listens for sessions ended on
# other nodes (t/200-cross-node-revoke.t)
ok Test::OneID::wait_until(10, sub { $t->subscribers('oneid:revoked') == 1 }),
    'the worker subscribes to oneid:revoked';
sleep 0.1;

my $b = $t->browser;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'logged in';
my $key = session_key($b->cookie('oneid_session'));

# first request reads Redis and fills the cache; the next ones do not
my $before = $t->command_calls('getex');
my $res = $b->get('/ward');
is $res->{status}, 200, 'first request served';
like $res->{body}, qr/^X-OneID-Pin: 41203870000017$/m, '... with the identity';
is $t->command_calls('getex') - $before, 1, '... after one GETEX';

$before = $t->command_calls('getex');
my $ok = 1;
for (1 .. 20) {
    my $r = $b->get('/ward');
    $ok &&= $r->{status} == 200 && $r->{body} =~ /^X-OneID-Pin: 41203870000017$/m;
}
ok $ok, '20 more requests served with the identity';
is $t->command_calls('getex') - $before, 0, '... from the cache, without a GETEX';

# the idle timeout in Redis is still pushed forward (refresh=1s)
$t->redis('EXPIRE', $key, 100);
my $expires = $t->command_calls('expire');
sleep 1.1;
$b->get('/ward');
my $ttl;
for (1 .. 50) { $ttl = $t->redis('TTL', $key); last if $ttl > 100; sleep 0.02 }
ok $ttl > 28790, "a cached request still restores the Redis TTL ($ttl)";
ok $t->command_calls('expire') - $expires >= 1, '... with an EXPIRE';

# logout on this node: the cached copy goes at once
$res = $b->get('/oneid/logout');
is $res->{status}, 302, 'logout';
my $b2 = $t->browser;
is $b2->login('/ward', user => 'doctor')->{status}, 302, 'logged in again';
my $sid = $b2->cookie('oneid_session');
$b2->get('/ward');    # now cached
$b2->get('/oneid/logout');
$b2->set_cookie(oneid_session => $sid);
$res = $b2->get('/ward');
is $res->{status}, 302, 'old cookie right after logout on this node: login';

# A read of the session still on its way when the logout deletes it must
# not put the session back into the cache (Redis paused to hold it there).
my $d = $t->browser;
is $d->login('/ward', user => 'doctor')->{status}, 302, 'logged in for the race';
my $cookie = 'Cookie: oneid_session=' . $d->cookie('oneid_session');
$t->redis('CLIENT', 'PAUSE', 600);
my $reader = Test::OneID::raw_send($t->port,
    "GET /ward HTTP/1.1\r\nHost: x\r\n$cookie\r\nConnection: close\r\n\r\n");
sleep 0.1;
my $logout = Test::OneID::raw_send($t->port,
    "GET /oneid/logout HTTP/1.1\r\nHost: x\r\nSec-Fetch-Site: same-origin\r\n"
    . "$cookie\r\nConnection: close\r\n\r\n");
Test::OneID::raw_response($reader);
is Test::OneID::raw_response($logout)->{status}, 302, 'logout while a read is in flight: 302';
for my $n (1 .. 2) {
    my $s = Test::OneID::raw_send($t->port,
        "GET /ward HTTP/1.1\r\nHost: x\r\n$cookie\r\nConnection: close\r\n\r\n");
    is Test::OneID::raw_response($s)->{status}, 302,
        "... the old cookie after the logout ($n): login, not the cached session";
}

# logout elsewhere (the key deleted in Redis): seen within the cache ttl
my $c = $t->browser;
$c->login('/ward', user => 'doctor');
$c->get('/ward');    # cached
$t->redis('DEL', session_key($c->cookie('oneid_session')));
is $c->get('/ward')->{status}, 200, 'deleted elsewhere: still served from the cache';
my $start = time;
my $status = 200;
while (time - $start < 5) {
    $status = $c->get('/ward')->{status};
    last if $status != 200;
    sleep 0.1;
}
is $status, 302, 'deleted elsewhere: back to login once the entry expires';
ok time - $start <= 2.5, sprintf('... within the 2s ttl (%.1fs)', time - $start);

# configuration errors
my $module = $ENV{TEST_NGINX_LOAD_MODULES};
for my $case (
    [ 'oneid_session_cache ttl=5s;',                 qr/must have "zone" parameter/ ],
    [ 'oneid_session_cache zone=s:1k;',              qr/is too small/ ],
    [ 'oneid_session_cache zone=s:1m refresh=5m;',   qr/refresh must be from 1s to 60s/ ],
    [ 'oneid_session_cache zone=s:1m ttl=61s;',      qr/ttl must be from 1ms to 60s/ ],
    [ 'oneid_session_cache zone=s:1m colour=red;',   qr/invalid parameter "colour=red"/ ],
)
{
    my ($line, $re) = @$case;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "load_module $module;\nerror_log $dir/logs/error.log;\n"
        . "events {}\nhttp { $line }\n";
    close $fh;
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $out = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    like $out, $re, "nginx -t rejects: $line";
}

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts';

done_testing;
