
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_SESSION_H_INCLUDED_
#define _NGX_HTTP_ONEID_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


ngx_int_t ngx_http_oneid_session_key(ngx_pool_t *pool,
    ngx_http_oneid_redis_t *rd, const char *kind, ngx_str_t *id,
    ngx_str_t *key);
ngx_int_t ngx_http_oneid_session_encode(ngx_pool_t *pool,
    ngx_http_oneid_identity_t *id, ngx_str_t *out);
ngx_int_t ngx_http_oneid_session_decode(ngx_str_t *in,
    ngx_http_oneid_identity_t *id);


#endif /* _NGX_HTTP_ONEID_SESSION_H_INCLUDED_ */
