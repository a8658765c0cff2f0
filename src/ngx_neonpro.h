
/*
 * ngx_neonpro: declarations shared by the suite's nginx modules.
 */


#ifndef _NGX_NEONPRO_H_INCLUDED_
#define _NGX_NEONPRO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_NEONPRO_VERSION  "0.1.0"


/* data classes, ordered from the least to the most protected */
typedef enum {
    NGX_NEONPRO_CLASS_NONE = 0,
    NGX_NEONPRO_CLASS_STATIC,
    NGX_NEONPRO_CLASS_IMAGE,
    NGX_NEONPRO_CLASS_API,
    NGX_NEONPRO_CLASS_PATIENT
} ngx_neonpro_class_e;


typedef enum {
    NGX_NEONPRO_LANG_PT_BR = 0,
    NGX_NEONPRO_LANG_EN
} ngx_neonpro_lang_e;


/* the verified identity of a request, see src/ngx_neonpro_auth.h */
typedef struct ngx_neonpro_identity_s  ngx_neonpro_identity_t;


/*
 * Per-request state of the suite, owned by ngx_neonpro_lgpd_filter_module
 * because its header and body filters act on it: the class applied, the
 * legal basis accepted, and a pending JSON error that replaces the body.
 */
typedef struct {
    ngx_uint_t                data_class;
    ngx_str_t                 legal_basis;

    ngx_str_t                 request_id;

    /* set by the JWT check; NULL for an anonymous request */
    ngx_neonpro_identity_t   *identity;

    ngx_uint_t                error_status;
    const char               *error_code;
    ngx_str_t                 error_detail;
    ngx_buf_t                *error_body;

    unsigned                  class_applied:1;
    unsigned                  basis_checked:1;
    unsigned                  agent:1;
    /* the upstream's response is to be replaced by the recorded error */
    unsigned                  replace_response:1;
    unsigned                  replace_body:1;
    unsigned                  replacement_sent:1;
} ngx_neonpro_ctx_t;


extern ngx_module_t  ngx_neonpro_module;
extern ngx_module_t  ngx_neonpro_lgpd_filter_module;
extern ngx_module_t  ngx_neonpro_ws_module;


ngx_neonpro_ctx_t *ngx_neonpro_get_ctx(ngx_http_request_t *r);


/* nginx's cached time in milliseconds, as chat envelopes carry it */
static ngx_inline int64_t
ngx_neonpro_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}

ngx_table_elt_t *ngx_neonpro_find_header_in(ngx_http_request_t *r,
    const char *name, size_t len);
void ngx_neonpro_lgpd_mark_agent(ngx_conf_t *cf);

/* slot setters that quote a bad value and name the expected form */
char *ngx_neonpro_conf_set_msec(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_neonpro_conf_set_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_neonpro_conf_set_num(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_NEONPRO_H_INCLUDED_ */
