# oneid_redis parameters against a real Redis that needs them: a password,
# a database number, a key prefix, and a unix socket.

use strict;
use warnings;

use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(sleep);

my $port = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 17;
my $dir = tempdir(CLEANUP => 1);
my $sock = "$dir/redis.sock";

system('redis-server', '--port', $port, '--bind', '127.0.0.1',
       '--unixsocket', $sock, '--unixsocketperm', '700',
       '--requirepass', 'right horse', '--save', '', '--appendonly', 'no',
       '--daemonize', 'yes', '--dir', $dir, '--logfile', "$dir/redis.log") == 0
    or die "cannot start redis-server\n";
END { system("redis-cli -p $port -a 'right horse' --no-auth-warning shutdown nosave >/dev/null 2>&1") }

sub rcli {
    my $out = `redis-cli -p $port -a 'right horse' --no-auth-warning @_ 2>&1`;
    chomp $out;
    return $out;
}
for (1 .. 100) { last if rcli('ping') eq 'PONG'; sleep 0.05 }

sub gateway {
    my ($redis) = @_;
    return Test::OneID->new(
        http_config   => http_config(redis => $redis),
        config        => server_config(),
        root_location => 0,
        log_level     => 'info',
    );
}

{
    my $t = gateway(qq{127.0.0.1:$port "password=wrong horse"});
    my $b = $t->browser;
    my $res = $b->get($b->callback_for('doctor', '/ward'));
    is $res->{status}, 503, 'wrong password: the callback answers 503';
    ok $t->wait_for_error_log(qr/redis at 127\.0\.0\.1:$port refused AUTH or SELECT: WRONGPASS/, 2),
        '... and the log says Redis refused the password';
}

{
    my $t = gateway(qq{127.0.0.1:$port "password=right horse" db=3 prefix=mis:});
    my $b = $t->browser;
    is $b->login('/ward', user => 'doctor')->{status}, 302, 'password, db and prefix: login works';
    is $b->get('/ward')->{status}, 200, '... and the session is found';
    my $key = session_key($b->cookie('oneid_session'), 'mis:');
    is rcli('-n', 3, 'exists', $key), '1', '... in database 3 under the prefix';
    is rcli('-n', 0, 'dbsize'), '0', '... and nothing in database 0';
}

{
    my $t = gateway(qq{unix:$sock "password=right horse" db=4});
    my $b = $t->browser;
    is $b->login('/ward', user => 'citizen-eds')->{status}, 302, 'unix socket: login works';
    is $b->get('/ward')->{status}, 200, '... and the session is found';
    my $key = session_key($b->cookie('oneid_session'));
    is rcli('-n', 4, 'exists', $key), '1', '... in database 4';
}

done_testing;
