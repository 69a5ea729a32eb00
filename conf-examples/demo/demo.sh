#!/usr/bin/env bash
# make demo / make demo-stop: Redis, the mock OneID, the pretend legacy MIS
# and nginx with the module, all on loopback, state under build/demo.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
demo=$top/build/demo
redis_port=16380
oneid_port=18444
mis_port=18080
nginx=${NGINX_BIN:-/usr/sbin/nginx}

wait_for() {
    local what=$1 i
    shift
    for i in $(seq 1 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo: $what did not start, see $demo/*.log" >&2
    exit 1
}

stop_pid() {
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null && for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$1"
}

stop() {
    [ -f "$demo/logs/nginx.pid" ] && "$nginx" -p "$demo" -c conf/nginx.conf \
        -s quit 2>/dev/null
    stop_pid "$demo/legacy-mis.pid"
    stop_pid "$demo/mock-oneid.pid"
    stop_pid "$demo/redis.pid"
    echo "demo stopped"
}

start() {
    stop >/dev/null 2>&1
    mkdir -p "$demo/conf" "$demo/logs"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize yes --pidfile "$demo/redis.pid" \
        --logfile "$demo/redis.log" --dir "$demo" || exit 1
    wait_for "redis" redis-cli -p "$redis_port" ping

    python3 "$top/t/mock-oneid/mock_oneid.py" \
        --listen "127.0.0.1:$oneid_port" --plain \
        --config "$top/t/mock-oneid/clients.json" \
        --log "$demo/mock-oneid.log" --pidfile "$demo/mock-oneid.pid" \
        >>"$demo/mock-oneid.log" 2>&1 </dev/null &
    wait_for "mock OneID" curl -sf \
        "http://127.0.0.1:$oneid_port/__mock/health"

    python3 "$top/conf-examples/demo/legacy_mis.py" \
        --listen "127.0.0.1:$mis_port" --pidfile "$demo/legacy-mis.pid" \
        >>"$demo/legacy-mis.log" 2>&1 </dev/null &
    wait_for "legacy MIS" curl -sf "http://127.0.0.1:$mis_port/api/mobile/x"

    sed -e "s|@MODULE@|$top/build/ngx_http_oneid_module.so|" \
        -e "s|@REDIS_PORT@|$redis_port|" \
        -e "s|@ONEID_PORT@|$oneid_port|g" \
        -e "s|@MIS_PORT@|$mis_port|" \
        "$top/conf-examples/demo/nginx.conf.in" > "$demo/conf/nginx.conf"

    "$nginx" -p "$demo" -c conf/nginx.conf -t -q || exit 1
    "$nginx" -p "$demo" -c conf/nginx.conf || exit 1

    cat <<MSG

  The demo is running: open http://127.0.0.1:8080/ in a browser.

  You are sent to a mock OneID page: pick a test user, and the pretend
  legacy MIS shows the identity headers nginx added.  Log out at
  http://127.0.0.1:8080/oneid/logout.  The mobile API stays open:
  http://127.0.0.1:8080/api/mobile/ping

  Logs: $demo/logs/error.log     Stop: make demo-stop

MSG
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
