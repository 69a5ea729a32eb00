
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
#include "ngx_http_oneid_ctx.h"
#include "ngx_http_oneid_metrics.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_health.h"


static ngx_int_t ngx_http_oneid_health_answer(ngx_http_request_t *r,
    ngx_http_oneid_ctx_t *ctx);


/* oneid_health: a role, answered after the access phase as oneid_admin */

char *
ngx_http_oneid_health_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    if (olcf->role != NGX_HTTP_ONEID_ROLE_NONE) {
        return "is duplicate";
    }

    olcf->role = NGX_HTTP_ONEID_ROLE_HEALTH;

    /* never behind a sign-in: a load balancer cannot sign in */
    olcf->enable = 0;

    return ngx_http_oneid_metrics_needs_redis(cf, cmd);
}


/*
 * PING on this worker's connection, waited for as a session check waits
 * for its command, with the same timeout
 */

ngx_int_t
ngx_http_oneid_health(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  argv[1];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&argv[0], "PING");

    return ngx_http_oneid_redis_wait_argv(r, ctx,
                                          ngx_http_oneid_health_answer,
                                          1, argv);
}


/* 200 "ok", or 503 and why; JSON for clients that ask for it */

static ngx_int_t
ngx_http_oneid_health_answer(ngx_http_request_t *r, ngx_http_oneid_ctx_t *ctx)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                 body, why;
    ngx_uint_t                json;
    ngx_http_oneid_result_t  *res;

    ctx->next = NULL;
    res = &ctx->wait.result;
    json = ngx_http_oneid_wants_json(r);

    if (res->rc == NGX_OK) {
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

    if (res->err.len) {
        why = res->err;

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
