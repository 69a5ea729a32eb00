# Large OneID identify answers: a legal representative of hundreds of
# organisations gets a long legal_info array.  The module collects the
# answers of its own back-channel subrequests itself, up to 1 MB, whatever
# subrequest_output_buffer_size says in the oneid_backend location (or
# does not say: nginx's default is one memory page, 4k).
#
# The matrix: buffer 1k, 4k, 8k, 16k and no such line, each with answers
# of about 3 KB, 20 KB and 60 KB (legal_info entity objects, the is_basic
# one last), sent with Content-Length and, through a server whose OneID
# client gets chunked answers, without.  Expected in every cell: the login
# completes (302 and a session whose identity carries the basic
# organisation) and no [error] line.
#
# Before, with nginx's in-memory subrequest buffer, every answer larger
# than the buffer failed: 502 and a line naming the directive when nginx
# passed the answer on in pieces (here: 20 KB and 60 KB through 4k, 8k,
# 16k and no line; chunked answers got 502 and "failed0"); and a closed
# connection, no response, no line of the module, when nginx had read the
# whole answer before passing it on (here: 3 KB through 1k, the answer
# arriving with its headers; in production also larger answers from a
# fast OneID).  Only the 3 KB answers through 4k and more signed in.
#
# Also: an SSI include (another subrequest) still reaches the user.
#
# Then the cap: an answer of exactly 1 MiB signs in; one byte more (with
# and without Content-Length) gets 502, the page, exactly one [error] line
# of the module saying the answer is larger than 1 MB, and no session.
#
# Redis keys use this file's own prefix (oneid125:); the extra servers
# listen on TEST_NGINX_REDIS_PORT + 23 .. + 27.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config server_block env);

my $prefix = 'oneid125:';
my $redis = '127.0.0.1:' . env('REDIS_PORT', 16379);
my $spare = ($ENV{TEST_NGINX_REDIS_PORT} || 16379) + 23;

# buffer => port; 'none': no subrequest_output_buffer_size line
my %port = (
    'none'          => Test::Nginx::Server::port(),
    '4k'            => $spare,
    '8k'            => $spare + 1,
    '16k'           => $spare + 2,
    'none, chunked' => $spare + 3,
    '1k'            => $spare + 4,
);
my $CHUNKED = [ 'dmed-chunked', 'chunked-secret-0123456789' ];

# under valgrind, taking a 1 MB answer apart can outlast Redis's 1 s
# timeout for the command sent just before it
my $redis_timeout = $ENV{TEST_NGINX_USE_VALGRIND} ? ' timeout=10s' : '';

my $t = Test::OneID->new(
    http_config => http_config(redis => "$redis prefix=$prefix$redis_timeout")
        . server_block($port{'4k'}, buffer => '4k')
        . server_block($port{'8k'}, buffer => '8k')
        . server_block($port{'16k'}, buffer => '16k')
        . server_block($port{'none, chunked'}, buffer => '', client => $CHUNKED)
        . server_block($port{'1k'}, buffer => '1k'),
    config         => server_config(buffer => '',
        locations => 'location /ssi/ { ssi on; root html; }'),
    root_location  => 0,
    log_level      => 'info',
    master_process => 1,    # a crashing worker is then logged, and replaced
    user_files     => ">>> ssi/index.html\nbefore <!--# include virtual=\"/ssi/part.html\" --> after\n"
                    . ">>> ssi/part.html\n" . ('part ' x 2000) . "\n",
);

my @workers = $t->worker_pids;
ok @workers >= 1, "nginx worker running (@workers)";

$t->clear_keys($prefix);

# the basic organisation, last in legal_info (t/mock-oneid/fixtures.py)
my $BASIC_TIN = '300009999';

sub signs_in {
    my ($name, $buffer, $user) = @_;
    my $b = $t->browser($port{$buffer});
    my $before = $t->session_keys($prefix);
    $t->mark_error_log;

    my $res = $b->login('/ward', user => $user);
    is $res->{status}, 302, "$name: the login completes" or diag $res->summary;
    ok defined $b->cookie('oneid_session'), "$name: session cookie";
    is scalar $t->session_keys($prefix), $before + 1, "$name: a session in Redis";
    my $ward = $b->get('/ward');
    like $ward->{body}, qr/^X-OneID-Pin: 31505900000011$/m, "$name: the identity reaches the backend";
    like $ward->{body}, qr/^X-OneID-Legal-Tin: $BASIC_TIN$/m, "$name: with the basic organisation";
    my @errors = $t->errors_since_mark;
    is scalar @errors, 0, "$name: no [error] line" or diag @errors;
}

sub refused {
    my ($name, $buffer, $user) = @_;
    my $b = $t->browser($port{$buffer});
    my $before = join ' ', $t->session_keys($prefix);
    $t->mark_error_log;

    my $res = $b->login('/ward', user => $user, quiet => 1);
    is $res->{status}, 502, "$name: 502" or diag $res->summary;
    ok !defined $res->{location}, "$name: a page, not a redirect";
    like $res->{body}, qr{<html lang="uz">.*<title>OneID javob bermayapti</title>}s,
        "$name: the OneID-unavailable page";
    ok !defined $b->cookie('oneid_session'), "$name: no session cookie";
    is join(' ', $t->session_keys($prefix)), $before, "$name: no session in Redis";
    my @errors = $t->errors_since_mark;
    is scalar @errors, 1, "$name: exactly one [error] line" or diag @errors;
    like $errors[0] // '',
        qr/\[error\] .*oneid: OneID identify response is larger than 1 MB, client:/,
        "$name: it says the answer is larger than 1 MB";
}

for my $buffer ('1k', '4k', '8k', '16k', 'none', 'none, chunked') {
    for my $size ('3k', '20k', '60k') {
        signs_in("buffer $buffer, $size answer", $buffer, "identify-legal-$size");
    }
}

# the cap: 1 MiB is accepted, one byte more is not
signs_in('exactly 1 MiB', 'none', 'identify-legal-1m');
signs_in('exactly 1 MiB, chunked', 'none, chunked', 'identify-legal-1m');
refused('1 MiB + 1 byte', 'none', 'identify-legal-1m-plus');
refused('1 MiB + 1 byte, chunked', 'none, chunked', 'identify-legal-1m-plus');
refused('1 MiB + 1 byte, 16k buffer', '16k', 'identify-legal-1m-plus');

# --- other subrequests are none of the module's business: SSI's include
# still reaches the user, in its place
{
    my $res = $t->browser->get('/ssi/index.html');
    is $res->{status}, 200, 'SSI page: 200';
    is $res->{body}, 'before ' . ('part ' x 2000) . "\n after\n", 'SSI page: the included part in its place';
}

# --- nothing crashed, and the same worker served everything
{
    my $all = Test::Nginx::Server::read_error_log(0);
    unlike $all, qr/\[(alert|crit|emerg)\]/, 'no [alert], [crit] or [emerg] in the whole error.log';
    unlike $all, qr/signal 11|exited on signal/, 'no worker exited on a signal';
    is_deeply [ $t->worker_pids ], \@workers, 'the same worker served every case';
}

$t->clear_keys($prefix);

done_testing;
