
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Random session ids and login states, the hashes that keep them out of
 * Redis, and the keyed primitives under the server key (HKDF, HMAC).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_crypto.h"


/*
 * A session id or a login state: 256 bits from the OpenSSL CSPRNG,
 * base64url without padding.  There is deliberately no fallback to a
 * weaker generator: without randomness no login may proceed.
 */

ngx_int_t
ngx_http_oneid_random_token(ngx_http_request_t *r, ngx_str_t *out)
{
    return ngx_http_oneid_random_string(r, NGX_HTTP_ONEID_TOKEN_BYTES, out);
}


/* n random bytes (at most 32), base64url without padding */

ngx_int_t
ngx_http_oneid_random_string(ngx_http_request_t *r, size_t n, ngx_str_t *out)
{
    u_char     buf[NGX_HTTP_ONEID_TOKEN_BYTES];
    ngx_str_t  src;

    if (n > NGX_HTTP_ONEID_TOKEN_BYTES) {
        return NGX_ERROR;
    }

    if (RAND_bytes(buf, (int) n) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oneid: RAND_bytes() failed: %s",
                      ERR_reason_error_string(ERR_get_error()));
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(n) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    src.data = buf;
    src.len = n;

    ngx_encode_base64url(out, &src);

    ngx_explicit_memzero(buf, n);

    return NGX_OK;
}


ngx_int_t
ngx_http_oneid_random_bytes(u_char *buf, size_t n)
{
    return RAND_bytes(buf, (int) n) == 1 ? NGX_OK : NGX_ERROR;
}


/* cheap shape check so that garbage never reaches Redis */

ngx_int_t
ngx_http_oneid_is_token(ngx_str_t *s)
{
    u_char  c, *p, *last;

    if (s->len != NGX_HTTP_ONEID_TOKEN_LEN) {
        return NGX_DECLINED;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Runs on every authenticated request: fetch the implementation once per
 * process instead of letting EVP_Digest() look it up each time (crypto(7),
 * "Performance").
 */

static EVP_MD  *ngx_http_oneid_sha256;


ngx_int_t
ngx_http_oneid_sha256_hex(u_char *dst, u_char *data, size_t len)
{
    u_char         md[EVP_MAX_MD_SIZE];
    EVP_MD        *sha256;
    unsigned int   mdlen;

    sha256 = ngx_http_oneid_sha256;

    if (sha256 == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (sha256 == NULL) {
            return NGX_ERROR;
        }

        ngx_http_oneid_sha256 = sha256;
    }

    if (EVP_Digest(data, len, md, &mdlen, sha256, NULL) != 1
        || mdlen * 2 != NGX_HTTP_ONEID_SHA256_HEX_LEN)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(dst, md, mdlen);

    return NGX_OK;
}


/*
 * HKDF-SHA256 (RFC 5869): a key of NGX_HTTP_ONEID_KEY_BYTES for one
 * purpose, named by info, from the input key material ikm.
 */

ngx_int_t
ngx_http_oneid_hkdf(u_char *out, u_char *ikm, size_t ikm_len,
    const char *info)
{
    int            ok;
    EVP_KDF       *kdf;
    OSSL_PARAM     params[5], *p;
    EVP_KDF_CTX   *kctx;
    static char    salt[] = "ngx_http_oneid_module";

    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) {
        return NGX_ERROR;
    }

    kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);

    if (kctx == NULL) {
        return NGX_ERROR;
    }

    p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *) "SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm,
                                             ikm_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt,
                                             sizeof(salt) - 1);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (char *) info, ngx_strlen(info));
    *p = OSSL_PARAM_construct_end();

    ok = EVP_KDF_derive(kctx, out, NGX_HTTP_ONEID_KEY_BYTES, params);

    EVP_KDF_CTX_free(kctx);

    return ok == 1 ? NGX_OK : NGX_ERROR;
}


/* HMAC-SHA256 of data under a key of NGX_HTTP_ONEID_KEY_BYTES, in hex */

ngx_int_t
ngx_http_oneid_hmac_hex(u_char *dst, u_char *key, u_char *data, size_t len)
{
    u_char  md[NGX_HTTP_ONEID_SHA256_BYTES];

    if (ngx_http_oneid_hmac(md, key, NGX_HTTP_ONEID_KEY_BYTES, data, len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(dst, md, NGX_HTTP_ONEID_SHA256_BYTES);

    return NGX_OK;
}


/* HMAC-SHA256 of data under a key of any length, in binary */

ngx_int_t
ngx_http_oneid_hmac(u_char *dst, u_char *key, size_t key_len, u_char *data,
    size_t len)
{
    u_char  md[EVP_MAX_MD_SIZE];
    size_t  mdlen;

    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, data,
                  len, md, sizeof(md), &mdlen)
        == NULL
        || mdlen != NGX_HTTP_ONEID_SHA256_BYTES)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(dst, md, mdlen);

    return NGX_OK;
}


void
ngx_http_oneid_crypto_cleanup(void)
{
    EVP_MD_free(ngx_http_oneid_sha256);
    ngx_http_oneid_sha256 = NULL;
}
