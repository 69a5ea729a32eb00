package Test::Nginx::Server;

# One nginx instance under test: servroot layout, nginx.conf template,
# $TEST_NGINX_* expansion, start/stop, error.log access.
#
# Shared by Test::Nginx::Socket (block-based .t files) and Test::OneID
# (multi-step flow tests), so both run nginx the same way.  It uses no
# Test::* module itself: failures are reported by die() with a readable text
# and the callers decide how to turn that into test results.
#
# There is only ever one nginx per test process (one servroot, one port), so
# state lives in this module, not in objects.

use strict;
use warnings;

use Cwd ();
use Exporter 'import';
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(
    port servroot html_dir error_log_file binary
    expand_vars render_config prepare_servroot ensure_servroot
    write_config_and_start stop_nginx nginx_pid
    error_log_size read_error_log parse_user_files
);

# Settings the block-level helpers (log_level(), workers(), ...) change;
# a spec passed to write_config_and_start() overrides them per start.
our %Defaults = (
    log_level          => 'debug',
    workers            => 1,
    worker_connections => 1024,
    master_process     => 0,
    root_location      => 1,
    env                => [],
);

my %State = (
    pid            => undef,  # nginx we started and have not stopped yet
    servroot_ready => 0,      # servroot wiped and laid out by this process
    owner          => $$,     # a fork()ed child must never stop our nginx
    subreaper      => 0,
);

my $STARTUP_TIMEOUT  = 5;     # seconds until nginx must accept connections
my $VALGRIND_STARTUP = 60;    # nginx under memcheck is much slower

# ---------------------------------------------------------------------------
# Locations and environment

sub port {
    my $port = $ENV{TEST_NGINX_PORT} || 1984;
    die "TEST_NGINX_PORT must be a port number, got '$port'\n"
        unless $port =~ /^\d+$/ && $port > 0 && $port < 65536;
    return $port;
}

my $servroot;
sub servroot {
    # Resolved once: a test that chdir()s later must keep the same servroot.
    $servroot //= File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
    return $servroot;
}

sub html_dir       { servroot() . '/html' }
sub conf_file      { servroot() . '/conf/nginx.conf' }
sub error_log_file { servroot() . '/logs/error.log' }
sub pid_file       { servroot() . '/logs/nginx.pid' }
sub stderr_file    { servroot() . '/logs/nginx.stderr' }
sub use_valgrind   { $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0 }
sub nginx_pid      { $State{pid} }

sub binary {
    return $ENV{TEST_NGINX_BINARY} if $ENV{TEST_NGINX_BINARY};
    for my $dir (File::Spec->path) {
        return "$dir/nginx" if -f "$dir/nginx" && -x _;
    }
    return '/usr/sbin/nginx' if -x '/usr/sbin/nginx';
    die "nginx binary not found in PATH nor /usr/sbin: set TEST_NGINX_BINARY\n";
}

# Replace $TEST_NGINX_FOO / ${TEST_NGINX_FOO} with its value.  An unset
# variable is an error rather than being left in place: a literal
# "$TEST_NGINX_REDIS_PORT" in nginx.conf only produces a confusing nginx
# error far away from the cause.
sub expand_vars {
    my ($text, $where) = @_;
    return $text if !defined $text || ref $text;
    $text =~ s/\$(?:\{(TEST_NGINX_\w+)\}|(TEST_NGINX_\w+))/var_value($1 \/\/ $2, $where)/ge;
    return $text;
}

sub var_value {
    my ($name, $where) = @_;
    return port()     if $name eq 'TEST_NGINX_SERVER_PORT' || $name eq 'TEST_NGINX_PORT';
    return servroot() if $name eq 'TEST_NGINX_SERVROOT';
    return html_dir() if $name eq 'TEST_NGINX_HTML_DIR';
    return $ENV{$name} if defined $ENV{$name};
    die(($where // 'test') . " uses \$$name, but the environment variable"
        . " $name is not set\n");
}

# ---------------------------------------------------------------------------
# nginx.conf

sub load_module_lines {
    my @lines;
    for my $so (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '') {
        # nginx resolves relative paths against the prefix (servroot),
        # contributors mean the current directory.
        my $abs = File::Spec->rel2abs($so);
        die "TEST_NGINX_LOAD_MODULES: $abs does not exist (build the module first?)\n"
            unless -f $abs;
        push @lines, "load_module $abs;";
    }
    return @lines;
}

sub render_config {
    my ($spec) = @_;
    my %o = (%Defaults, %{ $spec // {} });
    my $valgrind = use_valgrind();
    my $master   = $o{master_process} && !$valgrind;
    my $port     = port();

    my @main = load_module_lines();
    push @main,
        "worker_processes  $o{workers};",
        'daemon ' . ($valgrind ? 'off' : 'on') . ';',
        'master_process ' . ($master ? 'on' : 'off') . ';';
    # Workers of a root master would run as nobody and could not write to
    # servroot; with master off the directive is ignored with a warning.
    push @main, 'user root;' if $master && $> == 0;
    push @main,
        "error_log logs/error.log $o{log_level};",
        'pid       logs/nginx.pid;';
    push @main, "env $_;" for @{ $o{env} };

    my $root_location = $o{root_location}
        ? "        location / {\n            root html;\n            index index.html;\n        }\n"
        : '';

    return join("\n", @main) . "\n\n"
        . section($o{main_config})
        . "events {\n    worker_connections $o{worker_connections};\n}\n\n"
        . "http {\n"
        . "    access_log logs/access.log;\n"
        . "    default_type text/plain;\n"
        . "    keepalive_timeout 68;\n"
        . "    client_body_temp_path client_body_temp;\n"
        . "    proxy_temp_path proxy_temp;\n"
        . "    fastcgi_temp_path fastcgi_temp;\n"
        . "    uwsgi_temp_path uwsgi_temp;\n"
        . "    scgi_temp_path scgi_temp;\n\n"
        . section($o{http_config})
        . "    server {\n"
        . "        listen $port;\n"
        . "        server_name localhost;\n"
        . "        client_max_body_size 30M;\n\n"
        . $root_location
        . section($o{config})
        . "    }\n"
        . "}\n";
}

sub section {
    my ($text) = @_;
    return '' unless defined $text && length $text;
    $text .= "\n" unless $text =~ /\n\z/;
    return "$text\n";
}

# ---------------------------------------------------------------------------
# servroot

# Wipe and lay out servroot.  Called at the start of every .t file so a test
# never sees logs or files of another one.
sub prepare_servroot {
    my $root = servroot();
    stop_nginx();
    kill_stale_nginx($root);
    if (-e $root) {
        # Guard against TEST_NGINX_SERVROOT=/ or a typo pointing at real data.
        die "refusing to delete $root: it does not look like a test servroot"
            . " (no conf/nginx.conf and the name has no 'servroot' in it)\n"
            unless -e "$root/conf/nginx.conf" || $root =~ /servroot[^\/]*$/;
        remove_tree($root);
    }
    make_path(map { "$root/$_" }
        qw(conf html logs client_body_temp proxy_temp fastcgi_temp uwsgi_temp scgi_temp));
    $State{servroot_ready} = 1;
}

sub ensure_servroot { prepare_servroot() unless $State{servroot_ready} }

# An nginx left over from an interrupted run (kill -9 of prove) still holds
# the port.  Only touch it if its command line mentions our servroot.
sub kill_stale_nginx {
    my ($root) = @_;
    my $pid = read_pid_file() or return;
    open my $fh, '<', "/proc/$pid/cmdline" or return;
    my $cmdline = do { local $/; <$fh> } // '';
    return unless $cmdline =~ /nginx/ && index($cmdline, $root) >= 0;
    terminate($pid);
}

sub read_pid_file {
    open my $fh, '<', pid_file() or return;
    my $pid = <$fh>;
    return ($pid // '') =~ /^\s*(\d+)/ ? $1 : undef;
}

# $files: the text of a "--- user_files" section ('>>> name' lines followed
# by content) or an arrayref of [name, content] pairs.
sub parse_user_files {
    my ($text) = @_;
    return $text if ref $text eq 'ARRAY';
    my (@files, $cur);
    for my $line (split /^/, $text // '') {
        if ($line =~ /^>>> (\S+)\s*$/) {
            push @files, $cur = [$1, ''];
        } elsif ($cur) {
            $cur->[1] .= $line;
        } elsif ($line =~ /\S/) {
            die "user_files: text before the first '>>> name' line: $line";
        }
    }
    return \@files;
}

sub write_user_files {
    my ($files) = @_;
    for my $f (@{ parse_user_files($files) }) {
        my ($name, $content) = @$f;
        die "user_files: bad file name '$name'\n"
            if $name =~ m{(^|/)\.\.(/|$)} || $name =~ m{^/};
        my $path = html_dir() . "/$name";
        make_path(dirname($path));
        write_file($path, $content);
    }
}

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "cannot write $path: $!\n";
    binmode $fh;
    print {$fh} $content;
    close $fh or die "cannot write $path: $!\n";
}

sub read_file {
    my ($path, $offset) = @_;
    open my $fh, '<', $path or return '';
    binmode $fh;
    seek $fh, $offset, 0 if $offset;
    local $/;
    return <$fh> // '';
}

# ---------------------------------------------------------------------------
# error.log

sub error_log_size { -s error_log_file() || 0 }

sub read_error_log {
    my ($offset) = @_;
    return read_file(error_log_file(), $offset // 0);
}

# ---------------------------------------------------------------------------
# Start / stop

# $spec: { main_config, http_config, config, user_files, log_level, workers,
#          worker_connections, master_process, root_location, env => [..] }
# Config texts are expected to be $TEST_NGINX_-expanded already (callers
# know which section a bad variable came from); this expands again anyway
# as a safety net, which is a no-op on expanded text.
#
# Returns { pid, log_offset, stderr }; dies "nginx failed to start: ..."
sub write_config_and_start {
    my ($spec) = @_;
    $spec //= {};
    stop_nginx();
    ensure_servroot();
    become_subreaper();

    my %s = %$spec;
    $s{$_} = expand_vars($s{$_}, "--- $_") for qw(main_config http_config config);
    write_user_files($s{user_files}) if defined $s{user_files};
    write_file(conf_file(), render_config(\%s));

    die "nginx failed to start: port " . port() . " is already in use"
        . " (another nginx or test run? set TEST_NGINX_PORT)\n"
        if port_accepts();

    # error_log checks look at what this start wrote, so remember where the
    # file ends before nginx writes its first startup line.
    my $offset = error_log_size();
    unlink pid_file();
    my @cmd = (binary(), '-p', servroot() . '/', '-c', 'conf/nginx.conf');
    my $pid = use_valgrind() ? start_in_background(\@cmd, $offset)
                             : start_daemon(\@cmd, $offset);
    $State{pid} = $pid;
    return { pid => $pid, log_offset => $offset, stderr => read_file(stderr_file()) };
}

# daemon on: the process we spawn checks the config, binds the port, forks
# the real server and exits; its exit status tells us about config errors.
sub start_daemon {
    my ($cmd, $offset) = @_;
    my $child = spawn(@$cmd);
    my $status = wait_child($child, $STARTUP_TIMEOUT);
    if (!defined $status) {
        kill KILL => -$child;
        wait_child($child, 1);
        die startup_failure("nginx did not finish starting within ${STARTUP_TIMEOUT}s", $offset);
    }
    die startup_failure("nginx exited with status " . ($status >> 8), $offset) if $status;
    return wait_until_up(undef, $STARTUP_TIMEOUT, $offset);
}

# Known leaks of nginx itself, so that what remains points at our module.
my $VALGRIND_SUPPRESSIONS = <<'SUPP';
{
   nginx-core-set-environment
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
}
SUPP

# Under valgrind nginx runs in the foreground as our child (daemon off).
sub start_in_background {
    my ($cmd, $offset) = @_;
    my $supp = servroot() . '/conf/valgrind.supp';
    write_file($supp, $VALGRIND_SUPPRESSIONS);
    my @vg = ('valgrind', '--tool=memcheck', '--error-exitcode=42',
        '--leak-check=full', '--errors-for-leak-kinds=definite',
        "--suppressions=$supp",
        '--log-file=' . servroot() . '/logs/valgrind.%p.log',
        split(' ', $ENV{TEST_NGINX_VALGRIND_OPTS} // ''));
    my $child = spawn(@vg, @$cmd);
    return wait_until_up($child, $VALGRIND_STARTUP, $offset);
}

# fork+exec with stdout/stderr going to logs/nginx.stderr (read back for
# error messages) and a process group of its own, so that a final KILL can
# take workers along and Ctrl-C on prove does not hit nginx directly.
sub spawn {
    my @cmd = @_;
    my $pid = fork // die "nginx failed to start: fork: $!\n";
    return $pid if $pid;
    setpgrp(0, 0);
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', stderr_file();
    open STDERR, '>&', \*STDOUT;
    { no warnings 'exec'; exec { $cmd[0] } @cmd; }
    print STDERR "cannot exec $cmd[0]: $!\n";
    POSIX::_exit(127);    # no END blocks of the test in the child
}

# Returns the wait status, or undef on timeout.
sub wait_child {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return 0 if $r < 0;    # already reaped
        return undef if time > $deadline;
        sleep 0.005;
    }
}

# Poll until the pid file exists and the port accepts connections.
sub wait_until_up {
    my ($child, $timeout, $offset) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        if ($child && waitpid($child, WNOHANG) == $child) {
            die startup_failure("nginx exited with status " . ($? >> 8), $offset);
        }
        my $pid = read_pid_file();
        if ($pid && !alive($pid)) {
            die startup_failure("nginx (pid $pid) exited right after starting", $offset);
        }
        return $pid if $pid && port_accepts();
        sleep 0.01;
    }
    my $pid = read_pid_file() // $child;
    terminate($pid) if $pid;
    die startup_failure("nginx did not accept connections on port " . port()
        . " within ${timeout}s", $offset);
}

sub startup_failure {
    my ($why, $offset) = @_;
    my $msg = "nginx failed to start: $why\n";
    my $stderr = read_file(stderr_file());
    $msg .= "--- nginx stderr:\n$stderr" if $stderr =~ /\S/;
    # At debug level error.log is long; the severe lines tell the story.
    my @severe = grep { /\[(?:emerg|alert|crit|error)\]/ }
        split /^/, read_error_log($offset);
    splice @severe, 0, @severe - 20 if @severe > 20;
    $msg .= "--- error.log:\n" . join('', @severe) if @severe;
    $msg .= "\n" unless $msg =~ /\n\z/;
    return $msg;
}

sub stop_nginx {
    my $pid = $State{pid} // return;
    return if $$ != $State{owner};
    $State{pid} = undef;
    my $status = terminate($pid);
    report_valgrind($pid, $status) if use_valgrind();
    wait_port_free();
}

# QUIT (graceful), then TERM, then KILL the whole process group.  Returns the
# wait status when we could reap the process (our child or subreaper).
sub terminate {
    my ($pid) = @_;
    for my $step (['QUIT', 3], ['TERM', 3], ['KILL', 2]) {
        my ($sig, $grace) = @$step;
        kill $sig => ($sig eq 'KILL' ? -$pid : $pid);
        my $deadline = time + $grace;
        while (time < $deadline) {
            my $status = reap($pid);
            return $status if defined $status;
            return undef unless alive($pid);
            sleep 0.01;
        }
    }
    warn "could not stop nginx (pid $pid)\n";
    return undef;
}

# Reap the process and any workers orphaned into its process group.
sub reap {
    my ($pid) = @_;
    my $r = waitpid($pid, WNOHANG);
    my $status = $?;
    1 while waitpid(-$pid, WNOHANG) > 0;
    return $r == $pid ? $status : undef;
}

sub alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    # A zombie still answers kill 0; it is gone for our purposes.
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh> // '';
    return $stat =~ /^\d+ \(.*\) Z/ ? 0 : 1;
}

sub port_accepts {
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => port(), Proto => 'tcp', Timeout => 1);
    return $sock ? 1 : 0;
}

sub wait_port_free {
    my $deadline = time + 5;
    while (port_accepts()) {
        if (time > $deadline) {
            warn "port " . port() . " still accepts connections after stopping nginx\n";
            return;
        }
        sleep 0.01;
    }
}

# nginx daemonizes, so its parent is init.  PID 1 in containers and
# microVMs often does not reap, which leaves zombie nginx processes.  As a
# child subreaper the test process inherits the daemon and reaps it itself.
sub become_subreaper {
    return if $State{subreaper}++;
    my %sys_prctl = (x86_64 => 157, aarch64 => 167, i686 => 172, i386 => 172);
    my $nr = eval { local $SIG{__WARN__} = sub {}; require 'syscall.ph'; &SYS_prctl() };
    $nr //= $sys_prctl{ (POSIX::uname())[4] } or return;
    my $PR_SET_CHILD_SUBREAPER = 36;
    syscall($nr, $PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

sub report_valgrind {
    my ($pid, $status) = @_;
    my $log = servroot() . "/logs/valgrind.$pid.log";
    my ($errors) = read_file($log) =~ /ERROR SUMMARY: (\d+) errors/;
    return unless ($errors || 0) > 0 || (defined $status && ($status >> 8) == 42);
    my $msg = "valgrind reported " . ($errors // '?') . " error(s) for nginx pid $pid: see $log";
    if ($INC{'Test/Builder.pm'}) { Test::Builder->new->diag($msg) } else { warn "$msg\n" }
}

# Never leave nginx running, whatever way the test ends.
END {
    my $exit = $?;
    stop_nginx();
    $? = $exit;
}

for my $sig (qw(INT TERM HUP)) {
    next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
    $SIG{$sig} = sub { stop_nginx(); $SIG{$sig} = 'DEFAULT'; kill $sig => $$ };
}

1;
