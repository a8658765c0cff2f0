
/*
 * The state of each agent server as seen by recent requests of all
 * workers, kept in a shared memory zone for the health endpoint.
 */


#ifndef _NGX_NEONPRO_PEERS_H_INCLUDED_
#define _NGX_NEONPRO_PEERS_H_INCLUDED_


#include "ngx_neonpro.h"


#define NGX_NEONPRO_PEERS_MAX       128
#define NGX_NEONPRO_PEER_NAME_LEN   NGX_SOCKADDR_STRLEN


typedef struct {
    u_char                   name[NGX_NEONPRO_PEER_NAME_LEN];
    size_t                   name_len;
    ngx_uint_t               last_status;
    time_t                   last_seen;
    ngx_uint_t               successes;
    ngx_uint_t               failures;
    ngx_uint_t               consecutive_failures;
} ngx_neonpro_peer_state_t;


ngx_int_t ngx_neonpro_peers_add_zone(ngx_conf_t *cf);
void ngx_neonpro_peers_record(ngx_str_t *name, ngx_uint_t status,
    ngx_uint_t failed);
ngx_int_t ngx_neonpro_peers_get(ngx_str_t *name,
    ngx_neonpro_peer_state_t *state);


#endif /* _NGX_NEONPRO_PEERS_H_INCLUDED_ */
