
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Counting what the module does (ngx_http_oneid_metrics.c): one line
 * where the event happens, e.g.
 *
 *     ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_LOGIN_STARTED);
 *     ngx_http_oneid_metric_observe(NGX_HTTP_ONEID_H_REDIS, msec);
 *
 * and the oneid_metrics location.
 */


#ifndef _NGX_HTTP_ONEID_METRICS_H_INCLUDED_
#define _NGX_HTTP_ONEID_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_page.h"


/*
 * The counters.  A new one also needs its line in the families of
 * ngx_http_oneid_metrics.c; the order is that of the shared memory, so
 * an old zone of another layout is cleared at a reload.
 */

typedef enum {
    NGX_HTTP_ONEID_M_LOGIN_STARTED = 0,
    NGX_HTTP_ONEID_M_LOGIN_COMPLETED,
    NGX_HTTP_ONEID_M_LOGIN_FAILED_STATE,
    NGX_HTTP_ONEID_M_LOGIN_FAILED_ONEID,
    NGX_HTTP_ONEID_M_LOGIN_FAILED_REFUSED,
    NGX_HTTP_ONEID_M_LOGIN_FAILED_STORE,
    NGX_HTTP_ONEID_M_LOGOUT,
    NGX_HTTP_ONEID_M_LOGOUT_ALL,
    NGX_HTTP_ONEID_M_SESSION_FOUND,
    NGX_HTTP_ONEID_M_SESSION_CACHED,
    NGX_HTTP_ONEID_M_SESSION_NOT_FOUND,
    NGX_HTTP_ONEID_M_SESSION_ENDED,
    NGX_HTTP_ONEID_M_SESSION_ERROR,
    NGX_HTTP_ONEID_M_REDIS_COMMANDS,
    NGX_HTTP_ONEID_M_REDIS_ERROR_REPLY,
    NGX_HTTP_ONEID_M_REDIS_ERROR_NO_REPLY,
    NGX_HTTP_ONEID_M_REDIS_ERROR_TIMEOUT,
    NGX_HTTP_ONEID_M_REDIS_ERROR_DOWN,
    NGX_HTTP_ONEID_M_REDIS_RECONNECTS,
    /* a gauge: +1 when a worker's connection answers, -1 when it is lost */
    NGX_HTTP_ONEID_M_REDIS_CONNECTED,
    NGX_HTTP_ONEID_M_SENTINEL_FAILOVERS,
    NGX_HTTP_ONEID_M_IDP_TOKEN,
    NGX_HTTP_ONEID_M_IDP_IDENTIFY,
    NGX_HTTP_ONEID_M_IDP_LOG_OUT,
    NGX_HTTP_ONEID_M_IDP_OTHER,
    NGX_HTTP_ONEID_M_IDP_ERROR_CONNECT,
    NGX_HTTP_ONEID_M_IDP_ERROR_TIMEOUT,
    NGX_HTTP_ONEID_M_IDP_ERROR_STATUS,
    NGX_HTTP_ONEID_M_IDP_ERROR_SIZE,
    NGX_HTTP_ONEID_M_IDP_ERROR_PARSE,
    NGX_HTTP_ONEID_M_HEALTH_OK,
    NGX_HTTP_ONEID_M_HEALTH_FAILED,
    /* then one per page: NGX_HTTP_ONEID_M_PAGE + ngx_http_oneid_page_e */
    NGX_HTTP_ONEID_M_PAGE
} ngx_http_oneid_metric_e;

#define NGX_HTTP_ONEID_M_LAST  (NGX_HTTP_ONEID_M_PAGE                        \
                                + NGX_HTTP_ONEID_PAGE_LAST)


typedef enum {
    NGX_HTTP_ONEID_H_REDIS = 0,
    NGX_HTTP_ONEID_H_IDP,
    NGX_HTTP_ONEID_H_LAST
} ngx_http_oneid_histogram_e;


#define ngx_http_oneid_metric_inc(id)  ngx_http_oneid_metric_add(id, 1)

void ngx_http_oneid_metric_add(ngx_uint_t id, ngx_atomic_int_t n);
void ngx_http_oneid_metric_observe(ngx_uint_t hist, ngx_msec_t ms);
void ngx_http_oneid_metric_idp_call(const char *grant);
void ngx_http_oneid_metric_idp_done(ngx_msec_t start, ngx_int_t outcome,
    ngx_uint_t status);

char *ngx_http_oneid_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_oneid_metrics_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf, ngx_http_handler_pt handler);
char *ngx_http_oneid_metrics_needs_redis(ngx_conf_t *cf, ngx_command_t *cmd);
ngx_int_t ngx_http_oneid_metrics_init(ngx_conf_t *cf);
void ngx_http_oneid_metrics_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_ONEID_METRICS_H_INCLUDED_ */
