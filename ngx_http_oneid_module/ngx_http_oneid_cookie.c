
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The session cookie and the login-state cookie: reading them, setting
 * them, and keeping them away from the upstream.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


static ngx_int_t ngx_http_oneid_cookie_in(ngx_str_t *header,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_oneid_cookie_strip(ngx_http_request_t *r,
    ngx_table_elt_t *h, ngx_str_t *name);


#if (nginx_version >= 1023000)

#define ngx_http_oneid_for_each_cookie(r, h)                                  \
    for (h = r->headers_in.cookie; h; h = h->next)

#else

#define ngx_http_oneid_for_each_cookie(r, h)                                  \
    for (ngx_uint_t i_ = 0;                                                   \
         i_ < r->headers_in.cookies.nelts                                     \
         && (h = ((ngx_table_elt_t **) r->headers_in.cookies.elts)[i_]);      \
         i_++)

#endif


ngx_int_t
ngx_http_oneid_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    ngx_http_oneid_for_each_cookie(r, h) {
        if (ngx_http_oneid_cookie_in(&h->value, name, value) == NGX_OK) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_oneid_set_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *name, ngx_str_t *value,
    time_t max_age)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   cookie;

    len = name->len + 1 + value->len
          + sizeof("; Max-Age=") - 1 + NGX_TIME_T_LEN
          + sizeof("; Expires=Thu, 01 Jan 1970 00:00:01 GMT") - 1
          + sizeof("; Path=/; HttpOnly; Secure; SameSite=Lax") - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cookie.data = p;

    p = ngx_cpymem(p, name->data, name->len);
    *p++ = '=';
    p = ngx_cpymem(p, value->data, value->len);

    /* no Max-Age: a browser cookie that dies with the browser */

    if (max_age > 0) {
        p = ngx_sprintf(p, "; Max-Age=%T", max_age);

    } else if (max_age == 0) {
        p = ngx_cpymem(p, "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:01 GMT",
                       sizeof("; Max-Age=0; Expires=Thu, 01 Jan 1970 "
                              "00:00:01 GMT") - 1);
    }

    p = ngx_cpymem(p, "; Path=/; HttpOnly", sizeof("; Path=/; HttpOnly") - 1);

    if (olcf->cookie_secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    p = ngx_cpymem(p, "; SameSite=Lax", sizeof("; SameSite=Lax") - 1);

    cookie.len = p - cookie.data;

    if (ngx_http_oneid_add_header_out(r, "Set-Cookie", &cookie) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The session id is a bearer credential: the upstream never needs it and
 * must not be able to leak it.  Returns NGX_DECLINED when a Cookie header
 * became empty and should be dropped.
 */

ngx_int_t
ngx_http_oneid_hide_cookie(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_int_t         rc, emptied;
    ngx_table_elt_t  *h;

    emptied = 0;

    ngx_http_oneid_for_each_cookie(r, h) {
        rc = ngx_http_oneid_cookie_strip(r, h, name);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            emptied = 1;
        }
    }

    return emptied ? NGX_DECLINED : NGX_OK;
}


/* value of the first "name=value" pair in a Cookie header */

static ngx_int_t
ngx_http_oneid_cookie_in(ngx_str_t *header, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char  *p, *last, *end;

    p = header->data;
    last = header->data + header->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
            p++;
        }

        end = ngx_strlchr(p, last, ';');
        if (end == NULL) {
            end = last;
        }

        if ((size_t) (end - p) > name->len
            && p[name->len] == '='
            && ngx_strncmp(p, name->data, name->len) == 0)
        {
            value->data = p + name->len + 1;
            value->len = end - value->data;

            while (value->len && (value->data[value->len - 1] == ' '
                                  || value->data[value->len - 1] == '\t'))
            {
                value->len--;
            }

            return NGX_OK;
        }

        p = end;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oneid_cookie_strip(ngx_http_request_t *r, ngx_table_elt_t *h,
    ngx_str_t *name)
{
    u_char     *p, *last, *end, *dst, *out;
    ngx_str_t   v;

    if (ngx_http_oneid_cookie_in(&h->value, name, &v) != NGX_OK) {
        return NGX_OK;
    }

    /* "a=1;b=2" becomes "a=1; b=2": at most one byte more per pair */

    out = ngx_pnalloc(r->pool, 2 * h->value.len);
    if (out == NULL) {
        return NGX_ERROR;
    }

    dst = out;
    p = h->value.data;
    last = h->value.data + h->value.len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
            p++;
        }

        if (p == last) {
            break;
        }

        end = ngx_strlchr(p, last, ';');
        if (end == NULL) {
            end = last;
        }

        if ((size_t) (end - p) > name->len
            && p[name->len] == '='
            && ngx_strncmp(p, name->data, name->len) == 0)
        {
            p = end;
            continue;
        }

        if (dst != out) {
            *dst++ = ';';
            *dst++ = ' ';
        }

        dst = ngx_cpymem(dst, p, end - p);
        p = end;
    }

    h->value.data = out;
    h->value.len = dst - out;

    return h->value.len ? NGX_OK : NGX_DECLINED;
}
