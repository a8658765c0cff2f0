
/*
 * Unit tests of the incremental UTF-8 validator.  Each case is fed whole,
 * one byte at a time and cut at every point into two and three pieces,
 * behind ASCII prefixes that move it across the 8-byte fast path.  Every
 * code point and every overlong form is checked too.  The tests end with
 * the line "N passed, N failed".
 */


#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ngx_neonpro_utf8.h"


/* a string literal as bytes and length, so cases may contain NUL */
#define BYTES(s)  (const unsigned char *) (s), sizeof(s) - 1


/*
 * A text and its expected result.  invalid_at is the index of the first
 * byte that no valid text can have there, or -1.  complete is 1 when a text
 * that is not invalid ends on a code point boundary.
 */
typedef struct {
    const char           *name;
    const unsigned char  *text;
    size_t                len;
    int                   invalid_at;
    int                   complete;
} utf8_case_t;


static const utf8_case_t  cases[] = {

    /* valid, with the boundaries of each encoding length */

    { "empty", BYTES(""), -1, 1 },
    { "ascii", BYTES("hello, world"), -1, 1 },
    { "nul byte", BYTES("\0"), -1, 1 },
    { "U+007F", BYTES("\x7f"), -1, 1 },
    { "U+0080", BYTES("\xc2\x80"), -1, 1 },
    { "U+07FF", BYTES("\xdf\xbf"), -1, 1 },
    { "U+0800", BYTES("\xe0\xa0\x80"), -1, 1 },
    { "U+D7FF", BYTES("\xed\x9f\xbf"), -1, 1 },
    { "U+E000", BYTES("\xee\x80\x80"), -1, 1 },
    { "U+FFFF", BYTES("\xef\xbf\xbf"), -1, 1 },
    { "U+10000", BYTES("\xf0\x90\x80\x80"), -1, 1 },
    { "U+10FFFF", BYTES("\xf4\x8f\xbf\xbf"), -1, 1 },
    { "euro sign", BYTES("\xe2\x82\xac"), -1, 1 },
    { "emoji", BYTES("\xf0\x9f\x98\x80"), -1, 1 },
    { "portuguese", BYTES("ol\xc3\xa1, consulta amanh\xc3\xa3"), -1, 1 },
    { "greek kosme",
      BYTES("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), -1, 1 },

    /* bytes that never start a code point */

    { "lone continuation 80", BYTES("\x80"), 0, 0 },
    { "lone continuation bf", BYTES("\xbf"), 0, 0 },
    { "byte fe", BYTES("\xfe"), 0, 0 },
    { "byte ff", BYTES("\xff"), 0, 0 },

    /* overlong forms fail at the first byte that proves them overlong */

    { "overlong c0 80", BYTES("\xc0\x80"), 0, 0 },
    { "overlong c1 bf", BYTES("\xc1\xbf"), 0, 0 },
    { "overlong e0 80 80", BYTES("\xe0\x80\x80"), 1, 0 },
    { "overlong e0 9f bf", BYTES("\xe0\x9f\xbf"), 1, 0 },
    { "overlong f0 80 80 80", BYTES("\xf0\x80\x80\x80"), 1, 0 },
    { "overlong f0 8f bf bf", BYTES("\xf0\x8f\xbf\xbf"), 1, 0 },

    /* surrogates, alone and as an encoded pair */

    { "surrogate d800", BYTES("\xed\xa0\x80"), 1, 0 },
    { "surrogate dfff", BYTES("\xed\xbf\xbf"), 1, 0 },
    { "surrogate pair", BYTES("\xed\xa0\x80\xed\xb0\x80"), 1, 0 },

    /* past U+10FFFF */

    { "U+110000", BYTES("\xf4\x90\x80\x80"), 1, 0 },
    { "lead f5", BYTES("\xf5\x80\x80\x80"), 0, 0 },
    { "lead f7", BYTES("\xf7\xbf\xbf\xbf"), 0, 0 },
    { "5-byte form", BYTES("\xf8\x88\x80\x80\x80"), 0, 0 },
    { "6-byte form", BYTES("\xfc\x84\x80\x80\x80\x80"), 0, 0 },

    /* a continuation byte missing or in excess */

    { "c3 then ascii", BYTES("\xc3\x28"), 1, 0 },
    { "e2 then ascii", BYTES("\xe2\x28\xa1"), 1, 0 },
    { "e2 82 then ascii", BYTES("\xe2\x82\x28"), 2, 0 },
    { "f0 then ascii", BYTES("\xf0\x28\x8c\xbc"), 1, 0 },
    { "f0 90 then ascii", BYTES("\xf0\x90\x28\xbc"), 2, 0 },
    { "f0 9f 98 then ascii", BYTES("\xf0\x9f\x98\x28"), 3, 0 },
    { "e2 then new lead", BYTES("\xe2\xc3\xa9"), 1, 0 },
    { "extra continuation", BYTES("\xc3\xa9\xa9"), 2, 0 },

    /* the Autobahn fail-fast texts: valid text, then the bad sequence */

    { "kosme then surrogate",
      BYTES("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
            "\xed\xa0\x80" "edited"), 12, 0 },
    { "kosme then past max",
      BYTES("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
            "\xf4\x90\x80\x80" "edited"), 12, 0 },

    /* cut short: valid so far, but not at a code point boundary */

    { "truncated c3", BYTES("\xc3"), -1, 0 },
    { "truncated e2", BYTES("\xe2"), -1, 0 },
    { "truncated e2 82", BYTES("\xe2\x82"), -1, 0 },
    { "truncated f0 9f", BYTES("\xf0\x9f"), -1, 0 },
    { "truncated f0 9f 98", BYTES("\xf0\x9f\x98"), -1, 0 },
    { "truncated f4 8f bf", BYTES("\xf4\x8f\xbf"), -1, 0 },
    { "truncated after ascii", BYTES("abc\xe0\xa0"), -1, 0 },
};


/*
 * Feeds the text in the pieces that the cuts make and returns the index of
 * the piece whose call returned INVALID, or -1.  Checks that every call
 * after that one returns INVALID too.
 */
static int
feed_pieces(ngx_neonpro_utf8_t *u, const unsigned char *text, size_t len,
    const size_t *cuts, size_t ncuts)
{
    int     rc, invalid_piece;
    size_t  i, start, end;

    ngx_neonpro_utf8_init(u);

    invalid_piece = -1;
    start = 0;

    for (i = 0; i <= ncuts; i++) {
        end = (i < ncuts) ? cuts[i] : len;

        rc = ngx_neonpro_utf8_feed(u, text + start, end - start);

        if (invalid_piece >= 0) {
            CHECK(rc == NGX_NEONPRO_UTF8_INVALID, "utf8 invalid is final");

        } else if (rc == NGX_NEONPRO_UTF8_INVALID) {
            invalid_piece = (int) i;
        }

        start = end;
    }

    return invalid_piece;
}


/* Checks one text fed whole, byte by byte and cut into 2 and 3 pieces. */
static void
check_text(const char *name, const unsigned char *text, size_t len,
    int invalid_at, int complete)
{
    int                 rc, expected_rc, piece, valid;
    size_t              i, j, cuts[2];
    ngx_neonpro_utf8_t  u;

    expected_rc = invalid_at >= 0 ? NGX_NEONPRO_UTF8_INVALID
                                  : NGX_NEONPRO_UTF8_OK;

    /* whole */

    ngx_neonpro_utf8_init(&u);
    rc = ngx_neonpro_utf8_feed(&u, text, len);

    valid = (invalid_at < 0 && complete);

    CHECK(rc == expected_rc, name);
    CHECK(ngx_neonpro_utf8_complete(&u) == valid, name);
    CHECK(ngx_neonpro_utf8_valid(text, len) == valid, name);

    /* one byte at a time: INVALID comes at the first impossible byte */

    ngx_neonpro_utf8_init(&u);

    for (i = 0; i < len; i++) {
        rc = ngx_neonpro_utf8_feed(&u, text + i, 1);

        if (rc == NGX_NEONPRO_UTF8_INVALID) {
            break;
        }
    }

    CHECK((i < len ? (int) i : -1) == invalid_at, name);

    /* every cut into two pieces, including empty ones */

    for (i = 0; i <= len; i++) {
        cuts[0] = i;
        piece = feed_pieces(&u, text, len, cuts, 1);

        if (invalid_at < 0) {
            CHECK(piece == -1, name);
            CHECK(ngx_neonpro_utf8_complete(&u) == complete, name);

        } else {
            CHECK(piece == ((size_t) invalid_at < i ? 0 : 1), name);
            CHECK(!ngx_neonpro_utf8_complete(&u), name);
        }
    }

    /* every cut into three pieces */

    for (i = 0; i <= len; i++) {
        for (j = i; j <= len; j++) {
            cuts[0] = i;
            cuts[1] = j;
            piece = feed_pieces(&u, text, len, cuts, 2);

            if (invalid_at < 0) {
                CHECK(piece == -1, name);
                CHECK(ngx_neonpro_utf8_complete(&u) == complete, name);

            } else {
                CHECK(piece == ((size_t) invalid_at < i ? 0
                                : (size_t) invalid_at < j ? 1 : 2), name);
            }
        }
    }
}


static void
test_utf8_cases(void)
{
    int            invalid_at;
    size_t         i, prefix, len;
    unsigned char  buf[128];

    static const char  suffix[] = "tail text";

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_text(cases[i].name, cases[i].text, cases[i].len,
                   cases[i].invalid_at, cases[i].complete);

        /*
         * Behind 0-17 ASCII bytes, so the case starts at every position of
         * an 8-byte word, and before ASCII text, which makes a truncated
         * sequence invalid at the first byte after it.
         */

        for (prefix = 0; prefix < 18; prefix++) {
            memset(buf, 'a', prefix);
            memcpy(buf + prefix, cases[i].text, cases[i].len);
            len = prefix + cases[i].len;

            check_text(cases[i].name, buf, len,
                       cases[i].invalid_at >= 0
                       ? (int) prefix + cases[i].invalid_at : -1,
                       cases[i].complete);

            memcpy(buf + len, suffix, sizeof(suffix) - 1);

            if (cases[i].invalid_at >= 0) {
                invalid_at = (int) prefix + cases[i].invalid_at;

            } else if (!cases[i].complete) {
                invalid_at = (int) len;

            } else {
                invalid_at = -1;
            }

            check_text(cases[i].name, buf, len + sizeof(suffix) - 1,
                       invalid_at, 1);
        }
    }
}


/* A byte >= 0x80 inside a long ASCII run fails wherever the run has it. */
static void
test_utf8_ascii_run(void)
{
    int                 rc;
    size_t              start, at, i;
    unsigned char       buf[80];
    ngx_neonpro_utf8_t  u;

    for (start = 0; start < 8; start++) {
        for (at = 0; at < 64; at++) {
            memset(buf, 'x', sizeof(buf));
            buf[start + at] = 0x80;

            CHECK(!ngx_neonpro_utf8_valid(buf + start, 64),
                  "utf8 high byte in ascii run");

            ngx_neonpro_utf8_init(&u);

            for (i = 0; i < 64; i++) {
                rc = ngx_neonpro_utf8_feed(&u, buf + start + i, 1);

                if (rc == NGX_NEONPRO_UTF8_INVALID) {
                    break;
                }
            }

            CHECK(i == at, "utf8 high byte position");
        }

        memset(buf, 'x', sizeof(buf));

        CHECK(ngx_neonpro_utf8_valid(buf + start, 64), "utf8 ascii run");
    }
}


static void
test_utf8_final(void)
{
    ngx_neonpro_utf8_t  u;

    ngx_neonpro_utf8_init(&u);

    CHECK(ngx_neonpro_utf8_feed(&u, (const unsigned char *) "\xc0", 1)
          == NGX_NEONPRO_UTF8_INVALID, "utf8 invalid byte");
    CHECK(ngx_neonpro_utf8_feed(&u, (const unsigned char *) "abc", 3)
          == NGX_NEONPRO_UTF8_INVALID, "utf8 invalid stays after ascii");
    CHECK(ngx_neonpro_utf8_feed(&u, NULL, 0)
          == NGX_NEONPRO_UTF8_INVALID, "utf8 invalid stays after empty");
    CHECK(!ngx_neonpro_utf8_complete(&u), "utf8 invalid is not complete");

    ngx_neonpro_utf8_init(&u);

    CHECK(ngx_neonpro_utf8_feed(&u, NULL, 0) == NGX_NEONPRO_UTF8_OK,
          "utf8 empty piece");
    CHECK(ngx_neonpro_utf8_complete(&u), "utf8 empty text complete");
    CHECK(ngx_neonpro_utf8_valid(NULL, 0), "utf8 empty text valid");
}


static size_t
encode(unsigned char *out, unsigned long cp, size_t len)
{
    switch (len) {

    case 1:
        out[0] = (unsigned char) cp;
        break;

    case 2:
        out[0] = (unsigned char) (0xc0 | (cp >> 6));
        out[1] = (unsigned char) (0x80 | (cp & 0x3f));
        break;

    case 3:
        out[0] = (unsigned char) (0xe0 | (cp >> 12));
        out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char) (0x80 | (cp & 0x3f));
        break;

    default:
        out[0] = (unsigned char) (0xf0 | (cp >> 18));
        out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (unsigned char) (0x80 | (cp & 0x3f));
        break;
    }

    return len;
}


/*
 * Every code point in its shortest form is valid but the surrogates, and
 * every longer form is invalid, as is every 4-byte form past U+10FFFF.
 * One CHECK per group keeps the count readable.
 */
static void
test_utf8_exhaustive(void)
{
    int            wrong_shortest, wrong_overlong, wrong_past_max;
    size_t         len, n;
    unsigned long  cp;
    unsigned char  buf[4];

    wrong_shortest = 0;
    wrong_overlong = 0;
    wrong_past_max = 0;

    for (cp = 0; cp <= 0x10ffff; cp++) {
        if (cp < 0x80) {
            len = 1;

        } else if (cp < 0x800) {
            len = 2;

        } else if (cp < 0x10000) {
            len = 3;

        } else {
            len = 4;
        }

        n = encode(buf, cp, len);

        if (ngx_neonpro_utf8_valid(buf, n)
            != !(cp >= 0xd800 && cp <= 0xdfff))
        {
            wrong_shortest++;
        }

        for (len++; len <= 4; len++) {
            n = encode(buf, cp, len);

            if (ngx_neonpro_utf8_valid(buf, n)) {
                wrong_overlong++;
            }
        }
    }

    for (cp = 0x110000; cp <= 0x1fffff; cp++) {
        n = encode(buf, cp, 4);

        if (ngx_neonpro_utf8_valid(buf, n)) {
            wrong_past_max++;
        }
    }

    CHECK(wrong_shortest == 0, "utf8 every shortest form");
    CHECK(wrong_overlong == 0, "utf8 every overlong form");
    CHECK(wrong_past_max == 0, "utf8 every form past U+10FFFF");
}


int
main(void)
{
    test_utf8_cases();
    test_utf8_ascii_run();
    test_utf8_final();
    test_utf8_exhaustive();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
