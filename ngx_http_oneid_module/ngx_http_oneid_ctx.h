
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The per-request context of the request handlers, private to them: the
 * context and the steps the flows share (ngx_http_oneid_ctx.c), and the
 * flows the access handler dispatches to (ngx_http_oneid_login.c,
 * ngx_http_oneid_logout.c, ngx_http_oneid_info.c).
 */


#ifndef _NGX_HTTP_ONEID_CTX_H_INCLUDED_
#define _NGX_HTTP_ONEID_CTX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_wait.h"


/* the kinds of Redis keys */
#define NGX_HTTP_ONEID_SESSION  "session"
/* the OneID token of a session, kept for a logout after it expired */
#define NGX_HTTP_ONEID_TOKEN    "token"

/* ctx->touch: not decided yet (0), or oneid_session_touch's verdict */
#define NGX_HTTP_ONEID_TOUCH_YES  1
#define NGX_HTTP_ONEID_TOUCH_NO   2


typedef struct ngx_http_oneid_ctx_s     ngx_http_oneid_ctx_t;
typedef struct ngx_http_oneid_shared_s  ngx_http_oneid_shared_t;

typedef ngx_int_t (*ngx_http_oneid_step_pt)(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);


/* the session the request came with, or the one a login made */
typedef struct {
    ngx_str_t                     sid;
    /* its Redis key, once built */
    ngx_str_t                     key;
    ngx_http_oneid_identity_t     identity;
    /* ended elsewhere: NGX_HTTP_ONEID_ENDED_* (ngx_http_oneid_session.h) */
    ngx_uint_t                    ended;
    /* the cookie was read: an internal redirect hides it afterwards */
    /* the subscription to revocations when asked, see cached_session() */
    ngx_uint_t                    subscription;
    unsigned                      have_cookie:1;
    unsigned                      old_cookie:1;
    unsigned                      from_cache:1;
} ngx_http_oneid_ctx_session_t;


/* a login: started on a protected location, finished by the callback */
typedef struct {
    ngx_str_t                     code;
    ngx_str_t                     state;
    ngx_str_t                     return_uri;
    /* the session the browser had at the callback, its id and hash */
    ngx_str_t                     prev_sid;
    ngx_str_t                     prev_hash;
    ngx_str_t                     access_token;
    /* "<hash> <OneID token>" lines: sessions a limit or a revoke ended */
    ngx_str_t                     ended;
    ngx_uint_t                    ended_count;
    /* a stale callback: restart its expired flow, unless signed in */
    unsigned                      restart:1;
} ngx_http_oneid_ctx_login_t;


struct ngx_http_oneid_ctx_s {
    ngx_http_request_t           *request;
    ngx_http_oneid_loc_conf_t    *conf;
    ngx_http_oneid_redis_t       *redis;
    ngx_http_oneid_cache_t       *cache;

    /* the back channel: the operation waited for, and the step after it */
    ngx_http_oneid_wait_t         wait;
    ngx_http_oneid_step_pt        next;

    ngx_http_oneid_ctx_session_t  session;
    ngx_http_oneid_ctx_login_t    login;

    /* a subrequest: what all subrequests know of the session */
    ngx_http_oneid_shared_t      *shared;

    /* OneID calls made by one flow, whether one failed, what follows */
    ngx_uint_t                    idp_calls;
    ngx_uint_t                    idp_ended;
    ngx_http_oneid_step_pt        then;
    /* the step once the request body is in */
    ngx_http_oneid_step_pt        body_next;

    /* whether the request restarts the idle timeout, once decided */
    unsigned                      touch:2;

    unsigned                      authenticated:1;
    /* signed in, but oneid_require of the location said no */
    unsigned                      refused:1;
    unsigned                      idp_failed:1;
    /* the request body is on its way (oneid_admin) */
    unsigned                      reading_body:1;
};


/* ngx_http_oneid_ctx.c */
ngx_http_oneid_ctx_t *ngx_http_oneid_create_ctx(ngx_http_request_t *r);
void ngx_http_oneid_reset_ctx(ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_loc_conf_t *olcf);
ngx_http_oneid_ctx_t *ngx_http_oneid_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_redis_wait(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next,
    const char *command, const char *kind, ngx_str_t *id, ngx_str_t *value,
    time_t ttl);
ngx_int_t ngx_http_oneid_redis_wait_argv(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next, ngx_uint_t argc,
    ngx_str_t *argv);
ngx_int_t ngx_http_oneid_read_body(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next);
ngx_int_t ngx_http_oneid_idp_wait(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next,
    const char *grant, const char *param, ngx_str_t *value);
ngx_int_t ngx_http_oneid_store_failed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, const char *doing);
ngx_int_t ngx_http_oneid_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_cached_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_load_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next);
ngx_uint_t ngx_http_oneid_touches(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_session_usable(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
void ngx_http_oneid_cache_session(ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_lifetime_over(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
void ngx_http_oneid_forget(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_uint_t session);
void ngx_http_oneid_revoke_cached(ngx_http_oneid_ctx_t *ctx, ngx_str_t *key);
void ngx_http_oneid_revoke_hash(ngx_http_oneid_ctx_t *ctx, ngx_str_t *hash);

/* ngx_http_oneid_login.c */
ngx_int_t ngx_http_oneid_login(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_callback(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

/* ngx_http_oneid_logout.c */
ngx_int_t ngx_http_oneid_logout(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_open_kept_token(ngx_http_request_t *r,
    ngx_str_t *record, ngx_str_t *token);
ngx_int_t ngx_http_oneid_end_idp_sessions(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

/* ngx_http_oneid_health.c */
ngx_int_t ngx_http_oneid_health(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

/* ngx_http_oneid_admin.c */
ngx_int_t ngx_http_oneid_admin(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

/* ngx_http_oneid_info.c */
ngx_int_t ngx_http_oneid_info(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
char *ngx_http_oneid_session_info(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_ONEID_CTX_H_INCLUDED_ */
