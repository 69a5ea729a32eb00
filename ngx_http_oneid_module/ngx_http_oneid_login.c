
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Logging in: the start on a protected location without a session, and
 * the oneid_callback location that finishes it.
 *
 *   start:    SET state -> 302 to OneID
 *   callback: GETDEL state -> token -> identify
 *             [-> one_log_out: oneid_idp_session end]
 *             -> EVAL: session, its token and its entry in the user's
 *             index (ending the oldest sessions over
 *             oneid_session_max_per_user)
 *             -> one_log_out for each session so ended
 *             -> 302 back to the page first asked for
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_idp.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_handler.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_index.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_preserve.h"
#include "ngx_http_oneid_session.h"
#include "ngx_http_oneid_audit.h"


static ngx_int_t ngx_http_oneid_login_saved(ngx_http_request_t *r,
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
static ngx_int_t ngx_http_oneid_callback_idp_ended(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_save(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_saved(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_evict(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static void ngx_http_oneid_audit_login(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, const char *event, const char *reason);


#define NGX_HTTP_ONEID_MAX_CODE  512


/*
 * Start a login: remember, under a fresh random state, which browser
 * asked (the hash of a random cookie) and where it wanted to go, then
 * send it to OneID.  Tabs share the browser cookie and each gets its own
 * state, so parallel logins all succeed.
 */

ngx_int_t
ngx_http_oneid_login(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    record, uri;
    ngx_http_oneid_loc_conf_t   *olcf;
    ngx_http_oneid_ctx_login_t  *lg;

    rc = ngx_http_oneid_preserve_read(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    olcf = ctx->conf;
    lg = &ctx->login;
    ctx->next = NULL;

    if (ngx_http_oneid_wants_json(r)) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_LOGIN_REQUIRED);
    }

    if (ngx_http_oneid_random_token(r, &lg->state) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ngx_http_oneid_get_token_cookie(r, &olcf->state_cookie_name,
                                        &lg->binding)
        != NGX_OK)
    {
        if (ngx_http_oneid_random_token(r, &lg->binding) != NGX_OK) {
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

    lg->return_uri = uri;

    /* "<hash of the browser cookie>\n<return uri>" */

    record.len = NGX_HTTP_ONEID_SHA256_HEX_LEN + 1 + uri.len;
    record.data = ngx_pnalloc(r->pool, record.len);
    if (record.data == NULL) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ngx_http_oneid_sha256_hex(record.data, lg->binding.data,
                                  lg->binding.len)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    p = record.data + NGX_HTTP_ONEID_SHA256_HEX_LEN;
    *p++ = '\n';
    ngx_memcpy(p, uri.data, uri.len);

    return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_login_saved,
                                     "SET", NGX_HTTP_ONEID_STATE, &lg->state,
                                     &record, olcf->state_timeout);
}


static ngx_int_t
ngx_http_oneid_login_saved(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   location;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ctx->conf;
    ctx->next = NULL;

    if (ctx->wait.result.rc != NGX_OK) {
        return ngx_http_oneid_store_failed(r, ctx, "starting a login");
    }

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->state_cookie_name,
                                  &ctx->login.binding, olcf->state_timeout)
        != NGX_OK
        || ngx_http_oneid_authorize_location(r, olcf, &ctx->login.state,
                                             &location)
           != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oneid: login started for \"%V\"", &ctx->login.return_uri);

    rc = ngx_http_oneid_preserve_start(r, ctx, &location);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_oneid_redirect(r, &location);
}


/* oneid_callback */

ngx_int_t
ngx_http_oneid_callback(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_uint_t                   valid;
    ngx_http_oneid_ctx_login_t  *lg;

    lg = &ctx->login;

    valid = ngx_http_oneid_callback_arg(r, "code", NGX_HTTP_ONEID_MAX_CODE,
                                        &lg->code) == NGX_OK
            && ngx_http_oneid_callback_arg(r, "state",
                                           NGX_HTTP_ONEID_TOKEN_LEN,
                                           &lg->state) == NGX_OK
            && ngx_http_oneid_is_token(&lg->state) == NGX_OK;

    if (!valid) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: login callback without a valid code and "
                      "state: \"%V\"", &r->args);
        return ngx_http_oneid_callback_bad_state(r, ctx);
    }

    if (ngx_http_oneid_get_token_cookie(r, &ctx->conf->state_cookie_name,
                                        &lg->binding)
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
                                     &lg->state, NULL, 0);
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
    ngx_int_t                 rc;
    ngx_str_t                *uri;
    ngx_http_oneid_result_t  *res;

    ctx->next = NULL;
    res = &ctx->wait.result;

    if (res->rc == NGX_ERROR) {
        return ngx_http_oneid_store_failed(r, ctx, "checking a login state");
    }

    if (res->rc != NGX_OK
        || res->value.len < NGX_HTTP_ONEID_SHA256_HEX_LEN + 2
        || res->value.data[NGX_HTTP_ONEID_SHA256_HEX_LEN] != '\n')
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: login state unknown, expired or already used");
        return ngx_http_oneid_callback_bad_state(r, ctx);
    }

    /* any of the browser's login cookies: others may be planted */

    rc = ngx_http_oneid_match_cookie(r, &ctx->conf->state_cookie_name,
                                     res->value.data);

    if (rc == NGX_ERROR) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: login state belongs to another browser");
        return ngx_http_oneid_callback_bad_state(r, ctx);
    }

    uri = &ctx->login.return_uri;

    uri->data = res->value.data + NGX_HTTP_ONEID_SHA256_HEX_LEN + 1;
    uri->len = res->value.len - NGX_HTTP_ONEID_SHA256_HEX_LEN - 1;

    if (ngx_http_oneid_safe_return_uri(uri) != NGX_OK) {
        ngx_str_set(uri, "/");
    }

    return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_callback_token,
                                   "one_authorization_code", "code",
                                   &ctx->login.code);
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

    if (ngx_http_oneid_idp_parse_token(r, ctx->conf, &ctx->wait.result,
                                       &ctx->login.access_token)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_IDP_UNAVAILABLE);
    }

    return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_callback_identity,
                                   "one_access_token_identify",
                                   "access_token", &ctx->login.access_token);
}


static ngx_int_t
ngx_http_oneid_callback_identity(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t    rc;
    const char  *reason;

    ctx->next = NULL;
    reason = NULL;

    rc = ngx_http_oneid_idp_parse_identity(r, ctx->conf, &ctx->wait.result,
                                           &ctx->session.identity, &reason);

    if (rc == NGX_DECLINED) {
        ngx_http_oneid_audit_login(r, ctx, "login_refused", reason);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_REFUSED);
    }

    if (rc != NGX_OK) {
        return ngx_http_oneid_send_page(r,
                                        NGX_HTTP_ONEID_PAGE_IDP_UNAVAILABLE);
    }

    ctx->session.identity.login_time = ngx_time();

    if (ctx->conf->idp_session == NGX_HTTP_ONEID_IDP_SESSION_END) {
        /*
         * OneID's own session ends before ours starts, so that the next
         * sign-in at this browser asks OneID for the credentials again
         */
        return ngx_http_oneid_idp_wait(r, ctx,
                                       ngx_http_oneid_callback_idp_ended,
                                       "one_log_out", "access_token",
                                       &ctx->login.access_token);
    }

    ctx->session.identity.access_token = ctx->login.access_token;

    return ngx_http_oneid_callback_save(r, ctx);
}


/*
 * oneid_idp_session end: the session keeps no token, there is nothing of
 * OneID left to end at the logout.  If OneID did not confirm, the user is
 * signed in all the same (the identity was read, the local session is
 * valid), and the token is kept so that the logout tries again.
 */

static ngx_int_t
ngx_http_oneid_callback_idp_ended(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_http_oneid_result_t    *res;
    ngx_http_oneid_identity_t  *id;

    ctx->next = NULL;
    res = &ctx->wait.result;
    id = &ctx->session.identity;

    if (res->rc != NGX_OK || res->status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: OneID one_log_out at the sign-in of user "
                      "\"%V\" failed (status %ui); signed in anyway, the "
                      "OneID session may survive until the logout",
                      &id->field[NGX_HTTP_ONEID_USER_ID], res->status);

        id->access_token = ctx->login.access_token;

    } else {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "oneid: OneID session ended at the sign-in");
    }

    return ngx_http_oneid_callback_save(r, ctx);
}


static ngx_int_t
ngx_http_oneid_callback_save(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_str_t                    record;
    ngx_http_oneid_identity_t   *id;
    ngx_http_oneid_index_cmd_t   cmd;

    id = &ctx->session.identity;

    /* a new login replaces whatever session this browser had */

    if (ngx_http_oneid_session_cookie(r, ctx) == NGX_OK) {
        ngx_http_oneid_forget(r, ctx, 1);
    }

    if (ngx_http_oneid_random_token(r, &ctx->session.sid) != NGX_OK
        || ngx_http_oneid_session_encode(r->pool, id, &record) != NGX_OK
        || ngx_http_oneid_index_login(r, ctx->conf, &ctx->session.sid,
                                      &record, id, &cmd)
           != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    return ngx_http_oneid_redis_wait_argv(r, ctx,
                                          ngx_http_oneid_callback_saved,
                                          cmd.argc, cmd.argv);
}


static ngx_int_t
ngx_http_oneid_callback_saved(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_uint_t                  live;
    ngx_http_oneid_loc_conf_t  *olcf;
    ngx_http_oneid_identity_t  *id;

    olcf = ctx->conf;
    id = &ctx->session.identity;
    ctx->next = NULL;

    if (ctx->wait.result.rc != NGX_OK
        || ngx_http_oneid_index_reply(&ctx->wait.result.value, &live,
                                      &ctx->login.ended)
           != NGX_OK)
    {
        /* no cookie: a cookie pointing at nothing would only confuse */
        return ngx_http_oneid_store_failed(r, ctx, "creating a session");
    }

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->cookie_name,
                                  &ctx->session.sid, -1)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: user \"%V\" signed in with %V (%ui sessions)",
                  &id->field[NGX_HTTP_ONEID_USER_ID],
                  &id->field[NGX_HTTP_ONEID_AUTH_METHOD], live);

    ngx_http_oneid_audit_login(r, ctx, "login", NULL);

    return ngx_http_oneid_callback_evict(r, ctx);
}


/* a sign-in (its new session named) or a refused one (no session) */

static void
ngx_http_oneid_audit_login(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    const char *event, const char *reason)
{
    ngx_str_t                     hash;
    ngx_http_oneid_audit_event_t  ev;

    ev.event = event;
    ev.identity = &ctx->session.identity;
    ev.pinfl = NULL;
    ev.session = NULL;
    ev.sessions = -1;
    ev.reason = reason;

    if (reason == NULL
        && ngx_http_oneid_session_hash(r->pool, &ctx->session.sid, &hash)
           == NGX_OK)
    {
        ev.session = &hash;
    }

    ngx_http_oneid_audit(r, &ev);
}


/*
 * The sessions the login ended by oneid_session_max_per_user: gone from
 * this node's cache now (the others hear it on the revoked channel), and
 * their OneID sessions ended too, one after the other, so that the
 * computer left behind cannot sign straight back in.
 */

static ngx_int_t
ngx_http_oneid_callback_evict(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    u_char                        *sp;
    ngx_int_t                      rc;
    ngx_str_t                      line, key, *token;
    ngx_http_oneid_audit_event_t   ev;

    ctx->next = NULL;
    token = &ctx->login.access_token;

    while (ngx_http_oneid_index_next_line(&ctx->login.ended, &line)
           == NGX_OK)
    {
        sp = ngx_strlchr(line.data, line.data + line.len, ' ');

        if (sp == NULL || sp - line.data != NGX_HTTP_ONEID_SHA256_HEX_LEN) {
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "oneid: user \"%V\" has more than %ui sessions, "
                      "the oldest one was ended",
                      &ctx->session.identity.field[NGX_HTTP_ONEID_USER_ID],
                      ctx->conf->max_per_user);

        key.data = line.data;
        key.len = NGX_HTTP_ONEID_SHA256_HEX_LEN;
        ngx_http_oneid_revoke_hash(ctx, &key);

        ev.event = "evicted";
        ev.identity = &ctx->session.identity;
        ev.pinfl = NULL;
        ev.session = &key;
        ev.sessions = 1;
        ev.reason = "oneid_session_max_per_user";

        ngx_http_oneid_audit(r, &ev);

        token->data = sp + 1;
        token->len = line.data + line.len - token->data;

        if (token->len) {
            return ngx_http_oneid_idp_wait(r, ctx,
                                           ngx_http_oneid_callback_evict,
                                           "one_log_out", "access_token",
                                           token);
        }
    }

    rc = ngx_http_oneid_preserve_finish(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_oneid_redirect(r, &ctx->login.return_uri);
}
