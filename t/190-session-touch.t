# oneid_session_touch: requests that do not count as activity (a page's
# background polling) are served with the identity but leave the idle
# timeout alone, so a session that only polls still ends at the idle
# timeout.  One Redis command per request either way: GET instead of
# GETEX; with oneid_session_cache neither the entry's refresh time nor an
# EXPIRE.  Checked in Redis itself (TTLs, command counts), with a 3 s
# idle timeout.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(session_key seed_session);
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(time sleep);

my $backend = $ENV{TEST_NGINX_BACKEND_PORT} || 18081;

my $map = <<'END';
map $uri $oneid_touch {
    /mapped/poll  0;
    default       1;
}
END

my $locations = <<"END";
    location /api/poll {
        oneid on;
        oneid_session_touch off;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /mapped/ {
        oneid on;
        oneid_session_touch \$oneid_touch;
        proxy_pass http://127.0.0.1:$backend;
    }

    # an open page whose protected part is a subrequest: it follows the
    # page, which does not count as activity
    location = /poll.shtml {
        oneid off;
        oneid_session_touch off;
        ssi on;
        default_type text/html;
        return 200 'before <!--# include virtual="/inc/part" --> after';
    }
END

sub start {
    my ($http) = @_;
    return Test::OneID->new(
        http_config   => http_config() . $map . ($http // ''),
        config        => server_config(extra => 'oneid_session_timeout 3s;',
                                       locations => $locations),
        root_location => 0,
        log_level     => 'info',
    );
}

my $n = 0;
sub new_session {
    my $sid = sprintf 'touch%02dS', ++$n;
    $sid .= 't' x (43 - length $sid);
    seed_session($sid, ttl => 3, pin => '41203870000017');
    return $sid;
}

sub get {
    my ($t, $sid, $path) = @_;
    return Test::OneID::raw_get($t->port, $path,
                                "Cookie: oneid_session=$sid",
                                'Accept: text/html');
}

# Requests every 0.7 s until one is not 200; each entry [seconds since
# start, status, path].  $plan: sub (i) -> path of the i-th request.
sub poll_until_gone {
    my ($t, $sid, $plan, $max) = @_;
    my $start = time;
    my @seen;
    for my $i (0 .. ($max // 15)) {
        my $at = $start + 0.7 * $i;
        sleep $at - time if $at > time;
        my $path = $plan->($i);
        my $res = get($t, $sid, $path);
        push @seen, [time - $start, $res->{status}, $path, $res->{body}, $res];
        last if $res->{status} != 200;
    }
    return @seen;
}

my $t = start();

# --- only requests that do not count: the session still ends -------------

my $sid = new_session();
my ($get0, $getex0) = ($t->command_calls('get'), $t->command_calls('getex'));
my @seen = poll_until_gone($t, $sid, sub { '/api/poll' });
my @ok = grep { $_->[1] == 200 } @seen;
my $end = $seen[-1];

ok @ok >= 4, sprintf 'no-touch requests answered 200 until the idle timeout'
    . ' (%d of them, the last at %.1fs)', scalar @ok, $ok[-1][0];
ok !(grep { $_->[3] !~ /^X-OneID-Pin: 41203870000017$/m } @ok),
    '... each with the identity';
is $end->[1], 302, '... then sent to sign in although the requests kept coming';
ok $end->[0] >= 2.6 && $end->[0] <= 3.9,
    sprintf '... at the idle timeout of 3s (%.1fs)', $end->[0];
like((Test::OneID::header_values($end->[4], 'Location'))[0] // '',
    qr{/sso/oauth/Authorization\.do\?}, '... to OneID');
is $t->command_calls('get') - $get0, scalar @seen, 'one GET per no-touch request';
is $t->command_calls('getex') - $getex0, 0, '... and no GETEX';

# --- a request that counts in between restarts the timeout ----------------

$sid = new_session();
@seen = poll_until_gone($t, $sid, sub { $_[0] == 3 ? '/ward' : '/api/poll' });
$end = $seen[-1];
is $seen[3][2] . ' ' . $seen[3][1], '/ward 200',
    sprintf 'a normal request at %.1fs', $seen[3][0];
ok((grep { $_->[1] == 200 && $_->[0] > 3.4 } @seen),
   '... no-touch requests still answered after the first 3s');
is $end->[1], 302, '... until 3s after the normal request';
ok $end->[0] >= $seen[3][0] + 2.6 && $end->[0] <= $seen[3][0] + 3.9,
    sprintf '... then sent to sign in (%.1fs)', $end->[0];

# --- command counts, TTLs -------------------------------------------------

$sid = new_session();
my $key = session_key($sid);
sleep 1;
($get0, $getex0) = ($t->command_calls('get'), $t->command_calls('getex'));
is get($t, $sid, '/api/poll')->{status}, 200, 'no-touch request';
my $pttl = $t->redis('PTTL', $key);
ok $pttl < 2200, "... leaves the TTL falling ($pttl ms)";
is $t->command_calls('get') - $get0, 1, '... one GET';
is $t->command_calls('getex') - $getex0, 0, '... no GETEX';

($get0, $getex0) = ($t->command_calls('get'), $t->command_calls('getex'));
is get($t, $sid, '/ward')->{status}, 200, 'normal request';
$pttl = $t->redis('PTTL', $key);
ok $pttl > 2800, "... restores the TTL ($pttl ms)";
is $t->command_calls('getex') - $getex0, 1, '... one GETEX';
is $t->command_calls('get') - $get0, 0, '... no GET';

# the map form: decided per request by a variable

sleep 1;
($get0, $getex0) = ($t->command_calls('get'), $t->command_calls('getex'));
my $res = get($t, $sid, '/mapped/poll');
is $res->{status}, 200, 'map: the poll URI is served';
like $res->{body}, qr/^X-OneID-Pin: 41203870000017$/m, '... with the identity';
$pttl = $t->redis('PTTL', $key);
ok $pttl < 2200, "... without extending the session ($pttl ms)";
is $t->command_calls('get') - $get0, 1, '... one GET';
is get($t, $sid, '/mapped/page')->{status}, 200, 'map: another URI';
$pttl = $t->redis('PTTL', $key);
ok $pttl > 2800, "... extends it ($pttl ms)";
is $t->command_calls('getex') - $getex0, 1, '... one GETEX';

# a subrequest follows its page

sleep 1;
($get0, $getex0) = ($t->command_calls('get'), $t->command_calls('getex'));
$res = get($t, $sid, '/poll.shtml');
like $res->{body}, qr/^before .*X-OneID-Pin: 41203870000017.* after$/ms,
    'ssi on a no-touch page: the protected part is included';
$pttl = $t->redis('PTTL', $key);
ok $pttl < 2200, "... without extending the session ($pttl ms)";
is(($t->command_calls('get') - $get0) . ' ' . ($t->command_calls('getex') - $getex0),
   '1 0', '... one GET, no GETEX');

$t->stop;

# --- with oneid_session_cache ---------------------------------------------

$t = start("oneid_session_cache zone=touch:1m ttl=1s refresh=1s;\n");

$sid = new_session();
my ($expire0, $getex1) = ($t->command_calls('expire'), $t->command_calls('getex'));
@seen = poll_until_gone($t, $sid, sub { '/api/poll' });
@ok = grep { $_->[1] == 200 } @seen;
$end = $seen[-1];
ok @ok >= 4, sprintf 'cache: no-touch requests answered 200 (%d)', scalar @ok;
is $end->[1], 302, '... then sent to sign in';
ok $end->[0] >= 2.6 && $end->[0] <= 4.7,
    sprintf '... within the idle timeout and the cache ttl (%.1fs)', $end->[0];
is $t->command_calls('expire') - $expire0, 0, '... no EXPIRE sent';
is $t->command_calls('getex') - $getex1, 0, '... nor GETEX';

# a normal request answered by the cache right after a no-touch request
# filled it still extends the session at once
$sid = new_session();
$key = session_key($sid);
sleep 1;
is get($t, $sid, '/api/poll')->{status}, 200, 'cache: no-touch request fills the cache';
($expire0, $getex1) = ($t->command_calls('expire'), $t->command_calls('getex'));
is get($t, $sid, '/ward')->{status}, 200, '... a normal request from the cache';
for (1 .. 50) { $pttl = $t->redis('PTTL', $key); last if $pttl > 2800; sleep 0.02 }
ok $pttl > 2800, "... extends the session ($pttl ms)";
is(($t->command_calls('expire') - $expire0) . ' ' . ($t->command_calls('getex') - $getex1),
   '1 0', '... with one EXPIRE');

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts';
$t->stop;

# --- configuration ---------------------------------------------------------

sub nginx_t_says { (Test::OneID::nginx_t($_[0], server => 0))[1] }

like nginx_t_says('oneid_session_touch maybe;'),
    qr/invalid value "maybe" in "oneid_session_touch": it must be "on", "off" or contain variables/,
    'nginx -t rejects oneid_session_touch maybe';
like nginx_t_says('oneid_session_touch off; oneid_session_touch on;'),
    qr/"oneid_session_touch" directive is duplicate/, '... and a duplicate';
like nginx_t_says('oneid_session_touch $no_such_variable;'),
    qr/unknown "no_such_variable" variable/, '... and an unknown variable';
like nginx_t_says('oneid_session_touch $http_x_poll;'),
    qr/test is successful/, '... but takes a variable';

done_testing;
