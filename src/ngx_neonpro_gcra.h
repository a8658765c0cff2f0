
/*
 * The generic cell rate algorithm, as rate limits use it: one stored value
 * per key, the theoretical arrival time (TAT) of the next request.  Times
 * are in nanoseconds so that a request's share of the window loses almost
 * nothing to rounding.  Pure arithmetic, so the unit tests need no nginx.
 */


#ifndef _NGX_NEONPRO_GCRA_H_INCLUDED_
#define _NGX_NEONPRO_GCRA_H_INCLUDED_


#include <stdint.h>


/* A quota of "limit" requests per "window" milliseconds. */
typedef struct {
    uint64_t  limit;
    uint64_t  window;
} ngx_neonpro_gcra_policy_t;


typedef struct {
    int       allowed;
    uint64_t  tat;          /* ns: the key's TAT after this request */
    uint64_t  remaining;    /* requests that could still come right now */
    uint64_t  reset;        /* ms, rounded up: until the whole quota is back */
    uint64_t  retry_after;  /* ms, rounded up: until one is allowed; or 0 */
} ngx_neonpro_gcra_result_t;


void ngx_neonpro_gcra(const ngx_neonpro_gcra_policy_t *policy, uint64_t tat,
    uint64_t now, ngx_neonpro_gcra_result_t *result);
void ngx_neonpro_gcra_peek(const ngx_neonpro_gcra_policy_t *policy,
    uint64_t tat, uint64_t now, ngx_neonpro_gcra_result_t *result);


#endif /* _NGX_NEONPRO_GCRA_H_INCLUDED_ */
