
/*
 * Validation of a JSON text (RFC 8259) without building a document.
 *
 * It accepts what jansson accepts with JSON_DECODE_ANY | JSON_ALLOW_NUL |
 * JSON_DECODE_INT_AS_REAL, except that numbers are checked for syntax only:
 * jansson also rejects a number beyond the range of a double.  Strings must be valid UTF-8 and
 * their \u escapes must pair surrogates, as in jansson.  The fuzz target
 * fuzz_json compares the two on every input.
 *
 * Pure code: no nginx types, so the unit tests and the fuzzer link it alone.
 */


#include "ngx_neonpro_json.h"


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
} ngx_neonpro_json_scanner_t;


static void
ngx_neonpro_json_skip_space(ngx_neonpro_json_scanner_t *s)
{
    while (s->p < s->end
           && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n'
               || *s->p == '\r'))
    {
        s->p++;
    }
}


static int
ngx_neonpro_json_hex4(ngx_neonpro_json_scanner_t *s, unsigned *value)
{
    int            i;
    unsigned char  c;

    if (s->end - s->p < 4) {
        return 0;
    }

    *value = 0;

    for (i = 0; i < 4; i++) {
        c = *s->p++;

        if (c >= '0' && c <= '9') {
            *value = (*value << 4) | (unsigned) (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            *value = (*value << 4) | (unsigned) ((c | 0x20) - 'a' + 10);

        } else {
            return 0;
        }
    }

    return 1;
}


/* Checks one UTF-8 sequence that starts with a byte >= 0x80. */
static int
ngx_neonpro_json_utf8(ngx_neonpro_json_scanner_t *s)
{
    int            n, i;
    unsigned       cp;
    unsigned char  c;

    c = *s->p++;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
        cp = c & 0x1f;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        cp = c & 0x0f;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        cp = c & 0x07;

    } else {
        return 0;
    }

    if (s->end - s->p < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        c = *s->p++;

        if ((c & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (c & 0x3f);
    }

    /* overlong forms, surrogates, and code points past U+10FFFF */

    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
        || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    {
        return 0;
    }

    return 1;
}


/* An object key may not contain U+0000: jansson keys are C strings. */
static int
ngx_neonpro_json_string(ngx_neonpro_json_scanner_t *s, int key)
{
    unsigned       unit, low;
    unsigned char  c;

    /* the caller saw the opening quote */
    s->p++;

    while (s->p < s->end) {
        c = *s->p;

        if (c == '"') {
            s->p++;
            return 1;
        }

        if (c < 0x20) {
            return 0;
        }

        if (c >= 0x80) {
            if (!ngx_neonpro_json_utf8(s)) {
                return 0;
            }

            continue;
        }

        s->p++;

        if (c != '\\') {
            continue;
        }

        if (s->p == s->end) {
            return 0;
        }

        c = *s->p++;

        switch (c) {

        case '"': case '\\': case '/': case 'b': case 'f': case 'n':
        case 'r': case 't':
            break;

        case 'u':
            if (!ngx_neonpro_json_hex4(s, &unit)) {
                return 0;
            }

            if ((unit >= 0xdc00 && unit <= 0xdfff) || (key && unit == 0)) {
                return 0;
            }

            if (unit >= 0xd800 && unit <= 0xdbff) {
                if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u') {
                    return 0;
                }

                s->p += 2;

                if (!ngx_neonpro_json_hex4(s, &low)
                    || low < 0xdc00 || low > 0xdfff)
                {
                    return 0;
                }
            }

            break;

        default:
            return 0;
        }
    }

    return 0;
}


static int
ngx_neonpro_json_digits(ngx_neonpro_json_scanner_t *s)
{
    const unsigned char  *start;

    start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        s->p++;
    }

    return s->p > start;
}


static int
ngx_neonpro_json_number(ngx_neonpro_json_scanner_t *s)
{
    if (*s->p == '-') {
        s->p++;
    }

    if (s->p < s->end && *s->p == '0') {
        s->p++;

    } else if (!ngx_neonpro_json_digits(s)) {
        return 0;
    }

    if (s->p < s->end && *s->p == '.') {
        s->p++;

        if (!ngx_neonpro_json_digits(s)) {
            return 0;
        }
    }

    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;

        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }

        if (!ngx_neonpro_json_digits(s)) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_neonpro_json_literal(ngx_neonpro_json_scanner_t *s, const char *word,
    size_t len)
{
    size_t  i;

    if ((size_t) (s->end - s->p) < len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s->p[i] != (unsigned char) word[i]) {
            return 0;
        }
    }

    s->p += len;

    return 1;
}


/* Scans one scalar value; containers are handled by the caller's loop. */
static int
ngx_neonpro_json_scalar(ngx_neonpro_json_scanner_t *s)
{
    switch (*s->p) {

    case '"':
        return ngx_neonpro_json_string(s, 0);

    case 't':
        return ngx_neonpro_json_literal(s, "true", 4);

    case 'f':
        return ngx_neonpro_json_literal(s, "false", 5);

    case 'n':
        return ngx_neonpro_json_literal(s, "null", 4);

    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
            return ngx_neonpro_json_number(s);
        }

        return 0;
    }
}


/*
 * Returns 1 for a valid JSON text.  The open containers live in a stack of
 * NGX_NEONPRO_JSON_MAX_DEPTH bytes instead of the C stack, so deep input
 * cannot exhaust it.
 */
int
ngx_neonpro_json_valid(const unsigned char *p, size_t len)
{
    size_t                      depth;
    unsigned char               stack[NGX_NEONPRO_JSON_MAX_DEPTH];
    ngx_neonpro_json_scanner_t  s;

    s.p = p;
    s.end = p + len;
    depth = 0;

    for ( ;; ) {

        /* a value is expected here */

        ngx_neonpro_json_skip_space(&s);

        if (s.p == s.end) {
            return 0;
        }

        if (*s.p == '{' || *s.p == '[') {
            if (depth == NGX_NEONPRO_JSON_MAX_DEPTH) {
                return 0;
            }

            stack[depth++] = *s.p++;
            ngx_neonpro_json_skip_space(&s);

            if (s.p < s.end && *s.p == (stack[depth - 1] == '{' ? '}' : ']'))
            {
                /* an empty container is a whole value */
                s.p++;
                depth--;
                goto value_done;
            }

            if (stack[depth - 1] == '{') {
                goto object_key;
            }

            continue;
        }

        if (!ngx_neonpro_json_scalar(&s)) {
            return 0;
        }

    value_done:

        /* after a value: end of text, or ",", "]" or "}" of a container */

        for ( ;; ) {
            ngx_neonpro_json_skip_space(&s);

            if (depth == 0) {
                return s.p == s.end;
            }

            if (s.p == s.end) {
                return 0;
            }

            if (*s.p == ',') {
                s.p++;

                if (stack[depth - 1] == '{') {
                    goto object_key;
                }

                break;
            }

            if (*s.p != (stack[depth - 1] == '{' ? '}' : ']')) {
                return 0;
            }

            s.p++;
            depth--;
        }

        continue;

    object_key:

        ngx_neonpro_json_skip_space(&s);

        if (s.p == s.end || *s.p != '"' || !ngx_neonpro_json_string(&s, 1)) {
            return 0;
        }

        ngx_neonpro_json_skip_space(&s);

        if (s.p == s.end || *s.p != ':') {
            return 0;
        }

        s.p++;
    }
}
