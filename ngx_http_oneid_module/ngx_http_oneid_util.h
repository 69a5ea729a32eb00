
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_UTIL_H_INCLUDED_
#define _NGX_HTTP_ONEID_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * plain: 256 bits, one per byte value, as in nginx's ngx_escape_uri()
 * tables; bytes whose bit is set stay, the others become "%XX"
 */
size_t ngx_http_oneid_escape_len(u_char *src, size_t len,
    const uint32_t *plain);
u_char *ngx_http_oneid_escape(u_char *dst, u_char *src, size_t len,
    const uint32_t *plain);
ngx_int_t ngx_http_oneid_escape_str(ngx_pool_t *pool, ngx_str_t *src,
    const uint32_t *plain, ngx_str_t *dst);

ngx_table_elt_t *ngx_http_oneid_add_header_in(ngx_http_request_t *r,
    ngx_str_t *key, u_char *lowcase_key, ngx_uint_t hash, ngx_str_t *value);
ngx_table_elt_t *ngx_http_oneid_add_header_out(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);


ngx_int_t ngx_http_oneid_mask_pinfl(ngx_pool_t *pool, ngx_str_t *pin,
    ngx_str_t *out);


#endif /* _NGX_HTTP_ONEID_UTIL_H_INCLUDED_ */
