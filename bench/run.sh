#!/usr/bin/env bash
# make bench: ngx_http_oneid_module against plain nginx, side by side.
#
# Starts its own Redis, a backend (an nginx returning a small fixed body),
# the mock OneID, and two proxies with one worker each: A = plain
# proxy_pass, B = the same location with "oneid on".  Logs in once through
# the mock, then drives A and B in turn (A B A B ...) with wrk.  B also
# has a location with "oneid_session_touch off" (a page's background
# polling), driven as a case of its own (N).  The proxy
# under test runs alone on CPU 0; wrk, Redis, the backend and the mock
# share CPU 1.
#
#   bench/run.sh [-d seconds per run] [-r rounds] [-c connections]
#                [--soak requests] [--baseline PATH.so]
#
# --baseline adds two proxies that load another build of the module (say
# the previous release) with the same configuration as B and C; they run
# in the same rounds (A B C B' C' ...), and the median of the per-round
# ratios new / baseline is printed for both, so a change's cost is measured
# within one run, never across runs.
#
# Prints requests/s, p50/p99 latency and the ratio to plain for each case,
# Redis commands per authenticated request, worker RSS before and after,
# and complete logins and login starts per second.  Not part of `make test`.
set -eu

dur=10
rounds=3
conns=50
soak=0
baseline=
while [ $# -gt 0 ]; do
    case "$1" in
        -d) dur=$2; shift 2 ;;
        -r) rounds=$2; shift 2 ;;
        -c) conns=$2; shift 2 ;;
        --soak) soak=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        *) echo "usage: $0 [-d s] [-r rounds] [-c conns] [--soak N]" \
                "[--baseline PATH.so]" >&2
           exit 2 ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/bench
nginx=${NGINX_BIN:-/usr/sbin/nginx}
module=$top/build/ngx_http_oneid_module.so
redis_port=16450    # outside the suite's 16379-16415
backend_port=18090
plain_port=18091
oneid_port=18092
cached_port=18093
base_port=18096        # --baseline only; 18094-18095 are soak.sh's
base_cached_port=18097
mock_port=18445

. "$top/bench/common.sh"

for tool in wrk taskset redis-server python3; do
    command -v $tool >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
[ -f "$module" ] || { echo "bench: build the module first (make build)" >&2; exit 1; }
if [ -n "$baseline" ]; then
    [ -f "$baseline" ] || { echo "bench: $baseline: no such file" >&2; exit 1; }
    # load_module resolves a relative path against each proxy's prefix
    baseline=$(realpath "$baseline")
fi

cpu_proxy=0
cpu_rest=1
[ "$(nproc)" -ge 2 ] || cpu_rest=0

cleanup() {
    for d in plain oneid cached base base_cached backend; do
        [ -f "$work/$d/logs/nginx.pid" ] &&
            "$nginx" -p "$work/$d" -c conf/nginx.conf -s stop 2>/dev/null
    done
    [ -f "$work/mock.pid" ] && kill "$(cat "$work/mock.pid")" 2>/dev/null
    redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$work"/{plain,oneid,cached,backend}/{conf,logs}
[ -z "$baseline" ] || mkdir -p "$work"/{base,base_cached}/{conf,logs}

bench_backend_conf > "$work/backend/conf/nginx.conf"

bench_proxy_conf $plain_port "" "" "" > "$work/plain/conf/nginx.conf"
oneid_server=$(bench_oneid_server)

# requests that do not restart the idle timeout: a plain GET each
notouch_location="
        location /bench/poll {
            oneid_session_touch off;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }"

bench_proxy_conf $oneid_port "load_module $module;" "$oneid_server$notouch_location" \
    "oneid_redis 127.0.0.1:$redis_port;" > "$work/oneid/conf/nginx.conf"
bench_proxy_conf $cached_port "load_module $module;" "$oneid_server" \
    "oneid_redis 127.0.0.1:$redis_port;
    oneid_session_cache zone=sessions:10m ttl=5s refresh=60s;" \
    > "$work/cached/conf/nginx.conf"
if [ -n "$baseline" ]; then
    bench_proxy_conf $base_port "load_module $baseline;" "$oneid_server" \
        "oneid_redis 127.0.0.1:$redis_port;" > "$work/base/conf/nginx.conf"
    bench_proxy_conf $base_cached_port "load_module $baseline;" "$oneid_server" \
        "oneid_redis 127.0.0.1:$redis_port;
    oneid_session_cache zone=sessions:10m ttl=5s refresh=60s;" \
        > "$work/base_cached/conf/nginx.conf"
fi

bench_start_redis $cpu_rest
bench_start_mock $cpu_rest
taskset -c $cpu_rest "$nginx" -p "$work/backend" -c conf/nginx.conf
taskset -c $cpu_proxy "$nginx" -p "$work/plain" -c conf/nginx.conf
taskset -c $cpu_proxy "$nginx" -p "$work/oneid" -c conf/nginx.conf
taskset -c $cpu_proxy "$nginx" -p "$work/cached" -c conf/nginx.conf
if [ -n "$baseline" ]; then
    taskset -c $cpu_proxy "$nginx" -p "$work/base" -c conf/nginx.conf
    taskset -c $cpu_proxy "$nginx" -p "$work/base_cached" -c conf/nginx.conf
fi

worker_pid() { pgrep -P "$(cat "$work/$1/logs/nginx.pid")" | head -1; }
rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
command_calls() { bench_command_calls "$1"; }
getex_calls() { command_calls getex; }

cookie=$(python3 "$top/bench/login.py" --print-cookie \
         --nginx http://127.0.0.1:$oneid_port)
[ -n "$cookie" ] || { echo "bench: login failed" >&2; exit 1; }

# sanity: the authenticated request reaches the backend
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" \
       http://127.0.0.1:$oneid_port/bench/page)
[ "$code" = 200 ] || { echo "bench: authenticated request got $code" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" \
       http://127.0.0.1:$oneid_port/bench/poll)
[ "$code" = 200 ] || { echo "bench: no-touch request got $code" >&2; exit 1; }
# the baseline shares Redis, but an older build may not read the current
# session record: then it gets a session of its own, logged in through it
base_cookie=$cookie
if [ -n "$baseline" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" \
           http://127.0.0.1:$base_port/bench/page)
    if [ "$code" != 200 ]; then
        base_cookie=$(python3 "$top/bench/login.py" --print-cookie \
                      --nginx http://127.0.0.1:$base_port)
        [ -n "$base_cookie" ] ||
            { echo "bench: login through the baseline failed" >&2; exit 1; }
    fi
    for port in $base_port $base_cached_port; do
        code=$(curl -s -o /dev/null -w '%{http_code}' \
               -H "Cookie: $base_cookie" http://127.0.0.1:$port/bench/page)
        [ "$code" = 200 ] || {
            echo "bench: authenticated request to the baseline got $code" >&2
            exit 1; }
    done
fi

run_wrk() {    # run_wrk <port> <seconds> [cookie] [path]:
               # "rps p50ms p99ms requests errors"
    local out
    out=$(taskset -c $cpu_rest wrk -t1 -c"$conns" -d"$2"s --latency \
          -H "Cookie: ${3:-$cookie}" "http://127.0.0.1:$1${4:-/bench/page}")
    echo "$out" >> "$work/wrk.log"
    local rps p50 p99 reqs non2xx
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    p50=$(bench_to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
    p99=$(bench_to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "$rps $p50 $p99 $reqs ${non2xx:-0}"
}

echo "warming up..."
run_wrk $plain_port 2 >/dev/null
run_wrk $oneid_port 2 >/dev/null
run_wrk $cached_port 2 >/dev/null
run_wrk $oneid_port 2 "" /bench/poll >/dev/null
if [ -n "$baseline" ]; then
    run_wrk $base_port 2 "$base_cookie" >/dev/null
    run_wrk $base_cached_port 2 "$base_cookie" >/dev/null
fi

rss_before=$(rss_kb "$(worker_pid oneid)")
plain_rss=$(rss_kb "$(worker_pid plain)")

# the machine's speed drifts between rounds: ratios are taken per round
# (A, B and C run back to back) and their median is reported
declare -a a_rps b_rps c_rps a_p50 b_p50 c_p50 a_p99 b_p99 c_p99 b_ratio c_ratio
declare -a d_rps e_rps d_p50 e_p50 d_p99 e_p99 d_ratio e_ratio bd_ratio ce_ratio
declare -a n_rps n_p50 n_p99 n_ratio
n_reqs=0
n_errors=0
n_get=0
n_getex=0
b_reqs=0
b_errors=0
calls_before=$(getex_calls)

for r in $(seq 1 "$rounds"); do
    read -r rps p50 p99 _ _ <<< "$(run_wrk $plain_port "$dur")"
    a_rps+=("$rps"); a_p50+=("$p50"); a_p99+=("$p99")
    read -r rps p50 p99 reqs errs <<< "$(run_wrk $oneid_port "$dur")"
    b_rps+=("$rps"); b_p50+=("$p50"); b_p99+=("$p99")
    b_reqs=$((b_reqs + reqs)); b_errors=$((b_errors + errs))
    calls_mid=$(getex_calls)
    read -r rps p50 p99 _ errs <<< "$(run_wrk $cached_port "$dur")"
    c_rps+=("$rps"); c_p50+=("$p50"); c_p99+=("$p99")
    b_errors=$((b_errors + errs))
    calls_cached=$(( ${calls_cached:-0} + $(getex_calls) - calls_mid ))
    calls_before=$((calls_before + $(getex_calls) - calls_mid))
    b_ratio+=("$(awk -v a="${a_rps[-1]}" -v b="${b_rps[-1]}" 'BEGIN {print b / a}')")
    c_ratio+=("$(awk -v a="${a_rps[-1]}" -v b="$rps" 'BEGIN {print b / a}')")
    # no-touch: its GETs and GETEXs counted apart, out of B's count
    get_mid=$(command_calls get)
    calls_mid=$(getex_calls)
    read -r rps p50 p99 reqs errs <<< \
        "$(run_wrk $oneid_port "$dur" "" /bench/poll)"
    n_rps+=("$rps"); n_p50+=("$p50"); n_p99+=("$p99")
    n_reqs=$((n_reqs + reqs)); n_errors=$((n_errors + errs))
    n_get=$((n_get + $(command_calls get) - get_mid))
    n_getex=$((n_getex + $(getex_calls) - calls_mid))
    calls_before=$((calls_before + $(getex_calls) - calls_mid))
    n_ratio+=("$(awk -v a="${a_rps[-1]}" -v b="$rps" 'BEGIN {print b / a}')")
    printf "round %d: plain %s, oneid %s (%.2f), oneid+cache %s (%.2f)," \
        "$r" "${a_rps[-1]}" "${b_rps[-1]}" "${b_ratio[-1]}" "${c_rps[-1]}" \
        "${c_ratio[-1]}"
    printf " no-touch %s (%.2f) req/s\n" "$rps" "${n_ratio[-1]}"
    [ -n "$baseline" ] || continue
    # the baseline's GETEX calls are kept out of the per-request count,
    # as the cached runs' are
    calls_mid=$(getex_calls)
    read -r rps p50 p99 _ errs <<< "$(run_wrk $base_port "$dur" "$base_cookie")"
    d_rps+=("$rps"); d_p50+=("$p50"); d_p99+=("$p99")
    base_errors=$((${base_errors:-0} + errs))
    read -r rps p50 p99 _ errs <<< \
        "$(run_wrk $base_cached_port "$dur" "$base_cookie")"
    e_rps+=("$rps"); e_p50+=("$p50"); e_p99+=("$p99")
    base_errors=$((base_errors + errs))
    calls_before=$((calls_before + $(getex_calls) - calls_mid))
    d_ratio+=("$(awk -v a="${a_rps[-1]}" -v b="${d_rps[-1]}" 'BEGIN {print b / a}')")
    e_ratio+=("$(awk -v a="${a_rps[-1]}" -v b="$rps" 'BEGIN {print b / a}')")
    bd_ratio+=("$(awk -v d="${d_rps[-1]}" -v b="${b_rps[-1]}" 'BEGIN {print b / d}')")
    ce_ratio+=("$(awk -v e="$rps" -v c="${c_rps[-1]}" 'BEGIN {print c / e}')")
    printf "round %d: baseline oneid %s (%.2f), oneid+cache %s (%.2f) req/s;" \
        "$r" "${d_rps[-1]}" "${d_ratio[-1]}" "$rps" "${e_ratio[-1]}"
    printf " new/baseline %.3f, %.3f\n" "${bd_ratio[-1]}" "${ce_ratio[-1]}"
done

calls_after=$(getex_calls)
rss_after=$(rss_kb "$(worker_pid oneid)")

median() { bench_median "$@"; }

A=$(median "${a_rps[@]}"); B=$(median "${b_rps[@]}")
A50=$(median "${a_p50[@]}"); B50=$(median "${b_p50[@]}")
A99=$(median "${a_p99[@]}"); B99=$(median "${b_p99[@]}")
C=$(median "${c_rps[@]}"); C50=$(median "${c_p50[@]}"); C99=$(median "${c_p99[@]}")

logins=$(taskset -c $cpu_rest python3 "$top/bench/login.py" \
         --nginx http://127.0.0.1:$oneid_port --count 400 --parallel 8)
starts=$(taskset -c $cpu_rest python3 "$top/bench/login.py" \
         --nginx http://127.0.0.1:$oneid_port --count 4000 --parallel 8 --starts)

echo
echo "ngx_http_oneid_module benchmark ($(date -u +%Y-%m-%d), $(nproc) cores,"
echo "$("$nginx" -v 2>&1 | sed 's/.*: //'), Redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//'),"
echo " wrk -t1 -c$conns, $rounds x ${dur}s per case, medians; ratio = median of"
echo " the per-round ratios to plain)"
echo
printf "| %-28s | %10s | %8s | %8s | %8s |\n" case "req/s" "p50 ms" "p99 ms" ratio
printf "|%s|%s|%s|%s|%s|\n" "------------------------------" "------------" \
    "----------" "----------" "----------"
printf "| %-28s | %10.0f | %8.2f | %8.2f | %8s |\n" "plain proxy_pass" "$A" "$A50" "$A99" "1.00"
printf "| %-28s | %10.0f | %8.2f | %8.2f | %8.2f |\n" "oneid on (Redis per request)" \
    "$B" "$B50" "$B99" "$(median "${b_ratio[@]}")"
printf "| %-28s | %10.0f | %8.2f | %8.2f | %8.2f |\n" "oneid on + session cache" \
    "$C" "$C50" "$C99" "$(median "${c_ratio[@]}")"
printf "| %-28s | %10.0f | %8.2f | %8.2f | %8.2f |\n" "oneid_session_touch off" \
    "$(median "${n_rps[@]}")" "$(median "${n_p50[@]}")" \
    "$(median "${n_p99[@]}")" "$(median "${n_ratio[@]}")"
if [ -n "$baseline" ]; then
    printf "| %-28s | %10.0f | %8.2f | %8.2f | %8.2f |\n" "oneid on (baseline)" \
        "$(median "${d_rps[@]}")" "$(median "${d_p50[@]}")" \
        "$(median "${d_p99[@]}")" "$(median "${d_ratio[@]}")"
    printf "| %-28s | %10.0f | %8.2f | %8.2f | %8.2f |\n" \
        "oneid on + cache (baseline)" "$(median "${e_rps[@]}")" \
        "$(median "${e_p50[@]}")" "$(median "${e_p99[@]}")" \
        "$(median "${e_ratio[@]}")"
    echo
    echo "baseline: $baseline (${base_errors:-0} non-2xx;" \
         "$([ "$base_cookie" = "$cookie" ] && echo same ||
            echo its own) session)"
    printf "req/s new / baseline (median of per-round ratios): oneid %.3f," \
        "$(median "${bd_ratio[@]}")"
    printf " oneid+cache %.3f\n" "$(median "${ce_ratio[@]}")"
fi
echo
awk -v c=$((calls_after - calls_before)) -v n="$b_reqs" -v e="$b_errors" \
    -v a99="$A99" -v b99="$B99" 'BEGIN {
    printf "Redis GETEX per authenticated request: %.3f (%d calls, %d requests, %d non-2xx)\n", c / n, c, n, e
    printf "p99 latency oneid / plain: %.2f\n", b99 / a99 }'
awk -v get="$n_get" -v getex="$n_getex" -v n="$n_reqs" -v e="$n_errors" 'BEGIN {
    printf "Redis commands per no-touch request: GET %.3f, GETEX %.3f (%d requests, %d non-2xx)\n", get / n, getex / n, n, e }'
awk -v a99="$A99" -v c99="$C99" -v g="${calls_cached:-0}" 'BEGIN {
    printf "p99 latency oneid+cache / plain: %.2f; GETEX calls during the cached runs: %d\n", c99 / a99, g }'
echo "worker RSS: oneid ${rss_before} kB before, ${rss_after} kB after" \
     "$b_reqs requests; plain worker ${plain_rss} kB"
echo "logins: $logins"
echo "login starts: $starts"

if [ "$soak" -gt 0 ]; then
    secs=$(awk -v n="$soak" -v rps="$B" 'BEGIN {printf "%d", n / rps + 1}')
    echo
    echo "soak: about $soak authenticated requests (${secs}s)..."
    s_before=$(rss_kb "$(worker_pid oneid)")
    read -r rps _ _ reqs errs <<< "$(run_wrk $oneid_port "$secs")"
    s_after=$(rss_kb "$(worker_pid oneid)")
    echo "soak: $reqs requests, $errs non-2xx, worker RSS ${s_before} kB -> ${s_after} kB"
fi
