
/*
 * Limits of the chat WebSocket: open connections per client address and
 * per user, counted across workers, messages per minute per connection,
 * and messages per minute per user across workers.
 */


#ifndef _NGX_NEONPRO_WS_LIMITS_H_INCLUDED_
#define _NGX_NEONPRO_WS_LIMITS_H_INCLUDED_


#include "ngx_neonpro.h"


typedef struct {
    ngx_msec_t    window_start;
    ngx_uint_t    count;
} ngx_neonpro_ws_rate_t;


ngx_int_t ngx_neonpro_ws_limits_add_zone(ngx_conf_t *cf);
ngx_int_t ngx_neonpro_ws_ip_acquire(ngx_str_t *addr, ngx_uint_t max);
void ngx_neonpro_ws_ip_release(ngx_str_t *addr);
ngx_int_t ngx_neonpro_ws_rate_allow(ngx_neonpro_ws_rate_t *rate,
    ngx_uint_t per_minute);
ngx_int_t ngx_neonpro_ws_user_rate_allow(ngx_str_t *user,
    ngx_uint_t per_minute);


#endif /* _NGX_NEONPRO_WS_LIMITS_H_INCLUDED_ */
