
/*
 * Limits of the chat WebSocket.
 *
 * Connections per address live in a small shared zone, a red-black tree
 * of counters keyed by the address text, so that the limit applies across
 * workers.  The message rate is per connection and needs no sharing: a
 * fixed one-minute window that starts with the first message.
 *
 * The message rate per user spans all of a user's connections on every
 * worker, so its GCRA state is in the same zone: a fixed table indexed by a
 * hash of the user, so that it never grows.  When two users meet in one
 * slot, the later takes it over and the earlier starts again with a whole
 * budget: a collision can make the limit more lenient, never stricter.
 */


#include "ngx_neonpro_gcra.h"
#include "ngx_neonpro_ws_limits.h"


#define NGX_NEONPRO_WS_USER_SLOTS  65536


typedef struct {
    ngx_str_node_t       sn;
    ngx_uint_t           count;
} ngx_neonpro_ws_ip_t;


typedef struct {
    uint32_t             hash;
    uint64_t             tat;
} ngx_neonpro_ws_user_rate_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_neonpro_ws_user_rate_t   users[NGX_NEONPRO_WS_USER_SLOTS];
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

    /* the address tree, and 1 MiB of message budgets per user */
    zone = ngx_shared_memory_add(cf, &name, 2 * 1024 * 1024,
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


/*
 * Returns NGX_OK when the user may send one more message this minute,
 * counted over all of the user's connections on every worker.
 */
ngx_int_t
ngx_neonpro_ws_user_rate_allow(ngx_str_t *user, ngx_uint_t per_minute)
{
    uint32_t                     hash;
    uint64_t                     now;
    ngx_time_t                  *tp;
    ngx_slab_pool_t             *shpool;
    ngx_neonpro_ws_ips_sh_t     *sh;
    ngx_neonpro_ws_user_rate_t  *slot;
    ngx_neonpro_gcra_policy_t    policy;
    ngx_neonpro_gcra_result_t    result;

    if (per_minute == 0 || user->len == 0) {
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) ngx_neonpro_ws_ips_zone->shm.addr;
    sh = ngx_neonpro_ws_ips_zone->data;

    hash = ngx_crc32_long(user->data, user->len);

    tp = ngx_timeofday();
    now = ((uint64_t) tp->sec * 1000 + tp->msec) * 1000000;

    policy.limit = per_minute;
    policy.window = 60000;

    ngx_shmtx_lock(&shpool->mutex);

    slot = &sh->users[hash % NGX_NEONPRO_WS_USER_SLOTS];

    if (slot->hash != hash) {
        slot->hash = hash;
        slot->tat = 0;
    }

    ngx_neonpro_gcra(&policy, slot->tat, now, &result);

    if (result.allowed) {
        slot->tat = result.tat;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return result.allowed ? NGX_OK : NGX_DECLINED;
}
