
/*
 * Limits of the chat WebSocket.
 *
 * Connections per address live in a small shared zone, a red-black tree
 * of counters keyed by the address text, so that the limit applies across
 * workers.  The message rate is per connection and needs no sharing: a
 * fixed one-minute window that starts with the first message.
 */


#include "ngx_neonpro_ws_limits.h"


typedef struct {
    ngx_str_node_t       sn;
    ngx_uint_t           count;
} ngx_neonpro_ws_ip_t;


typedef struct {
    ngx_rbtree_t         rbtree;
    ngx_rbtree_node_t    sentinel;
} ngx_neonpro_ws_ips_sh_t;


static ngx_shm_zone_t  *ngx_neonpro_ws_ips_zone;


static ngx_int_t
ngx_neonpro_ws_ips_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t          *shpool;
    ngx_neonpro_ws_ips_sh_t  *sh;

    if (data) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_neonpro_ws_ips_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


ngx_int_t
ngx_neonpro_ws_limits_add_zone(ngx_conf_t *cf)
{
    ngx_str_t        name = ngx_string("neonpro_chat_addresses");
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, &name, 1024 * 1024,
                                 &ngx_neonpro_ws_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_neonpro_ws_ips_init_zone;
    ngx_neonpro_ws_ips_zone = zone;

    return NGX_OK;
}


/*
 * Counts one more connection from addr.  Returns NGX_DECLINED when addr
 * already has max, or when the zone is full: refusing is safer than not
 * counting.
 */
ngx_int_t
ngx_neonpro_ws_ip_acquire(ngx_str_t *addr, ngx_uint_t max)
{
    uint32_t                  hash;
    ngx_int_t                 rc;
    ngx_slab_pool_t          *shpool;
    ngx_neonpro_ws_ip_t      *ip;
    ngx_neonpro_ws_ips_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_ws_ips_zone->shm.addr;
    sh = ngx_neonpro_ws_ips_zone->data;
    hash = ngx_crc32_short(addr->data, addr->len);

    ngx_shmtx_lock(&shpool->mutex);

    ip = (ngx_neonpro_ws_ip_t *) ngx_str_rbtree_lookup(&sh->rbtree, addr,
                                                       hash);

    if (ip == NULL) {
        ip = ngx_slab_calloc_locked(shpool,
                                    sizeof(ngx_neonpro_ws_ip_t) + addr->len);
        if (ip == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_DECLINED;
        }

        ip->sn.str.data = (u_char *) (ip + 1);
        ip->sn.str.len = addr->len;
        ngx_memcpy(ip->sn.str.data, addr->data, addr->len);
        ip->sn.node.key = hash;

        ngx_rbtree_insert(&sh->rbtree, &ip->sn.node);
    }

    if (ip->count >= max) {
        rc = NGX_DECLINED;

    } else {
        ip->count++;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


void
ngx_neonpro_ws_ip_release(ngx_str_t *addr)
{
    ngx_slab_pool_t          *shpool;
    ngx_neonpro_ws_ip_t      *ip;
    ngx_neonpro_ws_ips_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_ws_ips_zone->shm.addr;
    sh = ngx_neonpro_ws_ips_zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    ip = (ngx_neonpro_ws_ip_t *) ngx_str_rbtree_lookup(&sh->rbtree, addr,
                              ngx_crc32_short(addr->data, addr->len));

    if (ip && --ip->count == 0) {
        ngx_rbtree_delete(&sh->rbtree, &ip->sn.node);
        ngx_slab_free_locked(shpool, ip);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* Returns NGX_OK when one more message fits this minute's budget. */
ngx_int_t
ngx_neonpro_ws_rate_allow(ngx_neonpro_ws_rate_t *rate, ngx_uint_t per_minute)
{
    if (rate->count == 0 || ngx_current_msec - rate->window_start >= 60000) {
        rate->window_start = ngx_current_msec;
        rate->count = 0;
    }

    if (rate->count >= per_minute) {
        return NGX_DECLINED;
    }

    rate->count++;

    return NGX_OK;
}
