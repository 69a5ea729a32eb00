# The upgrade to __Host- cookie names, as a browser lives it: signed in
# under "oneid_session" before the upgrade, it keeps its session after it,
# the cookie moves to "__Host-oneid_session" on the first request, and a
# logout ends the session under either name.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);

my %common = (http_config => http_config(), root_location => 0,
              log_level => 'info');

# before: "Secure" cookies under the name every release so far used
my $t = Test::OneID->new(%common,
    config => server_config(cookie_secure => 'on',
                            extra => 'oneid_cookie_name oneid_session;'));

my $b = $t->browser;
my $res = $b->login('/ward/3', user => 'doctor');
is $res->{status}, 302, 'before the upgrade: login completes';
my $sid = $b->cookie('oneid_session');
ok defined $sid, '... with an "oneid_session" cookie';
ok !defined $b->cookie('__Host-oneid_session'), '... and no __Host- one';
my $key = Test::OneID::session_key($sid // '');

# the session record as releases before 0.3.0 wrote it (format "1")
my $record = $t->session_record($sid // '') // '';
is substr($t->redis('GET', $key) // '', 0, 1), '3', 'this release writes session format 3 (sealed)';
is substr($record, 0, 2), "2\n", '... around a record of format 2';
$t->redis('SET', $key, "1" . substr($record, 1), 'KEEPTTL');

# after: the defaults
$t->stop;
$t = Test::OneID->new(%common, config => server_config(cookie_secure => 'on'));

$res = $b->get('/ward/3');
is $res->{status}, 200, 'after the upgrade: the old cookie still signs in';
like $res->{body}, qr/X-OneID-User-Id: dilnoza\.karimova/, '... as the same user';
unlike $res->{body}, qr/\Q$sid\E/, '... and the session id is not sent upstream'
    if defined $sid;
is $b->cookie('__Host-oneid_session'), $sid, 'the session moved to __Host-oneid_session';
ok !defined $b->cookie('oneid_session'), '... and "oneid_session" was expired';
my $attrs = $b->cookie_attrs('__Host-oneid_session') || {};
ok $attrs->{secure} && $attrs->{path} eq '/' && !defined $attrs->{domain}
    && !defined $attrs->{max_age}, '... Secure, Path=/, no Domain, no Max-Age';

$res = $b->get('/ward/4');
is $res->{status}, 200, 'the next request works with the new cookie alone';
ok !@{ $res->{headers}{'set-cookie'} || [] }, '... and sets no cookie';

# a session made since the upgrade, planted under the old name, is refused
my $attacker = $t->browser;
is $attacker->login('/ward/9', user => 'doctor')->{status}, 302, 'another session made after the upgrade';
my $planted = $attacker->cookie('__Host-oneid_session');
my $victim = $t->browser;
$victim->set_cookie(oneid_session => $planted);
$t->mark_error_log;
$res = $victim->get('/ward/3');
is $res->{status}, 302, 'planted under the old name: not used, login';
ok $t->wait_for_error_log(qr/arrived under the old name, ignored/, 2), '... with a warning';

$res = $b->get('/oneid/logout');
is $res->{status}, 302, 'logout';
ok !defined $b->cookie('__Host-oneid_session'), '... the browser holds no session';
is $t->redis('EXISTS', $key), 0, '... and the session is gone from Redis';

$res = $b->get('/ward/5');
is $res->{status}, 302, 'after logout: login again';
like join(' ', @{ $res->{headers}{'set-cookie'} || [] }), qr/^__Host-oneid_session_state_[A-Za-z0-9_-]{8}=/,
    '... with a __Host- login cookie';

done_testing;
