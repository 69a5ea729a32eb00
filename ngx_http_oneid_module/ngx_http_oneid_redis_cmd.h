/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * One command record, for the connection (ngx_http_oneid_redis.c).
 */


#ifndef _NGX_HTTP_ONEID_REDIS_CMD_H_INCLUDED_
#define _NGX_HTTP_ONEID_REDIS_CMD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_redis_adapter.h"
#include "ngx_http_oneid_redis.h"


#define NGX_HTTP_ONEID_REDIS_MAX_ARGS  16


ngx_http_oneid_redis_cmd_t *ngx_http_oneid_redis_cmd_create(
    ngx_http_oneid_redis_handler_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv, ngx_uint_t copy, ngx_log_t *log, ngx_str_t *err);
ngx_int_t ngx_http_oneid_redis_cmd_send(ngx_http_oneid_redis_cmd_t *cmd,
    redisAsyncContext *ac, redisCallbackFn *fn);
void ngx_http_oneid_redis_cmd_hold(ngx_queue_t *held,
    ngx_http_oneid_redis_cmd_t *cmd);
ngx_http_oneid_redis_cmd_t *ngx_http_oneid_redis_cmd_next(ngx_queue_t *held);
void ngx_http_oneid_redis_cmd_done(ngx_http_oneid_redis_cmd_t *cmd,
    redisAsyncContext *ac, redisReply *rr);
void ngx_http_oneid_redis_cmd_fail(ngx_http_oneid_redis_cmd_t *cmd,
    ngx_str_t *err);


#endif /* _NGX_HTTP_ONEID_REDIS_CMD_H_INCLUDED_ */
