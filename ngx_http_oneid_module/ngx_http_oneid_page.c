
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * What a person sees when signing in does not work: a short page in
 * Uzbek, Russian or English, or JSON for scripts, and the content
 * negotiation that chooses between them (Accept, X-Requested-With,
 * Sec-Fetch-Mode, Accept-Language).  An error_page configured for the
 * status takes precedence.  Redirects and their response headers too.
 * The pages' texts are ngx_http_oneid_page_text.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_page_text.h"
#include "ngx_http_oneid_util.h"
#include "ngx_http_oneid_metrics.h"


static ngx_int_t ngx_http_oneid_header_has(ngx_http_request_t *r,
    const char *lowcase, const char *token);
static ngx_uint_t ngx_http_oneid_language(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_has_error_page(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_int_t ngx_http_oneid_html(ngx_http_request_t *r,
    ngx_http_oneid_page_t *page, ngx_uint_t lang, ngx_str_t *body);
static ngx_int_t ngx_http_oneid_help_text(ngx_http_request_t *r,
    ngx_uint_t lang, ngx_str_t *help, ngx_str_t *warning);
static ngx_int_t ngx_http_oneid_escape_html(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
static ngx_int_t ngx_http_oneid_json(ngx_http_request_t *r,
    ngx_http_oneid_page_t *page, ngx_uint_t lang, ngx_str_t *body);
static ngx_int_t ngx_http_oneid_no_store(ngx_http_request_t *r);


static const char  ngx_http_oneid_html_head[] =
"<!DOCTYPE html>" CRLF
"<html lang=\"%s\"><head><meta charset=\"utf-8\">" CRLF
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
CRLF
"<title>%s</title>" CRLF
"<style>body{font-family:sans-serif;max-width:36em;margin:3em auto;"
"padding:0 1em;color:#222}h1{font-size:1.4em}"
".w{border-left:4px solid #c60;padding:.5em 1em;background:#fff6ee}"
"button{font-size:1.1em;padding:.5em 1.5em}"
"</style></head>" CRLF
"<body><h1>%s</h1>" CRLF
"<p>%s</p>" CRLF;

static const char  ngx_http_oneid_html_help[] =
"<p>%V</p>" CRLF
"<p class=\"w\">%V</p>" CRLF;

static const char  ngx_http_oneid_html_form[] =
"<form method=\"post\" action=\"%V\"><button type=\"submit\">%s"
"</button></form>" CRLF;

static const char  ngx_http_oneid_html_home[] =
"<p><a href=\"/\">%s</a></p>" CRLF;

/* an error's status, for whoever the user calls for help */
static const char  ngx_http_oneid_html_status[] =
"<p><small>%ui</small></p>" CRLF;

static const char  ngx_http_oneid_html_end[] = "</body></html>" CRLF;


ngx_int_t
ngx_http_oneid_send_page(ngx_http_request_t *r, ngx_http_oneid_page_e id)
{
    ngx_int_t               rc;
    ngx_str_t               body;
    ngx_uint_t              lang, json;
    ngx_http_oneid_page_t  *page;

    page = &ngx_http_oneid_pages[id];

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_PAGE + id);

    if (ngx_http_oneid_has_error_page(r, page->status)) {
        return page->status;
    }

    lang = ngx_http_oneid_language(r);
    json = ngx_http_oneid_wants_json(r);

    if (json) {
        rc = ngx_http_oneid_json(r, page, lang, &body);

    } else {
        rc = ngx_http_oneid_html(r, page, lang, &body);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oneid_send_body(r, page->status,
                                    json ? "application/json; charset=utf-8"
                                         : "text/html; charset=utf-8",
                                    NULL, &body);
}


/* the status a page is sent with, for the metrics */

ngx_uint_t
ngx_http_oneid_page_status(ngx_uint_t page)
{
    return ngx_http_oneid_pages[page].status;
}


/*
 * An answer made here, from a phase handler: the request is finalized and
 * NGX_DONE returned (or a status for nginx to answer with).  cache: its
 * Cache-Control, NULL for "no-store", what answers about a user need.
 */

ngx_int_t
ngx_http_oneid_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *cache, ngx_str_t *body)
{
    ngx_int_t  rc;

    rc = ngx_http_oneid_output_body(r, status, type, cache, body);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR && !r->header_sent) {
        /* nothing sent yet: nginx answers with its own page */
        return rc;
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * The same from a content handler: what to finalize the request with is
 * returned, as ngx_http_send_response() does
 */

ngx_int_t
ngx_http_oneid_output_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *cache, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_str_t     value;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cache == NULL) {
        rc = ngx_http_oneid_no_store(r);

    } else {
        value.data = (u_char *) cache;
        value.len = ngx_strlen(cache);

        rc = ngx_http_oneid_add_header_out(r, "Cache-Control", &value)
             ? NGX_OK : NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_oneid_redirect(ngx_http_request_t *r, ngx_str_t *location)
{
    ngx_http_clear_location(r);

    r->headers_out.location = ngx_http_oneid_add_header_out(r, "Location",
                                                            location);
    if (r->headers_out.location == NULL
        || ngx_http_oneid_no_store(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_MOVED_TEMPORARILY;
}


/* pages and redirects here depend on cookies: no cache may keep them */

static ngx_int_t
ngx_http_oneid_no_store(ngx_http_request_t *r)
{
    ngx_str_t  value = ngx_string("no-store");

    if (ngx_http_oneid_add_header_out(r, "Cache-Control", &value) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_has_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *err_page;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->error_pages == NULL) {
        return 0;
    }

    err_page = clcf->error_pages->elts;

    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (err_page[i].status == (ngx_int_t) status) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_oneid_header_has(ngx_http_request_t *r, const char *lowcase,
    const char *token)
{
    ngx_table_elt_t  *h;

    h = ngx_http_oneid_find_header(r, (u_char *) lowcase, ngx_strlen(lowcase));

    if (h == NULL) {
        return 0;
    }

    return ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                            (u_char *) token, ngx_strlen(token) - 1)
           != NULL;
}


/*
 * Scripts get 401 and JSON: a redirect to a login page is no use to them.
 * Nor to a browser fetching an image or a stylesheet ("Sec-Fetch-Mode"
 * other than "navigate"), and each such redirect would cost a login state.
 */

ngx_int_t
ngx_http_oneid_wants_json(ngx_http_request_t *r)
{
    static u_char     mode[] = "sec-fetch-mode";
    ngx_table_elt_t  *h;

    if (ngx_http_oneid_header_has(r, "x-requested-with", "xmlhttprequest")) {
        return 1;
    }

    h = ngx_http_oneid_find_header(r, mode, sizeof(mode) - 1);

    if (h != NULL
        && (h->value.len != sizeof("navigate") - 1
            || ngx_strncasecmp(h->value.data, (u_char *) "navigate",
                               sizeof("navigate") - 1)
               != 0))
    {
        return 1;
    }

    return ngx_http_oneid_header_has(r, "accept", "json")
           && !ngx_http_oneid_header_has(r, "accept", "html");
}


/*
 * The first of uz, ru, en with the highest q value; Uzbek when the
 * browser names none of them.
 */

static ngx_uint_t
ngx_http_oneid_language(ngx_http_request_t *r)
{
    u_char           *p, *last, *end, *q;
    ngx_int_t         weight, best_weight;
    ngx_uint_t        lang, best;
    ngx_table_elt_t  *h;

    best = NGX_HTTP_ONEID_LANG_UZ;
    best_weight = 0;

    h = ngx_http_oneid_find_header(r, (u_char *) "accept-language",
                                   sizeof("accept-language") - 1);
    if (h == NULL) {
        return best;
    }

    p = h->value.data;
    last = h->value.data + h->value.len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        for (lang = 0; lang < NGX_HTTP_ONEID_NLANGS; lang++) {
            if (end - p >= 2
                && ngx_strncasecmp(p, (u_char *) ngx_http_oneid_lang_tag[lang],
                                   2) == 0
                && (end - p == 2 || p[2] == '-' || p[2] == ';'
                    || p[2] == ' '))
            {
                break;
            }
        }

        if (lang < NGX_HTTP_ONEID_NLANGS) {
            weight = 1000;

            q = ngx_strlcasestrn(p, end, (u_char *) "q=", 1);
            if (q != NULL) {
                weight = ngx_atofp(q + 2, end - q - 2, 3);
                if (weight == NGX_ERROR) {
                    weight = 0;
                }
            }

            if (weight > best_weight) {
                best = lang;
                best_weight = weight;
            }
        }

        p = end;
    }

    return best;
}


static ngx_int_t
ngx_http_oneid_html(ngx_http_request_t *r, ngx_http_oneid_page_t *page,
    ngx_uint_t lang, ngx_str_t *body)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   action, help, warning;

    ngx_str_null(&action);
    ngx_str_null(&help);
    ngx_str_null(&warning);

    if (page->button[lang] != NULL
        && ngx_http_oneid_escape_html(r->pool, &r->uri, &action) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (page->help
        && ngx_http_oneid_help_text(r, lang, &help, &warning) != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = sizeof(ngx_http_oneid_html_head)
          + 2 * ngx_strlen(page->title[lang])
          + ngx_strlen(page->message[lang])
          + sizeof(ngx_http_oneid_html_help) + help.len + warning.len
          + sizeof(ngx_http_oneid_html_form) + action.len
          + (page->button[lang] ? ngx_strlen(page->button[lang]) : 0)
          + sizeof(ngx_http_oneid_html_home)
          + sizeof(ngx_http_oneid_html_status)
          + sizeof(ngx_http_oneid_html_end)
          + ngx_strlen(ngx_http_oneid_home[lang]) + NGX_INT_T_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    p = ngx_slprintf(p, body->data + len, ngx_http_oneid_html_head,
                     ngx_http_oneid_lang_tag[lang], page->title[lang],
                     page->title[lang], page->message[lang]);

    if (page->help) {
        p = ngx_slprintf(p, body->data + len, ngx_http_oneid_html_help,
                         &help, &warning);
    }

    if (page->button[lang] != NULL) {
        p = ngx_slprintf(p, body->data + len, ngx_http_oneid_html_form,
                         &action, page->button[lang]);
    }

    p = ngx_slprintf(p, body->data + len, ngx_http_oneid_html_home,
                     ngx_http_oneid_home[lang]);

    if (page->status >= NGX_HTTP_BAD_REQUEST) {
        p = ngx_slprintf(p, body->data + len, ngx_http_oneid_html_status,
                         page->status);
    }

    p = ngx_cpymem(p, ngx_http_oneid_html_end,
                   sizeof(ngx_http_oneid_html_end) - 1);

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * The help and warning paragraphs of a location: its oneid_page_help_url
 * (the link text is the URL without its scheme and a final "/") and its
 * oneid_page_organization, both HTML-escaped, in the page's language.
 */

static ngx_int_t
ngx_http_oneid_help_text(ngx_http_request_t *r, ngx_uint_t lang,
    ngx_str_t *help, ngx_str_t *warning)
{
    size_t                      len;
    ngx_str_t                   href, text, org, url;
    ngx_http_oneid_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oneid_module);

    url = olcf->page_help_url;

    if (ngx_http_oneid_escape_html(r->pool, &url, &href) != NGX_OK) {
        return NGX_ERROR;
    }

    if (url.len > sizeof("https://") - 1
        && ngx_strncasecmp(url.data, (u_char *) "https://", 8) == 0)
    {
        url.data += sizeof("https://") - 1;
        url.len -= sizeof("https://") - 1;

    } else if (url.len > sizeof("http://") - 1
               && ngx_strncasecmp(url.data, (u_char *) "http://", 7) == 0)
    {
        url.data += sizeof("http://") - 1;
        url.len -= sizeof("http://") - 1;
    }

    if (url.len > 1 && url.data[url.len - 1] == '/') {
        url.len--;
    }

    if (ngx_http_oneid_escape_html(r->pool, &url, &text) != NGX_OK
        || ngx_http_oneid_escape_html(r->pool, &olcf->page_organization,
                                      &org)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = ngx_strlen(ngx_http_oneid_help[lang]) + href.len + text.len;

    help->data = ngx_pnalloc(r->pool, len);
    if (help->data == NULL) {
        return NGX_ERROR;
    }

    help->len = ngx_slprintf(help->data, help->data + len,
                             ngx_http_oneid_help[lang], &href, &text)
                - help->data;

    len = ngx_strlen(ngx_http_oneid_warning[lang]) + org.len;

    warning->data = ngx_pnalloc(r->pool, len);
    if (warning->data == NULL) {
        return NGX_ERROR;
    }

    warning->len = ngx_slprintf(warning->data, warning->data + len,
                                ngx_http_oneid_warning[lang], &org)
                   - warning->data;

    return NGX_OK;
}


/* a copy only when something needs escaping */

static ngx_int_t
ngx_http_oneid_escape_html(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    size_t  n;

    n = ngx_escape_html(NULL, src->data, src->len);

    if (n == 0) {
        *dst = *src;
        return NGX_OK;
    }

    dst->len = src->len + n;
    dst->data = ngx_pnalloc(pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_escape_html(dst->data, src->data, src->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_json(ngx_http_request_t *r, ngx_http_oneid_page_t *page,
    ngx_uint_t lang, ngx_str_t *body)
{
    u_char     *p, *s, *last;
    size_t      len;
    ngx_str_t   login;

    login = r->unparsed_uri;

    if (ngx_http_oneid_safe_return_uri(&login) != NGX_OK) {
        ngx_str_set(&login, "/");
    }

    /* every byte of the URI might need a backslash before it */

    len = sizeof("{\"error\":\"\",\"status\":,\"message\":\"\""
                 ",\"login_url\":\"\",\"required\":\"\"}" CRLF)
          + ngx_strlen(page->code) + NGX_INT_T_LEN
          + (page->required ? ngx_strlen(page->required) : 0)
          + ngx_strlen(page->message[lang]) + 2 * login.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    p = ngx_sprintf(p, "{\"error\":\"%s\",\"status\":%ui,\"message\":\"%s\"",
                    page->code, page->status, page->message[lang]);

    if (page->status == NGX_HTTP_UNAUTHORIZED) {
        p = ngx_cpymem(p, ",\"login_url\":\"", sizeof(",\"login_url\":\"") - 1);

        last = login.data + login.len;

        for (s = login.data; s < last; s++) {
            if (*s == '"') {
                *p++ = '\\';
            }

            *p++ = *s;
        }

        *p++ = '"';
    }

    if (page->required != NULL) {
        p = ngx_sprintf(p, ",\"required\":\"%s\"", page->required);
    }

    *p++ = '}';
    *p++ = CR;
    *p++ = LF;

    body->len = p - body->data;

    return NGX_OK;
}
