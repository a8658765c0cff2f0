
/*
 * libFuzzer target: the server-sent events parser fed arbitrary bytes,
 * whole and again split at a point taken from the input; both ways must
 * give the same events.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_neonpro_sse.h"


typedef struct {
    uint64_t  hash;
    size_t    n;
} fuzz_seen_t;


static int
on_event(void *ctx, const unsigned char *data, size_t len)
{
    size_t        i;
    fuzz_seen_t  *seen = ctx;

    if (len > 64) {
        __builtin_trap();
    }

    seen->hash = seen->hash * 31 + len;

    for (i = 0; i < len; i++) {
        seen->hash = seen->hash * 131 + data[i];
    }

    seen->n++;

    return 0;
}


static int
feed(const uint8_t *data, size_t size, size_t cut, fuzz_seen_t *seen)
{
    int                rc;
    ngx_neonpro_sse_t  p;

    memset(seen, 0, sizeof(fuzz_seen_t));
    ngx_neonpro_sse_init(&p, 64);

    rc = ngx_neonpro_sse_feed(&p, data, cut, on_event, seen);

    if (rc == NGX_NEONPRO_SSE_OK) {
        rc = ngx_neonpro_sse_feed(&p, data + cut, size - cut, on_event, seen);
    }

    ngx_neonpro_sse_free(&p);

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc1, rc2;
    size_t       cut;
    fuzz_seen_t  whole, split;

    if (size == 0) {
        return 0;
    }

    cut = data[0] % size;

    rc1 = feed(data, size, size, &whole);
    rc2 = feed(data, size, cut, &split);

    if (rc1 != rc2
        || (rc1 == NGX_NEONPRO_SSE_OK
            && (whole.n != split.n || whole.hash != split.hash)))
    {
        __builtin_trap();
    }

    return 0;
}
