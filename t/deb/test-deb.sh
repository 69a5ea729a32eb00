#!/usr/bin/env bash
# make test-deb: the package that "make deb" left in <deb dir> (build/deb),
# checked as an administrator would meet it, on this machine (Debian 12,
# as root):
#
#   lintian (fails on any E:), the version against CHANGES and the module,
#   apt-get install ./<deb> (pulling nginx in where it is missing), files
#   where Debian's modules put them and the modules-enabled link, the
#   system's nginx binary with the system's modules-enabled serving a 302 to
#   OneID for a protected page (its own config and port, never the nginx
#   service), apt-get remove (module disabled and gone), apt-get purge
#   (nothing left).
#
# It installs and purges libnginx-mod-http-oneid, so it refuses to run
# where that package is already installed, and runs one at a time (flock).
# Ports: TEST_NGINX_PORT for nginx, TEST_NGINX_REDIS_PORT for redis-server.
set -u

pkg=libnginx-mod-http-oneid
top=$(cd "$(dirname "$0")/../.." && pwd)
deb_dir=${1:-$top/build/deb}
port=${TEST_NGINX_PORT:-1984}
redis_port=${TEST_NGINX_REDIS_PORT:-16379}
oneid_port=${TEST_NGINX_ONEID_PORT:-18443}
nginx=/usr/sbin/nginx
so=/usr/lib/nginx/modules/ngx_http_oneid_module.so
available=/usr/share/nginx/modules-available/mod-http-oneid.conf
enabled=/etc/nginx/modules-enabled/50-mod-http-oneid.conf
doc=/usr/share/doc/$pkg
# waits for another apt or dpkg to finish rather than failing
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)

failed=0
installed=0
tmp=

ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; failed=$((failed + 1)); }
# check <description> <command...>
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
# run <description> <log> <command...>: a step that must work; its output
# is shown when it does not
run() {
    local what=$1 log=$2
    shift 2
    if "$@" >"$log" 2>&1; then
        ok "$what"
    else
        fail "$what"
        sed 's/^/#   /' "$log"
    fi
}
die()  { echo "test-deb: $*" >&2; exit 2; }

stop_pidfile() {    # stop_pidfile <file> <signal>
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill "-$2" "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
}

cleanup() {
    if [ -n "$tmp" ]; then
        stop_pidfile "$tmp/nginx.pid" QUIT
        stop_pidfile "$tmp/redis.pid" TERM
        rm -rf "$tmp"
    fi
    # a failed run leaves nothing installed either
    if [ "$installed" = 1 ]; then
        "${apt[@]}" purge -y -qq "$pkg" >/dev/null 2>&1
    fi
}

[ "$(id -u)" = 0 ] || die "run as root (it installs and purges $pkg)"

# one run at a time on a shared machine: each installs and purges the
# same package
exec 9>/run/lock/$pkg-test-deb.lock
flock 9

shopt -s nullglob
arch=$(dpkg --print-architecture)
debs=("$deb_dir/${pkg}_"*"_$arch.deb")
changes=("$deb_dir/${pkg}_"*"_$arch.changes")
[ ${#debs[@]} = 1 ] && [ ${#changes[@]} = 1 ] \
    || die "want one ${pkg}_*_$arch.deb and .changes in $deb_dir: run make deb"
deb=${debs[0]}

if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'installed'; then
    die "$pkg is installed here; this test installs and purges it:" \
        "apt-get purge $pkg first, or run it on another machine"
fi

tmp=$(mktemp -d /tmp/$pkg-test.XXXXXX)
trap cleanup EXIT
# nginx's workers (user nobody) read and write under it
chmod 755 "$tmp"

echo "# $deb"

# --- lintian: errors fail, the rest is shown

lintian --display-info --pedantic "${changes[0]}" \
    >"$tmp/lintian" 2>&1
sed 's/^/#   /' "$tmp/lintian"
check "lintian: no errors" \
    bash -c "! grep -q '^E: ' '$tmp/lintian'"

# --- one version: module, CHANGES, package, Debian changelog

version=$(sed -n 's/^#define NGX_HTTP_ONEID_VERSION *"\(.*\)"/\1/p' \
          "$top/ngx_http_oneid_module/ngx_http_oneid_module.h")
changes_version=$(sed -n '1s/^Changes with [^ ]* \([^ ]*\) .*/\1/p' \
                  "$top/CHANGES")
check "CHANGES starts with the module's version $version" \
    test "$changes_version" = "$version"
check "package version $version" \
    test "$(dpkg-deb -f "$deb" Version)" = "$version"
dpkg-deb -x "$deb" "$tmp/x"
check "Debian changelog starts with $pkg ($version)" \
    bash -c "zcat '$tmp/x$doc/changelog.gz' | head -1 \
             | grep -q '^$pkg ($version) '"
check "Debian changelog has every version of CHANGES" \
    test "$(zcat "$tmp/x$doc/changelog.gz" | grep -c "^$pkg (")" \
         = "$(grep -c '^Changes with' "$top/CHANGES")"

# --- dependencies computed by the tools

depends=$(dpkg-deb -f "$deb" Depends)
echo "# Depends: $depends"
# the ABI that dh_nginx reads from nginx-dev
abi=$(sed -n 's/^nginx:abi=//p' \
      /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)
for dep in "$abi" libhiredis0.14 libjansson4; do
    check "depends on $dep" \
        bash -c "tr ',' '\n' <<<'$depends' | grep -q '^ *$dep\\b'"
done

# --- install

installed=1
cd "$(dirname "$deb")" || die "cd $(dirname "$deb")"
run "apt-get install ./$(basename "$deb")" "$tmp/apt-install" \
    "${apt[@]}" install -y -q "./$(basename "$deb")"
cd "$top" || die "cd $top"

files=$(dpkg -L "$pkg" 2>/dev/null)
for f in "$so" "$available" "$doc/README.md.gz" "$doc/CHANGES.gz" \
         "$doc/changelog.gz" "$doc/copyright" "$doc/conf-examples/dmed.conf"
do
    check "installed: $f" bash -c "grep -qx '$f' <<<'$files' && [ -f '$f' ]"
done
check "$available loads the module" \
    grep -qx 'load_module modules/ngx_http_oneid_module.so;' "$available"
check "enabled: $enabled -> $available" \
    test "$(readlink "$enabled")" = "$available"
check "no other copy of the module enabled" \
    test "$(grep -ls ngx_http_oneid_module /etc/nginx/modules-enabled/*.conf)" \
         = "$enabled"

# --- the packaged module serves: the system's nginx binary and its
#     modules-enabled, a config of its own on port $port

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize yes --pidfile "$tmp/redis.pid" \
    --logfile "$tmp/redis.log" --dir "$tmp" >/dev/null
for _ in $(seq 1 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

mkdir -p "$tmp/logs" "$tmp/www/records" "$tmp/www/public"
echo protected >"$tmp/www/records/42"
echo public >"$tmp/www/public/x"
# no -p: the default prefix resolves "modules/..." in the packaged snippet
# as for the nginx service; every path written here is absolute
cat >"$tmp/nginx.conf" <<END
include /etc/nginx/modules-enabled/*.conf;

worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log info;

events { worker_connections 64; }

http {
    access_log $tmp/logs/access.log;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;

    oneid_redis 127.0.0.1:$redis_port;

    server {
        listen 127.0.0.1:$port;

        oneid_client_id     dmed;
        oneid_client_secret secret;
        oneid_redirect_uri  http://127.0.0.1:$port/oneid/callback;
        oneid_backend       /_oneid;

        # never called: sending to OneID's login needs no call to OneID
        # (and the test no name server)
        location = /_oneid {
            internal;
            proxy_pass https://127.0.0.1:$oneid_port/sso/oauth/Authorization.do;
        }

        location = /oneid/callback { oneid_callback; }
        location = /oneid/logout   { oneid_logout; }

        # files, not "return": the module checks in the access phase
        root $tmp/www;
        location /        { oneid on; }
        location /public/ { oneid off; }
    }
}
END

run "nginx -t, the module from /etc/nginx/modules-enabled/*.conf" \
    "$tmp/nginx-t" "$nginx" -t -q -c "$tmp/nginx.conf"
run "nginx starts" "$tmp/nginx-start" "$nginx" -c "$tmp/nginx.conf"
for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/public/x" && break
    sleep 0.1
done

read -r status location < <(curl -s -o /dev/null \
    -w '%{http_code} %{redirect_url}\n' "http://127.0.0.1:$port/records/42")
echo "# GET /records/42: $status $location"
authorize='^https://sso\.egov\.uz/sso/oauth/Authorization\.do\?'
authorize+='response_type=one_code&client_id=dmed&'
check "protected page: 302" test "$status" = 302
check "to OneID's authorize URL" \
    grep -Eq "$authorize" <<<"$location"
check "unprotected page: 200" test "$(curl -s \
    "http://127.0.0.1:$port/public/x")" = public
check "nginx mapped $so" \
    grep -q " $so\$" "/proc/$(cat "$tmp/nginx.pid" 2>/dev/null)/maps"

stop_pidfile "$tmp/nginx.pid" QUIT
if [ -s "$tmp/logs/error.log" ] \
   && ! grep -Eq '\[(alert|emerg|crit)\]|exited on signal' "$tmp/logs/error.log"
then
    ok "nginx's error log: no alert, no crash"
else
    fail "nginx's error log: no alert, no crash"
    sed 's/^/#   /' "$tmp/logs/error.log"
fi

# --- remove: disabled and gone; purge: nothing left

run "apt-get remove $pkg" "$tmp/apt-remove" \
    "${apt[@]}" remove -y -q "$pkg"
check "removed: no $so" test ! -e "$so"
check "removed: module disabled ($enabled gone)" \
    test ! -e "$enabled" -a ! -L "$enabled"
check "removed: nothing in modules-enabled loads it" test -z \
    "$(grep -ls ngx_http_oneid_module /etc/nginx/modules-enabled/*.conf)"

run "apt-get purge $pkg" "$tmp/apt-purge" \
    "${apt[@]}" purge -y -q "$pkg"
installed=0
check "purged: dpkg knows nothing of $pkg" \
    bash -c "! dpkg-query -W '$pkg' >/dev/null 2>&1 && ! dpkg -L '$pkg' \
             >/dev/null 2>&1"
for f in "$so" "$available" "$enabled" "$enabled.removed" "$doc"; do
    check "purged: no $f" test ! -e "$f" -a ! -L "$f"
done
check "purged: nothing of it under /etc/nginx" \
    test -z "$(find /etc/nginx -name '*oneid*' 2>/dev/null)"

if [ "$failed" != 0 ]; then
    echo "test-deb: $failed check(s) failed"
    exit 1
fi
echo "test-deb: all checks passed"
