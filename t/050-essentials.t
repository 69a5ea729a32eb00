# The round trip a doctor makes every day, checked end to end against the
# real Redis and the mock OneID: login, identity upstream, session in Redis
# with a sliding TTL, logout.  Detailed cases live in the 1xx files.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config);

my $t = Test::OneID->new(
    http_config   => http_config(),
    config        => server_config(),
    root_location => 0,
    log_level     => 'info',
);

my $b = $t->browser;
$b->set_cookie(clinic => 'ward-3');

# 1. no session: a browser is sent to OneID
my $res = $b->get('/patients/42?tab=history');
is $res->{status}, 302, 'no session: 302';
like $res->header('Location'),
    qr{^https://127\.0\.0\.1:\d+/sso/oauth/Authorization\.do\?response_type=one_code&client_id=dmed&redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Foneid%2Fcallback&scope=dmed&state=[A-Za-z0-9_-]{22}$},
    '... to the authorize URL with every parameter';

# 2. the whole login
$res = $b->login('/patients/42?tab=history', user => 'citizen-basic');
is $res->{status}, 302, 'callback: 302';
like $res->header('Location'), qr{^http://127\.0\.0\.1:\d+/patients/42\?tab=history$},
    '... back to the page first asked for';

my $sid = $b->cookie('oneid_session');
like $sid, qr/^[A-Za-z0-9_-]{43}$/, 'session cookie: 256 bits, base64url';
my $attrs = $b->cookie_attrs('oneid_session');
ok $attrs->{httponly}, '... HttpOnly';
is lc($attrs->{samesite} // ''), 'lax', '... SameSite=Lax';
is $attrs->{path}, '/', '... Path=/';
ok !defined $attrs->{expires}, '... dies with the browser';

# 3. the session in Redis: hashed key, sliding TTL, the identity
my $key = session_key($sid);
my $ttl = $t->redis('TTL', $key);
ok $ttl > 28790 && $ttl <= 28800, "TTL is the 8 hour idle timeout ($ttl)";
my $raw = $t->redis('GET', $key);
is substr($raw, 0, 1), '3', 'the record in Redis is sealed (format 3)';
unlike $raw, qr/31505900000011/, '... and does not hold the pin';
my @lines = split /\n/, $t->session_record($sid) // '', -1;
is scalar @lines, 13, 'session record has 13 lines';
is $lines[3], '31505900000011', '... the pin';
like $lines[2], qr/^[0-9a-f-]{36}$/, '... the OneID access token';
ok abs($lines[1] - time) < 60, '... the login time';
my $keys = $t->redis('KEYS', "oneid:*$sid*");
is scalar @$keys, 0, 'no Redis key contains the cookie itself';

# 4. identity upstream, cookie hidden, spoofing removed
$res = $b->get('/patients/42?tab=history', { 'X-OneID-Pin' => '99999999999999' });
is $res->{status}, 200, 'authenticated request reaches the backend';
my $got = $res->{body};
my @pins = $got =~ /^X-OneID-Pin: (.*)$/mg;
is_deeply \@pins, ['31505900000011'], 'the real pin, once; the spoofed one gone';
like $got, qr/^X-OneID-Mid-Name: G%E2%80%98OFUR O%E2%80%98G%E2%80%98LI$/m,
    'U+2018 percent-encoded';
like $got, qr/^Cookie: clinic=ward-3$/m, 'session cookies removed, others kept';

# 5. sliding: a request restores the full idle timeout
$t->redis('EXPIRE', $key, 100);
$b->get('/anything');
$ttl = $t->redis('TTL', $key);
ok $ttl > 28790, "request restored the TTL ($ttl)";

# 6. the mobile API is not touched
$res = $b->get('/api/mobile/ping');
is $res->{status}, 200, 'oneid off location passes';
unlike $res->{body}, qr/X-OneID/i, '... with no identity headers';

# 7. logout ends everything
$res = $b->get('/oneid/logout');
is $res->{status}, 302, 'logout: 302';
like $res->header('Location'), qr{^http://127\.0\.0\.1:\d+/$}, '... to /';
is $t->redis('EXISTS', $key), 0, '... session deleted in Redis';
ok !defined $b->cookie('oneid_session'), '... cookie expired';
my ($lo) = grep { $_->{params}{access_token} eq $lines[2] }
           @{ $t->mock_requests('one_log_out') };
ok $lo, '... and OneID one_log_out called with the stored token';

# the old cookie is worthless now
$b->set_cookie(oneid_session => $sid);
$res = $b->get('/patients/42');
is $res->{status}, 302, 'replayed cookie after logout: back to OneID';

my $log = $t->error_log_since_mark;
unlike $log, qr/\[(alert|crit|emerg)\]/, 'no alert in error.log';

done_testing;
