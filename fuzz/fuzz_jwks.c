
/*
 * libFuzzer target: the key loaders fed arbitrary bytes as a JWK Set, a
 * PEM key and an HMAC secret file.  A loader either adds the keys its
 * report counts or leaves the set as it was.  Whatever loaded then
 * verifies the tokens of jwt_seeds.h, to run every key type the loaders
 * accept.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_neonpro_jwt.h"
#include "jwt_seeds.h"


#define fuzz_nelts(a)  (sizeof(a) / sizeof((a)[0]))


typedef int (*fuzz_loader_pt)(ngx_neonpro_jwt_keyset_t *ks,
    const uint8_t *data, size_t size, ngx_neonpro_jwt_load_t *report);


static int
load_jwks(ngx_neonpro_jwt_keyset_t *ks, const uint8_t *data, size_t size,
    ngx_neonpro_jwt_load_t *report)
{
    return ngx_neonpro_jwt_keyset_add_jwks(ks, data, size, NULL, report);
}


static int
load_pem(ngx_neonpro_jwt_keyset_t *ks, const uint8_t *data, size_t size,
    ngx_neonpro_jwt_load_t *report)
{
    return ngx_neonpro_jwt_keyset_add_pem(ks, data, size, NULL, NULL, report);
}


static int
load_secret(ngx_neonpro_jwt_keyset_t *ks, const uint8_t *data, size_t size,
    ngx_neonpro_jwt_load_t *report)
{
    return ngx_neonpro_jwt_keyset_add_secret(ks, data, size, NULL, NULL,
                                             report);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         rc;
    size_t                      i, before;
    ngx_neonpro_jwt_load_t      report;
    ngx_neonpro_jwt_result_t    res;
    ngx_neonpro_jwt_options_t   options;
    ngx_neonpro_jwt_keyset_t   *ks;

    static const fuzz_loader_pt  loaders[] = {
        load_jwks, load_pem, load_secret
    };

    ks = ngx_neonpro_jwt_keyset_create();
    if (ks == NULL) {
        abort();
    }

    for (i = 0; i < fuzz_nelts(loaders); i++) {
        before = ngx_neonpro_jwt_keyset_count(ks);

        rc = loaders[i](ks, data, size, &report);

        if (rc == 0
            ? (report.error != NULL
               || ngx_neonpro_jwt_keyset_count(ks) != before + report.loaded)
            : (rc != -1 || report.error == NULL || report.loaded != 0
               || ngx_neonpro_jwt_keyset_count(ks) != before))
        {
            __builtin_trap();
        }

        if (report.skipped && report.skip_reason == NULL) {
            __builtin_trap();
        }
    }

    if (ngx_neonpro_jwt_keyset_count(ks) == 0) {
        ngx_neonpro_jwt_keyset_free(ks);
        return 0;
    }

    memset(&options, 0, sizeof(options));
    options.algorithms = NGX_NEONPRO_JWT_ALG_ALL;
    options.now = 1700000100;

    for (i = 0; i < fuzz_nelts(fuzz_tokens); i++) {
        ngx_neonpro_jwt_verify(ks, (const unsigned char *) fuzz_tokens[i],
                               strlen(fuzz_tokens[i]), &options, &res);
        json_decref(res.claims);
    }

    ngx_neonpro_jwt_keyset_free(ks);

    return 0;
}
