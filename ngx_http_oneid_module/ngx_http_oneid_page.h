
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_PAGE_H_INCLUDED_
#define _NGX_HTTP_ONEID_PAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef enum {
    NGX_HTTP_ONEID_PAGE_BAD_CALLBACK = 0,
    NGX_HTTP_ONEID_PAGE_LOGIN_REQUIRED,
    NGX_HTTP_ONEID_PAGE_REFUSED,
    NGX_HTTP_ONEID_PAGE_IDP_UNAVAILABLE,
    NGX_HTTP_ONEID_PAGE_STORE_UNAVAILABLE,
    NGX_HTTP_ONEID_PAGE_INTERNAL,
    NGX_HTTP_ONEID_PAGE_COOKIE_CONFLICT,
    NGX_HTTP_ONEID_PAGE_LOGOUT_CONFIRM,
    NGX_HTTP_ONEID_PAGE_LOGOUT_FAILED,
    NGX_HTTP_ONEID_PAGE_LOGOUT_PARTIAL,
    NGX_HTTP_ONEID_PAGE_SESSION_EVICTED,
    NGX_HTTP_ONEID_PAGE_SESSION_ENDED_EVERYWHERE,
    NGX_HTTP_ONEID_PAGE_SESSION_REVOKED,
    NGX_HTTP_ONEID_PAGE_REQUIRE_AUTH_METHOD,
    NGX_HTTP_ONEID_PAGE_REQUIRE_LEGAL,
    NGX_HTTP_ONEID_PAGE_REQUIRE_INDIVIDUAL,
    NGX_HTTP_ONEID_PAGE_REQUIRE_ACCOUNT,
    NGX_HTTP_ONEID_PAGE_LAST
} ngx_http_oneid_page_e;


ngx_int_t ngx_http_oneid_send_page(ngx_http_request_t *r,
    ngx_http_oneid_page_e page);
ngx_uint_t ngx_http_oneid_page_status(ngx_uint_t page);
ngx_int_t ngx_http_oneid_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *cache, ngx_str_t *body);
ngx_int_t ngx_http_oneid_output_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *cache, ngx_str_t *body);
ngx_int_t ngx_http_oneid_redirect(ngx_http_request_t *r, ngx_str_t *location);
ngx_int_t ngx_http_oneid_wants_json(ngx_http_request_t *r);


#endif /* _NGX_HTTP_ONEID_PAGE_H_INCLUDED_ */
