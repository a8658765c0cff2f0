
/*
 * Server-sent events, as the HTML standard's "event stream interpretation"
 * defines them.  Lines end with CRLF, LF or CR, and a blank line dispatches
 * the event.  A line that starts with ":" is a comment, and "field: value"
 * loses one space after the colon.  Only the data field matters to the chat
 * module, so event, id and retry lines are read and dropped.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_neonpro_sse.h"


static int ngx_neonpro_sse_append(unsigned char **buf, size_t *len,
    size_t *size, size_t max, const unsigned char *p, size_t n);
static int ngx_neonpro_sse_line(ngx_neonpro_sse_t *p,
    ngx_neonpro_sse_event_pt handler, void *ctx);


void
ngx_neonpro_sse_init(ngx_neonpro_sse_t *p, size_t max)
{
    memset(p, 0, sizeof(ngx_neonpro_sse_t));
    p->max = max;
}


void
ngx_neonpro_sse_free(ngx_neonpro_sse_t *p)
{
    free(p->line);
    free(p->data);

    p->line = NULL;
    p->data = NULL;
    p->line_len = p->line_size = 0;
    p->data_len = p->data_size = 0;
}


int
ngx_neonpro_sse_feed(ngx_neonpro_sse_t *p, const unsigned char *in,
    size_t len, ngx_neonpro_sse_event_pt handler, void *ctx)
{
    int                   rc;
    size_t                n;
    const unsigned char  *end, *eol;

    end = in + len;

    while (in < end) {

        if (p->after_cr) {
            p->after_cr = 0;

            /* the LF of a CRLF ends no second line */

            if (*in == '\n') {
                in++;
                continue;
            }
        }

        for (eol = in; eol < end && *eol != '\n' && *eol != '\r'; eol++) {
            /* void */
        }

        n = (size_t) (eol - in);

        if (n) {
            rc = ngx_neonpro_sse_append(&p->line, &p->line_len, &p->line_size,
                                        p->max, in, n);
            if (rc != NGX_NEONPRO_SSE_OK) {
                return rc;
            }
        }

        if (eol == end) {
            break;
        }

        p->after_cr = (*eol == '\r');
        in = eol + 1;

        rc = ngx_neonpro_sse_line(p, handler, ctx);
        p->line_len = 0;

        if (rc != NGX_NEONPRO_SSE_OK) {
            return rc;
        }
    }

    return NGX_NEONPRO_SSE_OK;
}


static int
ngx_neonpro_sse_line(ngx_neonpro_sse_t *p, ngx_neonpro_sse_event_pt handler,
    void *ctx)
{
    int             rc;
    size_t          name_len, value_len;
    unsigned char  *colon, *value;

    if (p->line_len == 0) {

        /* a blank line: dispatch, dropping the last data line's "\n" */

        if (!p->has_data) {
            return NGX_NEONPRO_SSE_OK;
        }

        p->has_data = 0;
        p->data_len--;

        rc = handler(ctx, p->data, p->data_len);
        p->data_len = 0;

        return rc;
    }

    if (p->line[0] == ':') {
        return NGX_NEONPRO_SSE_OK;
    }

    colon = memchr(p->line, ':', p->line_len);

    if (colon) {
        name_len = (size_t) (colon - p->line);
        value = colon + 1;
        value_len = p->line_len - name_len - 1;

        if (value_len && *value == ' ') {
            value++;
            value_len--;
        }

    } else {
        name_len = p->line_len;
        value = p->line + p->line_len;
        value_len = 0;
    }

    if (name_len != 4 || memcmp(p->line, "data", 4) != 0) {
        return NGX_NEONPRO_SSE_OK;
    }

    rc = ngx_neonpro_sse_append(&p->data, &p->data_len, &p->data_size,
                                p->max + 1, value, value_len);
    if (rc != NGX_NEONPRO_SSE_OK) {
        return rc;
    }

    p->has_data = 1;

    return ngx_neonpro_sse_append(&p->data, &p->data_len, &p->data_size,
                                  p->max + 1, (const unsigned char *) "\n", 1);
}


static int
ngx_neonpro_sse_append(unsigned char **buf, size_t *len, size_t *size,
    size_t max, const unsigned char *p, size_t n)
{
    size_t          want;
    unsigned char  *b;

    if (n == 0) {
        return NGX_NEONPRO_SSE_OK;
    }

    if (n > max - *len) {
        return NGX_NEONPRO_SSE_TOO_LARGE;
    }

    if (*len + n > *size) {
        want = *size ? *size * 2 : 256;

        while (want < *len + n) {
            want *= 2;
        }

        if (want > max) {
            want = max;
        }

        b = realloc(*buf, want);
        if (b == NULL) {
            return NGX_NEONPRO_SSE_NOMEM;
        }

        *buf = b;
        *size = want;
    }

    memcpy(*buf + *len, p, n);
    *len += n;

    return NGX_NEONPRO_SSE_OK;
}
