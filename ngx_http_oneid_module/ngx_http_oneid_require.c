
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * oneid_require: who of the signed-in users may use a location.  The
 * rules are parsed, and the PINFL files read, when the configuration is
 * loaded (so a reload re-reads them), and checked once a request has a
 * usable session: a main request (ngx_http_oneid_handler.c, also after an
 * internal redirect) and a subrequest (ngx_http_oneid_subrequest.c).
 * Every directive of a level must hold; within one directive any of its
 * values.  Someone not allowed gets a 403 page that says what is needed
 * in general terms, never the rules; the session is not ended.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_require.h"


#define NGX_HTTP_ONEID_PINFL_LEN  14
#define NGX_HTTP_ONEID_TIN_LEN    9


typedef enum {
    NGX_HTTP_ONEID_REQUIRE_USER_TYPE = 0,
    NGX_HTTP_ONEID_REQUIRE_AUTH_METHOD,
    NGX_HTTP_ONEID_REQUIRE_LEGAL_TIN,
    NGX_HTTP_ONEID_REQUIRE_PINFL_FILE,
    NGX_HTTP_ONEID_REQUIRE_VARIABLE
} ngx_http_oneid_require_e;


typedef struct {
    ngx_str_t                     key;
    /* the identity field the values are compared with */
    ngx_uint_t                    field;
} ngx_http_oneid_require_key_t;


typedef struct {
    ngx_http_oneid_require_e      type;
    /* ngx_str_t, any of them; PINFLs sorted, for a binary search */
    ngx_array_t                  *values;
    ngx_http_complex_value_t     *value;
    ngx_http_oneid_page_e         page;
    /* where the directive is, for the log */
    u_char                       *conf_file;
    ngx_uint_t                    conf_line;
} ngx_http_oneid_require_t;


static char *ngx_http_oneid_require_value(ngx_conf_t *cf,
    ngx_http_oneid_require_t *rule, ngx_str_t *value);
static char *ngx_http_oneid_require_pinfl_file(ngx_conf_t *cf,
    ngx_http_oneid_require_t *rule, ngx_str_t *name);
static ngx_int_t ngx_http_oneid_require_digits(ngx_str_t *value,
    size_t len);
static ngx_int_t ngx_http_oneid_require_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_oneid_require_met(ngx_http_request_t *r,
    ngx_http_oneid_require_t *rule, ngx_http_oneid_identity_t *id);


/* in the order of ngx_http_oneid_require_e */

static ngx_http_oneid_require_key_t  ngx_http_oneid_require_keys[] = {
    { ngx_string("user_type"), NGX_HTTP_ONEID_USER_TYPE },
    { ngx_string("auth_method"), NGX_HTTP_ONEID_AUTH_METHOD },
    { ngx_string("legal_tin"), NGX_HTTP_ONEID_LEGAL_TIN },
    { ngx_string("pinfl_file"), NGX_HTTP_ONEID_PIN },
    { ngx_string("$variable"), 0 }
};


/*
 * oneid_require key=value[|value...] [key=value...];  one key a directive
 * oneid_require $variable;  allowed when not empty and not "0"
 */

char *
ngx_http_oneid_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    u_char                            *p, *eq, *last;
    ngx_str_t                         *value, *name, key, v;
    ngx_uint_t                         i, k, nl, ni;
    ngx_http_oneid_require_t          *rule;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (olcf->require == NGX_CONF_UNSET_PTR) {
        olcf->require = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_oneid_require_t));
        if (olcf->require == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rule = ngx_array_push(olcf->require);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_http_oneid_require_t));

    rule->conf_file = cf->conf_file->file.name.data;
    rule->conf_line = cf->conf_file->line;
    rule->page = NGX_HTTP_ONEID_PAGE_REQUIRE_ACCOUNT;

    if (value[1].len > 0 && value[1].data[0] == '$') {

        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"oneid_require\" with a variable takes "
                               "nothing else: write one directive for "
                               "\"%V\" and one for each other rule",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        rule->type = NGX_HTTP_ONEID_REQUIRE_VARIABLE;

        rule->value = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (rule->value == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[1];
        ccv.complex_value = rule->value;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    rule->values = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
    if (rule->values == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (eq == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"oneid_require\" rule \"%V\": "
                               "key=value or $variable expected", &value[i]);
            return NGX_CONF_ERROR;
        }

        key.data = value[i].data;
        key.len = eq - value[i].data;

        for (k = 0; k < NGX_HTTP_ONEID_REQUIRE_VARIABLE; k++) {
            name = &ngx_http_oneid_require_keys[k].key;

            if (key.len == name->len
                && ngx_strncmp(key.data, name->data, key.len) == 0)
            {
                break;
            }
        }

        if (k == NGX_HTTP_ONEID_REQUIRE_VARIABLE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown \"oneid_require\" key \"%V\": "
                               "user_type, auth_method, legal_tin or "
                               "pinfl_file expected", &key);
            return NGX_CONF_ERROR;
        }

        if (i == 1) {
            rule->type = k;

        } else if (k != rule->type) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"oneid_require\" mixes \"%V\" with \"%V\": "
                               "all must hold between directives, any "
                               "within one, so write one directive a key",
                               &ngx_http_oneid_require_keys[rule->type].key,
                               &key);
            return NGX_CONF_ERROR;
        }

        /* "a|b" is the same as "key=a key=b" */

        p = eq + 1;
        last = value[i].data + value[i].len;

        for ( ;; ) {
            eq = ngx_strlchr(p, last, '|');

            v.data = p;
            v.len = (eq ? eq : last) - p;

            if (ngx_http_oneid_require_value(cf, rule, &v) != NGX_CONF_OK) {
                return NGX_CONF_ERROR;
            }

            if (eq == NULL) {
                break;
            }

            p = eq + 1;
        }
    }

    value = rule->values->elts;

    switch (rule->type) {

    case NGX_HTTP_ONEID_REQUIRE_AUTH_METHOD:
        rule->page = NGX_HTTP_ONEID_PAGE_REQUIRE_AUTH_METHOD;
        break;

    case NGX_HTTP_ONEID_REQUIRE_USER_TYPE:
        nl = 0;
        ni = 0;

        for (i = 0; i < rule->values->nelts; i++) {
            if (value[i].data[0] == 'L') {
                nl++;

            } else {
                ni++;
            }
        }

        if (ni == 0) {
            rule->page = NGX_HTTP_ONEID_PAGE_REQUIRE_LEGAL;

        } else if (nl == 0) {
            rule->page = NGX_HTTP_ONEID_PAGE_REQUIRE_INDIVIDUAL;
        }

        break;

    case NGX_HTTP_ONEID_REQUIRE_PINFL_FILE:
        ngx_sort(rule->values->elts, rule->values->nelts, sizeof(ngx_str_t),
                 ngx_http_oneid_require_cmp);

        if (rule->values->nelts == 0) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"oneid_require pinfl_file\" lists no "
                               "PINFL: nobody is allowed here");
        }

        break;

    default:
        break;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oneid_require_value(ngx_conf_t *cf, ngx_http_oneid_require_t *rule,
    ngx_str_t *value)
{
    ngx_str_t   *v;
    ngx_uint_t   i;

    if (value->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty value of \"oneid_require %V\"",
                           &ngx_http_oneid_require_keys[rule->type].key);
        return NGX_CONF_ERROR;
    }

    switch (rule->type) {

    case NGX_HTTP_ONEID_REQUIRE_USER_TYPE:
        if (value->len != 1
            || (value->data[0] != 'I' && value->data[0] != 'L'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"oneid_require user_type\" \"%V\": "
                               "\"I\" (individual) or \"L\" (legal entity) "
                               "expected", value);
            return NGX_CONF_ERROR;
        }

        break;

    case NGX_HTTP_ONEID_REQUIRE_AUTH_METHOD:
        for (i = 0; i < value->len; i++) {
            if (!((value->data[i] >= 'A' && value->data[i] <= 'Z')
                  || (value->data[i] >= '0' && value->data[i] <= '9')
                  || value->data[i] == '_'))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"oneid_require auth_method\" "
                                   "\"%V\": a OneID method in upper case "
                                   "(such as PKCSMETHOD) expected", value);
                return NGX_CONF_ERROR;
            }
        }

        break;

    case NGX_HTTP_ONEID_REQUIRE_LEGAL_TIN:
        if (ngx_http_oneid_require_digits(value, NGX_HTTP_ONEID_TIN_LEN)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"oneid_require legal_tin\" \"%V\": "
                               "9 digits expected", value);
            return NGX_CONF_ERROR;
        }

        break;

    default: /* NGX_HTTP_ONEID_REQUIRE_PINFL_FILE */
        return ngx_http_oneid_require_pinfl_file(cf, rule, value);
    }

    v = ngx_array_push(rule->values);
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    *v = *value;

    return NGX_CONF_OK;
}


/*
 * One PINFL (14 digits) a line; blank lines and lines starting with "#"
 * are skipped, spaces around a PINFL and a CR before the LF are allowed.
 * Anything else fails the configuration with the file and line, so that
 * a broken list never opens or closes a location unnoticed.  Read by the
 * master when the configuration is loaded: a reload re-reads it.
 */

static char *
ngx_http_oneid_require_pinfl_file(ngx_conf_t *cf,
    ngx_http_oneid_require_t *rule, ngx_str_t *name)
{
    u_char           *buf, *p, *last, *eol, *start, *end;
    char             *rv;
    off_t             size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         file, line, *v;
    ngx_uint_t        lineno;
    ngx_file_info_t   fi;

    file = *name;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;
    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &file);
        goto done;
    }

    size = ngx_file_size(&fi);

    buf = ngx_alloc(size + 1, cf->log);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, size);

    if (n == -1 || n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed or was short",
                           &file);
        goto done;
    }

    p = buf;
    last = buf + n;
    lineno = 0;

    while (p < last) {
        lineno++;

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            eol = last;
        }

        start = p;
        end = eol;
        p = eol + 1;

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start
               && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == CR))
        {
            end--;
        }

        if (start == end || *start == '#') {
            continue;
        }

        line.data = start;
        line.len = end - start;

        if (ngx_http_oneid_require_digits(&line, NGX_HTTP_ONEID_PINFL_LEN)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid PINFL in %V:%ui: 14 digits a line "
                               "expected", &file, lineno);
            goto done;
        }

        v = ngx_array_push(rule->values);
        if (v == NULL) {
            goto done;
        }

        v->len = line.len;
        v->data = ngx_pstrdup(cf->pool, &line);
        if (v->data == NULL) {
            goto done;
        }
    }

    rv = NGX_CONF_OK;

done:

    if (buf != NULL) {
        ngx_free(buf);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &file);
    }

    return rv;
}


static ngx_int_t
ngx_http_oneid_require_digits(ngx_str_t *value, size_t len)
{
    size_t  i;

    if (value->len != len) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (value->data[i] < '0' || value->data[i] > '9') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* PINFLs are all 14 digits long */

static ngx_int_t
ngx_http_oneid_require_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one;
    const ngx_str_t  *b = two;

    return ngx_memcmp(a->data, b->data, NGX_HTTP_ONEID_PINFL_LEN);
}


/*
 * NGX_OK: olcf's rules allow the user signed in as id.  Otherwise one
 * [info] line, then, with page, the 403 page (what ngx_http_oneid_send_page
 * returns), without it NGX_HTTP_FORBIDDEN, for a subrequest.
 */

ngx_int_t
ngx_http_oneid_require_access(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_identity_t *id,
    ngx_uint_t page)
{
    ngx_int_t                  rc;
    ngx_str_t                 *key, *have;
    ngx_uint_t                 i;
    ngx_http_oneid_require_t  *rule;

    if (olcf->require == NULL) {
        return NGX_OK;
    }

    rule = olcf->require->elts;

    for (i = 0; i < olcf->require->nelts; i++) {

        rc = ngx_http_oneid_require_met(r, &rule[i], id);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_ERROR) {
            return page ? ngx_http_oneid_send_page(r,
                                                   NGX_HTTP_ONEID_PAGE_INTERNAL)
                        : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        key = &ngx_http_oneid_require_keys[rule[i].type].key;

        /* what the user has, but never a PINFL or a TIN */

        if (rule[i].type == NGX_HTTP_ONEID_REQUIRE_USER_TYPE
            || rule[i].type == NGX_HTTP_ONEID_REQUIRE_AUTH_METHOD)
        {
            have = &id->field[ngx_http_oneid_require_keys[rule[i].type].field];

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "oneid: user \"%V\" not allowed: "
                          "\"oneid_require %V\" in %s:%ui not met "
                          "(%V \"%V\")", &id->field[NGX_HTTP_ONEID_USER_ID],
                          key, rule[i].conf_file, rule[i].conf_line,
                          key, have);

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "oneid: user \"%V\" not allowed: "
                          "\"oneid_require %V\" in %s:%ui not met",
                          &id->field[NGX_HTTP_ONEID_USER_ID], key,
                          rule[i].conf_file, rule[i].conf_line);
        }

        return page ? ngx_http_oneid_send_page(r, rule[i].page)
                    : NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}


/* NGX_OK: met, NGX_DECLINED: not met, NGX_ERROR */

static ngx_int_t
ngx_http_oneid_require_met(ngx_http_request_t *r,
    ngx_http_oneid_require_t *rule, ngx_http_oneid_identity_t *id)
{
    ngx_int_t   lo, hi, mid, c;
    ngx_str_t   value, *have, *v;
    ngx_uint_t  i;

    if (rule->type == NGX_HTTP_ONEID_REQUIRE_VARIABLE) {

        if (ngx_http_complex_value(r, rule->value, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        if (value.len == 0 || (value.len == 1 && value.data[0] == '0')) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    have = &id->field[ngx_http_oneid_require_keys[rule->type].field];
    v = rule->values->elts;

    if (rule->type == NGX_HTTP_ONEID_REQUIRE_PINFL_FILE) {

        if (have->len != NGX_HTTP_ONEID_PINFL_LEN) {
            return NGX_DECLINED;
        }

        lo = 0;
        hi = (ngx_int_t) rule->values->nelts - 1;

        while (lo <= hi) {
            mid = lo + (hi - lo) / 2;
            c = ngx_memcmp(have->data, v[mid].data, NGX_HTTP_ONEID_PINFL_LEN);

            if (c == 0) {
                return NGX_OK;
            }

            if (c < 0) {
                hi = mid - 1;

            } else {
                lo = mid + 1;
            }
        }

        return NGX_DECLINED;
    }

    for (i = 0; i < rule->values->nelts; i++) {
        if (have->len == v[i].len
            && ngx_strncmp(have->data, v[i].data, v[i].len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}
