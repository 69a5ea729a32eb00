
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Subrequests (ssi, auth_request, mirror, addition, slice ...) to a
 * location with "oneid on", the session that the subrequests of one
 * client request share, and the identity a request is signed in with
 * (for the variables).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_idp.h"
#include "ngx_http_oneid_wait.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_handler.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_require.h"


/* the session as the subrequests of one client request saw it */
struct ngx_http_oneid_shared_s {
    ngx_array_t                   waiters;    /* ngx_http_oneid_wait_t * */
    ngx_http_oneid_identity_t     identity;
    ngx_uint_t                    status;     /* 0: signed in */
    unsigned                      loading:1;
    unsigned                      checked:1;
};


static ngx_http_oneid_shared_t *ngx_http_oneid_shared(ngx_http_request_t *r,
    ngx_uint_t create);
static void ngx_http_oneid_shared_cleanup(void *data);
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


/*
 * nginx skips the access phase for subrequests, so this runs in the
 * rewrite phase, before a "return" there can answer.  A subrequest is let
 * through only with the main request's session; that session is looked
 * up once for all subrequests of the request, and the subrequests that
 * come while it is looked up wait for the answer.  No session: 401, which
 * auth_request passes on and ssi shows as an error, never the protected
 * content.
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
        /* the module's own back-channel call to OneID is no user's */

        if (ngx_http_oneid_idp_backchannel(r)) {
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

    if (ctx->wait.waiting) {
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


/*
 * The identity r is signed in with: the main request's, else the one a
 * subrequest (an ssi include, an auth_request) found.  NULL: none.
 */

ngx_http_oneid_identity_t *
ngx_http_oneid_request_identity(ngx_http_request_t *r)
{
    ngx_http_oneid_ctx_t     *ctx;
    ngx_http_oneid_shared_t  *sh;

    ctx = ngx_http_oneid_get_ctx(r->main);

    if (ctx != NULL && ctx->authenticated) {
        return &ctx->session.identity;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_oneid_module);

    if (r != r->main && ctx != NULL && ctx->authenticated) {
        return &ctx->session.identity;
    }

    sh = ngx_http_oneid_shared(r, 0);

    if (sh != NULL && sh->checked && sh->status == 0) {
        return &sh->identity;
    }

    return NULL;
}


/*
 * What the subrequests of one client request know of its session.  It
 * lives apart from the main request's context, found through a pool
 * cleanup of its own, so that the main request's own checks (and the
 * internal redirects that reset them) neither see nor lose it.
 */

static ngx_http_oneid_shared_t *
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
                       sizeof(ngx_http_oneid_wait_t *))
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
        return ngx_http_oneid_subrequest_verdict(r, ctx,
                                                 &mctx->session.identity, 0);
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

    if (ctx->wait.result.rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while checking a "
                      "session for a subrequest: %V", &ctx->wait.result.err);
        sh->status = NGX_HTTP_SERVICE_UNAVAILABLE;

    } else if (ngx_http_oneid_session_usable(r, ctx) == NGX_OK) {
        ngx_http_oneid_cache_session(ctx);

        sh->identity = ctx->session.identity;
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
    ngx_int_t                   rc;
    ngx_http_oneid_identity_t  *id;

    if (status) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: subrequest \"%V\" to a protected location "
                      "without a session, denied", &r->uri);
        return status;
    }

    id = &ctx->session.identity;
    *id = *identity;

    if (ngx_time() - id->login_time >= ctx->conf->session_lifetime) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: subrequest \"%V\" denied: the session is "
                      "older than oneid_session_lifetime here", &r->uri);
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_http_oneid_set_identity_headers(r, ctx->conf, id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->authenticated = 1;

    /* the rules of the subrequest's own location, 403 without a page */

    rc = ngx_http_oneid_require_access(r, ctx->conf, id, 0);

    if (rc != NGX_OK) {
        ctx->authenticated = 0;
        return rc;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oneid_subrequest_wait(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_wait_t  **w;

    w = ngx_array_push(&ctx->shared->waiters);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *w = &ctx->wait;

    ctx->next = ngx_http_oneid_subrequest_check;
    ngx_http_oneid_wait_park(&ctx->wait);

    return NGX_DONE;
}


/*
 * The answer is in: the waiting subrequests run again, in order.  Each is
 * still marked waiting up to here, so nothing ran it on in the meantime.
 */

static void
ngx_http_oneid_subrequest_wake_all(ngx_http_oneid_shared_t *sh)
{
    ngx_uint_t               i;
    ngx_http_oneid_wait_t  **w;

    w = sh->waiters.elts;

    for (i = 0; i < sh->waiters.nelts; i++) {
        ngx_http_oneid_wait_wake(w[i]);
    }

    sh->waiters.nelts = 0;
}
