
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_MODULE_H_INCLUDED_
#define _NGX_HTTP_ONEID_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


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


struct redisAsyncContext;

typedef struct ngx_http_oneid_redis_s      ngx_http_oneid_redis_t;
typedef struct ngx_http_oneid_cache_s      ngx_http_oneid_cache_t;
typedef struct ngx_http_oneid_redis_cmd_s  ngx_http_oneid_redis_cmd_t;
typedef struct ngx_http_oneid_sentinel_s   ngx_http_oneid_sentinel_t;

/*
 * rc: NGX_OK (string or status reply in value), NGX_DECLINED (nil or 0),
 * NGX_ERROR (error reply or no reply; err says why)
 */
typedef void (*ngx_http_oneid_redis_handler_pt)(void *data, ngx_int_t rc,
    ngx_str_t *value, ngx_str_t *err);

/* rc: NGX_OK with the master's address, or NGX_ERROR with err */
typedef void (*ngx_http_oneid_sentinel_handler_pt)(void *data, ngx_int_t rc,
    u_char *host, int port, ngx_str_t *err);

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


extern ngx_module_t            ngx_http_oneid_module;
extern ngx_http_oneid_field_t  ngx_http_oneid_fields[];


/* ngx_http_oneid_redis.c */
char *ngx_http_oneid_redis_parse(ngx_conf_t *cf, ngx_http_oneid_redis_t **rdp);
ngx_str_t *ngx_http_oneid_redis_prefix(ngx_http_oneid_redis_t *rd);
ngx_msec_t ngx_http_oneid_redis_timeout(ngx_http_oneid_redis_t *rd);
ngx_http_oneid_redis_cmd_t *ngx_http_oneid_redis_command(
    ngx_http_oneid_redis_t *rd, ngx_http_oneid_redis_handler_pt handler,
    void *data, ngx_uint_t argc, ngx_str_t *argv, ngx_str_t *err);
void ngx_http_oneid_redis_cancel(ngx_http_oneid_redis_cmd_t *cmd);
void ngx_http_oneid_redis_reset(ngx_http_oneid_redis_t *rd,
    const char *reason);
void ngx_http_oneid_redis_close(ngx_http_oneid_redis_t *rd);
ngx_int_t ngx_http_oneid_redis_hook(struct redisAsyncContext *ac, void *data,
    ngx_log_t *log,
    void (*connected)(const struct redisAsyncContext *ac, int status),
    void (*disconnected)(const struct redisAsyncContext *ac, int status));

/* ngx_http_oneid_sentinel.c */
ngx_http_oneid_sentinel_t *ngx_http_oneid_sentinel_create(ngx_conf_t *cf,
    ngx_str_t *master);
char *ngx_http_oneid_sentinel_add(ngx_conf_t *cf,
    ngx_http_oneid_sentinel_t *sn, ngx_str_t *addr);
void ngx_http_oneid_sentinel_set(ngx_http_oneid_sentinel_t *sn,
    ngx_str_t *password, ngx_msec_t timeout);
ngx_str_t *ngx_http_oneid_sentinel_master(ngx_http_oneid_sentinel_t *sn);
ngx_int_t ngx_http_oneid_sentinel_ask(ngx_http_oneid_sentinel_t *sn,
    ngx_log_t *log, ngx_http_oneid_sentinel_handler_pt handler, void *data);
void ngx_http_oneid_sentinel_watch(ngx_http_oneid_sentinel_t *sn,
    ngx_log_t *log, ngx_http_oneid_sentinel_handler_pt handler, void *data);
void ngx_http_oneid_sentinel_cancel(ngx_http_oneid_sentinel_t *sn);
void ngx_http_oneid_sentinel_close(ngx_http_oneid_sentinel_t *sn);

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

/* ngx_http_oneid_idp.c (the rest of the OneID client: ngx_http_oneid_idp.h) */
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
