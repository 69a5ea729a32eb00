
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_REQUIRE_H_INCLUDED_
#define _NGX_HTTP_ONEID_REQUIRE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


char *ngx_http_oneid_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_oneid_require_access(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_identity_t *id,
    ngx_uint_t page);


#endif /* _NGX_HTTP_ONEID_REQUIRE_H_INCLUDED_ */
