
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The session cookie and the login-state cookie: reading them, setting
 * them, and keeping them away from the upstream.
 *
 * A browser may send several cookies of one name: one per path and domain
 * it holds, and anybody who can set a cookie for a sibling subdomain, or
 * answer one plain-HTTP request, can add one.  So no value is trusted for
 * coming first: malformed ones are skipped, different session ids are a
 * conflict, and a login cookie counts if any of its values matches.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_util.h"


/* enough to tell one session id from a conflict, and to log how many */
#define NGX_HTTP_ONEID_MAX_SESSION_IDS  8


static ngx_uint_t ngx_http_oneid_token_cookies(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *values, ngx_uint_t max);
static ngx_int_t ngx_http_oneid_cookie_pair(u_char **pos, u_char *last,
    ngx_str_t *pair);
static ngx_int_t ngx_http_oneid_cookie_is(ngx_str_t *pair, ngx_str_t *name);
static ngx_int_t ngx_http_oneid_cookie_next(u_char **pos, u_char *last,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_oneid_cookie_in(ngx_str_t *header,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_oneid_cookie_strip(ngx_http_request_t *r,
    ngx_table_elt_t *h, ngx_str_t *name, ngx_uint_t prefix);
static ngx_int_t ngx_http_oneid_cookie_prefixed(ngx_str_t *pair,
    ngx_str_t *prefix, size_t len);


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


/*
 * The session id this request carries.  NGX_OK: *sid is set, and *old is 1
 * when it came under the name used before the __Host- default (the caller
 * then moves it to the new name).  NGX_DECLINED: no well-formed id.
 * NGX_BUSY: different ids arrived; neither may be trusted, and a redirect
 * would loop, since a cookie of another path or domain cannot be deleted.
 */

ngx_int_t
ngx_http_oneid_session_id(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid, ngx_uint_t *old)
{
    ngx_str_t   *name, ids[NGX_HTTP_ONEID_MAX_SESSION_IDS];
    ngx_uint_t   n;

    *old = 0;
    name = &olcf->cookie_name;

    n = ngx_http_oneid_token_cookies(r, name, ids,
                                     NGX_HTTP_ONEID_MAX_SESSION_IDS);

    if (n == 0 && olcf->old_cookie_name.len) {
        name = &olcf->old_cookie_name;
        n = ngx_http_oneid_token_cookies(r, name, ids,
                                         NGX_HTTP_ONEID_MAX_SESSION_IDS);
        *old = 1;
    }

    if (n == 0) {
        *old = 0;
        return NGX_DECLINED;
    }

    if (n > 1) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: the browser sent %ui%s different \"%V\" "
                      "cookies, none used", n,
                      n == NGX_HTTP_ONEID_MAX_SESSION_IDS ? " or more" : "",
                      name);
        *old = 0;
        return NGX_BUSY;
    }

    *sid = ids[0];

    return NGX_OK;
}


/*
 * The login cookie the state was bound to: NGX_OK if any well-formed
 * value of the cookie hashes to the hex SHA-256 the state recorded.
 */

ngx_int_t
ngx_http_oneid_match_cookie(ngx_http_request_t *r, ngx_str_t *name,
    u_char *hash)
{
    u_char           *p, *last, buf[NGX_HTTP_ONEID_SHA256_HEX_LEN];
    ngx_str_t         v;
    ngx_table_elt_t  *h;

    ngx_http_oneid_for_each_cookie(r, h) {
        p = h->value.data;
        last = h->value.data + h->value.len;

        while (ngx_http_oneid_cookie_next(&p, last, name, &v) == NGX_OK) {
            if (ngx_http_oneid_is_token(&v) != NGX_OK) {
                continue;
            }

            if (ngx_http_oneid_sha256_hex(buf, v.data, v.len) != NGX_OK) {
                return NGX_ERROR;
            }

            if (CRYPTO_memcmp(buf, hash, NGX_HTTP_ONEID_SHA256_HEX_LEN) == 0) {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


/*
 * The first well-formed value of a login cookie: NGX_OK, or NGX_BUSY when
 * there are different ones (the first may then be somebody else's and is
 * not to be reused), or NGX_DECLINED.
 */

ngx_int_t
ngx_http_oneid_get_token_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_str_t   values[2];
    ngx_uint_t  n;

    n = ngx_http_oneid_token_cookies(r, name, values, 2);

    if (n == 0) {
        return NGX_DECLINED;
    }

    *value = values[0];

    return (n == 1) ? NGX_OK : NGX_BUSY;
}


/*
 * A session found under the old name: the browser keeps it under the new
 * one from now on, and forgets the old name, which a sibling subdomain
 * could overwrite.
 */

ngx_int_t
ngx_http_oneid_move_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid)
{
    ngx_str_t  empty;

    ngx_str_null(&empty);

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->cookie_name, sid, -1)
        != NGX_OK
        || ngx_http_oneid_set_cookie(r, olcf, &olcf->old_cookie_name, &empty,
                                     0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oneid: session cookie moved to \"%V\"",
                   &olcf->cookie_name);

    return NGX_OK;
}


/* logout: the browser forgets the session under either name */

ngx_int_t
ngx_http_oneid_expire_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf)
{
    ngx_str_t  empty, value;

    ngx_str_null(&empty);

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->cookie_name, &empty, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (olcf->old_cookie_name.len
        && ngx_http_oneid_get_cookie(r, &olcf->old_cookie_name, &value)
           == NGX_OK
        && ngx_http_oneid_set_cookie(r, olcf, &olcf->old_cookie_name, &empty,
                                     0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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
ngx_http_oneid_hide_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t prefix)
{
    ngx_int_t         rc, emptied;
    ngx_table_elt_t  *h;

    emptied = 0;

    ngx_http_oneid_for_each_cookie(r, h) {
        rc = ngx_http_oneid_cookie_strip(r, h, name, prefix);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            emptied = 1;
        }
    }

    return emptied ? NGX_DECLINED : NGX_OK;
}


/*
 * The cookies whose names are prefix and then len - prefix->len more
 * bytes (the login flows' cookies), at most max of them, in the order the
 * browser sent them; names and values point into the request.
 */

ngx_uint_t
ngx_http_oneid_prefixed_cookies(ngx_http_request_t *r, ngx_str_t *prefix,
    size_t len, ngx_keyval_t *cookies, ngx_uint_t max)
{
    u_char           *p, *last, *eq;
    ngx_str_t         pair;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    n = 0;

    ngx_http_oneid_for_each_cookie(r, h) {
        p = h->value.data;
        last = h->value.data + h->value.len;

        while (n < max
               && ngx_http_oneid_cookie_pair(&p, last, &pair) == NGX_OK)
        {
            if (!ngx_http_oneid_cookie_prefixed(&pair, prefix, len)) {
                continue;
            }

            eq = pair.data + len;

            cookies[n].key.data = pair.data;
            cookies[n].key.len = len;
            cookies[n].value.data = eq + 1;
            cookies[n].value.len = pair.len - len - 1;

            while (cookies[n].value.len
                   && (cookies[n].value.data[cookies[n].value.len - 1] == ' '
                       || cookies[n].value.data[cookies[n].value.len - 1]
                          == '\t'))
            {
                cookies[n].value.len--;
            }

            n++;
        }
    }

    return n;
}


/*
 * The distinct well-formed values of the cookies called name, at most max
 * of them; a malformed one (such as garbage planted with a longer path,
 * which browsers send first) is skipped rather than taken for the session.
 */

static ngx_uint_t
ngx_http_oneid_token_cookies(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *values, ngx_uint_t max)
{
    u_char           *p, *last;
    ngx_str_t         v;
    ngx_uint_t        k, n;
    ngx_table_elt_t  *h;

    n = 0;

    ngx_http_oneid_for_each_cookie(r, h) {
        p = h->value.data;
        last = h->value.data + h->value.len;

        while (ngx_http_oneid_cookie_next(&p, last, name, &v) == NGX_OK) {
            if (ngx_http_oneid_is_token(&v) != NGX_OK) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "oneid: malformed \"%V\" cookie ignored",
                               name);
                continue;
            }

            for (k = 0; k < n; k++) {
                if (values[k].len == v.len
                    && ngx_memcmp(values[k].data, v.data, v.len) == 0)
                {
                    break;
                }
            }

            if (k < n) {
                continue;
            }

            values[n++] = v;

            if (n == max) {
                return n;
            }
        }
    }

    return n;
}


/* the next non-empty piece between ";" from *pos on in a Cookie header */

static ngx_int_t
ngx_http_oneid_cookie_pair(u_char **pos, u_char *last, ngx_str_t *pair)
{
    u_char  *p, *end;

    p = *pos;

    while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
        p++;
    }

    if (p == last) {
        *pos = last;
        return NGX_DECLINED;
    }

    end = ngx_strlchr(p, last, ';');
    if (end == NULL) {
        end = last;
    }

    pair->data = p;
    pair->len = end - p;

    *pos = end;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_cookie_is(ngx_str_t *pair, ngx_str_t *name)
{
    return pair->len > name->len
           && pair->data[name->len] == '='
           && ngx_strncmp(pair->data, name->data, name->len) == 0;
}


/* a "name=value" pair whose name is prefix and more, len bytes in all */

static ngx_int_t
ngx_http_oneid_cookie_prefixed(ngx_str_t *pair, ngx_str_t *prefix,
    size_t len)
{
    return pair->len > len
           && pair->data[len] == '='
           && ngx_strncmp(pair->data, prefix->data, prefix->len) == 0
           && ngx_strlchr(pair->data + prefix->len, pair->data + len, '=')
              == NULL;
}


/* the next "name=value" pair from *pos on in a Cookie header */

static ngx_int_t
ngx_http_oneid_cookie_next(u_char **pos, u_char *last, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_str_t  pair;

    while (ngx_http_oneid_cookie_pair(pos, last, &pair) == NGX_OK) {

        if (!ngx_http_oneid_cookie_is(&pair, name)) {
            continue;
        }

        value->data = pair.data + name->len + 1;
        value->len = pair.len - name->len - 1;

        while (value->len && (value->data[value->len - 1] == ' '
                              || value->data[value->len - 1] == '\t'))
        {
            value->len--;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* value of the first "name=value" pair in a Cookie header */

static ngx_int_t
ngx_http_oneid_cookie_in(ngx_str_t *header, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char  *p;

    p = header->data;

    return ngx_http_oneid_cookie_next(&p, header->data + header->len, name,
                                      value);
}


/* prefix: every cookie whose name starts with name */

static ngx_int_t
ngx_http_oneid_cookie_strip(ngx_http_request_t *r, ngx_table_elt_t *h,
    ngx_str_t *name, ngx_uint_t prefix)
{
    u_char     *p, *last, *dst, *out;
    ngx_str_t   v, pair;

    if (!prefix && ngx_http_oneid_cookie_in(&h->value, name, &v) != NGX_OK) {
        return NGX_OK;
    }

    if (prefix) {
        p = h->value.data;
        last = h->value.data + h->value.len;

        do {
            if (ngx_http_oneid_cookie_pair(&p, last, &pair) != NGX_OK) {
                return NGX_OK;
            }

        } while (pair.len <= name->len
                 || ngx_strncmp(pair.data, name->data, name->len) != 0);
    }

    /* "a=1;b=2" becomes "a=1; b=2": at most one byte more per pair */

    out = ngx_pnalloc(r->pool, 2 * h->value.len);
    if (out == NULL) {
        return NGX_ERROR;
    }

    dst = out;
    p = h->value.data;
    last = h->value.data + h->value.len;

    while (ngx_http_oneid_cookie_pair(&p, last, &pair) == NGX_OK) {

        if (ngx_http_oneid_cookie_is(&pair, name)
            || (prefix && pair.len > name->len
                && ngx_strncmp(pair.data, name->data, name->len) == 0))
        {
            continue;
        }

        if (dst != out) {
            *dst++ = ';';
            *dst++ = ' ';
        }

        dst = ngx_cpymem(dst, pair.data, pair.len);
    }

    h->value.data = out;
    h->value.len = dst - out;

    return h->value.len ? NGX_OK : NGX_DECLINED;
}
