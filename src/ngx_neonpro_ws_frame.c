
/*
 * The WebSocket frame codec of the server side (RFC 6455, section 5).
 *
 * The parser takes a client frame header in pieces of any size, down to
 * one byte.  It fails at the first byte that breaks a rule and sets the
 * status code the server closes with: 1002 for a protocol error, 1009 for
 * a message over the size limit.  It also follows the frames of a
 * fragmented message, which control frames may interrupt (section 5.4).
 *
 * Pure code: no nginx types, so the unit tests and the fuzzer link it alone.
 */


#include <string.h>

#include "ngx_neonpro_utf8.h"
#include "ngx_neonpro_ws_frame.h"


enum {
    sw_start = 0,
    sw_length,
    sw_extended_length,
    sw_mask_key,
    sw_failed
};


static int ngx_neonpro_ws_parse_first_byte(ngx_neonpro_ws_parser_t *p,
    unsigned char c);
static int ngx_neonpro_ws_parse_second_byte(ngx_neonpro_ws_parser_t *p,
    unsigned char c);
static int ngx_neonpro_ws_check_length(ngx_neonpro_ws_parser_t *p);
static void ngx_neonpro_ws_frame_done(ngx_neonpro_ws_parser_t *p);
static int ngx_neonpro_ws_fail(ngx_neonpro_ws_parser_t *p,
    unsigned close_code, const char *error);
static int ngx_neonpro_ws_opcode_known(unsigned opcode);


/*
 * Prepares the parser of one connection.  max_message_size limits the
 * payload bytes of a data message as they arrive, so with
 * permessage-deflate (rsv1_allowed) the caller must also limit the size
 * of the inflated message.
 */
void
ngx_neonpro_ws_parser_init(ngx_neonpro_ws_parser_t *p,
    uint64_t max_message_size, int rsv1_allowed)
{
    memset(p, 0, sizeof(ngx_neonpro_ws_parser_t));

    p->max_message_size = max_message_size;
    p->rsv1_allowed = rsv1_allowed ? 1 : 0;
    p->state = sw_start;
}


/*
 * Parses a frame header from buf.  Returns NGX_NEONPRO_WS_OK when the
 * header is complete, with *consumed set to the header bytes in buf, so the
 * payload starts at buf + *consumed.  Returns NGX_NEONPRO_WS_AGAIN when all
 * of buf was consumed and the header needs more bytes.  Returns
 * NGX_NEONPRO_WS_ERROR with p->close_code and p->error set and *consumed
 * counting the bytes up to and including the one that broke the rule.  An
 * error is final: later calls return it again and consume nothing.
 */
int
ngx_neonpro_ws_frame_parse(ngx_neonpro_ws_parser_t *p,
    const unsigned char *buf, size_t len, size_t *consumed)
{
    int            rc;
    size_t         i;
    unsigned char  c;

    *consumed = 0;

    if (p->state == sw_failed) {
        return NGX_NEONPRO_WS_ERROR;
    }

    /* indexes instead of pointers: buf may be NULL when len is 0 */

    for (i = 0; i < len; i++) {
        c = buf[i];

        switch (p->state) {

        case sw_start:
            rc = ngx_neonpro_ws_parse_first_byte(p, c);
            break;

        case sw_length:
            rc = ngx_neonpro_ws_parse_second_byte(p, c);
            break;

        case sw_extended_length:
            p->payload_len = (p->payload_len << 8) | c;

            if (--p->need > 0) {
                rc = NGX_NEONPRO_WS_AGAIN;
                break;
            }

            rc = ngx_neonpro_ws_check_length(p);
            break;

        case sw_mask_key:
            p->mask_key[4 - p->need] = c;

            if (--p->need > 0) {
                rc = NGX_NEONPRO_WS_AGAIN;
                break;
            }

            ngx_neonpro_ws_frame_done(p);
            rc = NGX_NEONPRO_WS_OK;
            break;

        default:
            rc = ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_INTERNAL_ERROR,
                                     "parser in an unknown state");
            break;
        }

        if (rc != NGX_NEONPRO_WS_AGAIN) {
            *consumed = i + 1;
            return rc;
        }
    }

    *consumed = len;

    return NGX_NEONPRO_WS_AGAIN;
}


/* FIN, RSV1-3 and the opcode: every rule that needs no length */
static int
ngx_neonpro_ws_parse_first_byte(ngx_neonpro_ws_parser_t *p, unsigned char c)
{
    p->fin = (c >> 7) & 1;
    p->rsv1 = (c >> 6) & 1;
    p->rsv2 = (c >> 5) & 1;
    p->rsv3 = (c >> 4) & 1;
    p->opcode = c & 0x0f;
    p->masked = 0;
    p->payload_len = 0;
    memset(p->mask_key, 0, sizeof(p->mask_key));

    /* no extension this server negotiates defines RSV2 or RSV3 */

    if (p->rsv2 || p->rsv3) {
        return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                   "RSV2 or RSV3 bit set");
    }

    if (!ngx_neonpro_ws_opcode_known(p->opcode)) {
        return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                   "reserved opcode");
    }

    if (p->rsv1 && !p->rsv1_allowed) {
        return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                   "RSV1 bit set without permessage-deflate");
    }

    if (p->opcode & 0x08) {

        /* control frames (section 5.5) with no RSV1 (RFC 7692, section 6) */

        if (!p->fin) {
            return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                       "fragmented control frame");
        }

        if (p->rsv1) {
            return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                       "RSV1 bit set on a control frame");
        }

    } else if (p->opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION) {

        if (p->open_opcode == 0) {
            return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                       "continuation frame outside "
                                       "a fragmented message");
        }

        /* RFC 7692, section 6: only a message's first frame has RSV1 */

        if (p->rsv1) {
            return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                       "RSV1 bit set on a continuation frame");
        }

    } else if (p->open_opcode != 0) {
        return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                   "new data frame inside "
                                   "a fragmented message");
    }

    p->state = sw_length;

    return NGX_NEONPRO_WS_AGAIN;
}


/* the MASK bit and the 7-bit payload length */
static int
ngx_neonpro_ws_parse_second_byte(ngx_neonpro_ws_parser_t *p, unsigned char c)
{
    unsigned  len;

    p->masked = (c >> 7) & 1;
    len = c & 0x7f;

    /* section 5.1: every frame a client sends is masked */

    if (!p->masked) {
        return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                   "unmasked frame");
    }

    if ((p->opcode & 0x08) && len > NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD) {
        return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                   "control frame payload over 125 bytes");
    }

    if (len == 126) {
        p->need = 2;
        p->state = sw_extended_length;
        return NGX_NEONPRO_WS_AGAIN;
    }

    if (len == 127) {
        p->need = 8;
        p->state = sw_extended_length;
        return NGX_NEONPRO_WS_AGAIN;
    }

    p->payload_len = len;

    return ngx_neonpro_ws_check_length(p);
}


/*
 * Section 5.2 requires the sender to use the minimal number of bytes for
 * the length but names no action for the receiver.  A longer form, such as
 * a 16-bit length of 5, is accepted because its value is unambiguous.
 */
static int
ngx_neonpro_ws_check_length(ngx_neonpro_ws_parser_t *p)
{
    uint64_t  before;

    if (p->payload_len >> 63) {
        return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR,
                                   "payload length with the most "
                                   "significant bit set");
    }

    /* a control frame is no part of a message and has at most 125 bytes */

    if (!(p->opcode & 0x08)) {
        before = (p->opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION)
                 ? p->open_len : 0;

        /* open_len never exceeds the limit, so this cannot wrap */

        if (p->payload_len > p->max_message_size - before) {
            return ngx_neonpro_ws_fail(p, NGX_NEONPRO_WS_CLOSE_TOO_BIG,
                                       "message over the size limit");
        }
    }

    p->need = 4;
    p->state = sw_mask_key;

    return NGX_NEONPRO_WS_AGAIN;
}


/* Sets the message fields of a complete header and opens or ends a message. */
static void
ngx_neonpro_ws_frame_done(ngx_neonpro_ws_parser_t *p)
{
    p->state = sw_start;

    if (p->opcode & 0x08) {
        p->message_opcode = 0;
        p->message_compressed = 0;
        p->message_len = 0;
        return;
    }

    if (p->opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION) {
        p->message_opcode = p->open_opcode;
        p->message_compressed = p->open_compressed;
        p->message_len = p->open_len + p->payload_len;

    } else {
        p->message_opcode = p->opcode;
        p->message_compressed = p->rsv1;
        p->message_len = p->payload_len;
    }

    if (p->fin) {
        p->open_opcode = 0;
        p->open_compressed = 0;
        p->open_len = 0;

    } else {
        p->open_opcode = p->message_opcode;
        p->open_compressed = p->message_compressed;
        p->open_len = p->message_len;
    }
}


static int
ngx_neonpro_ws_fail(ngx_neonpro_ws_parser_t *p, unsigned close_code,
    const char *error)
{
    p->state = sw_failed;
    p->close_code = close_code;
    p->error = error;

    return NGX_NEONPRO_WS_ERROR;
}


/* 3-7 and 0xB-0xF are reserved for later data and control opcodes */
static int
ngx_neonpro_ws_opcode_known(unsigned opcode)
{
    switch (opcode) {

    case NGX_NEONPRO_WS_OPCODE_CONTINUATION:
    case NGX_NEONPRO_WS_OPCODE_TEXT:
    case NGX_NEONPRO_WS_OPCODE_BINARY:
    case NGX_NEONPRO_WS_OPCODE_CLOSE:
    case NGX_NEONPRO_WS_OPCODE_PING:
    case NGX_NEONPRO_WS_OPCODE_PONG:
        return 1;

    default:
        return 0;
    }
}


/*
 * Unmasks (or masks) len payload bytes in place.  *offset is the position
 * of p in the frame's payload: set it to 0 at the start of each frame, and
 * the call adds len, so a payload may be unmasked piece by piece.
 */
void
ngx_neonpro_ws_unmask(unsigned char *p, size_t len,
    const unsigned char key[4], size_t *offset)
{
    size_t         i, phase;
    uint64_t       word, mask;
    unsigned char  pattern[8];

    phase = *offset & 3;
    *offset += len;

    if (len >= 8) {

        /*
         * Eight key bytes starting at the phase.  The key repeats every
         * four bytes, so each 8-byte step keeps the phase.  memcpy() keeps
         * the loads safe at any alignment.
         */

        for (i = 0; i < 8; i++) {
            pattern[i] = key[(phase + i) & 3];
        }

        memcpy(&mask, pattern, 8);

        while (len >= 8) {
            memcpy(&word, p, 8);
            word ^= mask;
            memcpy(p, &word, 8);

            p += 8;
            len -= 8;
        }
    }

    for (i = 0; i < len; i++) {
        p[i] ^= key[(phase + i) & 3];
    }
}


/*
 * Returns 1 for a status code that may appear in a Close frame: 1000-1003,
 * 1007-1014 and 3000-4999 (RFC 6455, section 7.4, and the IANA WebSocket
 * Close Code Number Registry, which added 1012-1014).  1004 is reserved.
 * 1005, 1006 and 1015 are for APIs and never sent.  The rest of 0-2999 is
 * unassigned.
 */
int
ngx_neonpro_ws_close_code_valid(unsigned code)
{
    /* 3000-3999 are registered by libraries, 4000-4999 are private use */

    if (code >= 3000 && code <= 4999) {
        return 1;
    }

    switch (code) {

    case NGX_NEONPRO_WS_CLOSE_NORMAL:
    case NGX_NEONPRO_WS_CLOSE_GOING_AWAY:
    case NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR:
    case NGX_NEONPRO_WS_CLOSE_UNSUPPORTED:
    case NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD:
    case NGX_NEONPRO_WS_CLOSE_POLICY:
    case NGX_NEONPRO_WS_CLOSE_TOO_BIG:
    case NGX_NEONPRO_WS_CLOSE_EXTENSION:
    case NGX_NEONPRO_WS_CLOSE_INTERNAL_ERROR:
    case NGX_NEONPRO_WS_CLOSE_SERVICE_RESTART:
    case NGX_NEONPRO_WS_CLOSE_TRY_AGAIN_LATER:
    case NGX_NEONPRO_WS_CLOSE_BAD_GATEWAY:
        return 1;

    default:
        return 0;
    }
}


/*
 * Checks the unmasked payload of a received Close frame.  Returns 0 when
 * it is valid, with *code set to its status code, or to 1005 (no status
 * received, section 7.1.5) for an empty payload.  Otherwise returns the
 * status code of the server's own Close frame: 1002 for a 1-byte payload,
 * a payload over 125 bytes or an invalid status code, 1007 for a reason
 * that is not valid UTF-8 (section 5.5.1).
 */
unsigned
ngx_neonpro_ws_close_payload_check(const unsigned char *p, size_t len,
    unsigned *code)
{
    if (len == 0) {
        *code = NGX_NEONPRO_WS_CLOSE_NO_STATUS;
        return 0;
    }

    if (len == 1 || len > NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD) {
        *code = 0;
        return NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR;
    }

    *code = ((unsigned) p[0] << 8) | p[1];

    if (!ngx_neonpro_ws_close_code_valid(*code)) {
        return NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR;
    }

    if (!ngx_neonpro_utf8_valid(p + 2, len - 2)) {
        return NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD;
    }

    return 0;
}


/*
 * Writes the header of an unmasked server frame to out, which has room for
 * NGX_NEONPRO_WS_MAX_SERVER_HEADER_LEN bytes, with the shortest length
 * form.  Returns the header length, 2, 4 or 10.  Returns 0 for a header
 * that RFC 6455 forbids: a reserved opcode, a fragmented control frame, a
 * control payload over 125 bytes, a length of 2^63 or more, or RSV1 on a
 * control or continuation frame.
 */
size_t
ngx_neonpro_ws_frame_header(unsigned char *out, int fin, int rsv1,
    int opcode, uint64_t len)
{
    int  i;

    if (opcode < 0 || !ngx_neonpro_ws_opcode_known((unsigned) opcode)
        || (len >> 63))
    {
        return 0;
    }

    if ((opcode & 0x08)
        && (!fin || rsv1 || len > NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD))
    {
        return 0;
    }

    if (opcode == NGX_NEONPRO_WS_OPCODE_CONTINUATION && rsv1) {
        return 0;
    }

    out[0] = (unsigned char) ((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);

    if (len < 126) {
        out[1] = (unsigned char) len;
        return 2;
    }

    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (unsigned char) (len >> 8);
        out[3] = (unsigned char) len;
        return 4;
    }

    out[1] = 127;

    for (i = 0; i < 8; i++) {
        out[2 + i] = (unsigned char) (len >> (56 - 8 * i));
    }

    return 10;
}


/*
 * Writes a Close payload, the status code and a UTF-8 reason, to out,
 * which has room for NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD bytes.  Returns its
 * length, or -1 for a status code that may not be sent (1005, 1006, 1015
 * and every code ngx_neonpro_ws_close_code_valid() rejects), a reason over
 * 123 bytes or a reason that is not valid UTF-8.
 */
ssize_t
ngx_neonpro_ws_close_payload(unsigned char *out, unsigned code,
    const unsigned char *reason, size_t reason_len)
{
    if (!ngx_neonpro_ws_close_code_valid(code)
        || reason_len > NGX_NEONPRO_WS_MAX_CLOSE_REASON)
    {
        return -1;
    }

    if (reason_len > 0 && !ngx_neonpro_utf8_valid(reason, reason_len)) {
        return -1;
    }

    out[0] = (unsigned char) (code >> 8);
    out[1] = (unsigned char) code;

    if (reason_len > 0) {
        memcpy(out + 2, reason, reason_len);
    }

    return (ssize_t) (2 + reason_len);
}
