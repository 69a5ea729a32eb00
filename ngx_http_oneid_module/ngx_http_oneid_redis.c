/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * One asynchronous hiredis connection per worker, driven by nginx's event
 * loop (the adapter).  Requests pipeline their commands on it, as records
 * of ngx_http_oneid_redis_cmd.c.
 *
 * With Redis Sentinel, every new connection starts by asking the
 * sentinels where the master is; commands wait for the answer in a queue
 * of their own, so that a worker's first requests need not fail.  The
 * sentinels report the master, and each failover they announce, to
 * ngx_http_oneid_redis_master().
 *
 * Also owns the circuit breaker (one connection attempt per second while
 * Redis is down, its failure logged once) and the checks that a new
 * connection really reaches a working master (PING, or ROLE).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_oneid_redis_conf.h"
#include "ngx_http_oneid_redis_cmd.h"
#include "ngx_http_oneid_metrics.h"


#define NGX_HTTP_ONEID_REDIS_DOWN        0
#define NGX_HTTP_ONEID_REDIS_CONNECTING  1
#define NGX_HTTP_ONEID_REDIS_UP          2

/* while Redis is down, one connection attempt per this interval */
#define NGX_HTTP_ONEID_REDIS_RETRY       1000


struct ngx_http_oneid_redis_s {
    ngx_http_oneid_redis_conf_t      conf;

    /* with sentinels, the master they gave, per worker */
    ngx_http_oneid_redis_addr_t      addr;

    /* per worker */
    redisAsyncContext               *ac;
    ngx_uint_t                       state;
    ngx_uint_t                       failed;
    ngx_msec_t                       retry_at;
    ngx_msec_t                       reask_at;
    ngx_event_t                      connect_timer;
    ngx_log_t                       *log;
    ngx_uint_t                       asking;
    ngx_uint_t                       announced;
    ngx_queue_t                      waiting;

    /* for the metrics: a connection was opened before; counted as up */
    unsigned                         opened:1;
    unsigned                         counted_up:1;
};


static ngx_int_t ngx_http_oneid_redis_connect(ngx_http_oneid_redis_t *rd,
    ngx_str_t *err);
static void ngx_http_oneid_redis_connect_waiting(ngx_http_oneid_redis_t *rd);
static ngx_http_oneid_redis_cmd_t *ngx_http_oneid_redis_wait_master(
    ngx_http_oneid_redis_t *rd, ngx_http_oneid_redis_handler_pt handler,
    void *data, ngx_uint_t argc, ngx_str_t *argv, ngx_str_t *err);
static void ngx_http_oneid_redis_master(void *data, ngx_uint_t event,
    u_char *host, int port, ngx_str_t *err);
static void ngx_http_oneid_redis_master_found(ngx_http_oneid_redis_t *rd,
    u_char *host, int port, ngx_str_t *err);
static void ngx_http_oneid_redis_master_switched(ngx_http_oneid_redis_t *rd,
    u_char *host, int port);
static void ngx_http_oneid_redis_set_master(ngx_http_oneid_redis_t *rd,
    u_char *host, int port);
static void ngx_http_oneid_redis_send_waiting(ngx_http_oneid_redis_t *rd,
    ngx_str_t *err);
static void ngx_http_oneid_redis_send_login(ngx_http_oneid_redis_t *rd);
static void ngx_http_oneid_redis_login_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_oneid_redis_role_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_oneid_redis_ping_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_oneid_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oneid_redis_came_up(ngx_http_oneid_redis_t *rd);
static void ngx_http_oneid_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oneid_redis_went_down(ngx_http_oneid_redis_t *rd,
    const char *what, const char *why);
static void ngx_http_oneid_redis_reask(ngx_http_oneid_redis_t *rd);
static void ngx_http_oneid_redis_count_up(ngx_http_oneid_redis_t *rd,
    ngx_uint_t up);
static void ngx_http_oneid_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_oneid_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);


static const ngx_http_oneid_redis_events_t  ngx_http_oneid_redis_ev = {
    ngx_http_oneid_redis_connected,
    ngx_http_oneid_redis_disconnected,
    ngx_http_oneid_redis_login_reply
};


ngx_http_oneid_redis_t *
ngx_http_oneid_redis_create(ngx_conf_t *cf, ngx_http_oneid_redis_conf_t *conf)
{
    ngx_str_t               *master;
    ngx_http_oneid_redis_t  *rd;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = *conf;
    rd->state = NGX_HTTP_ONEID_REDIS_DOWN;
    ngx_queue_init(&rd->waiting);

    if (conf->sentinel == NULL) {
        rd->addr = conf->addr;
        return rd;
    }

    /* filled in by each worker from the sentinels' answer */

    master = ngx_http_oneid_sentinel_master(conf->sentinel);

    rd->addr.host = ngx_pcalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    rd->addr.name.data = ngx_pnalloc(cf->pool,
                                     NGX_SOCKADDR_STRLEN + sizeof(":65535")
                                     + sizeof(" (master \"\")")
                                     + master->len);

    if (rd->addr.host == NULL || rd->addr.name.data == NULL) {
        return NULL;
    }

    rd->addr.name.len = ngx_sprintf(rd->addr.name.data, "master \"%V\"",
                                    master)
                        - rd->addr.name.data;

    ngx_http_oneid_sentinel_set_handler(conf->sentinel,
                                        ngx_http_oneid_redis_master, rd);

    return rd;
}


ngx_str_t *
ngx_http_oneid_redis_prefix(ngx_http_oneid_redis_t *rd)
{
    return &rd->conf.prefix;
}


ngx_msec_t
ngx_http_oneid_redis_timeout(ngx_http_oneid_redis_t *rd)
{
    return rd->conf.timeout;
}


ngx_http_oneid_redis_conf_t *
ngx_http_oneid_redis_get_conf(ngx_http_oneid_redis_t *rd)
{
    return &rd->conf;
}


/*
 * Where commands go: with sentinels, the master they named last (port 0
 * until they answered), changed in place by a failover.
 */

ngx_http_oneid_redis_addr_t *
ngx_http_oneid_redis_address(ngx_http_oneid_redis_t *rd)
{
    return &rd->addr;
}


/*
 * Queue a command.  handler may be NULL for commands nobody waits for.
 * NULL is returned, with err set, when Redis is known to be unreachable:
 * the caller answers at once instead of waiting for a timeout.
 */

ngx_http_oneid_redis_cmd_t *
ngx_http_oneid_redis_command(ngx_http_oneid_redis_t *rd,
    ngx_http_oneid_redis_handler_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv, ngx_str_t *err)
{
    ngx_http_oneid_redis_cmd_t  *cmd;

    if (argc > NGX_HTTP_ONEID_REDIS_MAX_ARGS) {
        ngx_str_set(err, "too many command arguments");
        return NULL;
    }

    if (rd->log == NULL) {
        rd->log = ngx_cycle->log;
    }

    if (rd->ac == NULL) {
        if (rd->conf.sentinel != NULL && !rd->announced) {
            return ngx_http_oneid_redis_wait_master(rd, handler, data, argc,
                                                    argv, err);
        }

        /* an announced master is tried once without asking */
        rd->announced = 0;

        if (ngx_http_oneid_redis_connect(rd, err) != NGX_OK) {
            return NULL;
        }
    }

    cmd = ngx_http_oneid_redis_cmd_create(handler, data, argc, argv, 0,
                                          rd->log, err);
    if (cmd == NULL) {
        return NULL;
    }

    if (ngx_http_oneid_redis_cmd_send(cmd, rd->ac, ngx_http_oneid_redis_reply)
        != NGX_OK)
    {
        ngx_free(cmd);
        ngx_str_set(err, "redis connection is closing");
        return NULL;
    }

    return cmd;
}


/*
 * A command that got no reply in time means the connection cannot be
 * trusted: replies are matched to commands in order, so drop it and let
 * every waiting request fail now rather than one timeout after another.
 */

void
ngx_http_oneid_redis_reset(ngx_http_oneid_redis_t *rd, const char *reason)
{
    redisAsyncContext  *ac;

    ac = rd->ac;

    if (ac == NULL) {
        return;
    }

    ngx_http_oneid_redis_went_down(rd, "closing connection to", reason);

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    rd->ac = NULL;
    redisAsyncFree(ac);
}


void
ngx_http_oneid_redis_close(ngx_http_oneid_redis_t *rd)
{
    ngx_str_t           err;
    redisAsyncContext  *ac;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->conf.sentinel != NULL) {
        ngx_http_oneid_sentinel_close(rd->conf.sentinel);

        ngx_str_set(&err, "worker is exiting");
        ngx_http_oneid_redis_send_waiting(rd, &err);
    }

    ac = rd->ac;

    if (ac != NULL) {
        rd->ac = NULL;
        redisAsyncFree(ac);
    }
}


static ngx_int_t
ngx_http_oneid_redis_connect(ngx_http_oneid_redis_t *rd, ngx_str_t *err)
{
    u_char              errstr[NGX_HTTP_ONEID_REDIS_ERRSTR_LEN];
    ngx_int_t           rc;
    redisAsyncContext  *ac;

    if (rd->failed && ngx_current_msec < rd->retry_at) {
        ngx_str_set(err, "redis is down, next connection attempt soon");
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "oneid: connecting to redis at %V", &rd->addr.name);

    rc = ngx_http_oneid_redis_open(&rd->addr, &rd->conf.password,
                                   &ngx_http_oneid_redis_ev, rd, rd->log,
                                   &ac, errstr);

    if (rc == NGX_DECLINED) {
        ngx_http_oneid_redis_went_down(rd, "cannot connect to",
                                       (char *) errstr);
        ngx_str_set(err, "cannot connect to redis");
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_str_set(err, "cannot register redis connection");
        return NGX_ERROR;
    }

    rd->ac = ac;
    rd->state = NGX_HTTP_ONEID_REDIS_CONNECTING;

    if (rd->opened) {
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_REDIS_RECONNECTS);
    }

    rd->opened = 1;

    rd->connect_timer.handler = ngx_http_oneid_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = rd->log;
    rd->connect_timer.cancelable = 1;

    ngx_add_timer(&rd->connect_timer, rd->conf.connect_timeout);

    /* FIFO: these run before any command queued after them */
    ngx_http_oneid_redis_send_login(rd);

    return NGX_OK;
}


/* connect, and send the commands that waited for the master, or fail them */

static void
ngx_http_oneid_redis_connect_waiting(ngx_http_oneid_redis_t *rd)
{
    ngx_str_t  err;

    if (ngx_http_oneid_redis_connect(rd, &err) != NGX_OK) {
        ngx_http_oneid_redis_send_waiting(rd, &err);
        return;
    }

    ngx_http_oneid_redis_send_waiting(rd, NULL);
}


/*
 * Sentinel mode with no connection: ask where the master is, and keep a
 * copy of the command until the answer comes.
 */

static ngx_http_oneid_redis_cmd_t *
ngx_http_oneid_redis_wait_master(ngx_http_oneid_redis_t *rd,
    ngx_http_oneid_redis_handler_pt handler, void *data, ngx_uint_t argc,
    ngx_str_t *argv, ngx_str_t *err)
{
    ngx_http_oneid_redis_cmd_t  *cmd;

    if (!rd->asking) {
        if (rd->failed && ngx_current_msec < rd->retry_at) {
            ngx_str_set(err, "redis is down, next connection attempt soon");
            return NULL;
        }

        if (ngx_http_oneid_sentinel_ask(rd->conf.sentinel, rd->log)
            != NGX_AGAIN)
        {
            ngx_http_oneid_redis_went_down(rd, "cannot reach any sentinel of",
                                           "no sentinel accepts connections");
            ngx_str_set(err, "no redis sentinel reachable");
            return NULL;
        }

        rd->asking = 1;
    }

    cmd = ngx_http_oneid_redis_cmd_create(handler, data, argc, argv, 1,
                                          rd->log, err);
    if (cmd == NULL) {
        return NULL;
    }

    ngx_http_oneid_redis_cmd_hold(&rd->waiting, cmd);

    return cmd;
}


/* the one handler of the sentinels: an answer, or an announcement */

static void
ngx_http_oneid_redis_master(void *data, ngx_uint_t event, u_char *host,
    int port, ngx_str_t *err)
{
    ngx_http_oneid_redis_t  *rd = data;

    if (event == NGX_HTTP_ONEID_SENTINEL_SWITCHED) {
        ngx_http_oneid_redis_master_switched(rd, host, port);
        return;
    }

    /* NGX_HTTP_ONEID_SENTINEL_NONE comes with no host */

    ngx_http_oneid_redis_master_found(rd, host, port, err);
}


static void
ngx_http_oneid_redis_master_found(ngx_http_oneid_redis_t *rd, u_char *host,
    int port, ngx_str_t *err)
{
    ngx_uint_t  level;

    rd->asking = 0;

    if (rd->ac != NULL) {
        /* one command connection per worker: keep the one made meanwhile */
        ngx_http_oneid_redis_send_waiting(rd, NULL);
        return;
    }

    if (host == NULL) {
        ngx_http_oneid_redis_went_down(rd, "cannot find", (char *) err->data);
        ngx_http_oneid_redis_send_waiting(rd, err);
        return;
    }

    if (port != rd->addr.port || ngx_strcmp(host, rd->addr.host) != 0) {
        /* the first answer is routine, a new master is worth a notice */
        level = rd->addr.port ? NGX_LOG_NOTICE : NGX_LOG_INFO;

        if (rd->addr.port) {
            /* a failover this worker missed the announcement of */
            ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_SENTINEL_FAILOVERS);
        }

        ngx_log_error(level, rd->log, 0,
                      "oneid: redis sentinels give master \"%V\" at %s:%d",
                      ngx_http_oneid_sentinel_master(rd->conf.sentinel),
                      host, port);

        ngx_http_oneid_redis_set_master(rd, host, port);
    }

    ngx_http_oneid_sentinel_watch(rd->conf.sentinel, rd->log);

    ngx_http_oneid_redis_connect_waiting(rd);
}


/* +switch-master: leave the old master now, it may stay writable a while */

static void
ngx_http_oneid_redis_master_switched(ngx_http_oneid_redis_t *rd, u_char *host,
    int port)
{
    if (port == rd->addr.port && ngx_strcmp(host, rd->addr.host) == 0) {
        return;
    }

    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_SENTINEL_FAILOVERS);

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "oneid: redis sentinels announce a new master \"%V\" "
                  "at %s:%d",
                  ngx_http_oneid_sentinel_master(rd->conf.sentinel),
                  host, port);

    ngx_http_oneid_redis_reset(rd, "the sentinels switched the master");

    /*
     * go straight to the announced master: the sentinel we would ask may
     * not have heard of the failover yet; ROLE still checks it
     */

    ngx_http_oneid_redis_set_master(rd, host, port);

    rd->retry_at = ngx_current_msec;

    if (!rd->asking) {
        rd->announced = 1;
        return;
    }

    /*
     * a question to a sentinel is under way: its answer may name the old
     * master and would open a second connection, so drop it, and give
     * the requests waiting for it the announced master now
     */

    ngx_http_oneid_sentinel_cancel(rd->conf.sentinel);
    rd->asking = 0;

    ngx_http_oneid_redis_connect_waiting(rd);
}


static void
ngx_http_oneid_redis_set_master(ngx_http_oneid_redis_t *rd, u_char *host,
    int port)
{
    ngx_http_oneid_redis_addr_t  *addr;

    addr = &rd->addr;

    (void) ngx_cpystrn(addr->host, host, NGX_SOCKADDR_STRLEN + 1);
    addr->port = port;
    addr->name.len = ngx_sprintf(addr->name.data, "%s:%d (master \"%V\")",
                                 host, port,
                                 ngx_http_oneid_sentinel_master(
                                     rd->conf.sentinel))
                     - addr->name.data;
}


/* send the commands that waited for the master, or fail them with err */

static void
ngx_http_oneid_redis_send_waiting(ngx_http_oneid_redis_t *rd, ngx_str_t *err)
{
    ngx_str_t                    e;
    ngx_http_oneid_redis_cmd_t  *cmd;

    ngx_str_set(&e, "redis connection is closing");

    for ( ;; ) {
        cmd = ngx_http_oneid_redis_cmd_next(&rd->waiting);
        if (cmd == NULL) {
            return;
        }

        if (err == NULL
            && ngx_http_oneid_redis_cmd_send(cmd, rd->ac,
                                             ngx_http_oneid_redis_reply)
               == NGX_OK)
        {
            continue;
        }

        ngx_http_oneid_redis_cmd_fail(cmd, err ? err : &e);
    }
}


static void
ngx_http_oneid_redis_send_login(ngx_http_oneid_redis_t *rd)
{
    u_char  db[NGX_INT_T_LEN];
    size_t  len;

    /* AUTH is sent already, as the connection was opened */

    if (rd->conf.db) {
        len = ngx_sprintf(db, "%i", rd->conf.db) - db;
        (void) redisAsyncCommand(rd->ac, ngx_http_oneid_redis_login_reply,
                                 rd, "SELECT %b", db, len);
    }

    /* what the sentinels said may already be out of date */

    if (rd->conf.sentinel != NULL) {
        (void) redisAsyncCommand(rd->ac, ngx_http_oneid_redis_role_reply,
                                 rd, "ROLE");

    } else {
        /* a completed TCP handshake is no answer: Redis may be hung */
        (void) redisAsyncCommand(rd->ac, ngx_http_oneid_redis_ping_reply,
                                 rd, "PING");
    }
}


static void
ngx_http_oneid_redis_ping_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_http_oneid_redis_t  *rd = privdata;

    if (rr == NULL || rd->ac != ac) {
        return;
    }

    /* even an error reply (NOAUTH, LOADING) means Redis answers */

    ngx_http_oneid_redis_came_up(rd);
}


static void
ngx_http_oneid_redis_login_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_http_oneid_redis_t  *rd = privdata;

    if (rr != NULL && rr->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "oneid: redis at %V refused AUTH or SELECT: %s",
                      &rd->addr.name, rr->str);
    }
}


static void
ngx_http_oneid_redis_role_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_http_oneid_redis_t  *rd = privdata;

    if (rr == NULL || rd->ac != ac) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        /* NOAUTH follows a refused AUTH, which is logged already */

        if (ngx_strncmp(rr->str, "NOAUTH", 6) != 0) {
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "oneid: redis at %V refused ROLE: %s, using it "
                          "without knowing that it is the master",
                          &rd->addr.name, rr->str);
            ngx_http_oneid_redis_came_up(rd);
        }

        return;
    }

    if (rr->type == REDIS_REPLY_ARRAY && rr->elements > 0
        && rr->element[0]->type == REDIS_REPLY_STRING
        && ngx_strcmp(rr->element[0]->str, "master") == 0)
    {
        /* a demotion of this master will be a new one: ask at once again */
        rd->reask_at = 0;

        ngx_http_oneid_redis_came_up(rd);
        return;
    }

    ngx_http_oneid_redis_reset(rd, "it is not the master, asking the "
                                   "sentinels again");
    ngx_http_oneid_redis_reask(rd);
}


static void
ngx_http_oneid_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_oneid_redis_t  *rd = ac->data;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        if (rd->ac == ac) {
            rd->ac = NULL;
        }

        ngx_http_oneid_redis_went_down(rd, "cannot connect to", ac->errstr);
        return;
    }

    rd->state = NGX_HTTP_ONEID_REDIS_UP;

    /* Redis is back once it answers PING, or ROLE says "master" */
}


static void
ngx_http_oneid_redis_came_up(ngx_http_oneid_redis_t *rd)
{
    if (rd->failed) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "oneid: redis at %V is reachable again", &rd->addr.name);

    } else {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "oneid: connected to redis at %V", &rd->addr.name);
    }

    rd->failed = 0;

    ngx_http_oneid_redis_count_up(rd, 1);
}


static void
ngx_http_oneid_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_oneid_redis_t  *rd = ac->data;

    ngx_uint_t  first;

    if (rd->ac == ac) {
        rd->ac = NULL;
    }

    if (status != REDIS_OK) {
        first = !rd->failed;

        ngx_http_oneid_redis_went_down(rd, "lost connection to",
                                       ac->errstr);

        /*
         * a master that Sentinel demotes closes its connections: the
         * sentinels may already know the new one, so ask at once
         */

        if (rd->conf.sentinel != NULL && first) {
            rd->retry_at = ngx_current_msec;
        }

        return;
    }

    rd->state = NGX_HTTP_ONEID_REDIS_DOWN;
    ngx_http_oneid_redis_count_up(rd, 0);
}


/* log the first failure only: while down, every request would repeat it */

static void
ngx_http_oneid_redis_went_down(ngx_http_oneid_redis_t *rd, const char *what,
    const char *why)
{
    if (!rd->failed) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "oneid: %s redis at %V: %s",
                      what, &rd->addr.name, why ? why : "unknown error");
    }

    rd->failed = 1;
    rd->state = NGX_HTTP_ONEID_REDIS_DOWN;
    rd->retry_at = ngx_current_msec + NGX_HTTP_ONEID_REDIS_RETRY;

    ngx_http_oneid_redis_count_up(rd, 0);
}


/*
 * The workers whose connection answers, for oneid_redis_connected: each
 * adds itself once, and takes itself away as the connection goes, also
 * when it exits (redisAsyncFree() calls the disconnect callback).
 */

static void
ngx_http_oneid_redis_count_up(ngx_http_oneid_redis_t *rd, ngx_uint_t up)
{
    if (rd->counted_up == up) {
        return;
    }

    rd->counted_up = up;
    ngx_http_oneid_metric_add(NGX_HTTP_ONEID_M_REDIS_CONNECTED, up ? 1 : -1);
}


/*
 * The master was demoted: the sentinels most likely know the new one, so
 * the next request asks them at once rather than after the retry interval;
 * but only once per interval until a master is found, as a sentinel that
 * still names the demoted node would make a loop of connections.
 */

static void
ngx_http_oneid_redis_reask(ngx_http_oneid_redis_t *rd)
{
    if (ngx_current_msec < rd->reask_at) {
        return;
    }

    rd->retry_at = ngx_current_msec;
    rd->reask_at = ngx_current_msec + NGX_HTTP_ONEID_REDIS_RETRY;
}


static void
ngx_http_oneid_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_oneid_redis_t  *rd = ev->data;

    if (rd->state == NGX_HTTP_ONEID_REDIS_CONNECTING) {
        ngx_http_oneid_redis_reset(rd, "connection timed out");
    }
}


static void
ngx_http_oneid_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_http_oneid_redis_t  *rd = ac->data;

    /* a failover made our master a replica */

    if (rr != NULL && rr->type == REDIS_REPLY_ERROR && rd->conf.sentinel != NULL
        && rd->ac == ac && ngx_strncmp(rr->str, "READONLY", 8) == 0)
    {
        ngx_http_oneid_redis_reset(rd, "it answers READONLY, asking the "
                                       "sentinels again");
        ngx_http_oneid_redis_reask(rd);
    }

    ngx_http_oneid_redis_cmd_done(privdata, ac, rr);
}


