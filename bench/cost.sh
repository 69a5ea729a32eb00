#!/usr/bin/env bash
# bench/cost.sh: what one authenticated request costs one nginx core and
# one Redis core, and what one signed-in user costs Redis in memory.
#
#   bench/cost.sh [-d seconds per case] [-r rounds] [-c connections]
#                 [-s sessions] [-l logins per identity] [-p pause ms]
#
# Starts its own Redis, a backend (an nginx returning a small fixed body)
# and the mock OneID, then one proxy with one worker at a time, on the
# same port, for each case:
#
#   plain    proxy_pass without the module (the reference)
#   oneid    "oneid on": one GETEX per request
#   cache    "oneid on" + oneid_session_cache ttl=5s refresh=60s
#   notouch  "oneid on" + oneid_session_touch off: one GET per request
#
# and drives it with wrk (-t1, -c connections) for -d seconds, round robin
# over -s sessions logged in through the mock beforehand (the six people
# of t/mock-oneid/fixtures.py in turn).  Around each run it reads the CPU
# time (utime + stime in /proc/<pid>/stat) of the nginx worker and of
# redis-server, and Redis' INFO commandstats; it prints, as medians over
# -r rounds, microseconds of CPU per request for each and the requests per
# second one core of each would carry at 100 %.  Redis' CPU while idle
# (its timers), measured during the plain case, is taken out.
#
# Then it measures memory: for each of the six people, -l logins through
# the mock, Redis' used_memory before and after, and MEMORY USAGE of one
# session's keys.
#
# The proxy runs alone on CPU 0; wrk, Redis, the backend and the mock
# share the other CPU.  The CPU time per request is the figure to use: the
# requests per second of a run depend on what else the machine does.
#
# Ports: COST_REDIS_PORT (16470), COST_BACKEND_PORT (18098),
# COST_PROXY_PORT (18099), COST_MOCK_PORT (18460); work files in
# build/cost/.  Not part of "make test".
set -eu

dur=10
rounds=3
conns=50
nsessions=120
logins=100
pause=0
while [ $# -gt 0 ]; do
    case "$1" in
        -d) dur=$2; shift 2 ;;
        -r) rounds=$2; shift 2 ;;
        -c) conns=$2; shift 2 ;;
        -s) nsessions=$2; shift 2 ;;
        -l) logins=$2; shift 2 ;;
        -p) pause=$2; shift 2 ;;
        *) echo "usage: $0 [-d s] [-r rounds] [-c conns] [-s sessions]" \
                "[-l logins per identity] [-p pause ms]" >&2
           exit 2 ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/cost
nginx=${NGINX_BIN:-/usr/sbin/nginx}
module=$top/build/ngx_http_oneid_module.so
redis_port=${COST_REDIS_PORT:-16470}
backend_port=${COST_BACKEND_PORT:-18098}
proxy_port=${COST_PROXY_PORT:-18099}
mock_port=${COST_MOCK_PORT:-18460}
people="doctor citizen-basic citizen-eds legal-rep sparse legacy-formats"
cases="plain oneid cache notouch"

. "$top/bench/common.sh"

for tool in wrk taskset redis-server redis-cli python3 curl; do
    command -v $tool >/dev/null || { echo "cost: $tool is missing" >&2; exit 1; }
done
[ -f "$module" ] || { echo "cost: build the module first (make build)" >&2; exit 1; }

cpu_proxy=0
cpu_rest=1
[ "$(nproc)" -ge 2 ] || cpu_rest=0
hz=$(getconf CLK_TCK)

proxy_stop() {
    local pid

    [ -f "$work/proxy/logs/nginx.pid" ] || return 0
    pid=$(cat "$work/proxy/logs/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$work/proxy/logs/nginx.pid"
}

cleanup() {
    proxy_stop
    [ -f "$work/backend/logs/nginx.pid" ] &&
        "$nginx" -p "$work/backend" -c conf/nginx.conf -s stop 2>/dev/null
    [ -f "$work/mock.pid" ] && kill "$(cat "$work/mock.pid")" 2>/dev/null
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$work"/{proxy,backend}/{conf,logs}

# a deployment's server key: the per-user index is written as in
# production
head -c 48 /dev/urandom | base64 > "$work/oneid.key"
chmod 600 "$work/oneid.key"

bench_backend_conf > "$work/backend/conf/nginx.conf"

oneid_http="oneid_redis 127.0.0.1:$redis_port;
    oneid_key_file $work/oneid.key;"
bench_proxy_conf "$proxy_port" "" "" > "$work/proxy/conf/plain.conf"
bench_proxy_conf "$proxy_port" "load_module $module;" \
    "$(bench_oneid_server)" "$oneid_http" > "$work/proxy/conf/oneid.conf"
bench_proxy_conf "$proxy_port" "load_module $module;" \
    "$(bench_oneid_server)" "$oneid_http
    oneid_session_cache zone=sessions:10m ttl=5s refresh=60s;" \
    > "$work/proxy/conf/cache.conf"
bench_proxy_conf "$proxy_port" "load_module $module;" \
    "$(bench_oneid_server)
        oneid_session_touch off;" "$oneid_http" \
    > "$work/proxy/conf/notouch.conf"

bench_start_redis $cpu_rest
bench_start_mock $cpu_rest
taskset -c $cpu_rest "$nginx" -p "$work/backend" -c conf/nginx.conf

redis_pid=
for i in $(seq 1 50); do
    redis_pid=$(cat "$work/redis.pid" 2>/dev/null || true)
    [ -n "$redis_pid" ] && break
    sleep 0.1
done
[ -n "$redis_pid" ] || { echo "cost: Redis did not start" >&2; exit 1; }

proxy_start() {    # proxy_start <case>
    local i

    taskset -c $cpu_proxy "$nginx" -p "$work/proxy" -c "conf/$1.conf"
    for i in $(seq 1 50); do
        [ -s "$work/proxy/logs/nginx.pid" ] &&
            pgrep -P "$(cat "$work/proxy/logs/nginx.pid")" >/dev/null &&
            return 0
        sleep 0.05
    done
    echo "cost: the $1 proxy did not start" >&2
    exit 1
}

worker_pid() { pgrep -P "$(cat "$work/proxy/logs/nginx.pid")" | head -1; }

cpu_ticks() {    # utime + stime of a process, in clock ticks
    # the command name in parentheses may hold spaces: count after it
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

redis_calls() {    # all commands Redis ran, INFO itself left out
    redis-cli -p "$redis_port" info commandstats | tr -d '\r' |
        awk -F '[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" {n += $3}
                        END {print n + 0}'
}

redis_calls_by_name() {    # "getex=N get=N ..." for the commands ran
    redis-cli -p "$redis_port" info commandstats | tr -d '\r' |
        awk -F '[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" {
                            sub(/^cmdstat_/, "", $1); print $1, $3 }'
}

redis_info() {    # redis_info <field>
    redis-cli -p "$redis_port" info | tr -d '\r' |
        sed -n "s/^$1:\([0-9]*\).*/\1/p"
}

# used_memory without the clients' buffers, which come and go with the
# connections' traffic (tens of KB), not with the keys
redis_data_memory() {
    redis-cli -p "$redis_port" info memory | tr -d '\r' |
        awk -F: '$1 == "used_memory" {m = $2}
                 $1 == "mem_clients_normal" {c = $2} END {print m - c}'
}

now_us() { date +%s%6N; }

# sessions to drive the load: the six people in turn, logged in through
# the "oneid" proxy
proxy_start oneid
python3 "$top/bench/login.py" --nginx "http://127.0.0.1:$proxy_port" \
    --count "$nsessions" --parallel 4 --print-cookies \
    --user "$(echo $people | tr ' ' ,)" > "$work/sessions"
[ "$(grep -c . "$work/sessions")" -ge 1 ] ||
    { echo "cost: no session logged in" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' \
       -H "Cookie: $(head -1 "$work/sessions")" \
       "http://127.0.0.1:$proxy_port/bench/page")
[ "$code" = 200 ] || { echo "cost: authenticated request got $code" >&2; exit 1; }
proxy_stop

export COST_SESSIONS=$work/sessions COST_PAUSE_MS=$pause

run_wrk() {    # run_wrk <seconds>: "requests non2xx"
    local out

    out=$(taskset -c $cpu_rest wrk -t1 -c"$conns" -d"$1"s \
          -s "$top/bench/cost.lua" "http://127.0.0.1:$proxy_port/bench/page")
    echo "$out" >> "$work/wrk.log"
    echo "$(echo "$out" | awk '/requests in/ {print $1}')" \
         "$(echo "$out" | awk '/Non-2xx/ {print $NF}' | grep . || echo 0)"
}

# measure <case>: one run of the case; appends to $work/results
# "case requests non2xx elapsed_us nginx_ticks redis_ticks redis_calls"
measure() {
    local wpid n0 r0 c0 t0 n1 r1 c1 t1 reqs errs

    proxy_start "$1"
    wpid=$(worker_pid)
    # warm up: connections to the backend and Redis, the subscription,
    # the cache filled
    run_wrk 1 >/dev/null
    redis_calls_by_name > "$work/calls.before"
    n0=$(cpu_ticks "$wpid"); r0=$(cpu_ticks "$redis_pid")
    c0=$(redis_calls); t0=$(now_us)
    read -r reqs errs <<< "$(run_wrk "$dur")"
    n1=$(cpu_ticks "$wpid"); r1=$(cpu_ticks "$redis_pid")
    c1=$(redis_calls); t1=$(now_us)
    redis_calls_by_name > "$work/calls.after"
    proxy_stop
    echo "$1 $reqs $errs $((t1 - t0)) $((n1 - n0)) $((r1 - r0)) $((c1 - c0))" \
        >> "$work/results"
    # which commands, per request, for the summary
    awk -v c="$1" -v n="$reqs" 'NR == FNR {b[$1] = $2; next}
        $2 - b[$1] > 0 {printf "%s %s %.6f\n", c, $1, ($2 - b[$1]) / n}' \
        "$work/calls.before" "$work/calls.after" >> "$work/commands"
    printf " %s %d req (%d non-2xx), nginx %d ticks, Redis %d ticks," \
        "$1" "$reqs" "$errs" $((n1 - n0)) $((r1 - r0))
    printf " %d commands\n" $((c1 - c0))
}

: > "$work/results"
: > "$work/commands"
echo "cost: $rounds rounds of $cases, ${dur}s each, wrk -t1 -c$conns," \
     "$(grep -c . "$work/sessions") sessions, pause ${pause} ms"
for r in $(seq 1 "$rounds"); do
    echo "round $r:"
    for c in $cases; do
        measure "$c"
    done
done

# per round: Redis' idle CPU rate from the plain case of the same round,
# taken out of every case's Redis CPU
awk -v hz="$hz" -v cases="$cases" '
    { k = $1; n[k]++; i = n[k]
      req[k, i] = $2; err[k, i] = $3; us[k, i] = $4
      ng[k, i] = $5 * 1e6 / hz; rd[k, i] = $6 * 1e6 / hz; cmd[k, i] = $7 }
    function median(a, m,    b, j, t, x, y) {
        for (j = 1; j <= m; j++) b[j] = a[j]
        for (x = 1; x <= m; x++)
            for (y = x + 1; y <= m; y++)
                if (b[y] < b[x]) { t = b[x]; b[x] = b[y]; b[y] = t }
        return b[int((m + 1) / 2)]
    }
    END {
        m = n["plain"]
        for (i = 1; i <= m; i++) idle[i] = rd["plain", i] / us["plain", i]
        printf "%s\n", "" > "/dev/stderr"
        split(cases, cs, " ")
        for (c = 1; c in cs; c++) {
            k = cs[c]
            for (i = 1; i <= n[k]; i++) {
                a[i] = ng[k, i] / req[k, i]
                net = rd[k, i] - idle[i] * us[k, i]
                if (net < 0) net = 0
                b[i] = net / req[k, i]
                q[i] = cmd[k, i] / req[k, i]
                s[i] = req[k, i] / us[k, i] * 1e6
                e[i] = cmd[k, i] ? net / cmd[k, i] : 0
                nerr += err[k, i]
            }
            printf "%s %.2f %.3f %.4f %.0f %.3f %d\n", k, median(a, n[k]),
                median(b, n[k]), median(q, n[k]), median(s, n[k]),
                median(e, n[k]), nerr
            nerr = 0
        }
        for (i = 1; i <= m; i++) z[i] = idle[i] * 1e6
        printf "idle %.0f\n", median(z, m)
    }' "$work/results" > "$work/summary"

# logins: what a complete login (protected page, mock OneID, callback with
# two back-channel calls, session written) costs the nginx worker and Redis.
# The login script reads the user's index of sessions, one entry per
# session: batches of 5 logins per person on an emptied Redis keep it as
# short as a real user's.  CPU time from /proc/<pid>/schedstat (ns), as a
# batch takes only a few clock ticks.
run_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }
proxy_start oneid
wpid=$(worker_pid)
batches=$(( logins / 10 > 0 ? logins / 10 : 1 ))
ng=0; rd=0; nc=0; us=0
for b in $(seq 1 $batches); do
    redis-cli -p "$redis_port" flushall >/dev/null
    n0=$(run_ns "$wpid"); r0=$(run_ns "$redis_pid"); c0=$(redis_calls)
    t0=$(now_us)
    python3 "$top/bench/login.py" --nginx "http://127.0.0.1:$proxy_port" \
        --count 30 --parallel 6 --user "$(echo $people | tr ' ' ,)" \
        >> "$work/logins.log"
    n1=$(run_ns "$wpid"); r1=$(run_ns "$redis_pid"); c1=$(redis_calls)
    t1=$(now_us)
    ng=$((ng + n1 - n0)); rd=$((rd + r1 - r0)); nc=$((nc + c1 - c0))
    us=$((us + t1 - t0))
done
idle_us=$(awk '$1 == "idle" {print $2}' "$work/summary")
login_cost=$(awk -v n=$((30 * batches)) -v ng=$ng -v rd=$rd -v c=$nc \
    -v us=$us -v idle="$idle_us" \
    'BEGIN { net = rd / 1000 - idle * us / 1e6; if (net < 0) net = 0
             printf "nginx %.0f us, Redis %.0f us, %.1f Redis commands" \
                    " (in scripts included) per login", ng / 1000 / n,
                    net / n, c / n }')
login_rate="$((30 * batches)) logins,"
login_rate+=" $(grep -c ' 0 errors' "$work/logins.log")/$batches batches"
login_rate+=" without errors"
proxy_stop

# memory: on an empty Redis, the six people in turn, -l logins each,
# through the "oneid" proxy; one session's keys measured after the first
# login of each.  A login also leaves keys that live a minute or so (the
# tabs of its browser, its used state): "per login" counts them, "steady"
# is measured once they are deleted.
proxy_start oneid
# one login first, so that the worker's connection and its buffers exist
# before the first measure
python3 "$top/bench/login.py" --print-cookie --user doctor \
    --nginx "http://127.0.0.1:$proxy_port" >/dev/null
redis-cli -p "$redis_port" flushall >/dev/null
keys_now() { redis-cli -p "$redis_port" --scan --pattern '*' | sort; }
mem_usage() { redis-cli -p "$redis_port" memory usage "$1" samples 0; }
# what a signed-in user keeps (and the one counter of logins)
kept='^oneid:session:\|^oneid:token:\|^oneid:user:\|^oneid:login-seq$'
: > "$work/memory"
# the first person after FLUSHALL grows Redis' tables by tens of KB
# (seen as 2 to 5 KB a login): a first pass, not reported, takes that
for pass in warm-up $people; do
    who=${pass/warm-up/doctor}
    keys_now > "$work/keys.before"
    m0=$(redis_data_memory)
    cookie=$(python3 "$top/bench/login.py" --print-cookie \
             --nginx "http://127.0.0.1:$proxy_port" --user "$who")
    hash=$(printf '%s' "${cookie#*=}" | sha256sum | cut -d' ' -f1)
    keys_now > "$work/keys.after"
    session=$(mem_usage "oneid:session:$hash")
    record=$(redis-cli -p "$redis_port" strlen "oneid:session:$hash")
    token=$(mem_usage "oneid:token:$hash")
    index=$(comm -13 "$work/keys.before" "$work/keys.after" |
            grep '^oneid:user:' | head -1)
    [ -n "$index" ] || { echo "cost: no index for $who" >&2; exit 1; }
    index1=$(mem_usage "$index")
    other=$(comm -13 "$work/keys.before" "$work/keys.after" |
            grep -v "$kept" |
            while read -r k; do
                echo "${k%:*} $(mem_usage "$k")"
            done | awk '{printf "%s%s %d", sep, $1, $2; sep = ", "}')
    [ "$logins" -le 1 ] ||
        python3 "$top/bench/login.py" --nginx "http://127.0.0.1:$proxy_port" \
            --count $((logins - 1)) --parallel 1 --user "$who" >/dev/null
    m1=$(redis_data_memory)
    indexn=$(mem_usage "$index")
    entriesn=$(redis-cli -p "$redis_port" hlen "$index")
    keys_now | grep -v "$kept" |
        while read -r k; do
            redis-cli -p "$redis_port" del "$k" >/dev/null
        done
    m2=$(redis_data_memory)
    if [ "$pass" = warm-up ]; then
        redis-cli -p "$redis_port" flushall >/dev/null
        continue
    fi
    echo "$who $(( (m1 - m0) / logins )) $(( (m2 - m0) / logins ))" \
         "$record $session $token $index1 $indexn $entriesn ${other:--}" \
         >> "$work/memory"
done
proxy_stop

# --- the report ------------------------------------------------------------

echo
echo "ngx_http_oneid_module: cost per authenticated request" \
     "($(date -u +%Y-%m-%d), $(nproc) cores,"
echo " $("$nginx" -v 2>&1 | sed 's/.*: //'), Redis" \
     "$(redis-server --version | awk '{print $3}' | sed 's/^v=//')," \
     "wrk -t1 -c$conns$([ "$pause" = 0 ] || echo ", ${pause} ms pause"),"
echo " $rounds x ${dur}s per case, $(grep -c . "$work/sessions") sessions," \
     "medians over the rounds)"
echo
printf "| %-34s | %8s | %8s | %8s | %9s | %9s | %8s |\n" case "nginx" \
    "Redis" "Redis" "1 nginx" "1 Redis" "req/s"
printf "| %-34s | %8s | %8s | %8s | %9s | %9s | %8s |\n" "" "us/req" \
    "us/req" "cmd/req" "core req/s" "core req/s" "(run)"
printf "|%s|%s|%s|%s|%s|%s|%s|\n" "------------------------------------" \
    "----------" "----------" "----------" "-----------" "-----------" \
    "----------"
while read -r k ngx rds cpr rps _ errs; do
    case $k in
        plain) name="plain proxy_pass (no module)" ;;
        oneid) name="oneid on (Redis per request)" ;;
        cache) name="oneid on + session cache (ttl=5s)" ;;
        notouch) name="oneid_session_touch off" ;;
        *) continue ;;
    esac
    awk -v n="$name" -v a="$ngx" -v b="$rds" -v q="$cpr" -v s="$rps" 'BEGIN {
        printf "| %-34s | %8.2f | %8.2f | %8.3f | %9.0f | %9s | %8.0f |\n",
            n, a, b, q, 1e6 / a, (b > 0.005 ? sprintf("%.0f", 1e6 / b) : "-"),
            s }'
    [ "$errs" = 0 ] || echo "  ($k: $errs non-2xx answers)"
done < "$work/summary"
echo
awk '$1 == "oneid" || $1 == "notouch" {
        printf "Redis CPU per command (%s): %.2f us, i.e. %.0f commands/s per core\n",
            $1, $6, ($6 > 0 ? 1e6 / $6 : 0) }
     $1 == "idle" { printf "Redis idle CPU (timers), taken out: %d us/s\n", $2 }
    ' "$work/summary"
awk '$1 == "plain" {p = $2} $1 == "oneid" {o = $2} $1 == "cache" {c = $2}
     END { printf "the module on one nginx core: +%.2f us/req with Redis per" \
                  " request, +%.2f us/req with the cache\n", o - p, c - p }' \
    "$work/summary"
echo "commands per request (median round):"
sort -k1,1 -k2,2 "$work/commands" | awk '
    { k = $1 " " $2; v[k] = v[k] " " $3; n[k]++ }
    END { for (k in v) { split(v[k], a, " "); m = n[k]
            for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++)
                if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
            printf "  %-8s %-10s %.4f\n", substr(k, 1, index(k, " ") - 1),
                substr(k, index(k, " ") + 1), a[int((m + 1) / 2)] } }' | sort
echo
echo "logins ($((30 * batches)), 6 in parallel): $login_cost;"
echo "  $login_rate"
echo
echo "Redis memory per signed-in user ($logins logins per person on an empty"
echo "Redis; bytes):"
printf "| %-15s | %9s | %6s | %6s | %7s | %5s | %7s | %9s |\n" person \
    "per login" steady record session token "index 1" "index/entry"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n" "-----------------" "-----------" \
    "--------" "--------" "---------" "-------" "---------" "-------------"
while read -r who per steady rec ses tok i1 in en other; do
    awk -v w="$who" -v p="$per" -v st="$steady" -v r="$rec" -v s="$ses" \
        -v t="$tok" -v i1="$i1" -v in_="$in" -v en="$en" 'BEGIN {
        printf "| %-15s | %9d | %6d | %6d | %7d | %5d | %7d | %11.0f |\n",
            w, p, st, r, s, t, i1, in_ / en }'
done < "$work/memory"
echo
echo "per login: used_memory (less the clients' buffers) delta / logins,"
echo "with the keys a login leaves"
echo "for a while ($(head -1 "$work/memory" | cut -d' ' -f10-));"
echo "(and one oneid:login-seq counter for all);"
echo "steady: the same once those are gone (session, token, index entry);"
echo "record: the session value's length; session, token, index 1: MEMORY"
echo "USAGE of one login's keys (the index with its first entry);"
echo "index/entry: the index after all logins of the person / its entries."
echo
echo "The machine has $(nproc) cores, shared: requests per second vary with"
echo "what else runs, the CPU time per request much less. The core figures"
echo "are 1e6 / (us per request): one core at 100 %, no headroom."
