
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * An optional shared-memory copy of recently seen sessions, so that most
 * authenticated requests are answered without waiting for Redis.  Redis
 * stays the source of truth: an entry lives only "ttl", and the idle
 * timeout in Redis is still pushed forward, at most once per "refresh" per
 * session.  A session ended on another node is dropped at once when its
 * hash comes on the revocation channel (ngx_http_oneid_pubsub.c); when
 * revocations may have been missed, every entry stored until then is
 * invalidated (a stamp in the zone), so that each session is read from
 * Redis once more.
 *
 * A session ended on this node leaves a tombstone: an entry without a
 * record that answers "no session" and that a reply still on its way from
 * Redis (read before the session was deleted) cannot overwrite.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_module.h"


#define NGX_HTTP_ONEID_CACHE_ID_LEN  NGX_HTTP_ONEID_SHA256_HEX_LEN

/* a logout on another node is seen at most "ttl" late: keep that short */
#define NGX_HTTP_ONEID_CACHE_MAX_TTL  60000


typedef struct {
    u_char                       color;
    u_char                       len_hi;
    u_short                      len_lo;
    ngx_queue_t                  queue;
    ngx_msec_t                   expires;
    ngx_msec_t                   stored;
    time_t                       refreshed;
    u_char                       id[NGX_HTTP_ONEID_CACHE_ID_LEN];
    u_char                       data[1];
} ngx_http_oneid_cache_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
    /* entries stored until then are not served */
    ngx_msec_t                   valid_after;
} ngx_http_oneid_cache_sh_t;


struct ngx_http_oneid_cache_s {
    ngx_http_oneid_cache_sh_t   *sh;
    ngx_slab_pool_t             *shpool;
    ngx_msec_t                   ttl;
    time_t                       refresh;
};


#define ngx_http_oneid_cache_node(n)                                          \
    ((ngx_http_oneid_cache_node_t *) &(n)->color)

#define ngx_http_oneid_cache_len(cn)                                          \
    (((size_t) (cn)->len_hi << 16) | (cn)->len_lo)


static ngx_int_t ngx_http_oneid_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_oneid_cache_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rbtree_node_t *ngx_http_oneid_cache_lookup(
    ngx_http_oneid_cache_t *cache, u_char *id, uint32_t hash);
static void ngx_http_oneid_cache_free(ngx_http_oneid_cache_t *cache,
    ngx_rbtree_node_t *node);
static void ngx_http_oneid_cache_expire(ngx_http_oneid_cache_t *cache,
    ngx_uint_t n);
static void ngx_http_oneid_cache_delete(ngx_http_oneid_cache_t *cache,
    u_char *id);
static ngx_int_t ngx_http_oneid_cache_insert(ngx_http_oneid_cache_t *cache,
    u_char *id, ngx_str_t *value, ngx_msec_t ttl, time_t refreshed);


/* oneid_session_cache zone=name:size [ttl=time] [refresh=time] */

char *
ngx_http_oneid_cache_parse(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_oneid_cache_t **cachep)
{
    u_char                  *p;
    ssize_t                  size;
    ngx_str_t               *value, name, s;
    ngx_int_t                ttl, refresh;
    ngx_uint_t               i;
    ngx_shm_zone_t          *shm_zone;
    ngx_http_oneid_cache_t  *cache;

    value = cf->args->elts;

    ngx_str_null(&name);
    size = 0;
    ttl = 5000;
    refresh = 60;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR) {
                goto invalid;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 0);
            if (ttl == NGX_ERROR || ttl == 0
                || ttl > NGX_HTTP_ONEID_CACHE_MAX_TTL)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": ttl must be "
                                   "from 1ms to 60s", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            refresh = ngx_parse_time(&s, 1);
            if (refresh == NGX_ERROR || refresh == 0 || refresh > 60) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": refresh must be "
                                   "from 1s to 60s", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        goto invalid;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_oneid_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->ttl = ttl;
    cache->refresh = refresh;

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_oneid_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is already bound",
                           &cmd->name, &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_oneid_cache_init_zone;
    shm_zone->data = cache;

    *cachep = cache;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_oneid_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_oneid_cache_t  *ocache = data;

    size_t                   len;
    ngx_http_oneid_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        /* reload: the sessions cached so far stay valid */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_oneid_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_oneid_cache_insert_value);

    ngx_queue_init(&cache->sh->queue);
    cache->sh->valid_after = 0;

    len = sizeof(" in oneid_session_cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in oneid_session_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_oneid_cache_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t            **p;
    ngx_http_oneid_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            cn = ngx_http_oneid_cache_node(node);
            cnt = ngx_http_oneid_cache_node(temp);

            p = (ngx_memcmp(cn->id, cnt->id, NGX_HTTP_ONEID_CACHE_ID_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_rbtree_node_t *
ngx_http_oneid_cache_lookup(ngx_http_oneid_cache_t *cache, u_char *id,
    uint32_t hash)
{
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_oneid_cache_node_t  *cn;

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        cn = ngx_http_oneid_cache_node(node);

        rc = ngx_memcmp(id, cn->id, NGX_HTTP_ONEID_CACHE_ID_LEN);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * NGX_OK: a fresh copy of the session record is in value (from the pool);
 * *refresh says whether this request should push the idle timeout in
 * Redis forward (it is then counted as done); refresh NULL: a request that
 * does not count as activity (oneid_session_touch), which leaves the
 * entry's refresh time alone.  NGX_DECLINED: not cached.
 * NGX_ABORT: the session was ended on this node.
 */

ngx_int_t
ngx_http_oneid_cache_get(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_pool_t *pool, ngx_str_t *value, ngx_uint_t *refresh)
{
    size_t                        len;
    uint32_t                      hash;
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node;
    ngx_http_oneid_cache_node_t  *cn;

    hash = ngx_crc32_short(id, NGX_HTTP_ONEID_CACHE_ID_LEN);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_oneid_cache_lookup(cache, id, hash);

    if (node == NULL) {
        goto done;
    }

    cn = ngx_http_oneid_cache_node(node);

    if ((ngx_msec_int_t) (cn->expires - ngx_current_msec) <= 0) {
        ngx_http_oneid_cache_free(cache, node);
        goto done;
    }

    len = ngx_http_oneid_cache_len(cn);

    if (len == 0) {
        rc = NGX_ABORT;
        goto done;
    }

    if ((ngx_msec_int_t) (cn->stored - cache->sh->valid_after) <= 0) {
        /* revocations may have been missed since it was stored */
        ngx_http_oneid_cache_free(cache, node);
        goto done;
    }

    value->data = ngx_pnalloc(pool, len);
    if (value->data == NULL) {
        goto done;
    }

    ngx_memcpy(value->data, cn->data, len);
    value->len = len;

    if (refresh != NULL) {
        *refresh = (ngx_time() - cn->refreshed >= cache->refresh);

        if (*refresh) {
            cn->refreshed = ngx_time();
        }
    }

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * A record just read from Redis: "touched" when that read also restarted
 * its idle timeout (GETEX), else (a plain GET) the next request that
 * counts as activity pushes it forward at once.
 */

void
ngx_http_oneid_cache_put(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_str_t *value, ngx_uint_t touched)
{
    if (value->len == 0 || value->len > 0xffffff) {
        return;
    }

    (void) ngx_http_oneid_cache_insert(cache, id, value, cache->ttl,
                                       touched ? ngx_time() : 0);
}


/*
 * The session was ended here: answer "no session" for it until no reply
 * read from Redis before the end can still arrive ("hold", the Redis
 * timeout), and at least as long as any other node may still serve it.
 */

void
ngx_http_oneid_cache_revoke(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_msec_t hold)
{
    ngx_str_t  none;

    ngx_str_null(&none);

    if (ngx_http_oneid_cache_insert(cache, id, &none,
                                    ngx_max(hold, cache->ttl) + 1000, 0)
        != NGX_OK)
    {
        /* no room for the tombstone: at least no stale copy stays */
        ngx_http_oneid_cache_delete(cache, id);
    }
}


/*
 * Revocations may have been missed (a subscription to them was lost, or is
 * new): no session stored so far is served from now on.  Tombstones stay.
 */

void
ngx_http_oneid_cache_invalidate(ngx_http_oneid_cache_t *cache)
{
    /*
     * the time cached by this worker may lag behind that of another one
     * that stores a session right now: the stamp must not be older
     */

    ngx_time_update();

    ngx_shmtx_lock(&cache->shpool->mutex);

    if ((ngx_msec_int_t) (ngx_current_msec - cache->sh->valid_after) > 0) {
        cache->sh->valid_after = ngx_current_msec;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* NGX_DECLINED: a live tombstone is there and stays */

static ngx_int_t
ngx_http_oneid_cache_insert(ngx_http_oneid_cache_t *cache, u_char *id,
    ngx_str_t *value, ngx_msec_t ttl, time_t refreshed)
{
    size_t                        size;
    uint32_t                      hash;
    ngx_rbtree_node_t            *node;
    ngx_http_oneid_cache_node_t  *cn;

    hash = ngx_crc32_short(id, NGX_HTTP_ONEID_CACHE_ID_LEN);

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_oneid_cache_node_t, data)
           + value->len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_oneid_cache_lookup(cache, id, hash);

    if (node != NULL) {
        cn = ngx_http_oneid_cache_node(node);

        if (value->len
            && ngx_http_oneid_cache_len(cn) == 0
            && (ngx_msec_int_t) (cn->expires - ngx_current_msec) > 0)
        {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_DECLINED;
        }

        ngx_http_oneid_cache_free(cache, node);
    }

    ngx_http_oneid_cache_expire(cache, 1);

    node = ngx_slab_alloc_locked(cache->shpool, size);

    if (node == NULL) {
        /* full: make room from the least recently used end */
        ngx_http_oneid_cache_expire(cache, 16);

        node = ngx_slab_alloc_locked(cache->shpool, size);
        if (node == NULL) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_ERROR;
        }
    }

    node->key = hash;

    cn = ngx_http_oneid_cache_node(node);

    cn->len_hi = (u_char) (value->len >> 16);
    cn->len_lo = (u_short) (value->len & 0xffff);
    cn->expires = ngx_current_msec + ttl;
    cn->stored = ngx_current_msec;
    cn->refreshed = refreshed;
    ngx_memcpy(cn->id, id, NGX_HTTP_ONEID_CACHE_ID_LEN);
    ngx_memcpy(cn->data, value->data, value->len);

    ngx_rbtree_insert(&cache->sh->rbtree, node);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return NGX_OK;
}


static void
ngx_http_oneid_cache_delete(ngx_http_oneid_cache_t *cache, u_char *id)
{
    uint32_t            hash;
    ngx_rbtree_node_t  *node;

    hash = ngx_crc32_short(id, NGX_HTTP_ONEID_CACHE_ID_LEN);

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_oneid_cache_lookup(cache, id, hash);
    if (node != NULL) {
        ngx_http_oneid_cache_free(cache, node);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


static void
ngx_http_oneid_cache_free(ngx_http_oneid_cache_t *cache,
    ngx_rbtree_node_t *node)
{
    ngx_http_oneid_cache_node_t  *cn;

    cn = ngx_http_oneid_cache_node(node);

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, node);
    ngx_slab_free_locked(cache->shpool, node);
}


/*
 * Drop up to n entries from the least recently used end: expired ones
 * always, live ones only when n > 1 (the zone is full).
 */

static void
ngx_http_oneid_cache_expire(ngx_http_oneid_cache_t *cache, ngx_uint_t n)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_rbtree_node_t            *node;
    ngx_http_oneid_cache_node_t  *cn;

    for (i = 0; i < n; i++) {

        if (ngx_queue_empty(&cache->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_http_oneid_cache_node_t, queue);

        if (n == 1
            && (ngx_msec_int_t) (cn->expires - ngx_current_msec) > 0)
        {
            return;
        }

        node = (ngx_rbtree_node_t *)
                   ((u_char *) cn - offsetof(ngx_rbtree_node_t, color));

        ngx_http_oneid_cache_free(cache, node);
    }
}
