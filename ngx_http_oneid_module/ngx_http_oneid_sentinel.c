
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Asks Redis Sentinels, one after another, where the master is.  Each
 * question is a short-lived asynchronous hiredis connection on nginx's
 * event loop: connect, AUTH when configured, then
 * SENTINEL get-master-addr-by-name.
 *
 * Long-lived connections, one to each sentinel so that a hung one cannot
 * hide a failover, subscribe to +switch-master: after a manual failover
 * the old master stays writable for a while, and only this announcement
 * tells us to leave it at once.
 *
 * Both the answers and the announcements go to the one handler that the
 * user of the sentinels registered; connections come from the adapter.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_oneid_redis_adapter.h"
#include "ngx_http_oneid_sentinel.h"


/* a subscription to one sentinel's +switch-master */
typedef struct {
    ngx_http_oneid_sentinel_t         *sentinel;
    ngx_http_oneid_redis_addr_t       *addr;
    redisAsyncContext                 *ac;
    ngx_event_t                        timer;
} ngx_http_oneid_sentinel_watch_t;


struct ngx_http_oneid_sentinel_s {
    ngx_str_t                          master;
    ngx_array_t                        addrs;
    ngx_str_t                          password;
    ngx_msec_t                         timeout;

    /* per worker */
    redisAsyncContext                 *ac;
    ngx_uint_t                         current;
    ngx_uint_t                         tried;
    ngx_event_t                        timer;
    ngx_log_t                         *log;
    u_char                             answer[NGX_SOCKADDR_STRLEN + 1];
    int                                answer_port;

    ngx_http_oneid_sentinel_watch_t   *watches;

    /* registered by the user: answers and announcements */
    ngx_http_oneid_sentinel_handler_pt handler;
    void                              *data;

    /* an answer is wanted */
    unsigned                           asking:1;
    /* the worker is exiting */
    unsigned                           closed:1;
};


/* while no sentinel can be subscribed to, one attempt per this interval */
#define NGX_HTTP_ONEID_SENTINEL_WATCH_RETRY  1000


static void ngx_http_oneid_sentinel_report(ngx_http_oneid_sentinel_t *sn,
    ngx_uint_t event, ngx_str_t *err);
static void ngx_http_oneid_sentinel_next(ngx_http_oneid_sentinel_t *sn,
    const char *why);
static ngx_int_t ngx_http_oneid_sentinel_connect(
    ngx_http_oneid_sentinel_t *sn);
static void ngx_http_oneid_sentinel_auth_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_oneid_sentinel_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static ngx_int_t ngx_http_oneid_sentinel_take(ngx_http_oneid_sentinel_t *sn,
    redisReply *rr, const char **why);
static ngx_int_t ngx_http_oneid_sentinel_is_ip(u_char *p, size_t len);
static void ngx_http_oneid_sentinel_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oneid_sentinel_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oneid_sentinel_timeout(ngx_event_t *ev);
static void ngx_http_oneid_sentinel_drop(ngx_http_oneid_sentinel_t *sn);
static void ngx_http_oneid_sentinel_watch_connect(ngx_event_t *ev);
static void ngx_http_oneid_sentinel_watch_message(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_oneid_sentinel_watch_connected(
    const redisAsyncContext *ac, int status);
static void ngx_http_oneid_sentinel_watch_disconnected(
    const redisAsyncContext *ac, int status);
static void ngx_http_oneid_sentinel_watch_later(
    ngx_http_oneid_sentinel_watch_t *w);


static const ngx_http_oneid_redis_events_t  ngx_http_oneid_sentinel_ask_ev = {
    ngx_http_oneid_sentinel_connected,
    ngx_http_oneid_sentinel_disconnected,
    ngx_http_oneid_sentinel_auth_reply
};


/* a refused AUTH is logged by the questions, which use the same password */

static const ngx_http_oneid_redis_events_t  ngx_http_oneid_sentinel_watch_ev = {
    ngx_http_oneid_sentinel_watch_connected,
    ngx_http_oneid_sentinel_watch_disconnected,
    NULL
};


ngx_http_oneid_sentinel_t *
ngx_http_oneid_sentinel_create(ngx_conf_t *cf, ngx_str_t *master,
    ngx_str_t *password, ngx_msec_t timeout)
{
    ngx_http_oneid_sentinel_t  *sn;

    sn = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_sentinel_t));
    if (sn == NULL) {
        return NULL;
    }

    if (ngx_array_init(&sn->addrs, cf->pool, 3,
                       sizeof(ngx_http_oneid_redis_addr_t))
        != NGX_OK)
    {
        return NULL;
    }

    sn->master = *master;
    sn->password = *password;

    /* one question: connecting and the answer */
    sn->timeout = timeout;

    return sn;
}


char *
ngx_http_oneid_sentinel_add(ngx_conf_t *cf, ngx_http_oneid_sentinel_t *sn,
    ngx_str_t *addr)
{
    ngx_http_oneid_redis_addr_t  *sa;

    sa = ngx_array_push(&sn->addrs);
    if (sa == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_oneid_redis_parse_addr(cf, addr, 26379, "sentinel", sa)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (sa->path != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "sentinel \"%V\" must be host:port", addr);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the one handler for answers and announcements, set before any use */

void
ngx_http_oneid_sentinel_set_handler(ngx_http_oneid_sentinel_t *sn,
    ngx_http_oneid_sentinel_handler_pt handler, void *data)
{
    sn->handler = handler;
    sn->data = data;
}


ngx_str_t *
ngx_http_oneid_sentinel_master(ngx_http_oneid_sentinel_t *sn)
{
    return &sn->master;
}


/*
 * NGX_AGAIN: the handler will hear FOUND with the answer, or NONE with
 * the reason why no sentinel gave one.  NGX_ERROR: no sentinel could even
 * be tried; the handler is not called.
 */

ngx_int_t
ngx_http_oneid_sentinel_ask(ngx_http_oneid_sentinel_t *sn, ngx_log_t *log)
{
    if (sn->ac != NULL) {
        return NGX_AGAIN;
    }

    sn->log = log;
    sn->tried = 0;

    sn->timer.handler = ngx_http_oneid_sentinel_timeout;
    sn->timer.data = sn;
    sn->timer.log = log;
    sn->timer.cancelable = 1;

    /* start with the sentinel that answered last time */

    while (sn->tried < sn->addrs.nelts) {
        if (ngx_http_oneid_sentinel_connect(sn) == NGX_OK) {
            sn->asking = 1;
            return NGX_AGAIN;
        }

        sn->current = (sn->current + 1) % sn->addrs.nelts;
        sn->tried++;
    }

    return NGX_ERROR;
}


void
ngx_http_oneid_sentinel_close(ngx_http_oneid_sentinel_t *sn)
{
    ngx_uint_t                        i;
    redisAsyncContext                *ac;
    ngx_http_oneid_sentinel_watch_t  *w;

    sn->asking = 0;
    sn->closed = 1;
    ngx_http_oneid_sentinel_drop(sn);

    if (sn->watches == NULL) {
        return;
    }

    for (i = 0; i < sn->addrs.nelts; i++) {
        w = &sn->watches[i];

        if (w->timer.timer_set) {
            ngx_del_timer(&w->timer);
        }

        ac = w->ac;

        if (ac != NULL) {
            w->ac = NULL;
            redisAsyncFree(ac);
        }
    }
}


/*
 * The answer is no longer wanted (a failover was announced meanwhile):
 * a late one could name the old master, and would be a second connection.
 */

void
ngx_http_oneid_sentinel_cancel(ngx_http_oneid_sentinel_t *sn)
{
    sn->asking = 0;
    ngx_http_oneid_sentinel_drop(sn);
}


/* from now on, tell the handler the new address after each failover */

void
ngx_http_oneid_sentinel_watch(ngx_http_oneid_sentinel_t *sn, ngx_log_t *log)
{
    ngx_uint_t                        i;
    ngx_http_oneid_redis_addr_t      *sa;
    ngx_http_oneid_sentinel_watch_t  *w;

    if (sn->watches != NULL) {
        return;
    }

    sn->watches = ngx_pcalloc(ngx_cycle->pool,
                              sn->addrs.nelts
                              * sizeof(ngx_http_oneid_sentinel_watch_t));
    if (sn->watches == NULL) {
        return;
    }

    sa = sn->addrs.elts;

    for (i = 0; i < sn->addrs.nelts; i++) {
        w = &sn->watches[i];

        w->sentinel = sn;
        w->addr = &sa[i];
        w->timer.handler = ngx_http_oneid_sentinel_watch_connect;
        w->timer.data = w;
        w->timer.log = log;
        w->timer.cancelable = 1;

        ngx_http_oneid_sentinel_watch_connect(&w->timer);
    }
}


static void
ngx_http_oneid_sentinel_watch_connect(ngx_event_t *ev)
{
    ngx_http_oneid_sentinel_watch_t *w = ev->data;

    u_char              errstr[NGX_HTTP_ONEID_REDIS_ERRSTR_LEN];
    redisAsyncContext  *ac;

    if (ngx_http_oneid_redis_open(w->addr, &w->sentinel->password,
                                  &ngx_http_oneid_sentinel_watch_ev, w,
                                  ev->log, &ac, errstr)
        != NGX_OK)
    {
        ngx_http_oneid_sentinel_watch_later(w);
        return;
    }

    w->ac = ac;

    (void) redisAsyncCommand(ac, ngx_http_oneid_sentinel_watch_message, w,
                             "SUBSCRIBE +switch-master");
}


/* "message" "+switch-master" "<name> <old ip> <old port> <ip> <port>" */

static void
ngx_http_oneid_sentinel_watch_message(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                       *rr = reply;
    ngx_http_oneid_sentinel_watch_t  *w = privdata;

    u_char                     *p, *last, *field[5];
    size_t                      len[5];
    ngx_int_t                   port;
    ngx_uint_t                  n;
    ngx_http_oneid_sentinel_t  *sn;

    sn = w->sentinel;

    if (rr == NULL || w->ac != ac || sn->closed
        || rr->type != REDIS_REPLY_ARRAY || rr->elements != 3
        || rr->element[0]->type != REDIS_REPLY_STRING
        || ngx_strcmp(rr->element[0]->str, "message") != 0
        || rr->element[2]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    p = (u_char *) rr->element[2]->str;
    last = p + rr->element[2]->len;

    for (n = 0; n < 5 && p < last; n++) {
        field[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - field[n];
        p++;
    }

    if (n != 5 || len[0] != sn->master.len
        || ngx_strncmp(field[0], sn->master.data, len[0]) != 0
        || len[3] == 0 || len[3] > NGX_SOCKADDR_STRLEN)
    {
        return;
    }

    port = ngx_atoi(field[4], len[4]);
    if (port < 1 || port > 65535) {
        return;
    }

    /* as for the answer to a question: hiredis would resolve it blocking */

    if (ngx_http_oneid_sentinel_is_ip(field[3], len[3]) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, w->timer.log, 0,
                      "oneid: redis sentinel at %V announces the new "
                      "master \"%V\" by host name \"%*s\", not IP address, "
                      "ignored (sentinel resolve-hostnames is not supported)",
                      &w->addr->name, &sn->master, len[3], field[3]);
        return;
    }

    ngx_memcpy(sn->answer, field[3], len[3]);
    sn->answer[len[3]] = '\0';

    sn->handler(sn->data, NGX_HTTP_ONEID_SENTINEL_SWITCHED, sn->answer,
                (int) port, NULL);
}


static void
ngx_http_oneid_sentinel_watch_connected(const redisAsyncContext *ac,
    int status)
{
    ngx_http_oneid_sentinel_watch_t  *w = ac->data;

    if (status == REDIS_OK || w->ac != ac) {
        return;
    }

    /* hiredis frees the context after this callback */
    w->ac = NULL;

    ngx_http_oneid_sentinel_watch_later(w);
}


static void
ngx_http_oneid_sentinel_watch_disconnected(const redisAsyncContext *ac,
    int status)
{
    ngx_http_oneid_sentinel_watch_t  *w = ac->data;

    if (w->ac != ac) {
        return;
    }

    w->ac = NULL;

    ngx_http_oneid_sentinel_watch_later(w);
}


static void
ngx_http_oneid_sentinel_watch_later(ngx_http_oneid_sentinel_watch_t *w)
{
    if (w->sentinel->closed || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (!w->timer.timer_set) {
        ngx_add_timer(&w->timer, NGX_HTTP_ONEID_SENTINEL_WATCH_RETRY);
    }
}


static ngx_int_t
ngx_http_oneid_sentinel_connect(ngx_http_oneid_sentinel_t *sn)
{
    u_char                        errstr[NGX_HTTP_ONEID_REDIS_ERRSTR_LEN];
    redisAsyncContext            *ac;
    ngx_http_oneid_redis_addr_t  *sa;

    sa = sn->addrs.elts;
    sa = &sa[sn->current];

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                   "oneid: asking redis sentinel at %V", &sa->name);

    if (ngx_http_oneid_redis_open(sa, &sn->password,
                                  &ngx_http_oneid_sentinel_ask_ev, sn,
                                  sn->log, &ac, errstr)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, sn->log, 0,
                      "oneid: cannot connect to redis sentinel at %V: %s",
                      &sa->name, errstr);
        return NGX_ERROR;
    }

    sn->ac = ac;

    (void) redisAsyncCommand(ac, ngx_http_oneid_sentinel_reply, sn,
                             "SENTINEL get-master-addr-by-name %b",
                             sn->master.data, sn->master.len);

    ngx_add_timer(&sn->timer, sn->timeout);

    return NGX_OK;
}


/* try the next sentinel, or tell the handler that none answered */

static void
ngx_http_oneid_sentinel_next(ngx_http_oneid_sentinel_t *sn, const char *why)
{
    ngx_str_t                     err;
    ngx_http_oneid_redis_addr_t  *sa;

    sa = sn->addrs.elts;

    ngx_log_error(NGX_LOG_WARN, sn->log, 0,
                  "oneid: redis sentinel at %V gave no master \"%V\": %s",
                  &sa[sn->current].name, &sn->master, why);

    ngx_http_oneid_sentinel_drop(sn);

    for ( ;; ) {
        sn->current = (sn->current + 1) % sn->addrs.nelts;

        if (++sn->tried >= sn->addrs.nelts) {
            break;
        }

        if (ngx_http_oneid_sentinel_connect(sn) == NGX_OK) {
            return;
        }
    }

    ngx_str_set(&err, "no sentinel knows the master");

    ngx_http_oneid_sentinel_report(sn, NGX_HTTP_ONEID_SENTINEL_NONE, &err);
}


/* the answer to a question, or that there is none, if still wanted */

static void
ngx_http_oneid_sentinel_report(ngx_http_oneid_sentinel_t *sn,
    ngx_uint_t event, ngx_str_t *err)
{
    if (!sn->asking) {
        return;
    }

    sn->asking = 0;

    if (event == NGX_HTTP_ONEID_SENTINEL_FOUND) {
        sn->handler(sn->data, event, sn->answer, sn->answer_port, NULL);

    } else {
        sn->handler(sn->data, event, NULL, 0, err);
    }
}


static void
ngx_http_oneid_sentinel_auth_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                 *rr = reply;
    ngx_http_oneid_sentinel_t  *sn = privdata;

    ngx_http_oneid_redis_addr_t  *sa;

    if (rr != NULL && rr->type == REDIS_REPLY_ERROR && sn->ac == ac) {
        sa = sn->addrs.elts;
        ngx_log_error(NGX_LOG_ERR, sn->log, 0,
                      "oneid: redis sentinel at %V refused AUTH: %s",
                      &sa[sn->current].name, rr->str);
    }
}


static void
ngx_http_oneid_sentinel_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                 *rr = reply;
    ngx_http_oneid_sentinel_t  *sn = privdata;

    const char  *why;

    if (sn->ac != ac) {
        return;
    }

    if (ngx_http_oneid_sentinel_take(sn, rr, &why) != NGX_OK) {
        ngx_http_oneid_sentinel_next(sn, why);
        return;
    }

    ngx_http_oneid_sentinel_drop(sn);

    ngx_http_oneid_sentinel_report(sn, NGX_HTTP_ONEID_SENTINEL_FOUND, NULL);
}


/* the answer is [ip, port]; a host name would make hiredis block on DNS */

static ngx_int_t
ngx_http_oneid_sentinel_take(ngx_http_oneid_sentinel_t *sn, redisReply *rr,
    const char **why)
{
    ngx_int_t  port;

    if (rr == NULL) {
        *why = sn->ac->err ? sn->ac->errstr : "connection closed";
        return NGX_ERROR;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        *why = rr->str;
        return NGX_ERROR;
    }

    if (rr->type == REDIS_REPLY_NIL) {
        *why = "unknown master name";
        return NGX_ERROR;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 2
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_STRING
        || rr->element[0]->len == 0
        || rr->element[0]->len > NGX_SOCKADDR_STRLEN)
    {
        *why = "unexpected reply";
        return NGX_ERROR;
    }

    port = ngx_atoi((u_char *) rr->element[1]->str, rr->element[1]->len);

    if (port < 1 || port > 65535) {
        *why = "invalid port in reply";
        return NGX_ERROR;
    }

    if (ngx_http_oneid_sentinel_is_ip((u_char *) rr->element[0]->str,
                                      rr->element[0]->len)
        != NGX_OK)
    {
        *why = "the master is given by host name, not IP address "
               "(sentinel resolve-hostnames is not supported)";
        return NGX_ERROR;
    }

    ngx_memcpy(sn->answer, rr->element[0]->str, rr->element[0]->len);
    sn->answer[rr->element[0]->len] = '\0';
    sn->answer_port = (int) port;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_sentinel_is_ip(u_char *p, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  inaddr6[16];

    if (ngx_inet6_addr(p, len, inaddr6) == NGX_OK) {
        return NGX_OK;
    }
#endif

    return ngx_inet_addr(p, len) == INADDR_NONE ? NGX_DECLINED : NGX_OK;
}


static void
ngx_http_oneid_sentinel_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_oneid_sentinel_t  *sn = ac->data;

    if (status == REDIS_OK || sn->ac != ac) {
        return;
    }

    /* hiredis frees the context after this callback */
    sn->ac = NULL;

    ngx_http_oneid_sentinel_next(sn, ac->errstr);
}


static void
ngx_http_oneid_sentinel_disconnected(const redisAsyncContext *ac,
    int status)
{
    ngx_http_oneid_sentinel_t  *sn = ac->data;

    if (sn->ac != ac) {
        return;
    }

    sn->ac = NULL;

    ngx_http_oneid_sentinel_next(sn, status == REDIS_OK ? "connection closed"
                                                        : ac->errstr);
}


static void
ngx_http_oneid_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_oneid_sentinel_t  *sn = ev->data;

    ngx_http_oneid_sentinel_next(sn, "timed out");
}


static void
ngx_http_oneid_sentinel_drop(ngx_http_oneid_sentinel_t *sn)
{
    redisAsyncContext  *ac;

    if (sn->timer.timer_set) {
        ngx_del_timer(&sn->timer);
    }

    ac = sn->ac;

    if (ac != NULL) {
        sn->ac = NULL;
        redisAsyncFree(ac);
    }
}
