
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The state of a login in flight, kept by the browser that started it
 * rather than in Redis, so that an anonymous client costs Redis nothing:
 * one cookie per flow, named after its state, so that tabs signing in at
 * once never overwrite each other's, and sealed with HMAC-SHA-256 under
 * a key of its own made from the server key, so that every node can
 * check what another one issued and nobody can make one.
 *
 *   name:   <state cookie name>_<first 8 characters of the state>
 *   value:  1<flag>.<issue time>.<return URI, base64url>.<MAC>
 *   flag:   "n", or "r" for a restarted flow (never restarted again; its
 *           state starts with "~" too)
 *   MAC:    the first 16 bytes of HMAC-SHA-256 over "<state>.<the value
 *           up to its last dot>", base64url
 *
 * The state itself is in the MAC: a browser holds a valid cookie only for
 * the states it was given, which is what binds a callback to its browser
 * (a "__Host-" cookie cannot be planted by a sibling subdomain).  The
 * value is not encrypted: the URI is the browser's own, the time is not
 * a secret, and encryption would make the cookie longer.
 *
 * The browser cookie, set by the first login start and kept by the
 * others, is what the tabs of one browser share: the session a login of
 * theirs made is given to the next ones of the same user for a minute
 * (ngx_http_oneid_index.c), sealed there under a pad only the browser
 * cookie gives.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_flow.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_key.h"


#define NGX_HTTP_ONEID_FLOW_MAC_BYTES  16
#define NGX_HTTP_ONEID_FLOW_MAC_LEN    22

/* cookies of one flow's name: more than one were planted */
#define NGX_HTTP_ONEID_FLOW_SEEN       16

/* flows a Cookie header within nginx's 8 KB buffers can hold */
#define NGX_HTTP_ONEID_FLOW_ALL        128

/* a clock a little ahead on another node is not a forgery */
#define NGX_HTTP_ONEID_FLOW_SKEW       60


typedef struct {
    ngx_keyval_t                  cookie;
    time_t                        issued;
} ngx_http_oneid_flow_cookie_t;


static ngx_int_t ngx_http_oneid_flow_name(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *name);
static ngx_int_t ngx_http_oneid_flow_mac(ngx_http_request_t *r,
    ngx_uint_t n, ngx_str_t *state, ngx_str_t *sealed, u_char *dst);
static ngx_int_t ngx_http_oneid_flow_parse(ngx_str_t *value, time_t *issued,
    ngx_str_t *uri64, ngx_str_t *sealed, ngx_str_t *mac);
static ngx_int_t ngx_http_oneid_flow_verify(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *value,
    ngx_http_oneid_flow_t *flow);
static ngx_int_t ngx_http_oneid_flow_room(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, size_t len);
static int ngx_libc_cdecl ngx_http_oneid_flow_older(const void *one,
    const void *two);
static ngx_int_t ngx_http_oneid_flow_browser(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf);
static ngx_int_t ngx_http_oneid_flow_pad(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *pinfl, u_char *pad);


/*
 * A fresh state: what OneID gets, and what names the flow's cookie.  The
 * state of a restarted flow says so itself, so that a browser that keeps
 * no cookies at all cannot be restarted in a loop either.
 */

ngx_int_t
ngx_http_oneid_flow_state(ngx_http_request_t *r, ngx_str_t *state,
    ngx_uint_t restarted)
{
    if (ngx_http_oneid_random_string(r, NGX_HTTP_ONEID_STATE_BYTES, state)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (restarted) {
        state->data[0] = NGX_HTTP_ONEID_STATE_RESTARTED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_oneid_flow_is_state(ngx_str_t *state)
{
    u_char  c, *p, *last;

    if (state->len != NGX_HTTP_ONEID_STATE_LEN) {
        return NGX_DECLINED;
    }

    last = state->data + state->len;

    p = state->data;

    if (*p == NGX_HTTP_ONEID_STATE_RESTARTED) {
        p++;
    }

    for ( /* void */ ; p < last; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A login starts: the flow's cookie, after the oldest flows of the
 * browser made room for it, and the browser cookie its tabs share.
 */

ngx_int_t
ngx_http_oneid_flow_start(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *uri,
    ngx_uint_t restarted)
{
    u_char     *p, *q;
    ngx_str_t   name, value, back, sealed;

    back = *uri;

    if (back.len > NGX_HTTP_ONEID_FLOW_URI_MAX) {
        q = ngx_strlchr(back.data, back.data + back.len, '?');
        back.len = (q ? q : back.data + back.len) - back.data;

        if (back.len > NGX_HTTP_ONEID_FLOW_URI_MAX) {
            ngx_str_set(&back, "/");
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: return URI of %uz bytes shortened to \"%V\"",
                      uri->len, &back);
    }

    if (ngx_http_oneid_flow_name(r, olcf, state, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    value.len = sizeof("1n.") - 1 + NGX_TIME_T_LEN + 1
                + ngx_base64_encoded_length(back.len) + 1
                + NGX_HTTP_ONEID_FLOW_MAC_LEN;
    value.data = ngx_pnalloc(r->pool, value.len);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(value.data, "1%c.%T.", restarted ? 'r' : 'n', ngx_time());

    sealed.data = p;
    ngx_encode_base64url(&sealed, &back);
    p += sealed.len;

    sealed.data = value.data;
    sealed.len = p - value.data;

    *p++ = '.';

    if (ngx_http_oneid_flow_mac(r, 0, state, &sealed, p) != NGX_OK) {
        return NGX_ERROR;
    }

    value.len = p + NGX_HTTP_ONEID_FLOW_MAC_LEN - value.data;

    if (ngx_http_oneid_flow_room(r, olcf, name.len + 1 + value.len) != NGX_OK
        || ngx_http_oneid_set_cookie(r, olcf, &name, &value,
                                     olcf->state_timeout)
           != NGX_OK
        || ngx_http_oneid_flow_browser(r, olcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The flow of a callback's state, from any of the browser's cookies of
 * its name whose MAC verifies (others may be planted).  NGX_OK: valid;
 * NGX_DONE: valid but older than oneid_state_timeout (a browser kept it
 * longer); NGX_DECLINED: no such flow in this browser.
 */

ngx_int_t
ngx_http_oneid_flow_check(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state,
    ngx_http_oneid_flow_t *flow)
{
    ngx_str_t     name;
    ngx_int_t     rc;
    ngx_uint_t    i, n;
    ngx_keyval_t  cookies[NGX_HTTP_ONEID_FLOW_SEEN];

    ngx_memzero(flow, sizeof(ngx_http_oneid_flow_t));

    if (ngx_http_oneid_flow_name(r, olcf, state, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    n = ngx_http_oneid_prefixed_cookies(r, &name, name.len, cookies,
                                        NGX_HTTP_ONEID_FLOW_SEEN);

    flow->found = (n > 0);

    for (i = 0; i < n; i++) {
        rc = ngx_http_oneid_flow_verify(r, olcf, state, &cookies[i].value,
                                        flow);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}


/* the flow is over: its cookie goes */

ngx_int_t
ngx_http_oneid_flow_end(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state)
{
    ngx_str_t  name, empty;

    if (ngx_http_oneid_flow_name(r, olcf, state, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(&empty);

    return ngx_http_oneid_set_cookie(r, olcf, &name, &empty, 0);
}


/*
 * What the tabs of this browser share for the user of pinfl: the Redis
 * key under which the session of their first login is named, and that
 * session id sealed (hex) under a pad that only the browser cookie gives,
 * so that Redis never holds a usable session id.  NGX_DECLINED: the
 * browser has no (single) browser cookie.
 */

ngx_int_t
ngx_http_oneid_flow_tabs(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *pinfl, ngx_str_t *sid,
    ngx_str_t *key, ngx_str_t *sealed)
{
    u_char                      *p, pad[NGX_HTTP_ONEID_SHA256_BYTES];
    u_char                       raw[NGX_HTTP_ONEID_SHA256_BYTES];
    ngx_str_t                    browser, data, *prefix, bytes;
    ngx_uint_t                   i;
    ngx_http_oneid_main_conf_t  *omcf;

    if (ngx_http_oneid_get_token_cookie(r, &olcf->browser_cookie_name,
                                        &browser)
        != NGX_OK
        || sid->len != NGX_HTTP_ONEID_TOKEN_LEN)
    {
        return NGX_DECLINED;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);
    prefix = ngx_http_oneid_redis_prefix(omcf->redis);

    /* the key: "tabs\n<browser>\n<pinfl>" hashed */

    data.len = sizeof("tabs\n") - 1 + browser.len + 1 + pinfl->len;
    data.data = ngx_pnalloc(r->pool, data.len);
    if (data.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(data.data, "tabs\n", sizeof("tabs\n") - 1);
    p = ngx_cpymem(p, browser.data, browser.len);
    *p++ = '\n';
    ngx_memcpy(p, pinfl->data, pinfl->len);

    key->len = prefix->len + sizeof("tabs:") - 1
               + NGX_HTTP_ONEID_SHA256_HEX_LEN;
    key->data = ngx_pnalloc(r->pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, prefix->data, prefix->len);
    p = ngx_cpymem(p, "tabs:", sizeof("tabs:") - 1);

    if (ngx_http_oneid_sha256_hex(p, data.data, data.len) != NGX_OK
        || ngx_http_oneid_flow_pad(r, olcf, pinfl, pad) != NGX_OK)
    {
        return NGX_ERROR;
    }

    bytes.data = raw;

    if (ngx_decode_base64url(&bytes, sid) != NGX_OK
        || bytes.len != NGX_HTTP_ONEID_SHA256_BYTES)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ONEID_SHA256_BYTES; i++) {
        raw[i] ^= pad[i];
    }

    sealed->len = NGX_HTTP_ONEID_SHA256_HEX_LEN;
    sealed->data = ngx_pnalloc(r->pool, sealed->len);
    if (sealed->data == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(sealed->data, raw, NGX_HTTP_ONEID_SHA256_BYTES);

    ngx_explicit_memzero(raw, sizeof(raw));
    ngx_explicit_memzero(pad, sizeof(pad));

    return NGX_OK;
}


/* the session id the tabs share, from what flow_tabs() sealed */

ngx_int_t
ngx_http_oneid_flow_unseal(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *pinfl, ngx_str_t *sealed,
    ngx_str_t *sid)
{
    u_char      pad[NGX_HTTP_ONEID_SHA256_BYTES];
    u_char      raw[NGX_HTTP_ONEID_SHA256_BYTES];
    ngx_int_t   hi, lo;
    ngx_str_t   bytes;
    ngx_uint_t  i;

    if (sealed->len != NGX_HTTP_ONEID_SHA256_HEX_LEN
        || ngx_http_oneid_flow_pad(r, olcf, pinfl, pad) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ONEID_SHA256_BYTES; i++) {
        hi = ngx_hextoi(&sealed->data[2 * i], 1);
        lo = ngx_hextoi(&sealed->data[2 * i + 1], 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        raw[i] = (u_char) ((hi << 4 | lo) ^ pad[i]);
    }

    sid->data = ngx_pnalloc(r->pool, NGX_HTTP_ONEID_TOKEN_LEN + 1);
    if (sid->data == NULL) {
        return NGX_ERROR;
    }

    bytes.data = raw;
    bytes.len = NGX_HTTP_ONEID_SHA256_BYTES;

    ngx_encode_base64url(sid, &bytes);

    ngx_explicit_memzero(raw, sizeof(raw));
    ngx_explicit_memzero(pad, sizeof(pad));

    return ngx_http_oneid_is_token(sid) == NGX_OK ? NGX_OK : NGX_ERROR;
}


/* "<state cookie name>_<first 8 of the state>" */

static ngx_int_t
ngx_http_oneid_flow_name(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *name)
{
    u_char  *p;

    if (state->len < NGX_HTTP_ONEID_FLOW_ID_LEN) {
        return NGX_ERROR;
    }

    name->len = olcf->state_cookie_name.len + 1 + NGX_HTTP_ONEID_FLOW_ID_LEN;
    name->data = ngx_pnalloc(r->pool, name->len);
    if (name->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name->data, olcf->state_cookie_name.data,
                   olcf->state_cookie_name.len);
    *p++ = '_';
    ngx_memcpy(p, state->data, NGX_HTTP_ONEID_FLOW_ID_LEN);

    return NGX_OK;
}


/* the MAC of a flow's cookie under server key n, base64url */

static ngx_int_t
ngx_http_oneid_flow_mac(ngx_http_request_t *r, ngx_uint_t n,
    ngx_str_t *state, ngx_str_t *sealed, u_char *dst)
{
    u_char                      *p, md[NGX_HTTP_ONEID_SHA256_BYTES];
    ngx_str_t                    data, src, out;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    data.len = state->len + 1 + sealed->len;
    data.data = ngx_pnalloc(r->pool, data.len);
    if (data.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(data.data, state->data, state->len);
    *p++ = '.';
    ngx_memcpy(p, sealed->data, sealed->len);

    if (ngx_http_oneid_key_mac(omcf->keys, n, NGX_HTTP_ONEID_KEY_LOGIN_STATE,
                               &data, md)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oneid: cannot seal a login state");
        return NGX_ERROR;
    }

    src.data = md;
    src.len = NGX_HTTP_ONEID_FLOW_MAC_BYTES;
    out.data = dst;

    ngx_encode_base64url(&out, &src);

    return NGX_OK;
}


/*
 * "1<flag>.<time>.<uri64>.<mac>": the time, the URI, what the MAC covers
 * and the MAC; the flag is sealed->data[1].
 */

static ngx_int_t
ngx_http_oneid_flow_parse(ngx_str_t *value, time_t *issued,
    ngx_str_t *uri64, ngx_str_t *sealed, ngx_str_t *mac)
{
    u_char  *p, *last, *dot;

    last = value->data + value->len;

    if (value->len < sizeof("1n.0..") - 1 + NGX_HTTP_ONEID_FLOW_MAC_LEN
        || value->data[0] != '1'
        || (value->data[1] != 'n' && value->data[1] != 'r')
        || value->data[2] != '.')
    {
        return NGX_DECLINED;
    }

    p = value->data + 3;

    dot = ngx_strlchr(p, last, '.');
    if (dot == NULL || dot == p || (size_t) (dot - p) > NGX_TIME_T_LEN) {
        return NGX_DECLINED;
    }

    *issued = ngx_atotm(p, dot - p);
    if (*issued == NGX_ERROR) {
        return NGX_DECLINED;
    }

    p = dot + 1;

    dot = ngx_strlchr(p, last, '.');
    if (dot == NULL || last - dot - 1 != NGX_HTTP_ONEID_FLOW_MAC_LEN) {
        return NGX_DECLINED;
    }

    uri64->data = p;
    uri64->len = dot - p;

    sealed->data = value->data;
    sealed->len = dot - value->data;

    mac->data = dot + 1;
    mac->len = NGX_HTTP_ONEID_FLOW_MAC_LEN;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_flow_verify(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *value,
    ngx_http_oneid_flow_t *flow)
{
    u_char                       buf[NGX_HTTP_ONEID_FLOW_MAC_LEN + 1];
    time_t                       issued, now;
    ngx_str_t                    uri64, sealed, mac, *uri;
    ngx_uint_t                   n, keys;
    ngx_http_oneid_main_conf_t  *omcf;

    if (ngx_http_oneid_flow_parse(value, &issued, &uri64, &sealed, &mac)
        != NGX_OK)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "oneid: malformed login flow cookie ignored");
        return NGX_DECLINED;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);
    keys = ngx_http_oneid_key_count(omcf->keys);

    /* the current key, then the ones before a rotation */

    for (n = 0; n < keys; n++) {
        if (ngx_http_oneid_flow_mac(r, n, state, &sealed, buf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (CRYPTO_memcmp(buf, mac.data, NGX_HTTP_ONEID_FLOW_MAC_LEN) == 0) {
            break;
        }
    }

    if (n == keys) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "oneid: login flow cookie does not verify");
        return NGX_DECLINED;
    }

    now = ngx_time();

    if (issued > now + NGX_HTTP_ONEID_FLOW_SKEW) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: login flow cookie issued in the future, "
                      "ignored (are the nodes' clocks apart?)");
        return NGX_DECLINED;
    }

    uri = &flow->return_uri;

    uri->data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(uri64.len));
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(uri, &uri64) != NGX_OK
        || ngx_http_oneid_safe_return_uri(uri) != NGX_OK)
    {
        ngx_str_set(uri, "/");
    }

    flow->issued = issued;
    flow->restarted = (sealed.data[1] == 'r'
                       || state->data[0] == NGX_HTTP_ONEID_STATE_RESTARTED);
    flow->expired = (now - issued >= olcf->state_timeout);

    return flow->expired ? NGX_DONE : NGX_OK;
}


/*
 * The browser keeps at most NGX_HTTP_ONEID_FLOW_MAX flows, within
 * NGX_HTTP_ONEID_FLOW_BUDGET bytes, so that its Cookie header never comes
 * near the 4 KB servers accept: the oldest go first (malformed ones are
 * the oldest).
 */

static ngx_int_t
ngx_http_oneid_flow_room(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, size_t len)
{
    size_t                         total;
    ngx_str_t                      prefix, uri64, sealed, mac, empty;
    ngx_uint_t                     i, n;
    ngx_keyval_t                  *cookies;
    ngx_http_oneid_flow_cookie_t  *flows;

    cookies = ngx_palloc(r->pool, NGX_HTTP_ONEID_FLOW_ALL
                                  * (sizeof(ngx_keyval_t)
                                     + sizeof(ngx_http_oneid_flow_cookie_t)));
    if (cookies == NULL) {
        return NGX_ERROR;
    }

    flows = (ngx_http_oneid_flow_cookie_t *)
                (cookies + NGX_HTTP_ONEID_FLOW_ALL);

    prefix.len = olcf->state_cookie_name.len + 1;
    prefix.data = ngx_pnalloc(r->pool, prefix.len);
    if (prefix.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(prefix.data, olcf->state_cookie_name.data, prefix.len - 1);
    prefix.data[prefix.len - 1] = '_';

    n = ngx_http_oneid_prefixed_cookies(r, &prefix,
                                        prefix.len
                                        + NGX_HTTP_ONEID_FLOW_ID_LEN,
                                        cookies, NGX_HTTP_ONEID_FLOW_ALL);

    total = len + 2;

    for (i = 0; i < n; i++) {
        flows[i].cookie = cookies[i];

        if (ngx_http_oneid_flow_parse(&cookies[i].value, &flows[i].issued,
                                      &uri64, &sealed, &mac)
            != NGX_OK)
        {
            flows[i].issued = 0;
        }

        total += cookies[i].key.len + 1 + cookies[i].value.len + 2;
    }

    ngx_qsort(flows, n, sizeof(ngx_http_oneid_flow_cookie_t),
              ngx_http_oneid_flow_older);

    ngx_str_null(&empty);

    for (i = 0;
         i < n && (n - i + 1 > NGX_HTTP_ONEID_FLOW_MAX
                   || total > NGX_HTTP_ONEID_FLOW_BUDGET);
         i++)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "oneid: login flow \"%V\" dropped for a new one",
                       &flows[i].cookie.key);

        if (ngx_http_oneid_set_cookie(r, olcf, &flows[i].cookie.key, &empty,
                                      0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        total -= flows[i].cookie.key.len + 1 + flows[i].cookie.value.len + 2;
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_oneid_flow_older(const void *one, const void *two)
{
    const ngx_http_oneid_flow_cookie_t  *a = one;
    const ngx_http_oneid_flow_cookie_t  *b = two;

    return (a->issued > b->issued) - (a->issued < b->issued);
}


/*
 * The browser cookie: kept if the browser has one, so that the tabs that
 * start logins at once all end up with the same; made otherwise.  It
 * lives as long as a flow.
 */

static ngx_int_t
ngx_http_oneid_flow_browser(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf)
{
    ngx_str_t  browser;

    if (ngx_http_oneid_get_token_cookie(r, &olcf->browser_cookie_name,
                                        &browser)
        != NGX_OK
        && ngx_http_oneid_random_token(r, &browser) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_oneid_set_cookie(r, olcf, &olcf->browser_cookie_name,
                                     &browser, olcf->state_timeout);
}


/* what seals the shared session id: HMAC(browser cookie, "sid\n<pinfl>") */

static ngx_int_t
ngx_http_oneid_flow_pad(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *pinfl, u_char *pad)
{
    u_char     *p;
    ngx_str_t   browser, data;

    if (ngx_http_oneid_get_token_cookie(r, &olcf->browser_cookie_name,
                                        &browser)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    data.len = sizeof("sid\n") - 1 + pinfl->len;
    data.data = ngx_pnalloc(r->pool, data.len);
    if (data.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(data.data, "sid\n", sizeof("sid\n") - 1);
    ngx_memcpy(p, pinfl->data, pinfl->len);

    return ngx_http_oneid_hmac(pad, browser.data, browser.len, data.data,
                               data.len);
}
