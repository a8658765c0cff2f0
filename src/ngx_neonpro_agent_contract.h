
/*
 * Request checks of the agent contract: the fields of POST /v1/chat and
 * POST /api/agent/query bodies.
 */


#ifndef _NGX_NEONPRO_AGENT_CONTRACT_H_INCLUDED_
#define _NGX_NEONPRO_AGENT_CONTRACT_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


#define NGX_NEONPRO_CONTRACT_JSON   0
#define NGX_NEONPRO_CONTRACT_CHAT   1
#define NGX_NEONPRO_CONTRACT_QUERY  2

#define NGX_NEONPRO_SESSION_ID_MIN  8
#define NGX_NEONPRO_SESSION_ID_MAX  64


typedef enum {
    NGX_NEONPRO_CONTRACT_OK = 0,
    NGX_NEONPRO_CONTRACT_INVALID,      /* a field is missing or wrong */
    NGX_NEONPRO_CONTRACT_TOO_LARGE     /* a text field is over the limit */
} ngx_neonpro_contract_rc_e;


ngx_neonpro_contract_rc_e ngx_neonpro_contract_check(json_t *body,
    int contract, size_t max_text, const char **field);
int ngx_neonpro_contract_set_user(json_t *body, const char *id,
    const char *role, const char *clinic_id);
int ngx_neonpro_session_id_valid(const char *p, size_t len);


#endif /* _NGX_NEONPRO_AGENT_CONTRACT_H_INCLUDED_ */
