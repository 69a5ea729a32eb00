package Test::Nginx::Socket;

# A small clean-room implementation of the Test::Nginx::Socket data-driven
# block format (=== TEST n / --- section), on top of Test::Base.
#
# Each block: write nginx.conf, (re)start nginx, send one HTTP request over a
# raw socket, then run one Test::More assertion per expectation.  nginx
# itself is managed by Test::Nginx::Server, which Test::OneID shares.
#
# Supported sections: main_config http_config config user_files init
# request raw_request more_headers timeout abort wait log_level must_die
# error_code response_headers response_headers_like response_body
# response_body_like response_body_unlike error_log no_error_log SKIP ONLY.
#
# Environment: TEST_NGINX_BINARY, TEST_NGINX_PORT (1984), TEST_NGINX_SERVROOT
# (t/servroot), TEST_NGINX_LOAD_MODULES, TEST_NGINX_NO_SHUFFLE,
# TEST_NGINX_SHUFFLE_SEED, TEST_NGINX_USE_VALGRIND, TEST_NGINX_VALGRIND_OPTS.
# $TEST_NGINX_FOO in config, request, header, body and log sections is
# replaced by the variable's value ($TEST_NGINX_SERVER_PORT, _SERVROOT and
# _HTML_DIR are built in); an unset one dies naming the variable.
#
# Differences from upstream worth knowing: nginx restarts for every block;
# one request per block (no arrays of requests); an arrayref in
# response_body_like/unlike means "every pattern must match"; string
# regexes are compiled with /s after dropping one trailing newline.

use strict;
use warnings;

use Test::Base -base;
use IO::Select;
use IO::Socket::INET;
use List::Util qw(shuffle);
use Time::HiRes qw(time sleep);
use Test::Nginx::Server ();

our @EXPORT = qw(
    run_tests no_shuffle no_root_location log_level workers worker_connections
    master_on master_off repeat_each env_to_nginx add_block_preprocessor
    no_long_string server_port server_root html_dir
    $ServerPort $ServerRoot
);

our $ServerPort = Test::Nginx::Server::port();
our $ServerRoot = Test::Nginx::Server::servroot();

# Building blocks for other harness code (Test::OneID uses
# Test::Nginx::Server directly, which does not load Test::Base).
{
    no warnings 'once';
    *write_config_and_start = \&Test::Nginx::Server::write_config_and_start;
    *stop_nginx             = \&Test::Nginx::Server::stop_nginx;
    *servroot               = \&Test::Nginx::Server::servroot;
    *port                   = \&Test::Nginx::Server::port;
}

my $Defaults = \%Test::Nginx::Server::Defaults;
my %Opt = (shuffle => !$ENV{TEST_NGINX_NO_SHUFFLE}, repeat => 1);
my @Preprocessors;
my $Seed;

# Upstream sections we do not implement.  Failing loudly beats silently
# skipping an expectation the author believes is checked.
my %UNSUPPORTED = map { $_ => 1 } qw(
    pipelined_requests grep_error_log grep_error_log_out response_body_filters
    curl http2 stap stap_out shutdown_error_log tcp_listen tcp_reply tcp_query
    udp_listen udp_reply udp_query skip_nginx skip_eval raw_response_headers_like
    raw_response_headers_unlike error_log_file response_body_json
);

# ---------------------------------------------------------------------------
# Settings for .t files

sub no_shuffle ()            { $Opt{shuffle} = 0 }
sub no_root_location ()      { $Defaults->{root_location} = 0 }
sub master_on ()             { $Defaults->{master_process} = 1 }
sub master_off ()            { $Defaults->{master_process} = 0 }
sub log_level (;$)           { $Defaults->{log_level} = shift if @_; $Defaults->{log_level} }
sub workers (;$)             { $Defaults->{workers} = shift if @_; $Defaults->{workers} }
sub worker_connections (;$)  { $Defaults->{worker_connections} = shift if @_; $Defaults->{worker_connections} }
sub repeat_each (;$)         { $Opt{repeat} = shift if @_; $Opt{repeat} }
sub env_to_nginx (@)         { push @{ $Defaults->{env} }, @_ }
sub add_block_preprocessor (&) { push @Preprocessors, shift }
sub no_long_string ()        { }    # upstream only shortens diagnostics
sub server_port ()           { Test::Nginx::Server::port() }
sub server_root ()           { Test::Nginx::Server::servroot() }
sub html_dir ()              { Test::Nginx::Server::html_dir() }

# ---------------------------------------------------------------------------
# Runner

sub run_tests () {
    Test::Nginx::Server::prepare_servroot();
    my @blocks = blocks();
    if ($Opt{shuffle} && @blocks > 1) {
        $Seed = $ENV{TEST_NGINX_SHUFFLE_SEED} // (time() ^ $$) % 100000;
        srand($Seed);
        @blocks = shuffle(@blocks);
    }
    for my $block (@blocks) {
        $_->($block) for @Preprocessors;
        run_block($block) for 1 .. $Opt{repeat};
    }
    Test::Nginx::Server::stop_nginx();
}

END {
    # Make a failure that depends on block order reproducible.
    if (defined $Seed && !Test::More->builder->is_passing) {
        Test::More::diag("blocks ran in shuffled order: rerun with"
            . " TEST_NGINX_SHUFFLE_SEED=$Seed to reproduce, or TEST_NGINX_NO_SHUFFLE=1");
    }
}

sub run_block {
    my ($block) = @_;
    my $ctx = { name => $block->name };

    # Everything that can die on a mistake in the block (unset
    # $TEST_NGINX_ variable, malformed request line) runs before nginx starts.
    my %spec   = (block_spec($block), label => 'of ' . $block->name);
    my @checks = block_checks($block);
    my $req    = has_request($block) ? build_request($block) : undef;

    my @bad = grep { $UNSUPPORTED{$_} } @{ $block->{_section_order}[0] || [] };
    $ctx->{fatal} = "section(s) not supported by t/lib/Test/Nginx/Socket.pm: --- "
        . join(', --- ', @bad) if @bad;

    # Stop first so the previous block's shutdown lines are not "ours".
    Test::Nginx::Server::stop_nginx();
    $ctx->{log_offset} = Test::Nginx::Server::error_log_size();
    $ctx->{stderr} = '';

    if (!$ctx->{fatal}) {
        my $info = eval { Test::Nginx::Server::write_config_and_start(\%spec) };
        if (defined $block->must_die) {
            $ctx->{started} = $info ? 1 : 0;
            $ctx->{stderr}  = $info ? '' : $@;
        } elsif (!$info) {
            $ctx->{fatal} = $@;
        } else {
            $ctx->{stderr} = $info->{stderr};
            run_request($block, $ctx, $req) if $req;
        }
    }
    run_checks($ctx, @checks);
}

sub run_request {
    my ($block, $ctx, $req) = @_;
    if (defined(my $init = section($block, 'init'))) {
        unless (eval "package main; $init\n;1") {
            $ctx->{fatal} = "--- init failed: $@";
            return;
        }
    }
    my $timeout = seconds($block, 'timeout') // 5;
    $ctx->{res} = send_request($req, $timeout, defined $block->abort);
    $ctx->{aborted} = $ctx->{res}{aborted};
    my $wait = seconds($block, 'wait');
    sleep $wait if $wait;
}

# One closure per assertion, so a block whose nginx did not start still emits
# the same number of (failing) tests as a passing one: `plan tests => N`
# stays right either way.
sub run_checks {
    my ($ctx, @checks) = @_;
    # Report failures at the run_tests() line of the .t file.
    local $Test::Builder::Level = $Test::Builder::Level + 4;
    my $reported = 0;
    for my $c (@checks) {
        my $msg = "$ctx->{name} - $c->{desc}";
        my $run = $c->{run};
        if (defined $ctx->{fatal}) {
            $run = sub { Test::More::fail($_[1]); Test::More::diag($ctx->{fatal}) unless $reported++ };
        } elsif ($c->{needs_response} && $ctx->{aborted} && !defined $ctx->{res}{status}) {
            $run = sub { Test::More->builder->skip("$_[1]: request aborted at timeout") };
        }
        $run->($ctx, $msg);
    }
}

# ---------------------------------------------------------------------------
# Block sections

# A section's value with $TEST_NGINX_* expanded (plain strings only: refs
# come from `eval` and are used as they are).
sub section {
    my ($block, $name) = @_;
    my $v = $block->$name;
    return $v if !defined $v || ref $v;
    return Test::Nginx::Server::expand_vars($v, $block->name . ": --- $name");
}

sub has_filter {
    my ($block, $name, $filter) = @_;
    my $filters = $block->{_section_map}[0]{$name}{filters} // '';
    return $filters =~ /(?:^|\s)\Q$filter\E(?:\s|$)/;
}

sub has_request {
    my ($block) = @_;
    return defined $block->request || defined $block->raw_request;
}

sub trim { my $s = shift // return undef; $s =~ s/^\s+|\s+$//g; $s }

# "timeout: 3", "0.5", "200ms"
sub seconds {
    my ($block, $name) = @_;
    my $v = trim(section($block, $name)) // return undef;
    $v =~ /^(\d+(?:\.\d*)?|\.\d+)(ms|s)?$/
        or die $block->name . ": --- $name: '$v' is not a number of seconds\n";
    return ($2 // '') eq 'ms' ? $1 / 1000 : $1;
}

sub block_spec {
    my ($block) = @_;
    my %spec = map { $_ => section($block, $_) } qw(main_config http_config config);
    $spec{user_files} = section($block, 'user_files') if defined $block->user_files;
    $spec{log_level}  = trim(section($block, 'log_level')) if defined $block->log_level;
    return %spec;
}

# Non-empty lines of a plain section (or the values of an `eval` arrayref).
sub lines_of {
    my ($v) = @_;
    return () unless defined $v;
    return @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v;
    return grep { /\S/ } map { s/\r$//r } split /\n/, $v;
}

# ---------------------------------------------------------------------------
# Expectations

sub block_checks {
    my ($block) = @_;
    my @checks;
    if (defined $block->must_die) {
        push @checks, {
            desc => 'nginx failed to start as expected',
            run  => sub {
                my ($ctx, $msg) = @_;
                Test::More::ok(!$ctx->{started}, $msg)
                    or Test::More::diag('nginx started although --- must_die was given');
            },
        };
    } elsif (has_request($block)) {
        push @checks, status_check($block), header_checks($block), body_checks($block);
    }
    push @checks, log_checks($block);
    push @checks, {
        desc => 'block has a --- request or --- raw_request section',
        run  => sub { Test::More::fail($_[1]) },
    } unless @checks;
    return @checks;
}

sub status_check {
    my ($block) = @_;
    my $want = trim(section($block, 'error_code')) // 200;
    return {
        desc => 'status code ok',
        needs_response => 1,
        run  => sub {
            my ($ctx, $msg) = @_;
            my $res = $ctx->{res};
            if (defined $res->{error}) {
                Test::More::fail($msg);
                Test::More::diag("request failed: $res->{error}");
                return;
            }
            Test::More::is($res->{status}, $want, $msg);
        },
    };
}

sub header_checks {
    my ($block) = @_;
    my @checks;
    for my $line (lines_of(section($block, 'response_headers'))) {
        if ($line =~ /^\s*!\s*([^\s:]+)\s*$/) {
            my $name = $1;
            push @checks, { desc => "header $name absent", needs_response => 1, run => sub {
                my ($ctx, $msg) = @_;
                my @got = header_values($ctx->{res}, $name);
                Test::More::ok(!@got, $msg) or Test::More::diag("got $name: $got[0]");
            } };
        } elsif ($line =~ /^\s*([^\s:]+)\s*:\s*(.*?)\s*$/) {
            my ($name, $want) = ($1, $2);
            push @checks, { desc => "header $name ok", needs_response => 1, run => sub {
                my ($ctx, $msg) = @_;
                my @got = header_values($ctx->{res}, $name);
                return Test::More::pass($msg) if grep { $_ eq $want } @got;
                Test::More::is($got[0], $want, $msg);
                Test::More::diag("all $name values: " . join(' | ', @got)) if @got > 1;
            } };
        } else {
            die $block->name . ": --- response_headers: cannot parse '$line'"
                . " (want 'Name: value' or '!Name')\n";
        }
    }
    for my $line (lines_of(section($block, 'response_headers_like'))) {
        $line =~ /^\s*([^\s:]+)\s*:\s*(.*?)\s*$/
            or die $block->name . ": --- response_headers_like: cannot parse '$line'"
                . " (want 'Name: regex')\n";
        my ($name, $re) = ($1, compile_re($block, 'response_headers_like', $2));
        push @checks, { desc => "header $name like $re", needs_response => 1, run => sub {
            my ($ctx, $msg) = @_;
            my @got = header_values($ctx->{res}, $name);
            return Test::More::pass($msg) if grep { $_ =~ $re } @got;
            Test::More::fail($msg);
            Test::More::diag(@got ? "got $name: " . join(' | ', @got) : "no $name header");
        } };
    }
    return @checks;
}

sub body_checks {
    my ($block) = @_;
    my @checks;
    my $want = section($block, 'response_body');
    push @checks, { desc => 'response_body ok', needs_response => 1, run => sub {
        my ($ctx, $msg) = @_;
        Test::More::is($ctx->{res}{body}, $want, $msg);
    } } if defined $want;

    for my $kind (qw(response_body_like response_body_unlike)) {
        my $v = section($block, $kind);
        next unless defined $v;
        my @res = map { compile_re($block, $kind, $_) } ref $v eq 'ARRAY' ? @$v : ($v);
        for my $i (0 .. $#res) {
            my $re = $res[$i];
            push @checks, {
                desc => $kind . (@res > 1 ? " [$i]" : '') . ' ok',
                needs_response => 1,
                run => sub {
                    my ($ctx, $msg) = @_;
                    my $body = $ctx->{res}{body} // '';
                    $kind eq 'response_body_like'
                        ? Test::More::like($body, $re, $msg)
                        : Test::More::unlike($body, $re, $msg);
                },
            };
        }
    }
    return @checks;
}

sub compile_re {
    my ($block, $section, $pat) = @_;
    return $pat if ref $pat eq 'Regexp';
    $pat =~ s/\n\z//;    # a multi-line section ends in "\n"; a regex should not
    my $re = eval { qr/$pat/s };
    die $block->name . ": --- $section: bad regex /$pat/: $@" unless $re;
    return $re;
}

sub log_checks {
    my ($block) = @_;
    my @checks;
    for my $kind (qw(error_log no_error_log)) {
        my $v = section($block, $kind);
        # `--- error_log eval` giving one string means one pattern.
        my @pats = has_filter($block, $kind, 'eval') && defined $v && !ref $v
            ? ($v) : lines_of($v);
        for my $pat (@pats) {
            my $show = ref $pat ? "$pat" : "\"$pat\"";
            push @checks, {
                desc => "$kind: $show",
                run  => $kind eq 'error_log'
                    ? sub { check_log_has(@_, $pat) }
                    : sub { check_log_lacks(@_, $pat) },
            };
        }
    }
    return @checks;
}

sub log_text {
    my ($ctx) = @_;
    return $ctx->{stderr} . Test::Nginx::Server::read_error_log($ctx->{log_offset});
}

sub log_matches {
    my ($text, $pat) = @_;
    return grep { ref $pat ? $_ =~ $pat : index($_, $pat) >= 0 } split /^/, $text;
}

sub check_log_has {
    my ($ctx, $msg, $pat) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    # Lines logged after the response went out (log phase, cleanup handlers)
    # may land a moment later: poll briefly instead of sleeping up front.
    my $deadline = time + 1;
    while (1) {
        return Test::More::pass($msg) if log_matches(log_text($ctx), $pat);
        last if time > $deadline;
        sleep 0.02;
    }
    Test::More::fail($msg);
    Test::More::diag("not found in the error.log lines of this test ("
        . Test::Nginx::Server::error_log_file() . ")");
}

sub check_log_lacks {
    my ($ctx, $msg, $pat) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @hits = log_matches(log_text($ctx), $pat);
    Test::More::ok(!@hits, $msg)
        or Test::More::diag("unexpected error.log line(s):\n", @hits[0 .. ($#hits < 4 ? $#hits : 4)]);
}

# ---------------------------------------------------------------------------
# HTTP client

# Returns { pieces => [bytes...], method, keepalive }.
sub build_request {
    my ($block) = @_;
    my $name = $block->name;
    if (defined $block->raw_request) {
        my $raw = section($block, 'raw_request');
        my @pieces = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        my ($method) = ($pieces[0] // '') =~ /^(\w+)/;
        return { pieces => \@pieces, method => $method // '' };
    }

    my $req = section($block, 'request');
    die "$name: --- request gave a reference: one request per block is supported\n"
        if ref $req;
    # A plain section ends in "\n" that nobody means as part of the body.
    $req =~ s/\n\z// unless has_filter($block, 'request', 'eval');
    my ($line, $body) = split /\n/, $req, 2;
    $body //= '';
    my ($method, $uri, $proto) = ($line // '') =~ m{^\s*(\S+)\s+(\S+)(?:\s+(HTTP/\d\.\d))?\s*$}
        or die "$name: --- request: first line must be 'METHOD /uri [HTTP/1.x]',"
            . " got '" . ($line // '') . "'\n";
    $proto //= 'HTTP/1.1';

    my @headers;
    for my $h (lines_of(section($block, 'more_headers'))) {
        $h =~ /^\s*([^\s:]+)\s*:\s*(.*?)\s*$/
            or die "$name: --- more_headers: cannot parse '$h' (want 'Name: value')\n";
        push @headers, [$1, $2];
    }
    my %has = map { lc $_->[0] => $_->[1] } @headers;
    unshift @headers, ['Host', 'localhost'] unless exists $has{host};
    push @headers, ['Connection', 'close'] unless exists $has{connection};
    utf8::encode($body) if utf8::is_utf8($body);
    push @headers, ['Content-Length', length $body]
        if !exists $has{'content-length'} && !exists $has{'transfer-encoding'}
        && (length $body || $method =~ /^(?:POST|PUT|PATCH)$/);

    my $head = "$method $uri $proto\r\n"
        . join('', map { "$_->[0]: $_->[1]\r\n" } @headers) . "\r\n";
    return {
        pieces    => [$head . $body],
        method    => $method,
        # nginx closes after the log phase when asked to; only a block that
        # keeps the connection open needs us to detect the end of the response.
        keepalive => exists $has{connection} && $has{connection} !~ /close/i,
    };
}

sub send_request {
    my ($req, $timeout, $abort) = @_;
    my $port = Test::Nginx::Server::port();
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => $timeout)
        or return { error => "cannot connect to 127.0.0.1:$port: $@" };
    $sock->blocking(0);
    binmode $sock;
    local $SIG{PIPE} = 'IGNORE';    # nginx may close before reading the body
    my $deadline = time + $timeout;
    my $sel = IO::Select->new($sock);

    WRITE: for my $piece (@{ $req->{pieces} }) {
        my $buf = $piece;
        utf8::encode($buf) if utf8::is_utf8($buf);
        while (length $buf) {
            last WRITE unless $sel->can_write($deadline - time);
            my $n = syswrite($sock, $buf);
            next if !defined $n && $!{EAGAIN};
            last WRITE unless $n;
            substr($buf, 0, $n, '');
        }
    }

    my ($raw, $timed_out, $read_error) = ('', 0);
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) { $timed_out = 1; last }
        my $n = sysread($sock, $raw, 65536, length $raw);
        next if !defined $n && $!{EAGAIN};
        if (!defined $n) { $read_error = "$!"; last }
        last if $n == 0;
        last if $req->{keepalive} && response_complete($raw, $req->{method});
    }
    close $sock;

    my $res = parse_response($raw, $req->{method});
    if ($timed_out && $abort) {
        $res->{aborted} = 1;
        delete $res->{error};
    } elsif ($timed_out) {
        $res->{error} = "timed out after ${timeout}s waiting for the response"
            . " (received " . length($raw) . " bytes; use --- timeout or --- abort)";
    } elsif (defined $read_error) {
        $res->{error} = "read error: $read_error";
    }
    return $res;
}

# { status, headers => [[name, value], ...], body, raw, error }
sub parse_response {
    my ($raw, $method) = @_;
    my $res = { raw => $raw, headers => [], body => '' };
    # Skip interim responses (100 Continue).
    1 while $raw =~ s{\AHTTP/\d\.\d\s+1\d\d\b.*?\r?\n\r?\n}{}s;
    if (!length $raw) {
        $res->{error} = 'connection closed without a response';
        return $res;
    }
    my ($head, $body) = $raw =~ /\A(.*?)\r?\n\r?\n(.*)\z/s
        or return { %$res, error => 'incomplete response header: ' . excerpt($raw) };
    my ($status_line, @lines) = split /\r?\n/, $head;
    my ($status) = $status_line =~ m{^HTTP/\d\.\d\s+(\d{3})\b}
        or return { %$res, error => "bad status line: $status_line" };
    $res->{status} = $status;
    for my $line (@lines) {
        if ($line =~ /^[ \t]+(.*)$/ && @{ $res->{headers} }) {
            $res->{headers}[-1][1] .= " $1";    # obsolete line folding
        } elsif ($line =~ /^([^:]+):\s*(.*?)\s*$/) {
            push @{ $res->{headers} }, [$1, $2];
        }
    }
    if (grep { /chunked/i } header_values($res, 'Transfer-Encoding')) {
        ($body, my $err) = dechunk($body);
        $res->{error} = $err if $err;
    }
    $res->{body} = $body;
    return $res;
}

sub dechunk {
    my ($data) = @_;
    my $out = '';
    while ($data =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r?\n//) {
        my $len = hex $1;
        return ($out) if $len == 0;
        return ($out, 'truncated chunked body') if length($data) < $len;
        $out .= substr($data, 0, $len, '');
        $data =~ s/\A\r?\n// or return ($out, 'missing CRLF after a chunk');
    }
    return ($out, 'chunked body without the terminating 0-size chunk');
}

sub response_complete {
    my ($raw, $method) = @_;
    $raw =~ /\A(.*?)\r?\n\r?\n/s or return 0;
    my ($head, $body) = ($1, substr($raw, $+[0]));
    my ($status) = $head =~ m{^HTTP/\d\.\d\s+(\d+)} or return 0;
    return 0 if $status =~ /^1/;
    return 1 if $method eq 'HEAD' || $status == 204 || $status == 304;
    return $body =~ /(?:^|\n)0\r?\n(?:[^\r\n]+\r?\n)*\r?\n\z/
        if $head =~ /^transfer-encoding:.*chunked/mi;
    return length($body) >= $1 if $head =~ /^content-length:\s*(\d+)/mi;
    return 0;
}

sub header_values {
    my ($res, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $res->{headers} || [] };
}

sub excerpt {
    my ($s) = @_;
    return length $s > 200 ? substr($s, 0, 200) . '...' : $s;
}

1;
