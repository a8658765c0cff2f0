
/*
 * Picks Brazilian Portuguese or English from an Accept-Language header
 * (RFC 9110, section 12.5.4).  Portuguese is the default: it wins ties, a
 * missing header, "*" and every other language.  English is picked only when
 * an "en" range has a strictly higher weight than every "pt" range.
 *
 * Pure code: no nginx types, so the unit tests and the fuzzer link it alone.
 */


#include "ngx_neonpro_lang.h"


/* Parses "q=0.8" style weights into thousandths; returns -1 when invalid. */
static int
ngx_neonpro_lang_parse_weight(const unsigned char *p, const unsigned char *end)
{
    int  weight, digits;

    if (p == end) {
        return -1;
    }

    if (*p == '1') {
        p++;

        if (p < end && *p == '.') {
            for (p++; p < end; p++) {
                if (*p != '0') {
                    return -1;
                }
            }
        }

        return p == end ? 1000 : -1;
    }

    if (*p != '0') {
        return -1;
    }

    p++;
    weight = 0;
    digits = 0;

    if (p < end && *p == '.') {
        for (p++; p < end && digits < 3; p++, digits++) {
            if (*p < '0' || *p > '9') {
                return -1;
            }

            weight = weight * 10 + (*p - '0');
        }
    }

    if (p != end) {
        return -1;
    }

    while (digits++ < 3) {
        weight *= 10;
    }

    return weight;
}


/* Returns 1 when the range is the primary tag, alone or with a subtag. */
static int
ngx_neonpro_lang_matches(const unsigned char *p, size_t len, const char *tag)
{
    if (len < 2) {
        return 0;
    }

    if ((p[0] | 0x20) != tag[0] || (p[1] | 0x20) != tag[1]) {
        return 0;
    }

    return len == 2 || p[2] == '-';
}


int
ngx_neonpro_lang_pick(const unsigned char *p, size_t len)
{
    int                   weight, best_pt, best_en;
    size_t                range_len;
    const unsigned char  *end, *item_end, *range, *param;

    best_pt = -1;
    best_en = -1;
    end = p + len;

    while (p < end) {

        /* one comma-separated item: range *( OWS ";" OWS parameter ) */

        for (item_end = p; item_end < end && *item_end != ','; item_end++) {
            /* void */
        }

        while (p < item_end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        range = p;

        while (p < item_end && *p != ';' && *p != ' ' && *p != '\t') {
            p++;
        }

        range_len = (size_t) (p - range);
        weight = 1000;

        while (p < item_end) {
            if (*p == ' ' || *p == '\t' || *p == ';') {
                p++;
                continue;
            }

            param = p;

            while (p < item_end && *p != ';' && *p != ' ' && *p != '\t') {
                p++;
            }

            if (p - param >= 2 && (param[0] | 0x20) == 'q' && param[1] == '=') {
                weight = ngx_neonpro_lang_parse_weight(param + 2, p);
            }
        }

        if (weight > 0) {
            if (ngx_neonpro_lang_matches(range, range_len, "pt")
                && weight > best_pt)
            {
                best_pt = weight;

            } else if (ngx_neonpro_lang_matches(range, range_len, "en")
                       && weight > best_en)
            {
                best_en = weight;
            }
        }

        p = item_end < end ? item_end + 1 : end;
    }

    return best_en > best_pt ? NGX_NEONPRO_LANG_PICK_EN
                             : NGX_NEONPRO_LANG_PICK_PT_BR;
}
