
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * One asynchronous hiredis connection per worker, driven by nginx's event
 * loop.  Requests pipeline their commands on it; each command carries a
 * small heap record so that a request that goes away (client abort,
 * timeout) simply detaches from its reply.
 *
 * With Redis Sentinel, every new connection starts by asking the
 * sentinels where the master is; commands wait for the answer in a queue
 * of their own, so that a worker's first requests need not fail.
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
    ngx_http_oneid_sentinel_t       *sentinel;
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
    ngx_msec_t                       reask_at;
    ngx_event_t                      connect_timer;
    ngx_log_t                       *log;
    ngx_uint_t                       asking;
    ngx_uint_t                       announced;
    ngx_queue_t                      waiting;
};


#define NGX_HTTP_ONEID_REDIS_MAX_ARGS    8


struct ngx_http_oneid_redis_cmd_s {
    ngx_http_oneid_redis_handler_pt  handler;
    void                            *data;
    ngx_http_oneid_redis_t          *redis;

    /* the request went away; a NULL handler alone means "no reply wanted" */
    unsigned                         cancelled:1;

    /* only while waiting for the sentinels' answer */
    ngx_queue_t                      queue;
    ngx_uint_t                       argc;
    const char                      *args[NGX_HTTP_ONEID_REDIS_MAX_ARGS];
    size_t                           lens[NGX_HTTP_ONEID_REDIS_MAX_ARGS];
};


static char *ngx_http_oneid_redis_parse_address(ngx_conf_t *cf,
    ngx_http_oneid_redis_t *rd, ngx_str_t *addr);
static char *ngx_http_oneid_redis_parse_sentinels(ngx_conf_t *cf,
    ngx_http_oneid_redis_t *rd, ngx_str_t *master, ngx_str_t *password);
static ngx_int_t ngx_http_oneid_redis_connect(ngx_http_oneid_redis_t *rd,
    ngx_str_t *err);
static ngx_http_oneid_redis_cmd_t *ngx_http_oneid_redis_cmd_create(
    ngx_http_oneid_redis_t *rd, ngx_http_oneid_redis_handler_pt handler,
    void *data, size_t size, ngx_str_t *err);
static ngx_http_oneid_redis_cmd_t *ngx_http_oneid_redis_wait_master(
    ngx_http_oneid_redis_t *rd, ngx_http_oneid_redis_handler_pt handler,
    void *data, ngx_uint_t argc, ngx_str_t *argv, ngx_str_t *err);
static void ngx_http_oneid_redis_master_found(void *data, ngx_int_t rc,
    u_char *host, int port, ngx_str_t *err);
static void ngx_http_oneid_redis_master_switched(void *data, ngx_int_t rc,
    u_char *host, int port, ngx_str_t *err);
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


/*
 * oneid_redis address [password=..] [db=..] [connect_timeout=..]
 *             [timeout=..] [prefix=..]
 * oneid_redis sentinel-address ... master=name [sentinel_password=..] ...
 */

char *
ngx_http_oneid_redis_parse(ngx_conf_t *cf, ngx_http_oneid_redis_t **rdp)
{
    char                    *rv;
    ngx_str_t               *value, s, master, sentinel_password;
    ngx_uint_t               i, naddrs;
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
    ngx_str_null(&master);
    ngx_str_null(&sentinel_password);
    naddrs = 0;

    /* parameters first: "master=" decides what the addresses are */

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL)
        {
            naddrs++;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rd->password.data = value[i].data + 9;
            rd->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_password=", 18) == 0) {
            sentinel_password.data = value[i].data + 18;
            sentinel_password.len = value[i].len - 18;
            continue;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0) {
            master.data = value[i].data + 7;
            master.len = value[i].len - 7;

            if (master.len == 0) {
                goto invalid;
            }

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

    if (naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address in \"oneid_redis\"");
        return NGX_CONF_ERROR;
    }

    if (master.len) {
        rv = ngx_http_oneid_redis_parse_sentinels(cf, rd, &master,
                                                  &sentinel_password);

    } else if (naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oneid_redis\" takes one address, or the "
                           "addresses of Redis Sentinels with \"master=\"");
        return NGX_CONF_ERROR;

    } else if (sentinel_password.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel_password=\" requires \"master=\"");
        return NGX_CONF_ERROR;

    } else {
        for (i = 1; ngx_strlchr(value[i].data, value[i].data + value[i].len,
                                '=');
             i++)
        {
            /* void */
        }

        rv = ngx_http_oneid_redis_parse_address(cf, rd, &value[i]);
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rd->state = NGX_HTTP_ONEID_REDIS_DOWN;
    ngx_queue_init(&rd->waiting);

    *rdp = rd;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_oneid_redis_parse_address(ngx_conf_t *cf, ngx_http_oneid_redis_t *rd,
    ngx_str_t *addr)
{
    u_char     *p;
    ngx_url_t   u;

    rd->name = *addr;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *addr;
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

        return NGX_CONF_OK;
    }

    /*
     * hiredis resolves names with a blocking getaddrinfo(): hand it
     * the address nginx resolved once, at configuration time
     */

    rd->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (rd->host == NULL) {
        return NGX_CONF_ERROR;
    }

    p = rd->host + ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                 rd->host, NGX_SOCKADDR_STRLEN, 0);
    *p = '\0';

    rd->port = u.port;

    return NGX_CONF_OK;
}


static char *
ngx_http_oneid_redis_parse_sentinels(ngx_conf_t *cf,
    ngx_http_oneid_redis_t *rd, ngx_str_t *master, ngx_str_t *password)
{
    ngx_str_t   *value;
    ngx_uint_t   i;

    rd->sentinel = ngx_http_oneid_sentinel_create(cf, master);
    if (rd->sentinel == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL
            && ngx_http_oneid_sentinel_add(cf, rd->sentinel, &value[i])
               != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    ngx_http_oneid_sentinel_set(rd->sentinel, password,
                                rd->connect_timeout + rd->timeout);

    /* filled in by each worker from the sentinels' answer */

    rd->host = ngx_pcalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    rd->name.data = ngx_pnalloc(cf->pool,
                                NGX_SOCKADDR_STRLEN + sizeof(":65535")
                                + sizeof(" (master \"\")") + master->len);

    if (rd->host == NULL || rd->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    rd->name.len = ngx_sprintf(rd->name.data, "master \"%V\"", master)
                   - rd->name.data;

    return NGX_CONF_OK;
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
    size_t                       lens[NGX_HTTP_ONEID_REDIS_MAX_ARGS];
    const char                  *args[NGX_HTTP_ONEID_REDIS_MAX_ARGS];
    ngx_uint_t                   i;
    ngx_http_oneid_redis_cmd_t  *cmd;

    if (argc > NGX_HTTP_ONEID_REDIS_MAX_ARGS) {
        ngx_str_set(err, "too many command arguments");
        return NULL;
    }

    if (rd->log == NULL) {
        rd->log = ngx_cycle->log;
    }

    if (rd->ac == NULL) {
        if (rd->sentinel != NULL && !rd->announced) {
            return ngx_http_oneid_redis_wait_master(rd, handler, data, argc,
                                                    argv, err);
        }

        /* an announced master is tried once without asking */
        rd->announced = 0;

        if (ngx_http_oneid_redis_connect(rd, err) != NGX_OK) {
            return NULL;
        }
    }

    cmd = ngx_http_oneid_redis_cmd_create(rd, handler, data,
                                          sizeof(ngx_http_oneid_redis_cmd_t),
                                          err);
    if (cmd == NULL) {
        return NULL;
    }

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


/* size: the record, and room for copies of the arguments if they wait */

static ngx_http_oneid_redis_cmd_t *
ngx_http_oneid_redis_cmd_create(ngx_http_oneid_redis_t *rd,
    ngx_http_oneid_redis_handler_pt handler, void *data, size_t size,
    ngx_str_t *err)
{
    ngx_http_oneid_redis_cmd_t  *cmd;

    cmd = ngx_alloc(size, rd->log);
    if (cmd == NULL) {
        ngx_str_set(err, "out of memory");
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->redis = rd;
    cmd->cancelled = 0;

    return cmd;
}


void
ngx_http_oneid_redis_cancel(ngx_http_oneid_redis_cmd_t *cmd)
{
    /* the record belongs to hiredis until the reply arrives */

    cmd->handler = NULL;
    cmd->data = NULL;
    cmd->cancelled = 1;
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

    if (rd->sentinel != NULL) {
        ngx_http_oneid_sentinel_close(rd->sentinel);

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
    redisAsyncContext  *ac;

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

    if (ngx_http_oneid_redis_hook(ac, rd, rd->log,
                                  ngx_http_oneid_redis_connected,
                                  ngx_http_oneid_redis_disconnected)
        != NGX_OK)
    {
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


/*
 * Lets nginx's event loop drive a hiredis context: its socket becomes an
 * nginx connection, and data is handed to the two callbacks.
 */

ngx_int_t
ngx_http_oneid_redis_hook(redisAsyncContext *ac, void *data, ngx_log_t *log,
    redisConnectCallback *connected, redisDisconnectCallback *disconnected)
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

    if (redisAsyncSetConnectCallback(ac, connected) != REDIS_OK
        || redisAsyncSetDisconnectCallback(ac, disconnected) != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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
    u_char                      *p;
    size_t                       size;
    ngx_uint_t                   i;
    ngx_http_oneid_redis_cmd_t  *cmd;

    if (!rd->asking) {
        if (rd->failed && ngx_current_msec < rd->retry_at) {
            ngx_str_set(err, "redis is down, next connection attempt soon");
            return NULL;
        }

        if (ngx_http_oneid_sentinel_ask(rd->sentinel, rd->log,
                                        ngx_http_oneid_redis_master_found,
                                        rd)
            != NGX_AGAIN)
        {
            ngx_http_oneid_redis_went_down(rd, "cannot reach any sentinel of",
                                           "no sentinel accepts connections");
            ngx_str_set(err, "no redis sentinel reachable");
            return NULL;
        }

        rd->asking = 1;
    }

    size = sizeof(ngx_http_oneid_redis_cmd_t);

    for (i = 0; i < argc; i++) {
        size += argv[i].len;
    }

    cmd = ngx_http_oneid_redis_cmd_create(rd, handler, data, size, err);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->argc = argc;

    p = (u_char *) cmd + sizeof(ngx_http_oneid_redis_cmd_t);

    for (i = 0; i < argc; i++) {
        cmd->args[i] = (const char *) p;
        cmd->lens[i] = argv[i].len;
        p = ngx_cpymem(p, argv[i].data, argv[i].len);
    }

    ngx_queue_insert_tail(&rd->waiting, &cmd->queue);

    return cmd;
}


static void
ngx_http_oneid_redis_master_found(void *data, ngx_int_t rc, u_char *host,
    int port, ngx_str_t *err)
{
    ngx_http_oneid_redis_t  *rd = data;

    ngx_str_t   e;
    ngx_uint_t  level;

    rd->asking = 0;

    if (rd->ac != NULL) {
        /* one command connection per worker: keep the one made meanwhile */
        ngx_http_oneid_redis_send_waiting(rd, NULL);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_oneid_redis_went_down(rd, "cannot find", (char *) err->data);
        ngx_http_oneid_redis_send_waiting(rd, err);
        return;
    }

    if (port != rd->port || ngx_strcmp(host, rd->host) != 0) {
        /* the first answer is routine, a new master is worth a notice */
        level = rd->port ? NGX_LOG_NOTICE : NGX_LOG_INFO;

        ngx_log_error(level, rd->log, 0,
                      "oneid: redis sentinels give master \"%V\" at %s:%d",
                      ngx_http_oneid_sentinel_master(rd->sentinel),
                      host, port);

        ngx_http_oneid_redis_set_master(rd, host, port);
    }

    ngx_http_oneid_sentinel_watch(rd->sentinel, rd->log,
                                  ngx_http_oneid_redis_master_switched, rd);

    if (ngx_http_oneid_redis_connect(rd, &e) != NGX_OK) {
        ngx_http_oneid_redis_send_waiting(rd, &e);
        return;
    }

    ngx_http_oneid_redis_send_waiting(rd, NULL);
}


/* +switch-master: leave the old master now, it may stay writable a while */

static void
ngx_http_oneid_redis_master_switched(void *data, ngx_int_t rc, u_char *host,
    int port, ngx_str_t *err)
{
    ngx_http_oneid_redis_t  *rd = data;

    ngx_str_t  e;

    if (port == rd->port && ngx_strcmp(host, rd->host) == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "oneid: redis sentinels announce a new master \"%V\" "
                  "at %s:%d",
                  ngx_http_oneid_sentinel_master(rd->sentinel), host, port);

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

    ngx_http_oneid_sentinel_cancel(rd->sentinel);
    rd->asking = 0;

    if (ngx_http_oneid_redis_connect(rd, &e) != NGX_OK) {
        ngx_http_oneid_redis_send_waiting(rd, &e);
        return;
    }

    ngx_http_oneid_redis_send_waiting(rd, NULL);
}


static void
ngx_http_oneid_redis_set_master(ngx_http_oneid_redis_t *rd, u_char *host,
    int port)
{
    (void) ngx_cpystrn(rd->host, host, NGX_SOCKADDR_STRLEN + 1);
    rd->port = port;
    rd->name.len = ngx_sprintf(rd->name.data, "%s:%d (master \"%V\")",
                               host, port,
                               ngx_http_oneid_sentinel_master(rd->sentinel))
                   - rd->name.data;
}


/* send the commands that waited for the master, or fail them with err */

static void
ngx_http_oneid_redis_send_waiting(ngx_http_oneid_redis_t *rd, ngx_str_t *err)
{
    ngx_str_t                    none, e;
    ngx_queue_t                 *q;
    ngx_http_oneid_redis_cmd_t  *cmd;

    ngx_str_null(&none);
    ngx_str_set(&e, "redis connection is closing");

    while (!ngx_queue_empty(&rd->waiting)) {
        q = ngx_queue_head(&rd->waiting);
        ngx_queue_remove(q);

        cmd = ngx_queue_data(q, ngx_http_oneid_redis_cmd_t, queue);

        if (cmd->cancelled) {
            ngx_free(cmd);
            continue;
        }

        if (err == NULL
            && redisAsyncCommandArgv(rd->ac, ngx_http_oneid_redis_reply, cmd,
                                     (int) cmd->argc, cmd->args, cmd->lens)
               == REDIS_OK)
        {
            continue;
        }

        if (cmd->handler) {
            cmd->handler(cmd->data, NGX_ERROR, &none, err ? err : &e);
        }

        ngx_free(cmd);
    }
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

    /* what the sentinels said may already be out of date */

    if (rd->sentinel != NULL) {
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
                      &rd->name, rr->str);
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
                          &rd->name, rr->str);
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
                      "oneid: redis at %V is reachable again", &rd->name);

    } else {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "oneid: connected to redis at %V", &rd->name);
    }

    rd->failed = 0;
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

        if (rd->sentinel != NULL && first) {
            rd->retry_at = ngx_current_msec;
        }

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
    redisReply                  *rr = reply;
    ngx_int_t                    rc;
    ngx_str_t                    value, err;
    ngx_http_oneid_redis_t      *rd;
    ngx_http_oneid_redis_cmd_t  *cmd = privdata;

    rd = cmd->redis;

    /* a failover made our master a replica */

    if (rr != NULL && rr->type == REDIS_REPLY_ERROR && rd->sentinel != NULL
        && rd->ac == ac && ngx_strncmp(rr->str, "READONLY", 8) == 0)
    {
        ngx_http_oneid_redis_reset(rd, "it answers READONLY, asking the "
                                       "sentinels again");
        ngx_http_oneid_redis_reask(rd);
    }

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
