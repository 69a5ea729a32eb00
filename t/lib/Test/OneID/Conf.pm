package Test::OneID::Conf;

# The nginx configuration most tests share: the module talking to the real
# Redis and the mock OneID (HTTPS, test CA) that `make test` starts, and the
# echo backend as the "legacy MIS".  Block tests use it from an
# add_block_preprocessor; flow tests pass it to Test::OneID->new.
#
#   http_config(%opt)   opt: redis => 'host:port' (default the suite's),
#                            key => 1: with oneid_key_file (key_file())
#   server_config(%opt) opt: extra => 'directives at server level',
#                            protected => 'directives in location /',
#                            locations => 'more location blocks',
#                            cookie_secure => 'on' (default 'off': the
#                            suite talks plain HTTP)
#                            buffer => subrequest_output_buffer_size of
#                                      /_oneid ('16k'; '' leaves the line
#                                      out: nginx's default),
#                            client => [client_id, client_secret] of the
#                                      mock (default dmed)
#   server_block($port, %opt)  server_config(%opt) as a server {} of its
#                            own on 127.0.0.1:$port

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(http_config server_config server_block env defaults
                    key_file);

sub env {
    my ($name, $default) = @_;
    my $v = $ENV{"TEST_NGINX_$name"} // $default;
    die "TEST_NGINX_$name is not set (run the suite with `make test`)\n"
        unless defined $v;
    return $v;
}

# A server key file (oneid_key_file), made once per test process, mode
# 0600 as nginx wants it; the same key for every nginx the test starts:
#   http_config(key => 1)  or  "oneid_key_file " . key_file() . ";"
my $key_file;
sub key_file {
    return $key_file if defined $key_file;
    require File::Temp;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    $key_file = "$dir/oneid.key";
    open my $fh, '>', $key_file or die "$key_file: $!";
    print $fh "test-server-key-" . ('0123456789abcdef' x 3) . "\n";
    close $fh;
    chmod 0600, $key_file;
    return $key_file;
}

sub http_config {
    my (%opt) = @_;
    my $redis = $opt{redis} // '127.0.0.1:' . env('REDIS_PORT', 16379);
    return "oneid_redis $redis;\n"
           . ($opt{key} ? 'oneid_key_file ' . key_file() . ";\n" : '');
}

sub server_config {
    my (%opt) = @_;
    my $oneid = env('ONEID_PORT', 18443);
    my $ca = env('ONEID_CA');
    my $backend = env('BACKEND_PORT', 18081);
    my $port = env('PORT', 1984);
    my $extra = $opt{extra} // '';
    my $protected = $opt{protected} // '';
    my $locations = $opt{locations} // '';
    my $buffer = $opt{buffer} // '16k';
    my $secure = $opt{cookie_secure} // 'off';
    my ($client_id, $secret) = @{ $opt{client} || [] };
    $client_id //= 'dmed';
    $secret //= 'dm3d+S3cr/et=&x==';
    $buffer = length $buffer ? "subrequest_output_buffer_size $buffer;" : '';

    return <<"END";
    oneid_client_id        $client_id;
    oneid_client_secret    "$secret";
    oneid_redirect_uri     http://127.0.0.1:$port/oneid/callback;
    oneid_authorize_url    https://127.0.0.1:$oneid/sso/oauth/Authorization.do;
    oneid_backend          /_oneid;
    oneid_cookie_secure    $secure;
    $extra

    location = /_oneid {
        internal;
        proxy_pass https://127.0.0.1:$oneid/sso/oauth/Authorization.do;
        proxy_ssl_server_name on;
        proxy_ssl_name sso.egov.uz;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $ca;
        proxy_read_timeout 5s;
        $buffer
    }

    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout   { oneid_logout; }

    location / {
        oneid on;
        $protected
        proxy_pass http://127.0.0.1:$backend;
    }

    location /api/mobile/ {
        oneid off;
        proxy_pass http://127.0.0.1:$backend;
    }

    $locations
END
}

sub server_block {
    my ($port, %opt) = @_;
    return "server {\n    listen 127.0.0.1:$port;\n    server_name localhost;\n"
        . server_config(%opt) . "}\n";
}

# For block-format files: the sections a block leaves out come from here,
# the suite's http_config and server_config unless given:
#
#   add_block_preprocessor(sub {
#       defaults(shift, config => server_config(...), more_headers => "...");
#   });
sub defaults {
    my ($block, %value) = @_;
    $value{http_config} //= http_config();
    $value{config} //= server_config();
    for my $section (sort keys %value) {
        $block->set_value($section => $value{$section})
            unless defined $block->$section;
    }
}

1;
