
/*
 * Unit tests of the WebSocket frame codec.  Each rule of RFC 6455, section
 * 5, is checked with the status code the server closes with, on frame
 * streams fed whole, one byte at a time and cut at every point.  Other
 * tests cover the payload length forms, unmasking at every offset and
 * alignment, Close payloads and the server's frame headers.  The tests end
 * with the line "N passed, N failed".
 */


#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ngx_neonpro_ws_frame.h"


#define MAX_FRAMES  8
#define NO_LIMIT    UINT64_MAX


typedef struct {
    unsigned       opcode;
    unsigned       fin;
    unsigned       rsv1;
    uint64_t       payload_len;
    unsigned char  mask_key[4];
    unsigned       message_opcode;
    unsigned       message_compressed;
    uint64_t       message_len;
} frame_fields_t;


/*
 * What a stream did: the frames parsed, then either the status code and
 * stream offset of the byte that failed it, or close_code 0 with the
 * stream ending on a frame boundary (ended) or not.
 */
typedef struct {
    size_t          frames;
    frame_fields_t  frame[MAX_FRAMES];
    unsigned        close_code;
    size_t          error_at;
    int             ended;
} stream_result_t;


/* Converts "81 85 37 fa" to bytes; returns the number of bytes. */
static size_t
hex(unsigned char *out, const char *text)
{
    int       used;
    size_t    n;
    unsigned  byte;

    n = 0;

    while (sscanf(text, " %2x%n", &byte, &used) == 1) {
        out[n++] = (unsigned char) byte;
        text += used;
    }

    return n;
}


/*
 * Parses a stream of client frames in the pieces that the cuts make,
 * skipping each payload, as a server would read it from a socket.
 */
static void
run_stream(const unsigned char *stream, size_t len, const size_t *cuts,
    size_t ncuts, uint64_t max, int rsv1_allowed, stream_result_t *r)
{
    int                       rc, partial;
    size_t                    i, start, end, consumed, take;
    uint64_t                  remaining;
    frame_fields_t           *f;
    ngx_neonpro_ws_parser_t   p;

    memset(r, 0, sizeof(stream_result_t));
    ngx_neonpro_ws_parser_init(&p, max, rsv1_allowed);

    remaining = 0;
    partial = 0;
    start = 0;

    for (i = 0; i <= ncuts; i++) {
        end = (i < ncuts) ? cuts[i] : len;

        while (start < end) {

            if (remaining > 0) {
                take = (end - start < remaining) ? end - start
                                                 : (size_t) remaining;
                start += take;
                remaining -= take;
                continue;
            }

            rc = ngx_neonpro_ws_frame_parse(&p, stream + start, end - start,
                                            &consumed);

            if (consumed > end - start) {
                CHECK(0, "parse consumed past the input");
                return;
            }

            if (rc == NGX_NEONPRO_WS_AGAIN) {
                CHECK(consumed == end - start, "again consumes all");
                partial = 1;
                start = end;
                continue;
            }

            if (rc == NGX_NEONPRO_WS_ERROR) {
                CHECK(consumed > 0, "error consumes the bad byte");
                r->close_code = p.close_code;
                r->error_at = start + consumed - 1;
                return;
            }

            CHECK(rc == NGX_NEONPRO_WS_OK, "parse returns a known code");

            if (r->frames < MAX_FRAMES) {
                f = &r->frame[r->frames];
                f->opcode = p.opcode;
                f->fin = p.fin;
                f->rsv1 = p.rsv1;
                f->payload_len = p.payload_len;
                memcpy(f->mask_key, p.mask_key, 4);
                f->message_opcode = p.message_opcode;
                f->message_compressed = p.message_compressed;
                f->message_len = p.message_len;
            }

            r->frames++;
            partial = 0;
            start += consumed;
            remaining = p.payload_len;
        }
    }

    r->ended = (remaining == 0 && !partial);
}


static int
same_result(const stream_result_t *a, const stream_result_t *b)
{
    size_t  n;

    if (a->frames != b->frames || a->close_code != b->close_code
        || a->ended != b->ended
        || (a->close_code && a->error_at != b->error_at))
    {
        return 0;
    }

    n = a->frames < MAX_FRAMES ? a->frames : MAX_FRAMES;

    return memcmp(a->frame, b->frame, n * sizeof(frame_fields_t)) == 0;
}


/*
 * Runs a stream whole, then checks that one byte at a time and every cut
 * into two and three pieces give the same frames and the same error.
 */
static void
check_stream_splits(const char *name, const unsigned char *stream,
    size_t len, uint64_t max, int rsv1_allowed, stream_result_t *whole)
{
    size_t           i, j, cuts[256];
    stream_result_t  r;

    run_stream(stream, len, NULL, 0, max, rsv1_allowed, whole);

    for (i = 0; i < len && i < 256; i++) {
        cuts[i] = i + 1;
    }

    run_stream(stream, len, cuts, i, max, rsv1_allowed, &r);
    CHECK(same_result(whole, &r), name);

    for (i = 0; i <= len; i++) {
        cuts[0] = i;
        run_stream(stream, len, cuts, 1, max, rsv1_allowed, &r);
        CHECK(same_result(whole, &r), name);
    }

    for (i = 0; i <= len; i++) {
        for (j = i; j <= len; j++) {
            cuts[0] = i;
            cuts[1] = j;
            run_stream(stream, len, cuts, 2, max, rsv1_allowed, &r);
            CHECK(same_result(whole, &r), name);
        }
    }
}


/* a masking key of zeros leaves the payloads in the table readable */
#define M  " 00 00 00 00 "


static void
test_ws_rules(void)
{
    size_t           i, len;
    unsigned char    stream[256];
    stream_result_t  r;

    static const struct {
        const char  *name;
        const char  *hex;
        uint64_t     max;
        int          rsv1_allowed;
        size_t       frames;
        unsigned     close_code;
        size_t       error_at;
    } cases[] = {

        /* RFC 6455, section 5.7: "Hello" masked */
        { "masked hello", "81 85 37 fa 21 3d 7f 9f 4d 51 58",
          NO_LIMIT, 0, 1, 0, 0 },
        { "empty text", "81 80" M, NO_LIMIT, 0, 1, 0, 0 },

        /* section 5.1: a server closes on an unmasked frame */
        { "unmasked text", "81 05 48 65 6c 6c 6f", NO_LIMIT, 0, 0, 1002, 1 },
        { "unmasked ping", "89 00", NO_LIMIT, 0, 0, 1002, 1 },

        /* RSV bits need an extension that defines them */
        { "rsv1 without deflate", "c1 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "rsv1 with deflate", "c1 80" M, NO_LIMIT, 1, 1, 0, 0 },
        { "rsv2", "a1 80" M, NO_LIMIT, 1, 0, 1002, 0 },
        { "rsv3", "91 80" M, NO_LIMIT, 1, 0, 1002, 0 },
        { "rsv1 on ping", "c9 80" M, NO_LIMIT, 1, 0, 1002, 0 },
        { "rsv1 on continuation", "41 81" M "61 c0 81" M "62",
          NO_LIMIT, 1, 1, 1002, 7 },
        { "deflate fragments", "41 81" M "61 80 81" M "62",
          NO_LIMIT, 1, 2, 0, 0 },

        /* reserved opcodes */
        { "opcode 3", "83 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode 4", "84 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode 5", "85 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode 6", "86 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode 7", "87 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode b", "8b 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode c", "8c 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode d", "8d 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode e", "8e 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode f", "8f 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "opcode 3 without fin", "03 80" M, NO_LIMIT, 0, 0, 1002, 0 },

        /* section 5.5: control frames are whole and short */
        { "fragmented close", "08 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "fragmented ping", "09 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "fragmented pong", "0a 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "ping 16-bit length", "89 fe 00 7e" M, NO_LIMIT, 0, 0, 1002, 1 },
        { "ping 16-bit length 5", "89 fe 00 05" M, NO_LIMIT, 0, 0, 1002, 1 },
        { "close 64-bit length", "88 ff 00 00 00 00 00 00 00 02" M,
          NO_LIMIT, 0, 0, 1002, 1 },
        { "pong over limit", "8a 83" M "01 02 03", 2, 0, 1, 0, 0 },

        /* section 5.2: the most significant bit of a 64-bit length is 0 */
        { "64-bit length msb", "82 ff 80 00 00 00 00 00 00 00" M,
          NO_LIMIT, 0, 0, 1002, 9 },

        /* the longer length forms are accepted */
        { "16-bit length 5", "81 fe 00 05" M "68 65 6c 6c 6f",
          NO_LIMIT, 0, 1, 0, 0 },
        { "64-bit length 3", "82 ff 00 00 00 00 00 00 00 03" M "01 02 03",
          NO_LIMIT, 0, 1, 0, 0 },

        /* the message size limit, 1009, known from the length alone */
        { "frame over limit", "82 85" M "01 02 03 04 05", 4, 0, 0, 1009, 1 },
        { "frame at limit", "82 85" M "01 02 03 04 05", 5, 0, 1, 0, 0 },
        { "16-bit over limit", "82 fe 00 c9", 200, 0, 0, 1009, 3 },
        { "64-bit over limit", "82 ff 00 00 00 01 00 00 00 00",
          0xffffffff, 0, 0, 1009, 9 },
        { "limit 0 empty", "81 80" M, 0, 0, 1, 0, 0 },
        { "limit 0 one byte", "81 81" M "61", 0, 0, 0, 1009, 1 },
        { "fragments over limit", "01 82" M "61 62 80 82" M "63 64",
          3, 0, 1, 1009, 9 },
        { "fragments at limit", "01 82" M "61 62 80 82" M "63 64",
          4, 0, 2, 0, 0 },
        { "control frame not counted",
          "01 81" M "61 89 83" M "01 02 03 80 81" M "62",
          2, 0, 3, 0, 0 },
        { "limit per message", "81 82" M "61 62 81 82" M "63 64",
          2, 0, 2, 0, 0 },

        /* section 5.4: fragmentation */
        { "continuation first", "80 80" M, NO_LIMIT, 0, 0, 1002, 0 },
        { "unfinished continuation first", "00 80" M,
          NO_LIMIT, 0, 0, 1002, 0 },
        { "continuation after fin", "81 81" M "61 80 81" M "62",
          NO_LIMIT, 0, 1, 1002, 7 },
        { "text inside message", "01 81" M "61 81 81" M "62",
          NO_LIMIT, 0, 1, 1002, 7 },
        { "binary inside message", "01 81" M "61 82 80" M,
          NO_LIMIT, 0, 1, 1002, 7 },
        { "ping inside message", "01 81" M "61 89 80" M "80 81" M "62",
          NO_LIMIT, 0, 3, 0, 0 },
        { "close inside message",
          "01 81" M "61 88 82" M "03 e8 80 81" M "62",
          NO_LIMIT, 0, 3, 0, 0 },
        { "empty fragments", "01 80" M "00 80" M "80 80" M,
          NO_LIMIT, 0, 3, 0, 0 },
        { "message after message",
          "01 81" M "61 80 81" M "62 82 81" M "63",
          NO_LIMIT, 0, 3, 0, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = hex(stream, cases[i].hex);

        check_stream_splits(cases[i].name, stream, len, cases[i].max,
                            cases[i].rsv1_allowed, &r);

        CHECK(r.frames == cases[i].frames, cases[i].name);
        CHECK(r.close_code == cases[i].close_code, cases[i].name);

        if (cases[i].close_code) {
            CHECK(r.error_at == cases[i].error_at, cases[i].name);

        } else {
            CHECK(r.ended, cases[i].name);
        }
    }
}


/* The message fields follow a message across an interleaved ping. */
static void
test_ws_message_fields(void)
{
    size_t           len;
    unsigned char    stream[64];
    stream_result_t  r;

    len = hex(stream, "41 82" M "61 62 89 81" M "70 80 83 11 22 33 44"
                      "01 02 03");

    check_stream_splits("message fields", stream, len, NO_LIMIT, 1, &r);

    CHECK(r.frames == 3, "message fields frames");
    CHECK(r.ended, "message fields stream ended");

    CHECK(r.frame[0].opcode == NGX_NEONPRO_WS_OPCODE_TEXT,
          "first frame opcode");
    CHECK(r.frame[0].fin == 0, "first frame fin");
    CHECK(r.frame[0].rsv1 == 1, "first frame rsv1");
    CHECK(r.frame[0].message_opcode == NGX_NEONPRO_WS_OPCODE_TEXT,
          "first frame message opcode");
    CHECK(r.frame[0].message_compressed == 1, "first frame compressed");
    CHECK(r.frame[0].message_len == 2, "first frame message length");

    CHECK(r.frame[1].opcode == NGX_NEONPRO_WS_OPCODE_PING,
          "ping opcode");
    CHECK(r.frame[1].message_opcode == 0, "ping has no message");
    CHECK(r.frame[1].message_compressed == 0, "ping not compressed");
    CHECK(r.frame[1].message_len == 0, "ping message length");

    CHECK(r.frame[2].opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION,
          "last frame opcode");
    CHECK(r.frame[2].fin == 1, "last frame fin");
    CHECK(r.frame[2].rsv1 == 0, "last frame rsv1");
    CHECK(r.frame[2].message_opcode == NGX_NEONPRO_WS_OPCODE_TEXT,
          "last frame message opcode");
    CHECK(r.frame[2].message_compressed == 1, "last frame compressed");
    CHECK(r.frame[2].message_len == 5, "last frame message length");
    CHECK(r.frame[2].payload_len == 3, "last frame payload length");
    CHECK(memcmp(r.frame[2].mask_key, "\x11\x22\x33\x44", 4) == 0,
          "last frame mask key");
}


/*
 * Each header is followed by one payload byte, which the parser must leave
 * in the buffer.  Every cut into up to three pieces is tried.
 */
static void
test_ws_lengths(void)
{
    int                       rc;
    size_t                    i, a, b, n, len, pos, end, consumed, total;
    unsigned char             header[32];
    ngx_neonpro_ws_parser_t   p;

    static const struct {
        const char  *name;
        const char  *hex;
        size_t       header_len;
        uint64_t     payload_len;
    } cases[] = {
        { "7-bit 0", "82 80 11 22 33 44 aa", 6, 0 },
        { "7-bit 1", "82 81 11 22 33 44 aa", 6, 1 },
        { "7-bit 125", "82 fd 11 22 33 44 aa", 6, 125 },
        { "16-bit 126", "82 fe 00 7e 11 22 33 44 aa", 8, 126 },
        { "16-bit 65535", "82 fe ff ff 11 22 33 44 aa", 8, 65535 },
        { "64-bit 65536", "82 ff 00 00 00 00 00 01 00 00 11 22 33 44 aa",
          14, 65536 },
        { "64-bit 2^32", "82 ff 00 00 00 01 00 00 00 00 11 22 33 44 aa",
          14, 0x100000000ULL },
        { "64-bit 2^63-1", "82 ff 7f ff ff ff ff ff ff ff 11 22 33 44 aa",
          14, 0x7fffffffffffffffULL },
        { "ping 125", "89 fd 11 22 33 44 aa", 6, 125 },
        { "close 0", "88 80 11 22 33 44 aa", 6, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = hex(header, cases[i].hex);

        for (a = 0; a <= len; a++) {
            for (b = a; b <= len; b++) {
                ngx_neonpro_ws_parser_init(&p, NO_LIMIT, 0);

                rc = NGX_NEONPRO_WS_AGAIN;
                total = 0;
                pos = 0;

                /* pieces [0, a), [a, b), [b, len) until the header ends */

                for (n = 0; n < 3 && rc == NGX_NEONPRO_WS_AGAIN; n++) {
                    end = (n == 0) ? a : (n == 1) ? b : len;

                    rc = ngx_neonpro_ws_frame_parse(&p, header + pos,
                                                    end - pos, &consumed);
                    total += consumed;
                    pos = end;
                }

                CHECK(rc == NGX_NEONPRO_WS_OK, cases[i].name);
                CHECK(total == cases[i].header_len, cases[i].name);
                CHECK(p.payload_len == cases[i].payload_len, cases[i].name);
                CHECK(memcmp(p.mask_key, "\x11\x22\x33\x44", 4) == 0,
                      cases[i].name);
                CHECK(p.fin == 1, cases[i].name);
                CHECK(p.masked == 1, cases[i].name);
                CHECK(p.rsv1 == 0, cases[i].name);
            }
        }
    }

    /* a cut header waits for more */

    ngx_neonpro_ws_parser_init(&p, NO_LIMIT, 0);
    len = hex(header, "82 fe 00");

    CHECK(ngx_neonpro_ws_frame_parse(&p, header, len, &consumed)
          == NGX_NEONPRO_WS_AGAIN, "cut header again");
    CHECK(consumed == 3, "cut header consumed");
    CHECK(ngx_neonpro_ws_frame_parse(&p, NULL, 0, &consumed)
          == NGX_NEONPRO_WS_AGAIN, "empty input again");
    CHECK(consumed == 0, "empty input consumed");
}


/* An error is final: the parser returns it again and consumes nothing. */
static void
test_ws_error_final(void)
{
    size_t                    consumed, len;
    unsigned char             stream[16];
    ngx_neonpro_ws_parser_t   p;

    ngx_neonpro_ws_parser_init(&p, NO_LIMIT, 0);
    len = hex(stream, "81 05 81 80 00 00 00 00");

    CHECK(ngx_neonpro_ws_frame_parse(&p, stream, len, &consumed)
          == NGX_NEONPRO_WS_ERROR, "unmasked frame error");
    CHECK(consumed == 2, "error consumed");
    CHECK(p.close_code == 1002, "error close code");
    CHECK(p.error != NULL, "error message set");
    CHECK(p.error == NULL || strcmp(p.error, "unmasked frame") == 0,
          "error message text");

    CHECK(ngx_neonpro_ws_frame_parse(&p, stream + 2, len - 2, &consumed)
          == NGX_NEONPRO_WS_ERROR, "error repeated");
    CHECK(consumed == 0, "error repeated consumes nothing");
    CHECK(p.close_code == 1002, "error close code kept");
}


static void
test_ws_unmask(void)
{
    int            wrong;
    size_t         offset, expected_offset, align, len, start, i, cut;
    unsigned char  buf[96], want[96], data[96];

    static const unsigned char  key[4] = { 0x37, 0xfa, 0x21, 0x3d };

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char) (i * 7 + 1);
    }

    /* every start offset 0..3, buffer alignment 0..7 and length 0..80 */

    wrong = 0;

    for (start = 0; start < 4; start++) {
        for (align = 0; align < 8; align++) {
            for (len = 0; len <= 80; len++) {
                memcpy(buf + align, data, len);

                for (i = 0; i < len; i++) {
                    want[i] = data[i] ^ key[(start + i) % 4];
                }

                offset = start;
                ngx_neonpro_ws_unmask(buf + align, len, key, &offset);

                if (memcmp(buf + align, want, len) != 0
                    || offset != start + len)
                {
                    wrong++;
                }
            }
        }
    }

    CHECK(wrong == 0, "unmask every offset alignment length");

    /* a payload unmasked in two pieces equals one unmasked whole */

    wrong = 0;

    for (len = 0; len <= 80; len++) {
        for (cut = 0; cut <= len; cut++) {
            memcpy(buf, data, len);

            for (i = 0; i < len; i++) {
                want[i] = data[i] ^ key[i % 4];
            }

            offset = 0;
            ngx_neonpro_ws_unmask(buf, cut, key, &offset);
            ngx_neonpro_ws_unmask(buf + cut, len - cut, key, &offset);

            if (memcmp(buf, want, len) != 0 || offset != len) {
                wrong++;
            }
        }
    }

    CHECK(wrong == 0, "unmask in two pieces");

    /* RFC 6455, section 5.7 */

    hex(buf, "7f 9f 4d 51 58");
    offset = 0;
    ngx_neonpro_ws_unmask(buf, 5, key, &offset);

    CHECK(memcmp(buf, "Hello", 5) == 0, "unmask rfc example");

    /* masking twice restores the data */

    memcpy(buf, data, 37);
    offset = 3;
    ngx_neonpro_ws_unmask(buf, 37, key, &offset);
    offset = 3;
    ngx_neonpro_ws_unmask(buf, 37, key, &offset);

    CHECK(memcmp(buf, data, 37) == 0, "unmask twice restores");

    /* the offset only matters modulo 4 */

    memcpy(buf, data, 9);
    memcpy(want, data, 9);
    offset = 1;
    ngx_neonpro_ws_unmask(buf, 9, key, &offset);
    expected_offset = 4001;
    ngx_neonpro_ws_unmask(want, 9, key, &expected_offset);

    CHECK(memcmp(buf, want, 9) == 0, "unmask offset modulo 4");

    offset = 5;
    ngx_neonpro_ws_unmask(NULL, 0, key, &offset);

    CHECK(offset == 5, "unmask empty");
}


static void
test_ws_close_code_valid(void)
{
    size_t  i;

    static const struct {
        unsigned  code;
        int       valid;
    } cases[] = {
        { 0, 0 }, { 999, 0 },
        { 1000, 1 }, { 1001, 1 }, { 1002, 1 }, { 1003, 1 },
        { 1004, 0 }, { 1005, 0 }, { 1006, 0 },
        { 1007, 1 }, { 1008, 1 }, { 1009, 1 }, { 1010, 1 }, { 1011, 1 },
        { 1012, 1 }, { 1013, 1 }, { 1014, 1 },
        { 1015, 0 }, { 1016, 0 }, { 1100, 0 }, { 2000, 0 }, { 2999, 0 },
        { 3000, 1 }, { 3999, 1 }, { 4000, 1 }, { 4999, 1 },
        { 5000, 0 }, { 65535, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_close_code_valid(cases[i].code)
              == cases[i].valid, "close code valid");

        if (ngx_neonpro_ws_close_code_valid(cases[i].code)
            != cases[i].valid)
        {
            printf("    code %u\n", cases[i].code);
        }
    }
}


static void
test_ws_close_payload_check(void)
{
    size_t         i, len;
    unsigned       code, rc;
    unsigned char  payload[200];

    static const struct {
        const char  *name;
        const char  *hex;
        unsigned     rc;
        unsigned     code;
    } cases[] = {
        { "close empty", "", 0, 1005 },
        { "close 1 byte", "03", 1002, 0 },
        { "close 1000", "03 e8", 0, 1000 },
        { "close 1000 bye", "03 e8 62 79 65", 0, 1000 },
        { "close utf-8 reason",
          "03 e8 ce ba e1 bd b9 cf 83 ce bc ce b5", 0, 1000 },
        { "close 1012", "03 f4", 0, 1012 },
        { "close 1014", "03 f6", 0, 1014 },
        { "close 3000", "0b b8", 0, 3000 },
        { "close 4999", "13 87", 0, 4999 },
        { "close reason ff", "03 e8 ff", 1007, 1000 },
        { "close reason cut", "03 e8 e2 82", 1007, 1000 },
        { "close reason surrogate", "03 e8 ed a0 80", 1007, 1000 },
        { "close 0", "00 00", 1002, 0 },
        { "close 999", "03 e7", 1002, 999 },
        { "close 1004", "03 ec", 1002, 1004 },
        { "close 1005", "03 ed", 1002, 1005 },
        { "close 1006", "03 ee", 1002, 1006 },
        { "close 1015", "03 f7", 1002, 1015 },
        { "close 5000", "13 88", 1002, 5000 },
        { "close 65535", "ff ff", 1002, 65535 },
        { "close bad code before reason", "03 ec ff", 1002, 1004 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = hex(payload, cases[i].hex);
        code = 12345;

        rc = ngx_neonpro_ws_close_payload_check(payload, len, &code);

        CHECK(rc == cases[i].rc, cases[i].name);
        CHECK(code == cases[i].code, cases[i].name);
    }

    /* a control frame payload is at most 125 bytes */

    memset(payload, 'a', sizeof(payload));
    payload[0] = 0x03;
    payload[1] = 0xe8;

    CHECK(ngx_neonpro_ws_close_payload_check(payload, 125, &code) == 0,
          "close 125 bytes");
    CHECK(ngx_neonpro_ws_close_payload_check(payload, 126, &code) == 1002,
          "close 126 bytes");
}


static void
test_ws_frame_header(void)
{
    int                       rc;
    size_t                    i, n, consumed;
    unsigned char             out[NGX_NEONPRO_WS_MAX_HEADER_LEN];
    unsigned char             masked[NGX_NEONPRO_WS_MAX_HEADER_LEN];
    ngx_neonpro_ws_parser_t   p;

    static const struct {
        const char  *name;
        int          fin;
        int          rsv1;
        int          opcode;
        uint64_t     len;
        const char  *hex;
    } cases[] = {
        { "header text 0", 1, 0, 0x1, 0, "81 00" },
        { "header text 125", 1, 0, 0x1, 125, "81 7d" },
        { "header binary 126", 1, 0, 0x2, 126, "82 7e 00 7e" },
        { "header binary 65535", 1, 0, 0x2, 65535, "82 7e ff ff" },
        { "header binary 65536", 1, 0, 0x2, 65536,
          "82 7f 00 00 00 00 00 01 00 00" },
        { "header 2^63-1", 1, 0, 0x2, 0x7fffffffffffffffULL,
          "82 7f 7f ff ff ff ff ff ff ff" },
        { "header fragment", 0, 0, 0x1, 3, "01 03" },
        { "header continuation", 1, 0, 0x0, 3, "80 03" },
        { "header compressed", 1, 1, 0x1, 3, "c1 03" },
        { "header close", 1, 0, 0x8, 2, "88 02" },
        { "header ping 125", 1, 0, 0x9, 125, "89 7d" },
        { "header pong", 1, 0, 0xa, 0, "8a 00" },

        /* headers RFC 6455 forbids */
        { "header ping 126", 1, 0, 0x9, 126, "" },
        { "header fragmented close", 0, 0, 0x8, 2, "" },
        { "header compressed ping", 1, 1, 0x9, 0, "" },
        { "header compressed continuation", 1, 1, 0x0, 3, "" },
        { "header opcode 3", 1, 0, 0x3, 0, "" },
        { "header opcode b", 1, 0, 0xb, 0, "" },
        { "header opcode 16", 1, 0, 0x10, 0, "" },
        { "header opcode -1", 1, 0, -1, 0, "" },
        { "header 2^63", 1, 0, 0x2, 0x8000000000000000ULL, "" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = hex(masked, cases[i].hex);

        CHECK(ngx_neonpro_ws_frame_header(out, cases[i].fin, cases[i].rsv1,
                                          cases[i].opcode, cases[i].len)
              == n, cases[i].name);
        CHECK(memcmp(out, masked, n) == 0, cases[i].name);

        if (n == 0 || cases[i].opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION
            || !cases[i].fin)
        {
            continue;
        }

        /* masked like a client's frame, the header parses back */

        memcpy(masked, out, n);
        masked[1] |= 0x80;
        memcpy(masked + n, "\x01\x02\x03\x04", 4);

        ngx_neonpro_ws_parser_init(&p, NO_LIMIT, 1);
        rc = ngx_neonpro_ws_frame_parse(&p, masked, n + 4, &consumed);

        CHECK(rc == NGX_NEONPRO_WS_OK, cases[i].name);
        CHECK(consumed == n + 4, cases[i].name);
        CHECK(p.opcode == (unsigned) cases[i].opcode, cases[i].name);
        CHECK(p.fin == (unsigned) cases[i].fin, cases[i].name);
        CHECK(p.rsv1 == (unsigned) cases[i].rsv1, cases[i].name);
        CHECK(p.payload_len == cases[i].len, cases[i].name);
    }
}


static void
test_ws_close_payload(void)
{
    size_t         i;
    ssize_t        n;
    unsigned       code;
    unsigned char  out[NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD];
    unsigned char  reason[130];

    static const struct {
        const char  *name;
        unsigned     code;
        const char  *reason;
        ssize_t      len;
    } cases[] = {
        { "build 1000", 1000, "", 2 },
        { "build 1001 reconnect", 1001, "reconnect", 11 },
        { "build 1013 utf-8", 1013, "sobrecarregado, tente de novo em "
                                    "30 s \xe2\x80\x94 obrigado", 52 },
        { "build 4000", 4000, "x", 3 },
        { "build 1005", 1005, "", -1 },
        { "build 1006", 1006, "", -1 },
        { "build 1015", 1015, "", -1 },
        { "build 1004", 1004, "", -1 },
        { "build 999", 999, "", -1 },
        { "build 5000", 5000, "", -1 },
        { "build bad reason", 1000, "\xc3", -1 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = ngx_neonpro_ws_close_payload(out, cases[i].code,
                                         (const unsigned char *)
                                         cases[i].reason,
                                         strlen(cases[i].reason));

        CHECK(n == cases[i].len, cases[i].name);

        if (n < 0) {
            continue;
        }

        /* what the server sends passes the check of a received payload */

        CHECK(ngx_neonpro_ws_close_payload_check(out, (size_t) n, &code) == 0,
              cases[i].name);
        CHECK(code == cases[i].code, cases[i].name);
        CHECK(memcmp(out + 2, cases[i].reason, (size_t) n - 2) == 0,
              cases[i].name);
    }

    CHECK(ngx_neonpro_ws_close_payload(out, 1000, NULL, 0) == 2,
          "build without reason");

    memset(reason, 'r', sizeof(reason));

    CHECK(ngx_neonpro_ws_close_payload(out, 1000, reason, 123) == 125,
          "build reason 123 bytes");
    CHECK(ngx_neonpro_ws_close_payload(out, 1000, reason, 124) == -1,
          "build reason 124 bytes");
}


int
main(void)
{
    test_ws_rules();
    test_ws_message_fields();
    test_ws_lengths();
    test_ws_error_final();
    test_ws_unmask();
    test_ws_close_code_valid();
    test_ws_close_payload_check();
    test_ws_frame_header();
    test_ws_close_payload();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
