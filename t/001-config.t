# nginx must refuse configuration mistakes at startup, naming what is
# wrong (nginx -t runs the same checks), and start with every good one.
# Test::Nginx::Socket block format: runs under t/lib's harness (prove -I
# t/lib) and under upstream Test::Nginx (make test-upstream).  A block with
# --- must_die expects nginx not to start; its error_log patterns are
# looked for in what nginx said (upstream runs nginx with -e error.log).
# The other blocks start nginx and get an answer from it.  Nothing here
# talks to Redis: 127.0.0.1:6379 need not be running.

BEGIN { push @INC, 't/lib' }
use Test::Nginx::Socket 'no_plan';

no_root_location();
log_level('info');

run_tests();

__DATA__

=== TEST 1: a complete configuration starts
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
    location = /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]



=== TEST 2: oneid on without oneid_redis fails, naming oneid_redis and where oneid was switched on
--- http_config
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_redis" is required by the oneid directive in \S+nginx\.conf:\d+/



=== TEST 3: missing oneid_client_id fails, naming it
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_client_id" is required/



=== TEST 4: missing oneid_redirect_uri fails, naming it
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_redirect_uri" is required/



=== TEST 5: missing oneid_backend fails, naming it
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_backend" is required/



=== TEST 6: missing client secret fails, naming both secret directives
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_id dmed;
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_client_secret" or "oneid_client_secret_file" is required/



=== TEST 7: oneid off needs no other directive
--- http_config
--- config
    location / { oneid off; }
--- request
GET /
--- response_body_like: ^<html>
--- no_error_log
[emerg]



=== TEST 8: oneid_callback without client settings fails, naming oneid_client_id
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    location = /cb { oneid_callback; }
--- must_die
--- error_log eval
qr/"oneid_client_id" is required/



=== TEST 9: oneid_client_secret_file is accepted (read and trimmed)
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_id dmed;
    oneid_client_secret_file $TEST_NGINX_SERVER_ROOT/html/secret;
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
    location = /t { return 200 "started\n"; }
--- user_files
>>> secret
file+secret/==
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]



=== TEST 10: a missing secret file fails, naming the file
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_id dmed;
    oneid_client_secret_file $TEST_NGINX_SERVER_ROOT/html/no-such-secret;
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/no-such-secret/



=== TEST 11: an empty secret file fails, saying it is empty
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_client_id dmed;
    oneid_client_secret_file $TEST_NGINX_SERVER_ROOT/html/empty;
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- user_files
>>> empty

--- must_die
--- error_log eval
qr/is empty/



=== TEST 12: rejected with a clear message: oneid_redirect_uri /oneid/callback;
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_redirect_uri /oneid/callback;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/not an absolute http/



=== TEST 13: rejected with a clear message: oneid_authorize_url sso.egov.uz/x;
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_authorize_url sso.egov.uz/x;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/not an absolute http/



=== TEST 14: rejected with a clear message: oneid_backend _oneid;
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_backend _oneid;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/must be a local path/



=== TEST 15: rejected with a clear message: oneid_logout_redirect //evil.example/;
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_logout_redirect //evil.example/;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/must be a local path/



=== TEST 16: rejected with a clear message: oneid_cookie_name "bad;name";
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_cookie_name "bad;name";
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/invalid cookie name/



=== TEST 17: rejected with a clear message: oneid_header_encoding base64;
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_header_encoding base64;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/invalid value "base64"/



=== TEST 18: rejected with a clear message: oneid_session_timeout 0;
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_session_timeout 0;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/must be positive/



=== TEST 19: rejected with a clear message: oneid_session_timeout eight;
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_session_timeout eight;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/invalid value/



=== TEST 20: rejected with a clear message: oneid_redis 127.0.0.1:6379 db=x;
--- http_config
    oneid_redis 127.0.0.1:6379 db=x;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/invalid parameter "db=x"/



=== TEST 21: rejected with a clear message: oneid_redis 127.0.0.1:6379 timeout=0;
--- http_config
    oneid_redis 127.0.0.1:6379 timeout=0;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/invalid parameter "timeout=0"/



=== TEST 22: rejected with a clear message: oneid_redis 127.0.0.1:6379 colour=red;
--- http_config
    oneid_redis 127.0.0.1:6379 colour=red;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/invalid parameter "colour=red"/



=== TEST 23: rejected with a clear message: oneid_redis 127.0.0.1:99999;
--- http_config
    oneid_redis 127.0.0.1:99999;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/invalid port/



=== TEST 24: rejected with a clear message: oneid_redis 127.0.0.1:6379; oneid_redis 127.0.0.1:6380;
--- http_config
    oneid_redis 127.0.0.1:6379;
    oneid_redis 127.0.0.1:6380;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/is duplicate/



=== TEST 25: rejected: oneid_cookie_name __Host-mis with oneid_cookie_secure off, naming both directives
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_cookie_name __Host-mis;
    oneid_cookie_secure off;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_cookie_name" "__Host-mis" needs "oneid_cookie_secure on"/



=== TEST 26: rejected: oneid_cookie_name __Secure-mis with oneid_cookie_secure off, naming both directives
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_cookie_name __Secure-mis;
    oneid_cookie_secure off;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_cookie_name" "__Secure-mis" needs "oneid_cookie_secure on"/



=== TEST 27: rejected: oneid_cookie_name __host-mis with oneid_cookie_secure off, naming both directives
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_cookie_name __host-mis;
    oneid_cookie_secure off;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
--- must_die
--- error_log eval
qr/"oneid_cookie_name" "__host-mis" needs "oneid_cookie_secure on"/



=== TEST 28: rejected: a __Host- name inherited into a location with oneid_cookie_secure off
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_cookie_name __Host-mis;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; oneid_cookie_secure off; }
--- must_die



=== TEST 29: oneid_cookie_name __Host-mis with oneid_cookie_secure on (the default)
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_cookie_name __Host-mis;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
    location = /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]



=== TEST 30: oneid_cookie_secure off with the default name
--- http_config
    oneid_redis 127.0.0.1:6379;
--- config
    oneid_cookie_secure off;
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
    location = /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]



=== TEST 31: oneid_redis with every parameter and a unix socket
--- http_config
    oneid_redis unix:/run/redis/redis.sock password=s3cret db=2 connect_timeout=500ms timeout=2s prefix=mis:;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
    location = /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]



=== TEST 32: the oneid_redis host name is resolved at configuration time
--- http_config
    oneid_redis localhost:6379;
--- config
    oneid_client_id dmed;
    oneid_client_secret "dm3d+S3cr/et=&x==";
    oneid_redirect_uri https://mis.example.uz/oneid/callback;
    oneid_backend /_oneid;
    location = /_oneid { internal; proxy_pass http://127.0.0.1:9/; }
    location = /oneid/callback { oneid_callback; }
    location = /oneid/logout { oneid_logout; }
    location / { oneid on; }
    location = /t { return 200 "started\n"; }
--- request
GET /t
--- response_body
started
--- no_error_log
[emerg]
