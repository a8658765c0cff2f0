
/*
 * JSON error responses: {"error":{"code","message","retryable"}} with the
 * message in Brazilian Portuguese or English.
 */


#ifndef _NGX_NEONPRO_ERROR_H_INCLUDED_
#define _NGX_NEONPRO_ERROR_H_INCLUDED_


#include "ngx_neonpro.h"


#define NGX_NEONPRO_DETAIL_MAX      96
#define NGX_NEONPRO_REQUEST_ID_MAX  128


ngx_int_t ngx_neonpro_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, ngx_str_t *detail);
void ngx_neonpro_error_quote(ngx_pool_t *pool, ngx_str_t *out,
    const char *prefix, ngx_str_t *value);
const char *ngx_neonpro_error_default_code(ngx_uint_t status,
    ngx_uint_t agent);
ngx_int_t ngx_neonpro_error_prepare(ngx_http_request_t *r,
    ngx_neonpro_ctx_t *ctx);
ngx_neonpro_lang_e ngx_neonpro_request_lang(ngx_http_request_t *r);
ngx_int_t ngx_neonpro_request_id(ngx_http_request_t *r,
    ngx_neonpro_ctx_t *ctx);
ngx_int_t ngx_neonpro_error_not_allowed(ngx_http_request_t *r,
    const char *allow);


#endif /* _NGX_NEONPRO_ERROR_H_INCLUDED_ */
