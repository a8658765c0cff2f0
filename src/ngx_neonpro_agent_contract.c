
/*
 * Field checks of the agent contract on a parsed JSON body.
 *
 * Pure code on jansson values: no nginx types, so the unit tests and the
 * fuzzer link it alone.
 */


#include <string.h>

#include "ngx_neonpro_agent_contract.h"


int
ngx_neonpro_session_id_valid(const char *p, size_t len)
{
    size_t  i;
    char    c;

    if (len < NGX_NEONPRO_SESSION_ID_MIN || len > NGX_NEONPRO_SESSION_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* Checks a required non-empty string field of at most max_text bytes. */
static ngx_neonpro_contract_rc_e
ngx_neonpro_contract_check_text(json_t *value, size_t max_text)
{
    if (!json_is_string(value) || json_string_length(value) == 0) {
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    if (json_string_length(value) > max_text) {
        return NGX_NEONPRO_CONTRACT_TOO_LARGE;
    }

    return NGX_NEONPRO_CONTRACT_OK;
}


static ngx_neonpro_contract_rc_e
ngx_neonpro_contract_check_chat(json_t *body, size_t max_text,
    const char **field)
{
    json_t                     *value, *message;
    ngx_neonpro_contract_rc_e   rc;

    value = json_object_get(body, "session_id");

    if (!json_is_string(value)
        || !ngx_neonpro_session_id_valid(json_string_value(value),
                                         json_string_length(value)))
    {
        *field = "session_id";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    message = json_object_get(body, "message");

    if (!json_is_object(message)) {
        *field = "message";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    rc = ngx_neonpro_contract_check_text(json_object_get(message, "content"),
                                         max_text);
    if (rc != NGX_NEONPRO_CONTRACT_OK) {
        *field = "message.content";
        return rc;
    }

    value = json_object_get(message, "id");

    if (value && !json_is_string(value)) {
        *field = "message.id";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    value = json_object_get(body, "history");

    if (value && !json_is_array(value)) {
        *field = "history";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    value = json_object_get(body, "stream");

    if (value && !json_is_boolean(value)) {
        *field = "stream";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    value = json_object_get(body, "locale");

    if (value && !json_is_string(value)) {
        *field = "locale";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    return NGX_NEONPRO_CONTRACT_OK;
}


static ngx_neonpro_contract_rc_e
ngx_neonpro_contract_check_query(json_t *body, size_t max_text,
    const char **field)
{
    json_t                     *value;
    ngx_neonpro_contract_rc_e   rc;

    rc = ngx_neonpro_contract_check_text(json_object_get(body, "query"),
                                         max_text);
    if (rc != NGX_NEONPRO_CONTRACT_OK) {
        *field = "query";
        return rc;
    }

    value = json_object_get(body, "context");

    if (value && !json_is_object(value) && !json_is_null(value)) {
        *field = "context";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    return NGX_NEONPRO_CONTRACT_OK;
}


/*
 * Returns NGX_NEONPRO_CONTRACT_OK, or the failure with *field naming the
 * first field that failed.
 */
ngx_neonpro_contract_rc_e
ngx_neonpro_contract_check(json_t *body, int contract, size_t max_text,
    const char **field)
{
    *field = NULL;

    if (contract == NGX_NEONPRO_CONTRACT_JSON) {
        return NGX_NEONPRO_CONTRACT_OK;
    }

    if (!json_is_object(body)) {
        *field = "body";
        return NGX_NEONPRO_CONTRACT_INVALID;
    }

    if (contract == NGX_NEONPRO_CONTRACT_CHAT) {
        return ngx_neonpro_contract_check_chat(body, max_text, field);
    }

    return ngx_neonpro_contract_check_query(body, max_text, field);
}


/*
 * Replaces the body's "user" with the identity nginx vouches for; a NULL
 * clinic_id becomes JSON null.  Returns 0 on success, -1 on memory failure.
 */
int
ngx_neonpro_contract_set_user(json_t *body, const char *id, const char *role,
    const char *clinic_id)
{
    json_t  *user;

    user = json_pack("{s:s,s:s,s:o}", "id", id, "role", role, "clinic_id",
                     clinic_id ? json_string(clinic_id) : json_null());
    if (user == NULL) {
        return -1;
    }

    return json_object_set_new(body, "user", user) == 0 ? 0 : -1;
}
