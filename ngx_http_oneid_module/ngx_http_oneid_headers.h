
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_HEADERS_H_INCLUDED_
#define _NGX_HTTP_ONEID_HEADERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


ngx_int_t ngx_http_oneid_strip_identity_headers(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_set_identity_headers(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_identity_t *id);
ngx_int_t ngx_http_oneid_drop_identity_headers(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_oneid_find_header(ngx_http_request_t *r,
    u_char *lowcase, size_t len);
ngx_int_t ngx_http_oneid_same_origin(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_safe_return_uri(ngx_str_t *uri);


#endif /* _NGX_HTTP_ONEID_HEADERS_H_INCLUDED_ */
