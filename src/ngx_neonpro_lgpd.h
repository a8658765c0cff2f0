
/*
 * The LGPD filter's configuration and its response policy, shared by
 * ngx_neonpro_lgpd_filter.c (directives and wiring) and
 * src/ngx_neonpro_lgpd_policy.c (what a response gets).
 */


#ifndef _NGX_NEONPRO_LGPD_H_INCLUDED_
#define _NGX_NEONPRO_LGPD_H_INCLUDED_


#include "ngx_neonpro.h"


/* the cache policies, indexed by ngx_neonpro_lgpd_policy_index() */
#define NGX_NEONPRO_POLICY_PATIENT       0
#define NGX_NEONPRO_POLICY_API           1
#define NGX_NEONPRO_POLICY_CREDENTIALED  2
#define NGX_NEONPRO_POLICY_IMAGE         3
#define NGX_NEONPRO_POLICY_STATIC        4
#define NGX_NEONPRO_POLICY_ERROR         5
#define NGX_NEONPRO_POLICY_N             6

#define NGX_NEONPRO_TOKEN_MAX            64


typedef struct {
    ngx_str_t                     cache_control;
    ngx_str_t                     pragma;          /* empty: no header */
    ngx_str_t                     expires;         /* empty: no header */
    ngx_uint_t                    set;
} ngx_neonpro_cache_policy_t;


typedef struct {
    ngx_uint_t                    data_class;
    ngx_neonpro_cache_policy_t    cache[NGX_NEONPRO_POLICY_N];
    ngx_flag_t                    marker;

    /* explicit on/off or NGX_CONF_UNSET; the effective value follows it */
    ngx_flag_t                    legal_basis;
    ngx_flag_t                    check_basis;
    ngx_array_t                  *legal_bases;       /* of ngx_str_t */
    ngx_array_t                  *legal_purposes;    /* of ngx_str_t */

    ngx_flag_t                    compliance;
    ngx_array_t                  *compliance_own;
    ngx_array_t                  *compliance_headers;

    ngx_flag_t                    security;
    ngx_array_t                  *security_own;
    ngx_array_t                  *security_headers;

    /* explicit on/off or NGX_CONF_UNSET; the effective value follows it */
    ngx_flag_t                    json_errors;
    ngx_flag_t                    json_errors_on;

    /* set by neonpro_agent_pass in the same location */
    ngx_flag_t                    agent;
} ngx_neonpro_lgpd_loc_conf_t;


typedef struct {
    ngx_str_t                     name;
    ngx_uint_t                    value;
} ngx_neonpro_name_t;


extern ngx_neonpro_name_t  ngx_neonpro_lgpd_class_names[];
extern ngx_str_t           ngx_neonpro_lgpd_class_labels[];
extern ngx_str_t           ngx_neonpro_lgpd_owned[];


ngx_int_t ngx_neonpro_lgpd_check_basis(ngx_http_request_t *r,
    ngx_neonpro_lgpd_loc_conf_t *lcf, ngx_neonpro_ctx_t *ctx);
ngx_uint_t ngx_neonpro_lgpd_response_class(ngx_http_request_t *r,
    ngx_neonpro_lgpd_loc_conf_t *lcf);
ngx_int_t ngx_neonpro_lgpd_block(ngx_http_request_t *r,
    ngx_neonpro_ctx_t *ctx);
ngx_int_t ngx_neonpro_lgpd_apply_policy(ngx_http_request_t *r,
    ngx_neonpro_lgpd_loc_conf_t *lcf, ngx_neonpro_ctx_t *ctx);


#endif /* _NGX_NEONPRO_LGPD_H_INCLUDED_ */
