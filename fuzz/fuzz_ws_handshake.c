
/*
 * libFuzzer target: the WebSocket handshake checks on arbitrary header
 * values.  The input is one value for the list and key checks.  For the
 * Origin rule the first byte carries the TLS flag, and the rest splits at
 * "\n" into Origin, Host and up to eight allow-list entries.
 *
 * Invariants: an accepted key decodes to 16 bytes with OpenSSL's decoder,
 * and its Accept value matches one computed with OpenSSL alone.  A bearer
 * token lies inside the input and is never selected as the subprotocol.
 * An origin that parses passes an allow-list that contains it.
 */


/* strcasestr() is a GNU extension */
#define _GNU_SOURCE

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngx_neonpro_ws_handshake.h"


#define FUZZ_PARTS  10


static void
fuzz_key(const unsigned char *p, size_t len)
{
    int            n;
    size_t         start;
    unsigned int   digest_len;
    unsigned char  accept[NGX_NEONPRO_WS_ACCEPT_LEN];
    unsigned char  decoded[NGX_NEONPRO_WS_KEY_LEN];
    unsigned char  expected[NGX_NEONPRO_WS_ACCEPT_LEN + 1];
    unsigned char  digest[EVP_MAX_MD_SIZE];
    unsigned char  text[NGX_NEONPRO_WS_KEY_LEN + 36];

    if (!ngx_neonpro_ws_key_valid(p, len)) {
        if (ngx_neonpro_ws_accept(p, len, accept) != -1) {
            __builtin_trap();
        }

        return;
    }

    /* the key without surrounding whitespace */

    for (start = 0; p[start] == ' ' || p[start] == '\t'; start++) {
        /* void */
    }

    /* 24 characters decode to 18 bytes, two of them from the "==" */

    n = EVP_DecodeBlock(decoded, p + start, NGX_NEONPRO_WS_KEY_LEN);

    if (n != NGX_NEONPRO_WS_KEY_BYTES + 2
        || p[start + 22] != '=' || p[start + 23] != '=')
    {
        __builtin_trap();
    }

    /* one spelling per key: encoding the 16 bytes gives the key back */

    EVP_EncodeBlock(expected, decoded, NGX_NEONPRO_WS_KEY_BYTES);

    if (memcmp(expected, p + start, NGX_NEONPRO_WS_KEY_LEN) != 0) {
        __builtin_trap();
    }

    if (ngx_neonpro_ws_accept(p, len, accept) != 0) {
        __builtin_trap();
    }

    memcpy(text, p + start, NGX_NEONPRO_WS_KEY_LEN);
    memcpy(text + NGX_NEONPRO_WS_KEY_LEN,
           "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);

    if (!EVP_Digest(text, sizeof(text), digest, &digest_len, EVP_sha1(),
                    NULL))
    {
        return;
    }

    EVP_EncodeBlock(expected, digest, (int) digest_len);

    if (memcmp(expected, accept, NGX_NEONPRO_WS_ACCEPT_LEN) != 0) {
        __builtin_trap();
    }
}


static void
fuzz_protocol(const unsigned char *p, size_t len)
{
    int                         rc;
    size_t                      token_len;
    unsigned char              *element;
    const unsigned char        *token;
    ngx_neonpro_ws_protocol_e   selected;

    selected = ngx_neonpro_ws_protocol_select(p, len, NULL, 0);
    rc = ngx_neonpro_ws_protocol_bearer(p, len, &token, &token_len);

    /* both read the same list, so an invalid list fails both */

    if (selected == NGX_NEONPRO_WS_PROTOCOL_INVALID && rc != -1) {
        __builtin_trap();
    }

    if (rc != 1) {
        if (token != NULL || token_len != 0) {
            __builtin_trap();
        }

        return;
    }

    if (token_len == 0 || token < p + NGX_NEONPRO_WS_BEARER_LEN
        || token + token_len > p + len
        || memcmp(token - NGX_NEONPRO_WS_BEARER_LEN, NGX_NEONPRO_WS_BEARER,
                  NGX_NEONPRO_WS_BEARER_LEN) != 0)
    {
        __builtin_trap();
    }

    /* the element that carries the token is never selected */

    element = malloc(NGX_NEONPRO_WS_BEARER_LEN + token_len);
    if (element == NULL) {
        return;
    }

    memcpy(element, NGX_NEONPRO_WS_BEARER, NGX_NEONPRO_WS_BEARER_LEN);
    memcpy(element + NGX_NEONPRO_WS_BEARER_LEN, token, token_len);

    if (ngx_neonpro_ws_protocol_select(p, len, element,
                                       NGX_NEONPRO_WS_BEARER_LEN + token_len)
        == NGX_NEONPRO_WS_PROTOCOL_SELECTED)
    {
        __builtin_trap();
    }

    free(element);
}


static void
fuzz_upgrade(const unsigned char *p, size_t len)
{
    char  *text;

    if (ngx_neonpro_ws_upgrade(p, len) != NGX_NEONPRO_WS_UPGRADE_WEBSOCKET) {
        return;
    }

    text = malloc(len + 1);
    if (text == NULL) {
        return;
    }

    memcpy(text, p, len);
    text[len] = '\0';

    if (strcasestr(text, "websocket") == NULL) {
        __builtin_trap();
    }

    free(text);
}


static void
fuzz_origin(const unsigned char *data, size_t size)
{
    int                       tls;
    size_t                    n, i;
    const unsigned char      *p, *end, *nl;
    ngx_neonpro_ws_str_t      parts[FUZZ_PARTS];
    ngx_neonpro_ws_origin_t   origin;

    if (size == 0) {
        return;
    }

    tls = data[0] & 1;
    p = data + 1;
    end = data + size;
    n = 0;

    while (n < FUZZ_PARTS) {
        nl = memchr(p, '\n', (size_t) (end - p));

        parts[n].data = p;
        parts[n].len = (size_t) ((nl ? nl : end) - p);
        n++;

        if (nl == NULL) {
            break;
        }

        p = nl + 1;
    }

    if (n < 2) {
        parts[1].data = NULL;
        parts[1].len = 0;
    }

    (void) ngx_neonpro_ws_origin_allowed(parts[0].data, parts[0].len,
                                         parts[1].data, parts[1].len, tls,
                                         n > 2 ? &parts[2] : NULL,
                                         n > 2 ? n - 2 : 0);

    /* without Origin only an empty list lets a request in */

    if (n > 2
        && ngx_neonpro_ws_origin_allowed(NULL, 0, parts[1].data,
                                         parts[1].len, tls, &parts[2],
                                         n - 2))
    {
        __builtin_trap();
    }

    for (i = 0; i < n; i++) {
        if (ngx_neonpro_ws_origin_parse(parts[i].data, parts[i].len, &origin)
            && (origin.port < -1 || origin.port > 65535
                || !ngx_neonpro_ws_origin_allowed(parts[i].data,
                                                  parts[i].len, NULL, 0, tls,
                                                  &parts[i], 1)))
        {
            __builtin_trap();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void) ngx_neonpro_ws_connection_upgrade(data, size);
    (void) ngx_neonpro_ws_version_valid(data, size);

    fuzz_upgrade(data, size);
    fuzz_key(data, size);
    fuzz_protocol(data, size);
    fuzz_origin(data, size);

    return 0;
}
