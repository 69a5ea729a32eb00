
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Talking to OneID: the authorize redirect, and back-channel calls made
 * as subrequests to the oneid_backend location, whose answers the module
 * collects itself (the answer filters) and hands to the caller's handler.
 * Reading the answers: ngx_http_oneid_idp_parse.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_util.h"
#include "ngx_http_oneid_idp.h"
#include "ngx_http_oneid_metrics.h"


#define NGX_HTTP_ONEID_MAX_ANSWER     (NGX_HTTP_ONEID_MAX_ANSWER_MB          \
                                       * 1024 * 1024)


/*
 * The answer of one back-channel subrequest.  The subrequest's
 * post_subrequest handler being ngx_http_oneid_idp_done is what marks it
 * as ours; the answer lives here, in the request pool, and reaches the
 * caller only through that handler, once.
 */

typedef struct {
    ngx_http_oneid_idp_handler_pt   handler;
    void                           *data;
    ngx_chain_t                    *body;
    ngx_chain_t                   **last;
    size_t                          size;
    ngx_msec_t                      start;
    unsigned                        too_big:1;
    unsigned                        failed:1;
    unsigned                        done:1;
} ngx_http_oneid_answer_t;


static ngx_int_t ngx_http_oneid_idp_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static ngx_http_oneid_answer_t *ngx_http_oneid_answer(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_answer_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_oneid_answer_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_oneid_answer_add(ngx_http_request_t *r,
    ngx_http_oneid_answer_t *an, ngx_buf_t *b);
static ngx_int_t ngx_http_oneid_answer_body(ngx_http_request_t *r,
    ngx_http_oneid_answer_t *an, ngx_str_t *body);


static ngx_str_t  ngx_http_oneid_post_method = ngx_string("POST");
static ngx_str_t  ngx_http_oneid_form_type =
    ngx_string("application/x-www-form-urlencoded");
static ngx_str_t  ngx_http_oneid_json_type = ngx_string("application/json");
static ngx_str_t  ngx_http_oneid_content_type = ngx_string("Content-Type");
static ngx_str_t  ngx_http_oneid_accept = ngx_string("Accept");


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* RFC 3986 unreserved characters stay, everything else is %XX */

static const uint32_t  ngx_http_oneid_unreserved[] = {
    0x00000000, /* 0000 0000 0000 0000  0000 0000 0000 0000 */

                /* ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  */
    0x03ff6000, /* 0000 0011 1111 1111  0110 0000 0000 0000 */

                /* _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@ */
    0x87fffffe, /* 1000 0111 1111 1111  1111 1111 1111 1110 */

                /*  ~}| {zyx wvut srqp  onml kjih gfed cba` */
    0x47fffffe, /* 0100 0111 1111 1111  1111 1111 1111 1110 */

    0x00000000, 0x00000000, 0x00000000, 0x00000000
};


typedef struct {
    const char  *name;
    ngx_str_t   *value;
} ngx_http_oneid_param_t;


static ngx_int_t
ngx_http_oneid_form(ngx_pool_t *pool, ngx_http_oneid_param_t *params,
    ngx_uint_t n, ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < n; i++) {
        len += 2 + ngx_strlen(params[i].name)
               + ngx_http_oneid_escape_len(params[i].value->data,
                                           params[i].value->len,
                                           ngx_http_oneid_unreserved);
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = '&';
        }

        p = ngx_cpymem(p, params[i].name, ngx_strlen(params[i].name));
        *p++ = '=';
        p = ngx_http_oneid_escape(p, params[i].value->data,
                                  params[i].value->len,
                                  ngx_http_oneid_unreserved);
    }

    out->len = p - out->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_oneid_authorize_location(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *location)
{
    u_char                  *p;
    ngx_str_t                query, response_type;
    ngx_http_oneid_param_t   params[5];

    ngx_str_set(&response_type, "one_code");

    params[0].name = "response_type";
    params[0].value = &response_type;
    params[1].name = "client_id";
    params[1].value = &olcf->client_id;
    params[2].name = "redirect_uri";
    params[2].value = &olcf->redirect_uri;
    params[3].name = "scope";
    params[3].value = &olcf->scope;
    params[4].name = "state";
    params[4].value = state;

    if (ngx_http_oneid_form(r->pool, params, 5, &query) != NGX_OK) {
        return NGX_ERROR;
    }

    location->len = olcf->authorize_url.len + 1 + query.len;
    location->data = ngx_pnalloc(r->pool, location->len);
    if (location->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(location->data, olcf->authorize_url.data,
                   olcf->authorize_url.len);

    *p++ = ngx_strlchr(olcf->authorize_url.data,
                       olcf->authorize_url.data + olcf->authorize_url.len,
                       '?')
           ? '&' : '?';

    ngx_memcpy(p, query.data, query.len);

    return NGX_OK;
}


/*
 * POST grant_type=<grant>&client_id&client_secret&<param>=<value>&... to
 * the oneid_backend location.  The secret is built here, never in the
 * configuration of the proxy location, and the subrequest gets request
 * headers of its own: the user's cookies must not reach OneID.
 */

ngx_int_t
ngx_http_oneid_idp_call(ngx_http_request_t *r, ngx_http_oneid_loc_conf_t *olcf,
    const char *grant, const char *param, ngx_str_t *value,
    ngx_http_oneid_idp_handler_pt handler, void *data)
{
    ngx_buf_t                   *b;
    ngx_str_t                    body, grant_type;
    ngx_uint_t                   n;
    ngx_table_elt_t             *h;
    ngx_http_request_t          *sr;
    ngx_http_request_body_t     *rb;
    ngx_http_oneid_param_t       params[6];
    ngx_http_oneid_answer_t     *an;
    ngx_http_post_subrequest_t  *ps;

    grant_type.data = (u_char *) grant;
    grant_type.len = ngx_strlen(grant);

    n = 0;
    params[n].name = "grant_type";
    params[n++].value = &grant_type;
    params[n].name = "client_id";
    params[n++].value = &olcf->client_id;
    params[n].name = "client_secret";
    params[n++].value = &olcf->client_secret;
    params[n].name = param;
    params[n++].value = value;

    if (ngx_strcmp(grant, "one_authorization_code") == 0) {
        params[n].name = "redirect_uri";
        params[n++].value = &olcf->redirect_uri;
    }

    params[n].name = "scope";
    params[n++].value = &olcf->scope;

    if (ngx_http_oneid_form(r->pool, params, n, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    an = ngx_pcalloc(r->pool, sizeof(ngx_http_oneid_answer_t));
    if (an == NULL) {
        return NGX_ERROR;
    }

    an->handler = handler;
    an->data = data;
    an->last = &an->body;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_oneid_idp_done;
    ps->data = an;

    /*
     * not NGX_HTTP_SUBREQUEST_IN_MEMORY: its buffer is fixed by
     * subrequest_output_buffer_size (one page unless set), so a legal
     * representative of many organisations could not sign in; the
     * answer filters below collect the answer instead
     */

    if (ngx_http_subrequest(r, &olcf->backend, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_POST;
    sr->method_name = ngx_http_oneid_post_method;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (nginx_version < 1023000)
    if (ngx_array_init(&sr->headers_in.cookies, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif

    h = ngx_http_oneid_add_header_in(sr, &ngx_http_oneid_content_type,
                                     (u_char *) "content-type", 0,
                                     &ngx_http_oneid_form_type);
    if (h == NULL) {
        return NGX_ERROR;
    }

    sr->headers_in.content_type = h;

    if (ngx_http_oneid_add_header_in(sr, &ngx_http_oneid_accept,
                                     (u_char *) "accept", 0,
                                     &ngx_http_oneid_json_type)
        == NULL)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = body.len;
    sr->headers_in.keep_alive_n = -1;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->temporary = 1;
    b->last_buf = 1;
    b->start = body.data;
    b->pos = body.data;
    b->last = body.data + body.len;
    b->end = b->last;

    rb->bufs = ngx_alloc_chain_link(r->pool);
    if (rb->bufs == NULL) {
        return NGX_ERROR;
    }

    rb->bufs->buf = b;
    rb->bufs->next = NULL;
    rb->rest = 0;

    sr->request_body = rb;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oneid: calling OneID grant_type=%s", grant);

    an->start = ngx_current_msec;
    ngx_http_oneid_metric_idp_call(grant);

    return NGX_OK;
}


/*
 * Runs on every finalization of the subrequest: only the first counts.
 * Errors are turned into NGX_OK so that nginx finishes the subrequest
 * quietly and wakes the parent, which answers the user with a page;
 * NGX_ERROR here would terminate the user's request with no answer.
 */

static ngx_int_t
ngx_http_oneid_idp_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_oneid_answer_t *an = data;

    ngx_int_t          outcome;
    ngx_str_t          body;
    ngx_uint_t         status;
    ngx_connection_t  *c;

    c = sr->connection;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "oneid: subrequest done rc:%i status:%ui error:%d "
                   "size:%uz", rc, sr->headers_out.status, c->error,
                   an->size);

    if (an->done) {
        return rc;
    }

    an->done = 1;

    ngx_str_null(&body);

    if (an->too_big) {
        outcome = NGX_DECLINED;
        status = 0;

    } else if (rc != NGX_ERROR && rc < NGX_HTTP_SPECIAL_RESPONSE
               && !an->failed)
    {
        outcome = ngx_http_oneid_answer_body(sr, an, &body);
        status = sr->headers_out.status;

    } else {
        outcome = NGX_ERROR;
        status = (rc > 0) ? (ngx_uint_t) rc : 0;
    }

    ngx_http_oneid_metric_idp_done(an->start, outcome, status);
    an->handler(an->data, outcome, status, &body);

    /*
     * ngx_http_output_filter() marks the whole connection as failed when
     * any filter fails, here the answer filter refusing an answer over
     * the cap.  The user's socket was never written to, so unless the
     * client itself is gone the user still gets an answer.  Whatever rc
     * says: when nginx had read the whole answer before passing it on,
     * the upstream module finalizes the subrequest with 0 despite the
     * failure, and a c->error left set here would make nginx terminate
     * the user's request, closing the connection with no answer.
     */

    if (c->error && !c->read->eof && !c->read->error && !c->write->error) {
        c->error = 0;
    }

    return c->error ? rc : NGX_OK;
}


/* the answer of our subrequest r, or NULL for any other request */

static ngx_http_oneid_answer_t *
ngx_http_oneid_answer(ngx_http_request_t *r)
{
    if (r == r->main
        || r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_http_oneid_idp_done)
    {
        return NULL;
    }

    return r->post_subrequest->data;
}


/* the module's own back-channel call to OneID is no user's request */

ngx_int_t
ngx_http_oneid_idp_backchannel(ngx_http_request_t *r)
{
    return ngx_http_oneid_answer(r) != NULL;
}


/*
 * The answer goes no further than here: the filters below would send it
 * to the user (the postpone filter) or change it (SSI, sub_filter,
 * charset).  Any other request passes untouched.
 */

static ngx_int_t
ngx_http_oneid_answer_header_filter(ngx_http_request_t *r)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_oneid_answer_t  *an;

    an = ngx_http_oneid_answer(r);

    if (an == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.content_length_n > NGX_HTTP_ONEID_MAX_ANSWER) {
        /* refused before its body is read */
        an->too_big = 1;
        return NGX_ERROR;
    }

    if (r->headers_out.content_length_n > 0 && an->body == NULL) {

        /* the whole answer will be copied into one buffer */

        b = ngx_create_temp_buf(r->pool,
                                (size_t) r->headers_out.content_length_n);
        if (b == NULL) {
            return NGX_ERROR;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;

        an->body = cl;
        an->last = &cl->next;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_answer_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t              *cl;
    ngx_http_oneid_answer_t  *an;

    an = ngx_http_oneid_answer(r);

    if (an == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {

        if (an->too_big || an->failed) {
            return NGX_ERROR;
        }

        if (ngx_http_oneid_answer_add(r, an, cl->buf) != NGX_OK) {
            an->failed = 1;
            return NGX_ERROR;
        }
    }

    return an->too_big ? NGX_ERROR : NGX_OK;
}


/*
 * Copies one buffer of the answer, marking it sent so that the upstream
 * module reuses it: into the buffer sized by Content-Length, else into a
 * copy of its own on the answer's chain.  NGX_ERROR: a copy could not be
 * made; an answer over the cap only sets too_big.
 */

static ngx_int_t
ngx_http_oneid_answer_add(ngx_http_request_t *r, ngx_http_oneid_answer_t *an,
    ngx_buf_t *b)
{
    off_t         size;
    ssize_t       n;
    ngx_buf_t    *dst;
    ngx_chain_t  *cl;

    size = ngx_buf_size(b);

    if (ngx_buf_special(b) || size == 0) {
        return NGX_OK;
    }

    if (size > (off_t) (NGX_HTTP_ONEID_MAX_ANSWER - an->size)) {
        an->too_big = 1;
        return NGX_OK;
    }

    dst = (an->body != NULL) ? an->body->buf : NULL;

    if (dst == NULL || an->body->next != NULL
        || dst->end - dst->last < size)
    {
        /* no Content-Length (or a wrong one): one copy per buffer */

        dst = ngx_create_temp_buf(r->pool, (size_t) size);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = dst;
        cl->next = NULL;

        *an->last = cl;
        an->last = &cl->next;
    }

    if (ngx_buf_in_memory(b)) {
        dst->last = ngx_cpymem(dst->last, b->pos, (size_t) size);

    } else {
        /* the upstream module had to write the answer to a temporary file */

        n = ngx_read_file(b->file, dst->last, (size_t) size, b->file_pos);

        if (n != (ssize_t) size) {
            return NGX_ERROR;
        }

        dst->last += n;
    }

    b->pos = b->last;
    b->file_pos = b->file_last;

    an->size += (size_t) size;

    return NGX_OK;
}


/* the answer as one piece of memory, for the JSON parser */

static ngx_int_t
ngx_http_oneid_answer_body(ngx_http_request_t *r, ngx_http_oneid_answer_t *an,
    ngx_str_t *body)
{
    u_char       *p;
    ngx_chain_t  *cl;

    if (an->body == NULL) {
        ngx_str_null(body);
        return NGX_OK;
    }

    if (an->body->next == NULL) {
        body->data = an->body->buf->pos;
        body->len = an->body->buf->last - an->body->buf->pos;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, an->size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = an->body; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);

        /* large copies go back to the system now */
        (void) ngx_pfree(r->pool, cl->buf->start);
    }

    body->len = p - body->data;

    an->body = NULL;

    return NGX_OK;
}


/*
 * At the top of the filter chains (the module's postconfiguration runs
 * after that of nginx's own filters), so that the answer filters see the
 * answer before any other filter does.
 */

ngx_int_t
ngx_http_oneid_idp_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_oneid_answer_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_oneid_answer_body_filter;

    return NGX_OK;
}
