
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_SESSION_H_INCLUDED_
#define _NGX_HTTP_ONEID_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


/*
 * Why a session was ended by someone else than its browser: it is left
 * in Redis for its idle timeout as a marker "E\n<why>", so that its
 * browser can be told (ngx_http_oneid_index.c writes them)
 */
#define NGX_HTTP_ONEID_ENDED_NOT         0
#define NGX_HTTP_ONEID_ENDED_EVICTED     1   /* oneid_session_max_per_user */
#define NGX_HTTP_ONEID_ENDED_EVERYWHERE  2   /* "oneid_logout all" */
#define NGX_HTTP_ONEID_ENDED_REVOKED     3   /* oneid_admin */


ngx_int_t ngx_http_oneid_session_key(ngx_pool_t *pool,
    ngx_http_oneid_redis_t *rd, const char *kind, ngx_str_t *id,
    ngx_str_t *key);
ngx_int_t ngx_http_oneid_session_encode(ngx_pool_t *pool, ngx_str_t *sid,
    ngx_http_oneid_identity_t *id, ngx_str_t *out);
ngx_int_t ngx_http_oneid_session_decode(ngx_pool_t *pool, ngx_str_t *sid,
    ngx_str_t *in, ngx_http_oneid_identity_t *id);
ngx_int_t ngx_http_oneid_session_encode_token(ngx_pool_t *pool,
    ngx_http_oneid_keys_t *keys, ngx_str_t *sid, ngx_str_t *token,
    ngx_str_t *out);
ngx_int_t ngx_http_oneid_session_decode_token(ngx_pool_t *pool,
    ngx_http_oneid_keys_t *keys, ngx_str_t *sid, ngx_str_t *in,
    ngx_str_t *token);
ngx_uint_t ngx_http_oneid_session_ended(ngx_str_t *in);
ngx_int_t ngx_http_oneid_session_hash(ngx_pool_t *pool, ngx_str_t *sid,
    ngx_str_t *hash);


#endif /* _NGX_HTTP_ONEID_SESSION_H_INCLUDED_ */
