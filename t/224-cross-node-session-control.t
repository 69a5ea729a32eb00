# Sessions ended in Redis by a script (an administrator's revoke, the
# per-user limit, "log out everywhere") leave every node's
# oneid_session_cache within about a second: the script itself publishes
# their hashes on "<prefix>revoked".  Two nodes on the suite's Redis,
# both with a cache whose ttl (60s) would otherwise keep the sessions, and
# one oneid_key_file, so that both find a user's sessions in one index.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(server_config);
use File::Temp;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);

# one server key for both nodes, or each would index users under its own
my $key = File::Temp->new;
print $key 'k' x 48;
close $key;
chmod 0600, $key->filename;

my $redis = '127.0.0.1:' . Test::OneID::Conf::env('REDIS_PORT', 16379);
my $http = "oneid_redis $redis prefix=oneid224:;\n"
         . "oneid_key_file " . $key->filename . ";\n"
         . "oneid_session_cache zone=sessions224:1m ttl=60s;\n"
         . "oneid_session_max_per_user 2;\n";
my $locations = <<'END';
    location = /oneid/logout-all { oneid_logout all; }
    location = /oneid/admin { allow 127.0.0.1; deny all; oneid_admin; }
END

my $t = Test::OneID->new(
    http_config   => $http,
    config        => server_config(locations => $locations),
    root_location => 0,
    log_level     => 'info',
);
$t->clear_keys('oneid224:');

my $port_b = Test::OneID::Conf::env('PORT', 1984) + 110;
my $node = Test::OneID::Node->new(
    port => $port_b, workers => 2, http_config => $http,
    config => server_config(locations => $locations));

ok Test::OneID::wait_until(5, sub { $t->subscribers('oneid224:revoked') == 3 }),
   'both nodes subscribe to oneid224:revoked';
sleep 0.1;

# a session made on A, its cookie used on B too: cached on both
sub on_both {
    my $a = $t->browser;
    $a->login('/ward', user => 'doctor');
    my $b = $node->browser;
    $b->set_cookie(oneid_session => $a->cookie('oneid_session'));
    my $ok = 1;
    $ok &&= $a->get('/ward')->{status} == 200 && $b->get('/ward')->{status} == 200
        for 1 .. 2;
    return ($a, $b, $ok);
}

sub refused_within {
    my ($browser, $since) = @_;
    my $status;
    while (1) {
        $status = $browser->get('/ward', { 'Accept' => 'application/json' })->{status};
        last if $status != 200 || time - $since > 3;
        sleep 0.02;
    }
    return ($status, time - $since);
}

# 1. an administrator's revoke on A
my ($a, $b, $ok) = on_both();
ok $ok, 'a session served from both caches';
my $before = $t->command_calls('getex');
$b->get('/ward') for 1 .. 3;
is $t->command_calls('getex') - $before, 0, '... B answers from its cache';
my $res = HTTP::Tiny->new->request('POST', $t->base_url . '/oneid/admin',
    { content => '{"action":"revoke","pinfl":"41203870000017"}',
      headers => { 'Content-Type' => 'application/json' } });
my ($status, $window) = refused_within($b, time);
is $res->{status}, 200, 'revoked on A';
is $status, 401, '... B refuses the cookie (401: revoked)';
ok $window < 1, sprintf('... within a second (%.1f ms)', $window * 1000);
diag sprintf('revoke on A -> refused on B: %.1f ms', $window * 1000);

# 2. the per-user limit: a third login on B ends the oldest, cached on A
$t->clear_keys('oneid224:');
my ($a1, $b1) = on_both();
my ($a2, $b2) = on_both();
my $third = $node->browser;
my $t0 = time;
is $third->login('/ward', user => 'doctor')->{status}, 302, 'a third login, on B';
($status, $window) = refused_within($a1, $t0);
is $status, 401, 'A refuses the oldest session';
ok $window < 1.5, sprintf('... within about a second of the login (%.1f ms)',
                          $window * 1000);
diag sprintf('login over the limit on B -> oldest refused on A: %.1f ms',
             $window * 1000);
is $a2->get('/ward')->{status}, 200, 'the second one lives on';

# 3. log out everywhere on B, the sessions cached on A
($a, $b) = on_both();
$b->get('/ward');
($status, $window) = (undef, undef);
my $logout = $b->get('/oneid/logout-all');
($status, $window) = refused_within($a2, time);
is $logout->{status}, 302, 'log out everywhere, on B';
is $status, 401, 'A refuses the other sessions';
ok $window < 1, sprintf('... within a second (%.1f ms)', $window * 1000);
diag sprintf('log out everywhere on B -> refused on A: %.1f ms', $window * 1000);

$node->stop;
$t->clear_keys('oneid224:');

done_testing;
