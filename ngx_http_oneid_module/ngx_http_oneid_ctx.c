
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The per-request context of the request handlers and the steps their
 * flows share: waiting for Redis or OneID (through
 * ngx_http_oneid_wait.c), reading the session cookie, loading a session
 * from the cache or Redis and judging it, and forgetting a session.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_wait.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_session.h"
#include "ngx_http_oneid_pubsub.h"


static void ngx_http_oneid_cleanup(void *data);
static void ngx_http_oneid_body_read(ngx_http_request_t *r);
static void ngx_http_oneid_touch_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);


/* the SHA-256 of the id at the end of a key: the cache's name for it */
#define ngx_http_oneid_key_hash(key)                                          \
    ((key)->data + (key)->len - NGX_HTTP_ONEID_SHA256_HEX_LEN)


ngx_http_oneid_ctx_t *
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


/* a context as new, for a request checked again from the start */

void
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

    ngx_http_oneid_wait_init(&ctx->wait, r, redis);
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


static void
ngx_http_oneid_cleanup(void *data)
{
    ngx_http_oneid_ctx_t *ctx = data;

    ngx_http_oneid_wait_cancel(&ctx->wait);
}


/*
 * "<command> <prefix><kind>:<hash of id> [value] [EX ttl]", then wait for
 * the reply in ctx->wait.result and go on with next.
 */

ngx_int_t
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

    return ngx_http_oneid_redis_wait_argv(r, ctx, next, argc, argv);
}


/* any command, e.g. an EVAL; the reply in ctx->wait.result for next */

ngx_int_t
ngx_http_oneid_redis_wait_argv(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_step_pt next, ngx_uint_t argc,
    ngx_str_t *argv)
{
    ctx->next = next;

    if (ngx_http_oneid_wait_redis(&ctx->wait, argc, argv) != NGX_AGAIN) {
        /* known to be down: answer now rather than after a timeout */
        return next(r, ctx);
    }

    return NGX_AGAIN;
}


/*
 * The request body, read without blocking the worker: the phase handler
 * runs again with next once it is in, as the mirror module does; until
 * then it must not go on (ctx->reading_body).
 */

ngx_int_t
ngx_http_oneid_read_body(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_step_pt next)
{
    ngx_int_t  rc;

    ctx->next = NULL;
    ctx->body_next = next;
    ctx->reading_body = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_oneid_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->reading_body = 0;
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_oneid_body_read(ngx_http_request_t *r)
{
    ngx_http_oneid_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oneid_module);

    ctx->reading_body = 0;
    ctx->next = ctx->body_next;

    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/* a OneID back-channel call, its answer in ctx->wait.result for next */

ngx_int_t
ngx_http_oneid_idp_wait(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_step_pt next, const char *grant, const char *param,
    ngx_str_t *value)
{
    if (ngx_http_oneid_wait_idp(&ctx->wait, ctx->conf, grant, param, value)
        != NGX_AGAIN)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ctx->next = next;

    return NGX_AGAIN;
}


ngx_int_t
ngx_http_oneid_store_failed(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    const char *doing)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "oneid: session store unavailable while %s: %V",
                  doing, &ctx->wait.result.err);

    return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_STORE_UNAVAILABLE);
}


/* NGX_BUSY: different session cookies arrived (see the cookie code) */

ngx_int_t
ngx_http_oneid_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_uint_t  old;

    if (ctx->session.have_cookie) {
        /* read before an internal redirect hid the cookie */
        return NGX_OK;
    }

    rc = ngx_http_oneid_session_id(r, ctx->conf, &ctx->session.sid, &old);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->session.have_cookie = 1;
    ctx->session.old_cookie = old;

    return NGX_OK;
}


/*
 * NGX_OK: the cache answered, as Redis would have: the session is in
 * ctx->wait.result, or it was ended on this node (the result is then
 * NGX_DECLINED, as for a nil reply).  Not while this worker may miss
 * sessions ended on other nodes.
 */

ngx_int_t
ngx_http_oneid_cached_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_uint_t                   refresh;
    ngx_http_oneid_result_t     *res;
    ngx_http_oneid_main_conf_t  *omcf;

    res = &ctx->wait.result;

    if (ngx_http_oneid_session_key(r->pool, ctx->redis,
                                   NGX_HTTP_ONEID_SESSION, &ctx->session.sid,
                                   &ctx->session.key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    ctx->session.subscription = ngx_http_oneid_pubsub_ready(omcf->pubsub);

    if (ctx->session.subscription == 0) {
        return NGX_DECLINED;
    }

    refresh = 0;

    rc = ngx_http_oneid_cache_get(ctx->cache,
                                  ngx_http_oneid_key_hash(&ctx->session.key),
                                  r->pool, &res->value,
                                  ngx_http_oneid_touches(r, ctx)
                                  ? &refresh : NULL);

    if (rc == NGX_ABORT) {
        res->rc = NGX_DECLINED;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    res->rc = NGX_OK;
    ctx->session.from_cache = 1;

    if (refresh) {
        ngx_http_oneid_touch_session(r, ctx);
    }

    return NGX_OK;
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
    argv[1] = ctx->session.key;
    argv[2].data = p;
    argv[2].len = ngx_sprintf(p, "%T", ctx->conf->session_timeout) - p;

    (void) ngx_http_oneid_redis_command(ctx->redis, NULL, NULL, 3, argv,
                                        &err);
}


/*
 * One round trip reads the session and restarts its idle timeout (GETEX),
 * or only reads it (GET) for a request that does not count as activity.
 */

ngx_int_t
ngx_http_oneid_load_session(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_step_pt next)
{
    if (!ngx_http_oneid_touches(r, ctx)) {
        return ngx_http_oneid_redis_wait(r, ctx, next, "GET",
                                         NGX_HTTP_ONEID_SESSION,
                                         &ctx->session.sid, NULL, 0);
    }

    return ngx_http_oneid_redis_wait(r, ctx, next, "GETEX",
                                     NGX_HTTP_ONEID_SESSION,
                                     &ctx->session.sid, NULL,
                                     ctx->conf->session_timeout);
}


/*
 * Whether the client request r belongs to counts as activity: its main
 * request's oneid_session_touch, so that the subrequests of a page follow
 * the page.  The value is evaluated once, then kept in ctx.
 */

ngx_uint_t
ngx_http_oneid_touches(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_str_t                   value;
    ngx_http_oneid_loc_conf_t  *olcf;

    if (ctx->touch) {
        return ctx->touch == NGX_HTTP_ONEID_TOUCH_YES;
    }

    olcf = ngx_http_get_module_loc_conf(r->main, ngx_http_oneid_module);

    ctx->touch = olcf->session_touch ? NGX_HTTP_ONEID_TOUCH_YES
                                     : NGX_HTTP_ONEID_TOUCH_NO;

    if (olcf->session_touch_value != NULL) {
        if (ngx_http_complex_value(r->main, olcf->session_touch_value,
                                   &value)
            != NGX_OK)
        {
            /* in doubt the request counts, as it did before the directive */
            return 1;
        }

        if (value.len == 0 || (value.len == 1 && value.data[0] == '0')) {
            ctx->touch = NGX_HTTP_ONEID_TOUCH_NO;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oneid: request %s the idle timeout",
                   ctx->touch == NGX_HTTP_ONEID_TOUCH_YES
                   ? "restarts" : "does not restart");

    return ctx->touch == NGX_HTTP_ONEID_TOUCH_YES;
}


/*
 * NGX_OK: ctx->session.identity holds a live session.  NGX_DECLINED: no
 * session (expired by lifetime, or a value we cannot read).  Store errors
 * are the caller's to handle before this.
 */

ngx_int_t
ngx_http_oneid_session_usable(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  why;

    if (ctx->wait.result.rc != NGX_OK) {
        return NGX_DECLINED;
    }

    ctx->session.ended = ngx_http_oneid_session_ended(&ctx->wait.result.value);

    if (ctx->session.ended) {
        why.data = ctx->wait.result.value.data + 2;
        why.len = ctx->wait.result.value.len - 2;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: the session was ended elsewhere (%V)", &why);
        return NGX_DECLINED;
    }

    rc = ngx_http_oneid_session_decode(r->pool, &ctx->session.sid,
                                       &ctx->wait.result.value,
                                       &ctx->session.identity);

    if (rc == NGX_ABORT) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: session record does not open with its cookie "
                      "(changed in Redis?), login required");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: unreadable session record ignored");
        return NGX_DECLINED;
    }

    if (ctx->session.old_cookie && !ctx->session.identity.legacy) {
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


/*
 * A usable session read from Redis is kept in the cache, if any; only if
 * this worker heard every revocation since it asked Redis (the same
 * subscription was up all the while).
 */

void
ngx_http_oneid_cache_session(ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_main_conf_t  *omcf;

    if (ctx->cache == NULL || ctx->session.from_cache
        || ctx->session.key.len == 0 || ctx->session.subscription == 0)
    {
        return;
    }

    omcf = ngx_http_get_module_main_conf(ctx->request, ngx_http_oneid_module);

    if (ngx_http_oneid_pubsub_ready(omcf->pubsub) == ctx->session.subscription)
    {
        ngx_http_oneid_cache_put(ctx->cache,
                                 ngx_http_oneid_key_hash(&ctx->session.key),
                                 &ctx->wait.result.value,
                                 ctx->touch == NGX_HTTP_ONEID_TOUCH_YES);
    }
}


/* the absolute limit of this location: the session is ended when over */

ngx_int_t
ngx_http_oneid_lifetime_over(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    if (ngx_time() - ctx->session.identity.login_time
        < ctx->conf->session_lifetime)
    {
        return 0;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: session reached oneid_session_lifetime, "
                  "login required");

    ngx_http_oneid_forget(r, ctx, 1);

    return 1;
}


/*
 * Delete the session of ctx->session.sid (when "session") and the OneID
 * token kept for it; nobody waits for the outcome.
 */

void
ngx_http_oneid_forget(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_uint_t session)
{
    ngx_str_t   argv[3], err;
    ngx_uint_t  argc;

    ngx_str_set(&argv[0], "DEL");
    argc = 1;

    if (session) {
        if (ngx_http_oneid_session_key(r->pool, ctx->redis,
                                       NGX_HTTP_ONEID_SESSION,
                                       &ctx->session.sid, &argv[argc])
            != NGX_OK)
        {
            return;
        }

        argc++;
    }

    if (ngx_http_oneid_session_key(r->pool, ctx->redis, NGX_HTTP_ONEID_TOKEN,
                                   &ctx->session.sid, &argv[argc])
        != NGX_OK)
    {
        return;
    }

    argc++;

    (void) ngx_http_oneid_redis_command(ctx->redis, NULL, NULL, argc, argv,
                                        &err);

    /* published after the DEL: Redis runs the commands in this order */

    if (session) {
        ngx_http_oneid_revoke_cached(ctx, &argv[1]);
    }
}


/*
 * The session of key is gone: no cached copy may outlive it, on this node
 * (at once) or on any other (they hear of it on the revocation channel,
 * whether this node has a cache or not).
 */

void
ngx_http_oneid_revoke_cached(ngx_http_oneid_ctx_t *ctx, ngx_str_t *key)
{
    ngx_str_t  hash;

    hash.data = ngx_http_oneid_key_hash(key);
    hash.len = NGX_HTTP_ONEID_SHA256_HEX_LEN;

    ngx_http_oneid_revoke_hash(ctx, &hash);

    ngx_http_oneid_publish_revoked(ctx->redis, &hash);
}


/*
 * The same on this node only, by the session's hash: for sessions a
 * script in Redis ended, which told the other nodes itself.
 */

void
ngx_http_oneid_revoke_hash(ngx_http_oneid_ctx_t *ctx, ngx_str_t *hash)
{
    if (ctx->cache != NULL) {
        ngx_http_oneid_cache_revoke(ctx->cache, hash->data,
                                    ngx_http_oneid_redis_timeout(ctx->redis));
    }
}
