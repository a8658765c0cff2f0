
/*
 * libFuzzer target: JWT verification against a fixed key set of an HMAC
 * secret and RSA, EC P-256 and Ed25519 public keys.
 *
 * The input is verified as a token.  Only the tokens in jwt_seeds.h were
 * signed with these keys, so the target traps when a token verifies whose
 * signed part (header and payload) is not one of theirs.  The input is
 * then read as a JSON header, a newline and a JSON payload, signed with
 * HS256 and verified, so that the claim checks behind the signature are
 * fuzzed too.  Only alg HS256 may accept that signature.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngx_neonpro_jwt.h"
#include "jwt_seeds.h"


#define FUZZ_NOW  1700000100

#define fuzz_nelts(a)  (sizeof(a) / sizeof((a)[0]))


static ngx_neonpro_jwt_keyset_t  *keyset;

static const ngx_neonpro_jwt_str_t  issuers[] = {
    { 25, (const unsigned char *) "https://auth.neonpro.test" }
};

static const ngx_neonpro_jwt_str_t  audiences[] = {
    { 11, (const unsigned char *) "neonpro-api" }
};

static const ngx_neonpro_jwt_str_t  required[] = {
    { 3, (const unsigned char *) "sub" }
};


static void
add_key(const char *pem, const char *kid)
{
    ngx_neonpro_jwt_str_t   k;
    ngx_neonpro_jwt_load_t  report;

    k.len = strlen(kid);
    k.data = (const unsigned char *) kid;

    if (pem == NULL) {
        if (ngx_neonpro_jwt_keyset_add_secret(keyset, fuzz_secret,
                                              sizeof(fuzz_secret) - 1, NULL,
                                              &k, &report)
            != 0)
        {
            abort();
        }

        return;
    }

    if (ngx_neonpro_jwt_keyset_add_pem(keyset, (const unsigned char *) pem,
                                       strlen(pem), NULL, &k, &report)
        != 0)
    {
        abort();
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    keyset = ngx_neonpro_jwt_keyset_create();
    if (keyset == NULL) {
        abort();
    }

    add_key(NULL, "hs");
    add_key(fuzz_rsa_pem, "rsa");
    add_key(fuzz_ec_pem, "ec");
    add_key(fuzz_ed_pem, "ed");

    return 0;
}


/* Checks that the signed part of a token is one of the seeded tokens'. */
static int
seeded(const uint8_t *token, size_t len)
{
    size_t       i, n;
    const char  *dot;

    while (len && token[len - 1] != '.') {
        len--;
    }

    for (i = 0; i < fuzz_nelts(fuzz_tokens); i++) {
        dot = strrchr(fuzz_tokens[i], '.');
        n = (size_t) (dot - fuzz_tokens[i]) + 1;

        if (n == len && memcmp(fuzz_tokens[i], token, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
check(const uint8_t *token, size_t len, int signed_here)
{
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    memset(&options, 0, sizeof(options));
    options.algorithms = NGX_NEONPRO_JWT_ALG_ALL;
    options.now = FUZZ_NOW;
    options.leeway = 30;
    options.issuers = issuers;
    options.nissuers = 1;
    options.audiences = audiences;
    options.naudiences = 1;
    options.required = required;
    options.nrequired = 1;

    rc = ngx_neonpro_jwt_verify(keyset, token, len, &options, &res);

    if (strcmp(ngx_neonpro_jwt_reason(rc), "unknown error") == 0) {
        __builtin_trap();
    }

    /* a kid comes back only from the safe set */

    if (res.kid_len > NGX_NEONPRO_JWT_KID_MAX
        || strlen(res.kid) != res.kid_len
        || strspn(res.kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "abcdefghijklmnopqrstuvwxyz0123456789._-")
           != res.kid_len)
    {
        __builtin_trap();
    }

    if (rc != NGX_NEONPRO_JWT_OK) {
        if (res.claims != NULL) {
            __builtin_trap();
        }

        return;
    }

    if (!json_is_object(res.claims)) {
        __builtin_trap();
    }

    if (signed_here ? res.alg != NGX_NEONPRO_JWT_HS256
                    : !seeded(token, len))
    {
        __builtin_trap();
    }

    /* "sub" is a required claim */

    if (json_object_get(res.claims, "sub") == NULL) {
        __builtin_trap();
    }

    json_decref(res.claims);
}


static size_t
b64url(const uint8_t *in, size_t len, char *out)
{
    int     n;
    size_t  i, j;

    n = EVP_EncodeBlock((unsigned char *) out, in, (int) len);

    for (i = 0, j = 0; i < (size_t) n && out[i] != '='; i++) {
        out[j++] = (out[i] == '+') ? '-' : (out[i] == '/') ? '_' : out[i];
    }

    return j;
}


/* Signs "header\npayload" as an HS256 token and checks it. */
static void
sign_and_check(const uint8_t *data, size_t size)
{
    char           *token;
    size_t          n, header_len, mac_len;
    const uint8_t  *header, *payload, *nl;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    static const char  default_header[] = "{\"alg\":\"HS256\",\"kid\":\"hs\"}";

    nl = memchr(data, '\n', size);

    if (nl != NULL) {
        header = data;
        header_len = (size_t) (nl - data);
        payload = nl + 1;

    } else {
        header = (const uint8_t *) default_header;
        header_len = sizeof(default_header) - 1;
        payload = data;
    }

    token = malloc(2 * (header_len + size) + 64 + 8);
    if (token == NULL) {
        abort();
    }

    n = b64url(header, header_len, token);
    token[n++] = '.';
    n += b64url(payload, size - (size_t) (payload - data), token + n);

    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, fuzz_secret,
                  sizeof(fuzz_secret) - 1, (unsigned char *) token, n, mac,
                  sizeof(mac), &mac_len)
        == NULL)
    {
        abort();
    }

    token[n++] = '.';
    n += b64url(mac, mac_len, token + n);

    check((const uint8_t *) token, n, 1);

    free(token);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, 0);
    sign_and_check(data, size);

    return 0;
}
