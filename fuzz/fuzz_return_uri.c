
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * ngx_http_oneid_safe_return_uri(): where a browser is sent back to after
 * login.  The input is the unparsed request URI (or the one stored with a
 * login state).  Whatever it accepts must be a path on this host that no
 * browser reads as another host: "/" first, never "//" or "/\", no
 * backslash, no control, space or non-ASCII byte, at most 2048 bytes.
 * Plain paths must still be accepted.
 */


#include "common.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_log_check_lines(1);
    return 0;
}


static ngx_int_t
fuzz_plain_path(ngx_str_t *uri)
{
    u_char  c, *p, *last;

    if (uri->len == 0 || uri->len > 2048 || uri->data[0] != '/'
        || (uri->len > 1 && uri->data[1] == '/'))
    {
        return 0;
    }

    last = uri->data + uri->len;

    for (p = uri->data; p < last; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || memchr("/._~-?=&%+:@,;", c, sizeof("/._~-?=&%+:@,;") - 1))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p, *last;
    ngx_int_t    rc;
    ngx_str_t    uri, copy;
    fuzz_env_t   env;

    fuzz_start(&env);

    uri.len = size;
    uri.data = fuzz_dup(env.pool, data, size);
    copy = uri;

    rc = ngx_http_oneid_safe_return_uri(&uri);

    fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED, "unexpected return code");
    fuzz_assert(uri.data == copy.data && uri.len == copy.len
                && ngx_memcmp(uri.data, data, size) == 0,
                "the URI was changed");

    if (rc == NGX_OK) {
        fuzz_assert(uri.len >= 1 && uri.len <= 2048, "length out of range");
        fuzz_assert(uri.data[0] == '/', "not a path");
        fuzz_assert(uri.len == 1
                    || (uri.data[1] != '/' && uri.data[1] != '\\'),
                    "a network-path reference (//host or /\\host)");

        last = uri.data + uri.len;

        for (p = uri.data; p < last; p++) {
            fuzz_assert(*p > ' ' && *p < 0x7f,
                        "control, space or non-ASCII byte accepted");
            fuzz_assert(*p != '\\', "backslash accepted");
        }

    } else {
        fuzz_assert(!fuzz_plain_path(&uri), "a plain local path refused");
    }

    fuzz_done(&env);

    return 0;
}
