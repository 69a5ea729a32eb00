
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The state of a login in flight, kept in a sealed cookie of its own by
 * the browser that started it (ngx_http_oneid_flow.c).
 */


#ifndef _NGX_HTTP_ONEID_FLOW_H_INCLUDED_
#define _NGX_HTTP_ONEID_FLOW_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


/* a login's state: 128 random bits, base64url; OneID's limit is unknown */
#define NGX_HTTP_ONEID_STATE_BYTES    16
#define NGX_HTTP_ONEID_STATE_LEN      22

/* the first character of the state of a restarted flow */
#define NGX_HTTP_ONEID_STATE_RESTARTED  '~'

/* how much of the state names the flow's cookie */
#define NGX_HTTP_ONEID_FLOW_ID_LEN    8

/* the flows a browser keeps at once, and their cookies' bytes in all */
#define NGX_HTTP_ONEID_FLOW_MAX       4
#define NGX_HTTP_ONEID_FLOW_BUDGET    2560

/* a longer return URI loses its query, then becomes "/" */
#define NGX_HTTP_ONEID_FLOW_URI_MAX   512

/* how long the tabs of a browser share the session their logins made */
#define NGX_HTTP_ONEID_TABS_TTL       60


typedef struct {
    ngx_str_t                     return_uri;
    time_t                        issued;
    /* a cookie of this flow was sent, whether or not it verified */
    unsigned                      found:1;
    /* older than oneid_state_timeout */
    unsigned                      expired:1;
    /* the flow is itself the restart of an expired one */
    unsigned                      restarted:1;
} ngx_http_oneid_flow_t;


ngx_int_t ngx_http_oneid_flow_state(ngx_http_request_t *r, ngx_str_t *state,
    ngx_uint_t restarted);
ngx_int_t ngx_http_oneid_flow_is_state(ngx_str_t *state);
ngx_int_t ngx_http_oneid_flow_start(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *uri,
    ngx_uint_t restarted);
ngx_int_t ngx_http_oneid_flow_check(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state,
    ngx_http_oneid_flow_t *flow);
ngx_int_t ngx_http_oneid_flow_end(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state);
ngx_int_t ngx_http_oneid_flow_tabs(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *pinfl, ngx_str_t *sid,
    ngx_str_t *key, ngx_str_t *sealed);
ngx_int_t ngx_http_oneid_flow_unseal(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *pinfl, ngx_str_t *sealed,
    ngx_str_t *sid);


#endif /* _NGX_HTTP_ONEID_FLOW_H_INCLUDED_ */
