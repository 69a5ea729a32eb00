# Self-test of the valgrind check of the harness (make test-valgrind):
# needs neither valgrind nor nginx.  Logs written the way memcheck writes
# them are put where nginx's would be, and a child perl runs the report
# that Test::Nginx::Server makes when nginx stops under
# TEST_NGINX_USE_VALGRIND=1:
#
#  - a record with a frame in the module fails a test, whichever of its
#    stacks has the frame (where it happened, alloc'd, free'd) and whether
#    the frame has a name or only the module's file;
#  - records entirely in nginx/OpenSSL/libc are reported, not failing;
#    indirect leaks count only when allocated through the module;
#  - a log cut off before its ERROR SUMMARY (process killed) fails;
#  - a clean log passes; each log is reported once.

use strict;
use warnings;

use lib 't/lib';
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Test::More;
use Test::Nginx::Server ();

my $MODULE = '/work/main/build/ngx_http_oneid_module.so';

my %LOG = (
    clean => <<'EOF',
==100== Memcheck, a memory error detector
==100== Command: /usr/sbin/nginx -p /tmp/servroot/ -c conf/nginx.conf
==100== 
==100== HEAP SUMMARY:
==100==     in use at exit: 2,485 bytes in 8 blocks
==100== 
==100== LEAK SUMMARY:
==100==    definitely lost: 0 bytes in 0 blocks
==100== 
==100== For lists of detected and suppressed errors, rerun with: -s
==100== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 3 from 3)
EOF

    # a use after free: read in nginx, freed by the module
    module_free => <<"EOF",
==200== Invalid read of size 8
==200==    at 0x15C4CE: ngx_http_run_posted_requests (in /usr/sbin/nginx)
==200==    by 0x150445: ngx_process_events_and_timers (in /usr/sbin/nginx)
==200==  Address 0x5b8e0a8 is 24 bytes inside a block of size 1,024 free'd
==200==    at 0x484417B: free (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==200==    by 0x154D2E: ngx_destroy_pool (in /usr/sbin/nginx)
==200==    by 0x4E2A1C3: ngx_http_oneid_redis_free (ngx_http_oneid_redis.c:312)
==200==    by 0x150445: ngx_process_events_and_timers (in /usr/sbin/nginx)
==200==  Block was alloc'd at
==200==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==200==    by 0x154CFE: ngx_alloc (in /usr/sbin/nginx)
==200== 
==200== 
==200== HEAP SUMMARY:
==200==     in use at exit: 0 bytes in 0 blocks
==200== 
==200== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)
EOF

    # a leak through a static function of the module: no name, only the file
    module_leak => <<"EOF",
==300== 64 bytes in 1 blocks are definitely lost in loss record 3 of 9
==300==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==300==    by 0x4E2B000: ??? (in $MODULE)
==300==    by 0x150445: ngx_process_events_and_timers (in /usr/sbin/nginx)
==300== 
==300== 128 bytes in 1 blocks are possibly lost in loss record 4 of 9
==300==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==300==    by 0x4C117A8: CRYPTO_zalloc (in /usr/lib/x86_64-linux-gnu/libcrypto.so.3)
==300==    by 0x161A71: ngx_ssl_handshake (in /usr/sbin/nginx)
==300== 
==300== ERROR SUMMARY: 2 errors from 2 contexts (suppressed: 0 from 0)
EOF

    # only nginx and OpenSSL: reported, not failing
    third_party => <<'EOF',
==400== Conditional jump or move depends on uninitialised value(s)
==400==    at 0x4C0D7D6: ??? (in /usr/lib/x86_64-linux-gnu/libcrypto.so.3)
==400==    by 0x161A71: ngx_ssl_handshake (in /usr/sbin/nginx)
==400== 
==400== 98,304 bytes in 1 blocks are possibly lost in loss record 72 of 74
==400==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==400==    by 0x154CFE: ngx_alloc (in /usr/sbin/nginx)
==400==    by 0x14FB22: ??? (in /usr/sbin/nginx)
==400== 
==400== 48 bytes in 1 blocks are indirectly lost in loss record 30 of 74
==400==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==400==    by 0x4C117A8: CRYPTO_zalloc (in /usr/lib/x86_64-linux-gnu/libcrypto.so.3)
==400==    by 0x161A71: ngx_ssl_handshake (in /usr/sbin/nginx)
==400== 
==400== ERROR SUMMARY: 2 errors from 2 contexts (suppressed: 0 from 0)
EOF

    # module data only reachable from a block nginx never frees
    module_indirect => <<'EOF',
==600== 4,096 bytes in 1 blocks are indirectly lost in loss record 8 of 9
==600==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==600==    by 0x154CFE: ngx_alloc (in /usr/sbin/nginx)
==600==    by 0x4E2C0F0: ngx_http_oneid_redis_connect (ngx_http_oneid_redis.c:401)
==600== 
==600== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 4 from 4)
EOF

    # SIGKILLed: no leak check, no summary
    killed => <<'EOF',
==500== Memcheck, a memory error detector
==500== Command: /usr/sbin/nginx -p /tmp/servroot/ -c conf/nginx.conf
==500== 
EOF
);

# --- parse_valgrind_log on each fixture

my $dir = tempdir(CLEANUP => 1);
my %pid = (clean => 100, module_free => 200, module_leak => 300, third_party => 400,
           killed => 500, module_indirect => 600);
my %parsed;
for my $name (sort keys %LOG) {
    my $file = "$dir/valgrind.$pid{$name}.log";
    open my $fh, '>', $file or die "$file: $!";
    print {$fh} $LOG{$name};
    close $fh;
    $parsed{$name} = Test::Nginx::Server::parse_valgrind_log($file);
}

sub kinds {
    my ($log) = @_;
    return join ',', map { $_->{module} ? 'module' : 'other' } @{ $log->{records} };
}

is kinds($parsed{clean}), '', 'clean log: no record';
ok $parsed{clean}{complete}, 'clean log: complete (has its ERROR SUMMARY)';
is kinds($parsed{module_free}), 'module',
    'read in nginx of a block the module freed: one record, in module code';
like $parsed{module_free}{records}[0]{head}, qr/^Invalid read of size 8$/, '... its first line';
is scalar @{ $parsed{module_free}{records}[0]{frames} }, 8, '... all three stacks kept';
is kinds($parsed{module_leak}), 'module,other',
    'a leak through an unnamed frame of the module .so is in module code, OpenSSL\'s is not';
is kinds($parsed{third_party}), 'other,other',
    'nginx/OpenSSL only: not module code, an indirect leak of theirs is no record';
is kinds($parsed{module_indirect}), 'module', 'an indirect leak of module data is a record';
ok !$parsed{killed}{complete}, 'killed: no ERROR SUMMARY, incomplete';
is $parsed{third_party}{contexts}, 2, 'ERROR SUMMARY context count read';
is Test::Nginx::Server::stack_summary($parsed{third_party}{records}[1], 12),
    'malloc < ngx_alloc < ???(nginx)', 'stack summary of a record';

# --- the report, in a child perl (it adds tests to its own TAP stream)

sub report_of {
    my (@names) = @_;
    my $root = "$dir/servroot-" . join('-', @names);
    make_path("$root/logs");
    for my $name (@names) {
        open my $fh, '>', "$root/logs/valgrind.$pid{$name}.log" or die $!;
        print {$fh} $LOG{$name};
        close $fh;
    }
    my $child = "$dir/child.t";
    open my $fh, '>', $child or die $!;
    print {$fh} <<'EOF';
use Test::More;
use Test::Nginx::Server ();
pass('before');
Test::Nginx::Server::report_valgrind('of the fixture');
Test::Nginx::Server::report_valgrind('again');    # nothing new: no test
done_testing;
EOF
    close $fh;
    local $ENV{TEST_NGINX_USE_VALGRIND} = 1;
    local $ENV{TEST_NGINX_SERVROOT} = $root;
    my $out = `$^X -It/lib $child 2>&1`;
    return ($out, $? >> 8);
}

my ($out, $exit) = report_of('clean');
like $out, qr/^ok 2 - valgrind: no memory error in module code \(nginx of the fixture\)$/m,
    'clean log: the valgrind test passes';
like $out, qr/^1\.\.2$/m, '... one test per report, none for a report with no new log';
is $exit, 0, '... exit 0';

($out, $exit) = report_of('module_free', 'third_party');
like $out, qr/^not ok 2 - valgrind: no memory error in module code \(nginx of the fixture\)$/m,
    'a record in module code fails the test';
like $out, qr/in module code, pid 200 .*^# .*ngx_http_oneid_redis_free/ms,
    '... the diagnostics show the record with its module frame';
like $out, qr/not failing\): pid 400: Conditional jump or move depends on uninitialised/,
    '... the nginx/OpenSSL records are reported too';
unlike $out, qr/in module code, pid 400/, '... but not as module code';
is $exit, 1, '... exit 1';

($out, $exit) = report_of('third_party');
like $out, qr/^ok 2 - valgrind/m, 'only nginx/OpenSSL records: the test passes';
like $out, qr/not failing\): pid 400: 98,304 bytes in 1 blocks are possibly lost/,
    '... and they are reported';

($out, $exit) = report_of('module_leak');
like $out, qr/^not ok 2 - valgrind/m, 'a leak through the module .so fails';

($out, $exit) = report_of('module_indirect');
like $out, qr/^not ok 2 - valgrind/m, 'an indirect leak of module data fails';
unlike $out, qr/ERROR SUMMARY counts/, '... and is not counted as an error context';

($out, $exit) = report_of('clean', 'killed');
like $out, qr/^not ok 2 - valgrind/m, 'a log cut off before its summary fails';
like $out, qr/valgrind\.500\.log has no ERROR SUMMARY/, '... saying which one';

done_testing;
