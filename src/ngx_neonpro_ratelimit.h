
/*
 * Rate limits of HTTP locations: GCRA quotas (src/ngx_neonpro_gcra.c) per
 * key, kept in shared memory so that every worker counts the same
 * requests, with the IETF RateLimit-Policy and RateLimit fields.
 *
 * The quota store is a function table, so that a Redis store shared by
 * several nodes can take the place of the shared memory one.
 */


#ifndef _NGX_NEONPRO_RATELIMIT_H_INCLUDED_
#define _NGX_NEONPRO_RATELIMIT_H_INCLUDED_


#include "ngx_neonpro.h"
#include "ngx_neonpro_gcra.h"


#define NGX_NEONPRO_RATELIMIT_HEADERS_OFF     0x0
#define NGX_NEONPRO_RATELIMIT_HEADERS_DRAFT   0x1
#define NGX_NEONPRO_RATELIMIT_HEADERS_LEGACY  0x2


/* one neonpro_rate_limit directive */
typedef struct {
    ngx_str_t                    name;
    ngx_shm_zone_t              *zone;
    ngx_http_complex_value_t     key;
    ngx_neonpro_gcra_policy_t    policy;
} ngx_neonpro_ratelimit_t;


/* one quota to take a request from, with the store's result */
typedef struct {
    ngx_neonpro_ratelimit_t     *limit;
    ngx_str_t                    key;
    ngx_neonpro_gcra_result_t    result;
} ngx_neonpro_ratelimit_take_t;


typedef struct {
    /*
     * Takes one request from every quota, or from none of them when one
     * refuses.  NGX_OK when all allowed, NGX_DECLINED when one refused,
     * NGX_ERROR on failure; results are filled in either of the first two.
     */
    ngx_int_t  (*take)(ngx_neonpro_ratelimit_take_t *takes, ngx_uint_t n,
                       uint64_t now);
} ngx_neonpro_ratelimit_store_t;


extern ngx_neonpro_ratelimit_store_t  ngx_neonpro_ratelimit_shm;


char *ngx_neonpro_ratelimit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_neonpro_ratelimit_add(ngx_conf_t *cf, ngx_array_t **limits);
ngx_int_t ngx_neonpro_ratelimit_check_zones(ngx_conf_t *cf);
ngx_int_t ngx_neonpro_ratelimit_check(ngx_http_request_t *r,
    ngx_array_t *limits, ngx_uint_t headers);


#endif /* _NGX_NEONPRO_RATELIMIT_H_INCLUDED_ */
