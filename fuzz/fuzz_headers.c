
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Request headers on their way upstream: the client's identity headers
 * are removed (ngx_http_oneid_strip_identity_headers(), the post-read
 * handler), the real ones added (ngx_http_oneid_set_identity_headers(),
 * percent or raw encoding, again after an internal redirect), and
 * ngx_http_oneid_wants_json() reads Accept, X-Requested-With and
 * Sec-Fetch-Mode (anything but "navigate" is not a page load).
 *
 * The input: a flags byte (bit 0: raw encoding, bit 1: an internal
 * redirect follows, bit 2: oneid_pass_headers off), then one line per
 * identity field (any bytes in percent encoding; without control bytes in
 * raw encoding, as the OneID parser leaves them), then "Name: value"
 * request header lines, without the NUL and CR bytes nginx's parser never
 * lets into a header.
 *
 * Properties: after the post-read handler no header is an identity
 * header ("X-OneID" or "X_OneID", any case, alone or followed by "-" or
 * "_"), every other header is still there in order; after
 * set_identity_headers there is exactly one header per non-empty field,
 * in field order, the other headers are those from before, no Cookie
 * header holds the session or state cookie, and the Cookie index matches
 * the list.  Percent-encoded values are printable ASCII, "%" only as
 * "%XX" (upper-case) of a byte outside printable ASCII or of "%", and
 * decode to the value; raw values are the value.
 */


#include "common.h"


static ngx_str_t  fuzz_session_cookie = ngx_string("oneid_session");
static ngx_str_t  fuzz_state_cookie = ngx_string("oneid_session_state");
static ngx_str_t  fuzz_owner_cookie = ngx_string("oneid_session_owner");
static ngx_str_t  fuzz_post_cookie = ngx_string("oneid_session_post");
static ngx_str_t  fuzz_browser_cookie = ngx_string("oneid_session_browser");


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_log_check_lines(1);
    return 0;
}


static ngx_int_t
fuzz_ref_is_identity(ngx_str_t *key)
{
    u_char  *k;

    if (key->len < 7) {
        return 0;
    }

    k = key->data;

    return (k[0] == 'x' || k[0] == 'X')
           && (k[1] == '-' || k[1] == '_')
           && ngx_strncasecmp(k + 2, (u_char *) "oneid", 5) == 0
           && (key->len == 7 || k[7] == '-' || k[7] == '_');
}


static ngx_int_t
fuzz_is_cookie(ngx_table_elt_t *h)
{
    return h->key.len == 6
           && ngx_strncasecmp(h->key.data, (u_char *) "cookie", 6) == 0;
}


/* case-insensitive search of a lower-case token */

static ngx_int_t
fuzz_ref_contains(ngx_str_t *s, const char *token)
{
    size_t  i, j, n;

    n = ngx_strlen(token);

    for (i = 0; i + n <= s->len; i++) {
        for (j = 0; j < n; j++) {
            if (ngx_tolower(s->data[i + j]) != (u_char) token[j]) {
                break;
            }
        }

        if (j == n) {
            return 1;
        }
    }

    return 0;
}


/* the first header of that name counts */

static ngx_table_elt_t *
fuzz_ref_header(ngx_http_request_t *r, const char *lowcase)
{
    ngx_uint_t         i, n, len;
    ngx_table_elt_t  **all;

    all = fuzz_headers(r, &n);
    len = ngx_strlen(lowcase);

    for (i = 0; i < n; i++) {
        if (all[i]->key.len == len
            && ngx_strncasecmp(all[i]->key.data, (u_char *) lowcase, len)
               == 0)
        {
            return all[i];
        }
    }

    return NULL;
}


static ngx_int_t
fuzz_ref_header_has(ngx_http_request_t *r, const char *lowcase,
    const char *token)
{
    ngx_table_elt_t  *h;

    h = fuzz_ref_header(r, lowcase);

    return h != NULL && fuzz_ref_contains(&h->value, token);
}


static ngx_int_t
fuzz_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    return (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}


static void
fuzz_check_percent(ngx_str_t *enc, ngx_str_t *value)
{
    u_char  c;
    size_t  i, n;

    n = 0;

    for (i = 0; i < enc->len; i++) {
        c = enc->data[i];

        fuzz_assert(c >= 0x20 && c < 0x7f,
                    "a percent-encoded value has a byte outside printable "
                    "ASCII (CR, LF, NUL, UTF-8, ...)");

        if (c == '%') {
            fuzz_assert(i + 2 < enc->len
                        && fuzz_hex(enc->data[i + 1]) >= 0
                        && fuzz_hex(enc->data[i + 2]) >= 0,
                        "\"%\" not followed by two upper-case hex digits");

            c = (u_char) (fuzz_hex(enc->data[i + 1]) * 16
                          + fuzz_hex(enc->data[i + 2]));

            fuzz_assert(c < 0x20 || c >= 0x7f || c == '%',
                        "a printable character was encoded");
            i += 2;
        }

        fuzz_assert(n < value->len && value->data[n] == c,
                    "the encoded value does not decode to the value");
        n++;
    }

    fuzz_assert(n == value->len, "the encoded value is cut short");
}


static void
fuzz_check_set(fuzz_env_t *env, ngx_http_oneid_loc_conf_t *conf,
    ngx_http_oneid_identity_t *id, ngx_table_elt_t **mid, ngx_uint_t nm)
{
    ngx_str_t                v;
    ngx_uint_t               i, j, k, n, nid;
    ngx_table_elt_t        **all, *h;
    ngx_http_oneid_field_t  *f;

    fuzz_check_cookie_index(env->request);

    all = fuzz_headers(env->request, &n);

    nid = 0;

    if (conf->pass_headers) {
        for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
            nid += (id->field[i].len > 0);
        }
    }

    fuzz_assert(n >= nid, "identity headers are missing");

    /* the headers from before, less empty Cookie headers */

    k = 0;

    for (i = 0; i < n - nid; i++) {
        h = all[i];

        fuzz_assert(!fuzz_ref_is_identity(&h->key),
                    "an identity header that the module did not add");

        if (fuzz_is_cookie(h)) {
            fuzz_assert(!fuzz_ref_cookie(env->pool, &h->value,
                                         &conf->cookie_name, &v)
                        && !fuzz_ref_cookie(env->pool, &h->value,
                                            &conf->state_cookie_name, &v),
                        "the session or state cookie reaches the upstream");
            continue;
        }

        while (k < nm && fuzz_is_cookie(mid[k])) {
            k++;
        }

        fuzz_assert(k < nm && fuzz_str_eq(&h->key, &mid[k]->key)
                    && fuzz_str_eq(&h->value, &mid[k]->value),
                    "a request header was changed, added or reordered");
        k++;
    }

    while (k < nm && fuzz_is_cookie(mid[k])) {
        k++;
    }

    fuzz_assert(k == nm, "a request header was lost");

    /* then ours, in field order */

    j = n - nid;

    for (i = 0; conf->pass_headers && i < NGX_HTTP_ONEID_NFIELDS; i++) {
        if (id->field[i].len == 0) {
            continue;
        }

        f = &ngx_http_oneid_fields[i];
        h = all[j++];

        fuzz_assert(fuzz_str_eq(&h->key, &f->header)
                    && ngx_strncmp(h->lowcase_key, f->lowcase_header.data,
                                   f->lowcase_header.len) == 0
                    && h->hash == ngx_hash_key(f->lowcase_header.data,
                                               f->lowcase_header.len),
                    "an identity header with the wrong name or hash");

        if (conf->header_encoding == NGX_HTTP_ONEID_ENCODE_RAW) {
            fuzz_assert(fuzz_str_eq(&h->value, &id->field[i]),
                        "a raw value is not the value");

        } else {
            fuzz_check_percent(&h->value, &id->field[i]);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     *p, *q, *last, *colon, flags;
    ngx_int_t                   had_identity, wants;
    ngx_str_t                   line, key, value;
    ngx_uint_t                  i, n, nm, no;
    ngx_table_elt_t           **orig, **mid, *mode;
    ngx_http_request_t         *r;
    ngx_http_oneid_identity_t   id;
    ngx_http_oneid_loc_conf_t   conf;
    fuzz_env_t                  env;

    if (size == 0) {
        return 0;
    }

    fuzz_start(&env);
    r = env.request;

    flags = data[0];
    p = fuzz_dup(env.pool, data + 1, size - 1);
    last = p + size - 1;

    ngx_memzero(&id, sizeof(id));

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        if (fuzz_next_line(&p, last, &id.field[i]) != NGX_OK) {
            break;
        }

        if (!(flags & 1)) {
            continue;
        }

        /*
         * raw values are passed as they are: the OneID parser has removed
         * control characters from them (what fuzz_idp checks)
         */

        q = id.field[i].data;

        for (n = 0; n < id.field[i].len; n++) {
            if (id.field[i].data[n] >= 0x20 && id.field[i].data[n] != 0x7f) {
                *q++ = id.field[i].data[n];
            }
        }

        id.field[i].len = q - id.field[i].data;
    }

    /* the request headers as the client sent them */

    had_identity = 0;

    while (fuzz_next_line(&p, last, &line) == NGX_OK) {
        q = line.data;

        for (i = 0; i < line.len; i++) {
            if (line.data[i] != '\0' && line.data[i] != '\r') {
                *q++ = line.data[i];
            }
        }

        line.len = q - line.data;

        colon = ngx_strlchr(line.data, line.data + line.len, ':');
        if (colon == NULL) {
            colon = line.data + line.len;
        }

        key.data = line.data;
        key.len = colon - line.data;

        if (key.len == 0) {
            continue;
        }

        value.data = colon + (colon < line.data + line.len);
        value.len = line.data + line.len - value.data;

        while (value.len && (*value.data == ' ' || *value.data == '\t')) {
            value.data++;
            value.len--;
        }

        while (value.len && (value.data[value.len - 1] == ' '
                             || value.data[value.len - 1] == '\t'))
        {
            value.len--;
        }

        had_identity |= fuzz_ref_is_identity(&key);

        (void) fuzz_add_header(r, &key, &value);
    }

    orig = fuzz_headers(r, &no);

    /* the post-read handler */

    fuzz_assert(ngx_http_oneid_strip_identity_headers(r) == NGX_OK,
                "strip_identity_headers failed");

    fuzz_check_cookie_index(r);

    mid = fuzz_headers(r, &nm);
    n = 0;

    for (i = 0; i < no; i++) {
        if (fuzz_ref_is_identity(&orig[i]->key)
            || (had_identity && fuzz_is_cookie(orig[i])
                && orig[i]->value.len == 0))
        {
            continue;
        }

        fuzz_assert(n < nm && fuzz_str_eq(&mid[n]->key, &orig[i]->key)
                    && fuzz_str_eq(&mid[n]->value, &orig[i]->value),
                    "a request header was lost, changed or reordered");
        n++;
    }

    fuzz_assert(n == nm, "a client identity header survived");

    /* the access handler: JSON answers for scripts */

    mode = fuzz_ref_header(r, "sec-fetch-mode");

    wants = fuzz_ref_header_has(r, "x-requested-with", "xmlhttprequest")
            || (mode != NULL
                && !(mode->value.len == 8
                     && ngx_strncasecmp(mode->value.data,
                                        (u_char *) "navigate", 8) == 0))
            || (fuzz_ref_header_has(r, "accept", "json")
                && !fuzz_ref_header_has(r, "accept", "html"));

    fuzz_assert(ngx_http_oneid_wants_json(r) == wants,
                "wants_json disagrees with Accept, X-Requested-With or "
                "Sec-Fetch-Mode");

    /* an authenticated request */

    ngx_memzero(&conf, sizeof(conf));
    conf.cookie_name = fuzz_session_cookie;
    conf.state_cookie_name = fuzz_state_cookie;
    conf.owner_cookie_name = fuzz_owner_cookie;
    conf.post_cookie_name = fuzz_post_cookie;
    conf.browser_cookie_name = fuzz_browser_cookie;
    conf.pass_headers = !(flags & 4);
    conf.header_encoding = (flags & 1) ? NGX_HTTP_ONEID_ENCODE_RAW
                                       : NGX_HTTP_ONEID_ENCODE_PERCENT;

    fuzz_assert(ngx_http_oneid_set_identity_headers(r, &conf, &id) == NGX_OK,
                "set_identity_headers failed");

    fuzz_check_set(&env, &conf, &id, mid, nm);

    if (flags & 2) {
        /* after an internal redirect the access phase runs again */

        r->internal = 1;

        fuzz_assert(ngx_http_oneid_set_identity_headers(r, &conf, &id)
                    == NGX_OK, "set_identity_headers failed");

        fuzz_check_set(&env, &conf, &id, mid, nm);
    }

    fuzz_done(&env);

    return 0;
}
