# Redis faults against a real redis-server that this file owns: hung
# (DEBUG SLEEP, SIGSTOP), restarted with the sessions kept on disk, killed
# (SIGKILL) while a request waits on it, replaced by something that accepts
# connections and never answers, by an address that never completes a
# connection, and full (maxmemory + noeviction).  Each time: 503 without
# waiting longer than the default timeouts, never a redirect to OneID for a
# user whose session could not be checked, the same worker throughout (no
# crash), one Redis connection attempt per second at most while it is down,
# one log line when it goes down and one when it is back, recovery without
# a reload, and no file descriptor or Redis connection left behind.
#
# oneid_redis is used without timeout parameters (the defaults, 1s each)
# except where a longer command timeout is needed to tell the connect
# timeout apart.  nginx runs with a master and one worker, so a crash
# would show as a new worker pid and a "signal" line in the error log.

use strict;
use warnings;

use lib 't/lib';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_REUSEADDR pack_sockaddr_in inet_aton);
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(time sleep);

# a private Redis (and a spare port) next to the suite's, never the shared one
my $redis_port = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 21;
my $spare_port = $redis_port + 1;
my $dir = tempdir(CLEANUP => 1);
my $addr = "127.0.0.1:$redis_port";

for my $port ($redis_port, $spare_port) {
    die "port $port is in use: another run of this file?\n"
        if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1);
}

# ---------------------------------------------------------------------------
# Redis: start, kill, stop, commands on a fresh connection each time

sub redis_pid {
    open my $fh, '<', "$dir/redis.pid" or return undef;
    my $pid = <$fh> // '';
    return $pid =~ /^(\d+)/ ? $1 : undef;
}

# Sessions survive a SIGKILL: every write is in the append-only file
# before Redis answers it.
# Redis 7 refuses DEBUG unless enabled; 6.2 knows no such option
my ($redis_major) = `redis-server --version` =~ /\bv=(\d+)\./;
my @debug = ($redis_major // 0) >= 7 ? ('--enable-debug-command', 'local') : ();

sub redis_start {
    system('redis-server', '--port', $redis_port, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
           @debug, '--daemonize', 'yes',
           '--dir', $dir, '--pidfile', "$dir/redis.pid",
           '--logfile', "$dir/redis.log") == 0
        or die "cannot start redis-server on $redis_port\n";
    for (1 .. 200) {
        my $pong = eval { rcmd('PING') } // '';
        return if $pong eq 'PONG';
        sleep 0.05;
    }
    die "redis-server on $redis_port did not come up\n";
}

sub redis_kill {
    my $pid = redis_pid() or die "no redis pid\n";
    kill 'CONT', $pid;
    kill 'KILL', $pid;
    for (1 .. 200) {
        last unless IO::Socket::INET->new(PeerAddr => $addr, Timeout => 1);
        sleep 0.02;
    }
    for (1 .. 200) {    # a daemon: not our child, so wait for it to vanish
        last unless -e "/proc/$pid";
        sleep 0.02;
    }
}

sub redis_state {    # R running, S sleeping, T stopped, ...
    my $pid = redis_pid() or return '';
    open my $fh, '<', "/proc/$pid/stat" or return '';
    return (<$fh> // '') =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}

END {
    if (my $pid = redis_pid()) {
        kill 'CONT', $pid;
        kill 'KILL', $pid;
    }
}

# One command on a new connection: the reply, or a Test::OneID::RedisError
# object for an error reply; dies if Redis cannot be reached.
sub rcmd {
    my (@cmd) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 5)
        or die "cannot connect to redis at $addr: $@\n";
    return rsend($sock, @cmd);
}

sub rsend {
    my ($sock, @cmd) = @_;
    rwrite($sock, @cmd);
    my $buf = '';
    return Test::OneID::resp_read($sock, \$buf);
}

sub rwrite {
    my ($sock, @cmd) = @_;
    local $SIG{PIPE} = 'IGNORE';
    Test::OneID::resp_write($sock, '*' . @cmd . "\r\n"
        . join('', map { '$' . length($_) . "\r\n$_\r\n" } @cmd));
}

sub session_keys { scalar @{ rcmd('KEYS', 'oneid:session:*') } }

# ---------------------------------------------------------------------------
# nginx: worker pids, open descriptors, sockets to Redis

my $t;

sub fd_count {
    my ($pid) = @_;
    opendir my $dh, "/proc/$pid/fd" or return -1;
    return scalar grep { /^\d+$/ } readdir $dh;
}

# local ports of the TCP sockets that process $pid holds towards $port
sub sockets_to {
    my ($pid, $port) = @_;
    my %inode;
    opendir my $dh, "/proc/$pid/fd" or return ();
    for my $fd (readdir $dh) {
        my $link = readlink "/proc/$pid/fd/$fd" // next;
        $inode{$1} = 1 if $link =~ /^socket:\[(\d+)\]$/;
    }
    my @ports;
    for my $table ("/proc/$pid/net/tcp", "/proc/$pid/net/tcp6") {
        open my $fh, '<', $table or next;
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/;
            my $local = hex $1;
            next unless $f[2] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
            push @ports, $local if $inode{ $f[9] };
        }
    }
    @ports = sort { $a <=> $b } @ports;
    return @ports;
}

# the Redis clients other than the connection asking
sub redis_clients {
    my $sock = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 5) or return ();
    my $me = rsend($sock, 'CLIENT', 'ID');
    return grep { !/\bid=$me\b/ } split /\n/, rsend($sock, 'CLIENT', 'LIST');
}

# Poll $what (a sub returning a status) until it returns $want; returns
# the last status.  Recovery may need the module's 1 s retry interval.
sub poll_status {
    my ($what, $want, $timeout) = @_;
    my $deadline = time + ($timeout // 6);
    my $status;
    while (1) {
        $status = $what->();
        return $status if $status == $want || time > $deadline;
        sleep 0.1;
    }
}

sub lines_like {
    my ($re) = @_;
    return grep { $_ =~ $re } split /^/, $t->error_log_since_mark;
}

my $DOWN = qr/oneid: (?:lost connection to|cannot connect to|closing connection to) redis at \Q$addr\E/;
my $BACK = qr/oneid: redis at \Q$addr\E is reachable again/;
my $CRASH = qr/\[(?:alert|crit|emerg)\]|signal \d+|exited on/;

# ===========================================================================

redis_start();

$t = Test::OneID->new(
    http_config    => http_config(redis => $addr),    # default timeouts
    config         => server_config(),
    root_location  => 0,
    log_level      => 'info',
    master_process => 1,
    workers        => 1,
);

my @workers = $t->worker_pids;
is scalar @workers, 1, "one worker (@workers)";
my $worker = $workers[0] // 0;

my $b = $t->browser;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'logged in';
my $ward = sub { $b->get('/ward')->{status} };
is $ward->(), 200, 'served';
my $cookie = $b->cookie('oneid_session');

# what the worker holds with Redis up and connected
my $fds_before = fd_count($worker);
ok $fds_before > 0, "worker has $fds_before descriptors open";
is scalar(sockets_to($worker, $redis_port)), 1, 'worker holds one connection to Redis';

# --- the default command timeout: Redis asleep for 4 s, 503 while it
# still sleeps (its DEBUG SLEEP reply has not arrived yet)
{
    $t->mark_error_log;
    my $sleeper = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 5) or die;
    rwrite($sleeper, 'DEBUG', 'SLEEP', '4');
    sleep 0.1;

    my $res = $b->get('/ward');
    my $asleep = !IO::Select->new($sleeper)->can_read(0);
    is $res->{status}, 503, 'Redis hung, default timeout: 503 for a signed-in user';
    ok !defined $res->{location}, '... not a redirect to OneID';
    ok $asleep, '... answered while Redis was still asleep (DEBUG SLEEP 4 not over)';
    ok scalar(lines_like(qr/oneid: session store unavailable while checking a session: redis did not answer in time/)),
        '... because the command timed out';
    is scalar(lines_like(qr/closing connection to redis at \Q$addr\E: command timed out/)), 1,
        '... which dropped the connection, logged once';

    my $buf = '';
    is eval { Test::OneID::resp_read($sleeper, \$buf) }, 'OK', 'Redis woke up';
    is poll_status($ward, 200), 200, 'the same cookie is served again, no reload';
    ok $t->wait_for_error_log($BACK, 2), '... and the log says Redis is back';
}

# --- a Redis stopped (SIGSTOP) for longer than the retry interval:
# every request answered, nothing says Redis is back while it is stopped
{
    $t->mark_error_log;
    my $pid = redis_pid();
    kill 'STOP', $pid;
    my @status;
    my $stopped = 1;
    my $end = time + 3.5;
    while (time < $end) {
        push @status, $b->get('/ward')->{status};
        $stopped &&= redis_state() eq 'T';
        sleep 0.1;
    }
    ok $stopped, 'Redis stayed stopped throughout';
    is_deeply [grep { $_ != 503 } @status], [], scalar(@status) . ' requests, all 503';
    my @back = lines_like($BACK);
    is scalar @back, 0, 'no "reachable again" while Redis is stopped' or diag @back;
    my @down = lines_like($DOWN);
    is scalar @down, 1, 'one line says Redis went away' or diag @down;
    kill 'CONT', $pid;
    is poll_status($ward, 200), 200, 'Redis continued: served again';
}

# --- Redis killed while a request waits on it
{
    $t->mark_error_log;
    my $sleeper = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 5) or die;
    rwrite($sleeper, 'DEBUG', 'SLEEP', '2');
    sleep 0.1;

    my $client = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port, Timeout => 5)
        or die "cannot connect to nginx: $@\n";
    print $client "GET /ward HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Cookie: oneid_session=$cookie\r\n\r\n";
    sleep 0.3;    # the GETEX is sent and waits behind DEBUG SLEEP
    my $waiting = !IO::Select->new($client)->can_read(0);
    redis_kill();

    my $answer = '';
    if (IO::Select->new($client)->can_read(5)) {
        local $/;
        $answer = <$client> // '';
    }
    ok $waiting, 'the request was still waiting on Redis when it was killed';
    like $answer, qr{^HTTP/1\.1 503 }, 'Redis killed mid-request: 503';
    unlike $answer, qr/^Location:/mi, '... not a redirect';
    ok scalar(lines_like(qr/oneid: session store unavailable while checking a session: (?!redis did not answer in time|redis is down)/)),
        '... from the lost connection, not a timeout';
    is scalar(lines_like(qr/oneid: lost connection to redis at \Q$addr\E/)), 1,
        '... which is logged once';
    is_deeply [$t->worker_pids], [$worker], 'the same worker is still running';
    is scalar(lines_like($CRASH)), 0, 'no crash, no alert';
}

# --- Redis down (since the SIGKILL above) and restarted on the same
# port: 503 (never a redirect) while down, JSON for scripts and the page
# for browsers, one connection attempt a second at most, the same cookie
# works again, one log line for the outage and one when it is over
{
    my $skip = length $t->error_log_since_mark;    # the kill above is part of the outage
    my $start = time;
    my @status;
    for (1 .. 20) {
        push @status, $b->get('/ward')->{status};
        sleep 0.1;
    }
    is_deeply [grep { $_ != 503 } @status], [], 'Redis down: 20 requests, all 503';

    my $res = $b->get('/ward', { Accept => 'application/json' });
    is $res->{status}, 503, 'a script gets 503';
    like $res->header('Content-Type'), qr{^application/json}, '... as JSON';
    my $json = eval { JSON::PP->new->decode($res->{body}) } || {};
    is $json->{error}, 'session_store_unavailable', '... naming the error';
    is $json->{status}, 503, '... and the status';

    $res = $b->get('/ward', { Accept => 'text/html,application/xhtml+xml,*/*;q=0.8' });
    is $res->{status}, 503, 'a browser gets 503';
    like $res->header('Content-Type'), qr{^text/html}, '... as an HTML page';
    like $res->{body}, qr/Xizmat vaqtincha ishlamayapti/, '... saying the service is unavailable';
    ok !defined $res->{location}, '... and no redirect';

    # a login start needs no Redis: it goes to OneID (the callback would
    # then answer 503 if Redis were still down)
    my $fresh = $t->browser;
    $res = $fresh->get('/ward');
    is $res->{status}, 302, 'no cookie at all: a login starts, it needs no Redis';
    is scalar(keys %{ $fresh->flow_cookies }), 1, '... with its flow cookie';

    # a request that tried to connect fails for another reason than this
    my $elapsed = time - $start;
    my @lines = grep { /oneid: session store unavailable while / }
        split /^/, substr($t->error_log_since_mark, $skip);
    my @attempts = grep { !/redis is down, next connection attempt soon/ } @lines;
    is scalar @lines, 22, 'one line per failed request';
    ok @attempts >= 1 && @attempts <= 2 + $elapsed,
        scalar(@attempts) . sprintf(' of 22 requests over %.1f s tried to connect:', $elapsed)
        . ' one a second at most' or diag @attempts;

    redis_start();
    is poll_status($ward, 200), 200, 'Redis restarted: the same cookie is served, no reload';
    is $b->cookie('oneid_session'), $cookie, '... it is the same session';
    ok $t->wait_for_error_log($BACK, 2), '... and the log says Redis is back';

    my @down = lines_like($DOWN);
    is scalar @down, 1, 'the outage is one line in the error log' or diag @down;
    my @back = lines_like($BACK);
    is scalar @back, 1, 'its end is one line too' or diag @back;
    is_deeply [$t->worker_pids], [$worker], 'the same worker throughout';
}

# --- several outages of each kind, then: the same descriptors as
# before, one connection to Redis
{
    $t->mark_error_log;
    my $failed = 0;
    for my $cycle (1 .. 3) {
        redis_kill();
        for (1 .. 20) { $failed++ if $b->get('/ward')->{status} == 503; sleep 0.02 }
        redis_start();
        poll_status($ward, 200);

        my $pid = redis_pid();
        kill 'STOP', $pid;
        for (1 .. 15) { $failed++ if $b->get('/ward')->{status} == 503; sleep 0.05 }
        kill 'CONT', $pid;
        poll_status($ward, 200);
    }
    ok $failed >= 100, "$failed failed requests over 3 kills and 3 stops";
    is $ward->(), 200, 'served after all that';

    # the last responses' connections may still be closing
    my $fds;
    for (1 .. 50) {
        $fds = fd_count($worker);
        last if abs($fds - $fds_before) <= 2;
        sleep 0.1;
    }
    ok abs($fds - $fds_before) <= 2, "worker descriptors: $fds_before before, $fds after";
    my @socks = sockets_to($worker, $redis_port);
    is scalar @socks, 1, 'the worker holds one socket to Redis';
    my @clients = redis_clients();
    is scalar @clients, 1, 'Redis sees one client: the worker' or diag @clients;
    like $clients[0] // '', qr/\baddr=127\.0\.0\.1:$socks[0] /, '... on that socket'
        if @socks;
    is_deeply [$t->worker_pids], [$worker], 'the same worker throughout';
    is scalar(lines_like($CRASH)), 0, 'no crash, no alert';
}

# --- a full Redis at login: 503 and no cookie, signed-in users keep
# working, logins work again once there is room
{
    $t->mark_error_log;
    my $c = $t->browser;
    my $cb = $c->callback_for('citizen-basic', '/full');
    like $cb, qr{^/oneid/callback\?code=}, 'a login reached the callback step';

    my $sessions = session_keys();
    # 1 MB, or a little more than Redis already uses: then fill it up
    my ($used) = rcmd('INFO', 'memory') =~ /^used_memory:(\d+)/m;
    my $max = ($used // 0) + 262144;
    $max = 1048576 if $max < 1048576;
    rcmd('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    rcmd('CONFIG', 'SET', 'maxmemory', $max);
    # small values: the query buffer of a write counts as used memory
    # while Redis decides, so large ones are refused before Redis is full
    my $filler = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 5) or die;
    my ($refused, $stored, $i) = (0, 0, 0);
    while ($refused < 3 && $i < 20000) {
        my $r = rsend($filler, 'SET', 'fill:' . $i++, 'x' x 200);
        if (ref $r && "$r" =~ /^OOM/) { $refused++ } else { $refused = 0; $stored++ }
    }
    close $filler;
    # closing the filler freed its buffers: full again, for sure
    for (1 .. 200) {
        my $r = eval { rcmd('SET', 'fill:' . $i++, 'x' x 200) };
        last if !defined $r || "$r" =~ /^OOM/ || $@ =~ /OOM/;
        $stored++;
    }
    ok $refused == 3 && $stored > 2,
        "Redis (maxmemory $max, noeviction) full after $stored writes";

    # the filler's buffers gone, a few small writes may fit again: none
    # may while the callback runs
    rcmd('CONFIG', 'SET', 'maxmemory', 1);
    my $res = $c->get($cb);
    rcmd('CONFIG', 'SET', 'maxmemory', $max);
    is $res->{status}, 503, 'the callback answers 503';
    ok !defined $res->{location}, '... with no redirect';
    my @set = grep { /^oneid_session=[^;]/ } @{ $res->{headers}{'set-cookie'} || [] };
    is scalar @set, 0, '... and no session cookie' or diag @set;
    ok !defined $c->cookie('oneid_session'), '... the browser has none';
    is session_keys(), $sessions, '... no session in Redis';
    ok $t->wait_for_error_log(qr/session store unavailable while creating a session: OOM/, 2),
        '... and the log says why';

    is $ward->(), 200, 'a user signed in before is still served by a full Redis';

    rcmd('CONFIG', 'SET', 'maxmemory', '0');
    rcmd('DEL', @{ rcmd('KEYS', 'fill:*') });
    my $d = $t->browser;
    is $d->login('/full', user => 'citizen-basic')->{status}, 302, 'room again: the login works';
    is $d->get('/full')->{status}, 200, '... and is served';
    is session_keys(), $sessions + 1, '... with one new session';
    is scalar(lines_like($CRASH)), 0, 'no crash, no alert';
}

$t->stop;

# --- something that accepts connections and never answers: a 503
# each time, and a bounded number of connections, not one per request
{
    socket(my $hole, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
    setsockopt($hole, SOL_SOCKET, SO_REUSEADDR, 1);
    bind($hole, pack_sockaddr_in($spare_port, inet_aton('127.0.0.1'))) or die "bind: $!\n";
    listen($hole, 128) or die "listen: $!\n";
    $hole->blocking(0);

    $t = Test::OneID->new(
        http_config    => http_config(redis => "127.0.0.1:$spare_port"),
        config         => server_config(),
        root_location  => 0,
        log_level      => 'info',
        master_process => 1,
        workers        => 1,
    );
    my $b = $t->browser;
    $b->set_cookie(oneid_session => $cookie);

    my (@status, @held);
    my $accepted = 0;
    my $start = time;
    for (1 .. 20) {
        push @status, $b->get('/ward')->{status};
        while (accept(my $conn, $hole)) { $accepted++; push @held, $conn }
        sleep 0.1;
    }
    is_deeply [grep { $_ != 503 } @status], [], 'a silent "Redis": 20 requests, all 503';
    # each connection costs one command timeout (1 s), then one retry
    # interval (1 s) passes without any: one per request would be 20
    my $elapsed = time - $start;
    ok $accepted >= 1 && $accepted <= 2 + $elapsed / 2,
        sprintf('%d connections for 20 requests over %.1f s: one per 2 s at most',
                $accepted, $elapsed);
    my @down = lines_like(qr/closing connection to redis at 127\.0\.0\.1:$spare_port: command timed out/);
    my @back = lines_like(qr/redis at 127\.0\.0\.1:$spare_port is reachable again/);
    is scalar @back, 0, 'never said to be reachable: it never answered' or diag @back;
    is scalar @down, 1, 'going down is logged once' or diag @down;
    is scalar(lines_like($CRASH)), 0, 'no crash, no alert';
    $t->stop;
    close $_ for @held;
    close $hole;
}

# --- the default connect timeout: an address that never completes a
# connection (a listening socket with a full backlog), with a command
# timeout of 3 s; the connect timeout fires first, so it is shorter
{
    socket(my $hole, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
    setsockopt($hole, SOL_SOCKET, SO_REUSEADDR, 1);
    bind($hole, pack_sockaddr_in($spare_port, inet_aton('127.0.0.1'))) or die "bind: $!\n";
    listen($hole, 0) or die "listen: $!\n";
    # one connection fills the queue; the kernel drops the next SYNs
    my $filler = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$spare_port", Timeout => 1)
        or die "cannot fill the backlog: $@\n";
    my $hangs = !IO::Socket::INET->new(PeerAddr => "127.0.0.1:$spare_port", Timeout => 0.5);
    ok $hangs, 'blackhole: a connection does not complete';
    SKIP: {
        skip 'this kernel completes connections beyond the backlog', 7 unless $hangs;

        $t = Test::OneID->new(
            http_config    => http_config(redis => "127.0.0.1:$spare_port timeout=3s"),
            config         => server_config(),
            root_location  => 0,
            log_level      => 'info',
            master_process => 1,
            workers        => 1,
        );
        my $b = $t->browser;
        $b->set_cookie(oneid_session => $cookie);

        my $start = time;
        is $b->get('/ward')->{status}, 503, 'Redis unreachable: 503';
        ok $t->wait_for_error_log(qr/closing connection to redis at 127\.0\.0\.1:$spare_port: connection timed out/, 2),
            '... from the default connect timeout, before the 3 s command timeout';
        is scalar(lines_like(qr/redis did not answer in time/)), 0, '... which did not fire';

        my @status;
        for (1 .. 20) { push @status, $b->get('/ward')->{status}; sleep 0.05 }
        my $elapsed = time - $start;
        is_deeply [grep { $_ != 503 } @status], [], '20 more requests, all 503';
        # each attempt costs one connect timeout, then one retry interval
        my @attempts = lines_like(qr/session store unavailable while checking a session: (?!redis is down)/);
        ok @attempts >= 1 && @attempts <= 2 + $elapsed / 2,
            sprintf('%d of 21 requests over %.1f s waited for a connection attempt',
                    scalar @attempts, $elapsed) or diag @attempts;
        is scalar(lines_like(qr/closing connection to redis at/)), 1,
            'the outage is logged once' or diag lines_like(qr/redis at/);
        is scalar(lines_like($CRASH)), 0, 'no crash, no alert';
        $t->stop;
    }
    close $filler;
    close $hole;
}

done_testing;
