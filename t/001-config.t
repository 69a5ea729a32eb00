# nginx -t must catch configuration mistakes, naming what is wrong.
# Plain Perl: each case writes a configuration and runs `nginx -t` on it.

use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More;

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $module = $ENV{TEST_NGINX_LOAD_MODULES}
    or plan skip_all => 'TEST_NGINX_LOAD_MODULES is not set';

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";

my $good_server = <<'END';
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
END

sub nginx_t {
    my ($http, $server) = @_;
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh <<END;
load_module $module;
error_log $dir/logs/error.log;
pid $dir/logs/nginx.pid;
events { worker_connections 16; }
http {
    $http
    server {
        listen 127.0.0.1:1;
        $server
    }
}
END
    close $fh;
    my $out = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    return ($? == 0, $out);
}

my ($ok, $out);

($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;', $good_server);
ok $ok, 'complete configuration passes nginx -t' or diag $out;

($ok, $out) = nginx_t('', $good_server);
ok !$ok, 'oneid on without oneid_redis fails';
like $out, qr/"oneid_redis" is required by the oneid directive in \S+nginx\.conf:\d+/,
    '... naming oneid_redis and where oneid was switched on';

for my $d (qw(oneid_client_id oneid_redirect_uri oneid_backend)) {
    (my $server = $good_server) =~ s/^\s*$d [^;]+;\n//m;
    ($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;', $server);
    ok !$ok, "missing $d fails";
    like $out, qr/"\Q$d\E" is required/, "... and names $d";
}

(my $nosecret = $good_server) =~ s/^\s*oneid_client_secret [^;]+;\n//m;
($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;', $nosecret);
ok !$ok, 'missing client secret fails';
like $out, qr/"oneid_client_secret" or "oneid_client_secret_file" is required/,
    '... and names both secret directives';

# a location with oneid off needs nothing
($ok, $out) = nginx_t('', 'location / { oneid off; }');
ok $ok, 'oneid off needs no other directive' or diag $out;

# the callback alone also needs its settings
($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;',
                      'location = /cb { oneid_callback; }');
ok !$ok, 'oneid_callback without client settings fails';
like $out, qr/"oneid_client_id" is required/, '... naming oneid_client_id';

# secret file: read, trimmed, and errors named
open my $sf, '>', "$dir/secret" or die $!;
print $sf "file+secret/==\n";
close $sf;
(my $withfile = $nosecret) =~ s/oneid_client_id dmed;/oneid_client_id dmed;\n    oneid_client_secret_file $dir\/secret;/;
($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;', $withfile);
ok $ok, 'oneid_client_secret_file is accepted' or diag $out;

(my $missingfile = $withfile) =~ s/\Q$dir\E\/secret/$dir\/no-such-secret/;
($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;', $missingfile);
ok !$ok, 'missing secret file fails';
like $out, qr/no-such-secret/, '... naming the file';

open $sf, '>', "$dir/empty" or die $!;
print $sf "\n";
close $sf;
(my $emptyfile = $withfile) =~ s/\Q$dir\E\/secret/$dir\/empty/;
($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;', $emptyfile);
ok !$ok, 'empty secret file fails';
like $out, qr/is empty/, '... saying it is empty';

# values checked when parsed
my @bad = (
    [ 'oneid_redirect_uri /oneid/callback;', qr/not an absolute http/ ],
    [ 'oneid_authorize_url sso.egov.uz/x;', qr/not an absolute http/ ],
    [ 'oneid_backend _oneid;', qr/must be a local path/ ],
    [ 'oneid_logout_redirect //evil.example/;', qr/must be a local path/ ],
    [ 'oneid_cookie_name "bad;name";', qr/invalid cookie name/ ],
    [ 'oneid_header_encoding base64;', qr/invalid value "base64"/ ],
    [ 'oneid_session_timeout 0;', qr/must be positive/ ],
    [ 'oneid_session_timeout eight;', qr/invalid value/ ],
);

for my $case (@bad) {
    my ($line, $re) = @$case;
    ($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;', "$line\n$good_server");
    ok !$ok, "rejected: $line";
    like $out, $re, "... with a clear message";
}

my @bad_redis = (
    [ 'oneid_redis 127.0.0.1:6379 db=x;', qr/invalid parameter "db=x"/ ],
    [ 'oneid_redis 127.0.0.1:6379 timeout=0;', qr/invalid parameter "timeout=0"/ ],
    [ 'oneid_redis 127.0.0.1:6379 colour=red;', qr/invalid parameter "colour=red"/ ],
    [ 'oneid_redis 127.0.0.1:99999;', qr/invalid port/ ],
    [ "oneid_redis 127.0.0.1:6379;\n    oneid_redis 127.0.0.1:6380;", qr/is duplicate/ ],
);

for my $case (@bad_redis) {
    my ($line, $re) = @$case;
    ($ok, $out) = nginx_t($line, $good_server);
    ok !$ok, "rejected: $line";
    like $out, $re, "... with a clear message";
}

# browsers drop a __Host- or __Secure- cookie that is not Secure
for my $name (qw(__Host-mis __Secure-mis __host-mis)) {
    ($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;',
                          "oneid_cookie_name $name;\noneid_cookie_secure off;\n"
                          . $good_server);
    ok !$ok, "rejected: oneid_cookie_name $name with oneid_cookie_secure off";
    like $out, qr/"oneid_cookie_name" "\Q$name\E" needs "oneid_cookie_secure on"/,
        '... naming both directives';
}

($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;',
                      "oneid_cookie_name __Host-mis;\n"
                      . $good_server =~ s/oneid on;/oneid on; oneid_cookie_secure off;/r);
ok !$ok, 'rejected: a __Host- name inherited into a location with oneid_cookie_secure off';

($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;',
                      "oneid_cookie_name __Host-mis;\n$good_server");
ok $ok, 'oneid_cookie_name __Host-mis with oneid_cookie_secure on (default)' or diag $out;

($ok, $out) = nginx_t('oneid_redis 127.0.0.1:6379;',
                      "oneid_cookie_secure off;\n$good_server");
ok $ok, 'oneid_cookie_secure off with the default name' or diag $out;

($ok, $out) = nginx_t('oneid_redis unix:/run/redis/redis.sock password=s3cret db=2 '
                      . 'connect_timeout=500ms timeout=2s prefix=mis:;',
                      $good_server);
ok $ok, 'oneid_redis with every parameter and a unix socket' or diag $out;

($ok, $out) = nginx_t('oneid_redis localhost:6379;', $good_server);
ok $ok, 'oneid_redis host name is resolved at configuration time' or diag $out;

done_testing;
