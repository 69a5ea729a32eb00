
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Waiting for an asynchronous operation and resuming the request that
 * waits for it (ngx_http_oneid_wait.c).
 */


#ifndef _NGX_HTTP_ONEID_WAIT_H_INCLUDED_
#define _NGX_HTTP_ONEID_WAIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


/*
 * While waiting is set the request's phase handler must not go on: it
 * runs again only when the operation woke it, whatever else runs it.
 */

typedef struct {
    ngx_http_request_t           *request;
    ngx_http_oneid_redis_t       *redis;
    ngx_http_oneid_redis_cmd_t   *cmd;
    ngx_event_t                   wake;
    ngx_http_oneid_result_t       result;
    unsigned                      waiting:1;
} ngx_http_oneid_wait_t;


void ngx_http_oneid_wait_init(ngx_http_oneid_wait_t *w, ngx_http_request_t *r,
    ngx_http_oneid_redis_t *redis);
ngx_int_t ngx_http_oneid_wait_redis(ngx_http_oneid_wait_t *w,
    ngx_uint_t argc, ngx_str_t *argv);
ngx_int_t ngx_http_oneid_wait_idp(ngx_http_oneid_wait_t *w,
    ngx_http_oneid_loc_conf_t *olcf, const char *grant, const char *param,
    ngx_str_t *value);
void ngx_http_oneid_wait_park(ngx_http_oneid_wait_t *w);
void ngx_http_oneid_wait_wake(ngx_http_oneid_wait_t *w);
void ngx_http_oneid_wait_cancel(ngx_http_oneid_wait_t *w);


#endif /* _NGX_HTTP_ONEID_WAIT_H_INCLUDED_ */
