
/*
 * Header lists of the LGPD filter: configured name/value pairs, their
 * per-name inheritance, and edits of a response's header list.
 */


#ifndef _NGX_NEONPRO_HEADERS_H_INCLUDED_
#define _NGX_NEONPRO_HEADERS_H_INCLUDED_


#include "ngx_neonpro.h"


typedef struct {
    ngx_str_t    name;
    ngx_str_t    lowcase_name;
    ngx_str_t    value;
    unsigned     removed:1;        /* "off": drops an inherited header */
    unsigned     patient_only:1;
} ngx_neonpro_header_t;


typedef struct {
    const char  *name;
    const char  *value;
    ngx_uint_t   patient_only;
} ngx_neonpro_header_default_t;


ngx_array_t *ngx_neonpro_headers_defaults(ngx_conf_t *cf,
    ngx_neonpro_header_default_t *defaults);
ngx_int_t ngx_neonpro_headers_set(ngx_conf_t *cf, ngx_array_t **list,
    ngx_str_t *name, ngx_str_t *value, ngx_uint_t patient_only);
ngx_array_t *ngx_neonpro_headers_overlay(ngx_conf_t *cf, ngx_array_t *own,
    ngx_array_t *inherited);

ngx_table_elt_t *ngx_neonpro_headers_push(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *lowcase_name, ngx_str_t *value);
ngx_uint_t ngx_neonpro_headers_match(ngx_table_elt_t *h, ngx_str_t *lowcase);


#endif /* _NGX_NEONPRO_HEADERS_H_INCLUDED_ */
