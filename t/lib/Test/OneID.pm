package Test::OneID;

# Helpers for multi-step browser-flow tests of the OneID gateway:
#
#   my $t = Test::OneID->new(http_config => ..., config => ...);  # starts nginx
#   my $b = $t->browser;                  # own cookie jar
#   my $res = $b->login('/patients/42', user => 'citizen-basic');
#   is $b->cookie('oneid_session') ...;  $t->redis('GET', 'key');
#
# nginx is run by Test::Nginx::Server with the same nginx.conf template as
# the Test::Nginx::Socket block tests.  Plain Perl + Test::More: a failing
# step is reported with diag(), never by hidden extra assertions, so a test
# file's plan only counts its own ok()/is() calls.

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA ();
use Exporter qw(import);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Test::More ();
use Time::HiRes qw(time sleep);
use MIME::Base64 ();
use Crypt::AuthEnc::GCM ();
use Crypt::KeyDerivation ();
use Test::Nginx::Server ();

# the plain functions, for files that would rather not spell Test::OneID::
our @EXPORT_OK = qw(session_key state_key seed_session seed_state raw_send
                    raw_response raw_request raw_get get_request parallel
                    parse_response header_values preserve_data
                    preserve_script form_urlencode form_headers
                    echo_request verify_signature open_record open_token);

# Args: main_config, http_config, config, user_files, log_level, workers,
# master_process, root_location, env => [...] (see Test::Nginx::Server).
sub new {
    my ($class, %args) = @_;
    my $info = eval { Test::Nginx::Server::write_config_and_start({%args}) };
    croak "Test::OneID->new: $@" unless $info;
    return bless {
        pid  => $info->{pid},
        mark => $info->{log_offset},    # startup lines count as "new"
    }, $class;
}

sub port     { Test::Nginx::Server::port() }
sub base_url { 'http://127.0.0.1:' . Test::Nginx::Server::port() }
# $t->browser, or $t->browser($port) for another server of this nginx
sub browser {
    my ($self, $port) = @_;
    return Test::OneID::Browser->new(
        base_url => $port ? "http://127.0.0.1:$port" : $self->base_url);
}

sub stop {
    my ($self) = @_;
    delete @$self{qw(redis redis_buf)};
    # A later Test::OneID->new may have replaced our nginx: leave that alone.
    my $running = Test::Nginx::Server::nginx_pid();
    Test::Nginx::Server::stop_nginx() if defined $running && $running == $self->{pid};
}

sub DESTROY { $_[0]->stop }

# the workers of this nginx (master_process on), oldest first
sub worker_pids {
    my ($self) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my ($pid, $ppid) = (<$fh> // '') =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @pids, $pid if $ppid == $self->{pid};
    }
    return sort { $a <=> $b } @pids;
}

# ---------------------------------------------------------------------------
# error.log

sub mark_error_log {
    my ($self) = @_;
    settle_error_log();
    $self->{mark} = Test::Nginx::Server::error_log_size();
}

sub error_log_since_mark {
    my ($self) = @_;
    settle_error_log();
    return Test::Nginx::Server::read_error_log($self->{mark});
}

# The [error] (and worse) lines since the mark, as a list.
sub errors_since_mark {
    my ($self) = @_;
    return grep { /\[(error|crit|alert|emerg)\]/ } split /^/, $self->error_log_since_mark;
}

# Poll the new part of error.log until $pattern (substring or qr//) shows
# up; returns the matching line or undef after $timeout seconds.
sub wait_for_error_log {
    my ($self, $pattern, $timeout) = @_;
    my $deadline = time + ($timeout // 2);
    while (1) {
        for my $line (split /^/, Test::Nginx::Server::read_error_log($self->{mark})) {
            return $line if ref $pattern ? $line =~ $pattern : index($line, $pattern) >= 0;
        }
        return undef if time > $deadline;
        sleep 0.02;
    }
}

# HTTP::Tiny returns as soon as the body is complete, while nginx may still
# be running its log phase for that request.  Wait until error.log stops
# growing (two equal sizes 20 ms apart, at most 1 s) before reading it.
sub settle_error_log {
    my $deadline = time + 1;
    my $size = Test::Nginx::Server::error_log_size();
    while (time < $deadline) {
        sleep 0.02;
        my $now = Test::Nginx::Server::error_log_size();
        return if $now == $size;
        $size = $now;
    }
}

# ---------------------------------------------------------------------------
# Redis (minimal RESP2 client; no redis-cli needed)

# $t->redis('SET', 'k', 'v') -> 'OK'; GET -> string or undef; arrays ->
# arrayref; integers -> numbers.  An error reply dies with Redis's message.
sub redis {
    my ($self, @cmd) = @_;
    croak 'redis(): no command given' unless @cmd;
    my $port = $ENV{TEST_NGINX_REDIS_PORT} || 16379;
    $self->{redis} ||= IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 5)
        or croak "redis(): cannot connect to 127.0.0.1:$port ($@):"
            . " is redis-server running? (TEST_NGINX_REDIS_PORT)";
    my $sock = $self->{redis};

    my $req = '*' . @cmd . "\r\n";
    for my $arg (@cmd) {
        my $bytes = $arg // '';
        utf8::encode($bytes) if utf8::is_utf8($bytes);
        $req .= '$' . length($bytes) . "\r\n$bytes\r\n";
    }
    $self->{redis_buf} //= '';
    local $SIG{PIPE} = 'IGNORE';    # a dead connection must die(), not kill the test
    my $reply = eval {
        resp_write($sock, $req);
        resp_read($sock, \$self->{redis_buf});
    };
    if (my $err = $@) {
        # Connection state unknown: reconnect next time.
        delete @$self{qw(redis redis_buf)};
        croak "redis(@cmd): $err";
    }
    croak "redis(@cmd): Redis error: $$reply" if ref $reply eq 'Test::OneID::RedisError';
    return $reply;
}

# The session (state) keys under a key prefix (oneid: if none), sorted;
# in scalar context how many there are:
#   my $before = join ' ', $t->session_keys('oneid120:');
#   my $count = $t->session_keys('oneid125:');
sub session_keys { my ($self, $prefix) = @_; $self->keys_of(($prefix // 'oneid:') . 'session:*') }
sub state_keys   { my ($self, $prefix) = @_; $self->keys_of(($prefix // 'oneid:') . 'state:*') }

# $t->clear_keys('oneid150:'): every key under a file's own prefix gone
sub clear_keys {
    my ($self, $prefix) = @_;
    croak 'clear_keys: a prefix is needed' unless length($prefix // '');
    $self->redis('DEL', $_) for $self->keys_of("$prefix*");
}

sub keys_of {
    my ($self, $pattern) = @_;
    my @keys = sort @{ $self->redis('KEYS', $pattern) };
    return wantarray ? @keys : scalar @keys;
}

# how often Redis has run a command so far: $t->command_calls('getex')
sub command_calls {
    my ($self, $command) = @_;
    my ($line) = grep { /^cmdstat_\Q$command\E:/ }
                 split /\r\n/, $self->redis('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}

# ---------------------------------------------------------------------------
# oneid_metrics

# The oneid_metrics page, parsed: { 'name{labels}' => value }, the answer
# itself under '' (undef when it is not a 200):
#   my $m = Test::OneID::metrics($browser, '/oneid/metrics');
#   $m->{'oneid_logins_failed_total{reason="state"}'}
sub metrics {
    my ($browser, $path) = @_;
    my $res = $browser->get($path // '/oneid/metrics');
    return undef unless $res->{status} == 200;
    my %m = ('' => $res);
    for (split /\n/, $res->{body}) {
        $m{$1} = $2 if /^([a-z_]+(?:\{.*\})?) (\S+)$/;
    }
    return \%m;
}

# What `promtool check metrics` says of $text: (exit code, output); undef
# when there is no promtool (TEST_PROMTOOL, fetched by `make promtool`).
sub promtool_check {
    my ($text) = @_;
    my $promtool = $ENV{TEST_PROMTOOL};
    return undef unless $promtool && -x $promtool;
    require File::Temp;
    my $fh = File::Temp->new;
    print $fh $text;
    close $fh;
    my $out = `$promtool check metrics < @{[ $fh->filename ]} 2>&1`;
    return ($? >> 8, $out);
}

# Redis commands that write, run so far (anonymous requests must add none):
#   my $before = $t->write_calls; ...; is $t->write_calls - $before, 0
sub write_calls {
    my ($self) = @_;
    my $n = 0;
    for (split /\r\n/, $self->redis('INFO', 'commandstats')) {
        $n += $2 if /^cmdstat_(set|setex|setnx|getdel|getex|del|unlink|eval
                               |evalsha|hset|hsetnx|hdel|expire|incr|publish
                               |rename):calls=(\d+)/x;
    }
    return $n;
}

# how many connections are subscribed to $channel:
#   $t->subscribers('oneid:revoked')
sub subscribers {
    my ($self, $channel) = @_;
    my $reply = $self->redis('PUBSUB', 'NUMSUB', $channel);
    return $reply->[1];
}

# Poll $cond every 20 ms until it returns true; false after $timeout s.
#   Test::OneID::wait_until(5, sub { $t->subscribers($ch) == 3 })
sub wait_until {
    my ($timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (1) {
        return 1 if $cond->();
        return 0 if time > $deadline;
        sleep 0.02;
    }
}

# A login flow's cookie as the module seals it (ngx_http_oneid_flow.c):
#   Test::OneID::flow_cookie($secret, $state, '/ward', time - 700, 'n')
# $secret: the server key file's text without its last newline.
sub flow_key {
    my ($secret) = @_;
    my $prk = Digest::SHA::hmac_sha256($secret, 'ngx_http_oneid_module');
    return Digest::SHA::hmac_sha256("ngx_http_oneid_module login state v1\x01", $prk);
}

sub b64url { (my $s = MIME::Base64::encode_base64($_[0], '')) =~ tr{+/=}{-_}d; $s }

sub flow_cookie {
    my ($secret, $state, $uri, $issued, $flag) = @_;
    my $sealed = '1' . ($flag // 'n') . '.' . ($issued // int time) . '.' . b64url($uri // '/');
    my $mac = substr(Digest::SHA::hmac_sha256("$state.$sealed", flow_key($secret)), 0, 16);
    return "$sealed." . b64url($mac);
}

# The flow cookies a raw answer sets: [ name, return URI (decoded, not
# verified) ] each; expired ones (empty values) left out.
sub flows_set {
    my ($res) = @_;
    my @out;
    for (header_values($res, 'Set-Cookie')) {
        my ($name, $value) = /^([^=;]*_state_[A-Za-z0-9_~-]{8})=([^;]+)/ or next;
        my ($uri64) = $value =~ /^1[nr]\.\d+\.([A-Za-z0-9_-]*)\./ or next;
        (my $b64 = $uri64) =~ tr{-_}{+/};
        push @out, [ $name, MIME::Base64::decode_base64($b64) ];
    }
    return @out;
}

# the cookie name of the flow of $state (default state cookie name)
sub flow_name { ($_[1] // 'oneid_session_state') . '_' . substr($_[0], 0, 8) }

# A login state written straight into Redis, as a login start leaves it:
#   Test::OneID::seed_state($state, $binding_cookie, '/return');
#   Test::OneID::state_key($state, 'oneid150:')  # prefix: oneid: if none
sub state_key { ($_[1] // 'oneid:') . 'state:' . Digest::SHA::sha256_hex($_[0] // '') }

sub seed_state {
    my ($state, $binding, $uri) = @_;
    redis({}, 'SET', state_key($state),
          Digest::SHA::sha256_hex($binding) . "\n" . ($uri // '/'), 'EX', 300);
    return $state;
}

sub resp_write {
    my ($sock, $data) = @_;
    while (length $data) {
        my $n = syswrite($sock, $data);
        die "write failed: $!\n" unless $n;
        substr($data, 0, $n, '');
    }
}

sub resp_read {
    my ($sock, $buf) = @_;
    my $line = resp_line($sock, $buf);
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    return bless \$rest, 'Test::OneID::RedisError' if $type eq '-';
    return 0 + $rest if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        return substr(resp_bytes($sock, $buf, $rest + 2), 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { resp_read($sock, $buf) } 1 .. $rest];
    }
    die "unexpected reply line '$line'\n";
}

sub resp_line {
    my ($sock, $buf) = @_;
    resp_fill($sock, $buf) until $$buf =~ s/\A(.*?)\r\n//s;
    return $1;
}

sub resp_bytes {
    my ($sock, $buf, $n) = @_;
    resp_fill($sock, $buf) while length $$buf < $n;
    return substr($$buf, 0, $n, '');
}

sub resp_fill {
    my ($sock, $buf) = @_;
    IO::Select->new($sock)->can_read(5) or die "timed out waiting for Redis\n";
    my $n = sysread($sock, $$buf, 65536, length $$buf);
    die "connection closed by Redis\n" if defined $n && $n == 0;
    die "read failed: $!\n" unless defined $n;
}

# The established TCP connections of process $pid (an nginx worker), as
# [local port, remote port] pairs, from its sockets in /proc.
sub tcp_connections {
    my ($pid) = @_;
    my %mine;
    for my $fd (glob "/proc/$pid/fd/*") {
        my $link = readlink($fd) // next;
        $mine{$1} = 1 if $link =~ /^socket:\[(\d+)\]$/;
    }
    my @conns;
    for my $table ("/proc/$pid/net/tcp", "/proc/$pid/net/tcp6") {
        open my $fh, '<', $table or next;
        <$fh>;
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            next unless $f[3] eq '01' && $mine{ $f[9] };    # ESTABLISHED
            push @conns, [ map { hex((split /:/)[-1]) } @f[1, 2] ];
        }
    }
    return @conns;
}

# ---------------------------------------------------------------------------
# Sessions written straight into Redis, as a login leaves them (see
# ngx_http_oneid_session.c), for tests that need a signed-in request but
# not a login:
#
#   Test::OneID::seed_session($sid, pin => '...', ttl => 600, format => 2);
#   Test::OneID::session_key($sid)  # 'oneid:session:<hex sha256>'
#   Test::OneID::session_key($sid, 'mis:')  # under another key prefix

our @SESSION_FIELDS = qw(pin user_id full_name first_name sur_name mid_name
                         user_type auth_method legal_tin legal_name);

sub session_key { ($_[1] // 'oneid:') . 'session:' . Digest::SHA::sha256_hex($_[0] // '') }

# What the module keeps secret in Redis, opened as README ("Sessions
# encrypted at rest") documents it, with CryptX rather than the module's
# code: HKDF-SHA256 (salt "ngx_http_oneid_module", info the label) of the
# cookie value or of the oneid_key_file contents, AES-256-GCM over
# nonce (12) | ciphertext | tag (16).  undef when it does not open.
sub hkdf_key {
    my ($ikm, $label) = @_;
    Crypt::KeyDerivation::hkdf($ikm, 'ngx_http_oneid_module', 'SHA256', 32,
                               "ngx_http_oneid_module $label v1");
}

sub gcm_open {
    my ($key, $sealed) = @_;
    return undef unless defined $sealed && length $sealed >= 28;
    # plain copies: CryptX 0.077 misreads substr()'s values passed directly
    my ($iv, $ct, $tag) = (substr($sealed, 0, 12), substr($sealed, 12, -16),
                           substr($sealed, -16));
    Crypt::AuthEnc::GCM::gcm_decrypt_verify('AES', $key, $iv, '', $ct, $tag);
}

sub b64url_decode { (my $s = $_[0]) =~ tr{-_}{+/}; MIME::Base64::decode_base64($s) }

# The record of a session value from Redis, in clear ("2\n<login>\n...");
# a value in clear (before 0.7.0, or seeded) as it is.
#   my @lines = split /\n/, open_record($sid, $value), -1;
sub open_record {
    my ($sid, $value) = @_;
    return $value unless defined $value && substr($value, 0, 1) eq '3';
    gcm_open(hkdf_key($sid, 'session record'), substr $value, 1);
}

# The OneID token of a token record: with the session's cookie value
# (sid => ...) or the contents of the server key file (key => ...).
sub open_token {
    my ($value, %with) = @_;
    return $value unless defined $value && $value =~ /^3 (\S+) (\S+)$/;
    return gcm_open(hkdf_key($with{sid}, 'session token'), b64url_decode($1))
        if defined $with{sid};
    gcm_open(hkdf_key($with{key}, 'token'), b64url_decode($2));
}

# The details of an index entry (client, user agent, auth method), opened
# with the contents of the server key file: a hash, or undef.
sub open_details {
    my ($key, $b64) = @_;
    my $json = gcm_open(hkdf_key($key, 'index details'), b64url_decode($b64 // ''));
    return defined $json ? JSON::PP::decode_json($json) : undef;
}

# The same read from Redis: $t->session_record($sid[, $prefix]),
# $t->kept_token($sid[, $prefix]) (opened with the cookie)
sub session_record {
    my ($self, $sid, $prefix) = @_;
    open_record($sid, $self->redis('GET', session_key($sid, $prefix)));
}

sub token_key { ($_[1] // 'oneid:') . 'token:' . Digest::SHA::sha256_hex($_[0] // '') }

sub kept_token {
    my ($self, $sid, $prefix) = @_;
    open_token($self->redis('GET', token_key($sid, $prefix)), sid => $sid);
}

sub seed_session {
    my ($sid, %opt) = @_;
    croak "seed_session: '$sid' is not a session id"
        unless $sid =~ /^[A-Za-z0-9_-]{43}$/;
    my %id = (pin => '31505900000011', user_id => 'seeded.user', %opt);
    # format 1: as written before 0.3.0, reachable under both cookie names
    my $record = join "\n", $opt{format} // 1, $opt{login_time} // int(time),
        $opt{access_token} // "tok-$sid",
        map { $id{$_} // '' } @SESSION_FIELDS;
    redis({}, 'SET', session_key($sid), $record, 'EX', $opt{ttl} // 600);
    return $sid;
}

# ---------------------------------------------------------------------------
# oneid_preserve_post pages

# The data block of a page that keeps or re-posts a form, decoded (undef
# when there is none or it does not parse: a field broke out of it).
#   my $d = Test::OneID::preserve_data($res->{body});
sub preserve_data {
    my ($html) = @_;
    my ($json) = $html =~ m{<script type="application/json" id="oneid-post">(.*?)</script>}s
        or return undef;
    return eval { JSON::PP->new->utf8->decode($json) };
}

# The page's one inline script, and its CSP source ('sha256-...').
sub preserve_script {
    my ($html) = @_;
    my ($script) = $html =~ m{<script>(.*?)</script>}s or return (undef, undef);
    return ($script, "'sha256-" . Digest::SHA::sha256_base64($script) . "='");
}

# [name, value] pairs as a browser sends them (UTF-8, + for space, order
# and repeated names kept)
sub form_urlencode {
    my (@pairs) = @_;
    my @out;
    while (my ($k, $v) = splice @pairs, 0, 2) {
        push @out, join '=', map {
            my $s = $_;
            utf8::encode($s) if utf8::is_utf8($s);
            $s =~ s/([^A-Za-z0-9*\-._ ])/sprintf('%%%02X', ord $1)/ge;
            $s =~ tr/ /+/;
            $s } $k, $v;
    }
    return join '&', @out;
}

# what a browser sends with a form it submits on a page of the site
sub form_headers {
    return { 'Content-Type' => 'application/x-www-form-urlencoded',
             'Sec-Fetch-Mode' => 'navigate', 'Sec-Fetch-Site' => 'same-origin',
             'Sec-Fetch-Dest' => 'document',
             Accept => 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8', @_ };
}

# ---------------------------------------------------------------------------
# Raw HTTP, for bytes HTTP::Tiny cannot send and for requests that must be
# in flight at the same time.  An answer is
#   { status, headers => [[name, value], ...], body, raw, http09 }
# with a chunked body decoded; status 0 and http09 1 when no status line.
#
#   my $res = Test::OneID::raw_request($port, "GET / HTTP/1.1\r\n...\r\n\r\n");
#   my $res = Test::OneID::raw_get($port, '/x', 'Cookie: a=b');
#   my @res = Test::OneID::parallel($port, get_request($port, '/a'), ...);
#   my $s = Test::OneID::raw_send($port, $bytes);  # answer read later by
#   my $res = Test::OneID::raw_response($s);       # raw_response
#   my @cookies = Test::OneID::header_values($res, 'Set-Cookie');

sub raw_send {
    my ($port, $request) = @_;
    my $s = raw_connect($port);
    raw_write($s, $request);
    return $s;
}

sub raw_connect {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10)
        || croak "cannot connect to 127.0.0.1:$port: $@";
}

sub raw_write {
    my ($s, $bytes) = @_;
    local $SIG{PIPE} = 'IGNORE';
    while (length $bytes) {
        my $n = syswrite($s, $bytes) or last;    # nginx may answer early
        substr($bytes, 0, $n, '');
    }
}

sub raw_response {
    my ($s, $timeout) = @_;
    my $data = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read($timeout // 10)) {
        my $n = sysread($s, $data, 65536, length $data);
        last unless $n;
    }
    return parse_response($data);
}

# One request on a new connection, exactly these bytes.
sub raw_request { raw_response(raw_send(@_[0, 1]), $_[2]) }

# GET $target with extra header lines, Host 127.0.0.1:$port.
sub raw_get { my ($port, @rest) = @_; raw_request($port, get_request($port, @rest)) }

sub get_request {
    my ($port, $target, @lines) = @_;
    return "GET $target HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
        . join('', map { "$_\r\n" } @lines) . "Connection: close\r\n\r\n";
}

# The requests all written before any answer is read: nginx works on all
# of them at once.  Answers in the order of the requests.
sub parallel {
    my ($port, @requests) = @_;
    my @socks = map { raw_connect($port) } @requests;
    raw_write($socks[$_], $requests[$_]) for 0 .. $#requests;
    my %buf = map { fileno($_) => '' } @socks;
    my $sel = IO::Select->new(@socks);
    while ($sel->count) {
        my @ready = $sel->can_read(15) or last;
        for my $s (@ready) {
            my $n = sysread($s, $buf{ fileno $s }, 65536, length $buf{ fileno $s });
            $sel->remove($s) unless $n;
        }
    }
    my @res = map { parse_response($buf{ fileno $_ }) } @socks;
    close $_ for @socks;
    return @res;
}

sub parse_response {
    my ($data) = @_;
    my %r = (raw => $data, status => 0, headers => [], body => '', http09 => 0);
    my ($status, $head, $body) =
        $data =~ m{\AHTTP/1\.[01] (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)\z}s;
    unless (defined $status) {
        @r{qw(body http09)} = ($data, 1);
        return \%r;
    }
    $r{status} = $status;
    $r{headers} = [ map { [ /\A([^:]*):[ \t]*(.*)\z/s ] } split /\r\n/, $head ];
    if (grep { lc $_->[0] eq 'transfer-encoding' && $_->[1] =~ /chunked/i } @{ $r{headers} }) {
        my $out = '';
        while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last unless $n;
            $out .= substr($body, 0, $n, '');
            $body =~ s/\A\r\n//;
        }
        $body = $out;
    }
    $r{body} = $body;
    return \%r;
}

# the values of header $name in a raw answer, in order
sub header_values {
    my ($res, $name) = @_;
    return map { $_->[1] } grep { defined $_->[0] && lc $_->[0] eq lc $name } @{ $res->{headers} };
}

# ---------------------------------------------------------------------------
# Spoofed identity headers, every spelling, among headers that must pass:
#
#   my ($lines, $keep) = Test::OneID::spoofed_headers();
#
# 60 header lines (more than one part of nginx's header list), the first
# 3 KB long (headers move to a large buffer); @$keep are the X-Keep-<n>
# lines that must reach the backend, once each, in order.

sub spoofed_headers {
    my @spoof = qw(
        X-OneID-Pin X-ONEID-PIN x-oneid-pin X-Oneid-Pin x-OnEiD-pIn X_OneID_Pin
        x_oneid_pin X-OneID_Pin X_OneID-Pin X_ONEID_USER_ID X-OneID-User-Id
        X-OneID-Full-Name X-OneID-First-Name X-OneID-Sur-Name
        X-OneID-Mid-Name X-OneID-User-Type X-OneID-Auth-Method
        X-OneID-Legal-Tin X-OneID-Legal-Name X-OneID x-oneid X_ONEID
        X-OneID- X-OneID_ X-OneID-Anything X-OneID-Pin X-OneID-Pin
    );
    my (@keep, @lines);
    @lines = ('X-Keep-Big: ' . ('k' x 3000));
    for my $i (0 .. $#spoof) {
        push @lines, "$spoof[$i]: spoof-$i";
        push @keep, "X-Keep-$i: kept-$i";
        push @lines, $keep[-1];
    }
    push @lines, 'X-OneID-Pin:spoof-nospace', 'X-OneID-Pin:',
        'X-OneID-Full-Name:   spoof-ws   ',
        'X-OneID-Pin: 31505900000011 spoof-duplicate-of-a-real-pin';
    return (\@lines, \@keep);
}

# ---------------------------------------------------------------------------
# Mock OneID server

sub mock_url {
    my ($self, $path) = @_;
    my $port = $ENV{TEST_NGINX_ONEID_PORT}
        or croak 'TEST_NGINX_ONEID_PORT is not set: is the mock OneID server running?';
    return "https://127.0.0.1:$port" . ($path // '');
}

sub mock_get_json {
    my ($self, $path) = @_;
    my $res = $self->browser->get($self->mock_url($path), { Accept => 'application/json' });
    croak "GET " . $self->mock_url($path) . " failed: " . $res->summary
        unless $res->{status} == 200;
    my $data = eval { JSON::PP->new->utf8->decode($res->{body}) };
    croak "GET $path: response is not JSON ($@): " . $res->summary unless defined $data;
    return $data;
}

# The requests the mock received, e.g. mock_requests('one_log_out'); with
# $since (an id), only those after it: mock_requests(undef, $last_id).
sub mock_requests {
    my ($self, $grant_type, $since) = @_;
    my @q;
    push @q, 'grant_type=' . Test::OneID::Browser::uri_escape($grant_type) if defined $grant_type;
    push @q, "since=$since" if defined $since;
    return $self->mock_get_json('/__mock/requests' . (@q ? '?' . join('&', @q) : ''));
}

# The id of the last request the mock received (0 if none): a mark for
# mock_requests(undef, $mark).
sub mock_last_id {
    my ($self) = @_;
    my $all = $self->mock_requests;
    return @$all ? $all->[-1]{id} : 0;
}

# ---------------------------------------------------------------------------
# oneid_audit_log

# The lines of an audit log file from byte $offset on, each as
# { raw => the line without its "\n", event => the decoded object or undef };
# in scalar context how many there are.
#   my @ev = Test::OneID::audit_lines("$dir/audit.log");
sub audit_lines {
    my ($path, $offset) = @_;
    open my $fh, '<:raw', $path or return;
    seek $fh, $offset // 0, 0;
    my @lines;
    while (my $line = <$fh>) {
        chomp $line;
        push @lines, { raw => $line,
                       event => eval { JSON::PP->new->utf8->decode($line) } };
    }
    return wantarray ? @lines : scalar @lines;
}

# ---------------------------------------------------------------------------
# oneid_sign_headers (t/270-signed-headers.t)

# The echo backend's answer: (request line, [ [name, value], ... ] in the
# order received, body, [raw header lines]).
sub echo_request {
    my ($body) = @_;
    my ($head, $rest) = split /\n\n/, $body // '', 2;
    my ($line, @lines) = split /\n/, $head // '', -1;
    return ($line, [ map { [ /^([^:]*):[ \t]*(.*)$/s ] } @lines ], $rest, \@lines);
}

# An upstream's verifier written from the README alone, sharing no code
# with the module: ($ok, $why) for the headers the upstream received.
#   verify_signature(key => $k, method => 'GET', uri => '/a?b',
#                    headers => [ [name, value], ... ], max_age => 60,
#                    now => time)
my @SIGNED = qw(pin user-id full-name first-name sur-name mid-name
                user-type auth-method legal-tin legal-name);

sub verify_signature {
    my (%o) = @_;
    my $now = int($o{now} // time);
    my $max_age = $o{max_age} // 60;
    my (%id, @sig);
    for (@{ $o{headers} }) {
        my ($name, $value) = @$_;
        next unless defined $name && $name =~ /^x-oneid-(.*)$/i;
        my $field = lc $1;
        if ($field eq 'signature') { push @sig, $value; next }
        return (0, "unknown identity header $name")
            unless grep { $_ eq $field } @SIGNED;
        return (0, "repeated identity header $name") if exists $id{$field};
        $id{$field} = $value;
    }
    return (0, 'no signature') unless @sig;
    return (0, 'more than one signature') if @sig > 1;
    my ($t, $s) = $sig[0] =~ /\Av1;t=([0-9]{1,20});s=([A-Za-z0-9_-]{43})\z/
        or return (0, 'malformed signature');
    return (0, 'stale or future timestamp') if abs($now - $t) > $max_age;
    my $data = "v1\n$t\n$o{method}\n$o{uri}\n"
        . join('', map { "x-oneid-$_:$id{$_}\n" } grep { exists $id{$_} } @SIGNED);
    (my $want = MIME::Base64::encode_base64(
        Digest::SHA::hmac_sha256($data, $o{key}), '')) =~ tr{+/=}{-_}d;
    # constant time, as a real verifier must
    my $diff = length($want) ^ length($s);
    $diff |= ord(substr $want, $_, 1) ^ ord(substr $s, $_, 1)
        for 0 .. length($want) - 1;
    return $diff ? (0, 'bad signature') : (1, 'ok');
}

# ---------------------------------------------------------------------------
# nginx -t

# nginx -t on a throwaway configuration with this module loaded, its http
# block holding $http (server_config() is in a server of it unless
# server => 0; without oneid_redis with redis => 0): ($ok, what nginx
# said).
#   my ($ok, $out) = Test::OneID::nginx_t("oneid_audit_log \"\";");
sub nginx_t {
    my ($http, %o) = @_;
    require File::Temp;
    require Test::OneID::Conf;
    my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    my $module = $ENV{TEST_NGINX_LOAD_MODULES}
        or croak 'TEST_NGINX_LOAD_MODULES is not set (run the suite with `make test`)';
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    my $server = ($o{server} // 1)
        ? "    server {\n        listen 127.0.0.1:1;\n"
          . Test::OneID::Conf::server_config() . "\n    }\n"
        : '';
    open my $fh, '>', "$dir/nginx.conf" or croak "nginx_t: $dir/nginx.conf: $!";
    print $fh "load_module $module;\nerror_log $dir/logs/error.log;\n"
        . "pid $dir/logs/nginx.pid;\nevents { worker_connections 16; }\n"
        . "http {\n    "
        . (($o{redis} // 1) ? Test::OneID::Conf::http_config() : '')
        . "$http\n$server}\n";
    close $fh;
    my $out = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    return ($? == 0, $out);
}

# ---------------------------------------------------------------------------
# TLS for Redis (t/250-redis-tls.t)

# A throwaway PKI in $dir, made with the openssl CLI: two unrelated CAs
# (ca, other-ca), a server certificate signed by ca for redis.test and
# 127.0.0.1, a client certificate signed by ca.  Returns the paths:
#   { ca => .., other_ca => .., server_crt => .., server_key => ..,
#     client_crt => .., client_key => .. }
sub tls_pki {
    my ($dir) = @_;
    my $run = sub {
        my $out = `@_ 2>&1`;
        croak "tls_pki: @_: $out" if $?;
    };
    for my $ca (qw(ca other-ca)) {
        $run->("openssl req -x509 -newkey rsa:2048 -nodes -days 2"
               . " -subj /CN=oneid-test-$ca -keyout $dir/$ca.key"
               . " -out $dir/$ca.crt");
    }
    my %ext = (
        server => "subjectAltName=DNS:redis.test,IP:127.0.0.1\n"
                  . "extendedKeyUsage=serverAuth",
        client => "extendedKeyUsage=clientAuth",
    );
    for my $who (qw(server client)) {
        open my $fh, '>', "$dir/$who.ext" or croak "tls_pki: $dir/$who.ext: $!";
        print $fh "basicConstraints=CA:FALSE\n$ext{$who}\n";
        close $fh;
        $run->("openssl req -newkey rsa:2048 -nodes -subj /CN=oneid-$who"
               . " -keyout $dir/$who.key -out $dir/$who.csr");
        $run->("openssl x509 -req -in $dir/$who.csr -days 2 -CA $dir/ca.crt"
               . " -CAkey $dir/ca.key -CAcreateserial -extfile $dir/$who.ext"
               . " -out $dir/$who.crt");
    }
    return { ca => "$dir/ca.crt", other_ca => "$dir/other-ca.crt",
             server_crt => "$dir/server.crt", server_key => "$dir/server.key",
             client_crt => "$dir/client.crt", client_key => "$dir/client.key" };
}

# A private redis-server that speaks TLS only (--port 0) on $port with the
# certificates of tls_pki(); auth_clients => 'yes' or 'no' (does it require
# a client certificate).  Returns a function that runs redis-cli over TLS
# against it (with the client certificate) and returns its output; the
# server is shut down when the test ends.
#   my $cli = Test::OneID::tls_redis($dir, $pki, $port, 'yes');
#   $cli->('client', 'list');
my @tls_redis_stop;
END { $_->() for @tls_redis_stop }

sub tls_redis {
    my ($dir, $pki, $port, $auth_clients) = @_;
    my $cli = "redis-cli --tls -h 127.0.0.1 -p $port --cacert $pki->{ca}"
              . " --cert $pki->{client_crt} --key $pki->{client_key}";
    system('redis-server', '--port', 0, '--tls-port', $port,
           '--bind', '127.0.0.1', '--tls-cert-file', $pki->{server_crt},
           '--tls-key-file', $pki->{server_key},
           '--tls-ca-cert-file', $pki->{ca},
           '--tls-auth-clients', $auth_clients, '--save', '',
           '--appendonly', 'no', '--daemonize', 'yes', '--dir', $dir,
           '--pidfile', "$dir/redis-$port.pid",
           '--logfile', "$dir/redis-$port.log") == 0
        or croak "tls_redis: cannot start redis-server with --tls-port $port";
    push @tls_redis_stop, sub { system("$cli shutdown nosave >/dev/null 2>&1") };
    my $run = sub {
        my $out = `$cli @_ 2>&1`;
        chomp $out;
        return $out;
    };
    for (1 .. 100) { last if $run->('ping') eq 'PONG'; sleep 0.05 }
    $run->('ping') eq 'PONG'
        or croak "tls_redis: redis-server on TLS port $port does not answer:"
                 . " see $dir/redis-$port.log";
    return $run;
}

# ===========================================================================
package Test::OneID::HoldProxy;

# A TCP proxy, in a child process, in front of a real server (a Redis
# Sentinel) that can hold the server's answers back to make it slow at will:
#
#   my $p = Test::OneID::HoldProxy->new(listen => $port, upstream => $port2,
#                                       status => "$dir/proxy.status");
#   $p->hold;       # from now on keep the answers; requests still go through
#   $p->held;       # how many answers (reads from the server) it keeps
#   $p->release;    # send what was kept, and pass answers through again
#   $p->stop;

use Carp qw(croak);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use MIME::Base64 ();

sub new {
    my ($class, %o) = @_;
    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $o{listen}, Listen => 16,
        ReuseAddr => 1, Proto => 'tcp')
        or croak "HoldProxy: cannot listen on 127.0.0.1:$o{listen}: $@";
    unlink $o{status};
    my $pid = fork // croak "HoldProxy: fork: $!";
    if ($pid == 0) {
        eval { run($listen, $o{upstream}, $o{status}) };
        POSIX::_exit(0);
    }
    close $listen;
    my $self = bless { pid => $pid, status => $o{status}, owner => $$ }, $class;
    $self->wait_status(0) or croak 'HoldProxy: the proxy did not start';
    return $self;
}

sub held {
    my ($self) = @_;
    open my $fh, '<', $self->{status} or return undef;
    my $n = <$fh> // '';
    return $n =~ /^(\d+)$/ ? $1 : undef;
}

sub wait_status {
    my ($self, $want, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (time < $deadline) {
        my $n = $self->held;
        return 1 if defined $n && $n >= $want;
        sleep 0.02;
    }
    return 0;
}

sub hold    { kill USR1 => $_[0]{pid} }
sub release { kill USR2 => $_[0]{pid} }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return if $$ != $self->{owner};
    kill TERM => $pid;
    waitpid $pid, 0;
}

sub DESTROY { $_[0]->stop }

sub run {
    my ($listen, $upstream, $status) = @_;
    my ($hold, $release, $held) = (0, 0, 0);
    my (%peer, %from_server, %kept);
    local $SIG{USR1} = sub { $hold = 1 };
    local $SIG{USR2} = sub { $release = 1 };
    local $SIG{TERM} = sub { POSIX::_exit(0) };
    local $SIG{PIPE} = 'IGNORE';

    my $report = sub {
        open my $fh, '>', "$status.tmp" or return;
        print $fh "$held\n";
        close $fh;
        rename "$status.tmp", $status;
    };
    my $send = sub {
        my ($sock, $data) = @_;
        while (length $data) {
            my $n = syswrite($sock, $data) or return;
            substr($data, 0, $n, '');
        }
    };
    my $sel = IO::Select->new($listen);
    my $drop = sub {
        for my $s (@_) {
            $sel->remove($s);
            delete @{$_}{$s} for \%peer, \%from_server, \%kept;
            close $s;
        }
    };
    $report->();

    while (1) {
        if ($release) {
            ($hold, $release, $held) = (0, 0, 0);
            for my $k (values %kept) {
                $send->(@$k) if exists $peer{ $k->[0] };
            }
            %kept = ();
            $report->();
        }
        for my $s ($sel->can_read(0.02)) {
            if ($s == $listen) {
                my $client = $listen->accept or next;
                my $server = IO::Socket::INET->new(
                    PeerAddr => '127.0.0.1', PeerPort => $upstream, Proto => 'tcp')
                    or do { close $client; next };
                @peer{$client, $server} = ($server, $client);
                $from_server{$server} = 1;
                $sel->add($client, $server);
                next;
            }
            my $other = $peer{$s} or next;
            my $n = sysread($s, my $buf, 65536);
            if (!$n) {
                $drop->($s, $other);
                next;
            }
            if ($from_server{$s} && $hold) {
                ($kept{$other} //= [$other, ''])->[1] .= $buf;
                $held++;
                $report->();
            } else {
                $send->($other, $buf);
            }
        }
    }
}

# ===========================================================================
package Test::OneID::RedisProxy;

# A TCP proxy, in a child process, in front of the suite's Redis, that can
# keep Redis away from one node without touching the others:
#
#   my $p = Test::OneID::RedisProxy->new(listen => $port,
#       upstream => $redis_port, status => "$dir/redis-proxy.status");
#   $p->cut;     # subscribers out: a connection that sends SUBSCRIBE is
#                # closed before Redis sees it, those subscribed already too;
#                # other commands pass
#   $p->down;    # every connection closed, new ones at once
#   $p->pass;    # everything passes again
#   $p->stop;

use Carp qw(croak);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use MIME::Base64 ();

my %SIGNAL = (pass => 'USR1', cut => 'USR2', down => 'HUP');

sub new {
    my ($class, %o) = @_;
    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $o{listen}, Listen => 64,
        ReuseAddr => 1, Proto => 'tcp')
        or croak "RedisProxy: cannot listen on 127.0.0.1:$o{listen}: $@";
    unlink $o{status};
    my $pid = fork // croak "RedisProxy: fork: $!";
    if ($pid == 0) {
        eval { run($listen, $o{upstream}, $o{status}) };
        POSIX::_exit(0);
    }
    close $listen;
    my $self = bless { pid => $pid, status => $o{status}, owner => $$ }, $class;
    $self->wait_mode('pass') or croak 'RedisProxy: the proxy did not start';
    return $self;
}

sub pass { $_[0]->set_mode('pass') }
sub cut  { $_[0]->set_mode('cut') }
sub down { $_[0]->set_mode('down') }

# returns true once the proxy works in the new mode
sub set_mode {
    my ($self, $mode) = @_;
    kill $SIGNAL{$mode} => $self->{pid};
    return $self->wait_mode($mode);
}

sub wait_mode {
    my ($self, $mode) = @_;
    my $deadline = time + 5;
    while (time < $deadline) {
        if (open my $fh, '<', $self->{status}) {
            my $line = <$fh> // '';
            return 1 if $line eq "$mode\n";
        }
        sleep 0.01;
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return if $$ != $self->{owner};
    kill TERM => $pid;
    waitpid $pid, 0;
}

sub DESTROY { $_[0]->stop }

sub run {
    my ($listen, $upstream, $status) = @_;
    my ($mode, $want) = ('pass', 'pass');
    my (%peer, %from_server, %subscriber);
    local $SIG{USR1} = sub { $want = 'pass' };
    local $SIG{USR2} = sub { $want = 'cut' };
    local $SIG{HUP}  = sub { $want = 'down' };
    local $SIG{TERM} = sub { POSIX::_exit(0) };
    local $SIG{PIPE} = 'IGNORE';

    my $sel = IO::Select->new($listen);
    my $drop = sub {
        my @socks = @_;    # copies: @_ may alias values of %peer
        for my $s (@socks) {
            $sel->remove($s);
            delete @{$_}{$s} for \%peer, \%from_server, \%subscriber;
            close $s;
        }
    };
    my $report = sub {
        open my $fh, '>', "$status.tmp" or return;
        print $fh "$mode\n";
        close $fh;
        rename "$status.tmp", $status;
    };
    $report->();

    while (1) {
        if ($want ne $mode) {
            $mode = $want;
            my @clients = grep { !$from_server{$_} } values %peer;
            for my $s (@clients) {
                next unless exists $peer{$s};
                $drop->($s, $peer{$s})
                    if $mode eq 'down' || ($mode eq 'cut' && $subscriber{$s});
            }
            $report->();
        }
        for my $s ($sel->can_read(0.02)) {
            if ($s == $listen) {
                my $client = $listen->accept or next;
                if ($mode eq 'down') {
                    close $client;
                    next;
                }
                my $server = IO::Socket::INET->new(
                    PeerAddr => '127.0.0.1', PeerPort => $upstream, Proto => 'tcp')
                    or do { close $client; next };
                @peer{$client, $server} = ($server, $client);
                $from_server{$server} = 1;
                $sel->add($client, $server);
                next;
            }
            my $other = $peer{$s} or next;
            my $n = sysread($s, my $buf, 65536);
            if (!$n) {
                $drop->($s, $other);
                next;
            }
            if (!$from_server{$s} && $buf =~ /\r\n(?:P?SUBSCRIBE)\r\n/i) {
                $subscriber{$s} = 1;
                if ($mode eq 'cut') {
                    $drop->($s, $other);
                    next;
                }
            }
            while (length $buf) {
                my $w = syswrite($other, $buf) or last;
                substr($buf, 0, $w, '');
            }
        }
    }
}

# ===========================================================================
package Test::OneID::Node;

# Another node of the deployment: a second nginx, with the suite's module,
# in a servroot of its own (under the suite's) and on a port of its own,
# next to the nginx of Test::OneID->new.  A plain daemon, never under
# valgrind; master process on, so that it has workers to reload.
#
#   my $n = Test::OneID::Node->new(port => $port, http_config => ...,
#                                  config => ..., workers => 2);
#   $n->browser;  $n->worker_pids;  $n->reload;  $n->error_log;  $n->stop;

use Carp qw(croak);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use MIME::Base64 ();

sub new {
    my ($class, %o) = @_;
    my $port = $o{port} or croak 'Node->new: port => is needed';
    my $root = Test::Nginx::Server::servroot() . "/node-$port";
    remove_tree($root);
    make_path("$root/conf", "$root/logs", "$root/html");
    my $conf = do {
        local $ENV{TEST_NGINX_PORT} = $port;
        local $ENV{TEST_NGINX_USE_VALGRIND} = 0;
        Test::Nginx::Server::render_config({
            http_config => $o{http_config}, config => $o{config},
            master_process => 1, workers => $o{workers} // 1,
            log_level => $o{log_level} // 'info', root_location => 0 });
    };
    open my $fh, '>', "$root/conf/nginx.conf" or croak "Node: $root: $!";
    print $fh $conf;
    close $fh;

    my $self = bless { port => $port, root => $root, owner => $$ }, $class;
    my $out = `@{[ Test::Nginx::Server::binary() ]} -p $root/ -c conf/nginx.conf 2>&1`;
    croak "Node: nginx on port $port failed to start: $out" . $self->error_log
        if $?;
    my $deadline = time + 5;
    until ($self->{pid} = $self->read_pid and $self->accepts
           and (my @w = $self->worker_pids) >= ($o{workers} // 1)) {
        croak "Node: nginx on port $port did not come up:\n" . $self->error_log
            if time > $deadline;
        sleep 0.01;
    }
    return $self;
}

sub port    { $_[0]{port} }
sub browser { Test::OneID::Browser->new(base_url => "http://127.0.0.1:$_[0]{port}") }

sub read_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{root}/logs/nginx.pid" or return undef;
    my ($pid) = (<$fh> // '') =~ /^(\d+)/;
    return $pid;
}

sub accepts {
    my ($self) = @_;
    return IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}", Timeout => 1)
        ? 1 : 0;
}

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{root}/logs/error.log" or return '';
    local $/;
    return <$fh> // '';
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->{pid} // $self->read_pid // return ();
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my ($pid, $state, $ppid) = (<$fh> // '') =~ /^(\d+) \(.*\) (\S+) (\d+)/ or next;
        push @pids, $pid if $ppid == $master && $state ne 'Z';
    }
    return sort { $a <=> $b } @pids;
}

# HUP, then wait until none of the old workers is left
sub reload {
    my ($self) = @_;
    my %old = map { $_ => 1 } $self->worker_pids;
    kill HUP => $self->{pid};
    my $deadline = time + 10;
    while (time < $deadline) {
        my @now = $self->worker_pids;
        return 1 if @now && !grep { $old{$_} } @now;
        sleep 0.02;
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    return if $$ != $self->{owner};
    for my $step (['QUIT', 5], ['TERM', 3], ['KILL', 2]) {
        kill $step->[0] => $pid;
        my $deadline = time + $step->[1];
        while (time < $deadline) {
            waitpid($pid, WNOHANG);
            return unless kill 0, $pid;
            sleep 0.01;
        }
    }
}

sub DESTROY { $_[0]->stop }

# ===========================================================================
package Test::OneID::Sentinels;

# A master, its replica and three Sentinels (quorum 2, down-after 1 s):
# real redis-server daemons on ports $base .. $base + 4, their files in
# $dir.  Stopped when the object goes (or the test ends).
#
#   my $s = Test::OneID::Sentinels->new(base => $port, dir => $dir,
#                                       name => 'oneidtest');
#   $s->sentinels;          # "127.0.0.1:p 127.0.0.1:p 127.0.0.1:p"
#   $s->master;             # the port the Sentinels name now
#   $s->rc($port, @cmd);    # one command on a fresh connection
#   $s->failover;           # SENTINEL FAILOVER; the new master's port once
#                           # every Sentinel names it, undef after 30 s
#   $s->settled($master);   # every Sentinel names $master and sees the
#                           # other node as its replica (false after 60 s)
#
# (t/100-sentinel.t keeps its own copy of this, with more to it.)

use Carp qw(croak);
use File::Path qw(make_path);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use MIME::Base64 ();

sub new {
    my ($class, %o) = @_;
    my $base = $o{base} or croak 'Sentinels->new: base => is needed';
    my $self = bless { dir => $o{dir}, name => $o{name} // 'oneidtest',
                       data => [ $base, $base + 1 ],
                       sentinel => [ $base + 2 .. $base + 4 ], owner => $$ }, $class;
    make_path($self->{dir});
    for my $port ($base .. $base + 4) {
        croak "port $port is in use: this test needs ports $base-" . ($base + 4)
            if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1);
    }
    my ($m, $r) = @{ $self->{data} };
    $self->start_data_node($m);
    $self->start_data_node($r, '--replicaof', '127.0.0.1', $m);
    $self->start_sentinel($_) for @{ $self->{sentinel} };
    wait_until(60, sub { $self->healthy($m, $r) })
        or croak "the Sentinels did not settle (see $self->{dir})";
    return $self;
}

sub sentinels { join ' ', map { "127.0.0.1:$_" } @{ $_[0]{sentinel} } }

sub master {
    my ($self) = @_;
    my $a = eval { $self->rc($self->{sentinel}[0], 'SENTINEL',
                             'get-master-addr-by-name', $self->{name}) };
    return ref $a eq 'ARRAY' && @$a == 2 ? $a->[1] : undef;
}

sub failover {
    my ($self) = @_;
    my $old = $self->master;
    my ($new) = grep { $_ != $old } @{ $self->{data} };
    $self->rc($self->{sentinel}[0], 'SENTINEL', 'FAILOVER', $self->{name});
    return wait_until(30, sub {
        !grep { ($self->rc($_, 'SENTINEL', 'get-master-addr-by-name',
                           $self->{name})->[1] // 0) != $new } @{ $self->{sentinel} }
    }) ? $new : undef;
}

sub settled {
    my ($self, $master) = @_;
    my ($replica) = grep { $_ != $master } @{ $self->{data} };
    return wait_until(60, sub { $self->healthy($master, $replica) });
}

sub rc {
    my ($self, $port, @cmd) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 2)
        or die "127.0.0.1:$port: cannot connect: $@\n";
    local $SIG{PIPE} = 'IGNORE';
    my $buf = '';
    my $req = '*' . @cmd . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @cmd;
    Test::OneID::resp_write($sock, $req);
    my $reply = Test::OneID::resp_read($sock, \$buf);
    die "127.0.0.1:$port $cmd[0]: $$reply\n" if ref $reply eq 'Test::OneID::RedisError';
    return $reply;
}

sub wait_until {
    my ($timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (1) {
        return 1 if eval { $cond->() };
        return 0 if time > $deadline;
        sleep 0.1;
    }
}

sub ping { (eval { $_[0]->rc($_[1], 'PING') } // '') eq 'PONG' }

sub start_data_node {
    my ($self, $port, @extra) = @_;
    my $dir = $self->{dir};
    unlink "$dir/redis-$port.pid";
    system('redis-server', '--port', $port, '--bind', '127.0.0.1', '--save', '',
           '--appendonly', 'no', '--repl-diskless-sync-delay', 0,
           '--dbfilename', "dump-$port.rdb", '--daemonize', 'yes', '--dir', $dir,
           '--pidfile', "$dir/redis-$port.pid", '--logfile', "$dir/redis-$port.log",
           @extra) == 0
        or croak "cannot start redis-server on port $port";
    wait_until(10, sub { -s "$dir/redis-$port.pid" && $self->ping($port) })
        or croak "redis-server on port $port did not come up: see $dir/redis-$port.log";
}

sub start_sentinel {
    my ($self, $port) = @_;
    my ($dir, $name, $master) = ($self->{dir}, $self->{name}, $self->{data}[0]);
    my $conf = "$dir/sentinel-$port.conf";
    open my $fh, '>', $conf or croak "$conf: $!";
    print $fh <<"END";
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/redis-$port.pid
logfile $dir/sentinel-$port.log
dir $dir
sentinel monitor $name 127.0.0.1 $master 2
sentinel down-after-milliseconds $name 1000
sentinel failover-timeout $name 5000
sentinel parallel-syncs $name 1
END
    close $fh;
    unlink "$dir/redis-$port.pid";
    system('redis-server', $conf, '--sentinel') == 0
        or croak "cannot start a Sentinel on port $port";
    wait_until(10, sub { -s "$dir/redis-$port.pid" && $self->ping($port) })
        or croak "Sentinel on port $port did not come up: see $dir/sentinel-$port.log";
}

sub flat_hash { my ($list) = @_; return { @{ $list || [] } } }

# every Sentinel names $master and sees $replica, with its link up, and
# the two other Sentinels
sub healthy {
    my ($self, $master, $replica) = @_;
    my $role = $self->rc($replica, 'ROLE');
    return 0 unless $role->[0] eq 'slave' && $role->[2] == $master
                    && $role->[3] eq 'connected';
    for my $s (@{ $self->{sentinel} }) {
        my $a = $self->rc($s, 'SENTINEL', 'get-master-addr-by-name', $self->{name});
        return 0 unless ref $a && "$a->[0]:$a->[1]" eq "127.0.0.1:$master";
        my $m = flat_hash($self->rc($s, 'SENTINEL', 'MASTER', $self->{name}));
        return 0 unless $m->{flags} eq 'master';
        my @r = map { flat_hash($_) } @{ $self->rc($s, 'SENTINEL', 'REPLICAS', $self->{name}) };
        return 0 unless grep { $_->{port} == $replica && $_->{flags} eq 'slave'
                               && $_->{'master-link-status'} eq 'ok' } @r;
        my @o = map { flat_hash($_) } @{ $self->rc($s, 'SENTINEL', 'SENTINELS', $self->{name}) };
        return 0 unless 2 == grep { $_->{flags} eq 'sentinel' } @o;
    }
    return 1;
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++ || $$ != $self->{owner};
    local ($?, $!, $@);
    for my $port (@{ $self->{sentinel} }, @{ $self->{data} }) {
        open my $fh, '<', "$self->{dir}/redis-$port.pid" or next;
        my ($pid) = (<$fh> // '') =~ /^\s*(\d+)/ or next;
        kill TERM => $pid;
        my $deadline = time + 3;
        while (time < $deadline) {
            waitpid($pid, WNOHANG);
            last unless kill 0, $pid;
            sleep 0.05;
        }
        kill KILL => $pid if kill 0, $pid;
        waitpid($pid, WNOHANG);
        unlink "$self->{dir}/redis-$port.pid";
    }
}

sub DESTROY { $_[0]->stop }

package Test::OneID::RedisError;
use overload '""' => sub { ${ $_[0] } }, fallback => 1;

# ===========================================================================
package Test::OneID::Browser;

# A scripted browser: HTTP::Tiny without automatic redirects plus a cookie
# jar keyed by host:port, so cookies of nginx and of the mock OneID (both on
# 127.0.0.1) never mix -- RFC 6265 ignores ports, a browser facing two real
# hosts would not mix them either.

use Carp qw(croak);
use HTTP::Tiny;
use Time::Local ();

sub new {
    my ($class, %o) = @_;
    my %ssl = $ENV{TEST_NGINX_ONEID_CA}
        ? (verify_SSL => 1, SSL_options => { SSL_ca_file => $ENV{TEST_NGINX_ONEID_CA} })
        : (verify_SSL => 0);
    return bless {
        base => $o{base_url},
        jar  => {},    # origin => { "name;path" => cookie }
        seq  => 0,     # creation order, for the Cookie header order
        ua   => HTTP::Tiny->new(
            max_redirect => 0, keep_alive => 0, timeout => $o{timeout} // 10,
            agent => 'Test-OneID-Browser/1', %ssl),
    }, $class;
}

sub get  { my ($self, $url, $headers) = @_; $self->request('GET', $url, undef, $headers) }
sub post { my ($self, $url, $body, $headers) = @_; $self->request('POST', $url, $body, $headers) }

# $body: string, or hashref sent as application/x-www-form-urlencoded.
sub request {
    my ($self, $method, $url, $body, $headers) = @_;
    my $abs = $self->absolute($url);
    my %h = %{ $headers || {} };
    my %lc = map { lc $_ => 1 } keys %h;
    if (!$lc{cookie}) {
        my $cookie = $self->cookie_header($abs);
        $h{Cookie} = $cookie if length $cookie;
    }
    # as a browser says where a request comes from: the first one is
    # typed in, later ones follow from the page before
    if (!$lc{'sec-fetch-site'}) {
        $h{'Sec-Fetch-Site'} = !defined $self->{last_url} ? 'none'
            : origin($self->{last_url}) eq origin($abs) ? 'same-origin'
            : 'cross-site';
    }
    $self->{last_url} = $abs;
    my %opt = (headers => \%h);
    if (ref $body eq 'HASH') {
        $opt{content} = $self->{ua}->www_form_urlencode($body);
        $h{'Content-Type'} = 'application/x-www-form-urlencoded' unless $lc{'content-type'};
    } elsif (defined $body) {
        $opt{content} = $body;
    }
    my $res = Test::OneID::Response->new($method, $abs, $self->{ua}->request($method, $abs, \%opt));
    $self->store_cookies($abs, $res->{headers}{'set-cookie'} || []);
    return $res;
}

# Follow one redirect with a GET, like a browser after 301/302/303.
sub follow {
    my ($self, $res, $headers) = @_;
    croak "follow(): not a redirect: " . $res->summary
        unless $res->is_redirect && defined $res->{location};
    return $self->get(resolve_url($res->{url}, $res->{location}), $headers);
}

# The whole OneID dance: page on nginx -> authorize URL on the mock (with
# mock_user=USER, plus %{params}) -> callback on nginx.  Returns the
# callback response (or the response of the step that went wrong, after a
# diag saying which, unless quiet => 1 because the test expects it);
# $res->{login_steps} holds all responses in order.
sub login {
    my ($self, $path, %o) = @_;
    my $user = $o{user} // 'citizen-basic';
    my @steps;
    my $done = sub {
        my ($res, $step, $what) = @_;
        Test::More::diag("login($path, user => $user): step $step/3 failed: $what\n"
            . '  ' . $res->summary) if defined $what && !$o{quiet};
        $res->{login_steps} = [@steps];
        return $res;
    };

    my $start = $self->get($path);
    push @steps, $start;
    my $authorize = $start->is_redirect && defined $start->{location}
        ? resolve_url($start->{url}, $start->{location}) : undef;
    return $done->($start, 1, "GET $path on nginx: expected a 302 to the OneID authorize URL")
        if !defined $authorize || origin($authorize) eq origin($self->{base});

    my %params = %{ $o{params} || {} };
    $authorize .= ($authorize =~ /\?/ ? '&' : '?') . 'mock_user=' . uri_escape($user)
        . join('', map { '&' . uri_escape($_) . '=' . uri_escape($params{$_}) } sort keys %params);
    my $idp = $self->get($authorize);
    push @steps, $idp;
    return $done->($idp, 2, "GET authorize URL on the OneID mock: expected a 302 to the callback")
        unless $idp->is_redirect && defined $idp->{location};

    # redirect_uri may name the public host of the app; the browser here
    # talks to nginx directly, so keep only path and query.
    my $callback = resolve_url($idp->{url}, $idp->{location});
    $callback = $self->{base} . path_and_query($callback)
        if origin($callback) ne origin($self->{base});
    my $res = $self->get($callback);
    push @steps, $res;
    return $done->($res, 3, "GET callback on nginx: got an error status")
        if $res->{status} >= 400;
    return $done->($res);
}

# Steps 1 and 2 of a login (page on nginx, authorize URL on the mock with
# mock_user=$user): the callback's path and query, '' when $path (default
# /ward) does not start a login.
sub callback_for {
    my ($self, $user, $path) = @_;
    my $res = $self->get($path // '/ward');
    return '' unless $res->{status} == 302;
    $res = $self->get(($res->header('Location') // '') . "&mock_user=$user");
    (my $cb = $res->header('Location') // '') =~ s{^https?://[^/]+}{};
    return $cb;
}

# GETs on nginx all sent at once (tabs opened together), each with the
# cookies the jar holds now; the Set-Cookie lines of the answers are then
# stored in the order of the requests.  Returns Test::OneID::parse_response
# hashes with url and location added.
sub parallel_get {
    my ($self, @targets) = @_;
    my ($port) = (split_url($self->{base}))[1] =~ /:(\d+)$/;
    my @req = map {
        my $cookie = $self->cookie_header($self->absolute($_));
        Test::OneID::get_request($port, $_, length $cookie ? ("Cookie: $cookie") : ())
    } @targets;
    my @res = Test::OneID::parallel($port, @req);
    for my $i (0 .. $#res) {
        my $abs = $self->absolute($targets[$i]);
        $res[$i]{url} = $abs;
        ($res[$i]{location}) = Test::OneID::header_values($res[$i], 'Location');
        $self->store_cookies($abs, [Test::OneID::header_values($res[$i], 'Set-Cookie')]);
    }
    return @res;
}

# N tabs of this browser opened at once on @paths: the starts in parallel,
# OneID (the mock, signing $user in) one after the other, the callbacks in
# parallel.  Returns the callbacks' answers, in the order of @paths.
sub tabs_login {
    my ($self, $user, @paths) = @_;
    my @starts = $self->parallel_get(@paths);
    my @callbacks;
    for my $res (@starts) {
        Test::More::diag("tabs_login: a start did not redirect: $res->{status}")
            unless ($res->{status} // 0) == 302;
        my $idp = $self->get(($res->{location} // '') . '&mock_user=' . $user);
        (my $cb = $idp->header('Location') // '') =~ s{^https?://[^/]+}{};
        push @callbacks, $cb;
    }
    return $self->parallel_get(@callbacks);
}

# { name => value } of the login flows' cookies the browser holds
sub flow_cookies {
    my ($self, $state_name) = @_;
    $state_name //= 'oneid_session_state';
    my $c = $self->cookies;
    return { map { $_ => $c->{$_} } grep { /^\Q$state_name\E_[A-Za-z0-9_~-]{8}$/ } keys %$c };
}

# ---------------------------------------------------------------------------
# Cookies

# Value of cookie $name for nginx (or for the origin of $url), or undef.
sub cookie {
    my ($self, $name, $url) = @_;
    my $c = $self->cookie_attrs($name, $url);
    return $c ? $c->{value} : undef;
}

# { name, value, path, domain, expires (epoch), max_age, secure, httponly,
#   samesite, raw (the Set-Cookie line) } or undef.
sub cookie_attrs {
    my ($self, $name, $url) = @_;
    my ($c) = grep { $_->{name} eq $name } $self->live_cookies($url // $self->{base});
    return $c ? {%$c} : undef;
}

# { name => value } of all live cookies of nginx (or of $url's origin).
sub cookies {
    my ($self, $url) = @_;
    return { map { $_->{name} => $_->{value} }
        reverse $self->live_cookies($url // $self->{base}) };
}

# $b->set_cookie(name => value, ...): cookies for nginx, Path=/.
sub set_cookie {
    my ($self, %pairs) = @_;
    my $jar = $self->{jar}{ origin($self->{base}) } //= {};
    for my $name (sort keys %pairs) {
        $jar->{"$name;/"} = {
            name => $name, value => $pairs{$name}, path => '/', secure => 0,
            httponly => 0, created => $self->{seq}++, raw => "$name=$pairs{$name}",
        };
    }
}

sub clear_cookies { $_[0]{jar} = {} }

# The Cookie header a request to $url would carry.
sub cookie_header {
    my ($self, $url) = @_;
    my $path = (split_url($url))[2];
    return join '; ', map { "$_->{name}=$_->{value}" }
        grep { path_match($path, $_->{path}) } $self->live_cookies($url);
}

# Unexpired cookies of $url's origin, longest path first, then oldest first
# (the order RFC 6265 asks for in the Cookie header).
sub live_cookies {
    my ($self, $url) = @_;
    my $jar = $self->{jar}{ origin($url) } || {};
    my $now = time;
    for my $key (keys %$jar) {
        delete $jar->{$key} if defined $jar->{$key}{expires} && $jar->{$key}{expires} <= $now;
    }
    return sort { length $b->{path} <=> length $a->{path} || $a->{created} <=> $b->{created} }
        values %$jar;
}

sub store_cookies {
    my ($self, $url, $lines) = @_;
    my $req_path = (split_url($url))[2];
    for my $line (@$lines) {
        my ($pair, @attrs) = split /;/, $line;
        my ($name, $value) = $pair =~ /^\s*([^=]+?)\s*=\s*(.*?)\s*$/ or next;
        my %c = (name => $name, value => $value, raw => $line, secure => 0, httponly => 0);
        for my $attr (@attrs) {
            my ($k, $v) = $attr =~ /^\s*([^=]+?)\s*(?:=\s*(.*?))?\s*$/ or next;
            $k = lc $k;
            if    ($k eq 'path')     { $c{path} = $v if defined $v && $v =~ m{^/} }
            elsif ($k eq 'max-age')  { $c{max_age} = $v }
            elsif ($k eq 'expires')  { $c{expires_raw} = $v }
            elsif ($k eq 'domain')   { $c{domain} = $v }
            elsif ($k eq 'samesite') { $c{samesite} = $v }
            elsif ($k eq 'secure')   { $c{secure} = 1 }    # kept and sent even over http
            elsif ($k eq 'httponly') { $c{httponly} = 1 }
        }
        $c{path} //= default_path($req_path);
        # Max-Age wins over Expires; zero, negative or past means "delete".
        if (defined $c{max_age} && $c{max_age} =~ /^\s*-?\d+\s*$/) {
            $c{expires} = time + $c{max_age};
        } elsif (defined $c{expires_raw}) {
            $c{expires} = parse_http_date($c{expires_raw});
        }
        my $jar = $self->{jar}{ origin($url) } //= {};
        my $key = "$name;$c{path}";
        if (defined $c{expires} && $c{expires} <= time) {
            delete $jar->{$key};
            next;
        }
        $c{created} = $jar->{$key} ? $jar->{$key}{created} : $self->{seq}++;
        $jar->{$key} = \%c;
    }
}

sub path_match {
    my ($path, $cookie_path) = @_;
    return 1 if $path eq $cookie_path;
    return 0 unless index($path, $cookie_path) == 0;
    return $cookie_path =~ m{/$} || substr($path, length $cookie_path, 1) eq '/';
}

# RFC 6265 5.1.4: the "directory" of the request path.
sub default_path {
    my ($path) = @_;
    my $i = rindex($path, '/');
    return $i <= 0 ? '/' : substr($path, 0, $i);
}

my %MONTH = (jan => 0, feb => 1, mar => 2, apr => 3, may => 4, jun => 5,
             jul => 6, aug => 7, sep => 8, oct => 9, nov => 10, dec => 11);

# "Thu, 01 Jan 1970 00:00:01 GMT" / "Thursday, 01-Jan-70 00:00:01 GMT"
sub parse_http_date {
    my ($s) = @_;
    my ($d, $mon, $y, $H, $M, $S) =
        ($s // '') =~ /(\d{1,2})[ -]([A-Za-z]{3})[ -](\d{2,4})\s+(\d{1,2}):(\d{2}):(\d{2})/
        or return undef;
    $y += $y < 70 ? 2000 : 1900 if $y < 100;
    return undef unless exists $MONTH{ lc $mon };
    return eval { Time::Local::timegm($S, $M, $H, $d, $MONTH{ lc $mon }, $y) };
}

# ---------------------------------------------------------------------------
# URLs

# Relative URLs go to nginx.
sub absolute {
    my ($self, $url) = @_;
    return $url if $url =~ m{^https?://}i;
    return $self->{base} . ($url =~ m{^/} ? '' : '/') . $url;
}

# (scheme, host:port, path, path?query) with localhost folded into 127.0.0.1.
sub split_url {
    my ($url) = @_;
    my ($scheme, $hostport, $rest) = $url =~ m{^(https?)://([^/?#]+)([^#]*)}i
        or croak "not an absolute http(s) URL: '$url'";
    $scheme = lc $scheme;
    $hostport = lc $hostport;
    $hostport .= $scheme eq 'https' ? ':443' : ':80' unless $hostport =~ /:\d+$/;
    $hostport =~ s/^localhost:/127.0.0.1:/;
    $rest = "/$rest" unless $rest =~ m{^/};
    my ($path) = $rest =~ m{^([^?]*)};
    return ($scheme, $hostport, $path, $rest);
}

sub origin         { my @u = split_url($_[0]); "$u[0]://$u[1]" }
sub path_and_query { (split_url($_[0]))[3] }

# Enough of RFC 3986 for Location headers: absolute, //host, /path, ?query
# and relative paths (no dot-segment removal).
sub resolve_url {
    my ($base, $ref) = @_;
    return $ref if $ref =~ m{^[a-z][a-z0-9+.-]*:}i;
    my ($scheme, $auth, $path) = $base =~ m{^([a-z][a-z0-9+.-]*)://([^/?#]*)([^?#]*)}i
        or croak "cannot resolve '$ref' against '$base'";
    return "$scheme:$ref" if $ref =~ m{^//};
    return "$scheme://$auth$ref" if $ref =~ m{^/};
    $path = '/' unless length $path;
    return "$scheme://$auth$path$ref" if $ref =~ m{^[?#]};
    (my $dir = $path) =~ s{[^/]*$}{};
    return "$scheme://$auth$dir$ref";
}

sub uri_escape {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# ===========================================================================
package Test::OneID::Response;

# { status, reason, headers => { lc name => [values] }, body, location,
#   url, method }; $res->header('Name') gives the first value.

sub new {
    my ($class, $method, $url, $r) = @_;
    my %h;
    while (my ($k, $v) = each %{ $r->{headers} || {} }) {
        $h{ lc $k } = ref $v ? [@$v] : [$v];
    }
    return bless {
        status   => $r->{status},
        reason   => $r->{reason},
        headers  => \%h,
        header   => sub { my $v = $h{ lc $_[0] }; $v ? $v->[0] : undef },
        body     => $r->{content} // '',
        location => $h{location} ? $h{location}[0] : undef,
        url      => $url,
        method   => $method,
    }, $class;
}

sub header      { $_[0]{header}->($_[1]) }
sub is_redirect { ($_[0]{status} // 0) =~ /^30[12378]$/ }

# One line for diagnostics: request, status, Location and a body excerpt
# (HTTP::Tiny puts connection errors into the body of a 599).
sub summary {
    my ($self) = @_;
    my $body = $self->{body};
    $body = substr($body, 0, 300) . '...' if length $body > 300;
    $body =~ s/\s+/ /g;
    return "$self->{method} $self->{url} -> $self->{status}"
        . (defined $self->{location} ? " (Location: $self->{location})" : '')
        . (length $body ? "; body: $body" : '');
}

1;
