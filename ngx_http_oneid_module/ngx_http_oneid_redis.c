
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * One asynchronous hiredis connection per worker, driven by nginx's event
 * loop.  Requests pipeline their commands on it; each command carries a
 * small heap record so that a request that goes away (client abort,
 * timeout) simply detaches from its reply.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_oneid_module.h"


#define NGX_HTTP_ONEID_REDIS_DOWN        0
#define NGX_HTTP_ONEID_REDIS_CONNECTING  1
#define NGX_HTTP_ONEID_REDIS_UP          2

/* while Redis is down, one connection attempt per this interval */
#define NGX_HTTP_ONEID_REDIS_RETRY       1000


struct ngx_http_oneid_redis_s {
    ngx_str_t                        name;
    u_char                          *host;
    int                              port;
    u_char                          *path;
    ngx_str_t                        password;
    ngx_int_t                        db;
    ngx_str_t                        prefix;
    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       timeout;

    /* per worker */
    redisAsyncContext               *ac;
    ngx_uint_t                       state;
    ngx_uint_t                       failed;
    ngx_msec_t                       retry_at;
    ngx_event_t                      connect_timer;
    ngx_log_t                       *log;
};


struct ngx_http_oneid_redis_cmd_s {
    ngx_http_oneid_redis_handler_pt  handler;
    void                            *data;
    ngx_http_oneid_redis_t          *redis;
};


static ngx_int_t ngx_http_oneid_redis_connect(ngx_http_oneid_redis_t *rd,
    ngx_str_t *err);
static ngx_int_t ngx_http_oneid_redis_attach(ngx_http_oneid_redis_t *rd,
    redisAsyncContext *ac);
static void ngx_http_oneid_redis_send_login(ngx_http_oneid_redis_t *rd);
static void ngx_http_oneid_redis_login_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_oneid_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oneid_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oneid_redis_went_down(ngx_http_oneid_redis_t *rd,
    const char *what, const char *why);
static void ngx_http_oneid_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_oneid_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_oneid_redis_read_handler(ngx_event_t *ev);
static void ngx_http_oneid_redis_write_handler(ngx_event_t *ev);
static void ngx_http_oneid_redis_add_read(void *privdata);
static void ngx_http_oneid_redis_del_read(void *privdata);
static void ngx_http_oneid_redis_add_write(void *privdata);
static void ngx_http_oneid_redis_del_write(void *privdata);
static void ngx_http_oneid_redis_cleanup(void *privdata);


/* oneid_redis address [password=..] [db=..] [connect_timeout=..]
 *             [timeout=..] [prefix=..] */

char *
ngx_http_oneid_redis_parse(ngx_conf_t *cf, ngx_http_oneid_redis_t **rdp)
{
    u_char                  *p;
    ngx_str_t               *value, s;
    ngx_url_t                u;
    ngx_uint_t               i;
    ngx_http_oneid_redis_t  *rd;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_redis_t));
    if (rd == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    rd->db = 0;
    rd->connect_timeout = 1000;
    rd->timeout = 1000;
    ngx_str_set(&rd->prefix, "oneid:");
    rd->name = value[1];

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in oneid_redis \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address for oneid_redis \"%V\"", &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX) {
        rd->path = ngx_pnalloc(cf->pool, u.host.len + 1);
        if (rd->path == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_cpystrn(rd->path, u.host.data, u.host.len + 1);

    } else {
        /*
         * hiredis resolves names with a blocking getaddrinfo(): hand it
         * the address nginx resolved once, at configuration time
         */

        rd->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rd->host == NULL) {
            return NGX_CONF_ERROR;
        }

        p = rd->host + ngx_sock_ntop(u.addrs[0].sockaddr,
                                     u.addrs[0].socklen, rd->host,
                                     NGX_SOCKADDR_STRLEN, 0);
        *p = '\0';

        rd->port = u.port;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rd->password.data = value[i].data + 9;
            rd->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            rd->db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (rd->db == NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            rd->connect_timeout = ngx_parse_time(&s, 0);
            if (rd->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rd->connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rd->timeout = ngx_parse_time(&s, 0);
            if (rd->timeout == (ngx_msec_t) NGX_ERROR || rd->timeout == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rd->prefix.data = value[i].data + 7;
            rd->prefix.len = value[i].len - 7;
            continue;
        }

        goto invalid;
    }

    rd->state = NGX_HTTP_ONEID_REDIS_DOWN;

    *rdp = rd;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


ngx_str_t *
ngx_http_oneid_redis_prefix(ngx_http_oneid_redis_t *rd)
{
    return &rd->prefix;
}


ngx_msec_t
ngx_http_oneid_redis_timeout(ngx_http_oneid_redis_t *rd)
{
    return rd->timeout;
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
    size_t                       lens[8];
    const char                  *args[8];
    ngx_uint_t                   i;
    ngx_http_oneid_redis_cmd_t  *cmd;

    if (argc > 8) {
        ngx_str_set(err, "too many command arguments");
        return NULL;
    }

    if (rd->ac == NULL && ngx_http_oneid_redis_connect(rd, err) != NGX_OK) {
        return NULL;
    }

    cmd = ngx_alloc(sizeof(ngx_http_oneid_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        ngx_str_set(err, "out of memory");
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->redis = rd;

    for (i = 0; i < argc; i++) {
        args[i] = (const char *) argv[i].data;
        lens[i] = argv[i].len;
    }

    if (redisAsyncCommandArgv(rd->ac, ngx_http_oneid_redis_reply, cmd,
                              (int) argc, args, lens)
        != REDIS_OK)
    {
        ngx_free(cmd);
        ngx_str_set(err, "redis connection is closing");
        return NULL;
    }

    return cmd;
}


void
ngx_http_oneid_redis_cancel(ngx_http_oneid_redis_cmd_t *cmd)
{
    /* the record belongs to hiredis until the reply arrives */

    cmd->handler = NULL;
    cmd->data = NULL;
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

    rd->ac = NULL;
    redisAsyncFree(ac);
}


void
ngx_http_oneid_redis_close(ngx_http_oneid_redis_t *rd)
{
    redisAsyncContext  *ac;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
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
    redisAsyncContext  *ac;

    if (rd->log == NULL) {
        rd->log = ngx_cycle->log;
    }

    if (rd->failed && ngx_current_msec < rd->retry_at) {
        ngx_str_set(err, "redis is down, next connection attempt soon");
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "oneid: connecting to redis at %V", &rd->name);

    if (rd->path != NULL) {
        ac = redisAsyncConnectUnix((char *) rd->path);

    } else {
        ac = redisAsyncConnect((char *) rd->host, rd->port);
    }

    if (ac == NULL) {
        ngx_str_set(err, "out of memory");
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_http_oneid_redis_went_down(rd, "cannot connect to", ac->errstr);
        redisAsyncFree(ac);
        ngx_str_set(err, "cannot connect to redis");
        return NGX_ERROR;
    }

    if (ngx_http_oneid_redis_attach(rd, ac) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_str_set(err, "cannot register redis connection");
        return NGX_ERROR;
    }

    rd->ac = ac;
    rd->state = NGX_HTTP_ONEID_REDIS_CONNECTING;

    rd->connect_timer.handler = ngx_http_oneid_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = rd->log;
    rd->connect_timer.cancelable = 1;

    ngx_add_timer(&rd->connect_timer, rd->connect_timeout);

    /* FIFO: these run before any command queued after them */
    ngx_http_oneid_redis_send_login(rd);

    return NGX_OK;
}


static ngx_int_t
ngx_http_oneid_redis_attach(ngx_http_oneid_redis_t *rd, redisAsyncContext *ac)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_oneid_redis_read_handler;
    c->write->handler = ngx_http_oneid_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_oneid_redis_add_read;
    ac->ev.delRead = ngx_http_oneid_redis_del_read;
    ac->ev.addWrite = ngx_http_oneid_redis_add_write;
    ac->ev.delWrite = ngx_http_oneid_redis_del_write;
    ac->ev.cleanup = ngx_http_oneid_redis_cleanup;

    if (redisAsyncSetConnectCallback(ac, ngx_http_oneid_redis_connected)
        != REDIS_OK
        || redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_oneid_redis_disconnected)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_oneid_redis_send_login(ngx_http_oneid_redis_t *rd)
{
    u_char  db[NGX_INT_T_LEN];
    size_t  len;

    if (rd->password.len) {
        (void) redisAsyncCommand(rd->ac, ngx_http_oneid_redis_login_reply,
                                 rd, "AUTH %b", rd->password.data,
                                 rd->password.len);
    }

    if (rd->db) {
        len = ngx_sprintf(db, "%i", rd->db) - db;
        (void) redisAsyncCommand(rd->ac, ngx_http_oneid_redis_login_reply,
                                 rd, "SELECT %b", db, len);
    }
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
                      &rd->name, rr->str);
    }
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

    if (rd->failed) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "oneid: redis at %V is reachable again", &rd->name);

    } else {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "oneid: connected to redis at %V", &rd->name);
    }

    rd->failed = 0;
    rd->state = NGX_HTTP_ONEID_REDIS_UP;
}


static void
ngx_http_oneid_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_oneid_redis_t  *rd = ac->data;

    if (rd->ac == ac) {
        rd->ac = NULL;
    }

    if (status != REDIS_OK) {
        ngx_http_oneid_redis_went_down(rd, "lost connection to",
                                       ac->errstr);
        return;
    }

    rd->state = NGX_HTTP_ONEID_REDIS_DOWN;
}


/* log the first failure only: while down, every request would repeat it */

static void
ngx_http_oneid_redis_went_down(ngx_http_oneid_redis_t *rd, const char *what,
    const char *why)
{
    if (!rd->failed) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "oneid: %s redis at %V: %s",
                      what, &rd->name, why ? why : "unknown error");
    }

    rd->failed = 1;
    rd->state = NGX_HTTP_ONEID_REDIS_DOWN;
    rd->retry_at = ngx_current_msec + NGX_HTTP_ONEID_REDIS_RETRY;
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
    redisReply                  *rr = reply;
    ngx_int_t                    rc;
    ngx_str_t                    value, err;
    ngx_http_oneid_redis_cmd_t  *cmd = privdata;

    if (cmd->handler == NULL) {
        ngx_free(cmd);
        return;
    }

    ngx_str_null(&value);
    ngx_str_null(&err);

    if (rr == NULL) {
        rc = NGX_ERROR;
        err.data = (u_char *) (ac->err ? ac->errstr
                                       : "connection to redis closed");
        err.len = ngx_strlen(err.data);

    } else {
        switch (rr->type) {

        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
            rc = NGX_OK;
            value.data = (u_char *) rr->str;
            value.len = rr->len;
            break;

        case REDIS_REPLY_NIL:
            rc = NGX_DECLINED;
            break;

        case REDIS_REPLY_INTEGER:
            rc = rr->integer ? NGX_OK : NGX_DECLINED;
            break;

        case REDIS_REPLY_ERROR:
            rc = NGX_ERROR;
            err.data = (u_char *) rr->str;
            err.len = rr->len;
            break;

        default:
            rc = NGX_ERROR;
            ngx_str_set(&err, "unexpected reply type");
        }
    }

    cmd->handler(cmd->data, rc, &value, &err);

    ngx_free(cmd);
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
