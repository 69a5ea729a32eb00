
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The oneid_logout location:
 *
 *   GETDEL session -> one_log_out with its token -> 302
 *   (no session left: GETDEL the token kept for it -> one_log_out)
 *   (a session without a token: OneID's was ended at the sign-in, 302)
 *
 * and "oneid_logout all", every session of the user, on every computer:
 *
 *   GET session -> EVAL: end the sessions in the user's index
 *   -> one_log_out with each OneID token kept -> 302
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_index.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_session.h"
#include "ngx_http_oneid_audit.h"
#include "ngx_http_oneid_metrics.h"


static ngx_int_t ngx_http_oneid_logout_removed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_token(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_done(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static void ngx_http_oneid_audit_logout(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_http_oneid_identity_t *id,
    const char *event, ngx_int_t sessions);
static ngx_int_t ngx_http_oneid_logout_all_read(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_all_ended(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_logout_all_done(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);


/* OneID sessions ended by one "log out everywhere", at most */
#define NGX_HTTP_ONEID_LOGOUT_ALL_MAX  16


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

    if (ctx->conf->role == NGX_HTTP_ONEID_ROLE_LOGOUT_ALL) {
        /* ended only with the others: if that fails, it is kept */
        return ngx_http_oneid_redis_wait(r, ctx,
                                         ngx_http_oneid_logout_all_read,
                                         "GET", NGX_HTTP_ONEID_SESSION,
                                         &ctx->session.sid, NULL, 0);
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

    known = (res->rc == NGX_OK
             && ngx_http_oneid_session_decode(r->pool, &ss->sid, &res->value,
                                              &ss->identity)
                == NGX_OK);

    if (known) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGOUT);
        ngx_http_oneid_audit_logout(r, ctx, &ss->identity, "logout", -1);
    }

    if (known) {
        ngx_http_oneid_forget(r, ctx, 0);
        ngx_http_oneid_index_remove(r, &ss->identity.field[NGX_HTTP_ONEID_PIN],
                                    &ss->sid);
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
    ngx_http_oneid_result_t     *res;
    ngx_http_oneid_main_conf_t  *omcf;

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

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    if (ngx_http_oneid_session_decode_token(r->pool, omcf->keys,
                                            &ctx->session.sid, &res->value,
                                            &ctx->session.identity.access_token)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: the OneID token kept for this session does "
                      "not open with its cookie (changed in Redis?), "
                      "OneID's own session could not be ended");
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: signed out after the session had expired, "
                  "ending the OneID session");

    /* the user is not known any more, only the session */

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGOUT);
    ngx_http_oneid_audit_logout(r, ctx, NULL, "logout", -1);

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
    ngx_http_oneid_identity_t *id, const char *event, ngx_int_t sessions)
{
    ngx_str_t                     hash;
    ngx_http_oneid_audit_event_t  ev;

    ev.event = event;
    ev.identity = id;
    ev.pinfl = NULL;
    ev.session = NULL;
    ev.sessions = sessions;
    ev.reason = NULL;

    if (ngx_http_oneid_session_hash(r->pool, &ctx->session.sid, &hash)
        == NGX_OK)
    {
        ev.session = &hash;
    }

    ngx_http_oneid_audit(r, &ev);
}


/*
 * "oneid_logout all": the session tells whose sessions to end.  Without
 * one (expired, ended elsewhere) nobody is known: the sign-out goes on as
 * a plain one.
 */

static ngx_int_t
ngx_http_oneid_logout_all_read(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_result_t       *res;
    ngx_http_oneid_index_cmd_t     cmd;
    ngx_http_oneid_ctx_session_t  *ss;

    res = &ctx->wait.result;
    ss = &ctx->session;

    if (res->rc == NGX_ERROR) {
        return ngx_http_oneid_logout_removed(r, ctx);
    }

    if (res->rc != NGX_OK
        || ngx_http_oneid_session_decode(r->pool, &ss->sid, &res->value,
                                         &ss->identity)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: \"log out everywhere\" without a live "
                      "session, signing out here only");
        return ngx_http_oneid_logout_removed(r, ctx);
    }

    ctx->next = NULL;

    if (ngx_http_oneid_index_end_all(r, &ss->identity.field[NGX_HTTP_ONEID_PIN],
                                     "everywhere", &ss->sid, &cmd)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    return ngx_http_oneid_redis_wait_argv(r, ctx,
                                          ngx_http_oneid_logout_all_ended,
                                          cmd.argc, cmd.argv);
}


static ngx_int_t
ngx_http_oneid_logout_all_ended(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_uint_t                     n;
    ngx_http_oneid_ctx_session_t  *ss;

    ctx->next = NULL;
    ss = &ctx->session;

    if (ctx->wait.result.rc != NGX_OK
        || ngx_http_oneid_index_reply(&ctx->wait.result.value, &n,
                                      &ctx->login.ended)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while ending the "
                      "sessions of user \"%V\", they are still active: %V",
                      &ss->identity.field[NGX_HTTP_ONEID_USER_ID],
                      &ctx->wait.result.err);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_LOGOUT_FAILED);
    }

    /* a session made before the index existed is not in it */

    ngx_http_oneid_forget(r, ctx, 1);

    if (ngx_http_oneid_expire_session_cookie(r, ctx->conf) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "oneid: user \"%V\" signed out everywhere, %ui sessions "
                  "ended", &ss->identity.field[NGX_HTTP_ONEID_USER_ID], n);

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGOUT_ALL);
    ngx_http_oneid_audit_logout(r, ctx, &ss->identity, "logout_all", n);

    ctx->login.ended_count = n;
    ctx->then = ngx_http_oneid_logout_all_done;

    return ngx_http_oneid_end_idp_sessions(r, ctx);
}


/*
 * one_log_out with each OneID token in ctx->login.ended, one after the
 * other, then ctx->then; ctx->idp_failed tells whether one failed
 */

ngx_int_t
ngx_http_oneid_end_idp_sessions(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_str_t  *token, record;

    ctx->next = NULL;
    token = &ctx->session.identity.access_token;

    if (ctx->idp_calls) {
        if (ctx->wait.result.rc == NGX_OK
            && ctx->wait.result.status == NGX_HTTP_OK)
        {
            ctx->idp_ended++;

        } else {
            ctx->idp_failed = 1;
        }
    }

    while (ngx_http_oneid_index_next_line(&ctx->login.ended, &record)
           == NGX_OK)
    {
        if (record.len == 0) {
            continue;
        }

        if (ngx_http_oneid_open_kept_token(r, &record, token) != NGX_OK) {
            ctx->idp_failed = 1;
            continue;
        }

        if (ctx->idp_calls++ == NGX_HTTP_ONEID_LOGOUT_ALL_MAX) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "oneid: more than %d OneID sessions to end, the "
                          "others are left to expire",
                          NGX_HTTP_ONEID_LOGOUT_ALL_MAX);
            ctx->idp_failed = 1;
            break;
        }

        return ngx_http_oneid_idp_wait(r, ctx,
                                       ngx_http_oneid_end_idp_sessions,
                                       "one_log_out", "access_token", token);
    }

    if (ctx->idp_failed) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: some OneID sessions could not be ended; the "
                      "local sessions were ended anyway");
    }

    return ctx->then(r, ctx);
}


/*
 * A OneID token a script in Redis handed over for a session ended without
 * its browser: only the server key opens it
 */

ngx_int_t
ngx_http_oneid_open_kept_token(ngx_http_request_t *r, ngx_str_t *record,
    ngx_str_t *token)
{
    ngx_int_t                    rc;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    rc = ngx_http_oneid_session_decode_token(r->pool, omcf->keys, NULL,
                                             record, token);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: a OneID token kept in Redis does not open "
                      "with any oneid_key_file key (rotated out, or "
                      "changed in Redis?); its OneID session is left to "
                      "expire");
    }

    return rc;
}


static ngx_int_t
ngx_http_oneid_logout_all_done(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    if (ctx->idp_failed) {
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL);
    }

    return ngx_http_oneid_redirect(r, &ctx->conf->logout_redirect);
}
