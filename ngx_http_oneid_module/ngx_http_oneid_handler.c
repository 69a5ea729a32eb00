
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The access-phase handler: the state machine of a request, and the
 * protected locations.  Each step either answers the request or starts
 * one asynchronous operation (a Redis command or a OneID subrequest),
 * records the next step in ctx->next and returns NGX_AGAIN; when the
 * operation completes (ngx_http_oneid_wait.c) the phase handler runs
 * again and calls ctx->next.  Nothing here ever blocks the worker.
 *
 *   protected location: cookie -> GETEX session -> identity -> upstream
 *                       no session -> login (ngx_http_oneid_login.c)
 *   oneid_callback:     ngx_http_oneid_login.c
 *   oneid_logout:       ngx_http_oneid_logout.c
 *   oneid_admin:        ngx_http_oneid_admin.c, in the precontent phase
 *   oneid_session_info: ngx_http_oneid_info.c
 *
 * Also here: a request an internal redirect brought to another location.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_handler.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_require.h"
#include "ngx_http_oneid_session.h"
#include "ngx_http_oneid_metrics.h"


static ngx_int_t ngx_http_oneid_dispatch(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_relocated(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_loc_conf_t *olcf);
static ngx_int_t ngx_http_oneid_protect(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_protect_loaded(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_ended_elsewhere(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_allowed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_loc_conf_t *olcf);


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

        if (ctx->wait.waiting || ctx->reading_body) {
            /* woken by something else than our operation */
            return NGX_AGAIN;
        }

        if (ctx->next != NULL) {
            return ctx->next(r, ctx);
        }

        if (ctx->conf != olcf) {
            return ngx_http_oneid_relocated(r, ctx, olcf);
        }

        if (ctx->refused) {
            return NGX_HTTP_FORBIDDEN;
        }

        return ctx->authenticated ? NGX_OK : NGX_DECLINED;
    }

    if ((olcf->role == NGX_HTTP_ONEID_ROLE_NONE && olcf->enable != 1)
        || olcf->role == NGX_HTTP_ONEID_ROLE_ADMIN
        || olcf->role == NGX_HTTP_ONEID_ROLE_HEALTH)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_oneid_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oneid_dispatch(r, ctx);
}


/*
 * oneid_admin answers after the access phase, so that allow, deny,
 * auth_basic or auth_request in its location have decided first.
 */

ngx_int_t
ngx_http_oneid_precontent_handler(ngx_http_request_t *r)
{
    ngx_http_oneid_ctx_t       *ctx;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oneid_module);

    if (olcf->role != NGX_HTTP_ONEID_ROLE_ADMIN
        && olcf->role != NGX_HTTP_ONEID_ROLE_HEALTH)
    {
        return NGX_DECLINED;
    }

    if (r != r->main) {
        return NGX_HTTP_FORBIDDEN;
    }

    ctx = ngx_http_oneid_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_oneid_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ctx->wait.waiting || ctx->reading_body) {
        return NGX_AGAIN;

    } else if (ctx->next != NULL) {
        return ctx->next(r, ctx);

    } else {
        /* an internal redirect brought the request here */
        ngx_http_oneid_reset_ctx(ctx, olcf);
    }

    if (olcf->role == NGX_HTTP_ONEID_ROLE_HEALTH) {
        return ngx_http_oneid_health(r, ctx);
    }

    return ngx_http_oneid_admin(r, ctx);
}


static ngx_int_t
ngx_http_oneid_dispatch(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    switch (ctx->conf->role) {

    case NGX_HTTP_ONEID_ROLE_CALLBACK:
        return ngx_http_oneid_callback(r, ctx);

    case NGX_HTTP_ONEID_ROLE_LOGOUT:
    case NGX_HTTP_ONEID_ROLE_LOGOUT_ALL:
        return ngx_http_oneid_logout(r, ctx);

    case NGX_HTTP_ONEID_ROLE_ADMIN:
        /* ngx_http_oneid_precontent_handler() */
        ctx->conf = ngx_http_get_module_loc_conf(r, ngx_http_oneid_module);
        return NGX_DECLINED;
    case NGX_HTTP_ONEID_ROLE_INFO:
        return ngx_http_oneid_info(r, ctx);

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
        ctx->refused = 0;

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
        sid = ctx->session.sid;
        old = ctx->session.old_cookie;

        ngx_http_oneid_reset_ctx(ctx, olcf);

        if (keep) {
            ctx->session.sid = sid;
            ctx->session.have_cookie = 1;
            ctx->session.old_cookie = old;
        }

        return ngx_http_oneid_dispatch(r, ctx);
    }

    ctx->conf = olcf;

    if (ngx_http_oneid_lifetime_over(r, ctx)) {
        ctx->authenticated = 0;
        return ngx_http_oneid_login(r, ctx);
    }

    if (ngx_http_oneid_set_identity_headers(r, olcf, &ctx->session.identity)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oneid_allowed(r, ctx, olcf);
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

    if (ctx->wait.result.rc == NGX_ERROR) {
        /* never send someone to log in again only because Redis is down */
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_SESSION_ERROR);
        return ngx_http_oneid_store_failed(r, ctx, "checking a session");
    }

    if (ngx_http_oneid_session_usable(r, ctx) != NGX_OK) {

        if (ctx->session.ended) {
            ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_SESSION_ENDED);
            return ngx_http_oneid_ended_elsewhere(r, ctx);
        }

        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_SESSION_NOT_FOUND);
        return ngx_http_oneid_login(r, ctx);
    }

    ngx_http_oneid_metric_inc(ctx->session.from_cache
                              ? NGX_HTTP_ONEID_M_SESSION_CACHED
                              : NGX_HTTP_ONEID_M_SESSION_FOUND);

    ngx_http_oneid_cache_session(ctx);

    if (ngx_http_oneid_set_identity_headers(r, ctx->conf,
                                            &ctx->session.identity)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->session.old_cookie
        && ngx_http_oneid_move_session_cookie(r, ctx->conf, &ctx->session.sid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* signed in even where not allowed: variables in oneid_require see it */
    ctx->authenticated = 1;

    return ngx_http_oneid_allowed(r, ctx, ctx->conf);
}


/*
 * oneid_require of the location.  A refusal is remembered: an internal
 * redirect back into the location (error_page 403, try_files) must not
 * find the request simply "signed in" and let it through.
 */

static ngx_int_t
ngx_http_oneid_allowed(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_loc_conf_t *olcf)
{
    ngx_int_t  rc;

    /* set first: a page sent may have freed the request (NGX_DONE) */
    ctx->refused = 1;

    rc = ngx_http_oneid_require_access(r, olcf, &ctx->session.identity, 1);

    if (rc == NGX_OK) {
        ctx->refused = 0;
    }

    return rc;
}


/*
 * The session was ended by a newer login, "log out everywhere" or an
 * administrator: say so once, rather than sending to OneID without a
 * word.  A page drops the cookie, so that its link signs in again; a
 * script's request keeps it, so that the page the user sees next still
 * tells why.
 */

static ngx_int_t
ngx_http_oneid_ended_elsewhere(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_page_e  page;

    switch (ctx->session.ended) {

    case NGX_HTTP_ONEID_ENDED_EVICTED:
        page = NGX_HTTP_ONEID_PAGE_SESSION_EVICTED;
        break;

    case NGX_HTTP_ONEID_ENDED_EVERYWHERE:
        page = NGX_HTTP_ONEID_PAGE_SESSION_ENDED_EVERYWHERE;
        break;

    default:
        page = NGX_HTTP_ONEID_PAGE_SESSION_REVOKED;
    }

    if (!ngx_http_oneid_wants_json(r)
        && ngx_http_oneid_expire_session_cookie(r, ctx->conf) != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    return ngx_http_oneid_send_page(r, page);
}
