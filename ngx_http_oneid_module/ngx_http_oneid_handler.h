
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * What the request handlers offer the rest of the module: the phase
 * handlers (ngx_http_oneid_handler.c, ngx_http_oneid_subrequest.c), the
 * identity a request is signed in with, and the callback's argument
 * parser (ngx_http_oneid_login.c, also used by the fuzzer).
 */


#ifndef _NGX_HTTP_ONEID_HANDLER_H_INCLUDED_
#define _NGX_HTTP_ONEID_HANDLER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


/* ngx_http_oneid_handler.c */
ngx_int_t ngx_http_oneid_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_precontent_handler(ngx_http_request_t *r);

/* ngx_http_oneid_subrequest.c */
ngx_int_t ngx_http_oneid_subrequest_handler(ngx_http_request_t *r);
ngx_http_oneid_identity_t *ngx_http_oneid_request_identity(
    ngx_http_request_t *r);

/* ngx_http_oneid_login.c */
ngx_int_t ngx_http_oneid_callback_arg(ngx_http_request_t *r, const char *name,
    size_t max, ngx_str_t *value);


#endif /* _NGX_HTTP_ONEID_HANDLER_H_INCLUDED_ */
