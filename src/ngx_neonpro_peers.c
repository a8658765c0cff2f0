
/*
 * Agent server state shared by all workers.
 *
 * A fixed table of NGX_NEONPRO_PEERS_MAX entries in a small shared zone,
 * searched linearly under the slab pool's mutex: an update happens once per
 * agent request, and the table holds the servers of the agent upstreams
 * only.  The zone keeps its contents across reloads.
 */


#include "ngx_neonpro_peers.h"


typedef struct {
    ngx_uint_t                 npeers;
    ngx_neonpro_peer_state_t   peers[NGX_NEONPRO_PEERS_MAX];
} ngx_neonpro_peers_sh_t;


static ngx_int_t ngx_neonpro_peers_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


static ngx_shm_zone_t  *ngx_neonpro_peers_zone;


ngx_int_t
ngx_neonpro_peers_add_zone(ngx_conf_t *cf)
{
    ngx_str_t        name = ngx_string("neonpro_agent_peers");
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, &name,
                                 2 * sizeof(ngx_neonpro_peers_sh_t)
                                 + 8 * ngx_pagesize,
                                 &ngx_neonpro_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_neonpro_peers_init_zone;
    ngx_neonpro_peers_zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_peers_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t         *shpool;
    ngx_neonpro_peers_sh_t  *sh;

    if (data) {
        /* a reload: keep what the old workers saw */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_neonpro_peers_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


static ngx_neonpro_peer_state_t *
ngx_neonpro_peers_find(ngx_neonpro_peers_sh_t *sh, ngx_str_t *name,
    ngx_uint_t create)
{
    ngx_uint_t                 i;
    ngx_neonpro_peer_state_t  *peer;

    for (i = 0; i < sh->npeers; i++) {
        peer = &sh->peers[i];

        if (peer->name_len == name->len
            && ngx_memcmp(peer->name, name->data, name->len) == 0)
        {
            return peer;
        }
    }

    if (!create || sh->npeers == NGX_NEONPRO_PEERS_MAX
        || name->len > NGX_NEONPRO_PEER_NAME_LEN)
    {
        return NULL;
    }

    peer = &sh->peers[sh->npeers++];
    ngx_memzero(peer, sizeof(ngx_neonpro_peer_state_t));
    ngx_memcpy(peer->name, name->data, name->len);
    peer->name_len = name->len;

    return peer;
}


void
ngx_neonpro_peers_record(ngx_str_t *name, ngx_uint_t status,
    ngx_uint_t failed)
{
    ngx_slab_pool_t           *shpool;
    ngx_neonpro_peer_state_t  *peer;

    if (ngx_neonpro_peers_zone == NULL || ngx_neonpro_peers_zone->data == NULL
        || name == NULL)
    {
        return;
    }

    shpool = (ngx_slab_pool_t *) ngx_neonpro_peers_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    peer = ngx_neonpro_peers_find(ngx_neonpro_peers_zone->data, name, 1);

    if (peer) {
        peer->last_status = status;
        peer->last_seen = ngx_time();

        if (failed) {
            peer->failures++;
            peer->consecutive_failures++;

        } else {
            peer->successes++;
            peer->consecutive_failures = 0;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* Copies the state of one server; NGX_DECLINED when it was never seen. */
ngx_int_t
ngx_neonpro_peers_get(ngx_str_t *name, ngx_neonpro_peer_state_t *state)
{
    ngx_int_t                  rc;
    ngx_slab_pool_t           *shpool;
    ngx_neonpro_peer_state_t  *peer;

    if (ngx_neonpro_peers_zone == NULL
        || ngx_neonpro_peers_zone->data == NULL)
    {
        return NGX_DECLINED;
    }

    shpool = (ngx_slab_pool_t *) ngx_neonpro_peers_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    peer = ngx_neonpro_peers_find(ngx_neonpro_peers_zone->data, name, 0);

    if (peer) {
        *state = *peer;
        rc = NGX_OK;

    } else {
        rc = NGX_DECLINED;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}
