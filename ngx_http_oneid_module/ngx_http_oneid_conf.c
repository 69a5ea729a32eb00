
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Directive values that need more than nginx's standard slots: the checks
 * run on URLs, local paths, cookie names and names that must not be
 * empty, and the client secret read from a file at configuration time.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_conf.h"
#include "ngx_http_oneid_headers.h"


char *
ngx_http_oneid_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oneid_loc_conf_t *olcf = conf;

    ngx_str_t  *value;

    if (olcf->client_secret.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_oneid_read_secret(cf, &value[1], "client secret", 0,
                                      &olcf->client_secret);
}


/*
 * A secret kept in a file of its own (a client secret, the server key),
 * read at configuration time by the master, without the trailing newline
 * editors add.  A private one (the server key, new, so no installation
 * relies on more) is refused when other users may read it.
 */

char *
ngx_http_oneid_read_secret(ngx_conf_t *cf, ngx_str_t *file_name,
    const char *what, ngx_uint_t private, ngx_str_t *secret)
{
    u_char           *p, *last;
    ssize_t           n;
    ngx_str_t         name;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    name = *file_name;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is unreadable "
                           "or larger than 4096 bytes", what, &name);
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    if (private && (ngx_file_access(&fi) & (S_IROTH|S_IWOTH))) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is readable or writable by "
                           "any user: chmod o-rwx it", what, &name);
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, ngx_file_size(&fi) + 1);
    if (p == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, p, ngx_file_size(&fi), 0);

    ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    /* editors add a trailing newline; secrets have no spaces */

    last = p + n;

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' ' || last[-1] == '\t'))
    {
        last--;
    }

    if (last == p) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is empty", what, &name);
        return NGX_CONF_ERROR;
    }

    secret->data = p;
    secret->len = last - p;

    return NGX_CONF_OK;
}


char *
ngx_http_oneid_check_url(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *url = data;

    if ((url->len > sizeof("http://") - 1
         && ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0)
        || (url->len > sizeof("https://") - 1
            && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0))
    {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" is not an absolute http:// or https:// URL",
                       url);

    return NGX_CONF_ERROR;
}


char *
ngx_http_oneid_check_path(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *path = data;

    if (path->len > 0 && path->data[0] == '/'
        && ngx_http_oneid_safe_return_uri(path) == NGX_OK)
    {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" must be a local path starting with \"/\"",
                       path);

    return NGX_CONF_ERROR;
}


char *
ngx_http_oneid_check_cookie_name(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    u_char  *p, *last;

    last = name->data + name->len;

    for (p = name->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
        {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid cookie name \"%V\": use letters, digits, "
                           "\"_\" and \"-\"", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* an empty name would leave a hole in the sentence of every page */

char *
ngx_http_oneid_check_not_empty(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *value = data;

    ngx_str_t  *args;

    if (value->len) {
        return NGX_CONF_OK;
    }

    args = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" must not be empty",
                       &args[0]);

    return NGX_CONF_ERROR;
}


/* browsers match the prefixes without regard to case */

ngx_int_t
ngx_http_oneid_cookie_prefixed(ngx_str_t *name)
{
    return (name->len >= sizeof("__Host-") - 1
            && ngx_strncasecmp(name->data, (u_char *) "__Host-",
                               sizeof("__Host-") - 1) == 0)
           || (name->len >= sizeof("__Secure-") - 1
               && ngx_strncasecmp(name->data, (u_char *) "__Secure-",
                                  sizeof("__Secure-") - 1) == 0);
}
