
/*
 * Unit tests of JWT verification.  The test makes its own keys with
 * OpenSSL and signs its tokens with EVP_DigestSign and HMAC, good ones and
 * hand-built bad ones.  jwt_vectors.h adds tokens that PyJWT signed, to
 * show that the unit reads another implementation's output.  The tests end
 * with the line "N passed, N failed".
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "check.h"
#include "ngx_neonpro_jwt.h"
#include "jwt_vectors.h"


#define NOW        1700000000
#define ISSUER     "https://auth.neonpro.test"
#define AUDIENCE   "neonpro-api"

/* the claims every good token carries, and an "exp" an hour from NOW */
#define CLAIMS     "\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\","      \
                   "\"sub\":\"patient-42\""
#define GOOD       "{" CLAIMS ",\"exp\":1700003600}"

#define MAX_SIG    1024


/* the keys that sign test tokens */
enum {
    K_NONE = 0,          /* no signature */
    K_HS,                /* 64-byte secret, kid "hs" in the main set */
    K_RSA,               /* kid "rsa" */
    K_P256,              /* kid "p256" */
    K_P384,              /* kid "p384" */
    K_ED,                /* kid "ed" */
    K_RSA_PEM,           /* the RSA key's public PEM bytes as a secret */
    K_A,                 /* 32-byte secrets of the rotation and issuer sets */
    K_B,
    NKEYS
};

/* the key sets the cases verify against */
enum {
    S_MAIN = 0,          /* K_HS, K_RSA, K_P256, K_P384 and K_ED */
    S_RSA_ONLY,          /* K_RSA without a kid */
    S_TWO_HS,            /* K_A as "a" and K_B as "b" */
    NSETS
};

/* how make_token() damages the signature */
enum {
    F_CORRUPT  = 0x01,   /* flip one bit */
    F_DROP     = 0x02,   /* remove the last byte */
    F_ADD      = 0x04,   /* append a zero byte */
    F_DER      = 0x08,   /* ECDSA: DER instead of R || S */
    F_ZERO     = 0x10    /* all zero bytes, same length */
};


typedef struct {
    EVP_PKEY       *pkey;
    unsigned char  *secret;
    size_t          secret_len;
    char           *pem;           /* the public key, PEM */
} test_key_t;


typedef struct {
    const char            *name;
    const char            *header;
    const char            *payload;
    const char            *sign_alg;   /* the algorithm that signs */
    int                    key;
    unsigned               flags;
    int                    set;
    unsigned               algorithms; /* 0: all */
    ngx_neonpro_jwt_rc_e   rc;
    const char            *claim;      /* the claim a claim check names */
} jwt_case_t;


typedef struct {
    const char            *name;
    const char            *token;
    ngx_neonpro_jwt_rc_e   rc;
} raw_case_t;


typedef struct {
    const char            *name;
    const char            *jwks;
    const char            *error;      /* a substring of report.error */
} jwks_error_case_t;


static test_key_t                 keys[NKEYS];
static ngx_neonpro_jwt_keyset_t  *sets[NSETS];

static const ngx_neonpro_jwt_str_t  issuers[] = {
    { sizeof("https://login.neonpro.test") - 1,
      (const unsigned char *) "https://login.neonpro.test" },
    { sizeof(ISSUER) - 1, (const unsigned char *) ISSUER }
};

static const ngx_neonpro_jwt_str_t  audiences[] = {
    { sizeof("neonpro-admin") - 1, (const unsigned char *) "neonpro-admin" },
    { sizeof(AUDIENCE) - 1, (const unsigned char *) AUDIENCE }
};

static const ngx_neonpro_jwt_str_t  required[] = {
    { 3, (const unsigned char *) "sub" }
};


static const jwt_case_t  cases[] = {

    /* every algorithm, signed right */

    { "HS256 valid", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "HS384 valid", "{\"alg\":\"HS384\",\"kid\":\"hs\"}", GOOD,
      "HS384", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "HS512 valid", "{\"alg\":\"HS512\",\"kid\":\"hs\"}", GOOD,
      "HS512", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "RS256 valid", "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD,
      "RS256", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "RS384 valid", "{\"alg\":\"RS384\",\"kid\":\"rsa\"}", GOOD,
      "RS384", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "RS512 valid", "{\"alg\":\"RS512\",\"kid\":\"rsa\"}", GOOD,
      "RS512", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "PS256 valid", "{\"alg\":\"PS256\",\"kid\":\"rsa\"}", GOOD,
      "PS256", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "ES256 valid", "{\"alg\":\"ES256\",\"kid\":\"p256\"}", GOOD,
      "ES256", K_P256, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "ES384 valid", "{\"alg\":\"ES384\",\"kid\":\"p384\"}", GOOD,
      "ES384", K_P384, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "EdDSA valid", "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", GOOD,
      "EdDSA", K_ED, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "typ JWT accepted",
      "{\"alg\":\"HS256\",\"kid\":\"hs\",\"typ\":\"JWT\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },

    /* without a kid, the only key of the set that fits the algorithm */

    { "RS256 without kid", "{\"alg\":\"RS256\"}", GOOD,
      "RS256", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "ES384 without kid", "{\"alg\":\"ES384\"}", GOOD,
      "ES384", K_P384, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "EdDSA without kid", "{\"alg\":\"EdDSA\"}", GOOD,
      "EdDSA", K_ED, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "two fitting keys need a kid", "{\"alg\":\"HS256\"}", GOOD,
      "HS256", K_A, 0, S_TWO_HS, 0, NGX_NEONPRO_JWT_KID_REQUIRED, NULL },

    /* wrong signatures */

    { "HS256 bit flipped", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD,
      "HS256", K_HS, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "HS384 bit flipped", "{\"alg\":\"HS384\",\"kid\":\"hs\"}", GOOD,
      "HS384", K_HS, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "HS512 bit flipped", "{\"alg\":\"HS512\",\"kid\":\"hs\"}", GOOD,
      "HS512", K_HS, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "RS256 bit flipped", "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD,
      "RS256", K_RSA, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "RS384 bit flipped", "{\"alg\":\"RS384\",\"kid\":\"rsa\"}", GOOD,
      "RS384", K_RSA, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "RS512 bit flipped", "{\"alg\":\"RS512\",\"kid\":\"rsa\"}", GOOD,
      "RS512", K_RSA, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "PS256 bit flipped", "{\"alg\":\"PS256\",\"kid\":\"rsa\"}", GOOD,
      "PS256", K_RSA, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "ES256 bit flipped", "{\"alg\":\"ES256\",\"kid\":\"p256\"}", GOOD,
      "ES256", K_P256, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "ES384 bit flipped", "{\"alg\":\"ES384\",\"kid\":\"p384\"}", GOOD,
      "ES384", K_P384, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "EdDSA bit flipped", "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", GOOD,
      "EdDSA", K_ED, F_CORRUPT, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "RS256 signed as RS384", "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD,
      "RS384", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "PS256 signed as RS256", "{\"alg\":\"PS256\",\"kid\":\"rsa\"}", GOOD,
      "RS256", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "HS256 with another secret", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD,
      "HS256", K_A, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "HS256 MAC one byte short", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD,
      "HS256", K_HS, F_DROP, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "RS256 signature one byte short",
      "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD,
      "RS256", K_RSA, F_DROP, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE,
      NULL },
    { "RS256 signature one byte long",
      "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD,
      "RS256", K_RSA, F_ADD, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "empty signature", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD,
      NULL, K_NONE, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },

    /* ECDSA signatures must be R || S of the exact length */

    { "ES256 signature 63 bytes", "{\"alg\":\"ES256\",\"kid\":\"p256\"}",
      GOOD, "ES256", K_P256, F_DROP, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "ES256 signature 65 bytes", "{\"alg\":\"ES256\",\"kid\":\"p256\"}",
      GOOD, "ES256", K_P256, F_ADD, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "ES256 signature in DER", "{\"alg\":\"ES256\",\"kid\":\"p256\"}",
      GOOD, "ES256", K_P256, F_DER, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "ES256 signature all zero", "{\"alg\":\"ES256\",\"kid\":\"p256\"}",
      GOOD, "ES256", K_P256, F_ZERO, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "ES384 signature 95 bytes", "{\"alg\":\"ES384\",\"kid\":\"p384\"}",
      GOOD, "ES384", K_P384, F_DROP, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "ES384 signature in DER", "{\"alg\":\"ES384\",\"kid\":\"p384\"}",
      GOOD, "ES384", K_P384, F_DER, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
    { "EdDSA signature 63 bytes", "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}",
      GOOD, "EdDSA", K_ED, F_DROP, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },

    /* the algorithm must fit the key: the confusion attacks */

    { "HS256 with the RSA PEM as secret",
      "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", GOOD, "HS256", K_RSA_PEM, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_KEY_MISMATCH, NULL },
    { "HS256 with the RSA PEM, no kid", "{\"alg\":\"HS256\"}", GOOD,
      "HS256", K_RSA_PEM, 0, S_RSA_ONLY, 0, NGX_NEONPRO_JWT_KEY_MISMATCH,
      NULL },
    { "HS512 with the RSA PEM, no kid", "{\"alg\":\"HS512\"}", GOOD,
      "HS512", K_RSA_PEM, 0, S_RSA_ONLY, 0, NGX_NEONPRO_JWT_KEY_MISMATCH,
      NULL },
    { "ES256 with the P-384 key", "{\"alg\":\"ES256\",\"kid\":\"p384\"}",
      GOOD, "ES384", K_P384, 0, S_MAIN, 0, NGX_NEONPRO_JWT_KEY_MISMATCH,
      NULL },
    { "ES384 with the P-256 key", "{\"alg\":\"ES384\",\"kid\":\"p256\"}",
      GOOD, "ES256", K_P256, 0, S_MAIN, 0, NGX_NEONPRO_JWT_KEY_MISMATCH,
      NULL },
    { "EdDSA with the RSA key", "{\"alg\":\"EdDSA\",\"kid\":\"rsa\"}", GOOD,
      "EdDSA", K_ED, 0, S_MAIN, 0, NGX_NEONPRO_JWT_KEY_MISMATCH, NULL },
    { "RS256 with the P-256 key", "{\"alg\":\"RS256\",\"kid\":\"p256\"}",
      GOOD, "RS256", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_KEY_MISMATCH,
      NULL },
    { "PS256 with the HMAC secret", "{\"alg\":\"PS256\",\"kid\":\"hs\"}",
      GOOD, "PS256", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_KEY_MISMATCH,
      NULL },
    { "HS256 with the Ed25519 key", "{\"alg\":\"HS256\",\"kid\":\"ed\"}",
      GOOD, "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_KEY_MISMATCH, NULL },
    { "HS384 with a 32-byte secret", "{\"alg\":\"HS384\",\"kid\":\"a\"}",
      GOOD, "HS384", K_A, 0, S_TWO_HS, 0, NGX_NEONPRO_JWT_KEY_MISMATCH,
      NULL },

    /* alg */

    { "alg none unsigned", "{\"alg\":\"none\"}", GOOD, NULL, K_NONE, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_ALG_NONE, NULL },
    { "alg None", "{\"alg\":\"None\",\"kid\":\"hs\"}", GOOD, NULL, K_NONE, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_ALG_NONE, NULL },
    { "alg NONE", "{\"alg\":\"NONE\"}", GOOD, NULL, K_NONE, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_ALG_NONE, NULL },
    { "alg nOnE", "{\"alg\":\"nOnE\"}", GOOD, NULL, K_NONE, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_ALG_NONE, NULL },
    { "alg none with a signature", "{\"alg\":\"none\",\"kid\":\"hs\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_ALG_NONE, NULL },
    { "alg none with every algorithm allowed", "{\"alg\":\"none\"}", GOOD,
      NULL, K_NONE, 0, S_MAIN, 0xffffffff, NGX_NEONPRO_JWT_ALG_NONE, NULL },
    { "alg HS1", "{\"alg\":\"HS1\",\"kid\":\"hs\"}", GOOD, "HS256", K_HS, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_ALG_UNSUPPORTED, NULL },
    { "alg in lower case", "{\"alg\":\"hs256\",\"kid\":\"hs\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_ALG_UNSUPPORTED, NULL },
    { "alg PS512", "{\"alg\":\"PS512\",\"kid\":\"rsa\"}", GOOD, "RS512",
      K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_ALG_UNSUPPORTED, NULL },
    { "alg ES512", "{\"alg\":\"ES512\"}", GOOD, NULL, K_NONE, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_ALG_UNSUPPORTED, NULL },
    { "alg with a NUL", "{\"alg\":\"HS256\\u0000\"}", GOOD, "HS256", K_HS, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "RS256 not allowed", "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD,
      "RS256", K_RSA, 0, S_MAIN,
      NGX_NEONPRO_JWT_ES256 | NGX_NEONPRO_JWT_EDDSA,
      NGX_NEONPRO_JWT_ALG_NOT_ALLOWED, NULL },
    { "HS256 not allowed", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN,
      NGX_NEONPRO_JWT_ALG_ALL & ~NGX_NEONPRO_JWT_ALG_HMAC,
      NGX_NEONPRO_JWT_ALG_NOT_ALLOWED, NULL },
    { "ES256 allowed alone", "{\"alg\":\"ES256\",\"kid\":\"p256\"}", GOOD,
      "ES256", K_P256, 0, S_MAIN, NGX_NEONPRO_JWT_ES256, NGX_NEONPRO_JWT_OK,
      NULL },

    /* header */

    { "header without alg", "{\"kid\":\"hs\"}", GOOD, "HS256", K_HS, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "alg not a string", "{\"alg\":256}", GOOD, "HS256", K_HS, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "header an array", "[\"HS256\"]", GOOD, "HS256", K_HS, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "header not JSON", "{\"alg\":\"HS256\"", GOOD, "HS256", K_HS, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "header with trailing bytes", "{\"alg\":\"HS256\"} x", GOOD, "HS256",
      K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "header with two algs", "{\"alg\":\"none\",\"alg\":\"HS256\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "header with crit",
      "{\"alg\":\"HS256\",\"kid\":\"hs\",\"crit\":[\"exp\"],\"exp\":1}",
      GOOD, "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "header with b64 false",
      "{\"alg\":\"HS256\",\"kid\":\"hs\",\"b64\":false,\"crit\":[\"b64\"]}",
      GOOD, "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "kid not a string", "{\"alg\":\"HS256\",\"kid\":7}", GOOD, "HS256",
      K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "embedded jwk ignored",
      "{\"alg\":\"HS256\",\"kid\":\"hs\",\"jwk\":{\"kty\":\"oct\","
      "\"k\":\"AAAA\"}}", GOOD, "HS256", K_A, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },

    /* kid */

    { "kid with path characters",
      "{\"alg\":\"HS256\",\"kid\":\"../../etc/passwd\"}", GOOD, "HS256", K_HS,
      0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_KID, NULL },
    { "kid with a slash", "{\"alg\":\"HS256\",\"kid\":\"a/b\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_KID, NULL },
    { "kid with a space", "{\"alg\":\"HS256\",\"kid\":\"h s\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_KID, NULL },
    { "kid with a newline", "{\"alg\":\"HS256\",\"kid\":\"hs\\n\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_KID, NULL },
    { "kid with a NUL", "{\"alg\":\"HS256\",\"kid\":\"hs\\u0000x\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_HEADER, NULL },
    { "kid not ASCII", "{\"alg\":\"HS256\",\"kid\":\"h\\u00e9\"}", GOOD,
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_KID, NULL },
    { "kid empty", "{\"alg\":\"HS256\",\"kid\":\"\"}", GOOD, "HS256", K_HS,
      0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_KID, NULL },
    { "kid of 129 characters",
      "{\"alg\":\"HS256\",\"kid\":\""
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "a\"}", GOOD, "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_KID,
      NULL },
    { "kid of 128 characters",
      "{\"alg\":\"HS256\",\"kid\":\""
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "\"}", GOOD, "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_UNKNOWN_KID,
      NULL },
    { "unknown kid", "{\"alg\":\"RS256\",\"kid\":\"rsa-2019\"}", GOOD,
      "RS256", K_RSA, 0, S_MAIN, 0, NGX_NEONPRO_JWT_UNKNOWN_KID, NULL },
    { "kid on a set without kids", "{\"alg\":\"RS256\",\"kid\":\"rsa\"}",
      GOOD, "RS256", K_RSA, 0, S_RSA_ONLY, 0, NGX_NEONPRO_JWT_UNKNOWN_KID,
      NULL },

    /* payload */

    { "payload an array", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", "[1,2]",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_PAYLOAD, NULL },
    { "payload not JSON", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", "sub=x",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_BAD_PAYLOAD, NULL },
    { "payload with two exps", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1,\"exp\":1700003600}", "HS256", K_HS, 0, S_MAIN,
      0, NGX_NEONPRO_JWT_BAD_PAYLOAD, NULL },
    { "exp too large for a double", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1e400}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_PAYLOAD, NULL },

    /* dates, with NOW and a leeway of 60 s */

    { "expired", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1699996400}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_EXPIRED, "exp" },
    { "expired at the leeway's end", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1699999940}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_EXPIRED, "exp" },
    { "expired inside the leeway", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1699999941}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_OK, NULL },
    { "exp as a real", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1700003600.5}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_OK, NULL },
    { "exp as a real, expired", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1.6999e9}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_EXPIRED, "exp" },
    { "exp the largest integer", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":9223372036854775807}", "HS256", K_HS, 0, S_MAIN,
      0, NGX_NEONPRO_JWT_OK, NULL },
    { "exp the smallest integer", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":-9223372036854775808}", "HS256", K_HS, 0, S_MAIN,
      0, NGX_NEONPRO_JWT_EXPIRED, "exp" },
    { "exp a string", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":\"1700003600\"}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_INVALID_CLAIM, "exp" },
    { "exp true", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":true}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_INVALID_CLAIM, "exp" },
    { "exp null", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":null}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_INVALID_CLAIM, "exp" },
    { "no exp", "{\"alg\":\"HS256\",\"kid\":\"hs\"}", "{" CLAIMS "}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "nbf in the future", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"nbf\":1700003600}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_NOT_YET_VALID, "nbf" },
    { "nbf just past the leeway", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"nbf\":1700000061}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_NOT_YET_VALID, "nbf" },
    { "nbf inside the leeway", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"nbf\":1700000060}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_OK, NULL },
    { "nbf in the past", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"nbf\":1699990000,\"exp\":1700003600}", "HS256", K_HS, 0,
      S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "nbf an array", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"nbf\":[1]}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_INVALID_CLAIM, "nbf" },
    { "iat in the future", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"iat\":1700003600}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_ISSUED_IN_FUTURE, "iat" },
    { "iat inside the leeway", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"iat\":1700000060}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_OK, NULL },
    { "iat a string", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"iat\":\"now\"}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_INVALID_CLAIM, "iat" },

    /* issuer */

    { "wrong iss", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"https://evil.test\",\"aud\":\"" AUDIENCE "\","
      "\"sub\":\"x\"}", "HS256", K_HS, 0, S_MAIN, 0,
      NGX_NEONPRO_JWT_WRONG_ISSUER, "iss" },
    { "iss with a suffix", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "/\",\"aud\":\"" AUDIENCE "\",\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_WRONG_ISSUER, "iss" },
    { "iss the first of the list", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"https://login.neonpro.test\",\"aud\":\"" AUDIENCE "\","
      "\"sub\":\"x\"}", "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK,
      NULL },
    { "iss missing", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"aud\":\"" AUDIENCE "\",\"sub\":\"x\"}", "HS256", K_HS, 0, S_MAIN,
      0, NGX_NEONPRO_JWT_MISSING_CLAIM, "iss" },
    { "iss an array", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":[\"" ISSUER "\"],\"aud\":\"" AUDIENCE "\",\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_CLAIM, "iss" },

    /* audience */

    { "wrong aud string", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":\"billing\",\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_WRONG_AUDIENCE, "aud" },
    { "wrong aud array", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[\"billing\",\"crm\"],\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_WRONG_AUDIENCE, "aud" },
    { "aud array with a match", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[\"billing\",\"" AUDIENCE "\"],"
      "\"sub\":\"x\"}", "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK,
      NULL },
    { "aud the first of the list", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":\"neonpro-admin\",\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },
    { "aud empty array", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[],\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_WRONG_AUDIENCE, "aud" },
    { "aud missing", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_MISSING_CLAIM, "aud" },
    { "aud a number", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":1,\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_CLAIM, "aud" },
    { "aud array with a number", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[\"" AUDIENCE "\",1],\"sub\":\"x\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_INVALID_CLAIM, "aud" },

    /* required claims */

    { "sub missing", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\"}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_MISSING_CLAIM, "sub" },
    { "sub null is present", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"sub\":null}",
      "HS256", K_HS, 0, S_MAIN, 0, NGX_NEONPRO_JWT_OK, NULL },

    /* a bad signature is found before the claims are read */

    { "expired with a bad signature", "{\"alg\":\"HS256\",\"kid\":\"hs\"}",
      "{" CLAIMS ",\"exp\":1}", "HS256", K_HS, F_CORRUPT, S_MAIN, 0,
      NGX_NEONPRO_JWT_BAD_SIGNATURE, NULL },
};


/* tokens that need no signing: the shape of the compact serialization */
static const raw_case_t  raw_cases[] = {
    { "empty token", "", NGX_NEONPRO_JWT_MALFORMED },
    { "one part", "eyJhbGciOiJIUzI1NiJ9", NGX_NEONPRO_JWT_MALFORMED },
    { "two parts", "eyJhbGciOiJIUzI1NiJ9.e30", NGX_NEONPRO_JWT_MALFORMED },
    { "four parts", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln.c2ln",
      NGX_NEONPRO_JWT_MALFORMED },
    { "two dots only", "..", NGX_NEONPRO_JWT_MALFORMED },
    { "empty header", ".e30.c2ln", NGX_NEONPRO_JWT_MALFORMED },
    { "empty payload", "eyJhbGciOiJIUzI1NiJ9..c2ln",
      NGX_NEONPRO_JWT_MALFORMED },
    { "trailing dot", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln.",
      NGX_NEONPRO_JWT_MALFORMED },
    { "padded header", "eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "padded payload", "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "padded signature", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbg==",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "standard alphabet plus", "eyJ+bGciOiJIUzI1NiJ9.e30.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "standard alphabet slash", "eyJhbGciOiJIUzI1NiJ9.e30.c2l/",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "asterisk", "eyJ*bGciOiJIUzI1NiJ9.e30.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "space", "eyJhbGciOiJIUzI1NiJ9 .e30.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "Bearer prefix", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "header length 1 mod 4", "eyJhb.e30.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "header with trailing bits set", "eyJhbGciOiJIUzI1NiJ9.e31.c2ln",
      NGX_NEONPRO_JWT_BAD_BASE64URL },
    { "header empty object", "e30.e30.c2ln", NGX_NEONPRO_JWT_BAD_HEADER },
    { "header null", "bnVsbA.e30.c2ln", NGX_NEONPRO_JWT_BAD_HEADER },
    { "header cut JSON", "eyI.e30.c2ln", NGX_NEONPRO_JWT_BAD_HEADER },
};


static const char  jwks_mixed_tail[] =
    "{\"kty\":\"EC\",\"crv\":\"P-521\",\"kid\":\"p521\","
    "\"x\":\"AAAA\",\"y\":\"AAAA\"},"
    "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"x25519\","
    "\"x\":\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\"},"
    "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"kid\":\"ed448\",\"x\":\"AAAA\"},"
    "{\"kty\":\"dilithium\",\"kid\":\"pq\"},"
    "{\"kty\":\"oct\",\"use\":\"enc\",\"kid\":\"enc\","
    "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
    "{\"kty\":\"oct\",\"key_ops\":[\"encrypt\"],\"kid\":\"ops\","
    "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
    "{\"kty\":\"oct\",\"alg\":\"A256KW\",\"kid\":\"kw\","
    "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
    "{\"kty\":\"oct\",\"kid\":\"../keys/hs\","
    "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";


/* each follows one good key, which must be gone after the failure */
static const jwks_error_case_t  jwks_errors[] = {
    { "JWKS not JSON", "{\"keys\":[", "not valid JSON" },
    { "JWKS an array", "[]", "no \"keys\" array" },
    { "JWKS keys an object", "{\"keys\":{}}", "no \"keys\" array" },
    { "JWK a number", "{\"keys\":[%s,1]}", "not an object" },
    { "JWK without kty", "{\"keys\":[%s,{\"kid\":\"x\"}]}", "\"kty\"" },
    { "RSA JWK without e",
      "{\"keys\":[%s,{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}", "requires" },
    { "RSA JWK n padded",
      "{\"keys\":[%s,{\"kty\":\"RSA\",\"n\":\"AQAB==\",\"e\":\"AQAB\"}]}",
      "base64url" },
    { "RSA JWK too short",
      "{\"keys\":[%s,{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
      "2048" },
    { "EC JWK short x",
      "{\"keys\":[%s,{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
      "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
      "wrong length" },
    { "EC JWK point not on the curve",
      "{\"keys\":[%s,{\"kty\":\"EC\",\"crv\":\"P-256\","
      "\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
      "\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
      "EC" },
    { "Ed25519 JWK short x",
      "{\"keys\":[%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}",
      "32 bytes" },
    { "oct JWK short",
      "{\"keys\":[%s,{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}", "32 bytes" },
    { "oct JWK with RS256",
      "{\"keys\":[%s,{\"kty\":\"oct\",\"alg\":\"RS256\","
      "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
      "does not match" },
    { "kid not a string",
      "{\"keys\":[%s,{\"kty\":\"oct\",\"kid\":1,"
      "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
      "\"kid\"" },
    { "duplicate kid",
      "{\"keys\":[%s,{\"kty\":\"oct\",\"kid\":\"first\","
      "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
      "duplicate kid" },
};


/* Helpers: base64url, signing and tokens */


static char *
b64url(const unsigned char *p, size_t len)
{
    int     n, i, j;
    char   *out;

    out = malloc(4 * (len / 3 + 1) + 1);
    if (out == NULL) {
        abort();
    }

    n = EVP_EncodeBlock((unsigned char *) out, p, (int) len);

    for (i = 0, j = 0; i < n; i++) {
        if (out[i] == '=') {
            break;
        }

        out[j++] = (out[i] == '+') ? '-' : (out[i] == '/') ? '_' : out[i];
    }

    out[j] = '\0';

    return out;
}


static const char *
digest_of(const char *alg)
{
    if (strcmp(alg + 2, "384") == 0) {
        return "SHA384";
    }

    if (strcmp(alg + 2, "512") == 0) {
        return "SHA512";
    }

    return (strcmp(alg, "EdDSA") == 0) ? NULL : "SHA256";
}


/* Signs input as alg does.  ECDSA comes out as R || S, or DER with der. */
static size_t
sign(const char *alg, const test_key_t *key, const unsigned char *input,
    size_t input_len, int der, unsigned char *sig)
{
    size_t                len, half;
    EVP_MD_CTX           *mctx;
    EVP_PKEY_CTX         *pctx;
    ECDSA_SIG            *esig;
    const BIGNUM         *r, *s;
    const unsigned char  *p;
    unsigned char         buf[MAX_SIG];

    if (alg[0] == 'H') {
        if (EVP_Q_mac(NULL, "HMAC", NULL, digest_of(alg), NULL, key->secret,
                      key->secret_len, input, input_len, sig, MAX_SIG, &len)
            == NULL)
        {
            abort();
        }

        return len;
    }

    mctx = EVP_MD_CTX_new();
    len = sizeof(buf);

    if (mctx == NULL
        || EVP_DigestSignInit_ex(mctx, &pctx, digest_of(alg), NULL, NULL,
                                 key->pkey, NULL) != 1
        || (alg[0] == 'P'
            && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
                || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                    RSA_PSS_SALTLEN_DIGEST)
                   != 1))
        || EVP_DigestSign(mctx, buf, &len, input, input_len) != 1)
    {
        abort();
    }

    EVP_MD_CTX_free(mctx);

    if (alg[0] != 'E' || alg[1] != 'S' || der) {
        memcpy(sig, buf, len);
        return len;
    }

    /* DER to the R || S of RFC 7518, section 3.4 */

    half = (strcmp(alg, "ES256") == 0) ? 32 : 48;
    p = buf;

    esig = d2i_ECDSA_SIG(NULL, &p, (long) len);
    if (esig == NULL) {
        abort();
    }

    ECDSA_SIG_get0(esig, &r, &s);
    BN_bn2binpad(r, sig, (int) half);
    BN_bn2binpad(s, sig + half, (int) half);
    ECDSA_SIG_free(esig);

    return 2 * half;
}


/* Builds header.payload.signature.  A NULL sign_alg leaves it unsigned. */
static char *
make_token(const char *header, const char *payload, const char *sign_alg,
    int key, unsigned flags)
{
    char           *h, *p, *s, *input, *token;
    size_t          sig_len, len;
    unsigned char   sig[MAX_SIG];

    h = b64url((const unsigned char *) header, strlen(header));
    p = b64url((const unsigned char *) payload, strlen(payload));

    len = strlen(h) + strlen(p) + 2;
    input = malloc(len);
    snprintf(input, len, "%s.%s", h, p);

    sig_len = 0;

    if (sign_alg != NULL && key != K_NONE) {
        sig_len = sign(sign_alg, &keys[key], (unsigned char *) input,
                       strlen(input), (flags & F_DER) != 0, sig);
    }

    if (flags & F_CORRUPT) {
        sig[sig_len / 4] ^= 0x01;
    }

    if (flags & F_DROP) {
        sig_len--;
    }

    if (flags & F_ADD) {
        sig[sig_len++] = 0;
    }

    if (flags & F_ZERO) {
        memset(sig, 0, sig_len);
    }

    s = b64url(sig, sig_len);

    len = strlen(input) + strlen(s) + 2;
    token = malloc(len);
    snprintf(token, len, "%s.%s", input, s);

    free(h);
    free(p);
    free(s);
    free(input);

    return token;
}


static ngx_neonpro_jwt_options_t
default_options(void)
{
    ngx_neonpro_jwt_options_t  o;

    memset(&o, 0, sizeof(o));

    o.algorithms = NGX_NEONPRO_JWT_ALG_ALL;
    o.now = NOW;
    o.leeway = 60;
    o.issuers = issuers;
    o.nissuers = 2;
    o.audiences = audiences;
    o.naudiences = 2;
    o.required = required;
    o.nrequired = 1;

    return o;
}


static ngx_neonpro_jwt_rc_e
verify(ngx_neonpro_jwt_keyset_t *ks, const char *token, size_t len,
    const ngx_neonpro_jwt_options_t *options, ngx_neonpro_jwt_result_t *res)
{
    return ngx_neonpro_jwt_verify(ks, (const unsigned char *) token, len,
                                  options, res);
}


static int
claim_is(const ngx_neonpro_jwt_result_t *res, const char *name)
{
    return res->claim.len == strlen(name)
           && memcmp(res->claim.data, name, res->claim.len) == 0;
}


/* Checks that a loader's text contains a word; NULL contains nothing. */
static int
mentions(const char *text, const char *word)
{
    return text != NULL && strstr(text, word) != NULL;
}


static int
string_is(const char *s, const char *expected)
{
    return s != NULL && strcmp(s, expected) == 0;
}


static const ngx_neonpro_jwt_str_t *
str(const char *s, ngx_neonpro_jwt_str_t *out)
{
    out->len = strlen(s);
    out->data = (const unsigned char *) s;

    return out;
}


/* Set-up: keys and key sets */


static char *
public_pem(EVP_PKEY *pkey)
{
    BIO   *bio;
    char  *data, *pem;
    long   len;

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        abort();
    }

    len = BIO_get_mem_data(bio, &data);

    pem = malloc((size_t) len + 1);
    memcpy(pem, data, (size_t) len);
    pem[len] = '\0';

    BIO_free(bio);

    return pem;
}


static char *
private_pem(EVP_PKEY *pkey)
{
    BIO   *bio;
    char  *data, *pem;
    long   len;

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL
        || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
    {
        abort();
    }

    len = BIO_get_mem_data(bio, &data);

    pem = malloc((size_t) len + 1);
    memcpy(pem, data, (size_t) len);
    pem[len] = '\0';

    BIO_free(bio);

    return pem;
}


static void
make_secret(int key, size_t len, unsigned char fill)
{
    keys[key].secret = malloc(len);
    memset(keys[key].secret, fill, len);
    keys[key].secret[0] = (unsigned char) key;
    keys[key].secret_len = len;
}


static void
add_pem(ngx_neonpro_jwt_keyset_t *ks, int key, const char *kid)
{
    ngx_neonpro_jwt_str_t   k;
    ngx_neonpro_jwt_load_t  report;

    if (ngx_neonpro_jwt_keyset_add_pem(ks,
                                       (const unsigned char *) keys[key].pem,
                                       strlen(keys[key].pem), NULL,
                                       kid ? str(kid, &k) : NULL, &report)
        != 0)
    {
        printf("set-up: add_pem(%s): %s\n", kid, report.error);
        abort();
    }
}


static void
add_secret(ngx_neonpro_jwt_keyset_t *ks, int key, const char *kid,
    const char *issuer)
{
    ngx_neonpro_jwt_str_t   k, i;
    ngx_neonpro_jwt_load_t  report;

    if (ngx_neonpro_jwt_keyset_add_secret(ks, keys[key].secret,
                                          keys[key].secret_len,
                                          issuer ? str(issuer, &i) : NULL,
                                          kid ? str(kid, &k) : NULL, &report)
        != 0)
    {
        printf("set-up: add_secret(%s): %s\n", kid, report.error);
        abort();
    }
}


static void
set_up(void)
{
    keys[K_RSA].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    keys[K_P256].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    keys[K_P384].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    keys[K_ED].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    if (keys[K_RSA].pkey == NULL || keys[K_P256].pkey == NULL
        || keys[K_P384].pkey == NULL || keys[K_ED].pkey == NULL)
    {
        printf("set-up: key generation failed\n");
        abort();
    }

    keys[K_RSA].pem = public_pem(keys[K_RSA].pkey);
    keys[K_P256].pem = public_pem(keys[K_P256].pkey);
    keys[K_P384].pem = public_pem(keys[K_P384].pkey);
    keys[K_ED].pem = public_pem(keys[K_ED].pkey);

    make_secret(K_HS, 64, 0x5a);
    make_secret(K_A, 32, 0xa1);
    make_secret(K_B, 32, 0xb2);

    keys[K_RSA_PEM].secret = (unsigned char *) keys[K_RSA].pem;
    keys[K_RSA_PEM].secret_len = strlen(keys[K_RSA].pem);

    sets[S_MAIN] = ngx_neonpro_jwt_keyset_create();
    add_secret(sets[S_MAIN], K_HS, "hs", NULL);
    add_pem(sets[S_MAIN], K_RSA, "rsa");
    add_pem(sets[S_MAIN], K_P256, "p256");
    add_pem(sets[S_MAIN], K_P384, "p384");
    add_pem(sets[S_MAIN], K_ED, "ed");

    sets[S_RSA_ONLY] = ngx_neonpro_jwt_keyset_create();
    add_pem(sets[S_RSA_ONLY], K_RSA, NULL);

    sets[S_TWO_HS] = ngx_neonpro_jwt_keyset_create();
    add_secret(sets[S_TWO_HS], K_A, "a", NULL);
    add_secret(sets[S_TWO_HS], K_B, "b", NULL);
}


static void
tear_down(void)
{
    int  i;

    for (i = 0; i < NSETS; i++) {
        ngx_neonpro_jwt_keyset_free(sets[i]);
    }

    for (i = 0; i < NKEYS; i++) {
        EVP_PKEY_free(keys[i].pkey);

        if (i != K_RSA_PEM) {
            free(keys[i].secret);
        }

        free(keys[i].pem);
    }
}


/* Tests */


static void
run_case(const jwt_case_t *tc)
{
    char                       name[256], *token;
    json_t                    *sub;
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    options = default_options();

    if (tc->algorithms) {
        options.algorithms = tc->algorithms;
    }

    token = make_token(tc->header, tc->payload, tc->sign_alg, tc->key,
                       tc->flags);

    rc = verify(sets[tc->set], token, strlen(token), &options, &res);

    snprintf(name, sizeof(name), "%s: %s, expected %s", tc->name,
             ngx_neonpro_jwt_reason(rc), ngx_neonpro_jwt_reason(tc->rc));
    CHECK(rc == tc->rc, name);

    if (tc->rc == NGX_NEONPRO_JWT_OK) {
        snprintf(name, sizeof(name), "%s: claims returned", tc->name);
        CHECK(json_is_object(res.claims), name);

        sub = json_object_get(res.claims, "sub");
        snprintf(name, sizeof(name), "%s: sub among the claims", tc->name);
        CHECK(sub != NULL, name);

    } else {
        snprintf(name, sizeof(name), "%s: no claims on failure", tc->name);
        CHECK(res.claims == NULL, name);
    }

    if (tc->claim != NULL) {
        snprintf(name, sizeof(name), "%s: the failed claim is %s", tc->name,
                 tc->claim);
        CHECK(claim_is(&res, tc->claim), name);
    }

    if (tc->rc == NGX_NEONPRO_JWT_INVALID_KID) {
        snprintf(name, sizeof(name), "%s: unsafe kid not returned", tc->name);
        CHECK(res.kid_len == 0, name);

        snprintf(name, sizeof(name), "%s: kid left empty", tc->name);
        CHECK(res.kid[0] == '\0', name);
    }

    snprintf(name, sizeof(name), "%s: reason free of token bytes", tc->name);
    CHECK(strstr(ngx_neonpro_jwt_reason(rc), "eyJ") == NULL, name);

    json_decref(res.claims);
    free(token);
}


static void
test_result_fields(void)
{
    char                      *token;
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    options = default_options();

    token = make_token("{\"alg\":\"ES256\",\"kid\":\"p256\"}", GOOD, "ES256",
                       K_P256, 0);
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);

    CHECK(rc == NGX_NEONPRO_JWT_OK, "result: ES256 verifies");
    CHECK(res.alg == NGX_NEONPRO_JWT_ES256, "result: alg is ES256");
    CHECK(strcmp(res.kid, "p256") == 0, "result: kid is p256");
    CHECK(res.kid_len == 4, "result: kid_len is 4");
    CHECK(strcmp(json_string_value(json_object_get(res.claims, "sub")),
                 "patient-42") == 0, "result: sub is patient-42");
    CHECK(res.claim.len == 0, "result: no failed claim on success");

    json_decref(res.claims);
    free(token);

    /* a safe kid comes back on failure too, so that it can be logged */

    token = make_token("{\"alg\":\"RS256\",\"kid\":\"rsa\"}", GOOD, "RS256",
                       K_RSA, F_CORRUPT);
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);

    CHECK(rc == NGX_NEONPRO_JWT_BAD_SIGNATURE, "result: bad RS256 rejected");
    CHECK(strcmp(res.kid, "rsa") == 0, "result: kid kept on failure");
    CHECK(res.alg == NGX_NEONPRO_JWT_RS256, "result: alg kept on failure");

    free(token);
}


static void
test_raw_cases(void)
{
    char                       name[256];
    size_t                     i;
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    options = default_options();

    for (i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
        rc = verify(sets[S_MAIN], raw_cases[i].token,
                    strlen(raw_cases[i].token), &options, &res);

        snprintf(name, sizeof(name), "%s: %s, expected %s", raw_cases[i].name,
                 ngx_neonpro_jwt_reason(rc),
                 ngx_neonpro_jwt_reason(raw_cases[i].rc));
        CHECK(rc == raw_cases[i].rc, name);
    }
}


/* Damages a good token one byte at a time in ways the parser must catch. */
static void
test_token_bytes(void)
{
    char                      *token, *copy, *dot;
    size_t                     len;
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    options = default_options();

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD, "HS256",
                       K_HS, 0);
    len = strlen(token);
    copy = malloc(len + 16);

    /*
     * A 32-byte MAC is 43 digits, and the last one's two low bits are
     * unused, so they are zero and adding 1 sets one: the same MAC spelled
     * another way.
     */

    memcpy(copy, token, len + 1);
    copy[len - 1]++;
    rc = verify(sets[S_MAIN], copy, len, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_BASE64URL,
          "bytes: respelled last digit rejected");

    snprintf(copy, len + 16, "%s=", token);
    rc = verify(sets[S_MAIN], copy, len + 1, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_BASE64URL, "bytes: padding rejected");

    snprintf(copy, len + 16, "%s.", token);
    rc = verify(sets[S_MAIN], copy, len + 1, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_MALFORMED, "bytes: fourth empty part");

    snprintf(copy, len + 16, "%s.c2ln", token);
    rc = verify(sets[S_MAIN], copy, len + 5, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_MALFORMED, "bytes: four parts rejected");

    snprintf(copy, len + 16, "%s\n", token);
    rc = verify(sets[S_MAIN], copy, len + 1, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_BASE64URL,
          "bytes: trailing newline rejected");

    memcpy(copy, token, len + 1);
    copy[3] = '\0';
    rc = verify(sets[S_MAIN], copy, len, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_BASE64URL, "bytes: NUL inside rejected");

    dot = strrchr(token, '.');
    rc = verify(sets[S_MAIN], token, (size_t) (dot - token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_MALFORMED, "bytes: signature cut off");

    rc = verify(sets[S_MAIN], token, len - 1, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_BASE64URL
          || rc == NGX_NEONPRO_JWT_BAD_SIGNATURE,
          "bytes: last digit cut off");

    rc = verify(sets[S_MAIN], token, len, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "bytes: the original verifies");
    json_decref(res.claims);

    free(copy);
    free(token);
}


static void
test_size_limit(void)
{
    char                      *token, *big;
    size_t                     len;
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    options = default_options();

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD, "HS256",
                       K_HS, 0);
    len = strlen(token);

    options.max_size = len;
    rc = verify(sets[S_MAIN], token, len, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "size: a token at the limit verifies");
    json_decref(res.claims);

    options.max_size = len - 1;
    rc = verify(sets[S_MAIN], token, len, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_TOO_LARGE, "size: one byte over the limit");

    /* the limit comes first: 9000 bytes of garbage are too large */

    options.max_size = 0;
    big = malloc(9000);
    memset(big, '*', 9000);

    rc = verify(sets[S_MAIN], big, 9000, &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_TOO_LARGE, "size: default limit of 8 KiB");

    rc = verify(sets[S_MAIN], big, NGX_NEONPRO_JWT_MAX_SIZE_DEFAULT,
                &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_MALFORMED,
          "size: 8 KiB of garbage is within the default limit");

    free(big);
    free(token);
}


static void
test_leeway_and_now(void)
{
    char                      *token;
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD, "HS256",
                       K_HS, 0);

    options = default_options();
    options.now = 1700003600;
    options.leeway = 0;
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_EXPIRED, "dates: expired at exp itself");

    options.now = 1700003599;
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "dates: valid one second before exp");
    json_decref(res.claims);

    options.now = 1700003600;
    options.leeway = -100;
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_EXPIRED, "dates: negative leeway is zero");

    options.now = INT64_MIN;
    options.leeway = INT64_MAX;
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "dates: extreme now and leeway");
    json_decref(res.claims);

    free(token);

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"hs\"}",
                       "{" CLAIMS ",\"nbf\":9223372036854775807}", "HS256",
                       K_HS, 0);
    options.now = INT64_MAX;
    options.leeway = INT64_MAX;
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "dates: nbf at the int64 limit");
    json_decref(res.claims);

    free(token);
}


static void
test_no_checks_configured(void)
{
    char                      *token;
    ngx_neonpro_jwt_rc_e       rc;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;

    memset(&options, 0, sizeof(options));
    options.algorithms = NGX_NEONPRO_JWT_HS256;
    options.now = NOW;

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"hs\"}",
                       "{\"iss\":7,\"aud\":{}}", "HS256", K_HS, 0);
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "options: empty lists check nothing");
    json_decref(res.claims);
    free(token);

    options.algorithms = 0;
    token = make_token("{\"alg\":\"HS256\",\"kid\":\"hs\"}", GOOD, "HS256",
                       K_HS, 0);
    rc = verify(sets[S_MAIN], token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_ALG_NOT_ALLOWED,
          "options: an empty allow-list allows nothing");
    free(token);
}


/* Keys tied to an issuer verify only that issuer's tokens. */
static void
test_issuer_keys(void)
{
    char                       *token;
    ngx_neonpro_jwt_rc_e        rc;
    ngx_neonpro_jwt_result_t    res;
    ngx_neonpro_jwt_options_t   options;
    ngx_neonpro_jwt_keyset_t   *ks;

    static const ngx_neonpro_jwt_str_t  both[] = {
        { 14, (const unsigned char *) "https://a.test" },
        { 14, (const unsigned char *) "https://b.test" }
    };

    ks = ngx_neonpro_jwt_keyset_create();
    add_secret(ks, K_A, NULL, "https://a.test");
    add_secret(ks, K_B, NULL, "https://b.test");

    options = default_options();
    options.issuers = both;
    options.naudiences = 0;
    options.nrequired = 0;

    token = make_token("{\"alg\":\"HS256\"}", "{\"iss\":\"https://a.test\"}",
                       "HS256", K_A, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "issuer keys: a's token, a's key");
    json_decref(res.claims);
    free(token);

    token = make_token("{\"alg\":\"HS256\"}", "{\"iss\":\"https://b.test\"}",
                       "HS256", K_B, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "issuer keys: b's token, b's key");
    json_decref(res.claims);
    free(token);

    token = make_token("{\"alg\":\"HS256\"}", "{\"iss\":\"https://a.test\"}",
                       "HS256", K_B, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_SIGNATURE,
          "issuer keys: b cannot sign for a");
    free(token);

    token = make_token("{\"alg\":\"HS256\"}", "{\"iss\":\"https://c.test\"}",
                       "HS256", K_A, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_NO_KEY, "issuer keys: unknown issuer");
    free(token);

    token = make_token("{\"alg\":\"HS256\"}", "{\"sub\":\"x\"}", "HS256",
                       K_A, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_NO_KEY, "issuer keys: token without iss");
    free(token);

    token = make_token("{\"alg\":\"HS256\"}", "{\"iss\":[\"https://a.test\"]}",
                       "HS256", K_A, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_NO_KEY, "issuer keys: iss not a string");
    free(token);

    ngx_neonpro_jwt_keyset_free(ks);
}


/* A new JWKS replaces the old set: the old kid is gone, the new one works. */
static void
test_rotation(void)
{
    char                       *k1, *k2, *token;
    char                        jwks[256];
    ngx_neonpro_jwt_rc_e        rc;
    ngx_neonpro_jwt_load_t      report;
    ngx_neonpro_jwt_result_t    res;
    ngx_neonpro_jwt_options_t   options;
    ngx_neonpro_jwt_keyset_t   *before, *after;

    options = default_options();
    k1 = b64url(keys[K_A].secret, keys[K_A].secret_len);
    k2 = b64url(keys[K_B].secret, keys[K_B].secret_len);

    before = ngx_neonpro_jwt_keyset_create();
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"2024-01\",\"k\":\"%s\"}]}",
             k1);
    CHECK(ngx_neonpro_jwt_keyset_add_jwks(before, (unsigned char *) jwks,
                                          strlen(jwks), NULL, &report) == 0,
          "rotation: the old set loads");

    after = ngx_neonpro_jwt_keyset_create();
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"2024-02\",\"k\":\"%s\"}]}",
             k2);
    CHECK(ngx_neonpro_jwt_keyset_add_jwks(after, (unsigned char *) jwks,
                                          strlen(jwks), NULL, &report) == 0,
          "rotation: the new set loads");

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"2024-01\"}", GOOD,
                       "HS256", K_A, 0);

    rc = verify(before, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "rotation: old kid, old set");
    json_decref(res.claims);

    rc = verify(after, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_UNKNOWN_KID, "rotation: old kid, new set");
    free(token);

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"2024-02\"}", GOOD,
                       "HS256", K_B, 0);
    rc = verify(after, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "rotation: new kid, new set");
    json_decref(res.claims);
    free(token);

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"2024-02\"}", GOOD,
                       "HS256", K_A, 0);
    rc = verify(after, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_SIGNATURE,
          "rotation: new kid signed with the old secret");
    free(token);

    ngx_neonpro_jwt_keyset_free(before);
    ngx_neonpro_jwt_keyset_free(after);
    free(k1);
    free(k2);
}


/* Returns the JWK of a generated key as JSON text, malloc'ed. */
static char *
jwk_of(int key, const char *kid)
{
    char           *out, *a, *b;
    size_t          len, half;
    BIGNUM         *n, *e;
    unsigned char   buf[600];

    out = malloc(2048);
    n = NULL;
    e = NULL;

    if (key == K_RSA) {
        EVP_PKEY_get_bn_param(keys[key].pkey, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(keys[key].pkey, OSSL_PKEY_PARAM_RSA_E, &e);

        len = (size_t) BN_bn2bin(n, buf);
        a = b64url(buf, len);
        len = (size_t) BN_bn2bin(e, buf);
        b = b64url(buf, len);

        snprintf(out, 2048,
                 "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\","
                 "\"n\":\"%s\",\"e\":\"%s\"}", kid, a, b);

    } else if (key == K_P256 || key == K_P384) {
        EVP_PKEY_get_octet_string_param(keys[key].pkey,
                                        OSSL_PKEY_PARAM_PUB_KEY, buf,
                                        sizeof(buf), &len);
        half = (len - 1) / 2;
        a = b64url(buf + 1, half);
        b = b64url(buf + 1 + half, half);

        snprintf(out, 2048,
                 "{\"kty\":\"EC\",\"crv\":\"%s\",\"kid\":\"%s\","
                 "\"x\":\"%s\",\"y\":\"%s\",\"key_ops\":[\"verify\"]}",
                 key == K_P256 ? "P-256" : "P-384", kid, a, b);

    } else if (key == K_ED) {
        len = sizeof(buf);
        EVP_PKEY_get_raw_public_key(keys[key].pkey, buf, &len);
        a = b64url(buf, len);
        b = NULL;

        snprintf(out, 2048,
                 "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\","
                 "\"alg\":\"EdDSA\",\"x\":\"%s\"}", kid, a);

    } else {
        a = b64url(keys[key].secret, keys[key].secret_len);
        b = NULL;

        snprintf(out, 2048,
                 "{\"kty\":\"oct\",\"kid\":\"%s\",\"alg\":\"HS512\","
                 "\"k\":\"%s\"}", kid, a);
    }

    BN_free(n);
    BN_free(e);
    free(a);
    free(b);

    return out;
}


static void
test_jwks_mixed(void)
{
    char                       *rsa, *p256, *p384, *ed, *hs, *jwks, *token;
    char                        name[128];
    size_t                      i, len;
    ngx_neonpro_jwt_rc_e        rc;
    ngx_neonpro_jwt_load_t      report;
    ngx_neonpro_jwt_result_t    res;
    ngx_neonpro_jwt_options_t   options;
    ngx_neonpro_jwt_keyset_t   *ks;

    static const struct {
        const char  *alg;
        const char  *kid;
        int          key;
        int          rc;
    } uses[] = {
        { "RS256", "j-rsa", K_RSA, NGX_NEONPRO_JWT_OK },
        { "PS256", "j-rsa", K_RSA, NGX_NEONPRO_JWT_OK },
        { "ES256", "j-p256", K_P256, NGX_NEONPRO_JWT_OK },
        { "ES384", "j-p384", K_P384, NGX_NEONPRO_JWT_OK },
        { "EdDSA", "j-ed", K_ED, NGX_NEONPRO_JWT_OK },
        { "HS512", "j-hs", K_HS, NGX_NEONPRO_JWT_OK },

        /* "alg":"HS512" on the oct key narrows it to HS512 */
        { "HS256", "j-hs", K_HS, NGX_NEONPRO_JWT_KEY_MISMATCH },

        /* skipped keys are not there */
        { "HS256", "enc", K_HS, NGX_NEONPRO_JWT_UNKNOWN_KID },
        { "HS256", "ops", K_HS, NGX_NEONPRO_JWT_UNKNOWN_KID },
        { "HS256", "kw", K_HS, NGX_NEONPRO_JWT_UNKNOWN_KID },
    };

    rsa = jwk_of(K_RSA, "j-rsa");
    p256 = jwk_of(K_P256, "j-p256");
    p384 = jwk_of(K_P384, "j-p384");
    ed = jwk_of(K_ED, "j-ed");
    hs = jwk_of(K_HS, "j-hs");

    len = strlen(rsa) + strlen(p256) + strlen(p384) + strlen(ed) + strlen(hs)
          + sizeof(jwks_mixed_tail) + 64;
    jwks = malloc(len);

    /* the unsupported keys sit between the good ones */

    snprintf(jwks, len, "{\"keys\":[%s,%s,%s,%s,%s,%s]}", rsa,
             jwks_mixed_tail, p256, p384, ed, hs);

    ks = ngx_neonpro_jwt_keyset_create();

    rc = ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) jwks,
                                         strlen(jwks), NULL, &report);
    CHECK(rc == 0, "JWKS mixed: loads");
    CHECK(report.loaded == 5, "JWKS mixed: 5 keys loaded");
    CHECK(report.skipped == 8, "JWKS mixed: 8 keys skipped");
    CHECK(report.skip_index == 1, "JWKS mixed: the first skipped is key 1");
    CHECK(mentions(report.skip_reason, "curve"),
          "JWKS mixed: the first skip names the curve");
    CHECK(report.error == NULL, "JWKS mixed: no error");
    CHECK(ngx_neonpro_jwt_keyset_count(ks) == 5, "JWKS mixed: set count 5");

    options = default_options();

    for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
        snprintf(name, sizeof(name), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
                 uses[i].alg, uses[i].kid);
        token = make_token(name, GOOD, uses[i].alg, uses[i].key, 0);

        rc = verify(ks, token, strlen(token), &options, &res);

        snprintf(name, sizeof(name), "JWKS mixed: %s with kid %s: %s",
                 uses[i].alg, uses[i].kid, ngx_neonpro_jwt_reason(rc));
        CHECK((int) rc == uses[i].rc, name);

        json_decref(res.claims);
        free(token);
    }

    ngx_neonpro_jwt_keyset_free(ks);
    free(jwks);
    free(rsa);
    free(p256);
    free(p384);
    free(ed);
    free(hs);
}


static void
test_jwks_errors(void)
{
    int                        rc;
    char                       name[160], jwks[1024];
    size_t                     i;
    ngx_neonpro_jwt_str_t      kid;
    ngx_neonpro_jwt_load_t     report;
    ngx_neonpro_jwt_keyset_t  *ks;

    static const char  good[] =
        "{\"kty\":\"oct\",\"kid\":\"first\","
        "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";

    ks = ngx_neonpro_jwt_keyset_create();

    /* one key from before, which every failure must leave in place */

    rc = ngx_neonpro_jwt_keyset_add_secret(ks, keys[K_A].secret,
                                           keys[K_A].secret_len, NULL,
                                           str("before", &kid), &report);
    CHECK(rc == 0, "JWKS errors: the first key loads");

    for (i = 0; i < sizeof(jwks_errors) / sizeof(jwks_errors[0]); i++) {
        snprintf(jwks, sizeof(jwks), jwks_errors[i].jwks, good);

        rc = ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) jwks,
                                             strlen(jwks), NULL, &report);

        snprintf(name, sizeof(name), "%s: rejected", jwks_errors[i].name);
        CHECK(rc == -1, name);

        snprintf(name, sizeof(name), "%s: error mentions %s (got %s)",
                 jwks_errors[i].name, jwks_errors[i].error,
                 report.error ? report.error : "none");
        CHECK(mentions(report.error, jwks_errors[i].error), name);

        snprintf(name, sizeof(name), "%s: nothing loaded",
                 jwks_errors[i].name);
        CHECK(report.loaded == 0, name);

        snprintf(name, sizeof(name), "%s: set unchanged", jwks_errors[i].name);
        CHECK(ngx_neonpro_jwt_keyset_count(ks) == 1, name);
    }

    snprintf(jwks, sizeof(jwks), jwks_errors[5].jwks, good);
    ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) jwks, strlen(jwks),
                                    NULL, &report);
    CHECK(report.error_index == 1, "JWKS errors: the failed key's index");

    ngx_neonpro_jwt_keyset_free(ks);
}


/* An RSA modulus over 16384 bits fails at load, not at every token. */
static void
test_jwks_rsa_too_long(void)
{
    int                        rc;
    char                      *n, *jwks;
    size_t                     len;
    unsigned char              modulus[16384 / 8 + 1];
    ngx_neonpro_jwt_load_t     report;
    ngx_neonpro_jwt_keyset_t  *ks;

    memset(modulus, 0xff, sizeof(modulus));
    n = b64url(modulus, sizeof(modulus));

    len = strlen(n) + 64;
    jwks = malloc(len);
    snprintf(jwks, len,
             "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", n);

    ks = ngx_neonpro_jwt_keyset_create();
    rc = ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) jwks,
                                         strlen(jwks), NULL, &report);
    CHECK(rc == -1, "JWKS: RSA of 16392 bits rejected");
    CHECK(mentions(report.error, "16384"),
          "JWKS: the error names 16384 bits");

    ngx_neonpro_jwt_keyset_free(ks);
    free(jwks);
    free(n);
}


/* Loaders and verification leave OpenSSL's error queue empty. */
static void
test_error_queue(void)
{
    char                       *token;
    ngx_neonpro_jwt_load_t      report;
    ngx_neonpro_jwt_result_t    res;
    ngx_neonpro_jwt_options_t   options;
    ngx_neonpro_jwt_keyset_t   *ks;

    ERR_clear_error();

    ks = ngx_neonpro_jwt_keyset_create();
    ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) keys[K_P256].pem,
                                   strlen(keys[K_P256].pem), NULL, NULL,
                                   &report);
    CHECK(report.loaded == 1, "error queue: PEM loads");
    CHECK(ERR_peek_error() == 0, "error queue: empty after a PEM loads");

    ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) "-----BEGIN", 10,
                                   NULL, NULL, &report);
    CHECK(ERR_peek_error() == 0, "error queue: empty after a PEM fails");

    ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) py_jwks,
                                    strlen(py_jwks), NULL, &report);
    CHECK(ERR_peek_error() == 0, "error queue: empty after a JWKS loads");

    ngx_neonpro_jwt_keyset_free(ks);

    /* a failed RSA check leaves "padding check failed" errors in OpenSSL */

    options = default_options();
    token = make_token("{\"alg\":\"RS256\"}", GOOD, "RS256", K_RSA,
                       F_CORRUPT);
    ngx_neonpro_jwt_verify(sets[S_RSA_ONLY], (unsigned char *) token,
                           strlen(token), &options, &res);
    CHECK(ERR_peek_error() == 0,
          "error queue: empty after a bad RSA signature");

    free(token);
}


static void
test_jwks_issuer(void)
{
    int                        rc;
    char                       jwks[256], *k, *token;
    ngx_neonpro_jwt_str_t      iss;
    ngx_neonpro_jwt_load_t     report;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;
    ngx_neonpro_jwt_keyset_t  *ks;

    k = b64url(keys[K_A].secret, keys[K_A].secret_len);
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k\",\"k\":\"%s\"}]}", k);

    ks = ngx_neonpro_jwt_keyset_create();
    rc = ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) jwks,
                                         strlen(jwks),
                                         str("https://login.neonpro.test",
                                             &iss), &report);
    CHECK(rc == 0, "JWKS issuer: loads");

    /* the same kid for another issuer is a different key */

    rc = ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) jwks,
                                         strlen(jwks), str(ISSUER, &iss),
                                         &report);
    CHECK(rc == 0, "JWKS issuer: same kid, another issuer");

    rc = ngx_neonpro_jwt_keyset_add_jwks(ks, (unsigned char *) jwks,
                                         strlen(jwks), NULL, &report);
    CHECK(rc == -1, "JWKS issuer: same kid without issuer collides");

    options = default_options();

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"k\"}", GOOD, "HS256",
                       K_A, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "JWKS issuer: token of that issuer");
    json_decref(res.claims);
    free(token);

    token = make_token("{\"alg\":\"HS256\",\"kid\":\"k\"}",
                       "{\"iss\":\"https://other.test\",\"sub\":\"x\"}",
                       "HS256", K_A, 0);
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_UNKNOWN_KID,
          "JWKS issuer: kid unknown for another issuer");
    free(token);

    ngx_neonpro_jwt_keyset_free(ks);
    free(k);
}


static void
test_pem_loading(void)
{
    int                        rc;
    char                      *pem;
    EVP_PKEY                  *pkey;
    ngx_neonpro_jwt_str_t      kid;
    ngx_neonpro_jwt_load_t     report;
    ngx_neonpro_jwt_keyset_t  *ks;

    ks = ngx_neonpro_jwt_keyset_create();

    pem = private_pem(keys[K_ED].pkey);
    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) pem,
                                        strlen(pem), NULL, NULL, &report);
    CHECK(rc == -1, "PEM: a private key is rejected");
    CHECK(mentions(report.error, "private"),
          "PEM: the error names the private key");
    free(pem);

    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) "hello", 5,
                                        NULL, NULL, &report);
    CHECK(rc == -1, "PEM: text without PEM rejected");

    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) "", 0, NULL,
                                        NULL, &report);
    CHECK(rc == -1, "PEM: empty input rejected");

    rc = ngx_neonpro_jwt_keyset_add_pem(ks,
                                        (unsigned char *) keys[K_RSA].pem, 40,
                                        NULL, NULL, &report);
    CHECK(rc == -1, "PEM: a cut PEM rejected");

    rc = ngx_neonpro_jwt_keyset_add_pem(ks,
                                        (unsigned char *) keys[K_RSA].pem,
                                        strlen(keys[K_RSA].pem), NULL,
                                        str("../rsa", &kid), &report);
    CHECK(rc == -1, "PEM: unsafe kid rejected");
    CHECK(mentions(report.error, "kid"),
          "PEM: the error names the kid");

    rc = ngx_neonpro_jwt_keyset_add_pem(ks,
                                        (unsigned char *) keys[K_RSA].pem,
                                        strlen(keys[K_RSA].pem), NULL,
                                        str("rsa", &kid), &report);
    CHECK(rc == 0, "PEM: RSA key loads");
    CHECK(report.loaded == 1, "PEM: report counts the RSA key");

    rc = ngx_neonpro_jwt_keyset_add_pem(ks,
                                        (unsigned char *) keys[K_P256].pem,
                                        strlen(keys[K_P256].pem), NULL,
                                        str("rsa", &kid), &report);
    CHECK(rc == -1, "PEM: duplicate kid rejected");
    CHECK(ngx_neonpro_jwt_keyset_count(ks) == 1, "PEM: set count unchanged");

    /* keys a JWS algorithm of this unit cannot use */

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    pem = public_pem(pkey);
    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) pem,
                                        strlen(pem), NULL, NULL, &report);
    CHECK(rc == -1, "PEM: RSA 1024 rejected");
    CHECK(mentions(report.error, "2048"),
          "PEM: the error names 2048 bits");
    EVP_PKEY_free(pkey);
    free(pem);

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    pem = public_pem(pkey);
    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) pem,
                                        strlen(pem), NULL, NULL, &report);
    CHECK(rc == -1, "PEM: secp256k1 rejected");
    CHECK(mentions(report.error, "curve"),
          "PEM: the error names the curve");
    EVP_PKEY_free(pkey);
    free(pem);

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    pem = public_pem(pkey);
    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) pem,
                                        strlen(pem), NULL, NULL, &report);
    CHECK(rc == -1, "PEM: X25519 rejected");
    EVP_PKEY_free(pkey);
    free(pem);

    CHECK(ngx_neonpro_jwt_keyset_count(ks) == 1, "PEM: only RSA loaded");

    ngx_neonpro_jwt_keyset_free(ks);
}


static void
test_secret_loading(void)
{
    int                        rc;
    char                       content[160], *token, *b64;
    size_t                     len;
    ngx_neonpro_jwt_str_t      kid;
    ngx_neonpro_jwt_load_t     report;
    ngx_neonpro_jwt_result_t   res;
    ngx_neonpro_jwt_options_t  options;
    ngx_neonpro_jwt_keyset_t  *ks;

    options = default_options();
    token = make_token("{\"alg\":\"HS256\",\"kid\":\"s\"}", GOOD, "HS256",
                       K_A, 0);

    /* raw bytes with a trailing LF */

    ks = ngx_neonpro_jwt_keyset_create();
    memcpy(content, keys[K_A].secret, 32);
    content[32] = '\n';
    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) content, 33,
                                           NULL, str("s", &kid), &report);
    CHECK(rc == 0, "secret: raw with LF loads");
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "secret: the LF is not part of it");
    json_decref(res.claims);
    ngx_neonpro_jwt_keyset_free(ks);

    /* raw bytes with CRLF */

    ks = ngx_neonpro_jwt_keyset_create();
    content[32] = '\r';
    content[33] = '\n';
    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) content, 34,
                                           NULL, str("s", &kid), &report);
    CHECK(rc == 0, "secret: raw with CRLF loads");
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "secret: the CRLF is not part of it");
    json_decref(res.claims);
    ngx_neonpro_jwt_keyset_free(ks);

    /* only one newline goes: a second is part of the secret */

    ks = ngx_neonpro_jwt_keyset_create();
    content[32] = '\n';
    content[33] = '\n';
    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) content, 34,
                                           NULL, str("s", &kid), &report);
    CHECK(rc == 0, "secret: raw with two LFs loads");
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_BAD_SIGNATURE,
          "secret: the second LF is part of it");
    ngx_neonpro_jwt_keyset_free(ks);

    /* base64: with and without padding, with a newline */

    b64 = (char *) malloc(64);
    EVP_EncodeBlock((unsigned char *) b64, keys[K_A].secret, 32);

    ks = ngx_neonpro_jwt_keyset_create();
    len = (size_t) snprintf(content, sizeof(content), "base64:%s\n", b64);
    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) content, len,
                                           NULL, str("s", &kid), &report);
    CHECK(rc == 0, "secret: base64 with padding loads");
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "secret: base64 with padding verifies");
    json_decref(res.claims);
    ngx_neonpro_jwt_keyset_free(ks);

    ks = ngx_neonpro_jwt_keyset_create();
    len = (size_t) snprintf(content, sizeof(content), "base64:%.43s", b64);
    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) content, len,
                                           NULL, str("s", &kid), &report);
    CHECK(rc == 0, "secret: base64 without padding loads");
    rc = verify(ks, token, strlen(token), &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK,
          "secret: base64 without padding verifies");
    json_decref(res.claims);
    ngx_neonpro_jwt_keyset_free(ks);

    /* bad secrets */

    ks = ngx_neonpro_jwt_keyset_create();

    len = (size_t) snprintf(content, sizeof(content), "base64:%s*", b64);
    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) content, len,
                                           NULL, NULL, &report);
    CHECK(rc == -1, "secret: invalid base64 rejected");
    CHECK(mentions(report.error, "base64"),
          "secret: the error names base64");

    len = (size_t) snprintf(content, sizeof(content), "base64:%s",
                            "AAAA-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) content, len,
                                           NULL, NULL, &report);
    CHECK(rc == -1, "secret: base64url digits are not standard base64");

    rc = ngx_neonpro_jwt_keyset_add_secret(ks, keys[K_A].secret, 31, NULL,
                                           NULL, &report);
    CHECK(rc == -1, "secret: 31 bytes rejected");
    CHECK(mentions(report.error, "32"),
          "secret: the error names 32 bytes");

    rc = ngx_neonpro_jwt_keyset_add_secret(ks, (unsigned char *) "\n", 1,
                                           NULL, NULL, &report);
    CHECK(rc == -1, "secret: an empty file rejected");

    rc = ngx_neonpro_jwt_keyset_add_secret(ks,
                                           (unsigned char *) keys[K_RSA].pem,
                                           strlen(keys[K_RSA].pem), NULL,
                                           NULL, &report);
    CHECK(rc == -1, "secret: a PEM public key rejected as secret");
    CHECK(mentions(report.error, "PEM"),
          "secret: the error names PEM");

    CHECK(ngx_neonpro_jwt_keyset_count(ks) == 0, "secret: nothing loaded");

    ngx_neonpro_jwt_keyset_free(ks);
    free(b64);
    free(token);
}


/* Tokens signed by PyJWT verify with keys in every form. */
static void
test_python_vectors(void)
{
    int                         rc;
    char                        name[160], sub[32];
    size_t                      i, j;
    const char                 *s;
    ngx_neonpro_jwt_str_t       kid;
    ngx_neonpro_jwt_load_t      report;
    ngx_neonpro_jwt_result_t    res;
    ngx_neonpro_jwt_options_t   options;
    ngx_neonpro_jwt_keyset_t   *ks, *jwks;

    options = default_options();
    options.now = PY_IAT + 100;

    jwks = ngx_neonpro_jwt_keyset_create();
    rc = ngx_neonpro_jwt_keyset_add_jwks(jwks, (unsigned char *) py_jwks,
                                         strlen(py_jwks), NULL, &report);
    CHECK(rc == 0, "PyJWT: the JWKS loads");
    CHECK(report.loaded == 7, "PyJWT: 7 JWKs loaded");
    CHECK(report.skipped == 0, "PyJWT: no JWK skipped");

    for (i = 0; i < sizeof(py_vectors) / sizeof(py_vectors[0]); i++) {
        ks = ngx_neonpro_jwt_keyset_create();

        if (py_vectors[i].pem) {
            rc = ngx_neonpro_jwt_keyset_add_pem(ks,
                     (unsigned char *) py_vectors[i].key,
                     py_vectors[i].key_len, NULL,
                     str(py_vectors[i].kid, &kid), &report);
        } else {
            rc = ngx_neonpro_jwt_keyset_add_secret(ks,
                     (unsigned char *) py_vectors[i].key,
                     py_vectors[i].key_len, NULL,
                     str(py_vectors[i].kid, &kid), &report);
        }

        snprintf(name, sizeof(name), "PyJWT %s: key loads", py_vectors[i].alg);
        CHECK(rc == 0, name);

        rc = verify(ks, py_vectors[i].token, strlen(py_vectors[i].token),
                    &options, &res);
        snprintf(name, sizeof(name), "PyJWT %s: verifies (%s)",
                 py_vectors[i].alg, ngx_neonpro_jwt_reason(rc));
        CHECK(rc == NGX_NEONPRO_JWT_OK, name);

        snprintf(sub, sizeof(sub), "py-%s", py_vectors[i].alg);
        for (j = 0; sub[j]; j++) {
            sub[j] = (char) ((sub[j] >= 'A' && sub[j] <= 'Z') ? sub[j] + 32
                                                               : sub[j]);
        }

        s = json_string_value(json_object_get(res.claims, "sub"));
        snprintf(name, sizeof(name), "PyJWT %s: sub is %s", py_vectors[i].alg,
                 sub);
        CHECK(string_is(s, sub), name);

        snprintf(name, sizeof(name), "PyJWT %s: alg reported",
                 py_vectors[i].alg);
        CHECK(string_is(ngx_neonpro_jwt_alg_name(res.alg), py_vectors[i].alg),
              name);

        snprintf(name, sizeof(name), "PyJWT %s: kid reported",
                 py_vectors[i].alg);
        CHECK(strcmp(res.kid, py_vectors[i].kid) == 0, name);

        json_decref(res.claims);

        rc = verify(jwks, py_vectors[i].token, strlen(py_vectors[i].token),
                    &options, &res);
        snprintf(name, sizeof(name), "PyJWT %s: verifies with the JWKS (%s)",
                 py_vectors[i].alg, ngx_neonpro_jwt_reason(rc));
        CHECK(rc == NGX_NEONPRO_JWT_OK, name);
        json_decref(res.claims);

        /* at exp plus the 60 s leeway, the vector has expired */

        options.now = 4102444800 + 60;
        rc = verify(ks, py_vectors[i].token, strlen(py_vectors[i].token),
                    &options, &res);
        snprintf(name, sizeof(name), "PyJWT %s: expired in 2100",
                 py_vectors[i].alg);
        CHECK(rc == NGX_NEONPRO_JWT_EXPIRED, name);
        json_decref(res.claims);
        options.now = PY_IAT + 100;

        ngx_neonpro_jwt_keyset_free(ks);
    }

    /* the RSA key as PKCS#1 and as a certificate */

    ks = ngx_neonpro_jwt_keyset_create();
    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) py_rsa_pkcs1,
                                        strlen(py_rsa_pkcs1), NULL,
                                        str("py-rsa", &kid), &report);
    CHECK(rc == 0, "PyJWT: PKCS#1 RSA public key loads");
    rc = verify(ks, py_vectors[3].token, strlen(py_vectors[3].token),
                &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "PyJWT: RS256 verifies with PKCS#1 key");
    json_decref(res.claims);
    ngx_neonpro_jwt_keyset_free(ks);

    ks = ngx_neonpro_jwt_keyset_create();
    rc = ngx_neonpro_jwt_keyset_add_pem(ks, (unsigned char *) py_rsa_cert,
                                        strlen(py_rsa_cert), NULL,
                                        str("py-rsa", &kid), &report);
    CHECK(rc == 0, "PyJWT: certificate loads");
    rc = verify(ks, py_vectors[6].token, strlen(py_vectors[6].token),
                &options, &res);
    CHECK(rc == NGX_NEONPRO_JWT_OK, "PyJWT: PS256 verifies with certificate");
    json_decref(res.claims);
    ngx_neonpro_jwt_keyset_free(ks);

    ngx_neonpro_jwt_keyset_free(jwks);
}


static void
test_names_and_reasons(void)
{
    int          i, j, distinct;
    char         name[96];
    const char  *s;

    static const ngx_neonpro_jwt_alg_e  algs[] = {
        NGX_NEONPRO_JWT_HS256, NGX_NEONPRO_JWT_HS384, NGX_NEONPRO_JWT_HS512,
        NGX_NEONPRO_JWT_RS256, NGX_NEONPRO_JWT_RS384, NGX_NEONPRO_JWT_RS512,
        NGX_NEONPRO_JWT_PS256, NGX_NEONPRO_JWT_ES256, NGX_NEONPRO_JWT_ES384,
        NGX_NEONPRO_JWT_EDDSA
    };

    for (i = 0; i < 10; i++) {
        s = ngx_neonpro_jwt_alg_name(algs[i]);

        snprintf(name, sizeof(name), "names: alg %d has a name", i);
        CHECK(s != NULL, name);

        if (s == NULL) {
            continue;
        }

        snprintf(name, sizeof(name), "names: %s round trip", s);
        CHECK(ngx_neonpro_jwt_alg_by_name((const unsigned char *) s, strlen(s))
              == algs[i], name);
    }

    CHECK(ngx_neonpro_jwt_alg_name((ngx_neonpro_jwt_alg_e) 3) == NULL,
          "names: two bits have no name");
    CHECK(ngx_neonpro_jwt_alg_by_name((const unsigned char *) "none", 4) == 0,
          "names: none is no algorithm");
    CHECK(ngx_neonpro_jwt_alg_by_name((const unsigned char *) "HS2560", 6)
          == 0, "names: a longer name does not match");
    CHECK(ngx_neonpro_jwt_alg_by_name((const unsigned char *) "HS25", 4) == 0,
          "names: a prefix does not match");

    distinct = 1;

    for (i = 0; i <= NGX_NEONPRO_JWT_CRYPTO_ERROR; i++) {
        s = ngx_neonpro_jwt_reason((ngx_neonpro_jwt_rc_e) i);

        snprintf(name, sizeof(name), "reasons: %d has a text", i);
        CHECK(s[0] != '\0', name);

        snprintf(name, sizeof(name), "reasons: %d is in the table", i);
        CHECK(strcmp(s, "unknown error") != 0, name);

        for (j = 0; j < i; j++) {
            if (strcmp(s, ngx_neonpro_jwt_reason((ngx_neonpro_jwt_rc_e) j))
                == 0)
            {
                distinct = 0;
            }
        }
    }

    CHECK(distinct, "reasons: every text differs");
    CHECK(strcmp(ngx_neonpro_jwt_reason(NGX_NEONPRO_JWT_KEY_MISMATCH),
                 "key type does not match algorithm") == 0,
          "reasons: key mismatch text");
    CHECK(strcmp(ngx_neonpro_jwt_reason((ngx_neonpro_jwt_rc_e) 99),
                 "unknown error") == 0, "reasons: out of range");
}


static void
test_hash(void)
{
    unsigned char  a[NGX_NEONPRO_JWT_HASH_SIZE], b[NGX_NEONPRO_JWT_HASH_SIZE];

    /* SHA-256("abc"), as `printf abc | sha256sum` prints it */

    static const unsigned char  abc[] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
        0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
        0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
    };

    CHECK(ngx_neonpro_jwt_hash((const unsigned char *) "abc", 3, a) == 0,
          "hash: returns 0");
    CHECK(memcmp(a, abc, sizeof(abc)) == 0, "hash: SHA-256 of abc");

    ngx_neonpro_jwt_hash((const unsigned char *) "abd", 3, b);
    CHECK(memcmp(a, b, sizeof(a)) != 0, "hash: another token, another hash");
}


int
main(void)
{
    size_t  i;

    set_up();

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_case(&cases[i]);
    }

    test_result_fields();
    test_raw_cases();
    test_token_bytes();
    test_size_limit();
    test_leeway_and_now();
    test_no_checks_configured();
    test_issuer_keys();
    test_rotation();
    test_jwks_mixed();
    test_jwks_errors();
    test_jwks_rsa_too_long();
    test_jwks_issuer();
    test_pem_loading();
    test_secret_loading();
    test_python_vectors();
    test_names_and_reasons();
    test_hash();
    test_error_queue();

    tear_down();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
