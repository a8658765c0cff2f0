
/*
 * Internals that the two files of the JWT unit share: verification in
 * ngx_neonpro_jwt.c, the key set and its loaders in ngx_neonpro_jwt_key.c.
 * Callers include ngx_neonpro_jwt.h only.
 */


#ifndef _NGX_NEONPRO_JWT_KEY_H_INCLUDED_
#define _NGX_NEONPRO_JWT_KEY_H_INCLUDED_


#include <openssl/evp.h>

#include "ngx_neonpro_jwt.h"


/* the number of entries of ngx_neonpro_jwt_algs */
#define NGX_NEONPRO_JWT_NALGS  10


typedef enum {
    NGX_NEONPRO_JWT_KEY_HMAC = 0,
    NGX_NEONPRO_JWT_KEY_RSA,
    NGX_NEONPRO_JWT_KEY_P256,
    NGX_NEONPRO_JWT_KEY_P384,
    NGX_NEONPRO_JWT_KEY_ED25519
} ngx_neonpro_jwt_key_type_e;


typedef struct {
    const char                  *name;
    ngx_neonpro_jwt_alg_e        alg;
    ngx_neonpro_jwt_key_type_e   key_type;

    /* the digest's OpenSSL name, or NULL for EdDSA, which hashes itself */
    const char                  *digest;

    /*
     * HS*: the MAC length and the shortest secret (RFC 7518, section 3.2).
     * ES*: the length of R || S (RFC 7518, section 3.4).  Others: 0.
     */
    size_t                       size;

    unsigned                     pss:1;
} ngx_neonpro_jwt_alg_t;


typedef struct {
    ngx_neonpro_jwt_key_type_e   type;

    /* the algorithms this key may verify: its type's, narrowed by "alg" */
    unsigned                     algorithms;

    EVP_PKEY                    *pkey;          /* all but HMAC */
    unsigned char               *secret;        /* HMAC */
    size_t                       secret_len;

    unsigned char               *issuer;        /* NULL: every issuer */
    size_t                       issuer_len;

    char                         kid[NGX_NEONPRO_JWT_KID_MAX + 1];
    size_t                       kid_len;       /* 0: no kid */
} ngx_neonpro_jwt_key_t;


struct ngx_neonpro_jwt_keyset_s {
    ngx_neonpro_jwt_key_t       *keys;
    size_t                       nkeys;
    size_t                       size;
};


extern const ngx_neonpro_jwt_alg_t
    ngx_neonpro_jwt_algs[NGX_NEONPRO_JWT_NALGS];


const ngx_neonpro_jwt_alg_t *ngx_neonpro_jwt_alg_find(const char *name,
    size_t len);
int ngx_neonpro_jwt_kid_valid(const unsigned char *kid, size_t len);
int ngx_neonpro_jwt_b64_value(unsigned char c, int url);
int ngx_neonpro_jwt_b64_decode(const unsigned char *src, size_t len, int url,
    unsigned char *dst, size_t *dst_len);


#endif /* _NGX_NEONPRO_JWT_KEY_H_INCLUDED_ */
