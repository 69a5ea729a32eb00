
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The index of each user's sessions in Redis (ngx_http_oneid_index.c).
 */


#ifndef _NGX_HTTP_ONEID_INDEX_H_INCLUDED_
#define _NGX_HTTP_ONEID_INDEX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_oneid_module.h"


/* the EVAL of a script: at most this many arguments */
#define NGX_HTTP_ONEID_INDEX_ARGS  20


typedef struct {
    ngx_str_t                     argv[NGX_HTTP_ONEID_INDEX_ARGS];
    ngx_uint_t                    argc;
} ngx_http_oneid_index_cmd_t;


/* what a login's script knows of its flow and its browser */
typedef struct {
    /* the flow's state: marked used */
    ngx_str_t                     state;
    /* the key the tabs of the browser share, the sealed id, or empty */
    ngx_str_t                     key;
    ngx_str_t                     sealed;
    /* the hash of the session the browser had, or empty */
    ngx_str_t                     old;
} ngx_http_oneid_index_tabs_t;


ngx_int_t ngx_http_oneid_index_login(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid, ngx_str_t *record,
    ngx_http_oneid_identity_t *id, ngx_http_oneid_index_tabs_t *tabs,
    ngx_http_oneid_index_cmd_t *cmd);
ngx_int_t ngx_http_oneid_index_end_all(ngx_http_request_t *r,
    ngx_str_t *pinfl, const char *why, ngx_str_t *own_sid,
    ngx_http_oneid_index_cmd_t *cmd);
ngx_int_t ngx_http_oneid_index_list(ngx_http_request_t *r, ngx_str_t *pinfl,
    ngx_http_oneid_index_cmd_t *cmd);
void ngx_http_oneid_index_remove(ngx_http_request_t *r, ngx_str_t *pinfl,
    ngx_str_t *sid);
ngx_int_t ngx_http_oneid_index_reply(ngx_str_t *reply, ngx_uint_t *count,
    ngx_str_t *rest);
ngx_int_t ngx_http_oneid_index_next_line(ngx_str_t *rest, ngx_str_t *line);
json_t *ngx_http_oneid_index_open_details(ngx_http_request_t *r,
    const char *details);


#endif /* _NGX_HTTP_ONEID_INDEX_H_INCLUDED_ */
