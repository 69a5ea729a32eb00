
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_CRYPTO_H_INCLUDED_
#define _NGX_HTTP_ONEID_CRYPTO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* AES-256-GCM as sealed here: nonce | ciphertext | tag */
#define NGX_HTTP_ONEID_SEAL_NONCE     12
#define NGX_HTTP_ONEID_SEAL_TAG       16
#define NGX_HTTP_ONEID_SEAL_OVERHEAD  (NGX_HTTP_ONEID_SEAL_NONCE              \
                                       + NGX_HTTP_ONEID_SEAL_TAG)


ngx_int_t ngx_http_oneid_random_token(ngx_http_request_t *r, ngx_str_t *out);
ngx_int_t ngx_http_oneid_random_string(ngx_http_request_t *r, size_t n,
    ngx_str_t *out);
ngx_int_t ngx_http_oneid_random_bytes(u_char *buf, size_t n);
ngx_int_t ngx_http_oneid_is_token(ngx_str_t *s);
ngx_int_t ngx_http_oneid_sha256_hex(u_char *dst, u_char *data, size_t len);
ngx_int_t ngx_http_oneid_hkdf(u_char *out, u_char *ikm, size_t ikm_len,
    const char *info);
ngx_int_t ngx_http_oneid_seal(u_char *key, ngx_str_t *in, u_char *out);
ngx_int_t ngx_http_oneid_open(u_char *key, ngx_str_t *in, u_char *out);
ngx_int_t ngx_http_oneid_seal_text(ngx_pool_t *pool, u_char *key,
    ngx_str_t *in, ngx_str_t *out);
ngx_int_t ngx_http_oneid_open_text(ngx_pool_t *pool, u_char *key,
    ngx_str_t *in, ngx_str_t *out);
ngx_int_t ngx_http_oneid_hmac_hex(u_char *dst, u_char *key, u_char *data,
    size_t len);
ngx_int_t ngx_http_oneid_hmac(u_char *dst, u_char *key, size_t key_len,
    u_char *data, size_t len);
void ngx_http_oneid_crypto_cleanup(void);


#endif /* _NGX_HTTP_ONEID_CRYPTO_H_INCLUDED_ */
