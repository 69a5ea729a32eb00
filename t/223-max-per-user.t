# oneid_session_max_per_user: a login that would give a user more than N
# sessions ends the oldest ones (and their OneID sessions); the computer
# left behind is told, in three languages, that the account signed in
# elsewhere.  Logins racing on many connections leave exactly the N newest.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(get_request parallel header_values);
use Test::OneID::Conf qw(server_config);
use Digest::SHA qw(sha256_hex);
use JSON::PP;

my $redis = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} // 16379);

sub start {
    my ($n) = @_;
    return Test::OneID->new(
        http_config   => "oneid_redis $redis prefix=oneid223:;\n"
                     . "oneid_key_file " . Test::OneID::Conf::key_file() . ";\n"
                         . "oneid_audit_log logs/audit.log;\n",
        config        => server_config(extra => "oneid_session_max_per_user $n;"),
        root_location => 0,
        log_level     => 'info',
    );
}

my $t = start(1);
$t->clear_keys('oneid223:');
my $port = $t->port;

sub token_of {
    my ($sid) = @_;
    my $rec = $t->session_record($sid, 'oneid223:');
    return (split /\n/, $rec // '')[2];
}

sub logged_out {
    my ($token) = @_;
    return scalar grep { ($_->{params}{access_token} // '') eq $token }
                  @{ $t->mock_requests('one_log_out') };
}

# 1. N = 1: one computer at a time
my $pa = $t->browser;
is $pa->login('/ward', user => 'doctor')->{status}, 302, 'A signs in';
my $token_a = token_of($pa->cookie('oneid_session'));
is $pa->get('/ward')->{status}, 200, 'A works';

$t->mark_error_log;
my $pb = $t->browser;
is $pb->login('/ward', user => 'doctor')->{status}, 302, 'B signs in, same user';
like $t->wait_for_error_log('the oldest one was ended') // '',
     qr/\[notice\].*user "dilnoza\.karimova" has more than 1 sessions/,
     '... a notice in the error log';
is logged_out($token_a), 1, "... A's OneID session ended";
my @audit = grep { ($_->{event}{event} // '') eq 'evicted' }
            Test::OneID::audit_lines(Test::Nginx::Server::servroot()
                                     . '/logs/audit.log');
is scalar(@audit), 1, '... one "evicted" line in the audit log';
is $audit[0]{event}{session},
   substr(sha256_hex($pa->cookie('oneid_session')), 0, 12),
   "... naming A's session";
is $audit[0]{event}{reason}, 'oneid_session_max_per_user', '... and why';
is $pb->get('/ward')->{status}, 200, 'B works';

my $res = $pa->get('/ward', { 'Accept-Language' => 'en' });
is $res->{status}, 401, 'A: 401';
like $res->{body}, qr/used to sign in on another computer/, '... saying why (en)';
like $res->{body}, qr/never share/i, '... with the warning not to share';
ok !defined $pa->cookie('oneid_session'), '... the cookie dropped';
$res = $pa->get('/ward');
is $res->{status}, 302, 'A again: a login starts';

my $c = $t->browser;
$c->login('/ward', user => 'doctor');
$res = $pb->get('/ward', { 'Accept-Language' => 'ru' });
like $res->{body}, qr/выполнен вход на другом компьютере/, 'B told in Russian';
$res = $c->get('/ward', { 'Accept-Language' => 'uz' });
is $c->get('/ward')->{status}, 200, 'C, the newest, works';

my $other = $t->browser;
$other->login('/ward', user => 'citizen-basic');
is $c->get('/ward')->{status}, 200, "another user's login ends nothing";

# 2. N = 2
$t->stop;
$t = start(2);
$t->clear_keys('oneid223:');
my @two = map { $t->browser } 1 .. 3;
is $_->login('/ward', user => 'doctor')->{status}, 302,
   'N=2: signs in' for @two;
is $two[0]->get('/ward')->{status}, 401, 'the oldest of three: ended';
is $two[1]->get('/ward')->{status}, 200, 'the second: works';
is $two[2]->get('/ward')->{status}, 200, 'the newest: works';

# 3. racing logins: the callbacks of many browsers at once
for my $case ([2, 6], [1, 6]) {
    my ($n, $count) = @$case;
    my $path = '/ward';
    if ($n == 1) {
        $t->stop;
        $t = start(1);
    }
    $t->clear_keys('oneid223:');
    my @browsers = map { $t->browser } 1 .. $count;
    my @requests;
    for my $br (@browsers) {
        my $cb = $br->callback_for('doctor', $path);
        push @requests, get_request($port, $cb,
                                    'Cookie: ' . $br->cookie_header($t->base_url . '/'));
    }
    my @answers = parallel($port, @requests);
    is scalar(grep { $_->{status} == 302 } @answers), $count,
       "N=$n, $count logins at once: all answered 302";
    my @sids = map {
        my ($v) = map { /^oneid_session=([^;]+)/ ? $1 : () } header_values($_, 'Set-Cookie');
        $v // '';
    } @answers;
    my @live = grep { my $r = $t->redis('GET', 'oneid223:session:' . sha256_hex($_));
                      defined $r && $r !~ /^E\n/ } @sids;
    is scalar(@live), $n, "... exactly $n sessions survive";
    my ($idx) = $t->keys_of('oneid223:user:*');
    my $last = $t->redis('GET', 'oneid223:login-seq');
    my @seqs = sort { $a <=> $b } map {
        decode_json($t->redis('HGET', $idx, sha256_hex($_)) // '{"seq":0}')->{seq}
    } @live;
    is_deeply \@seqs, [map { $last - $n + $_ } 1 .. $n],
       '... the newest ones (the last logins Redis saw)';
    is $t->redis('HLEN', $idx), $n, '... and only they are in the index';
}

$t->clear_keys('oneid223:');

done_testing;
