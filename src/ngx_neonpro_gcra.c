
/*
 * GCRA with a quota of L requests per window W: each request moves the
 * key's TAT on by T = W / L, and a request is allowed while the new TAT
 * stays within W of now.  A fresh key can so take L requests at once, then
 * one every T, and after W of silence it has all L again.  Unlike a fixed
 * window, no window edge lets a client send 2 L requests in a short time.
 * Unlike a sliding log, it keeps one number per key.
 *
 * T is rounded down to whole nanoseconds, and the window is taken as L T,
 * less than L nanoseconds short of W.  So exactly L requests fit in it,
 * however small T is.
 */


#include "ngx_neonpro_gcra.h"


#define NGX_NEONPRO_NS_PER_MS  1000000


static uint64_t
ngx_neonpro_gcra_ms(uint64_t ns)
{
    return (ns + NGX_NEONPRO_NS_PER_MS - 1) / NGX_NEONPRO_NS_PER_MS;
}


void
ngx_neonpro_gcra(const ngx_neonpro_gcra_policy_t *policy, uint64_t tat,
    uint64_t now, ngx_neonpro_gcra_result_t *result)
{
    uint64_t  window, emission, next, ahead;

    emission = policy->window * NGX_NEONPRO_NS_PER_MS / policy->limit;
    window = emission * policy->limit;

    if (tat < now) {
        tat = now;
    }

    next = tat + emission;

    if (next - now <= window) {
        result->allowed = 1;
        result->retry_after = 0;
        result->tat = next;

    } else {
        result->allowed = 0;
        result->retry_after = ngx_neonpro_gcra_ms(next - now - window);
        result->tat = tat;
    }

    ahead = result->tat - now;

    /* the requests that still fit before the TAT reaches now + W */

    result->remaining = (window - ahead) / emission;
    result->reset = ngx_neonpro_gcra_ms(ahead);
}


/* What the key has left without taking a request: for a refused batch. */
void
ngx_neonpro_gcra_peek(const ngx_neonpro_gcra_policy_t *policy, uint64_t tat,
    uint64_t now, ngx_neonpro_gcra_result_t *result)
{
    uint64_t  window, emission, ahead;

    emission = policy->window * NGX_NEONPRO_NS_PER_MS / policy->limit;
    window = emission * policy->limit;

    ahead = (tat > now) ? tat - now : 0;

    result->allowed = (ahead + emission <= window);
    result->tat = tat;
    result->retry_after = result->allowed
                          ? 0 : ngx_neonpro_gcra_ms(ahead + emission - window);
    result->remaining = (window - ahead) / emission;
    result->reset = ngx_neonpro_gcra_ms(ahead);
}
