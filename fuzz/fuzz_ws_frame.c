
/*
 * libFuzzer target: a stream of client WebSocket frames through the frame
 * parser, unmasking and, for uncompressed text messages, the incremental
 * UTF-8 validator, as a server reads them from a socket in pieces.
 *
 * Input: bit 0 of byte 0 turns on permessage-deflate, and byte 1 sets the
 * message size limit in units of 17 bytes.  Bytes 2-9 give the sizes of
 * the pieces the stream is cut into, 1-256 bytes each, taken in turn.  The
 * rest is the stream.
 *
 * Invariants: the parser never consumes more than it was given; a complete
 * header matches its own bytes, the protocol rules and a header that
 * ngx_neonpro_ws_frame_header() builds from it; every payload byte comes
 * out XORed with the right key byte; the incremental UTF-8 result matches a
 * one-shot reference validator written here in a different way (from the
 * code point ranges a partial sequence can still reach); and a Close
 * payload check matches its definition.
 */


#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "ngx_neonpro_utf8.h"
#include "ngx_neonpro_ws_frame.h"


#define CONFIG_LEN   10
#define MAX_STREAM   65536


typedef struct {
    ngx_neonpro_ws_parser_t   parser;
    uint64_t                  max_message_size;
    int                       rsv1_allowed;

    /* the header bytes of the current frame */
    unsigned char             header[NGX_NEONPRO_WS_MAX_HEADER_LEN];
    size_t                    header_len;

    /* the payload of the current frame */
    uint64_t                  remaining;
    size_t                    mask_offset;

    /* the data message as this target follows it */
    unsigned                  open_opcode;
    uint64_t                  open_len;

    /* the uncompressed text message being validated */
    int                       text;
    ngx_neonpro_utf8_t        utf8;
    size_t                    text_len;
    ssize_t                   invalid_from;
    ssize_t                   invalid_to;

    /* the payload of a Close frame */
    unsigned char             control[NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD];
    size_t                    control_len;
} fuzz_state_t;


static unsigned char  stream[MAX_STREAM];
static unsigned char  text_buf[MAX_STREAM];


/*
 * Returns 1 when some code point of an n-byte sequence lies in [lo, hi],
 * the code points that a partial sequence can still become.
 */
static int
reference_reachable(unsigned long lo, unsigned long hi, int n)
{
    switch (n) {

    case 2:
        return lo <= 0x7ff && hi >= 0x80;

    case 3:
        return (lo <= 0xd7ff && hi >= 0x800)
               || (lo <= 0xffff && hi >= 0xe000);

    default:
        return lo <= 0x10ffff && hi >= 0x10000;
    }
}


/*
 * One-shot reference: returns the index of the first byte that no valid
 * UTF-8 text has there, or -1, with *complete set when the text ends on a
 * code point boundary.
 */
static ssize_t
reference_utf8(const unsigned char *p, size_t len, int *complete)
{
    int            n, k, rest;
    size_t         i;
    unsigned long  value, lo, hi;

    *complete = 1;

    for (i = 0; i < len; i += (size_t) n) {

        if (p[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 2;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4;

        } else {
            return (ssize_t) i;
        }

        value = p[i] & (0x7f >> n);

        for (k = 0; k < n; k++) {

            if (k > 0) {
                if (i + (size_t) k == len) {
                    *complete = 0;
                    return -1;
                }

                if ((p[i + k] & 0xc0) != 0x80) {
                    return (ssize_t) (i + (size_t) k);
                }

                value = (value << 6) | (p[i + k] & 0x3f);
            }

            rest = 6 * (n - 1 - k);
            lo = value << rest;
            hi = lo | ((1UL << rest) - 1);

            if (!reference_reachable(lo, hi, n)) {
                return (ssize_t) (i + (size_t) k);
            }
        }
    }

    return -1;
}


/*
 * Returns the status code for a client frame header whose last byte,
 * h[n - 1], breaks a rule of RFC 6455 (with RSV1 per RFC 7692), or 0 when
 * the bytes so far break none.  The rules are written here apart from the
 * parser, from the state this target follows.
 */
static unsigned
reference_header_error(const fuzz_state_t *s, const unsigned char *h,
    size_t n)
{
    int       control;
    size_t    i, extended;
    uint64_t  len, before;
    unsigned  opcode, len7;

    opcode = h[0] & 0x0f;
    control = opcode >= 0x8;

    if (n == 1) {
        if ((h[0] & 0x30)
            || !(opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa))
            || ((h[0] & 0x40)
                && (!s->rsv1_allowed || control || opcode == 0x0))
            || (control && !(h[0] & 0x80))
            || (opcode == 0x0 && s->open_opcode == 0)
            || ((opcode == 0x1 || opcode == 0x2) && s->open_opcode != 0))
        {
            return NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR;
        }

        return 0;
    }

    len7 = h[1] & 0x7f;
    extended = (len7 == 126) ? 2 : (len7 == 127) ? 8 : 0;

    if (n == 2 && (!(h[1] & 0x80) || (control && len7 > 125))) {
        return NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR;
    }

    /* the length is known at its last byte */

    if (n != 2 + extended) {
        return 0;
    }

    len = len7;

    if (extended) {
        len = 0;

        for (i = 0; i < extended; i++) {
            len = (len << 8) | h[2 + i];
        }
    }

    if (len >> 63) {
        return NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR;
    }

    before = (opcode == 0x0) ? s->open_len : 0;

    /* before is at most the limit, which is at most 255 * 17 */

    if (!control && before + len > s->max_message_size) {
        return NGX_NEONPRO_WS_CLOSE_TOO_BIG;
    }

    return 0;
}


/* The incremental result of a text message against the reference. */
static void
check_text(fuzz_state_t *s, int message_end)
{
    int      complete;
    ssize_t  invalid_at;

    invalid_at = reference_utf8(text_buf, s->text_len, &complete);

    if (s->invalid_from >= 0) {
        if (invalid_at < s->invalid_from || invalid_at >= s->invalid_to) {
            __builtin_trap();
        }

        return;
    }

    if (invalid_at >= 0) {
        __builtin_trap();
    }

    if (message_end
        && ngx_neonpro_utf8_complete(&s->utf8) != complete)
    {
        __builtin_trap();
    }
}


static void
check_close_payload(fuzz_state_t *s)
{
    int       complete;
    unsigned  rc, code, expected;

    rc = ngx_neonpro_ws_close_payload_check(s->control, s->control_len,
                                            &code);

    if (s->control_len == 0) {
        expected = 0;

    } else if (s->control_len == 1) {
        expected = NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR;

    } else if (!ngx_neonpro_ws_close_code_valid(
                   ((unsigned) s->control[0] << 8) | s->control[1]))
    {
        expected = NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR;

    } else if (reference_utf8(s->control + 2, s->control_len - 2, &complete)
               >= 0 || !complete)
    {
        expected = NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD;

    } else {
        expected = 0;
    }

    if (rc != expected) {
        __builtin_trap();
    }
}


/* A header built from the parsed fields parses back to the same fields. */
static void
check_rebuilt_header(const ngx_neonpro_ws_parser_t *p)
{
    int                       opcode;
    size_t                    n, consumed;
    unsigned char             out[NGX_NEONPRO_WS_MAX_HEADER_LEN];
    ngx_neonpro_ws_parser_t   q;

    /* a fresh parser has no message to continue */
    opcode = (p->opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION)
             ? NGX_NEONPRO_WS_OPCODE_BINARY : (int) p->opcode;

    n = ngx_neonpro_ws_frame_header(out, p->fin, p->rsv1, opcode,
                                    p->payload_len);

    if (n != 2 && n != 4 && n != 10) {
        __builtin_trap();
    }

    out[1] |= 0x80;
    memcpy(out + n, p->mask_key, 4);

    ngx_neonpro_ws_parser_init(&q, UINT64_MAX, 1);

    if (ngx_neonpro_ws_frame_parse(&q, out, n + 4, &consumed)
        != NGX_NEONPRO_WS_OK
        || consumed != n + 4
        || q.fin != p->fin || q.rsv1 != p->rsv1
        || q.opcode != (unsigned) opcode
        || q.payload_len != p->payload_len
        || memcmp(q.mask_key, p->mask_key, 4) != 0)
    {
        __builtin_trap();
    }
}


/* A complete header against its own bytes and the protocol rules. */
static void
check_header(fuzz_state_t *s)
{
    int                       control;
    size_t                    i, extended;
    uint64_t                  len;
    const unsigned char      *h;
    ngx_neonpro_ws_parser_t  *p;

    p = &s->parser;
    h = s->header;

    for (i = 1; i <= s->header_len; i++) {
        if (reference_header_error(s, h, i) != 0) {
            __builtin_trap();
        }
    }

    len = h[1] & 0x7f;
    extended = (len == 126) ? 2 : (len == 127) ? 8 : 0;

    if (s->header_len != 2 + extended + 4) {
        __builtin_trap();
    }

    if (extended) {
        len = 0;

        for (i = 0; i < extended; i++) {
            len = (len << 8) | h[2 + i];
        }
    }

    if (p->fin != (unsigned) (h[0] >> 7)
        || p->rsv1 != (unsigned) ((h[0] >> 6) & 1)
        || p->opcode != (unsigned) (h[0] & 0x0f)
        || p->rsv2 || p->rsv3 || !p->masked || !(h[1] & 0x80)
        || p->payload_len != len || (len >> 63)
        || memcmp(p->mask_key, h + 2 + extended, 4) != 0)
    {
        __builtin_trap();
    }

    if (p->rsv1 && !s->rsv1_allowed) {
        __builtin_trap();
    }

    control = (p->opcode & 0x08) != 0;

    if (control) {
        if ((p->opcode != NGX_NEONPRO_WS_OPCODE_CLOSE
             && p->opcode != NGX_NEONPRO_WS_OPCODE_PING
             && p->opcode != NGX_NEONPRO_WS_OPCODE_PONG)
            || !p->fin || p->rsv1 || len > 125 || p->message_opcode != 0)
        {
            __builtin_trap();
        }

        check_rebuilt_header(p);
        return;
    }

    /* data frames against the message this target follows */

    if (p->opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION) {
        if (s->open_opcode == 0 || p->rsv1
            || p->message_opcode != s->open_opcode
            || p->message_len != s->open_len + len)
        {
            __builtin_trap();
        }

    } else if (p->opcode == NGX_NEONPRO_WS_OPCODE_TEXT
               || p->opcode == NGX_NEONPRO_WS_OPCODE_BINARY)
    {
        if (s->open_opcode != 0 || p->message_opcode != p->opcode
            || p->message_len != len)
        {
            __builtin_trap();
        }

    } else {
        __builtin_trap();
    }

    if (p->message_len > s->max_message_size) {
        __builtin_trap();
    }

    s->open_opcode = p->fin ? 0 : p->message_opcode;
    s->open_len = p->fin ? 0 : p->message_len;

    check_rebuilt_header(p);
}


/* Sets up the payload of a frame whose header is complete. */
static void
start_payload(fuzz_state_t *s)
{
    ngx_neonpro_ws_parser_t  *p;

    p = &s->parser;

    s->remaining = p->payload_len;
    s->mask_offset = 0;
    s->control_len = 0;

    if (p->opcode == NGX_NEONPRO_WS_OPCODE_TEXT && !p->message_compressed) {
        s->text = 1;
        s->text_len = 0;
        s->invalid_from = -1;
        s->invalid_to = -1;
        ngx_neonpro_utf8_init(&s->utf8);
    }

    if (p->opcode == NGX_NEONPRO_WS_OPCODE_BINARY
        || (p->opcode == NGX_NEONPRO_WS_OPCODE_TEXT
            && p->message_compressed))
    {
        s->text = 0;
    }
}


/*
 * Unmasks a piece of payload, a copy of the masked bytes in wire, in buf
 * and checks it.  Returns 0 when a server would stop reading because the
 * text message is invalid UTF-8.
 */
static int
read_payload(fuzz_state_t *s, const unsigned char *wire, unsigned char *buf,
    size_t n)
{
    int                       rc;
    size_t                    i, offset;
    ngx_neonpro_ws_parser_t  *p;

    p = &s->parser;
    offset = s->mask_offset;

    ngx_neonpro_ws_unmask(buf, n, p->mask_key, &s->mask_offset);

    if (s->mask_offset != offset + n) {
        __builtin_trap();
    }

    for (i = 0; i < n; i++) {
        if (buf[i] != (wire[i] ^ p->mask_key[(offset + i) & 3])) {
            __builtin_trap();
        }
    }

    s->remaining -= n;

    if (p->opcode & 0x08) {
        memcpy(s->control + s->control_len, buf, n);
        s->control_len += n;

        if (s->remaining == 0 && p->opcode == NGX_NEONPRO_WS_OPCODE_CLOSE) {
            check_close_payload(s);
        }

        return 1;
    }

    if (!s->text) {
        return 1;
    }

    memcpy(text_buf + s->text_len, buf, n);

    rc = ngx_neonpro_utf8_feed(&s->utf8, buf, n);

    if (rc == NGX_NEONPRO_UTF8_INVALID) {
        s->invalid_from = (ssize_t) s->text_len;
        s->invalid_to = (ssize_t) (s->text_len + n);
    }

    s->text_len += n;

    if (rc == NGX_NEONPRO_UTF8_INVALID) {
        check_text(s, 0);
        return 0;
    }

    if (s->remaining == 0 && p->fin) {
        check_text(s, 1);
        s->text = 0;
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc;
    size_t                len, pos, end, consumed, n, piece;
    fuzz_state_t          s;
    const unsigned char  *input;

    if (size < CONFIG_LEN || size - CONFIG_LEN > MAX_STREAM) {
        return 0;
    }

    memset(&s, 0, sizeof(fuzz_state_t));

    s.rsv1_allowed = data[0] & 1;
    s.max_message_size = (uint64_t) data[1] * 17;

    ngx_neonpro_ws_parser_init(&s.parser, s.max_message_size,
                               s.rsv1_allowed);

    input = data + CONFIG_LEN;
    len = size - CONFIG_LEN;
    memcpy(stream, input, len);

    pos = 0;
    piece = 0;

    while (pos < len) {
        n = (size_t) data[2 + piece % 8] + 1;
        end = (len - pos < n) ? len : pos + n;
        piece++;

        while (pos < end) {

            if (s.remaining > 0) {
                n = (end - pos < s.remaining) ? end - pos
                                              : (size_t) s.remaining;

                if (!read_payload(&s, input + pos, stream + pos, n)) {
                    return 0;
                }

                pos += n;
                continue;
            }

            rc = ngx_neonpro_ws_frame_parse(&s.parser, stream + pos,
                                            end - pos, &consumed);

            if (consumed > end - pos
                || s.header_len + consumed > NGX_NEONPRO_WS_MAX_HEADER_LEN)
            {
                __builtin_trap();
            }

            memcpy(s.header + s.header_len, stream + pos, consumed);
            s.header_len += consumed;
            pos += consumed;

            if (rc == NGX_NEONPRO_WS_AGAIN) {
                if (pos != end) {
                    __builtin_trap();
                }

                continue;
            }

            if (rc == NGX_NEONPRO_WS_ERROR) {
                /* the byte that failed is the one that broke the rule */

                if (consumed == 0 || s.parser.error == NULL
                    || s.parser.close_code
                       != reference_header_error(&s, s.header, s.header_len))
                {
                    __builtin_trap();
                }

                /* the error is final */

                if (ngx_neonpro_ws_frame_parse(&s.parser, stream, len,
                                               &consumed)
                    != NGX_NEONPRO_WS_ERROR || consumed != 0)
                {
                    __builtin_trap();
                }

                return 0;
            }

            if (rc != NGX_NEONPRO_WS_OK) {
                __builtin_trap();
            }

            check_header(&s);
            s.header_len = 0;

            start_payload(&s);

            /* an empty final frame ends a text message here */

            if (s.remaining == 0) {
                if (s.text && s.parser.message_opcode
                              == NGX_NEONPRO_WS_OPCODE_TEXT
                    && s.parser.fin)
                {
                    check_text(&s, 1);
                    s.text = 0;
                }

                if (s.parser.opcode == NGX_NEONPRO_WS_OPCODE_CLOSE) {
                    check_close_payload(&s);
                }
            }
        }
    }

    /* the stream ended inside a text message: what came is still checked */

    if (s.text) {
        check_text(&s, 0);
    }

    return 0;
}
