
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The audit trail (oneid_audit_log): one JSON object per line for each
 * login, logout, revoke, eviction and refused login, to a file or syslog.
 */


#ifndef _NGX_HTTP_ONEID_AUDIT_H_INCLUDED_
#define _NGX_HTTP_ONEID_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_identity.h"


typedef struct {
    const char                 *event;     /* "login", "logout", "logout_all",
                                              "revoke", "evicted",
                                              "login_refused", ... */
    ngx_http_oneid_identity_t  *identity;  /* the user, or NULL */
    ngx_str_t                  *pinfl;     /* when identity is NULL (an
                                              admin revoke), or NULL */
    ngx_str_t                  *session;   /* hex SHA-256 of the session id,
                                              or NULL; logged shortened */
    ngx_int_t                   sessions;  /* how many sessions the event
                                              ended, -1: not applicable */
    const char                 *reason;    /* why (login refused, evicted),
                                              or NULL */
} ngx_http_oneid_audit_event_t;


/*
 * Does nothing when no oneid_audit_log applies to r's location; the
 * client address, the time and the node are added here.
 */
void ngx_http_oneid_audit(ngx_http_request_t *r,
    ngx_http_oneid_audit_event_t *ev);


/* the oneid_audit_log directive */
char *ngx_http_oneid_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_ONEID_AUDIT_H_INCLUDED_ */
