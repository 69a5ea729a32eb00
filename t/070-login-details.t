# The finer points of logging in: login states (single use, bound to the
# browser, several tabs), where the user is sent back to, what reaches the
# upstream for each kind of OneID identity, and what is sent to OneID.

use strict;
use warnings;

use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use Test::More;
use Test::OneID qw(session_key state_key);
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
    location /vars/ {
        oneid on;
        oneid_pass_headers off;
        proxy_set_header X-User \$oneid_user_id;
        proxy_set_header X-Name \$oneid_full_name;
        proxy_pass http://127.0.0.1:$backend;
    }
    location /short/ {
        oneid on;
        oneid_session_timeout 1h;
        proxy_pass http://127.0.0.1:$backend;
    }
END
    root_location => 0,
    log_level     => 'info',
);

sub headers_of {
    my ($body) = @_;
    my %h;
    for (split /\n/, (split /\n\n/, $body, 2)[0]) {
        my ($k, $v) = /^([^:]+): ?(.*)$/ or next;
        push @{ $h{lc $k} }, $v;
    }
    return \%h;
}

my $origin = qr{^http://127\.0\.0\.1:\d+};

# --- several tabs: three logins started, finished in reverse order
{
    my $b = $t->browser;
    my @cb = map { $b->callback_for('citizen-basic', "/tab/$_") } 1 .. 3;
    my %states = map { /state=([^&]+)/; $1 => 1 } @cb;
    is scalar keys %states, 3, 'three tabs, three different states';
    for my $i (reverse 0 .. 2) {
        my $res = $b->get($cb[$i]);
        is $res->{status}, 302, 'tab ' . ($i + 1) . ': login completes';
        like $res->header('Location'), qr{$origin/tab/@{[$i + 1]}$},
            '... back to its own page';
    }
}

# --- a state works once
{
    my $b = $t->browser;
    my $cb = $b->callback_for('citizen-basic', '/once');
    my ($state) = $cb =~ /state=([^&]+)/;
    my $flow = $b->cookie_attrs(Test::OneID::flow_name($state));
    ok $flow, 'the flow is a cookie of its own, named after the state';
    is $flow->{max_age}, 600, '... for 10 minutes';
    is $t->redis('EXISTS', state_key($state)), 0, '... and nothing in Redis';

    is $b->get($cb)->{status}, 302, 'first use of the callback logs in';
    ok !defined $b->cookie(Test::OneID::flow_name($state)), '... and ends the flow';
    is $t->redis('EXISTS', 'oneid:used:' . sha256_hex($state)), 1, '... marked used in Redis';

    my $res = $b->get($cb);
    is $res->{status}, 302, 'replay by the signed-in user: 302';
    like $res->header('Location'), qr{$origin/$}, '... to the home page';

    my $other = $t->browser;
    $other->set_cookie(Test::OneID::flow_name($state) => $flow->{value});
    $res = $other->get($cb);
    ok $res->{status} == 400 || $res->{status} == 502,
       'replay with the flow cookie copied, without a session: a page (' . $res->{status} . ')';
    ok !defined $other->cookie('oneid_session'), '... and no session';
}

# --- a state belongs to the browser that started the login
{
    my $a = $t->browser;
    my $cb = $a->callback_for('citizen-basic', '/mine');
    my $b = $t->browser;

    my $res = $b->get($cb);
    is $res->{status}, 302, 'callback in a browser without the flow cookie: a login of its own';
    like $res->{location} // '', qr{Authorization\.do\?.*state=~}, '... to OneID, restarted';
    ok !defined $b->cookie('oneid_session'), '... no session';

    my ($state) = $cb =~ /state=([^&]+)/;
    $b->set_cookie(Test::OneID::flow_name($state) => '1n.1.Lw.' . 'A' x 22);
    $res = $b->get($cb);
    is $res->{status}, 400, 'callback with a forged flow cookie: 400';

    # another browser cannot spend the flow: the right one still can
    is $a->get($cb)->{status}, 302, 'a state tried by another browser still logs its own in';
}

# --- a flow the browser no longer holds (expired)
{
    my $b = $t->browser;
    my $cb = $b->callback_for('citizen-basic', '/late');
    my ($state) = $cb =~ /state=([^&]+)/;
    $b->set_cookie(Test::OneID::flow_name($state) => '');
    $b->{jar} = {};
    my $res = $b->get($cb);
    is $res->{status}, 302, 'flow cookie gone: a new login, once';
    like $res->{location} // '', qr{Authorization\.do\?.*state=~}, '... marked restarted (no loop)';
}

# --- where the user is sent back to
for my $case (
    [ '/patients/42?tab=history&q=%20x', qr{$origin/patients/42\?tab=history&q=%20x$} ],
    [ '//evil.example/x',                qr{$origin/$} ],
    [ '/%2F%2Fevil.example',             qr{$origin/%2F%2Fevil\.example$} ],
    [ '/' . ('a' x 3000),                qr{$origin/$} ],
)
{
    my ($path, $want) = @$case;
    my $b = $t->browser;
    my $res = $b->login($path, user => 'doctor');
    like $res->header('Location') // '', $want,
        'return to ' . (length $path > 40 ? substr($path, 0, 40) . '...' : $path);
}

# --- identities: what the upstream receives
my %expect = (
    'legal-rep' => {
        'x-oneid-pin'         => '32807880000033',
        'x-oneid-user-type'   => 'L',
        'x-oneid-auth-method' => 'LEPKCSMETHOD',
        'x-oneid-legal-tin'   => '301234567',
        'x-oneid-legal-name'  => '"NAMUNA KLINIKA" MChJ',
        'x-oneid-mid-name'    => 'SHUHRAT O%E2%80%98G%E2%80%98LI',
    },
    'sparse' => {
        'x-oneid-pin'        => '41111920000044',
        'x-oneid-user-id'    => 'malika.n',
        'x-oneid-mid-name'   => undef,
        'x-oneid-user-type'  => undef,
        'x-oneid-legal-tin'  => undef,
    },
    'legacy-formats' => {
        'x-oneid-pin'       => '31212800000055',
        'x-oneid-sur-name'  => 'O%E2%80%98RINOV',
        'x-oneid-user-id'   => 'sherzod.o%E2%80%98rinov',
    },
    'identify-null-fields' => {
        'x-oneid-pin'       => '31505900000011',
        'x-oneid-full-name' => undef,
    },
    'citizen-eds' => {
        'x-oneid-auth-method' => 'PKCSMETHOD',
        'x-oneid-legal-tin'   => undef,
    },
);

for my $user (sort keys %expect) {
    my $b = $t->browser;
    $b->login('/id', user => $user);
    my $h = headers_of($b->get('/id')->{body});
    for my $name (sort keys %{ $expect{$user} }) {
        my $want = $expect{$user}{$name};
        if (defined $want) {
            is_deeply $h->{$name}, [$want], "$user: $name";
        } else {
            ok !exists $h->{$name}, "$user: no $name";
        }
    }
}

# CR, LF and NUL from OneID never reach a header or the session record
{
    my $b = $t->browser;
    my $res = $b->login('/crlf', user => 'identify-crlf');
    is $res->{status}, 302, 'identity with CR/LF in names: login works';
    my $body = $b->get('/crlf')->{body};
    my $h = headers_of($body);
    ok !exists $h->{'x-injected'}, '... no injected header';
    is_deeply $h->{'x-oneid-full-name'}, ['EVILX-Injected: 1NAME'],
        '... control characters removed from the value';
    is_deeply $h->{'x-oneid-first-name'}, ['AB'], '... LF removed';
    my @lines = split /\n/, $t->session_record($b->cookie('oneid_session')) // '', -1;
    is scalar @lines, 13, '... session record keeps its 13 lines';
}

# raw UTF-8 headers and variables instead of headers
{
    my $b = $t->browser;
    $b->login('/raw/x', user => 'citizen-basic');
    my $h = headers_of($b->get('/raw/x')->{body});
    is_deeply $h->{'x-oneid-mid-name'}, ["G\xe2\x80\x98OFUR O\xe2\x80\x98G\xe2\x80\x98LI"],
        'oneid_header_encoding raw: UTF-8 bytes';

    $h = headers_of($b->get('/vars/x')->{body});
    ok !(grep { /^x-oneid-/ } keys %$h), 'oneid_pass_headers off: no X-OneID-* headers';
    is_deeply $h->{'x-user'}, ["olim.toshpo\xe2\x80\x98latov"], '$oneid_user_id (raw UTF-8)';
    is_deeply $h->{'x-name'}, ["TOSHPO\xe2\x80\x98LATOV OLIM G\xe2\x80\x98OFUR O\xe2\x80\x98G\xe2\x80\x98LI"],
        '$oneid_full_name';

    my $key = session_key($b->cookie('oneid_session'));
    $b->get('/short/x');
    my $ttl = $t->redis('TTL', $key);
    ok $ttl > 3590 && $ttl <= 3600, "oneid_session_timeout 1h on a location ($ttl)";

    # absolute lifetime: a login 25 hours old is over, however active
    my @lines = split /\n/, $t->session_record($b->cookie('oneid_session')) // '', -1;
    $lines[1] = time - 25 * 3600;
    $t->redis('SET', $key, join("\n", @lines), 'KEEPTTL');
    my $res = $b->get('/x');
    is $res->{status}, 302, 'after oneid_session_lifetime: login again';
    like $res->header('Location'), qr/response_type=one_code/, '... at OneID';
    my $gone;
    for (1 .. 50) { last if $gone = !$t->redis('EXISTS', $key); select undef, undef, undef, 0.02 }
    ok $gone, '... and the old session is deleted';
}

# a new login replaces the browser's previous session: two tabs of one
# browser signing in the same user share one session, another user's
# login replaces it
{
    my $b = $t->browser;
    my @cb = map { $b->callback_for($_, "/tab$_") } qw(doctor doctor citizen-basic);
    $b->get($cb[0]);
    my $first = $b->cookie('oneid_session');
    $b->get($cb[1]);
    is $b->cookie('oneid_session'), $first, 'the same user in another tab: the same session';
    $b->get($cb[2]);
    my $second = $b->cookie('oneid_session');
    isnt $second, $first, "another user's login gets a new session id";
    my $gone;
    for (1 .. 50) { last if $gone = !$t->redis('EXISTS', session_key($first)); select undef, undef, undef, 0.02 }
    ok $gone, '... and the previous session is deleted';
}

# --- what OneID receives
{
    my $b = $t->browser;
    my $cb = $b->callback_for('citizen-basic', '/bc');
    my ($code) = $cb =~ /code=([^&]+)/;
    my $flow = Test::OneID::flow_name(($cb =~ /state=([^&]+)/)[0]);
    $b->get($cb, {
        'Authorization'   => 'Basic c2VjcmV0OnNlY3JldA==',
        'User-Agent'      => 'SecretAgent/1.0',
        'X-Forwarded-For' => '6.6.6.6',
        'Accept-Language' => 'ru',
        'Cookie'          => "tracking=abc; $flow=" . $b->cookie($flow)
                             . '; oneid_session_browser=' . $b->cookie('oneid_session_browser'),
    });

    my ($tok) = grep { $_->{params}{code} && $_->{params}{code} eq $code }
                @{ $t->mock_requests('one_authorization_code') };
    ok $tok, 'token request recorded';
    is $tok->{method}, 'POST', '... POST';
    is $tok->{query}, '', '... nothing in the URL';
    like $tok->{body}, qr/(^|&)client_secret=dm3d%2BS3cr%2Fet%3D%26x%3D%3D(&|$)/,
        '... secret percent-encoded in the form body';
    is $tok->{params}{client_secret}, 'dm3d+S3cr/et=&x==', '... and decodes exactly';
    is $tok->{params}{redirect_uri}, 'http://127.0.0.1:' . env('PORT', 1984) . '/oneid/callback',
        '... redirect_uri sent';
    is_deeply $tok->{headers}{'Content-Type'}, ['application/x-www-form-urlencoded'],
        '... form content type';

    my $token = $b->get('/bc') && (split /\n/, $t->session_record($b->cookie('oneid_session')) // '')[2];
    my ($id) = grep { $_->{params}{access_token} && $_->{params}{access_token} eq $token }
               @{ $t->mock_requests('one_access_token_identify') };
    ok $id, 'identify request recorded with the issued token';
    is $id->{params}{scope}, 'dmed', '... with the scope';

    for my $req ($tok, $id) {
        my $all = join "\n", map { my $k = $_; map { "$k: $_" } @{ $req->{headers}{$k} } }
                  keys %{ $req->{headers} };
        unlike $all, qr/SecretAgent|6\.6\.6\.6|c2VjcmV0|tracking|oneid_session|Accept-Language/i,
            "$req->{params}{grant_type}: none of the user's headers or cookies";
    }
}

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]|dm3d/,
    'no alerts, and the client secret is never logged';

done_testing;
