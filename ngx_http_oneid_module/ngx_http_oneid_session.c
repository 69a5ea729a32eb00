
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * What a session looks like in Redis.
 *
 * Key:    <prefix>session:<hex SHA-256 of the cookie value>, so that a dump
 *         of Redis yields no usable cookie.
 * Value:  "3" then AES-256-GCM (nonce | ciphertext | tag) of the record in
 *         clear, under a key made from the cookie value:
 *         HKDF-SHA256(ikm = cookie value, salt = "ngx_http_oneid_module",
 *         info = "ngx_http_oneid_module session record v1").  Redis
 *         alone never yields a PINFL, a name or a token: the key is only
 *         in the browser.
 * Record: "2\n<login time>\n<OneID access token>\n<field>\n...\n<field>",
 *         one line per identity field in ngx_http_oneid_fields order; the
 *         session cache keeps it in this form.  Values never contain
 *         control characters (see the OneID parser), so decoding is a
 *         split on "\n" with no copying: this runs on every request.
 *         Records in clear ("2", and "1" from before the cookies got their
 *         "__Host-" names) were written before 0.7.0: they are still read
 *         until they expire.  Only a "1" session may still be reached
 *         through a cookie of the old name.
 *         "E\n<why>" marks a session ended elsewhere (see
 *         ngx_http_oneid_session.h).
 *
 * Token:  <prefix>token:<the same hash>, the OneID token kept for as long
 *         as the session may live, to end OneID's session after ours
 *         expired or was ended without its browser:
 *         "3 <sealed under the cookie> <sealed under the server key>",
 *         each base64url, the first under HKDF(info = "ngx_http_oneid_module
 *         session token v1") of the cookie (the browser's own sign-out),
 *         the second under oneid_key_file's key for tokens (an
 *         administrator's revoke, "log out everywhere", the per-user
 *         limit, which have no cookie).  A token in clear is from before
 *         0.7.0.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_key.h"
#include "ngx_http_oneid_session.h"


#define NGX_HTTP_ONEID_SESSION_SEALED  '3'
#define NGX_HTTP_ONEID_SESSION_FORMAT  "2"
#define NGX_HTTP_ONEID_SESSION_LEGACY  "1"
#define NGX_HTTP_ONEID_SESSION_LINES   (3 + NGX_HTTP_ONEID_NFIELDS)

#define NGX_HTTP_ONEID_RECORD_LABEL                                          \
    "ngx_http_oneid_module session record v1"
#define NGX_HTTP_ONEID_TOKEN_LABEL                                           \
    "ngx_http_oneid_module session token v1"


static ngx_int_t ngx_http_oneid_session_unseal(ngx_pool_t *pool,
    ngx_str_t *sid, ngx_str_t *in);
static ngx_int_t ngx_http_oneid_session_parse(ngx_str_t *in,
    ngx_http_oneid_identity_t *id);


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


/* the record of id, sealed under the key of the cookie value sid */

ngx_int_t
ngx_http_oneid_session_encode(ngx_pool_t *pool, ngx_str_t *sid,
    ngx_http_oneid_identity_t *id, ngx_str_t *out)
{
    u_char      *p, key[NGX_HTTP_ONEID_KEY_BYTES];
    size_t       len;
    ngx_str_t    plain;
    ngx_uint_t   i;

    len = sizeof(NGX_HTTP_ONEID_SESSION_FORMAT "\n") - 1
          + NGX_TIME_T_LEN + 1
          + id->access_token.len;

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        len += 1 + id->field[i].len;
    }

    p = ngx_pnalloc(pool, 2 * len + 1 + NGX_HTTP_ONEID_SEAL_OVERHEAD);
    if (p == NULL) {
        return NGX_ERROR;
    }

    plain.data = p;

    p = ngx_sprintf(p, NGX_HTTP_ONEID_SESSION_FORMAT "\n%T\n%V",
                    id->login_time, &id->access_token);

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        *p++ = '\n';

        /* a field OneID left out has no data at all */
        if (id->field[i].len) {
            p = ngx_cpymem(p, id->field[i].data, id->field[i].len);
        }
    }

    plain.len = p - plain.data;

    out->data = p;
    *p = NGX_HTTP_ONEID_SESSION_SEALED;

    if (ngx_http_oneid_hkdf(key, sid->data, sid->len,
                            NGX_HTTP_ONEID_RECORD_LABEL)
        != NGX_OK
        || ngx_http_oneid_seal(key, &plain, p + 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->len = 1 + plain.len + NGX_HTTP_ONEID_SEAL_OVERHEAD;

    ngx_explicit_memzero(plain.data, plain.len);
    ngx_explicit_memzero(key, sizeof(key));

    return NGX_OK;
}


/*
 * A record as Redis or the session cache gave it, for the cookie value
 * sid: a sealed one is opened and in then holds it in clear (the form the
 * cache keeps).  NGX_DECLINED: not a session we wrote (another format or
 * a damaged value); NGX_ABORT: sealed, but not for this cookie or changed
 * since.  The caller treats both as no session.
 */

ngx_int_t
ngx_http_oneid_session_decode(ngx_pool_t *pool, ngx_str_t *sid,
    ngx_str_t *in, ngx_http_oneid_identity_t *id)
{
    ngx_int_t  rc;

    if (in->len && in->data[0] == NGX_HTTP_ONEID_SESSION_SEALED) {
        rc = ngx_http_oneid_session_unseal(pool, sid, in);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_oneid_session_parse(in, id);
}


static ngx_int_t
ngx_http_oneid_session_unseal(ngx_pool_t *pool, ngx_str_t *sid,
    ngx_str_t *in)
{
    u_char     *plain, key[NGX_HTTP_ONEID_KEY_BYTES];
    ngx_int_t   rc;
    ngx_str_t   sealed;

    sealed.data = in->data + 1;
    sealed.len = in->len - 1;

    if (sealed.len < NGX_HTTP_ONEID_SEAL_OVERHEAD) {
        return NGX_DECLINED;
    }

    plain = ngx_pnalloc(pool, sealed.len);
    if (plain == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_oneid_hkdf(key, sid->data, sid->len,
                            NGX_HTTP_ONEID_RECORD_LABEL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_open(key, &sealed, plain);

    ngx_explicit_memzero(key, sizeof(key));

    if (rc == NGX_DECLINED) {
        return NGX_ABORT;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    in->data = plain;
    in->len = sealed.len - NGX_HTTP_ONEID_SEAL_OVERHEAD;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_session_parse(ngx_str_t *in, ngx_http_oneid_identity_t *id)
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


/*
 * The token record of a session (see above); an empty token is kept as
 * nothing at all
 */

ngx_int_t
ngx_http_oneid_session_encode_token(ngx_pool_t *pool,
    ngx_http_oneid_keys_t *keys, ngx_str_t *sid, ngx_str_t *token,
    ngx_str_t *out)
{
    u_char     key[NGX_HTTP_ONEID_KEY_BYTES];
    ngx_int_t  rc;
    ngx_str_t  by_cookie, by_server;

    if (token->len == 0) {
        ngx_str_null(out);
        return NGX_OK;
    }

    if (ngx_http_oneid_hkdf(key, sid->data, sid->len,
                            NGX_HTTP_ONEID_TOKEN_LABEL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_seal_text(pool, key, token, &by_cookie);

    ngx_explicit_memzero(key, sizeof(key));

    if (rc != NGX_OK
        || ngx_http_oneid_key_seal_text(pool, keys, NGX_HTTP_ONEID_KEY_TOKEN,
                                        token, &by_server)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->len = sizeof("3  ") - 1 + by_cookie.len + by_server.len;
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(out->data, "%c %V %V", NGX_HTTP_ONEID_SESSION_SEALED,
                &by_cookie, &by_server);

    return NGX_OK;
}


/*
 * The OneID token of a token record, opened with the cookie value sid
 * (the browser signing itself out) or, without it (sid NULL), with the
 * server keys.  NGX_DECLINED: it cannot be opened (another cookie, a key
 * rotated out, a damaged value).
 */

ngx_int_t
ngx_http_oneid_session_decode_token(ngx_pool_t *pool,
    ngx_http_oneid_keys_t *keys, ngx_str_t *sid, ngx_str_t *in,
    ngx_str_t *token)
{
    u_char     *sp, *last, key[NGX_HTTP_ONEID_KEY_BYTES];
    ngx_int_t   rc;
    ngx_str_t   part;

    if (in->len < 2 || in->data[0] != NGX_HTTP_ONEID_SESSION_SEALED
        || in->data[1] != ' ')
    {
        /* kept in clear before 0.7.0 */
        *token = *in;
        return NGX_OK;
    }

    last = in->data + in->len;
    sp = ngx_strlchr(in->data + 2, last, ' ');

    if (sp == NULL) {
        return NGX_DECLINED;
    }

    if (sid == NULL) {
        part.data = sp + 1;
        part.len = last - part.data;

        return ngx_http_oneid_key_open_text(pool, keys,
                                            NGX_HTTP_ONEID_KEY_TOKEN, &part,
                                            token);
    }

    part.data = in->data + 2;
    part.len = sp - part.data;

    if (ngx_http_oneid_hkdf(key, sid->data, sid->len,
                            NGX_HTTP_ONEID_TOKEN_LABEL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_open_text(pool, key, &part, token);

    ngx_explicit_memzero(key, sizeof(key));

    return rc;
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
