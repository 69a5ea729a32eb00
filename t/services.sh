#!/usr/bin/env bash
# Starts and stops what the test suite talks to: a real redis-server and
# the mock OneID (HTTPS, test CA).  Ports and paths come from the
# environment that the Makefile exports (TEST_NGINX_*).
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
# TEST_SERVICES_DIR lets several suites run side by side
run=${TEST_SERVICES_DIR:-$top/build/run}
ca_dir=$top/build/test-ca
redis_port=${TEST_NGINX_REDIS_PORT:-16379}
oneid_port=${TEST_NGINX_ONEID_PORT:-18443}
backend_port=${TEST_NGINX_BACKEND_PORT:-18081}

wait_for() {    # wait_for <what> <command...>: up to 10 s
    local what=$1 i
    shift
    for i in $(seq 1 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "services: $what did not come up" >&2
    return 1
}

stop_pid() {    # stop_pid <pidfile>
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$1"
}

start() {
    mkdir -p "$run"
    "$top/t/mock-oneid/gen-certs.sh" "$ca_dir" >/dev/null || exit 1

    stop_pid "$run/redis.pid"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize yes --pidfile "$run/redis.pid" \
        --logfile "$run/redis.log" --dir "$run" || exit 1
    wait_for "redis-server on port $redis_port" \
        redis-cli -p "$redis_port" ping || exit 1

    stop_pid "$run/mock-oneid.pid"
    python3 "$top/t/mock-oneid/mock_oneid.py" \
        --listen "127.0.0.1:$oneid_port" \
        --cert "$ca_dir/server.crt" --key "$ca_dir/server.key" \
        --config "$top/t/mock-oneid/clients.json" \
        --log "$run/mock-oneid.log" --pidfile "$run/mock-oneid.pid" \
        >>"$run/mock-oneid.log" 2>&1 </dev/null &
    wait_for "mock OneID on port $oneid_port" \
        curl -sf --cacert "$ca_dir/ca.crt" \
        "https://127.0.0.1:$oneid_port/__mock/health" || exit 1

    stop_pid "$run/echo-backend.pid"
    python3 "$top/t/echo-backend.py" --listen "127.0.0.1:$backend_port" \
        --pidfile "$run/echo-backend.pid" >>"$run/echo-backend.log" 2>&1 </dev/null &
    wait_for "echo backend on port $backend_port" \
        curl -sf "http://127.0.0.1:$backend_port/" || exit 1

    echo "services: redis on 127.0.0.1:$redis_port," \
         "mock OneID on https://127.0.0.1:$oneid_port," \
         "echo backend on 127.0.0.1:$backend_port"
}

stop() {
    stop_pid "$run/echo-backend.pid"
    stop_pid "$run/mock-oneid.pid"
    stop_pid "$run/redis.pid"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
