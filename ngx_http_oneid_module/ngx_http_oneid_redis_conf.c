/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The "oneid_redis" directive: its arguments become a
 * ngx_http_oneid_redis_conf_t, with the Sentinels when "master=" is given,
 * from which the per-worker command connection is made.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_redis_conf.h"


static char *ngx_http_oneid_redis_parse_sentinels(ngx_conf_t *cf,
    ngx_http_oneid_redis_conf_t *rcf, ngx_str_t *master,
    ngx_str_t *password);


/*
 * oneid_redis address [password=..] [db=..] [connect_timeout=..]
 *             [timeout=..] [prefix=..]
 * oneid_redis sentinel-address ... master=name [sentinel_password=..] ...
 */

char *
ngx_http_oneid_redis_parse(ngx_conf_t *cf, ngx_http_oneid_redis_t **rdp)
{
    char                         *rv;
    ngx_str_t                    *value, s, master, sentinel_password;
    ngx_uint_t                    i, naddrs;
    ngx_http_oneid_redis_t       *rd;
    ngx_http_oneid_redis_conf_t   rcf;

    ngx_memzero(&rcf, sizeof(ngx_http_oneid_redis_conf_t));

    value = cf->args->elts;

    rcf.db = 0;
    rcf.connect_timeout = 1000;
    rcf.timeout = 1000;
    ngx_str_set(&rcf.prefix, "oneid:");
    ngx_str_null(&master);
    ngx_str_null(&sentinel_password);
    naddrs = 0;

    /* parameters first: "master=" decides what the addresses are */

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL)
        {
            naddrs++;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rcf.password.data = value[i].data + 9;
            rcf.password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_password=", 18) == 0) {
            sentinel_password.data = value[i].data + 18;
            sentinel_password.len = value[i].len - 18;
            continue;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0) {
            master.data = value[i].data + 7;
            master.len = value[i].len - 7;

            if (master.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            rcf.db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (rcf.db == NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            rcf.connect_timeout = ngx_parse_time(&s, 0);
            if (rcf.connect_timeout == (ngx_msec_t) NGX_ERROR
                || rcf.connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rcf.timeout = ngx_parse_time(&s, 0);
            if (rcf.timeout == (ngx_msec_t) NGX_ERROR || rcf.timeout == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rcf.prefix.data = value[i].data + 7;
            rcf.prefix.len = value[i].len - 7;
            continue;
        }

        goto invalid;
    }

    if (naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address in \"oneid_redis\"");
        return NGX_CONF_ERROR;
    }

    if (master.len) {
        rv = ngx_http_oneid_redis_parse_sentinels(cf, &rcf, &master,
                                                  &sentinel_password);

    } else if (naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oneid_redis\" takes one address, or the "
                           "addresses of Redis Sentinels with \"master=\"");
        return NGX_CONF_ERROR;

    } else if (sentinel_password.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel_password=\" requires \"master=\"");
        return NGX_CONF_ERROR;

    } else {
        for (i = 1; ngx_strlchr(value[i].data, value[i].data + value[i].len,
                                '=');
             i++)
        {
            /* void */
        }

        rv = ngx_http_oneid_redis_parse_addr(cf, &value[i], 6379,
                                             "oneid_redis", &rcf.addr);
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rd = ngx_http_oneid_redis_create(cf, &rcf);
    if (rd == NULL) {
        return NGX_CONF_ERROR;
    }

    *rdp = rd;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_oneid_redis_parse_sentinels(ngx_conf_t *cf,
    ngx_http_oneid_redis_conf_t *rcf, ngx_str_t *master, ngx_str_t *password)
{
    ngx_str_t   *value;
    ngx_uint_t   i;

    /* a question to a sentinel may take a connection and a command */

    rcf->sentinel = ngx_http_oneid_sentinel_create(cf, master, password,
                                                  rcf->connect_timeout
                                                  + rcf->timeout);
    if (rcf->sentinel == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL
            && ngx_http_oneid_sentinel_add(cf, rcf->sentinel, &value[i])
               != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
