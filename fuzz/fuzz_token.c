
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Session ids and login states: ngx_http_oneid_is_token() is the only
 * check a cookie value or a callback state passes before it is hashed
 * into a Redis key.  It must accept exactly 43 base64url characters,
 * what ngx_http_oneid_random_token() makes, and nothing else.  The hash
 * (ngx_http_oneid_sha256_hex()) is checked for shape on every input.
 */


#include "common.h"


static ngx_int_t
fuzz_ref_token(u_char *p, size_t len)
{
    size_t  i;

    if (len != 43) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    u_char      decoded[64];
    ngx_str_t   tok, prev, dst;
    ngx_uint_t  i;
    fuzz_env_t  env;

    fuzz_init();
    fuzz_log_check_lines(1);

    /* what the module makes must pass its own check */

    fuzz_start(&env);
    ngx_str_null(&prev);

    for (i = 0; i < 256; i++) {
        fuzz_assert(ngx_http_oneid_random_token(env.request, &tok) == NGX_OK,
                    "random_token failed");
        fuzz_assert(tok.len == NGX_HTTP_ONEID_TOKEN_LEN,
                    "random token of bad length");
        fuzz_assert(ngx_http_oneid_is_token(&tok) == NGX_OK,
                    "a random token is refused by is_token");
        fuzz_assert(!fuzz_str_eq(&tok, &prev), "the same token twice");

        dst.data = decoded;
        fuzz_assert(ngx_decode_base64url(&dst, &tok) == NGX_OK
                    && dst.len == NGX_HTTP_ONEID_TOKEN_BYTES,
                    "a random token is not base64url of 32 bytes");

        prev = tok;
    }

    fuzz_done(&env);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      hex[NGX_HTTP_ONEID_SHA256_HEX_LEN + 1];
    u_char      hex2[NGX_HTTP_ONEID_SHA256_HEX_LEN + 1];
    ngx_int_t   rc;
    ngx_str_t   s;
    ngx_uint_t  i;
    fuzz_env_t  env;

    fuzz_start(&env);

    s.len = size;
    s.data = fuzz_dup(env.pool, data, size);

    rc = ngx_http_oneid_is_token(&s);

    fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED, "unexpected return code");
    fuzz_assert((rc == NGX_OK) == fuzz_ref_token(s.data, s.len),
                "is_token disagrees with \"43 base64url characters\"");

    /* the Redis key part: 64 lowercase hex digits, the same every time */

    hex[NGX_HTTP_ONEID_SHA256_HEX_LEN] = 0xa5;
    hex2[NGX_HTTP_ONEID_SHA256_HEX_LEN] = 0xa5;

    fuzz_assert(ngx_http_oneid_sha256_hex(hex, s.data, s.len) == NGX_OK
                && ngx_http_oneid_sha256_hex(hex2, s.data, s.len) == NGX_OK,
                "sha256_hex failed");
    fuzz_assert(hex[NGX_HTTP_ONEID_SHA256_HEX_LEN] == 0xa5,
                "sha256_hex wrote past 64 bytes");
    fuzz_assert(ngx_memcmp(hex, hex2, NGX_HTTP_ONEID_SHA256_HEX_LEN) == 0,
                "sha256_hex is not deterministic");

    for (i = 0; i < NGX_HTTP_ONEID_SHA256_HEX_LEN; i++) {
        fuzz_assert((hex[i] >= '0' && hex[i] <= '9')
                    || (hex[i] >= 'a' && hex[i] <= 'f'),
                    "sha256_hex is not lowercase hex");
    }

    fuzz_done(&env);

    return 0;
}
