
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The oneid_health location a load balancer polls: PING on the worker's
 * Redis connection (with Sentinel, to the master it follows), 200 if
 * Redis answered within oneid_redis's timeout, 503 otherwise, so that a
 * node whose Redis is gone is taken out rather than sending users to a
 * 503 page.  It reads no session and sets no cookie.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_metrics.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_health.h"


/* a health check waiting for PONG */

typedef struct {
    ngx_http_request_t             *request;
    ngx_http_oneid_redis_t         *redis;
    ngx_http_oneid_redis_cmd_t     *cmd;
    ngx_event_t                     wake;
    ngx_int_t                       rc;
    ngx_str_t                       err;
} ngx_http_oneid_health_t;


static ngx_int_t ngx_http_oneid_health_handler(ngx_http_request_t *r);
static void ngx_http_oneid_health_done(void *data, ngx_int_t rc,
    ngx_str_t *value, ngx_str_t *err);
static void ngx_http_oneid_health_wake(ngx_event_t *ev);
static void ngx_http_oneid_health_cleanup(void *data);
static ngx_int_t ngx_http_oneid_health_answer(ngx_http_request_t *r,
    ngx_int_t rc, ngx_str_t *err);


char *
ngx_http_oneid_health_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_oneid_metrics_location(cf, cmd, conf,
                                           ngx_http_oneid_health_handler);
}


/*
 * oneid_health: PING on this worker's connection, as a session check
 * would send its command, and the same timeout.  A content handler that
 * waits: the request is held (count) until the answer is sent.
 */

static ngx_int_t
ngx_http_oneid_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    argv[1], err;
    ngx_pool_cleanup_t          *cln;
    ngx_http_oneid_health_t     *h;
    ngx_http_oneid_main_conf_t  *omcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    h = ngx_pcalloc(r->pool, sizeof(ngx_http_oneid_health_t));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->request = r;
    h->redis = omcf->redis;

    h->wake.handler = ngx_http_oneid_health_wake;
    h->wake.data = h;
    h->wake.log = r->connection->log;

    cln->handler = ngx_http_oneid_health_cleanup;
    cln->data = h;

    ngx_str_set(&argv[0], "PING");
    ngx_str_null(&err);

    h->cmd = ngx_http_oneid_redis_command(h->redis,
                                          ngx_http_oneid_health_done, h,
                                          1, argv, &err);

    if (h->cmd == NULL) {
        /* known to be down: say so now */
        return ngx_http_oneid_health_answer(r, NGX_ERROR, &err);
    }

    ngx_add_timer(&h->wake, ngx_http_oneid_redis_timeout(h->redis));

    r->main->count++;

    return NGX_DONE;
}


/* from inside hiredis: keep the outcome, answer from a posted event */

static void
ngx_http_oneid_health_done(void *data, ngx_int_t rc, ngx_str_t *value,
    ngx_str_t *err)
{
    ngx_http_oneid_health_t *h = data;

    h->cmd = NULL;
    h->rc = rc;

    if (rc != NGX_OK && err->len) {
        h->err.data = ngx_pstrdup(h->request->pool, err);
        h->err.len = h->err.data ? err->len : 0;
    }

    if (h->wake.timer_set) {
        ngx_del_timer(&h->wake);
    }

    ngx_post_event(&h->wake, &ngx_posted_events);
}


static void
ngx_http_oneid_health_wake(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_oneid_health_t  *h;

    h = ev->data;
    r = h->request;
    c = r->connection;

    if (ev->timedout) {
        ev->timedout = 0;

        if (h->cmd != NULL) {
            ngx_http_oneid_redis_cancel(h->cmd);
            h->cmd = NULL;
        }

        h->rc = NGX_ERROR;
        ngx_str_set(&h->err, "redis did not answer in time");
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_REDIS_ERROR_TIMEOUT);

        /* as for a session check: the connection cannot be trusted */
        ngx_http_oneid_redis_reset(h->redis, "health check timed out");
    }

    ngx_http_set_log_request(c->log, r);

    ngx_http_finalize_request(r, ngx_http_oneid_health_answer(r, h->rc,
                                                              &h->err));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_oneid_health_cleanup(void *data)
{
    ngx_http_oneid_health_t *h = data;

    if (h->cmd != NULL) {
        ngx_http_oneid_redis_cancel(h->cmd);
        h->cmd = NULL;
    }

    if (h->wake.timer_set) {
        ngx_del_timer(&h->wake);
    }

    if (h->wake.posted) {
        ngx_delete_posted_event(&h->wake);
    }
}


/* 200 "ok", or 503 and why; JSON for clients that ask for it */

static ngx_int_t
ngx_http_oneid_health_answer(ngx_http_request_t *r, ngx_int_t rc,
    ngx_str_t *err)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    body, why;
    ngx_uint_t   json;

    json = ngx_http_oneid_wants_json(r);

    if (rc == NGX_OK) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_HEALTH_OK);

        if (json) {
            ngx_str_set(&body, "{\"status\":\"ok\"}\n");

        } else {
            ngx_str_set(&body, "ok\n");
        }

        return ngx_http_oneid_send_body(r, NGX_HTTP_OK,
                                        json ? "application/json"
                                             : "text/plain",
                                        NULL, &body);
    }

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_HEALTH_FAILED);

    if (err->len) {
        why = *err;

    } else {
        ngx_str_set(&why, "redis did not answer");
    }

    /* Redis being down is logged once already, by the connection */
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oneid: health check failed: %V", &why);

    len = sizeof("{\"status\":\"unavailable\",\"reason\":\"\"}\n") - 1
          + why.len + ngx_escape_json(NULL, why.data, why.len);

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (json) {
        p = ngx_cpymem(body.data, "{\"status\":\"unavailable\",\"reason\":\"",
                       sizeof("{\"status\":\"unavailable\",\"reason\":\"")
                       - 1);
        p = (u_char *) ngx_escape_json(p, why.data, why.len);
        p = ngx_cpymem(p, "\"}\n", 3);

    } else {
        /* Redis's own error replies are one line already */
        p = ngx_snprintf(body.data, len, "unavailable: %V\n", &why);
    }

    body.len = p - body.data;

    return ngx_http_oneid_send_body(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    json ? "application/json"
                                         : "text/plain",
                                    NULL, &body);
}
