
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The oneid_admin location: what an administrator may do to a user's
 * sessions, by PINFL.  A POST of application/json (a form on a page an
 * administrator happens to visit cannot send that type without the
 * browser asking this server first), answered in JSON:
 *
 *   {"action":"list","pinfl":"..."}    the user's live sessions
 *   {"action":"revoke","pinfl":"..."}  end them all, and their OneID
 *                                      sessions where a token is kept
 *
 *   read body -> EVAL (ngx_http_oneid_index.c) -> [one_log_out ...]
 *   -> JSON
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_audit.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_index.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_util.h"


/* a request is a few dozen bytes */
#define NGX_HTTP_ONEID_ADMIN_MAX_BODY  4096

#define NGX_HTTP_ONEID_PINFL_LEN       14

/* the PINFL the request names, kept where a session's would be */
#define ngx_http_oneid_admin_pinfl(ctx)                                       \
    (&(ctx)->session.identity.field[NGX_HTTP_ONEID_PIN])


static ngx_uint_t ngx_http_oneid_admin_from_browser(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_admin_request(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_admin_read(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_oneid_admin_listed(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static json_t *ngx_http_oneid_admin_session(ngx_http_request_t *r,
    json_t *entry, time_t now);
static ngx_int_t ngx_http_oneid_admin_revoked(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_admin_done(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
static ngx_int_t ngx_http_oneid_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, json_t *o);


ngx_int_t
ngx_http_oneid_admin(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_oneid_admin_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed",
                                          "use POST with a JSON body");
    }

    if (ngx_http_oneid_admin_from_browser(r)) {
        return ngx_http_oneid_admin_error(r, NGX_HTTP_FORBIDDEN,
                                          "browser_request_refused",
                                          "this is a tool's interface: a "
                                          "request made by a web page is "
                                          "refused");
    }

    if (r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len
           < sizeof("application/json") - 1
        || ngx_strncasecmp(r->headers_in.content_type->value.data,
                           (u_char *) "application/json",
                           sizeof("application/json") - 1)
           != 0)
    {
        return ngx_http_oneid_admin_error(r,
                                          NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                          "unsupported_media_type",
                                          "the body must be "
                                          "application/json");
    }

    if (r->headers_in.content_length_n > NGX_HTTP_ONEID_ADMIN_MAX_BODY) {
        return ngx_http_oneid_admin_error(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body_too_large",
                                          "the body is limited to 4096 "
                                          "bytes");
    }

    return ngx_http_oneid_read_body(r, ctx, ngx_http_oneid_admin_request);
}


/*
 * A script on a page an administrator has open (an XSS in the MIS on the
 * same host) could send JSON: browsers say where a request comes from,
 * tools (curl, a console's backend) do not.
 */

static ngx_uint_t
ngx_http_oneid_admin_from_browser(ngx_http_request_t *r)
{
    ngx_str_t         name;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        name = h[i].key;

        if ((name.len == sizeof("Origin") - 1
             && ngx_strncasecmp(name.data, (u_char *) "Origin",
                                name.len) == 0)
            || (name.len > sizeof("Sec-Fetch-") - 1
                && ngx_strncasecmp(name.data, (u_char *) "Sec-Fetch-",
                                   sizeof("Sec-Fetch-") - 1) == 0))
        {
            return 1;
        }
    }
}


static ngx_int_t
ngx_http_oneid_admin_request(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    json_t                     *o;
    ngx_int_t                   rc;
    ngx_str_t                   body, action, *pinfl, masked;
    ngx_uint_t                  i;
    const char                 *s;
    json_error_t                err;
    ngx_http_oneid_index_cmd_t  cmd;

    ctx->next = NULL;
    pinfl = &ctx->session.identity.field[NGX_HTTP_ONEID_PIN];

    rc = ngx_http_oneid_admin_read(r, &body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_oneid_admin_error(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body_too_large",
                                          "the body is limited to 4096 "
                                          "bytes and to "
                                          "client_body_buffer_size");
    }

    o = json_loadb((char *) body.data, body.len, JSON_REJECT_DUPLICATES,
                   &err);

    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return ngx_http_oneid_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_json",
                                          "the body is not a JSON object");
    }

    s = json_string_value(json_object_get(o, "action"));
    action.data = (u_char *) (s ? s : "");
    action.len = ngx_strlen(action.data);

    s = json_string_value(json_object_get(o, "pinfl"));
    pinfl->len = s ? ngx_strlen(s) : 0;

    for (i = 0; i < pinfl->len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            break;
        }
    }

    if (pinfl->len != NGX_HTTP_ONEID_PINFL_LEN || i != pinfl->len) {
        json_decref(o);
        return ngx_http_oneid_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_pinfl",
                                          "\"pinfl\" must be a string of "
                                          "14 digits");
    }

    pinfl->data = ngx_pnalloc(r->pool, pinfl->len);
    if (pinfl->data == NULL) {
        json_decref(o);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(pinfl->data, s, pinfl->len);

    if (action.len == 4 && ngx_strncmp(action.data, "list", 4) == 0) {
        json_decref(o);

        if (ngx_http_oneid_index_list(r, pinfl, &cmd) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oneid_redis_wait_argv(r, ctx,
                                              ngx_http_oneid_admin_listed,
                                              cmd.argc, cmd.argv);
    }

    if (action.len == 6 && ngx_strncmp(action.data, "revoke", 6) == 0) {
        json_decref(o);

        if (ngx_http_oneid_mask_pinfl(r->pool, pinfl, &masked) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "oneid: %V asks to revoke the sessions of PINFL %V",
                      &r->connection->addr_text, &masked);

        if (ngx_http_oneid_index_end_all(r, pinfl, "revoked", NULL, &cmd)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oneid_redis_wait_argv(r, ctx,
                                              ngx_http_oneid_admin_revoked,
                                              cmd.argc, cmd.argv);
    }

    json_decref(o);

    return ngx_http_oneid_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                      "invalid_action",
                                      "\"action\" must be \"list\" or "
                                      "\"revoke\"");
}


/* the body in one piece; NGX_DECLINED: too large (it went to a file) */

static ngx_int_t
ngx_http_oneid_admin_read(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || !ngx_buf_in_memory(b)) {
            return NGX_DECLINED;
        }

        len += b->last - b->pos;
    }

    if (len > NGX_HTTP_ONEID_ADMIN_MAX_BODY) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_admin_listed(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    time_t                   now;
    size_t                   i;
    json_t                  *list, *sessions, *o, *s;
    ngx_str_t                masked;
    json_error_t             err;
    ngx_http_oneid_result_t  *res;

    ctx->next = NULL;
    res = &ctx->wait.result;

    if (res->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while listing "
                      "sessions: %V", &res->err);
        return ngx_http_oneid_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "session_store_unavailable",
                                          "Redis did not answer");
    }

    list = json_loadb((char *) res->value.data, res->value.len, 0, &err);

    if (list == NULL || !json_is_array(list)) {
        json_decref(list);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sessions = json_array();
    now = ngx_time();

    for (i = 0; sessions && i < json_array_size(list); i++) {
        s = ngx_http_oneid_admin_session(r, json_array_get(list, i), now);

        if (s != NULL) {
            json_array_append_new(sessions, s);
        }
    }

    json_decref(list);

    if (ngx_http_oneid_mask_pinfl(r->pool, ngx_http_oneid_admin_pinfl(ctx),
                                  &masked)
        != NGX_OK)
    {
        json_decref(sessions);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o = json_pack("{s:s#, s:o*}", "pinfl", masked.data, (int) masked.len,
                  "sessions", sessions);

    return ngx_http_oneid_admin_send(r, NGX_HTTP_OK, o);
}


/*
 * What is shown of a session: never its id or token.  Its last activity
 * is when its idle timeout last restarted (with oneid_session_cache, at
 * most "refresh" before the real one).
 */

static json_t *
ngx_http_oneid_admin_session(ngx_http_request_t *r, json_t *entry,
    time_t now)
{
    json_t      *details, *s;
    json_int_t   login, timeout, ttl;
    const char  *sealed, *client, *ua, *method;

    if (json_unpack(entry, "{s:I, s:I, s:I}", "login", &login,
                    "timeout", &timeout, "idle_ttl", &ttl)
        != 0)
    {
        return NULL;
    }

    details = NULL;

    /* sealed since 0.7.0, in clear before */

    if (json_unpack(entry, "{s:s}", "details", &sealed) == 0) {
        details = ngx_http_oneid_index_open_details(r, sealed);
        entry = details;
    }

    client = "";
    ua = "";
    method = "";

    if (entry == NULL
        || json_unpack(entry, "{s:s, s:s, s:s}", "client", &client,
                       "user_agent", &ua, "auth_method", &method)
           != 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oneid: the details of a session in the index do "
                      "not open with any oneid_key_file key, listed "
                      "without them");
    }

    s = json_pack("{s:I, s:I, s:I, s:s, s:s, s:s}",
                  "login_time", login,
                  "last_activity", (json_int_t) now - (timeout - ttl),
                  "idle_expires_in", ttl,
                  "client", client,
                  "user_agent", ua,
                  "auth_method", method);

    json_decref(details);

    return s;
}


static ngx_int_t
ngx_http_oneid_admin_revoked(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_uint_t                     n;
    ngx_http_oneid_result_t       *res;
    ngx_http_oneid_audit_event_t   ev;

    ctx->next = NULL;
    res = &ctx->wait.result;

    if (res->rc != NGX_OK
        || ngx_http_oneid_index_reply(&res->value, &n, &ctx->login.ended)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while revoking "
                      "sessions, outcome unknown: %V", &res->err);
        return ngx_http_oneid_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "session_store_unavailable",
                                          "Redis did not answer: the "
                                          "sessions may or may not have "
                                          "been revoked, ask again");
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "oneid: %V revoked %ui sessions",
                  &r->connection->addr_text, n);

    ev.event = "revoke";
    ev.identity = NULL;
    ev.pinfl = &ctx->session.identity.field[NGX_HTTP_ONEID_PIN];
    ev.session = NULL;
    ev.sessions = n;
    ev.reason = NULL;

    ngx_http_oneid_audit(r, &ev);

    ctx->login.ended_count = n;
    ctx->then = ngx_http_oneid_admin_done;

    return ngx_http_oneid_end_idp_sessions(r, ctx);
}


static ngx_int_t
ngx_http_oneid_admin_done(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    json_t     *o;
    ngx_str_t   masked;

    if (ngx_http_oneid_mask_pinfl(r->pool, ngx_http_oneid_admin_pinfl(ctx),
                                  &masked)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o = json_pack("{s:s#, s:I, s:I, s:b}",
                  "pinfl", masked.data, (int) masked.len,
                  "revoked", (json_int_t) ctx->login.ended_count,
                  "oneid_sessions_ended", (json_int_t) ctx->idp_ended,
                  "complete", !ctx->idp_failed);

    return ngx_http_oneid_admin_send(r, NGX_HTTP_OK, o);
}


static ngx_int_t
ngx_http_oneid_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: admin request refused: %s", message);

    return ngx_http_oneid_admin_send(r, status,
                                     json_pack("{s:s, s:s}", "error", code,
                                               "message", message));
}


/* o is consumed */

static ngx_int_t
ngx_http_oneid_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    json_t *o)
{
    char       *dump;
    ngx_str_t   body;

    if (o == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dump = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    if (dump == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = ngx_strlen(dump);
    body.data = ngx_pnalloc(r->pool, body.len + 1);

    if (body.data != NULL) {
        ngx_memcpy(body.data, dump, body.len);
        body.data[body.len++] = '\n';
    }

    free(dump);

    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oneid_send_body(r, status,
                                    "application/json; charset=utf-8", NULL,
                                    &body);
}
