
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#ifndef _NGX_HTTP_ONEID_CONF_H_INCLUDED_
#define _NGX_HTTP_ONEID_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_http_oneid_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_oneid_read_secret(ngx_conf_t *cf, ngx_str_t *file_name,
    const char *what, ngx_uint_t private, ngx_str_t *secret);

/* ngx_conf_post_handler_pt */
char *ngx_http_oneid_check_url(ngx_conf_t *cf, void *post, void *data);
char *ngx_http_oneid_check_path(ngx_conf_t *cf, void *post, void *data);
char *ngx_http_oneid_check_cookie_name(ngx_conf_t *cf, void *post,
    void *data);
char *ngx_http_oneid_check_not_empty(ngx_conf_t *cf, void *post,
    void *data);

ngx_int_t ngx_http_oneid_cookie_prefixed(ngx_str_t *name);


#endif /* _NGX_HTTP_ONEID_CONF_H_INCLUDED_ */
