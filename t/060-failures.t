# What a user sees when something breaks, and what the sysadmin finds in
# the error log: OneID failing in each way the mock can, an identity that
# OneID does not vouch for, and Redis going away and coming back.  Every
# failure is a page (never a redirect loop) and creates no session.

use strict;
use warnings;

use lib 't/lib';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(time sleep);

# a private Redis that this file may stop and start
my $redis_port = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 19;
my $redis_dir = tempdir(CLEANUP => 1);

sub redis_start {
    system('redis-server', '--port', $redis_port, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
           '--dir', $redis_dir, '--pidfile', "$redis_dir/redis.pid",
           '--logfile', "$redis_dir/redis.log") == 0
        or die "cannot start redis-server on $redis_port\n";
    for (1 .. 100) {
        my $s = IO::Socket::INET->new("127.0.0.1:$redis_port") and return;
        sleep 0.05;
    }
    die "redis-server on $redis_port did not come up\n";
}

sub redis_stop {
    my $s = IO::Socket::INET->new("127.0.0.1:$redis_port") or return;
    print $s "SHUTDOWN NOSAVE\r\n";
    for (1 .. 100) {
        IO::Socket::INET->new("127.0.0.1:$redis_port") or return;
        sleep 0.05;
    }
}

END { redis_stop() }

redis_start();

my $t = Test::OneID->new(
    http_config   => http_config(redis => "127.0.0.1:$redis_port"),
    config        => server_config(
        locations => 'location = /oops.html { root html; }',
        extra     => 'location = /oneid/callback-custom {'
                   . ' oneid_callback; error_page 502 /oops.html; }'),
    root_location => 0,
    log_level     => 'info',
    user_files    => ">>> oops.html\ncustom 502 page\n",
);

sub session_keys {
    my @keys = grep { length } split /\n/,
        `redis-cli -p $redis_port --raw KEYS 'oneid:session:*'`;
    return scalar @keys;
}

# the login stops at OneID's answer: which page, which log line
my @cases = (
    [ 'token-500',             502, qr/OneID token request answered with status 500/ ],
    [ 'token-html',            502, qr/OneID token response is not valid JSON/ ],
    [ 'token-not-found',       502, qr/status 400 and error "token_not_found"/ ],
    [ 'token-no-access-token', 502, qr/no usable "access_token"/ ],
    [ 'token-429',             502, qr/status 429/ ],
    [ 'identify-500',          502, qr/OneID identify request answered with status 500/ ],
    [ 'identify-html',         502, qr/OneID identify response is not valid JSON/ ],
    [ 'identify-truncated',    502, qr/OneID identify response is not valid JSON/ ],
    [ 'identify-nested',       502, qr/OneID identify response is not valid JSON/ ],
    [ 'identify-pin-number',   502, qr/field "pin" is not a string/ ],
    [ 'identify-legal-object', 502, qr/"legal_info" is not an array/ ],
    [ 'identify-giant',        502, qr/OneID identify response is larger than 1 MB/ ],
    [ 'identify-ret-cd',       403, qr/OneID refused the identity: ret_cd is "1"/ ],
    [ 'identify-bad-pin',      403, qr/"pin" is not 14 digits/ ],
    [ 'identify-no-pin',       403, qr/"pin" is not 14 digits/ ],
);

for my $case (@cases) {
    my ($user, $status, $log) = @$case;
    my $b = $t->browser;
    my $before = session_keys();
    $t->mark_error_log;

    my $res = $b->login('/ward', user => $user, quiet => 1);

    is $res->{status}, $status, "$user: $status";
    ok !defined $b->cookie('oneid_session'), "$user: no session cookie";
    is session_keys(), $before, "$user: no session in Redis";
    like $res->{body}, qr/id\.egov\.uz/, "$user: page points to OneID help";
    like $res->{body}, qr/DMED/, "$user: page warns about sharing credentials";
    ok $t->wait_for_error_log($log, 2), "$user: error log says why";
}

# the language of the page, and JSON for scripts
{
    my $b = $t->browser;
    my $res = $b->login('/ward', user => 'identify-500', quiet => 1);
    like $res->{body}, qr/OneID javob bermayapti/, 'Uzbek by default';

    for ([ 'ru-RU,ru;q=0.9', qr/OneID не отвечает/ ],
         [ 'fr, en;q=0.5',   qr/OneID is not responding/ ])
    {
        my ($lang, $re) = @$_;
        $b = $t->browser;
        $res = $b->get($b->callback_for('identify-500'),
                       { 'Accept-Language' => $lang });
        like $res->{body}, $re, "Accept-Language: $lang";
    }

    $b = $t->browser;
    $res = $b->get($b->callback_for('identify-500'),
                   { 'X-Requested-With' => 'XMLHttpRequest' });
    like $res->header('Content-Type'), qr{^application/json}, 'JSON for scripts';
    like $res->{body}, qr/^\{"error":"oneid_unavailable","status":502,/,
        '... naming the error';
}

# an error_page for the status wins over the built-in page
{
    my $b = $t->browser;
    (my $cb = $b->callback_for('token-500'))
        =~ s{^/oneid/callback}{/oneid/callback-custom};
    my $res = $b->get($cb);
    is $res->{status}, 502, 'error_page: status kept';
    like $res->{body}, qr/custom 502 page/, 'error_page: custom page served';
}

# Redis goes away: 503 for everybody, never a redirect to OneID
my $b = $t->browser;
my $res = $b->login('/ward', user => 'doctor');
is $res->{status}, 302, 'logged in before Redis goes away';
is $b->get('/ward')->{status}, 200, '... and served';

$t->mark_error_log;
redis_stop();

$res = $b->get('/ward');
is $res->{status}, 503, 'Redis down: 503 for a signed-in user';
like $res->{body}, qr/Xizmat vaqtincha ishlamayapti/, '... with the page';
$res = $t->browser->get('/ward');
is $res->{status}, 302, 'Redis down: a login still starts without a session (it needs no Redis)';
$res = $b->get('/ward', { 'X-Requested-With' => 'XMLHttpRequest' });
like $res->{body}, qr/"error":"session_store_unavailable"/, '... JSON for scripts';
$b->get('/ward') for 1 .. 5;
ok $t->wait_for_error_log(qr/session store unavailable while checking a session/, 2),
    'one line per failed request says so';
my @down = grep { /redis at 127\.0\.0\.1:$redis_port/ }
           split /^/, $t->error_log_since_mark;
is scalar @down, 1, 'the connection problem itself is logged once'
    or diag @down;

# Redis back (empty): no reload needed; the old session is gone
redis_start();
my $deadline = time + 5;
my $status;
while (time < $deadline) {
    $status = $b->get('/ward')->{status};
    last if $status != 503;
    sleep 0.1;
}
is $status, 302, 'Redis back: requests served again, old session gone, so login';
ok $t->wait_for_error_log(qr/redis at 127\.0\.0\.1:$redis_port is reachable again/, 2),
    '... and the log says Redis is back';
$res = $b->login('/ward', user => 'doctor');
is $res->{status}, 302, 'a new login works';
is $b->get('/ward')->{status}, 200, '... and is served';

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]|signal \d+/,
    'no worker crash or alert';

done_testing;
