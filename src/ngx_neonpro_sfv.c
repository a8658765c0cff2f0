
/*
 * Checks that a header value parses as an RFC 8941 dictionary whose member
 * values are tokens, strings, integers, booleans or inner lists of those,
 * each with optional parameters.  That covers every Permissions-Policy value
 * (W3C Permissions Policy, "Structured header serialization"), such as
 * camera=(self "https://a.example"), geolocation=(), fullscreen=*.
 *
 * Pure code: no nginx types, so the unit tests and the fuzzer link it alone.
 */


#include "ngx_neonpro_sfv.h"


typedef struct {
    const unsigned char  *p;
    const unsigned char  *start;
    const unsigned char  *end;
} ngx_neonpro_sfv_parser_t;


static int
ngx_neonpro_sfv_is_lcalpha(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}


static int
ngx_neonpro_sfv_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}


/* tchar of RFC 9110, plus ":" and "/" that RFC 8941 allows in tokens */
static int
ngx_neonpro_sfv_is_token_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || ngx_neonpro_sfv_is_digit(c))
    {
        return 1;
    }

    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~': case ':': case '/':
        return 1;
    }

    return 0;
}


static int
ngx_neonpro_sfv_parse_key(ngx_neonpro_sfv_parser_t *sp)
{
    unsigned char  c;

    if (sp->p == sp->end) {
        return -1;
    }

    c = *sp->p;

    if (!ngx_neonpro_sfv_is_lcalpha(c) && c != '*') {
        return -1;
    }

    for (sp->p++; sp->p < sp->end; sp->p++) {
        c = *sp->p;

        if (!ngx_neonpro_sfv_is_lcalpha(c) && !ngx_neonpro_sfv_is_digit(c)
            && c != '_' && c != '-' && c != '.' && c != '*')
        {
            break;
        }
    }

    return 0;
}


static int
ngx_neonpro_sfv_parse_bare_item(ngx_neonpro_sfv_parser_t *sp)
{
    unsigned char  c;

    if (sp->p == sp->end) {
        return -1;
    }

    c = *sp->p;

    if (c == '"') {
        for (sp->p++; sp->p < sp->end; sp->p++) {
            c = *sp->p;

            if (c == '"') {
                sp->p++;
                return 0;
            }

            if (c == '\\') {
                sp->p++;

                if (sp->p == sp->end || (*sp->p != '"' && *sp->p != '\\')) {
                    return -1;
                }

                continue;
            }

            if (c < 0x20 || c > 0x7e) {
                return -1;
            }
        }

        return -1;
    }

    if (c == '?') {
        sp->p++;

        if (sp->p == sp->end || (*sp->p != '0' && *sp->p != '1')) {
            return -1;
        }

        sp->p++;
        return 0;
    }

    if (c == '-' || ngx_neonpro_sfv_is_digit(c)) {
        if (c == '-') {
            sp->p++;
        }

        if (sp->p == sp->end || !ngx_neonpro_sfv_is_digit(*sp->p)) {
            return -1;
        }

        while (sp->p < sp->end && ngx_neonpro_sfv_is_digit(*sp->p)) {
            sp->p++;
        }

        return 0;
    }

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*') {
        for (sp->p++; sp->p < sp->end; sp->p++) {
            if (!ngx_neonpro_sfv_is_token_char(*sp->p)) {
                break;
            }
        }

        return 0;
    }

    return -1;
}


static int
ngx_neonpro_sfv_parse_parameters(ngx_neonpro_sfv_parser_t *sp)
{
    while (sp->p < sp->end && *sp->p == ';') {
        sp->p++;

        while (sp->p < sp->end && *sp->p == ' ') {
            sp->p++;
        }

        if (ngx_neonpro_sfv_parse_key(sp) != 0) {
            return -1;
        }

        if (sp->p < sp->end && *sp->p == '=') {
            sp->p++;

            if (ngx_neonpro_sfv_parse_bare_item(sp) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


static int
ngx_neonpro_sfv_parse_inner_list(ngx_neonpro_sfv_parser_t *sp)
{
    /* the caller has consumed "(" */

    while (sp->p < sp->end) {

        while (sp->p < sp->end && *sp->p == ' ') {
            sp->p++;
        }

        if (sp->p < sp->end && *sp->p == ')') {
            sp->p++;
            return ngx_neonpro_sfv_parse_parameters(sp);
        }

        if (ngx_neonpro_sfv_parse_bare_item(sp) != 0
            || ngx_neonpro_sfv_parse_parameters(sp) != 0)
        {
            return -1;
        }

        if (sp->p < sp->end && *sp->p != ' ' && *sp->p != ')') {
            return -1;
        }
    }

    return -1;
}


/*
 * Returns -1 when the value is a valid dictionary, or else the byte offset
 * at which parsing failed, so a configuration error can point at it.
 */
ssize_t
ngx_neonpro_sfv_check_dictionary(const unsigned char *p, size_t len)
{
    ngx_neonpro_sfv_parser_t  sp;

    sp.start = p;
    sp.p = p;
    sp.end = p + len;

    while (sp.p < sp.end && (*sp.p == ' ' || *sp.p == '\t')) {
        sp.p++;
    }

    if (sp.p == sp.end) {
        return 0;
    }

    for ( ;; ) {
        if (ngx_neonpro_sfv_parse_key(&sp) != 0) {
            return sp.p - sp.start;
        }

        if (sp.p < sp.end && *sp.p == '=') {
            sp.p++;

            if (sp.p < sp.end && *sp.p == '(') {
                sp.p++;

                if (ngx_neonpro_sfv_parse_inner_list(&sp) != 0) {
                    return sp.p - sp.start;
                }

            } else if (ngx_neonpro_sfv_parse_bare_item(&sp) != 0
                       || ngx_neonpro_sfv_parse_parameters(&sp) != 0)
            {
                return sp.p - sp.start;
            }

        } else if (ngx_neonpro_sfv_parse_parameters(&sp) != 0) {
            return sp.p - sp.start;
        }

        while (sp.p < sp.end && (*sp.p == ' ' || *sp.p == '\t')) {
            sp.p++;
        }

        if (sp.p == sp.end) {
            return -1;
        }

        if (*sp.p != ',') {
            return sp.p - sp.start;
        }

        sp.p++;

        while (sp.p < sp.end && (*sp.p == ' ' || *sp.p == '\t')) {
            sp.p++;
        }

        if (sp.p == sp.end) {
            /* a trailing comma is invalid */
            return sp.p - sp.start;
        }
    }
}
