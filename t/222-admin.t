# oneid_admin: an administrator lists and revokes a user's sessions by
# PINFL, with a POST of JSON from an allowed address; clear 4xx for bad
# input; the revoked browsers are told why; every node's cache hears it.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(server_config);
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use JSON::PP;

my $redis = '127.0.0.1:' . ($ENV{TEST_NGINX_REDIS_PORT} // 16379);
my $t = Test::OneID->new(
    http_config   => "oneid_redis $redis prefix=oneid222:;\n"
                     . "oneid_key_file " . Test::OneID::Conf::key_file() . ";\n"
                     . "oneid_audit_log logs/audit.log;\n",
    config        => server_config(locations => <<'END'),
    location = /oneid/admin {
        allow 127.0.0.1;
        deny all;
        oneid_admin;
    }
    location = /denied/admin {
        deny all;
        oneid_admin;
    }
END
    root_location => 0,
    log_level     => 'info',
);
$t->clear_keys('oneid222:');

my $pin = '41203870000017';
my $admin = $t->browser;

# a tool (curl, a console's backend), not a browser: no Origin, no
# Sec-Fetch-* headers
my $tool = HTTP::Tiny->new(max_redirect => 0);
sub admin {
    my ($body, %h) = @_;
    my $r = $tool->request('POST', $t->base_url . ($h{url} // '/oneid/admin'),
                           { content => $body,
                             headers => { 'Content-Type' => $h{type} // 'application/json',
                                          %{ $h{headers} || {} } } });
    my $res = { status => $r->{status}, body => $r->{content},
                headers => $r->{headers} };
    my $json = eval { decode_json($res->{body}) };
    return ($res, $json);
}

sub token_of {
    my ($b) = @_;
    my $rec = $t->session_record($b->cookie('oneid_session'), 'oneid222:');
    return (split /\n/, $rec // '')[2];
}

# 1. bad requests get a clear 4xx in JSON
my ($res, $j) = (undef, undef);
($res, $j) = admin('{"action":"list","pinfl":"' . $pin . '"}',
                   headers => { Origin => $t->base_url });
is $res->{status}, 403, 'a request made by a web page (Origin): 403';
is $j->{error}, 'browser_request_refused', '... browser_request_refused';
($res, $j) = admin('{"action":"list","pinfl":"' . $pin . '"}',
                   headers => { 'Sec-Fetch-Site' => 'same-origin' });
is $res->{status}, 403, '... and with Sec-Fetch-Site';
$res = $admin->get('/oneid/admin', { 'Sec-Fetch-Site' => 'none' });
is $res->{status}, 405, 'GET: 405';
is $res->header('allow'), 'POST', '... Allow: POST';
like $res->{body}, qr/"error":"method_not_allowed"/, '... JSON saying so';

($res, $j) = admin('{"action":"list","pinfl":"' . $pin . '"}',
                   type => 'application/x-www-form-urlencoded');
is $res->{status}, 415, 'a form post (what a forged page can send): 415';
is $j->{error}, 'unsupported_media_type', '... unsupported_media_type';

($res, $j) = admin('{"action":');
is $res->{status}, 400, 'broken JSON: 400';
is $j->{error}, 'invalid_json', '... invalid_json';

for my $bad ('"123"', '"4120387000001x"', '41203870000017', 'null',
             '"412038700000170"') {
    ($res, $j) = admin('{"action":"list","pinfl":' . $bad . '}');
    is $res->{status}, 400, "pinfl $bad: 400";
    is $j->{error}, 'invalid_pinfl', '... invalid_pinfl';
}

($res, $j) = admin('{"action":"delete","pinfl":"' . $pin . '"}');
is $res->{status}, 400, 'an unknown action: 400';
is $j->{error}, 'invalid_action', '... invalid_action';

($res, $j) = admin('{"action":"list","pinfl":"' . $pin . '","x":"'
                   . ('y' x 5000) . '"}');
is $res->{status}, 413, 'a body over 4 KB: 413';

($res, $j) = admin('{"action":"list","pinfl":"' . $pin . '"}',
                   url => '/denied/admin');
is $res->{status}, 403, 'from an address not allowed: 403 (nginx access)';

# 2. list
my @doctor = map { $t->browser } 1 .. 2;
$_->login('/ward', user => 'doctor') for @doctor;
my @tokens = map { token_of($_) } @doctor;
my $other = $t->browser;
$other->login('/ward', user => 'citizen-basic');

($res, $j) = admin('{"action":"list","pinfl":"' . $pin . '"}');
is $res->{status}, 200, 'list: 200';
like $res->{headers}{'content-type'}, qr{^application/json}, '... JSON';
is $res->{headers}{'cache-control'}, 'no-store', '... not stored';
is $j->{pinfl}, '4120*******017', '... the PINFL masked';
is scalar @{ $j->{sessions} || [] }, 2, '... two sessions';
is_deeply [sort keys %{ $j->{sessions}[0] || {} }],
          [qw(auth_method client idle_expires_in last_activity login_time
              user_agent)],
          '... with login time, last activity, idle expiry, client, '
          . 'user agent, auth method';
is $j->{sessions}[0]{user_agent}, 'Test-OneID-Browser/1', '... the user agent';
ok abs($j->{sessions}[0]{last_activity} - time) < 5, '... last activity now';
my $sids = join '|', map { $_->cookie('oneid_session') } @doctor;
unlike $res->{body}, qr/$sids|\Q$tokens[0]\E|\Q$tokens[1]\E|$pin/,
   '... no session id, no token, no PINFL';

# 3. revoke
$t->mark_error_log;
($res, $j) = admin('{"action":"revoke","pinfl":"' . $pin . '"}');
is $res->{status}, 200, 'revoke: 200';
is $j->{revoked}, 2, '... 2 sessions revoked';
is $j->{oneid_sessions_ended}, 2, '... 2 OneID sessions ended';
ok $j->{complete}, '... complete';
for my $token (@tokens) {
    is scalar(grep { ($_->{params}{access_token} // '') eq $token }
              @{ $t->mock_requests('one_log_out') }), 1,
       '... one_log_out with each token';
}
like $t->wait_for_error_log('revoked 2 sessions') // '',
     qr/127\.0\.0\.1 revoked 2 sessions/, '... logged with who asked';
like $t->error_log_since_mark, qr/PINFL 4120\*{7}017/,
     '... the PINFL masked in the error log';
my @audit = grep { ($_->{event}{event} // '') eq 'revoke' }
            Test::OneID::audit_lines(Test::Nginx::Server::servroot()
                                     . '/logs/audit.log');
is scalar(@audit), 1, '... one "revoke" line in the audit log';
is_deeply [@{ $audit[0]{event} || {} }{qw(pinfl sessions client)}],
          [$pin, 2, '127.0.0.1'],
          '... naming the PINFL, the sessions ended and who asked';

$res = $doctor[0]->get('/ward', { 'Accept-Language' => 'en' });
is $res->{status}, 401, 'a revoked browser: 401';
like $res->{body}, qr/ended by an administrator/, '... saying why';
is $doctor[1]->get('/ward')->{status}, 401, 'the other one too';
is $other->get('/ward')->{status}, 200, 'another user: untouched';

($res, $j) = admin('{"action":"list","pinfl":"' . $pin . '"}');
is_deeply $j->{sessions}, [], 'list after the revoke: none';

($res, $j) = admin('{"action":"revoke","pinfl":"' . $pin . '"}');
is $j->{revoked}, 0, 'revoke again: 0, still 200';

$t->clear_keys('oneid222:');

done_testing;
