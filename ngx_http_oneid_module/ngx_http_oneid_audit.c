
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The audit trail.  Each event is one JSON object, compact, its keys in a
 * fixed order (README, "Audit trail"):
 *
 *   time, event, pinfl, user_id, auth_method, client, session, node,
 *   [sessions], [reason]
 *
 * A file gets it as one line, in one write() to a descriptor opened with
 * O_APPEND by the master (ngx_conf_open_file(): reopened on USR1), so the
 * lines of several workers never interleave; syslog gets it as the
 * message after nginx's own syslog header.  Tokens, codes and cookies
 * never reach it: the session is named by a prefix of the hash of its
 * cookie.  A lost line never fails the request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_audit.h"


/* of the 64 hex digits: enough to tell sessions apart, useless as a key */
#define NGX_HTTP_ONEID_AUDIT_SESSION_LEN  12

#define NGX_HTTP_ONEID_AUDIT_JSON_FLAGS   (JSON_COMPACT|JSON_PRESERVE_ORDER)


struct ngx_http_oneid_audit_log_s {
    ngx_open_file_t              *file;
    ngx_syslog_peer_t            *syslog;
    /* per worker: when a lost line was last logged */
    time_t                        error_logged;
};


static json_t *ngx_http_oneid_audit_object(ngx_http_request_t *r,
    ngx_http_oneid_audit_event_t *ev);
static ngx_int_t ngx_http_oneid_audit_add(json_t *obj, const char *key,
    ngx_str_t *value, size_t max);
static json_t *ngx_http_oneid_audit_string(ngx_str_t *value);
static void ngx_http_oneid_audit_write(ngx_http_request_t *r,
    ngx_http_oneid_audit_log_t *log, const char *event, json_t *obj);
static void ngx_http_oneid_audit_lost(ngx_http_request_t *r,
    ngx_http_oneid_audit_log_t *log, const char *event, ngx_err_t err);


void
ngx_http_oneid_audit(ngx_http_request_t *r, ngx_http_oneid_audit_event_t *ev)
{
    json_t                      *obj;
    ngx_http_oneid_loc_conf_t   *olcf;
    ngx_http_oneid_audit_log_t  *log;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oneid_module);
    log = olcf->audit_log;

    if (log == NULL || log == NGX_CONF_UNSET_PTR) {
        return;
    }

    if (log->syslog != NULL && log->syslog->busy) {
        /* the cycle that configured it is being torn down */
        return;
    }

    obj = ngx_http_oneid_audit_object(r, ev);

    if (obj == NULL) {
        ngx_http_oneid_audit_lost(r, log, ev->event, 0);
        return;
    }

    ngx_http_oneid_audit_write(r, log, ev->event, obj);

    json_decref(obj);
}


static json_t *
ngx_http_oneid_audit_object(ngx_http_request_t *r,
    ngx_http_oneid_audit_event_t *ev)
{
    json_t                     *obj, *v;
    ngx_str_t                   time, event, *pinfl, *user_id, *method;
    ngx_http_oneid_identity_t  *id;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    id = ev->identity;

    if (id != NULL) {
        pinfl = &id->field[NGX_HTTP_ONEID_PIN];
        user_id = &id->field[NGX_HTTP_ONEID_USER_ID];
        method = &id->field[NGX_HTTP_ONEID_AUTH_METHOD];

    } else {
        pinfl = ev->pinfl;
        user_id = NULL;
        method = NULL;
    }

    time.data = ngx_cached_http_log_iso8601.data;
    time.len = ngx_cached_http_log_iso8601.len;

    event.data = (u_char *) ev->event;
    event.len = ngx_strlen(ev->event);

    if (ngx_http_oneid_audit_add(obj, "time", &time, 0) != NGX_OK
        || ngx_http_oneid_audit_add(obj, "event", &event, 0) != NGX_OK
        || ngx_http_oneid_audit_add(obj, "pinfl", pinfl, 0) != NGX_OK
        || ngx_http_oneid_audit_add(obj, "user_id", user_id, 0) != NGX_OK
        || ngx_http_oneid_audit_add(obj, "auth_method", method, 0) != NGX_OK
        || ngx_http_oneid_audit_add(obj, "client",
                                    &r->connection->addr_text, 0)
           != NGX_OK
        || ngx_http_oneid_audit_add(obj, "session", ev->session,
                                    NGX_HTTP_ONEID_AUDIT_SESSION_LEN)
           != NGX_OK
        || ngx_http_oneid_audit_add(obj, "node",
                                    (ngx_str_t *) &ngx_cycle->hostname, 0)
           != NGX_OK)
    {
        goto failed;
    }

    if (ev->sessions >= 0) {
        v = json_integer(ev->sessions);

        if (v == NULL || json_object_set_new(obj, "sessions", v) != 0) {
            goto failed;
        }
    }

    if (ev->reason != NULL) {
        event.data = (u_char *) ev->reason;
        event.len = ngx_strlen(ev->reason);

        if (ngx_http_oneid_audit_add(obj, "reason", &event, 0) != NGX_OK) {
            goto failed;
        }
    }

    return obj;

failed:

    json_decref(obj);

    return NULL;
}


/* a value not known (NULL or empty) is null: the key is always there */

static ngx_int_t
ngx_http_oneid_audit_add(json_t *obj, const char *key, ngx_str_t *value,
    size_t max)
{
    json_t     *v;
    ngx_str_t   s;

    if (value == NULL || value->len == 0) {
        v = json_null();

    } else {
        s = *value;

        if (max && s.len > max) {
            s.len = max;
        }

        v = ngx_http_oneid_audit_string(&s);
    }

    /* json_object_set_new() releases v when it fails */

    if (v == NULL || json_object_set_new(obj, key, v) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What OneID sent was valid UTF-8, but a record from Redis is only bytes:
 * rather than lose the event, bytes jansson refuses are shown as "?".
 */

static json_t *
ngx_http_oneid_audit_string(ngx_str_t *value)
{
    char        *copy;
    json_t      *v;
    ngx_uint_t   i;

    v = json_stringn((const char *) value->data, value->len);

    if (v != NULL) {
        return v;
    }

    copy = ngx_alloc(value->len, ngx_cycle->log);
    if (copy == NULL) {
        return NULL;
    }

    for (i = 0; i < value->len; i++) {
        copy[i] = (value->data[i] < 0x20 || value->data[i] >= 0x7f)
                  ? '?' : (char) value->data[i];
    }

    v = json_stringn(copy, value->len);

    ngx_free(copy);

    return v;
}


static void
ngx_http_oneid_audit_write(ngx_http_request_t *r,
    ngx_http_oneid_audit_log_t *log, const char *event, json_t *obj)
{
    u_char             *line, *p;
    size_t              len, size;
    ssize_t             n;
    ngx_syslog_peer_t  *peer;

    len = json_dumpb(obj, NULL, 0, NGX_HTTP_ONEID_AUDIT_JSON_FLAGS);
    if (len == 0) {
        ngx_http_oneid_audit_lost(r, log, event, 0);
        return;
    }

    peer = log->syslog;

    /* syslog: PRI and HEADER first, as the access log sizes them */

    size = len + 1;

    if (peer != NULL) {
        size += sizeof("<255>Jan 01 00:00:00 ") - 1
                + ngx_cycle->hostname.len + 1 + peer->tag.len + 2;
    }

    line = ngx_pnalloc(r->pool, size);
    if (line == NULL) {
        ngx_http_oneid_audit_lost(r, log, event, 0);
        return;
    }

    p = line;

    if (peer != NULL) {
        p = ngx_syslog_add_header(peer, line);
    }

    if (json_dumpb(obj, (char *) p, len, NGX_HTTP_ONEID_AUDIT_JSON_FLAGS)
        != len)
    {
        ngx_http_oneid_audit_lost(r, log, event, 0);
        return;
    }

    p += len;

    if (peer != NULL) {
        size = p - line;
        n = ngx_syslog_send(peer, line, size);

        if (n < 0 || (size_t) n != size) {
            ngx_http_oneid_audit_lost(r, log, event, 0);
        }

        return;
    }

    *p++ = LF;
    size = p - line;

    /* one write() of a whole line: O_APPEND keeps the workers' lines apart */

    n = ngx_write_fd(log->file->fd, line, size);

    if (n == -1) {
        ngx_http_oneid_audit_lost(r, log, event, ngx_errno);

    } else if ((size_t) n != size) {
        ngx_http_oneid_audit_lost(r, log, event, 0);
    }
}


/*
 * A full disk or a dead syslog server must not flood the error log (one
 * line per sign-in): at most one line per second and worker says so.
 */

static void
ngx_http_oneid_audit_lost(ngx_http_request_t *r,
    ngx_http_oneid_audit_log_t *log, const char *event, ngx_err_t err)
{
    time_t  now;

    now = ngx_time();

    if (log->error_logged == now) {
        return;
    }

    log->error_logged = now;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                  "oneid: audit event \"%s\" could not be written to %s "
                  "\"%V\" (such failures are logged at most once a second)",
                  event, log->syslog ? "syslog server" : "file",
                  log->syslog ? &log->syslog->server.name
                              : &log->file->name);
}


/* oneid_audit_log file | syslog:server=address[,parameter=value] | off */

char *
ngx_http_oneid_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    ngx_str_t                   *value;
    ngx_syslog_peer_t           *peer;
    ngx_http_oneid_audit_log_t  *log;

    if (olcf->audit_log != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        olcf->audit_log = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oneid_audit_log\" needs a file name, "
                           "\"syslog:server=...\" or \"off\"");
        return NGX_CONF_ERROR;
    }

    log = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_audit_log_t));
    if (log == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {

        peer = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
        if (peer == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_syslog_process_conf(cf, peer) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        /*
         * a refused datagram is reported by our own rate-limited line,
         * not by one nginx error line per event
         */

        peer->conn.log_error = NGX_ERROR_INFO;

        log->syslog = peer;

    } else {
        log->file = ngx_conf_open_file(cf->cycle, &value[1]);
        if (log->file == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    olcf->audit_log = log;

    return NGX_CONF_OK;
}
