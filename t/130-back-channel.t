# What the module sends to OneID, as the mock recorded it: the token
# exchange (one_authorization_code), the identity request
# (one_access_token_identify) and the logout (one_log_out) are POSTs with
# a form body and nothing in the URL, carry the client credentials
# percent-encoded (the dmed secret holds + / = &), the code and access
# token OneID issued, redirect_uri and scope, and none of the user's
# headers or cookies.  The client secret never shows in the authorize
# redirect, the upstream request or nginx's logs (error.log at level
# debug, access.log).  A second client (dmed-strict, a mock client that
# insists on its exact scope and redirect_uri) signs in on its own server.
#
# The mock is shared with other test files running at the same time, so
# recorded requests are picked by the code or access token of this login.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config env);

my $port = env('PORT', 1984);
my $strict_port = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 15;

my $SECRET     = 'dm3d+S3cr/et=&x==';
my $SECRET_ENC = 'dm3d%2BS3cr%2Fet%3D%26x%3D%3D';
my $REDIRECT   = "http://127.0.0.1:$port/oneid/callback";
my $UUID       = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

# the same server for the strict client: only the credentials differ
my $strict = server_config();
$strict =~ s/oneid_client_id\s+dmed;/oneid_client_id dmed-strict;/
    and $strict =~ s/oneid_client_secret\s+"[^"]*";/oneid_client_secret strict-secret-0123456789;/
    or die "cannot make the dmed-strict server from server_config()\n";

my $t = Test::OneID->new(
    http_config   => http_config()
        . "server {\n listen 127.0.0.1:$strict_port;\n server_name localhost;\n$strict\n}\n",
    config        => server_config(),
    root_location => 0,
    log_level     => 'debug',    # the secret must not leak even there
);

# The user's browser: headers that must never reach OneID.
my %NOSY = (
    'Authorization'   => 'Basic xyz',
    'User-Agent'      => 'SecretAgent',
    'X-Forwarded-For' => '6.6.6.6',
    'Accept-Language' => 'ru',
);
my $NOSY_RE = qr/a=b|Basic|xyz|SecretAgent|6\.6\.6\.6|oneid_session/i;
my %NOSY_NAME = map { lc($_) => 1 } keys %NOSY, 'Cookie';

sub access_token_of {
    my ($b) = @_;
    my $sid = $b->cookie('oneid_session') // return undef;
    my $record = $t->session_record($sid) // return undef;
    return (split /\n/, $record)[2];
}

# The one recorded request of $grant whose parameter $name is $value.
sub recorded {
    my ($grant, $name, $value) = @_;
    my @found = grep { ($_->{params}{$name} // '') eq $value }
                @{ $t->mock_requests($grant) };
    is scalar @found, 1, "$grant with $name=$value recorded once" or return undef;
    return $found[0];
}

# The checks every back-channel request must pass.
#   %want: param => value (the exact set of parameters), client, secret_enc
sub check_request {
    my ($what, $req, %want) = @_;
    return fail("$what: not recorded") unless $req;
    my $secret_enc = delete $want{secret_enc} // $SECRET_ENC;

    is $req->{method}, 'POST', "$what: POST";
    is $req->{query}, '', "$what: nothing in the URL";
    is $req->{status}, 200, "$what: OneID answered 200";
    is_deeply $req->{params}, \%want, "$what: exactly the expected parameters";

    my %h = map { lc($_) => $req->{headers}{$_} } keys %{ $req->{headers} };
    is_deeply $h{'content-type'}, ['application/x-www-form-urlencoded'],
        "$what: Content-Type application/x-www-form-urlencoded";
    is_deeply $h{'accept'}, ['application/json'], "$what: Accept: application/json";
    is_deeply $h{'content-length'}, [ length $req->{body} ], "$what: Content-Length of the body";
    is_deeply [ sort keys %h ], [qw(accept connection content-length content-type host)],
        "$what: only the headers nginx and the module build";
    my @nosy = grep { $NOSY_NAME{$_} } keys %h;
    is_deeply \@nosy, [], "$what: no Cookie, Authorization, User-Agent, X-Forwarded-For, Accept-Language";
    my @leaks = grep { /$NOSY_RE/ } map { my $k = $_; map { "$k: $_" } @{ $h{$k} } } keys %h;
    is_deeply \@leaks, [], "$what: no value of the user's headers";

    # the raw body: every value percent-encoded, the secret as expected
    my @pairs = split /&/, $req->{body}, -1;
    is scalar(grep { !/^[a-z_]+=[A-Za-z0-9._~%-]*$/ } @pairs), 0,
        "$what: body is name=value pairs, values percent-encoded (RFC 3986 unreserved kept)"
        or diag $req->{body};
    ok((grep { $_ eq "client_secret=$secret_enc" } @pairs),
        "$what: client_secret=$secret_enc in the raw body");
}

# --- one login, done step by step
my $b = $t->browser;

my $res = $b->get('/ward/7?x=1');
is $res->{status}, 302, 'no session: redirect to OneID';
my $authorize = $res->header('Location') // '';
like $authorize, qr/[?&]client_id=dmed(&|$)/, 'authorize URL: client_id';
like $authorize, qr/[?&]scope=dmed(&|$)/, 'authorize URL: scope';
unlike $authorize, qr/secret/i, 'authorize URL: no client_secret parameter';
unlike $authorize, qr/dm3d|S3cr/, 'authorize URL: the secret in no form';

$res = $b->get("$authorize&mock_user=doctor");
my $callback = $res->header('Location') // '';
my ($code) = $callback =~ /[?&]code=([^&]+)/;
like $code // '', $UUID, 'the mock issued a code';
(my $cb = $callback) =~ s{^https?://[^/]+}{};

my $flow_name = Test::OneID::flow_name(($cb =~ /[?&]state=([^&]+)/)[0] // '');
my $flow_cookie = $b->cookie($flow_name) // '';
$res = $b->get($cb, { %NOSY, Cookie => "a=b; $flow_name=$flow_cookie" });
is $res->{status}, 302, 'callback (with nosy headers): login completes';
my $token = access_token_of($b);
like $token // '', $UUID, 'the session holds the access token, a UUID';

check_request('one_authorization_code',
    recorded('one_authorization_code', code => $code),
    grant_type => 'one_authorization_code', client_id => 'dmed',
    client_secret => $SECRET, code => $code, redirect_uri => $REDIRECT, scope => 'dmed');

check_request('one_access_token_identify',
    recorded('one_access_token_identify', access_token => $token // '-'),
    grant_type => 'one_access_token_identify', client_id => 'dmed',
    client_secret => $SECRET, access_token => $token, scope => 'dmed');

# the application never sees the secret either
$res = $b->get('/ward/7?x=1');
is $res->{status}, 200, 'signed in: backend reached';
unlike $res->{body}, qr/dm3d|S3cr|secret/i, 'upstream request carries no secret';

# --- logout hands OneID the stored token, with the client credentials
$res = $b->get('/oneid/logout', { %NOSY, Cookie => "a=b; oneid_session=" . $b->cookie('oneid_session') });
is $res->{status}, 302, 'logout: 302';
check_request('one_log_out',
    recorded('one_log_out', access_token => $token // '-'),
    grant_type => 'one_log_out', client_id => 'dmed',
    client_secret => $SECRET, access_token => $token, scope => 'dmed');

# --- a code with + / = & % in it arrives at OneID exactly (OneID says no)
{
    my $b = $t->browser;
    my ($state) = ($b->get('/odd')->header('Location') // '') =~ /[?&]state=([^&]+)/;
    my $odd = 'a+b/c=d&e%f-' . int(rand 1e9);
    (my $odd_enc = $odd) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
    $res = $b->get("/oneid/callback?code=$odd_enc&state=$state");
    is $res->{status}, 502, 'odd code: OneID refuses it, 502';
    my $req = recorded('one_authorization_code', code => $odd);
    like $req ? $req->{body} : '', qr/(^|&)code=\Q$odd_enc\E(&|$)/,
        'odd code: percent-encoded in the body, decoded by OneID to the same bytes';
}

# --- the strict client signs in on its own server
{
    my $b = Test::OneID::Browser->new(base_url => "http://127.0.0.1:$strict_port");
    my $res = $b->login('/ward', user => 'citizen-eds');
    is $res->{status}, 302, 'dmed-strict: login completes';
    my $authorize = $res->{login_steps}[0]{location} // '';
    like $authorize, qr/[?&]client_id=dmed-strict&/, 'dmed-strict: authorize URL client_id';
    like $authorize, qr/[?&]scope=dmed-strict&/, 'dmed-strict: authorize URL scope';
    unlike $authorize, qr/secret/i, 'dmed-strict: no secret in the authorize URL';
    my ($code) = ($res->{login_steps}[1]{location} // '') =~ /[?&]code=([^&]+)/;
    my $token = access_token_of($b) // '-';
    like $b->get('/ward')->{body}, qr/^X-OneID-Pin: 30201850000022$/m,
        'dmed-strict: identity reaches the backend';

    my %cred = (client_id => 'dmed-strict', client_secret => 'strict-secret-0123456789',
                scope => 'dmed-strict', secret_enc => 'strict-secret-0123456789');
    check_request('dmed-strict one_authorization_code',
        recorded('one_authorization_code', code => $code // '-'),
        grant_type => 'one_authorization_code', code => $code, redirect_uri => $REDIRECT, %cred);
    check_request('dmed-strict one_access_token_identify',
        recorded('one_access_token_identify', access_token => $token),
        grant_type => 'one_access_token_identify', access_token => $token, %cred);

    is $b->get('/oneid/logout')->{status}, 302, 'dmed-strict: logout';
    check_request('dmed-strict one_log_out',
        recorded('one_log_out', access_token => $token),
        grant_type => 'one_log_out', access_token => $token, %cred);
}

# --- nginx's logs never hold the secret, even at level debug
{
    Test::OneID::settle_error_log();
    my $servroot = Test::Nginx::Server::servroot();
    my $error = Test::Nginx::Server::read_error_log(0);
    my $access = Test::Nginx::Server::read_file("$servroot/logs/access.log");
    like $error, qr/\[debug\].*oneid: calling OneID grant_type=one_log_out/,
        'error.log is at level debug and saw the calls';
    like $access, qr{GET /oneid/callback\?code=}, 'access.log saw the callbacks';
    for my $leak (qw(dm3d S3cr strict-secret client_secret)) {
        unlike $error, qr/\Q$leak\E/, "error.log: no \"$leak\"";
        unlike $access, qr/\Q$leak\E/, "access.log: no \"$leak\"";
    }
    unlike $error, qr/\[(alert|crit|emerg)\]/, 'no alerts';
}

done_testing;
