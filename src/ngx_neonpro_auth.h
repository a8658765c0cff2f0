
/*
 * Identity: JWT verification for HTTP locations and the chat handshake
 * (src/ngx_neonpro_jwt.c does the cryptography), the verified identity for
 * variables, upstreams and the chat, and the role gate.
 */


#ifndef _NGX_NEONPRO_AUTH_H_INCLUDED_
#define _NGX_NEONPRO_AUTH_H_INCLUDED_


#include "ngx_neonpro.h"
#include "ngx_neonpro_jwt.h"


#define NGX_NEONPRO_AUTH_OFF       0
#define NGX_NEONPRO_AUTH_REQUIRED  1
#define NGX_NEONPRO_AUTH_OPTIONAL  2


/* A JWK Set that each worker fetches from a URL and refreshes. */
typedef struct {
    ngx_str_t                   url;       /* NUL-terminated */
    void                       *resolve;   /* a curl_slist */
    ngx_str_t                   issuer;
    ngx_msec_t                  interval;

    /* this worker's copy: the last good key set, and its refresh */
    ngx_neonpro_jwt_keyset_t   *keys;
    ngx_uint_t                  generation;
    ngx_event_t                 timer;
    void                       *easy;
    u_char                     *body;
    size_t                      body_len;
    long                        status;
} ngx_neonpro_auth_remote_t;


typedef struct {
    ngx_uint_t                  mode;
    ngx_neonpro_jwt_keyset_t   *keys;
    ngx_neonpro_auth_remote_t  *remote;
    ngx_uint_t                  algorithms;
    ngx_array_t                *issuers;     /* of ngx_neonpro_jwt_str_t */
    ngx_array_t                *audiences;   /* of ngx_neonpro_jwt_str_t */
    ngx_array_t                *required;    /* of ngx_neonpro_jwt_str_t */
    time_t                      leeway;
    size_t                      max_size;
    ngx_str_t                   cookie;
    ngx_uint_t                  cache_size;

    /* the claims that name the user, the clinic and the role */
    ngx_str_t                   claim_user;
    ngx_str_t                   claim_clinic;
    ngx_str_t                   claim_role;

    ngx_array_t                *roles;       /* of ngx_neonpro_jwt_str_t */

    /* this worker's cache of verified tokens, made on first use */
    void                       *cache;
} ngx_neonpro_auth_conf_t;


/*
 * The verified identity of a request.  The strings point into the claims,
 * which the request keeps until its pool is freed; they are not NUL-terminated.
 */
struct ngx_neonpro_identity_s {
    json_t                     *claims;
    time_t                      expires;     /* exp and leeway, or 0 */
    ngx_str_t                   user;
    ngx_str_t                   clinic;
    ngx_str_t                   role;
};


void ngx_neonpro_auth_init_conf(ngx_neonpro_auth_conf_t *conf);
char *ngx_neonpro_auth_merge_conf(ngx_conf_t *cf,
    ngx_neonpro_auth_conf_t *prev, ngx_neonpro_auth_conf_t *conf);

char *ngx_neonpro_auth_key(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *acf);
char *ngx_neonpro_auth_jwks_url(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *acf,
    ngx_array_t *remotes);
ngx_int_t ngx_neonpro_auth_init_process(ngx_cycle_t *cycle,
    ngx_array_t *remotes);
void ngx_neonpro_auth_exit_process(ngx_array_t *remotes);
char *ngx_neonpro_auth_algorithms(ngx_conf_t *cf,
    ngx_neonpro_auth_conf_t *acf);
char *ngx_neonpro_auth_claims(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *acf);
char *ngx_neonpro_auth_list(ngx_conf_t *cf, ngx_array_t **list);

ngx_int_t ngx_neonpro_auth_check(ngx_http_request_t *r,
    ngx_neonpro_auth_conf_t *acf);
ngx_neonpro_identity_t *ngx_neonpro_auth_identity(ngx_http_request_t *r);
ngx_int_t ngx_neonpro_auth_add_variables(ngx_conf_t *cf);


#endif /* _NGX_NEONPRO_AUTH_H_INCLUDED_ */
