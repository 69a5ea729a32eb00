
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_IDENTITY_H_INCLUDED_
#define _NGX_HTTP_ONEID_IDENTITY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* identity fields, in the order they are stored, exported and forwarded */
enum {
    NGX_HTTP_ONEID_PIN = 0,
    NGX_HTTP_ONEID_USER_ID,
    NGX_HTTP_ONEID_FULL_NAME,
    NGX_HTTP_ONEID_FIRST_NAME,
    NGX_HTTP_ONEID_SUR_NAME,
    NGX_HTTP_ONEID_MID_NAME,
    NGX_HTTP_ONEID_USER_TYPE,
    NGX_HTTP_ONEID_AUTH_METHOD,
    NGX_HTTP_ONEID_LEGAL_TIN,
    NGX_HTTP_ONEID_LEGAL_NAME,
    NGX_HTTP_ONEID_NFIELDS
};


typedef struct {
    ngx_str_t                     variable;
    ngx_str_t                     header;
    ngx_str_t                     lowcase_header;
    /* the key in OneID's answer; NULL: found in "legal_info" instead */
    const char                   *json_key;
    /* of lowcase_header, set at configuration: pushed on every request */
    ngx_uint_t                    hash;
} ngx_http_oneid_field_t;


typedef struct {
    ngx_str_t                     field[NGX_HTTP_ONEID_NFIELDS];
    ngx_str_t                     access_token;
    time_t                        login_time;
    /* written before the "__Host-" cookie names (session format "1") */
    unsigned                      legacy:1;
} ngx_http_oneid_identity_t;


extern ngx_http_oneid_field_t  ngx_http_oneid_fields[];


#endif /* _NGX_HTTP_ONEID_IDENTITY_H_INCLUDED_ */
