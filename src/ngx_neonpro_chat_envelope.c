
/*
 * Envelopes of neonpro.chat.v1: client envelopes are parsed and checked
 * with jansson, server envelopes are built with jansson and serialized as
 * compact JSON text.
 *
 * Pure code on bytes and jansson values: no nginx types, so the unit tests
 * and the fuzzer link it alone.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_neonpro_agent_contract.h"
#include "ngx_neonpro_chat_envelope.h"
#include "ngx_neonpro_lang.h"


/* indexes of ngx_neonpro_chat_rules */
enum {
    NGX_NEONPRO_CHAT_RULE_JSON = 0,
    NGX_NEONPRO_CHAT_RULE_ENVELOPE,
    NGX_NEONPRO_CHAT_RULE_ID,
    NGX_NEONPRO_CHAT_RULE_TYPE,
    NGX_NEONPRO_CHAT_RULE_SESSION_ID,
    NGX_NEONPRO_CHAT_RULE_TS,
    NGX_NEONPRO_CHAT_RULE_DATA,
    NGX_NEONPRO_CHAT_RULE_CONTENT,
    NGX_NEONPRO_CHAT_RULE_CONTENT_SIZE,
    NGX_NEONPRO_CHAT_RULE_AFTER_SEQ,
    NGX_NEONPRO_CHAT_RULE_AGENT
};


/*
 * The field each rule names and the message sent to the client.  Each
 * message has at most one "%zu": the byte offset for "(json)", the limit
 * for an oversized "data.content".
 */
typedef struct {
    const char  *field;
    const char  *pt_br;
    const char  *en;
} ngx_neonpro_chat_rule_t;


typedef struct {
    const char  *name;
    unsigned     retryable:1;
} ngx_neonpro_chat_code_t;


static const ngx_neonpro_chat_rule_t  ngx_neonpro_chat_rules[] = {

    { "(json)",
      "JSON inválido no byte %zu.",
      "Invalid JSON at byte %zu." },

    { "(envelope)",
      "Envelope inválido: use um objeto JSON.",
      "Invalid envelope: use a JSON object." },

    { "id",
      "Campo inválido \"id\": use de 1 a 64 caracteres ASCII imprimíveis.",
      "Invalid field \"id\": use 1 to 64 printable ASCII characters." },

    { "type",
      "Campo inválido ou ausente \"type\": use hello, join, leave, message,"
      " resume ou heartbeat.",
      "Invalid or missing field \"type\": use hello, join, leave, message,"
      " resume or heartbeat." },

    { "session_id",
      "Campo inválido ou ausente \"session_id\": use de 8 a 64 caracteres"
      " entre A-Z, a-z, 0-9, \"_\" e \"-\".",
      "Invalid or missing field \"session_id\": use 8 to 64 characters of"
      " A-Z, a-z, 0-9, \"_\" and \"-\"." },

    { "ts",
      "Campo inválido \"ts\": use um inteiro não negativo de milissegundos"
      " desde a época Unix.",
      "Invalid field \"ts\": use a non-negative integer of milliseconds"
      " since the Unix epoch." },

    { "data",
      "Campo inválido \"data\": use um objeto JSON.",
      "Invalid field \"data\": use a JSON object." },

    { "data.content",
      "Campo inválido ou ausente \"data.content\": use um texto não vazio.",
      "Invalid or missing field \"data.content\": use a non-empty string." },

    { "data.content",
      "O campo \"data.content\" excede %zu bytes.",
      "Field \"data.content\" exceeds %zu bytes." },

    { "data.after_seq",
      "Campo inválido ou ausente \"data.after_seq\": use um inteiro não"
      " negativo.",
      "Invalid or missing field \"data.after_seq\": use a non-negative"
      " integer." },

    { "data.agent",
      "Campo inválido \"data.agent\": use true ou false.",
      "Invalid field \"data.agent\": use true or false." }
};


/* in the order of ngx_neonpro_chat_type_e */
static const char  *ngx_neonpro_chat_types[] = {
    "hello", "join", "leave", "message", "resume", "heartbeat"
};


/* in the order of ngx_neonpro_chat_code_e */
static const ngx_neonpro_chat_code_t  ngx_neonpro_chat_codes[] = {
    { "AUTHENTICATION_FAILED", 0 },
    { "AUTHORIZATION_FAILED", 0 },
    { "INVALID_MESSAGE", 0 },
    { "RATE_LIMITED", 1 },
    { "TIMEOUT", 1 },
    { "SESSION_EXPIRED", 0 },
    { "AI_SERVICE_ERROR", 1 },
    { "INTERNAL_ERROR", 1 }
};


#define ngx_neonpro_chat_nelts(a)  (sizeof(a) / sizeof((a)[0]))


static ngx_neonpro_chat_rc_e
ngx_neonpro_chat_fail(ngx_neonpro_chat_error_t *err, int rule)
{
    err->field = ngx_neonpro_chat_rules[rule].field;
    err->rule = rule;

    return NGX_NEONPRO_CHAT_INVALID;
}


/* Checks the optional "id": 1 to 64 bytes of printable ASCII. */
static int
ngx_neonpro_chat_id_valid(json_t *value)
{
    size_t       i, len;
    const char  *p;

    if (!json_is_string(value)) {
        return 0;
    }

    p = json_string_value(value);
    len = json_string_length(value);

    if (len == 0 || len > NGX_NEONPRO_CHAT_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) p[i] < 0x20 || (unsigned char) p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_neonpro_chat_type_lookup(json_t *value, ngx_neonpro_chat_type_e *type)
{
    size_t       i;
    const char  *name;

    if (!json_is_string(value)) {
        return 0;
    }

    name = json_string_value(value);

    /* the length check also rejects a name with a NUL byte inside */

    for (i = 0; i < ngx_neonpro_chat_nelts(ngx_neonpro_chat_types); i++) {
        if (strlen(ngx_neonpro_chat_types[i]) == json_string_length(value)
            && strcmp(ngx_neonpro_chat_types[i], name) == 0)
        {
            *type = (ngx_neonpro_chat_type_e) i;
            return 1;
        }
    }

    return 0;
}


static int
ngx_neonpro_chat_non_negative(json_t *value)
{
    return json_is_integer(value) && json_integer_value(value) >= 0;
}


/* Checks the fields that depend on the type; env->data is an object. */
static ngx_neonpro_chat_rc_e
ngx_neonpro_chat_parse_data(ngx_neonpro_chat_envelope_t *env,
    size_t max_content, ngx_neonpro_chat_error_t *err)
{
    json_t  *value;

    switch (env->type) {

    case NGX_NEONPRO_CHAT_MESSAGE:
        value = json_object_get(env->data, "content");

        if (!json_is_string(value) || json_string_length(value) == 0) {
            return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_CONTENT);
        }

        if (json_string_length(value) > max_content) {
            err->limit = max_content;
            return ngx_neonpro_chat_fail(err,
                                         NGX_NEONPRO_CHAT_RULE_CONTENT_SIZE);
        }

        env->content = json_string_value(value);
        env->content_len = json_string_length(value);
        break;

    case NGX_NEONPRO_CHAT_RESUME:
        value = json_object_get(env->data, "after_seq");

        if (!ngx_neonpro_chat_non_negative(value)) {
            return ngx_neonpro_chat_fail(err,
                                         NGX_NEONPRO_CHAT_RULE_AFTER_SEQ);
        }

        env->after_seq = json_integer_value(value);
        break;

    case NGX_NEONPRO_CHAT_JOIN:
        value = json_object_get(env->data, "agent");

        if (value != NULL && !json_is_boolean(value)) {
            return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_AGENT);
        }

        env->agent = value == NULL || json_is_true(value);
        break;

    default:
        /* hello, leave and heartbeat read nothing from "data" */
        break;
    }

    return NGX_NEONPRO_CHAT_OK;
}


/*
 * Checks the fields of an envelope object in a fixed order, "id" first so
 * that an error reply can echo it.  Unknown fields are ignored, so a later
 * protocol version may add some.
 */
static ngx_neonpro_chat_rc_e
ngx_neonpro_chat_parse_fields(ngx_neonpro_chat_envelope_t *env,
    size_t max_content, ngx_neonpro_chat_error_t *err)
{
    int      required;
    json_t  *value, *data;

    value = json_object_get(env->doc, "id");

    if (value != NULL) {
        if (!ngx_neonpro_chat_id_valid(value)) {
            return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_ID);
        }

        env->id = json_string_value(value);
        env->id_len = json_string_length(value);

        memcpy(err->id, env->id, env->id_len + 1);
    }

    if (!ngx_neonpro_chat_type_lookup(json_object_get(env->doc, "type"),
                                      &env->type))
    {
        return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_TYPE);
    }

    /* hello and heartbeat act on the connection, every other type on a
       session; a session_id sent with hello or heartbeat is still checked */

    required = env->type != NGX_NEONPRO_CHAT_HELLO
               && env->type != NGX_NEONPRO_CHAT_HEARTBEAT;

    value = json_object_get(env->doc, "session_id");

    if (value != NULL || required) {
        if (!json_is_string(value)
            || !ngx_neonpro_session_id_valid(json_string_value(value),
                                             json_string_length(value)))
        {
            return ngx_neonpro_chat_fail(err,
                                         NGX_NEONPRO_CHAT_RULE_SESSION_ID);
        }

        env->session_id = json_string_value(value);
        env->session_id_len = json_string_length(value);
    }

    value = json_object_get(env->doc, "ts");

    if (value != NULL) {
        if (!ngx_neonpro_chat_non_negative(value)) {
            return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_TS);
        }

        env->ts = json_integer_value(value);
    }

    data = json_object_get(env->doc, "data");

    if (data != NULL && !json_is_object(data)) {
        return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_DATA);
    }

    env->data = data;

    return ngx_neonpro_chat_parse_data(env, max_content, err);
}


/*
 * Parses one client envelope, the payload of a text message.  A
 * "data.content" longer than max_content bytes fails.  Returns
 * NGX_NEONPRO_CHAT_OK with env->doc owning the document: the caller
 * releases it with ngx_neonpro_chat_envelope_free().  Returns
 * NGX_NEONPRO_CHAT_INVALID with err->field naming the failed field, or
 * NGX_NEONPRO_CHAT_NOMEM; on both nothing is left to free and env is
 * zeroed.
 *
 * Duplicate keys fail as "(json)", so no other JSON parser that reads
 * the same text later can see a different value for a field.  A text that
 * is valid JSON but no object, such as "42", fails as "(envelope)".
 */
ngx_neonpro_chat_rc_e
ngx_neonpro_chat_parse(const unsigned char *p, size_t len,
    size_t max_content, ngx_neonpro_chat_envelope_t *env,
    ngx_neonpro_chat_error_t *err)
{
    json_t                 *doc;
    json_error_t            error;
    ngx_neonpro_chat_rc_e   rc;

    memset(env, 0, sizeof(ngx_neonpro_chat_envelope_t));
    memset(err, 0, sizeof(ngx_neonpro_chat_error_t));

    doc = json_loadb((const char *) p, len,
                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);

    if (doc == NULL) {
        if (json_error_code(&error) == json_error_out_of_memory) {
            return NGX_NEONPRO_CHAT_NOMEM;
        }

        err->position = (size_t) error.position;

        return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_JSON);
    }

    if (!json_is_object(doc)) {
        json_decref(doc);
        return ngx_neonpro_chat_fail(err, NGX_NEONPRO_CHAT_RULE_ENVELOPE);
    }

    env->doc = doc;
    env->ts = -1;
    env->after_seq = -1;

    rc = ngx_neonpro_chat_parse_fields(env, max_content, err);

    if (rc != NGX_NEONPRO_CHAT_OK) {
        json_decref(doc);
        memset(env, 0, sizeof(ngx_neonpro_chat_envelope_t));
    }

    return rc;
}


void
ngx_neonpro_chat_envelope_free(ngx_neonpro_chat_envelope_t *env)
{
    json_decref(env->doc);
    env->doc = NULL;
}


const char *
ngx_neonpro_chat_type_name(ngx_neonpro_chat_type_e type)
{
    if ((size_t) type >= ngx_neonpro_chat_nelts(ngx_neonpro_chat_types)) {
        return NULL;
    }

    return ngx_neonpro_chat_types[type];
}


/*
 * Writes the client message of a failed parse, in Brazilian Portuguese or
 * in English when lang is NGX_NEONPRO_LANG_PICK_EN, NUL-terminated and cut
 * to size.  Returns the length the whole message needs, as snprintf()
 * does, or 0 when err names no field.  The message names the field and
 * the rule and quotes no client bytes.
 */
size_t
ngx_neonpro_chat_error_message(const ngx_neonpro_chat_error_t *err, int lang,
    char *buf, size_t size)
{
    int                             n;
    size_t                          value;
    const ngx_neonpro_chat_rule_t  *rule;

    if (err->field == NULL || err->rule < 0
        || (size_t) err->rule >= ngx_neonpro_chat_nelts(ngx_neonpro_chat_rules))
    {
        return 0;
    }

    rule = &ngx_neonpro_chat_rules[err->rule];
    value = err->rule == NGX_NEONPRO_CHAT_RULE_JSON ? err->position
                                                    : err->limit;

    n = snprintf(buf, size,
                 lang == NGX_NEONPRO_LANG_PICK_EN ? rule->en : rule->pt_br,
                 value);

    return n < 0 ? 0 : (size_t) n;
}


const char *
ngx_neonpro_chat_code_name(ngx_neonpro_chat_code_e code)
{
    if ((size_t) code >= ngx_neonpro_chat_nelts(ngx_neonpro_chat_codes)) {
        return NULL;
    }

    return ngx_neonpro_chat_codes[code].name;
}


/* Returns whether the client may repeat the request that got the code. */
int
ngx_neonpro_chat_code_retryable(ngx_neonpro_chat_code_e code)
{
    if ((size_t) code >= ngx_neonpro_chat_nelts(ngx_neonpro_chat_codes)) {
        return 0;
    }

    return ngx_neonpro_chat_codes[code].retryable;
}


/*
 * Creates a server envelope with "type" and the head's fields, in the
 * order of the protocol page: id, type, session_id, ts.  jansson 2.14
 * keeps the insertion order of keys when it serializes.
 */
static json_t *
ngx_neonpro_chat_envelope(const char *type, const ngx_neonpro_chat_head_t *head)
{
    int      rc;
    json_t  *env;

    env = json_object();
    if (env == NULL) {
        return NULL;
    }

    rc = 0;

    if (head && head->id) {
        rc |= json_object_set_new(env, "id", json_string(head->id));
    }

    rc |= json_object_set_new(env, "type", json_string(type));

    if (head && head->session_id) {
        rc |= json_object_set_new(env, "session_id",
                                  json_string(head->session_id));
    }

    if (head && head->ts >= 0) {
        rc |= json_object_set_new(env, "ts", json_integer(head->ts));
    }

    if (rc != 0) {
        json_decref(env);
        return NULL;
    }

    return env;
}


/*
 * Serializes an envelope with its "data", or without one when data is
 * NULL and rc is 0.  It consumes the reference to data; rc is the OR of
 * the json_object_set_new() results that filled data.  Returns the text,
 * or NULL on a memory failure or a string that is not valid UTF-8.
 */
static char *
ngx_neonpro_chat_dump(const char *type, const ngx_neonpro_chat_head_t *head,
    json_t *data, int rc)
{
    char    *text;
    json_t  *env;

    if (rc != 0) {
        json_decref(data);
        return NULL;
    }

    env = ngx_neonpro_chat_envelope(type, head);
    if (env == NULL) {
        json_decref(data);
        return NULL;
    }

    if (data && json_object_set_new(env, "data", data) != 0) {
        json_decref(env);
        return NULL;
    }

    text = json_dumps(env, JSON_COMPACT);

    json_decref(env);

    return text;
}


/*
 * Every builder returns the envelope as NUL-terminated compact JSON that
 * the caller frees with free() (jansson's allocator, unless the process
 * installs another one with json_set_alloc_funcs()), or NULL on a memory
 * failure or a string argument that is not valid UTF-8.  A json_object()
 * that returns NULL makes the json_object_set_new() calls fail, and those
 * release the value they were given.
 */


/* The limits tell a client how large and how often it may send. */
char *
ngx_neonpro_chat_build_hello(const ngx_neonpro_chat_head_t *head,
    const char *connection_id, json_int_t worker,
    const ngx_neonpro_chat_limits_t *limits)
{
    int      rc;
    size_t   i;
    json_t  *data, *object;

    static const char  *names[] = {
        "max_message_bytes", "max_content_bytes", "messages_per_minute",
        "heartbeat_seconds", "idle_seconds", "session_seconds"
    };

    const json_int_t  values[] = {
        limits->max_message_bytes, limits->max_content_bytes,
        limits->messages_per_minute, limits->heartbeat_seconds,
        limits->idle_seconds, limits->session_seconds
    };

    object = json_object();
    rc = 0;

    for (i = 0; i < ngx_neonpro_chat_nelts(names); i++) {
        if (values[i] >= 0) {
            rc |= json_object_set_new(object, names[i],
                                      json_integer(values[i]));
        }
    }

    data = json_object();

    rc |= json_object_set_new(data, "connection_id",
                              json_string(connection_id));
    rc |= json_object_set_new(data, "worker", json_integer(worker));
    rc |= json_object_set_new(data, "limits", object);

    return ngx_neonpro_chat_dump("hello", head, data, rc);
}


/* last_seq is the session's newest seq, 0 for a session without history. */
char *
ngx_neonpro_chat_build_joined(const ngx_neonpro_chat_head_t *head,
    json_int_t last_seq, int agent)
{
    int      rc;
    json_t  *data;

    data = json_object();

    rc = json_object_set_new(data, "last_seq", json_integer(last_seq));
    rc |= json_object_set_new(data, "agent", json_boolean(agent));

    return ngx_neonpro_chat_dump("joined", head, data, rc);
}


char *
ngx_neonpro_chat_build_left(const ngx_neonpro_chat_head_t *head)
{
    return ngx_neonpro_chat_dump("left", head, NULL, 0);
}


/*
 * A message of a session's history: a participant's or, with the role
 * "assistant", the agent's complete reply.  A NULL user_id omits "user"
 * and a NULL user_role omits "user.role".
 */
char *
ngx_neonpro_chat_build_message(const ngx_neonpro_chat_head_t *head,
    json_int_t seq, const char *user_id, const char *user_role,
    const char *content, size_t content_len)
{
    int      rc;
    json_t  *data, *user;

    data = json_object();

    rc = json_object_set_new(data, "seq", json_integer(seq));

    if (user_id) {
        user = json_object();

        rc |= json_object_set_new(user, "id", json_string(user_id));

        if (user_role) {
            rc |= json_object_set_new(user, "role", json_string(user_role));
        }

        rc |= json_object_set_new(data, "user", user);
    }

    rc |= json_object_set_new(data, "content",
                              json_stringn(content, content_len));

    return ngx_neonpro_chat_dump("message", head, data, rc);
}


/*
 * The agent's complete reply as stored in the history: a message from the
 * user "agent" with the role "assistant" and the id of the stream that
 * carried it live.
 */
char *
ngx_neonpro_chat_build_reply(const ngx_neonpro_chat_head_t *head,
    json_int_t seq, const char *stream_id, const char *content,
    size_t content_len)
{
    int      rc;
    json_t  *data, *user;

    data = json_object();
    user = json_object();

    rc = json_object_set_new(data, "seq", json_integer(seq));
    rc |= json_object_set_new(user, "id", json_string("agent"));
    rc |= json_object_set_new(user, "role", json_string("assistant"));
    rc |= json_object_set_new(data, "user", user);
    rc |= json_object_set_new(data, "content",
                              json_stringn(content, content_len));
    rc |= json_object_set_new(data, "stream_id", json_string(stream_id));

    return ngx_neonpro_chat_dump("message", head, data, rc);
}


/* reply_to is the seq of the message the agent answers. */
char *
ngx_neonpro_chat_build_stream_start(const ngx_neonpro_chat_head_t *head,
    const char *stream_id, json_int_t reply_to)
{
    int      rc;
    json_t  *data;

    data = json_object();

    rc = json_object_set_new(data, "stream_id", json_string(stream_id));
    rc |= json_object_set_new(data, "reply_to", json_integer(reply_to));

    return ngx_neonpro_chat_dump("stream_start", head, data, rc);
}


/*
 * index counts the chunks of one stream from 0.  The delta must end on a
 * UTF-8 character boundary: a caller that splits the agent's text keeps
 * an incomplete sequence for the next chunk.
 */
char *
ngx_neonpro_chat_build_stream_chunk(const ngx_neonpro_chat_head_t *head,
    const char *stream_id, json_int_t index, const char *delta,
    size_t delta_len)
{
    int      rc;
    json_t  *data;

    data = json_object();

    rc = json_object_set_new(data, "stream_id", json_string(stream_id));
    rc |= json_object_set_new(data, "index", json_integer(index));
    rc |= json_object_set_new(data, "delta", json_stringn(delta, delta_len));

    return ngx_neonpro_chat_dump("stream_chunk", head, data, rc);
}


/*
 * seq is the seq the complete reply got in the session's history; a
 * negative seq sends null, for a reply that failed and was not stored.
 */
char *
ngx_neonpro_chat_build_stream_end(const ngx_neonpro_chat_head_t *head,
    const char *stream_id, json_int_t seq)
{
    int      rc;
    json_t  *data;

    data = json_object();

    rc = json_object_set_new(data, "stream_id", json_string(stream_id));
    rc |= json_object_set_new(data, "seq",
                              seq >= 0 ? json_integer(seq) : json_null());

    return ngx_neonpro_chat_dump("stream_end", head, data, rc);
}


/* The messages from_seq to to_seq, both included, are no longer kept. */
char *
ngx_neonpro_chat_build_gap(const ngx_neonpro_chat_head_t *head,
    json_int_t from_seq, json_int_t to_seq)
{
    int      rc;
    json_t  *data;

    data = json_object();

    rc = json_object_set_new(data, "from_seq", json_integer(from_seq));
    rc |= json_object_set_new(data, "to_seq", json_integer(to_seq));

    return ngx_neonpro_chat_dump("gap", head, data, rc);
}


/* A negative retryable takes the code's usual value. */
char *
ngx_neonpro_chat_build_error(const ngx_neonpro_chat_head_t *head,
    ngx_neonpro_chat_code_e code, const char *message, int retryable)
{
    int          rc;
    json_t      *data;
    const char  *name;

    name = ngx_neonpro_chat_code_name(code);
    if (name == NULL || message == NULL) {
        return NULL;
    }

    if (retryable < 0) {
        retryable = ngx_neonpro_chat_code_retryable(code);
    }

    data = json_object();

    rc = json_object_set_new(data, "code", json_string(name));
    rc |= json_object_set_new(data, "message", json_string(message));
    rc |= json_object_set_new(data, "retryable", json_boolean(retryable));

    return ngx_neonpro_chat_dump("error", head, data, rc);
}


/*
 * Builds the INVALID_MESSAGE error for a failed parse, echoing the
 * envelope's "id" when it was valid.  Returns NULL when err names no
 * field, as after NGX_NEONPRO_CHAT_NOMEM.
 */
char *
ngx_neonpro_chat_build_invalid(const ngx_neonpro_chat_error_t *err, int lang,
    json_int_t ts)
{
    char                     message[256];
    ngx_neonpro_chat_head_t  head;

    if (ngx_neonpro_chat_error_message(err, lang, message, sizeof(message))
        == 0)
    {
        return NULL;
    }

    head.id = err->id[0] ? err->id : NULL;
    head.session_id = NULL;
    head.ts = ts;

    return ngx_neonpro_chat_build_error(&head, NGX_NEONPRO_CHAT_INVALID_MESSAGE,
                                        message, 0);
}


char *
ngx_neonpro_chat_build_heartbeat(const ngx_neonpro_chat_head_t *head)
{
    return ngx_neonpro_chat_dump("heartbeat", head, NULL, 0);
}
