
/*
 * libFuzzer target: the GCRA arithmetic on arbitrary quotas, times and
 * request sequences.  No sequence may let more than the limit through in
 * one instant, and the reported numbers must stay within the quota.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_neonpro_gcra.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                     i;
    uint64_t                   tat, now, allowed_now, step;
    uint32_t                   limit, window;
    ngx_neonpro_gcra_policy_t  p;
    ngx_neonpro_gcra_result_t  r;

    if (size < 8) {
        return 0;
    }

    memcpy(&limit, data, 4);
    memcpy(&window, data + 4, 4);

    /* the directive's bounds: a year, a request per nanosecond */

    p.limit = limit % 1000000 + 1;
    p.window = window % (366ULL * 86400 * 1000) + 1;

    if (p.limit > p.window * 1000000) {
        return 0;
    }

    now = 1796400000000ULL * 1000000;
    tat = 0;
    allowed_now = 0;

    for (i = 8; i < size; i++) {
        step = data[i] & 0x7f;

        if (step) {
            now += step * step * step * 1000000;
            allowed_now = 0;
        }

        ngx_neonpro_gcra(&p, tat, now, &r);

        if (r.allowed) {
            allowed_now++;
            tat = r.tat;

            if (r.tat > now + p.window * 1000000) {
                __builtin_trap();
            }
        }

        if (allowed_now > p.limit || r.remaining > p.limit
            || r.reset > p.window)
        {
            __builtin_trap();
        }
    }

    return 0;
}
