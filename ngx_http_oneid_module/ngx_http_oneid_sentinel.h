/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The Sentinel client: where the master is, and when it changes.
 */


#ifndef _NGX_HTTP_ONEID_SENTINEL_H_INCLUDED_
#define _NGX_HTTP_ONEID_SENTINEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* what the handler hears about the master */
#define NGX_HTTP_ONEID_SENTINEL_FOUND     0   /* the answer to "ask" */
#define NGX_HTTP_ONEID_SENTINEL_NONE      1   /* no sentinel answered: err */
#define NGX_HTTP_ONEID_SENTINEL_SWITCHED  2   /* +switch-master announced */


typedef struct ngx_http_oneid_sentinel_s  ngx_http_oneid_sentinel_t;

/* host and port: the master's IP address, with FOUND and SWITCHED */
typedef void (*ngx_http_oneid_sentinel_handler_pt)(void *data,
    ngx_uint_t event, u_char *host, int port, ngx_str_t *err);


ngx_http_oneid_sentinel_t *ngx_http_oneid_sentinel_create(ngx_conf_t *cf,
    ngx_str_t *master, ngx_str_t *password, ngx_msec_t timeout);
char *ngx_http_oneid_sentinel_add(ngx_conf_t *cf,
    ngx_http_oneid_sentinel_t *sn, ngx_str_t *addr);
void ngx_http_oneid_sentinel_set_handler(ngx_http_oneid_sentinel_t *sn,
    ngx_http_oneid_sentinel_handler_pt handler, void *data);
ngx_str_t *ngx_http_oneid_sentinel_master(ngx_http_oneid_sentinel_t *sn);
ngx_int_t ngx_http_oneid_sentinel_ask(ngx_http_oneid_sentinel_t *sn,
    ngx_log_t *log);
void ngx_http_oneid_sentinel_watch(ngx_http_oneid_sentinel_t *sn,
    ngx_log_t *log);
void ngx_http_oneid_sentinel_cancel(ngx_http_oneid_sentinel_t *sn);
void ngx_http_oneid_sentinel_close(ngx_http_oneid_sentinel_t *sn);


#endif /* _NGX_HTTP_ONEID_SENTINEL_H_INCLUDED_ */
