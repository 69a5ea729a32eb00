
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_MODULE_H_INCLUDED_
#define _NGX_HTTP_ONEID_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_identity.h"
#include "ngx_http_oneid_redis.h"


#define NGX_HTTP_ONEID_VERSION         "0.7.0"

/* 32 random bytes, base64url without padding */
#define NGX_HTTP_ONEID_TOKEN_BYTES     32
#define NGX_HTTP_ONEID_TOKEN_LEN       43

#define NGX_HTTP_ONEID_SHA256_BYTES    32
#define NGX_HTTP_ONEID_SHA256_HEX_LEN  64

/* a key derived from the server key for one purpose (HKDF-SHA256) */
#define NGX_HTTP_ONEID_KEY_BYTES       32

#define NGX_HTTP_ONEID_ROLE_NONE       0
#define NGX_HTTP_ONEID_ROLE_CALLBACK   1
#define NGX_HTTP_ONEID_ROLE_LOGOUT     2
#define NGX_HTTP_ONEID_ROLE_INFO       3
#define NGX_HTTP_ONEID_ROLE_LOGOUT_ALL 4
#define NGX_HTTP_ONEID_ROLE_ADMIN      5
#define NGX_HTTP_ONEID_ROLE_HEALTH     6

#define NGX_HTTP_ONEID_ENCODE_PERCENT  0
#define NGX_HTTP_ONEID_ENCODE_RAW      1

/* oneid_sign_headers: the shortest key accepted, in bytes of the file */
#define NGX_HTTP_ONEID_SIGN_KEY_MIN    32

/* oneid_idp_session: what becomes of OneID's own session at a login */
#define NGX_HTTP_ONEID_IDP_SESSION_KEEP  0
#define NGX_HTTP_ONEID_IDP_SESSION_END   1


typedef struct ngx_http_oneid_cache_s      ngx_http_oneid_cache_t;
typedef struct ngx_http_oneid_keys_s       ngx_http_oneid_keys_t;
typedef struct ngx_http_oneid_audit_log_s  ngx_http_oneid_audit_log_t;
typedef struct ngx_http_oneid_pubsub_s     ngx_http_oneid_pubsub_t;

/*
 * What an asynchronous operation (a Redis command, a OneID back-channel
 * call) brought back to the request that waited for it.  Redis: rc as for
 * ngx_http_oneid_redis_handler_pt, value and err.  OneID: rc as for
 * ngx_http_oneid_idp_handler_pt, status and value (the body).
 */
typedef struct {
    ngx_int_t                     rc;
    ngx_uint_t                    status;
    ngx_str_t                     value;
    ngx_str_t                     err;
} ngx_http_oneid_result_t;


typedef struct {
    ngx_http_oneid_redis_t       *redis;
    ngx_http_oneid_cache_t       *cache;
    ngx_http_oneid_keys_t        *keys;
    /* revocations from other nodes, with a cache */
    ngx_http_oneid_pubsub_t      *pubsub;
    /* the counters (ngx_http_oneid_metrics.c); NULL without oneid_redis */
    ngx_shm_zone_t               *metrics;
    /* "oneid_metrics" or "oneid_health" if used: they need oneid_redis */
    ngx_str_t                    *metrics_directive;
} ngx_http_oneid_main_conf_t;


typedef struct {
    ngx_flag_t                    enable;
    ngx_uint_t                    role;

    ngx_str_t                     client_id;
    ngx_str_t                     client_secret;
    ngx_str_t                     scope;
    ngx_str_t                     redirect_uri;
    ngx_str_t                     authorize_url;
    ngx_str_t                     backend;
    ngx_str_t                     logout_redirect;

    time_t                        session_timeout;
    time_t                        session_lifetime;
    time_t                        state_timeout;

    /* the sessions a user may have at once; 0: any number */
    ngx_uint_t                    max_per_user;
    /* whether a request restarts the idle timeout: touch, else the value */
    ngx_flag_t                    session_touch;
    ngx_http_complex_value_t     *session_touch_value;
    /* oneid_session_info: warn this long before the idle timeout */
    time_t                        session_warn;

    ngx_str_t                     cookie_name;
    /* the flows' cookies are named "<state_cookie_name>_<8 of state>" */
    ngx_str_t                     state_cookie_name;
    /* shared by the tabs of a browser: its parallel logins make one */
    ngx_str_t                     browser_cookie_name;
    ngx_flag_t                    cookie_secure;
    /* cookie_name is the default, chosen by cookie_secure */
    ngx_flag_t                    cookie_name_default;
    /* the session cookie's name before the __Host- default: upgraded */
    ngx_str_t                     old_cookie_name;

    ngx_flag_t                    pass_headers;
    ngx_uint_t                    header_encoding;
    /* oneid_sign_headers: the HMAC key shared with the upstream; "off": "" */
    ngx_str_t                     sign_key;

    /* what the pages name: the deployment, and where to get OneID help */
    ngx_str_t                     page_organization;
    ngx_str_t                     page_help_url;

    /* oneid_audit_log: NULL is "off" */
    ngx_http_oneid_audit_log_t   *audit_log;
    ngx_uint_t                    idp_session;

    /* oneid_preserve_post: a form survives a re-login, up to this size */
    ngx_flag_t                    preserve_post;
    size_t                        preserve_post_max_size;
    /* "<cookie_name>_owner" and "<cookie_name>_post" */
    ngx_str_t                     owner_cookie_name;
    ngx_str_t                     post_cookie_name;

    /* oneid_require: ngx_http_oneid_require_t, all must hold; NULL: none */
    ngx_array_t                  *require;

    /* where "oneid on" or a role ("oneid_callback", ...) was written */
    u_char                       *conf_file;
    ngx_uint_t                    conf_line;
} ngx_http_oneid_loc_conf_t;


extern ngx_module_t  ngx_http_oneid_module;


/* ngx_http_oneid_cache.c */
char *ngx_http_oneid_cache_parse(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_oneid_cache_t **cachep);
ngx_int_t ngx_http_oneid_cache_get(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_pool_t *pool, ngx_str_t *value, ngx_uint_t *refresh);
void ngx_http_oneid_cache_put(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_str_t *value, ngx_uint_t touched);
void ngx_http_oneid_cache_revoke(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_msec_t hold);
void ngx_http_oneid_cache_invalidate(ngx_http_oneid_cache_t *cache);



#endif /* _NGX_HTTP_ONEID_MODULE_H_INCLUDED_ */
