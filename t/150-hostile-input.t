# Hostile input on the way in and out of a login.
#
# 1. Open redirects: every payload of the corpus below (in __DATA__, plus a
#    few generated over-long ones) is sent, byte for byte on a raw socket,
#    as the request target of a protected page.  Either nginx itself
#    refuses the request line (400/414: then no login starts, no cookie,
#    no state record), or the login starts, the state record in Redis
#    holds a safe return path, the whole login goes through the mock
#    OneID, and the callback's Location is a path on this host: it starts
#    with "/", not with "//" or "/\", and has no control character, space,
#    backslash or non-ASCII byte.  The corpus runs on a server with
#    "absolute_redirect off" (the Location is exactly what the module
#    wrote) and on one with nginx's default (the Location must then name
#    this host).  Scripts (401 JSON) get the same login_url.
# 2. Header spoofing by a signed-in user: client copies of the identity
#    headers in every spelling (case, "_" and "-", the bare prefix,
#    duplicates, empty values, no space after the colon, 60 header lines,
#    a 3 KB header) never reach the echo backend, on "oneid off", on the
#    callback and on "oneid on", where the request carries the real values,
#    exactly once each, also after an internal redirect (try_files,
#    error_page); with nginx's defaults, with "underscores_in_headers on"
#    and with "ignore_invalid_headers off".  The same without a session,
#    and obs-fold lines refused by nginx, are one request each: they are
#    block tests in t/151-hostile-requests.t.
# 3. Values from OneID that try to inject headers (mock users
#    identify-inject and identify-crlf) never add a header upstream, nor
#    in the response when the variables are used in add_header, nor a
#    line in error.log or in the session record.
#
# Redis keys use this file's own prefix (oneid150:); extra servers listen
# on spare ports TEST_NGINX_REDIS_PORT + 50..52.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP ();
use Test::More;
use Test::OneID qw(raw_get header_values session_key state_key);
use Test::OneID::Conf qw(http_config server_config env);

my $prefix = 'oneid150:';
my $redis = '127.0.0.1:' . env('REDIS_PORT', 16379);
my $backend = env('BACKEND_PORT', 18081);

my $spare = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 50;
my %port = (
    main    => Test::Nginx::Server::port(),  # absolute_redirect off
    abs     => $spare,                       # nginx's defaults
    under   => $spare + 1,                   # underscores_in_headers on
    invalid => $spare + 2,                   # ignore_invalid_headers off
);

my $LOCATIONS = <<"END";
    location = /oneid/callback-echo {
        oneid_callback;
        error_page 400 = \@echo;
    }
    location \@echo { proxy_pass http://127.0.0.1:$backend; }

    location /tf/ { oneid on; try_files /no-such-file \@echo_on; }
    location \@echo_on { oneid on; proxy_pass http://127.0.0.1:$backend; }
    location /ep/ { oneid on; root html; error_page 404 = /id/from-error-page; }

    location /raw/ {
        oneid on;
        oneid_header_encoding raw;
        add_header X-Who-Pin    \$oneid_pin always;
        add_header X-Who-User   \$oneid_user_id always;
        add_header X-Who-Full   \$oneid_full_name always;
        add_header X-Who-First  \$oneid_first_name always;
        add_header X-Who-Sur    \$oneid_sur_name always;
        add_header X-Who-Mid    \$oneid_mid_name always;
        add_header X-Who-Type   \$oneid_user_type always;
        add_header X-Who-Method \$oneid_auth_method always;
        add_header X-Who-Tin    \$oneid_legal_tin always;
        add_header X-Who-Legal  \$oneid_legal_name always;
        proxy_pass http://127.0.0.1:$backend;
    }
    location /vars/ {
        oneid on;
        oneid_pass_headers off;
        proxy_set_header X-V-Pin    \$oneid_pin;
        proxy_set_header X-V-User   \$oneid_user_id;
        proxy_set_header X-V-Full   \$oneid_full_name;
        proxy_set_header X-V-First  \$oneid_first_name;
        proxy_set_header X-V-Sur    \$oneid_sur_name;
        proxy_set_header X-V-Mid    \$oneid_mid_name;
        proxy_set_header X-V-Type   \$oneid_user_type;
        proxy_set_header X-V-Method \$oneid_auth_method;
        proxy_set_header X-V-Tin    \$oneid_legal_tin;
        proxy_set_header X-V-Legal  \$oneid_legal_name;
        proxy_pass http://127.0.0.1:$backend;
    }
END

sub server {
    my ($name, $directives) = @_;
    return "server {\n    listen 127.0.0.1:$port{$name};\n    server_name localhost;\n"
        . "    $directives\n" . server_config(locations => $LOCATIONS) . "\n}\n";
}

my $t = Test::OneID->new(
    http_config => http_config(redis => "$redis prefix=$prefix")
        . server('abs', '')
        . server('under', 'underscores_in_headers on;')
        . server('invalid', 'ignore_invalid_headers off;'),
    config        => server_config(extra => 'absolute_redirect off;', locations => $LOCATIONS),
    root_location => 0,
    log_level     => 'info',
);

# the prefix is this file's own: start from a clean slate
$t->clear_keys($prefix);

# ---------------------------------------------------------------------------
# raw HTTP: Test::OneID::raw_get and friends

# The echo backend's answer: ([ [name, value] ... ] as received, the raw
# header lines, the body after the header block).
sub echo_headers {
    my ($body) = @_;
    my ($head, $rest) = split /\n\n/, $body, 2;
    my (undef, @lines) = split /\n/, $head // '', -1;
    return ([ map { [ /\A([^:]*):[ \t]*(.*)\z/s ] } @lines ], \@lines, $rest);
}

sub printable {
    my ($s) = @_;
    $s = substr($s, 0, 60) . '...(' . length($s) . ' bytes)' if length $s > 70;
    $s =~ s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}

# ---------------------------------------------------------------------------
# 1. open redirects

# A return path a browser can only resolve to this host.
sub safe_path {
    my ($p) = @_;
    return defined $p && $p =~ m{\A/} && $p !~ m{\A/[/\\]} && $p !~ /[\x00-\x20\x7f-\xff\\]/;
}

# corpus: [ expect, target, label ]
my @corpus;
while (my $line = <DATA>) {
    next if $line =~ /^\s*(#|$)/;
    my ($expect, $target) = $line =~ /^(\S+)\s+(\S+)\s*$/ or die "bad corpus line: $line";
    my $label = $target;
    $target =~ s/\\(x([0-9a-fA-F]{2})|\\)/defined $2 ? chr hex $2 : '\\'/ge;
    push @corpus, [ $expect, $target, $label ];
}
push @corpus,
    [ 'same', '/' . ('a' x 511), '/a...a (512 bytes, the longest a flow keeps)' ],
    [ '/',    '/' . ('a' x 512), '/a...a (513 bytes: over 512, the flow returns to /)' ],
    [ '/',    '/' . ('a' x 2047), '/a...a (2048 bytes: over 512, the flow returns to /)' ],
    [ '/',    '/' . ('a' x 2048), '/a...a (2049 bytes)' ],
    [ '=/a',  '/a?' . ('b' x 600), '/a?b...b (over 512 bytes: the query dropped)' ],
    [ '/',    '/?next=' . ('%2F' x 1500), '/?next=%2F... (4507 bytes)' ],
    [ '414',  '/' . ('a' x 9000), '/a...a (9001 bytes, over the header buffers)' ];

cmp_ok scalar @corpus, '>=', 40, 'the open-redirect corpus has at least 40 payloads';

sub corpus_case {
    my ($server, $expect, $target, $label) = @_;
    my $port = $port{$server};
    my $base = "http://127.0.0.1:$port";
    my $what = "$server: $label";
    my $res = raw_get($port, $target);
    my @new = Test::OneID::flows_set($res);

    if ($expect =~ /^4\d\d$/) {
        is $res->{status}, $expect, "$what: nginx refuses it ($expect)";
        ok !header_values($res, 'Location') && !header_values($res, 'Set-Cookie'),
            "$what: no redirect, no cookie";
        is scalar @new, 0, "$what: no login started (no flow cookie)";
        return;
    }

    if ($expect eq '0.9') {
        # an LF ends the request line: "GET /" in HTTP/0.9, no headers
        ok $res->{http09}, "$what: answered as HTTP/0.9 (no status line, no headers)";
        my @uris = map { $_->[1] } @new;
        ok !(grep { $_ ne '/' } @uris), "$what: any flow started returns to /"
            or diag explain [ map { printable($_) } @uris ];
        return;
    }

    my $want = $expect eq 'same' ? $target : $expect eq '/' ? '/' : substr($expect, 1);

    is $res->{status}, 302, "$what: login starts";
    my ($authorize) = header_values($res, 'Location');
    my ($state) = ($authorize // '') =~ /[?&]state=([A-Za-z0-9_-]{22})$/;
    ok defined $state && @new == 1 && $new[0][0] eq Test::OneID::flow_name($state),
        "$what: one flow cookie, for the state sent to OneID" or return;
    my $stored = $new[0][1];
    is printable($stored), printable($want), "$what: the flow returns to " . printable($want);
    ok safe_path($stored), "$what: stored return path is safe";

    my $b = Test::OneID::Browser->new(base_url => $base);
    $b->store_cookies("$base/", [ header_values($res, 'Set-Cookie') ]);
    my $idp = $b->get("$authorize&mock_user=doctor");
    my $cb = $idp->{location} // '';
    $cb =~ s{^https?://[^/]+}{};
    my $done = $b->get($cb);
    is $done->{status}, 302, "$what: callback logs in and redirects";
    my $location = $done->{location} // '';
    if ($server ne 'main') {
        # absolute_redirect on: scheme, this host (the Host header sent), path
        ok $location =~ s{\A\Q$base\E(?=/)}{}, "$what: Location names this host"
            or diag printable($location);
    }
    is printable($location), printable($want), "$what: Location is " . printable($want);
    ok safe_path($location), "$what: Location is a path on this host";
}

for my $server (qw(main abs)) {
    corpus_case($server, @$_) for @corpus;
}

# scripts get the same login_url, and no login is started for them
for my $case (grep { $_->[0] !~ /^(4\d\d|0\.9|=.*)$/ && $_->[2] !~ /over 512/ } @corpus) {
    my ($expect, $target, $label) = @$case;
    my $want = $expect eq 'same' ? $target : $expect eq '/' ? '/' : substr($expect, 1);
    my %before = map { $_ => 1 } $t->state_keys($prefix);
    my $res = raw_get($port{main}, $target, 'X-Requested-With: XMLHttpRequest');
    my $json = eval { JSON::PP->new->decode($res->{body}) } || {};
    ok $res->{status} == 401 && printable($json->{login_url} // '') eq printable($want)
        && !header_values($res, 'Set-Cookie') && !(grep { !$before{$_} } $t->state_keys($prefix)),
        "script: $label: 401, login_url " . printable($want) . ', no login started'
        or diag "$res->{status} $res->{body}";
}

# whatever happened above, no login state went to Redis
is scalar($t->state_keys($prefix)), 0, 'no login state in Redis at all';

# ---------------------------------------------------------------------------
# 2. spoofed identity headers

# every spelling of an identity header among headers that must pass
my ($spoof_lines, $spoof_keep) = Test::OneID::spoofed_headers();
my @LINES = @$spoof_lines;
my @KEEP = @$spoof_keep;

my $IDENTITY_NAME = qr/\Ax[-_]oneid(?:[-_]|\z)/i;

# The doctor's identity as the backend must see it (percent encoding).
my %DOCTOR = (
    'X-OneID-Pin' => '41203870000017', 'X-OneID-User-Id' => 'dilnoza.karimova',
    'X-OneID-Full-Name' => 'KARIMOVA DILNOZA G%E2%80%98AYRAT QIZI',
    'X-OneID-First-Name' => 'DILNOZA', 'X-OneID-Sur-Name' => 'KARIMOVA',
    'X-OneID-Mid-Name' => 'G%E2%80%98AYRAT QIZI', 'X-OneID-User-Type' => 'I',
    'X-OneID-Auth-Method' => 'MOBILEMETHOD',
);

# what the echo backend got: no spoofed value, the kept headers intact;
# identity headers exactly %$want (name => value, once each)
sub check_echo {
    my ($what, $res, $want) = @_;
    is $res->{status}, 200, "$what: the backend answered" or return;
    my ($headers, $lines) = echo_headers($res->{body});
    is_deeply [ grep { /spoof/i } @$lines ], [], "$what: no client-sent value reaches the backend";
    is_deeply [ grep { /\AX-Keep-\d+:/ } @$lines ], \@KEEP,
        "$what: the other headers arrive, once each, in order";
    ok((grep { $_ eq 'X-Keep-Big: ' . ('k' x 3000) } @$lines), "$what: the 3 KB header arrives");
    my %got;
    push @{ $got{ $_->[0] } }, $_->[1] for grep { $_->[0] =~ $IDENTITY_NAME } @$headers;
    is_deeply \%got, { map { $_ => [ $want->{$_} ] } keys %$want },
        "$what: identity headers: " . (%$want ? 'the real ones, exactly once each' : 'none');
}

for my $server (qw(main under invalid)) {
    my $port = $port{$server};

    my $b = Test::OneID::Browser->new(base_url => "http://127.0.0.1:$port");
    is $b->login('/id/login', user => 'doctor')->{status}, 302, "$server: doctor signs in";
    my $cookie = 'Cookie: oneid_session=' . ($b->cookie('oneid_session') // '-');
    check_echo("$server, oneid on, signed in", raw_get($port, '/id/h', $cookie, @LINES), \%DOCTOR);
    check_echo("$server, oneid off, signed in", raw_get($port, '/api/mobile/h', $cookie, @LINES), {});
    my $res = raw_get($port, '/oneid/callback-echo?code=x', $cookie, @LINES);
    is $res->{status}, 302, "$server, callback, signed in: home, nothing proxied";

    # an internal redirect runs the access phase again: the identity must
    # still be there, and not twice
    check_echo("$server, signed in, try_files to a named location",
        raw_get($port, '/tf/h', $cookie, @LINES), \%DOCTOR);
    check_echo("$server, signed in, error_page to a protected URI",
        raw_get($port, '/ep/h', $cookie, @LINES), \%DOCTOR);
}

# ---------------------------------------------------------------------------
# 3. values from OneID that try to inject headers

sub pct {
    my ($s) = @_;
    $s =~ s/([^\x20-\x24\x26-\x7e])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# What fixtures.py sends, cleaned: control characters (< 0x20, 0x7f) gone,
# the rest kept; a value of control characters only is no value.
# Field => raw UTF-8 bytes.
my %INJECT = (
    pin    => '31505900000011',
    user   => 'olimFORGED LOG LINE',
    full   => 'A' x 1023,    # 1023 + 3-byte U+2018 over the 1024 cap: cut before it
    first  => "X-Injected: first\xe2\x80\xa8\xc2\x85",
    sur    => "[31mTOSHPO\xe2\x80\x98LATOV",
    type   => 'ISet-Cookie: oneid_session=forged',
    method => 'LOGINPASSMETHODX-Tab: 1X-Vt: 1X-Ff: 1',
    tin    => '301234567X-Injected: tin',
    legal  => '"NAMUNA"<html>',
);
my %CRLF = (
    pin => '31505900000011', user => "olim.toshpo\xe2\x80\x98latov",
    full => 'EVILX-Injected: 1NAME', first => 'AB',
    sur => "TOSHPO\xe2\x80\x98LATOV", mid => "G\xe2\x80\x98OFUR O\xe2\x80\x98G\xe2\x80\x98LI",
    type => 'I', method => 'LOGINPASSMETHOD',
);

my %HEADER = (pin => 'Pin', user => 'User-Id', full => 'Full-Name', first => 'First-Name',
              sur => 'Sur-Name', mid => 'Mid-Name', type => 'User-Type',
              method => 'Auth-Method', tin => 'Legal-Tin', legal => 'Legal-Name');
my %SHORT = (pin => 'Pin', user => 'User', full => 'Full', first => 'First', sur => 'Sur',
             mid => 'Mid', type => 'Type', method => 'Method', tin => 'Tin', legal => 'Legal');

my $WELL_FORMED = qr/\A[A-Za-z0-9-]+: [^\x00-\x1f\x7f]*\z/;
my $FORGED_NAME = qr/\A(?:x-injected|set-cookie|x-tab|x-vt|x-ff|x-cut)\z/i;

for my $case ([ 'identify-inject', \%INJECT ], [ 'identify-crlf', \%CRLF ]) {
    my ($user, $want) = @$case;
    my $b = $t->browser;
    $t->mark_error_log;
    is $b->login("/id/$user", user => $user)->{status}, 302, "$user: login completes";
    my $sid = $b->cookie('oneid_session') // '-';
    my $cookie = "Cookie: oneid_session=$sid";

    # identity headers, percent-encoded
    my ($headers, $lines, $rest) = echo_headers(raw_get($port{main}, '/id/x', $cookie)->{body});
    is_deeply [ grep { $_ !~ $WELL_FORMED } @$lines ], [], "$user: every upstream header line is well-formed";
    is_deeply [ grep { $_->[0] =~ $FORGED_NAME } @$headers ], [], "$user: no forged header upstream";
    is $rest, '', "$user: nothing after the upstream header block";
    is_deeply { map { @$_ } grep { $_->[0] =~ $IDENTITY_NAME } @$headers },
        { map { ("X-OneID-$HEADER{$_}" => pct($want->{$_})) } keys %$want },
        "$user: identity headers hold the cleaned values, percent-encoded";
    is scalar(grep { $_->[0] =~ $IDENTITY_NAME } @$headers), scalar keys %$want,
        "$user: one header per non-empty field";

    # variables in proxy_set_header: raw bytes, still one line each
    ($headers, $lines) = echo_headers(raw_get($port{main}, '/vars/x', $cookie)->{body});
    is_deeply [ grep { $_ !~ $WELL_FORMED } @$lines ], [], "$user: variables upstream: well-formed lines";
    is_deeply { map { @$_ } grep { $_->[0] =~ /\AX-V-/ } @$headers },
        { map { ("X-V-$SHORT{$_}" => $want->{$_}) } keys %$want },
        "$user: variables upstream: the cleaned raw values";

    # variables in add_header: the response to the browser
    my $res = raw_get($port{main}, '/raw/x', $cookie);
    is $res->{status}, 200, "$user: add_header location answers";
    is_deeply [ grep { "$_->[0]: $_->[1]" !~ $WELL_FORMED } @{ $res->{headers} } ], [],
        "$user: every response header line is well-formed";
    is_deeply [ grep { $_->[0] =~ $FORGED_NAME } @{ $res->{headers} } ], [],
        "$user: no forged header (Set-Cookie, X-Injected, ...) in the response";
    is_deeply { map { @$_ } grep { $_->[0] =~ /\AX-Who-/ } @{ $res->{headers} } },
        { map { ("X-Who-$SHORT{$_}" => $want->{$_}) } keys %$want },
        "$user: response headers hold the cleaned raw values";
    ($headers) = echo_headers($res->{body});
    is_deeply { map { @$_ } grep { $_->[0] =~ $IDENTITY_NAME } @$headers },
        { map { ("X-OneID-$HEADER{$_}" => $want->{$_}) } keys %$want },
        "$user: oneid_header_encoding raw: the cleaned bytes upstream";

    # the session record and error.log keep their shape
    my $record = $t->session_record($sid, $prefix) // '';
    my @fields = split /\n/, $record, -1;
    is scalar @fields, 13, "$user: session record has its 13 lines";
    unlike $record, qr/[\x00-\x09\x0b-\x1f\x7f]/, "$user: no control character in the record";
    my $log = $t->error_log_since_mark;
    unlike $log, qr/^(?!\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[)/m, "$user: every error.log line is a log entry";
    like $log, qr/oneid: user "\Q$want->{user}\E" signed in with \Q$want->{method}\E/,
        "$user: the sign-in line shows the cleaned user id";
}

unlike Test::Nginx::Server::read_error_log(0), qr/\[(alert|crit|emerg)\]|signal \d+/,
    'no alert and no crashed worker in error.log';

$t->clear_keys($prefix);

done_testing;

__DATA__
# expect  target (request-target bytes: \xHH for a byte, \\ for a backslash)
#   same  the return path is the target as sent
#   /     the return path falls back to /
#   =P    the return path is P
#   400, 414  nginx refuses the request line: no login at all
#   0.9   an LF (or CR LF) ends the request line early: HTTP/0.9 "GET /"

# network-path references ("//host") and their disguises
/     //evil.example
/     //evil.example/
/     //evil.example/%2F..
/     ///evil.example
/     ////evil.example
/     //evil.example@127.0.0.1
/     //127.0.0.1@evil.example/
/     //evil.example:443/x
/     //%65vil.example
/     //
/     \x20//evil.example

# backslashes (browsers read "\" as "/")
/     /\\evil.example
/     /\\\\evil.example
/     /\\/evil.example
/     /.\\evil.example
/     /x/..\\..\\evil.example
/     /\\@evil.example
400   \\/evil.example
400   \\\\evil.example

# encoded slashes and backslashes stay encoded: a path on this host
same  /%2F%2Fevil.example
same  /%2f%2fevil.example
same  /%2F/evil.example
same  /%5Cevil.example
same  /%5c%5cevil.example
same  /%5C/evil.example
same  /%252F%252Fevil.example
same  /.%2F%2Fevil.example

# dot segments
same  /.//evil.example
same  /x/..//evil.example
400   /..//evil.example
400   /%2e%2e//evil.example
400   /../../evil.example

# CR, LF, TAB and other control bytes, raw and encoded
400   /\x09/evil.example
400   /\x0d/evil.example
0.9   /\x0d\x0aLocation:\x20//evil.example
0.9   /\x0a/evil.example
400   /\x00evil.example
400   /\x0b/evil.example
400   /\x0c/evil.example
400   /\x1b[0m
400   /\x7f/evil.example
400   /\x20/evil.example
400   /%00evil.example
same  /%09/evil.example
same  /%0d%0aLocation:%20//evil.example
same  /%0aSet-Cookie:%20oneid_session=x

# schemes and absolute URLs
400   javascript:alert(1)
400   javascript://%0aalert(1)
400   data:text/html,alert(1)
400   http:/\\/evil.example
400   http://evil.example\\@127.0.0.1/
same  /javascript:alert(1)
=/x   http://evil.example/x
=/    http://evil.example
/     http://evil.example?next=//evil.example
/     HTTP://EVIL.EXAMPLE//x
=/y   https://127.0.0.1/y

# non-ASCII
/     /\xff\xfe
/     /\xe2\x80\x8b//evil.example
/     /\xef\xbc\x8f\xef\xbc\x8fevil.example
/     /\xc0\xafevil.example

# harmless paths that must survive as they are
same  /patients/42?tab=history&q=%20x
same  /?next=//evil.example
same  /?next=http://evil.example
same  /#//evil.example
same  /@evil.example
same  /a"b'c<d>e
