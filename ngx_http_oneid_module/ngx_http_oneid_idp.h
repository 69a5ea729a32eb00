
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The OneID client: the authorize redirect and the back-channel calls
 * (ngx_http_oneid_idp.c), reading their answers
 * (ngx_http_oneid_idp_parse.c).  It knows nothing of the request that
 * called: the outcome goes back through a handler.
 */


#ifndef _NGX_HTTP_ONEID_IDP_H_INCLUDED_
#define _NGX_HTTP_ONEID_IDP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


/*
 * The largest OneID answer accepted, whatever subrequest_output_buffer_size
 * says: a representative of thousands of organisations stays well below.
 */
#define NGX_HTTP_ONEID_MAX_ANSWER_MB  1


/*
 * Called once per back-channel call.  rc: NGX_OK (OneID answered with
 * status and body), NGX_ERROR (no answer; status is the subrequest's
 * error status if any, else 0), NGX_DECLINED (the answer was larger than
 * NGX_HTTP_ONEID_MAX_ANSWER_MB).  The body lives in the request pool.
 */
typedef void (*ngx_http_oneid_idp_handler_pt)(void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body);


/* ngx_http_oneid_idp.c */
ngx_int_t ngx_http_oneid_idp_init(ngx_conf_t *cf);
ngx_int_t ngx_http_oneid_idp_call(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, const char *grant, const char *param,
    ngx_str_t *value, ngx_http_oneid_idp_handler_pt handler, void *data);
ngx_int_t ngx_http_oneid_idp_backchannel(ngx_http_request_t *r);
ngx_int_t ngx_http_oneid_authorize_location(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *state, ngx_str_t *location);

/* ngx_http_oneid_idp_parse.c: answer is what the handler was given */
ngx_int_t ngx_http_oneid_idp_parse_token(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_result_t *answer,
    ngx_str_t *token);
ngx_int_t ngx_http_oneid_idp_parse_identity(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_result_t *answer,
    ngx_http_oneid_identity_t *id, const char **reason);


#endif /* _NGX_HTTP_ONEID_IDP_H_INCLUDED_ */
