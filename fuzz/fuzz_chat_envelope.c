
/*
 * libFuzzer target: the neonpro.chat.v1 envelope parser and the server
 * envelope builders.
 *
 * Invariants: a parse either succeeds with a known type and the fields
 * that type requires, or fails naming a known field.  Every reply built
 * from a parse result is valid JSON with the builder's "type".  A builder
 * given the raw input as text returns such JSON when the input is valid
 * UTF-8, and NULL otherwise.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_neonpro_chat_envelope.h"
#include "ngx_neonpro_lang.h"


static const char  *fuzz_fields[] = {
    "(json)", "(envelope)", "id", "type", "session_id", "ts", "data",
    "data.content", "data.after_seq", "data.agent"
};


/* Checks that text is a JSON object of the type, then frees it. */
static void
fuzz_check_built(char *text, const char *type)
{
    json_t      *doc;
    const char  *value;

    if (text == NULL) {
        __builtin_trap();
    }

    /* raw text may hold NUL bytes, which the builders escape as \u0000 */

    doc = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (doc == NULL) {
        __builtin_trap();
    }

    value = json_string_value(json_object_get(doc, "type"));

    if (value == NULL || strcmp(value, type) != 0) {
        __builtin_trap();
    }

    json_decref(doc);
    free(text);
}


static void
fuzz_check_parsed(const ngx_neonpro_chat_envelope_t *env, size_t max_content)
{
    ngx_neonpro_chat_head_t  head;

    if (env->doc == NULL || ngx_neonpro_chat_type_name(env->type) == NULL
        || env->ts < -1 || (env->id && (env->id_len == 0
                                        || env->id_len
                                           > NGX_NEONPRO_CHAT_ID_MAX)))
    {
        __builtin_trap();
    }

    if (env->type != NGX_NEONPRO_CHAT_HELLO
        && env->type != NGX_NEONPRO_CHAT_HEARTBEAT
        && (env->session_id == NULL || env->session_id_len < 8
            || env->session_id_len > 64))
    {
        __builtin_trap();
    }

    head.id = env->id;
    head.session_id = env->session_id;
    head.ts = env->ts;

    switch (env->type) {

    case NGX_NEONPRO_CHAT_MESSAGE:
        if (env->content == NULL || env->content_len == 0
            || env->content_len > max_content)
        {
            __builtin_trap();
        }

        fuzz_check_built(ngx_neonpro_chat_build_message(&head, 1, "u-1",
                                                        "patient",
                                                        env->content,
                                                        env->content_len),
                         "message");
        break;

    case NGX_NEONPRO_CHAT_RESUME:
        if (env->after_seq < 0) {
            __builtin_trap();
        }

        fuzz_check_built(ngx_neonpro_chat_build_gap(&head, env->after_seq,
                                                    env->after_seq),
                         "gap");
        break;

    case NGX_NEONPRO_CHAT_JOIN:
        fuzz_check_built(ngx_neonpro_chat_build_joined(&head, 0, env->agent),
                         "joined");
        break;

    case NGX_NEONPRO_CHAT_LEAVE:
        fuzz_check_built(ngx_neonpro_chat_build_left(&head), "left");
        break;

    default:
        fuzz_check_built(ngx_neonpro_chat_build_heartbeat(&head),
                         "heartbeat");
        break;
    }
}


static void
fuzz_check_failed(const ngx_neonpro_chat_error_t *err)
{
    size_t       i;
    char        *text;
    json_t      *doc;
    const char  *id;

    for (i = 0; i < sizeof(fuzz_fields) / sizeof(fuzz_fields[0]); i++) {
        if (err->field && strcmp(err->field, fuzz_fields[i]) == 0) {
            break;
        }
    }

    if (i == sizeof(fuzz_fields) / sizeof(fuzz_fields[0])) {
        __builtin_trap();
    }

    text = ngx_neonpro_chat_build_invalid(err, NGX_NEONPRO_LANG_PICK_PT_BR,
                                          0);
    if (text == NULL) {
        __builtin_trap();
    }

    doc = json_loads(text, 0, NULL);
    if (doc == NULL) {
        __builtin_trap();
    }

    /* the reply echoes the id exactly when the envelope had a valid one */

    id = json_string_value(json_object_get(doc, "id"));

    if ((err->id[0] == '\0') != (id == NULL)
        || (id && strcmp(id, err->id) != 0))
    {
        __builtin_trap();
    }

    json_decref(doc);
    free(text);
}


/* The raw input as text: valid UTF-8 builds, anything else fails. */
static void
fuzz_build_raw(const uint8_t *data, size_t size)
{
    char                     *text;
    json_t                   *probe;
    ngx_neonpro_chat_head_t   head;

    head.id = NULL;
    head.session_id = "sess_1234";
    head.ts = 0;

    probe = json_stringn((const char *) data, size);

    text = ngx_neonpro_chat_build_stream_chunk(&head, "st-1", 0,
                                               (const char *) data, size);

    if (probe == NULL) {
        if (text != NULL) {
            __builtin_trap();
        }

        return;
    }

    json_decref(probe);

    fuzz_check_built(text, "stream_chunk");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                        i;
    ngx_neonpro_chat_rc_e         rc;
    ngx_neonpro_chat_error_t      err;
    ngx_neonpro_chat_envelope_t   env;

    static const size_t  limits[] = { 1, 16, 1048576 };

    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        rc = ngx_neonpro_chat_parse(data, size, limits[i], &env, &err);

        if (rc == NGX_NEONPRO_CHAT_OK) {
            if (err.field != NULL) {
                __builtin_trap();
            }

            fuzz_check_parsed(&env, limits[i]);
            ngx_neonpro_chat_envelope_free(&env);

        } else if (rc == NGX_NEONPRO_CHAT_INVALID) {
            if (env.doc != NULL) {
                __builtin_trap();
            }

            fuzz_check_failed(&err);
        }
    }

    fuzz_build_raw(data, size);

    return 0;
}
