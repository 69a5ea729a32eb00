package Test::Nginx::Socket;

# A small clean-room implementation of the Test::Nginx::Socket data-driven
# block format (=== TEST n / --- section), on top of Test::Base.
#
# The block-format .t files must pass under this harness AND under upstream
# Test::Nginx (openresty/test-nginx, `make test-upstream`), so every section
# means here what it means there; the semantics were taken from reading
# upstream's behaviour, not its code.  Where upstream would silently check
# less than a block says (response_body together with response_body_like,
# an array of patterns for a single request, ...) this harness fails the
# block with an explanation instead: such a block passes upstream while
# testing nothing.  Sections:
#
#   config (required, may be empty) http_config main_config   $TEST_NGINX_[A-Z0-9_]+ replaced from the
#       environment (an unset one fails the block); TEST_NGINX_SERVER_PORT
#       and TEST_NGINX_SERVER_ROOT are set by run_tests, and
#       $TEST_NGINX_RAND_PORT_<n> is a free port, the same within a block.
#       Nothing else is expanded, except user_files bodies and a plain
#       response_body; request, more_headers, init and the patterns are not.
#   user_files      ">>> name [touch -t date]" then the content; or an eval
#       arrayref of [name, content, date].  html/ is emptied for every block
#       and holds upstream's default index.html.
#   request         "METHOD [/uri [HTTP/x.y]]" (defaults / and HTTP/1.1) on
#       the first line after leading blank and "#" lines; the rest is the
#       body, sent whitespace-trimmed with a Content-Length unless
#       more_headers has Content-Length or "Transfer-Encoding: chunked".
#       Host: localhost and Connection: close are added unless more_headers
#       has them.  One request per block (an arrayref is refused).
#   raw_request     sent as is (an eval arrayref: pieces written in order).
#   more_headers    "Name: value" lines, "#" lines skipped.
#   init            Perl code run once nginx is up (package main).
#   timeout         seconds (N, Ns, Nms; default TEST_NGINX_TIMEOUT or 3):
#       running out is a failure, and the checks still see what came in.
#   abort           running out of time is not a failure.
#   wait            seconds to sleep after the response, before the log checks.
#   log_level must_die (a number: the exit code) SKIP ONLY LAST ignore_response
#   error_code      compared as a string (default 200); error_code_like: regex.
#   response_headers        "Name: value" compared with all the values of
#       Name joined by ", " ("" when absent); "!Name" or a line without a
#       colon: Name must not be in the response head.  $ServerPort is
#       replaced.  Cannot be combined with response_headers_like.
#   response_headers_like   "Name: regex", anchored: value =~ /^regex$/.
#   response_body   exact (a plain section ends in "\n"); an eval Regexp
#       is matched instead.
#   response_body_like / response_body_unlike   one regex, compiled with
#       /s and nothing dropped: a plain section ends in "\n", which the body
#       must then contain.  Only one of response_body, _like, _unlike.
#   error_log / no_error_log   each non-empty line a substring; an eval may
#       give a string (split into lines), a qr// or an arrayref of both.
#       Lines of the whole block so far for the first repetition, then of
#       that repetition only.
#
# Settings: log_level workers worker_connections (64) master_on master_off
# repeat_each (one nginx start, the request sent N times) no_shuffle
# no_root_location env_to_nginx add_block_preprocessor timeout.
#
# Deliberately stricter than upstream: "!Name" matches the header name
# case-insensitively (upstream's check is case-sensitive, so "!location"
# would pass next to "Location:"); a section upstream knows but this
# harness does not implement fails the block; blocks never share nginx.
#
# Environment: TEST_NGINX_BINARY, TEST_NGINX_PORT (1984), TEST_NGINX_SERVROOT
# (t/servroot), TEST_NGINX_LOAD_MODULES, TEST_NGINX_NO_SHUFFLE,
# TEST_NGINX_SHUFFLE_SEED, TEST_NGINX_TIMEOUT, TEST_NGINX_LOG_LEVEL,
# TEST_NGINX_USE_VALGRIND, TEST_NGINX_VALGRIND_OPTS.

use strict;
use warnings;

use Test::Base -base;
use File::Path qw(make_path remove_tree);
use IO::Select;
use IO::Socket::INET;
use List::Util qw(shuffle);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use Test::Nginx::Server ();

our @EXPORT = qw(
    run_tests no_shuffle no_root_location log_level workers worker_connections
    master_on master_off repeat_each env_to_nginx add_block_preprocessor
    no_long_string server_port server_root html_dir timeout
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
my %Opt = (
    shuffle            => !$ENV{TEST_NGINX_NO_SHUFFLE},
    repeat             => 1,
    timeout            => $ENV{TEST_NGINX_TIMEOUT} || 3,
    log_level          => $ENV{TEST_NGINX_LOG_LEVEL} || 'debug',
    worker_connections => 64,
);
my @Preprocessors;
my $Seed;

# Sections this harness implements.
my %SUPPORTED = map { $_ => 1 } qw(
    config http_config main_config user_files request raw_request
    more_headers init timeout abort wait log_level must_die ignore_response
    no_check_leak error_code error_code_like response_headers
    response_headers_like response_body response_body_like
    response_body_unlike error_log no_error_log SKIP ONLY LAST
);

# Sections upstream gives a meaning that this harness does not implement:
# failing loudly beats skipping an expectation the author believes is
# checked.  Any other section is free for add_block_preprocessor().
my %UNSUPPORTED = map { $_ => 1 } qw(
    access_log no_access_log charset curl curl_error curl_options
    curl_protocol error_log_file grep_error_log grep_error_log_out http09
    http2 http3 no_http2 no_http3 no_mockeagain no_shutdown_error_log
    pipelined_requests post_main_config post_setup_server_root
    quic_max_idle_timeout raw_request_middle_delay raw_response_headers_like
    raw_response_headers_unlike reload_fails request_eval response_body_eval
    response_body_filters response_body_json_sort server_addr_for_client
    server_name shutdown shutdown_error_log skip_eval skip_nginx skip_nginx2
    skip_openssl skip_slave stap stap_out stap_out_like stap_out_unlike
    suppress_stderr tcp_listen tcp_no_close tcp_query tcp_query_auto_timeout
    tcp_query_len tcp_reply tcp_reply_delay tcp_shutdown tcp_shutdown_delay
    todo todo_nginx udp_listen udp_query udp_reply udp_reply_delay
    write_resp_body_file
);

# Upstream's html/index.html, so that "GET /" answers the same.
my $INDEX_HTML = '<html><head><title>It works!</title></head>'
    . '<body>It works!</body></html>';

# ---------------------------------------------------------------------------
# Settings for .t files

sub no_shuffle ()            { $Opt{shuffle} = 0 }
sub no_root_location ()      { $Defaults->{root_location} = 0 }
sub master_on ()             { $Defaults->{master_process} = 1 }
sub master_off ()            { $Defaults->{master_process} = 0 }
sub log_level (;$)           { $Opt{log_level} = shift if @_; $Opt{log_level} }
sub workers (;$)             { $Defaults->{workers} = shift if @_; $Defaults->{workers} }
sub worker_connections (;$)  { $Opt{worker_connections} = shift if @_; $Opt{worker_connections} }
sub repeat_each (;$)         { $Opt{repeat} = shift if @_; $Opt{repeat} }
sub timeout (;$)             { $Opt{timeout} = shift if @_; $Opt{timeout} }
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
    # As upstream does, for config sections and for code in the .t file.
    $ENV{TEST_NGINX_SERVER_PORT} //= Test::Nginx::Server::port();
    $ENV{TEST_NGINX_SERVER_ROOT} = Test::Nginx::Server::servroot();
    my @blocks = blocks();
    if ($Opt{shuffle} && @blocks > 1) {
        $Seed = $ENV{TEST_NGINX_SHUFFLE_SEED} // (time() ^ $$) % 100000;
        srand($Seed);
        @blocks = shuffle(@blocks);
    }
    for my $block (@blocks) {
        $_->($block) for @Preprocessors;
        run_block($block);
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
    my $name = $block->name;
    # Report failures at the run_tests() line of the .t file.
    local $Test::Builder::Level = $Test::Builder::Level + 2;

    # Everything that can die on a mistake in the block (unset
    # $TEST_NGINX_ variable, malformed request line, a section upstream
    # would ignore) runs before nginx starts, and fails the block once.
    my ($spec, @checks, $req);
    my $ok = eval {
        check_sections($block);
        $spec   = block_spec($block);
        @checks = block_checks($block);
        $req    = build_request($block) if has_request($block);
        1;
    };
    if (!$ok) {
        Test::More::fail("$name - block is usable");
        Test::More::diag($@);
        return;
    }

    Test::Nginx::Server::stop_nginx();
    reset_html_dir();

    if (defined $block->must_die) {
        # Upstream tries to start nginx once per repetition.
        for (1 .. $Opt{repeat}) {
            Test::Nginx::Server::stop_nginx();
            my $ctx = { name => $name, log_offset => Test::Nginx::Server::error_log_size() };
            my $info = eval { Test::Nginx::Server::write_config_and_start($spec) };
            $ctx->{started} = $info ? 1 : 0;
            $ctx->{stderr}  = $info ? '' : $@;
            ($ctx->{exit}) = $ctx->{stderr} =~ /nginx exited with status (\d+)/;
            run_checks($ctx, @checks);
        }
        return;
    }

    my $offset = Test::Nginx::Server::error_log_size();
    my $info = eval { Test::Nginx::Server::write_config_and_start($spec) };
    my $fatal = $info ? undef : $@;
    my $stderr = $info ? $info->{stderr} : '';
    if (!defined $fatal && defined(my $init = $block->init)) {
        $fatal = "--- init failed: $@" unless eval "package main; $init\n;1";
    }

    for my $i (1 .. $Opt{repeat}) {
        my $ctx = { name => $name, fatal => $fatal, log_offset => $offset,
                    stderr => $i == 1 ? $stderr : '' };
        run_request($block, $ctx, $req) if !defined $fatal && $req;
        run_checks($ctx, @checks);
        # The next repetition's log checks see only its own lines.
        $offset = Test::Nginx::Server::error_log_size();
    }
}

sub reset_html_dir {
    my $html = Test::Nginx::Server::html_dir();
    remove_tree($html);
    make_path($html);
    open my $fh, '>', "$html/index.html" or die "$html/index.html: $!\n";
    print {$fh} $INDEX_HTML;
    close $fh;
}

sub run_request {
    my ($block, $ctx, $req) = @_;
    my $timeout = seconds($block, 'timeout') // $Opt{timeout};
    $ctx->{res} = send_request($req, $timeout, defined $block->abort);
    my $wait = $block->wait;
    if (defined $wait) {
        $wait =~ s/^\s+|\s+$//g;
        sleep $wait if $wait;
    }
}

# One closure per assertion, so a block whose nginx did not start still emits
# the same number of (failing) tests as a passing one: `plan tests => N`
# stays right either way.
sub run_checks {
    my ($ctx, @checks) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 2;
    my $reported = 0;
    for my $c (@checks) {
        my $msg = "$ctx->{name} - $c->{desc}";
        my $run = $c->{run};
        if (defined $ctx->{fatal}) {
            $run = sub { Test::More::fail($_[1]); Test::More::diag($ctx->{fatal}) unless $reported++ };
        }
        $run->($ctx, $msg);
    }
}

# ---------------------------------------------------------------------------
# Block sections

sub check_sections {
    my ($block) = @_;
    my @names = @{ $block->{_section_order}[0] || [] };
    my @bad = grep { $UNSUPPORTED{$_} } @names;
    die "section(s) not supported by t/lib/Test/Nginx/Socket.pm: --- "
        . join(', --- ', @bad) . "\n" if @bad;

    # Upstream checks only the first of these that is present.
    for my $set ([qw(response_headers response_headers_like)],
                 [qw(response_body response_body_like response_body_unlike)],
                 [qw(error_code error_code_like)])
    {
        my @given = grep { defined $block->$_ } @$set;
        die "--- " . join(' and --- ', @given) . " in one block: upstream"
            . " Test::Nginx checks only --- $given[0] and ignores the rest\n"
            if @given > 1;
    }

    # Upstream keeps the previous block's nginx for a block without config
    # (which block that is depends on the shuffle).
    die "no --- config: upstream Test::Nginx would reuse the nginx of"
        . " whichever block ran before; give one, even an empty one\n"
        unless defined $block->config;

    die "--- request gave a reference: one request per block is supported\n"
        if ref $block->request;
}

# $TEST_NGINX_FOO as upstream expands it: upper case, digits and "_" only;
# ${TEST_NGINX_FOO} is nginx's own variable syntax and stays.
sub expand_env {
    my ($block, $text, $where) = @_;
    return $text if !defined $text || ref $text;
    $text =~ s/\$(TEST_NGINX_[_A-Z0-9]+)/env_value($block, $1, $where)/ge;
    return $text;
}

sub env_value {
    my ($block, $var, $where) = @_;
    if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
        return $block->{_rand_ports}{$var} //= free_port($block);
    }
    return $ENV{$var} if defined $ENV{$var};
    die "--- $where uses \$$var, but the environment variable $var is not set\n";
}

# A port nothing listens on now, different from the others of the block.
sub free_port {
    my ($block) = @_;
    my %used = map { $_ => 1 } Test::Nginx::Server::port(),
        values %{ $block->{_rand_ports} || {} };
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
            LocalPort => 0, ReuseAddr => 1) or next;
        my $port = $s->sockport;
        return $port unless $used{$port};
    }
    die "no free port for \$TEST_NGINX_RAND_PORT_*\n";
}

sub has_request {
    my ($block) = @_;
    return defined $block->request || defined $block->raw_request;
}

# "timeout: 3", "0.5", "3s", "200ms"
sub seconds {
    my ($block, $name) = @_;
    my $v = $block->$name // return undef;
    $v =~ s/^\s+|\s+$//g;
    $v =~ /^(\d+(?:\.\d*)?|\.\d+)(ms|s)?$/
        or die $block->name . ": --- $name: '$v' is not a number of seconds\n";
    return ($2 // '') eq 'ms' ? $1 / 1000 : $1;
}

sub block_spec {
    my ($block) = @_;
    my %spec = (
        label              => 'of ' . $block->name,
        expanded           => 1,
        worker_connections => $Opt{worker_connections},
    );
    $spec{$_} = expand_env($block, scalar $block->$_, $_) for qw(main_config http_config config);
    my $level = $block->log_level // $Opt{log_level};
    $level =~ s/^\s+|\s+$//g;
    $spec{log_level} = $level;
    if (defined(my $files = $block->user_files)) {
        $spec{user_files} = [ map {
            [ $_->[0], expand_env($block, $_->[1] // '', 'user_files'), $_->[2] ]
        } @{ Test::Nginx::Server::parse_user_files($files) } ];
    }
    if (defined(my $wait = $block->wait)) {
        # upstream sleeps this many seconds: "200ms" would be 200 s there
        die "--- wait: '$wait' is not a plain number of seconds\n"
            unless $wait =~ /^\s*(?:\d+(?:\.\d*)?|\.\d+)\s*$/;
    }
    return \%spec;
}

# Upstream: an arrayref holds one value per request; with one request per
# block only its first element would be looked at.
sub single {
    my ($block, $name, $v) = @_;
    return $v unless ref $v eq 'ARRAY';
    die "--- $name gave " . scalar(@$v) . " values: upstream Test::Nginx reads"
        . " an array as one value per request and checks only the first one"
        . " here (combine the patterns into one)\n" if @$v != 1;
    return $v->[0];
}

sub port_vars {
    my ($s) = @_;
    my $port = Test::Nginx::Server::port();
    $s =~ s/\$ServerPort\b/$port/g;
    $s =~ s/\$ServerPortForClient\b/$port/g;
    return $s;
}

# ---------------------------------------------------------------------------
# Expectations

sub block_checks {
    my ($block) = @_;
    my @checks;
    if (defined $block->must_die) {
        push @checks, must_die_check($block);
    } elsif (has_request($block)) {
        push @checks, defined $block->ignore_response
            ? in_time_check()
            : (status_check($block), header_checks($block), body_checks($block));
    } else {
        die "block has neither --- request nor --- raw_request\n";
    }
    push @checks, log_checks($block);
    return @checks;
}

sub must_die_check {
    my ($block) = @_;
    my $want = $block->must_die;
    $want =~ s/^\s+|\s+$//g;
    if (looks_like_number($want)) {
        return { desc => "nginx exits with status $want", run => sub {
            my ($ctx, $msg) = @_;
            Test::More::is($ctx->{started} ? 0 : $ctx->{exit} // '', $want, $msg);
        } };
    }
    return { desc => 'nginx failed to start as expected', run => sub {
        my ($ctx, $msg) = @_;
        Test::More::ok(!$ctx->{started}, $msg)
            or Test::More::diag('nginx started although --- must_die was given');
    } };
}

sub in_time_check {
    return { desc => 'response in time', run => sub {
        my ($ctx, $msg) = @_;
        Test::More::ok(!defined $ctx->{res}{timed_out}, $msg)
            or Test::More::diag($ctx->{res}{timed_out});
    } };
}

sub status_check {
    my ($block) = @_;
    my $like = single($block, 'error_code_like', scalar $block->error_code_like);
    my $want = single($block, 'error_code', scalar $block->error_code) // 200;
    my $re;
    if (defined $like) {
        $re = eval { qr/$like/sm }
            or die "--- error_code_like: bad regex /$like/: $@";
    }
    return {
        desc => 'status code ok',
        run  => sub {
            my ($ctx, $msg) = @_;
            my $res = $ctx->{res};
            my $got = $res->{status} // '';
            if (defined $res->{timed_out}) {
                Test::More::fail($msg);
                return Test::More::diag($res->{timed_out});
            }
            my $ok = $re ? Test::More::like($got, $re, $msg)
                         : Test::More::is($got, $want, $msg);
            Test::More::diag("request failed: $res->{error}")
                if !$ok && defined $res->{error};
        },
    };
}

# "Name: value" lines: trimmed, split at the first colon; "!Name" (or a line
# without a colon) means "absent".  Like upstream, a name given twice keeps
# its last value.
sub header_spec {
    my ($text) = @_;
    my (%val, @order);
    for my $line (split /\n/, $text) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $v) = $line =~ s/^!\s*// ? ($line, undef) : split /\s*:\s*/, $line, 2;
        push @order, $key unless exists $val{$key};
        $val{$key} = $v;
    }
    return map { [$_, $val{$_}] } @order;
}

sub header_checks {
    my ($block) = @_;
    my @checks;
    my $plain = single($block, 'response_headers', scalar $block->response_headers);
    for my $h (header_spec($plain // '')) {
        my ($name, $want) = @$h;
        if (!defined $want) {
            push @checks, { desc => "header $name absent", run => sub {
                my ($ctx, $msg) = @_;
                my $head = $ctx->{res}{head} // '';
                Test::More::ok($head !~ /^\s*\Q$name\E\s*:/mi, $msg)
                    or Test::More::diag("got $name: " . header_value($ctx->{res}, $name));
            } };
            next;
        }
        $want = port_vars($want);
        push @checks, { desc => "header $name ok", run => sub {
            my ($ctx, $msg) = @_;
            Test::More::is(header_value($ctx->{res}, $name) // '', $want, $msg);
        } };
    }

    my $like = single($block, 'response_headers_like', scalar $block->response_headers_like);
    for my $h (header_spec($like // '')) {
        my ($name, $pat) = @$h;
        $pat //= '';
        my $re = eval { qr/^$pat$/ }
            or die "--- response_headers_like: bad regex /$pat/: $@";
        push @checks, { desc => "header $name like $re", run => sub {
            my ($ctx, $msg) = @_;
            Test::More::like(header_value($ctx->{res}, $name) // '', $re, $msg);
        } };
    }
    return @checks;
}

sub body_checks {
    my ($block) = @_;
    if (defined(my $want = single($block, 'response_body', scalar $block->response_body))) {
        $want = expand_env($block, port_vars($want), 'response_body') unless ref $want;
        return { desc => 'response_body ok', run => sub {
            my ($ctx, $msg) = @_;
            my $body = $ctx->{res}{body};
            ref $want ? Test::More::like($body, $want, $msg)
                      : Test::More::is($body, $want, $msg);
        } };
    }
    for my $kind (qw(response_body_like response_body_unlike)) {
        my $pat = single($block, $kind, scalar $block->$kind) // next;
        # A qr// of an `eval` works as its string form.
        $pat = port_vars("$pat");
        my $re = eval { qr/$pat/s } or die "--- $kind: bad regex /$pat/: $@";
        return { desc => "$kind ok", run => sub {
            my ($ctx, $msg) = @_;
            $kind eq 'response_body_like'
                ? Test::More::like($ctx->{res}{body}, $re, $msg)
                : Test::More::unlike($ctx->{res}{body}, $re, $msg);
        } };
    }
    return ();
}

# A plain section or an `eval` string: one substring per non-empty line;
# an `eval` qr// or arrayref: each element a regex or a substring.
sub log_patterns {
    my ($v) = @_;
    return () unless defined $v;
    return ($v) if ref $v eq 'Regexp';
    return grep { defined } @$v if ref $v eq 'ARRAY';
    chomp $v;
    return split /\n+/, $v;
}

sub log_checks {
    my ($block) = @_;
    my @checks;
    for my $kind (qw(error_log no_error_log)) {
        for my $pat (log_patterns(scalar $block->$kind)) {
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
    return ($ctx->{stderr} // '') . Test::Nginx::Server::read_error_log($ctx->{log_offset});
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
    sleep 0.05;    # as upstream: let log-phase lines land first
    my @hits = log_matches(log_text($ctx), $pat);
    Test::More::ok(!@hits, $msg)
        or Test::More::diag("unexpected error.log line(s):\n", @hits[0 .. ($#hits < 4 ? $#hits : 4)]);
}

# ---------------------------------------------------------------------------
# HTTP client

# Returns { pieces => [bytes...], head => is a HEAD request }.
sub build_request {
    my ($block) = @_;
    my @pieces;
    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        @pieces = ref $raw eq 'ARRAY' ? @$raw : ($raw);
    } else {
        @pieces = (request_text($block));
    }
    for (@pieces) { utf8::encode($_) if utf8::is_utf8($_) }
    return { pieces => \@pieces, head => join('', @pieces) =~ /^\s*HEAD\s+/ ? 1 : 0 };
}

sub request_text {
    my ($block) = @_;
    my $req = $block->request;
    1 while $req =~ s/^\s*#[^\n]+\s+|^\s+//s;    # leading comments, blanks
    my ($first, $body) = $req =~ /\A([^\n]*\n?)(.*)\z/s;
    my ($method, $uri, $proto) = $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or die "--- request: first line must be 'METHOD [/uri [HTTP/x.y]]', got '$first'\n";
    $uri   //= '/';
    $proto //= 'HTTP/1.1';

    my $more = single($block, 'more_headers', scalar $block->more_headers) // '';
    my ($headers, $chunked) = ('', 0);
    for my $line (split /\n+/, $more) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $headers .= "$key: $val\r\n";
    }
    my $len = '';
    if (!$chunked && length $body && $headers !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//g;
        utf8::encode($body) if utf8::is_utf8($body);
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }
    my $add = '';
    $add .= "Host: localhost\r\n" if $headers !~ /(?:^|\n)Host:/i;
    $add .= "Connection: close\r\n" if $headers !~ /(?:^|\n)Connection/i;
    return "$method $uri $proto\r\n$add$headers$len\r\n$body";
}

# Write the pieces, read until nginx closes the connection.
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
    }
    close $sock;

    my $res = parse_response($raw, $req->{head});
    if ($timed_out && !$abort) {
        # A failure (of the status check) even if what arrived looks right;
        # the other checks still look at it, as upstream's do.
        $res->{timed_out} = "client socket timed out after ${timeout}s"
            . " (received " . length($raw) . " bytes; use --- timeout or --- abort)";
    } elsif (defined $read_error) {
        $res->{error} //= "read error: $read_error";
    }
    return $res;
}

# { status, head, headers => [[name, value], ...], body, raw, error }
sub parse_response {
    my ($raw, $head_req) = @_;
    my $res = { raw => $raw, headers => [], body => '', head => '' };
    if (!length $raw) {
        $res->{error} = 'connection closed without a response';
        return $res;
    }
    $res->{head} = $1 if $raw =~ /\A(.*?\r\n)\r\n/s;
    my ($status_line, $rest) = $raw =~ /\A([^\n]*)\n?(.*)\z/s;
    $status_line =~ s/\r\z//;
    my ($status) = $status_line =~ m{^\S+\s+(\d+)(?:\s|$)};
    $res->{status} = $status;
    $res->{error} = "bad status line: $status_line" unless defined $status;
    while (1) {
        if ($rest =~ s/^([^\s:]+)[ \t]*: ?(.*)\n?//) {
            my ($name, $value) = ($1, $2);
            push @{ $res->{headers} }, [$name, $value =~ s/\r\z//r];
        } elsif (@{ $res->{headers} } && $rest =~ s/^([ \t].*)\n?//) {
            my $more = $1;
            $res->{headers}[-1][1] .= "\n" . ($more =~ s/\r\z//r);
        } else {
            $rest =~ s/^\r?\n//;
            last;
        }
    }
    my $body = $rest;
    return { %$res, body => $body } if defined $status && ($status == 304 || $status == 101);
    my $te  = header_value($res, 'Transfer-Encoding');
    my $len = header_value($res, 'Content-Length');
    if (defined $te && $te eq 'chunked') {
        ($body, my $err) = dechunk($body);
        $res->{error} = $err if $err;
    } elsif (defined $len && $len =~ /^\d+$/ && length($body) > $len) {
        $body = substr($body, 0, $len);
    }
    $res->{body} = $body;
    return $res;
}

sub dechunk {
    my ($data) = @_;
    my $out = '';
    while ($data =~ s/\A[ \t]*([0-9a-fA-F]+)[^\r\n]*\r\n//) {
        my $len = hex $1;
        return ($out) if $len == 0;
        return ($out, 'truncated chunked body') if length($data) < $len;
        $out .= substr($data, 0, $len, '');
        $data =~ s/\A\r\n// or return ($out, 'missing CRLF after a chunk');
    }
    return ($out, 'chunked body without the terminating 0-size chunk');
}

# All values of a header joined by ", ", undef when absent; "_" in the
# asked name counts as "-", as in HTTP::Headers.
sub header_value {
    my ($res, $name) = @_;
    (my $want = lc $name) =~ tr/_/-/;
    my @v = map { $_->[1] } grep { lc $_->[0] eq $want } @{ $res->{headers} || [] };
    return @v ? join(', ', @v) : undef;
}

1;
