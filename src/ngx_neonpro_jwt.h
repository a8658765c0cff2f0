
/*
 * Verification of JSON Web Tokens (RFC 7519) in the JWS compact
 * serialization (RFC 7515, section 7.1), signed with the algorithms of
 * RFC 7518 and RFC 8037 (EdDSA with Ed25519).  Pure C on bytes and
 * lengths: OpenSSL 3 verifies the signatures and jansson parses the JSON,
 * so the unit tests and the fuzzer link it without nginx.
 *
 * API contract:
 *
 *   - A key set is built once, at configuration time, with
 *     ngx_neonpro_jwt_keyset_create() and the ngx_neonpro_jwt_keyset_add_*()
 *     loaders, and released with ngx_neonpro_jwt_keyset_free().  The set
 *     allocates with malloc and OpenSSL; it owns copies of every byte it
 *     was given, so the caller may free its buffers after each call.  An
 *     nginx caller frees the set from a cleanup of the cycle's pool.
 *
 *   - ngx_neonpro_jwt_verify() reads the key set and the options and
 *     changes neither.  On success the result contains the verified
 *     claims, a jansson object that the caller owns and releases with
 *     json_decref().  On failure the result has no claims and nothing
 *     needs to be freed.
 *
 *   - Reason texts are static English strings that name the failed check.
 *     They never contain any byte of the token.  The result's kid is
 *     filled in only after it passed the safe-set check, so a caller may
 *     log it.  Loader errors are static strings as well, and never contain
 *     key material.
 *
 *   - No function keeps state between calls, so nothing here is tied to a
 *     thread.  The unit is written for nginx's single-threaded workers and
 *     is not tested for concurrent use of one key set.
 *
 *   - Every function that calls OpenSSL clears OpenSSL's per-thread error
 *     queue before it returns, so that a failed check leaves nothing for
 *     nginx's own OpenSSL error reporting to pick up later.
 */


#ifndef _NGX_NEONPRO_JWT_H_INCLUDED_
#define _NGX_NEONPRO_JWT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>


/* the token size limit when the options give 0, in bytes */
#define NGX_NEONPRO_JWT_MAX_SIZE_DEFAULT  8192

/* a kid is 1 to 128 characters of A-Z, a-z, 0-9, ".", "_" and "-" */
#define NGX_NEONPRO_JWT_KID_MAX           128

/* the size of ngx_neonpro_jwt_hash()'s output: a SHA-256 digest */
#define NGX_NEONPRO_JWT_HASH_SIZE         32

/* RFC 7518, section 3.2: an HMAC secret at least as long as SHA-256 */
#define NGX_NEONPRO_JWT_SECRET_MIN        32

/* RFC 7518, section 3.3: RSA keys of at least 2048 bits */
#define NGX_NEONPRO_JWT_RSA_BITS_MIN      2048

/* OpenSSL 3.0 verifies with no larger RSA modulus (its rsa.h sets 16384) */
#define NGX_NEONPRO_JWT_RSA_BITS_MAX      16384


/* the signature algorithms, as bits of an allow-list */
typedef enum {
    NGX_NEONPRO_JWT_HS256 = 0x0001,
    NGX_NEONPRO_JWT_HS384 = 0x0002,
    NGX_NEONPRO_JWT_HS512 = 0x0004,
    NGX_NEONPRO_JWT_RS256 = 0x0008,
    NGX_NEONPRO_JWT_RS384 = 0x0010,
    NGX_NEONPRO_JWT_RS512 = 0x0020,
    NGX_NEONPRO_JWT_PS256 = 0x0040,
    NGX_NEONPRO_JWT_ES256 = 0x0080,
    NGX_NEONPRO_JWT_ES384 = 0x0100,
    NGX_NEONPRO_JWT_EDDSA = 0x0200
} ngx_neonpro_jwt_alg_e;

#define NGX_NEONPRO_JWT_ALG_HMAC  (NGX_NEONPRO_JWT_HS256                     \
                                   | NGX_NEONPRO_JWT_HS384                   \
                                   | NGX_NEONPRO_JWT_HS512)
#define NGX_NEONPRO_JWT_ALG_ALL   0x03ff


/*
 * The outcome of ngx_neonpro_jwt_verify(), in the order of the checks.
 * Every value but NGX_NEONPRO_JWT_NOMEM and NGX_NEONPRO_JWT_CRYPTO_ERROR
 * means that the token is not acceptable.  Those two are server errors.
 */
typedef enum {
    NGX_NEONPRO_JWT_OK = 0,
    NGX_NEONPRO_JWT_TOO_LARGE,          /* over options->max_size */
    NGX_NEONPRO_JWT_MALFORMED,          /* not three parts, or an empty one */
    NGX_NEONPRO_JWT_BAD_BASE64URL,      /* padding, a byte off the alphabet */
    NGX_NEONPRO_JWT_BAD_HEADER,         /* not an object, no "alg", "crit" */
    NGX_NEONPRO_JWT_ALG_NONE,           /* "none" in any letter case */
    NGX_NEONPRO_JWT_ALG_UNSUPPORTED,
    NGX_NEONPRO_JWT_ALG_NOT_ALLOWED,    /* not in options->algorithms */
    NGX_NEONPRO_JWT_INVALID_KID,        /* outside the safe set */
    NGX_NEONPRO_JWT_BAD_PAYLOAD,        /* not a JSON object */
    NGX_NEONPRO_JWT_UNKNOWN_KID,
    NGX_NEONPRO_JWT_NO_KEY,             /* no key for the token's issuer */
    NGX_NEONPRO_JWT_KID_REQUIRED,       /* no kid, several keys fit */
    NGX_NEONPRO_JWT_KEY_MISMATCH,       /* or an HMAC secret too short */
    NGX_NEONPRO_JWT_BAD_SIGNATURE,
    NGX_NEONPRO_JWT_INVALID_CLAIM,      /* a claim of the wrong JSON type */
    NGX_NEONPRO_JWT_EXPIRED,
    NGX_NEONPRO_JWT_NOT_YET_VALID,
    NGX_NEONPRO_JWT_ISSUED_IN_FUTURE,
    NGX_NEONPRO_JWT_WRONG_ISSUER,
    NGX_NEONPRO_JWT_WRONG_AUDIENCE,
    NGX_NEONPRO_JWT_MISSING_CLAIM,
    NGX_NEONPRO_JWT_NOMEM,
    NGX_NEONPRO_JWT_CRYPTO_ERROR        /* OpenSSL failed before verifying */
} ngx_neonpro_jwt_rc_e;


/* bytes and a length, in the field order of nginx's ngx_str_t */
typedef struct {
    size_t                 len;
    const unsigned char   *data;
} ngx_neonpro_jwt_str_t;


/* the keys to verify with, whose layout is private to the unit */
typedef struct ngx_neonpro_jwt_keyset_s  ngx_neonpro_jwt_keyset_t;


/* the outcome of a loader, with static English texts */
typedef struct {
    size_t                 loaded;        /* keys added by this call */

    /* JWKS: keys left out as unsupported, the first one's index and why */
    size_t                 skipped;
    size_t                 skip_index;
    const char            *skip_reason;

    /* on failure: what was wrong, and the index in "keys" of a JWK */
    const char            *error;
    size_t                 error_index;
} ngx_neonpro_jwt_load_t;


/*
 * The checks of ngx_neonpro_jwt_verify().  The arrays are read only during
 * the call.  A list with no entries disables its check.
 */
typedef struct {
    /* the allowed algorithms: ngx_neonpro_jwt_alg_e bits */
    unsigned                      algorithms;

    size_t                        max_size;     /* bytes, 0 for the default */

    int64_t                       now;          /* seconds since the epoch */
    int64_t                       leeway;       /* seconds: exp, nbf, iat */

    /* "iss" must equal one of these */
    const ngx_neonpro_jwt_str_t  *issuers;
    size_t                        nissuers;

    /* "aud", a string or an array of strings, must contain one of these */
    const ngx_neonpro_jwt_str_t  *audiences;
    size_t                        naudiences;

    /* claims that must be present, such as "exp" or "sub" */
    const ngx_neonpro_jwt_str_t  *required;
    size_t                        nrequired;
} ngx_neonpro_jwt_options_t;


typedef struct {
    /* NGX_NEONPRO_JWT_OK: the payload object, owned by the caller */
    json_t                 *claims;

    /* the header's algorithm once it is recognized, 0 before */
    ngx_neonpro_jwt_alg_e   alg;

    /* the header's kid once it passed the safe-set check, "" before */
    char                    kid[NGX_NEONPRO_JWT_KID_MAX + 1];
    size_t                  kid_len;

    /*
     * A failed claim check: the claim's name ("exp", "nbf", "iat", "iss",
     * "aud" or an entry of options->required), not NUL-terminated.
     */
    ngx_neonpro_jwt_str_t   claim;
} ngx_neonpro_jwt_result_t;


ngx_neonpro_jwt_keyset_t *ngx_neonpro_jwt_keyset_create(void);
void ngx_neonpro_jwt_keyset_free(ngx_neonpro_jwt_keyset_t *ks);
size_t ngx_neonpro_jwt_keyset_count(const ngx_neonpro_jwt_keyset_t *ks);

/*
 * The loaders return 0 on success and -1 on failure, when the key set is
 * left as it was and report->error gives the reason.  "issuer" ties the
 * keys to tokens whose "iss" equals it, and NULL or an empty string leaves
 * them open to every issuer.  "kid" is the key's id, and NULL or an empty
 * string gives none.  Within one issuer, and between an issuer and the
 * open keys, a kid may be given only once.
 */

/* Adds a PEM public key (RSA, EC P-256 or P-384, Ed25519) or certificate. */
int ngx_neonpro_jwt_keyset_add_pem(ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *pem, size_t len, const ngx_neonpro_jwt_str_t *issuer,
    const ngx_neonpro_jwt_str_t *kid, ngx_neonpro_jwt_load_t *report);

/*
 * Adds an HMAC secret from a file's content: raw bytes, or "base64:" and
 * standard base64.  One trailing newline is not part of the secret.
 */
int ngx_neonpro_jwt_keyset_add_secret(ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *content, size_t len,
    const ngx_neonpro_jwt_str_t *issuer, const ngx_neonpro_jwt_str_t *kid,
    ngx_neonpro_jwt_load_t *report);

/*
 * Adds the keys of a JWK Set (RFC 7517, section 5).  Keys for another use
 * than "sig", with "key_ops" that lack "verify", of an unknown kty, curve
 * or alg, or with an unsafe kid are skipped and counted.  A malformed key
 * of a supported kind fails the whole set.
 */
int ngx_neonpro_jwt_keyset_add_jwks(ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *json, size_t len, const ngx_neonpro_jwt_str_t *issuer,
    ngx_neonpro_jwt_load_t *report);

ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_verify(const ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *token, size_t len,
    const ngx_neonpro_jwt_options_t *options,
    ngx_neonpro_jwt_result_t *result);

const char *ngx_neonpro_jwt_reason(ngx_neonpro_jwt_rc_e rc);

/* Returns "HS256" and so on, or NULL for a value that is not one bit. */
const char *ngx_neonpro_jwt_alg_name(ngx_neonpro_jwt_alg_e alg);

/* Returns the algorithm of an exact JWA name, or 0. */
ngx_neonpro_jwt_alg_e ngx_neonpro_jwt_alg_by_name(const unsigned char *name,
    size_t len);

/* Computes the SHA-256 digest of a token, a key for a verification cache. */
int ngx_neonpro_jwt_hash(const unsigned char *token, size_t len,
    unsigned char out[NGX_NEONPRO_JWT_HASH_SIZE]);


#endif /* _NGX_NEONPRO_JWT_H_INCLUDED_ */
