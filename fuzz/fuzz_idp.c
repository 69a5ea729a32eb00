
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * What OneID answers on the back channel, parsed as the callback does:
 * the input is the body of the token response and of the identify
 * response (ngx_http_oneid_idp_parse_token(), ..._parse_identity()), and
 * of a non-200 answer, whose "error" gets logged.
 *
 * An accepted token: 1..512 bytes, no control byte.  An accepted
 * identity: the pin is 14 ASCII digits; every value is the OneID string
 * with control characters removed, cut at 1024 bytes on a UTF-8 boundary,
 * so valid UTF-8 with no CR, LF or NUL; missing and null are empty; a
 * ret_cd other than "0" or 0 is refused, and so is any field of another
 * type.  Then the session record written from it reads back the same,
 * and the identity headers carry no CR, LF or NUL in either encoding.
 */


#include "common.h"

#include <jansson.h>

#include "ngx_http_oneid_idp.h"


#define FUZZ_MAX_FIELD  1024
#define FUZZ_MAX_TOKEN  512


static ngx_http_oneid_loc_conf_t  fuzz_conf;

static const char  *fuzz_keys[] = {
    "pin", "user_id", "full_name", "first_name", "sur_name",
    "mid_name", "user_type", "auth_method"
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();

    /* OneID is trusted, its values end up in the log: still one line */
    fuzz_log_check_lines(1);

    ngx_str_set(&fuzz_conf.backend, "/_oneid");
    ngx_str_set(&fuzz_conf.cookie_name, "oneid_session");
    ngx_str_set(&fuzz_conf.state_cookie_name, "oneid_session_state");
    fuzz_conf.pass_headers = 1;

    return 0;
}


static ngx_int_t
fuzz_clean(ngx_str_t *v)
{
    size_t  i;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < 0x20 || v->data[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* out is src with control bytes removed, cut at no more than max bytes */

static ngx_int_t
fuzz_is_cleaned(ngx_str_t *out, const char *src, size_t len, size_t max)
{
    size_t   k, i, n;

    k = len;

    if (len > max) {
        k = max;

        /* a cut on a character boundary loses at most 3 bytes */

        while (k > max - 3 && ((u_char) src[k] & 0xc0) == 0x80) {
            k--;
        }

        if (((u_char) src[k] & 0xc0) == 0x80) {
            return 0;
        }
    }

    n = 0;

    for (i = 0; i < k; i++) {
        if ((u_char) src[i] < 0x20 || (u_char) src[i] == 0x7f) {
            continue;
        }

        if (n >= out->len || out->data[n] != (u_char) src[i]) {
            return 0;
        }

        n++;
    }

    return n == out->len;
}


static ngx_int_t
fuzz_pin_ok(ngx_str_t *pin)
{
    ngx_uint_t  i;

    if (pin->len != 14) {
        return 0;
    }

    for (i = 0; i < 14; i++) {
        if (pin->data[i] < '0' || pin->data[i] > '9') {
            return 0;
        }
    }

    return 1;
}


static void
fuzz_check_value(ngx_str_t *v, size_t max, const char *what)
{
    fuzz_assert(v->len <= max, what);
    fuzz_assert(fuzz_clean(v), what);
    fuzz_assert(fuzz_is_utf8(v), what);
}


/* what the back channel hands the callback steps */

static void
fuzz_answer(ngx_http_oneid_result_t *an, ngx_str_t *body, ngx_uint_t status)
{
    ngx_memzero(an, sizeof(ngx_http_oneid_result_t));

    an->rc = NGX_OK;
    an->status = status;
    an->value = *body;
}


static void
fuzz_token(fuzz_env_t *env, ngx_str_t *body, json_t *root, ngx_str_t *token)
{
    json_t                   *v;
    ngx_int_t                 rc;
    ngx_str_t                 scratch;
    ngx_http_oneid_result_t   an;

    /* a non-200 answer: only a log line is made of it */

    fuzz_answer(&an, body, NGX_HTTP_BAD_REQUEST);
    fuzz_assert(ngx_http_oneid_idp_parse_token(env->request, &fuzz_conf, &an,
                                               &scratch)
                == NGX_ERROR, "a token taken from an error answer");

    fuzz_answer(&an, body, NGX_HTTP_OK);
    ngx_str_null(token);

    rc = ngx_http_oneid_idp_parse_token(env->request, &fuzz_conf, &an, token);

    fuzz_assert(rc == NGX_OK || rc == NGX_ERROR, "unexpected return code");

    if (rc != NGX_OK) {
        ngx_str_null(token);
        return;
    }

    fuzz_check_value(token, FUZZ_MAX_TOKEN, "a bad access token accepted");
    fuzz_assert(token->len > 0, "an empty access token accepted");

    v = json_object_get(root, "access_token");

    fuzz_assert(json_is_object(root) && json_is_string(v),
                "a token from no \"access_token\" string");
    fuzz_assert(fuzz_is_cleaned(token, json_string_value(v),
                                json_string_length(v), FUZZ_MAX_FIELD),
                "the token is not the cleaned \"access_token\"");
}


static ngx_int_t
fuzz_ret_cd_ok(json_t *root)
{
    json_t  *v;

    v = json_object_get(root, "ret_cd");

    return v == NULL
           || (json_is_string(v) && json_string_length(v) == 1
               && json_string_value(v)[0] == '0')
           || (json_is_integer(v) && json_integer_value(v) == 0);
}


/* the pin as OneID sent it: 14 digits and nothing else, NUL included */

static ngx_int_t
fuzz_raw_pin_ok(json_t *root)
{
    json_t     *v;
    ngx_str_t   pin;

    v = json_object_get(root, "pin");

    if (!json_is_string(v)) {
        return 0;
    }

    pin.data = (u_char *) json_string_value(v);
    pin.len = json_string_length(v);

    return fuzz_pin_ok(&pin);
}


static void
fuzz_identity(fuzz_env_t *env, ngx_str_t *body, json_t *root,
    ngx_str_t *token)
{
    json_t                     *v, *list, *entry;
    size_t                      idx;
    ngx_int_t                   rc, basic, plain;
    ngx_str_t                   record, sid;
    ngx_uint_t                  i;
    const char                 *reason;
    ngx_http_request_t         *r;
    ngx_http_oneid_result_t     an;
    ngx_http_oneid_identity_t   id, id2;

    r = env->request;

    fuzz_answer(&an, body, NGX_HTTP_OK);
    ngx_memzero(&id, sizeof(id));
    reason = NULL;

    rc = ngx_http_oneid_idp_parse_identity(r, &fuzz_conf, &an, &id, &reason);

    fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_ERROR,
                "unexpected return code");

    fuzz_assert(rc != NGX_DECLINED || reason != NULL,
                "a refused identity without a reason");

    if (root == NULL || !json_is_object(root)) {
        fuzz_assert(rc == NGX_ERROR, "an identity from a body that is not "
                    "a JSON object");
        return;
    }

    /* the plain case: string or null values, ret_cd 0, no legal_info */

    plain = 1;

    for (i = 0; i < sizeof(fuzz_keys) / sizeof(fuzz_keys[0]); i++) {
        v = json_object_get(root, fuzz_keys[i]);
        plain &= (v == NULL || json_is_null(v) || json_is_string(v));
    }

    v = json_object_get(root, "pkcs_legal_tin");
    plain &= (v == NULL || json_is_null(v) || json_is_string(v));
    v = json_object_get(root, "legal_info");
    plain &= (v == NULL || json_is_null(v));

    if (rc != NGX_OK) {
        /* a well-typed answer with ret_cd 0 fails only for its pin */

        if (plain && fuzz_ret_cd_ok(root)) {
            fuzz_assert(rc == NGX_DECLINED && !fuzz_raw_pin_ok(root),
                        "a good identity was refused");
        }

        return;
    }

    fuzz_assert(fuzz_ret_cd_ok(root), "accepted with ret_cd other than 0");
    fuzz_assert(fuzz_raw_pin_ok(root)
                && fuzz_pin_ok(&id.field[NGX_HTTP_ONEID_PIN]),
                "accepted a pin that is not 14 digits");

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        fuzz_check_value(&id.field[i], FUZZ_MAX_FIELD,
                         "a field is too long, has control bytes "
                         "or is not UTF-8");
    }

    for (i = 0; i < sizeof(fuzz_keys) / sizeof(fuzz_keys[0]); i++) {
        v = json_object_get(root, fuzz_keys[i]);

        if (v == NULL || json_is_null(v)) {
            fuzz_assert(id.field[i].len == 0, "a value for a missing field");
            continue;
        }

        fuzz_assert(json_is_string(v), "accepted a field that is no string");
        fuzz_assert(fuzz_is_cleaned(&id.field[i], json_string_value(v),
                                    json_string_length(v), FUZZ_MAX_FIELD),
                    "a field is not its cleaned OneID value");
    }

    /* without a basic legal_info entry there is no legal name */

    list = json_object_get(root, "legal_info");
    basic = 0;

    json_array_foreach(list, idx, entry) {
        v = json_object_get(entry, "is_basic");

        if (json_is_object(entry)
            && (json_is_true(v)
                || (json_is_string(v) && json_string_length(v) == 4
                    && ngx_strncmp(json_string_value(v), "true", 4) == 0)))
        {
            basic = 1;
            break;
        }
    }

    if (!basic) {
        fuzz_assert(id.field[NGX_HTTP_ONEID_LEGAL_NAME].len == 0,
                    "a legal name without a basic legal_info entry");
    }

    /* the session record written at login reads back the same */

    id.access_token = *token;
    id.login_time = ngx_time();
    ngx_str_set(&sid, "fuzzSESSION0123456789abcdefghijABCDEFGHIJ-_");

    fuzz_assert(ngx_http_oneid_session_encode(env->pool, &sid, &id, &record)
                == NGX_OK, "encode failed");

    ngx_memzero(&id2, sizeof(id2));

    fuzz_assert(ngx_http_oneid_session_decode(env->pool, &sid, &record, &id2)
                == NGX_OK,
                "the session written at login is refused");

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        fuzz_assert(fuzz_str_eq(&id.field[i], &id2.field[i]),
                    "a field changed in the session record");
    }

    fuzz_assert(fuzz_str_eq(&id.access_token, &id2.access_token),
                "the token changed in the session record");
}


static void
fuzz_identity_headers(fuzz_env_t *env, ngx_str_t *body)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i, enc;
    const char                 *reason;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *h;
    ngx_http_oneid_result_t     an;
    ngx_http_oneid_identity_t   id;

    fuzz_answer(&an, body, NGX_HTTP_OK);
    ngx_memzero(&id, sizeof(id));

    rc = ngx_http_oneid_idp_parse_identity(env->request, &fuzz_conf, &an,
                                           &id, &reason);
    if (rc != NGX_OK) {
        return;
    }

    for (enc = NGX_HTTP_ONEID_ENCODE_PERCENT;
         enc <= NGX_HTTP_ONEID_ENCODE_RAW;
         enc++)
    {
        fuzz_conf.header_encoding = enc;

        fuzz_assert(ngx_http_oneid_set_identity_headers(env->request,
                                                        &fuzz_conf, &id)
                    == NGX_OK, "set_identity_headers failed");

        part = &env->request->headers_in.headers.part;
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

            fuzz_assert(!fuzz_has_byte(&h[i].value, '\r')
                        && !fuzz_has_byte(&h[i].value, '\n')
                        && !fuzz_has_byte(&h[i].value, '\0'),
                        "an identity header value with CR, LF or NUL");
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t      *root;
    ngx_str_t    body, token;
    fuzz_env_t   env;

    fuzz_start(&env);

    body.len = size;
    body.data = fuzz_dup(env.pool, data, size);

    root = json_loadb((const char *) data, size,
                      JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, NULL);

    fuzz_token(&env, &body, root, &token);
    fuzz_identity(&env, &body, root, &token);
    fuzz_identity_headers(&env, &body);

    json_decref(root);

    fuzz_done(&env);

    return 0;
}
