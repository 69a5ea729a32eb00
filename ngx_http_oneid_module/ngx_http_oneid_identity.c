
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The identity fields: for each, in one row, its variable, the request
 * header it is forwarded in and its key in OneID's answer.  Everything
 * that walks the fields (variables, headers, the OneID parser, the
 * session record) walks this table.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_identity.h"


#define ngx_http_oneid_field(var, hdr, lowcase, key)                          \
    { ngx_string(var), ngx_string(hdr), ngx_string(lowcase), key, 0 }

ngx_http_oneid_field_t  ngx_http_oneid_fields[] = {
    ngx_http_oneid_field("oneid_pin", "X-OneID-Pin", "x-oneid-pin", "pin"),
    ngx_http_oneid_field("oneid_user_id", "X-OneID-User-Id",
                         "x-oneid-user-id", "user_id"),
    ngx_http_oneid_field("oneid_full_name", "X-OneID-Full-Name",
                         "x-oneid-full-name", "full_name"),
    ngx_http_oneid_field("oneid_first_name", "X-OneID-First-Name",
                         "x-oneid-first-name", "first_name"),
    ngx_http_oneid_field("oneid_sur_name", "X-OneID-Sur-Name",
                         "x-oneid-sur-name", "sur_name"),
    ngx_http_oneid_field("oneid_mid_name", "X-OneID-Mid-Name",
                         "x-oneid-mid-name", "mid_name"),
    ngx_http_oneid_field("oneid_user_type", "X-OneID-User-Type",
                         "x-oneid-user-type", "user_type"),
    ngx_http_oneid_field("oneid_auth_method", "X-OneID-Auth-Method",
                         "x-oneid-auth-method", "auth_method"),
    ngx_http_oneid_field("oneid_legal_tin", "X-OneID-Legal-Tin",
                         "x-oneid-legal-tin", NULL),
    ngx_http_oneid_field("oneid_legal_name", "X-OneID-Legal-Name",
                         "x-oneid-legal-name", NULL)
};

