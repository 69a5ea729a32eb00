# oneid_session_info over several requests, checked in Redis: a GET reads
# the session and its TTL with one command (EVAL) and leaves the idle
# timeout alone, from Redis even with oneid_session_cache; a POST from
# this site ("continue working") restarts it with one GETEX; a POST from
# elsewhere touches nothing.  After a real login: the mock's user, no
# token, no full PINFL.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use JSON::PP ();
use Test::OneID qw(session_key seed_session);
use Test::OneID::Conf qw(http_config server_config);
use Time::HiRes qw(sleep);

my $t = Test::OneID->new(
    http_config   => http_config()
                     . "oneid_session_cache zone=info:1m ttl=5s refresh=1s;\n",
    config        => server_config(
                         extra => "oneid_session_timeout 60s;\n"
                                  . "oneid_session_lifetime 2h;",
                         locations => 'location = /oneid/session'
                                      . ' { oneid_session_info warn=20s; }'),
    root_location => 0,
    log_level     => 'info',
);

my %calls;
sub mark { %calls = map { $_ => $t->command_calls($_) } qw(eval getex get expire) }
sub used {
    return join ' ', map { "$_=" . ($t->command_calls($_) - $calls{$_}) }
                     qw(eval getex get expire);
}

sub info {
    my ($b, $method, %h) = @_;
    my $res = $b->request($method, '/oneid/session', $method eq 'POST' ? '' : undef,
                          { Accept => 'application/json', %h });
    my $json = eval { JSON::PP::decode_json($res->{body}) };
    return ($res, $json);
}

my $b = $t->browser;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'logged in';
my $sid = $b->cookie('oneid_session');
my $key = session_key($sid);
is $b->get('/ward')->{status}, 200, 'a page, now in the cache';

# --- GET: read, never extended -------------------------------------------

$t->redis('EXPIRE', $key, 40);
sleep 1.1;
mark();
my ($res, $s) = info($b, 'GET');
is $res->{status}, 200, 'GET: 200';
# Redis counts the GET inside the script too; the module sent one EVAL
is used(), 'eval=1 getex=0 get=1 expire=0', '... one EVAL, from Redis despite the cache';
ok $s && $s->{authenticated} == JSON::PP::true, '... authenticated';
is $s->{name}, "KARIMOVA DILNOZA G\x{2018}AYRAT QIZI", '... the display name';
is $s->{auth_method}, 'MOBILEMETHOD', '... the auth method';
is $s->{pinfl}, '4120*******017', '... the PINFL masked';
like $s->{login_time}, qr/^\d{10}$/, '... login time in unix seconds';
ok abs($s->{login_time} - time) < 10, '... a recent one';
ok $s->{idle_expires_in} >= 37 && $s->{idle_expires_in} <= 39,
    "... idle_expires_in from the key's TTL ($s->{idle_expires_in})";
is $s->{idle_timeout}, 60, '... the idle timeout';
ok $s->{lifetime_expires_in} > 7150 && $s->{lifetime_expires_in} <= 7200,
    "... lifetime_expires_in ($s->{lifetime_expires_in})";
is $s->{warn_before}, 20, '... warn_before';
my $ttl = $t->redis('TTL', $key);
ok $ttl <= 39, "... the key's TTL untouched ($ttl)";

my $record = $t->session_record($sid);
my $token = (split /\n/, $record // '')[2];
ok length $token > 8, 'the session record holds a OneID token';
unlike $res->{body}, qr/\Q$token\E/, '... which the JSON never shows';
unlike $res->{body}, qr/41203870000017/, '... nor the full PINFL';
is $res->header('Cache-Control'), 'no-store', '... Cache-Control: no-store';

for (1 .. 3) { info($b, 'GET') }
$ttl = $t->redis('TTL', $key);
ok $ttl <= 39, "polling it does not extend the session ($ttl)";

# --- POST from another site: refused, nothing touched ---------------------

mark();
($res, $s) = info($b, 'POST', 'Sec-Fetch-Site' => 'cross-site',
                  Origin => 'https://evil.example');
is $res->{status}, 403, 'cross-site POST: 403';
is $s && $s->{error}, 'not_same_origin', '... JSON says why';
is used(), 'eval=0 getex=0 get=0 expire=0', '... no Redis command';
$ttl = $t->redis('TTL', $key);
ok $ttl <= 39, "... the session not extended ($ttl)";

# --- POST from this site: "continue working" ------------------------------

mark();
($res, $s) = info($b, 'POST', 'Sec-Fetch-Site' => 'same-origin');
is $res->{status}, 200, 'same-origin POST: 200';
is used(), 'eval=0 getex=1 get=0 expire=0', '... one GETEX';
$ttl = $t->redis('TTL', $key);
ok $ttl >= 59, "... the idle timeout restarted ($ttl)";
is $s && $s->{idle_expires_in}, 60, '... and the JSON says so';
is $s && $s->{name}, "KARIMOVA DILNOZA G\x{2018}AYRAT QIZI", '... the same JSON';
unlike $res->{body}, qr/\Q$token\E|41203870000017/, '... without token or PINFL';

# Origin of this host instead of Sec-Fetch-Site (older browsers)
$t->redis('EXPIRE', $key, 30);
my $port = $t->port;
$res = Test::OneID::raw_request($port, "POST /oneid/session HTTP/1.1\r\n"
    . "Host: 127.0.0.1:$port\r\nOrigin: http://127.0.0.1:$port\r\n"
    . "Cookie: oneid_session=$sid\r\nContent-Length: 0\r\n"
    . "Connection: close\r\n\r\n");
is $res->{status}, 200, 'POST with this site\'s Origin: 200';
ok $t->redis('TTL', $key) >= 59, '... extended';

# --- the session is gone ---------------------------------------------------

$t->redis('DEL', $key);
($res, $s) = info($b, 'GET');
is $res->{status}, 401, 'session deleted in Redis: GET 401 at once, not the cached copy';
ok $s && $s->{authenticated} == JSON::PP::false, '... authenticated: false';
($res, $s) = info($b, 'POST', 'Sec-Fetch-Site' => 'same-origin');
is $res->{status}, 401, '... POST 401';
is $t->redis('EXISTS', $key), 0, '... and nothing brought it back';

# over oneid_session_lifetime: 401, and the session ended
my $old = 'infoOldS' . ('o' x 35);
seed_session($old, ttl => 600, login_time => time - 7300);
$b->set_cookie(oneid_session => $old);
($res, $s) = info($b, 'GET');
is $res->{status}, 401, 'past the lifetime: 401';
my $gone = 0;
for (1 .. 50) { last if $gone = !$t->redis('EXISTS', session_key($old)); sleep 0.02 }
ok $gone, '... and the session deleted';

# Redis down: 503 JSON, one error line
my $t2;
{
    $t->stop;
    $t2 = Test::OneID->new(
        http_config   => http_config(redis => '127.0.0.1:9'),
        config        => server_config(locations => 'location = /oneid/session'
                                                    . ' { oneid_session_info; }'),
        root_location => 0,
        log_level     => 'info',
    );
    my $c = $t2->browser;
    $c->set_cookie(oneid_session => 'infoDownS' . ('d' x 34));
    my ($r, $j) = info($c, 'GET');
    is $r->{status}, 503, 'Redis down: 503';
    is $j && $j->{error}, 'session_store_unavailable', '... JSON says why';
    my @lines = grep { /session store unavailable while reading a session for oneid_session_info/ }
                split /^/, $t2->error_log_since_mark;
    is scalar @lines, 1, '... one error line';
}

unlike $t2->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts';

done_testing;
