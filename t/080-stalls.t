# Nothing blocks a worker: a hung Redis costs one command timeout, a slow
# OneID delays only the user who is logging in, clients that give up while
# we wait leave nothing behind, and a Redis that cannot store a session
# never yields a cookie.  One worker throughout, so everybody shares it.

use strict;
use warnings;

use lib 't/lib';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(time sleep);

# a private Redis next to the suite's, so that parallel suites do not meet
my $redis_port = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 18;
my $dir = tempdir(CLEANUP => 1);

system('redis-server', '--port', $redis_port, '--bind', '127.0.0.1',
       '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
       '--dir', $dir, '--logfile', "$dir/redis.log") == 0
    or die "cannot start redis-server\n";
END { system("redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1") }

sub rcli { my $out = `redis-cli -p $redis_port @_ 2>&1`; chomp $out; $out }
for (1 .. 100) { last if rcli('ping') eq 'PONG'; sleep 0.05 }

my $t = Test::OneID->new(
    http_config   => http_config(redis => "127.0.0.1:$redis_port timeout=300ms"),
    config        => server_config(),
    root_location => 0,
    log_level     => 'info',
);

my $b = $t->browser;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'logged in';
is $b->get('/ward')->{status}, 200, 'served';

# --- a hung Redis: 503 once the command timeout fires, then back to
# normal.  The pause is far longer than the timeout: a module that waited
# for Redis would answer 200 once the pause ended, not 503.
rcli('client pause 2000 all');
my $res = $b->get('/ward');
is $res->{status}, 503, 'Redis hung: 503 from the command timeout';
ok $t->wait_for_error_log(qr/redis did not answer in time/, 2), '... logged';
my $status;
for (1 .. 50) { $status = $b->get('/ward')->{status}; last if $status == 200; sleep 0.1 }
is $status, 200, 'Redis answers again: served without a reload';

# --- a slow OneID exchange delays nobody else
{
    my $slow = $t->browser;
    my $cb = $slow->callback_for('token-slow', '/slow');

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = $slow->get($cb);
        # _exit: the parent's END blocks and destructors are not ours to run
        POSIX::_exit($r->{status} == 302 ? 0 : 1);
    }

    sleep 0.3;    # the slow callback is now waiting on OneID
    my $all_ok = 1;
    $all_ok &&= $b->get('/ward')->{status} == 200 for 1 .. 5;
    ok $all_ok, 'other user served while a login waits on a slow OneID';
    ok !(waitpid($pid, 1) == $pid), '... all before the slow login finished';
    waitpid($pid, 0);
    is $? >> 8, 0, 'the slow login completes too';
}

# --- clients that give up while we wait
{
    rcli('client pause 800 all');
    my @socks;
    for (1 .. 20) {
        my $s = IO::Socket::INET->new('127.0.0.1:' . $t->port) or next;
        print $s "GET /ward HTTP/1.1\r\nHost: localhost\r\nCookie: oneid_session="
            . $b->cookie('oneid_session') . "\r\n\r\n";
        push @socks, $s;
    }
    sleep 0.1;
    close $_ for @socks;
    sleep 1;
    my $status;
    for (1 .. 50) { $status = $b->get('/ward')->{status}; last if $status == 200; sleep 0.1 }
    is $status, 200, '20 clients gave up during a Redis stall: worker fine';
}

# --- Redis full: no state, no session, no cookie pointing at nothing
{
    my $c = $t->browser;
    $res = $c->get('/full');
    my $authorize = $res->header('Location') . '&mock_user=doctor';
    $res = $c->get($authorize);
    (my $cb = $res->header('Location')) =~ s{^https?://[^/]+}{};

    rcli('config set maxmemory-policy noeviction');
    rcli('config set maxmemory 1');

    $res = $c->get($cb);
    is $res->{status}, 503, 'Redis refuses writes: the callback answers 503';
    ok !defined $c->cookie('oneid_session'), '... and sets no session cookie';
    ok $t->wait_for_error_log(qr/session store unavailable while creating a session: OOM/, 2),
        '... logging why';

    # a login start writes nothing: it goes to OneID even so
    my $d = $t->browser;
    $res = $d->get('/full');
    is $res->{status}, 302, 'a new login still starts: it writes nothing to Redis';
    is scalar(keys %{ $d->flow_cookies }), 1, '... its flow is a cookie';

    rcli('config set maxmemory 0');
}

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]|signal \d+/,
    'no alert, no crashed worker';

done_testing;
