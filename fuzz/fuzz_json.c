
/*
 * libFuzzer target: the JSON scanner against jansson, which parses with the
 * flags of a json-contract location.  They must agree on every input but
 * two kinds: numbers beyond the range of a double, which only jansson
 * rejects, and raw NUL bytes, which RFC 8259 never allows but jansson 2.14
 * skips after some tokens (its stream_unget() cannot put a NUL back).
 */


#include <stdint.h>
#include <string.h>
#include <jansson.h>

#include "ngx_neonpro_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           valid;
    json_t       *doc;
    json_error_t  error;

    valid = ngx_neonpro_json_valid(data, size);

    doc = json_loadb((const char *) data, size,
                     JSON_DECODE_ANY | JSON_ALLOW_NUL
                     | JSON_DECODE_INT_AS_REAL, &error);

    if (doc) {
        json_decref(doc);

        if (!valid && memchr(data, 0, size) == NULL) {
            __builtin_trap();
        }

        return 0;
    }

    if (valid && strstr(error.text, "overflow") == NULL
        && strstr(error.text, "too big") == NULL)
    {
        __builtin_trap();
    }

    return 0;
}
