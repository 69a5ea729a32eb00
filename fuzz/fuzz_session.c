
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The session record kept in Redis (ngx_http_oneid_session.c): "3" and
 * the sealed record, or, from earlier releases, the record in clear,
 * "2\n<login time>\n<access token>\n" and one line per identity field,
 * "1" the same from before the "__Host-" cookies ("legacy").
 *
 * Decoding (the input as a Redis value, for one cookie): a record in
 * clear is accepted only with format "1" or "2" (legacy exactly for "1"),
 * a decimal login time, exactly 13 lines and a pin; every value is a
 * piece of the record with no "\n"; a sealed one made up is never
 * accepted.  Encoding what was decoded and decoding that again gives the
 * same identity, under the same cookie only; one byte changed anywhere in
 * the sealed record and it is refused; a long pin is not in it.
 *
 * Encoding (the input cut into values on "\n", as the OneID parser
 * guarantees no value holds one): decoding the record gives back every
 * value, the token and the login time; refused only without a pin.
 */


#include "common.h"


#define FUZZ_LINES  (3 + NGX_HTTP_ONEID_NFIELDS)


static ngx_str_t  fuzz_sid =
    ngx_string("0123456789abcdefghijABCDEFGHIJ-_0123456789a");
static ngx_str_t  fuzz_other_sid =
    ngx_string("0123456789abcdefghijABCDEFGHIJ-_0123456789b");


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_log_check_lines(1);
    return 0;
}


static void fuzz_sealed(fuzz_env_t *env, ngx_str_t *out,
    ngx_http_oneid_identity_t *id);


static ngx_int_t
fuzz_within(ngx_str_t *part, ngx_str_t *whole)
{
    return part->len == 0
           || (part->data >= whole->data
               && part->data + part->len <= whole->data + whole->len);
}


static void
fuzz_same_identity(ngx_http_oneid_identity_t *a, ngx_http_oneid_identity_t *b,
    const char *what)
{
    ngx_uint_t  i;

    fuzz_assert(a->login_time == b->login_time, what);
    fuzz_assert(fuzz_str_eq(&a->access_token, &b->access_token), what);

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        fuzz_assert(fuzz_str_eq(&a->field[i], &b->field[i]), what);
    }
}


static void
fuzz_decode(fuzz_env_t *env, ngx_str_t *in)
{
    u_char                     *p, *last;
    time_t                      t;
    ngx_int_t                   rc, digits;
    ngx_str_t                   line[FUZZ_LINES], out, *f;
    ngx_uint_t                  i, nl;
    ngx_http_oneid_identity_t   id;

    ngx_memzero(&id, sizeof(id));

    rc = ngx_http_oneid_session_decode(env->pool, &fuzz_sid, in, &id);

    fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_ABORT,
                "unexpected return code");
    fuzz_assert(rc != NGX_OK || in->data[0] != '3',
                "a sealed record made up was accepted");

    /* the reference: 13 lines, "1" or "2", digits, a pin */

    nl = 0;
    last = in->data + in->len;

    for (p = in->data; p < last; p++) {
        if (*p == '\n') {
            nl++;
        }
    }

    if (nl == FUZZ_LINES - 1) {
        p = in->data;

        for (i = 0; i < FUZZ_LINES; i++) {
            (void) fuzz_next_line(&p, last, &line[i]);
        }

        digits = line[1].len > 0 && line[1].len <= 18;

        for (i = 0; digits && i < line[1].len; i++) {
            digits = line[1].data[i] >= '0' && line[1].data[i] <= '9';
        }

        if (line[0].len == 1
            && (line[0].data[0] == '1' || line[0].data[0] == '2') && digits
            && line[3].len > 0)
        {
            fuzz_assert(rc == NGX_OK, "a well-formed record was refused");
        }
    }

    if (rc != NGX_OK) {
        return;
    }

    fuzz_assert(nl == FUZZ_LINES - 1, "accepted a record of the wrong size");
    fuzz_assert(in->len >= 2 && (in->data[0] == '1' || in->data[0] == '2')
                && in->data[1] == '\n',
                "accepted another format version");
    fuzz_assert(id.legacy == (in->data[0] == '1'), "legacy flag misread");
    fuzz_assert(id.login_time >= 0, "negative login time");
    fuzz_assert(id.field[NGX_HTTP_ONEID_PIN].len > 0, "accepted without pin");

    t = 0;

    for (p = line[1].data; p < line[1].data + line[1].len; p++) {
        fuzz_assert(*p >= '0' && *p <= '9', "login time is not decimal");
        t = t * 10 + (*p - '0');
    }

    fuzz_assert(t == id.login_time, "login time misread");

    fuzz_assert(fuzz_within(&id.access_token, in)
                && !fuzz_has_byte(&id.access_token, '\n'),
                "token is not one line of the record");

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        f = &id.field[i];
        fuzz_assert(fuzz_within(f, in) && !fuzz_has_byte(f, '\n'),
                    "field is not one line of the record");
        fuzz_assert(fuzz_str_eq(f, &line[3 + i]), "field from the wrong line");
    }

    fuzz_assert(ngx_http_oneid_session_encode(env->pool, &fuzz_sid, &id,
                                              &out)
                == NGX_OK,
                "encode failed");

    fuzz_sealed(env, &out, &id);
}


/* a record this release wrote, for the identity it was made of */

static void
fuzz_sealed(fuzz_env_t *env, ngx_str_t *out, ngx_http_oneid_identity_t *id)
{
    u_char                     *copy;
    ngx_str_t                   value, *pin;
    ngx_uint_t                  i;
    ngx_http_oneid_identity_t   id2;

    fuzz_assert(out->len > 0 && out->data[0] == '3', "written in clear");

    pin = &id->field[NGX_HTTP_ONEID_PIN];

    if (pin->len >= 8) {
        for (i = 0; i + pin->len <= out->len; i++) {
            /* binary: a pin may hold NULs, which strings would stop at */
            fuzz_assert(ngx_memcmp(out->data + i, pin->data, pin->len) != 0,
                        "the pin is in the sealed record");
        }
    }

    copy = ngx_pnalloc(env->pool, out->len);
    fuzz_assert(copy != NULL, "no memory");

    /* another cookie opens nothing */

    ngx_memcpy(copy, out->data, out->len);
    value.data = copy;
    value.len = out->len;
    ngx_memzero(&id2, sizeof(id2));

    fuzz_assert(ngx_http_oneid_session_decode(env->pool, &fuzz_other_sid,
                                              &value, &id2)
                == NGX_ABORT,
                "a sealed record opened with another cookie");

    /* one byte changed (the one the token's length points at) */

    i = 1 + (id->access_token.len % (out->len - 1));
    ngx_memcpy(copy, out->data, out->len);
    copy[i] ^= 0x01;
    value.data = copy;
    value.len = out->len;

    fuzz_assert(ngx_http_oneid_session_decode(env->pool, &fuzz_sid, &value,
                                              &id2)
                == NGX_ABORT,
                "a changed sealed record was accepted");

    value = *out;
    ngx_memzero(&id2, sizeof(id2));

    fuzz_assert(ngx_http_oneid_session_decode(env->pool, &fuzz_sid, &value,
                                              &id2)
                == NGX_OK,
                "a re-encoded record is refused");

    fuzz_same_identity(id, &id2, "decode(encode(decode(x))) differs");
    fuzz_assert(!id2.legacy, "this release wrote a record of format 1");
}


static void
fuzz_encode(fuzz_env_t *env, ngx_str_t *in)
{
    u_char                     *p, *last;
    uint64_t                    t;
    ngx_int_t                   rc;
    ngx_str_t                   piece, out;
    ngx_uint_t                  i, n;
    ngx_http_oneid_identity_t   id, id2;

    ngx_memzero(&id, sizeof(id));

    p = in->data;
    last = in->data + in->len;
    n = 0;
    t = 0;

    while (fuzz_next_line(&p, last, &piece) == NGX_OK) {

        if (n == 0) {
            /* up to 8 bytes of login time; ngx_time() is never negative */

            for (i = 0; i < piece.len && i < 8; i++) {
                t = (t << 8) | piece.data[i];
            }

            id.login_time = (time_t) (t & NGX_MAX_TIME_T_VALUE);

        } else if (n == 1) {
            id.access_token = piece;

        } else if (n - 2 < NGX_HTTP_ONEID_NFIELDS) {
            id.field[n - 2] = piece;

        } else {
            break;
        }

        n++;
    }

    fuzz_assert(ngx_http_oneid_session_encode(env->pool, &fuzz_sid, &id,
                                              &out)
                == NGX_OK,
                "encode failed");

    ngx_memzero(&id2, sizeof(id2));

    rc = ngx_http_oneid_session_decode(env->pool, &fuzz_sid, &out, &id2);

    if (id.field[NGX_HTTP_ONEID_PIN].len == 0) {
        fuzz_assert(rc == NGX_DECLINED, "a record without pin was accepted");
        return;
    }

    fuzz_assert(rc == NGX_OK, "decode refused what encode wrote");
    fuzz_same_identity(&id, &id2, "decode(encode(id)) differs from id");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t   in;
    fuzz_env_t  env;

    fuzz_start(&env);

    in.len = size;
    in.data = fuzz_dup(env.pool, data, size);

    fuzz_decode(&env, &in);
    fuzz_encode(&env, &in);

    fuzz_done(&env);

    return 0;
}
