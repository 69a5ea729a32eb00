
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Request headers: removing client copies of the identity headers, adding
 * the real ones (percent-encoded or raw), finding a request header, and
 * what the headers say about where a request came from or may return to.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_preserve.h"
#include "ngx_http_oneid_util.h"


static ngx_int_t ngx_http_oneid_is_identity_header(ngx_str_t *key);
static ngx_int_t ngx_http_oneid_is_dropped(ngx_table_elt_t *h);
static ngx_int_t ngx_http_oneid_rebuild_headers(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_reindex_cookies(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_own_headers(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_push_header(ngx_http_request_t *r,
    ngx_http_oneid_field_t *f, ngx_str_t *value, ngx_uint_t encoding,
    ngx_str_t *sent);
static ngx_int_t ngx_http_oneid_sign_identity(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *sent);
static ngx_int_t ngx_http_oneid_header_is(ngx_table_elt_t *h,
    const char *value);
static ngx_int_t ngx_http_oneid_is_this_host(ngx_http_request_t *r,
    ngx_str_t *url);


#define ngx_http_oneid_upper_or_lower(c, l)  ((c) == (l) || (c) == (l) - 32)


/* an X-OneID-* name: removed from clients' requests with the others */

static ngx_http_oneid_field_t  ngx_http_oneid_signature_field = {
    ngx_null_string, ngx_string("X-OneID-Signature"),
    ngx_string("x-oneid-signature"), NULL, 0
};


/*
 * Printable ASCII but "%": with percent encoding a value is unambiguous
 * and survives any upstream that mangles non-ASCII header bytes.
 */
static const uint32_t  ngx_http_oneid_header_plain[] = {
    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */

                /* ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  */
    0xffffffdf, /* 1111 1111 1111 1111  1111 1111 1101 1111 */

                /* _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@ */
    0xffffffff, /* 1111 1111 1111 1111  1111 1111 1111 1111 */

                /*  ~}| {zyx wvut srqp  onml kjih gfed cba` */
    0x7fffffff, /* 0111 1111 1111 1111  1111 1111 1111 1111 */

    0x00000000, 0x00000000, 0x00000000, 0x00000000
};


/* "X-OneID", "x_oneid-pin", "X-ONEID_ANYTHING" ... */

static ngx_int_t
ngx_http_oneid_is_identity_header(ngx_str_t *key)
{
    u_char  *k;

    if (key->len < 7) {
        return 0;
    }

    k = key->data;

    return ngx_http_oneid_upper_or_lower(k[0], 'x')
           && (k[1] == '-' || k[1] == '_')
           && ngx_strncasecmp(k + 2, (u_char *) "oneid", 5) == 0
           && (key->len == 7 || k[7] == '-' || k[7] == '_');
}


static ngx_int_t
ngx_http_oneid_is_dropped(ngx_table_elt_t *h)
{
    if (ngx_http_oneid_is_identity_header(&h->key)) {
        return 1;
    }

    /* a Cookie header that held only our cookies */

    return h->value.len == 0
           && h->key.len == sizeof("Cookie") - 1
           && ngx_strncasecmp(h->key.data, (u_char *) "Cookie", 6) == 0;
}


/*
 * ngx_list_t cannot delete, and r->headers_in fields point into the list,
 * so the surviving headers are copied into a new list: the old elements
 * stay where they are for whoever points at them.  Only the cookie index
 * is moved to the copies, since cookies are edited later on.
 */

static ngx_int_t
ngx_http_oneid_rebuild_headers(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_t        old;
    ngx_table_elt_t  *h, *nh;
    ngx_list_part_t  *part;

    /* the list header is copied; its parts are only read from now on */

    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, 20,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &old.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_oneid_is_dropped(&h[i])) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "oneid: removed request header \"%V: %V\"",
                           &h[i].key, &h[i].value);
            continue;
        }

        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    return ngx_http_oneid_reindex_cookies(r);
}


static ngx_int_t
ngx_http_oneid_reindex_cookies(ngx_http_request_t *r)
{
    ngx_uint_t         i;
    ngx_table_elt_t   *h;
    ngx_list_part_t   *part;
#if (nginx_version >= 1023000)
    ngx_table_elt_t  **next;

    next = &r->headers_in.cookie;
#else
    ngx_table_elt_t  **ph;

    r->headers_in.cookies.nelts = 0;
#endif

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Cookie") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Cookie", 6) != 0)
        {
            continue;
        }

#if (nginx_version >= 1023000)
        *next = &h[i];
        next = &h[i].next;
#else
        ph = ngx_array_push(&r->headers_in.cookies);
        if (ph == NULL) {
            return NGX_ERROR;
        }

        *ph = &h[i];
#endif
    }

#if (nginx_version >= 1023000)
    *next = NULL;
#endif

    return NGX_OK;
}


ngx_int_t
ngx_http_oneid_strip_identity_headers(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;
    ngx_list_part_t  *part;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_oneid_is_identity_header(&h[i].key)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "oneid: client sent identity header \"%V\", "
                          "removed", &h[i].key);

            return ngx_http_oneid_rebuild_headers(r);
        }
    }
}


ngx_int_t
ngx_http_oneid_set_identity_headers(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_identity_t *id)
{
    ngx_int_t   rc, rebuild;
    ngx_str_t   sent[NGX_HTTP_ONEID_NFIELDS];
    ngx_uint_t  i;

    rebuild = 0;

    if (r != r->main && ngx_http_oneid_own_headers(r) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_hide_cookie(r, &olcf->cookie_name, 0);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rebuild |= (rc == NGX_DECLINED);

    /* the login flows' cookies, and what was the login cookie before */

    rc = ngx_http_oneid_hide_cookie(r, &olcf->state_cookie_name, 1);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rebuild |= (rc == NGX_DECLINED);

    rc = ngx_http_oneid_hide_cookie(r, &olcf->browser_cookie_name, 0);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rebuild |= (rc == NGX_DECLINED);

    rc = ngx_http_oneid_preserve_hide_cookies(r, olcf);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rebuild |= (rc == NGX_DECLINED);

    if (olcf->old_cookie_name.len) {
        rc = ngx_http_oneid_hide_cookie(r, &olcf->old_cookie_name, 0);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        rebuild |= (rc == NGX_DECLINED);
    }

    /* after an internal redirect our own headers from before are there */

    if (r->internal) {
        rebuild = 1;
    }

    if (rebuild && ngx_http_oneid_rebuild_headers(r) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!olcf->pass_headers) {
        return NGX_OK;
    }

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        if (id->field[i].len == 0) {
            ngx_str_null(&sent[i]);
            continue;
        }

        if (ngx_http_oneid_push_header(r, &ngx_http_oneid_fields[i],
                                       &id->field[i], olcf->header_encoding,
                                       &sent[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (olcf->sign_key.len) {
        return ngx_http_oneid_sign_identity(r, &olcf->sign_key, sent);
    }

    return NGX_OK;
}


/*
 * X-OneID-Signature: "v1;t=<unix time>;s=<base64url HMAC-SHA256>", the
 * HMAC under the signing key of the canonical form, every line ended
 * by "\n":
 *
 *     v1
 *     <t>
 *     <method of the client's request>
 *     <request URI of the client's request, as $request_uri>
 *     <lower-case header name>:<value as sent>     for each identity
 *                                                  header sent, in the
 *                                                  order of the fields
 *
 * The upstream recomputes it from what it received, so that forged or
 * replayed identity headers sent straight to its port are refused; how
 * old a "t" it accepts is its choice.  Subrequests sign their main
 * request's method and URI: that is what the upstream can know of.
 */

static ngx_int_t
ngx_http_oneid_sign_identity(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *sent)
{
    u_char                  *p, md[NGX_HTTP_ONEID_SHA256_BYTES];
    size_t                   len;
    time_t                   now;
    ngx_str_t                data, mac, value;
    ngx_uint_t               i;
    ngx_http_request_t      *mr;
    ngx_http_oneid_field_t  *f;

    mr = r->main;
    now = ngx_time();

    len = sizeof("v1\n") - 1 + NGX_TIME_T_LEN + 1
          + mr->method_name.len + 1 + mr->unparsed_uri.len + 1;

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        if (sent[i].len) {
            len += ngx_http_oneid_fields[i].lowcase_header.len + 1
                   + sent[i].len + 1;
        }
    }

    data.data = ngx_pnalloc(r->pool, len);
    if (data.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(data.data, "v1\n%T\n%V\n%V\n",
                    now, &mr->method_name, &mr->unparsed_uri);

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        if (sent[i].len == 0) {
            continue;
        }

        f = &ngx_http_oneid_fields[i];

        p = ngx_cpymem(p, f->lowcase_header.data, f->lowcase_header.len);
        *p++ = ':';
        p = ngx_cpymem(p, sent[i].data, sent[i].len);
        *p++ = '\n';
    }

    data.len = p - data.data;

    if (ngx_http_oneid_hmac(md, key->data, key->len, data.data, data.len)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oneid: HMAC of the identity headers failed");
        return NGX_ERROR;
    }

    mac.data = md;
    mac.len = sizeof(md);

    value.data = ngx_pnalloc(r->pool, sizeof("v1;t=;s=") - 1 + NGX_TIME_T_LEN
                                      + ngx_base64_encoded_length(sizeof(md)));
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(value.data, "v1;t=%T;s=", now);

    data.data = p;
    ngx_encode_base64url(&data, &mac);

    value.len = p + data.len - value.data;

    f = &ngx_http_oneid_signature_field;

    if (ngx_http_oneid_add_header_in(r, &f->header, f->lowcase_header.data,
                                     f->hash, &value)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an internal redirect into a location that passes no identity */

ngx_int_t
ngx_http_oneid_drop_identity_headers(ngx_http_request_t *r)
{
    return ngx_http_oneid_rebuild_headers(r);
}


/*
 * A subrequest starts with a copy of its parent's headers_in: the same
 * list parts, the same cookie index and the same header elements.  Adding
 * to that list, or editing a cookie in place, would change the parent's
 * request too, so the subrequest gets a list and an index of its own.
 */

static ngx_int_t
ngx_http_oneid_own_headers(ngx_http_request_t *r)
{
#if (nginx_version < 1023000)
    if (ngx_array_init(&r->headers_in.cookies, r->pool, 2,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif

    return ngx_http_oneid_rebuild_headers(r);
}


static ngx_int_t
ngx_http_oneid_push_header(ngx_http_request_t *r, ngx_http_oneid_field_t *f,
    ngx_str_t *value, ngx_uint_t encoding, ngx_str_t *sent)
{
    ngx_str_t  v;

    if (encoding == NGX_HTTP_ONEID_ENCODE_RAW) {
        v = *value;

    } else if (ngx_http_oneid_escape_str(r->pool, value,
                                         ngx_http_oneid_header_plain, &v)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_oneid_add_header_in(r, &f->header,
                                     f->lowcase_header.data, f->hash, &v)
        == NULL)
    {
        return NGX_ERROR;
    }

    *sent = v;

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_oneid_find_header(ngx_http_request_t *r, u_char *lowcase, size_t len)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;
    ngx_list_part_t  *part;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncmp(h[i].lowcase_key, lowcase, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * Whether a request was made by a page of this site (or typed in the
 * address bar), so that a link or a form on another site cannot act for
 * the user: "Sec-Fetch-Site" where the browser sends it, else "Origin",
 * else "Referer".  A request that shows none of them is not known to be.
 */

ngx_int_t
ngx_http_oneid_same_origin(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_http_oneid_find_header(r, (u_char *) "sec-fetch-site",
                                   sizeof("sec-fetch-site") - 1);
    if (h != NULL) {
        return ngx_http_oneid_header_is(h, "same-origin")
               || ngx_http_oneid_header_is(h, "none");
    }

    h = ngx_http_oneid_find_header(r, (u_char *) "origin",
                                   sizeof("origin") - 1);
    if (h != NULL && !ngx_http_oneid_header_is(h, "null")) {
        return ngx_http_oneid_is_this_host(r, &h->value);
    }

    h = r->headers_in.referer;
    if (h != NULL) {
        return ngx_http_oneid_is_this_host(r, &h->value);
    }

    return 0;
}


static ngx_int_t
ngx_http_oneid_header_is(ngx_table_elt_t *h, const char *value)
{
    size_t  len;

    len = ngx_strlen(value);

    return h->value.len == len
           && ngx_strncasecmp(h->value.data, (u_char *) value, len) == 0;
}


/* "scheme://authority[/...]" whose authority is this request's Host */

static ngx_int_t
ngx_http_oneid_is_this_host(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char           *p, *last, *host;
    ngx_table_elt_t  *h;

    h = r->headers_in.host;
    if (h == NULL || h->value.len == 0) {
        return 0;
    }

    last = url->data + url->len;

    p = ngx_strlcasestrn(url->data, last, (u_char *) "://", 3 - 1);
    if (p == NULL) {
        return 0;
    }

    host = p + 3;

    for (p = host; p < last; p++) {
        if (*p == '/' || *p == '?' || *p == '#') {
            break;
        }
    }

    return (size_t) (p - host) == h->value.len
           && ngx_strncasecmp(host, h->value.data, h->value.len) == 0;
}


/*
 * Where a browser may be sent after login: a path on this host.  "//x" and
 * "/\x" are network-path references to another host in browsers.
 */

ngx_int_t
ngx_http_oneid_safe_return_uri(ngx_str_t *uri)
{
    u_char  *p, *last;

    if (uri->len == 0 || uri->len > 2048 || uri->data[0] != '/') {
        return NGX_DECLINED;
    }

    if (uri->len > 1 && (uri->data[1] == '/' || uri->data[1] == '\\')) {
        return NGX_DECLINED;
    }

    last = uri->data + uri->len;

    for (p = uri->data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '\\') {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
