
/*
 * libFuzzer target: a request body parsed by jansson and checked against
 * the chat and query contracts, as neonpro_agent_pass does.
 */


#include <stddef.h>
#include <stdint.h>

#include "ngx_neonpro_agent_contract.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         contract;
    json_t                     *doc;
    const char                 *field;
    ngx_neonpro_contract_rc_e   rc;

    doc = json_loadb((const char *) data, size, 0, NULL);
    if (doc == NULL) {
        return 0;
    }

    for (contract = NGX_NEONPRO_CONTRACT_JSON;
         contract <= NGX_NEONPRO_CONTRACT_QUERY;
         contract++)
    {
        rc = ngx_neonpro_contract_check(doc, contract, 64, &field);

        if (rc != NGX_NEONPRO_CONTRACT_OK && field == NULL) {
            __builtin_trap();
        }
    }

    if (json_is_object(doc)) {
        (void) ngx_neonpro_contract_set_user(doc, "anonymous", "anonymous",
                                             NULL);
    }

    json_decref(doc);

    return 0;
}
