
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Small helpers over nginx's API that several files need, each written
 * once: percent encoding with the set of bytes to keep as a parameter,
 * and adding a request or a response header across the nginx 1.22 and
 * 1.23+ header APIs.  Calls nothing else of the module.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_util.h"


#define ngx_http_oneid_is_plain(plain, c)                                     \
    ((plain)[(c) >> 5] & (1U << ((c) & 0x1f)))


/* the length of src once encoded */

size_t
ngx_http_oneid_escape_len(u_char *src, size_t len, const uint32_t *plain)
{
    size_t   n;
    u_char  *last;

    n = len;

    for (last = src + len; src < last; src++) {
        if (!ngx_http_oneid_is_plain(plain, *src)) {
            n += 2;
        }
    }

    return n;
}


u_char *
ngx_http_oneid_escape(u_char *dst, u_char *src, size_t len,
    const uint32_t *plain)
{
    u_char  *last;

    static u_char  hex[] = "0123456789ABCDEF";

    for (last = src + len; src < last; src++) {
        if (ngx_http_oneid_is_plain(plain, *src)) {
            *dst++ = *src;
            continue;
        }

        *dst++ = '%';
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src & 0xf];
    }

    return dst;
}


/* a value that needs no encoding is not copied */

ngx_int_t
ngx_http_oneid_escape_str(ngx_pool_t *pool, ngx_str_t *src,
    const uint32_t *plain, ngx_str_t *dst)
{
    size_t  len;

    len = ngx_http_oneid_escape_len(src->data, src->len, plain);

    if (len == src->len) {
        *dst = *src;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(pool, len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    dst->len = ngx_http_oneid_escape(dst->data, src->data, src->len, plain)
               - dst->data;

    return NGX_OK;
}


/*
 * A request header as nginx's parser leaves it, hash included (proxy_pass
 * looks a header up by it); the caller sets any r->headers_in pointer to
 * it.  key, lowcase_key and value must live as long as the request.
 */

ngx_table_elt_t *
ngx_http_oneid_add_header_in(ngx_http_request_t *r, ngx_str_t *key,
    u_char *lowcase_key, ngx_uint_t hash, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NULL;
    }

    h->key = *key;
    h->lowcase_key = lowcase_key;
    /* 0: not known beforehand (nginx's proxy looks headers up by it) */
    h->hash = hash ? hash : ngx_hash_key(lowcase_key, key->len);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


ngx_table_elt_t *
ngx_http_oneid_add_header_out(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return h;
}


/*
 * "1234*******890": enough for a user or an administrator to recognise,
 * too little to use; empty for a value too short to mask
 */

ngx_int_t
ngx_http_oneid_mask_pinfl(ngx_pool_t *pool, ngx_str_t *pin, ngx_str_t *out)
{
    if (pin->len < 8) {
        ngx_str_null(out);
        return NGX_OK;
    }

    out->data = ngx_pnalloc(pool, pin->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = pin->len;

    ngx_memcpy(out->data, pin->data, 4);
    ngx_memset(out->data + 4, '*', pin->len - 7);
    ngx_memcpy(out->data + pin->len - 3, pin->data + pin->len - 3, 3);

    return NGX_OK;
}
