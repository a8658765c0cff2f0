
/*
 * Envelopes of the WebSocket subprotocol neonpro.chat.v1: the parser of
 * client envelopes and the builders of server envelopes.  The protocol is
 * described in docs/chat-protocol.md.
 */


#ifndef _NGX_NEONPRO_CHAT_ENVELOPE_H_INCLUDED_
#define _NGX_NEONPRO_CHAT_ENVELOPE_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


/* the maximum length of a client's "id", in bytes */
#define NGX_NEONPRO_CHAT_ID_MAX  64


typedef enum {
    NGX_NEONPRO_CHAT_HELLO = 0,
    NGX_NEONPRO_CHAT_JOIN,
    NGX_NEONPRO_CHAT_LEAVE,
    NGX_NEONPRO_CHAT_MESSAGE,
    NGX_NEONPRO_CHAT_RESUME,
    NGX_NEONPRO_CHAT_HEARTBEAT
} ngx_neonpro_chat_type_e;


typedef enum {
    NGX_NEONPRO_CHAT_OK = 0,
    NGX_NEONPRO_CHAT_INVALID,          /* the error names the field */
    NGX_NEONPRO_CHAT_NOMEM             /* jansson could not allocate */
} ngx_neonpro_chat_rc_e;


/* the codes of an "error" envelope, in the order of docs/chat-protocol.md */
typedef enum {
    NGX_NEONPRO_CHAT_AUTHENTICATION_FAILED = 0,
    NGX_NEONPRO_CHAT_AUTHORIZATION_FAILED,
    NGX_NEONPRO_CHAT_INVALID_MESSAGE,
    NGX_NEONPRO_CHAT_RATE_LIMITED,
    NGX_NEONPRO_CHAT_TIMEOUT,
    NGX_NEONPRO_CHAT_SESSION_EXPIRED,
    NGX_NEONPRO_CHAT_AI_SERVICE_ERROR,
    NGX_NEONPRO_CHAT_INTERNAL_ERROR
} ngx_neonpro_chat_code_e;


/*
 * A parsed client envelope.  The strings and "data" point into doc, which
 * the parser creates and ngx_neonpro_chat_envelope_free() releases; they
 * are NUL-terminated and valid until then.
 */
typedef struct {
    json_t                   *doc;
    ngx_neonpro_chat_type_e   type;

    const char               *id;              /* NULL when absent */
    size_t                    id_len;
    const char               *session_id;      /* NULL when absent */
    size_t                    session_id_len;

    /* milliseconds since the Unix epoch, -1 when absent */
    json_int_t                ts;

    json_t                   *data;            /* NULL when absent */

    /* message: data.content, valid UTF-8 without NUL bytes */
    const char               *content;
    size_t                    content_len;

    /* resume: data.after_seq; -1 for other types */
    json_int_t                after_seq;

    /* join: data.agent, 1 when absent; 0 for other types */
    int                       agent;
} ngx_neonpro_chat_envelope_t;


/*
 * The reason a client envelope failed.  It contains no bytes of the input
 * except a valid "id", so a caller may log field and position.
 */
typedef struct {
    /* "(json)", "(envelope)", "id", "type", "session_id", "ts", "data",
       "data.content", "data.after_seq" or "data.agent" */
    const char  *field;

    /* the rule that failed, for ngx_neonpro_chat_error_message() */
    int          rule;

    /* "(json)": jansson's byte offset of the error */
    size_t       position;

    /* "data.content" over the limit: the limit in bytes */
    size_t       limit;

    /* the envelope's valid "id" to echo, "" when there is none */
    char         id[NGX_NEONPRO_CHAT_ID_MAX + 1];
} ngx_neonpro_chat_error_t;


/* the fields every server envelope may carry */
typedef struct {
    const char  *id;              /* the client's id to echo, or NULL */
    const char  *session_id;      /* NULL for connection-level envelopes */
    json_int_t   ts;              /* ms since the Unix epoch, -1 omits */
} ngx_neonpro_chat_head_t;


/* the limits a server "hello" announces; a negative value is omitted */
typedef struct {
    json_int_t   max_message_bytes;
    json_int_t   max_content_bytes;
    json_int_t   messages_per_minute;
    json_int_t   heartbeat_seconds;
    json_int_t   idle_seconds;
    json_int_t   session_seconds;
} ngx_neonpro_chat_limits_t;


ngx_neonpro_chat_rc_e ngx_neonpro_chat_parse(const unsigned char *p,
    size_t len, size_t max_content, ngx_neonpro_chat_envelope_t *env,
    ngx_neonpro_chat_error_t *err);
void ngx_neonpro_chat_envelope_free(ngx_neonpro_chat_envelope_t *env);
const char *ngx_neonpro_chat_type_name(ngx_neonpro_chat_type_e type);
size_t ngx_neonpro_chat_error_message(const ngx_neonpro_chat_error_t *err,
    int lang, char *buf, size_t size);

const char *ngx_neonpro_chat_code_name(ngx_neonpro_chat_code_e code);
int ngx_neonpro_chat_code_retryable(ngx_neonpro_chat_code_e code);

char *ngx_neonpro_chat_build_hello(const ngx_neonpro_chat_head_t *head,
    const char *connection_id, json_int_t worker,
    const ngx_neonpro_chat_limits_t *limits);
char *ngx_neonpro_chat_build_joined(const ngx_neonpro_chat_head_t *head,
    json_int_t last_seq, int agent);
char *ngx_neonpro_chat_build_left(const ngx_neonpro_chat_head_t *head);
char *ngx_neonpro_chat_build_message(const ngx_neonpro_chat_head_t *head,
    json_int_t seq, const char *user_id, const char *user_role,
    const char *content, size_t content_len);
char *ngx_neonpro_chat_build_reply(const ngx_neonpro_chat_head_t *head,
    json_int_t seq, const char *stream_id, const char *content,
    size_t content_len);
char *ngx_neonpro_chat_build_stream_start(
    const ngx_neonpro_chat_head_t *head, const char *stream_id,
    json_int_t reply_to);
char *ngx_neonpro_chat_build_stream_chunk(
    const ngx_neonpro_chat_head_t *head, const char *stream_id,
    json_int_t index, const char *delta, size_t delta_len);
char *ngx_neonpro_chat_build_stream_end(const ngx_neonpro_chat_head_t *head,
    const char *stream_id, json_int_t seq);
char *ngx_neonpro_chat_build_gap(const ngx_neonpro_chat_head_t *head,
    json_int_t from_seq, json_int_t to_seq);
char *ngx_neonpro_chat_build_error(const ngx_neonpro_chat_head_t *head,
    ngx_neonpro_chat_code_e code, const char *message, int retryable);
char *ngx_neonpro_chat_build_invalid(const ngx_neonpro_chat_error_t *err,
    int lang, json_int_t ts);
char *ngx_neonpro_chat_build_heartbeat(const ngx_neonpro_chat_head_t *head);


#endif /* _NGX_NEONPRO_CHAT_ENVELOPE_H_INCLUDED_ */
