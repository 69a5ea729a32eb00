
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The form oneid_preserve_post keeps: an urlencoded body as fields in
 * order, and those fields as a JSON block that is safe inside a page's
 * <script> element.  Also what fuzz/fuzz_preserve.c drives.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_preserve.h"


static json_t *ngx_http_oneid_preserve_decode(ngx_http_request_t *r,
    u_char *start, u_char *end);


/*
 * [[name, value], ...] in the order of the body, repeated names kept, as
 * the browser sent them; NULL if a name or a value is not UTF-8.  Not
 * static: the preserve fuzzing harness calls it.
 */

json_t *
ngx_http_oneid_preserve_fields(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char  *p, *last, *amp, *eq;
    json_t  *fields, *pair, *name, *value;

    fields = json_array();
    if (fields == NULL) {
        return NULL;
    }

    p = body->data;
    last = body->data + body->len;

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

        name = ngx_http_oneid_preserve_decode(r, p, eq ? eq : amp);
        value = eq ? ngx_http_oneid_preserve_decode(r, eq + 1, amp)
                   : json_string("");
        pair = json_array();

        if (name == NULL || value == NULL || pair == NULL) {
            json_decref(name);
            json_decref(value);
            json_decref(pair);
            json_decref(fields);
            return NULL;
        }

        /* json_array_append_new() takes the value, also when it fails */

        if (json_array_append_new(pair, name)) {
            json_decref(value);
            json_decref(pair);
            json_decref(fields);
            return NULL;
        }

        if (json_array_append_new(pair, value)
            || json_array_append_new(fields, pair))
        {
            json_decref(fields);
            return NULL;
        }

        p = amp + 1;
    }

    return fields;
}


/* application/x-www-form-urlencoded: "+" is a space, then %XX */

static json_t *
ngx_http_oneid_preserve_decode(ngx_http_request_t *r, u_char *start,
    u_char *end)
{
    u_char  *src, *dst, *buf, *p;
    size_t   len;

    len = end - start;

    buf = ngx_pnalloc(r->pool, 2 * len + 1);
    if (buf == NULL) {
        return NULL;
    }

    src = buf + len;

    for (p = start; p < end; p++) {
        src[p - start] = (*p == '+') ? ' ' : *p;
    }

    dst = buf;
    ngx_unescape_uri(&dst, &src, len, 0);

    /* json_stringn() refuses anything but UTF-8 */

    return json_stringn((char *) buf, dst - buf);
}


/* NULL if not UTF-8 */

json_t *
ngx_http_oneid_preserve_string(ngx_str_t *s)
{
    if (s->len == 0) {
        return json_string("");
    }

    return json_stringn((char *) s->data, s->len);
}


/*
 * JSON safe inside <script type="application/json">: "<", ">" and "&"
 * as \u escapes, so that no "</script>" or "<!--" can end or change the
 * block, and U+2028 and U+2029 too, which some parsers take for line
 * ends.  The escapes mean the same to JSON.parse().  Not static: the
 * preserve fuzzing harness calls it.
 */

ngx_int_t
ngx_http_oneid_preserve_json(ngx_http_request_t *r, json_t *o,
    ngx_str_t *out)
{
    u_char  *s, *p, *d;
    size_t   len, n;

    s = (u_char *) json_dumps(o, JSON_COMPACT);
    if (s == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(s);
    n = 0;

    for (p = s; *p; p++) {
        if (*p == '<' || *p == '>' || *p == '&') {
            n += 5;

        } else if (p[0] == 0xe2 && p[1] == 0x80
                   && (p[2] == 0xa8 || p[2] == 0xa9))
        {
            n += 3;
        }
    }

    out->len = len + n;
    out->data = ngx_pnalloc(r->pool, out->len);
    if (out->data == NULL) {
        free(s);
        return NGX_ERROR;
    }

    d = out->data;

    for (p = s; *p; p++) {
        if (*p == '<' || *p == '>' || *p == '&') {
            d = ngx_sprintf(d, "\\u%04xui", (ngx_uint_t) *p);

        } else if (p[0] == 0xe2 && p[1] == 0x80
                   && (p[2] == 0xa8 || p[2] == 0xa9))
        {
            d = ngx_cpymem(d, p[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            p += 2;

        } else {
            *d++ = *p;
        }
    }

    free(s);

    return NGX_OK;
}
