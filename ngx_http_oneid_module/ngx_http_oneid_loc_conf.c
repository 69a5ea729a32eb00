
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The location configuration: created unset, merged with its defaults and
 * the names derived from the session cookie's, and checked: a location
 * that protects, calls back or signs out must be able to do so, and what
 * needs a key shared by all nodes must have one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_conf.h"
#include "ngx_http_oneid_key.h"
#include "ngx_http_oneid_loc_conf.h"


static ngx_int_t ngx_http_oneid_cookie_suffixed(ngx_conf_t *cf,
    ngx_str_t *name, const char *suffix, ngx_str_t *out);
static char *ngx_http_oneid_check_conf(ngx_conf_t *cf,
    ngx_http_oneid_loc_conf_t *conf);


void *
ngx_http_oneid_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oneid_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->role = NGX_HTTP_ONEID_ROLE_NONE;
     *     conf->client_id = { 0, NULL };
     *     conf->client_secret = { 0, NULL };
     *     conf->scope = { 0, NULL };
     *     conf->redirect_uri = { 0, NULL };
     *     conf->authorize_url = { 0, NULL };
     *     conf->backend = { 0, NULL };
     *     conf->logout_redirect = { 0, NULL };
     *     conf->cookie_name = { 0, NULL };
     *     conf->state_cookie_name = { 0, NULL };
     *     conf->owner_cookie_name = { 0, NULL };
     *     conf->post_cookie_name = { 0, NULL };
     *     conf->browser_cookie_name = { 0, NULL };
     *     conf->cookie_name_default = 0;
     *     conf->old_cookie_name = { 0, NULL };
     *     conf->page_organization = { 0, NULL };
     *     conf->page_help_url = { 0, NULL };
     *     conf->sign_key = { 0, NULL };
     *     conf->conf_file = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->session_timeout = NGX_CONF_UNSET;
    conf->session_lifetime = NGX_CONF_UNSET;
    conf->state_timeout = NGX_CONF_UNSET;
    conf->max_per_user = NGX_CONF_UNSET_UINT;
    conf->session_touch = NGX_CONF_UNSET;
    conf->session_touch_value = NGX_CONF_UNSET_PTR;
    conf->session_warn = NGX_CONF_UNSET;
    conf->cookie_secure = NGX_CONF_UNSET;
    conf->pass_headers = NGX_CONF_UNSET;
    conf->header_encoding = NGX_CONF_UNSET_UINT;
    conf->audit_log = NGX_CONF_UNSET_PTR;
    conf->idp_session = NGX_CONF_UNSET_UINT;
    conf->preserve_post = NGX_CONF_UNSET;
    conf->preserve_post_max_size = NGX_CONF_UNSET_SIZE;
    conf->require = NGX_CONF_UNSET_PTR;

    return conf;
}


char *
ngx_http_oneid_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_oneid_loc_conf_t *prev = parent;
    ngx_http_oneid_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->conf_file == NULL) {
        conf->conf_file = prev->conf_file;
        conf->conf_line = prev->conf_line;
    }

    ngx_conf_merge_str_value(conf->client_id, prev->client_id, "");
    ngx_conf_merge_str_value(conf->client_secret, prev->client_secret, "");
    ngx_conf_merge_str_value(conf->scope, prev->scope, "");
    ngx_conf_merge_str_value(conf->redirect_uri, prev->redirect_uri, "");
    ngx_conf_merge_str_value(conf->authorize_url, prev->authorize_url,
                         "https://sso.egov.uz/sso/oauth/Authorization.do");
    ngx_conf_merge_str_value(conf->backend, prev->backend, "");
    ngx_conf_merge_str_value(conf->logout_redirect, prev->logout_redirect,
                             "/");

    if (conf->scope.len == 0) {
        conf->scope = conf->client_id;
    }

    ngx_conf_merge_sec_value(conf->session_timeout, prev->session_timeout,
                             8 * 60 * 60);
    ngx_conf_merge_sec_value(conf->session_lifetime, prev->session_lifetime,
                             24 * 60 * 60);
    ngx_conf_merge_sec_value(conf->state_timeout, prev->state_timeout,
                             10 * 60);

    ngx_conf_merge_uint_value(conf->max_per_user, prev->max_per_user, 0);
    /* the directive sets both: inherited together */
    ngx_conf_merge_value(conf->session_touch, prev->session_touch, 1);
    ngx_conf_merge_ptr_value(conf->session_touch_value,
                             prev->session_touch_value, NULL);

    ngx_conf_merge_sec_value(conf->session_warn, prev->session_warn, 5 * 60);

    ngx_conf_merge_value(conf->cookie_secure, prev->cookie_secure, 1);

    /*
     * A default name is not inherited as such: it depends on the
     * cookie_secure of this level, which may differ from the parent's.
     * "__Host-" makes browsers refuse the cookie from a sibling subdomain
     * or from plain HTTP, and with any Domain or a Path other than "/".
     */

    if (conf->cookie_name.data == NULL && !prev->cookie_name_default) {
        conf->cookie_name = prev->cookie_name;
    }

    if (conf->cookie_name.data == NULL) {
        conf->cookie_name_default = 1;

        if (conf->cookie_secure) {
            ngx_str_set(&conf->cookie_name, "__Host-oneid_session");
            ngx_str_set(&conf->old_cookie_name, "oneid_session");

        } else {
            ngx_str_set(&conf->cookie_name, "oneid_session");
        }
    }

    if (!conf->cookie_secure
        && ngx_http_oneid_cookie_prefixed(&conf->cookie_name))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oneid_cookie_name\" \"%V\" needs "
                           "\"oneid_cookie_secure on\": browsers drop "
                           "\"__Host-\" and \"__Secure-\" cookies "
                           "without \"Secure\"", &conf->cookie_name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_oneid_cookie_suffixed(cf, &conf->cookie_name, "_state",
                                       &conf->state_cookie_name)
        != NGX_OK
        || ngx_http_oneid_cookie_suffixed(cf, &conf->cookie_name, "_owner",
                                       &conf->owner_cookie_name)
        != NGX_OK
        || ngx_http_oneid_cookie_suffixed(cf, &conf->cookie_name, "_post",
                                          &conf->post_cookie_name)
           != NGX_OK
        || ngx_http_oneid_cookie_suffixed(cf, &conf->cookie_name, "_browser",
                                          &conf->browser_cookie_name)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->pass_headers, prev->pass_headers, 1);
    ngx_conf_merge_uint_value(conf->header_encoding, prev->header_encoding,
                              NGX_HTTP_ONEID_ENCODE_PERCENT);
    ngx_conf_merge_str_value(conf->sign_key, prev->sign_key, "");

    ngx_conf_merge_str_value(conf->page_organization, prev->page_organization,
                             "DMED");
    ngx_conf_merge_str_value(conf->page_help_url, prev->page_help_url,
                             "https://id.egov.uz");

    ngx_conf_merge_ptr_value(conf->audit_log, prev->audit_log, NULL);
    ngx_conf_merge_uint_value(conf->idp_session, prev->idp_session,
                              NGX_HTTP_ONEID_IDP_SESSION_KEEP);

    ngx_conf_merge_value(conf->preserve_post, prev->preserve_post, 1);
    ngx_conf_merge_size_value(conf->preserve_post_max_size,
                              prev->preserve_post_max_size, 64 * 1024);

    /* as allow and deny: a level with rules of its own inherits none */
    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);

    if (conf->session_timeout <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oneid_session_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    if (conf->state_timeout <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oneid_state_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    /* oneid_health needs only oneid_redis (ngx_http_oneid_metrics.c) */

    if (conf->role == NGX_HTTP_ONEID_ROLE_HEALTH) {
        return NGX_CONF_OK;
    }

    if (conf->enable == 1 || conf->role != NGX_HTTP_ONEID_ROLE_NONE) {
        return ngx_http_oneid_check_conf(cf, conf);
    }

    return NGX_CONF_OK;
}


/* the other cookies of a location are named after its session cookie */

static ngx_int_t
ngx_http_oneid_cookie_suffixed(ngx_conf_t *cf, ngx_str_t *name,
    const char *suffix, ngx_str_t *out)
{
    size_t  len;

    len = ngx_strlen(suffix);

    out->len = name->len + len;
    out->data = ngx_pnalloc(cf->pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(out->data, name->data, name->len), suffix, len);

    return NGX_OK;
}


/*
 * A protected location that cannot log anybody in is a configuration
 * error: say which directive is missing and where the protection was set.
 */

static char *
ngx_http_oneid_check_conf(ngx_conf_t *cf, ngx_http_oneid_loc_conf_t *conf)
{
    char                        *missing;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oneid_module);

    missing = NULL;

    if (omcf->redis == NULL) {
        missing = "oneid_redis";

    } else if (conf->client_id.len == 0) {
        missing = "oneid_client_id";

    } else if (conf->client_secret.len == 0) {
        missing = "oneid_client_secret\" or \"oneid_client_secret_file";

    } else if (conf->redirect_uri.len == 0) {
        missing = "oneid_redirect_uri";

    } else if (conf->backend.len == 0) {
        missing = "oneid_backend";
    }

    if (missing != NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" is required by the oneid directive in %s:%ui",
                      missing, conf->conf_file, conf->conf_line);
        return NGX_CONF_ERROR;
    }

    /*
     * A user's sessions are found by an index keyed with the server key:
     * a key of this node alone, new at each restart, would miss sessions
     * made on other nodes or before the restart, and say nothing.
     */

    if ((conf->role == NGX_HTTP_ONEID_ROLE_LOGOUT_ALL
         || conf->role == NGX_HTTP_ONEID_ROLE_ADMIN
         || (conf->role == NGX_HTTP_ONEID_ROLE_CALLBACK
             && conf->max_per_user))
        && !ngx_http_oneid_key_shared(omcf->keys))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"oneid_key_file\" is required by %s in %s:%ui: "
                      "without it each node and each restart index users' "
                      "sessions under a key of their own",
                      conf->role == NGX_HTTP_ONEID_ROLE_LOGOUT_ALL
                      ? "\"oneid_logout all\""
                      : conf->role == NGX_HTTP_ONEID_ROLE_ADMIN
                        ? "\"oneid_admin\""
                        : "\"oneid_session_max_per_user\"",
                      conf->conf_file, conf->conf_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
