# Every OneID identity the mock knows reaches the upstream exactly: each
# test person logs in, and the echo backend must see every X-OneID-* header
# with the fixture's value (percent-encoded: bytes outside printable ASCII
# and "%" become %XX), no header for a missing, null or "" field, and the
# Redis session record must hold the same values as raw UTF-8.  Also: a
# \u-escaped answer decodes like a raw one, an all-null identity, CR/LF/NUL
# inside names, the encoder on bytes no fixture has (a hand-made session),
# and oneid_header_encoding raw.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config env);

my $backend = env('BACKEND_PORT', 18081);

my $t = Test::OneID->new(
    http_config   => http_config(),
    config        => server_config(locations => <<"END"),
    location /raw/ {
        oneid on;
        oneid_header_encoding raw;
        proxy_pass http://127.0.0.1:$backend;
    }
END
    root_location => 0,
    log_level     => 'info',
);

# Header names in the order of the session record (after version, login
# time and access token).
my @FIELDS = qw(Pin User-Id Full-Name First-Name Sur-Name Mid-Name
                User-Type Auth-Method Legal-Tin Legal-Name);

my $Q = "\x{2018}";    # the O‘ / G‘ of Uzbek Latin

# What t/mock-oneid/fixtures.py says about each person, as the module must
# map it: missing, null and "" fields give no header; Legal-* come from the
# legal_info entry with is_basic true, else pkcs_legal_tin.
my %IDENTITY = (
    'doctor' => {
        'Pin' => '41203870000017', 'User-Id' => 'dilnoza.karimova',
        'Full-Name' => "KARIMOVA DILNOZA G${Q}AYRAT QIZI",
        'First-Name' => 'DILNOZA', 'Sur-Name' => 'KARIMOVA',
        'Mid-Name' => "G${Q}AYRAT QIZI", 'User-Type' => 'I',
        'Auth-Method' => 'MOBILEMETHOD',
    },
    'citizen-basic' => {
        'Pin' => '31505900000011', 'User-Id' => "olim.toshpo${Q}latov",
        'Full-Name' => "TOSHPO${Q}LATOV OLIM G${Q}OFUR O${Q}G${Q}LI",
        'First-Name' => 'OLIM', 'Sur-Name' => "TOSHPO${Q}LATOV",
        'Mid-Name' => "G${Q}OFUR O${Q}G${Q}LI", 'User-Type' => 'I',
        'Auth-Method' => 'LOGINPASSMETHOD',
    },
    # a top-level "tin" is the person's own, not a legal entity's
    'citizen-eds' => {
        'Pin' => '30201850000022', 'User-Id' => 'jasur.aliyev',
        'Full-Name' => 'ALIYEV JASUR BAXTIYOROVICH',
        'First-Name' => 'JASUR', 'Sur-Name' => 'ALIYEV',
        'Mid-Name' => 'BAXTIYOROVICH', 'User-Type' => 'I',
        'Auth-Method' => 'PKCSMETHOD',
    },
    # two organisations: the second one is_basic
    'legal-rep' => {
        'Pin' => '32807880000033', 'User-Id' => 'bobur.rahimov',
        'Full-Name' => "BOBUR SHUHRAT O${Q}G${Q}LI RAHIMOV",
        'First-Name' => 'BOBUR', 'Sur-Name' => 'RAHIMOV',
        'Mid-Name' => "SHUHRAT O${Q}G${Q}LI", 'User-Type' => 'L',
        'Auth-Method' => 'LEPKCSMETHOD',
        'Legal-Tin' => '301234567', 'Legal-Name' => '"NAMUNA KLINIKA" MChJ',
    },
    # mid_name null, email "", user_type, auth_method, legal_info absent
    'sparse' => {
        'Pin' => '41111920000044', 'User-Id' => 'malika.n',
        'Full-Name' => 'NAZAROVA MALIKA', 'First-Name' => 'MALIKA',
        'Sur-Name' => 'NAZAROVA',
    },
    # the whole answer \u-escaped; no auth_method, no legal_info
    'legacy-formats' => {
        'Pin' => '31212800000055', 'User-Id' => "sherzod.o${Q}rinov",
        'Full-Name' => "O${Q}RINOV SHERZOD G${Q}ANI O${Q}G${Q}LI",
        'First-Name' => 'SHERZOD', 'Sur-Name' => "O${Q}RINOV",
        'Mid-Name' => "G${Q}ANI O${Q}G${Q}LI", 'User-Type' => 'I',
    },
    # every field but pin, ret_cd and sess_id null
    'identify-null-fields' => { 'Pin' => '31505900000011' },
);

sub utf8_bytes { my ($s) = @_; utf8::encode($s); $s }

# The documented percent encoding: every byte outside printable ASCII, and
# "%" itself, becomes %XX with upper-case hex digits.
sub pct {
    my $s = utf8_bytes($_[0]);
    $s =~ s/([^\x20-\x24\x26-\x7e])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# The echo backend's answer: (request line, [ [name, value], ... ] in the
# order received, body).
sub echo_request {
    my ($body) = @_;
    my ($head, $rest) = split /\n\n/, $body, 2;
    my ($line, @lines) = split /\n/, $head, -1;
    return ($line, [ map { [ /^([^:]*):[ \t]*(.*)$/s ] } @lines ], $rest, \@lines);
}

# { Header-Name => [values] } of the X-OneID-* headers, names as sent
sub identity_headers {
    my ($headers) = @_;
    my %h;
    for (@$headers) {
        my ($k, $v) = @$_;
        push @{ $h{$k} }, $v if defined $k && $k =~ /^x[-_]oneid/i;
    }
    return \%h;
}

# Log in as $user, request $path, compare every identity header with
# $want (header => expected value after $encode), and the Redis record.
sub check_identity {
    my ($user, $path, $encode) = @_;
    my $want = $IDENTITY{$user};
    my $b = $t->browser;

    my $res = $b->login($path, user => $user);
    is $res->{status}, 302, "$user: login completes with a redirect";
    my $sid = $b->cookie('oneid_session');
    ok defined $sid, "$user: session cookie set" or return;

    $res = $b->get($path);
    is $res->{status}, 200, "$user: backend reached";
    my (undef, $headers) = echo_request($res->{body});
    my $got = identity_headers($headers);

    my %expect = map { ("X-OneID-$_" => [ $encode->($want->{$_}) ]) } keys %$want;
    is_deeply [ sort keys %$got ], [ sort keys %expect ],
        "$user: exactly these identity headers: @{[ sort keys %expect ]}";
    for my $name (sort keys %expect) {
        is_deeply $got->{$name}, $expect{$name}, "$user: $name";
    }

    # the record: "1", login time, token, then the fields as raw UTF-8
    my $record = $t->session_record($sid);
    my @lines = split /\n/, $record // '', -1;
    is_deeply [ @lines[3 .. 12] ],
        [ map { utf8_bytes($want->{$_} // '') } @FIELDS ],
        "$user: session record holds the same values, raw UTF-8";
    return $b;
}

# The mock really sends legacy-formats \u-escaped (else the next check
# would prove nothing): ask it directly, as the module would.
{
    my $b = $t->browser;
    my $res = $b->get('/escape-check');
    my $authorize = $res->header('Location') . '&mock_user=legacy-formats';
    my ($code) = ($b->get($authorize)->header('Location') // '') =~ /code=([^&]+)/;
    my %cred = (client_id => 'dmed', client_secret => 'dm3d+S3cr/et=&x==');
    my $tok = $b->post($t->mock_url('/sso/oauth/Authorization.do'),
        { grant_type => 'one_authorization_code', code => $code, %cred });
    my ($access) = $tok->{body} =~ /"access_token":"([^"]+)"/;
    my $id = $b->post($t->mock_url('/sso/oauth/Authorization.do'),
        { grant_type => 'one_access_token_identify', access_token => $access // '',
          scope => 'dmed', %cred });
    like $id->{body}, qr/"sur_name":"O\\u2018RINOV"/,
        'precondition: legacy-formats arrives with \u2018 escapes';
    unlike $id->{body}, qr/[^\x00-\x7f]/, '... and no byte outside ASCII';
}

for my $user (qw(doctor citizen-basic citizen-eds legal-rep sparse
                 legacy-formats identify-null-fields))
{
    check_identity($user, "/id/$user", \&pct);
}

# A \u-escaped answer ends as the same bytes as a raw one: the headers of
# legacy-formats were checked against UTF-8 above; spell one out.
{
    my $b = $t->browser;
    $b->login('/legacy', user => 'legacy-formats');
    my (undef, $headers) = echo_request($b->get('/legacy')->{body});
    is_deeply identity_headers($headers)->{'X-OneID-Mid-Name'},
        ['G%E2%80%98ANI O%E2%80%98G%E2%80%98LI'],
        'legacy-formats: \u2018 decoded to E2 80 98, then percent-encoded';
}

# oneid_header_encoding raw: the UTF-8 bytes as they are
check_identity('doctor', '/raw/doctor', \&utf8_bytes);
check_identity('legal-rep', '/raw/legal', \&utf8_bytes);

# CR, LF and NUL inside names: no header can be split, the record keeps
# its shape
{
    my $b = $t->browser;
    my $res = $b->login('/crlf', user => 'identify-crlf');
    is $res->{status}, 302, 'identify-crlf: login completes';
    $res = $b->get('/crlf');
    is $res->{status}, 200, 'identify-crlf: backend reached';
    my ($line, $headers, $rest, $raw) = echo_request($res->{body});

    ok !(grep { /^x-injected\s*:/i } @$raw), 'no "X-Injected" header line upstream';
    my @bad = grep { !/^[A-Za-z0-9_-]+: \S/ } @$raw;
    is scalar @bad, 0, 'every line upstream is a well-formed header line'
        or diag explain \@bad;
    my $id = identity_headers($headers);
    is scalar(map { @$_ } values %$id), 8,
        'eight identity header lines (pin, names, type, method), no more';
    is_deeply $id->{'X-OneID-Full-Name'}, ['EVILX-Injected: 1NAME'],
        'Full-Name: CR, LF and NUL removed, the rest kept';
    is_deeply $id->{'X-OneID-First-Name'}, ['AB'], 'First-Name: LF removed';
    unlike join('', map { $_->[1] } @$headers), qr/[\x00-\x1f\x7f]/,
        'no control character in any header value';
    is $rest, '', 'nothing after the header block';

    my $record = $t->session_record($b->cookie('oneid_session'));
    my @lines = split /\n/, $record, -1;
    is scalar @lines, 13, 'session record has exactly 13 lines';
    unlike $record, qr/[\x00\r]/, '... and no CR or NUL';
    is $lines[5], 'EVILX-Injected: 1NAME', '... full_name cleaned there too';
}

# The encoder on bytes no fixture has ("%", "~", DEL-free ASCII edge
# characters, Cyrillic, a 4-byte character): a session written by hand.
{
    my $sid = 'T110' . ('x' x 39);
    my $name = "50% ~!\"#\$&'()*+,/:;<=>?\@[\\]^_`{|} \x{0416}\x{1F600}";
    my @record = ('1', time, 'tok-110', '31505900000011', 'hand.made', $name,
                  ('') x 7);
    $t->redis('SET', session_key($sid), join("\n", map { utf8_bytes($_) } @record),
              'EX', 60);
    my $b = $t->browser;
    $b->set_cookie(oneid_session => $sid);
    my $res = $b->get('/hand');
    is $res->{status}, 200, 'hand-made session accepted';
    my $id = identity_headers((echo_request($res->{body}))[1]);
    is_deeply $id->{'X-OneID-Full-Name'},
        ['50%25 ~!"#$&\'()*+,/:;<=>?@[\]^_`{|} %D0%96%F0%9F%98%80'],
        'percent encoding: only "%" and non-ASCII bytes escaped, upper-case hex';
    is_deeply [ sort keys %$id ], [qw(X-OneID-Full-Name X-OneID-Pin X-OneID-User-Id)],
        '... and no header for the empty fields';
    $res = $b->get('/raw/hand');
    is_deeply identity_headers((echo_request($res->{body}))[1])->{'X-OneID-Full-Name'},
        [ utf8_bytes($name) ], 'raw encoding: the same value byte for byte';
    $t->redis('DEL', session_key($sid));
}

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts in error.log';

done_testing;
