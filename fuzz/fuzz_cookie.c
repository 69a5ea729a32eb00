
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Cookie headers: ngx_http_oneid_get_cookie() reads the session and the
 * login-state cookie, and ngx_http_oneid_set_identity_headers() removes
 * both from the request before it goes upstream (hide_cookie and a
 * rebuild of the header list when a Cookie header is left empty).
 *
 * The input: the first line is the cookie name (letters, digits, "_",
 * "-": what oneid_cookie_name allows, possibly empty), every other line a
 * Cookie header, without the NUL and CR bytes nginx's parser never lets
 * into a header.  The state cookie is "<name>_state", the owner, post and
 * browser cookies "<name>_owner", "_post", "_browser", as by default.  All
 * of them are removed by name, and the login flows' cookies by prefix:
 * every pair that starts with "<name>_state".
 *
 * Read: the value of the first "name=" pair of the first header that has
 * one (fuzz_ref_cookie()).  Removed: no header has either cookie any
 * more; every other pair is still there, in order, byte for byte; a
 * header without our cookies is untouched; a header left empty is gone
 * from the list and from the Cookie index.
 */


#include "common.h"


#define FUZZ_MAX_HEADERS  64


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_log_check_lines(1);
    return 0;
}


/*
 * What set_identity_headers() keeps from the upstream: the session, owner,
 * post and browser cookies by name, and every pair that starts with the
 * state cookie's name (the login flows' cookies "<state>_<8 of state>")
 */

static ngx_int_t
fuzz_hidden(ngx_str_t *pair, ngx_str_t *names, ngx_str_t *state)
{
    ngx_uint_t  i;

    for (i = 0; i < 4; i++) {
        if (fuzz_pair_is(pair, &names[i])) {
            return 1;
        }
    }

    return pair->len > state->len
           && ngx_memcmp(pair->data, state->data, state->len) == 0;
}


static void
fuzz_get(fuzz_env_t *env, ngx_str_t *name, ngx_str_t *orig, ngx_uint_t n)
{
    ngx_str_t   v, ref;
    ngx_int_t   rc, found;
    ngx_uint_t  i;

    ngx_str_null(&v);

    rc = ngx_http_oneid_get_cookie(env->request, name, &v);

    fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED, "unexpected return code");

    found = 0;

    for (i = 0; i < n && !found; i++) {
        found = fuzz_ref_cookie(env->pool, &orig[i], name, &ref);
    }

    fuzz_assert((rc == NGX_OK) == found, "found a cookie that is not there, "
                "or missed one that is");

    if (rc == NGX_OK) {
        fuzz_assert(fuzz_str_eq(&v, &ref), "read the wrong value");
        fuzz_assert(!fuzz_has_byte(&v, ';'), "a value runs into the next "
                    "pair");
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     *p, *q, *last, *n1, *n2;
    ngx_str_t                   line, name, state, key, value, names[4];
    ngx_str_t                   orig[FUZZ_MAX_HEADERS], *before, *after;
    ngx_uint_t                  i, j, n, nb, na, nh, k, rebuilt;
    ngx_table_elt_t           **all;
    ngx_http_oneid_identity_t   id;
    ngx_http_oneid_loc_conf_t   conf;
    fuzz_env_t                  env;

    fuzz_start(&env);

    p = fuzz_dup(env.pool, data, size);
    last = p + size;

    /* the cookie name */

    (void) fuzz_next_line(&p, last, &line);

    n1 = ngx_pnalloc(env.pool, line.len + sizeof("_state"));
    n2 = n1;

    for (i = 0; i < line.len && i < 64; i++) {
        if ((line.data[i] >= 'a' && line.data[i] <= 'z')
            || (line.data[i] >= 'A' && line.data[i] <= 'Z')
            || (line.data[i] >= '0' && line.data[i] <= '9')
            || line.data[i] == '_' || line.data[i] == '-')
        {
            *n2++ = line.data[i];
        }
    }

    name.data = fuzz_dup(env.pool, n1, n2 - n1);
    name.len = n2 - n1;

    state.len = name.len + sizeof("_state") - 1;
    state.data = ngx_pnalloc(env.pool, state.len);
    ngx_memcpy(ngx_cpymem(state.data, name.data, name.len), "_state", 6);

    /* the other cookies named after it, as the configuration makes them */

    names[0] = name;

    for (i = 1; i < 4; i++) {
        const char  *sfx = (i == 1) ? "_owner" : (i == 2) ? "_post"
                                                           : "_browser";

        names[i].len = name.len + ngx_strlen(sfx);
        names[i].data = ngx_pnalloc(env.pool, names[i].len);
        ngx_memcpy(ngx_cpymem(names[i].data, name.data, name.len), sfx,
                   ngx_strlen(sfx));
    }

    /* the Cookie headers */

    ngx_str_set(&key, "Cookie");
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

        value.data = line.data;
        value.len = q - line.data;

        orig[n] = fuzz_add_header(env.request, &key, &value)->value;
        n++;
    }

    fuzz_get(&env, &name, orig, n);
    fuzz_get(&env, &state, orig, n);

    /* removed before the request goes upstream */

    ngx_memzero(&conf, sizeof(conf));
    ngx_memzero(&id, sizeof(id));
    conf.cookie_name = name;
    conf.state_cookie_name = state;
    conf.owner_cookie_name = names[1];
    conf.post_cookie_name = names[2];
    conf.browser_cookie_name = names[3];

    fuzz_assert(ngx_http_oneid_set_identity_headers(env.request, &conf, &id)
                == NGX_OK, "set_identity_headers failed");

    fuzz_check_cookie_index(env.request);

    all = fuzz_headers(env.request, &nh);

    /* a header left empty makes a new list, without any empty Cookie */

    rebuilt = 0;

    for (i = 0; i < n; i++) {
        before = fuzz_cookie_pairs(env.pool, &orig[i], &nb);

        for (j = 0; j < nb; j++) {
            if (!fuzz_hidden(&before[j], names, &state)) {
                break;
            }
        }

        rebuilt |= (nb > 0 && j == nb);
    }

    k = 0;

    for (i = 0; i < n; i++) {
        before = fuzz_cookie_pairs(env.pool, &orig[i], &nb);

        /* what should be left of header i */

        na = 0;

        for (j = 0; j < nb; j++) {
            if (!fuzz_hidden(&before[j], names, &state)) {
                before[na++] = before[j];
            }
        }

        if (orig[i].len == 0 && rebuilt) {
            continue;
        }

        if (na == nb) {
            fuzz_assert(k < nh && fuzz_str_eq(&all[k]->value, &orig[i]),
                        "a header without our cookies was changed");
            k++;
            continue;
        }

        if (na == 0) {
            /* gone from the list */
            continue;
        }

        fuzz_assert(k < nh, "a Cookie header with other cookies is gone");

        after = fuzz_cookie_pairs(env.pool, &all[k]->value, &j);

        fuzz_assert(j == na, "pairs were lost or added");

        for (j = 0; j < na; j++) {
            fuzz_assert(fuzz_str_eq(&after[j], &before[j]),
                        "a pair was changed");
        }

        fuzz_assert(all[k]->value.len > 0, "an empty Cookie header is left");
        k++;
    }

    fuzz_assert(k == nh, "headers were added");

    for (i = 0; i < nh; i++) {
        fuzz_assert(!fuzz_ref_cookie(env.pool, &all[i]->value, &name, &value)
                    && !fuzz_ref_cookie(env.pool, &all[i]->value, &state,
                                        &value),
                    "the session or state cookie reaches the upstream");
    }

    fuzz_done(&env);

    return 0;
}
