
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The access-phase state machine.  Each step either answers the request
 * or starts one asynchronous operation (a Redis command or a OneID
 * subrequest), records the next step in ctx->next and returns NGX_AGAIN;
 * when the operation completes the phase handler runs again and calls
 * ctx->next.  Nothing here ever blocks the worker.
 *
 *   protected location: cookie -> GETEX session -> identity -> upstream
 *                       no session -> SET state -> 302 to OneID
 *   oneid_callback:     GETDEL state -> token -> identify -> SET session
 *                       -> 302 back to the page first asked for
 *   oneid_logout:       GETDEL session -> one_log_out -> 302
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_session.h"


static ngx_http_oneid_ctx_t *ngx_http_oneid_create_ctx(ngx_http_request_t *r);
static void ngx_http_oneid_cleanup(void *data);
static ngx_int_t ngx_http_oneid_redis_wait(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next,
    const char *command, const char *kind, ngx_str_t *id, ngx_str_t *value,
    time_t ttl);
static void ngx_http_oneid_redis_done(void *data, ngx_int_t rc,
    ngx_str_t *value, ngx_str_t *err);
static void ngx_http_oneid_forget(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_uint_t session);
static void ngx_http_oneid_keep_token(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static void ngx_http_oneid_touch_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_cached_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static void ngx_http_oneid_wake_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_oneid_idp_wait(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next,
    const char *grant, const char *param, ngx_str_t *value);
static ngx_int_t ngx_http_oneid_store_failed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, const char *doing);
static ngx_int_t ngx_http_oneid_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_load_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next);
static ngx_int_t ngx_http_oneid_session_usable(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

static ngx_int_t ngx_http_oneid_relocated(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_loc_conf_t *olcf);
static void ngx_http_oneid_reset_ctx(ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_loc_conf_t *olcf);
static ngx_int_t ngx_http_oneid_dispatch(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_lifetime_over(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

static ngx_int_t ngx_http_oneid_is_backchannel(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_subrequest_check(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_subrequest_loaded(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_subrequest_verdict(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_identity_t *identity,
    ngx_uint_t status);
static ngx_int_t ngx_http_oneid_subrequest_wait(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static void ngx_http_oneid_subrequest_wake_all(ngx_http_oneid_shared_t *sh);
static void ngx_http_oneid_shared_cleanup(void *data);

static ngx_int_t ngx_http_oneid_protect(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_protect_loaded(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_login(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_login_saved(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

static ngx_int_t ngx_http_oneid_callback(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_state(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_bad_state(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_bad_state_session(
    ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_token(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_identity(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_saved(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);

static ngx_int_t ngx_http_oneid_logout(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_removed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_token(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_done(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);


#define NGX_HTTP_ONEID_MAX_CODE  512


#define NGX_HTTP_ONEID_SESSION  "session"
#define NGX_HTTP_ONEID_STATE    "state"
/* the OneID token of a session, kept for a logout after it expired */
#define NGX_HTTP_ONEID_TOKEN    "token"


ngx_int_t
ngx_http_oneid_access_handler(ngx_http_request_t *r)
{
    ngx_http_oneid_ctx_t       *ctx;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oneid_module);
    ctx = ngx_http_oneid_get_ctx(r);

    if (ctx != NULL) {
        /* the subrequest left "sending to client" there */
        r->connection->log->action = NULL;

        if (ctx->waiting) {
            /* woken by something else than our operation */
            return NGX_AGAIN;
        }

        if (ctx->next != NULL) {
            return ctx->next(r, ctx);
        }

        if (ctx->conf != olcf) {
            return ngx_http_oneid_relocated(r, ctx, olcf);
        }

        return ctx->authenticated ? NGX_OK : NGX_DECLINED;
    }

    if (olcf->role == NGX_HTTP_ONEID_ROLE_NONE && olcf->enable != 1) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_oneid_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oneid_dispatch(r, ctx);
}


static ngx_int_t
ngx_http_oneid_dispatch(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    switch (ctx->conf->role) {

    case NGX_HTTP_ONEID_ROLE_CALLBACK:
        return ngx_http_oneid_callback(r, ctx);

    case NGX_HTTP_ONEID_ROLE_LOGOUT:
        return ngx_http_oneid_logout(r, ctx);

    default:
        return ngx_http_oneid_protect(r, ctx);
    }
}


/*
 * An internal redirect (X-Accel-Redirect, error_page, try_files) brought
 * a request that was already checked into a location with settings of its
 * own.  The session found before is reused only where it means the same
 * thing: the same cookie and a lifetime not over by this location's
 * rules; the identity headers follow this location's settings.
 */

static ngx_int_t
ngx_http_oneid_relocated(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_loc_conf_t *olcf)
{
    ngx_str_t   sid;
    ngx_uint_t  same_cookie, keep, old;

    same_cookie = ctx->conf->cookie_name.len == olcf->cookie_name.len
                  && ngx_strncmp(ctx->conf->cookie_name.data,
                                 olcf->cookie_name.data,
                                 olcf->cookie_name.len) == 0;

    if (olcf->role == NGX_HTTP_ONEID_ROLE_NONE && olcf->enable != 1) {
        ctx->conf = olcf;

        if (ctx->authenticated
            && ngx_http_oneid_drop_identity_headers(r) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_DECLINED;
    }

    if (olcf->role != NGX_HTTP_ONEID_ROLE_NONE
        || !ctx->authenticated || !same_cookie)
    {
        /* the cookie is gone from the request: a logout needs its id */

        keep = ctx->authenticated && same_cookie;
        sid = ctx->sid;
        old = ctx->old_session_cookie;

        ngx_http_oneid_reset_ctx(ctx, olcf);

        if (keep) {
            ctx->sid = sid;
            ctx->have_session_cookie = 1;
            ctx->old_session_cookie = old;
        }

        return ngx_http_oneid_dispatch(r, ctx);
    }

    ctx->conf = olcf;

    if (ngx_http_oneid_lifetime_over(r, ctx)) {
        ctx->authenticated = 0;
        return ngx_http_oneid_login(r, ctx);
    }

    if (ngx_http_oneid_set_identity_headers(r, olcf, &ctx->identity)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* a context as new, for a request checked again from the start */

static void
ngx_http_oneid_reset_ctx(ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_loc_conf_t *olcf)
{
    ngx_http_request_t      *r;
    ngx_http_oneid_redis_t  *redis;
    ngx_http_oneid_cache_t  *cache;

    r = ctx->request;
    redis = ctx->redis;
    cache = ctx->cache;

    ngx_memzero(ctx, sizeof(ngx_http_oneid_ctx_t));

    ctx->request = r;
    ctx->conf = olcf;
    ctx->redis = redis;
    ctx->cache = cache;

    ctx->wake.handler = ngx_http_oneid_wake_handler;
    ctx->wake.data = ctx;
    ctx->wake.log = r->connection->log;
}


static ngx_http_oneid_ctx_t *
ngx_http_oneid_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_oneid_ctx_t        *ctx;
    ngx_http_oneid_main_conf_t  *omcf;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oneid_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    ctx->request = r;
    ctx->redis = omcf->redis;
    ctx->cache = omcf->cache;

    ngx_http_oneid_reset_ctx(ctx, ngx_http_get_module_loc_conf(r,
                                                     ngx_http_oneid_module));

    cln->handler = ngx_http_oneid_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_oneid_module);

    return ctx;
}


/*
 * An internal redirect (index, try_files, error_page) wipes module
 * contexts, but the user was signed in and the session cookie is already
 * gone from the request: find the context again through its pool cleanup,
 * as the realip module does.
 */

ngx_http_oneid_ctx_t *
ngx_http_oneid_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_http_oneid_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oneid_module);

    if (ctx != NULL || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler != ngx_http_oneid_cleanup) {
            continue;
        }

        ctx = cln->data;

        /* subrequests share the pool and have contexts of their own */

        if (ctx->request != r) {
            continue;
        }

        if (!ctx->authenticated) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_oneid_module);

        return ctx;
    }

    return NULL;
}


/* the request is going away: nothing may call back into it */

static void
ngx_http_oneid_cleanup(void *data)
{
    ngx_http_oneid_ctx_t *ctx = data;

    if (ctx->cmd != NULL) {
        ngx_http_oneid_redis_cancel(ctx->cmd);
        ctx->cmd = NULL;
    }

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
}


/* asynchronous plumbing */

/*
 * "<command> <prefix><kind>:<hash of id> [value] [EX ttl]", then wait for
 * the reply and go on with next.
 */

static ngx_int_t
ngx_http_oneid_redis_wait(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_step_pt next, const char *command, const char *kind,
    ngx_str_t *id, ngx_str_t *value, time_t ttl)
{
    u_char      *p;
    ngx_str_t    argv[5];
    ngx_uint_t   argc;

    argv[0].data = (u_char *) command;
    argv[0].len = ngx_strlen(command);

    if (ngx_http_oneid_session_key(r->pool, ctx->redis, kind, id, &argv[1])
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    argc = 2;

    if (value != NULL) {
        argv[argc++] = *value;
    }

    if (ttl) {
        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
        }

        ngx_str_set(&argv[argc], "EX");
        argc++;
        argv[argc].data = p;
        argv[argc].len = ngx_sprintf(p, "%T", ttl) - p;
        argc++;
    }

    ctx->next = next;
    ctx->redis_rc = NGX_ERROR;
    ngx_str_null(&ctx->redis_value);
    ngx_str_null(&ctx->redis_err);

    ctx->cmd = ngx_http_oneid_redis_command(ctx->redis,
                                            ngx_http_oneid_redis_done, ctx,
                                            argc, argv, &ctx->redis_err);

    if (ctx->cmd == NULL) {
        /* known to be down: answer now rather than after a timeout */
        return next(r, ctx);
    }

    ctx->waiting = 1;

    ngx_add_timer(&ctx->wake, ngx_http_oneid_redis_timeout(ctx->redis));

    /* notice a client that gives up, as limit_req does */
    r->read_event_handler = ngx_http_test_reading;

    return NGX_AGAIN;
}


/*
 * Called from inside hiredis: copy the reply and resume from a posted
 * event, so that no request code runs under hiredis's feet.
 */

static void
ngx_http_oneid_redis_done(void *data, ngx_int_t rc, ngx_str_t *value,
    ngx_str_t *err)
{
    ngx_http_oneid_ctx_t *ctx = data;

    ngx_pool_t  *pool;

    ctx->cmd = NULL;
    ctx->redis_rc = rc;

    pool = ctx->request->pool;

    if (value->len) {
        ctx->redis_value.data = ngx_pstrdup(pool, value);
        ctx->redis_value.len = value->len;

        if (ctx->redis_value.data == NULL) {
            ctx->redis_rc = NGX_ERROR;
            ngx_str_set(&ctx->redis_err, "out of memory");
        }
    }

    if (err->len) {
        ctx->redis_err.data = ngx_pstrdup(pool, err);
        ctx->redis_err.len = ctx->redis_err.data ? err->len : 0;
    }

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    /*
     * ctx->waiting stays set until the wake handler runs: a request run
     * meanwhile by something else must not take the step twice
     */

    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


/*
 * Delete the session of ctx->sid (when "session") and the OneID token kept
 * for it; nobody waits for the outcome.
 */

static void
ngx_http_oneid_forget(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_uint_t session)
{
    ngx_str_t   argv[3], err;
    ngx_uint_t  argc;

    ngx_str_set(&argv[0], "DEL");
    argc = 1;

    if (session) {
        if (ngx_http_oneid_session_key(r->pool, ctx->redis,
                                       NGX_HTTP_ONEID_SESSION, &ctx->sid,
                                       &argv[argc])
            != NGX_OK)
        {
            return;
        }

        if (ctx->cache != NULL) {
            ngx_http_oneid_cache_revoke(ctx->cache,
                                      argv[argc].data + argv[argc].len
                                      - NGX_HTTP_ONEID_SHA256_HEX_LEN,
                                      ngx_http_oneid_redis_timeout(ctx->redis));
        }

        argc++;
    }

    if (ngx_http_oneid_session_key(r->pool, ctx->redis, NGX_HTTP_ONEID_TOKEN,
                                   &ctx->sid, &argv[argc])
        != NGX_OK)
    {
        return;
    }

    argc++;

    (void) ngx_http_oneid_redis_command(ctx->redis, NULL, NULL, argc, argv,
                                        &err);
}


/*
 * The OneID token outlives the idle timeout of its session, for as long
 * as the session could have lived, so that a sign-out after an idle
 * expiry still ends the OneID session.
 */

static void
ngx_http_oneid_keep_token(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    u_char     *p;
    ngx_str_t   argv[5], err;

    if (ctx->identity.access_token.len == 0
        || ngx_http_oneid_session_key(r->pool, ctx->redis,
                                      NGX_HTTP_ONEID_TOKEN, &ctx->sid,
                                      &argv[1])
           != NGX_OK)
    {
        return;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "SET");
    argv[2] = ctx->identity.access_token;
    ngx_str_set(&argv[3], "EX");
    argv[4].data = p;
    argv[4].len = ngx_sprintf(p, "%T", ctx->conf->session_lifetime) - p;

    (void) ngx_http_oneid_redis_command(ctx->redis, NULL, NULL, 5, argv,
                                        &err);
}


/*
 * A session answered from the cache still has its idle timeout in Redis
 * pushed forward, at most once per "refresh" of oneid_session_cache.
 */

static void
ngx_http_oneid_touch_session(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    u_char     *p;
    ngx_str_t   argv[3], err;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "EXPIRE");
    argv[1] = ctx->key;
    argv[2].data = p;
    argv[2].len = ngx_sprintf(p, "%T", ctx->conf->session_timeout) - p;

    (void) ngx_http_oneid_redis_command(ctx->redis, NULL, NULL, 3, argv,
                                        &err);
}


/*
 * NGX_OK: the cache answered, as Redis would have: the session is in
 * ctx->redis_value, or it was ended on this node (ctx->redis_rc is then
 * NGX_DECLINED, as for a nil reply)
 */

static ngx_int_t
ngx_http_oneid_cached_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_uint_t  refresh;

    if (ngx_http_oneid_session_key(r->pool, ctx->redis,
                                   NGX_HTTP_ONEID_SESSION, &ctx->sid,
                                   &ctx->key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_cache_get(ctx->cache, ctx->key.data + ctx->key.len
                                  - NGX_HTTP_ONEID_SHA256_HEX_LEN,
                                  r->pool, &ctx->redis_value, &refresh);

    if (rc == NGX_ABORT) {
        ctx->redis_rc = NGX_DECLINED;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    ctx->redis_rc = NGX_OK;
    ctx->from_cache = 1;

    if (refresh) {
        ngx_http_oneid_touch_session(r, ctx);
    }

    return NGX_OK;
}


static void
ngx_http_oneid_wake_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_oneid_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    if (ev->timedout) {
        ev->timedout = 0;

        if (ctx->cmd != NULL) {
            ngx_http_oneid_redis_cancel(ctx->cmd);
            ctx->cmd = NULL;
        }

        ctx->redis_rc = NGX_ERROR;
        ngx_str_set(&ctx->redis_err, "redis did not answer in time");

        ngx_http_oneid_redis_reset(ctx->redis, "command timed out");
    }

    ctx->waiting = 0;

    ngx_http_set_log_request(c->log, r);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_oneid_idp_wait(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_step_pt next, const char *grant, const char *param,
    ngx_str_t *value)
{
    if (ngx_http_oneid_idp_call(r, ctx, grant, param, value) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ctx->next = next;
    ctx->waiting = 1;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_oneid_store_failed(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    const char *doing)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "oneid: session store unavailable while %s: %V",
                  doing, &ctx->redis_err);

    return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_STORE_UNAVAILABLE);
}


/* sessions */

/* NGX_BUSY: different session cookies arrived (see the cookie code) */

static ngx_int_t
ngx_http_oneid_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_uint_t  old;

    if (ctx->have_session_cookie) {
        /* read before an internal redirect hid the cookie */
        return NGX_OK;
    }

    rc = ngx_http_oneid_session_id(r, ctx->conf, &ctx->sid, &old);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->have_session_cookie = 1;
    ctx->old_session_cookie = old;

    return NGX_OK;
}


/* one round trip reads the session and restarts its idle timeout */

static ngx_int_t
ngx_http_oneid_load_session(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_step_pt next)
{
    return ngx_http_oneid_redis_wait(r, ctx, next, "GETEX",
                                     NGX_HTTP_ONEID_SESSION, &ctx->sid, NULL,
                                     ctx->conf->session_timeout);
}


/*
 * NGX_OK: ctx->identity holds a live session.  NGX_DECLINED: no session
 * (expired by lifetime, or a value we cannot read).  Store errors are the
 * caller's to handle before this.
 */

static ngx_int_t
ngx_http_oneid_session_usable(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    if (ctx->redis_rc != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_session_decode(&ctx->redis_value, &ctx->identity)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: unreadable session record ignored");
        return NGX_DECLINED;
    }

    if (ctx->old_session_cookie && !ctx->identity.legacy) {
        /* made since the upgrade, so never under the old name by us */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: a session made under the \"__Host-\" cookie "
                      "name arrived under the old name, ignored (planted?)");
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_lifetime_over(r, ctx)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the absolute limit of this location: the session is ended when over */

static ngx_int_t
ngx_http_oneid_lifetime_over(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    if (ngx_time() - ctx->identity.login_time < ctx->conf->session_lifetime) {
        return 0;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: session reached oneid_session_lifetime, "
                  "login required");

    ngx_http_oneid_forget(r, ctx, 1);

    return 1;
}


/*
 * Subrequests (ssi, auth_request, mirror, addition, slice ...) to a
 * location with "oneid on".  nginx skips the access phase for them, so
 * this runs in the rewrite phase, before a "return" there can answer.
 * A subrequest is let through only with the main request's session; that
 * session is looked up once for all subrequests of the request, and the
 * subrequests that come while it is looked up wait for the answer.  No
 * session: 401, which auth_request passes on and ssi shows as an error,
 * never the protected content.
 *
 * Returns as a rewrite phase handler: NGX_DECLINED to go on, NGX_DONE to
 * wait, or a status.
 */

ngx_int_t
ngx_http_oneid_subrequest_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_oneid_ctx_t       *ctx;
    ngx_http_oneid_loc_conf_t  *olcf;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oneid_module);

    if (olcf->role == NGX_HTTP_ONEID_ROLE_NONE && olcf->enable != 1) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_oneid_module);

    if (ctx == NULL) {
        if (ngx_http_oneid_is_backchannel(r)) {
            return NGX_DECLINED;
        }

        if (olcf->role != NGX_HTTP_ONEID_ROLE_NONE) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oneid: a subrequest cannot be a login callback "
                          "or a logout, denied");
            return NGX_HTTP_FORBIDDEN;
        }

        ctx = ngx_http_oneid_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->next = ngx_http_oneid_subrequest_check;
    }

    if (ctx->waiting) {
        return NGX_DONE;
    }

    if (ctx->next == NULL && ctx->conf != olcf) {
        /* "rewrite ... last": the verdict again, by this location */
        ctx->conf = olcf;
        ctx->authenticated = 0;
        ctx->next = ngx_http_oneid_subrequest_check;
    }

    if (ctx->next == NULL) {
        return ctx->authenticated ? NGX_DECLINED : NGX_HTTP_UNAUTHORIZED;
    }

    rc = ctx->next(r, ctx);

    return (rc == NGX_AGAIN) ? NGX_DONE : rc;
}


/* the module's own back-channel call to OneID is no user's request */

static ngx_int_t
ngx_http_oneid_is_backchannel(ngx_http_request_t *r)
{
    ngx_http_oneid_ctx_t  *pctx;

    pctx = ngx_http_get_module_ctx(r->parent, ngx_http_oneid_module);

    return pctx != NULL && pctx->subrequest == r;
}


/*
 * What the subrequests of one client request know of its session.  It
 * lives apart from the main request's context, found through a pool
 * cleanup of its own, so that the main request's own checks (and the
 * internal redirects that reset them) neither see nor lose it.
 */

ngx_http_oneid_shared_t *
ngx_http_oneid_shared(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_oneid_shared_t  *sh;

    for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_oneid_shared_cleanup) {
            return cln->data;
        }
    }

    if (!create) {
        return NULL;
    }

    sh = ngx_pcalloc(r->main->pool, sizeof(ngx_http_oneid_shared_t));
    if (sh == NULL) {
        return NULL;
    }

    if (ngx_array_init(&sh->waiters, r->main->pool, 4,
                       sizeof(ngx_http_request_t *))
        != NGX_OK)
    {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->main->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_oneid_shared_cleanup;
    cln->data = sh;

    return sh;
}


static void
ngx_http_oneid_shared_cleanup(void *data)
{
    /* a marker: the memory goes with the pool */
}


static ngx_int_t
ngx_http_oneid_subrequest_check(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_http_oneid_ctx_t     *mctx;
    ngx_http_oneid_shared_t  *sh;

    ctx->next = NULL;

    /* the main request checked the session itself */

    mctx = ngx_http_oneid_get_ctx(r->main);

    if (mctx != NULL && mctx->authenticated) {
        return ngx_http_oneid_subrequest_verdict(r, ctx, &mctx->identity, 0);
    }

    if (ctx->shared == NULL) {
        ctx->shared = ngx_http_oneid_shared(r, 1);
        if (ctx->shared == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    sh = ctx->shared;

    if (sh->checked) {
        return ngx_http_oneid_subrequest_verdict(r, ctx, &sh->identity,
                                                 sh->status);
    }

    if (sh->loading) {
        return ngx_http_oneid_subrequest_wait(r, ctx);
    }

    if (ngx_http_oneid_session_cookie(r, ctx) != NGX_OK) {
        sh->checked = 1;
        sh->status = NGX_HTTP_UNAUTHORIZED;
        return ngx_http_oneid_subrequest_verdict(r, ctx, NULL, sh->status);
    }

    if (ctx->cache != NULL
        && ngx_http_oneid_cached_session(r, ctx) == NGX_OK)
    {
        return ngx_http_oneid_subrequest_loaded(r, ctx);
    }

    sh->loading = 1;

    rc = ngx_http_oneid_load_session(r, ctx,
                                     ngx_http_oneid_subrequest_loaded);

    if (rc != NGX_AGAIN && sh->loading) {
        /* the command could not even be sent: nobody may wait for it */
        sh->loading = 0;
        sh->checked = 1;
        sh->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_http_oneid_subrequest_wake_all(sh);
    }

    return rc;
}


static ngx_int_t
ngx_http_oneid_subrequest_loaded(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_shared_t  *sh;

    ctx->next = NULL;
    sh = ctx->shared;

    sh->loading = 0;
    sh->checked = 1;

    if (ctx->redis_rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while checking a "
                      "session for a subrequest: %V", &ctx->redis_err);
        sh->status = NGX_HTTP_SERVICE_UNAVAILABLE;

    } else if (ngx_http_oneid_session_usable(r, ctx) == NGX_OK) {

        if (ctx->cache != NULL && !ctx->from_cache && ctx->key.len) {
            ngx_http_oneid_cache_put(ctx->cache, ctx->key.data + ctx->key.len
                                     - NGX_HTTP_ONEID_SHA256_HEX_LEN,
                                     &ctx->redis_value);
        }

        sh->identity = ctx->identity;
        sh->status = 0;

    } else {
        sh->status = NGX_HTTP_UNAUTHORIZED;
    }

    ngx_http_oneid_subrequest_wake_all(sh);

    return ngx_http_oneid_subrequest_verdict(r, ctx, &sh->identity,
                                             sh->status);
}


/* status 0: signed in as identity */

static ngx_int_t
ngx_http_oneid_subrequest_verdict(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_identity_t *identity,
    ngx_uint_t status)
{
    if (status) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: subrequest \"%V\" to a protected location "
                      "without a session, denied", &r->uri);
        return status;
    }

    ctx->identity = *identity;

    if (ngx_time() - ctx->identity.login_time
        >= ctx->conf->session_lifetime)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: subrequest \"%V\" denied: the session is "
                      "older than oneid_session_lifetime here", &r->uri);
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_http_oneid_set_identity_headers(r, ctx->conf, &ctx->identity)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->authenticated = 1;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oneid_subrequest_wait(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_request_t  **w;

    w = ngx_array_push(&ctx->shared->waiters);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *w = r;

    ctx->next = ngx_http_oneid_subrequest_check;
    ctx->waiting = 1;

    return NGX_DONE;
}


/*
 * The answer is in: the waiting subrequests run again, in order.  Each is
 * still marked waiting up to here, so nothing ran it on in the meantime.
 */

static void
ngx_http_oneid_subrequest_wake_all(ngx_http_oneid_shared_t *sh)
{
    ngx_uint_t             i;
    ngx_http_request_t   **w;
    ngx_http_oneid_ctx_t  *ctx;

    w = sh->waiters.elts;

    for (i = 0; i < sh->waiters.nelts; i++) {
        ctx = ngx_http_get_module_ctx(w[i], ngx_http_oneid_module);

        if (ctx != NULL) {
            ctx->waiting = 0;
        }

        w[i]->write_event_handler = ngx_http_core_run_phases;

        (void) ngx_http_post_request(w[i], NULL);
    }

    sh->waiters.nelts = 0;
}


/* protected locations */

static ngx_int_t
ngx_http_oneid_protect(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_oneid_session_cookie(r, ctx);

    if (rc == NGX_BUSY) {
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_COOKIE_CONFLICT);
    }

    if (rc != NGX_OK) {
        return ngx_http_oneid_login(r, ctx);
    }

    if (ctx->cache != NULL
        && ngx_http_oneid_cached_session(r, ctx) == NGX_OK)
    {
        return ngx_http_oneid_protect_loaded(r, ctx);
    }

    return ngx_http_oneid_load_session(r, ctx, ngx_http_oneid_protect_loaded);
}


static ngx_int_t
ngx_http_oneid_protect_loaded(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ctx->next = NULL;

    if (ctx->redis_rc == NGX_ERROR) {
        /* never send someone to log in again only because Redis is down */
        return ngx_http_oneid_store_failed(r, ctx, "checking a session");
    }

    if (ngx_http_oneid_session_usable(r, ctx) != NGX_OK) {
        return ngx_http_oneid_login(r, ctx);
    }

    if (ctx->cache != NULL && !ctx->from_cache && ctx->key.len) {
        ngx_http_oneid_cache_put(ctx->cache, ctx->key.data + ctx->key.len
                                 - NGX_HTTP_ONEID_SHA256_HEX_LEN,
                                 &ctx->redis_value);
    }

    if (ngx_http_oneid_set_identity_headers(r, ctx->conf, &ctx->identity)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->old_session_cookie
        && ngx_http_oneid_move_session_cookie(r, ctx->conf, &ctx->sid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->authenticated = 1;

    return NGX_OK;
}


/*
 * Start a login: remember, under a fresh random state, which browser
 * asked (the hash of a random cookie) and where it wanted to go, then
 * send it to OneID.  Tabs share the browser cookie and each gets its own
 * state, so parallel logins all succeed.
 */

static ngx_int_t
ngx_http_oneid_login(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    u_char                     *p;
    ngx_str_t                   record, uri;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ctx->conf;
    ctx->next = NULL;

    if (ngx_http_oneid_wants_json(r)) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_LOGIN_REQUIRED);
    }

    if (ngx_http_oneid_random_token(r, &ctx->state) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ngx_http_oneid_get_token_cookie(r, &olcf->state_cookie_name,
                                        &ctx->binding)
        != NGX_OK)
    {
        if (ngx_http_oneid_random_token(r, &ctx->binding) != NGX_OK) {
            return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
        }
    }

    /*
     * what the browser asked for, also after an internal redirect (an
     * auth_request answered 401 and error_page sent it here)
     */

    uri = r->main->unparsed_uri;

    if (ngx_http_oneid_safe_return_uri(&uri) != NGX_OK) {
        ngx_str_set(&uri, "/");
    }

    ctx->return_uri = uri;

    /* "<hash of the browser cookie>\n<return uri>" */

    record.len = NGX_HTTP_ONEID_SHA256_HEX_LEN + 1 + uri.len;
    record.data = ngx_pnalloc(r->pool, record.len);
    if (record.data == NULL) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ngx_http_oneid_sha256_hex(record.data, ctx->binding.data,
                                  ctx->binding.len)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    p = record.data + NGX_HTTP_ONEID_SHA256_HEX_LEN;
    *p++ = '\n';
    ngx_memcpy(p, uri.data, uri.len);

    return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_login_saved,
                                     "SET", NGX_HTTP_ONEID_STATE, &ctx->state,
                                     &record, olcf->state_timeout);
}


static ngx_int_t
ngx_http_oneid_login_saved(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_str_t                   location;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ctx->conf;
    ctx->next = NULL;

    if (ctx->redis_rc != NGX_OK) {
        return ngx_http_oneid_store_failed(r, ctx, "starting a login");
    }

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->state_cookie_name,
                                  &ctx->binding, olcf->state_timeout)
        != NGX_OK
        || ngx_http_oneid_authorize_location(r, olcf, &ctx->state, &location)
           != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oneid: login started for \"%V\"", &ctx->return_uri);

    return ngx_http_oneid_redirect(r, &location);
}


/* oneid_callback */

static ngx_int_t
ngx_http_oneid_callback(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_uint_t  valid;

    valid = ngx_http_oneid_callback_arg(r, "code", NGX_HTTP_ONEID_MAX_CODE,
                                        &ctx->code) == NGX_OK
            && ngx_http_oneid_callback_arg(r, "state",
                                           NGX_HTTP_ONEID_TOKEN_LEN,
                                           &ctx->state) == NGX_OK
            && ngx_http_oneid_is_token(&ctx->state) == NGX_OK;

    if (!valid) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: login callback without a valid code and "
                      "state: \"%V\"", &r->args);
        return ngx_http_oneid_callback_bad_state(r, ctx);
    }

    if (ngx_http_oneid_get_token_cookie(r, &ctx->conf->state_cookie_name,
                                        &ctx->binding)
        == NGX_DECLINED)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: login callback from a browser that did not "
                      "start the login (no state cookie)");
        return ngx_http_oneid_callback_bad_state(r, ctx);
    }

    /* GETDEL: a state works once, even if two callbacks race */

    return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_callback_state,
                                     "GETDEL", NGX_HTTP_ONEID_STATE,
                                     &ctx->state, NULL, 0);
}


/* a query argument, percent-decoded, of bounded length and plain bytes */

ngx_int_t
ngx_http_oneid_callback_arg(ngx_http_request_t *r, const char *name,
    size_t max, ngx_str_t *value)
{
    u_char     *src, *dst, *p;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0 || raw.len > 3 * max)
    {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;

    if (value->len == 0 || value->len > max) {
        return NGX_DECLINED;
    }

    for (p = value->data; p < dst; p++) {
        if (*p <= ' ' || *p >= 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_callback_state(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t  rc;

    ctx->next = NULL;

    if (ctx->redis_rc == NGX_ERROR) {
        return ngx_http_oneid_store_failed(r, ctx, "checking a login state");
    }

    if (ctx->redis_rc != NGX_OK
        || ctx->redis_value.len < NGX_HTTP_ONEID_SHA256_HEX_LEN + 2
        || ctx->redis_value.data[NGX_HTTP_ONEID_SHA256_HEX_LEN] != '\n')
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: login state unknown, expired or already used");
        return ngx_http_oneid_callback_bad_state(r, ctx);
    }

    /* any of the browser's login cookies: others may be planted */

    rc = ngx_http_oneid_match_cookie(r, &ctx->conf->state_cookie_name,
                                     ctx->redis_value.data);

    if (rc == NGX_ERROR) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: login state belongs to another browser");
        return ngx_http_oneid_callback_bad_state(r, ctx);
    }

    ctx->return_uri.data = ctx->redis_value.data
                           + NGX_HTTP_ONEID_SHA256_HEX_LEN + 1;
    ctx->return_uri.len = ctx->redis_value.len
                          - NGX_HTTP_ONEID_SHA256_HEX_LEN - 1;

    if (ngx_http_oneid_safe_return_uri(&ctx->return_uri) != NGX_OK) {
        ngx_str_set(&ctx->return_uri, "/");
    }

    return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_callback_token,
                                   "one_authorization_code", "code",
                                   &ctx->code);
}


/*
 * A callback we cannot use.  A user who is already signed in (a reused
 * link, the back button) simply goes home; anybody else gets a page,
 * never a redirect to OneID, so that a broken login cannot loop.
 */

static ngx_int_t
ngx_http_oneid_callback_bad_state(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    if (ngx_http_oneid_session_cookie(r, ctx) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_BAD_CALLBACK);
    }

    return ngx_http_oneid_load_session(r, ctx,
                                     ngx_http_oneid_callback_bad_state_session);
}


static ngx_int_t
ngx_http_oneid_callback_bad_state_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_str_t  home;

    ctx->next = NULL;

    if (ngx_http_oneid_session_usable(r, ctx) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_BAD_CALLBACK);
    }

    ngx_str_set(&home, "/");

    return ngx_http_oneid_redirect(r, &home);
}


static ngx_int_t
ngx_http_oneid_callback_token(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ctx->next = NULL;

    if (ngx_http_oneid_idp_parse_token(r, ctx, &ctx->access_token) != NGX_OK)
    {
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_IDP_UNAVAILABLE);
    }

    return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_callback_identity,
                                   "one_access_token_identify",
                                   "access_token", &ctx->access_token);
}


static ngx_int_t
ngx_http_oneid_callback_identity(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  record;

    ctx->next = NULL;

    rc = ngx_http_oneid_idp_parse_identity(r, ctx, &ctx->identity);

    if (rc == NGX_DECLINED) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_REFUSED);
    }

    if (rc != NGX_OK) {
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_IDP_UNAVAILABLE);
    }

    ctx->identity.access_token = ctx->access_token;
    ctx->identity.login_time = ngx_time();

    /* a new login replaces whatever session this browser had */

    if (ngx_http_oneid_session_cookie(r, ctx) == NGX_OK) {
        ngx_http_oneid_forget(r, ctx, 1);
    }

    if (ngx_http_oneid_random_token(r, &ctx->sid) != NGX_OK
        || ngx_http_oneid_session_encode(r->pool, &ctx->identity, &record)
           != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_callback_saved,
                                     "SET", NGX_HTTP_ONEID_SESSION, &ctx->sid,
                                     &record, ctx->conf->session_timeout);
}


static ngx_int_t
ngx_http_oneid_callback_saved(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ctx->conf;
    ctx->next = NULL;

    if (ctx->redis_rc != NGX_OK) {
        /* no cookie: a cookie pointing at nothing would only confuse */
        return ngx_http_oneid_store_failed(r, ctx, "creating a session");
    }

    ngx_http_oneid_keep_token(r, ctx);

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->cookie_name, &ctx->sid, -1)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: user \"%V\" signed in with %V",
                  &ctx->identity.field[NGX_HTTP_ONEID_USER_ID],
                  &ctx->identity.field[NGX_HTTP_ONEID_AUTH_METHOD]);

    return ngx_http_oneid_redirect(r, &ctx->return_uri);
}


/* oneid_logout */

/*
 * Sign out: delete the session, then end the OneID session with its token
 * (the next person at a shared computer must not walk into it).  Only a
 * request from this site does that at once; a link or a form elsewhere
 * gets a page whose button confirms.  The cookie is expired only once the
 * session is gone, so that a sign-out that failed can simply be retried.
 */

static ngx_int_t
ngx_http_oneid_logout(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (!ngx_http_oneid_same_origin(r)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: logout not known to come from this site, "
                      "asking for confirmation");
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_LOGOUT_CONFIRM);
    }

    rc = ngx_http_oneid_session_cookie(r, ctx);

    if (rc == NGX_BUSY) {
        /* which session to end is not known: never say all went well */
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_COOKIE_CONFLICT);
    }

    if (rc != NGX_OK) {
        /* nothing to end here */

        if (ngx_http_oneid_expire_session_cookie(r, ctx->conf) != NGX_OK) {
            return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
        }

        return ngx_http_oneid_redirect(r, &ctx->conf->logout_redirect);
    }

    return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_logout_removed,
                                     "GETDEL", NGX_HTTP_ONEID_SESSION,
                                     &ctx->sid, NULL, 0);
}


static ngx_int_t
ngx_http_oneid_logout_removed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ctx->next = NULL;

    if (ctx->redis_rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while ending a "
                      "session, the session is still active: %V",
                      &ctx->redis_err);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_LOGOUT_FAILED);
    }

    /* the session is gone: no cached copy may outlive it on this node */

    if (ctx->cache != NULL
        && ngx_http_oneid_session_key(r->pool, ctx->redis,
                                      NGX_HTTP_ONEID_SESSION, &ctx->sid,
                                      &ctx->key)
           == NGX_OK)
    {
        ngx_http_oneid_cache_revoke(ctx->cache, ctx->key.data + ctx->key.len
                                    - NGX_HTTP_ONEID_SHA256_HEX_LEN,
                                    ngx_http_oneid_redis_timeout(ctx->redis));
    }

    if (ngx_http_oneid_expire_session_cookie(r, ctx->conf) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ctx->redis_rc == NGX_OK
        && ngx_http_oneid_session_decode(&ctx->redis_value, &ctx->identity)
           == NGX_OK
        && ctx->identity.access_token.len)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: user \"%V\" signed out",
                      &ctx->identity.field[NGX_HTTP_ONEID_USER_ID]);

        ngx_http_oneid_forget(r, ctx, 0);

        return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_logout_done,
                                       "one_log_out", "access_token",
                                       &ctx->identity.access_token);
    }

    /*
     * the session had already expired here, but OneID's may still be
     * alive: its token is kept apart for as long as a session may live
     */

    return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_logout_token,
                                     "GETDEL", NGX_HTTP_ONEID_TOKEN,
                                     &ctx->sid, NULL, 0);
}


static ngx_int_t
ngx_http_oneid_logout_token(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ctx->next = NULL;

    if (ctx->redis_rc != NGX_OK || ctx->redis_value.len == 0) {
        return ngx_http_oneid_logout_done(r, ctx);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: signed out after the session had expired, "
                  "ending the OneID session");

    ctx->identity.access_token = ctx->redis_value;

    return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_logout_done,
                                   "one_log_out", "access_token",
                                   &ctx->identity.access_token);
}


static ngx_int_t
ngx_http_oneid_logout_done(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ctx->next = NULL;

    if (ctx->subrequest == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: no OneID token left for this session, "
                      "OneID's own session could not be ended");
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL);
    }

    if (ctx->idp_rc != NGX_OK || ctx->idp_status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: OneID one_log_out failed (status %ui); the "
                      "local session was ended anyway", ctx->idp_status);
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL);
    }

    return ngx_http_oneid_redirect(r, &ctx->conf->logout_redirect);
}
