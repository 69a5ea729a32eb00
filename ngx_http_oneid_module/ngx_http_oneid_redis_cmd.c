/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * One Redis command of a caller: its arguments, the caller's (handler,
 * data), and the handing over of its reply.  Each command is a small heap
 * record, so that a request that goes away (client abort, timeout) simply
 * detaches from its reply: the record belongs to hiredis until then.
 * Commands that must wait for a connection are held, with copies of their
 * arguments, in a queue of their user's.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_redis_cmd.h"
#include "ngx_http_oneid_metrics.h"


struct ngx_http_oneid_redis_cmd_s {
    ngx_http_oneid_redis_handler_pt  handler;
    void                            *data;

    /* when it was sent, for the latency histogram */
    ngx_msec_t                       sent;

    /* the request went away; a NULL handler alone means "no reply wanted" */
    unsigned                         cancelled:1;

    /* only while held */
    ngx_queue_t                      queue;

    ngx_uint_t                       argc;
    const char                      *args[NGX_HTTP_ONEID_REDIS_MAX_ARGS];
    size_t                           lens[NGX_HTTP_ONEID_REDIS_MAX_ARGS];
};


/*
 * argc: at most NGX_HTTP_ONEID_REDIS_MAX_ARGS.  copy: the arguments must
 * outlive the caller's, as the command will be held.  handler may be NULL
 * for commands nobody waits for.  A record that hiredis refused to send
 * is the caller's to ngx_free(), or to end with cmd_fail().
 */

ngx_http_oneid_redis_cmd_t *
ngx_http_oneid_redis_cmd_create(ngx_http_oneid_redis_handler_pt handler,
    void *data, ngx_uint_t argc, ngx_str_t *argv, ngx_uint_t copy,
    ngx_log_t *log, ngx_str_t *err)
{
    u_char                      *p;
    size_t                       size;
    ngx_uint_t                   i;
    ngx_http_oneid_redis_cmd_t  *cmd;

    size = sizeof(ngx_http_oneid_redis_cmd_t);

    for (i = 0; copy && i < argc; i++) {
        size += argv[i].len;
    }

    cmd = ngx_alloc(size, log);
    if (cmd == NULL) {
        ngx_str_set(err, "out of memory");
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->cancelled = 0;
    cmd->argc = argc;

    p = (u_char *) cmd + sizeof(ngx_http_oneid_redis_cmd_t);

    for (i = 0; i < argc; i++) {
        cmd->lens[i] = argv[i].len;

        if (!copy) {
            cmd->args[i] = (const char *) argv[i].data;
            continue;
        }

        cmd->args[i] = (const char *) p;
        p = ngx_cpymem(p, argv[i].data, argv[i].len);
    }

    return cmd;
}


/* fn gets the command as privdata, and is to end with cmd_done() */

ngx_int_t
ngx_http_oneid_redis_cmd_send(ngx_http_oneid_redis_cmd_t *cmd,
    redisAsyncContext *ac, redisCallbackFn *fn)
{
    if (redisAsyncCommandArgv(ac, fn, cmd, (int) cmd->argc, cmd->args,
                              cmd->lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    cmd->sent = ngx_current_msec;
    ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_REDIS_COMMANDS);

    return NGX_OK;
}


void
ngx_http_oneid_redis_cmd_hold(ngx_queue_t *held,
    ngx_http_oneid_redis_cmd_t *cmd)
{
    ngx_queue_insert_tail(held, &cmd->queue);
}


/* the first held command still wanted, out of the queue; NULL: none */

ngx_http_oneid_redis_cmd_t *
ngx_http_oneid_redis_cmd_next(ngx_queue_t *held)
{
    ngx_queue_t                 *q;
    ngx_http_oneid_redis_cmd_t  *cmd;

    while (!ngx_queue_empty(held)) {
        q = ngx_queue_head(held);
        ngx_queue_remove(q);

        cmd = ngx_queue_data(q, ngx_http_oneid_redis_cmd_t, queue);

        if (!cmd->cancelled) {
            return cmd;
        }

        ngx_free(cmd);
    }

    return NULL;
}


void
ngx_http_oneid_redis_cancel(ngx_http_oneid_redis_cmd_t *cmd)
{
    /* the record belongs to hiredis until the reply arrives */

    cmd->handler = NULL;
    cmd->data = NULL;
    cmd->cancelled = 1;
}


/* the reply, NULL if none came; the command is freed */

void
ngx_http_oneid_redis_cmd_done(ngx_http_oneid_redis_cmd_t *cmd,
    redisAsyncContext *ac, redisReply *rr)
{
    ngx_int_t  rc;
    ngx_str_t  value, err;

    if (rr == NULL) {
        /* the connection was lost or reset before the reply */
        ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_REDIS_ERROR_NO_REPLY);

    } else {
        ngx_http_oneid_metric_observe(NGX_HTTP_ONEID_H_REDIS,
                                      ngx_current_msec - cmd->sent);

        if (rr->type == REDIS_REPLY_ERROR) {
            ngx_http_oneid_metric_inc(NGX_HTTP_ONEID_M_REDIS_ERROR_REPLY);
        }
    }

    if (cmd->handler != NULL) {
        rc = ngx_http_oneid_redis_reply_value(ac, rr, &value, &err);
        cmd->handler(cmd->data, rc, &value, &err);
    }

    ngx_free(cmd);
}


/* the command was never sent; it is freed */

void
ngx_http_oneid_redis_cmd_fail(ngx_http_oneid_redis_cmd_t *cmd,
    ngx_str_t *err)
{
    ngx_str_t  none;

    if (cmd->handler != NULL) {
        ngx_str_null(&none);
        cmd->handler(cmd->data, NGX_ERROR, &none, err);
    }

    ngx_free(cmd);
}
