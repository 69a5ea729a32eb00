# oneid_audit_log: one JSON object per line for each login, logout and
# refused login, with no nginx prefix and never a token, a code or a
# cookie; the file is reopened on USR1 like nginx's own logs; syslog gets
# the same object after nginx's syslog header; a write failure is one
# error line, not one per event, and never fails the request; nginx -t
# refuses bad values.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);
use Digest::SHA ();
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Sys::Hostname ();
use Time::HiRes qw(time sleep);

# Tashkent's time (UTC+5, no DST) when the zone is installed: the offset
# in "time" is then visibly the local one
if (-e '/usr/share/zoneinfo/Asia/Tashkent') {
    $ENV{TZ} = 'Asia/Tashkent';
    POSIX::tzset();
}

my $logs = Test::Nginx::Server::servroot() . '/logs';
my $audit = "$logs/audit.log";
my $node = lc Sys::Hostname::hostname();
(my $offset = POSIX::strftime('%z', localtime)) =~ s/(\d\d)$/:$1/;

my @KEYS = qw(time event pinfl user_id auth_method client session node);

my $LOCATIONS = <<'END';
    location = /quiet/logout {
        oneid_logout;
        oneid_audit_log off;
    }

    location = /full/logout {
        oneid_logout;
        oneid_audit_log /dev/full;
    }
END

my $t = Test::OneID->new(
    http_config    => http_config() . "oneid_audit_log logs/audit.log;\n",
    config         => server_config(locations => $LOCATIONS),
    root_location  => 0,
    log_level      => 'info',
    master_process => 1,
);

ok -e $audit && !-s $audit, 'the audit log is created, empty, at the start';

my @secrets;    # every token, code and cookie value seen

sub keys_of { my ($raw) = @_; join ',', $raw =~ /"(\w+)":/g }

sub sid_hash { Digest::SHA::sha256_hex($_[0]) }

sub collect_secrets {
    my ($b, $since) = @_;
    for my $req (@{ $t->mock_requests(undef, $since) }) {
        push @secrets, grep { defined && length }
            @{ $req->{params} }{qw(code access_token client_secret)};
    }
    push @secrets, map { $_->{value} } grep { length $_->{value} > 8 }
        map { values %$_ } values %{ $b->{jar} };
}

# 1. a login
my $mark = $t->mock_last_id;
my $b = $t->browser;
is $b->login('/ward', user => 'doctor')->{status}, 302, 'signed in';
my $sid = $b->cookie('oneid_session');
collect_secrets($b, $mark);

my @lines = Test::OneID::audit_lines($audit);
is scalar @lines, 1, 'the login: exactly one line';
my $ev = $lines[0]{event} // {};
like $lines[0]{raw}, qr/^\{"time":/, '... a bare JSON object, no error-log prefix';
is keys_of($lines[0]{raw}), join(',', @KEYS), '... its keys in the documented order';
is $ev->{event}, 'login', '... event "login"';
is $ev->{pinfl}, '41203870000017', '... the PINFL';
is $ev->{user_id}, 'dilnoza.karimova', '... the user id';
is $ev->{auth_method}, 'MOBILEMETHOD', '... the auth method';
is $ev->{client}, '127.0.0.1', '... the client address';
is $ev->{session}, substr(sid_hash($sid), 0, 12), '... the session: 12 hex of its hash';
is $ev->{node}, $node, '... the node';
like $ev->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\Q$offset\E$/,
    '... the local time in ISO 8601 with the offset';
ok !exists $ev->{sessions} && !exists $ev->{reason}, '... no sessions, no reason';

# 2. its logout
$mark = $t->mock_last_id;
is $b->get('/oneid/logout')->{status}, 302, 'signed out';
collect_secrets($b, $mark);
@lines = Test::OneID::audit_lines($audit);
is scalar @lines, 2, 'the logout: exactly one more line';
$ev = $lines[1]{event} // {};
is keys_of($lines[1]{raw}), join(',', @KEYS), '... the same keys';
is_deeply [ @$ev{qw(event pinfl user_id auth_method session)} ],
    [ 'logout', '41203870000017', 'dilnoza.karimova', 'MOBILEMETHOD',
      substr(sid_hash($sid), 0, 12) ],
    '... "logout" of the same user and session';

# a logout after the session expired (8 hours idle) still ends OneID's
# session with the kept token: a line without the user; a cookie with
# nothing behind it ends nothing and writes nothing
my $late = $t->browser;
is $late->login('/ward', user => 'doctor')->{status}, 302, 'signed in';
my $late_sid = $late->cookie('oneid_session');
collect_secrets($late, 0);
sleep 0.2;    # the kept token is written without waiting
$t->redis('DEL', Test::OneID::session_key($late_sid));
is $late->get('/oneid/logout')->{status}, 302, 'signed out after the idle expiry';
@lines = Test::OneID::audit_lines($audit);
is scalar @lines, 4, '... one line for the login, one for the logout';
is_deeply [ @{ $lines[-1]{event} // {} }{qw(event pinfl user_id session)} ],
    [ 'logout', undef, undef, substr(sid_hash($late_sid), 0, 12) ],
    '... "logout" of that session, its user no longer known';
is $t->browser->get('/oneid/logout', {
        Cookie => 'oneid_session=' . ('n' x 43), 'Sec-Fetch-Site' => 'same-origin' })->{status},
    200, 'a logout with a cookie of no session';
is scalar(Test::OneID::audit_lines($audit)), 4, '... writes no line';

# 3. refused logins: the reason, no session, no PINFL that is not one
for my $case ([ 'identify-ret-cd', 'refused by OneID' ],
              [ 'identify-no-pin', 'no pinfl' ],
              [ 'identify-bad-pin', 'pinfl not 14 digits' ])
{
    my ($user, $reason) = @$case;
    my $before = Test::OneID::audit_lines($audit);
    $mark = $t->mock_last_id;
    my $r = $t->browser;
    is $r->login('/ward', user => $user, quiet => 1)->{status}, 403,
        "$user: refused";
    collect_secrets($r, $mark);
    @lines = Test::OneID::audit_lines($audit);
    is scalar @lines, $before + 1, '... exactly one line';
    $ev = $lines[-1]{event} // {};
    is keys_of($lines[-1]{raw}), join(',', @KEYS, 'reason'), '... the keys, then reason';
    is_deeply [ @$ev{qw(event reason pinfl session)} ],
        [ 'login_refused', $reason, undef, undef ],
        "... \"login_refused\", \"$reason\", no PINFL, no session";
}

# 4. a location with "oneid_audit_log off" writes nothing
my $quiet = $t->browser;
is $quiet->login('/ward', user => 'citizen-basic')->{status}, 302, 'signed in again';
my $before = Test::OneID::audit_lines($audit);
is $quiet->get('/quiet/logout')->{status}, 302, 'signed out where the audit log is off';
is scalar(Test::OneID::audit_lines($audit)), $before, '... and no line for it';
collect_secrets($quiet, 0);

# 5. no token, code or cookie anywhere in the file
my $file = do { local (@ARGV, $/) = $audit; <> };
my @found = grep { index($file, $_) >= 0 } @secrets;
ok @secrets >= 10, scalar(@secrets) . ' tokens, codes and cookies collected';
is "@found", '', '... none of them in the audit log';
is index($file, sid_hash($sid)), -1, '... nor the full hash of a session';
is scalar(grep { !defined $_->{event} } Test::OneID::audit_lines($audit)), 0,
    'every line is one JSON object';

# 6. reopen: rename, USR1 to the master, the next event goes to a new file
my $written = Test::OneID::audit_lines($audit);
rename $audit, "$audit.1" or die "rename: $!";
my ($worker) = $t->worker_pids;
$t->mark_error_log;
kill USR1 => $t->{pid};
ok $t->wait_for_error_log(qr/ $worker#\d+: reopening logs/, 5), 'USR1: the worker reopened its logs';
ok -e $audit, '... the master created a new audit.log';
my $again = $t->browser;
is $again->login('/ward', user => 'doctor')->{status}, 302, 'signed in after the reopen';
is scalar(Test::OneID::audit_lines($audit)), 1, '... its line in the new file';
is scalar(Test::OneID::audit_lines("$audit.1")), $written, '... none more in the renamed one';

# 7. a write that fails (a full disk): the user is signed out all the
#    same, one error line per second at most, not one per event
$t->mark_error_log;
my $t0 = time;
my @status;
for my $i (1 .. 5) {
    my $s = Test::OneID::seed_session("auditFull$i" . ('f' x (43 - 9 - length $i)));
    push @status, $t->browser->get('/full/logout', {
        Cookie => "oneid_session=$s", 'Sec-Fetch-Site' => 'same-origin' })->{status};
}
my $span = int(time) - int($t0) + 1;
is "@status", '302 302 302 302 302', 'five logouts with a full disk: all done';
my @lost = grep { /audit event "logout" could not be written to file "\/dev\/full"/ }
           $t->errors_since_mark;
ok @lost >= 1 && @lost <= $span,
    scalar(@lost) . " error line(s) for five lost events in $span second(s)";
like $lost[0] // '', qr/\[error\].*No space left on device/, '... at [error], with the cause';

unlike $t->error_log_since_mark, qr/\[(alert|crit|emerg)\]/, 'no alerts';

# 8. syslog: the same object, after nginx's syslog header
my $udp = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1',
                                LocalPort => 0)
    or die "udp listener: $@";
my $port = $udp->sockport;

$t = Test::OneID->new(
    http_config   => http_config()
                     . "oneid_audit_log syslog:server=127.0.0.1:$port,tag=oneid;\n",
    config        => server_config(),
    root_location => 0,
    log_level     => 'info',
);

my $s = $t->browser;
is $s->login('/ward', user => 'doctor')->{status}, 302, 'signed in, audit to syslog';
my $msg = '';
$udp->recv($msg, 65535) if IO::Select->new($udp)->can_read(5);
like $msg, qr/^<190>\w{3} [ \d]\d \d\d:\d\d:\d\d \Q$node\E oneid: \{/,
    '... a datagram with nginx\'s syslog header (local7.info, tag "oneid")';
(my $json = $msg) =~ s/^[^{]*//;
$ev = eval { JSON::PP->new->utf8->decode($json) } // {};
is keys_of($json), join(',', @KEYS), '... then the JSON object, the same keys';
is_deeply [ @$ev{qw(event pinfl client)} ], [ 'login', '41203870000017', '127.0.0.1' ],
    '... "login" of the doctor';
is $ev->{session}, substr(sid_hash($s->cookie('oneid_session')), 0, 12), '... her session';
unlike $json, qr/\n/, '... no line break in the message';

is $s->get('/oneid/logout')->{status}, 302, 'signed out';
$msg = '';
$udp->recv($msg, 65535) if IO::Select->new($udp)->can_read(5);
like $msg, qr/^<190>.* oneid: \{"time":"[^"]+","event":"logout"/, '... a "logout" datagram';

# 9. nginx -t refuses bad values
for my $case (
    [ 'oneid_audit_log "";',                     qr/"oneid_audit_log" needs a file name/ ],
    [ 'oneid_audit_log syslog:tag=x;',           qr/no syslog server specified/ ],
    [ 'oneid_audit_log syslog:server=127.0.0.1,facility=nope;', qr/unknown syslog facility "nope"/ ],
    [ 'oneid_audit_log a.log b.log;',            qr/invalid number of arguments in "oneid_audit_log"/ ],
    [ "oneid_audit_log a.log;\n    oneid_audit_log off;", qr/"oneid_audit_log" directive is duplicate/ ],
    [ 'oneid_audit_log /nonexistent/dir/audit.log;', qr{open\(\) "/nonexistent/dir/audit.log" failed} ],
    [ 'oneid_idp_session maybe;',                qr/invalid value "maybe"/ ],
)
{
    my ($line, $re) = @$case;
    my ($ok, $out) = Test::OneID::nginx_t($line);
    ok !$ok, "nginx -t fails: $line";
    like $out, $re, '... saying why';
}

my ($ok, $out) = Test::OneID::nginx_t(
    "oneid_audit_log audit.log;\n    oneid_idp_session end;\n"
    . "    server { listen 127.0.0.1:2; oneid_audit_log syslog:server=127.0.0.1; }");
ok $ok, 'a file at http level, syslog in a server: nginx -t passes' or diag $out;

done_testing;
