/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Between the "oneid_redis" directive and the connection made from it.
 */


#ifndef _NGX_HTTP_ONEID_REDIS_CONF_H_INCLUDED_
#define _NGX_HTTP_ONEID_REDIS_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_redis_adapter.h"
#include "ngx_http_oneid_sentinel.h"
#include "ngx_http_oneid_redis.h"


/* the "oneid_redis" directive, parsed: what a connection is made from */
typedef struct {
    ngx_http_oneid_redis_addr_t      addr;       /* without sentinels */
    ngx_http_oneid_sentinel_t       *sentinel;
    ngx_str_t                        password;
    ngx_int_t                        db;
    ngx_str_t                        prefix;
    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       timeout;
} ngx_http_oneid_redis_conf_t;


/* ngx_http_oneid_redis.c */
ngx_http_oneid_redis_t *ngx_http_oneid_redis_create(ngx_conf_t *cf,
    ngx_http_oneid_redis_conf_t *conf);
ngx_http_oneid_redis_conf_t *ngx_http_oneid_redis_get_conf(
    ngx_http_oneid_redis_t *rd);
ngx_http_oneid_redis_addr_t *ngx_http_oneid_redis_address(
    ngx_http_oneid_redis_t *rd);


#endif /* _NGX_HTTP_ONEID_REDIS_CONF_H_INCLUDED_ */
