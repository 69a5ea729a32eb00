# Redis Sentinel: with master=NAME the addresses of oneid_redis are
# Sentinels, and the module follows the master they name.  Real
# redis-server processes (a master and a replica) and three Sentinels
# (quorum 2) on private ports next to the suite's Redis:
#
#   1. nginx -t: several addresses need master=, master= needs a name;
#   2. a login through the mock writes the session to the master, and
#      replication copies it to the replica;
#   3. SIGKILL of the master: the same cookie gets 503 for a bounded time
#      (never a redirect to OneID, never 500/502), then 200 again, served
#      by the promoted replica, without a reload;
#   4. the old master comes back, Sentinel makes it a replica: the module
#      stays on the new master;
#   5. a graceful SENTINEL FAILOVER while the first Sentinel of the list
#      hangs (SIGSTOP): followed within a bounded time;
#   6. READONLY: the master is turned into a replica behind Sentinel's back
#      (the module's connection stays open), then Sentinel fails over: the
#      module must leave the read-only node it is connected to;
#   7. passwords for the Sentinels (sentinel_password=) and for the data
#      nodes (password=), right and wrong;
#   8. no [alert]/[crit], no crashed worker, the same worker throughout;
#   9. READONLY when the Sentinels already name another master: the next
#      request is served there, without a second of 503s;
#  10. a failover announced while a Sentinel is slow to answer the question
#      asked before it (a proxy holds that Sentinel's answers): the late
#      answer names the old master and must not open a second connection;
#      a +switch-master that names a host is refused.
#
# Time bounds are outcome bounds, generous for a busy 2-core machine: how
# fast a failover goes is Sentinel's business (down-after-milliseconds
# 1000 here), the module only has to follow within about a second of it.

use strict;
use warnings;

use lib 't/lib';
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(time sleep);

my $base = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 30;
my ($A, $B) = ($base, $base + 1);          # data nodes: A starts as master
my @S = ($base + 2, $base + 3, $base + 4);  # Sentinels
my $NAME = 'oneidtest';
my %pass;                                   # port => password (part 7)

# --- 1. configuration checks (nginx -t, no server needed)

{
    my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    my $module = $ENV{TEST_NGINX_LOAD_MODULES}
        or die "TEST_NGINX_LOAD_MODULES is not set (run the suite with `make test`)\n";
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    my $server = server_config();

    my $nginx_t = sub {
        my ($redis) = @_;
        open my $fh, '>', "$dir/nginx.conf" or die $!;
        print $fh "load_module $module;\nerror_log $dir/logs/error.log;\n"
            . "pid $dir/logs/nginx.pid;\nevents { worker_connections 16; }\n"
            . "http {\n    oneid_redis $redis;\n    server {\n"
            . "        listen 127.0.0.1:1;\n$server\n    }\n}\n";
        close $fh;
        my $out = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
        return ($? == 0, $out);
    };

    my ($ok, $out) = $nginx_t->("127.0.0.1:$S[0] 127.0.0.1:$S[1] 127.0.0.1:$S[2] master=$NAME");
    ok $ok, 'three Sentinels with master= pass nginx -t' or diag $out;

    ($ok, $out) = $nginx_t->("127.0.0.1 localhost:$S[1] master=$NAME sentinel_password=s"
        . ' password=m db=2 connect_timeout=200ms timeout=300ms prefix=x:');
    ok $ok, '... with the default Sentinel port, a host name and every parameter'
        or diag $out;

    ($ok, $out) = $nginx_t->("127.0.0.1:$A 127.0.0.1:$B");
    ok !$ok, 'two addresses without master= are rejected';
    like $out, qr/oneid_redis.*master=|master=.*oneid_redis/,
        '... with a message that names master= (and the directive)';
    unlike $out, qr/invalid parameter "127\.0\.0\.1:$B"/,
        '... not a bare "invalid parameter"';

    ($ok, $out) = $nginx_t->("127.0.0.1:$S[0] 127.0.0.1:$S[1] master=");
    ok !$ok, 'master= with an empty name is rejected';
    like $out, qr/master=/, '... naming master=';

    ($ok, $out) = $nginx_t->("127.0.0.1:$A sentinel_password=s");
    ok !$ok, 'sentinel_password= without master= is rejected';
    like $out, qr/sentinel_password=.*master=/, '... saying it needs master=';

    ($ok, $out) = $nginx_t->("unix:$dir/sentinel.sock master=$NAME");
    ok !$ok, 'a Sentinel on a unix socket is rejected';
    like $out, qr/sentinel "unix:\S+" must be host:port/, '... saying why';
}

# --- the Redis and Sentinel processes

my @sentinel_cmd = find_in_path('redis-sentinel') ? ('redis-sentinel')
                 : find_in_path('redis-server')   ? ('redis-server', '--sentinel')
                 : ();
die "neither redis-sentinel nor redis-server is installed: `make deps` installs"
    . " redis-server and redis-sentinel\n" unless @sentinel_cmd && find_in_path('redis-server');

sub find_in_path {
    my ($prog) = @_;
    for my $dir (split /:/, $ENV{PATH} // '') {
        return "$dir/$prog" if -f "$dir/$prog" && -x _;
    }
    return undef;
}

# Under the servroot, so the logs stay for a post-mortem; the servroot is
# wiped before this test's first nginx, so lay it out first.  Processes of
# an interrupted run are found through their pid files and killed.
my $dir = Test::Nginx::Server::servroot() . '/sentinel';
kill_stale();
Test::Nginx::Server::ensure_servroot();
make_path($dir);

my $owner = $$;
END { stop_all() if defined $owner && $$ == $owner }

my $P = $base + 7;                      # the proxy of part 10
for my $port ($base .. $P) {            # +5 and +6 stay closed
    die "port $port is in use: this test needs ports $base-$P"
        . " (they follow TEST_NGINX_REDIS_PORT)\n"
        if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1);
}

start_data_node($A);
start_data_node($B, '--replicaof', '127.0.0.1', $A);
wait_until(30, "the replica $B to sync with $A", sub { replica_of($B, $A) })
    or die "replication did not start\n";
start_sentinel($_) for 0 .. 2;
wait_until(60, 'the Sentinels to see the replica and each other', sub { healthy($A, $B) })
    or die "the Sentinels did not settle:\n" . sentinel_state();

# --- nginx, one worker (so "the same worker" is meaningful)

my $sentinels = join ' ', map { "127.0.0.1:$_" } @S;
my $t = gateway("$sentinels master=$NAME connect_timeout=500ms timeout=500ms");
my @workers = $t->worker_pids;
is scalar @workers, 1, "one nginx worker (@workers)";

sub gateway {
    my ($redis) = @_;
    return Test::OneID->new(
        http_config    => http_config(redis => $redis),
        config         => server_config(),
        root_location  => 0,
        log_level      => 'info',
        master_process => 1,    # a crashing worker is logged, and replaced
    );
}


# --- 2. login through the Sentinels' master

my $b = $t->browser;
my $res = $b->login('/ward', user => 'doctor');
is $res->{status}, 302, 'sentinel configuration: login through the mock works';
$res = $b->get('/ward');
is $res->{status}, 200, '... the session is found';
like $res->{body}, qr/^X-OneID-Pin: 41203870000017$/m, '... and the identity reaches the backend';
my $key = session_key($b->cookie('oneid_session'));
is rc($A, 'EXISTS', $key), 1, 'the session key is on the master';
is rc($A, 'WAIT', 1, 5000), 1, '... the replica acknowledged the write';
is rc($B, 'EXISTS', $key), 1, '... and has the key too';
ok $t->wait_for_error_log(qr/sentinel.*"$NAME".* at 127\.0\.0\.1:$A\b/, 2),
    "the error log names the master learnt from the Sentinels ($A)";

# --- 3. the master dies

# The replica gets a short TTL: a 200 that restores the idle timeout on
# the promoted replica proves that nginx really talks to it.
rc($A, 'EXPIRE', $key, 1000);
rc($A, 'WAIT', 1, 5000);
my $ttl = rc($B, 'TTL', $key);
ok $ttl > 0 && $ttl <= 1000, "TTL lowered on both nodes before the kill ($ttl)";

$t->mark_error_log;
kill_node($A);
{
    my %w = follow(from => $A, to => $B, sentinel => $S[1], key => $key, browser => $b,
                   proof => 'ttl_as_is');
    ok defined $w{served}, 'the same cookie is served again after the failover, without a reload';
    diag sprintf 'SIGKILL of the master: Sentinels switched after %s s, nginx served again'
        . ' after %s s, %d requests got 503', map({ defined ? sprintf('%.1f', $_) : 'never' }
        @w{qw(switched served)}), $w{n503};
    ok defined $w{served} && $w{served} < 15, 'the 503 window is bounded (< 15 s)';
    ok $w{n503} > 0, '... and real: requests got 503 while there was no master';
    is_deeply $w{odd}, [], 'only 200 or 503 meanwhile: no redirect to OneID, no 500/502';
    like $w{last}{body} // '', qr/^X-OneID-Pin: 41203870000017$/m, '... the identity is back';
    $ttl = rc($B, 'TTL', $key);
    ok $ttl > 1000, "the first 200 restored the idle timeout on the new master ($ttl)";
}
ok $t->wait_for_error_log(qr/lost connection to redis/, 1), 'the lost connection is logged';
ok $t->wait_for_error_log(qr/sentinel.*"$NAME".* at 127\.0\.0\.1:$B\b/, 1),
    "... and the new master ($B) learnt from the Sentinels";
ok $t->wait_for_error_log(qr/reachable again/, 1), '... and that Redis is reachable again';
is_deeply [ map { $b->get('/ward')->{status} } 1 .. 5 ], [ (200) x 5 ], 'steady 200s after it';

# --- 4. the old master comes back empty; Sentinel makes it a replica

start_data_node($A);
{
    my @status;
    my $converted = wait_until(60, "$A to become a replica of $B", sub {
        push @status, $b->get('/ward')->{status};
        replica_of($A, $B);
    }, 0.3);
    ok $converted, 'Sentinel turned the old master into a replica of the new one';
    is_deeply [ grep { $_ != 200 } @status ], [],
        '... and every request meanwhile (' . @status . ') was served';
}
ok wait_until(30, 'the Sentinels to settle', sub { healthy($B, $A) }), 'the Sentinels settled'
    or diag sentinel_state();
{
    my $c = $t->browser;
    is $c->login('/ward', user => 'citizen-basic')->{status}, 302, 'a new login works';
    my $k = session_key($c->cookie('oneid_session'));
    is rc($B, 'EXISTS', $k), 1, '... and writes to the new master';
    is rc($B, 'WAIT', 1, 5000), 1, '... which replicates it';
    is rc($A, 'EXISTS', $k), 1, '... to the old master, now its replica';
    is $c->get('/ward')->{status}, 200, '... and the new session is served';
}

# --- 5. graceful failover while the first Sentinel of the list hangs

kill STOP => pid_of($S[0]);
$t->mark_error_log;
is rc($S[1], 'SENTINEL', 'FAILOVER', $NAME), 'OK', 'SENTINEL FAILOVER with the first Sentinel stopped';
{
    # Sentinel leaves the old master writable until it demotes it (about
    # 10 s here): only the +switch-master announcement, which the module
    # subscribes to on every Sentinel (one of them hangs), moves nginx
    # before that.
    my %w = follow(from => $B, to => $A, sentinel => $S[1], key => $key, browser => $b,
                   proof => 'expire_after_switch', timeout => 45);
    ok defined $w{served}, 'the graceful failover is followed';
    diag sprintf 'SENTINEL FAILOVER: Sentinels switched after %s s, nginx served from the new'
        . ' master after %s s, %d requests got 503 (for %.1f s)',
        map({ defined ? sprintf('%.1f', $_) : 'never' } @w{qw(switched served)}),
        $w{n503}, $w{window503};
    ok defined $w{served} && defined $w{switched} && $w{served} - $w{switched} < 8,
        '... well before Sentinel demotes the old master (about 10 s after the switch)';
    ok $t->wait_for_error_log(qr/oneid: redis sentinels announce a new master "\Q$NAME\E" at 127\.0\.0\.1:\d+/, 2),
        '... told by the +switch-master announcement (logged)';
    ok $w{window503} < 5, '... 503s for a short while at most (< 5 s)';
    is_deeply $w{odd}, [], 'only 200 or 503 meanwhile: no redirect to OneID, no 500/502';
}
{
    my $c = $t->browser;
    is $c->login('/ward', user => 'citizen-eds')->{status}, 302, 'a new login works';
    is rc($A, 'EXISTS', session_key($c->cookie('oneid_session'))), 1, '... and writes to the new master';
}
kill CONT => pid_of($S[0]);
ok wait_until(60, 'the Sentinels to settle', sub { healthy($A, $B) }),
    'the stopped Sentinel is back and agrees' or diag sentinel_state();

# --- 6. READONLY: the master becomes a replica behind Sentinel's back

is $b->get('/ward')->{status}, 200, 'served before the master is demoted';
$t->mark_error_log;
# B replicates from A and now A from B: same data, nobody writable.  A
# keeps its client connections (Sentinel's own SLAVEOF would kill them).
is rc($A, 'REPLICAOF', '127.0.0.1', $B), 'OK', "$A made a replica of $B by hand";
$res = $b->get('/ward');
is $res->{status}, 503, 'the command answered READONLY: 503' or diag $res->summary;
ok $t->wait_for_error_log(qr/READONLY/, 2), '... and READONLY is logged';
{
    # Sentinels still name A, which is read-only now: nginx must not serve,
    # nor send anyone to OneID.
    my @status = map { sleep 0.2; $b->get('/ward')->{status} } 1 .. 8;
    is_deeply \@status, [ (503) x 8 ], 'while the Sentinels name a read-only node: 503s';
}
is rc($S[1], 'SENTINEL', 'FAILOVER', $NAME), 'OK', 'SENTINEL FAILOVER to the other node';
{
    my %w = follow(from => $A, to => $B, sentinel => $S[1], key => $key, browser => $b,
                   proof => 'expire_after_switch');
    ok defined $w{served}, 'nginx left the read-only node and is served by the new master';
    diag sprintf 'READONLY: Sentinels switched after %s s, nginx served from the new master'
        . ' after %s s', map { defined ? sprintf('%.1f', $_) : 'never' } @w{qw(switched served)};
    ok defined $w{served} && $w{served} < 15, '... within a bounded time (< 15 s)';
    is_deeply $w{odd}, [], 'only 200 or 503 meanwhile: no redirect to OneID, no 500/502';
}
ok wait_until(60, 'the Sentinels to settle', sub { healthy($B, $A) }), 'the Sentinels settled'
    or diag sentinel_state();

# --- 9. READONLY from a master that the Sentinels have already replaced

# A switch behind the module's back: A becomes a master, the Sentinels
# are told to watch it (no +switch-master), then B a replica of A.  The
# module's connection to B stays open: its next write answers READONLY,
# while asking the Sentinels would give A at once.
is $b->get('/ward')->{status}, 200, 'served by B before the switch behind its back';
$t->mark_error_log;
is rc($A, 'REPLICAOF', 'NO', 'ONE'), 'OK', "$A made a master by hand";
remonitor($A);
is rc($B, 'REPLICAOF', '127.0.0.1', $A), 'OK', "... $B its replica, the Sentinels name $A";
{
    # one request every 50 ms; a 200 that restores the TTL lowered on A
    # was served by A
    my ($t0, @seen, $served) = (time);
    while (time - $t0 < 5) {
        rc($A, 'EXPIRE', $key, 1000);
        my $res = $b->get('/ward');
        push @seen, [ time - $t0, $res->{status} ];
        if ($res->{status} == 200 && rc($A, 'TTL', $key) > 1000) {
            $served = time - $t0;
            last;
        }
        sleep 0.05;
    }
    my @s503 = grep { $_->[1] == 503 } @seen;
    diag sprintf 'READONLY with the Sentinels up to date: %d requests got 503, served by the'
        . ' new master after %s s', scalar @s503, defined $served ? sprintf('%.2f', $served) : 'never';
    ok defined $served, 'served by the master the Sentinels name';
    ok @s503 >= 1, '... after a 503 for the request that saw READONLY';
    ok $t->wait_for_error_log(qr/READONLY/, 1), '... which is logged';
    ok defined $served && @s503 && $served - $s503[0][0] < 0.5,
        '... within 0.5 s: the Sentinels are asked again at once, no 1 s retry window';
    ok @s503 <= 2, '... so one or two requests got 503, not all those of a second';
    is_deeply [ grep { $_->[1] != 200 && $_->[1] != 503 } @seen ], [],
        'only 200 or 503 meanwhile';
}
ok wait_until(60, 'the Sentinels to settle', sub { healthy($A, $B) }), 'the Sentinels settled'
    or diag sentinel_state();

# --- 8 (first nginx). nothing crashed

is_deeply [ $t->worker_pids ], \@workers, 'the same worker served every phase (no crash, no reload)';
{
    my $all = Test::Nginx::Server::read_error_log(0);
    unlike $all, qr/\[(alert|crit|emerg)\]/, 'no [alert], [crit] or [emerg] in error.log';
    unlike $all, qr/exited on signal|signal 11/, 'no worker exited on a signal';
}
undef $t;

# --- 10. a failover announced while a Sentinel is slow to answer

# The first Sentinel of the list is reached through a proxy that holds its
# answers on demand.  The worker loses its connection and asks that
# Sentinel, which answers A at once, but the answer is held; meanwhile
# SENTINEL FAILOVER moves the master to B and the other Sentinels announce
# it; then the answer naming A is let through.
my $proxy = Test::OneID::HoldProxy->new(listen => $P, upstream => $S[0],
                                        status => "$dir/proxy.status");
$t = gateway("127.0.0.1:$P 127.0.0.1:$S[1] 127.0.0.1:$S[2] master=$NAME"
             . ' connect_timeout=5s timeout=5s');
{
    my ($worker) = $t->worker_pids;
    my $c = $t->browser;
    is $c->login('/ward', user => 'doctor')->{status}, 302, 'slow Sentinel: login through the proxy';
    is $c->get('/ward')->{status}, 200, '... served by the master';
    my $k = session_key($c->cookie('oneid_session'));
    is rc($A, 'EXISTS', $k), 1, "... which is $A";
    ok wait_until(10, 'the worker to subscribe on every Sentinel', sub {
        3 == grep { rc($_, 'CLIENT', 'LIST') =~ /cmd=subscribe/ } @S }),
        '... the worker subscribed to +switch-master on every Sentinel';

    my @data = data_connections($worker);
    is scalar @data, 1, 'the worker has one connection to a data node' or diag "@data";
    $t->mark_error_log;
    $proxy->hold;
    rc($A, 'CLIENT', 'KILL', 'ADDR', "127.0.0.1:$data[0][0]") if @data;
    ok $t->wait_for_error_log(qr/lost connection to redis/, 2), 'its connection is killed';

    # a request in the background: it waits for the answer held back
    pipe my $rd, my $wr or die $!;
    my $kid = fork // die "fork: $!";
    if ($kid == 0) {
        close $rd;
        my $res = eval { $c->get('/ward') };
        print $wr $res ? $res->{status} : 0;
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    ok $proxy->wait_status(1, 5), 'the request asked the slow Sentinel, whose answer is held';

    is rc($S[1], 'SENTINEL', 'FAILOVER', $NAME), 'OK', 'SENTINEL FAILOVER meanwhile';
    ok $t->wait_for_error_log(qr/announce a new master "\Q$NAME\E" at 127\.0\.0\.1:$B\b/, 9),
        "... announced by the other Sentinels: $B";
    my @after = map { $c->get('/ward')->{status} } 1 .. 3;
    is_deeply \@after, [200, 200, 200], '... and served after the announcement';

    $proxy->release;
    ok wait_until(2, 'the proxy to let the answers through', sub { $proxy->held == 0 }),
        'the held answer (naming A) is let through';
    sleep 0.5;
    my $late = do { local $/; <$rd> } // '';
    waitpid $kid, 0;
    like $late, qr/^(200|503)$/, "the request that waited for the slow Sentinel: $late";

    # every write goes to the new master, over one connection
    my @keys;
    for my $user (qw(citizen-basic citizen-eds doctor citizen-basic doctor)) {
        my $d = $t->browser;
        $d->login('/ward', user => $user);
        push @keys, session_key($d->cookie('oneid_session')) if $d->get('/ward')->{status} == 200;
    }
    is scalar @keys, 5, 'five logins after the late answer';
    is_deeply [ map { rc($B, 'EXISTS', $_) } @keys ], [ (1) x @keys ],
        "... every session is written to the new master $B";
    is_deeply [ grep { rc($A, 'EXISTS', $_) && !rc($B, 'EXISTS', $_) } @keys ], [],
        "... none to the old master $A only";
    @data = data_connections($worker);
    is_deeply [ map { $_->[1] } @data ], [$B],
        "the worker holds exactly one connection to a data node, to $B";
    unlike $t->error_log_since_mark, qr/sentinels give master "\Q$NAME\E" at 127\.0\.0\.1:$A\b/,
        '... the late answer naming A was not used';
}
undef $t;
{
    my $all = Test::Nginx::Server::read_error_log(0);
    unlike $all, qr/open socket #\d+ left in connection/,
        'no connection left open when the worker quits';
    unlike $all, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no [alert]/[crit], no crash';
}
$proxy->stop;
ok wait_until(60, 'the Sentinels to settle', sub { healthy($B, $A) }), 'the Sentinels settled'
    or diag sentinel_state();

# --- 7. passwords: Sentinels and data nodes both require one

my ($SP, $MP) = ('sentinel "horse" s3;cret', 'master horse+/=');
for my $port ($A, $B) { rc($port, 'CONFIG', 'SET', 'masterauth', $MP) }
for my $port (@S) { rc($port, 'SENTINEL', 'SET', $NAME, 'auth-pass', $MP) }
for my $port ($A, $B) { rc($port, 'CONFIG', 'SET', 'requirepass', $MP); $pass{$port} = $MP }
for my $port (@S) { rc($port, 'SENTINEL', 'CONFIG', 'SET', 'sentinel-pass', $SP) }
for my $port (@S) { rc($port, 'ACL', 'SETUSER', 'default', 'resetpass', ">$SP"); $pass{$port} = $SP }
ok wait_until(30, 'the Sentinels to settle with passwords', sub { healthy($B, $A) }),
    'Sentinels and data nodes now require passwords' or diag sentinel_state();

(my $q = $SP) =~ s/"/\\"/g;
$t = gateway(qq{$sentinels master=$NAME "sentinel_password=$q" "password=$MP"});
{
    my $c = $t->browser;
    is $c->login('/ward', user => 'doctor')->{status}, 302, 'with both passwords: login works';
    is $c->get('/ward')->{status}, 200, '... the session is found';
    is rc($B, 'EXISTS', session_key($c->cookie('oneid_session'))), 1, '... on the master';
    unlike Test::Nginx::Server::read_error_log(0), qr/\[(alert|crit|emerg)\]/, '... no [alert]/[crit]';
}

$t = gateway(qq{$sentinels master=$NAME "sentinel_password=wrong horse" "password=$MP"});
$res = callback_answer($t);    # a login start needs no Redis
is $res->{status}, 503, 'wrong sentinel_password: 503, not a redirect to OneID';
ok $t->wait_for_error_log(qr/sentinel.*(WRONGPASS|invalid username-password)/i, 3),
    '... and the log says a Sentinel refused the password';

$t = gateway(qq{$sentinels master=$NAME "password=$MP"});
$res = callback_answer($t);    # a login start needs no Redis
is $res->{status}, 503, 'no sentinel_password for Sentinels that need one: 503';
ok $t->wait_for_error_log(qr/sentinel.*NOAUTH/i, 3), '... and the log says NOAUTH';

$t = gateway(qq{$sentinels master=$NAME "sentinel_password=$q" "password=wrong horse"});
$res = callback_answer($t);    # a login start needs no Redis
is $res->{status}, 503, 'wrong master password: 503';
ok $t->wait_for_error_log(qr/127\.0\.0\.1:$B.*(WRONGPASS|invalid username-password)/i, 3),
    '... and the log says the master refused it';
# ROLE is refused (NOAUTH) as well: that says nothing about the role
is_deeply [ grep { /not the master/ } split /^/, $t->error_log_since_mark ], [],
    '... without claiming that the master is not the master';

$t = gateway(qq{$sentinels master=nosuchmaster "sentinel_password=$q" "password=$MP"});
$res = callback_answer($t);    # a login start needs no Redis
is $res->{status}, 503, 'a master name the Sentinels do not know: 503';
ok $t->wait_for_error_log(qr/sentinel.*"nosuchmaster"/, 3), '... and the log names it';

my @closed = ($base + 5, $base + 6);
$t = gateway(join(' ', map { "127.0.0.1:$_" } @closed) . " master=$NAME");
$res = callback_answer($t);    # a login start needs no Redis
is $res->{status}, 503, 'no Sentinel reachable: 503, not a redirect to OneID';
ok $t->wait_for_error_log(qr/sentinel.*127\.0\.0\.1:$closed[0].*refused/i, 3),
    '... and the log says which Sentinel refused the connection';
unlike Test::Nginx::Server::read_error_log(0), qr/\[(alert|crit|emerg)\]|exited on signal/,
    'no [alert]/[crit] and no crash in the password cases';
undef $t;

done_testing;

# ===========================================================================
# Failover follower
#
# Requests the protected page with the browser's cookie every 200 ms until
# nginx is served by the new master, and returns
#   switched  seconds until Sentinel (on the given port) named the new master
#   served    seconds until nginx answered 200 from the new master
#   n503, window503 (seconds from the first to the last 503), odd (other
#   statuses: summaries), last (the last response)
# The proof that a 200 came from the new master:
#   ttl_as_is            the key's TTL was lowered on both nodes before; the
#                        old master is dead, any 200 is from the new one and
#                        restores the TTL there (checked by the caller)
#   expire_after_switch  once Sentinel switched, the TTL is lowered on the
#                        new master before each request: a 200 that restores
#                        it was served there (the old master may still take
#                        writes for a while, and replicates nothing to it)

sub follow {
    my (%o) = @_;
    my $t0 = time;
    my $deadline = $t0 + ($o{timeout} // 30);
    my (%w, $first503, $last503);
    $w{n503} = 0;
    $w{odd} = [];
    while (time < $deadline) {
        my $addr = master_addr($o{sentinel}) // '';
        $w{switched} //= time - $t0 if $addr eq "127.0.0.1:$o{to}";
        my $lowered = 0;
        if ($o{proof} eq 'expire_after_switch' && defined $w{switched}) {
            $lowered = eval { rc($o{to}, 'EXPIRE', $o{key}, 1000) } // 0;
        }
        my $at = time - $t0;
        my $res = $o{browser}->get('/ward');
        $w{last} = $res;
        if ($res->{status} == 503) {
            $w{n503}++;
            $first503 //= $at;
            $last503 = $at;
        } elsif ($res->{status} != 200) {
            push @{ $w{odd} }, sprintf('%.1f s: %s', $at, $res->summary);
        } elsif ($o{proof} eq 'ttl_as_is'
                 || ($lowered && (eval { rc($o{to}, 'TTL', $o{key}) } // 0) > 1000))
        {
            $w{served} = $at;
            last;
        }
        sleep 0.2;
    }
    $w{window503} = defined $first503 ? $last503 - $first503 : 0;
    return %w;
}

# ===========================================================================
# Redis and Sentinel processes

sub start_data_node {
    my ($port, @extra) = @_;
    unlink "$dir/redis-$port.pid";
    system('redis-server', '--port', $port, '--bind', '127.0.0.1', '--save', '',
           '--appendonly', 'no', '--repl-diskless-sync-delay', 0,
           '--dbfilename', "dump-$port.rdb", '--daemonize', 'yes', '--dir', $dir,
           '--pidfile', "$dir/redis-$port.pid", '--logfile', "$dir/redis-$port.log",
           @extra) == 0
        or die "cannot start redis-server on port $port\n";
    wait_until(10, "redis-server on $port", sub { -s "$dir/redis-$port.pid" && ping($port) })
        or die "redis-server on port $port did not come up: see $dir/redis-$port.log\n";
}

sub start_sentinel {
    my ($i) = @_;
    my $port = $S[$i];
    my $conf = "$dir/sentinel-$port.conf";
    open my $fh, '>', $conf or die "$conf: $!\n";
    print $fh <<"END";
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/redis-$port.pid
logfile $dir/sentinel-$port.log
dir $dir
sentinel monitor $NAME 127.0.0.1 $A 2
sentinel down-after-milliseconds $NAME 1000
sentinel failover-timeout $NAME 5000
sentinel parallel-syncs $NAME 1
END
    close $fh;
    unlink "$dir/redis-$port.pid";
    my @cmd = $sentinel_cmd[0] eq 'redis-sentinel' ? ('redis-sentinel', $conf)
                                                   : ('redis-server', $conf, '--sentinel');
    system(@cmd) == 0 or die "cannot start a Sentinel (@cmd)\n";
    wait_until(10, "Sentinel on $port", sub { -s "$dir/redis-$port.pid" && ping($port) })
        or die "Sentinel on port $port did not come up: see $dir/sentinel-$port.log\n";
}

sub pid_of {
    my ($port) = @_;
    open my $fh, '<', "$dir/redis-$port.pid" or return undef;
    my $pid = <$fh> // '';
    return $pid =~ /^\s*(\d+)/ ? $1 : undef;
}

sub kill_node {
    my ($port) = @_;
    my $pid = pid_of($port) or die "no pid file for port $port\n";
    kill KILL => $pid;
    wait_gone($pid, 5);
    unlink "$dir/redis-$port.pid";
}

# The daemons may be our children (the test becomes a child subreaper when
# it starts nginx): reap them, a zombie is gone for our purposes.
sub wait_gone {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        waitpid($pid, WNOHANG);
        return 1 unless kill 0, $pid;
        open my $fh, '<', "/proc/$pid/stat" or return 1;
        return 1 if (<$fh> // '') =~ /^\d+ \(.*\) Z/;
        sleep 0.05;
    }
    return 0;
}

sub stop_all {
    local ($?, $!, $@);
    for my $port (@S, $A, $B) {
        my $pid = pid_of($port) or next;
        kill CONT => $pid;
        kill TERM => $pid;
        wait_gone($pid, 3) or kill KILL => $pid;
        wait_gone($pid, 1);
        unlink "$dir/redis-$port.pid";
    }
}

sub kill_stale {
    for my $pidfile (glob "$dir/redis-*.pid") {
        my ($port) = $pidfile =~ /redis-(\d+)\.pid$/ or next;
        my $pid = pid_of($port) or next;
        open my $fh, '<', "/proc/$pid/cmdline" or next;
        my $cmdline = do { local $/; <$fh> } // '';
        next unless $cmdline =~ /redis/ && $cmdline =~ /:$port\b/;
        kill CONT => $pid;
        kill KILL => $pid;
        wait_gone($pid, 2);
    }
}

# ===========================================================================
# Talking to them: one command per fresh connection (nodes come and go),
# AUTH first when the port has a password.  Dies with Redis's message.

sub rc {
    my ($port, @cmd) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 2)
        or die "127.0.0.1:$port: cannot connect: $@\n";
    local $SIG{PIPE} = 'IGNORE';
    my $buf = '';
    my $reply;
    for my $c (defined $pass{$port} ? ['AUTH', $pass{$port}] : (), [@cmd]) {
        my $req = '*' . @$c . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for @$c;
        Test::OneID::resp_write($sock, $req);
        $reply = Test::OneID::resp_read($sock, \$buf);
        die "127.0.0.1:$port $c->[0]: $$reply\n" if ref $reply eq 'Test::OneID::RedisError';
    }
    return $reply;
}

sub ping { (eval { rc($_[0], 'PING') } // '') eq 'PONG' }

# Poll $cond every $interval seconds (0.1) for up to $timeout seconds.
sub wait_until {
    my ($timeout, $what, $cond, $interval) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $v = eval { $cond->() };
        return $v if $v;
        last if time > $deadline;
        sleep $interval // 0.1;
    }
    diag "gave up after ${timeout}s waiting for $what";
    return undef;
}

# Make every Sentinel watch $master under $NAME at once, without a failover
# nor a +switch-master, with the settings of start_sentinel.
sub remonitor {
    my ($master) = @_;
    for my $s (@S) {
        rc($s, 'SENTINEL', 'REMOVE', $NAME);
        rc($s, 'SENTINEL', 'MONITOR', $NAME, '127.0.0.1', $master, 2);
        rc($s, 'SENTINEL', 'SET', $NAME, 'down-after-milliseconds', 1000);
        rc($s, 'SENTINEL', 'SET', $NAME, 'failover-timeout', 5000);
        rc($s, 'SENTINEL', 'SET', $NAME, 'parallel-syncs', 1);
    }
}

# The worker's connections to the data nodes: [local port, remote port].
sub data_connections {
    my ($pid) = @_;
    return grep { $_->[1] == $A || $_->[1] == $B } Test::OneID::tcp_connections($pid);
}

sub master_addr {
    my ($sentinel) = @_;
    my $a = eval { rc($sentinel, 'SENTINEL', 'get-master-addr-by-name', $NAME) };
    return ref $a eq 'ARRAY' && @$a == 2 ? "$a->[0]:$a->[1]" : undef;
}

# ROLE of $port says: replica of $master with the link up.
sub replica_of {
    my ($port, $master) = @_;
    my $role = rc($port, 'ROLE');
    return $role->[0] eq 'slave' && $role->[2] == $master && $role->[3] eq 'connected';
}

sub flat_hash { my ($list) = @_; return { @{ $list || [] } } }

# Every Sentinel names $master, sees $replica as a healthy replica with its
# link up, and sees the two other Sentinels.
sub healthy {
    my ($master, $replica) = @_;
    return 0 unless replica_of($replica, $master);
    for my $s (@S) {
        return 0 unless (master_addr($s) // '') eq "127.0.0.1:$master";
        my $m = flat_hash(rc($s, 'SENTINEL', 'MASTER', $NAME));
        return 0 unless $m->{flags} eq 'master';
        my @r = map { flat_hash($_) } @{ rc($s, 'SENTINEL', 'REPLICAS', $NAME) };
        return 0 unless grep { $_->{port} == $replica && $_->{flags} eq 'slave'
                               && $_->{'master-link-status'} eq 'ok' } @r;
        my @o = map { flat_hash($_) } @{ rc($s, 'SENTINEL', 'SENTINELS', $NAME) };
        return 0 unless 2 == grep { $_->{flags} eq 'sentinel' } @o;
    }
    return 1;
}

# the answer to a login's callback: the first request that needs Redis
sub callback_answer {
    my ($gw) = @_;
    my $b = $gw->browser;
    return $b->get($b->callback_for('doctor', '/ward'));
}

sub sentinel_state {
    my $out = '';
    for my $s (@S) {
        my $r = eval {
            my @r = map { flat_hash($_) } @{ rc($s, 'SENTINEL', 'REPLICAS', $NAME) };
            my @o = map { flat_hash($_) } @{ rc($s, 'SENTINEL', 'SENTINELS', $NAME) };
            sprintf "master %s; replicas: %s; sentinels: %s", master_addr($s) // '?',
                join(', ', map { "$_->{port} [$_->{flags}, link $_->{'master-link-status'}]" } @r),
                join(', ', map { "$_->{port} [$_->{flags}]" } @o);
        } // "error: $@";
        $out .= "  Sentinel $s: $r\n";
    }
    for my $port ($A, $B) {
        my $role = eval { rc($port, 'ROLE') };
        $out .= "  $port: " . (ref $role ? join(' ', map { ref $_ ? '[...]' : $_ } @$role)
                                        : "down ($@)") . "\n";
    }
    return $out;
}
