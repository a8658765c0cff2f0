
/*
 * Unit tests of permessage-deflate (RFC 7692): negotiation cases, round
 * trips through the unit's own streams and through plain zlib streams that
 * stand in for a client, the inflate limit, corrupt payloads, and messages
 * fed one byte at a time.  They run under AddressSanitizer and UBSan and
 * end with the line "N passed, N failed".
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "ngx_neonpro_ws_deflate.h"


#define OK         NGX_NEONPRO_WS_DEFLATE_OK
#define DECLINED   NGX_NEONPRO_WS_DEFLATE_DECLINED
#define TOO_LARGE  NGX_NEONPRO_WS_DEFLATE_TOO_LARGE
#define INVALID    NGX_NEONPRO_WS_DEFLATE_INVALID
#define ERROR      NGX_NEONPRO_WS_DEFLATE_ERROR


/* the largest size any grow callback was asked for */
static size_t  grow_max;

/* zlib allocations through the counting allocator not yet freed */
static long    live_allocations;
static long    total_allocations;


static int
test_grow(ngx_neonpro_ws_deflate_buf_t *b, size_t size)
{
    unsigned char  *data;

    if (size > grow_max) {
        grow_max = size;
    }

    data = realloc(b->data, size);

    if (data == NULL) {
        return -1;
    }

    b->data = data;
    b->size = size;

    return 0;
}


static void
buf_init(ngx_neonpro_ws_deflate_buf_t *b)
{
    memset(b, 0, sizeof(ngx_neonpro_ws_deflate_buf_t));
    b->grow = test_grow;
}


static void
buf_free(ngx_neonpro_ws_deflate_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}


static int
buf_equals(ngx_neonpro_ws_deflate_buf_t *b, const unsigned char *p,
    size_t len)
{
    return b->len == len && (len == 0 || memcmp(b->data, p, len) == 0);
}


static voidpf
test_zalloc(voidpf opaque, uInt items, uInt size)
{
    (void) opaque;

    live_allocations++;
    total_allocations++;

    return calloc(items, size);
}


static void
test_zfree(voidpf opaque, voidpf address)
{
    (void) opaque;

    live_allocations--;
    free(address);
}


/* xorshift32: reproducible bytes that do not compress */
static void
fill_random(unsigned char *p, size_t len, unsigned seed)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        p[i] = (unsigned char) seed;
    }
}


static ngx_neonpro_ws_deflate_params_t
make_params(int bits, int no_context_takeover)
{
    ngx_neonpro_ws_deflate_params_t  params;

    memset(&params, 0, sizeof(params));

    params.server_max_window_bits = bits;
    params.client_max_window_bits = bits;
    params.server_no_context_takeover = no_context_takeover;
    params.client_no_context_takeover = no_context_takeover;

    return params;
}


/*
 * A client's deflater made of plain zlib: raw DEFLATE, Z_SYNC_FLUSH, and the
 * 00 00 ff ff tail removed, as RFC 7692 section 7.2.1 describes.
 */
static size_t
client_compress(z_stream *zs, const unsigned char *in, size_t len,
    unsigned char *out, size_t size, int flush)
{
    zs->next_in = (Bytef *) in;
    zs->avail_in = (uInt) len;
    zs->next_out = out;
    zs->avail_out = (uInt) size;

    if (deflate(zs, flush) == Z_STREAM_ERROR || zs->avail_in != 0
        || zs->avail_out == 0)
    {
        return 0;
    }

    len = size - zs->avail_out;

    if (flush == Z_SYNC_FLUSH) {
        if (len < 4 || memcmp(out + len - 4, "\x00\x00\xff\xff", 4) != 0) {
            return 0;
        }

        len -= 4;
    }

    return len;
}


/* A client's inflater made of plain zlib; returns 1 when out matches. */
static int
client_decompress(z_stream *zs, const unsigned char *in, size_t len,
    const unsigned char *expected, size_t expected_len)
{
    int             rc;
    size_t          n;
    unsigned char  *data, *out;

    data = malloc(len + 4);
    out = malloc(expected_len + 1);

    if (data == NULL || out == NULL) {
        free(data);
        free(out);
        return 0;
    }

    memcpy(data, in, len);
    memcpy(data + len, "\x00\x00\xff\xff", 4);

    zs->next_in = data;
    zs->avail_in = (uInt) (len + 4);
    zs->next_out = out;
    zs->avail_out = (uInt) (expected_len + 1);

    rc = inflate(zs, Z_SYNC_FLUSH);
    n = expected_len + 1 - zs->avail_out;

    rc = (rc == Z_OK || rc == Z_BUF_ERROR) && zs->avail_in == 0
         && n == expected_len && memcmp(out, expected, n) == 0;

    free(data);
    free(out);

    return rc;
}


static void
test_negotiate(void)
{
    size_t                            i;
    ngx_neonpro_ws_deflate_rc_e       rc;
    ngx_neonpro_ws_deflate_params_t   params;
    ngx_neonpro_ws_deflate_policy_t   policy;

    static const char  located[] =
        "foo, permessage-deflate ; client_max_window_bits , bar";

    static const ngx_neonpro_ws_deflate_policy_t  policies[] = {
        /* 0: every window and context takeover allowed */
        { 1, 0, 0, 15, 15 },
        /* 1: small windows */
        { 1, 0, 0, 12, 10 },
        /* 2: no context takeover either way */
        { 1, 1, 1, 15, 15 },
        /* 3: switched off */
        { 0, 0, 0, 15, 15 },
        /* 4: everything in the response */
        { 1, 1, 1, 10, 11 },
    };

    static const struct {
        int          policy;
        const char  *header;
        int          rc;
        const char  *response;
        int          server_bits;
        int          client_bits;
    } cases[] = {

        /* each parameter alone */
        { 0, "permessage-deflate", OK, "permessage-deflate", 15, 15 },
        { 0, "permessage-deflate; server_no_context_takeover", OK,
          "permessage-deflate; server_no_context_takeover", 15, 15 },
        { 0, "permessage-deflate; client_no_context_takeover", OK,
          "permessage-deflate; client_no_context_takeover", 15, 15 },
        { 0, "permessage-deflate; server_max_window_bits=10", OK,
          "permessage-deflate; server_max_window_bits=10", 10, 15 },
        { 0, "permessage-deflate; server_max_window_bits=15", OK,
          "permessage-deflate; server_max_window_bits=15", 15, 15 },
        { 0, "permessage-deflate; client_max_window_bits", OK,
          "permessage-deflate", 15, 15 },
        { 0, "permessage-deflate; client_max_window_bits=10", OK,
          "permessage-deflate; client_max_window_bits=10", 15, 10 },
        { 0, "permessage-deflate; client_max_window_bits=15", OK,
          "permessage-deflate; client_max_window_bits=15", 15, 15 },

        /* a client may limit its own window to 8; only the server cannot */
        { 0, "permessage-deflate; client_max_window_bits=8", OK,
          "permessage-deflate; client_max_window_bits=8", 15, 8 },
        { 0, "permessage-deflate; server_max_window_bits=8", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=8,"
             " permessage-deflate; server_max_window_bits=9", OK,
          "permessage-deflate; server_max_window_bits=9", 9, 15 },
        { 0, "permessage-deflate; server_max_window_bits=8,"
             " permessage-deflate", OK, "permessage-deflate", 15, 15 },

        /* quoted-string values (RFC 7692, section 7) */
        { 0, "permessage-deflate; server_max_window_bits=\"10\"", OK,
          "permessage-deflate; server_max_window_bits=10", 10, 15 },
        { 0, "permessage-deflate; client_max_window_bits=\"1\\2\"", OK,
          "permessage-deflate; client_max_window_bits=12", 15, 12 },
        { 0, "permessage-deflate; server_max_window_bits=\"\"", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=\"10 \"", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=\"1\x01\"",
          DECLINED, NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=\"10", DECLINED,
          NULL, 0, 0 },

        /* invalid window sizes */
        { 0, "permessage-deflate; server_max_window_bits=7", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=16", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=abc", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=09", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=010", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=10x", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=1 0", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; client_max_window_bits=7", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; client_max_window_bits=16", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; client_max_window_bits=abc", DECLINED,
          NULL, 0, 0 },

        /* the takeover parameters take no value */
        { 0, "permessage-deflate; server_no_context_takeover=1", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; client_no_context_takeover=\"\"",
          DECLINED, NULL, 0, 0 },

        /* duplicates */
        { 0, "permessage-deflate; server_no_context_takeover;"
             " server_no_context_takeover", DECLINED, NULL, 0, 0 },
        { 0, "permessage-deflate; client_no_context_takeover;"
             " client_no_context_takeover", DECLINED, NULL, 0, 0 },
        { 0, "permessage-deflate; server_max_window_bits=10;"
             " server_max_window_bits=10", DECLINED, NULL, 0, 0 },
        { 0, "permessage-deflate; client_max_window_bits;"
             " client_max_window_bits=10", DECLINED, NULL, 0, 0 },

        /* unknown parameters and other extensions */
        { 0, "permessage-deflate; foo", DECLINED, NULL, 0, 0 },
        { 0, "permessage-deflate; foo=1, permessage-deflate;"
             " client_no_context_takeover", OK,
          "permessage-deflate; client_no_context_takeover", 15, 15 },
        { 0, "x-webkit-deflate-frame", DECLINED, NULL, 0, 0 },
        { 0, "x-webkit-deflate-frame; max_window_bits=10,"
             " permessage-deflate; client_max_window_bits", OK,
          "permessage-deflate", 15, 15 },
        { 0, "permessage-deflate-x", DECLINED, NULL, 0, 0 },

        /* syntax */
        { 0, "", DECLINED, NULL, 0, 0 },
        { 0, " , ,permessage-deflate", OK, "permessage-deflate", 15, 15 },
        { 0, "permessage-deflate;", DECLINED, NULL, 0, 0 },
        { 0, "permessage-deflate; ; client_max_window_bits", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate client_max_window_bits", DECLINED,
          NULL, 0, 0 },
        { 0, "  permessage-deflate ;  server_max_window_bits = 11 ;"
             "\tclient_no_context_takeover  ", OK,
          "permessage-deflate; client_no_context_takeover;"
          " server_max_window_bits=11", 11, 15 },
        { 0, "PerMessage-Deflate; Server_No_Context_Takeover", OK,
          "permessage-deflate; server_no_context_takeover", 15, 15 },

        /* a comma inside a quoted string does not end an offer */
        { 0, "permessage-deflate; foo=\"a,b\", permessage-deflate;"
             " server_max_window_bits=11", OK,
          "permessage-deflate; server_max_window_bits=11", 11, 15 },
        { 0, "permessage-deflate; foo=\"a,permessage-deflate\"", DECLINED,
          NULL, 0, 0 },
        { 0, "permessage-deflate; foo=\"a\\\",permessage-deflate\"",
          DECLINED, NULL, 0, 0 },

        /* the policy limits windows, asked or not */
        { 1, "permessage-deflate", OK,
          "permessage-deflate; server_max_window_bits=12", 12, 15 },
        { 1, "permessage-deflate; client_max_window_bits", OK,
          "permessage-deflate; server_max_window_bits=12;"
          " client_max_window_bits=10", 12, 10 },
        { 1, "permessage-deflate; server_max_window_bits=14;"
             " client_max_window_bits=9", OK,
          "permessage-deflate; server_max_window_bits=12;"
          " client_max_window_bits=9", 12, 9 },
        { 1, "permessage-deflate; server_max_window_bits=9;"
             " client_max_window_bits=15", OK,
          "permessage-deflate; server_max_window_bits=9;"
          " client_max_window_bits=10", 9, 10 },

        /* the policy adds no_context_takeover both ways */
        { 2, "permessage-deflate", OK,
          "permessage-deflate; server_no_context_takeover;"
          " client_no_context_takeover", 15, 15 },

        { 3, "permessage-deflate", DECLINED, NULL, 0, 0 },

        /* the maximum response length, NGX_NEONPRO_WS_DEFLATE_RESPONSE_MAX */
        { 4, "permessage-deflate; client_max_window_bits", OK,
          "permessage-deflate; server_no_context_takeover;"
          " client_no_context_takeover; server_max_window_bits=10;"
          " client_max_window_bits=11", 10, 11 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&params, 0, sizeof(params));

        rc = ngx_neonpro_ws_deflate_negotiate(
                 (const unsigned char *) cases[i].header,
                 strlen(cases[i].header), &policies[cases[i].policy],
                 &params);

        CHECK(rc == (ngx_neonpro_ws_deflate_rc_e) cases[i].rc,
              cases[i].header);

        if (rc != OK || cases[i].rc != OK) {
            continue;
        }

        CHECK(params.response_len == strlen(cases[i].response)
              && memcmp(params.response, cases[i].response,
                        params.response_len) == 0,
              cases[i].header);

        if (params.response_len != strlen(cases[i].response)) {
            printf("  response \"%.*s\"\n", (int) params.response_len,
                   params.response);
        }

        CHECK(params.server_max_window_bits == cases[i].server_bits,
              cases[i].header);
        CHECK(params.client_max_window_bits == cases[i].client_bits,
              cases[i].header);
        CHECK(params.offer_start + params.offer_len
              <= strlen(cases[i].header), cases[i].header);
    }

    /* the accepted offer is located without its surrounding spaces */
    memset(&params, 0, sizeof(params));
    rc = ngx_neonpro_ws_deflate_negotiate((const unsigned char *) located,
                                          strlen(located), &policies[0],
                                          &params);
    CHECK(rc == OK, "negotiate offer location rc");
    CHECK(params.offer_start == 5
          && params.offer_len
             == strlen("permessage-deflate ; client_max_window_bits"),
          "negotiate offer location");

    /* the no_context_takeover flags follow the response */
    memset(&params, 0, sizeof(params));
    rc = ngx_neonpro_ws_deflate_negotiate(
             (const unsigned char *) "permessage-deflate; "
             "server_no_context_takeover", 46, &policies[0], &params);
    CHECK(rc == OK, "negotiate takeover flags rc");
    CHECK(params.server_no_context_takeover, "negotiate server takeover");
    CHECK(!params.client_no_context_takeover, "negotiate client takeover");

    /* an out-of-range policy is a caller error */
    policy = policies[0];
    policy.server_max_window_bits = 8;
    CHECK(ngx_neonpro_ws_deflate_negotiate(
              (const unsigned char *) "permessage-deflate", 18, &policy,
              &params) == ERROR, "negotiate policy server bits 8");

    policy = policies[0];
    policy.client_max_window_bits = 16;
    CHECK(ngx_neonpro_ws_deflate_negotiate(
              (const unsigned char *) "permessage-deflate", 18, &policy,
              &params) == ERROR, "negotiate policy client bits 16");
}


/*
 * Compresses messages with the unit's deflater and decompresses them with
 * the unit's inflater and with a plain zlib client, for one window size
 * and takeover mode.
 */
static void
test_round_trip_mode(int bits, int no_context_takeover)
{
    char                                name[64];
    size_t                              i, first_len, sizes[2];
    z_stream                            client;
    unsigned char                      *big;
    ngx_neonpro_ws_deflate_buf_t        compressed, plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    static const char  *texts[] = {
        "Hello",
        "{\"type\":\"message\",\"text\":\"Bom dia, a consulta de amanha"
        " esta confirmada para as 14h.\"}",
        "",
        "{\"type\":\"message\",\"text\":\"Bom dia, a consulta de amanha"
        " esta confirmada para as 14h.\"}",
        "Hello",
    };

    snprintf(name, sizeof(name), "round trip bits %d takeover %s", bits,
             no_context_takeover ? "off" : "on");

    params = make_params(bits, no_context_takeover);

    memset(&deflater, 0, sizeof(deflater));
    memset(&inflater, 0, sizeof(inflater));
    memset(&client, 0, sizeof(client));

    CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params,
                                               Z_DEFAULT_COMPRESSION, 8)
          == OK, name);
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params,
                                               1 << 20) == OK, name);
    CHECK(inflateInit2(&client, -bits) == Z_OK, name);

    buf_init(&compressed);
    buf_init(&plain);

    first_len = 0;

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        compressed.len = 0;
        plain.len = 0;

        CHECK(ngx_neonpro_ws_deflate_compress(&deflater,
                  (const unsigned char *) texts[i], strlen(texts[i]),
                  &compressed) == OK, name);

        CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, compressed.data,
                  compressed.len, 1, &plain) == OK, name);

        CHECK(buf_equals(&plain, (const unsigned char *) texts[i],
                         strlen(texts[i])), name);

        CHECK(client_decompress(&client, compressed.data, compressed.len,
                                (const unsigned char *) texts[i],
                                strlen(texts[i])), name);

        if (no_context_takeover) {
            CHECK(inflateReset(&client) == Z_OK, name);
        }

        /* the same text again is a back-reference only with takeover */
        if (i == 1) {
            first_len = compressed.len;

        } else if (i == 3) {
            if (no_context_takeover) {
                CHECK(compressed.len == first_len, name);

            } else {
                CHECK(compressed.len < first_len / 2, name);
            }
        }
    }

    /*
     * Messages larger than the window: 100 KB of text repeating every
     * 3000 bytes, and incompressible bytes, twice each.
     */
    big = malloc(100000);

    if (big != NULL) {
        for (i = 0; i < 2; i++) {
            if (i == 0) {
                fill_random(big, 3000, 7);

                for (first_len = 3000; first_len < 100000; first_len++) {
                    big[first_len] = big[first_len - 3000];
                }

            } else {
                fill_random(big, 100000, 11);
            }

            compressed.len = 0;
            plain.len = 0;

            CHECK(ngx_neonpro_ws_deflate_compress(&deflater, big, 100000,
                                                  &compressed) == OK, name);
            sizes[i] = compressed.len;

            CHECK(ngx_neonpro_ws_deflate_decompress(&inflater,
                      compressed.data, compressed.len, 1, &plain) == OK,
                  name);
            CHECK(buf_equals(&plain, big, 100000), name);

            CHECK(client_decompress(&client, compressed.data,
                                    compressed.len, big, 100000), name);

            if (no_context_takeover) {
                CHECK(inflateReset(&client) == Z_OK, name);
            }
        }

        /* a 512-byte window misses the 3000-byte period, 1 KB and up hit */
        if (bits >= 12) {
            CHECK(sizes[0] < 10000, name);
        }

        CHECK(sizes[1] > 99000, name);

        free(big);
    }

    ngx_neonpro_ws_deflate_deflater_free(&deflater);
    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    (void) inflateEnd(&client);

    buf_free(&compressed);
    buf_free(&plain);
}


/* A plain zlib client compresses and the unit decompresses. */
static void
test_client_mode(int bits, int no_context_takeover)
{
    char                                name[64];
    size_t                              i, len;
    z_stream                            client;
    unsigned char                       out[512];
    ngx_neonpro_ws_deflate_buf_t        plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    static const char  *texts[] = {
        "Ola, tudo bem? Ola, tudo bem? Ola, tudo bem?",
        "Ola, tudo bem? Ola, tudo bem? Ola, tudo bem?",
        "a",
        "Ola, tudo bem?",
    };

    snprintf(name, sizeof(name), "client stream bits %d takeover %s", bits,
             no_context_takeover ? "off" : "on");

    params = make_params(bits, no_context_takeover);

    memset(&inflater, 0, sizeof(inflater));
    memset(&client, 0, sizeof(client));

    CHECK(deflateInit2(&client, 9, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY)
          == Z_OK, name);
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 4096)
          == OK, name);

    buf_init(&plain);

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        len = client_compress(&client, (const unsigned char *) texts[i],
                              strlen(texts[i]), out, sizeof(out),
                              Z_SYNC_FLUSH);
        CHECK(len > 0, name);

        plain.len = 0;

        CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1,
                                                &plain) == OK, name);
        CHECK(buf_equals(&plain, (const unsigned char *) texts[i],
                         strlen(texts[i])), name);

        if (no_context_takeover) {
            CHECK(deflateReset(&client) == Z_OK, name);
        }
    }

    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    (void) deflateEnd(&client);
    buf_free(&plain);
}


static void
test_round_trip(void)
{
    int  bits;

    for (bits = 9; bits <= 15; bits++) {
        test_round_trip_mode(bits, 0);
        test_round_trip_mode(bits, 1);
        test_client_mode(bits, 0);
        test_client_mode(bits, 1);
    }
}


/* The payloads of RFC 7692, section 7.2.3, all "Hello". */
static void
test_rfc_examples(void)
{
    size_t                              i;
    ngx_neonpro_ws_deflate_buf_t        out;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    static const struct {
        const char     *name;
        unsigned char   data[16];
        size_t          len;
    } examples[] = {
        { "rfc 7.2.3.1 compressed",
          { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 }, 7 },
        { "rfc 7.2.3.2 shared window",
          { 0xf2, 0x00, 0x11, 0x00, 0x00 }, 5 },
        { "rfc 7.2.3.3 no compression",
          { 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
            0x00 }, 11 },
        { "rfc 7.2.3.4 bfinal",
          { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00 }, 8 },
        { "rfc 7.2.3.5 two blocks",
          { 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9,
            0xc9, 0x07, 0x00 }, 13 },
    };

    params = make_params(15, 0);

    memset(&inflater, 0, sizeof(inflater));
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 1024)
          == OK, "rfc examples init");

    buf_init(&out);

    /* one connection: the second payload refers to the first */
    for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        out.len = 0;

        CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, examples[i].data,
                  examples[i].len, 1, &out) == OK, examples[i].name);
        CHECK(buf_equals(&out, (const unsigned char *) "Hello", 5),
              examples[i].name);
    }

    ngx_neonpro_ws_deflate_inflater_free(&inflater);

    /* zlib's default level gives the first two payloads byte for byte */
    memset(&deflater, 0, sizeof(deflater));
    CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params,
                                               Z_DEFAULT_COMPRESSION, 8)
          == OK, "rfc examples deflater");

    for (i = 0; i < 2; i++) {
        out.len = 0;

        CHECK(ngx_neonpro_ws_deflate_compress(&deflater,
                  (const unsigned char *) "Hello", 5, &out) == OK,
              examples[i].name);
        CHECK(buf_equals(&out, examples[i].data, examples[i].len),
              examples[i].name);
    }

    ngx_neonpro_ws_deflate_deflater_free(&deflater);
    buf_free(&out);
}


/* An empty message is the byte 00; a payload of no bytes is empty too. */
static void
test_empty_message(void)
{
    int                                 i;
    ngx_neonpro_ws_deflate_buf_t        compressed, plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    params = make_params(15, 0);

    memset(&deflater, 0, sizeof(deflater));
    memset(&inflater, 0, sizeof(inflater));

    CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params, 6, 8)
          == OK, "empty message init");
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 100)
          == OK, "empty message init");

    buf_init(&compressed);
    buf_init(&plain);

    for (i = 0; i < 3; i++) {
        compressed.len = 0;
        plain.len = 0;

        CHECK(ngx_neonpro_ws_deflate_compress(&deflater, NULL, 0,
                                              &compressed) == OK,
              "empty message compress");
        CHECK(compressed.len == 1, "empty message one byte");
        CHECK(compressed.len < 1 || compressed.data[0] == 0x00,
              "empty message is 00");
        CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, compressed.data,
                  compressed.len, 1, &plain) == OK && plain.len == 0,
              "empty message decompress");
    }

    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, NULL, 0, 1, &plain)
          == OK && plain.len == 0, "empty payload");

    /* the stream is still in step after the empty messages */
    compressed.len = 0;
    plain.len = 0;

    CHECK(ngx_neonpro_ws_deflate_compress(&deflater,
              (const unsigned char *) "Hello", 5, &compressed) == OK
          && ngx_neonpro_ws_deflate_decompress(&inflater, compressed.data,
                 compressed.len, 1, &plain) == OK
          && buf_equals(&plain, (const unsigned char *) "Hello", 5),
          "empty message then text");

    ngx_neonpro_ws_deflate_deflater_free(&deflater);
    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    buf_free(&compressed);
    buf_free(&plain);
}


/*
 * Feeds a compressed message one byte a call, with FIN on the last byte or
 * on a separate empty call.
 */
static void
test_byte_pieces(void)
{
    int                                 fin_apart, k;
    size_t                              i, len;
    unsigned char                      *text;
    ngx_neonpro_ws_deflate_rc_e         rc;
    ngx_neonpro_ws_deflate_buf_t        compressed, plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    len = 20000;
    text = malloc(len);

    if (text == NULL) {
        CHECK(0, "byte pieces malloc");
        return;
    }

    fill_random(text, 500, 3);

    for (i = 500; i < len; i++) {
        text[i] = (i % 7 == 0) ? text[i - 499] : (unsigned char) ('a' + i % 26);
    }

    for (fin_apart = 0; fin_apart <= 1; fin_apart++) {
        params = make_params(10, 0);

        memset(&deflater, 0, sizeof(deflater));
        memset(&inflater, 0, sizeof(inflater));

        CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params, 6, 8)
              == OK, "byte pieces init");
        CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, len)
              == OK, "byte pieces init");

        buf_init(&compressed);
        buf_init(&plain);

        /* twice, so the second message reads the first one's window */
        for (k = 0; k < 2; k++) {
            compressed.len = 0;
            plain.len = 0;

            CHECK(ngx_neonpro_ws_deflate_compress(&deflater, text, len,
                                                  &compressed) == OK,
                  "byte pieces compress");

            rc = OK;

            for (i = 0; i < compressed.len && rc == OK; i++) {
                rc = ngx_neonpro_ws_deflate_decompress(&inflater,
                         compressed.data + i, 1,
                         !fin_apart && i + 1 == compressed.len, &plain);
            }

            if (fin_apart && rc == OK) {
                rc = ngx_neonpro_ws_deflate_decompress(&inflater, NULL, 0, 1,
                                                       &plain);
            }

            CHECK(rc == OK, fin_apart ? "byte pieces fin apart rc"
                                      : "byte pieces fin on last rc");
            CHECK(buf_equals(&plain, text, len),
                  fin_apart ? "byte pieces fin apart"
                            : "byte pieces fin on last");
        }

        ngx_neonpro_ws_deflate_deflater_free(&deflater);
        ngx_neonpro_ws_deflate_inflater_free(&inflater);
        buf_free(&compressed);
        buf_free(&plain);
    }

    free(text);
}


/*
 * A message of 8 MB of zeros compresses to about 8 KB; under a 64 KB limit
 * decompression stops at the first byte past the limit.
 */
static void
test_limit(void)
{
    int                                 piecewise;
    size_t                              i, len, bomb_len;
    z_stream                            client;
    unsigned char                      *zeros, *bomb;
    ngx_neonpro_ws_deflate_rc_e         rc;
    ngx_neonpro_ws_deflate_buf_t        plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    unsigned char                       fixed[100], text[300], out[600];

    len = 8 << 20;
    zeros = calloc(len, 1);
    bomb = malloc(len / 100);

    if (zeros == NULL || bomb == NULL) {
        CHECK(0, "limit malloc");
        free(zeros);
        free(bomb);
        return;
    }

    memset(&client, 0, sizeof(client));
    CHECK(deflateInit2(&client, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY)
          == Z_OK, "limit client");
    bomb_len = client_compress(&client, zeros, len, bomb, len / 100,
                               Z_SYNC_FLUSH);
    CHECK(bomb_len > 0, "limit bomb size");
    CHECK(bomb_len < 16384, "limit bomb size");
    (void) deflateEnd(&client);

    params = make_params(15, 0);

    for (piecewise = 0; piecewise <= 1; piecewise++) {
        memset(&inflater, 0, sizeof(inflater));
        CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params,
                                                   65536) == OK,
              "limit init");

        buf_init(&plain);
        grow_max = 0;

        if (piecewise) {
            rc = OK;

            for (i = 0; i < bomb_len && rc == OK; i++) {
                rc = ngx_neonpro_ws_deflate_decompress(&inflater, bomb + i,
                                                       1, 0, &plain);
            }

        } else {
            rc = ngx_neonpro_ws_deflate_decompress(&inflater, bomb, bomb_len,
                                                   1, &plain);
        }

        CHECK(rc == TOO_LARGE, "limit bomb rejected");
        CHECK(plain.len == 65536, "limit bomb output");
        CHECK(inflater.size == 65536, "limit bomb counted");
        CHECK(grow_max <= 65536, "limit bomb allocation");
        CHECK(inflater.zstream.total_out <= 65536 + 1,
              "limit bomb inflated no further");
        CHECK(inflater.zstream.total_in < bomb_len / 2,
              "limit bomb input left unread");

        /* an inflater that failed stays failed */
        CHECK(ngx_neonpro_ws_deflate_decompress(&inflater,
                  (const unsigned char *) "\x00", 1, 1, &plain) == ERROR,
              "limit failed inflater");

        ngx_neonpro_ws_deflate_inflater_free(&inflater);
        buf_free(&plain);
    }

    free(zeros);
    free(bomb);

    /* exactly the limit passes, one byte more does not */
    fill_random(text, sizeof(text), 5);

    memset(&client, 0, sizeof(client));
    CHECK(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
          == Z_OK, "limit exact client");
    len = client_compress(&client, text, sizeof(text), out, sizeof(out),
                          Z_SYNC_FLUSH);
    (void) deflateEnd(&client);

    for (i = sizeof(text) - 1; i <= sizeof(text); i++) {
        memset(&inflater, 0, sizeof(inflater));
        CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, i)
              == OK, "limit exact init");

        buf_init(&plain);

        rc = ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1,
                                               &plain);

        if (i == sizeof(text)) {
            CHECK(rc == OK, "limit exact size passes");
            CHECK(buf_equals(&plain, text, sizeof(text)),
                  "limit exact size output");

        } else {
            CHECK(rc == TOO_LARGE, "limit one byte over");
            CHECK(plain.len == i, "limit one byte over output");
        }

        ngx_neonpro_ws_deflate_inflater_free(&inflater);
        buf_free(&plain);
    }

    /* a fixed buffer smaller than max_size is the limit */
    memset(&inflater, 0, sizeof(inflater));
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 1000)
          == OK, "limit fixed buffer init");

    memset(&plain, 0, sizeof(plain));
    plain.data = fixed;
    plain.size = sizeof(fixed);

    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == TOO_LARGE, "limit fixed buffer full");
    CHECK(plain.len == sizeof(fixed), "limit fixed buffer filled");

    ngx_neonpro_ws_deflate_inflater_free(&inflater);
}


static void
test_corrupt(void)
{
    size_t                              i, len;
    z_stream                            client;
    unsigned char                       text[4096], out[8192];
    ngx_neonpro_ws_deflate_buf_t        plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    static const struct {
        const char     *name;
        unsigned char   data[16];
        size_t          len;
    } cases[] = {
        /* BTYPE 11 is reserved */
        { "corrupt reserved block type", { 0xff, 0xff, 0xff }, 3 },
        /* a stored block whose NLEN is not the complement of LEN */
        { "corrupt stored length", { 0x00, 0x05, 0x00, 0x00, 0x00, 'a' }, 6 },
        /* an incomplete block at the end of the message */
        { "corrupt truncated block", { 0xf2, 0x48, 0xcd }, 3 },
        /* a final block, then a reserved block type */
        { "corrupt after final block",
          { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xff }, 8 },
    };

    params = make_params(15, 0);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&inflater, 0, sizeof(inflater));
        CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params,
                                                   1 << 16) == OK,
              cases[i].name);

        buf_init(&plain);

        CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, cases[i].data,
                  cases[i].len, 1, &plain) == INVALID, cases[i].name);

        ngx_neonpro_ws_deflate_inflater_free(&inflater);
        buf_free(&plain);
    }

    /* a back-reference past the start of the stream */
    fill_random(text, 1000, 19);

    memset(&client, 0, sizeof(client));
    CHECK(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
          == Z_OK
          && deflateSetDictionary(&client, text, 1000) == Z_OK,
          "corrupt distance client");
    len = client_compress(&client, text, 1000, out, sizeof(out),
                          Z_SYNC_FLUSH);
    (void) deflateEnd(&client);
    CHECK(len > 0, "corrupt distance compress");
    CHECK(len < 100, "corrupt distance compress");

    memset(&inflater, 0, sizeof(inflater));
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 1 << 16)
          == OK, "corrupt distance init");

    buf_init(&plain);

    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == INVALID, "corrupt distance too far back");

    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    buf_free(&plain);

    /*
     * A client that agreed to a 512-byte window but keeps 32 KB: its second
     * message refers 2 KB back into the first, past the inflater's window.
     * Within one message zlib decodes such a reference from its output
     * buffer, so only a reference across messages shows the window.
     */
    fill_random(text, 2048, 9);

    memset(&client, 0, sizeof(client));
    CHECK(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
          == Z_OK, "corrupt window client");

    params = make_params(9, 0);

    memset(&inflater, 0, sizeof(inflater));
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 1 << 16)
          == OK, "corrupt window init");

    buf_init(&plain);

    len = client_compress(&client, text, 2048, out, sizeof(out),
                          Z_SYNC_FLUSH);
    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == OK, "corrupt window first message");

    len = client_compress(&client, text, 2048, out, sizeof(out),
                          Z_SYNC_FLUSH);
    CHECK(len > 0, "corrupt window back-reference");
    CHECK(len < 100, "corrupt window back-reference");
    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == INVALID, "corrupt window too large");

    (void) deflateEnd(&client);
    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    buf_free(&plain);

    /*
     * A client that agreed to client_no_context_takeover but refers back
     * into its previous message: the inflater has forgotten it.
     */
    memset(&client, 0, sizeof(client));
    CHECK(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
          == Z_OK, "corrupt takeover client");

    params = make_params(15, 1);

    memset(&inflater, 0, sizeof(inflater));
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 1 << 16)
          == OK, "corrupt takeover init");

    buf_init(&plain);

    len = client_compress(&client, text, 2048, out, sizeof(out),
                          Z_SYNC_FLUSH);
    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == OK, "corrupt takeover first message");

    len = client_compress(&client, text, 2048, out, sizeof(out),
                          Z_SYNC_FLUSH);
    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == INVALID, "corrupt takeover reference");

    (void) deflateEnd(&client);
    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    buf_free(&plain);
}


/*
 * A client that ends messages with BFINAL blocks (RFC 7692, 7.2.3.4) and
 * keeps its window: the second message refers back past the final block.
 */
static void
test_final_block(void)
{
    size_t                              len;
    z_stream                            client;
    unsigned char                       text[2000], out[4096];
    ngx_neonpro_ws_deflate_buf_t        plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    fill_random(text, sizeof(text), 13);

    params = make_params(15, 0);

    memset(&client, 0, sizeof(client));
    memset(&inflater, 0, sizeof(inflater));

    CHECK(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
          == Z_OK, "final block client");
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 4096)
          == OK, "final block init");

    buf_init(&plain);

    len = client_compress(&client, text, sizeof(text), out, sizeof(out),
                          Z_FINISH);
    CHECK(len > sizeof(text), "final block first message");

    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == OK && buf_equals(&plain, text, sizeof(text)),
          "final block first message decompressed");

    CHECK(deflateReset(&client) == Z_OK
          && deflateSetDictionary(&client, text, sizeof(text)) == Z_OK,
          "final block dictionary");

    len = client_compress(&client, text, sizeof(text), out, sizeof(out),
                          Z_SYNC_FLUSH);
    CHECK(len > 0, "final block back-reference");
    CHECK(len < 64, "final block back-reference");

    plain.len = 0;

    CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1, &plain)
          == OK && buf_equals(&plain, text, sizeof(text)),
          "final block window kept");

    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    (void) deflateEnd(&client);
    buf_free(&plain);
}


/*
 * A message that does not fit a fixed buffer resets the deflater, so the
 * peer, which never receives it, still decodes the messages after it.
 */
static void
test_compress_failure(void)
{
    z_stream                            client;
    unsigned char                       small[4];
    ngx_neonpro_ws_deflate_buf_t        compressed, fixed;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;

    static const char  text[] = "Sua consulta foi remarcada para quinta.";

    params = make_params(15, 0);

    memset(&deflater, 0, sizeof(deflater));
    memset(&client, 0, sizeof(client));

    CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params, 6, 8)
          == OK, "compress failure init");
    CHECK(inflateInit2(&client, -15) == Z_OK, "compress failure client");

    buf_init(&compressed);

    CHECK(ngx_neonpro_ws_deflate_compress(&deflater,
              (const unsigned char *) text, sizeof(text) - 1, &compressed)
          == OK, "compress failure first");
    CHECK(client_decompress(&client, compressed.data, compressed.len,
                            (const unsigned char *) text, sizeof(text) - 1),
          "compress failure first decompressed");

    memset(&fixed, 0, sizeof(fixed));
    fixed.data = small;
    fixed.size = sizeof(small);

    CHECK(ngx_neonpro_ws_deflate_compress(&deflater,
              (const unsigned char *) "something else entirely", 23, &fixed)
          == TOO_LARGE, "compress failure too large");
    CHECK(fixed.len == 0, "compress failure output dropped");

    compressed.len = 0;

    CHECK(ngx_neonpro_ws_deflate_compress(&deflater,
              (const unsigned char *) text, sizeof(text) - 1, &compressed)
          == OK, "compress failure after");
    CHECK(client_decompress(&client, compressed.data, compressed.len,
                            (const unsigned char *) text, sizeof(text) - 1),
          "compress failure peer in step");

    ngx_neonpro_ws_deflate_deflater_free(&deflater);
    (void) inflateEnd(&client);
    buf_free(&compressed);
}


static void
test_window_bits(void)
{
    int                                 i;
    size_t                              len;
    z_stream                            client;
    unsigned char                       text[1500], out[4096];
    ngx_neonpro_ws_deflate_buf_t        plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    /* the deflater rejects the 256-byte window zlib cannot keep to */
    params = make_params(8, 0);

    memset(&deflater, 0, sizeof(deflater));
    CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params, 6, 8)
          == ERROR, "window bits deflater 8");

    params.server_max_window_bits = 16;
    CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params, 6, 8)
          == ERROR, "window bits deflater 16");

    /*
     * A client that agreed to 8 may run zlib before 1.2.9, which compresses
     * with 9.  zlib's deflate looks back at most the window less 262 bytes,
     * 250 here, so a text that repeats every 200 bytes compresses, and its
     * second message refers back into the first within 256 bytes.
     */
    params = make_params(8, 0);

    memset(&inflater, 0, sizeof(inflater));
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 4096)
          == OK && inflater.window_bits == 8, "window bits inflater 8");

    fill_random(text, 200, 17);

    for (len = 200; len < sizeof(text); len++) {
        text[len] = text[len - 200];
    }

    memset(&client, 0, sizeof(client));
    CHECK(deflateInit2(&client, 6, Z_DEFLATED, -9, 8, Z_DEFAULT_STRATEGY)
          == Z_OK, "window bits client 9");

    buf_init(&plain);

    for (i = 0; i < 2; i++) {
        len = client_compress(&client, text, sizeof(text), out, sizeof(out),
                              Z_SYNC_FLUSH);
        CHECK(len > 0, "window bits client 9 compress");
        CHECK(len < 400, "window bits client 9 compress");

        plain.len = 0;

        CHECK(ngx_neonpro_ws_deflate_decompress(&inflater, out, len, 1,
                                                &plain) == OK,
              "window bits 9 stream in 8 bits");
        CHECK(buf_equals(&plain, text, sizeof(text)),
              "window bits 9 stream in 8 bits, content");
    }

    (void) deflateEnd(&client);
    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    buf_free(&plain);

    params.client_max_window_bits = 7;
    memset(&inflater, 0, sizeof(inflater));
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 4096)
          == ERROR, "window bits inflater 7");

    /* free is safe on a structure that never started or already ended */
    ngx_neonpro_ws_deflate_inflater_free(&inflater);
    ngx_neonpro_ws_deflate_deflater_free(&deflater);
}


/* zlib's allocations go through the functions set in zstream. */
static void
test_allocator(void)
{
    ngx_neonpro_ws_deflate_buf_t        compressed, plain;
    ngx_neonpro_ws_deflate_params_t     params;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
    ngx_neonpro_ws_deflate_inflater_t   inflater;

    params = make_params(12, 0);

    memset(&deflater, 0, sizeof(deflater));
    memset(&inflater, 0, sizeof(inflater));

    deflater.zstream.zalloc = test_zalloc;
    deflater.zstream.zfree = test_zfree;
    inflater.zstream.zalloc = test_zalloc;
    inflater.zstream.zfree = test_zfree;

    live_allocations = 0;
    total_allocations = 0;

    CHECK(ngx_neonpro_ws_deflate_deflater_init(&deflater, &params, 6, 4)
          == OK, "allocator deflater");
    CHECK(ngx_neonpro_ws_deflate_inflater_init(&inflater, &params, 100)
          == OK, "allocator inflater");

    buf_init(&compressed);
    buf_init(&plain);

    CHECK(ngx_neonpro_ws_deflate_compress(&deflater,
              (const unsigned char *) "Hello", 5, &compressed) == OK
          && ngx_neonpro_ws_deflate_decompress(&inflater, compressed.data,
                 compressed.len, 1, &plain) == OK
          && buf_equals(&plain, (const unsigned char *) "Hello", 5),
          "allocator round trip");

    ngx_neonpro_ws_deflate_deflater_free(&deflater);
    ngx_neonpro_ws_deflate_inflater_free(&inflater);

    CHECK(total_allocations > 0, "allocator used");
    CHECK(live_allocations == 0, "allocator all freed");

    buf_free(&compressed);
    buf_free(&plain);
}


int
main(void)
{
    test_negotiate();
    test_round_trip();
    test_rfc_examples();
    test_empty_message();
    test_byte_pieces();
    test_limit();
    test_corrupt();
    test_final_block();
    test_compress_failure();
    test_window_bits();
    test_allocator();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
