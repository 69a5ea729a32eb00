
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Reading what OneID answers to the back-channel calls.  OneID is not
 * OpenID Connect: every scalar is a string, any field but "pin" may be
 * missing, "" or null, and formats drift.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_identity.h"
#include "ngx_http_oneid_idp.h"
#include "ngx_http_oneid_metrics.h"


/* longer OneID values are cut: they end up in upstream request headers */
#define NGX_HTTP_ONEID_MAX_FIELD  1024
#define NGX_HTTP_ONEID_MAX_TOKEN  512


static ngx_int_t ngx_http_oneid_idp_response(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_result_t *an,
    const char *what, json_t **root);
static void ngx_http_oneid_idp_log_error_body(ngx_http_request_t *r,
    ngx_http_oneid_result_t *an, const char *what);
static ngx_int_t ngx_http_oneid_json_string(ngx_http_request_t *r,
    json_t *obj, const char *key, ngx_str_t *out);
static ngx_int_t ngx_http_oneid_json_legal(ngx_http_request_t *r,
    json_t *root, ngx_http_oneid_identity_t *id);
static ngx_int_t ngx_http_oneid_json_is_true(json_t *v);
static ngx_int_t ngx_http_oneid_json_string_is(json_t *v, const char *s);
static ngx_int_t ngx_http_oneid_check_ret_cd(ngx_http_request_t *r,
    json_t *root);
static ngx_int_t ngx_http_oneid_check_pin(ngx_http_request_t *r,
    json_t *pin, const char **reason);
static ngx_int_t ngx_http_oneid_copy_clean(ngx_http_request_t *r,
    const char *src, size_t len, ngx_str_t *out);


/*
 * Common checks of a back-channel answer.  NGX_ERROR: log written, the
 * user gets 502.
 */

static ngx_int_t
ngx_http_oneid_idp_response(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_result_t *an,
    const char *what, json_t **root)
{
    json_t        *json;
    ngx_str_t      text;
    json_error_t   err;

    if (an->rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID %s response is larger than %d MB",
                      what, NGX_HTTP_ONEID_MAX_ANSWER_MB);
        return NGX_ERROR;
    }

    if (an->rc != NGX_OK && an->status) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID %s request through \"%V\" failed "
                      "with status %ui",
                      what, &olcf->backend, an->status);
        return NGX_ERROR;
    }

    if (an->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID %s request through \"%V\" failed",
                      what, &olcf->backend);
        return NGX_ERROR;
    }

    if (an->status != NGX_HTTP_OK) {
        ngx_http_oneid_idp_log_error_body(r, an, what);
        return NGX_ERROR;
    }

    /* a NUL inside a value is removed with the other control characters */

    json = json_loadb((const char *) an->value.data, an->value.len,
                      JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, &err);

    if (json == NULL) {
        /* jansson quotes the offending bytes: no line breaks in the log */
        if (ngx_http_oneid_copy_clean(r, err.text, ngx_strlen(err.text),
                                      &text)
            != NGX_OK)
        {
            ngx_str_null(&text);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID %s response is not valid JSON "
                      "(%uz bytes): %V at byte %d",
                      what, an->value.len, &text, err.position);
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_IDP_ERROR_PARSE);
        return NGX_ERROR;
    }

    if (!json_is_object(json)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID %s response is not a JSON object", what);
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_IDP_ERROR_PARSE);
        json_decref(json);
        return NGX_ERROR;
    }

    *root = json;

    return NGX_OK;
}


static void
ngx_http_oneid_idp_log_error_body(ngx_http_request_t *r,
    ngx_http_oneid_result_t *an, const char *what)
{
    json_t     *json;
    ngx_str_t   error;

    ngx_str_null(&error);

    json = json_loadb((const char *) an->value.data, an->value.len,
                      0, NULL);

    if (json != NULL) {
        if (json_is_object(json)) {
            (void) ngx_http_oneid_json_string(r, json, "error", &error);
        }

        json_decref(json);
    }

    if (error.len > 64) {
        error.len = 64;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "oneid: OneID %s request answered with status %ui%s%V%s",
                  what, an->status,
                  error.len ? " and error \"" : "", &error,
                  error.len ? "\"" : "");
}


ngx_int_t
ngx_http_oneid_idp_parse_token(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_result_t *answer,
    ngx_str_t *token)
{
    json_t     *root;
    ngx_int_t   rc;

    if (ngx_http_oneid_idp_response(r, olcf, answer, "token", &root)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_json_string(r, root, "access_token", token);

    json_decref(root);

    if (rc != NGX_OK) {
        /* logged already */
        return NGX_ERROR;
    }

    if (token->len == 0 || token->len > NGX_HTTP_ONEID_MAX_TOKEN) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID token response has no usable "
                      "\"access_token\"");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * NGX_OK: identity accepted; NGX_DECLINED: OneID answered but did not
 * vouch for a person (403), *reason says why in a few words (for the
 * audit trail) and id holds what could be read, never a bad pin;
 * NGX_ERROR: broken answer (502).
 */

ngx_int_t
ngx_http_oneid_idp_parse_identity(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_result_t *answer,
    ngx_http_oneid_identity_t *id, const char **reason)
{
    json_t       *root;
    ngx_int_t     rc;
    ngx_uint_t    i;
    const char   *key;

    if (ngx_http_oneid_idp_response(r, olcf, answer, "identify", &root)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_check_ret_cd(r, root);

    if (rc == NGX_DECLINED) {
        *reason = "refused by OneID";
    }

    if (rc == NGX_OK) {
        for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
            key = ngx_http_oneid_fields[i].json_key;

            if (key == NULL) {
                continue;
            }

            rc = ngx_http_oneid_json_string(r, root, key, &id->field[i]);
            if (rc != NGX_OK) {
                break;
            }
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_http_oneid_json_legal(r, root, id);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_oneid_check_pin(r, json_object_get(root, "pin"),
                                      reason);

        if (rc != NGX_OK) {
            ngx_str_null(&id->field[NGX_HTTP_ONEID_PIN]);
        }
    }

    json_decref(root);

    return rc;
}


static ngx_int_t
ngx_http_oneid_check_ret_cd(ngx_http_request_t *r, json_t *root)
{
    json_t     *v;
    ngx_str_t   value;

    v = json_object_get(root, "ret_cd");

    if (v == NULL
        || ngx_http_oneid_json_string_is(v, "0")
        || (json_is_integer(v) && json_integer_value(v) == 0))
    {
        return NGX_OK;
    }

    if (!json_is_string(v)
        || ngx_http_oneid_copy_clean(r, json_string_value(v),
                                     json_string_length(v), &value)
           != NGX_OK)
    {
        ngx_str_set(&value, "not \"0\"");
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "oneid: OneID refused the identity: ret_cd is \"%V\"",
                  &value);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oneid_check_pin(ngx_http_request_t *r, json_t *pin,
    const char **reason)
{
    size_t       len;
    ngx_uint_t   i;
    const char  *p;

    /* as OneID sent it: a digit hidden among control characters is no pin */

    len = json_is_string(pin) ? json_string_length(pin) : 0;

    if (len != 14) {
        goto refused;
    }

    p = json_string_value(pin);

    for (i = 0; i < 14; i++) {
        if (p[i] < '0' || p[i] > '9') {
            goto refused;
        }
    }

    return NGX_OK;

refused:

    *reason = (pin == NULL || json_is_null(pin) || len == 0)
              ? "no pinfl" : "pinfl not 14 digits";

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "oneid: OneID identity refused: \"pin\" is not 14 digits "
                  "(%uz characters)", len);

    return NGX_DECLINED;
}


/*
 * A string field.  Missing, null and "" are all "no value"; any other
 * type is a format we do not understand and fails the login (502).
 */

static ngx_int_t
ngx_http_oneid_json_string(ngx_http_request_t *r, json_t *obj,
    const char *key, ngx_str_t *out)
{
    json_t  *v;

    ngx_str_null(out);

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID field \"%s\" is not a string", key);
        return NGX_ERROR;
    }

    return ngx_http_oneid_copy_clean(r, json_string_value(v),
                                     json_string_length(v), out);
}


/*
 * The basic legal entity: the legal_info entry with is_basic true, else
 * the organisation the user signed in for with an e-signature.
 */

static ngx_int_t
ngx_http_oneid_json_legal(ngx_http_request_t *r, json_t *root,
    ngx_http_oneid_identity_t *id)
{
    json_t      *list, *entry;
    size_t       i;
    ngx_int_t    rc;
    ngx_str_t   *tin, *name;

    tin = &id->field[NGX_HTTP_ONEID_LEGAL_TIN];
    name = &id->field[NGX_HTTP_ONEID_LEGAL_NAME];

    list = json_object_get(root, "legal_info");

    if (list != NULL && !json_is_null(list) && !json_is_array(list)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: OneID field \"legal_info\" is not an array");
        return NGX_ERROR;
    }

    json_array_foreach(list, i, entry) {
        if (!json_is_object(entry)
            || !ngx_http_oneid_json_is_true(json_object_get(entry,
                                                            "is_basic")))
        {
            continue;
        }

        rc = ngx_http_oneid_json_string(r, entry, "tin", tin);
        if (rc == NGX_OK && tin->len == 0) {
            rc = ngx_http_oneid_json_string(r, entry, "le_tin", tin);
        }

        if (rc == NGX_OK) {
            rc = ngx_http_oneid_json_string(r, entry, "acron_UZ", name);
        }

        if (rc == NGX_OK && name->len == 0) {
            rc = ngx_http_oneid_json_string(r, entry, "le_name", name);
        }

        return rc;
    }

    return ngx_http_oneid_json_string(r, root, "pkcs_legal_tin", tin);
}


static ngx_int_t
ngx_http_oneid_json_is_true(json_t *v)
{
    if (json_is_true(v)) {
        return 1;
    }

    return ngx_http_oneid_json_string_is(v, "true");
}


/* by length: a NUL inside the JSON string must not end the comparison */

static ngx_int_t
ngx_http_oneid_json_string_is(json_t *v, const char *s)
{
    size_t  len;

    len = ngx_strlen(s);

    return json_is_string(v) && json_string_length(v) == len
           && ngx_memcmp(json_string_value(v), s, len) == 0;
}


/*
 * Control characters go, so that no value can split a header or a
 * session record; the length is capped on a UTF-8 character boundary.
 */

static ngx_int_t
ngx_http_oneid_copy_clean(ngx_http_request_t *r, const char *src, size_t len,
    ngx_str_t *out)
{
    u_char  *p, *s, *last;

    if (len > NGX_HTTP_ONEID_MAX_FIELD) {
        len = NGX_HTTP_ONEID_MAX_FIELD;

        while (len && (((u_char) src[len]) & 0xc0) == 0x80) {
            len--;
        }
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    s = (u_char *) src;
    last = s + len;

    for ( /* void */ ; s < last; s++) {
        if (*s < 0x20 || *s == 0x7f) {
            continue;
        }

        *p++ = *s;
    }

    out->len = p - out->data;

    return NGX_OK;
}
