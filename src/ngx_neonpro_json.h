
/*
 * A validating JSON scanner (RFC 8259) that builds nothing.  It checks
 * whether a request body is valid JSON at a fraction of the cost of
 * parsing it into a document.
 */


#ifndef _NGX_NEONPRO_JSON_H_INCLUDED_
#define _NGX_NEONPRO_JSON_H_INCLUDED_


#include <stddef.h>


/* the nesting limit of jansson 2.14 (JSON_PARSER_MAX_DEPTH) */
#define NGX_NEONPRO_JSON_MAX_DEPTH  2048


int ngx_neonpro_json_valid(const unsigned char *p, size_t len);


#endif /* _NGX_NEONPRO_JSON_H_INCLUDED_ */
