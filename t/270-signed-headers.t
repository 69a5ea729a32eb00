# oneid_sign_headers: the upstream can tell a request that passed the
# gateway from one sent straight to its port.  The echo backend shows what
# the upstream received; Test::OneID::verify_signature checks it the way
# the README tells an MIS to (HMAC-SHA256 over the documented canonical
# form, constant-time compare, 60 s max age), with no code of the module.
# Also: every identity header is signed in both encodings, a tampered,
# forged, replayed-late or wrongly keyed request fails that verifier, a
# client's X-OneID-Signature never reaches the backend, "off" and
# unsigned locations send none, and nginx -t refuses bad key files.

use strict;
use warnings;

use lib 't/lib';
use File::Temp ();
use Test::More;
use Test::OneID qw(echo_request verify_signature);
use Test::OneID::Conf qw(http_config server_config env);

my $backend = env('BACKEND_PORT', 18081);
my $dir = File::Temp::tempdir(CLEANUP => 1);

sub key_file {
    my ($name, $content, $mode) = @_;
    my $path = "$dir/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    chmod $mode // 0600, $path;
    return $path;
}

my $KEY = 'mis-shared-' . ('0123456789abcdef' x 3);
my $key = key_file('sign.key', "$KEY\n");

my $t = Test::OneID->new(
    http_config   => http_config(),
    config        => server_config(locations => <<"END"),
    location /signed/ {
        oneid on;
        oneid_sign_headers key_file=$key;
        proxy_pass http://127.0.0.1:$backend;

        location /signed/off/ {
            oneid_sign_headers off;
            proxy_pass http://127.0.0.1:$backend;
        }
    }

    location /signed-raw/ {
        oneid on;
        oneid_header_encoding raw;
        oneid_sign_headers key_file=$key;
        proxy_pass http://127.0.0.1:$backend;
    }

    location /jump/ {
        oneid on;
        oneid_sign_headers key_file=$key;
        try_files \$uri /signed/after;
    }

    location /open/ {
        oneid_sign_headers key_file=$key;
        proxy_pass http://127.0.0.1:$backend;
    }
END
    root_location => 0,
    log_level     => 'info',
);

# what the backend received: (method, URI, headers, raw lines)
sub received {
    my ($res) = @_;
    my ($line, $headers, undef, $raw) = echo_request($res->{body});
    my ($method, $uri) = ($line // '') =~ /^(\S+) (\S+) HTTP/;
    return ($method // '', $uri // '', $headers, $raw);
}

sub signatures { grep { lc($_->[0] // '') eq 'x-oneid-signature' } @{ $_[0] } }

sub verify {
    my ($method, $uri, $headers, %o) = @_;
    return verify_signature(key => $KEY, method => $method, uri => $uri,
                            headers => $headers, %o);
}

my $b = $t->browser;
is $b->login('/signed/a', user => 'doctor')->{status}, 302, 'doctor logs in';

# a signed GET, with a query string the URI keeps as sent
{
    my $before = time;
    my $res = $b->get('/signed/a?x=1&y=%20z%2F');
    is $res->{status}, 200, 'GET reaches the backend';
    my ($method, $uri, $headers) = received($res);
    is $uri, '/signed/a?x=1&y=%20z%2F', 'the backend sees the URI as the client sent it';

    my @sig = signatures($headers);
    is scalar @sig, 1, 'exactly one X-OneID-Signature';
    my ($ts) = ($sig[0][1] // '') =~ /^v1;t=(\d+);s=[A-Za-z0-9_-]{43}$/;
    ok defined $ts, 'v1;t=<unix time>;s=<43 base64url characters>';
    ok $ts >= int($before) - 1 && $ts <= time + 1, '... t is now';

    my ($ok, $why) = verify($method, $uri, $headers);
    ok $ok, "the independent verifier accepts it ($why)";
    ok((grep { $_->[0] eq 'X-OneID-Full-Name' && $_->[1] =~ /%E2%80%98/ } @$headers),
       'the percent-encoded full name is among the signed headers');

    # what an attacker who saw this request can and cannot do
    my @tampered = map { [@$_] } @$headers;
    $_->[1] = '31505900000011' for grep { $_->[0] eq 'X-OneID-Pin' } @tampered;
    is((verify($method, $uri, \@tampered))[1], 'bad signature', 'another PIN: refused');
    is((verify('POST', $uri, $headers))[1], 'bad signature', 'another method: refused');
    is((verify($method, '/signed/admin', $headers))[1], 'bad signature',
       'another URI: refused');
    my @fewer = grep { $_->[0] ne 'X-OneID-Mid-Name' } @$headers;
    is((verify($method, $uri, \@fewer))[1], 'bad signature', 'a header left out: refused');
    my @more = (@$headers, ['X-OneID-Legal-Tin', '301234567']);
    is((verify($method, $uri, \@more))[1], 'bad signature', 'a header added: refused');
    is((verify_signature(key => 'x' x 64, method => $method, uri => $uri,
                         headers => $headers))[1], 'bad signature', 'another key: refused');

    # freshness is the verifier's: 60 s in the README's snippets
    ok((verify($method, $uri, $headers, now => $ts + 60))[0], 'replayed within 60 s: accepted');
    is((verify($method, $uri, $headers, now => $ts + 61))[1], 'stale or future timestamp',
       'replayed 61 s later: refused as stale');
    is((verify($method, $uri, $headers, now => $ts - 61))[1], 'stale or future timestamp',
       'a timestamp 61 s ahead: refused');
}

# the method is signed: a POST with a body
{
    my $res = $b->post('/signed/form', { a => 1 });
    is $res->{status}, 200, 'POST reaches the backend';
    my ($method, $uri, $headers) = received($res);
    is $method, 'POST', 'the backend sees a POST';
    my ($ok, $why) = verify($method, $uri, $headers);
    ok $ok, "POST: the independent verifier accepts it ($why)";
}

# raw encoding, and the legal entity's headers, for a legal representative
{
    my $l = $t->browser;
    is $l->login('/signed-raw/x', user => 'legal-rep')->{status}, 302, 'legal-rep logs in';
    my ($method, $uri, $headers) = received($l->get('/signed-raw/x'));
    my ($name) = map { $_->[1] } grep { $_->[0] eq 'X-OneID-Legal-Name' } @$headers;
    is $name, '"NAMUNA KLINIKA" MChJ', 'Legal-Name forwarded';
    ok((grep { $_->[1] =~ /\xE2\x80\x98/ } @$headers), 'raw UTF-8 bytes among the headers');
    my ($ok, $why) = verify($method, $uri, $headers);
    ok $ok, "raw encoding: the independent verifier accepts it ($why)";
}

# a client's X-OneID-Signature, every spelling, never reaches the backend
{
    my %forged = ('X-OneID-Signature' => 'v1;t=1;s=' . ('A' x 43),
                  'x_oneid_signature' => 'forged-underscore',
                  'X-ONEID-SIGNATURE-2' => 'forged-upper');
    for my $path ('/signed/f', '/signed/off/f', '/f', '/api/mobile/f', '/open/f') {
        my ($method, $uri, $headers, $raw) = received($b->get($path, \%forged));
        is scalar(grep { /forged|A{43}/ } @$raw), 0, "$path: no forged signature upstream";
        my @sig = signatures($headers);
        if ($path eq '/signed/f') {
            is scalar @sig, 1, "$path: only the gateway's signature";
            ok((verify($method, $uri, $headers))[0], "$path: and it verifies");
        } else {
            is scalar @sig, 0, "$path: no signature at all";
            is((verify($method, $uri, $headers))[1], 'no signature',
               "$path: the verifier refuses it");
        }
    }
}

# straight to the backend's port: forged identity, a made-up signature
{
    my $bare = Test::OneID::Browser->new(base_url => "http://127.0.0.1:$backend");
    my $t0 = time;
    my $res = $bare->get('/signed/a', { 'X-OneID-Pin' => '31505900000011',
        'X-OneID-Signature' => "v1;t=$t0;s=" . ('B' x 43) });
    my ($method, $uri, $headers) = received($res);
    is((verify($method, $uri, $headers))[1], 'bad signature',
       'a forged request straight to the MIS: refused');
}

# an internal redirect signs again: one signature, over $request_uri (the
# README's caveat: the MIS sees the new URI, so it must not be relied on)
{
    my ($method, $uri, $headers) = received($b->get('/jump/x?q=1'));
    is $uri, '/signed/after', 'try_files: the backend sees the new URI';
    is scalar(signatures($headers)), 1, '... and one signature, not two';
    ok((verify($method, '/jump/x?q=1', $headers))[0], '... over $request_uri');
    is((verify($method, $uri, $headers))[1], 'bad signature',
       '... so the URI the MIS received does not verify');
}

# not signed where the directive is off or absent, and not for anonymous
{
    my ($m, $u, $h) = received($b->get('/signed/off/x'));
    ok((grep { $_->[0] eq 'X-OneID-Pin' } @$h), 'signed/off: identity forwarded');
    is scalar(signatures($h)), 0, '"oneid_sign_headers off" in a nested location: unsigned';
    ($m, $u, $h) = received($b->get('/plain'));
    is scalar(signatures($h)), 0, 'no directive: unsigned';
    ($m, $u, $h) = received($b->get('/open/x'));
    is scalar(signatures($h)), 0, 'an unprotected location: nothing to sign';
}

# nginx -t: the key file
{
    my $loc = sub { "server { listen 127.0.0.1:1; location / { $_[0] } }" };
    my ($ok, $out) = Test::OneID::nginx_t($loc->("oneid_sign_headers key_file=$key;"),
                                          server => 0);
    ok $ok, 'nginx -t accepts a good key file' or diag $out;

    my $short = key_file('short.key', "too-short\n");
    ($ok, $out) = Test::OneID::nginx_t($loc->("oneid_sign_headers key_file=$short;"),
                                       server => 0);
    ok !$ok, 'a 9-byte key: refused';
    like $out, qr/signing key file ".*short\.key" holds 9 bytes, at least 32/, '... saying why';

    my $open = key_file('open.key', "$KEY\n", 0644);
    ($ok, $out) = Test::OneID::nginx_t($loc->("oneid_sign_headers key_file=$open;"),
                                       server => 0);
    ok !$ok, 'a world-readable key: refused';
    like $out, qr/signing key file ".*open\.key" is readable or writable by any user/,
        '... saying why';

    ($ok, $out) = Test::OneID::nginx_t($loc->("oneid_sign_headers $key;"), server => 0);
    ok !$ok, 'a bare path: refused';
    like $out, qr/must be "key_file=<path>" or "off"/, '... saying what is expected';

    ($ok, $out) = Test::OneID::nginx_t($loc->("oneid_sign_headers key_file=$dir/none;"),
                                       server => 0);
    ok !$ok, 'a missing key file: refused';

    ($ok, $out) = Test::OneID::nginx_t(
        $loc->("oneid_sign_headers off; oneid_sign_headers key_file=$key;"), server => 0);
    like $out, qr/"oneid_sign_headers" directive is duplicate/, 'a duplicate: refused';
}

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts in error.log';

done_testing;
