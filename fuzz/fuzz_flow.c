
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The sealed cookie of a login in flight (ngx_http_oneid_flow.c):
 * "<state cookie name>_<first 8 of the state>" =
 * "1<flag>.<issue time>.<return URI, base64url>.<MAC>".
 *
 * The server key is fixed: a key file written once and read by the
 * module's own ngx_http_oneid_key_file(), as the "oneid_key_file"
 * directive does.  The harness recomputes the MAC itself (HKDF of the key
 * with the login-state label, then HMAC-SHA-256 over "<state>.<value up
 * to its last dot>", 16 bytes, base64url), independently of
 * ngx_http_oneid_key.c.
 *
 * The input, in lines: a state; a return URI; four bytes that choose a
 * change (position, byte, time offset); every other line a Cookie header
 * (without the NUL and CR bytes nginx never lets into a header).
 *
 * Arbitrary cookies: flow_check() never crashes; a state shorter than 8
 * is an error; "found" is whether a cookie of the flow's name was sent;
 * a flow accepted comes from one of the first 16 cookies of its name,
 * which has the right shape, a MAC that verifies under the fixed key,
 * and an issue time at most 60 s ahead; its return URI passes
 * ngx_http_oneid_safe_return_uri(); expired (NGX_DONE) exactly when
 * older than oneid_state_timeout.
 *
 * Sealed cookies: flow_start() for a valid state and a return URI the
 * login accepted sets a cookie of the documented shape and MAC; with the
 * planted cookies after it, flow_check() accepts it with the same return
 * URI (shortened as documented), the flag and the issue time; any single
 * byte changed in the value, or another state, is refused; a cookie
 * sealed with a correct MAC but issued more than 60 s ahead is refused,
 * one within the skew accepted, and an old one is expired.
 *
 * ngx_http_oneid_flow_is_state(): exactly 22 base64url characters, the
 * first of which may be "~".
 */


#include "common.h"

#include "ngx_http_oneid_flow.h"
#include "ngx_http_oneid_key.h"


#define FUZZ_MAX_HEADERS  32
#define FUZZ_SEEN         16
#define FUZZ_SKEW         60
#define FUZZ_TIMEOUT      600
#define FUZZ_MAC_LEN      22

/* a fixed server key: what "openssl rand -base64 48" makes */
#define FUZZ_KEY  "0neID-fuzz-server-key/not-a-secret+48bytes0123"


static ngx_http_oneid_main_conf_t   fuzz_omcf;
static void                        *fuzz_main_conf[256];
static u_char                       fuzz_state_key[NGX_HTTP_ONEID_KEY_BYTES];


static const char  fuzz_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static void
fuzz_keys(void)
{
    int                 fd;
    char                path[] = "/tmp/oneid-fuzz-key-XXXXXX";
    ngx_str_t          *arg;
    ngx_pool_t         *pool;
    ngx_conf_t          cf;
    ngx_cycle_t        *cycle;
    fuzz_env_t          env;

    fuzz_start(&env);

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, env.connection->log);
    cycle = ngx_pcalloc(pool, sizeof(ngx_cycle_t));
    if (pool == NULL || cycle == NULL) {
        abort();
    }

    cycle->pool = pool;
    cycle->log = env.connection->log;

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.cycle = cycle;
    cf.log = env.connection->log;

    cf.args = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    if (cf.args == NULL) {
        abort();
    }

    fd = mkstemp(path);
    if (fd == -1
        || fchmod(fd, 0600) == -1
        || write(fd, FUZZ_KEY "\n", sizeof(FUZZ_KEY)) != sizeof(FUZZ_KEY))
    {
        abort();
    }

    close(fd);

    arg = ngx_array_push_n(cf.args, 2);
    if (arg == NULL) {
        abort();
    }

    ngx_str_set(&arg[0], "oneid_key_file");
    arg[1].len = ngx_strlen(path);
    arg[1].data = ngx_pnalloc(pool, arg[1].len + 1);
    if (arg[1].data == NULL) {
        abort();
    }

    ngx_cpystrn(arg[1].data, (u_char *) path, arg[1].len + 1);

    if (ngx_http_oneid_key_file(&cf, &fuzz_omcf.keys) != NGX_CONF_OK) {
        abort();
    }

    unlink(path);

    if (ngx_http_oneid_key_count(fuzz_omcf.keys) != 1
        || !ngx_http_oneid_key_shared(fuzz_omcf.keys))
    {
        abort();
    }

    /* the reference key, made as ngx_http_oneid_key.c documents */

    if (ngx_http_oneid_hkdf(fuzz_state_key, (u_char *) FUZZ_KEY,
                            sizeof(FUZZ_KEY) - 1,
                            "ngx_http_oneid_module login state v1")
        != NGX_OK)
    {
        abort();
    }

    /* no http block ran ngx_count_modules(): the module gets index 0 */

    if (ngx_http_oneid_module.ctx_index == NGX_MODULE_UNSET_INDEX) {
        ngx_http_oneid_module.ctx_index = 0;
    }

    if (ngx_http_oneid_module.ctx_index >= 256) {
        abort();
    }

    fuzz_main_conf[ngx_http_oneid_module.ctx_index] = &fuzz_omcf;

    /* the pool and the keys live as long as the process */

    fuzz_done(&env);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_log_check_lines(1);
    fuzz_keys();
    return 0;
}


static void
fuzz_request(fuzz_env_t *env)
{
    fuzz_start(env);

    env->request->main_conf = fuzz_main_conf;

    if (ngx_list_init(&env->request->headers_out.headers, env->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        abort();
    }
}


static void
fuzz_conf(ngx_http_oneid_loc_conf_t *conf)
{
    ngx_memzero(conf, sizeof(ngx_http_oneid_loc_conf_t));

    ngx_str_set(&conf->state_cookie_name, "__Host-oneid_state");
    ngx_str_set(&conf->browser_cookie_name, "__Host-oneid_browser");
    conf->cookie_secure = 1;
    conf->state_timeout = FUZZ_TIMEOUT;
}


/* the reference MAC of value (up to its last dot) for state, base64url */

static void
fuzz_mac(ngx_pool_t *pool, ngx_str_t *state, ngx_str_t *sealed, u_char *dst)
{
    u_char     *p, md[NGX_HTTP_ONEID_SHA256_BYTES];
    ngx_str_t   data, src, out;

    data.len = state->len + 1 + sealed->len;
    data.data = ngx_pnalloc(pool, data.len);
    if (data.data == NULL) {
        abort();
    }

    p = ngx_cpymem(data.data, state->data, state->len);
    *p++ = '.';
    ngx_memcpy(p, sealed->data, sealed->len);

    if (ngx_http_oneid_hmac(md, fuzz_state_key, sizeof(fuzz_state_key),
                            data.data, data.len)
        != NGX_OK)
    {
        abort();
    }

    src.data = md;
    src.len = 16;
    out.data = dst;

    ngx_encode_base64url(&out, &src);

    fuzz_assert(out.len == FUZZ_MAC_LEN, "the MAC is not 22 characters");
}


static void
fuzz_name(ngx_pool_t *pool, ngx_http_oneid_loc_conf_t *conf,
    ngx_str_t *state, ngx_str_t *name)
{
    u_char  *p;

    name->len = conf->state_cookie_name.len + 1 + 8;
    name->data = ngx_pnalloc(pool, name->len);
    if (name->data == NULL) {
        abort();
    }

    p = ngx_cpymem(name->data, conf->state_cookie_name.data,
                   conf->state_cookie_name.len);
    *p++ = '_';
    ngx_memcpy(p, state->data, 8);
}


/*
 * The reference check of one cookie value: "1[nr].<digits>.<uri64>.<mac>"
 * with the MAC right; *issued is the time (digits that fit).
 */

static ngx_int_t
fuzz_sealed_ok(ngx_pool_t *pool, ngx_str_t *state, ngx_str_t *value,
    time_t *issued)
{
    u_char     *p, *last, *dot, mac[FUZZ_MAC_LEN + 1];
    uint64_t    t;
    ngx_str_t   sealed;

    if (value->len < 3 + 1 + 2 + FUZZ_MAC_LEN
        || value->data[0] != '1'
        || (value->data[1] != 'n' && value->data[1] != 'r')
        || value->data[2] != '.')
    {
        return 0;
    }

    last = value->data + value->len;
    t = 0;

    for (p = value->data + 3; p < last && *p != '.'; p++) {
        if (*p < '0' || *p > '9' || t > (uint64_t) NGX_MAX_TIME_T_VALUE / 10
            || p - (value->data + 3) >= NGX_TIME_T_LEN)
        {
            return 0;
        }

        t = t * 10 + (*p - '0');
    }

    if (p == value->data + 3 || p == last || t > NGX_MAX_TIME_T_VALUE) {
        return 0;
    }

    *issued = (time_t) t;

    dot = last - FUZZ_MAC_LEN - 1;

    if (dot <= p || *dot != '.' || ngx_strlchr(p + 1, dot, '.') != NULL
        || ngx_strlchr(dot + 1, last, '.') != NULL)
    {
        return 0;
    }

    sealed.data = value->data;
    sealed.len = dot - value->data;

    fuzz_mac(pool, state, &sealed, mac);

    return ngx_memcmp(mac, dot + 1, FUZZ_MAC_LEN) == 0;
}


static void
fuzz_add_cookies(fuzz_env_t *env, ngx_str_t *headers, ngx_uint_t n)
{
    ngx_str_t   key;
    ngx_uint_t  i;

    ngx_str_set(&key, "Cookie");

    for (i = 0; i < n; i++) {
        (void) fuzz_add_header(env->request, &key, &headers[i]);
    }
}


/* arbitrary Cookie headers and state */

static void
fuzz_check_any(ngx_str_t *state, ngx_str_t *headers, ngx_uint_t nh)
{
    time_t                      issued, now;
    ngx_int_t                   rc, ok;
    ngx_str_t                   name, *pairs, value;
    ngx_uint_t                  i, j, np, seen, found;
    fuzz_env_t                  env;
    ngx_http_oneid_flow_t       flow;
    ngx_http_oneid_loc_conf_t   conf;

    fuzz_request(&env);
    fuzz_conf(&conf);
    fuzz_add_cookies(&env, headers, nh);

    rc = ngx_http_oneid_flow_check(env.request, &conf, state, &flow);

    if (state->len < 8) {
        fuzz_assert(rc == NGX_ERROR, "a state shorter than 8 was taken");
        fuzz_done(&env);
        return;
    }

    fuzz_assert(rc == NGX_OK || rc == NGX_DONE || rc == NGX_DECLINED,
                "unexpected return code");

    fuzz_name(env.pool, &conf, state, &name);

    /* the reference: the first 16 cookies of the name, in order */

    now = ngx_time();
    seen = 0;
    found = 0;
    ok = 0;

    for (i = 0; i < nh && seen < FUZZ_SEEN; i++) {
        pairs = fuzz_cookie_pairs(env.pool, &headers[i], &np);

        for (j = 0; j < np && seen < FUZZ_SEEN; j++) {
            if (!fuzz_pair_is(&pairs[j], &name)) {
                continue;
            }

            seen++;
            found = 1;

            if (ok) {
                continue;
            }

            value.data = pairs[j].data + name.len + 1;
            value.len = pairs[j].len - name.len - 1;

            while (value.len && (value.data[value.len - 1] == ' '
                                 || value.data[value.len - 1] == '\t'))
            {
                value.len--;
            }

            if (fuzz_sealed_ok(env.pool, state, &value, &issued)
                && issued <= now + FUZZ_SKEW)
            {
                ok = 1;

                if (rc != NGX_DECLINED) {
                    fuzz_assert(flow.issued == issued,
                                "the flow's time is not its cookie's");
                    fuzz_assert(flow.restarted
                                == (value.data[1] == 'r' || state->data[0] == '~'),
                                "restarted flag misread");
                }
            }
        }
    }

    fuzz_assert(flow.found == found, "found a flow cookie that is not there, "
                "or missed one that is");

    fuzz_assert((rc != NGX_DECLINED) == ok,
                "a cookie whose MAC does not verify under the key (or from "
                "the future) was accepted, or a good one refused");

    if (rc != NGX_DECLINED) {
        fuzz_assert(ngx_http_oneid_safe_return_uri(&flow.return_uri)
                    == NGX_OK, "an unsafe return URI from a flow cookie");
        fuzz_assert(flow.issued <= now + FUZZ_SKEW,
                    "a flow issued in the future was accepted");
        fuzz_assert(flow.expired == (now - flow.issued >= FUZZ_TIMEOUT),
                    "expired misjudged");
        fuzz_assert((rc == NGX_DONE) == flow.expired,
                    "NGX_DONE is not \"expired\"");
    }

    fuzz_done(&env);
}


/* flow_check() of one Cookie header value "name=value" and the planted */

static ngx_int_t
fuzz_check_one(ngx_str_t *state, ngx_str_t *name, ngx_str_t *value,
    ngx_str_t *planted, ngx_uint_t np, ngx_http_oneid_flow_t *flow,
    ngx_pool_t *keep)
{
    u_char                     *p;
    ngx_int_t                   rc;
    ngx_str_t                   key, h;
    fuzz_env_t                  env;
    ngx_http_oneid_loc_conf_t   conf;

    fuzz_request(&env);
    fuzz_conf(&conf);

    h.len = name->len + 1 + value->len;
    h.data = ngx_pnalloc(env.pool, h.len);
    p = ngx_cpymem(h.data, name->data, name->len);
    *p++ = '=';
    ngx_memcpy(p, value->data, value->len);

    ngx_str_set(&key, "Cookie");
    (void) fuzz_add_header(env.request, &key, &h);

    fuzz_add_cookies(&env, planted, np);

    rc = ngx_http_oneid_flow_check(env.request, &conf, state, flow);

    /* the URI outlives the request */

    if (flow->return_uri.len) {
        flow->return_uri.data = fuzz_dup(keep, flow->return_uri.data,
                                         flow->return_uri.len);
    }

    fuzz_done(&env);

    return rc;
}


static void
fuzz_seal(fuzz_env_t *keep, ngx_str_t *input_state, ngx_str_t *input_uri,
    ngx_str_t *change, ngx_str_t *planted, ngx_uint_t np)
{
    u_char                     *p, *q, c, mac[FUZZ_MAC_LEN + 1];
    size_t                      len;
    time_t                      now, t;
    ngx_int_t                   rc, restarted;
    ngx_str_t                   state, uri, back, name, value, v2, sealed,
                                s2, uri64, re, *h;
    ngx_uint_t                  i, pos, k, nh;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *hdr;
    fuzz_env_t                  env;
    ngx_http_oneid_flow_t       flow;
    ngx_http_oneid_loc_conf_t   conf;

    /* a state the login would make: the input's, or one made of it */

    if (ngx_http_oneid_flow_is_state(input_state) == NGX_OK) {
        state = *input_state;

    } else {
        state.len = NGX_HTTP_ONEID_STATE_LEN;
        state.data = ngx_pnalloc(keep->pool, state.len);

        for (i = 0; i < state.len; i++) {
            state.data[i] = fuzz_b64url[(i < input_state->len
                                         ? input_state->data[i] : i) & 63];
        }

        if (input_state->len && (input_state->data[0] & 0x80)) {
            state.data[0] = '~';
        }

        fuzz_assert(ngx_http_oneid_flow_is_state(&state) == NGX_OK,
                    "a base64url state was refused");
    }

    restarted = change->len > 0 && (change->data[0] & 1);

    /* the login keeps only a URI safe_return_uri() accepts */

    uri = *input_uri;

    if (ngx_http_oneid_safe_return_uri(&uri) != NGX_OK) {
        ngx_str_set(&uri, "/");
    }

    back = uri;

    if (back.len > NGX_HTTP_ONEID_FLOW_URI_MAX) {
        q = ngx_strlchr(back.data, back.data + back.len, '?');
        back.len = (q ? q : back.data + back.len) - back.data;

        if (back.len > NGX_HTTP_ONEID_FLOW_URI_MAX) {
            ngx_str_set(&back, "/");
        }
    }

    /* the cookie flow_start() sets */

    fuzz_request(&env);
    fuzz_conf(&conf);

    fuzz_assert(ngx_http_oneid_flow_start(env.request, &conf, &state, &uri,
                                          restarted)
                == NGX_OK, "flow_start failed");

    fuzz_name(keep->pool, &conf, &state, &name);

    ngx_str_null(&value);
    nh = 0;

    for (part = &env.request->headers_out.headers.part; part;
         part = part->next)
    {
        hdr = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (hdr[i].value.len > name.len
                && ngx_strncmp(hdr[i].value.data, name.data, name.len) == 0
                && hdr[i].value.data[name.len] == '=')
            {
                p = hdr[i].value.data + name.len + 1;
                q = ngx_strlchr(p, hdr[i].value.data + hdr[i].value.len, ';');
                fuzz_assert(q != NULL, "a flow cookie without attributes");

                value.len = q - p;
                value.data = fuzz_dup(keep->pool, p, value.len);
                nh++;
            }
        }
    }

    fuzz_done(&env);

    fuzz_assert(nh == 1, "not exactly one cookie set for the flow");

    /* its shape: "1<flag>.<now>.<back, base64url>.<MAC>" */

    now = ngx_time();

    uri64.len = ngx_base64_encoded_length(back.len);
    uri64.data = ngx_pnalloc(keep->pool, uri64.len);
    ngx_encode_base64url(&uri64, &back);

    len = 3 + NGX_TIME_T_LEN + 1 + uri64.len + 1 + FUZZ_MAC_LEN;
    s2.data = ngx_pnalloc(keep->pool, len);
    p = ngx_sprintf(s2.data, "1%c.%T.%V", restarted ? 'r' : 'n', now, &uri64);
    s2.len = p - s2.data;

    fuzz_assert(value.len == s2.len + 1 + FUZZ_MAC_LEN
                && ngx_memcmp(value.data, s2.data, s2.len) == 0
                && value.data[s2.len] == '.',
                "the flow cookie has not the documented shape");

    fuzz_mac(keep->pool, &state, &s2, mac);

    fuzz_assert(ngx_memcmp(value.data + s2.len + 1, mac, FUZZ_MAC_LEN) == 0,
                "the flow cookie's MAC is not the documented one");

    /* accepted, planted cookies after it or not */

    rc = fuzz_check_one(&state, &name, &value, planted, np, &flow,
                        keep->pool);

    fuzz_assert(rc == NGX_OK, "a sealed cookie was refused");
    fuzz_assert(fuzz_str_eq(&flow.return_uri, &back),
                "a sealed cookie gives another return URI");
    fuzz_assert(flow.issued == now && !flow.expired && flow.found,
                "a fresh flow misread");
    fuzz_assert(flow.restarted == (restarted || state.data[0] == '~'),
                "restarted flag lost");

    /* any one byte changed: refused */

    pos = 0;
    c = 0x20;

    if (change->len >= 3) {
        pos = (change->data[1] << 8 | change->data[2]) % value.len;
        c = change->data[0];
    }

    v2.len = value.len;
    v2.data = fuzz_dup(keep->pool, value.data, value.len);

    v2.data[pos] ^= (c ? c : 1);

    if (v2.data[pos] == '\0' || v2.data[pos] == '\r'
        || v2.data[pos] == '\n')
    {
        v2.data[pos] = (value.data[pos] == 'A') ? 'B' : 'A';
    }

    rc = fuzz_check_one(&state, &name, &v2, NULL, 0, &flow, keep->pool);

    fuzz_assert(rc == NGX_DECLINED, "a changed flow cookie was accepted");

    /* another state: refused */

    s2.len = state.len;
    s2.data = fuzz_dup(keep->pool, state.data, state.len);
    k = pos % state.len;
    s2.data[k] = (s2.data[k] == 'A') ? 'B' : 'A';

    fuzz_name(keep->pool, &conf, &s2, &v2);

    rc = fuzz_check_one(&s2, &v2, &value, NULL, 0, &flow, keep->pool);

    fuzz_assert(rc == NGX_DECLINED, "a flow cookie taken for another state");

    /* sealed right but issued later than the skew allows: refused */

    h = &re;
    k = change->len >= 4 ? change->data[3] : 0;

    for (i = 0; i < 3; i++) {
        t = (i == 0) ? now + FUZZ_SKEW + 1 + (time_t) k * k * k
            : (i == 1) ? now + (time_t) (k % (FUZZ_SKEW + 1))
            : now - FUZZ_TIMEOUT - (time_t) k;

        h->data = ngx_pnalloc(keep->pool, len);
        p = ngx_sprintf(h->data, "1n.%T.%V", t, &uri64);

        sealed.data = h->data;
        sealed.len = p - h->data;

        *p++ = '.';
        fuzz_mac(keep->pool, &state, &sealed, p);
        h->len = p + FUZZ_MAC_LEN - h->data;

        rc = fuzz_check_one(&state, &name, h, NULL, 0, &flow, keep->pool);

        if (i == 0) {
            fuzz_assert(rc == NGX_DECLINED,
                        "a flow cookie issued in the future was accepted");

        } else if (i == 1) {
            fuzz_assert(rc == NGX_OK && flow.issued == t,
                        "a flow cookie within the clock skew was refused");

        } else {
            fuzz_assert(rc == NGX_DONE && flow.expired,
                        "an old flow cookie is not expired");
        }

        if (rc != NGX_DECLINED) {
            fuzz_assert(fuzz_str_eq(&flow.return_uri, &back),
                        "a resealed cookie gives another return URI");
        }
    }
}


static void
fuzz_is_state(ngx_str_t *state)
{
    ngx_int_t   ok;
    ngx_uint_t  i;

    ok = (state->len == NGX_HTTP_ONEID_STATE_LEN);

    for (i = 0; ok && i < state->len; i++) {
        ok = (ngx_strlchr((u_char *) fuzz_b64url,
                          (u_char *) fuzz_b64url + 64, state->data[i])
              != NULL)
             || (i == 0 && state->data[0] == '~');
    }

    fuzz_assert((ngx_http_oneid_flow_is_state(state) == NGX_OK) == ok,
                "is_state disagrees with the reference");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p, *q, *last;
    ngx_str_t    state, uri, change, line, headers[FUZZ_MAX_HEADERS];
    ngx_uint_t   i, n;
    fuzz_env_t   env;

    fuzz_start(&env);

    p = fuzz_dup(env.pool, data, size);
    last = p + size;

    ngx_str_null(&state);
    ngx_str_null(&uri);
    ngx_str_null(&change);

    (void) fuzz_next_line(&p, last, &state);
    (void) fuzz_next_line(&p, last, &uri);
    (void) fuzz_next_line(&p, last, &change);

    state.data = fuzz_dup(env.pool, state.data, state.len);

    n = 0;

    while (n < FUZZ_MAX_HEADERS
           && fuzz_next_line(&p, last, &line) == NGX_OK)
    {
        q = line.data;

        for (i = 0; i < line.len; i++) {
            if (line.data[i] != '\0' && line.data[i] != '\r') {
                *q++ = line.data[i];
            }
        }

        headers[n].data = line.data;
        headers[n].len = q - line.data;
        n++;
    }

    fuzz_is_state(&state);
    fuzz_check_any(&state, headers, n);
    fuzz_seal(&env, &state, &uri, &change, headers, n);

    fuzz_done(&env);

    return 0;
}
