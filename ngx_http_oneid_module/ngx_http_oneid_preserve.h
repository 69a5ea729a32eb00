
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * oneid_preserve_post: the three hooks the login calls, and keeping its
 * cookies from the upstream (ngx_http_oneid_preserve.c).
 */


#ifndef _NGX_HTTP_ONEID_PRESERVE_H_INCLUDED_
#define _NGX_HTTP_ONEID_PRESERVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_oneid_ctx.h"


ngx_int_t ngx_http_oneid_preserve_read(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_preserve_start(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx, ngx_str_t *location);
ngx_int_t ngx_http_oneid_preserve_finish(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);
ngx_int_t ngx_http_oneid_preserve_hide_cookies(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf);

/* the form body as [[name, value], ...], and JSON safe in a <script> */
json_t *ngx_http_oneid_preserve_fields(ngx_http_request_t *r,
    ngx_str_t *body);
json_t *ngx_http_oneid_preserve_string(ngx_str_t *s);
ngx_int_t ngx_http_oneid_preserve_json(ngx_http_request_t *r, json_t *o,
    ngx_str_t *out);


#endif /* _NGX_HTTP_ONEID_PRESERVE_H_INCLUDED_ */
