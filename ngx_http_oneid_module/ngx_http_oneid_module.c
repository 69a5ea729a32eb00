
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Directives, configuration, variables and module initialisation.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_conf.h"
#include "ngx_http_oneid_loc_conf.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_idp.h"
#include "ngx_http_oneid_handler.h"
#include "ngx_http_oneid_key.h"
#include "ngx_http_oneid_audit.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_pubsub.h"
#include "ngx_http_oneid_require.h"
#include "ngx_http_oneid_metrics.h"
#include "ngx_http_oneid_health.h"


static ngx_int_t ngx_http_oneid_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_oneid_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_oneid_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_oneid_post_read_handler(ngx_http_request_t *r);
static void *ngx_http_oneid_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_oneid_init_main_conf(ngx_conf_t *cf, void *conf);
static void ngx_http_oneid_remember_position(ngx_conf_t *cf,
    ngx_http_oneid_loc_conf_t *olcf);
static char *ngx_http_oneid(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_oneid_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oneid_logout_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oneid_key_file_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_oneid_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oneid_session_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oneid_session_touch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oneid_sign_headers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_oneid_init_process(ngx_cycle_t *cycle);
static void ngx_http_oneid_exit_process(ngx_cycle_t *cycle);


static ngx_conf_post_handler_pt  ngx_http_oneid_url_post =
    ngx_http_oneid_check_url;
static ngx_conf_post_handler_pt  ngx_http_oneid_path_post =
    ngx_http_oneid_check_path;
static ngx_conf_post_handler_pt  ngx_http_oneid_cookie_name_post =
    ngx_http_oneid_check_cookie_name;
static ngx_conf_post_handler_pt  ngx_http_oneid_not_empty_post =
    ngx_http_oneid_check_not_empty;


static ngx_conf_enum_t  ngx_http_oneid_header_encodings[] = {
    { ngx_string("percent"), NGX_HTTP_ONEID_ENCODE_PERCENT },
    { ngx_string("raw"), NGX_HTTP_ONEID_ENCODE_RAW },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_oneid_idp_sessions[] = {
    { ngx_string("keep"), NGX_HTTP_ONEID_IDP_SESSION_KEEP },
    { ngx_string("end"), NGX_HTTP_ONEID_IDP_SESSION_END },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_oneid_commands[] = {

    { ngx_string("oneid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_oneid,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oneid_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_ONEID_ROLE_CALLBACK,
      NULL },

    { ngx_string("oneid_logout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_oneid_logout_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oneid_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_ONEID_ROLE_ADMIN,
      NULL },

    { ngx_string("oneid_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oneid_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oneid_health_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_oneid_key_file_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_session_max_per_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, max_per_user),
      NULL },

    { ngx_string("oneid_session_info"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_oneid_session_info,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_ONEID_ROLE_INFO,
      NULL },

    { ngx_string("oneid_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_oneid_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_session_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_oneid_session_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_client_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, client_id),
      NULL },

    { ngx_string("oneid_client_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, client_secret),
      NULL },

    { ngx_string("oneid_client_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_oneid_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_scope"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, scope),
      NULL },

    { ngx_string("oneid_redirect_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, redirect_uri),
      &ngx_http_oneid_url_post },

    { ngx_string("oneid_authorize_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, authorize_url),
      &ngx_http_oneid_url_post },

    { ngx_string("oneid_backend"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, backend),
      &ngx_http_oneid_path_post },

    { ngx_string("oneid_logout_redirect"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, logout_redirect),
      &ngx_http_oneid_path_post },

    { ngx_string("oneid_session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, session_timeout),
      NULL },

    { ngx_string("oneid_session_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, session_lifetime),
      NULL },

    { ngx_string("oneid_session_touch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_oneid_session_touch,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_state_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, state_timeout),
      NULL },

    { ngx_string("oneid_cookie_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, cookie_name),
      &ngx_http_oneid_cookie_name_post },

    { ngx_string("oneid_cookie_secure"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, cookie_secure),
      NULL },

    { ngx_string("oneid_preserve_post"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, preserve_post),
      NULL },

    { ngx_string("oneid_preserve_post_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, preserve_post_max_size),
      NULL },

    { ngx_string("oneid_pass_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, pass_headers),
      NULL },

    { ngx_string("oneid_header_encoding"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, header_encoding),
      &ngx_http_oneid_header_encodings },

    { ngx_string("oneid_sign_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_oneid_sign_headers,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_page_organization"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, page_organization),
      &ngx_http_oneid_not_empty_post },

    { ngx_string("oneid_page_help_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, page_help_url),
      &ngx_http_oneid_url_post },

    { ngx_string("oneid_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_oneid_audit_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_oneid_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oneid_idp_session"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oneid_loc_conf_t, idp_session),
      &ngx_http_oneid_idp_sessions },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oneid_module_ctx = {
    ngx_http_oneid_add_variables,          /* preconfiguration */
    ngx_http_oneid_init,                   /* postconfiguration */

    ngx_http_oneid_create_main_conf,       /* create main configuration */
    ngx_http_oneid_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oneid_create_loc_conf,        /* create location configuration */
    ngx_http_oneid_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_oneid_module = {
    NGX_MODULE_V1,
    &ngx_http_oneid_module_ctx,            /* module context */
    ngx_http_oneid_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_oneid_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_oneid_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_oneid_add_variables(ngx_conf_t *cf)
{
    ngx_uint_t               i;
    ngx_http_variable_t     *var;
    ngx_http_oneid_field_t  *f;

    for (i = 0; i < NGX_HTTP_ONEID_NFIELDS; i++) {
        f = &ngx_http_oneid_fields[i];

        var = ngx_http_add_variable(cf, &f->variable,
                                    NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = ngx_http_oneid_variable;
        var->data = i;

        f->hash = ngx_hash_key(f->lowcase_header.data, f->lowcase_header.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t                  *value;
    ngx_http_oneid_identity_t  *id;

    id = ngx_http_oneid_request_identity(r);

    if (id == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = &id->field[data];

    v->len = value->len;
    v->data = value->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt         *h;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oneid_module);

    /* a cache must hear of sessions ended on other nodes */

    if (omcf->cache != NULL && omcf->redis != NULL) {
        omcf->pubsub = ngx_http_oneid_pubsub_create(cf, omcf->redis,
                                                    omcf->cache);
        if (omcf->pubsub == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_oneid_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_oneid_post_read_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_oneid_access_handler;

    /*
     * nginx runs no access handler for subrequests: "oneid on" is
     * enforced for them in the rewrite phase, before a "return" there
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_oneid_subrequest_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_oneid_precontent_handler;

    return ngx_http_oneid_idp_init(cf);
}


/*
 * Identity headers are trusted by the upstream, so copies sent by clients
 * are removed from every request, whether the location is protected or not.
 */

static ngx_int_t
ngx_http_oneid_post_read_handler(ngx_http_request_t *r)
{
    if (ngx_http_oneid_strip_identity_headers(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static void *
ngx_http_oneid_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->redis = NULL;
     *     omcf->cache = NULL;
     *     omcf->keys = NULL;
     *     omcf->pubsub = NULL;
     *     omcf->metrics = NULL;
     *     omcf->metrics_directive = NULL;
     */

    return omcf;
}


static char *
ngx_http_oneid_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_oneid_main_conf_t *omcf = conf;

    if (omcf->redis == NULL) {
        /* the module is not used: no key to make */
        return NGX_CONF_OK;
    }

    return ngx_http_oneid_key_init(cf, &omcf->keys);
}


static void
ngx_http_oneid_remember_position(ngx_conf_t *cf,
    ngx_http_oneid_loc_conf_t *olcf)
{
    olcf->conf_file = cf->conf_file->file.name.data;
    olcf->conf_line = cf->conf_file->line;
}


static char *
ngx_http_oneid(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (olcf->enable) {
        ngx_http_oneid_remember_position(cf, olcf);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oneid_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    if (olcf->role != NGX_HTTP_ONEID_ROLE_NONE) {
        return "is duplicate";
    }

    olcf->role = cmd->offset;
    ngx_http_oneid_remember_position(cf, olcf);

    return NGX_CONF_OK;
}


/* oneid_logout [all]: "all" ends every session of the user */

static char *
ngx_http_oneid_logout_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    ngx_str_t  *value;

    if (olcf->role != NGX_HTTP_ONEID_ROLE_NONE) {
        return "is duplicate";
    }

    value = cf->args->elts;
    olcf->role = NGX_HTTP_ONEID_ROLE_LOGOUT;

    if (cf->args->nelts == 2) {
        if (ngx_strcmp(value[1].data, "all") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": only \"all\" "
                               "may follow \"oneid_logout\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        olcf->role = NGX_HTTP_ONEID_ROLE_LOGOUT_ALL;
    }

    ngx_http_oneid_remember_position(cf, olcf);

    return NGX_CONF_OK;
}


static char *
ngx_http_oneid_key_file_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oneid_main_conf_t *omcf = conf;

    return ngx_http_oneid_key_file(cf, &omcf->keys);
}


static char *
ngx_http_oneid_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_main_conf_t *omcf = conf;

    if (omcf->redis != NULL) {
        return "is duplicate";
    }

    return ngx_http_oneid_redis_parse(cf, &omcf->redis);
}


static char *
ngx_http_oneid_session_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_main_conf_t *omcf = conf;

    if (omcf->cache != NULL) {
        return "is duplicate";
    }

    return ngx_http_oneid_cache_parse(cf, cmd, &omcf->cache);
}


/* oneid_session_touch on | off | value with variables */

static char *
ngx_http_oneid_session_touch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    ngx_str_t                         *value;
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    if (olcf->session_touch != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    olcf->session_touch = 1;
    olcf->session_touch_value = NULL;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        olcf->session_touch = 0;
        return NGX_CONF_OK;
    }

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": it must be "
                           "\"on\", \"off\" or contain variables",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    olcf->session_touch_value = cv;

    return NGX_CONF_OK;
}


/*
 * oneid_sign_headers key_file=<path> | off: the key is shared with the
 * upstream, so it is a file of its own, never the server key, and as
 * private as the server key.  Short keys are refused: the upstream trusts
 * whatever a holder of the key signs.
 */

static char *
ngx_http_oneid_sign_headers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    char       *rv;
    ngx_str_t  *value, file;

    if (olcf->sign_key.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ngx_str_set(&olcf->sign_key, "");
        return NGX_CONF_OK;
    }

    if (value[1].len <= sizeof("key_file=") - 1
        || ngx_strncmp(value[1].data, "key_file=", sizeof("key_file=") - 1)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\": it must be "
                           "\"key_file=<path>\" or \"off\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    file.data = value[1].data + sizeof("key_file=") - 1;
    file.len = value[1].len - (sizeof("key_file=") - 1);

    rv = ngx_http_oneid_read_secret(cf, &file, "signing key", 1,
                                    &olcf->sign_key);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (olcf->sign_key.len < NGX_HTTP_ONEID_SIGN_KEY_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "signing key file \"%V\" holds %uz bytes, "
                           "at least %d are needed: "
                           "\"openssl rand -hex 32\" makes one",
                           &file, olcf->sign_key.len,
                           NGX_HTTP_ONEID_SIGN_KEY_MIN);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_oneid_init_process(ngx_cycle_t *cycle)
{
    ngx_http_oneid_main_conf_t  *omcf;

    /* not in a cache manager or loader: they serve no requests */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    ngx_http_oneid_metrics_init_process(cycle);

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oneid_module);

    if (omcf != NULL && omcf->pubsub != NULL) {
        ngx_http_oneid_pubsub_start(omcf->pubsub, cycle->log);
    }

    return NGX_OK;
}


static void
ngx_http_oneid_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oneid_module);

    if (omcf != NULL && omcf->pubsub != NULL) {
        ngx_http_oneid_pubsub_close(omcf->pubsub);
    }

    if (omcf != NULL && omcf->redis != NULL) {
        ngx_http_oneid_redis_close(omcf->redis);
    }

    ngx_http_oneid_crypto_cleanup();
}
