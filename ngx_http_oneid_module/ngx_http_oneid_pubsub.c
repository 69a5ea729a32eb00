
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The revocation channel, "<prefix>revoked": whoever ends a session
 * PUBLISHes its hash there (one or more 64-hex hashes, separated by single
 * spaces), and every worker of every node with oneid_session_cache drops
 * those sessions from its cache at once, instead of after the cache's ttl.
 *
 * Owns, per worker, a second, listen-only hiredis connection SUBSCRIBEd
 * to the channel (opened by the adapter, to where the command connection
 * goes: it follows the master the sentinels name), the reconnection of it
 * (lazily on the next request that would use the cache, and by a timer,
 * at most once per second while down), and the answer to the cache's
 * question "may I serve?": only while this worker's subscription is
 * confirmed.  A subscription that is lost, or made anew, may have missed
 * revocations: it invalidates every session entry in the cache
 * (ngx_http_oneid_cache_invalidate).
 *
 * Also the publishing side, a PUBLISH on the command connection.
 *
 * Calls the cache, the command connection (its accessors, PUBLISH) and
 * the adapter; none of them calls back into it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_redis_conf.h"
#include "ngx_http_oneid_pubsub.h"


#define NGX_HTTP_ONEID_PUBSUB_DOWN        0
#define NGX_HTTP_ONEID_PUBSUB_CONNECTING  1
#define NGX_HTTP_ONEID_PUBSUB_SUBSCRIBED  2

/* while down, one connection attempt per this interval */
#define NGX_HTTP_ONEID_PUBSUB_RETRY       1000

#define NGX_HTTP_ONEID_PUBSUB_CHANNEL     "revoked"


struct ngx_http_oneid_pubsub_s {
    ngx_http_oneid_redis_t          *redis;
    ngx_http_oneid_cache_t          *cache;
    ngx_str_t                        channel;

    /* per worker */
    redisAsyncContext               *ac;
    ngx_uint_t                       state;
    /* counts the confirmed subscriptions; 0 is "none" */
    ngx_uint_t                       generation;
    ngx_msec_t                       attempt_at;
    ngx_msec_t                       retry_at;
    /* while connecting: the subscription must be confirmed by then */
    ngx_msec_t                       deadline;
    ngx_event_t                      timer;
    ngx_log_t                       *log;

    /* where the subscription is: the command connection's address then */
    u_char                           host[NGX_SOCKADDR_STRLEN + 1];
    int                              port;

    /* a failure was logged: log the next success */
    unsigned                         failed:1;
    unsigned                         closed:1;
};


static void ngx_http_oneid_pubsub_check(ngx_http_oneid_pubsub_t *ps);
static ngx_int_t ngx_http_oneid_pubsub_moved(ngx_http_oneid_pubsub_t *ps,
    ngx_http_oneid_redis_addr_t *addr);
static void ngx_http_oneid_pubsub_connect(ngx_http_oneid_pubsub_t *ps,
    ngx_http_oneid_redis_addr_t *addr);
static void ngx_http_oneid_pubsub_keepalive(ngx_http_oneid_pubsub_t *ps,
    redisAsyncContext *ac);
static void ngx_http_oneid_pubsub_drop(ngx_http_oneid_pubsub_t *ps);
static void ngx_http_oneid_pubsub_failed(ngx_http_oneid_pubsub_t *ps,
    const char *what, const char *why);
static void ngx_http_oneid_pubsub_timer(ngx_event_t *ev);
static void ngx_http_oneid_pubsub_auth_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_oneid_pubsub_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_oneid_pubsub_subscribed(ngx_http_oneid_pubsub_t *ps);
static void ngx_http_oneid_pubsub_revoke(ngx_http_oneid_pubsub_t *ps,
    u_char *p, size_t len);
static ngx_int_t ngx_http_oneid_pubsub_is_hash(u_char *p, size_t len);
static void ngx_http_oneid_pubsub_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oneid_pubsub_disconnected(const redisAsyncContext *ac,
    int status);


static const ngx_http_oneid_redis_events_t  ngx_http_oneid_pubsub_ev = {
    ngx_http_oneid_pubsub_connected,
    ngx_http_oneid_pubsub_disconnected,
    ngx_http_oneid_pubsub_auth_reply
};


ngx_http_oneid_pubsub_t *
ngx_http_oneid_pubsub_create(ngx_conf_t *cf, ngx_http_oneid_redis_t *rd,
    ngx_http_oneid_cache_t *cache)
{
    ngx_str_t                *prefix;
    ngx_http_oneid_pubsub_t  *ps;

    ps = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_pubsub_t));
    if (ps == NULL) {
        return NULL;
    }

    prefix = ngx_http_oneid_redis_prefix(rd);

    ps->channel.len = prefix->len + sizeof(NGX_HTTP_ONEID_PUBSUB_CHANNEL) - 1;
    ps->channel.data = ngx_pnalloc(cf->pool, ps->channel.len);
    if (ps->channel.data == NULL) {
        return NULL;
    }

    ngx_memcpy(ngx_cpymem(ps->channel.data, prefix->data, prefix->len),
               NGX_HTTP_ONEID_PUBSUB_CHANNEL,
               sizeof(NGX_HTTP_ONEID_PUBSUB_CHANNEL) - 1);

    ps->redis = rd;
    ps->cache = cache;

    return ps;
}


/* in each worker: subscribe now if the address is known, and keep trying */

void
ngx_http_oneid_pubsub_start(ngx_http_oneid_pubsub_t *ps, ngx_log_t *log)
{
    ps->log = log;
    ps->state = NGX_HTTP_ONEID_PUBSUB_DOWN;
    ps->retry_at = ngx_current_msec;

    ps->timer.handler = ngx_http_oneid_pubsub_timer;
    ps->timer.data = ps;
    ps->timer.log = log;
    ps->timer.cancelable = 1;

    ngx_http_oneid_pubsub_timer(&ps->timer);
}


/*
 * Non-zero (the subscription's generation) when this worker is subscribed
 * to revocations where the command connection goes: the cache may answer
 * for it.  0: it asks Redis instead; a subscription is tried meanwhile.
 */

ngx_uint_t
ngx_http_oneid_pubsub_ready(ngx_http_oneid_pubsub_t *ps)
{
    if (ps == NULL || ps->log == NULL || ps->closed) {
        return 0;
    }

    ngx_http_oneid_pubsub_check(ps);

    if (ps->state != NGX_HTTP_ONEID_PUBSUB_SUBSCRIBED) {
        return 0;
    }

    return ps->generation;
}


void
ngx_http_oneid_pubsub_close(ngx_http_oneid_pubsub_t *ps)
{
    redisAsyncContext  *ac;

    ps->closed = 1;

    if (ps->timer.timer_set) {
        ngx_del_timer(&ps->timer);
    }

    ac = ps->ac;

    if (ac != NULL) {
        ps->ac = NULL;
        redisAsyncFree(ac);
    }
}


/*
 * Tell every node that a session ended (hash: the 64-hex id of it).
 * Nobody waits for the outcome: with Redis down the session could not be
 * deleted either.
 */

void
ngx_http_oneid_publish_revoked(ngx_http_oneid_redis_t *rd, ngx_str_t *hash)
{
    u_char     *p;
    ngx_str_t   argv[3], err, *prefix;

    prefix = ngx_http_oneid_redis_prefix(rd);

    ngx_str_set(&argv[0], "PUBLISH");

    argv[1].len = prefix->len + sizeof(NGX_HTTP_ONEID_PUBSUB_CHANNEL) - 1;
    argv[1].data = ngx_alloc(argv[1].len, ngx_cycle->log);
    if (argv[1].data == NULL) {
        return;
    }

    p = ngx_cpymem(argv[1].data, prefix->data, prefix->len);
    ngx_memcpy(p, NGX_HTTP_ONEID_PUBSUB_CHANNEL,
               sizeof(NGX_HTTP_ONEID_PUBSUB_CHANNEL) - 1);

    argv[2] = *hash;

    /* the command is formatted, or copied, before this returns */

    if (ngx_http_oneid_redis_command(rd, NULL, NULL, 3, argv, &err) == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "oneid: revocation not published: %V", &err);
    }

    ngx_free(argv[1].data);
}


/*
 * Follow the command connection: subscribe where it goes, move along with
 * it after a failover, give up on a subscription not confirmed in time,
 * and reconnect when due.
 */

static void
ngx_http_oneid_pubsub_check(ngx_http_oneid_pubsub_t *ps)
{
    ngx_http_oneid_redis_addr_t  *addr;
    ngx_http_oneid_redis_conf_t  *rcf;

    addr = ngx_http_oneid_redis_address(ps->redis);

    if (ps->state != NGX_HTTP_ONEID_PUBSUB_DOWN) {

        if (ngx_http_oneid_pubsub_moved(ps, addr)) {
            ngx_log_error(NGX_LOG_NOTICE, ps->log, 0,
                          "oneid: redis master moved to %V, subscribing "
                          "to \"%V\" there", &addr->name, &ps->channel);

            ngx_http_oneid_pubsub_drop(ps);

            /* a move is no failure: go at once */
            ps->retry_at = ngx_current_msec;

        } else if (ps->state == NGX_HTTP_ONEID_PUBSUB_CONNECTING
                   && (ngx_msec_int_t) (ngx_current_msec - ps->deadline) >= 0)
        {
            ngx_http_oneid_pubsub_drop(ps);
            ngx_http_oneid_pubsub_failed(ps, "no subscription confirmed by",
                                         "timed out");
            return;

        } else {
            return;
        }
    }

    if (addr->path == NULL && addr->port == 0) {
        /* the sentinels have not named the master yet */
        return;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - ps->retry_at) < 0) {
        return;
    }

    rcf = ngx_http_oneid_redis_get_conf(ps->redis);

    ps->attempt_at = ngx_current_msec;
    ps->deadline = ngx_current_msec + rcf->connect_timeout + rcf->timeout;

    ngx_http_oneid_pubsub_connect(ps, addr);
}


static ngx_int_t
ngx_http_oneid_pubsub_moved(ngx_http_oneid_pubsub_t *ps,
    ngx_http_oneid_redis_addr_t *addr)
{
    if (addr->host == NULL) {
        /* a unix socket, or an address given once: never moves */
        return 0;
    }

    return addr->port != ps->port
           || ngx_strcmp(addr->host, ps->host) != 0;
}


static void
ngx_http_oneid_pubsub_connect(ngx_http_oneid_pubsub_t *ps,
    ngx_http_oneid_redis_addr_t *addr)
{
    u_char                        errstr[NGX_HTTP_ONEID_REDIS_ERRSTR_LEN];
    ngx_int_t                     rc;
    redisAsyncContext            *ac;
    ngx_http_oneid_redis_conf_t  *rcf;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ps->log, 0,
                   "oneid: subscribing to \"%V\" at redis %V",
                   &ps->channel, &addr->name);

    rcf = ngx_http_oneid_redis_get_conf(ps->redis);

    /* pub/sub knows no databases: no SELECT */

    rc = ngx_http_oneid_redis_open(addr, &rcf->password,
                                   &ngx_http_oneid_pubsub_ev, ps, ps->log,
                                   &ac, errstr);

    if (rc != NGX_OK) {
        ngx_http_oneid_pubsub_failed(ps, "cannot connect to", (char *) errstr);
        return;
    }

    if (addr->path == NULL) {
        ngx_http_oneid_pubsub_keepalive(ps, ac);
    }

    ps->ac = ac;
    ps->state = NGX_HTTP_ONEID_PUBSUB_CONNECTING;

    if (addr->host != NULL) {
        (void) ngx_cpystrn(ps->host, addr->host, NGX_SOCKADDR_STRLEN + 1);
        ps->port = addr->port;
    }

    (void) redisAsyncCommand(ac, ngx_http_oneid_pubsub_reply, ps,
                             "SUBSCRIBE %b",
                             ps->channel.data, ps->channel.len);
}


/*
 * A subscription only listens: a peer gone without a word (a host
 * powered off, a firewall that forgot the connection) would be taken for
 * a quiet channel, and revoked sessions served from the cache.  TCP
 * keepalive probes every second notice it within about 3 seconds.
 */

static void
ngx_http_oneid_pubsub_keepalive(ngx_http_oneid_pubsub_t *ps,
    redisAsyncContext *ac)
{
    int  on, idle, interval, count;

    on = 1;
    idle = 1;
    interval = 1;
    count = 2;

    if (setsockopt(ac->c.fd, SOL_SOCKET, SO_KEEPALIVE, (const void *) &on,
                   sizeof(int))
        == -1)
    {
        ngx_log_error(NGX_LOG_WARN, ps->log, ngx_socket_errno,
                      "oneid: setsockopt(SO_KEEPALIVE) failed for the "
                      "subscription to \"%V\"", &ps->channel);
        return;
    }

#if (NGX_HAVE_KEEPALIVE_TUNABLE)

    if (setsockopt(ac->c.fd, IPPROTO_TCP, TCP_KEEPIDLE,
                   (const void *) &idle, sizeof(int)) == -1
        || setsockopt(ac->c.fd, IPPROTO_TCP, TCP_KEEPINTVL,
                      (const void *) &interval, sizeof(int)) == -1
        || setsockopt(ac->c.fd, IPPROTO_TCP, TCP_KEEPCNT,
                      (const void *) &count, sizeof(int)) == -1)
    {
        ngx_log_error(NGX_LOG_WARN, ps->log, ngx_socket_errno,
                      "oneid: cannot shorten TCP keepalive for the "
                      "subscription to \"%V\"", &ps->channel);
    }

#endif
}


/*
 * Close the subscription.  Revocations published from now until a new one
 * is confirmed are missed: no entry stored so far may be served after.
 */

static void
ngx_http_oneid_pubsub_drop(ngx_http_oneid_pubsub_t *ps)
{
    redisAsyncContext  *ac;

    if (ps->state == NGX_HTTP_ONEID_PUBSUB_SUBSCRIBED) {
        ngx_http_oneid_cache_invalidate(ps->cache);
    }

    ps->state = NGX_HTTP_ONEID_PUBSUB_DOWN;

    ac = ps->ac;

    if (ac != NULL) {
        ps->ac = NULL;
        redisAsyncFree(ac);
    }
}


/* log the first failure only: while down, each retry would repeat it */

static void
ngx_http_oneid_pubsub_failed(ngx_http_oneid_pubsub_t *ps, const char *what,
    const char *why)
{
    if (!ps->failed) {
        ngx_log_error(NGX_LOG_WARN, ps->log, 0,
                      "oneid: %s redis at %V for \"%V\": %s; the session "
                      "cache is bypassed until subscribed again",
                      what, &ngx_http_oneid_redis_address(ps->redis)->name,
                      &ps->channel, why ? why : "unknown error");
    }

    ps->failed = 1;

    /* at most one attempt per interval, even if each one gets through */
    ps->retry_at = ps->attempt_at + NGX_HTTP_ONEID_PUBSUB_RETRY;
}


static void
ngx_http_oneid_pubsub_timer(ngx_event_t *ev)
{
    ngx_http_oneid_pubsub_t  *ps = ev->data;

    if (ps->closed || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_http_oneid_pubsub_check(ps);

    ngx_add_timer(ev, NGX_HTTP_ONEID_PUBSUB_RETRY);
}


static void
ngx_http_oneid_pubsub_auth_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply               *rr = reply;
    ngx_http_oneid_pubsub_t  *ps = privdata;

    if (rr != NULL && rr->type == REDIS_REPLY_ERROR && ps->ac == ac
        && !ps->failed)
    {
        ngx_log_error(NGX_LOG_ERR, ps->log, 0,
                      "oneid: redis at %V refused AUTH for \"%V\": %s",
                      &ngx_http_oneid_redis_address(ps->redis)->name,
                      &ps->channel, rr->str);
    }
}


/* ["subscribe", channel, n] once, then ["message", channel, payload] */

static void
ngx_http_oneid_pubsub_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply               *rr = reply;
    ngx_http_oneid_pubsub_t  *ps = privdata;

    redisReply  **el;

    if (rr == NULL || ps->ac != ac || rr->type != REDIS_REPLY_ARRAY
        || rr->elements != 3)
    {
        return;
    }

    el = rr->element;

    if (el[0]->type != REDIS_REPLY_STRING) {
        return;
    }

    if (ngx_strcmp(el[0]->str, "subscribe") == 0) {
        ngx_http_oneid_pubsub_subscribed(ps);
        return;
    }

    if (ngx_strcmp(el[0]->str, "message") == 0
        && el[2]->type == REDIS_REPLY_STRING)
    {
        ngx_http_oneid_pubsub_revoke(ps, (u_char *) el[2]->str, el[2]->len);
    }
}


static void
ngx_http_oneid_pubsub_subscribed(ngx_http_oneid_pubsub_t *ps)
{
    ngx_uint_t  level;

    if (ps->state == NGX_HTTP_ONEID_PUBSUB_SUBSCRIBED) {
        return;
    }

    ps->state = NGX_HTTP_ONEID_PUBSUB_SUBSCRIBED;

    if (++ps->generation == 0) {
        ps->generation = 1;
    }

    /* what was published before now did not reach this worker */

    ngx_http_oneid_cache_invalidate(ps->cache);

    level = ps->failed ? NGX_LOG_NOTICE : NGX_LOG_INFO;

    ngx_log_error(level, ps->log, 0,
                  "oneid: subscribed to \"%V\" at redis %V%s",
                  &ps->channel,
                  &ngx_http_oneid_redis_address(ps->redis)->name,
                  ps->failed ? " again, the session cache is used again"
                             : "");

    ps->failed = 0;
}


/* "<hash> <hash> ...": each a 64-hex session id (its SHA-256) */

static void
ngx_http_oneid_pubsub_revoke(ngx_http_oneid_pubsub_t *ps, u_char *p,
    size_t len)
{
    u_char      *last, *hash;
    ngx_uint_t   revoked, ignored;
    ngx_msec_t   hold;

    hold = ngx_http_oneid_redis_timeout(ps->redis);

    last = p + len;
    revoked = 0;
    ignored = 0;

    for ( ;; ) {
        hash = p;

        while (p < last && *p != ' ') {
            p++;
        }

        /* what is not a hash does not keep the others from being revoked */

        if (ngx_http_oneid_pubsub_is_hash(hash, p - hash)) {
            ngx_http_oneid_cache_revoke(ps->cache, hash, hold);
            revoked++;

        } else {
            ignored++;
        }

        if (p == last) {
            break;
        }

        /* the space */
        p++;
    }

    if (ignored) {
        ngx_log_error(NGX_LOG_INFO, ps->log, 0,
                      "oneid: %ui words that are not session hashes "
                      "ignored in a message of %uz bytes on \"%V\"",
                      ignored, len, &ps->channel);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ps->log, 0,
                   "oneid: %ui sessions revoked by a message", revoked);
}


static ngx_int_t
ngx_http_oneid_pubsub_is_hash(u_char *p, size_t len)
{
    u_char  *last;

    if (len != NGX_HTTP_ONEID_SHA256_HEX_LEN) {
        return 0;
    }

    for (last = p + len; p < last; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_oneid_pubsub_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_oneid_pubsub_t  *ps = ac->data;

    if (status == REDIS_OK || ps->ac != ac) {
        return;
    }

    /* hiredis frees the context after this callback */
    ps->ac = NULL;

    ngx_http_oneid_pubsub_drop(ps);
    ngx_http_oneid_pubsub_failed(ps, "cannot connect to", ac->errstr);
}


static void
ngx_http_oneid_pubsub_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_oneid_pubsub_t  *ps = ac->data;

    if (ps->ac != ac) {
        return;
    }

    ps->ac = NULL;

    ngx_http_oneid_pubsub_drop(ps);
    ngx_http_oneid_pubsub_failed(ps, "lost the subscription to",
                                 status == REDIS_OK ? "connection closed"
                                                    : ac->errstr);
}
