
/*
 * The key set of JWT verification and its loaders: PEM public keys and
 * certificates, HMAC secret files and JWK Sets (RFC 7517).  Each loader
 * checks what verification relies on (key type, curve, size) once, at
 * load time, and records the algorithms each key may verify.
 */


/* hide OpenSSL's deprecated RSA_* and EC_KEY_* so that none is used */
#ifndef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT  30000
#endif

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngx_neonpro_jwt.h"
#include "ngx_neonpro_jwt_key.h"


static void ngx_neonpro_jwt_jwk_skip(ngx_neonpro_jwt_load_t *report,
    size_t index, const char *reason);
static const char *ngx_neonpro_jwt_jwk_load(json_t *jwk,
    const ngx_neonpro_jwt_str_t *issuer, ngx_neonpro_jwt_key_t *key,
    const char **skip);
static const char *ngx_neonpro_jwt_jwk_bytes(json_t *jwk, const char *name,
    unsigned char **out, size_t *out_len);
static const char *ngx_neonpro_jwt_jwk_rsa(json_t *jwk, EVP_PKEY **pkey);
static const char *ngx_neonpro_jwt_jwk_ec(json_t *jwk, const char *group,
    size_t field, EVP_PKEY **pkey);
static const char *ngx_neonpro_jwt_jwk_okp(json_t *jwk, EVP_PKEY **pkey);
static EVP_PKEY *ngx_neonpro_jwt_fromdata(const char *type,
    OSSL_PARAM_BLD *bld);
static const char *ngx_neonpro_jwt_classify(EVP_PKEY *pkey,
    ngx_neonpro_jwt_key_type_e *type);
static unsigned ngx_neonpro_jwt_type_algorithms(
    ngx_neonpro_jwt_key_type_e type, size_t secret_len);
static const char *ngx_neonpro_jwt_key_init(ngx_neonpro_jwt_key_t *key,
    const ngx_neonpro_jwt_str_t *issuer, const ngx_neonpro_jwt_str_t *kid);
static void ngx_neonpro_jwt_key_free(ngx_neonpro_jwt_key_t *key);
static const char *ngx_neonpro_jwt_keyset_push(ngx_neonpro_jwt_keyset_t *ks,
    ngx_neonpro_jwt_key_t *key);
static void ngx_neonpro_jwt_keyset_truncate(ngx_neonpro_jwt_keyset_t *ks,
    size_t nkeys);
static int ngx_neonpro_jwt_load_fail(ngx_neonpro_jwt_load_t *report,
    const char *error);
static int ngx_neonpro_jwt_contains(const unsigned char *p, size_t len,
    const char *s);


#define ngx_neonpro_jwt_nelts(a)  (sizeof(a) / sizeof((a)[0]))

#define NGX_NEONPRO_JWT_KID_RULE                                              \
    "invalid kid: use 1 to 128 characters of A-Z, a-z, 0-9, \".\", \"_\""    \
    " and \"-\""


ngx_neonpro_jwt_keyset_t *
ngx_neonpro_jwt_keyset_create(void)
{
    return calloc(1, sizeof(ngx_neonpro_jwt_keyset_t));
}


void
ngx_neonpro_jwt_keyset_free(ngx_neonpro_jwt_keyset_t *ks)
{
    if (ks == NULL) {
        return;
    }

    ngx_neonpro_jwt_keyset_truncate(ks, 0);
    free(ks->keys);
    free(ks);
}


size_t
ngx_neonpro_jwt_keyset_count(const ngx_neonpro_jwt_keyset_t *ks)
{
    return ks->nkeys;
}


/*
 * Ends a loader that built one key.  Unless error is set already, it names
 * the key and adds it to the set.  On any error it frees the key and
 * reports why.
 */
static int
ngx_neonpro_jwt_key_add(ngx_neonpro_jwt_keyset_t *ks,
    ngx_neonpro_jwt_key_t *key, const ngx_neonpro_jwt_str_t *issuer,
    const ngx_neonpro_jwt_str_t *kid, const char *error,
    ngx_neonpro_jwt_load_t *report)
{
    if (error == NULL) {
        error = ngx_neonpro_jwt_key_init(key, issuer, kid);
    }

    if (error == NULL) {
        error = ngx_neonpro_jwt_keyset_push(ks, key);
    }

    if (error != NULL) {
        ngx_neonpro_jwt_key_free(key);
        return ngx_neonpro_jwt_load_fail(report, error);
    }

    report->loaded = 1;

    ERR_clear_error();

    return 0;
}


int
ngx_neonpro_jwt_keyset_add_pem(ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *pem, size_t len, const ngx_neonpro_jwt_str_t *issuer,
    const ngx_neonpro_jwt_str_t *kid, ngx_neonpro_jwt_load_t *report)
{
    BIO                    *bio;
    X509                   *cert;
    EVP_PKEY               *pkey;
    const char             *error;
    OSSL_DECODER_CTX       *dctx;
    ngx_neonpro_jwt_key_t   key;

    memset(report, 0, sizeof(ngx_neonpro_jwt_load_t));
    memset(&key, 0, sizeof(ngx_neonpro_jwt_key_t));

    if (len > INT_MAX) {
        return ngx_neonpro_jwt_load_fail(report, "PEM data too large");
    }

    if (ngx_neonpro_jwt_contains(pem, len, "PRIVATE KEY-----")) {
        return ngx_neonpro_jwt_load_fail(report,
                   "a private key was given: use the public key or a"
                   " certificate");
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return ngx_neonpro_jwt_load_fail(report, "out of memory");
    }

    pkey = NULL;

    if (ngx_neonpro_jwt_contains(pem, len, "-----BEGIN CERTIFICATE-----")) {
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (cert != NULL) {
            pkey = X509_get_pubkey(cert);
            X509_free(cert);
        }

    } else {
        dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
                                             EVP_PKEY_PUBLIC_KEY, NULL, NULL);
        if (dctx != NULL) {
            if (OSSL_DECODER_from_bio(dctx, bio) != 1) {
                EVP_PKEY_free(pkey);
                pkey = NULL;
            }

            OSSL_DECODER_CTX_free(dctx);
        }
    }

    BIO_free(bio);

    if (pkey == NULL) {
        return ngx_neonpro_jwt_load_fail(report,
                   "no PEM public key or certificate found");
    }

    key.pkey = pkey;

    error = ngx_neonpro_jwt_classify(pkey, &key.type);

    if (error == NULL) {
        key.algorithms = ngx_neonpro_jwt_type_algorithms(key.type, 0);
    }

    return ngx_neonpro_jwt_key_add(ks, &key, issuer, kid, error, report);
}


int
ngx_neonpro_jwt_keyset_add_secret(ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *content, size_t len,
    const ngx_neonpro_jwt_str_t *issuer, const ngx_neonpro_jwt_str_t *kid,
    ngx_neonpro_jwt_load_t *report)
{
    size_t                  n;
    const char             *error;
    ngx_neonpro_jwt_key_t   key;

    memset(report, 0, sizeof(ngx_neonpro_jwt_load_t));
    memset(&key, 0, sizeof(ngx_neonpro_jwt_key_t));

    /* one trailing newline, LF or CRLF, is the file's, not the secret's */

    if (len && content[len - 1] == '\n') {
        len--;

        if (len && content[len - 1] == '\r') {
            len--;
        }
    }

    if (len >= 10 && memcmp(content, "-----BEGIN", 10) == 0) {
        return ngx_neonpro_jwt_load_fail(report,
                   "the secret is a PEM block: load a public key as PEM,"
                   " not as an HMAC secret");
    }

    key.type = NGX_NEONPRO_JWT_KEY_HMAC;

    if (len >= 7 && memcmp(content, "base64:", 7) == 0) {
        content += 7;
        len -= 7;

        /* standard base64 may end with padding */

        if (len % 4 == 0 && len && content[len - 1] == '=') {
            len -= (content[len - 2] == '=') ? 2 : 1;
        }

        key.secret = malloc(len ? len : 1);
        if (key.secret == NULL) {
            return ngx_neonpro_jwt_load_fail(report, "out of memory");
        }

        if (ngx_neonpro_jwt_b64_decode(content, len, 0, key.secret, &n) != 0) {
            ngx_neonpro_jwt_key_free(&key);
            return ngx_neonpro_jwt_load_fail(report,
                       "invalid base64 after \"base64:\"");
        }

        key.secret_len = n;

    } else {
        key.secret = malloc(len ? len : 1);
        if (key.secret == NULL) {
            return ngx_neonpro_jwt_load_fail(report, "out of memory");
        }

        memcpy(key.secret, content, len);
        key.secret_len = len;
    }

    error = NULL;

    if (key.secret_len < NGX_NEONPRO_JWT_SECRET_MIN) {
        error = "HMAC secret shorter than 32 bytes";
    }

    if (error == NULL) {
        key.algorithms = ngx_neonpro_jwt_type_algorithms(key.type,
                                                         key.secret_len);
    }

    return ngx_neonpro_jwt_key_add(ks, &key, issuer, kid, error, report);
}


int
ngx_neonpro_jwt_keyset_add_jwks(ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *json, size_t len, const ngx_neonpro_jwt_str_t *issuer,
    ngx_neonpro_jwt_load_t *report)
{
    size_t                  i, nkeys;
    json_t                 *doc, *keys;
    const char             *error, *skip;
    json_error_t            jerr;
    ngx_neonpro_jwt_key_t   key;

    memset(report, 0, sizeof(ngx_neonpro_jwt_load_t));

    doc = json_loadb((const char *) json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        return ngx_neonpro_jwt_load_fail(report, "JWKS is not valid JSON");
    }

    keys = json_object_get(doc, "keys");

    if (!json_is_object(doc) || !json_is_array(keys)) {
        json_decref(doc);
        return ngx_neonpro_jwt_load_fail(report,
                   "JWKS has no \"keys\" array");
    }

    nkeys = ks->nkeys;
    error = NULL;

    for (i = 0; i < json_array_size(keys); i++) {
        memset(&key, 0, sizeof(ngx_neonpro_jwt_key_t));
        skip = NULL;

        error = ngx_neonpro_jwt_jwk_load(json_array_get(keys, i), issuer,
                                         &key, &skip);

        if (error == NULL && skip == NULL) {
            error = ngx_neonpro_jwt_keyset_push(ks, &key);
        }

        if (error != NULL || skip != NULL) {
            ngx_neonpro_jwt_key_free(&key);
        }

        if (error != NULL) {
            break;
        }

        if (skip != NULL) {
            ngx_neonpro_jwt_jwk_skip(report, i, skip);
            continue;
        }

        report->loaded++;
    }

    json_decref(doc);

    if (error != NULL) {
        ngx_neonpro_jwt_keyset_truncate(ks, nkeys);
        report->loaded = 0;
        ngx_neonpro_jwt_load_fail(report, error);
        report->error_index = i;
        return -1;
    }

    ERR_clear_error();

    return 0;
}


static void
ngx_neonpro_jwt_jwk_skip(ngx_neonpro_jwt_load_t *report, size_t index,
    const char *reason)
{
    if (report->skipped++ == 0) {
        report->skip_index = index;
        report->skip_reason = reason;
    }
}


/*
 * Reads one JWK into key.  Returns an error that fails the whole set, or
 * NULL with *skip set when the key is of a kind this unit leaves out.
 */
static const char *
ngx_neonpro_jwt_jwk_load(json_t *jwk, const ngx_neonpro_jwt_str_t *issuer,
    ngx_neonpro_jwt_key_t *key, const char **skip)
{
    size_t                        i, kty_len;
    json_t                       *value, *op;
    const char                   *kty, *crv, *error;
    ngx_neonpro_jwt_str_t         kid;
    const ngx_neonpro_jwt_alg_t  *alg;

    if (!json_is_object(jwk)) {
        return "JWK is not an object";
    }

    value = json_object_get(jwk, "kty");
    if (!json_is_string(value)) {
        return "JWK has no \"kty\" string";
    }

    kty = json_string_value(value);
    kty_len = json_string_length(value);

    value = json_object_get(jwk, "use");
    if (value != NULL
        && (!json_is_string(value) || strcmp(json_string_value(value), "sig")))
    {
        *skip = "\"use\" is not \"sig\"";
        return NULL;
    }

    value = json_object_get(jwk, "key_ops");
    if (value != NULL) {
        json_array_foreach(value, i, op) {
            if (json_is_string(op)
                && strcmp(json_string_value(op), "verify") == 0)
            {
                break;
            }
        }

        if (!json_is_array(value) || i == json_array_size(value)) {
            *skip = "\"key_ops\" has no \"verify\"";
            return NULL;
        }
    }

    kid.len = 0;
    kid.data = NULL;

    value = json_object_get(jwk, "kid");
    if (value != NULL) {
        if (!json_is_string(value)) {
            return "JWK \"kid\" is not a string";
        }

        kid.len = json_string_length(value);
        kid.data = (const unsigned char *) json_string_value(value);

        if (!ngx_neonpro_jwt_kid_valid(kid.data, kid.len)) {
            *skip = "unsafe \"kid\"";
            return NULL;
        }
    }

    alg = NULL;

    value = json_object_get(jwk, "alg");
    if (value != NULL) {
        if (!json_is_string(value)) {
            return "JWK \"alg\" is not a string";
        }

        alg = ngx_neonpro_jwt_alg_find(json_string_value(value),
                                       json_string_length(value));
        if (alg == NULL) {
            *skip = "unsupported \"alg\"";
            return NULL;
        }
    }

    value = json_object_get(jwk, "crv");
    crv = json_is_string(value) ? json_string_value(value) : "";

    if (kty_len == 3 && strcmp(kty, "RSA") == 0) {
        key->type = NGX_NEONPRO_JWT_KEY_RSA;
        error = ngx_neonpro_jwt_jwk_rsa(jwk, &key->pkey);

    } else if (kty_len == 2 && strcmp(kty, "EC") == 0) {

        if (strcmp(crv, "P-256") == 0) {
            key->type = NGX_NEONPRO_JWT_KEY_P256;
            error = ngx_neonpro_jwt_jwk_ec(jwk, "prime256v1", 32, &key->pkey);

        } else if (strcmp(crv, "P-384") == 0) {
            key->type = NGX_NEONPRO_JWT_KEY_P384;
            error = ngx_neonpro_jwt_jwk_ec(jwk, "secp384r1", 48, &key->pkey);

        } else {
            *skip = "unsupported EC curve";
            return NULL;
        }

    } else if (kty_len == 3 && strcmp(kty, "OKP") == 0) {

        if (strcmp(crv, "Ed25519") != 0) {
            *skip = "unsupported OKP curve";
            return NULL;
        }

        key->type = NGX_NEONPRO_JWT_KEY_ED25519;
        error = ngx_neonpro_jwt_jwk_okp(jwk, &key->pkey);

    } else if (kty_len == 3 && strcmp(kty, "oct") == 0) {
        key->type = NGX_NEONPRO_JWT_KEY_HMAC;
        error = ngx_neonpro_jwt_jwk_bytes(jwk, "k", &key->secret,
                                          &key->secret_len);

        if (error == NULL && key->secret_len < NGX_NEONPRO_JWT_SECRET_MIN) {
            error = "HMAC secret shorter than 32 bytes";
        }

    } else {
        *skip = "unsupported \"kty\"";
        return NULL;
    }

    if (error == NULL && key->pkey != NULL) {
        error = ngx_neonpro_jwt_classify(key->pkey, &key->type);
    }

    if (error != NULL) {
        return error;
    }

    key->algorithms = ngx_neonpro_jwt_type_algorithms(key->type,
                                                      key->secret_len);

    if (alg != NULL) {
        if (!(key->algorithms & alg->alg)) {
            return "JWK \"alg\" does not match its key";
        }

        key->algorithms = alg->alg;
    }

    return ngx_neonpro_jwt_key_init(key, issuer, &kid);
}


static const char *
ngx_neonpro_jwt_jwk_bytes(json_t *jwk, const char *name, unsigned char **out,
    size_t *out_len)
{
    size_t          len;
    json_t         *value;
    unsigned char  *buf;

    value = json_object_get(jwk, name);
    if (!json_is_string(value)) {
        return "JWK lacks a member its \"kty\" requires";
    }

    len = json_string_length(value);

    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return "out of memory";
    }

    if (len == 0
        || ngx_neonpro_jwt_b64_decode((const unsigned char *)
                                      json_string_value(value),
                                      len, 1, buf, out_len) != 0)
    {
        free(buf);
        return "JWK member is not valid base64url";
    }

    *out = buf;

    return NULL;
}


static const char *
ngx_neonpro_jwt_jwk_rsa(json_t *jwk, EVP_PKEY **pkey)
{
    size_t           n_len, e_len;
    BIGNUM          *n, *e;
    const char      *error;
    unsigned char   *n_bytes, *e_bytes;
    OSSL_PARAM_BLD  *bld;

    n_bytes = NULL;
    e_bytes = NULL;
    n = NULL;
    e = NULL;
    bld = NULL;

    error = ngx_neonpro_jwt_jwk_bytes(jwk, "n", &n_bytes, &n_len);
    if (error == NULL) {
        error = ngx_neonpro_jwt_jwk_bytes(jwk, "e", &e_bytes, &e_len);
    }

    if (error != NULL) {
        goto done;
    }

    error = "out of memory";

    n = BN_bin2bn(n_bytes, (int) n_len, NULL);
    e = BN_bin2bn(e_bytes, (int) e_len, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (n == NULL || e == NULL || bld == NULL
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
    {
        goto done;
    }

    *pkey = ngx_neonpro_jwt_fromdata("RSA", bld);

    error = (*pkey == NULL) ? "invalid RSA JWK" : NULL;

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(n_bytes);
    free(e_bytes);

    return error;
}


static const char *
ngx_neonpro_jwt_jwk_ec(json_t *jwk, const char *group, size_t field,
    EVP_PKEY **pkey)
{
    size_t           x_len, y_len;
    const char      *error;
    unsigned char   *x, *y, point[1 + 2 * 48];
    OSSL_PARAM_BLD  *bld;

    x = NULL;
    y = NULL;
    bld = NULL;

    error = ngx_neonpro_jwt_jwk_bytes(jwk, "x", &x, &x_len);
    if (error == NULL) {
        error = ngx_neonpro_jwt_jwk_bytes(jwk, "y", &y, &y_len);
    }

    if (error != NULL) {
        goto done;
    }

    /* RFC 7518, section 6.2.1.2: x and y are exactly the field size */

    if (x_len != field || y_len != field) {
        error = "EC JWK coordinate of the wrong length";
        goto done;
    }

    /* the uncompressed point of SEC 1, section 2.3.3 */

    point[0] = 0x04;
    memcpy(point + 1, x, field);
    memcpy(point + 1 + field, y, field);

    error = "out of memory";

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, 0) != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            point, 1 + 2 * field) != 1)
    {
        goto done;
    }

    *pkey = ngx_neonpro_jwt_fromdata("EC", bld);

    error = (*pkey == NULL) ? "invalid EC JWK point" : NULL;

done:

    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);

    return error;
}


static const char *
ngx_neonpro_jwt_jwk_okp(json_t *jwk, EVP_PKEY **pkey)
{
    size_t          x_len;
    const char     *error;
    unsigned char  *x;

    error = ngx_neonpro_jwt_jwk_bytes(jwk, "x", &x, &x_len);
    if (error != NULL) {
        return error;
    }

    if (x_len != 32) {
        free(x);
        return "Ed25519 JWK \"x\" is not 32 bytes";
    }

    *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, x_len);

    free(x);

    return (*pkey == NULL) ? "invalid Ed25519 JWK" : NULL;
}


static EVP_PKEY *
ngx_neonpro_jwt_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params != NULL && ctx != NULL
        && EVP_PKEY_fromdata_init(ctx) == 1
        && EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    return pkey;
}


/*
 * Finds the key type of a public key and checks what verification relies
 * on: RSA of 2048 to 16384 bits with an odd modulus and an odd exponent of
 * at least 3 (an exponent of 1 would make every signature verify), and EC
 * points on a named P-256 or P-384 curve.  Returns an error or NULL.
 */
static const char *
ngx_neonpro_jwt_classify(EVP_PKEY *pkey, ngx_neonpro_jwt_key_type_e *type)
{
    int            ok;
    char           group[64];
    BIGNUM        *n, *e;
    EVP_PKEY_CTX  *ctx;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        *type = NGX_NEONPRO_JWT_KEY_RSA;

        if (EVP_PKEY_get_bits(pkey) < NGX_NEONPRO_JWT_RSA_BITS_MIN) {
            return "RSA key shorter than 2048 bits";
        }

        if (EVP_PKEY_get_bits(pkey) > NGX_NEONPRO_JWT_RSA_BITS_MAX) {
            return "RSA key longer than 16384 bits";
        }

        n = NULL;
        e = NULL;

        ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1
             && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1
             && BN_is_odd(n) && BN_is_odd(e) && !BN_is_one(e);

        BN_free(n);
        BN_free(e);

        return ok ? NULL : "invalid RSA modulus or exponent";
    }

    if (EVP_PKEY_is_a(pkey, "EC")) {

        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1) {
            return "EC key without a named curve";
        }

        if (strcmp(group, "prime256v1") == 0) {
            *type = NGX_NEONPRO_JWT_KEY_P256;

        } else if (strcmp(group, "secp384r1") == 0) {
            *type = NGX_NEONPRO_JWT_KEY_P384;

        } else {
            return "unsupported EC curve: use P-256 or P-384";
        }

        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (ctx == NULL) {
            return "out of memory";
        }

        ok = EVP_PKEY_public_check(ctx);
        EVP_PKEY_CTX_free(ctx);

        return (ok == 1) ? NULL : "invalid EC public key";
    }

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *type = NGX_NEONPRO_JWT_KEY_ED25519;
        return NULL;
    }

    return "unsupported key type: use RSA, EC P-256, EC P-384 or Ed25519";
}


static unsigned
ngx_neonpro_jwt_type_algorithms(ngx_neonpro_jwt_key_type_e type,
    size_t secret_len)
{
    size_t    i;
    unsigned  algorithms;

    algorithms = 0;

    for (i = 0; i < ngx_neonpro_jwt_nelts(ngx_neonpro_jwt_algs); i++) {

        if (ngx_neonpro_jwt_algs[i].key_type != type) {
            continue;
        }

        /* an HMAC secret shorter than the MAC is too weak for it */

        if (type == NGX_NEONPRO_JWT_KEY_HMAC
            && secret_len < ngx_neonpro_jwt_algs[i].size)
        {
            continue;
        }

        algorithms |= ngx_neonpro_jwt_algs[i].alg;
    }

    return algorithms;
}


static const char *
ngx_neonpro_jwt_key_init(ngx_neonpro_jwt_key_t *key,
    const ngx_neonpro_jwt_str_t *issuer, const ngx_neonpro_jwt_str_t *kid)
{
    if (kid != NULL && kid->len) {

        if (!ngx_neonpro_jwt_kid_valid(kid->data, kid->len)) {
            return NGX_NEONPRO_JWT_KID_RULE;
        }

        memcpy(key->kid, kid->data, kid->len);
        key->kid[kid->len] = '\0';
        key->kid_len = kid->len;
    }

    if (issuer != NULL && issuer->len) {
        key->issuer = malloc(issuer->len);
        if (key->issuer == NULL) {
            return "out of memory";
        }

        memcpy(key->issuer, issuer->data, issuer->len);
        key->issuer_len = issuer->len;
    }

    return NULL;
}


static void
ngx_neonpro_jwt_key_free(ngx_neonpro_jwt_key_t *key)
{
    EVP_PKEY_free(key->pkey);

    if (key->secret != NULL) {
        OPENSSL_cleanse(key->secret, key->secret_len);
        free(key->secret);
    }

    free(key->issuer);

    key->pkey = NULL;
    key->secret = NULL;
    key->issuer = NULL;
}


static const char *
ngx_neonpro_jwt_keyset_push(ngx_neonpro_jwt_keyset_t *ks,
    ngx_neonpro_jwt_key_t *key)
{
    size_t                  i, size;
    ngx_neonpro_jwt_key_t  *k;

    for (i = 0; key->kid_len && i < ks->nkeys; i++) {
        k = &ks->keys[i];

        if (k->kid_len != key->kid_len
            || memcmp(k->kid, key->kid, key->kid_len) != 0)
        {
            continue;
        }

        /* one issuer's kid must name one key, open keys included */

        if (k->issuer == NULL || key->issuer == NULL
            || (k->issuer_len == key->issuer_len
                && memcmp(k->issuer, key->issuer, key->issuer_len) == 0))
        {
            return "duplicate kid";
        }
    }

    if (ks->nkeys == ks->size) {
        size = ks->size ? ks->size * 2 : 4;

        k = realloc(ks->keys, size * sizeof(ngx_neonpro_jwt_key_t));
        if (k == NULL) {
            return "out of memory";
        }

        ks->keys = k;
        ks->size = size;
    }

    ks->keys[ks->nkeys++] = *key;
    memset(key, 0, sizeof(ngx_neonpro_jwt_key_t));

    return NULL;
}


static void
ngx_neonpro_jwt_keyset_truncate(ngx_neonpro_jwt_keyset_t *ks, size_t nkeys)
{
    while (ks->nkeys > nkeys) {
        ngx_neonpro_jwt_key_free(&ks->keys[--ks->nkeys]);
    }
}


static int
ngx_neonpro_jwt_load_fail(ngx_neonpro_jwt_load_t *report, const char *error)
{
    report->error = error;

    ERR_clear_error();

    return -1;
}


/* Helpers shared with verification */


static int
ngx_neonpro_jwt_contains(const unsigned char *p, size_t len, const char *s)
{
    size_t  i, n;

    n = strlen(s);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(p + i, s, n) == 0) {
            return 1;
        }
    }

    return 0;
}


int
ngx_neonpro_jwt_kid_valid(const unsigned char *kid, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > NGX_NEONPRO_JWT_KID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = kid[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


int
ngx_neonpro_jwt_b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == (url ? '-' : '+')) {
        return 62;
    }

    if (c == (url ? '_' : '/')) {
        return 63;
    }

    return -1;
}


/*
 * Decodes unpadded base64 or base64url into dst, which has room for len
 * bytes.  The unused low bits of the last digit must be zero (RFC 4648,
 * section 3.5), so every byte string has exactly one accepted encoding and
 * a signature cannot be respelled.
 */
int
ngx_neonpro_jwt_b64_decode(const unsigned char *src, size_t len, int url,
    unsigned char *dst, size_t *dst_len)
{
    int       v;
    size_t    i, n;
    unsigned  bits;
    uint32_t  acc;

    if (len % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = ngx_neonpro_jwt_b64_value(src[i], url);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (unsigned char) (acc >> bits);
        }
    }

    if (acc & ((1u << bits) - 1)) {
        return -1;
    }

    *dst_len = n;

    return 0;
}
