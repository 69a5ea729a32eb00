
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The oneid_logout location:
 *
 *   GETDEL session -> one_log_out with its token -> 302
 *   (no session left: GETDEL the token kept for it -> one_log_out)
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_session.h"


static ngx_int_t ngx_http_oneid_logout_removed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_token(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_done(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);


/*
 * Sign out: delete the session, then end the OneID session with its token
 * (the next person at a shared computer must not walk into it).  Only a
 * request from this site does that at once; a link or a form elsewhere
 * gets a page whose button confirms.  The cookie is expired only once the
 * session is gone, so that a sign-out that failed can simply be retried.
 */

ngx_int_t
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
                                     &ctx->session.sid, NULL, 0);
}


static ngx_int_t
ngx_http_oneid_logout_removed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_result_t       *res;
    ngx_http_oneid_ctx_session_t  *ss;

    ctx->next = NULL;
    res = &ctx->wait.result;
    ss = &ctx->session;

    if (res->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while ending a "
                      "session, the session is still active: %V",
                      &res->err);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_LOGOUT_FAILED);
    }

    /* here and on every other node */

    if (ngx_http_oneid_session_key(r->pool, ctx->redis,
                                   NGX_HTTP_ONEID_SESSION, &ss->sid, &ss->key)
        == NGX_OK)
    {
        ngx_http_oneid_revoke_cached(ctx, &ss->key);
    }

    if (ngx_http_oneid_expire_session_cookie(r, ctx->conf) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (res->rc == NGX_OK
        && ngx_http_oneid_session_decode(&res->value, &ss->identity) == NGX_OK
        && ss->identity.access_token.len)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: user \"%V\" signed out",
                      &ss->identity.field[NGX_HTTP_ONEID_USER_ID]);

        ngx_http_oneid_forget(r, ctx, 0);

        return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_logout_done,
                                       "one_log_out", "access_token",
                                       &ss->identity.access_token);
    }

    /*
     * the session had already expired here, but OneID's may still be
     * alive: its token is kept apart for as long as a session may live
     */

    return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_logout_token,
                                     "GETDEL", NGX_HTTP_ONEID_TOKEN,
                                     &ss->sid, NULL, 0);
}


static ngx_int_t
ngx_http_oneid_logout_token(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_result_t  *res;

    ctx->next = NULL;
    res = &ctx->wait.result;

    if (res->rc != NGX_OK || res->value.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: no OneID token left for this session, "
                      "OneID's own session could not be ended");
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: signed out after the session had expired, "
                  "ending the OneID session");

    ctx->session.identity.access_token = res->value;

    return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_logout_done,
                                   "one_log_out", "access_token",
                                   &ctx->session.identity.access_token);
}


static ngx_int_t
ngx_http_oneid_logout_done(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_result_t  *res;

    ctx->next = NULL;
    res = &ctx->wait.result;

    if (res->rc != NGX_OK || res->status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: OneID one_log_out failed (status %ui); the "
                      "local session was ended anyway", res->status);
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL);
    }

    return ngx_http_oneid_redirect(r, &ctx->conf->logout_redirect);
}
