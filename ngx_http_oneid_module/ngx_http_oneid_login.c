
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Logging in: the start on a protected location without a session, and
 * the oneid_callback location that finishes it.
 *
 *   start:    the flow's sealed cookie (ngx_http_oneid_flow.c), nothing
 *             in Redis -> 302 to OneID
 *   callback: the flow's cookie checked and dropped -> token -> identify
 *             [-> one_log_out: oneid_idp_session end]
 *             -> EVAL: the state marked used, then the session this
 *             browser's other tabs just made for the user, or a new
 *             session, its token and its entry in the user's index
 *             (ending the oldest sessions over oneid_session_max_per_user)
 *             -> one_log_out for each session so ended
 *             -> 302 back to the page first asked for
 *
 * A callback that cannot finish its flow (unknown, expired or used) goes
 * where its flow wanted if the browser is signed in, starts the flow
 * again once if it had only expired, and shows a page otherwise.
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
#include "ngx_http_oneid_flow.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_index.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_preserve.h"
#include "ngx_http_oneid_session.h"
#include "ngx_http_oneid_audit.h"
#include "ngx_http_oneid_metrics.h"


static ngx_int_t ngx_http_oneid_login_start(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_uint_t restarted, ngx_str_t *location);
static ngx_int_t ngx_http_oneid_callback_stale(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_callback_stale_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
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
static ngx_int_t ngx_http_oneid_callback_shared(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_str_t *sealed);
static ngx_int_t ngx_http_oneid_callback_evict(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static void ngx_http_oneid_audit_login(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, const char *event, const char *reason);


#define NGX_HTTP_ONEID_MAX_CODE  512


/*
 * Start a login: the flow, under a fresh random state, is a cookie of
 * its own that says where the browser wanted to go; then to OneID.
 * Nothing is written anywhere else: an anonymous client costs nothing
 * but this answer.
 */

ngx_int_t
ngx_http_oneid_login(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    location, uri;
    ngx_http_oneid_ctx_login_t  *lg;

    lg = &ctx->login;
    ctx->next = NULL;

    /* a form posted as the session ended: read it, to keep it */

    rc = ngx_http_oneid_preserve_read(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_http_oneid_wants_json(r)) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_LOGIN_REQUIRED);
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

    if (ngx_http_oneid_login_start(r, ctx, 0, &location) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    rc = ngx_http_oneid_preserve_start(r, ctx, &location);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_oneid_redirect(r, &location);
}


/* a new flow to ctx->login.return_uri, and the authorize URL for it */

static ngx_int_t
ngx_http_oneid_login_start(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_uint_t restarted, ngx_str_t *location)
{
    ngx_http_oneid_loc_conf_t   *olcf;
    ngx_http_oneid_ctx_login_t  *lg;

    olcf = ctx->conf;
    lg = &ctx->login;

    if (ngx_http_oneid_flow_state(r, &lg->state, restarted) != NGX_OK
        || ngx_http_oneid_flow_start(r, olcf, &lg->state, &lg->return_uri,
                                     restarted)
           != NGX_OK
        || ngx_http_oneid_authorize_location(r, olcf, &lg->state, location)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_STARTED);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oneid: login started for \"%V\"%s", &lg->return_uri,
                   restarted ? " again" : "");

    return NGX_OK;
}


/* oneid_callback */

ngx_int_t
ngx_http_oneid_callback(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_uint_t                   valid;
    ngx_http_oneid_flow_t        flow;
    ngx_http_oneid_ctx_login_t  *lg;

    lg = &ctx->login;
    ngx_str_set(&lg->return_uri, "/");

    valid = ngx_http_oneid_callback_arg(r, "code", NGX_HTTP_ONEID_MAX_CODE,
                                        &lg->code) == NGX_OK
            && ngx_http_oneid_callback_arg(r, "state",
                                           NGX_HTTP_ONEID_STATE_LEN,
                                           &lg->state) == NGX_OK
            && ngx_http_oneid_flow_is_state(&lg->state) == NGX_OK;

    if (!valid) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: login callback without a valid code and "
                      "state: \"%V\"", &r->args);
        return ngx_http_oneid_callback_stale(r, ctx);
    }

    rc = ngx_http_oneid_flow_check(r, ctx->conf, &lg->state, &flow);

    if (rc == NGX_ERROR) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (rc == NGX_DECLINED) {
        if (flow.found) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "oneid: login callback whose flow cookie does "
                          "not verify (forged, or from another key)");

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "oneid: login callback for a flow this browser "
                          "does not hold: over, expired, or started "
                          "elsewhere");

            /*
             * a sign-in page left open past the flow's cookie: a new
             * login (home: the page is not known) rather than an error,
             * once, as a restarted state says of itself
             */

            lg->restart = (lg->state.data[0] != NGX_HTTP_ONEID_STATE_RESTARTED);
        }

        return ngx_http_oneid_callback_stale(r, ctx);
    }

    /* a flow is over at its callback, whatever comes of it */

    if (ngx_http_oneid_flow_end(r, ctx->conf, &lg->state) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    lg->return_uri = flow.return_uri;

    if (rc == NGX_DONE) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oneid: login callback after the flow expired "
                      "(started %T s ago)%s", ngx_time() - flow.issued,
                      flow.restarted ? ", already restarted once" : "");

        lg->restart = !flow.restarted;

        return ngx_http_oneid_callback_stale(r, ctx);
    }

    return ngx_http_oneid_idp_wait(r, ctx, ngx_http_oneid_callback_token,
                                   "one_authorization_code", "code",
                                   &lg->code);
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


/*
 * A callback that cannot finish its flow.  A browser that is signed in
 * (the back button after a login, a reused link, another tab's login)
 * goes where the flow wanted, or home; a flow that only expired starts
 * again, once, so that OneID's own session may sign the user straight
 * in; anybody else gets a page, never a redirect to OneID, so that a
 * broken login cannot loop.
 */

static ngx_int_t
ngx_http_oneid_callback_stale(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    if (ngx_http_oneid_session_cookie(r, ctx) == NGX_OK) {
        return ngx_http_oneid_load_session(r, ctx,
                                       ngx_http_oneid_callback_stale_session);
    }

    return ngx_http_oneid_callback_stale_session(r, ctx);
}


static ngx_int_t
ngx_http_oneid_callback_stale_session(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_str_t                    location;
    ngx_http_oneid_ctx_login_t  *lg;

    ctx->next = NULL;
    lg = &ctx->login;

    if (ctx->session.have_cookie
        && ngx_http_oneid_session_usable(r, ctx) == NGX_OK)
    {
        return ngx_http_oneid_redirect(r, &lg->return_uri);
    }

    if (!lg->restart) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_FAILED_STATE);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_BAD_CALLBACK);
    }

    if (ngx_http_oneid_login_start(r, ctx, 1, &location) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    return ngx_http_oneid_redirect(r, &location);
}


static ngx_int_t
ngx_http_oneid_callback_token(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ctx->next = NULL;

    if (ngx_http_oneid_idp_parse_token(r, ctx->conf, &ctx->wait.result,
                                       &ctx->login.access_token)
        != NGX_OK)
    {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_FAILED_ONEID);
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
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_FAILED_REFUSED);
        ngx_http_oneid_audit_login(r, ctx, "login_refused", reason);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_REFUSED);
    }

    if (rc != NGX_OK) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_FAILED_ONEID);
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
    ngx_int_t                     rc;
    ngx_str_t                     record;
    ngx_http_oneid_identity_t    *id;
    ngx_http_oneid_index_cmd_t    cmd;
    ngx_http_oneid_index_tabs_t   tabs;
    ngx_http_oneid_ctx_login_t   *lg;

    id = &ctx->session.identity;
    lg = &ctx->login;

    ngx_memzero(&tabs, sizeof(ngx_http_oneid_index_tabs_t));
    tabs.state = lg->state;

    /* a new login replaces whatever session this browser had */

    if (ngx_http_oneid_session_cookie(r, ctx) == NGX_OK) {
        lg->prev_sid = ctx->session.sid;

        if (ngx_http_oneid_session_hash(r->pool, &lg->prev_sid,
                                        &lg->prev_hash)
            != NGX_OK)
        {
            return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
        }

        tabs.old = lg->prev_hash;
    }

    if (ngx_http_oneid_random_token(r, &ctx->session.sid) != NGX_OK
        || ngx_http_oneid_session_encode(r->pool, &ctx->session.sid, id,
                                         &record)
           != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    rc = ngx_http_oneid_flow_tabs(r, ctx->conf,
                                  &id->field[NGX_HTTP_ONEID_PIN],
                                  &ctx->session.sid, &tabs.key, &tabs.sealed);

    if (rc == NGX_ERROR
        || ngx_http_oneid_index_login(r, ctx->conf, &ctx->session.sid,
                                      &record, id, &tabs, &cmd)
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
    ngx_str_t                  *value;
    ngx_uint_t                  live;
    ngx_http_oneid_loc_conf_t  *olcf;
    ngx_http_oneid_identity_t  *id;

    olcf = ctx->conf;
    id = &ctx->session.identity;
    value = &ctx->wait.result.value;
    ctx->next = NULL;

    if (ctx->wait.result.rc == NGX_OK
        && value->len == sizeof("used") - 1
        && ngx_strncmp(value->data, "used", value->len) == 0)
    {
        /* the code was good, but this state finished a login before */

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: login callback replayed: its state was "
                      "used already");

        ctx->session.sid = ctx->login.prev_sid;
        ctx->login.restart = 0;

        return ngx_http_oneid_callback_stale(r, ctx);
    }

    if (ctx->wait.result.rc == NGX_OK && value->len && value->data[0] == '=') {
        value->data++;
        value->len--;

        return ngx_http_oneid_callback_shared(r, ctx, value);
    }

    if (ctx->wait.result.rc != NGX_OK
        || ngx_http_oneid_index_reply(value, &live, &ctx->login.ended)
           != NGX_OK)
    {
        /* no cookie: a cookie pointing at nothing would only confuse */
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_FAILED_STORE);
        return ngx_http_oneid_store_failed(r, ctx, "creating a session");
    }

    if (ctx->login.prev_hash.len) {
        ngx_http_oneid_revoke_hash(ctx, &ctx->login.prev_hash);
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

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_COMPLETED);
    ngx_http_oneid_audit_login(r, ctx, "login", NULL);

    return ngx_http_oneid_callback_evict(r, ctx);
}


/*
 * Another tab of this browser signed the same user in a moment ago: its
 * session is this login's too, so that N tabs make one session, not N
 * that would count against oneid_session_max_per_user.
 */

static ngx_int_t
ngx_http_oneid_callback_shared(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_str_t *sealed)
{
    ngx_str_t                   sid, hash;
    ngx_http_oneid_loc_conf_t  *olcf;
    ngx_http_oneid_identity_t  *id;

    olcf = ctx->conf;
    id = &ctx->session.identity;

    if (ngx_http_oneid_flow_unseal(r, olcf, &id->field[NGX_HTTP_ONEID_PIN],
                                   sealed, &sid)
        != NGX_OK
        || ngx_http_oneid_session_hash(r->pool, &sid, &hash) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: the session of another tab cannot be "
                      "unsealed");
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ctx->login.prev_hash.len
        && ngx_strncmp(ctx->login.prev_hash.data, hash.data,
                       NGX_HTTP_ONEID_SHA256_HEX_LEN) != 0)
    {
        ngx_http_oneid_revoke_hash(ctx, &ctx->login.prev_hash);
    }

    ctx->session.sid = sid;
    ngx_str_null(&ctx->login.ended);

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->cookie_name, &sid, -1)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: user \"%V\" signed in with %V in another tab of "
                  "this browser: its session is shared",
                  &id->field[NGX_HTTP_ONEID_USER_ID],
                  &id->field[NGX_HTTP_ONEID_AUTH_METHOD]);

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_COMPLETED);
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

        line.data = sp + 1;
        line.len -= NGX_HTTP_ONEID_SHA256_HEX_LEN + 1;

        if (line.len
            && ngx_http_oneid_open_kept_token(r, &line, token) == NGX_OK)
        {
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
