#!/usr/bin/env bash
# gen-certs.sh OUTDIR: a test CA and a server certificate for the mock
# OneID (sso.egov.uz, localhost, 127.0.0.1).  Does nothing when both are
# there and the server certificate still verifies against the CA.
set -eu

out=${1:?usage: gen-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"

if [ -f ca.crt ] && [ -f server.crt ] && [ -f server.key ] \
   && openssl verify -CAfile ca.crt server.crt >/dev/null 2>&1 \
   && openssl x509 -checkend 86400 -noout -in server.crt >/dev/null; then
    exit 0
fi

openssl req -x509 -new -nodes -newkey rsa:2048 -days 3650 \
    -keyout ca.key -out ca.crt -subj "/CN=ngx_http_oneid_module test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -nodes -newkey rsa:2048 -keyout server.key \
    -out server.csr -subj "/CN=sso.egov.uz" 2>/dev/null

cat > server.ext <<END
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:sso.egov.uz,DNS:localhost,IP:127.0.0.1
END

openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
    -CAcreateserial -days 3650 -extfile server.ext -out server.crt \
    2>/dev/null

rm -f server.csr server.ext ca.srl
chmod 600 ca.key server.key
echo "test CA and server certificate written to $out"
