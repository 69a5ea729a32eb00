# Subrequests and the session lookup: ten ssi includes cost one Redis
# command when the main request is not protected (and none when it is),
# includes that arrive while the lookup is under way wait for it, and the
# module's own OneID calls still work when "oneid on" is inherited by the
# back-channel location.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Test::OneID;
use Test::OneID::Conf qw(http_config server_config);

my $includes = join '', map { qq{<!--# include virtual="/secret/$_" -->} } 1 .. 10;

my $t = Test::OneID->new(
    http_config   => http_config(),
    config        => server_config(extra => 'oneid on;', locations => <<"END"),
    location = /many {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 '$includes';
    }

    location = /many-protected {
        ssi on;
        default_type text/html;
        return 200 '$includes';
    }
END
    root_location => 0,
    log_level     => 'info',
);

my $b = $t->browser;

# /_oneid inherits "oneid on" from the server: the login must still work
my $res = $b->login('/ward', user => 'doctor');
is $res->{status}, 302, 'login works with "oneid on" inherited by the back-channel location';
ok defined $b->cookie('oneid_session'), '... and a session cookie was set';

my $before = $t->command_calls('getex');
$res = $b->get('/many');
is $res->{status}, 200, 'ten includes on an unprotected page: 200';
my @seen = $res->{body} =~ /^X-OneID-Pin: \d{14}$/mg;
is scalar @seen, 10, '... every include carries the identity';
is $t->command_calls('getex') - $before, 1, '... for one GETEX';

# the lookup is slow: the includes that come meanwhile wait for it
$before = $t->command_calls('getex');
$t->redis('CLIENT', 'PAUSE', 300);
$res = $b->get('/many');
@seen = $res->{body} =~ /^X-OneID-Pin: \d{14}$/mg;
is scalar @seen, 10, 'Redis paused 300 ms: every include still carries the identity';
is $t->command_calls('getex') - $before, 1, '... after one GETEX';

# a protected page: its own check serves its includes
$before = $t->command_calls('getex');
$res = $b->get('/many-protected');
@seen = $res->{body} =~ /^X-OneID-Pin: \d{14}$/mg;
is scalar @seen, 10, 'protected page: every include carries the identity';
is $t->command_calls('getex') - $before, 1, '... and the page with its includes cost one GETEX';

# Redis down while a subrequest asks: 503 inside the page, nothing leaks
$t->stop;
$t = Test::OneID->new(
    http_config   => http_config(redis => '127.0.0.1:9'),
    config        => server_config(locations => <<"END"),
    location = /many {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 '$includes';
    }
END
    root_location => 0,
    log_level     => 'info',
);
$b->set_cookie(oneid_session => 'x' x 43);
$res = $b->get('/many');
is $res->{status}, 200, 'Redis down: the unprotected page is served';
unlike $res->{body}, qr{GET /secret/}, '... without any protected answer';
like $res->{body}, qr/503/, '... the includes say 503';
ok $t->wait_for_error_log(qr/session store unavailable while checking a session for a subrequest/, 2),
    '... and the error log says why';

done_testing;
