
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The oneid_logout location:
 *
 *   GETDEL session -> one_log_out with its token -> 302
 *   (no session left: GETDEL the token kept for it -> one_log_out)
 *   (a session without a token: OneID's was ended at the sign-in, 302)
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
#include "ngx_http_oneid_audit.h"


static ngx_int_t ngx_http_oneid_logout_removed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_token(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_done(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static void ngx_http_oneid_audit_logout(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_identity_t *id);


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
    ngx_uint_t                     known;
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

    if (ctx->cache != NULL
        && ngx_http_oneid_session_key(r->pool, ctx->redis,
                                      NGX_HTTP_ONEID_SESSION, &ss->sid,
                                      &ss->key)
           == NGX_OK)
    {
        ngx_http_oneid_revoke_cached(ctx, &ss->key);
    }

    if (ngx_http_oneid_expire_session_cookie(r, ctx->conf) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    known = (res->rc == NGX_OK
             && ngx_http_oneid_session_decode(&res->value, &ss->identity)
                == NGX_OK);

    if (known) {
        ngx_http_oneid_audit_logout(r, ctx, &ss->identity);
    }

    if (known && ss->identity.access_token.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: user \"%V\" signed out (the OneID session "
                      "was ended at the sign-in)",
                      &ss->identity.field[NGX_HTTP_ONEID_USER_ID]);

        return ngx_http_oneid_redirect(r, &ctx->conf->logout_redirect);
    }

    if (known) {
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

    if ((res->rc != NGX_OK || res->value.len == 0)
        && ctx->conf->idp_session == NGX_HTTP_ONEID_IDP_SESSION_END)
    {
        /* sign-ins here leave no OneID session behind */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: signed out after the session had expired");
        return ngx_http_oneid_redirect(r, &ctx->conf->logout_redirect);
    }

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

    /* the user is not known any more, only the session */

    ngx_http_oneid_audit_logout(r, ctx, NULL);

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


/*
 * Something was ended: the session, or OneID's session after ours had
 * expired (its user is then unknown).  A cookie with nothing behind it
 * ends nothing and writes nothing.
 */

static void
ngx_http_oneid_audit_logout(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_http_oneid_identity_t *id)
{
    ngx_str_t                     hash;
    ngx_http_oneid_audit_event_t  ev;

    ev.event = "logout";
    ev.identity = id;
    ev.pinfl = NULL;
    ev.session = NULL;
    ev.sessions = -1;
    ev.reason = NULL;

    if (ngx_http_oneid_audit_hash(r->pool, &ctx->session.sid, &hash)
        == NGX_OK)
    {
        ev.session = &hash;
    }

    ngx_http_oneid_audit(r, &ev);
}
