
/*
 * An incremental UTF-8 validator (RFC 3629) for text that arrives in
 * pieces, such as the frames of a WebSocket text message.
 */


#ifndef _NGX_NEONPRO_UTF8_H_INCLUDED_
#define _NGX_NEONPRO_UTF8_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* the values of nginx's NGX_OK and NGX_ERROR */
#define NGX_NEONPRO_UTF8_OK        0
#define NGX_NEONPRO_UTF8_INVALID  -1


/*
 * The validator state: 0 between code points, otherwise the bytes still
 * expected of the current sequence and the range its next byte must be in.
 */
typedef struct {
    uint32_t  state;
} ngx_neonpro_utf8_t;


void ngx_neonpro_utf8_init(ngx_neonpro_utf8_t *u);
int ngx_neonpro_utf8_feed(ngx_neonpro_utf8_t *u, const unsigned char *p,
    size_t len);
int ngx_neonpro_utf8_complete(const ngx_neonpro_utf8_t *u);
int ngx_neonpro_utf8_valid(const unsigned char *p, size_t len);


#endif /* _NGX_NEONPRO_UTF8_H_INCLUDED_ */
