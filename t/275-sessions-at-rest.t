# Sessions encrypted at rest.  After logins of every fixture identity, with
# all that writes to Redis in use (the per-user index and limit, tab
# sharing, a sign-out, the session cache), no PINFL, name or OneID token is
# anywhere in Redis, in any encoding: key names, values, hash fields, and
# an uncompressed RDB dump.  The documented derivation opens every record
# with CryptX, not with the module's code; a changed or moved record is
# refused and the browser sent to sign in; the token kept for a session
# opens with its cookie and with the server key; records in clear from
# before 0.7.0 are still read until they expire.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(session_key seed_session open_record open_token);
use Test::OneID::Conf qw(server_config);
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(decode_base64 encode_base64);
use Encode qw(encode_utf8);

my $redis = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} // 16379);
my $P = 'oneid275:';

my $t = Test::OneID->new(
    http_config   => "oneid_redis $redis prefix=$P;\n"
                     . 'oneid_key_file ' . Test::OneID::Conf::key_file() . ";\n"
                     . "oneid_session_cache zone=s275:1m ttl=1s;\n",
    config        => server_config(extra => 'oneid_session_max_per_user 2;'),
    root_location => 0,
    log_level     => 'info',
);

# a dump of this Redis must hold only what these logins wrote
$t->redis('FLUSHALL');

my $server_key = do {
    open my $fh, '<', Test::OneID::Conf::key_file() or die $!;
    local $/;
    my $k = <$fh>;
    $k =~ s/\n\z//;
    $k;
};

my $fixtures = $t->mock_get_json('/__mock/fixtures')->{identities};
my @users = sort keys %$fixtures;
ok @users >= 6, "the mock's identities: @users";

# 1. every identity signs in, twice over the limit for one of them, in
# tabs sharing a login, and one signs out
my (%sid, @browsers);
for my $user (@users) {
    my $b = $t->browser;
    is $b->login('/ward', user => $user)->{status}, 302, "$user: signed in";
    is $b->get('/ward')->{status}, 200, "$user: served (and cached)";
    $sid{$user} = $b->cookie('oneid_session');
    push @browsers, $b;
}
for (1 .. 2) {
    my $b = $t->browser;
    $b->login('/ward', user => 'doctor');
}
my $out = $t->browser;
$out->login('/ward', user => 'citizen-eds');
my $res = $out->get('/oneid/logout', { 'Sec-Fetch-Site' => 'same-origin' });
ok $res->{status} == 302 || $res->{status} == 200, 'one browser signed out';

# what must never be in Redis: names, PINFLs, ids, legal entities, tokens
my %secret;
for my $user (@users) {
    my $id = $fixtures->{$user};
    for my $f (qw(pin user_id full_name first_name sur_name mid_name
                  pkcs_legal_tin tin)) {
        my $v = $id->{$f};
        $secret{"$user $f"} = $v if defined $v && !ref $v && length $v >= 4;
    }
    for my $l (@{ ref $id->{legal_info} eq 'ARRAY' ? $id->{legal_info} : [] }) {
        for my $f (qw(tin le_tin le_name acron_uz legal_name)) {
            my $v = $l->{$f};
            $secret{"$user legal $f"} = $v
                if defined $v && !ref $v && length $v >= 4;
        }
    }
}
my $n = 0;
for my $r (@{ $t->mock_requests('one_access_token_identify') }) {
    my $tok = $r->{params}{access_token} // next;
    $secret{'token ' . ++$n} = $tok;
}
ok $n >= @users, "the tokens OneID issued ($n)";

my $dump = redis_dump();
ok length $dump > 1000, 'Redis holds the sessions, the index and the rest ('
                        . length($dump) . ' bytes)';
my @found = grep { contains_any_encoding($dump, $secret{$_}) } sort keys %secret;
is "@found", '', 'no PINFL, name or token in any key, value or field, '
                 . 'in any encoding (' . scalar(keys %secret) . ' secrets)';

my $rdb = rdb_dump();
SKIP: {
    skip 'the RDB file cannot be read here', 1 unless defined $rdb;
    @found = grep { contains_any_encoding($rdb, $secret{$_}) } sort keys %secret;
    is "@found", '', 'nor in an uncompressed RDB dump ('
                     . length($rdb) . ' bytes)';
}

# 2. each record opens with its cookie, by the documented derivation
for my $user (@users) {
    my $raw = $t->redis('GET', session_key($sid{$user}, $P)) // '';
    my $want = $fixtures->{$user};
    next if $user eq 'doctor' || $user eq 'citizen-eds';   # evicted, signed out
    is substr($raw, 0, 1), '3', "$user: the record is sealed (format 3)";
    my @lines = split /\n/, open_record($sid{$user}, $raw) // '', -1;
    is scalar @lines, 13, "$user: it opens with HKDF(cookie) and AES-256-GCM";
    is $lines[3], $want->{pin}, "$user: ... the PINFL";
    is $lines[4], encode_utf8($want->{user_id} // ''), "$user: ... the user id";
    like $lines[2], qr/^[0-9A-Za-z._-]{16,}$/, "$user: ... the OneID token";
    is open_token($t->redis('GET', Test::OneID::token_key($sid{$user}, $P)),
                  sid => $sid{$user}),
       $lines[2], "$user: the kept token opens with the cookie";
    is open_token($t->redis('GET', Test::OneID::token_key($sid{$user}, $P)),
                  key => $server_key),
       $lines[2], "$user: ... and with the server key";
    ok !defined open_record($sid{$users[0]} . 'x', $raw),
       "$user: another cookie opens nothing";
}

# 3. a changed record is refused: the browser signs in again
my ($victim) = grep { $_ ne 'doctor' && $_ ne 'citizen-eds' } @users;
my $vb = $browsers[(grep { $users[$_] eq $victim } 0 .. $#users)[0]];
my $vkey = session_key($sid{$victim}, $P);
my $raw = $t->redis('GET', $vkey);
my $changed = $raw;
substr($changed, 20, 1) ^= "\x01";
$t->redis('SET', $vkey, $changed, 'KEEPTTL');
select undef, undef, undef, 1.2;    # the cached copy (ttl=1s) is gone
$t->mark_error_log;
$res = $vb->get('/ward');
is $res->{status}, 302, 'a record changed in Redis: 302 ...';
like $res->header('Location'), qr{/sso/oauth/Authorization\.do\?}, '... to sign in';
like $t->error_log_since_mark,
     qr/\[warn\].*oneid: session record does not open with its cookie/,
     '... with one warning in the error log';

# 4. a sealed record moved under another session's key opens nothing
my ($other) = grep { $_ ne $victim && $_ ne 'doctor' && $_ ne 'citizen-eds' } @users;
my $ob = $browsers[(grep { $users[$_] eq $other } 0 .. $#users)[0]];
my $moved = $t->redis('GET', session_key($sid{$other}, $P));
my $fresh = $t->browser;
$fresh->login('/ward', user => $victim);
my $fkey = session_key($fresh->cookie('oneid_session'), $P);
$t->redis('SET', $fkey, $moved, 'KEEPTTL');
select undef, undef, undef, 1.2;
$res = $fresh->get('/ward');
is $res->{status}, 302, "another session's record under this key: sign in again";
unlike $res->{body} // '', qr/\Q$fixtures->{$other}{pin}\E/, '... as nobody else';
is $ob->get('/ward')->{status}, 200, '... while its own browser still works';

# 5. records in clear from before 0.7.0 still work until they expire
my $old = seed_session('A' x 43, format => 2, pin => '41111920000044',
                       user_id => 'old.record');
$t->redis('RENAME', session_key($old), session_key($old, $P));
my $ob2 = $t->browser;
$ob2->set_cookie(oneid_session => $old);
$res = $ob2->get('/ward');
is $res->{status}, 200, 'a session record in clear (0.6.0) is still read';
like $res->{body}, qr/X-OneID-User-Id: old\.record/, '... as its user';

done_testing;


# Every key name, string, hash field and value, list and set member, as
# one string of bytes
sub redis_dump {
    my @out;
    for my $key (sort @{ $t->redis('KEYS', '*') }) {
        push @out, $key;
        my $type = $t->redis('TYPE', $key);
        if ($type eq 'string') {
            push @out, $t->redis('GET', $key);
        } elsif ($type eq 'hash') {
            push @out, @{ $t->redis('HGETALL', $key) };
        } elsif ($type eq 'list') {
            push @out, @{ $t->redis('LRANGE', $key, 0, -1) };
        } elsif ($type eq 'set') {
            push @out, @{ $t->redis('SMEMBERS', $key) };
        } elsif ($type eq 'zset') {
            push @out, @{ $t->redis('ZRANGE', $key, 0, -1) };
        }
    }
    return join "\n", map { $_ // '' } @out;
}

# The RDB file Redis writes, without LZF compression (which could hide a
# string), or undef
sub rdb_dump {
    my ($dir, $file);
    eval {
        $dir = $t->redis('CONFIG', 'GET', 'dir')->[1];
        $file = $t->redis('CONFIG', 'GET', 'dbfilename')->[1];
        my $was = $t->redis('CONFIG', 'GET', 'rdbcompression')->[1];
        $t->redis('CONFIG', 'SET', 'rdbcompression', 'no');
        $t->redis('SAVE');
        $t->redis('CONFIG', 'SET', 'rdbcompression', $was);
    };
    return undef if $@ || !defined $dir;
    open my $fh, '<:raw', "$dir/$file" or return undef;
    local $/;
    return scalar <$fh>;
}

# Whether $hay holds $needle as UTF-8 or Latin-1 bytes, JSON \u escapes,
# percent-encoding, hex (either case), or base64 / base64url at any
# alignment (each base64-looking run decoded from each of its 4 offsets)
sub contains_any_encoding {
    my ($hay, $needle) = @_;
    my $bytes = encode_utf8($needle);
    my @forms = ($bytes, unpack('H*', $bytes), uc unpack('H*', $bytes));
    (my $json = $needle) =~ s/([^\x20-\x7e])/sprintf '\\u%04x', ord $1/ge;
    (my $pct = $bytes) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
    push @forms, $json, $pct;
    for my $f (@forms) {
        return 1 if index(lc $hay, lc $f) >= 0;
    }
    for my $run ($hay =~ /([A-Za-z0-9+\/_-]{8,})/g) {
        for my $off (0 .. 3) {
            (my $b64 = substr $run, $off) =~ tr{-_}{+/};
            $b64 = substr $b64, 0, length($b64) - length($b64) % 4;
            return 1 if index(decode_base64($b64), $bytes) >= 0;
        }
    }
    return 0;
}
