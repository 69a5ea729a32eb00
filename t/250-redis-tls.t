# Redis over TLS: hiredis 0.14 has no TLS, so nginx's own stream module is
# the TLS client, on a unix socket that oneid_redis dials.  A private
# redis-server speaks TLS only (--port 0) with a CA made here; verification
# is on; a wrong CA or a missing client certificate fails closed (503).

use strict;
use warnings;

use lib 't/lib';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Test::OneID qw(session_key);
use Test::OneID::Conf qw(http_config server_config);

my $stream_so = $ENV{TEST_NGINX_STREAM_MODULE}
                || '/usr/lib/nginx/modules/ngx_stream_module.so';
plan skip_all => "no $stream_so (Debian: apt-get install libnginx-mod-stream)"
    unless -f $stream_so;

my $base = $ENV{TEST_NGINX_REDIS_PORT} || 16379;
my ($need_cert, $cert_optional) = ($base + 40, $base + 41);
my $dir = tempdir(CLEANUP => 1);
my $pki = Test::OneID::tls_pki($dir);
my $strict = Test::OneID::tls_redis($dir, $pki, $need_cert, 'yes');
my $loose = Test::OneID::tls_redis($dir, $pki, $cert_optional, 'no');
my $sock = "$dir/oneid-redis.sock";

# nginx with a stream server: unix:$sock -> TLS to 127.0.0.1:$port
sub gateway {
    my (%o) = @_;
    my $ca = $o{ca} // $pki->{ca};
    my $cert = $o{client_cert} // 1
        ? "proxy_ssl_certificate $pki->{client_crt};\n"
          . "        proxy_ssl_certificate_key $pki->{client_key};"
        : '';
    unlink $sock;
    return Test::OneID->new(
        main_config => <<"END",
load_module $stream_so;
stream {
    server {
        listen unix:$sock;
        proxy_pass 127.0.0.1:$o{port};
        proxy_ssl on;
        proxy_ssl_verify on;
        proxy_ssl_name redis.test;
        proxy_ssl_trusted_certificate $ca;
        $cert
        proxy_connect_timeout 2s;
    }
}
END
        http_config   => http_config(redis => "unix:$sock"),
        config        => server_config(),
        root_location => 0,
        log_level     => 'info',
    );
}

# the clients of a TLS Redis other than the redis-cli asking
sub others { grep { !/cmd=client/ } split /\n/, $_[0]->('client', 'list') }

is $strict->('config', 'get', 'port'), "port\n0",
    'the Redis under test has no plain port';
{
    my $plain = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$need_cert",
                                      Timeout => 2);
    my $reply = '';
    if ($plain) {
        print $plain "PING\r\n";
        $plain->sysread($reply, 100) for 1;    # EOF or TLS alert bytes
    }
    unlike $reply, qr/PONG/, '... and its TLS port answers no plaintext';
}

my $cookie;
{
    my $t = gateway(port => $need_cert);
    my $b = $t->browser;
    is $b->login('/ward', user => 'doctor')->{status}, 302,
        'TLS with a client certificate: login works';
    is $b->get('/ward')->{status}, 200, '... and the session is found';
    $cookie = $b->cookie('oneid_session');
    is $strict->('exists', session_key($cookie)), '1',
        '... in the TLS-only Redis';
    ok scalar(others($strict)) >= 1,
        '... which has nginx among its (TLS) clients'
        or diag $strict->('client', 'list');
    is sprintf('%o', (stat $sock)[2] & 07777), '666',
        '... and the socket is open to every local user (as README warns)';
    unlike $t->error_log_since_mark, qr/\[(error|crit|alert|emerg)\]/,
        '... and nothing went wrong on the way';
}

# A CA that did not sign Redis's certificate: nginx refuses the handshake,
# the module sees a Redis that is gone and answers 503, never a login loop
{
    my $t = gateway(port => $need_cert, ca => $pki->{other_ca});
    my $b = $t->browser;
    $b->set_cookie(oneid_session => $cookie);
    my $res = $b->get('/ward');
    is $res->{status}, 503, 'wrong CA: a signed-in user gets 503';
    like $res->{body}, qr/Xizmat vaqtincha ishlamayapti/, '... with the page';
    ok $t->wait_for_error_log(
        qr/upstream SSL certificate verify error: .*while SSL handshaking to upstream/, 2),
        '... and the log says the certificate did not verify'
        or diag $t->error_log_since_mark;
    ok $t->wait_for_error_log(qr/oneid: lost connection to redis at unix:\Q$sock\E/, 2),
        '... and that the module lost its Redis';
    my $other = $t->browser;
    is $other->get($other->callback_for('doctor', '/ward'))->{status}, 503,
        '... and a callback gets 503 too (no session written)';
}

# Redis requires a client certificate and nginx has none
{
    my $t = gateway(port => $need_cert, client_cert => 0);
    my $b = $t->browser;
    $b->set_cookie(oneid_session => $cookie);
    my $res = $b->get('/ward');
    is $res->{status}, 503, 'no client certificate where Redis wants one: 503';
    like $res->{body}, qr/Xizmat vaqtincha ishlamayapti/, '... with the page';
    ok $t->wait_for_error_log(
        qr/SSL_do_handshake\(\) failed .*alert.*while SSL handshaking to upstream/, 2),
        '... and the log says the handshake failed'
        or diag $t->error_log_since_mark;
}

# Redis with optional client certificates: verification of the server alone
{
    my $t = gateway(port => $cert_optional, client_cert => 0);
    my $b = $t->browser;
    is $b->login('/ward', user => 'citizen-eds')->{status}, 302,
        'TLS without a client certificate, Redis not asking for one: login works';
    is $b->get('/ward')->{status}, 200, '... and the session is found';
    is $loose->('exists', session_key($b->cookie('oneid_session'))), '1',
        '... in that Redis';
}

done_testing;
