
/*
 * libFuzzer target: permessage-deflate.  The first byte picks the mode and
 * the next three contain settings.  The rest is the data.
 *
 *   mode 0  Negotiation of the data as a Sec-WebSocket-Extensions value.
 *           The response is checked against a separate reading of the
 *           accepted offer.
 *   mode 1  Decompression of the data as messages, each a length byte and
 *           that many payload bytes, under a limit of at most 1020 bytes.
 *           Output and grow requests must stay within the limit.
 *   mode 2  Compression of the data as messages, each a length byte times
 *           16 and that many bytes, then decompression in pieces.  Every
 *           message must come back unchanged.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_neonpro_ws_deflate.h"


#define FUZZ_OK         NGX_NEONPRO_WS_DEFLATE_OK
#define FUZZ_DECLINED   NGX_NEONPRO_WS_DEFLATE_DECLINED
#define FUZZ_TOO_LARGE  NGX_NEONPRO_WS_DEFLATE_TOO_LARGE
#define FUZZ_INVALID    NGX_NEONPRO_WS_DEFLATE_INVALID
#define FUZZ_ERROR      NGX_NEONPRO_WS_DEFLATE_ERROR


/* The accepted offer as this file reads it, apart from the unit's parser. */
typedef struct {
    int  server_no_context_takeover;
    int  client_no_context_takeover;
    int  server_max_window_bits;       /* 0: absent */
    int  client_max_window_bits_sent;
    int  client_max_window_bits;       /* 0: absent or without a value */
} fuzz_offer_t;


static int
fuzz_grow(ngx_neonpro_ws_deflate_buf_t *b, size_t size)
{
    unsigned char  *data;

    /* b->ctx points to the largest size this buffer may grow to */
    if (size > *(size_t *) b->ctx) {
        __builtin_trap();
    }

    data = realloc(b->data, size);

    if (data == NULL) {
        return -1;
    }

    b->data = data;
    b->size = size;

    return 0;
}


static int
fuzz_equal_nocase(const unsigned char *p, size_t len, const char *name)
{
    size_t         i;
    unsigned char  c;

    if (strlen(name) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) name[i]) {
            return 0;
        }
    }

    return 1;
}


static void
fuzz_trim(const unsigned char **p, const unsigned char **end)
{
    while (*p < *end && (**p == ' ' || **p == '\t')) {
        (*p)++;
    }

    while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t')) {
        (*end)--;
    }
}


/*
 * Reads a window size of an accepted offer: 8..15, perhaps quoted, with
 * escapes.  Anything else means the unit accepted an invalid value.
 */
static int
fuzz_read_bits(const unsigned char *p, const unsigned char *end)
{
    size_t         n;
    unsigned char  digits[2];

    fuzz_trim(&p, &end);

    if (end - p >= 2 && *p == '"' && end[-1] == '"') {
        p++;
        end--;
    }

    for (n = 0; p < end; p++) {
        if (*p == '\\') {
            continue;
        }

        if (n == sizeof(digits)) {
            __builtin_trap();
        }

        digits[n++] = *p;
    }

    if (n == 1 && (digits[0] == '8' || digits[0] == '9')) {
        return digits[0] - '0';
    }

    if (n == 2 && digits[0] == '1' && digits[1] >= '0' && digits[1] <= '5') {
        return 10 + digits[1] - '0';
    }

    __builtin_trap();
}


/*
 * Reads an offer the unit accepted, or a response it wrote, apart from the
 * unit's parser: a valid value never contains ";" or "=", so splitting on
 * them is enough.  Every part must be a known parameter, given once.
 */
static void
fuzz_read_offer(const unsigned char *p, const unsigned char *end,
    fuzz_offer_t *offer)
{
    int                   first;
    const unsigned char  *part_end, *eq, *name, *name_end;

    memset(offer, 0, sizeof(fuzz_offer_t));

    for (first = 1; /* void */ ; first = 0) {
        part_end = memchr(p, ';', end - p);

        if (part_end == NULL) {
            part_end = end;
        }

        eq = memchr(p, '=', part_end - p);

        name = p;
        name_end = eq ? eq : part_end;
        fuzz_trim(&name, &name_end);

        if (first) {
            if (eq != NULL
                || !fuzz_equal_nocase(name, name_end - name,
                                      "permessage-deflate"))
            {
                __builtin_trap();
            }

        } else if (fuzz_equal_nocase(name, name_end - name,
                                     "server_no_context_takeover"))
        {
            if (eq != NULL || offer->server_no_context_takeover) {
                __builtin_trap();
            }

            offer->server_no_context_takeover = 1;

        } else if (fuzz_equal_nocase(name, name_end - name,
                                     "client_no_context_takeover"))
        {
            if (eq != NULL || offer->client_no_context_takeover) {
                __builtin_trap();
            }

            offer->client_no_context_takeover = 1;

        } else if (fuzz_equal_nocase(name, name_end - name,
                                     "server_max_window_bits"))
        {
            if (eq == NULL || offer->server_max_window_bits) {
                __builtin_trap();
            }

            offer->server_max_window_bits = fuzz_read_bits(eq + 1, part_end);

        } else if (fuzz_equal_nocase(name, name_end - name,
                                     "client_max_window_bits"))
        {
            if (offer->client_max_window_bits_sent) {
                __builtin_trap();
            }

            offer->client_max_window_bits_sent = 1;

            if (eq != NULL) {
                offer->client_max_window_bits = fuzz_read_bits(eq + 1,
                                                               part_end);
            }

        } else {
            __builtin_trap();
        }

        if (part_end == end) {
            return;
        }

        p = part_end + 1;
    }
}


static int
fuzz_min(int a, int b)
{
    return a < b ? a : b;
}


static void
fuzz_negotiate(const unsigned char *settings, const unsigned char *data,
    size_t size)
{
    int                               server_bits, client_bits;
    fuzz_offer_t                      offer, response;
    ngx_neonpro_ws_deflate_rc_e       rc;
    ngx_neonpro_ws_deflate_params_t   params, again;
    ngx_neonpro_ws_deflate_policy_t   policy;

    memset(&policy, 0, sizeof(policy));

    policy.enabled = (settings[0] & 0x80) == 0;
    policy.server_no_context_takeover = (settings[0] & 0x40) != 0;
    policy.client_no_context_takeover = (settings[0] & 0x20) != 0;
    policy.server_max_window_bits = 9 + settings[1] % 7;
    policy.client_max_window_bits = 9 + settings[2] % 7;

    rc = ngx_neonpro_ws_deflate_negotiate(data, size, &policy, &params);

    if (rc == FUZZ_DECLINED) {
        return;
    }

    if (rc != FUZZ_OK || !policy.enabled
        || params.response_len > NGX_NEONPRO_WS_DEFLATE_RESPONSE_MAX
        || params.offer_start > size
        || params.offer_len > size - params.offer_start)
    {
        __builtin_trap();
    }

    fuzz_read_offer(data + params.offer_start,
                    data + params.offer_start + params.offer_len, &offer);
    fuzz_read_offer(params.response, params.response + params.response_len,
                    &response);

    /* RFC 7692, 7.1.1.1 and 7.1.1.2: takeover flags, offered or wanted */
    if (response.server_no_context_takeover
        != (offer.server_no_context_takeover
            || policy.server_no_context_takeover)
        || response.client_no_context_takeover
           != (offer.client_no_context_takeover
               || policy.client_no_context_takeover))
    {
        __builtin_trap();
    }

    /* 7.1.2.1: an offered server window comes back the same or smaller */
    if (offer.server_max_window_bits == 8) {
        __builtin_trap();
    }

    if (offer.server_max_window_bits) {
        server_bits = fuzz_min(offer.server_max_window_bits,
                               policy.server_max_window_bits);

        if (response.server_max_window_bits != server_bits) {
            __builtin_trap();
        }

    } else {
        server_bits = policy.server_max_window_bits;

        if (response.server_max_window_bits
            != (server_bits < 15 ? server_bits : 0))
        {
            __builtin_trap();
        }
    }

    /* 7.1.2.2: client_max_window_bits only when the offer has it */
    if (response.client_max_window_bits_sent
        && !offer.client_max_window_bits_sent)
    {
        __builtin_trap();
    }

    if (response.client_max_window_bits_sent
        && response.client_max_window_bits == 0)
    {
        __builtin_trap();
    }

    if (offer.client_max_window_bits) {
        client_bits = fuzz_min(offer.client_max_window_bits,
                               policy.client_max_window_bits);

        if (response.client_max_window_bits != client_bits) {
            __builtin_trap();
        }

    } else if (offer.client_max_window_bits_sent) {
        client_bits = policy.client_max_window_bits;

        if (response.client_max_window_bits
            != (client_bits < 15 ? client_bits : 0))
        {
            __builtin_trap();
        }

    } else {
        client_bits = 15;
    }

    if (params.server_max_window_bits != server_bits
        || params.client_max_window_bits != client_bits
        || server_bits < 9 || server_bits > 15
        || client_bits < 8 || client_bits > 15
        || (client_bits == 8 && offer.client_max_window_bits != 8)
        || params.server_no_context_takeover
           != response.server_no_context_takeover
        || params.client_no_context_takeover
           != response.client_no_context_takeover)
    {
        __builtin_trap();
    }

    /* the response, offered back under the same policy, is a fixed point */
    rc = ngx_neonpro_ws_deflate_negotiate(params.response,
                                          params.response_len, &policy,
                                          &again);

    if (rc != FUZZ_OK || again.response_len != params.response_len
        || memcmp(again.response, params.response, params.response_len)
           != 0)
    {
        __builtin_trap();
    }
}


/*
 * Splits data into messages: a length byte, multiplied by scale, then up
 * to that many bytes.  Returns the message length, or -1 at the end.
 */
static long
fuzz_next_message(const unsigned char **data, size_t *size, size_t scale)
{
    size_t  len;

    if (*size == 0) {
        return -1;
    }

    len = (size_t) (*data)[0] * scale;
    (*data)++;
    (*size)--;

    if (len > *size) {
        len = *size;
    }

    return (long) len;
}


static void
fuzz_decompress(const unsigned char *settings, const unsigned char *data,
    size_t size)
{
    long                                len;
    size_t                              limit, piece, n, i;
    unsigned char                      *fixed;
    ngx_neonpro_ws_deflate_rc_e         rc;
    ngx_neonpro_ws_deflate_buf_t        out;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    memset(&params, 0, sizeof(params));
    params.server_max_window_bits = 15;
    params.client_max_window_bits = 8 + (settings[0] & 7);
    params.client_no_context_takeover = (settings[0] & 8) != 0;

    limit = (size_t) settings[1] * 4;
    piece = settings[2] ? settings[2] : SIZE_MAX;

    memset(&inflater, 0, sizeof(inflater));

    if (ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, limit)
        != FUZZ_OK)
    {
        __builtin_trap();
    }

    memset(&out, 0, sizeof(out));
    fixed = NULL;

    if (settings[0] & 0x10) {
        /* a fixed buffer of half the limit */
        fixed = malloc(limit / 2 + 1);

        if (fixed == NULL) {
            goto done;
        }

        out.data = fixed;
        out.size = limit / 2;

    } else {
        out.grow = fuzz_grow;
        out.ctx = &limit;
    }

    while ((len = fuzz_next_message(&data, &size, 1)) >= 0) {
        out.len = 0;
        rc = FUZZ_OK;

        if (len == 0) {
            rc = ngx_neonpro_ws_deflate_decompress(&inflater, NULL, 0, 1,
                                                   &out);
        }

        for (i = 0; i < (size_t) len && rc == FUZZ_OK; i += n) {
            n = (size_t) len - i < piece ? (size_t) len - i : piece;

            rc = ngx_neonpro_ws_deflate_decompress(&inflater, data + i, n,
                                                   i + n == (size_t) len,
                                                   &out);

            if (out.len > limit || out.len > out.size
                || inflater.size > limit)
            {
                __builtin_trap();
            }
        }

        data += len;
        size -= len;

        if (rc == FUZZ_OK) {
            continue;
        }

        if (rc != FUZZ_TOO_LARGE && rc != FUZZ_INVALID) {
            __builtin_trap();
        }

        /* a failed inflater stays failed */
        if (ngx_neonpro_ws_deflate_decompress(&inflater, NULL, 0, 1, &out)
            != FUZZ_ERROR)
        {
            __builtin_trap();
        }

        break;
    }

done:

    ngx_neonpro_ws_deflate_inflater_free(&inflater);

    if (fixed == NULL) {
        free(out.data);

    } else {
        free(fixed);
    }
}


static void
fuzz_round_trip(const unsigned char *settings, const unsigned char *data,
    size_t size)
{
    int                                 level, mem_level;
    long                                len;
    size_t                              piece, n, i, no_limit, limit;
    ngx_neonpro_ws_deflate_buf_t        compressed, plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    memset(&params, 0, sizeof(params));
    params.server_max_window_bits = 9 + (settings[0] & 7) % 7;
    params.client_max_window_bits = params.server_max_window_bits;
    params.server_no_context_takeover = (settings[0] & 8) != 0;
    params.client_no_context_takeover = params.server_no_context_takeover;

    level = settings[1] % 10;
    mem_level = 1 + settings[2] % 9;
    piece = 1 + (settings[1] >> 4) * 64;

    /* the largest message the layout below can give */
    limit = 255 * 16;
    no_limit = SIZE_MAX;

    memset(&deflater, 0, sizeof(deflater));
    memset(&inflater, 0, sizeof(inflater));

    if (ngx_neonpro_ws_deflate_deflater_init(&deflater, &params, level,
                                             mem_level)
        != FUZZ_OK
        || ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, limit)
           != FUZZ_OK)
    {
        __builtin_trap();
    }

    memset(&compressed, 0, sizeof(compressed));
    compressed.grow = fuzz_grow;
    compressed.ctx = &no_limit;

    memset(&plain, 0, sizeof(plain));
    plain.grow = fuzz_grow;
    plain.ctx = &limit;

    while ((len = fuzz_next_message(&data, &size, 16)) >= 0) {
        compressed.len = 0;
        plain.len = 0;

        if (ngx_neonpro_ws_deflate_compress(&deflater, data, len,
                                            &compressed)
            != FUZZ_OK)
        {
            __builtin_trap();
        }

        for (i = 0; i < compressed.len; i += n) {
            n = compressed.len - i < piece ? compressed.len - i : piece;

            if (ngx_neonpro_ws_deflate_decompress(&inflater,
                    compressed.data + i, n, i + n == compressed.len, &plain)
                != FUZZ_OK)
            {
                __builtin_trap();
            }
        }

        if (plain.len != (size_t) len
            || (len > 0 && memcmp(plain.data, data, len) != 0))
        {
            __builtin_trap();
        }

        data += len;
        size -= len;
    }

    ngx_neonpro_ws_deflate_deflater_free(&deflater);
    ngx_neonpro_ws_deflate_inflater_free(&inflater);

    free(compressed.data);
    free(plain.data);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) {
        return 0;
    }

    switch (data[0] % 3) {

    case 0:
        fuzz_negotiate(data + 1, data + 4, size - 4);
        break;

    case 1:
        fuzz_decompress(data + 1, data + 4, size - 4);
        break;

    default:
        fuzz_round_trip(data + 1, data + 4, size - 4);
        break;
    }

    return 0;
}
