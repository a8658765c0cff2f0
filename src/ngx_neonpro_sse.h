
/*
 * An incremental parser of server-sent events (the HTML "event stream"
 * format): bytes in, the data of each complete event out.  Pure C with
 * malloc, so that unit tests and the fuzzer run it without nginx.
 */


#ifndef _NGX_NEONPRO_SSE_H_INCLUDED_
#define _NGX_NEONPRO_SSE_H_INCLUDED_


#include <stddef.h>


#define NGX_NEONPRO_SSE_OK         0
#define NGX_NEONPRO_SSE_TOO_LARGE  -1
#define NGX_NEONPRO_SSE_NOMEM      -2


/*
 * Receives the data of one event: its "data" lines joined with "\n".
 * Returns 0 to go on; any other value stops the parser and is returned by
 * ngx_neonpro_sse_feed().
 */
typedef int (*ngx_neonpro_sse_event_pt)(void *ctx, const unsigned char *data,
    size_t len);


typedef struct {
    unsigned char  *line;
    size_t          line_len;
    size_t          line_size;

    unsigned char  *data;
    size_t          data_len;
    size_t          data_size;

    size_t          max;          /* the largest line and event data */
    unsigned        has_data:1;
    unsigned        after_cr:1;
} ngx_neonpro_sse_t;


void ngx_neonpro_sse_init(ngx_neonpro_sse_t *p, size_t max);
int ngx_neonpro_sse_feed(ngx_neonpro_sse_t *p, const unsigned char *in,
    size_t len, ngx_neonpro_sse_event_pt handler, void *ctx);
void ngx_neonpro_sse_free(ngx_neonpro_sse_t *p);


#endif /* _NGX_NEONPRO_SSE_H_INCLUDED_ */
