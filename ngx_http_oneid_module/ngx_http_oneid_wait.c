
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The one way a request waits for something and is resumed: a Redis
 * command (with a timer), a OneID back-channel subrequest, or another
 * request's answer (the subrequests that share a session lookup).  Both
 * back ends call back here with their outcome, which lands in
 * ngx_http_oneid_wait_t.result; the request's phase handler then runs
 * again and takes its next step.  The rules:
 *
 *   - a Redis reply comes from inside hiredis: it is copied, and the
 *     request is resumed from a posted event, still marked waiting until
 *     then, so that a request run meanwhile by something else does not
 *     take the step twice;
 *   - once a OneID subrequest is finished nginx posts the parent itself;
 *   - no answer in time resets the Redis connection;
 *   - ngx_http_oneid_wait_cancel() (the request pool going away) leaves
 *     nothing that could call back into the request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_idp.h"
#include "ngx_http_oneid_wait.h"
#include "ngx_http_oneid_metrics.h"


static void ngx_http_oneid_wait_redis_done(void *data, ngx_int_t rc,
    ngx_str_t *value, ngx_str_t *err);
static void ngx_http_oneid_wait_idp_done(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body);
static void ngx_http_oneid_wait_wake_handler(ngx_event_t *ev);


void
ngx_http_oneid_wait_init(ngx_http_oneid_wait_t *w, ngx_http_request_t *r,
    ngx_http_oneid_redis_t *redis)
{
    w->request = r;
    w->redis = redis;

    w->wake.handler = ngx_http_oneid_wait_wake_handler;
    w->wake.data = w;
    w->wake.log = r->connection->log;
}


/*
 * NGX_AGAIN: sent, the request is resumed with the reply.  NGX_DECLINED:
 * Redis is known to be down; the result says so at once rather than
 * after a timeout.
 */

ngx_int_t
ngx_http_oneid_wait_redis(ngx_http_oneid_wait_t *w, ngx_uint_t argc,
    ngx_str_t *argv)
{
    w->result.rc = NGX_ERROR;
    w->result.status = 0;
    ngx_str_null(&w->result.value);
    ngx_str_null(&w->result.err);

    w->cmd = ngx_http_oneid_redis_command(w->redis,
                                          ngx_http_oneid_wait_redis_done, w,
                                          argc, argv, &w->result.err);

    if (w->cmd == NULL) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_REDIS_ERROR_DOWN);
        return NGX_DECLINED;
    }

    w->waiting = 1;

    ngx_add_timer(&w->wake, ngx_http_oneid_redis_timeout(w->redis));

    /* notice a client that gives up, as limit_req does */
    w->request->read_event_handler = ngx_http_test_reading;

    return NGX_AGAIN;
}


/*
 * Called from inside hiredis: copy the reply and resume from a posted
 * event, so that no request code runs under hiredis's feet.
 */

static void
ngx_http_oneid_wait_redis_done(void *data, ngx_int_t rc, ngx_str_t *value,
    ngx_str_t *err)
{
    ngx_http_oneid_wait_t *w = data;

    ngx_pool_t  *pool;

    w->cmd = NULL;
    w->result.rc = rc;

    pool = w->request->pool;

    if (value->len) {
        w->result.value.data = ngx_pstrdup(pool, value);
        w->result.value.len = value->len;

        if (w->result.value.data == NULL) {
            w->result.rc = NGX_ERROR;
            ngx_str_set(&w->result.err, "out of memory");
        }
    }

    if (err->len) {
        w->result.err.data = ngx_pstrdup(pool, err);
        w->result.err.len = w->result.err.data ? err->len : 0;
    }

    if (w->wake.timer_set) {
        ngx_del_timer(&w->wake);
    }

    /*
     * w->waiting stays set until the wake handler runs: a request run
     * meanwhile by something else must not take the step twice
     */

    ngx_post_event(&w->wake, &ngx_posted_events);
}


static void
ngx_http_oneid_wait_wake_handler(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_oneid_wait_t  *w;

    w = ev->data;
    r = w->request;
    c = r->connection;

    if (ev->timedout) {
        ev->timedout = 0;

        if (w->cmd != NULL) {
            ngx_http_oneid_redis_cancel(w->cmd);
            w->cmd = NULL;
        }

        w->result.rc = NGX_ERROR;
        ngx_str_set(&w->result.err, "redis did not answer in time");
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_REDIS_ERROR_TIMEOUT);

        ngx_http_oneid_redis_reset(w->redis, "command timed out");
    }

    w->waiting = 0;

    ngx_http_set_log_request(c->log, r);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


/* NGX_AGAIN: the subrequest is made; NGX_ERROR: it could not be */

ngx_int_t
ngx_http_oneid_wait_idp(ngx_http_oneid_wait_t *w,
    ngx_http_oneid_loc_conf_t *olcf, const char *grant, const char *param,
    ngx_str_t *value)
{
    w->result.rc = NGX_AGAIN;
    w->result.status = 0;
    ngx_str_null(&w->result.value);
    ngx_str_null(&w->result.err);

    if (ngx_http_oneid_idp_call(w->request, olcf, grant, param, value,
                                ngx_http_oneid_wait_idp_done, w)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    w->waiting = 1;

    return NGX_AGAIN;
}


/* nginx posts the parent request itself once the subrequest is done */

static void
ngx_http_oneid_wait_idp_done(void *data, ngx_int_t rc, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_http_oneid_wait_t *w = data;

    w->waiting = 0;

    w->result.rc = rc;
    w->result.status = status;
    w->result.value = *body;
}


/* waiting for another request's answer: ngx_http_oneid_wait_wake() */

void
ngx_http_oneid_wait_park(ngx_http_oneid_wait_t *w)
{
    w->waiting = 1;
}


void
ngx_http_oneid_wait_wake(ngx_http_oneid_wait_t *w)
{
    w->waiting = 0;

    w->request->write_event_handler = ngx_http_core_run_phases;

    (void) ngx_http_post_request(w->request, NULL);
}


/* the request is going away: nothing may call back into it */

void
ngx_http_oneid_wait_cancel(ngx_http_oneid_wait_t *w)
{
    if (w->cmd != NULL) {
        ngx_http_oneid_redis_cancel(w->cmd);
        w->cmd = NULL;
    }

    if (w->wake.timer_set) {
        ngx_del_timer(&w->wake);
    }

    if (w->wake.posted) {
        ngx_delete_posted_event(&w->wake);
    }
}
