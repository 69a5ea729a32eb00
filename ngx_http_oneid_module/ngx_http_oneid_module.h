
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_MODULE_H_INCLUDED_
#define _NGX_HTTP_ONEID_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_redis.h"


#define NGX_HTTP_ONEID_VERSION         "0.3.0"

/* 32 random bytes, base64url without padding */
#define NGX_HTTP_ONEID_TOKEN_BYTES     32
#define NGX_HTTP_ONEID_TOKEN_LEN       43

#define NGX_HTTP_ONEID_SHA256_HEX_LEN  64

#define NGX_HTTP_ONEID_ROLE_NONE       0
#define NGX_HTTP_ONEID_ROLE_CALLBACK   1
#define NGX_HTTP_ONEID_ROLE_LOGOUT     2

#define NGX_HTTP_ONEID_ENCODE_PERCENT  0
#define NGX_HTTP_ONEID_ENCODE_RAW      1


/* identity fields, in the order they are stored, exported and forwarded */
enum {
    NGX_HTTP_ONEID_PIN = 0,
    NGX_HTTP_ONEID_USER_ID,
    NGX_HTTP_ONEID_FULL_NAME,
    NGX_HTTP_ONEID_FIRST_NAME,
    NGX_HTTP_ONEID_SUR_NAME,
    NGX_HTTP_ONEID_MID_NAME,
    NGX_HTTP_ONEID_USER_TYPE,
    NGX_HTTP_ONEID_AUTH_METHOD,
    NGX_HTTP_ONEID_LEGAL_TIN,
    NGX_HTTP_ONEID_LEGAL_NAME,
    NGX_HTTP_ONEID_NFIELDS
};


typedef struct {
    ngx_str_t                     variable;
    ngx_str_t                     header;
    ngx_str_t                     lowcase_header;
    ngx_uint_t                    hash;
} ngx_http_oneid_field_t;


typedef struct {
    ngx_str_t                     field[NGX_HTTP_ONEID_NFIELDS];
    ngx_str_t                     access_token;
    time_t                        login_time;
    /* written before the "__Host-" cookie names (session format "1") */
    unsigned                      legacy:1;
} ngx_http_oneid_identity_t;


typedef struct ngx_http_oneid_cache_s      ngx_http_oneid_cache_t;


typedef struct {
    ngx_http_oneid_redis_t       *redis;
    ngx_http_oneid_cache_t       *cache;
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

    ngx_str_t                     cookie_name;
    ngx_str_t                     state_cookie_name;
    ngx_flag_t                    cookie_secure;
    /* cookie_name is the default, chosen by cookie_secure */
    ngx_flag_t                    cookie_name_default;
    /* the session cookie's name before the __Host- default: upgraded */
    ngx_str_t                     old_cookie_name;

    ngx_flag_t                    pass_headers;
    ngx_uint_t                    header_encoding;

    /* where "oneid on", "oneid_callback" or "oneid_logout" was written */
    u_char                       *conf_file;
    ngx_uint_t                    conf_line;
} ngx_http_oneid_loc_conf_t;


typedef struct ngx_http_oneid_ctx_s  ngx_http_oneid_ctx_t;

/* the session as the subrequests of one client request saw it */
typedef struct {
    ngx_array_t                   waiters;    /* ngx_http_request_t * */
    ngx_http_oneid_identity_t     identity;
    ngx_uint_t                    status;     /* 0: signed in */
    unsigned                      loading:1;
    unsigned                      checked:1;
} ngx_http_oneid_shared_t;

typedef ngx_int_t (*ngx_http_oneid_step_pt)(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

struct ngx_http_oneid_ctx_s {
    ngx_http_request_t           *request;
    ngx_http_oneid_loc_conf_t    *conf;
    ngx_http_oneid_redis_t       *redis;
    ngx_http_oneid_cache_t       *cache;

    ngx_http_oneid_step_pt        next;
    ngx_event_t                   wake;

    ngx_http_oneid_redis_cmd_t   *cmd;
    ngx_int_t                     redis_rc;
    ngx_str_t                     redis_value;
    ngx_str_t                     redis_err;

    ngx_http_request_t           *subrequest;
    ngx_int_t                     idp_rc;
    ngx_uint_t                    idp_status;
    ngx_str_t                     idp_body;
    ngx_uint_t                    idp_too_big;

    ngx_str_t                     sid;
    ngx_str_t                     key;
    ngx_str_t                     code;
    ngx_str_t                     state;
    ngx_str_t                     binding;
    ngx_str_t                     return_uri;
    ngx_str_t                     access_token;

    ngx_http_oneid_identity_t     identity;

    /* a subrequest: what all subrequests know of the session */
    ngx_http_oneid_shared_t      *shared;

    unsigned                      waiting:1;
    unsigned                      authenticated:1;
    unsigned                      have_session_cookie:1;
    unsigned                      old_session_cookie:1;
    unsigned                      from_cache:1;
};


extern ngx_module_t            ngx_http_oneid_module;
extern ngx_http_oneid_field_t  ngx_http_oneid_fields[];


/* ngx_http_oneid_handler.c */
ngx_int_t ngx_http_oneid_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_subrequest_handler(ngx_http_request_t *r);
ngx_http_oneid_shared_t *ngx_http_oneid_shared(ngx_http_request_t *r,
    ngx_uint_t create);
ngx_http_oneid_ctx_t *ngx_http_oneid_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_callback_arg(ngx_http_request_t *r, const char *name,
    size_t max, ngx_str_t *value);

/* ngx_http_oneid_cache.c */
char *ngx_http_oneid_cache_parse(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_oneid_cache_t **cachep);
ngx_int_t ngx_http_oneid_cache_get(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_pool_t *pool, ngx_str_t *value, ngx_uint_t *refresh);
void ngx_http_oneid_cache_put(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_str_t *value);
void ngx_http_oneid_cache_revoke(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_msec_t hold);

/* ngx_http_oneid_session.c */
ngx_int_t ngx_http_oneid_session_key(ngx_pool_t *pool,
    ngx_http_oneid_redis_t *rd, const char *kind, ngx_str_t *id,
    ngx_str_t *key);
ngx_int_t ngx_http_oneid_session_encode(ngx_pool_t *pool,
    ngx_http_oneid_identity_t *id, ngx_str_t *out);
ngx_int_t ngx_http_oneid_session_decode(ngx_str_t *in,
    ngx_http_oneid_identity_t *id);

/* ngx_http_oneid_idp.c */
ngx_int_t ngx_http_oneid_idp_init(ngx_conf_t *cf);
ngx_int_t ngx_http_oneid_idp_call(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, const char *grant, const char *param,
    ngx_str_t *value);
ngx_int_t ngx_http_oneid_idp_parse_token(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_str_t *token);
ngx_int_t ngx_http_oneid_idp_parse_identity(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_identity_t *id);
ngx_int_t ngx_http_oneid_authorize_location(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *location);
u_char *ngx_http_oneid_form_escape(u_char *dst, u_char *src, size_t len);

/* ngx_http_oneid_crypto.c */
ngx_int_t ngx_http_oneid_random_token(ngx_http_request_t *r, ngx_str_t *out);
ngx_int_t ngx_http_oneid_is_token(ngx_str_t *s);
ngx_int_t ngx_http_oneid_sha256_hex(u_char *dst, u_char *data, size_t len);
void ngx_http_oneid_crypto_cleanup(void);

/* ngx_http_oneid_cookie.c */
ngx_int_t ngx_http_oneid_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_oneid_set_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *name, ngx_str_t *value,
    time_t max_age);
ngx_int_t ngx_http_oneid_hide_cookie(ngx_http_request_t *r, ngx_str_t *name);
ngx_int_t ngx_http_oneid_session_id(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid, ngx_uint_t *old);
ngx_int_t ngx_http_oneid_match_cookie(ngx_http_request_t *r, ngx_str_t *name,
    u_char *hash);
ngx_int_t ngx_http_oneid_get_token_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
ngx_int_t ngx_http_oneid_move_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid);
ngx_int_t ngx_http_oneid_expire_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf);

/* ngx_http_oneid_headers.c */
ngx_int_t ngx_http_oneid_strip_identity_headers(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_set_identity_headers(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_identity_t *id);
ngx_int_t ngx_http_oneid_drop_identity_headers(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_oneid_find_header(ngx_http_request_t *r,
    u_char *lowcase, size_t len);
ngx_int_t ngx_http_oneid_wants_json(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_same_origin(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_safe_return_uri(ngx_str_t *uri);

/* ngx_http_oneid_page.c */
typedef enum {
    NGX_HTTP_ONEID_PAGE_BAD_CALLBACK = 0,
    NGX_HTTP_ONEID_PAGE_LOGIN_REQUIRED,
    NGX_HTTP_ONEID_PAGE_REFUSED,
    NGX_HTTP_ONEID_PAGE_IDP_UNAVAILABLE,
    NGX_HTTP_ONEID_PAGE_STORE_UNAVAILABLE,
    NGX_HTTP_ONEID_PAGE_INTERNAL,
    NGX_HTTP_ONEID_PAGE_COOKIE_CONFLICT,
    NGX_HTTP_ONEID_PAGE_LOGOUT_CONFIRM,
    NGX_HTTP_ONEID_PAGE_LOGOUT_FAILED,
    NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL,
    NGX_HTTP_ONEID_PAGE_LAST
} ngx_http_oneid_page_e;

ngx_int_t ngx_http_oneid_send_page(ngx_http_request_t *r,
    ngx_http_oneid_page_e page);
ngx_int_t ngx_http_oneid_redirect(ngx_http_request_t *r, ngx_str_t *location);
ngx_table_elt_t *ngx_http_oneid_add_header_out(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);


#endif /* _NGX_HTTP_ONEID_MODULE_H_INCLUDED_ */
