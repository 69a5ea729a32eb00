#!/usr/bin/env bash
# gen-certs.sh OUTDIR: a test CA and a server certificate for the mock
# OneID, written to OUTDIR:
#
#   ca.crt ca.key           the test CA (10 years)
#   server.crt server.key   signed by it, SAN DNS:sso.egov.uz,
#                           DNS:localhost, IP:127.0.0.1 (10 years)
#
# for nginx:  proxy_ssl_verify on;  proxy_ssl_trusted_certificate ca.crt;
#             proxy_ssl_name sso.egov.uz;  (or 127.0.0.1 / localhost)
#
# Idempotent: does nothing when all four files are there, the server
# certificate verifies against the CA, matches its key, carries the three
# names and is valid for at least another day.  Otherwise writes a fresh
# set (in a temporary directory first, then moved into place), so parallel
# runs never see half-written files.
set -eu

out=${1:?usage: gen-certs.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

valid() {    # valid DIR: the set in DIR is complete and usable
    local d=$1 sans
    [ -s "$d/ca.crt" ] && [ -s "$d/ca.key" ] && [ -s "$d/server.crt" ] \
        && [ -s "$d/server.key" ] || return 1
    openssl verify -CAfile "$d/ca.crt" -purpose sslserver "$d/server.crt" \
        >/dev/null 2>&1 || return 1
    openssl x509 -checkend 86400 -noout -in "$d/server.crt" >/dev/null 2>&1 \
        || return 1
    [ "$(openssl x509 -noout -pubkey -in "$d/server.crt" 2>/dev/null)" = \
      "$(openssl pkey -pubout -in "$d/server.key" 2>/dev/null)" ] || return 1
    sans=$(openssl x509 -noout -text -in "$d/server.crt" 2>/dev/null)
    for name in DNS:sso.egov.uz DNS:localhost "IP Address:127.0.0.1"; do
        grep -qF "$name" <<<"$sans" || return 1
    done
}

valid "$out" && exit 0

# one writer at a time (flock is in util-linux; without it, just go on)
if command -v flock >/dev/null 2>&1; then
    exec 9>"$out/.gen-certs.lock"
    flock 9
    valid "$out" && exit 0     # somebody else wrote them meanwhile
fi

tmp=$(mktemp -d "$out/.gen-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
    -keyout ca.key -out ca.crt \
    -subj "/O=ngx_http_oneid_module tests/CN=OneID mock test CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null

openssl req -new -nodes -newkey rsa:2048 -sha256 -keyout server.key \
    -out server.csr -subj "/O=ngx_http_oneid_module tests/CN=sso.egov.uz" \
    2>/dev/null

cat > server.ext <<END
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=DNS:sso.egov.uz,DNS:localhost,IP:127.0.0.1
END

openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -sha256 \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 \
    -extfile server.ext -out server.crt 2>/dev/null

chmod 600 ca.key server.key
chmod 644 ca.crt server.crt
valid . || { echo "gen-certs.sh: the new certificates do not verify" >&2; exit 1; }

# keys first, certificates last: valid() needs all four
for f in ca.key server.key ca.crt server.crt; do
    mv -f "$f" "$out/$f"
done
echo "test CA and server certificate written to $out"
