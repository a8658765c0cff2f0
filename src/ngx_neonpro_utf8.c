
/*
 * Incremental UTF-8 validation.
 *
 * A byte sequence is valid when it encodes Unicode scalar values in the
 * shortest form (RFC 3629, section 4): no overlong forms, no surrogates
 * U+D800..U+DFFF, nothing past U+10FFFF.  The check fails at the first
 * byte that no valid text can contain at that position, so a WebSocket
 * server can fail the connection with status 1007 without waiting for the
 * rest of the message (RFC 6455, section 8.1).
 *
 * Pure code: no nginx types, so the unit tests and the fuzzer link it alone.
 */


#include <string.h>

#include "ngx_neonpro_utf8.h"


/*
 * The states name what the next byte must be.  A sequence whose lead byte
 * is E0, ED, F0 or F4 limits its second byte, which rules out the overlong
 * 3- and 4-byte forms, the surrogates and the code points past U+10FFFF.
 */
enum {
    ngx_neonpro_utf8_accept = 0,
    ngx_neonpro_utf8_tail1,           /* one more 80..BF */
    ngx_neonpro_utf8_tail2,           /* two more 80..BF */
    ngx_neonpro_utf8_tail3,           /* three more 80..BF */
    ngx_neonpro_utf8_after_e0,        /* A0..BF, then one more */
    ngx_neonpro_utf8_after_ed,        /* 80..9F, then one more */
    ngx_neonpro_utf8_after_f0,        /* 90..BF, then two more */
    ngx_neonpro_utf8_after_f4,        /* 80..8F, then two more */
    ngx_neonpro_utf8_reject
};


static uint32_t ngx_neonpro_utf8_next(uint32_t state, unsigned char c);


void
ngx_neonpro_utf8_init(ngx_neonpro_utf8_t *u)
{
    u->state = ngx_neonpro_utf8_accept;
}


/*
 * Checks the next piece of the text.  Returns NGX_NEONPRO_UTF8_INVALID as
 * soon as a byte makes the text invalid, and again on every later call.
 * A piece may end inside a code point, so at the end of the text the
 * caller checks ngx_neonpro_utf8_complete() as well.
 */
int
ngx_neonpro_utf8_feed(ngx_neonpro_utf8_t *u, const unsigned char *p,
    size_t len)
{
    uint32_t              state;
    uint64_t              word;
    const unsigned char  *end;

    state = u->state;

    if (state == ngx_neonpro_utf8_reject) {
        return NGX_NEONPRO_UTF8_INVALID;
    }

    /* p may be NULL for an empty piece, and NULL + 0 is undefined in C */

    if (len == 0) {
        return NGX_NEONPRO_UTF8_OK;
    }

    end = p + len;

    while (p < end) {

        if (state == ngx_neonpro_utf8_accept && *p < 0x80) {

            /*
             * Chat text is mostly ASCII: skip it eight bytes at a time.
             * memcpy() makes the load safe at any alignment.
             */

            while (end - p >= 8) {
                memcpy(&word, p, 8);

                if (word & 0x8080808080808080ULL) {
                    break;
                }

                p += 8;
            }

            while (p < end && *p < 0x80) {
                p++;
            }

            continue;
        }

        state = ngx_neonpro_utf8_next(state, *p++);

        if (state == ngx_neonpro_utf8_reject) {
            u->state = state;
            return NGX_NEONPRO_UTF8_INVALID;
        }
    }

    u->state = state;

    return NGX_NEONPRO_UTF8_OK;
}


/* Returns 1 when the text fed so far is valid and ends with a code point. */
int
ngx_neonpro_utf8_complete(const ngx_neonpro_utf8_t *u)
{
    return u->state == ngx_neonpro_utf8_accept;
}


/* Returns 1 when the whole text is valid UTF-8. */
int
ngx_neonpro_utf8_valid(const unsigned char *p, size_t len)
{
    ngx_neonpro_utf8_t  u;

    ngx_neonpro_utf8_init(&u);

    return ngx_neonpro_utf8_feed(&u, p, len) == NGX_NEONPRO_UTF8_OK
           && ngx_neonpro_utf8_complete(&u);
}


static uint32_t
ngx_neonpro_utf8_next(uint32_t state, unsigned char c)
{
    switch (state) {

    case ngx_neonpro_utf8_accept:

        if (c < 0x80) {
            return ngx_neonpro_utf8_accept;
        }

        /* a continuation byte, or C0 and C1 that only start overlong forms */
        if (c < 0xc2) {
            return ngx_neonpro_utf8_reject;
        }

        if (c < 0xe0) {
            return ngx_neonpro_utf8_tail1;
        }

        if (c == 0xe0) {
            return ngx_neonpro_utf8_after_e0;
        }

        if (c == 0xed) {
            return ngx_neonpro_utf8_after_ed;
        }

        if (c < 0xf0) {
            return ngx_neonpro_utf8_tail2;
        }

        if (c == 0xf0) {
            return ngx_neonpro_utf8_after_f0;
        }

        if (c < 0xf4) {
            return ngx_neonpro_utf8_tail3;
        }

        if (c == 0xf4) {
            return ngx_neonpro_utf8_after_f4;
        }

        /* F5..FF would start code points past U+10FFFF */
        return ngx_neonpro_utf8_reject;

    case ngx_neonpro_utf8_tail1:
        return (c & 0xc0) == 0x80 ? ngx_neonpro_utf8_accept
                                  : ngx_neonpro_utf8_reject;

    case ngx_neonpro_utf8_tail2:
        return (c & 0xc0) == 0x80 ? ngx_neonpro_utf8_tail1
                                  : ngx_neonpro_utf8_reject;

    case ngx_neonpro_utf8_tail3:
        return (c & 0xc0) == 0x80 ? ngx_neonpro_utf8_tail2
                                  : ngx_neonpro_utf8_reject;

    case ngx_neonpro_utf8_after_e0:
        return (c >= 0xa0 && c <= 0xbf) ? ngx_neonpro_utf8_tail1
                                        : ngx_neonpro_utf8_reject;

    case ngx_neonpro_utf8_after_ed:
        return (c >= 0x80 && c <= 0x9f) ? ngx_neonpro_utf8_tail1
                                        : ngx_neonpro_utf8_reject;

    case ngx_neonpro_utf8_after_f0:
        return (c >= 0x90 && c <= 0xbf) ? ngx_neonpro_utf8_tail2
                                        : ngx_neonpro_utf8_reject;

    case ngx_neonpro_utf8_after_f4:
        return (c >= 0x80 && c <= 0x8f) ? ngx_neonpro_utf8_tail2
                                        : ngx_neonpro_utf8_reject;

    default:
        return ngx_neonpro_utf8_reject;
    }
}
