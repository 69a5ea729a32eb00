
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Metrics: the counters of the module's events and the oneid_metrics
 * location that shows them in the Prometheus text format (the
 * oneid_health location is ngx_http_oneid_health.c).
 *
 * The counters live in a shared memory zone, "oneid_metrics", made
 * whenever oneid_redis is configured, with or without a oneid_metrics
 * location: counting costs one atomic add, and a location added by a
 * later reload then shows everything since the start.  The zone keeps its
 * name and size across reloads, so nginx hands the new cycle the old
 * memory and the counts go on; a zone of another layout (a new version
 * of the module) is cleared, which Prometheus reads as a counter reset.
 *
 * Each worker adds to a slot of its own (ngx_worker), a cache line or
 * more apart from the others', so counting on the request path never
 * contends; a scrape sums the slots.  The number of slots is fixed rather
 * than taken from worker_processes, so that changing it in a reload keeps
 * the zone; workers beyond it, and an old and a new worker during a
 * reload, share a slot, hence atomic adds.
 *
 * Histograms count per bucket; a scrape makes them cumulative.  Times are
 * ngx_current_msec differences: a resolution of one millisecond, the
 * granularity of nginx's cached clock.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_metrics.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_util.h"


#define NGX_HTTP_ONEID_METRICS_SLOTS    64
#define NGX_HTTP_ONEID_METRICS_BUCKETS  12
#define NGX_HTTP_ONEID_METRICS_LINE     128
/* changes with the layout of the zone */
#define NGX_HTTP_ONEID_METRICS_LAYOUT                                         \
    (0x4f490000 + NGX_HTTP_ONEID_M_LAST * 16 + NGX_HTTP_ONEID_H_LAST)

#define NGX_HTTP_ONEID_METRICS_TYPE     "text/plain; version=0.0.4; "        \
                                        "charset=utf-8"
#define NGX_HTTP_ONEID_METRICS_SIZE     65536


typedef struct {
    ngx_atomic_t                    counter[NGX_HTTP_ONEID_M_LAST];
    /* the last one: over the largest bound (+Inf) */
    ngx_atomic_t                    bucket[NGX_HTTP_ONEID_H_LAST]
                                          [NGX_HTTP_ONEID_METRICS_BUCKETS + 1];
    /* milliseconds */
    ngx_atomic_t                    sum[NGX_HTTP_ONEID_H_LAST];
} ngx_http_oneid_metrics_counts_t;


#define NGX_HTTP_ONEID_METRICS_SLOT_SIZE                                      \
    ngx_align(sizeof(ngx_http_oneid_metrics_counts_t),                        \
              NGX_HTTP_ONEID_METRICS_LINE)

typedef union {
    ngx_http_oneid_metrics_counts_t  c;
    u_char                           pad[NGX_HTTP_ONEID_METRICS_SLOT_SIZE];
} ngx_http_oneid_metrics_slot_t;


typedef struct {
    /* first: the slab allocator gives whole pages, so slots are aligned */
    ngx_http_oneid_metrics_slot_t   slot[NGX_HTTP_ONEID_METRICS_SLOTS];
    ngx_uint_t                      layout;
} ngx_http_oneid_metrics_shm_t;


/* one series of a family: its counter and the value of its label */

typedef struct {
    ngx_uint_t                      id;
    const char                     *value;
} ngx_http_oneid_metrics_series_t;


typedef struct {
    const char                     *name;
    const char                     *type;
    const char                     *help;
    /* NULL: one series without labels */
    const char                     *label;
    ngx_http_oneid_metrics_series_t *series;
    ngx_uint_t                      nseries;
} ngx_http_oneid_metrics_family_t;


typedef struct {
    const char                     *name;
    const char                     *help;
    /* bounds in milliseconds, ascending, 0 ending */
    ngx_msec_t                      bound[NGX_HTTP_ONEID_METRICS_BUCKETS + 1];
} ngx_http_oneid_metrics_histogram_t;




static ngx_int_t ngx_http_oneid_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_oneid_metrics_handler(ngx_http_request_t *r);
static u_char *ngx_http_oneid_metrics_write(u_char *p, u_char *last,
    ngx_http_oneid_metrics_shm_t *sh);
static u_char *ngx_http_oneid_metrics_write_histogram(u_char *p,
    u_char *last, ngx_http_oneid_metrics_shm_t *sh, ngx_uint_t h);
static u_char *ngx_http_oneid_metrics_head(u_char *p, u_char *last,
    const char *name, const char *type, const char *help);
static u_char *ngx_http_oneid_metrics_label(u_char *p, u_char *last,
    const char *name, const char *value);
static u_char *ngx_http_oneid_metrics_seconds(u_char *p, u_char *last,
    ngx_msec_t ms);
static ngx_atomic_int_t ngx_http_oneid_metrics_sum(
    ngx_http_oneid_metrics_shm_t *sh, ngx_uint_t id);


static ngx_str_t  ngx_http_oneid_metrics_zone_name =
    ngx_string("oneid_metrics");


/*
 * This worker's slot, set by ngx_http_oneid_metrics_init_process() from
 * the cycle's zone; NULL (nothing counted) in the master, in processes
 * that serve no requests, and without oneid_redis.
 */
static ngx_http_oneid_metrics_slot_t  *ngx_http_oneid_metrics_slot;


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_login_failures[] = {
    { NGX_HTTP_ONEID_M_LOGIN_FAILED_STATE, "state" },
    { NGX_HTTP_ONEID_M_LOGIN_FAILED_ONEID, "oneid_unavailable" },
    { NGX_HTTP_ONEID_M_LOGIN_FAILED_REFUSED, "identity_refused" },
    { NGX_HTTP_ONEID_M_LOGIN_FAILED_STORE, "store_unavailable" }
};


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_logouts[] = {
    { NGX_HTTP_ONEID_M_LOGOUT, "session" },
    { NGX_HTTP_ONEID_M_LOGOUT_ALL, "all" }
};


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_session_checks[] = {
    { NGX_HTTP_ONEID_M_SESSION_FOUND, "found" },
    { NGX_HTTP_ONEID_M_SESSION_CACHED, "cached" },
    { NGX_HTTP_ONEID_M_SESSION_NOT_FOUND, "not_found" },
    { NGX_HTTP_ONEID_M_SESSION_ENDED, "ended_elsewhere" },
    { NGX_HTTP_ONEID_M_SESSION_ERROR, "store_unavailable" }
};


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_redis_errors[] = {
    { NGX_HTTP_ONEID_M_REDIS_ERROR_REPLY, "error_reply" },
    { NGX_HTTP_ONEID_M_REDIS_ERROR_NO_REPLY, "no_reply" },
    { NGX_HTTP_ONEID_M_REDIS_ERROR_TIMEOUT, "timeout" },
    { NGX_HTTP_ONEID_M_REDIS_ERROR_DOWN, "down" }
};


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_idp_calls[] = {
    { NGX_HTTP_ONEID_M_IDP_TOKEN, "one_authorization_code" },
    { NGX_HTTP_ONEID_M_IDP_IDENTIFY, "one_access_token_identify" },
    { NGX_HTTP_ONEID_M_IDP_LOG_OUT, "one_log_out" },
    { NGX_HTTP_ONEID_M_IDP_OTHER, "other" }
};


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_idp_errors[] = {
    { NGX_HTTP_ONEID_M_IDP_ERROR_CONNECT, "connect" },
    { NGX_HTTP_ONEID_M_IDP_ERROR_TIMEOUT, "timeout" },
    { NGX_HTTP_ONEID_M_IDP_ERROR_STATUS, "status" },
    { NGX_HTTP_ONEID_M_IDP_ERROR_SIZE, "size" },
    { NGX_HTTP_ONEID_M_IDP_ERROR_PARSE, "parse" }
};


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_health_checks[] = {
    { NGX_HTTP_ONEID_M_HEALTH_OK, "ok" },
    { NGX_HTTP_ONEID_M_HEALTH_FAILED, "failed" }
};


static ngx_http_oneid_metrics_series_t  ngx_http_oneid_one_login_started =
    { NGX_HTTP_ONEID_M_LOGIN_STARTED, NULL };
static ngx_http_oneid_metrics_series_t  ngx_http_oneid_one_login_completed =
    { NGX_HTTP_ONEID_M_LOGIN_COMPLETED, NULL };
static ngx_http_oneid_metrics_series_t  ngx_http_oneid_one_redis_commands =
    { NGX_HTTP_ONEID_M_REDIS_COMMANDS, NULL };
static ngx_http_oneid_metrics_series_t  ngx_http_oneid_one_redis_reconnects =
    { NGX_HTTP_ONEID_M_REDIS_RECONNECTS, NULL };
static ngx_http_oneid_metrics_series_t  ngx_http_oneid_one_redis_connected =
    { NGX_HTTP_ONEID_M_REDIS_CONNECTED, NULL };
static ngx_http_oneid_metrics_series_t  ngx_http_oneid_one_failovers =
    { NGX_HTTP_ONEID_M_SENTINEL_FAILOVERS, NULL };


#define ngx_http_oneid_series(a)  a, sizeof(a) / sizeof(a[0])

static ngx_http_oneid_metrics_family_t  ngx_http_oneid_metrics_families[] = {

    { "oneid_logins_started_total", "counter",
      "Logins started: redirects to OneID.",
      NULL, &ngx_http_oneid_one_login_started, 1 },

    { "oneid_logins_completed_total", "counter",
      "Logins completed: a session made at the callback.",
      NULL, &ngx_http_oneid_one_login_completed, 1 },

    { "oneid_logins_failed_total", "counter",
      "Login callbacks that made no session, by reason.",
      "reason", ngx_http_oneid_series(ngx_http_oneid_login_failures) },

    { "oneid_logouts_total", "counter",
      "Sessions ended by a logout: one, or all of a user.",
      "scope", ngx_http_oneid_series(ngx_http_oneid_logouts) },

    { "oneid_session_checks_total", "counter",
      "Session cookies checked on protected locations, by result.",
      "result", ngx_http_oneid_series(ngx_http_oneid_session_checks) },

    { "oneid_redis_commands_total", "counter",
      "Commands sent to Redis.",
      NULL, &ngx_http_oneid_one_redis_commands, 1 },

    { "oneid_redis_errors_total", "counter",
      "Redis commands that failed, by kind.",
      "kind", ngx_http_oneid_series(ngx_http_oneid_redis_errors) },

    { "oneid_redis_reconnects_total", "counter",
      "Redis connections opened after a worker's first one.",
      NULL, &ngx_http_oneid_one_redis_reconnects, 1 },

    { "oneid_redis_connected", "gauge",
      "Workers whose Redis connection answers.",
      NULL, &ngx_http_oneid_one_redis_connected, 1 },

    { "oneid_sentinel_failovers_total", "counter",
      "Master changes followed, counted by each worker.",
      NULL, &ngx_http_oneid_one_failovers, 1 },

    { "oneid_idp_requests_total", "counter",
      "OneID back-channel calls, by method.",
      "method", ngx_http_oneid_series(ngx_http_oneid_idp_calls) },

    { "oneid_idp_errors_total", "counter",
      "OneID back-channel calls that failed, by kind.",
      "kind", ngx_http_oneid_series(ngx_http_oneid_idp_errors) },

    { "oneid_health_checks_total", "counter",
      "Answers of oneid_health, by result.",
      "result", ngx_http_oneid_series(ngx_http_oneid_health_checks) }
};


static ngx_http_oneid_metrics_histogram_t  ngx_http_oneid_histograms[] = {

    { "oneid_redis_command_duration_seconds",
      "Time from sending a Redis command to its reply.",
      { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 0 } },

    { "oneid_idp_request_duration_seconds",
      "Time of a OneID back-channel call.",
      { 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 0 } }
};


/* the reason label of oneid_responses_total, per page */

static const char  *ngx_http_oneid_metrics_pages[NGX_HTTP_ONEID_PAGE_LAST] = {
    "bad_callback",
    "login_required",
    "identity_refused",
    "oneid_unavailable",
    "store_unavailable",
    "internal_error",
    "cookie_conflict",
    "logout_confirm",
    "logout_failed",
    "logout_partial",
    "session_evicted",
    "session_ended_everywhere",
    "session_revoked",
    "require_auth_method",
    "require_legal",
    "require_individual",
    "require_account"
};


void
ngx_http_oneid_metric_add(ngx_uint_t id, ngx_atomic_int_t n)
{
    if (ngx_http_oneid_metrics_slot != NULL) {
        (void) ngx_atomic_fetch_add(&ngx_http_oneid_metrics_slot->c.counter[id],
                                    n);
    }
}


void
ngx_http_oneid_metric_observe(ngx_uint_t hist, ngx_msec_t ms)
{
    ngx_uint_t                           i;
    ngx_http_oneid_metrics_counts_t     *c;
    ngx_http_oneid_metrics_histogram_t  *h;

    if (ngx_http_oneid_metrics_slot == NULL) {
        return;
    }

    c = &ngx_http_oneid_metrics_slot->c;
    h = &ngx_http_oneid_histograms[hist];

    for (i = 0; h->bound[i] && ms > h->bound[i]; i++) { /* void */ }

    if (h->bound[i] == 0) {
        i = NGX_HTTP_ONEID_METRICS_BUCKETS;
    }

    (void) ngx_atomic_fetch_add(&c->bucket[hist][i], 1);
    (void) ngx_atomic_fetch_add(&c->sum[hist], ms);
}


/* a back-channel call made, by its grant_type */

void
ngx_http_oneid_metric_idp_call(const char *grant)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_ONEID_M_IDP_OTHER - NGX_HTTP_ONEID_M_IDP_TOKEN;
         i++)
    {
        if (ngx_strcmp(grant, ngx_http_oneid_idp_calls[i].value) == 0) {
            break;
        }
    }

    ngx_http_oneid_metric_inc(ngx_http_oneid_idp_calls[i].id);
}


/*
 * A back-channel call is over: outcome and status as the idp handler gets
 * them.  The proxy in oneid_backend answers 504 for a timeout and 502 for
 * a connection it could not make or that broke; OneID's own errors come
 * as its status.  Answers that do not parse are counted by the parser.
 */

void
ngx_http_oneid_metric_idp_done(ngx_msec_t start, ngx_int_t outcome,
    ngx_uint_t status)
{
    ngx_http_oneid_metric_observe(NGX_HTTP_ONEID_H_IDP,
                                  ngx_current_msec - start);

    if (outcome == NGX_DECLINED) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_IDP_ERROR_SIZE);

    } else if (outcome != NGX_OK && status == NGX_HTTP_GATEWAY_TIME_OUT) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_IDP_ERROR_TIMEOUT);

    } else if (outcome != NGX_OK) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_IDP_ERROR_CONNECT);

    } else if (status != NGX_HTTP_OK) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_IDP_ERROR_STATUS);
    }
}


/* oneid_metrics */

char *
ngx_http_oneid_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_oneid_metrics_location(cf, cmd, conf,
                                           ngx_http_oneid_metrics_handler);
}


/*
 * oneid_metrics answers by itself: never behind a sign-in, whatever
 * "oneid on" the server has (Prometheus cannot sign in; allow and deny
 * protect the location)
 */

char *
ngx_http_oneid_metrics_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf, ngx_http_handler_pt handler)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate";
    }

    if (olcf->enable == 1 || olcf->role != NGX_HTTP_ONEID_ROLE_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot share a location with \"oneid "
                           "on\" or another oneid role", &cmd->name);
        return NGX_CONF_ERROR;
    }

    olcf->enable = 0;
    clcf->handler = handler;

    return ngx_http_oneid_metrics_needs_redis(cf, cmd);
}


/* oneid_metrics and oneid_health need oneid_redis: checked once it is known */

char *
ngx_http_oneid_metrics_needs_redis(ngx_conf_t *cf, ngx_command_t *cmd)
{
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oneid_module);

    if (omcf->metrics_directive == NULL) {
        omcf->metrics_directive = &cmd->name;
    }

    return NGX_CONF_OK;
}


/* postconfiguration: the zone, if the module is used */

ngx_int_t
ngx_http_oneid_metrics_init(ngx_conf_t *cf)
{
    size_t                       size;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oneid_module);

    if (omcf->redis == NULL) {
        if (omcf->metrics_directive != NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"%V\" needs \"oneid_redis\" in the http block",
                          omcf->metrics_directive);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* the slab pool's own pages besides the counters */

    size = ngx_align(sizeof(ngx_http_oneid_metrics_shm_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_oneid_metrics_zone_name,
                                     size, &ngx_http_oneid_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_oneid_metrics_init_zone;
    omcf->metrics = shm_zone;

    return NGX_OK;
}


/*
 * data: the zone of the previous cycle, the same memory: its counts go
 * on.  It runs in the master while old workers still count.
 */

static ngx_int_t
ngx_http_oneid_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_oneid_metrics_shm_t *osh = data;

    ngx_slab_pool_t               *shpool;
    ngx_http_oneid_metrics_shm_t  *sh;

    if (osh != NULL) {
        if (osh->layout != NGX_HTTP_ONEID_METRICS_LAYOUT) {
            ngx_memzero(osh->slot, sizeof(osh->slot));
            osh->layout = NGX_HTTP_ONEID_METRICS_LAYOUT;
        }

        shm_zone->data = osh;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_oneid_metrics_shm_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_oneid_metrics_shm_t));
    sh->layout = NGX_HTTP_ONEID_METRICS_LAYOUT;

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


void
ngx_http_oneid_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_http_oneid_main_conf_t    *omcf;
    ngx_http_oneid_metrics_shm_t  *sh;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oneid_module);

    if (omcf == NULL || omcf->metrics == NULL) {
        return;
    }

    sh = omcf->metrics->data;

    ngx_http_oneid_metrics_slot = &sh->slot[ngx_worker
                                            % NGX_HTTP_ONEID_METRICS_SLOTS];
}


static ngx_int_t
ngx_http_oneid_metrics_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    body;
    ngx_http_oneid_main_conf_t  *omcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    body.data = ngx_pnalloc(r->pool, NGX_HTTP_ONEID_METRICS_SIZE);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_oneid_metrics_write(body.data,
                                     body.data + NGX_HTTP_ONEID_METRICS_SIZE,
                                     omcf->metrics->data);

    if (p == body.data + NGX_HTTP_ONEID_METRICS_SIZE) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oneid: metrics do not fit in %d bytes",
                      NGX_HTTP_ONEID_METRICS_SIZE);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = p - body.data;

    /*
     * send_body() finalizes the request and returns NGX_DONE, and the
     * content phase finalizes it once more with what a content handler
     * returns: hold a reference for that second finalization, as a
     * handler reading the body does
     */

    r->main->count++;

    rc = ngx_http_oneid_send_body(r, NGX_HTTP_OK,
                                  NGX_HTTP_ONEID_METRICS_TYPE, NULL, &body);

    if (rc != NGX_DONE) {
        r->main->count--;
    }

    return rc;
}


/* the text format: HELP and TYPE, then the series of each family */

static u_char *
ngx_http_oneid_metrics_write(u_char *p, u_char *last,
    ngx_http_oneid_metrics_shm_t *sh)
{
    ngx_uint_t                        i, j;
    ngx_http_oneid_metrics_family_t  *f;

    p = ngx_http_oneid_metrics_head(p, last, "oneid_build_info", "gauge",
                                    "The version of ngx_http_oneid_module.");
    p = ngx_slprintf(p, last, "oneid_build_info");
    p = ngx_http_oneid_metrics_label(p, last, "version",
                                     NGX_HTTP_ONEID_VERSION);
    p = ngx_slprintf(p, last, "} 1\n");

    for (i = 0; i < sizeof(ngx_http_oneid_metrics_families)
                    / sizeof(ngx_http_oneid_metrics_families[0]); i++)
    {
        f = &ngx_http_oneid_metrics_families[i];

        p = ngx_http_oneid_metrics_head(p, last, f->name, f->type, f->help);

        for (j = 0; j < f->nseries; j++) {
            p = ngx_slprintf(p, last, "%s", f->name);

            if (f->label != NULL) {
                p = ngx_http_oneid_metrics_label(p, last, f->label,
                                                 f->series[j].value);
                p = ngx_slprintf(p, last, "}");
            }

            p = ngx_slprintf(p, last, " %A\n",
                             ngx_http_oneid_metrics_sum(sh,
                                                        f->series[j].id));
        }
    }

    p = ngx_http_oneid_metrics_head(p, last, "oneid_responses_total",
                                    "counter",
                                    "Pages the module answered with, by "
                                    "status and reason.");

    for (i = 0; i < NGX_HTTP_ONEID_PAGE_LAST; i++) {
        p = ngx_slprintf(p, last, "oneid_responses_total{status=\"%ui\"",
                         ngx_http_oneid_page_status(i));

        if (ngx_http_oneid_metrics_pages[i] != NULL) {
            p = ngx_http_oneid_metrics_label(p, last, "reason",
                                             ngx_http_oneid_metrics_pages[i]);

        } else {
            p = ngx_slprintf(p, last, ",reason=\"page_%ui\"", i);
        }

        p = ngx_slprintf(p, last, "} %A\n",
                         ngx_http_oneid_metrics_sum(sh,
                                                    NGX_HTTP_ONEID_M_PAGE
                                                    + i));
    }

    for (i = 0; i < NGX_HTTP_ONEID_H_LAST; i++) {
        p = ngx_http_oneid_metrics_write_histogram(p, last, sh, i);
    }

    return p;
}


static u_char *
ngx_http_oneid_metrics_write_histogram(u_char *p, u_char *last,
    ngx_http_oneid_metrics_shm_t *sh, ngx_uint_t h)
{
    ngx_uint_t                           i, s;
    ngx_atomic_uint_t                    n, total, sum;
    ngx_http_oneid_metrics_histogram_t  *hist;

    hist = &ngx_http_oneid_histograms[h];

    p = ngx_http_oneid_metrics_head(p, last, hist->name, "histogram",
                                    hist->help);

    total = 0;

    for (i = 0; i <= NGX_HTTP_ONEID_METRICS_BUCKETS; i++) {

        if (i < NGX_HTTP_ONEID_METRICS_BUCKETS && hist->bound[i] == 0) {
            /* the unused buckets: none is ever counted there */
            continue;
        }

        n = 0;

        for (s = 0; s < NGX_HTTP_ONEID_METRICS_SLOTS; s++) {
            n += sh->slot[s].c.bucket[h][i];
        }

        total += n;

        p = ngx_slprintf(p, last, "%s_bucket{le=\"", hist->name);

        if (i == NGX_HTTP_ONEID_METRICS_BUCKETS) {
            p = ngx_slprintf(p, last, "+Inf");

        } else {
            p = ngx_http_oneid_metrics_seconds(p, last, hist->bound[i]);
        }

        p = ngx_slprintf(p, last, "\"} %uA\n", total);
    }

    sum = 0;

    for (s = 0; s < NGX_HTTP_ONEID_METRICS_SLOTS; s++) {
        sum += sh->slot[s].c.sum[h];
    }

    p = ngx_slprintf(p, last, "%s_sum ", hist->name);
    p = ngx_http_oneid_metrics_seconds(p, last, sum);
    p = ngx_slprintf(p, last, "\n%s_count %uA\n", hist->name, total);

    return p;
}


static u_char *
ngx_http_oneid_metrics_head(u_char *p, u_char *last, const char *name,
    const char *type, const char *help)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


/* '{' or ',' before name="value", the value escaped as the format wants */

static u_char *
ngx_http_oneid_metrics_label(u_char *p, u_char *last, const char *name,
    const char *value)
{
    p = ngx_slprintf(p, last, "%c%s=\"", p[-1] == '"' ? ',' : '{', name);

    for ( /* void */ ; *value && p < last; value++) {

        switch (*value) {

        case '\\':
        case '"':
            p = ngx_slprintf(p, last, "\\%c", *value);
            break;

        case '\n':
            p = ngx_slprintf(p, last, "\\n");
            break;

        default:
            *p++ = *value;
        }
    }

    return ngx_slprintf(p, last, "\"");
}


static u_char *
ngx_http_oneid_metrics_seconds(u_char *p, u_char *last, ngx_msec_t ms)
{
    return ngx_slprintf(p, last, "%M.%03M", ms / 1000, ms % 1000);
}


/* gauges count down too: the sum is signed */

static ngx_atomic_int_t
ngx_http_oneid_metrics_sum(ngx_http_oneid_metrics_shm_t *sh, ngx_uint_t id)
{
    ngx_uint_t         s;
    ngx_atomic_uint_t  n;

    n = 0;

    for (s = 0; s < NGX_HTTP_ONEID_METRICS_SLOTS; s++) {
        n += sh->slot[s].c.counter[id];
    }

    return (ngx_atomic_int_t) n;
}


