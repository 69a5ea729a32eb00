
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The oneid_session_info location: what the pages of the site may know of
 * their session, and the idle warning script that asks it.
 *
 *   GET            EVAL: the session's remaining TTL and its record in one
 *                  reply -> JSON; the idle timeout is left alone
 *   POST           (this site only) GETEX EX timeout: "continue working"
 *                  restarts the idle timeout -> the same JSON
 *   GET ?script    the warning script, no Redis
 *
 * Never the access token, never the full PINFL: the page's own scripts,
 * and whatever was injected into the page, read this.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_session.h"
#include "ngx_http_oneid_util.h"


#define NGX_HTTP_ONEID_INFO_JSON  "application/json; charset=utf-8"


static ngx_int_t ngx_http_oneid_info_read(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_info_loaded(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
static ngx_int_t ngx_http_oneid_info_answer(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, time_t idle);
static u_char *ngx_http_oneid_info_string(u_char *p, ngx_str_t *s);
static ngx_int_t ngx_http_oneid_info_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
static ngx_int_t ngx_http_oneid_info_script(ngx_http_request_t *r);


/*
 * The record and its remaining time to live in one round trip, and one
 * string (replies are read as strings): "<PTTL in ms>\n<record>", or nil.
 */
static ngx_str_t  ngx_http_oneid_info_lua = ngx_string(
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return false end "
    "return redis.call('PTTL', KEYS[1]) .. '\\n' .. v");


/*
 * Polls the info location (GET, which never extends the session), shows a
 * banner "warn_before" seconds before the idle timeout with a button that
 * POSTs ("continue working"), hides it once the session was extended (from
 * any tab), and loads the page again once the session is gone, so that the
 * site sends the browser to sign in and back.  No globals, no eval, no
 * inline handlers or styles (CSP), runs once however often it is included.
 */
static u_char  ngx_http_oneid_info_js[] =
"(function () {\n"
"    'use strict';\n"
"\n"
"    var root = document.documentElement;\n"
"\n"
"    if (root.hasAttribute('data-oneid-session')) {\n"
"        return;\n"
"    }\n"
"\n"
"    root.setAttribute('data-oneid-session', '');\n"
"\n"
"    var script = document.currentScript;\n"
"    var url = script && script.src ? script.src.replace(/[?#].*$/, '')\n"
"                                   : '/oneid/session';\n"
"    var texts = {\n"
"        uz: ['Faollik bo\\u2018lmagani sababli sessiyangiz {n} daqiqadan '\n"
"             + 'so\\u2018ng tugaydi.', 'Ishni davom ettirish'],\n"
"        ru: ['Из-за отсутствия активности сеанс '\n"
"             + 'завершится через {n} мин.', 'Продолжить работу'],\n"
"        en: ['Your session will end in {n} min because of inactivity.',\n"
"             'Continue working']\n"
"    };\n"
"    var timer = 0, tick = 0, busy = false, seen = false;\n"
"    var expiresAt = 0, endsAt = 0, warn = 0;\n"
"    var banner = null, message = null, button = null;\n"
"\n"
"    function language() {\n"
"        var list = [root.getAttribute('lang')]\n"
"                   .concat(navigator.languages || [navigator.language]);\n"
"        var i, l;\n"
"\n"
"        for (i = 0; i < list.length; i++) {\n"
"            l = String(list[i] || '').slice(0, 2).toLowerCase();\n"
"            if (texts.hasOwnProperty(l)) {\n"
"                return l;\n"
"            }\n"
"        }\n"
"\n"
"        return 'uz';\n"
"    }\n"
"\n"
"    function schedule(ms) {\n"
"        clearTimeout(timer);\n"
"        timer = setTimeout(function () { ask('GET'); }, Math.max(ms, 1000));\n"
"    }\n"
"\n"
"    /* GET never extends the session; POST is \"continue working\" */\n"
"    function ask(method) {\n"
"        var xhr;\n"
"\n"
"        if (busy) {\n"
"            return;\n"
"        }\n"
"\n"
"        busy = true;\n"
"        xhr = new XMLHttpRequest();\n"
"        xhr.open(method, url, true);\n"
"        xhr.setRequestHeader('Accept', 'application/json');\n"
"        xhr.onload = function () {\n"
"            var s = null;\n"
"\n"
"            busy = false;\n"
"\n"
"            if (button) {\n"
"                button.disabled = false;\n"
"            }\n"
"\n"
"            if (xhr.status === 401) {\n"
"                gone();\n"
"                return;\n"
"            }\n"
"\n"
"            try {\n"
"                s = JSON.parse(xhr.responseText);\n"
"            } catch (e) {\n"
"                s = null;\n"
"            }\n"
"\n"
"            if (xhr.status !== 200 || !s || !s.authenticated) {\n"
"                schedule(15000);\n"
"                return;\n"
"            }\n"
"\n"
"            update(s);\n"
"        };\n"
"        xhr.onerror = xhr.ontimeout = function () {\n"
"            busy = false;\n"
"\n"
"            if (button) {\n"
"                button.disabled = false;\n"
"            }\n"
"\n"
"            schedule(15000);\n"
"        };\n"
"        xhr.timeout = 15000;\n"
"        xhr.send(method === 'POST' ? '' : null);\n"
"    }\n"
"\n"
"    /*\n"
"     * The session is over: load this page again, the site then sends the\n"
"     * browser to sign in and back here.  A page that never had a session\n"
"     * is left alone (no reload loop).\n"
"     */\n"
"    function gone() {\n"
"        clearTimeout(timer);\n"
"\n"
"        if (seen) {\n"
"            window.location.replace(window.location.href);\n"
"        }\n"
"    }\n"
"\n"
"    function update(s) {\n"
"        var now = Date.now();\n"
"        var left;\n"
"\n"
"        seen = true;\n"
"        warn = (s.warn_before || 0) * 1000;\n"
"        expiresAt = now + s.idle_expires_in * 1000;\n"
"        endsAt = now + s.lifetime_expires_in * 1000;\n"
"        left = expiresAt - now;\n"
"\n"
"        if (warn > 0 && left <= warn) {\n"
"            show();\n"
"            /* another tab may extend the session meanwhile */\n"
"            schedule(Math.min(10000, Math.max(2000, warn / 3), left + 500));\n"
"\n"
"        } else {\n"
"            hide();\n"
"            schedule(Math.min(60000, left - warn, endsAt - now + 500));\n"
"        }\n"
"    }\n"
"\n"
"    function build() {\n"
"        var l = language();\n"
"\n"
"        banner = document.createElement('div');\n"
"        banner.setAttribute('role', 'alert');\n"
"        banner.setAttribute('lang', l);\n"
"        banner.setAttribute('data-oneid-session-warning', '');\n"
"        banner.style.position = 'fixed';\n"
"        banner.style.top = '0';\n"
"        banner.style.left = '0';\n"
"        banner.style.right = '0';\n"
"        banner.style.zIndex = '2147483647';\n"
"        banner.style.padding = '0.75em 1em';\n"
"        banner.style.background = '#fff3cd';\n"
"        banner.style.color = '#222';\n"
"        banner.style.borderBottom = '2px solid #c60';\n"
"        banner.style.font = '16px/1.4 sans-serif';\n"
"        banner.style.textAlign = 'center';\n"
"\n"
"        message = document.createElement('span');\n"
"\n"
"        button = document.createElement('button');\n"
"        button.type = 'button';\n"
"        button.textContent = texts[l][1];\n"
"        button.style.marginLeft = '1em';\n"
"        button.style.font = 'inherit';\n"
"        button.style.padding = '0.25em 1em';\n"
"        button.addEventListener('click', function () {\n"
"            button.disabled = true;\n"
"            ask('POST');\n"
"        });\n"
"\n"
"        banner.appendChild(message);\n"
"        banner.appendChild(button);\n"
"        (document.body || root).appendChild(banner);\n"
"    }\n"
"\n"
"    function render() {\n"
"        var n = Math.max(1, Math.ceil((expiresAt - Date.now()) / 60000));\n"
"        var t = texts[banner.getAttribute('lang')][0].replace('{n}', n);\n"
"\n"
"        /* a screen reader announces the alert again on each change */\n"
"        if (message.textContent !== t) {\n"
"            message.textContent = t;\n"
"        }\n"
"    }\n"
"\n"
"    function show() {\n"
"        if (!banner) {\n"
"            build();\n"
"        }\n"
"\n"
"        render();\n"
"        banner.style.display = 'block';\n"
"\n"
"        if (!tick) {\n"
"            tick = setInterval(render, 1000);\n"
"        }\n"
"    }\n"
"\n"
"    function hide() {\n"
"        if (banner) {\n"
"            banner.style.display = 'none';\n"
"        }\n"
"\n"
"        clearInterval(tick);\n"
"        tick = 0;\n"
"    }\n"
"\n"
"    document.addEventListener('visibilitychange', function () {\n"
"        if (!document.hidden) {\n"
"            ask('GET');\n"
"        }\n"
"    });\n"
"\n"
"    ask('GET');\n"
"})();\n";


/* oneid_session_info [warn=time] */

char *
ngx_http_oneid_session_info(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    time_t      warn;
    ngx_str_t  *value, s;

    if (olcf->role != NGX_HTTP_ONEID_ROLE_NONE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "warn=", 5) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        s.data = value[1].data + 5;
        s.len = value[1].len - 5;

        warn = ngx_parse_time(&s, 1);
        if (warn == (time_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\": a time such as \"5m\" "
                               "is expected (0: no warning)", &value[1]);
            return NGX_CONF_ERROR;
        }

        olcf->session_warn = warn;
    }

    olcf->role = NGX_HTTP_ONEID_ROLE_INFO;
    olcf->conf_file = cf->conf_file->file.name.data;
    olcf->conf_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_oneid_info(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {

        if (r->args.len >= sizeof("script") - 1
            && ngx_strncmp(r->args.data, "script", sizeof("script") - 1)
               == 0
            && (r->args.len == sizeof("script") - 1
                || r->args.data[sizeof("script") - 1] == '&'))
        {
            return ngx_http_oneid_info_script(r);
        }

    } else if (r->method == NGX_HTTP_POST) {

        /* a page elsewhere must not keep somebody's session alive */

        if (!ngx_http_oneid_same_origin(r)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "oneid: session extension not known to come "
                          "from this site, refused");
            return ngx_http_oneid_info_error(r, NGX_HTTP_FORBIDDEN,
                                             "not_same_origin");
        }

    } else {
        return ngx_http_oneid_info_error(r, NGX_HTTP_NOT_ALLOWED,
                                         "method_not_allowed");
    }

    rc = ngx_http_oneid_session_cookie(r, ctx);

    if (rc == NGX_BUSY) {
        return ngx_http_oneid_info_error(r, NGX_HTTP_BAD_REQUEST,
                                         "cookie_conflict");
    }

    if (rc != NGX_OK) {
        return ngx_http_oneid_info_error(r, NGX_HTTP_UNAUTHORIZED,
                                         "login_required");
    }

    if (ngx_http_oneid_session_key(r->pool, ctx->redis,
                                   NGX_HTTP_ONEID_SESSION, &ctx->session.sid,
                                   &ctx->session.key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_POST) {
        /* the one request here that counts as activity */
        ctx->touch = NGX_HTTP_ONEID_TOUCH_YES;

        return ngx_http_oneid_redis_wait(r, ctx, ngx_http_oneid_info_loaded,
                                         "GETEX", NGX_HTTP_ONEID_SESSION,
                                         &ctx->session.sid, NULL,
                                         ctx->conf->session_timeout);
    }

    return ngx_http_oneid_info_read(r, ctx);
}


/* never from the cache: its copy knows nothing of the idle timeout */

static ngx_int_t
ngx_http_oneid_info_read(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_str_t  argv[4];

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_oneid_info_lua;
    ngx_str_set(&argv[2], "1");
    argv[3] = ctx->session.key;

    ctx->touch = NGX_HTTP_ONEID_TOUCH_NO;
    ctx->next = ngx_http_oneid_info_loaded;

    if (ngx_http_oneid_wait_redis(&ctx->wait, 4, argv) != NGX_AGAIN) {
        /* known to be down: answer now rather than after a timeout */
        return ngx_http_oneid_info_loaded(r, ctx);
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_oneid_info_loaded(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    u_char                   *p, *last;
    time_t                    idle;
    ngx_int_t                 pttl;
    ngx_http_oneid_result_t  *res;

    ctx->next = NULL;
    res = &ctx->wait.result;

    if (res->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oneid: session store unavailable while reading a "
                      "session for oneid_session_info: %V", &res->err);
        return ngx_http_oneid_info_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "session_store_unavailable");
    }

    idle = ctx->conf->session_timeout;

    if (res->rc == NGX_OK && ctx->touch == NGX_HTTP_ONEID_TOUCH_NO) {
        /* "<PTTL>\n<record>": the record goes on as GET would give it */

        last = res->value.data + res->value.len;
        p = ngx_strlchr(res->value.data, last, '\n');

        if (p == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oneid: unexpected reply to the session info "
                          "script: \"%V\"", &res->value);
            return ngx_http_oneid_info_error(r,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "session_store_unavailable");
        }

        pttl = ngx_atoi(res->value.data, p - res->value.data);

        /* no idle timeout on the key (-1): not ours, say the configured */

        if (pttl != NGX_ERROR) {
            idle = pttl / 1000;
        }

        res->value.len = last - (p + 1);
        res->value.data = p + 1;
    }

    if (ngx_http_oneid_session_usable(r, ctx) != NGX_OK) {
        return ngx_http_oneid_info_error(r, NGX_HTTP_UNAUTHORIZED,
                                         "login_required");
    }

    return ngx_http_oneid_info_answer(r, ctx, idle);
}


static ngx_int_t
ngx_http_oneid_info_answer(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    time_t idle)
{
    u_char                     *p;
    size_t                      len;
    ngx_str_t                   body, name, pin, *f;
    ngx_http_oneid_identity_t  *id;


    id = &ctx->session.identity;
    f = id->field;

    /* the display name: as OneID gives it, else first name and surname */

    name = f[NGX_HTTP_ONEID_FULL_NAME];

    if (name.len == 0) {
        len = f[NGX_HTTP_ONEID_FIRST_NAME].len + 1
              + f[NGX_HTTP_ONEID_SUR_NAME].len;

        name.data = ngx_pnalloc(r->pool, len);
        if (name.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(name.data, f[NGX_HTTP_ONEID_FIRST_NAME].data,
                       f[NGX_HTTP_ONEID_FIRST_NAME].len);

        if (f[NGX_HTTP_ONEID_FIRST_NAME].len
            && f[NGX_HTTP_ONEID_SUR_NAME].len)
        {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, f[NGX_HTTP_ONEID_SUR_NAME].data,
                       f[NGX_HTTP_ONEID_SUR_NAME].len);

        name.len = p - name.data;
    }

    if (ngx_http_oneid_mask_pinfl(r->pool, &f[NGX_HTTP_ONEID_PIN], &pin)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof("{\"authenticated\":true,\"name\":,\"user_type\":,"
                 "\"auth_method\":,\"login_time\":,\"idle_timeout\":,"
                 "\"idle_expires_in\":,\"lifetime_expires_in\":,"
                 "\"pinfl\":,\"warn_before\":}" CRLF)
          + 4 * NGX_TIME_T_LEN + NGX_TIME_T_LEN + 10
          + 2 + name.len + ngx_escape_json(NULL, name.data, name.len)
          + 2 + f[NGX_HTTP_ONEID_USER_TYPE].len
          + ngx_escape_json(NULL, f[NGX_HTTP_ONEID_USER_TYPE].data,
                            f[NGX_HTTP_ONEID_USER_TYPE].len)
          + 2 + f[NGX_HTTP_ONEID_AUTH_METHOD].len
          + ngx_escape_json(NULL, f[NGX_HTTP_ONEID_AUTH_METHOD].data,
                            f[NGX_HTTP_ONEID_AUTH_METHOD].len)
          + 2 + pin.len;

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"authenticated\":true,\"name\":",
                   sizeof("{\"authenticated\":true,\"name\":") - 1);
    p = ngx_http_oneid_info_string(p, &name);
    p = ngx_cpymem(p, ",\"user_type\":", sizeof(",\"user_type\":") - 1);
    p = ngx_http_oneid_info_string(p, &f[NGX_HTTP_ONEID_USER_TYPE]);
    p = ngx_cpymem(p, ",\"auth_method\":", sizeof(",\"auth_method\":") - 1);
    p = ngx_http_oneid_info_string(p, &f[NGX_HTTP_ONEID_AUTH_METHOD]);

    p = ngx_sprintf(p, ",\"login_time\":%T,\"idle_timeout\":%T"
                    ",\"idle_expires_in\":%T,\"lifetime_expires_in\":%T",
                    id->login_time, ctx->conf->session_timeout, idle,
                    id->login_time + ctx->conf->session_lifetime
                    - ngx_time());

    if (pin.len) {
        p = ngx_cpymem(p, ",\"pinfl\":", sizeof(",\"pinfl\":") - 1);
        p = ngx_http_oneid_info_string(p, &pin);
    }

    p = ngx_sprintf(p, ",\"warn_before\":%T}" CRLF, ctx->conf->session_warn);

    body.len = p - body.data;

    return ngx_http_oneid_send_body(r, NGX_HTTP_OK, NGX_HTTP_ONEID_INFO_JSON,
                                    NULL, &body);
}


static u_char *
ngx_http_oneid_info_string(u_char *p, ngx_str_t *s)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s->data, s->len);
    *p++ = '"';

    return p;
}


/* error: a fixed code, no user input in it */

static ngx_int_t
ngx_http_oneid_info_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    size_t     len;
    ngx_str_t  body, allow;


    if (status == NGX_HTTP_NOT_ALLOWED) {
        ngx_str_set(&allow, "GET, HEAD, POST");

        if (ngx_http_oneid_add_header_out(r, "Allow", &allow) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    len = sizeof("{\"authenticated\":false,\"error\":\"\",\"status\":}" CRLF)
          + ngx_strlen(error) + NGX_INT_T_LEN;

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = ngx_sprintf(body.data,
                           "{\"authenticated\":%s,\"error\":\"%s\","
                           "\"status\":%ui}" CRLF,
                           status == NGX_HTTP_UNAUTHORIZED ? "false" : "null",
                           error, status)
               - body.data;

    return ngx_http_oneid_send_body(r, status, NGX_HTTP_ONEID_INFO_JSON, NULL,
                                    &body);
}


/* the same for everybody: caches may keep it a little */

static ngx_int_t
ngx_http_oneid_info_script(ngx_http_request_t *r)
{
    ngx_str_t  body;

    body.data = ngx_http_oneid_info_js;
    body.len = sizeof(ngx_http_oneid_info_js) - 1;

    return ngx_http_oneid_send_body(r, NGX_HTTP_OK,
                                    "application/javascript; charset=utf-8",
                                    "max-age=300", &body);
}
