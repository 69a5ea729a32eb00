# The server key (oneid_key_file) and the index of each user's sessions in
# Redis: keyed by an HMAC of the PINFL under a key derived from the server
# key (HKDF-SHA256, one label per purpose), never by the PINFL itself;
# entries added at login, removed at logout, pruned when their session is
# gone; an old key still accepted after a rotation; without a key file, a
# random key that survives a reload.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP;

my $dir = tempdir(CLEANUP => 1);
my $doctor_pin = '41203870000017';

sub key_file {
    my ($name, $text, $mode) = @_;
    my $path = "$dir/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod $mode // 0600, $path;
    return $path;
}

# what the module computes, from the documented derivation
sub index_key {
    my ($secret, $pin) = @_;
    my $prk = hmac_sha256($secret, 'ngx_http_oneid_module');
    my $okm = hmac_sha256('ngx_http_oneid_module user index v1' . "\x01", $prk);
    return 'oneid220:user:' . hmac_sha256_hex($pin, $okm);
}

sub start {
    my (%opt) = @_;
    return Test::OneID->new(
        http_config   => "oneid_redis 127.0.0.1:"
                         . ($ENV{TEST_NGINX_REDIS_PORT} // 16379)
                         . " prefix=oneid220:;\n" . ($opt{http} // ''),
        config        => server_config(
            extra     => $opt{extra} // '',
            locations => ($opt{http} // '') =~ /oneid_key_file/
                         ? 'location = /oneid/logout-all { oneid_logout all; }'
                         : ''),
        root_location => 0,
        log_level     => 'info',
        ($opt{master} ? (master_process => 1, workers => 1) : ()),
    );
}

sub refused {
    my ($http, $pattern, $name) = @_;
    my $t = eval { start(http => $http) };
    ok !$t, "$name: nginx refuses to start";
    like $@, $pattern, "... saying why";
}

my $key_a = "A" x 40 . "\n";
my $key_b = "b" x 48;
my $file_a = key_file('a.key', $key_a);
my $file_b = key_file('b.key', $key_b);

# 1. configuration mistakes
refused('oneid_key_file ' . key_file('open.key', $key_a, 0644) . ';',
        qr/readable or writable by any user/, 'a world-readable key file');
refused('oneid_key_file ' . key_file('short.key', "short\n") . ';',
        qr/too short: at least 32 characters/, 'a short key');
refused("oneid_key_file $dir/none.key;", qr/none\.key/, 'a missing key file');
{
    my $t = eval {
        Test::OneID->new(http_config => http_config(),
                         config => server_config(
                             locations => 'location = /x { oneid_logout everything; }'),
                         root_location => 0);
    };
    ok !$t, 'oneid_logout with an unknown parameter: refused';
    like $@, qr/only "all" may follow "oneid_logout"/, '... saying why';
}
for my $case (['location = /x { oneid_logout all; }', '"oneid_logout all"'],
              ['location = /x { oneid_admin; }', '"oneid_admin"'],
              ['oneid_session_max_per_user 1;', '"oneid_session_max_per_user"']) {
    my ($conf, $what) = @$case;
    my $t = eval {
        Test::OneID->new(http_config => http_config(),
                         config => server_config($conf =~ /^location/
                                                 ? (locations => $conf)
                                                 : (extra => $conf)),
                         root_location => 0);
    };
    ok !$t, "$what without oneid_key_file: refused";
    like $@, qr/"oneid_key_file" is required by \Q$what\E/, '... saying why';
}

# 2. the index of a user, under the key file's key
my $t = start(http => "oneid_key_file $file_a;");
$t->clear_keys('oneid220:');

my $b1 = $t->browser;
is $b1->login('/ward', user => 'doctor')->{status}, 302, 'signed in';
my $sid1 = $b1->cookie('oneid_session');
my $idx = index_key("A" x 40, $doctor_pin);
my $h1 = sha256_hex($sid1);

is $t->redis('HLEN', $idx), 1,
   'the index is under HMAC-SHA256(HKDF(key file, "...user index v1"), PINFL)';
my @user_keys = $t->keys_of('oneid220:user:*');
is scalar(@user_keys), 1, '... and there is no other index';
unlike join(' ', $t->keys_of('oneid220:*')), qr/$doctor_pin/,
   '... no key names the PINFL';
my $entry = decode_json($t->redis('HGET', $idx, $h1) // '{}');
is_deeply [sort keys %$entry], [qw(details lifetime login seq timeout)],
          'the entry: login, timeouts, seq and the sealed details';
unlike $entry->{details}, qr/127\.0\.0\.1|MOBILEMETHOD/,
   '... which hold nothing in clear';
my $details = Test::OneID::open_details("A" x 40, $entry->{details}) // {};
is_deeply [sort keys %$details], [qw(auth_method client user_agent)],
          '... and open with the key file: client, user agent, auth method';
is $details->{client}, '127.0.0.1', '... client address at login';
is $details->{auth_method}, 'MOBILEMETHOD', '... auth method';
ok abs($entry->{login} - time) < 10, '... login time';
unlike $t->redis('HGET', $idx, $h1), qr/$sid1|$doctor_pin/,
   '... neither the session id nor the PINFL in it';
my $ttl = $t->redis('TTL', $idx);
ok $ttl > 86300 && $ttl <= 86400,
   "the index expires with its longest-lived session ($ttl s)";

# 3. a second browser, then a logout removes only its entry
my $b2 = $t->browser;
$b2->login('/ward', user => 'doctor');
my $h2 = sha256_hex($b2->cookie('oneid_session'));
is $t->redis('HLEN', $idx), 2, 'a second session: two entries';
is $b2->get('/oneid/logout')->{status}, 302, 'the second browser signs out';
my $gone;
for (1 .. 50) {
    last if ($gone = !$t->redis('HEXISTS', $idx, $h2));
    select undef, undef, undef, 0.02;
}
ok $gone, '... its entry is removed';
ok $t->redis('HEXISTS', $idx, $h1), '... the first one stays';

# 4. entries of sessions gone (idle expiry) are pruned at the next login
my @expired;
for (1 .. 3) {
    my $b = $t->browser;
    $b->login('/ward', user => 'doctor');
    push @expired, sha256_hex($b->cookie('oneid_session'));
}
$t->redis('DEL', "oneid220:session:$_", "oneid220:token:$_") for @expired;
is $t->redis('HLEN', $idx), 4,
   'three sessions expired: their entries wait for the next write';
my $b3 = $t->browser;
$b3->login('/ward', user => 'doctor');
is_deeply [sort @{ $t->redis('HKEYS', $idx) }],
          [sort $h1, sha256_hex($b3->cookie('oneid_session'))],
          'the next login prunes them: only the live sessions remain';

# 5. an entry whose session expired but whose OneID token is kept stays
#    (a revoke still ends that OneID session), until its lifetime is over
my $b4 = $t->browser;
$b4->login('/ward', user => 'doctor');
my $h4 = sha256_hex($b4->cookie('oneid_session'));
$t->redis('DEL', "oneid220:session:$h4");
$t->browser->login('/ward', user => 'doctor');
ok $t->redis('HEXISTS', $idx, $h4),
   'session expired, token kept: the entry stays for a revoke';
$t->redis('HSET', $idx, $h4, encode_json({ %$entry, login => time - 90000 }));
$t->browser->login('/ward', user => 'doctor');
ok !$t->redis('HEXISTS', $idx, $h4), '... and goes once its lifetime is over';

# 6. a key rotation: the new key first, the old one still accepted
$t->stop;
$t = start(http => "oneid_key_file $file_b;\noneid_key_file $file_a;");
my $idx_b = index_key($key_b, $doctor_pin);
ok $t->redis('EXISTS', $idx), 'after a rotation the index is under the old key';
my $before = $t->redis('HLEN', $idx);
my $b5 = $t->browser;
$b5->login('/ward', user => 'doctor');
ok !$t->redis('EXISTS', $idx), 'the next login moves it from the old key ...';
is $t->redis('HLEN', $idx_b), $before + 1, '... to the new one, with the new session';
is $b1->get('/ward')->{status}, 200, 'sessions made under the old key still work';
is $b5->get('/oneid/logout-all')->{status}, 302, 'log out everywhere ...';
is $b1->get('/ward')->{status}, 401,
   '... reaches a session indexed under the old key';
$t->stop;

# 7. without a key file: a random key, the same after a reload
$t = start(master => 1);
$t->clear_keys('oneid220:');
$t->browser->login('/ward', user => 'doctor');
my @first = $t->keys_of('oneid220:user:*');
is scalar(@first), 1, 'without oneid_key_file: an index under a random key';
isnt $first[0], $idx, '... not the key file\'s';
my @old = $t->worker_pids;
kill HUP => $t->{pid};
for (1 .. 100) {
    my @now = $t->worker_pids;
    last if @now && !grep { my $o = $_; grep { $_ == $o } @now } @old;
    select undef, undef, undef, 0.05;
}
isnt join(' ', $t->worker_pids), join(' ', @old), 'reloaded: new workers';
$t->browser->login('/ward', user => 'doctor');
is_deeply [$t->keys_of('oneid220:user:*')], \@first,
   'after a reload: the same key (kept in shared memory)';
$t->clear_keys('oneid220:');
$t->stop;

# 8. the bound: logins of one lifetime at most, however many there were
$t = start(http => "oneid_key_file $file_a;",
           extra => "oneid_session_timeout 1s;\noneid_session_lifetime 2s;");
# login times are whole seconds: an entry lives at most lifetime + 1 s
my ($logins, $most, $over, @recent) = (0, 0, 0);
my $until = time + 5;
while (time < $until) {
    $t->browser->login('/ward', user => 'doctor');
    $logins++;
    push @recent, time;
    my $len = $t->redis('HLEN', $idx) // 0;
    my $bound = grep { $_ > time - 3 } @recent;
    $most = $len if $len > $most;
    $over++ if $len > $bound;
    select undef, undef, undef, 0.05;
}
is $over, 0,
   "$logins logins in 5 s, lifetime 2 s: the index never held more than "
   . "the logins of the last lifetime (+1 s), at most $most entries";
diag "index size: at most $most entries over $logins logins "
     . "(oneid_session_lifetime 2s, oneid_session_timeout 1s)";
select undef, undef, undef, 2.2;
$t->browser->login('/ward', user => 'doctor');
is $t->redis('HLEN', $idx), 1, 'after a quiet lifetime, one login: one entry';
$t->clear_keys('oneid220:');

done_testing;
