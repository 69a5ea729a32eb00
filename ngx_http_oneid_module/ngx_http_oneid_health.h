
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The oneid_health location (ngx_http_oneid_health.c).
 */


#ifndef _NGX_HTTP_ONEID_HEALTH_H_INCLUDED_
#define _NGX_HTTP_ONEID_HEALTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_http_oneid_health_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_ONEID_HEALTH_H_INCLUDED_ */
