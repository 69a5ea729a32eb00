#!/usr/bin/env bash
# A bounded soak: authenticated load for several minutes while Redis is
# restarted twice.  Not part of `make test` nor of `make bench`.
#
#   bench/soak.sh [-d total seconds (300)] [-s sessions (200)]
#                 [-c connections (50)] [-w workers (1)]
#                 [-o seconds Redis stays down per restart (3)]
#                 [-p pause in ms before each request of a connection (0)]
#
# Starts its own Redis, a backend (an nginx answering with the PIN it
# received), the mock OneID and one proxy with "oneid on", on ports apart
# from bench/run.sh's (SOAK_REDIS_PORT, SOAK_BACKEND_PORT, SOAK_PROXY_PORT,
# SOAK_MOCK_PORT override them).  Everything it starts is stopped on exit;
# logs stay in build/soak/.
#
# Persistence: Redis keeps RDB snapshots only, with no automatic save
# points and no AOF (--save '' --appendonly no).  The first half of the
# sessions ("saved") is logged in, then SAVE writes the snapshot; the
# second half ("memory") exists only in memory.  Every fourth session is
# a JSON client (Accept: application/json), the others browsers.
#
#   restart 1 at d/3: SIGKILL, then start.  The snapshot is loaded: the
#     "saved" sessions survive, the "memory" ones are lost and must be sent
#     to login (302 to OneID, or 401 JSON), never to an error page.
#   restart 2 at 2d/3: SHUTDOWN SAVE, then start.  Nothing is lost.
#
# Redis stays down -o seconds each time; meanwhile the module answers 503.
# Each 302 of a lost browser session stores a new login state in Redis
# (oneid_state_timeout, 10 min), so the states pile up after restart 1:
# the summary shows how many, and Redis' memory.
# wrk (bench/soak.lua) spreads requests over all sessions and checks every
# answer against its session.  At the end each session is asked once more
# with curl: 200 with its own identity, or 302 to the OneID authorize URL
# (401 for JSON clients); anything else fails.
#
# Exits non-zero if a worker's open fds or Redis connected_clients grew, a
# session failed or was misjudged, an answer was not 200/302/401/503, 503s
# went on more than 3 s after Redis answered PING again (the module retries
# once a second), a 503 came outside a restart, a worker changed, or nginx
# logged [alert], [crit], [emerg] or a signal.
set -eu

dur=300
sessions=200
conns=50
workers=1
outage=3
pause=0
while [ $# -gt 0 ]; do
    case "$1" in
        -d) dur=$2; shift 2 ;;
        -s) sessions=$2; shift 2 ;;
        -c) conns=$2; shift 2 ;;
        -w) workers=$2; shift 2 ;;
        -o) outage=$2; shift 2 ;;
        -p) pause=$2; shift 2 ;;
        *) echo "usage: $0 [-d s] [-s sessions] [-c conns] [-w workers]" \
                "[-o outage s] [-p pause ms]" >&2
           exit 2 ;;
    esac
done

[ "$sessions" -ge 2 ] || { echo "soak: -s needs at least 2" >&2; exit 2; }
[ "$dur" -ge 30 ] || { echo "soak: -d needs at least 30" >&2; exit 2; }
[ "$conns" -ge 1 ] && [ "$workers" -ge 1 ] || exit 2

top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/soak
nginx=${NGINX_BIN:-/usr/sbin/nginx}
module=$top/build/ngx_http_oneid_module.so
redis_port=${SOAK_REDIS_PORT:-16460}
backend_port=${SOAK_BACKEND_PORT:-18094}
proxy_port=${SOAK_PROXY_PORT:-18095}
mock_port=${SOAK_MOCK_PORT:-18446}
base=http://127.0.0.1:$proxy_port
authorize=http://127.0.0.1:$mock_port/sso/oauth/Authorization.do
max_tail_ms=3000

for tool in wrk redis-server redis-cli python3 curl; do
    command -v $tool >/dev/null || { echo "soak: $tool is missing" >&2; exit 1; }
done
[ -f "$module" ] || { echo "soak: build the module first (make build)" >&2; exit 1; }

now_ms() { date +%s%3N; }

pid_is() {    # pid_is <pidfile> <text>: the pid, if its command line has text
    local pid
    [ -f "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && grep -qaF -- "$2" "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

stop_all() {    # everything this script starts, found by its pid files
    local pid
    [ -n "${wrk_pid:-}" ] && kill "$wrk_pid" 2>/dev/null
    for d in proxy backend; do
        pid=$(pid_is "$work/$d/logs/nginx.pid" "$work/$d") && kill "$pid"
    done
    pid=$(pid_is "$work/mock.pid" "127.0.0.1:$mock_port") && kill "$pid"
    pid=$(pid_is "$work/redis.pid" "127.0.0.1:$redis_port") && kill -9 "$pid"
    return 0
}
trap stop_all EXIT
trap 'exit 130' INT TERM

stop_all    # leftovers of a soak that was killed
sleep 0.2
for port in $redis_port $backend_port $proxy_port $mock_port; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "soak: port $port is in use; choose others with SOAK_REDIS_PORT," \
             "SOAK_BACKEND_PORT, SOAK_PROXY_PORT, SOAK_MOCK_PORT" >&2
        exit 1
    fi
done
rm -rf "$work"
mkdir -p "$work"/{proxy,backend}/{conf,logs}

cat > "$work/backend/conf/nginx.conf" <<END
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$backend_port backlog=4096;
        keepalive_requests 1000000;
        location / { return 200 "legacy MIS page pin=\$http_x_oneid_pin\n"; }
    }
}
END

# upstream keepalive_timeout 1s: idle backend connections are gone a few
# seconds after the load, so open fds at rest can be compared exactly
cat > "$work/proxy/conf/nginx.conf" <<END
load_module $module;
worker_processes $workers;
error_log logs/error.log notice;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    oneid_redis 127.0.0.1:$redis_port;
    upstream backend {
        server 127.0.0.1:$backend_port;
        keepalive 64;
        keepalive_timeout 1s;
    }
    server {
        listen 127.0.0.1:$proxy_port backlog=4096;
        keepalive_requests 1000000;
        oneid on;
        oneid_client_id dmed;
        oneid_client_secret "dm3d+S3cr/et=&x==";
        oneid_redirect_uri http://127.0.0.1:8081/oneid/callback;
        oneid_authorize_url $authorize;
        oneid_backend /_oneid;
        oneid_cookie_secure off;
        add_header X-Soak-Session \$arg_s always;
        location = /_oneid {
            internal;
            proxy_pass $authorize;
            subrequest_output_buffer_size 16k;
        }
        location = /oneid/callback { oneid_callback; }
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
END

redis_start() {
    redis-server --port "$redis_port" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$work" --dbfilename dump.rdb \
        --daemonize yes --pidfile "$work/redis.pid" \
        --logfile "$work/redis.log" >/dev/null
}

redis_wait_up() {    # until our Redis answers PONG (not LOADING); up to 10 s
    local pid
    for _ in $(seq 1 500); do
        if [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ]; then
            # the one we started, not another that took the port meanwhile
            pid=$(redis-cli -p "$redis_port" info server \
                  | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
            [ -n "$pid" ] && [ "$pid" = "$(cat "$work/redis.pid" 2>/dev/null)" ] &&
                return 0
        fi
        sleep 0.02
    done
    echo "soak: our redis on port $redis_port did not come up" \
         "(see $work/redis.log)" >&2
    return 1
}

redis_wait_gone() {    # redis_wait_gone <pid>
    for _ in $(seq 1 500); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.02
    done
    echo "soak: redis pid $1 did not exit" >&2
    return 1
}

count_keys() {    # count_keys <pattern>: SCAN, 10000 keys a step
    local cursor=0 out
    while :; do
        out=$(redis-cli -p "$redis_port" scan "$cursor" \
              match "$1" count 10000) || return 1
        cursor=$(echo "$out" | head -1)
        echo "$out" | tail -n +2
        [ "$cursor" = 0 ] && break
    done | grep . | sort -u | wc -l    # SCAN may return a key twice
}

session_keys() { count_keys 'oneid:session:*'; }

redis_contents() {    # "<sessions> sessions, <states> login states, <memory>"
    local mem
    mem=$(redis-cli -p "$redis_port" info memory \
          | sed -n 's/^used_memory_human:\([^\r]*\).*/\1/p')
    echo "$(session_keys) sessions, $(count_keys 'oneid:state:*') login states, $mem"
}

redis_clients() {
    redis-cli -p "$redis_port" info clients \
        | sed -n 's/^connected_clients:\([0-9]*\).*/\1/p'
}

redis_start
redis_wait_up
python3 "$top/t/mock-oneid/mock_oneid.py" --plain \
    --listen 127.0.0.1:$mock_port --config "$top/t/mock-oneid/clients.json" \
    --pidfile "$work/mock.pid" >"$work/mock.log" 2>&1 </dev/null &
"$nginx" -p "$work/backend" -c conf/nginx.conf
"$nginx" -p "$work/proxy" -c conf/nginx.conf
for _ in $(seq 1 100); do
    curl -sf http://127.0.0.1:$mock_port/__mock/health >/dev/null 2>&1 && break
    sleep 0.1
done

# sessions: index group kind pin cookie, one a line; the logins go through
# bench/login.py, then one request checks the identity that the backend got
make_sessions() {    # make_sessions <first> <last> <group>
    python3 - "$base" "$1" "$2" "$3" "$top/bench" >> "$work/sessions" <<'END'
import http.client
import sys

base, first, last, group, bench = sys.argv[1:6]
sys.path.insert(0, bench)
import login    # noqa: E402  bench/login.py

users = ["doctor", "citizen-basic", "citizen-eds", "legal-rep", "sparse",
         "legacy-formats"]

for i in range(int(first), int(last) + 1):
    kind = "json" if i % 4 == 0 else "browser"
    cookie = login.login(base, users[(i - 1) % len(users)])
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": cookie}
    if kind == "json":
        headers["Accept"] = "application/json"
    conn.request("GET", "/soak/page?s=%d" % i, headers=headers)
    res = conn.getresponse()
    body = res.read().decode()
    conn.close()
    prefix = "legacy MIS page pin="
    if res.status != 200 or not body.startswith(prefix):
        sys.exit("session %d: %d %r" % (i, res.status, body[:80]))
    print(i, group, kind, body[len(prefix):].strip(), cookie)
END
}

half=$((sessions / 2))
echo "soak: logging in $sessions sessions through the mock OneID..."
make_sessions 1 "$half" saved
redis-cli -p "$redis_port" save >/dev/null
make_sessions $((half + 1)) "$sessions" memory
keys_start=$(session_keys)
[ "$keys_start" -eq "$sessions" ] ||
    { echo "soak: $keys_start sessions in Redis, expected $sessions" >&2; exit 1; }
redis_start_contents=$(redis_contents)

run_wrk() {    # run_wrk <seconds> <results file> <wrk output file>
    SOAK_SESSIONS=$work/sessions SOAK_OUT=$2 SOAK_PAUSE_MS=$pause \
        wrk -t1 -c"$conns" -d"$1"s --timeout 5s --latency \
        -s "$top/bench/soak.lua" "$base/soak/page" > "$3" 2>&1
}

# warm-up, so that the "start" figures are of a worker that has served
warm=$((dur / 20 < 3 ? 3 : dur / 20))
echo "soak: warming up for ${warm}s..."
run_wrk "$warm" "$work/warmup.res" "$work/warmup.out"
if awk '$1 == "status" && $2 != 200 {bad = 1}
        $1 == "check" && $2 != "early_login" && $3 != 0 {bad = 1}
        END {exit !bad}' "$work/warmup.res"
then
    echo "soak: the warm-up got answers other than 200:" >&2
    cat "$work/warmup.res" | grep -v '^tl ' >&2
    exit 1
fi

worker_pids() {
    pgrep -P "$(cat "$work/proxy/logs/nginx.pid")" | sort -n | tr '\n' ' '
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

hex2dec() { echo $((16#$1)); }

fd_report() {    # fd_report <pid>: "total redis backend clients listen other"
    local pid=$1 f l
    local total=0 redis=0 backend=0 clients=0 listen=0 other=0
    declare -A sock=()
    for f in /proc/"$pid"/fd/*; do
        l=$(readlink "$f" 2>/dev/null) || continue
        total=$((total + 1))
        case "$l" in
            socket:\[*\]) l=${l#socket:[}; sock[${l%]}]=1 ;;
            *) other=$((other + 1)) ;;
        esac
    done
    local _sl laddr raddr _st _q _t _r _u _to inode _rest lport rport
    while read -r _sl laddr raddr _st _q _t _r _u _to inode _rest; do
        [ -n "${sock[$inode]:-}" ] || continue
        unset "sock[$inode]"
        lport=$(hex2dec "${laddr#*:}")
        rport=$(hex2dec "${raddr#*:}")
        if [ "$rport" -eq "$redis_port" ]; then redis=$((redis + 1))
        elif [ "$rport" -eq "$backend_port" ]; then backend=$((backend + 1))
        elif [ "$lport" -eq "$proxy_port" ] && [ "$rport" -eq 0 ]; then
            listen=$((listen + 1))
        elif [ "$lport" -eq "$proxy_port" ]; then clients=$((clients + 1))
        else other=$((other + 1))
        fi
    done < <(tail -n +2 "/proc/$pid/net/tcp")
    other=$((other + ${#sock[@]}))    # unix sockets, socketpairs
    echo "$total $redis $backend $clients $listen $other"
}

measure() {    # measure <prefix>: sets <prefix>_pids, _rss, _fds, _clients
    local p pids rss="" fds=""
    pids=$(worker_pids)
    for p in $pids; do
        rss="$rss $(rss_kb "$p")"
        fds="$fds $(fd_report "$p" | tr ' ' ,)"
    done
    printf -v "${1}_pids" '%s' "$pids"
    printf -v "${1}_rss" '%s' "${rss# }"
    printf -v "${1}_fds" '%s' "${fds# }"
    printf -v "${1}_clients" '%s' "$(redis_clients)"
}

sleep 3    # client and idle backend connections close
measure start

sleep_until() {    # sleep_until <ms since the epoch>
    local left=$(($1 - $(now_ms)))
    [ "$left" -le 0 ] || sleep "$(awk -v l="$left" 'BEGIN {print l / 1000}')"
}

restart() {    # restart <n> kill|shutdown: sets r<n>_down, r<n>_up, r<n>_keys
    local pid down up
    pid=$(cat "$work/redis.pid")
    down=$(now_ms)
    if [ "$2" = kill ]; then
        kill -9 "$pid"
    else
        redis-cli -p "$redis_port" shutdown save >/dev/null 2>&1 || true
    fi
    redis_wait_gone "$pid"
    sleep "$outage"
    redis_start
    redis_wait_up
    up=$(now_ms)
    printf -v "r${1}_down" '%s' "$down"
    printf -v "r${1}_up" '%s' "$up"
    printf -v "r${1}_keys" '%s' "$(session_keys)"
    printf -v "r${1}_contents" '%s' "$(redis_contents)"
    echo "soak: restart $1 ($2): Redis down for" \
         "$(awk -v a="$down" -v b="$up" 'BEGIN {printf "%.2f", (b - a) / 1000}') s," \
         "then Redis holds $(eval echo "\$r${1}_contents")"
}

echo "soak: ${dur}s of load, Redis restarts at about $((dur / 3))s and $((2 * dur / 3))s..."
t0=$(now_ms)
run_wrk "$dur" "$work/soak.res" "$work/soak.out" &
wrk_pid=$!
sleep_until $((t0 + dur * 1000 / 3))
kill -0 "$wrk_pid" 2>/dev/null || { echo "soak: wrk ended early" >&2; exit 1; }
restart 1 kill
sleep_until $((t0 + dur * 2000 / 3))
kill -0 "$wrk_pid" 2>/dev/null || { echo "soak: wrk ended early" >&2; exit 1; }
restart 2 shutdown
wrk_rc=0
wait "$wrk_pid" || wrk_rc=$?
wrk_pid=
t_end=$(now_ms)
[ "$wrk_rc" -eq 0 ] && [ -s "$work/soak.res" ] ||
    { echo "soak: wrk failed ($wrk_rc):" >&2; cat "$work/soak.out" >&2; exit 1; }

sleep 3
measure end
keys_end=$(session_keys)
redis_end_contents=$(redis_contents)

# every session once more
declare -A final=()
final_bad=""
while read -r idx group kind pin cookie; do
    hdr=()
    [ "$kind" = json ] && hdr=(-H "Accept: application/json")
    out=$(curl -s -o "$work/final.body" -w '%{http_code} %{redirect_url}' \
          "${hdr[@]}" -H "Cookie: $cookie" "$base/soak/page?s=$idx") || true
    code=${out%% *}
    loc=${out#* }
    body=$(cat "$work/final.body" 2>/dev/null || true)
    if [ "$code" = 200 ] && [ "$body" = "legacy MIS page pin=$pin" ]; then
        res=works
    elif [ "$code" = 302 ] && [ "$kind" = browser ] &&
         [ "${loc#"$authorize?"}" != "$loc" ]
    then
        res=login
    elif [ "$code" = 401 ] && [ "$kind" = json ] &&
         [ "${body#*\"login_required\"}" != "$body" ]
    then
        res=login
    else
        res=failed
        final_bad="$final_bad $idx:$code"
    fi
    final[$group.$res]=$(( ${final[$group.$res]:-0} + 1 ))
    final[$group.$res.$code]=$(( ${final[$group.$res.$code]:-0} + 1 ))
done < "$work/sessions"

errlog=$work/proxy/logs/error.log
count_log() { grep -c -- "$1" "$errlog" || true; }
log_error=$(count_log '\[error\]')
log_unavail=$(count_log 'session store unavailable')
log_lost=$(count_log 'lost connection to redis\|cannot connect to redis\|closing connection to redis')
log_back=$(count_log 'reachable again')
log_bad=$(grep -E '\[(alert|crit|emerg)\]|signal' "$errlog" || true)

# ---- report ----------------------------------------------------------

res=$work/soak.res
get() { awk -v a="$1" -v b="$2" '$1 == a && $2 == b {print $3; f = 1}
                                 END {if (!f) print 0}' "$res"; }
sec() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (a - b) / 1000}'; }

fail=()
requests=$(get summary requests)

echo
echo "bench/soak.sh -d $dur -s $sessions -c $conns -w $workers -o $outage -p $pause" \
     "($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $("$nginx" -v 2>&1 | sed 's/.*: //'),"
echo " Redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//'), wrk -t1 -c$conns)"
echo " sessions: $half saved in the RDB snapshot + $((sessions - half)) only in memory;" \
     "every 4th a JSON client"
echo

echo "Redis restarts (times in s from the start of the load; down = from the kill"
echo "or SHUTDOWN command to the first PONG the script got; last column: the last"
echo "503 after that PONG, negative when the module was back before the script)"
printf "| %-44s | %8s | %8s | %-15s | %7s | %12s |\n" \
    "Redis restart" "at s" "down s" "503 window s" "503s" "503s after up"
printf "|%s|%s|%s|%s|%s|%s|\n" "----------------------------------------------" \
    "----------" "----------" "-----------------" "---------" "--------------"
in_window=0
for r in 1 2; do
    eval "down=\$r${r}_down up=\$r${r}_up"
    [ $r = 1 ] && what="1: SIGKILL + start (memory sessions lost)" ||
        what="2: SHUTDOWN SAVE + start (nothing lost)"
    # the 503 windows that overlap [down - 1 s, up + max tail]
    read -r wfirst wlast wn <<< "$(awk -v d="$down" -v u="$up" -v m=$max_tail_ms '
        $1 == "window503" && $3 >= d - 1000 && $2 <= u + m {
            if (!f || $2 < f) f = $2; if ($3 > l) l = $3; n += $4 }
        END {printf "%.0f %.0f %d\n", f, l, n}' "$res")"
    in_window=$((in_window + wn))
    if [ "$wn" -gt 0 ]; then
        win="$(sec "$wfirst" "$t0")-$(sec "$wlast" "$t0")"
        tail_ms=$((wlast - up))
        tail=$(sec "$wlast" "$up")
        [ "$tail_ms" -le "$max_tail_ms" ] ||
            fail+=("restart $r: 503s went on ${tail}s after Redis was back")
    else
        win="none"; tail="-"
    fi
    printf "| %-44s | %8s | %8s | %-15s | %7d | %12s |\n" "$what" \
        "$(sec "$down" "$t0")" "$(sec "$up" "$down")" "$win" "$wn" "$tail"
done
all503=$(get status 503)
[ "$all503" -eq "$in_window" ] ||
    fail+=("$((all503 - in_window)) answers 503 outside the Redis restarts")
echo

# answers per interval, from the 100 ms timeline
echo "answers per interval (100 ms buckets: the edges are approximate)"
printf "| %-30s | %9s | %9s | %8s | %8s | %8s | %6s |\n" \
    interval requests 200 302 401 503 other
printf "|%s|%s|%s|%s|%s|%s|%s|\n" "--------------------------------" \
    "-----------" "-----------" "----------" "----------" "----------" "--------"
awk -v t0="$t0" -v d1="$r1_down" -v u1="$r1_up" -v d2="$r2_down" \
    -v u2="$r2_up" '
    BEGIN {
        split("start -> restart 1|restart 1: Redis down|restart 1 -> restart 2|restart 2: Redis down|restart 2 -> end|total", name, "|")
        e[1] = d1; e[2] = u1; e[3] = d2; e[4] = u2; e[5] = 1e18
    }
    $1 == "tl" {
        ms = $2 * 100 + 50
        for (k = 1; k <= 5 && ms >= e[k]; k++) ;
        n[k, $3] += $4; n[k] += $4; n[6, $3] += $4; n[6] += $4
    }
    END {
        for (k = 1; k <= 6; k++) {
            o = n[k] - n[k, 200] - n[k, 302] - n[k, 401] - n[k, 503]
            printf "| %-30s | %9d | %9d | %8d | %8d | %8d | %6d |\n", name[k],
                n[k], n[k, 200], n[k, 302], n[k, 401], n[k, 503], o
        }
    }' "$res"
echo

dur_s=$(awk -v u="$(get summary duration_us)" 'BEGIN {printf "%.1f", u / 1e6}')
echo "requests served: $requests in ${dur_s}s" \
     "($(awk -v n="$requests" -v u="$(get summary duration_us)" \
         'BEGIN {printf "%.0f", n / (u / 1e6)}') req/s," \
     "p50 $(awk -v u="$(get summary p50_us)" 'BEGIN {printf "%.2f", u / 1000}') ms," \
     "p99 $(awk -v u="$(get summary p99_us)" 'BEGIN {printf "%.2f", u / 1000}') ms)"
echo "by status: $(awk '$1 == "status" {print $2, $3}' "$res" | sort -n |
                   awk '{printf "%s%s %s", s, $1, $2; s = ", "}')"
for g in saved memory; do
    echo "  $g sessions: $(awk -v g=$g '$1 == "group" && $2 == g {print $3, $4}' "$res" |
                           sort -n | awk '{printf "%s%s %s", s, $1, $2; s = ", "}')"
done
echo "socket errors: connect $(get summary connect), read $(get summary read)," \
     "write $(get summary write), timeout $(get summary timeout)"
for e in connect read write; do
    [ "$(get summary $e)" -eq 0 ] || fail+=("wrk: $(get summary $e) $e errors")
done
other=$(awk '$1 == "status" && $2 != 200 && $2 != 302 && $2 != 401 && $2 != 503 {n += $3}
             END {print n + 0}' "$res")
[ "$other" -eq 0 ] || fail+=("$other answers neither 200, 302, 401 nor 503")
echo "Redis holds: at start $redis_start_contents"
echo "             after restart 1 $r1_contents"
echo "             after restart 2 $r2_contents"
echo "             at the end $redis_end_contents"
[ "$r1_keys" -eq "$half" ] ||
    fail+=("restart 1 left $r1_keys sessions in Redis, expected $half")
[ "$keys_end" -eq "$half" ] ||
    fail+=("$keys_end sessions in Redis at the end, expected $half")
echo

check_line() {    # check_line <name> <text> <expected 0>
    local v
    v=$(get check "$1")
    printf "  %-62s %s\n" "$2:" "$v"
    [ "$v" -eq 0 ] || fail+=("$2: $v")
}
echo "checks of every answer during the load (all must be 0):"
check_line saved_to_login "saved sessions sent to login"
check_line resurrected "sessions working again after being sent to login"
check_line wrong_kind "302 to a JSON client or 401 to a browser"
check_line wrong_identity "200 with another identity than the session's"
check_line unattributed "answers without the session echo header"
early=$(get check early_login)
if [ "$early" -eq 0 ]; then
    printf "  %-62s %s\n" "memory sessions sent to login before restart 1:" 0
    fail+=("no memory session was sent to login after restart 1")
elif [ "$early" -lt "$r1_down" ]; then
    printf "  %-62s %s\n" "memory sessions sent to login before restart 1:" \
        "yes, at $(sec "$early" "$t0") s"
    fail+=("a memory session was sent to login before Redis lost it")
else
    printf "  %-62s %s\n" "memory sessions sent to login before restart 1:" 0
    echo "  (the first at $(sec "$early" "$t0") s; Redis was killed at" \
         "$(sec "$r1_down" "$t0") s and answered PING again at $(sec "$r1_up" "$t0") s)"
fi
echo

printf "| %-26s | %-22s | %-22s |\n" "worker (proxy)" start end
printf "|%s|%s|%s|\n" "----------------------------" "------------------------" \
    "------------------------"
printf "| %-26s | %-22s | %-22s |\n" "pids" "$start_pids" "$end_pids"
printf "| %-26s | %-22s | %-22s |\n" "VmRSS kB" "$start_rss" "$end_rss"
fd_col() { local x out=""; for x in $1; do out="$out ${x%%,*}"; done; echo "${out# }"; }
fd_part() {    # fd_part <list> <field 2..6>
    local x out=""
    for x in $1; do out="$out $(echo "$x" | cut -d, -f"$2")"; done
    echo "${out# }"
}
printf "| %-26s | %-22s | %-22s |\n" "open fds" "$(fd_col "$start_fds")" "$(fd_col "$end_fds")"
printf "| %-26s | %-22s | %-22s |\n" "  to Redis" "$(fd_part "$start_fds" 2)" "$(fd_part "$end_fds" 2)"
printf "| %-26s | %-22s | %-22s |\n" "  to the backend" "$(fd_part "$start_fds" 3)" "$(fd_part "$end_fds" 3)"
printf "| %-26s | %-22s | %-22s |\n" "  clients" "$(fd_part "$start_fds" 4)" "$(fd_part "$end_fds" 4)"
printf "| %-26s | %-22s | %-22s |\n" "  listening, other" \
    "$(fd_part "$start_fds" 5) + $(fd_part "$start_fds" 6)" \
    "$(fd_part "$end_fds" 5) + $(fd_part "$end_fds" 6)"
printf "| %-26s | %-22s | %-22s |\n" "Redis connected_clients" \
    "$start_clients" "$end_clients"
echo "  (fds at rest, 3 s after the load; connected_clients counts redis-cli too)"
[ "$start_pids" = "$end_pids" ] || fail+=("worker pids changed: $start_pids -> $end_pids")
set -- $(fd_col "$end_fds")
for x in $(fd_col "$start_fds"); do
    [ "${1:-0}" -le "$x" ] || fail+=("a worker's open fds grew: $x -> ${1:-?}")
    shift || true
done
[ "$end_clients" -le "$start_clients" ] ||
    fail+=("Redis connected_clients grew: $start_clients -> $end_clients")
echo

printf "| %-16s | %8s | %-18s | %-26s | %6s |\n" \
    "final check" sessions "still works (200)" "sent to login (302 / 401)" failed
printf "|%s|%s|%s|%s|%s|\n" "------------------" "----------" "--------------------" \
    "----------------------------" "--------"
for g in saved memory; do
    [ $g = saved ] && n=$half || n=$((sessions - half))
    printf "| %-16s | %8d | %-18d | %-26s | %6d |\n" "$g" "$n" \
        "${final[$g.works]:-0}" \
        "${final[$g.login]:-0} (${final[$g.login.302]:-0} / ${final[$g.login.401]:-0})" \
        "${final[$g.failed]:-0}"
done
[ -z "$final_bad" ] || fail+=("final check failed for session:status$final_bad")
[ "${final[saved.works]:-0}" -eq "$half" ] ||
    fail+=("$((half - ${final[saved.works]:-0})) saved sessions do not work any more")
[ "${final[memory.login]:-0}" -eq $((sessions - half)) ] ||
    fail+=("$((sessions - half - ${final[memory.login]:-0})) memory sessions were not sent to login")
echo

echo "nginx error log: $log_error [error] ($log_unavail \"session store unavailable\"," \
     "$log_lost lost, closed or cannot connect), $log_back \"reachable again\""
if [ -n "$log_bad" ]; then
    echo "$log_bad" | head -5
    fail+=("nginx logged alert/crit/emerg or a signal")
else
    echo "  no [alert], [crit], [emerg] or signal"
fi
echo "logs and raw results: $work"
echo

if [ ${#fail[@]} -eq 0 ]; then
    echo "soak: PASS"
    exit 0
fi
echo "soak: FAIL"
printf "  - %s\n" "${fail[@]}"
exit 1
