
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * oneid_preserve_post (ngx_http_oneid_preserve.c): the urlencoded form
 * body turned into [[name, value], ...] (ngx_http_oneid_preserve_fields)
 * and the JSON data block of the page that keeps it, safe inside a
 * <script> element (ngx_http_oneid_preserve_json).
 *
 * The input is the body.  The reference: the pieces between "&", empty
 * ones skipped, cut at their first "="; "+" is a space and %XX a byte.
 *
 * The fields: one pair per non-empty piece, in order; a piece whose
 * escapes are all well-formed decodes to the reference; refused (NULL)
 * exactly when a name or a value is not UTF-8 (for the pieces the
 * reference can decode; otherwise refused only if the module's own
 * decoding is not UTF-8).
 *
 * The block (the fields inside an object as the start page has them):
 * no raw "<", ">", "&", U+2028 or U+2029, no NUL, valid UTF-8; jansson
 * reads it back to the same fields, names and values in order, byte for
 * byte.
 */


#include "common.h"

#include <jansson.h>

#include "ngx_http_oneid_preserve.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_log_check_lines(1);
    return 0;
}


static ngx_int_t
fuzz_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* the reference decoding; 0 if an escape is malformed */

static ngx_int_t
fuzz_decode(ngx_pool_t *pool, u_char *start, u_char *end, ngx_str_t *out)
{
    u_char  *p, *d;

    out->data = ngx_pnalloc(pool, (end - start) + 1);
    if (out->data == NULL) {
        abort();
    }

    d = out->data;

    for (p = start; p < end; p++) {
        if (*p == '+') {
            *d++ = ' ';

        } else if (*p == '%') {
            if (end - p < 3 || fuzz_hex(p[1]) < 0 || fuzz_hex(p[2]) < 0) {
                return 0;
            }

            *d++ = (u_char) (fuzz_hex(p[1]) << 4 | fuzz_hex(p[2]));
            p += 2;

        } else {
            *d++ = *p;
        }
    }

    out->len = d - out->data;

    return 1;
}


static ngx_int_t
fuzz_json_is(json_t *s, ngx_str_t *ref)
{
    ngx_str_t  v;

    if (!json_is_string(s)) {
        return 0;
    }

    v.data = (u_char *) json_string_value(s);
    v.len = json_string_length(s);

    return fuzz_str_eq(&v, ref);
}


static void
fuzz_json_utf8(json_t *s)
{
    ngx_str_t  v;

    fuzz_assert(json_is_string(s), "a name or a value is not a string");

    v.data = (u_char *) json_string_value(s);
    v.len = json_string_length(s);

    fuzz_assert(fuzz_is_utf8(&v), "a name or a value is not UTF-8");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *p, *last, *amp, *eq, *b;
    json_t        *fields, *o, *e, *back, *f, *pair;
    ngx_int_t      wellformed, utf8, okn, okv;
    ngx_str_t      body, name, value, block;
    ngx_uint_t     n, i;
    json_error_t   err;
    fuzz_env_t     env;

    fuzz_start(&env);

    body.len = size;
    body.data = fuzz_dup(env.pool, data, size);

    fields = ngx_http_oneid_preserve_fields(env.request, &body);

    /* the reference pieces */

    p = body.data;
    last = body.data + body.len;
    n = 0;
    wellformed = 1;
    utf8 = 1;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        okn = fuzz_decode(env.pool, p, eq ? eq : amp, &name);

        if (eq) {
            okv = fuzz_decode(env.pool, eq + 1, amp, &value);

        } else {
            okv = 1;
            ngx_str_set(&value, "");
        }

        if (okn && okv) {
            if (!fuzz_is_utf8(&name) || !fuzz_is_utf8(&value)) {
                utf8 = 0;
            }

        } else {
            wellformed = 0;
        }

        if (fields != NULL) {
            fuzz_assert(n < json_array_size(fields), "a field is missing");

            pair = json_array_get(fields, n);

            fuzz_assert(json_is_array(pair) && json_array_size(pair) == 2,
                        "a field is not [name, value]");

            fuzz_json_utf8(json_array_get(pair, 0));
            fuzz_json_utf8(json_array_get(pair, 1));

            if (okn) {
                fuzz_assert(fuzz_json_is(json_array_get(pair, 0), &name),
                            "a name decoded wrong");
            }

            if (okv) {
                fuzz_assert(fuzz_json_is(json_array_get(pair, 1), &value),
                            "a value decoded wrong");
            }
        }

        n++;
        p = amp + 1;
    }

    if (!utf8) {
        fuzz_assert(fields == NULL, "a body that is not UTF-8 was kept");
    }

    if (wellformed && utf8) {
        fuzz_assert(fields != NULL, "a UTF-8 body was refused");
    }

    if (fields == NULL) {
        fuzz_done(&env);
        return 0;
    }

    fuzz_assert(json_array_size(fields) == n, "fields were added");

    /* the data block, as the start page builds it */

    e = json_object();
    o = json_object();

    if (e == NULL || o == NULL
        || json_object_set(e, "fields", fields)
        || json_object_set_new(e, "url", json_string("/form?a=1&b=<2>"))
        || json_object_set_new(o, "e", e)
        || json_object_set_new(o, "m", json_string("start")))
    {
        abort();
    }

    fuzz_assert(ngx_http_oneid_preserve_json(env.request, o, &block)
                == NGX_OK, "the data block failed");

    for (i = 0; i < block.len; i++) {
        b = &block.data[i];

        fuzz_assert(*b != '<' && *b != '>' && *b != '&' && *b != '\0',
                    "a raw <, >, & or NUL in the data block");

        fuzz_assert(!(block.len - i >= 3 && b[0] == 0xe2 && b[1] == 0x80
                      && (b[2] == 0xa8 || b[2] == 0xa9)),
                    "a raw U+2028 or U+2029 in the data block");
    }

    fuzz_assert(fuzz_is_utf8(&block), "the data block is not UTF-8");

    back = json_loadb((char *) block.data, block.len, JSON_ALLOW_NUL, &err);

    fuzz_assert(back != NULL, "the data block is not JSON");

    f = json_object_get(json_object_get(back, "e"), "fields");

    fuzz_assert(f != NULL && json_equal(f, fields),
                "the data block reads back to other fields");

    fuzz_assert(json_equal(back, o), "the data block reads back different");

    /* json_equal() compares arrays in order and strings byte for byte */

    for (i = 0; i < n; i++) {
        pair = json_array_get(f, i);

        fuzz_assert(json_string_length(json_array_get(pair, 0))
                    == json_string_length(json_array_get(
                                              json_array_get(fields, i), 0))
                    && json_string_length(json_array_get(pair, 1))
                       == json_string_length(json_array_get(
                                                 json_array_get(fields, i),
                                                 1)),
                    "a name or a value changed length");
    }

    json_decref(back);
    json_decref(o);
    json_decref(fields);

    fuzz_done(&env);

    return 0;
}
