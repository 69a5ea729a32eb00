# "oneid_logout all": a user who notices the account used elsewhere ends
# every session of theirs, on every computer, and their OneID sessions;
# the other computers are told why at their next request.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(server_config);
use Digest::SHA qw(sha256_hex);

my $redis = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} // 16379);
my $t = Test::OneID->new(
    http_config   => "oneid_redis $redis prefix=oneid221:;\n"
                     . "oneid_key_file " . Test::OneID::Conf::key_file() . ";\n"
                     . "oneid_audit_log logs/audit.log;\n",
    config        => server_config(locations => <<'END'),
    location = /oneid/logout-all { oneid_logout all; }
END
    root_location => 0,
    log_level     => 'info',
);
$t->clear_keys('oneid221:');

sub token_of {
    my ($b) = @_;
    my $rec = $t->session_record($b->cookie('oneid_session'), 'oneid221:');
    return (split /\n/, $rec // '')[2];
}

sub logged_out {
    my ($token) = @_;
    return scalar grep { ($_->{params}{access_token} // '') eq $token }
                  @{ $t->mock_requests('one_log_out') };
}

# three computers of the doctor, one of another user
my @doctor = map { $t->browser } 1 .. 3;
is $_->login('/ward', user => 'doctor')->{status}, 302, 'doctor signed in'
    for @doctor;
my @tokens = map { token_of($_) } @doctor;
my $other = $t->browser;
$other->login('/ward', user => 'citizen-basic');

# 1. a cross-site link only asks for confirmation
my $res = $doctor[0]->get('/oneid/logout-all',
                          { 'Sec-Fetch-Site' => 'cross-site' });
is $res->{status}, 200, 'a cross-site "log out everywhere": a confirmation page';
is $doctor[1]->get('/ward')->{status}, 200, '... nothing was ended';

# 2. from the site itself: every session of the user ends
$t->mark_error_log;
$res = $doctor[0]->get('/oneid/logout-all');
is $res->{status}, 302, 'log out everywhere: 302';
like $res->{location}, qr{^http://127\.0\.0\.1:\d+/\z}, '... to oneid_logout_redirect';
ok !defined $doctor[0]->cookie('oneid_session'), '... this cookie expired';
like $t->wait_for_error_log('signed out everywhere') // '',
     qr/user "dilnoza\.karimova" signed out everywhere, 3 sessions ended/,
     '... logged with the number of sessions';
is logged_out($_), 1, '... OneID one_log_out once with each token'
    for @tokens;
my @audit = grep { ($_->{event}{event} // '') eq 'logout_all' }
            Test::OneID::audit_lines(Test::Nginx::Server::servroot()
                                     . '/logs/audit.log');
is scalar(@audit), 1, '... one "logout_all" line in the audit log';
is $audit[0]{event}{sessions}, 3, '... with the number of sessions ended';
is $audit[0]{event}{pinfl}, '41203870000017', '... and the PINFL';

# 3. the other computers hear why
$res = $doctor[1]->get('/ward', { Accept => 'application/json' });
is $res->{status}, 401, 'a script of another computer: 401';
like $res->{body}, qr/"session_ended_everywhere"/, '... JSON saying why';
ok defined $doctor[1]->cookie('oneid_session'),
   '... the cookie stays for the page the user sees next';
$res = $doctor[1]->get('/ward', { 'Accept-Language' => 'en' });
is $res->{status}, 401, 'the next page there: 401';
like $res->{body}, qr/You signed out on every computer/, '... saying why';
ok !defined $doctor[1]->cookie('oneid_session'), '... and drops the cookie';
$res = $doctor[1]->get('/ward');
is $res->{status}, 302, 'the page after that starts a login';
like $res->{location}, qr{/sso/oauth/Authorization\.do\?}, '... at OneID';

$res = $doctor[2]->get('/ward', { 'Accept-Language' => 'ru' });
like $res->{body}, qr/Вы вышли из системы на всех компьютерах/,
     'the third computer is told in Russian';

is $other->get('/ward')->{status}, 200, "another user's session lives on";

# 4. the index is gone, the markers die with the sessions' idle timeout
is scalar($t->keys_of('oneid221:user:*')), 1,
   "only the other user's index is left";
is scalar($t->keys_of('oneid221:token:*')), 1, "only the other user's token";

# 5. without a live session: a plain sign-out
my $b = $t->browser;
$b->login('/ward', user => 'doctor');
$t->redis('DEL', 'oneid221:session:' . sha256_hex($b->cookie('oneid_session')));
$res = $b->get('/oneid/logout-all');
is $res->{status}, 302, 'an expired session: signed out as by oneid_logout';
ok !defined $b->cookie('oneid_session'), '... cookie expired';

# 6. Redis unavailable: nothing ended, the cookie kept, the page says so
$b = $t->browser;
$b->login('/ward', user => 'doctor');
my $sid = $b->cookie('oneid_session');
{
    # the user's index made unusable (not a hash): the script fails
    my ($idx) = grep { $t->redis('HEXISTS', $_, sha256_hex($sid)) }
                     $t->keys_of('oneid221:user:*');
    $t->redis('RENAME', $idx, "$idx.saved");
    $t->redis('SET', $idx, 'not a hash');
    $res = $b->get('/oneid/logout-all', { 'Accept-Language' => 'en' });
    is $res->{status}, 503, 'the store fails: 503';
    like $res->{body}, qr/still active/, '... the session is still active';
    is $b->cookie('oneid_session'), $sid, '... and the cookie is kept';
    is $b->get('/ward')->{status}, 200, '... and works';
    $t->redis('DEL', $idx);
    $t->redis('RENAME', "$idx.saved", $idx);
}
$t->clear_keys('oneid221:');

done_testing;
