
/* libFuzzer target: the structured-field dictionary check. */


#include <stddef.h>
#include <stdint.h>

#include "ngx_neonpro_sfv.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ssize_t  offset;

    offset = ngx_neonpro_sfv_check_dictionary(data, size);

    /* an error offset always points inside or at the end of the input */
    if (offset < -1 || offset > (ssize_t) size) {
        __builtin_trap();
    }

    return 0;
}
