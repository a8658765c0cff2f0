
/*
 * JWT verification: the compact JWS parser, the key lookup, signature
 * checks through OpenSSL's EVP interface, and the registered claim checks
 * of RFC 7519, section 4.1.  The key set and its loaders are in
 * ngx_neonpro_jwt_key.c.
 *
 * A token is read in this order, each step with its own reason: the size
 * limit, the three parts and their base64url alphabet, the header and its
 * algorithm and kid, the payload, the key lookup, the signature, then the
 * claims.  The payload is parsed before the signature is checked because
 * a key may be tied to an issuer, and "iss" selects among those keys.  The
 * size limit bounds that work.
 */


/* hide OpenSSL's deprecated RSA_* and EC_KEY_* so that none is used */
#ifndef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT  30000
#endif

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "ngx_neonpro_jwt.h"
#include "ngx_neonpro_jwt_key.h"


/* the byte ranges of a token's three parts */
typedef struct {
    const unsigned char         *data[3];
    size_t                       len[3];
} ngx_neonpro_jwt_parts_t;


static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_split(const unsigned char *token,
    size_t len, ngx_neonpro_jwt_parts_t *parts);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_decode_json(
    const unsigned char *src, size_t len, unsigned char *buf,
    ngx_neonpro_jwt_rc_e invalid, json_t **out);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_header(json_t *header,
    const ngx_neonpro_jwt_options_t *options, ngx_neonpro_jwt_result_t *result,
    const ngx_neonpro_jwt_alg_t **alg);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_find_key(
    const ngx_neonpro_jwt_keyset_t *ks, const ngx_neonpro_jwt_alg_t *alg,
    const ngx_neonpro_jwt_result_t *result, json_t *iss,
    const ngx_neonpro_jwt_key_t **found);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_check_signature(
    const ngx_neonpro_jwt_key_t *key, const ngx_neonpro_jwt_alg_t *alg,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_check_hmac(
    const ngx_neonpro_jwt_key_t *key, const ngx_neonpro_jwt_alg_t *alg,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_check_pkey(EVP_PKEY *pkey,
    const ngx_neonpro_jwt_alg_t *alg, const unsigned char *input,
    size_t input_len, const unsigned char *sig, size_t sig_len);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_ecdsa_der(
    const unsigned char *sig, size_t sig_len, unsigned char **der,
    size_t *der_len);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_check_claims(json_t *claims,
    const ngx_neonpro_jwt_options_t *options,
    ngx_neonpro_jwt_result_t *result);
static ngx_neonpro_jwt_rc_e ngx_neonpro_jwt_check_dates(json_t *claims,
    const ngx_neonpro_jwt_options_t *options,
    ngx_neonpro_jwt_result_t *result);
static int ngx_neonpro_jwt_date_cmp(json_t *value, int64_t t);
static int ngx_neonpro_jwt_in_list(json_t *value,
    const ngx_neonpro_jwt_str_t *list, size_t n);
static void ngx_neonpro_jwt_set_claim(ngx_neonpro_jwt_result_t *result,
    const char *name);
static int ngx_neonpro_jwt_str_eq(const ngx_neonpro_jwt_str_t *s,
    const char *p, size_t len);


const ngx_neonpro_jwt_alg_t  ngx_neonpro_jwt_algs[NGX_NEONPRO_JWT_NALGS] = {
    { "HS256", NGX_NEONPRO_JWT_HS256, NGX_NEONPRO_JWT_KEY_HMAC, "SHA256", 32,
      0 },
    { "HS384", NGX_NEONPRO_JWT_HS384, NGX_NEONPRO_JWT_KEY_HMAC, "SHA384", 48,
      0 },
    { "HS512", NGX_NEONPRO_JWT_HS512, NGX_NEONPRO_JWT_KEY_HMAC, "SHA512", 64,
      0 },
    { "RS256", NGX_NEONPRO_JWT_RS256, NGX_NEONPRO_JWT_KEY_RSA, "SHA256", 0,
      0 },
    { "RS384", NGX_NEONPRO_JWT_RS384, NGX_NEONPRO_JWT_KEY_RSA, "SHA384", 0,
      0 },
    { "RS512", NGX_NEONPRO_JWT_RS512, NGX_NEONPRO_JWT_KEY_RSA, "SHA512", 0,
      0 },
    { "PS256", NGX_NEONPRO_JWT_PS256, NGX_NEONPRO_JWT_KEY_RSA, "SHA256", 0,
      1 },
    { "ES256", NGX_NEONPRO_JWT_ES256, NGX_NEONPRO_JWT_KEY_P256, "SHA256", 64,
      0 },
    { "ES384", NGX_NEONPRO_JWT_ES384, NGX_NEONPRO_JWT_KEY_P384, "SHA384", 96,
      0 },
    { "EdDSA", NGX_NEONPRO_JWT_EDDSA, NGX_NEONPRO_JWT_KEY_ED25519, NULL, 64,
      0 }
};


/* in the order of ngx_neonpro_jwt_rc_e */
static const char  *ngx_neonpro_jwt_reasons[] = {
    "ok",
    "token too large",
    "malformed token",
    "bad base64url",
    "bad header",
    "alg none",
    "unsupported algorithm",
    "algorithm not allowed",
    "invalid kid",
    "bad payload",
    "unknown kid",
    "no key for issuer",
    "kid required",
    "key type does not match algorithm",
    "bad signature",
    "invalid claim",
    "expired",
    "not yet valid",
    "issued in the future",
    "wrong issuer",
    "wrong audience",
    "missing claim",
    "out of memory",
    "crypto library error"
};


#define ngx_neonpro_jwt_nelts(a)  (sizeof(a) / sizeof((a)[0]))


const char *
ngx_neonpro_jwt_reason(ngx_neonpro_jwt_rc_e rc)
{
    if ((size_t) rc >= ngx_neonpro_jwt_nelts(ngx_neonpro_jwt_reasons)) {
        return "unknown error";
    }

    return ngx_neonpro_jwt_reasons[rc];
}


const char *
ngx_neonpro_jwt_alg_name(ngx_neonpro_jwt_alg_e alg)
{
    size_t  i;

    for (i = 0; i < ngx_neonpro_jwt_nelts(ngx_neonpro_jwt_algs); i++) {
        if (ngx_neonpro_jwt_algs[i].alg == alg) {
            return ngx_neonpro_jwt_algs[i].name;
        }
    }

    return NULL;
}


ngx_neonpro_jwt_alg_e
ngx_neonpro_jwt_alg_by_name(const unsigned char *name, size_t len)
{
    const ngx_neonpro_jwt_alg_t  *alg;

    alg = ngx_neonpro_jwt_alg_find((const char *) name, len);

    return alg ? alg->alg : (ngx_neonpro_jwt_alg_e) 0;
}


int
ngx_neonpro_jwt_hash(const unsigned char *token, size_t len,
    unsigned char out[NGX_NEONPRO_JWT_HASH_SIZE])
{
    int  rc;

    rc = EVP_Digest(token, len, out, NULL, EVP_sha256(), NULL);

    ERR_clear_error();

    return rc == 1 ? 0 : -1;
}


/* Verification */


ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_verify(const ngx_neonpro_jwt_keyset_t *ks,
    const unsigned char *token, size_t len,
    const ngx_neonpro_jwt_options_t *options, ngx_neonpro_jwt_result_t *result)
{
    size_t                        max, sig_len, input_len;
    json_t                       *header, *payload;
    unsigned char                *buf, *sig;
    ngx_neonpro_jwt_rc_e          rc;
    ngx_neonpro_jwt_parts_t       parts;
    const ngx_neonpro_jwt_alg_t  *alg;
    const ngx_neonpro_jwt_key_t  *key;

    memset(result, 0, sizeof(ngx_neonpro_jwt_result_t));

    max = options->max_size ? options->max_size
                            : NGX_NEONPRO_JWT_MAX_SIZE_DEFAULT;

    if (len > max) {
        return NGX_NEONPRO_JWT_TOO_LARGE;
    }

    rc = ngx_neonpro_jwt_split(token, len, &parts);
    if (rc != NGX_NEONPRO_JWT_OK) {
        return rc;
    }

    /* buf takes each decoded part in turn, and none is longer than len */

    buf = malloc(len);
    if (buf == NULL) {
        return NGX_NEONPRO_JWT_NOMEM;
    }

    header = NULL;
    payload = NULL;

    rc = ngx_neonpro_jwt_decode_json(parts.data[0], parts.len[0], buf,
                                     NGX_NEONPRO_JWT_BAD_HEADER, &header);
    if (rc != NGX_NEONPRO_JWT_OK) {
        goto done;
    }

    rc = ngx_neonpro_jwt_header(header, options, result, &alg);
    if (rc != NGX_NEONPRO_JWT_OK) {
        goto done;
    }

    rc = ngx_neonpro_jwt_decode_json(parts.data[1], parts.len[1], buf,
                                     NGX_NEONPRO_JWT_BAD_PAYLOAD, &payload);
    if (rc != NGX_NEONPRO_JWT_OK) {
        goto done;
    }

    rc = ngx_neonpro_jwt_find_key(ks, alg, result,
                                  json_object_get(payload, "iss"), &key);
    if (rc != NGX_NEONPRO_JWT_OK) {
        goto done;
    }

    sig = buf;

    if (ngx_neonpro_jwt_b64_decode(parts.data[2], parts.len[2], 1, sig,
                                   &sig_len) != 0)
    {
        rc = NGX_NEONPRO_JWT_BAD_BASE64URL;
        goto done;
    }

    /* the JWS signing input: the header and payload parts and their dot */

    input_len = (size_t) (parts.data[2] - token) - 1;

    rc = ngx_neonpro_jwt_check_signature(key, alg, token, input_len, sig,
                                         sig_len);
    if (rc != NGX_NEONPRO_JWT_OK) {
        goto done;
    }

    rc = ngx_neonpro_jwt_check_claims(payload, options, result);
    if (rc != NGX_NEONPRO_JWT_OK) {
        goto done;
    }

    result->claims = payload;
    payload = NULL;

done:

    json_decref(header);
    json_decref(payload);
    free(buf);

    ERR_clear_error();

    return rc;
}


/*
 * Splits a token at its two dots.  The header and payload must not be
 * empty.  The signature may be, so that an unsigned token reaches the
 * "alg none" check.
 */
static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_split(const unsigned char *token, size_t len,
    ngx_neonpro_jwt_parts_t *parts)
{
    size_t                i, n;
    const unsigned char  *p, *end;

    p = token;
    end = token + len;

    for (n = 0; n < 3; n++) {
        parts->data[n] = p;

        while (p < end && *p != '.') {
            p++;
        }

        parts->len[n] = (size_t) (p - parts->data[n]);

        if (n < 2) {
            if (p == end) {
                return NGX_NEONPRO_JWT_MALFORMED;
            }

            p++;
        }
    }

    if (p != end || parts->len[0] == 0 || parts->len[1] == 0) {
        return NGX_NEONPRO_JWT_MALFORMED;
    }

    /* RFC 7515, section 2: base64url without "=" padding */

    for (n = 0; n < 3; n++) {
        for (i = 0; i < parts->len[n]; i++) {
            if (ngx_neonpro_jwt_b64_value(parts->data[n][i], 1) < 0) {
                return NGX_NEONPRO_JWT_BAD_BASE64URL;
            }
        }
    }

    return NGX_NEONPRO_JWT_OK;
}


static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_decode_json(const unsigned char *src, size_t len,
    unsigned char *buf, ngx_neonpro_jwt_rc_e invalid, json_t **out)
{
    size_t        n;
    json_t       *doc;
    json_error_t  jerr;

    if (ngx_neonpro_jwt_b64_decode(src, len, 1, buf, &n) != 0) {
        return NGX_NEONPRO_JWT_BAD_BASE64URL;
    }

    /*
     * Duplicate members are rejected.  RFC 7515, section 4, and RFC 7519,
     * section 4, let a parser either reject them or keep the last one, and
     * two parsers that chose differently would see different claims.
     */

    doc = json_loadb((const char *) buf, n, JSON_REJECT_DUPLICATES, &jerr);

    if (doc == NULL) {
        return (json_error_code(&jerr) == json_error_out_of_memory)
               ? NGX_NEONPRO_JWT_NOMEM : invalid;
    }

    if (!json_is_object(doc)) {
        json_decref(doc);
        return invalid;
    }

    *out = doc;

    return NGX_NEONPRO_JWT_OK;
}


static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_header(json_t *header,
    const ngx_neonpro_jwt_options_t *options, ngx_neonpro_jwt_result_t *result,
    const ngx_neonpro_jwt_alg_t **alg)
{
    size_t       i, len;
    json_t      *value;
    const char  *name;

    value = json_object_get(header, "alg");
    if (!json_is_string(value)) {
        return NGX_NEONPRO_JWT_BAD_HEADER;
    }

    name = json_string_value(value);
    len = json_string_length(value);

    /* "none" in any letter case, because some libraries ignore the case */

    if (len == 4) {
        for (i = 0; i < 4; i++) {
            if ((name[i] | 0x20) != "none"[i]) {
                break;
            }
        }

        if (i == 4) {
            return NGX_NEONPRO_JWT_ALG_NONE;
        }
    }

    *alg = ngx_neonpro_jwt_alg_find(name, len);
    if (*alg == NULL) {
        return NGX_NEONPRO_JWT_ALG_UNSUPPORTED;
    }

    result->alg = (*alg)->alg;

    if (!(options->algorithms & (*alg)->alg)) {
        return NGX_NEONPRO_JWT_ALG_NOT_ALLOWED;
    }

    /*
     * RFC 7515, section 4.1.11: a recipient must reject a token whose
     * "crit" names an extension it does not understand, and this unit
     * understands none.
     */

    if (json_object_get(header, "crit") != NULL) {
        return NGX_NEONPRO_JWT_BAD_HEADER;
    }

    value = json_object_get(header, "kid");
    if (value == NULL) {
        return NGX_NEONPRO_JWT_OK;
    }

    if (!json_is_string(value)) {
        return NGX_NEONPRO_JWT_BAD_HEADER;
    }

    len = json_string_length(value);

    if (!ngx_neonpro_jwt_kid_valid((const unsigned char *)
                                   json_string_value(value), len))
    {
        return NGX_NEONPRO_JWT_INVALID_KID;
    }

    memcpy(result->kid, json_string_value(value), len);
    result->kid[len] = '\0';
    result->kid_len = len;

    return NGX_NEONPRO_JWT_OK;
}


/*
 * Finds the key for a token: by kid among the keys of the token's issuer
 * and the open keys, or without a kid the only one of them that fits the
 * algorithm.  A string "iss" selects issuer keys before the signature is
 * checked, and the signature check then proves that issuer.
 */
static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_find_key(const ngx_neonpro_jwt_keyset_t *ks,
    const ngx_neonpro_jwt_alg_t *alg, const ngx_neonpro_jwt_result_t *result,
    json_t *iss, const ngx_neonpro_jwt_key_t **found)
{
    size_t                        i, iss_len, nissuer, nusable;
    const char                   *iss_data;
    const ngx_neonpro_jwt_key_t  *key;

    iss_data = json_is_string(iss) ? json_string_value(iss) : NULL;
    iss_len = json_is_string(iss) ? json_string_length(iss) : 0;

    nissuer = 0;
    nusable = 0;

    for (i = 0; i < ks->nkeys; i++) {
        key = &ks->keys[i];

        if (key->issuer != NULL
            && (iss_data == NULL || key->issuer_len != iss_len
                || memcmp(key->issuer, iss_data, iss_len) != 0))
        {
            continue;
        }

        if (result->kid_len) {

            if (key->kid_len != result->kid_len
                || memcmp(key->kid, result->kid, result->kid_len) != 0)
            {
                continue;
            }

            if (!(key->algorithms & alg->alg)) {
                return NGX_NEONPRO_JWT_KEY_MISMATCH;
            }

            *found = key;
            return NGX_NEONPRO_JWT_OK;
        }

        nissuer++;

        if (key->algorithms & alg->alg) {
            nusable++;
            *found = key;
        }
    }

    if (result->kid_len) {
        return NGX_NEONPRO_JWT_UNKNOWN_KID;
    }

    if (nusable == 1) {
        return NGX_NEONPRO_JWT_OK;
    }

    if (nusable > 1) {
        return NGX_NEONPRO_JWT_KID_REQUIRED;
    }

    return nissuer ? NGX_NEONPRO_JWT_KEY_MISMATCH : NGX_NEONPRO_JWT_NO_KEY;
}


static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_check_signature(const ngx_neonpro_jwt_key_t *key,
    const ngx_neonpro_jwt_alg_t *alg, const unsigned char *input,
    size_t input_len, const unsigned char *sig, size_t sig_len)
{
    size_t                 der_len;
    unsigned char         *der;
    ngx_neonpro_jwt_rc_e   rc;

    switch (alg->key_type) {

    case NGX_NEONPRO_JWT_KEY_HMAC:
        return ngx_neonpro_jwt_check_hmac(key, alg, input, input_len, sig,
                                          sig_len);

    case NGX_NEONPRO_JWT_KEY_P256:
    case NGX_NEONPRO_JWT_KEY_P384:

        /* RFC 7518, section 3.4: R || S, each the size of the group order */

        if (sig_len != alg->size) {
            return NGX_NEONPRO_JWT_BAD_SIGNATURE;
        }

        rc = ngx_neonpro_jwt_ecdsa_der(sig, sig_len, &der, &der_len);
        if (rc != NGX_NEONPRO_JWT_OK) {
            return rc;
        }

        rc = ngx_neonpro_jwt_check_pkey(key->pkey, alg, input, input_len, der,
                                        der_len);
        OPENSSL_free(der);

        return rc;

    case NGX_NEONPRO_JWT_KEY_ED25519:

        if (sig_len != alg->size) {
            return NGX_NEONPRO_JWT_BAD_SIGNATURE;
        }

        break;

    default: /* NGX_NEONPRO_JWT_KEY_RSA */

        /* RFC 8017, section 8.1.2: the signature is as long as the modulus */

        if (sig_len != (size_t) EVP_PKEY_get_size(key->pkey)) {
            return NGX_NEONPRO_JWT_BAD_SIGNATURE;
        }

        break;
    }

    return ngx_neonpro_jwt_check_pkey(key->pkey, alg, input, input_len, sig,
                                      sig_len);
}


static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_check_hmac(const ngx_neonpro_jwt_key_t *key,
    const ngx_neonpro_jwt_alg_t *alg, const unsigned char *input,
    size_t input_len, const unsigned char *sig, size_t sig_len)
{
    int            equal;
    size_t         mac_len;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (EVP_Q_mac(NULL, "HMAC", NULL, alg->digest, NULL, key->secret,
                  key->secret_len, input, input_len, mac, sizeof(mac),
                  &mac_len)
        == NULL)
    {
        return NGX_NEONPRO_JWT_CRYPTO_ERROR;
    }

    /* in constant time, so that timing reveals nothing of the expected MAC */

    equal = (sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0);

    OPENSSL_cleanse(mac, sizeof(mac));

    return equal ? NGX_NEONPRO_JWT_OK : NGX_NEONPRO_JWT_BAD_SIGNATURE;
}


static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_check_pkey(EVP_PKEY *pkey, const ngx_neonpro_jwt_alg_t *alg,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len)
{
    int                    ok;
    EVP_MD_CTX            *mctx;
    EVP_PKEY_CTX          *pctx;
    ngx_neonpro_jwt_rc_e   rc;

    mctx = EVP_MD_CTX_new();
    if (mctx == NULL) {
        return NGX_NEONPRO_JWT_NOMEM;
    }

    rc = NGX_NEONPRO_JWT_CRYPTO_ERROR;

    if (EVP_DigestVerifyInit_ex(mctx, &pctx, alg->digest, NULL, NULL, pkey,
                                NULL)
        != 1)
    {
        goto done;
    }

    /*
     * RFC 7518, section 3.5: PSS with MGF1 on the same hash (OpenSSL's
     * default) and a salt as long as the hash, which RSA_PSS_SALTLEN_DIGEST
     * demands on verification.
     */

    if (alg->pss
        && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
               != 1))
    {
        goto done;
    }

    ok = EVP_DigestVerify(mctx, sig, sig_len, input, input_len);

    rc = (ok == 1) ? NGX_NEONPRO_JWT_OK : NGX_NEONPRO_JWT_BAD_SIGNATURE;

done:

    EVP_MD_CTX_free(mctx);

    return rc;
}


static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_ecdsa_der(const unsigned char *sig, size_t sig_len,
    unsigned char **der, size_t *der_len)
{
    int         n;
    size_t      half;
    BIGNUM     *r, *s;
    ECDSA_SIG  *esig;

    half = sig_len / 2;

    esig = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int) half, NULL);
    s = BN_bin2bn(sig + half, (int) half, NULL);

    if (esig == NULL || r == NULL || s == NULL
        || ECDSA_SIG_set0(esig, r, s) != 1)
    {
        ECDSA_SIG_free(esig);
        BN_free(r);
        BN_free(s);
        return NGX_NEONPRO_JWT_NOMEM;
    }

    /* esig owns r and s now */

    *der = NULL;
    n = i2d_ECDSA_SIG(esig, der);

    ECDSA_SIG_free(esig);

    if (n <= 0) {
        return NGX_NEONPRO_JWT_NOMEM;
    }

    *der_len = (size_t) n;

    return NGX_NEONPRO_JWT_OK;
}


/* Claims */


static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_check_claims(json_t *claims,
    const ngx_neonpro_jwt_options_t *options, ngx_neonpro_jwt_result_t *result)
{
    size_t                 i;
    json_t                *value;
    ngx_neonpro_jwt_rc_e   rc;

    rc = ngx_neonpro_jwt_check_dates(claims, options, result);
    if (rc != NGX_NEONPRO_JWT_OK) {
        return rc;
    }

    if (options->nissuers) {
        value = json_object_get(claims, "iss");

        if (value == NULL) {
            ngx_neonpro_jwt_set_claim(result, "iss");
            return NGX_NEONPRO_JWT_MISSING_CLAIM;
        }

        if (!json_is_string(value)) {
            ngx_neonpro_jwt_set_claim(result, "iss");
            return NGX_NEONPRO_JWT_INVALID_CLAIM;
        }

        if (!ngx_neonpro_jwt_in_list(value, options->issuers,
                                     options->nissuers))
        {
            ngx_neonpro_jwt_set_claim(result, "iss");
            return NGX_NEONPRO_JWT_WRONG_ISSUER;
        }
    }

    if (options->naudiences) {
        value = json_object_get(claims, "aud");
        rc = NGX_NEONPRO_JWT_WRONG_AUDIENCE;

        ngx_neonpro_jwt_set_claim(result, "aud");

        if (value == NULL) {
            return NGX_NEONPRO_JWT_MISSING_CLAIM;
        }

        if (json_is_string(value)) {
            if (ngx_neonpro_jwt_in_list(value, options->audiences,
                                        options->naudiences))
            {
                rc = NGX_NEONPRO_JWT_OK;
            }

        } else if (json_is_array(value)) {

            /* RFC 7519, section 4.1.3: an array of StringOrURI values */

            for (i = 0; i < json_array_size(value); i++) {
                if (!json_is_string(json_array_get(value, i))) {
                    return NGX_NEONPRO_JWT_INVALID_CLAIM;
                }

                if (ngx_neonpro_jwt_in_list(json_array_get(value, i),
                                            options->audiences,
                                            options->naudiences))
                {
                    rc = NGX_NEONPRO_JWT_OK;
                }
            }

        } else {
            return NGX_NEONPRO_JWT_INVALID_CLAIM;
        }

        if (rc != NGX_NEONPRO_JWT_OK) {
            return rc;
        }

        result->claim.len = 0;
        result->claim.data = NULL;
    }

    for (i = 0; i < options->nrequired; i++) {
        if (json_object_getn(claims, (const char *) options->required[i].data,
                             options->required[i].len)
            == NULL)
        {
            result->claim = options->required[i];
            return NGX_NEONPRO_JWT_MISSING_CLAIM;
        }
    }

    return NGX_NEONPRO_JWT_OK;
}


/*
 * Checks "exp", "nbf" and "iat" when present.  RFC 7519, section 2: a
 * NumericDate is a JSON number of seconds, integer or not.
 */
static ngx_neonpro_jwt_rc_e
ngx_neonpro_jwt_check_dates(json_t *claims,
    const ngx_neonpro_jwt_options_t *options, ngx_neonpro_jwt_result_t *result)
{
    size_t    i;
    json_t   *value;
    int64_t   leeway, earliest, latest;

    static const char  *names[] = { "exp", "nbf", "iat" };

    for (i = 0; i < ngx_neonpro_jwt_nelts(names); i++) {
        value = json_object_get(claims, names[i]);

        if (value != NULL && !json_is_number(value)) {
            ngx_neonpro_jwt_set_claim(result, names[i]);
            return NGX_NEONPRO_JWT_INVALID_CLAIM;
        }
    }

    /* now - leeway and now + leeway, saturated at the int64_t range */

    leeway = options->leeway > 0 ? options->leeway : 0;

    earliest = (options->now < INT64_MIN + leeway) ? INT64_MIN
                                                   : options->now - leeway;
    latest = (options->now > INT64_MAX - leeway) ? INT64_MAX
                                                 : options->now + leeway;

    /* RFC 7519, section 4.1.4: the current time must be before "exp" */

    value = json_object_get(claims, "exp");
    if (value != NULL && ngx_neonpro_jwt_date_cmp(value, earliest) <= 0) {
        ngx_neonpro_jwt_set_claim(result, "exp");
        return NGX_NEONPRO_JWT_EXPIRED;
    }

    /* section 4.1.5: the current time must be at or after "nbf" */

    value = json_object_get(claims, "nbf");
    if (value != NULL && ngx_neonpro_jwt_date_cmp(value, latest) > 0) {
        ngx_neonpro_jwt_set_claim(result, "nbf");
        return NGX_NEONPRO_JWT_NOT_YET_VALID;
    }

    value = json_object_get(claims, "iat");
    if (value != NULL && ngx_neonpro_jwt_date_cmp(value, latest) > 0) {
        ngx_neonpro_jwt_set_claim(result, "iat");
        return NGX_NEONPRO_JWT_ISSUED_IN_FUTURE;
    }

    return NGX_NEONPRO_JWT_OK;
}


static int
ngx_neonpro_jwt_date_cmp(json_t *value, int64_t t)
{
    double      d;
    json_int_t  n;

    if (json_is_integer(value)) {
        n = json_integer_value(value);
        return (n > t) - (n < t);
    }

    /* jansson accepts no NaN or infinity, so the order is total */

    d = json_real_value(value);

    return (d > (double) t) - (d < (double) t);
}


static int
ngx_neonpro_jwt_in_list(json_t *value, const ngx_neonpro_jwt_str_t *list,
    size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_neonpro_jwt_str_eq(&list[i], json_string_value(value),
                                   json_string_length(value)))
        {
            return 1;
        }
    }

    return 0;
}


static void
ngx_neonpro_jwt_set_claim(ngx_neonpro_jwt_result_t *result, const char *name)
{
    result->claim.len = strlen(name);
    result->claim.data = (const unsigned char *) name;
}


/* Helpers */


const ngx_neonpro_jwt_alg_t *
ngx_neonpro_jwt_alg_find(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < ngx_neonpro_jwt_nelts(ngx_neonpro_jwt_algs); i++) {
        if (len == 5 && memcmp(ngx_neonpro_jwt_algs[i].name, name, 5) == 0) {
            return &ngx_neonpro_jwt_algs[i];
        }
    }

    return NULL;
}


static int
ngx_neonpro_jwt_str_eq(const ngx_neonpro_jwt_str_t *s, const char *p,
    size_t len)
{
    return s->len == len && memcmp(s->data, p, len) == 0;
}
