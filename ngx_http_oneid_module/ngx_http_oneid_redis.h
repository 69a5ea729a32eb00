/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The Redis side as sessions see it: "send this command, call me back",
 * cancel, reset; and the "oneid_redis" directive.
 */


#ifndef _NGX_HTTP_ONEID_REDIS_H_INCLUDED_
#define _NGX_HTTP_ONEID_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct ngx_http_oneid_redis_s      ngx_http_oneid_redis_t;
typedef struct ngx_http_oneid_redis_cmd_s  ngx_http_oneid_redis_cmd_t;

/*
 * rc: NGX_OK (string or status reply in value), NGX_DECLINED (nil or 0),
 * NGX_ERROR (error reply or no reply; err says why)
 */
typedef void (*ngx_http_oneid_redis_handler_pt)(void *data, ngx_int_t rc,
    ngx_str_t *value, ngx_str_t *err);


/* ngx_http_oneid_redis_conf.c */
char *ngx_http_oneid_redis_parse(ngx_conf_t *cf, ngx_http_oneid_redis_t **rdp);

/* ngx_http_oneid_redis.c */
ngx_str_t *ngx_http_oneid_redis_prefix(ngx_http_oneid_redis_t *rd);
ngx_msec_t ngx_http_oneid_redis_timeout(ngx_http_oneid_redis_t *rd);
ngx_http_oneid_redis_cmd_t *ngx_http_oneid_redis_command(
    ngx_http_oneid_redis_t *rd, ngx_http_oneid_redis_handler_pt handler,
    void *data, ngx_uint_t argc, ngx_str_t *argv, ngx_str_t *err);
void ngx_http_oneid_redis_cancel(ngx_http_oneid_redis_cmd_t *cmd);
void ngx_http_oneid_redis_reset(ngx_http_oneid_redis_t *rd,
    const char *reason);
void ngx_http_oneid_redis_close(ngx_http_oneid_redis_t *rd);


#endif /* _NGX_HTTP_ONEID_REDIS_H_INCLUDED_ */
