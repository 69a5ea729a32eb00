#!/bin/bash
#
# Builds the libFuzzer harnesses fuzz/fuzz_*.c into build/fuzz/bin/.
#
# nginx core and the module are compiled once with clang, AddressSanitizer,
# UndefinedBehaviorSanitizer and libFuzzer's coverage instrumentation (a
# static --add-module build, so the module's objects land in objs/), put
# into one archive, and every harness links against that archive.
#
# nginx-dev ships headers only, so the full nginx sources come from
# NGINX_FULL_SRC, or else from the Debian source package of the installed
# nginx-dev (the upstream tarball, downloaded once with apt-get source
# through a private apt configuration: the machine's apt setup is left
# alone).

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
FUZZ_CC=${FUZZ_CC:-clang-14}
NGX=$OUT/nginx

SAN="-fsanitize=address,undefined"
CFLAGS="-g -O1 -fno-omit-frame-pointer $SAN -DNGX_DEBUG_PALLOC=1"

mkdir -p "$OUT"


nginx_version() {
    sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
        /usr/share/nginx/src/src/core/nginx.h
}


find_sources() {
    local ver apt tarball v

    if [ -n "${NGINX_FULL_SRC:-}" ]; then
        echo "$NGINX_FULL_SRC"
        return
    fi

    ver=$(nginx_version)

    if [ -f "$OUT/nginx-$ver/src/core/nginx.c" ]; then
        echo "$OUT/nginx-$ver"
        return
    fi

    apt=$OUT/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src"

    cat > "$apt/sources.list" <<SOURCES
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian-security bookworm-security main
deb-src http://deb.debian.org/debian bookworm-updates main
SOURCES

    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list"
                -o "Dir::Etc::SourceParts=/dev/null"
                -o "Dir::State::Lists=$apt/lists"
                -o "Dir::Cache=$apt/cache"
                -o "APT::Sandbox::User=root")

    echo "fuzz: downloading the nginx $ver sources (apt-get source)" >&2

    apt-get "${opts[@]}" -qq update >&2

    # the newest source version first; any of them has the same tarball
    tarball=$apt/src/nginx_$ver.orig.tar.gz

    for v in "" $(apt-cache "${opts[@]}" showsrc nginx \
                  | sed -n 's/^Version: //p' | sort -r -V); do
        [ -f "$tarball" ] && break
        (cd "$apt/src" \
         && apt-get "${opts[@]}" -qq source --download-only \
                "nginx${v:+=$v}" >/dev/null 2>&1) || true
    done

    if [ ! -f "$tarball" ]; then
        echo "fuzz: could not download nginx_$ver.orig.tar.gz;" \
             "set NGINX_FULL_SRC to an nginx-$ver source tree" >&2
        exit 1
    fi

    tar -C "$OUT" -xzf "$tarball"
    echo "$OUT/nginx-$ver"
}


configure() {
    local src stamp want

    src=$(find_sources)
    want="$src|$FUZZ_CC|$CFLAGS|$(md5sum < "$ROOT/config")"
    stamp=$NGX/.fuzz-configured

    if [ -f "$NGX/objs/Makefile" ] \
       && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]
    then
        return
    fi

    rm -rf "$NGX"
    cp -r "$src" "$NGX"

    echo "fuzz: configuring nginx in $NGX" >&2

    (cd "$NGX" && ./configure \
        --with-cc="$FUZZ_CC" \
        --with-cc-opt="$CFLAGS -fsanitize=fuzzer-no-link" \
        --with-ld-opt="$SAN" \
        --with-debug \
        --with-compat \
        --with-http_ssl_module \
        --without-http_rewrite_module \
        --without-http_gzip_module \
        --without-pcre \
        --add-module="$ROOT") > "$OUT/configure.log" 2>&1 \
    || { cat "$OUT/configure.log"; exit 1; }

    echo "$want" > "$stamp"
}


build_core() {
    local objs

    echo "fuzz: building nginx and the module" >&2

    make -s -C "$NGX" -f objs/Makefile -j"${FUZZ_JOBS:-2}" objs/nginx \
        > "$OUT/make.log" 2>&1 || { cat "$OUT/make.log"; exit 1; }

    # nginx.c holds globals the rest needs, and a main() libFuzzer must not
    # see

    (cd "$NGX" && "$FUZZ_CC" -c $CFLAGS -fsanitize=fuzzer-no-link \
        -Dmain=ngx_fuzz_unused_main $(incs) \
        -o "$OUT/ngx_fuzz_nginx.o" src/core/nginx.c)

    objs=$(cd "$NGX" && find objs -name '*.o' ! -path objs/src/core/nginx.o \
           | sort)

    rm -f "$OUT/libngx_fuzz.a"
    (cd "$NGX" && ar rcs "$OUT/libngx_fuzz.a" $objs "$OUT/ngx_fuzz_nginx.o")
}


incs() {
    echo "-I $NGX/src/core -I $NGX/src/event -I $NGX/src/event/modules" \
         "-I $NGX/src/os/unix -I $NGX/objs -I $NGX/src/http" \
         "-I $NGX/src/http/modules -I $ROOT/ngx_http_oneid_module"
}


libs() {
    # the libraries of the objs/nginx link line
    awk '/\$\(LINK\) -o objs\/nginx/ { f = 1 }
         f { print }
         f && !/\\$/ { exit }' "$NGX/objs/Makefile" \
        | grep -o -- '-l[A-Za-z0-9_+.-]*' | tr '\n' ' '
}


build_harnesses() {
    local h name

    mkdir -p "$OUT/bin"

    for h in "$ROOT"/fuzz/fuzz_*.c; do
        name=$(basename "$h" .c)

        "$FUZZ_CC" $CFLAGS -Wall -Werror -fsanitize=fuzzer $(incs) \
            -I "$ROOT/fuzz" -DFUZZ_UBSAN_SUPP="\"$ROOT/fuzz/ubsan.supp\"" \
            -o "$OUT/bin/$name" "$h" "$ROOT/fuzz/common.c" \
            "$OUT/libngx_fuzz.a" -fsanitize=fuzzer $SAN $(libs)
    done

    echo "fuzz: harnesses in $OUT/bin:" \
         $(cd "$OUT/bin" && ls) >&2
}


configure
build_core
build_harnesses
