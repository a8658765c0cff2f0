
/* libFuzzer target: Accept-Language negotiation on arbitrary bytes. */


#include <stddef.h>
#include <stdint.h>

#include "ngx_neonpro_lang.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int  lang;

    lang = ngx_neonpro_lang_pick(data, size);

    if (lang != NGX_NEONPRO_LANG_PICK_PT_BR
        && lang != NGX_NEONPRO_LANG_PICK_EN)
    {
        __builtin_trap();
    }

    return 0;
}
