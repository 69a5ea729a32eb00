
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_COOKIE_H_INCLUDED_
#define _NGX_HTTP_ONEID_COOKIE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


ngx_int_t ngx_http_oneid_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_oneid_set_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *name, ngx_str_t *value,
    time_t max_age);
ngx_int_t ngx_http_oneid_hide_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t prefix);
ngx_uint_t ngx_http_oneid_prefixed_cookies(ngx_http_request_t *r,
    ngx_str_t *prefix, size_t len, ngx_keyval_t *cookies, ngx_uint_t max);
ngx_int_t ngx_http_oneid_session_id(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid, ngx_uint_t *old);
ngx_int_t ngx_http_oneid_match_cookie(ngx_http_request_t *r, ngx_str_t *name,
    u_char *hash);
ngx_int_t ngx_http_oneid_get_token_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
ngx_int_t ngx_http_oneid_move_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid);
ngx_int_t ngx_http_oneid_expire_session_cookie(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf);


#endif /* _NGX_HTTP_ONEID_COOKIE_H_INCLUDED_ */
