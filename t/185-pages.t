# What the pages name: by default DMED (in the credential warning) and
# id.egov.uz (the help link); oneid_page_organization and
# oneid_page_help_url put a deployment's own there, HTML-escaped, in all
# three languages, inherited like the other directives.  Test::Nginx::Socket
# block format: runs under t/lib's harness (prove -I t/lib) and under
# upstream Test::Nginx (make test-upstream).  The pages are the 400 of a
# callback without code or state: it shows the help and the warning.

BEGIN { push @INC, 't/lib' }
use Test::Nginx::Socket 'no_plan';
use Test::OneID::Conf qw(http_config server_config defaults);

no_root_location();
log_level('info');

our $Deployment = q{
    oneid_page_organization "Example Clinic & <Co>";
    oneid_page_help_url     "https://help.example.uz/oneid/?a=1&b=2";
};

add_block_preprocessor(sub { defaults(shift) });

run_tests();

__DATA__

=== TEST 1: defaults, Uzbek: id.egov.uz help link, DMED in the warning
--- request
GET /oneid/callback
--- error_code: 400
--- response_body_like: (?s)\A(?=.*<html lang="uz">)(?=.*parolni tiklash: <a href="https://id\.egov\.uz">id\.egov\.uz</a>\.</p>)(?=.*<p class="w">OneID login, parol va SMS kodlaringizni hech kimga, jumladan DMED xodimlariga ham bermang\.</p>)



=== TEST 2: defaults, Russian
--- request
GET /oneid/callback
--- more_headers
Accept-Language: ru
--- error_code: 400
--- response_body_like: (?s)\A(?=.*<html lang="ru">)(?=.*пароля: <a href="https://id\.egov\.uz">id\.egov\.uz</a>\.</p>)(?=.*<p class="w">Никому не сообщайте логин, пароль и SMS-коды OneID, даже сотрудникам DMED\.</p>)



=== TEST 3: defaults, English
--- request
GET /oneid/callback
--- more_headers
Accept-Language: en
--- error_code: 400
--- response_body_like: (?s)\A(?=.*<html lang="en">)(?=.*go to <a href="https://id\.egov\.uz">id\.egov\.uz</a>\.</p>)(?=.*<p class="w">Never share your OneID login, password or SMS codes with anyone, DMED staff included\.</p>)



=== TEST 4: both directives, Uzbek: escaped, and nothing left of the defaults
--- config eval
Test::OneID::Conf::server_config(extra => $main::Deployment)
--- request
GET /oneid/callback
--- error_code: 400
--- response_body_like: (?s)\A(?!.*DMED)(?!.*egov)(?=.*<html lang="uz">)(?=.*parolni tiklash: <a href="https://help\.example\.uz/oneid/\?a=1&amp;b=2">help\.example\.uz/oneid/\?a=1&amp;b=2</a>\.</p>)(?=.*jumladan Example Clinic &amp; &lt;Co&gt; xodimlariga ham bermang\.</p>)



=== TEST 5: both directives, Russian
--- config eval
Test::OneID::Conf::server_config(extra => $main::Deployment)
--- request
GET /oneid/callback
--- more_headers
Accept-Language: ru-RU,ru;q=0.9
--- error_code: 400
--- response_body_like: (?s)\A(?!.*DMED)(?!.*egov)(?=.*<html lang="ru">)(?=.*пароля: <a href="https://help\.example\.uz/oneid/\?a=1&amp;b=2">help\.example\.uz/oneid/\?a=1&amp;b=2</a>\.</p>)(?=.*даже сотрудникам Example Clinic &amp; &lt;Co&gt;\.</p>)



=== TEST 6: both directives, English
--- config eval
Test::OneID::Conf::server_config(extra => $main::Deployment)
--- request
GET /oneid/callback
--- more_headers
Accept-Language: en-GB
--- error_code: 400
--- response_body_like: (?s)\A(?!.*DMED)(?!.*egov)(?=.*<html lang="en">)(?=.*go to <a href="https://help\.example\.uz/oneid/\?a=1&amp;b=2">help\.example\.uz/oneid/\?a=1&amp;b=2</a>\.</p>)(?=.*with anyone, Example Clinic &amp; &lt;Co&gt; staff included\.</p>)



=== TEST 7: inherited from http and overridden per location; http:// shown without its scheme
--- http_config eval
Test::OneID::Conf::http_config() . 'oneid_page_organization "MedPortal";'
--- config eval
Test::OneID::Conf::server_config(locations =>
    'location = /oneid/callback-help { oneid_callback;'
  . ' oneid_page_help_url http://help.example.uz/; }')
--- request
GET /oneid/callback-help
--- error_code: 400
--- response_body_like: (?s)\A(?!.*DMED)(?=.*<a href="http://help\.example\.uz/">help\.example\.uz</a>\.</p>)(?=.*jumladan MedPortal xodimlariga)



=== TEST 8: a script still gets JSON, without the help or the organisation
--- config eval
Test::OneID::Conf::server_config(extra => $main::Deployment)
--- request
GET /oneid/callback
--- more_headers
X-Requested-With: XMLHttpRequest
--- error_code: 400
--- response_body_like: \A\{"error":"login_callback_invalid","status":400,"message":"[^"<]+"\}\r\n\z



=== TEST 9: a help URL that is not http(s) is refused (nginx -t)
--- config eval
Test::OneID::Conf::server_config(extra => 'oneid_page_help_url javascript:alert(1);')
--- must_die
--- error_log
"javascript:alert(1)" is not an absolute http:// or https:// URL



=== TEST 10: an ftp:// help URL is refused too
--- config eval
Test::OneID::Conf::server_config(extra => 'oneid_page_help_url ftp://id.egov.uz;')
--- must_die
--- error_log
"ftp://id.egov.uz" is not an absolute http:// or https:// URL



=== TEST 11: an empty organisation is refused
--- config eval
Test::OneID::Conf::server_config(extra => 'oneid_page_organization "";')
--- must_die
--- error_log
"oneid_page_organization" must not be empty
