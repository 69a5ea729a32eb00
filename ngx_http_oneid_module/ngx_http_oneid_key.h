
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The server key and the keys made from it, one per purpose
 * (ngx_http_oneid_key.c).
 */


#ifndef _NGX_HTTP_ONEID_KEY_H_INCLUDED_
#define _NGX_HTTP_ONEID_KEY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_module.h"


/* what a derived key is for: each has its own HKDF label */
typedef enum {
    NGX_HTTP_ONEID_KEY_USER_INDEX = 0,
    /* who a form kept across a login belongs to (oneid_preserve_post) */
    NGX_HTTP_ONEID_KEY_POST_OWNER,
    NGX_HTTP_ONEID_KEY_LOGIN_STATE,
    /* a OneID token kept for a session, for ending it without its cookie */
    NGX_HTTP_ONEID_KEY_TOKEN,
    /* what an index entry says of a session's computer */
    NGX_HTTP_ONEID_KEY_DETAILS,
    NGX_HTTP_ONEID_KEY_NPURPOSES
} ngx_http_oneid_key_purpose_e;


char *ngx_http_oneid_key_file(ngx_conf_t *cf, ngx_http_oneid_keys_t **keysp);
char *ngx_http_oneid_key_init(ngx_conf_t *cf, ngx_http_oneid_keys_t **keysp);
ngx_uint_t ngx_http_oneid_key_shared(ngx_http_oneid_keys_t *keys);
ngx_uint_t ngx_http_oneid_key_count(ngx_http_oneid_keys_t *keys);
ngx_int_t ngx_http_oneid_key_mac_hex(ngx_http_oneid_keys_t *keys,
    ngx_uint_t n, ngx_http_oneid_key_purpose_e purpose, ngx_str_t *data,
    u_char *dst);
ngx_int_t ngx_http_oneid_key_mac(ngx_http_oneid_keys_t *keys, ngx_uint_t n,
    ngx_http_oneid_key_purpose_e purpose, ngx_str_t *data, u_char *dst);


ngx_int_t ngx_http_oneid_key_seal_text(ngx_pool_t *pool,
    ngx_http_oneid_keys_t *keys, ngx_http_oneid_key_purpose_e purpose,
    ngx_str_t *in, ngx_str_t *out);
ngx_int_t ngx_http_oneid_key_open_text(ngx_pool_t *pool,
    ngx_http_oneid_keys_t *keys, ngx_http_oneid_key_purpose_e purpose,
    ngx_str_t *in, ngx_str_t *out);


#endif /* _NGX_HTTP_ONEID_KEY_H_INCLUDED_ */
