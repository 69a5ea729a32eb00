# oneid_require pinfl_file is read when the configuration is loaded: a
# reload (HUP) re-reads it, and a reload whose file is broken is refused
# by the master, naming the file and line, the running rules kept.  One
# nginx node of its own (master process on, so that it can reload).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);

my $port = Test::OneID::Conf::env('PORT', 1984) + 100;
my $file = Test::Nginx::Server::servroot() . '/t261-doctors.pinfl';
my $sid = 'T261reload' . ('r' x 33);

Test::OneID::seed_session($sid, pin => '30201850000022',
    user_id => 'jasur.aliyev', ttl => 600);

sub list {
    my ($text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}

sub status {
    return Test::OneID::raw_get($port, '/doctors/x',
                                "Cookie: oneid_session=$sid")->{status};
}

my $backend = Test::OneID::Conf::env('BACKEND_PORT', 18081);
my $config = server_config(locations => <<"END");
    location /doctors/ {
        oneid on;
        oneid_require pinfl_file=$file;
        proxy_pass http://127.0.0.1:$backend;
    }
END

# an empty list starts (with a warning): nobody is let through
mkdir Test::Nginx::Server::servroot();
list("# nobody yet\n");

my $node;
END { local $?; $node->stop if $node }

$node = Test::OneID::Node->new(port => $port, http_config => http_config(),
                                  config => $config);

is(status(), 403, 'not listed: 403');

list("30201850000022\n");
ok($node->reload, 'reloaded');
is(status(), 200, 'listed after the reload: let through');

list("30201850000022\n3020185000002\n");
kill HUP => $node->read_pid;
Test::OneID::wait_until(5, sub {
    $node->error_log =~ /invalid PINFL in \S+doctors\.pinfl:2/ });
like($node->error_log, qr/\[emerg\] .*invalid PINFL in \S+doctors\.pinfl:2: 14 digits a line expected/,
     'a broken list: the reload is refused, naming file and line');
is(status(), 200, 'the running rules are kept');


done_testing();
