# Shared setup of the bench/ scripts (run.sh, cost.sh), sourced by them.
#
# The sourcing script sets, before calling anything here:
#   top           the repository
#   work          its work directory (build/...)
#   nginx         the nginx binary
#   redis_port    its own Redis
#   backend_port  the backend nginx (a small fixed body)
#   mock_port     the mock OneID (plain HTTP)

# bench_backend_conf: the backend's nginx.conf on stdout
bench_backend_conf() {
    cat <<END
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$backend_port backlog=4096;
        keepalive_requests 100000;
        location / { return 200 "legacy MIS page\n"; }
    }
}
END
}

# bench_proxy_conf <port> <load_module line> <server directives>
#                  [<http directives>]: a proxy with one worker in front
# of the backend, on stdout
bench_proxy_conf() {
    cat <<END
$2
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    ${4:-}
    upstream backend {
        server 127.0.0.1:$backend_port;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$1 backlog=4096;
        keepalive_requests 100000;
        $3
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
END
}

# the server directives of an "oneid on" proxy that logs in through the
# mock; the mock accepts port 8081 as a registered redirect URI, the bench
# never follows the redirect to that host but sends the callback to the
# proxy itself
bench_oneid_server() {
    cat <<END
        oneid on;
        oneid_client_id dmed;
        oneid_client_secret "dm3d+S3cr/et=&x==";
        oneid_redirect_uri http://127.0.0.1:8081/oneid/callback;
        oneid_authorize_url http://127.0.0.1:$mock_port/sso/oauth/Authorization.do;
        oneid_backend /_oneid;
        oneid_cookie_secure off;
        location = /_oneid {
            internal;
            proxy_pass http://127.0.0.1:$mock_port/sso/oauth/Authorization.do;
            subrequest_output_buffer_size 16k;
        }
        location = /oneid/callback { oneid_callback; }
        location = /oneid/logout { oneid_logout; }
END
}

# bench_start_redis <cpu>: Redis without persistence, pid in $work/redis.pid
bench_start_redis() {
    taskset -c "$1" redis-server --port "$redis_port" --bind 127.0.0.1 \
        --save '' --appendonly no --daemonize yes --dir "$work" \
        --pidfile "$work/redis.pid" --logfile "$work/redis.log" >/dev/null
}

# bench_start_mock <cpu>: the mock OneID, pid in $work/mock.pid; returns
# once it answers
bench_start_mock() {
    local i

    taskset -c "$1" python3 "$top/t/mock-oneid/mock_oneid.py" --plain \
        --listen 127.0.0.1:"$mock_port" \
        --config "$top/t/mock-oneid/clients.json" \
        --pidfile "$work/mock.pid" >"$work/mock.log" 2>&1 </dev/null &

    for i in $(seq 1 50); do
        curl -sf http://127.0.0.1:"$mock_port"/__mock/health >/dev/null 2>&1 &&
            return 0
        sleep 0.1
    done
    echo "bench: the mock OneID did not start (see $work/mock.log)" >&2
    return 1
}

# bench_command_calls <command>: how often Redis ran it
bench_command_calls() {
    redis-cli -p "$redis_port" info commandstats \
        | sed -n "s/^cmdstat_$1:calls=\([0-9]*\).*/\1/p" | tr -d '\r' \
        | grep . || echo 0
}

# bench_median <numbers...>
bench_median() {
    printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# bench_to_ms <wrk latency like 1.23ms / 850.00us / 1.02s>
bench_to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 } }'
}
