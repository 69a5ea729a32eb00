/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * hiredis on nginx's event loop: the socket of a hiredis asynchronous
 * context becomes an nginx connection whose events call back into hiredis.
 * Every Redis connection of the module (the command connection, questions
 * to Sentinels, subscriptions) is opened here, by one helper that also
 * sends AUTH.  No knowledge of what the connections are for.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_oneid_redis_adapter.h"


static ngx_int_t ngx_http_oneid_redis_hook(redisAsyncContext *ac,
    void *data, ngx_log_t *log, const ngx_http_oneid_redis_events_t *events);
static void ngx_http_oneid_redis_read_handler(ngx_event_t *ev);
static void ngx_http_oneid_redis_write_handler(ngx_event_t *ev);
static void ngx_http_oneid_redis_add_read(void *privdata);
static void ngx_http_oneid_redis_del_read(void *privdata);
static void ngx_http_oneid_redis_add_write(void *privdata);
static void ngx_http_oneid_redis_del_write(void *privdata);
static void ngx_http_oneid_redis_cleanup(void *privdata);


/* what: the name of the address in messages, "oneid_redis" or "sentinel" */

char *
ngx_http_oneid_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *url,
    in_port_t default_port, const char *what,
    ngx_http_oneid_redis_addr_t *addr)
{
    u_char     *p;
    ngx_url_t   u;

    ngx_memzero(addr, sizeof(ngx_http_oneid_redis_addr_t));
    addr->name = *url;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *url;
    u.default_port = default_port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in %s \"%V\"", u.err, what, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address for %s \"%V\"", what, &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX) {
        addr->path = ngx_pnalloc(cf->pool, u.host.len + 1);
        if (addr->path == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_cpystrn(addr->path, u.host.data, u.host.len + 1);

        return NGX_CONF_OK;
    }

    /*
     * hiredis resolves names with a blocking getaddrinfo(): hand it
     * the address nginx resolved once, at configuration time
     */

    addr->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (addr->host == NULL) {
        return NGX_CONF_ERROR;
    }

    p = addr->host + ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                   addr->host, NGX_SOCKADDR_STRLEN, 0);
    *p = '\0';

    addr->port = u.port;

    return NGX_CONF_OK;
}


/*
 * Starts connecting to addr.  NGX_OK: *acp is connecting, with AUTH
 * queued first if there is a password, its reply going to events->auth.
 * NGX_DECLINED: hiredis gave up at once (a unix socket that is missing);
 * NGX_ERROR: no memory or no free nginx connection.  errstr, of
 * NGX_HTTP_ONEID_REDIS_ERRSTR_LEN bytes, then says why.
 */

ngx_int_t
ngx_http_oneid_redis_open(ngx_http_oneid_redis_addr_t *addr,
    ngx_str_t *password, const ngx_http_oneid_redis_events_t *events,
    void *data, ngx_log_t *log, redisAsyncContext **acp, u_char *errstr)
{
    redisAsyncContext  *ac;

    if (addr->path != NULL) {
        ac = redisAsyncConnectUnix((char *) addr->path);

    } else {
        ac = redisAsyncConnect((char *) addr->host, addr->port);
    }

    if (ac == NULL) {
        (void) ngx_cpystrn(errstr, (u_char *) "out of memory",
                           NGX_HTTP_ONEID_REDIS_ERRSTR_LEN);
        return NGX_ERROR;
    }

    if (ac->err) {
        (void) ngx_cpystrn(errstr, (u_char *) ac->errstr,
                           NGX_HTTP_ONEID_REDIS_ERRSTR_LEN);
        redisAsyncFree(ac);
        return NGX_DECLINED;
    }

    if (ngx_http_oneid_redis_hook(ac, data, log, events) != NGX_OK) {
        (void) ngx_cpystrn(errstr, (u_char *) "no connection",
                           NGX_HTTP_ONEID_REDIS_ERRSTR_LEN);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    if (password->len) {
        (void) redisAsyncCommand(ac, events->auth, data, "AUTH %b",
                                 password->data, password->len);
    }

    *acp = ac;

    return NGX_OK;
}


/*
 * A reply (NULL: none, the connection went away) as strings that point
 * into it, or into ac: NGX_OK for a string, a status or a non-zero
 * integer (value), NGX_DECLINED for nil or 0, NGX_ERROR with err.
 */

ngx_int_t
ngx_http_oneid_redis_reply_value(redisAsyncContext *ac, redisReply *rr,
    ngx_str_t *value, ngx_str_t *err)
{
    ngx_int_t  rc;

    ngx_str_null(value);
    ngx_str_null(err);

    if (rr == NULL) {
        rc = NGX_ERROR;
        err->data = (u_char *) (ac->err ? ac->errstr
                                        : "connection to redis closed");
        err->len = ngx_strlen(err->data);

    } else {
        switch (rr->type) {

        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
            rc = NGX_OK;
            value->data = (u_char *) rr->str;
            value->len = rr->len;
            break;

        case REDIS_REPLY_NIL:
            rc = NGX_DECLINED;
            break;

        case REDIS_REPLY_INTEGER:
            rc = rr->integer ? NGX_OK : NGX_DECLINED;
            break;

        case REDIS_REPLY_ERROR:
            rc = NGX_ERROR;
            err->data = (u_char *) rr->str;
            err->len = rr->len;
            break;

        default:
            rc = NGX_ERROR;
            ngx_str_set(err, "unexpected reply type");
        }
    }

    return rc;
}


static ngx_int_t
ngx_http_oneid_redis_hook(redisAsyncContext *ac, void *data, ngx_log_t *log,
    const ngx_http_oneid_redis_events_t *events)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_oneid_redis_read_handler;
    c->write->handler = ngx_http_oneid_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->data = data;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_oneid_redis_add_read;
    ac->ev.delRead = ngx_http_oneid_redis_del_read;
    ac->ev.addWrite = ngx_http_oneid_redis_add_write;
    ac->ev.delWrite = ngx_http_oneid_redis_del_write;
    ac->ev.cleanup = ngx_http_oneid_redis_cleanup;

    /* last: setting the connect callback already asks for a write event */

    if (redisAsyncSetConnectCallback(ac, events->connected) != REDIS_OK
        || redisAsyncSetDisconnectCallback(ac, events->disconnected)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_oneid_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_oneid_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


/*
 * Level-triggered on purpose: hiredis reads at most 16 KB per call, and an
 * edge-triggered event would not fire again for the rest of a large reply.
 */

static void
ngx_http_oneid_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_oneid_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_oneid_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_oneid_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_http_oneid_redis_cleanup(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac;

    ac = c->data;

    ngx_close_connection(c);

    /* nginx closed the socket: keep hiredis from closing it again */
    ac->c.fd = -1;
    ac->ev.data = NULL;
}
