
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * What a session looks like in Redis.
 *
 * Key:   <prefix><kind>:<hex SHA-256 of the cookie or state value>, so that
 *        a dump of Redis yields no usable cookie.
 * Value: "2\n<login time>\n<OneID access token>\n<field>\n...\n<field>",
 *        one line per identity field in ngx_http_oneid_fields order.
 *        Version "1" is the same record written before the cookies got
 *        their "__Host-" names: only such a session may still be reached
 *        through a cookie of the old name (a cookie planted under that
 *        name cannot carry a session made since).
 *        "E\n<why>" marks a session ended elsewhere (see
 *        ngx_http_oneid_session.h).
 *        Values never contain control characters (see the OneID parser),
 *        so decoding is a split on "\n" with no copying: this is read on
 *        every authenticated request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_session.h"


#define NGX_HTTP_ONEID_SESSION_FORMAT  "2"
#define NGX_HTTP_ONEID_SESSION_LEGACY  "1"
#define NGX_HTTP_ONEID_SESSION_LINES   (3 + NGX_HTTP_ONEID_NFIELDS)


ngx_int_t
ngx_http_oneid_session_key(ngx_pool_t *pool, ngx_http_oneid_redis_t *rd,
    const char *kind, ngx_str_t *id, ngx_str_t *key)
{
    u_char     *p;
    size_t      kind_len;
    ngx_str_t  *prefix;

    prefix = ngx_http_oneid_redis_prefix(rd);
    kind_len = ngx_strlen(kind);

    key->len = prefix->len + kind_len + 1 + NGX_HTTP_ONEID_SHA256_HEX_LEN;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, prefix->data, prefix->len);
    p = ngx_cpymem(p, kind, kind_len);
    *p++ = ':';

    return ngx_http_oneid_sha256_hex(p, id->data, id->len);
}


ngx_int_t
ngx_http_oneid_session_encode(ngx_pool_t *pool, ngx_http_oneid_identity_t *id,
    ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = sizeof(NGX_HTTP_ONEID_SESSION_FORMAT "\n") - 1
          + NGX_TIME_T_LEN + 1
          + id->access_token.len;

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        len += 1 + id->field[i].len;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_sprintf(p, NGX_HTTP_ONEID_SESSION_FORMAT "\n%T\n%V",
                    id->login_time, &id->access_token);

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        *p++ = '\n';

        /* a field OneID left out has no data at all */
        if (id->field[i].len) {
            p = ngx_cpymem(p, id->field[i].data, id->field[i].len);
        }
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * NGX_DECLINED means "not a session we wrote": another format version or
 * a damaged value.  The caller treats it as no session.
 */

ngx_int_t
ngx_http_oneid_session_decode(ngx_str_t *in, ngx_http_oneid_identity_t *id)
{
    u_char      *p, *last, *nl;
    ngx_str_t    line[NGX_HTTP_ONEID_SESSION_LINES];
    ngx_uint_t   n, i;

    p = in->data;
    last = in->data + in->len;

    for (n = 0; n < NGX_HTTP_ONEID_SESSION_LINES; n++) {
        nl = ngx_strlchr(p, last, '\n');

        if (nl == NULL) {
            nl = last;
        }

        line[n].data = p;
        line[n].len = nl - p;

        if (nl == last) {
            break;
        }

        p = nl + 1;
    }

    if (n != NGX_HTTP_ONEID_SESSION_LINES - 1 || line[0].len != 1) {
        return NGX_DECLINED;
    }

    if (line[0].data[0] == NGX_HTTP_ONEID_SESSION_LEGACY[0]) {
        id->legacy = 1;

    } else if (line[0].data[0] == NGX_HTTP_ONEID_SESSION_FORMAT[0]) {
        id->legacy = 0;

    } else {
        return NGX_DECLINED;
    }

    id->login_time = ngx_atotm(line[1].data, line[1].len);
    if (id->login_time == NGX_ERROR) {
        return NGX_DECLINED;
    }

    id->access_token = line[2];

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        id->field[i] = line[3 + i];
    }

    if (id->field[NGX_HTTP_ONEID_PIN].len == 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* NGX_HTTP_ONEID_ENDED_NOT: not the marker of a session ended elsewhere */

ngx_uint_t
ngx_http_oneid_session_ended(ngx_str_t *in)
{
    ngx_str_t  why;

    if (in->len < 2 || in->data[0] != 'E' || in->data[1] != '\n') {
        return NGX_HTTP_ONEID_ENDED_NOT;
    }

    why.data = in->data + 2;
    why.len = in->len - 2;

    if (why.len == sizeof("evicted") - 1
        && ngx_strncmp(why.data, "evicted", why.len) == 0)
    {
        return NGX_HTTP_ONEID_ENDED_EVICTED;
    }

    if (why.len == sizeof("everywhere") - 1
        && ngx_strncmp(why.data, "everywhere", why.len) == 0)
    {
        return NGX_HTTP_ONEID_ENDED_EVERYWHERE;
    }

    return NGX_HTTP_ONEID_ENDED_REVOKED;
}


/* a session's hash: the end of its key, its name in the cache and logs */

ngx_int_t
ngx_http_oneid_session_hash(ngx_pool_t *pool, ngx_str_t *sid, ngx_str_t *hash)
{
    hash->data = ngx_pnalloc(pool, NGX_HTTP_ONEID_SHA256_HEX_LEN);
    if (hash->data == NULL) {
        return NGX_ERROR;
    }

    hash->len = NGX_HTTP_ONEID_SHA256_HEX_LEN;

    return ngx_http_oneid_sha256_hex(hash->data, sid->data, sid->len);
}
