
/*
 * neonpro_agent_pass: requests to the AI agent through nginx's upstream
 * machinery.
 */


#ifndef _NGX_NEONPRO_AGENT_H_INCLUDED_
#define _NGX_NEONPRO_AGENT_H_INCLUDED_


#include "ngx_neonpro.h"
#include "ngx_neonpro_auth.h"


typedef struct {
    ngx_http_upstream_conf_t   upstream;
    ngx_str_t                  host;          /* the Host header sent */
    ngx_uint_t                 contract;
    size_t                     max_message_length;
    /* the location that has neonpro_agent_pass itself */
    ngx_http_core_loc_conf_t  *clcf;

    /* any location's identity check and role gate */
    ngx_neonpro_auth_conf_t    auth;

    /* any location's rate limits, of ngx_neonpro_ratelimit_t */
    ngx_array_t               *limits;
    ngx_uint_t                 limit_headers;
} ngx_neonpro_agent_loc_conf_t;


ngx_int_t ngx_neonpro_agent_handler(ngx_http_request_t *r);


#endif /* _NGX_NEONPRO_AGENT_H_INCLUDED_ */
