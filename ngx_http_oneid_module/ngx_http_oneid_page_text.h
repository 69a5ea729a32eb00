
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The texts of the pages (ngx_http_oneid_page_text.c).
 */


#ifndef _NGX_HTTP_ONEID_PAGE_TEXT_H_INCLUDED_
#define _NGX_HTTP_ONEID_PAGE_TEXT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_page.h"


#define NGX_HTTP_ONEID_LANG_UZ  0
#define NGX_HTTP_ONEID_LANG_RU  1
#define NGX_HTTP_ONEID_LANG_EN  2
#define NGX_HTTP_ONEID_NLANGS   3


typedef struct {
    ngx_uint_t   status;
    const char  *code;
    ngx_uint_t   help;
    const char  *title[NGX_HTTP_ONEID_NLANGS];
    const char  *message[NGX_HTTP_ONEID_NLANGS];
    /* a button that posts to this location again */
    const char  *button[NGX_HTTP_ONEID_NLANGS];
    /* oneid_require: the kind of rule not met, "required" in JSON */
    const char  *required;
} ngx_http_oneid_page_t;


extern ngx_http_oneid_page_t  ngx_http_oneid_pages[NGX_HTTP_ONEID_PAGE_LAST];
extern const char  *ngx_http_oneid_lang_tag[NGX_HTTP_ONEID_NLANGS];
extern const char  *ngx_http_oneid_help[NGX_HTTP_ONEID_NLANGS];
extern const char  *ngx_http_oneid_warning[NGX_HTTP_ONEID_NLANGS];
extern const char  *ngx_http_oneid_home[NGX_HTTP_ONEID_NLANGS];


#endif /* _NGX_HTTP_ONEID_PAGE_TEXT_H_INCLUDED_ */
