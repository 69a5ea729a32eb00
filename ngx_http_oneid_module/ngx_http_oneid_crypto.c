
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Random session ids and login states, the hashes that keep them out of
 * Redis, and the keyed primitives: HKDF, HMAC, and AES-256-GCM for what
 * is kept secret in Redis (ngx_http_oneid_seal.c says what).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_crypto.h"


static void ngx_http_oneid_hkdf_init(void);
static void ngx_http_oneid_hmac_pad(SHA256_CTX *c, u_char *key, u_char pad);
static ngx_int_t ngx_http_oneid_cipher_init(void);
static void ngx_http_oneid_cipher_cleanup(void);


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
 * HKDF-SHA256 (RFC 5869) with the salt "ngx_http_oneid_module": a key of
 * NGX_HTTP_ONEID_KEY_BYTES for one purpose, named by info, from the input
 * key material ikm.  It runs on every authenticated request (the key of
 * the session record comes from the cookie), so it is HMAC written out
 * over SHA-256 with the salt's padded blocks hashed once per process:
 * 6 compressions, no allocation and no lookup.  The low-level SHA256_*
 * calls are deprecated in OpenSSL 3 but kept (nginx suppresses the
 * warnings too): EVP_MD_CTX_copy_ex() allocates on every copy, and this
 * way costs a third less than the EVP one, and a fifth of EVP_KDF's.
 */

static SHA256_CTX  ngx_http_oneid_salt_inner;
static SHA256_CTX  ngx_http_oneid_salt_outer;
static ngx_uint_t  ngx_http_oneid_salt_ready;


ngx_int_t
ngx_http_oneid_hkdf(u_char *out, u_char *ikm, size_t ikm_len,
    const char *info)
{
    u_char      prk[NGX_HTTP_ONEID_SHA256_BYTES];
    u_char      inner[NGX_HTTP_ONEID_SHA256_BYTES];
    u_char      one;
    SHA256_CTX  c;

    if (!ngx_http_oneid_salt_ready) {
        ngx_http_oneid_hkdf_init();
    }

    one = 1;

    /* extract: PRK = HMAC(salt, ikm) */

    c = ngx_http_oneid_salt_inner;
    SHA256_Update(&c, ikm, ikm_len);
    SHA256_Final(inner, &c);

    c = ngx_http_oneid_salt_outer;
    SHA256_Update(&c, inner, sizeof(inner));
    SHA256_Final(prk, &c);

    /* expand, one block: OKM = HMAC(PRK, info | 0x01) */

    ngx_http_oneid_hmac_pad(&c, prk, 0x36);
    SHA256_Update(&c, info, ngx_strlen(info));
    SHA256_Update(&c, &one, 1);
    SHA256_Final(inner, &c);

    ngx_http_oneid_hmac_pad(&c, prk, 0x5c);
    SHA256_Update(&c, inner, sizeof(inner));
    SHA256_Final(out, &c);

    ngx_explicit_memzero(prk, sizeof(prk));
    ngx_explicit_memzero(&c, sizeof(SHA256_CTX));

    return NGX_OK;
}


/* start c as HMAC's inner (pad 0x36) or outer (0x5c) hash under key */

static void
ngx_http_oneid_hmac_pad(SHA256_CTX *c, u_char *key, u_char pad)
{
    u_char      block[SHA256_CBLOCK];
    ngx_uint_t  i;

    ngx_memset(block, pad, sizeof(block));

    for (i = 0; i < NGX_HTTP_ONEID_SHA256_BYTES; i++) {
        block[i] ^= key[i];
    }

    SHA256_Init(c);
    SHA256_Update(c, block, sizeof(block));
}


static void
ngx_http_oneid_hkdf_init(void)
{
    static u_char  salt[] = "ngx_http_oneid_module";
    u_char         key[NGX_HTTP_ONEID_SHA256_BYTES];

    /* a salt shorter than a block is its own HMAC key, zero-padded */

    ngx_memzero(key, sizeof(key));
    ngx_memcpy(key, salt, sizeof(salt) - 1);

    ngx_http_oneid_hmac_pad(&ngx_http_oneid_salt_inner, key, 0x36);
    ngx_http_oneid_hmac_pad(&ngx_http_oneid_salt_outer, key, 0x5c);

    ngx_http_oneid_salt_ready = 1;
}


/*
 * AES-256-GCM: out = nonce (12 random bytes) | ciphertext | tag (16),
 * NGX_HTTP_ONEID_SEAL_OVERHEAD bytes longer than in.  The cipher and a
 * context for each direction are made once per process and later inits
 * only set the key and nonce: this too runs per request.
 */

static EVP_CIPHER      *ngx_http_oneid_aes_gcm;
static EVP_CIPHER_CTX  *ngx_http_oneid_seal_ctx;
static EVP_CIPHER_CTX  *ngx_http_oneid_open_ctx;


ngx_int_t
ngx_http_oneid_seal(u_char *key, ngx_str_t *in, u_char *out)
{
    int              n;
    u_char          *iv, *tag;
    EVP_CIPHER_CTX  *c;

    if (ngx_http_oneid_cipher_init() != NGX_OK) {
        return NGX_ERROR;
    }

    c = ngx_http_oneid_seal_ctx;
    iv = out;
    tag = out + NGX_HTTP_ONEID_SEAL_NONCE + in->len;

    if (ngx_http_oneid_random_bytes(iv, NGX_HTTP_ONEID_SEAL_NONCE) != NGX_OK
        || EVP_EncryptInit_ex2(c, NULL, key, iv, NULL) != 1
        || EVP_EncryptUpdate(c, iv + NGX_HTTP_ONEID_SEAL_NONCE, &n,
                             in->data, (int) in->len) != 1
        || EVP_EncryptFinal_ex(c, tag, &n) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG,
                               NGX_HTTP_ONEID_SEAL_TAG, tag) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The reverse: out gets in->len - NGX_HTTP_ONEID_SEAL_OVERHEAD bytes.
 * NGX_DECLINED: not sealed under this key, or changed since.
 */

ngx_int_t
ngx_http_oneid_open(u_char *key, ngx_str_t *in, u_char *out)
{
    int              n;
    u_char          *iv, *tag;
    size_t           len;
    EVP_CIPHER_CTX  *c;

    if (in->len < NGX_HTTP_ONEID_SEAL_OVERHEAD) {
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_cipher_init() != NGX_OK) {
        return NGX_ERROR;
    }

    c = ngx_http_oneid_open_ctx;
    iv = in->data;
    len = in->len - NGX_HTTP_ONEID_SEAL_OVERHEAD;
    tag = iv + NGX_HTTP_ONEID_SEAL_NONCE + len;

    if (EVP_DecryptInit_ex2(c, NULL, key, iv, NULL) != 1
        || EVP_DecryptUpdate(c, out, &n, iv + NGX_HTTP_ONEID_SEAL_NONCE,
                             (int) len) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG,
                               NGX_HTTP_ONEID_SEAL_TAG, tag) != 1)
    {
        return NGX_ERROR;
    }

    if (EVP_DecryptFinal_ex(c, out + n, &n) != 1) {
        /* the tag did not match: nothing of out may be used */
        ngx_explicit_memzero(out, len);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The same as base64url text, for values Redis scripts pass around in
 * lines and JSON: out in the pool.  NGX_DECLINED from open: not base64url,
 * not sealed under this key, or changed since.
 */

ngx_int_t
ngx_http_oneid_seal_text(ngx_pool_t *pool, u_char *key, ngx_str_t *in,
    ngx_str_t *out)
{
    ngx_str_t  raw;

    raw.len = in->len + NGX_HTTP_ONEID_SEAL_OVERHEAD;
    raw.data = ngx_pnalloc(pool, raw.len);
    out->data = ngx_pnalloc(pool, ngx_base64_encoded_length(raw.len));

    if (raw.data == NULL || out->data == NULL
        || ngx_http_oneid_seal(key, in, raw.data) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_encode_base64url(out, &raw);

    return NGX_OK;
}


ngx_int_t
ngx_http_oneid_open_text(ngx_pool_t *pool, u_char *key, ngx_str_t *in,
    ngx_str_t *out)
{
    ngx_int_t  rc;
    ngx_str_t  raw;

    raw.data = ngx_pnalloc(pool, ngx_base64_decoded_length(in->len));
    if (raw.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(&raw, in) != NGX_OK
        || raw.len < NGX_HTTP_ONEID_SEAL_OVERHEAD)
    {
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(pool, raw.len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_open(key, &raw, out->data);
    if (rc != NGX_OK) {
        return rc;
    }

    out->len = raw.len - NGX_HTTP_ONEID_SEAL_OVERHEAD;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_cipher_init(void)
{
    if (ngx_http_oneid_open_ctx != NULL) {
        return NGX_OK;
    }

    ngx_http_oneid_aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    ngx_http_oneid_seal_ctx = EVP_CIPHER_CTX_new();
    ngx_http_oneid_open_ctx = EVP_CIPHER_CTX_new();

    if (ngx_http_oneid_aes_gcm == NULL
        || ngx_http_oneid_seal_ctx == NULL
        || ngx_http_oneid_open_ctx == NULL
        || EVP_EncryptInit_ex2(ngx_http_oneid_seal_ctx,
                               ngx_http_oneid_aes_gcm, NULL, NULL, NULL)
           != 1
        || EVP_DecryptInit_ex2(ngx_http_oneid_open_ctx,
                               ngx_http_oneid_aes_gcm, NULL, NULL, NULL)
           != 1)
    {
        ngx_http_oneid_cipher_cleanup();
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_oneid_cipher_cleanup(void)
{
    EVP_CIPHER_CTX_free(ngx_http_oneid_seal_ctx);
    EVP_CIPHER_CTX_free(ngx_http_oneid_open_ctx);
    EVP_CIPHER_free(ngx_http_oneid_aes_gcm);

    ngx_http_oneid_seal_ctx = NULL;
    ngx_http_oneid_open_ctx = NULL;
    ngx_http_oneid_aes_gcm = NULL;
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
    ngx_http_oneid_cipher_cleanup();

    EVP_MD_free(ngx_http_oneid_sha256);
    ngx_http_oneid_sha256 = NULL;
}
