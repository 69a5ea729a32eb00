
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Sessions ended on other nodes: the revocation channel
 * (ngx_http_oneid_pubsub.c).
 */


#ifndef _NGX_HTTP_ONEID_PUBSUB_H_INCLUDED_
#define _NGX_HTTP_ONEID_PUBSUB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_module.h"


ngx_http_oneid_pubsub_t *ngx_http_oneid_pubsub_create(ngx_conf_t *cf,
    ngx_http_oneid_redis_t *rd, ngx_http_oneid_cache_t *cache);
void ngx_http_oneid_pubsub_start(ngx_http_oneid_pubsub_t *ps, ngx_log_t *log);
ngx_uint_t ngx_http_oneid_pubsub_ready(ngx_http_oneid_pubsub_t *ps);
void ngx_http_oneid_pubsub_close(ngx_http_oneid_pubsub_t *ps);
void ngx_http_oneid_publish_revoked(ngx_http_oneid_redis_t *rd,
    ngx_str_t *hash);


#endif /* _NGX_HTTP_ONEID_PUBSUB_H_INCLUDED_ */
