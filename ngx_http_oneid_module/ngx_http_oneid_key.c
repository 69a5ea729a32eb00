
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The server key of the deployment (oneid_key_file) and the keys made
 * from it: one HKDF label per purpose, so that a value keyed for one use
 * can never stand for another, and the key itself is never used
 * directly.  The first oneid_key_file makes new values; the others, keys
 * from before a rotation, are still accepted (as with
 * ssl_session_ticket_key).
 *
 * Without oneid_key_file: a random key made when nginx starts, kept in
 * shared memory over reloads.  It never leaves this machine's memory, so
 * it is safe; but it is this node's alone and a restart makes a new one.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_conf.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_key.h"


/* as much key material as the derived keys have */
#define NGX_HTTP_ONEID_KEY_MIN_LEN  32

#define NGX_HTTP_ONEID_KEY_MAX      4


struct ngx_http_oneid_keys_s {
    /* ngx_str_t: the contents of the key files, the first is current */
    ngx_array_t                  secrets;

    /* without key files: the random key, in shared memory */
    ngx_shm_zone_t              *zone;

    /* per process, made at first use: [key][purpose] */
    u_char                       derived[NGX_HTTP_ONEID_KEY_MAX]
                                        [NGX_HTTP_ONEID_KEY_NPURPOSES]
                                        [NGX_HTTP_ONEID_KEY_BYTES];
    u_char                       ready[NGX_HTTP_ONEID_KEY_MAX]
                                      [NGX_HTTP_ONEID_KEY_NPURPOSES];
};


static ngx_http_oneid_keys_t *ngx_http_oneid_key_create(ngx_conf_t *cf);
static ngx_int_t ngx_http_oneid_key_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static u_char *ngx_http_oneid_key_derived(ngx_http_oneid_keys_t *keys,
    ngx_uint_t n, ngx_http_oneid_key_purpose_e purpose);


static const char  *ngx_http_oneid_key_labels[NGX_HTTP_ONEID_KEY_NPURPOSES] = {
    "ngx_http_oneid_module user index v1",
    "ngx_http_oneid_module post owner v1",
    "ngx_http_oneid_module login state v1",
    "ngx_http_oneid_module token v1",
    "ngx_http_oneid_module index details v1"
};

static ngx_str_t  ngx_http_oneid_key_zone_name =
    ngx_string("oneid_server_key");

/* the tag of the zone: nothing else may declare it */
static u_char  ngx_http_oneid_key_tag;


/* oneid_key_file file; the first one given is the current key */

char *
ngx_http_oneid_key_file(ngx_conf_t *cf, ngx_http_oneid_keys_t **keysp)
{
    char       *rv;
    ngx_str_t  *value, *secret;

    if (*keysp == NULL) {
        *keysp = ngx_http_oneid_key_create(cf);
        if (*keysp == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if ((*keysp)->secrets.nelts == NGX_HTTP_ONEID_KEY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "at most %d \"oneid_key_file\" directives: the "
                           "current key and the ones before it",
                           NGX_HTTP_ONEID_KEY_MAX);
        return NGX_CONF_ERROR;
    }

    secret = ngx_array_push(&(*keysp)->secrets);
    if (secret == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    rv = ngx_http_oneid_read_secret(cf, &value[1], "server key", 1, secret);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (secret->len < NGX_HTTP_ONEID_KEY_MIN_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "server key file \"%V\" is too short: at least "
                           "%d characters, e.g. from "
                           "\"openssl rand -base64 48\"",
                           &value[1], NGX_HTTP_ONEID_KEY_MIN_LEN);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* after the http block: without key files, the random key of this node */

char *
ngx_http_oneid_key_init(ngx_conf_t *cf, ngx_http_oneid_keys_t **keysp)
{
    ngx_http_oneid_keys_t  *keys;

    if (*keysp != NULL) {
        return NGX_CONF_OK;
    }

    keys = ngx_http_oneid_key_create(cf);
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    keys->zone = ngx_shared_memory_add(cf, &ngx_http_oneid_key_zone_name,
                                       8 * ngx_pagesize,
                                       &ngx_http_oneid_key_tag);
    if (keys->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    keys->zone->init = ngx_http_oneid_key_init_zone;

    *keysp = keys;

    return NGX_CONF_OK;
}


static ngx_http_oneid_keys_t *
ngx_http_oneid_key_create(ngx_conf_t *cf)
{
    ngx_http_oneid_keys_t  *keys;

    keys = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_keys_t));
    if (keys == NULL) {
        return NULL;
    }

    if (ngx_array_init(&keys->secrets, cf->pool, NGX_HTTP_ONEID_KEY_MAX,
                       sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    return keys;
}


static ngx_int_t
ngx_http_oneid_key_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    u_char           *key;
    ngx_slab_pool_t  *shpool;

    /* a reload keeps the key, or the sessions' index would be lost */

    if (data) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    key = ngx_slab_alloc(shpool, NGX_HTTP_ONEID_KEY_BYTES);
    if (key == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_oneid_random_bytes(key, NGX_HTTP_ONEID_KEY_BYTES)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "oneid: no randomness for the server key");
        return NGX_ERROR;
    }

    shpool->data = key;
    shm_zone->data = key;

    return NGX_OK;
}


/* whether the keys come from oneid_key_file, the same on every node */

ngx_uint_t
ngx_http_oneid_key_shared(ngx_http_oneid_keys_t *keys)
{
    return keys != NULL && keys->zone == NULL;
}


/* how many keys are accepted: the current one is number 0 */

ngx_uint_t
ngx_http_oneid_key_count(ngx_http_oneid_keys_t *keys)
{
    return keys->zone ? 1 : keys->secrets.nelts;
}


/* the HMAC-SHA256 of data under key n made for purpose, in hex */

ngx_int_t
ngx_http_oneid_key_mac_hex(ngx_http_oneid_keys_t *keys, ngx_uint_t n,
    ngx_http_oneid_key_purpose_e purpose, ngx_str_t *data, u_char *dst)
{
    u_char  *key;

    key = ngx_http_oneid_key_derived(keys, n, purpose);
    if (key == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_oneid_hmac_hex(dst, key, data->data, data->len);
}


/* the same, NGX_HTTP_ONEID_SHA256_BYTES of binary */

ngx_int_t
ngx_http_oneid_key_mac(ngx_http_oneid_keys_t *keys, ngx_uint_t n,
    ngx_http_oneid_key_purpose_e purpose, ngx_str_t *data, u_char *dst)
{
    u_char  *key;

    key = ngx_http_oneid_key_derived(keys, n, purpose);
    if (key == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_oneid_hmac(dst, key, NGX_HTTP_ONEID_KEY_BYTES,
                               data->data, data->len);
}


/* sealed as text under the current key made for purpose (crypto.c) */

ngx_int_t
ngx_http_oneid_key_seal_text(ngx_pool_t *pool, ngx_http_oneid_keys_t *keys,
    ngx_http_oneid_key_purpose_e purpose, ngx_str_t *in, ngx_str_t *out)
{
    u_char  *key;

    key = ngx_http_oneid_key_derived(keys, 0, purpose);
    if (key == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_oneid_seal_text(pool, key, in, out);
}


/*
 * Opened under whichever accepted key sealed it.  NGX_DECLINED: none did
 * (a key rotated out, another deployment's, or changed since).
 */

ngx_int_t
ngx_http_oneid_key_open_text(ngx_pool_t *pool, ngx_http_oneid_keys_t *keys,
    ngx_http_oneid_key_purpose_e purpose, ngx_str_t *in, ngx_str_t *out)
{
    u_char      *key;
    ngx_int_t    rc;
    ngx_uint_t   n;

    for (n = 0; n < ngx_http_oneid_key_count(keys); n++) {
        key = ngx_http_oneid_key_derived(keys, n, purpose);
        if (key == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_oneid_open_text(pool, key, in, out);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}


static u_char *
ngx_http_oneid_key_derived(ngx_http_oneid_keys_t *keys, ngx_uint_t n,
    ngx_http_oneid_key_purpose_e purpose)
{
    u_char     *key;
    ngx_str_t  *secrets, secret;

    if (n >= ngx_http_oneid_key_count(keys)) {
        return NULL;
    }

    key = keys->derived[n][purpose];

    if (keys->ready[n][purpose]) {
        return key;
    }

    if (keys->zone) {
        secret.data = keys->zone->data;
        secret.len = NGX_HTTP_ONEID_KEY_BYTES;

    } else {
        secrets = keys->secrets.elts;
        secret = secrets[n];
    }

    if (ngx_http_oneid_hkdf(key, secret.data, secret.len,
                            ngx_http_oneid_key_labels[purpose])
        != NGX_OK)
    {
        return NULL;
    }

    keys->ready[n][purpose] = 1;

    return key;
}
