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
use Time::Local ();

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

# Suppressions of known leaks in nginx itself and its libraries, each one
# explained there; TEST_NGINX_VALGRIND_SUPP replaces the file.
my $VALGRIND_SUPP = Cwd::abs_path(File::Spec->rel2abs(
    File::Spec->catfile(dirname(__FILE__), ('..') x 3, 'valgrind.supp')));

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
    # Under valgrind too: memcheck follows fork(), each worker writes its
    # own logs/valgrind.PID.log, and tests that count workers keep working.
    my $master   = $o{master_process};
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

# $files: the text of a "--- user_files" section ('>>> name [date]' lines
# followed by the content; date as for touch -t, in GMT) or an arrayref of
# [name, content, date] triples.
sub parse_user_files {
    my ($text) = @_;
    return $text if ref $text eq 'ARRAY';
    my (@files, $cur);
    for my $line (split /^/, $text // '') {
        if ($line =~ /^>>> (\S+)(?:[ \t]+(\S.*?))?\s*$/) {
            push @files, $cur = [$1, '', $2];
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
        my ($name, $content, $date) = @$f;
        die "user_files: bad file name '$name'\n"
            if $name =~ m{(^|/)\.\.(/|$)} || $name =~ m{^/};
        my $path = html_dir() . "/$name";
        make_path(dirname($path));
        write_file($path, $content // '');
        set_mtime($path, $date) if defined $date;
    }
}

# [[CC]YY]MMDDhhmm[.ss] as `touch -t` takes it, in GMT.
sub set_mtime {
    my ($path, $date) = @_;
    my ($y, $mo, $d, $h, $mi, $s) = $date =~
        /^(\d{2}|\d{4})?(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d\d))?$/
        or die "user_files: $path: bad date '$date' (want [[CC]YY]MMDDhhmm[.ss])\n";
    $y //= (gmtime)[5] + 1900;
    $y += $y < 69 ? 2000 : 1900 if length $y == 2;
    my $t = Time::Local::timegm($s // 0, $mi, $h, $d, $mo - 1, $y);
    utime $t, $t, $path or die "user_files: utime $path: $!\n";
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
    # Test::Nginx::Socket expands as upstream Test::Nginx does and says so.
    $s{$_} = expand_vars($s{$_}, "--- $_") for $s{expanded} ? ()
        : qw(main_config http_config config);
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
    $State{label} = $spec->{label} // started_at();
    vg_hook_testing_done() if use_valgrind();
    my %o = (%Defaults, %s);
    $State{workers} = $o{master_process} ? $o{workers} : 0;
    my $pid = use_valgrind() ? eval { start_in_background(\@cmd, $offset) }
                             : start_daemon(\@cmd, $offset);
    if (!$pid) {
        my $err = $@;
        report_valgrind("$State{label}, which failed to start");
        die $err;
    }
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

# "started at t/050-essentials.t line 14": the first caller outside t/lib,
# to name an nginx in valgrind reports.
sub started_at {
    for (my $i = 1; my @c = caller $i; $i++) {
        return "started at $c[1] line $c[2]" unless $c[0] =~ /^Test::(?:Nginx|OneID)\b/;
    }
    return 'started';
}

# Under valgrind nginx runs in the foreground as our child (daemon off).
# Each process (master, workers) logs to logs/valgrind.PID.log; they are
# read when nginx stops, see report_valgrind().
sub start_in_background {
    my ($cmd, $offset) = @_;
    my $supp = $ENV{TEST_NGINX_VALGRIND_SUPP} // $VALGRIND_SUPP;
    die "nginx failed to start: valgrind suppressions file $supp not found\n"
        unless -f $supp;
    my @vg = ('valgrind', '--tool=memcheck', '--error-exitcode=42',
        # indirect leaks are shown for their stacks only: see
        # parse_valgrind_log()
        '--leak-check=full', '--show-leak-kinds=definite,possible,indirect',
        '--errors-for-leak-kinds=definite,possible',
        # the module is dlclose()d at exit, before the leak check: keep its
        # symbols, or its frames would show as "???" and pass for nginx's
        '--keep-debuginfo=yes', '--num-callers=40',
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
        return $pid if $pid && port_accepts() && workers_forked($pid);
        sleep 0.01;
    }
    my $pid = read_pid_file() // $child;
    terminate($pid) if $pid;
    die startup_failure("nginx did not accept connections on port " . port()
        . " within ${timeout}s", $offset);
}

# With a master, the port accepts before the workers exist (for long under
# valgrind): a test that looks at the workers right away must find them.
sub workers_forked {
    my ($master) = @_;
    my $want = $State{workers};
    return 1 unless $want && $want =~ /^\d+$/;    # none, or "auto"
    my $n = 0;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my ($ppid) = (<$fh> // '') =~ /^\d+ \(.*\) \S+ (\d+)/ or next;
        $n++ if $ppid == $master;
    }
    return $n >= $want;
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
    terminate($pid);
    report_valgrind($State{label}) if use_valgrind();
    wait_port_free();
}

# QUIT (graceful), then TERM, then KILL the whole process group.  Returns the
# wait status when we could reap the process (our child or subreaper).
# Under valgrind exiting takes longer (the leak check runs then), and a KILL
# would lose the leak check: wait longer.
sub terminate {
    my ($pid) = @_;
    my @steps = use_valgrind() ? (['QUIT', 20], ['TERM', 20], ['KILL', 2])
                               : (['QUIT', 3], ['TERM', 3], ['KILL', 2]);
    for my $step (@steps) {
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

# ---------------------------------------------------------------------------
# valgrind findings
#
# After each stop, every logs/valgrind.PID.log not read yet (master,
# workers, an nginx that failed to start) is split into its error records.
# A record whose stacks (where it happened, where the block was allocated
# or freed, where an uninitialised value came from) have a frame in the
# module fails one test; the others are reported with diag() only: they are
# in nginx, OpenSSL or libc, and known ones belong in t/valgrind.supp.
# A log without its final ERROR SUMMARY (process killed before valgrind
# could finish) fails too: nothing was checked.

my %VG_SEEN;    # logs already reported

my $VG_ERROR = qr/^(?:Invalid\ (?:read|write|free|realloc)\b
    |Mismatched\ free
    |.*uninitialised
    |.*unaddressable
    |Source\ and\ destination\ overlap
    |Argument\ '.*'\ of\ function\ .*\ has\ a\ fishy
    |.*\ (?:definitely|possibly|indirectly)\ lost\ in\ loss\ record
    |Process\ terminating\ with\ default\ action\ of\ signal
    |Jump\ to\ the\ invalid\ address)/x;

sub module_frame {
    my ($line) = @_;
    return $line =~ /\bngx_http_oneid_|ngx_http_oneid_module\.so/;
}

# { file, pid, records => [{ head, text, frames => [...], module }],
#   complete, contexts }.  An "indirectly lost" block is only reachable
# from a lost one, reported (or suppressed) on its own: it is a record only
# when allocated through the module, e.g. module data left hanging off a
# connection that nginx never frees.
sub parse_valgrind_log {
    my ($file) = @_;
    my ($pid) = $file =~ /valgrind\.(\d+)\.log$/;
    my %log = (file => $file, pid => $pid, records => [], complete => 0);
    my @para = ([]);
    for my $line (split /\n/, read_file($file)) {
        $line =~ s/^==\d+==\s?// or next;    # --gen-suppressions blocks etc.
        if ($line =~ /^\s*$/) { push @para, [] if @{ $para[-1] }; next }
        push @{ $para[-1] }, $line;
    }
    for my $p (@para) {
        next unless @$p;
        if (my ($sum) = grep { /^ERROR SUMMARY: / } @$p) {
            ($log{contexts}) = $sum =~ /errors from (\d+) contexts/;
            $log{complete} = 1;
            next;
        }
        next unless $p->[0] =~ $VG_ERROR;
        my $module = (grep { module_frame($_) } @$p) ? 1 : 0;
        next if $p->[0] =~ /indirectly lost/ && !$module;
        my @frames = grep { /^\s+(?:at|by) 0x/ } @$p;
        push @{ $log{records} }, {
            head   => $p->[0],
            text   => join("\n", @$p),
            frames => \@frames,
            module => $module,
        };
    }
    return \%log;
}

# "malloc < CRYPTO_zalloc < SSL_SESSION_new < ???(libssl.so.3) < ..."
sub stack_summary {
    my ($rec, $max) = @_;
    my @f = map {
        /^\s+(?:at|by) 0x[0-9A-F]+: (\S+)(?: \((?:in )?([^)]*)\))?/
            ? ($1 eq '???' ? '???(' . ((split m{/}, $2 // '?')[-1]) . ')' : $1) : $_
    } @{ $rec->{frames} };
    splice @f, $max, @f - $max, '...' if @f > $max;
    return join ' < ', @f;
}

sub report_valgrind {
    my ($label) = @_;
    my (@module, @other, @incomplete, @files);
    for my $file (sort glob(servroot() . '/logs/valgrind.*.log')) {
        next if $VG_SEEN{$file}++;
        push @files, $file;
        my $log = parse_valgrind_log($file);
        push @incomplete, $file unless $log->{complete};
        for my $rec (@{ $log->{records} }) {
            push @{ $rec->{module} ? \@module : \@other }, [$log, $rec];
        }
        my $n = grep { $_->{head} !~ /indirectly lost/ } @{ $log->{records} };
        if ($log->{complete} && $log->{contexts} != $n) {
            vg_diag("valgrind: $file: ERROR SUMMARY counts $log->{contexts} context(s),"
                . " the harness recognised $n: read the log");
        }
    }
    return unless @files;

    for (@other) {
        my ($log, $rec) = @$_;
        vg_diag("valgrind (in nginx/libraries, not failing): pid $log->{pid}: $rec->{head}\n"
            . '    ' . stack_summary($rec, 12) . "\n    see $log->{file}");
    }
    my @why;
    push @why, map {
        my ($log, $rec) = @$_;
        "in module code, pid $log->{pid} ($log->{file}):\n$rec->{text}"
    } @module;
    push @why, map { "$_ has no ERROR SUMMARY: the process was killed before"
        . " valgrind finished, nothing was checked" } @incomplete;

    vg_result(!@why, 'valgrind: no memory error in module code (nginx '
        . ($label // 'started') . ')', @why);
}

# One test per stopped nginx, where a test can still be added: not after
# done_testing or the plan (the harness stops nginx before those, see the
# testing_done hook below), and with a fixed plan only when failing.
sub vg_result {
    my ($ok, $name, @diag) = @_;
    my $hub = $INC{'Test2/API.pm'} ? Test2::API::test2_stack()->top : undef;
    if (!$hub || $hub->ended || ($ok && ($hub->plan // '') =~ /^\d+$/)) {
        return if $ok;
        vg_diag("NOT OK: $name", @diag);
        $State{vg_failed} = 1;    # the exit status says it, see END
        return;
    }
    require Test::More;
    local $Test::Builder::Level = $Test::Builder::Level + 2;
    Test::More::ok($ok, $name);
    Test::More::diag($_) for @diag;
}

sub vg_diag {
    my $msg = join "\n", @_;
    if ($INC{'Test/More.pm'}) { Test::More::diag($msg) } else { warn "$msg\n" }
}

# With valgrind, stop nginx (and report) before done_testing() prints the
# plan, or before the automatic plan of a no_plan test at its end.  Set up
# at the first start, when the test has loaded Test::More.
sub vg_hook_testing_done {
    return if $State{vg_hooked} || !$INC{'Test2/API.pm'};
    $State{vg_hooked} = 1;
    Test2::API::test2_add_callback_testing_done(sub { stop_nginx() });
}

# Never leave nginx running, whatever way the test ends.
END {
    my $exit = $?;
    stop_nginx();
    $? = $exit || ($State{vg_failed} ? 1 : 0);
}

for my $sig (qw(INT TERM HUP)) {
    next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
    $SIG{$sig} = sub { stop_nginx(); $SIG{$sig} = 'DEFAULT'; kill $sig => $$ };
}

1;
