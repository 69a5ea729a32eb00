
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The query string of the oneid_callback location, read as the callback
 * step does: ngx_http_oneid_callback_arg() for "code" (at most 512 bytes,
 * NGX_HTTP_ONEID_MAX_CODE) and "state" (a token), then
 * ngx_http_oneid_is_token() on the state.  The input is r->args.
 *
 * An accepted value is the percent-decoded first "name=" argument (the
 * name case-insensitive, as ngx_http_arg() has it), 1..max bytes, with
 * no control, space, DEL or non-ASCII byte; a usable state is exactly a
 * 43-character base64url token.  Clean values must be accepted.
 */


#include "common.h"

#include "ngx_http_oneid_handler.h"


#define FUZZ_MAX_CODE  512


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_log_check_lines(1);
    return 0;
}


/* the first "name=" argument, split on "&" */

static ngx_int_t
fuzz_ref_arg(ngx_str_t *args, const char *name, ngx_str_t *raw)
{
    u_char  *p, *end, *last;
    size_t   len;

    len = ngx_strlen(name);
    p = args->data;
    last = args->data + args->len;

    while (p < last) {
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        if ((size_t) (end - p) > len
            && ngx_strncasecmp(p, (u_char *) name, len) == 0
            && p[len] == '=')
        {
            raw->data = p + len + 1;
            raw->len = end - raw->data;
            return 1;
        }

        p = end + 1;
    }

    return 0;
}


static ngx_int_t
fuzz_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* decodes %XX; 0 if a "%" is not followed by two hex digits */

static ngx_int_t
fuzz_ref_decode(ngx_str_t *raw, u_char *out, size_t *outlen)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < raw->len; i++) {
        if (raw->data[i] != '%') {
            out[n++] = raw->data[i];
            continue;
        }

        if (i + 2 >= raw->len
            || fuzz_hex(raw->data[i + 1]) < 0
            || fuzz_hex(raw->data[i + 2]) < 0)
        {
            return 0;
        }

        out[n++] = (u_char) (fuzz_hex(raw->data[i + 1]) * 16
                             + fuzz_hex(raw->data[i + 2]));
        i += 2;
    }

    *outlen = n;

    return 1;
}


static ngx_int_t
fuzz_plain(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] <= ' ' || p[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
fuzz_ref_token(u_char *p, size_t len)
{
    size_t  i;

    if (len != NGX_HTTP_ONEID_TOKEN_LEN) {
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


static void
fuzz_check_arg(fuzz_env_t *env, const char *name, size_t max, ngx_str_t *out,
    ngx_int_t *ok)
{
    u_char     *ref;
    size_t      reflen;
    ngx_int_t   rc, found, wellformed;
    ngx_str_t   raw;

    ngx_str_null(out);
    ngx_str_null(&raw);

    rc = ngx_http_oneid_callback_arg(env->request, name, max, out);

    fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED, "unexpected return code");

    *ok = (rc == NGX_OK);

    found = fuzz_ref_arg(&env->request->args, name, &raw);

    if (!found) {
        fuzz_assert(rc == NGX_DECLINED, "a value for a missing argument");
        return;
    }

    ref = ngx_pnalloc(env->pool, raw.len + 1);
    if (ref == NULL) {
        abort();
    }

    wellformed = fuzz_ref_decode(&raw, ref, &reflen);

    if (rc == NGX_OK) {
        fuzz_assert(out->len >= 1 && out->len <= max,
                    "accepted value of bad length");
        fuzz_assert(out->len <= raw.len, "decoded value longer than raw");
        fuzz_assert(fuzz_plain(out->data, out->len),
                    "accepted value has control, space or non-ASCII bytes");

        if (wellformed) {
            fuzz_assert(out->len == reflen
                        && ngx_memcmp(out->data, ref, reflen) == 0,
                        "value is not the percent-decoded argument");
        }

        return;
    }

    if (wellformed && raw.len <= 3 * max) {
        fuzz_assert(!(reflen >= 1 && reflen <= max
                      && fuzz_plain(ref, reflen)),
                    "a clean argument was refused");
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t    code_ok, state_ok, valid;
    ngx_str_t    code, state;
    fuzz_env_t   env;

    fuzz_start(&env);

    env.request->args.len = size;
    env.request->args.data = fuzz_dup(env.pool, data, size);

    fuzz_check_arg(&env, "code", FUZZ_MAX_CODE, &code, &code_ok);
    fuzz_check_arg(&env, "state", NGX_HTTP_ONEID_TOKEN_LEN, &state,
                   &state_ok);

    /* as ngx_http_oneid_callback() decides */

    valid = code_ok && state_ok
            && ngx_http_oneid_is_token(&state) == NGX_OK;

    if (state_ok) {
        fuzz_assert((ngx_http_oneid_is_token(&state) == NGX_OK)
                    == fuzz_ref_token(state.data, state.len),
                    "state token check disagrees with base64url(32 bytes)");
    }

    if (valid) {
        fuzz_assert(state.len == NGX_HTTP_ONEID_TOKEN_LEN,
                    "a state that is no token");
        fuzz_assert(code.len >= 1 && code.len <= FUZZ_MAX_CODE,
                    "a code of bad length");
    }

    fuzz_done(&env);

    return 0;
}
