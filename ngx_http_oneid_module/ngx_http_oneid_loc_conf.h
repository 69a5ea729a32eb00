
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The location configuration of the module (ngx_http_oneid_loc_conf.c).
 */


#ifndef _NGX_HTTP_ONEID_LOC_CONF_H_INCLUDED_
#define _NGX_HTTP_ONEID_LOC_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


void *ngx_http_oneid_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_oneid_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


#endif /* _NGX_HTTP_ONEID_LOC_CONF_H_INCLUDED_ */
