/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * hiredis on nginx's event loop: addresses, opening a connection,
 * replies as strings.  Knows nothing of what the connections are for.
 */


#ifndef _NGX_HTTP_ONEID_REDIS_ADAPTER_H_INCLUDED_
#define _NGX_HTTP_ONEID_REDIS_ADAPTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


/* room for hiredis's error text (redisAsyncContext.errstr) */
#define NGX_HTTP_ONEID_REDIS_ERRSTR_LEN  128


/* where a Redis server or a Sentinel listens */
typedef struct {
    ngx_str_t                   name;      /* for the log */
    u_char                     *host;      /* an IP address, never a name */
    int                         port;
    u_char                     *path;      /* a unix socket instead */
} ngx_http_oneid_redis_addr_t;


/* what a user of a connection hears from hiredis; privdata is its data */
typedef struct {
    redisConnectCallback       *connected;
    redisDisconnectCallback    *disconnected;
    redisCallbackFn            *auth;      /* the reply to AUTH, or NULL */
} ngx_http_oneid_redis_events_t;


char *ngx_http_oneid_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *url,
    in_port_t default_port, const char *what,
    ngx_http_oneid_redis_addr_t *addr);
ngx_int_t ngx_http_oneid_redis_open(ngx_http_oneid_redis_addr_t *addr,
    ngx_str_t *password, const ngx_http_oneid_redis_events_t *events,
    void *data, ngx_log_t *log, redisAsyncContext **acp, u_char *errstr);
ngx_int_t ngx_http_oneid_redis_reply_value(redisAsyncContext *ac,
    redisReply *rr, ngx_str_t *value, ngx_str_t *err);


#endif /* _NGX_HTTP_ONEID_REDIS_ADAPTER_H_INCLUDED_ */
