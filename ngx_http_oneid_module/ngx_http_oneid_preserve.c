
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * oneid_preserve_post: a form posted to a protected location whose
 * session is over survives the login, kept in the browser and never in
 * Redis.  This file owns which POSTs qualify, reading their body, the
 * page that keeps the form in the tab's sessionStorage and goes on to
 * OneID, the owner cookie (who the browser's last sign-in was, as a keyed
 * hash of the PINFL), and the page that posts the form again after the
 * login, once, and only for the same person; and keeping its cookies from
 * the upstream.
 *
 *   read:   a urlencoded form from a page of the site -> read the body
 *           -> ngx_http_oneid_login() again
 *   start:  page: sessionStorage[flow] = {url, fields, expires, owner}
 *           -> location.replace(OneID); cookie "<name>_post" = the flow
 *   finish: cookie "<name>_owner" = the new user's tag; for the flow of
 *           "<name>_post": page: same owner, not expired -> POST again
 *
 * The two pages share one constant script, allowed by its hash in the
 * pages' Content-Security-Policy; what it works on comes in a JSON data
 * block in which no "<" is left, so that no field can end the block.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_identity.h"
#include "ngx_http_oneid_key.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_preserve.h"
#include "ngx_http_oneid_util.h"


/* 128 bits of the HMAC: enough to tell two users apart, never reversed */
#define NGX_HTTP_ONEID_OWNER_LEN  32


static ngx_int_t ngx_http_oneid_preserve_wanted(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, const char **why);
static ngx_int_t ngx_http_oneid_preserve_is(ngx_table_elt_t *h,
    const char *value, size_t len, ngx_uint_t prefix);
static ngx_int_t ngx_http_oneid_preserve_owner(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *tag);
static ngx_int_t ngx_http_oneid_preserve_tag(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_str_t *tag);
static ngx_int_t ngx_http_oneid_preserve_collect(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *body, const char **why);
static ngx_int_t ngx_http_oneid_preserve_key(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_str_t *key);
static ngx_int_t ngx_http_oneid_preserve_html(ngx_http_request_t *r,
    const char *body, ngx_str_t *url, ngx_uint_t uses, ngx_str_t *data,
    ngx_str_t *html);
static ngx_int_t ngx_http_oneid_preserve_send(ngx_http_request_t *r,
    ngx_str_t *html);
static void ngx_http_oneid_preserve_not_kept(ngx_http_request_t *r,
    const char *why);


/*
 * Both pages: the data block says which one ("m"), the rest is constant.
 * The entry leaves sessionStorage before the form is posted, so that it
 * goes once; the form is posted with the prototype's submit(), which a
 * field named "submit" cannot hide.
 */

static const char  ngx_http_oneid_preserve_script[] =
"(function(){"
"var d=JSON.parse(document.getElementById(\"oneid-post\").textContent),"
"s=null,e=null,f,i,k,w;"
"try{s=window.sessionStorage}catch(x){}"
"if(d.m===\"start\"){"
"try{s.setItem(d.k,JSON.stringify(d.e))}catch(x){}"
"location.replace(d.go);return}"
"try{e=JSON.parse(s.getItem(d.k));s.removeItem(d.k)}catch(x){}"
"if(e&&e.owner===d.o&&e.url===d.u&&e.expires>d.now"
"&&Array.isArray(e.fields)){"
"f=document.createElement(\"form\");"
"f.setAttribute(\"method\",\"post\");f.setAttribute(\"action\",d.u);"
"for(k=0;k<e.fields.length;k++){"
"i=document.createElement(\"input\");i.type=\"hidden\";"
"i.name=e.fields[k][0];i.value=e.fields[k][1];f.appendChild(i)}"
"document.body.appendChild(f);HTMLFormElement.prototype.submit.call(f);"
"return}"
"w=!e?\"lost\":e.owner!==d.o?\"owner\":\"expired\";"
"document.getElementById(\"oneid-post-\"+w).hidden=false;"
"document.getElementById(\"oneid-post-continue\").hidden=false"
"})();";


static const char  ngx_http_oneid_preserve_head[] =
"<!DOCTYPE html>" CRLF
"<html><head><meta charset=\"utf-8\">" CRLF
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
CRLF
"<title>OneID</title></head><body>" CRLF;

static const char  ngx_http_oneid_preserve_tail[] =
"<script type=\"application/json\" id=\"oneid-post\">%V</script>" CRLF
"<script>%s</script>" CRLF
"</body></html>" CRLF;

/* %V: the OneID URL, HTML-escaped, three times */

static const char  ngx_http_oneid_preserve_start_html[] =
"<p lang=\"uz\">OneID orqali kirishga o\xe2\x80\x98tilmoqda. "
"To\xe2\x80\x98ldirgan shaklingiz shu oynada saqlanadi va kirganingizdan "
"so\xe2\x80\x98ng yuboriladi.</p>" CRLF
"<p lang=\"ru\">Переход ко входу через OneID. Заполненная форма "
"сохранена в этой вкладке и будет отправлена после входа.</p>" CRLF
"<p lang=\"en\">Going on to sign in with OneID. The form you filled in "
"is kept in this tab and will be sent once you have signed in.</p>" CRLF
"<noscript>" CRLF
"<p lang=\"uz\">JavaScript o\xe2\x80\x98" "chirilgan: shakl saqlanmaydi. "
"<a href=\"%V\">OneID orqali kirish</a></p>" CRLF
"<p lang=\"ru\">JavaScript отключён: форма не сохранится. "
"<a href=\"%V\">Войти через OneID</a></p>" CRLF
"<p lang=\"en\">JavaScript is off: the form cannot be kept. "
"<a href=\"%V\">Sign in with OneID</a></p>" CRLF
"</noscript>" CRLF;

/* %V: the page the form was posted to, HTML-escaped, twice */

static const char  ngx_http_oneid_preserve_finish_html[] =
"<div id=\"oneid-post-owner\" hidden>" CRLF
"<p lang=\"uz\">To\xe2\x80\x98ldirgan shaklingiz saqlanmadi: tizimga "
"boshqa foydalanuvchi kirdi.</p>" CRLF
"<p lang=\"ru\">Заполненная форма не сохранена: в систему вошёл другой "
"пользователь.</p>" CRLF
"<p lang=\"en\">The form you were filling in could not be kept: another "
"user signed in.</p>" CRLF
"</div>" CRLF
"<div id=\"oneid-post-expired\" hidden>" CRLF
"<p lang=\"uz\">To\xe2\x80\x98ldirgan shaklingiz saqlanmadi: uning "
"muddati o\xe2\x80\x98tdi.</p>" CRLF
"<p lang=\"ru\">Заполненная форма не сохранена: срок её хранения "
"истёк.</p>" CRLF
"<p lang=\"en\">The form you were filling in could not be kept: it "
"expired.</p>" CRLF
"</div>" CRLF
"<div id=\"oneid-post-lost\" hidden>" CRLF
"<p lang=\"uz\">To\xe2\x80\x98ldirgan shaklingiz bu oynada "
"topilmadi.</p>" CRLF
"<p lang=\"ru\">Заполненная форма не найдена в этой вкладке.</p>" CRLF
"<p lang=\"en\">The form you were filling in was not found in this "
"tab.</p>" CRLF
"</div>" CRLF
"<p id=\"oneid-post-continue\" hidden><a href=\"%V\">Davom etish / "
"Продолжить / Continue</a></p>" CRLF
"<noscript><p><a href=\"%V\">Davom etish / Продолжить / Continue</a>"
"</p></noscript>" CRLF;


/*
 * Hook 1, at the start of a login: a form worth keeping has its body read
 * first (asynchronously; the login runs again once it is in).
 */

ngx_int_t
ngx_http_oneid_preserve_read(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   tag;
    const char                 *why;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ctx->conf;

    /* the body is in (this is the login run again), or was read before */

    if (r->request_body != NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_oneid_preserve_wanted(r, olcf, &why);

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    if (rc == NGX_OK
        && r->headers_in.content_length_n
           > (off_t) olcf->preserve_post_max_size)
    {
        rc = NGX_ABORT;
        why = "it is larger than oneid_preserve_post_max_size";
    }

    if (rc == NGX_OK
        && ngx_http_oneid_preserve_owner(r, olcf, &tag) != NGX_OK)
    {
        rc = NGX_ABORT;
        why = "nobody has signed in at this browser since it was started, "
              "so it cannot be told whose it is";
    }

    if (rc != NGX_OK) {
        ngx_http_oneid_preserve_not_kept(r, why);
        return NGX_DECLINED;
    }

    return ngx_http_oneid_read_body(r, ctx, ngx_http_oneid_login);
}


/*
 * Hook 2, instead of the redirect to OneID: the page that keeps the form
 * in this tab, then goes to OneID.
 */

ngx_int_t
ngx_http_oneid_preserve_start(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_str_t *location)
{
    json_t                     *o, *e, *fields;
    ngx_str_t                   body, tag, data, html, key;
    const char                 *why;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ctx->conf;

    if (r->request_body == NULL
        || ngx_http_oneid_preserve_wanted(r, olcf, &why) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_preserve_owner(r, olcf, &tag) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_preserve_collect(r, olcf, &body, &why) != NGX_OK) {
        ngx_http_oneid_preserve_not_kept(r, why);
        return NGX_DECLINED;
    }

    fields = ngx_http_oneid_preserve_fields(r, &body);

    if (fields == NULL) {
        ngx_http_oneid_preserve_not_kept(r, "it is not UTF-8 text");
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_preserve_key(r, ctx, &key) != NGX_OK) {
        json_decref(fields);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    /*
     * json_object_set_new() takes the value, also when it fails.  The
     * time is the server's: the finish page compares it with the server's
     * time again, whatever the clock of the computer says.
     */

    e = json_object();

    if (e == NULL || json_object_set_new(e, "fields", fields)) {
        if (e == NULL) {
            json_decref(fields);
        }

        json_decref(e);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    o = json_object();

    if (o == NULL
        || json_object_set_new(e, "url", ngx_http_oneid_preserve_string(
                                             &ctx->login.return_uri))
        || json_object_set_new(e, "expires",
                               json_integer((json_int_t)
                                            (ngx_time() + olcf->state_timeout)
                                            * 1000))
        || json_object_set_new(e, "owner",
                               ngx_http_oneid_preserve_string(&tag)))
    {
        json_decref(o);
        json_decref(e);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (json_object_set_new(o, "e", e)
        || json_object_set_new(o, "m", json_string("start"))
        || json_object_set_new(o, "k", ngx_http_oneid_preserve_string(&key))
        || json_object_set_new(o, "go",
                               ngx_http_oneid_preserve_string(location)))
    {
        json_decref(o);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ngx_http_oneid_preserve_json(r, o, &data) != NGX_OK) {
        json_decref(o);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    json_decref(o);

    if (ngx_http_oneid_preserve_html(r, ngx_http_oneid_preserve_start_html,
                                     location, 3, &data, &html)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    /* which flow carries a form: the callback answers with its page */

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->post_cookie_name,
                                  &ctx->login.state, olcf->state_timeout)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: a form posted to \"%V\" (%uz bytes) is kept in "
                  "the browser across the login", &ctx->login.return_uri,
                  body.len);

    return ngx_http_oneid_preserve_send(r, &html);
}


/*
 * Hook 3, the login done and its session cookie set: the browser learns
 * who signed in, and the flow that carried a form gets the page that
 * posts it again.
 */

ngx_int_t
ngx_http_oneid_preserve_finish(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx)
{
    json_t                     *o;
    ngx_str_t                   tag, marker, empty, data, html;
    ngx_str_t                   key;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ctx->conf;
    ngx_str_null(&empty);

    /*
     * No PINFL, no owner: the cookie of whoever signed in before goes, so
     * that a form of theirs can never be posted under this user.
     */

    if (ngx_http_oneid_preserve_tag(r, ctx, &tag) == NGX_ERROR
        || ngx_http_oneid_set_cookie(r, olcf, &olcf->owner_cookie_name,
                                     tag.len ? &tag : &empty,
                                     tag.len ? -1 : 0)
           != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ngx_http_oneid_get_cookie(r, &olcf->post_cookie_name, &marker)
        != NGX_OK
        || marker.len != ctx->login.state.len
        || ngx_strncmp(marker.data, ctx->login.state.data, marker.len) != 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_set_cookie(r, olcf, &olcf->post_cookie_name, &empty, 0)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    if (ngx_http_oneid_preserve_key(r, ctx, &key) != NGX_OK) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    /* an empty owner matches no entry: the form is discarded */

    o = json_object();

    if (o == NULL
        || json_object_set_new(o, "m", json_string("finish"))
        || json_object_set_new(o, "k", ngx_http_oneid_preserve_string(&key))
        || json_object_set_new(o, "o", ngx_http_oneid_preserve_string(&tag))
        || json_object_set_new(o, "u", ngx_http_oneid_preserve_string(
                                           &ctx->login.return_uri))
        || json_object_set_new(o, "now",
                               json_integer((json_int_t) ngx_time() * 1000))
        || ngx_http_oneid_preserve_json(r, o, &data) != NGX_OK)
    {
        json_decref(o);
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    json_decref(o);

    if (ngx_http_oneid_preserve_html(r, ngx_http_oneid_preserve_finish_html,
                                     &ctx->login.return_uri, 2, &data, &html)
        != NGX_OK)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oneid: the login carried a form for \"%V\"",
                   &ctx->login.return_uri);

    return ngx_http_oneid_preserve_send(r, &html);
}


/*
 * The module's cookies never reach the upstream: NGX_DECLINED when a
 * Cookie header was emptied and the headers are to be rebuilt.
 */

ngx_int_t
ngx_http_oneid_preserve_hide_cookies(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf)
{
    ngx_int_t  rc, owner;

    owner = ngx_http_oneid_hide_cookie(r, &olcf->owner_cookie_name, 0);
    if (owner == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_http_oneid_hide_cookie(r, &olcf->post_cookie_name, 0);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return (owner == NGX_DECLINED) ? NGX_DECLINED : rc;
}


/*
 * NGX_OK: a form to keep.  NGX_ABORT: a form a person filled in but that
 * is not kept (*why says why, for the log).  NGX_DECLINED: anything else,
 * which keeps its usual answer (a script's 401 above all).
 */

static ngx_int_t
ngx_http_oneid_preserve_wanted(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, const char **why)
{
    ngx_table_elt_t  *h;

    if (!olcf->preserve_post
        || r != r->main
        || r->method != NGX_HTTP_POST
        || ngx_http_oneid_wants_json(r))
    {
        return NGX_DECLINED;
    }

    /* a page the user navigates to, not something a page fetches */

    h = ngx_http_oneid_find_header(r, (u_char *) "sec-fetch-mode",
                                   sizeof("sec-fetch-mode") - 1);

    if (h == NULL) {
        h = ngx_http_oneid_find_header(r, (u_char *) "accept",
                                       sizeof("accept") - 1);

        if (h == NULL
            || ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                                (u_char *) "text/html",
                                sizeof("text/html") - 2)
               == NULL)
        {
            return NGX_DECLINED;
        }
    }

    /*
     * Only a form of the site itself: one another site posts here must
     * never be posted again under the user's name.  Without the header
     * (older browsers), the owner cookie, SameSite=Lax, is not sent with
     * another site's POST either.
     */

    h = ngx_http_oneid_find_header(r, (u_char *) "sec-fetch-site",
                                   sizeof("sec-fetch-site") - 1);

    if (h != NULL
        && ngx_http_oneid_preserve_is(h, "same-origin",
                                      sizeof("same-origin") - 1, 0)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    h = r->headers_in.content_type;

    if (ngx_http_oneid_preserve_is(h, "application/x-www-form-urlencoded",
                                   sizeof("application/x-www-form-urlencoded")
                                   - 1, 1)
        == NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_http_oneid_preserve_is(h, "multipart/form-data",
                                   sizeof("multipart/form-data") - 1, 1)
        == NGX_OK)
    {
        *why = "multipart/form-data (files) is not kept";
        return NGX_ABORT;
    }

    return NGX_DECLINED;
}


/* the header is value, or (prefix) starts with it and parameters follow */

static ngx_int_t
ngx_http_oneid_preserve_is(ngx_table_elt_t *h, const char *value,
    size_t len, ngx_uint_t prefix)
{
    if (h == NULL
        || h->value.len < len
        || ngx_strncasecmp(h->value.data, (u_char *) value, len) != 0)
    {
        return NGX_DECLINED;
    }

    if (h->value.len == len
        || (prefix && (h->value.data[len] == ';'
                       || h->value.data[len] == ' ')))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the owner cookie, if the browser has a well-formed one */

static ngx_int_t
ngx_http_oneid_preserve_owner(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *tag)
{
    ngx_uint_t  i;

    if (ngx_http_oneid_get_cookie(r, &olcf->owner_cookie_name, tag) != NGX_OK
        || tag->len != NGX_HTTP_ONEID_OWNER_LEN)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < tag->len; i++) {
        if ((tag->data[i] < '0' || tag->data[i] > '9')
            && (tag->data[i] < 'a' || tag->data[i] > 'f'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The owner tag of the user who signed in: the HMAC of the PINFL under a
 * key of its own, cut to 128 bits.  The browser never holds the PINFL,
 * and the tag means nothing anywhere else.  An empty tag without a PINFL.
 */

static ngx_int_t
ngx_http_oneid_preserve_tag(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_str_t *tag)
{
    ngx_str_t                   *pin;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);
    pin = &ctx->session.identity.field[NGX_HTTP_ONEID_PIN];

    ngx_str_null(tag);

    if (pin->len == 0 || omcf->keys == NULL) {
        return NGX_DECLINED;
    }

    tag->data = ngx_pnalloc(r->pool, NGX_HTTP_ONEID_SHA256_HEX_LEN);
    if (tag->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_oneid_key_mac_hex(omcf->keys, 0,
                                   NGX_HTTP_ONEID_KEY_POST_OWNER, pin,
                                   tag->data)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oneid: could not compute the owner tag of a form");
        return NGX_ERROR;
    }

    tag->len = NGX_HTTP_ONEID_OWNER_LEN;

    return NGX_OK;
}


/*
 * The body in one piece.  Only a body nginx kept in memory: one written
 * to a temporary file (client_body_buffer_size smaller than the form) is
 * not read back, reading a file here would block the worker.
 */

static ngx_int_t
ngx_http_oneid_preserve_collect(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *body, const char **why)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body->temp_file) {
        *why = "nginx wrote it to a temporary file (client_body_buffer_size "
               "is smaller than the form)";
        return NGX_DECLINED;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file || !ngx_buf_in_memory(cl->buf)) {
            *why = "nginx wrote it to a temporary file "
                   "(client_body_buffer_size is smaller than the form)";
            return NGX_DECLINED;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len > olcf->preserve_post_max_size) {
        *why = "it is larger than oneid_preserve_post_max_size";
        return NGX_DECLINED;
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        *why = "out of memory";
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return NGX_OK;
}


/* the entry's sessionStorage key: "oneid-post:" and the flow's state */

static ngx_int_t
ngx_http_oneid_preserve_key(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx,
    ngx_str_t *key)
{
    key->len = sizeof("oneid-post:") - 1 + ctx->login.state.len;
    key->data = ngx_pnalloc(r->pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(key->data, "oneid-post:",
                          sizeof("oneid-post:") - 1),
               ctx->login.state.data, ctx->login.state.len);

    return NGX_OK;
}


/*
 * A page of the two: head, body (which puts url, HTML-escaped, "uses"
 * times), the form's data block and the script.
 */

static ngx_int_t
ngx_http_oneid_preserve_html(ngx_http_request_t *r, const char *body,
    ngx_str_t *url, ngx_uint_t uses, ngx_str_t *data, ngx_str_t *html)
{
    u_char     *p;
    ngx_str_t   esc;

    esc.len = url->len + ngx_escape_html(NULL, url->data, url->len);
    esc.data = ngx_pnalloc(r->pool, esc.len);
    if (esc.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_escape_html(esc.data, url->data, url->len);

    html->len = sizeof(ngx_http_oneid_preserve_head) - 1
                + ngx_strlen(body) + uses * esc.len
                + sizeof(ngx_http_oneid_preserve_tail) - 1 + data->len
                + sizeof(ngx_http_oneid_preserve_script) - 1;

    html->data = ngx_pnalloc(r->pool, html->len);
    if (html->data == NULL) {
        return NGX_ERROR;
    }

    /* a body using url twice ignores the third argument */

    p = ngx_cpymem(html->data, ngx_http_oneid_preserve_head,
                   sizeof(ngx_http_oneid_preserve_head) - 1);
    p = ngx_slprintf(p, html->data + html->len, body, &esc, &esc, &esc);
    p = ngx_slprintf(p, html->data + html->len, ngx_http_oneid_preserve_tail,
                     data, ngx_http_oneid_preserve_script);

    html->len = p - html->data;

    return NGX_OK;
}


/*
 * 200, never cached; the script is allowed by its hash, nothing else runs
 * or loads, and the re-posted form may go to this site only.
 */

static ngx_int_t
ngx_http_oneid_preserve_send(ngx_http_request_t *r, ngx_str_t *html)
{
    u_char           *p;
    ngx_str_t         csp, hash;
    unsigned int      n;
    static u_char     md[EVP_MAX_MD_SIZE];
    static u_char     b64[ngx_base64_encoded_length(EVP_MAX_MD_SIZE)];
    static ngx_str_t  digest;

    static const char  policy[] =
        "default-src 'none'; script-src 'sha256-%V'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'";

    if (digest.len == 0) {
        if (EVP_Digest(ngx_http_oneid_preserve_script,
                       sizeof(ngx_http_oneid_preserve_script) - 1, md, &n,
                       EVP_sha256(), NULL)
            != 1)
        {
            return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
        }

        hash.data = md;
        hash.len = n;
        digest.data = b64;

        ngx_encode_base64(&digest, &hash);
    }

    csp.len = sizeof(policy) - 1 + digest.len;
    csp.data = ngx_pnalloc(r->pool, csp.len);
    if (csp.data == NULL) {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    p = ngx_sprintf(csp.data, policy, &digest);
    csp.len = p - csp.data;

    if (ngx_http_oneid_add_header_out(r, "Content-Security-Policy", &csp)
        == NULL)
    {
        return ngx_http_oneid_send_page(r, NGX_HTTP_ONEID_PAGE_INTERNAL);
    }

    return ngx_http_oneid_send_body(r, NGX_HTTP_OK,
                                    "text/html; charset=utf-8", NULL, html);
}


static void
ngx_http_oneid_preserve_not_kept(ngx_http_request_t *r, const char *why)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: a form posted to \"%V\" is not kept across the "
                  "login: %s; after the login the page opens empty",
                  &r->main->uri, why);
}
