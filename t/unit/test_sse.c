
/*
 * Unit tests of the server-sent events parser.  Each stream is fed whole,
 * one byte at a time and cut at every point into two pieces; the events
 * must come out the same every way.  The tests end with the line
 * "N passed, N failed".
 */


#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ngx_neonpro_sse.h"


#define MAX_EVENTS  8


typedef struct {
    const char  *name;
    const char  *stream;
    size_t       max;
    int          rc;               /* what feeding the stream returns */
    int          nevents;
    const char  *events[MAX_EVENTS];
} sse_case_t;


typedef struct {
    int          n;
    char         events[MAX_EVENTS][128];
    int          stop_after;       /* the handler returns 7 after this many */
} sse_seen_t;


static const sse_case_t  cases[] = {

    { "one event", "data: hello\n\n", 64, 0, 1, { "hello" } },

    { "two events", "data: a\n\ndata: b\n\n", 64, 0, 2, { "a", "b" } },

    { "CRLF lines", "data: a\r\n\r\ndata: b\r\n\r\n", 64, 0, 2,
      { "a", "b" } },

    { "CR lines", "data: a\r\rdata: b\r\r", 64, 0, 2, { "a", "b" } },

    { "data lines joined with LF", "data: a\ndata: b\n\n", 64, 0, 1,
      { "a\nb" } },

    { "no space after the colon", "data:x\n\n", 64, 0, 1, { "x" } },

    { "only one space is dropped", "data:  x\n\n", 64, 0, 1, { " x" } },

    { "a field without a colon is empty", "data\n\n", 64, 0, 1, { "" } },

    { "comments and other fields are skipped",
      ": keep-alive\nevent: text\nid: 7\nretry: 10\ndata: y\n\n", 64, 0, 1,
      { "y" } },

    { "a blank line without data dispatches nothing", "\n\nevent: x\n\n",
      64, 0, 0, { NULL } },

    { "an unfinished event is kept back", "data: a\n\ndata: b\n", 64, 0, 1,
      { "a" } },

    { "a field named like data is not data", "datax: a\ndata : b\n\n",
      64, 0, 0, { NULL } },

    { "JSON payload", "data: {\"type\":\"text\",\"delta\":\"ol\\u00e1\"}\n\n",
      64, 0, 1, { "{\"type\":\"text\",\"delta\":\"ol\\u00e1\"}" } },

    { "a line at the limit", "data: 0123456789\n\n", 16, 0, 1,
      { "0123456789" } },

    { "a line over the limit", "data: 01234567890123\n\n", 16,
      NGX_NEONPRO_SSE_TOO_LARGE, 0, { NULL } },

    { "event data over the limit", "data: 0123456789\ndata: 0123456789\n\n",
      16, NGX_NEONPRO_SSE_TOO_LARGE, 0, { NULL } },
};


static int
on_event(void *ctx, const unsigned char *data, size_t len)
{
    sse_seen_t  *seen = ctx;

    if (seen->n < MAX_EVENTS && len < sizeof(seen->events[0])) {
        memcpy(seen->events[seen->n], data, len);
        seen->events[seen->n][len] = '\0';
    }

    seen->n++;

    return (seen->stop_after && seen->n == seen->stop_after) ? 7 : 0;
}


/* Feeds the stream in pieces cut at cut1 and cut2 and checks the events. */
static void
run_case(const sse_case_t *tc, size_t cut1, size_t cut2, const char *how)
{
    int                rc;
    char               name[256];
    size_t             len, bounds[4];
    ngx_neonpro_sse_t  p;
    sse_seen_t         seen;
    int                i;

    len = strlen(tc->stream);
    bounds[0] = 0;
    bounds[1] = cut1;
    bounds[2] = cut2;
    bounds[3] = len;

    memset(&seen, 0, sizeof(seen));
    ngx_neonpro_sse_init(&p, tc->max);

    rc = 0;

    for (i = 0; i < 3 && rc == 0; i++) {
        rc = ngx_neonpro_sse_feed(&p,
                                  (const unsigned char *) tc->stream
                                  + bounds[i],
                                  bounds[i + 1] - bounds[i], on_event, &seen);
    }

    snprintf(name, sizeof(name), "%s (%s): result", tc->name, how);
    CHECK(rc == tc->rc, name);

    snprintf(name, sizeof(name), "%s (%s): number of events", tc->name, how);
    CHECK(seen.n == tc->nevents, name);

    for (i = 0; i < tc->nevents && i < seen.n; i++) {
        snprintf(name, sizeof(name), "%s (%s): event %d", tc->name, how, i);
        CHECK(strcmp(seen.events[i], tc->events[i]) == 0, name);
    }

    ngx_neonpro_sse_free(&p);
}


static void
test_byte_by_byte(const sse_case_t *tc)
{
    int                rc;
    char               name[256];
    size_t             i, len;
    ngx_neonpro_sse_t  p;
    sse_seen_t         seen;

    memset(&seen, 0, sizeof(seen));
    ngx_neonpro_sse_init(&p, tc->max);

    len = strlen(tc->stream);
    rc = 0;

    for (i = 0; i < len && rc == 0; i++) {
        rc = ngx_neonpro_sse_feed(&p, (const unsigned char *) tc->stream + i,
                                  1, on_event, &seen);
    }

    snprintf(name, sizeof(name), "%s (byte by byte): result", tc->name);
    CHECK(rc == tc->rc, name);

    snprintf(name, sizeof(name), "%s (byte by byte): number of events",
             tc->name);
    CHECK(seen.n == tc->nevents, name);

    ngx_neonpro_sse_free(&p);
}


static void
test_handler_stops(void)
{
    int                rc;
    ngx_neonpro_sse_t  p;
    sse_seen_t         seen;
    const char        *s = "data: a\n\ndata: b\n\ndata: c\n\n";

    memset(&seen, 0, sizeof(seen));
    seen.stop_after = 2;

    ngx_neonpro_sse_init(&p, 64);
    rc = ngx_neonpro_sse_feed(&p, (const unsigned char *) s, strlen(s),
                              on_event, &seen);

    CHECK(rc == 7, "a handler's non-zero result stops the parser");
    CHECK(seen.n == 2, "no event after the handler stopped the parser");

    ngx_neonpro_sse_free(&p);
}


int
main(void)
{
    size_t  i, j, len;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = strlen(cases[i].stream);

        run_case(&cases[i], len, len, "whole");
        test_byte_by_byte(&cases[i]);

        for (j = 0; j <= len; j++) {
            run_case(&cases[i], j, j, "cut in two");
        }
    }

    test_handler_stops();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
