
/*
 * neonpro_agent_pass: requests to the AI agent over HTTP/1.1 through
 * ngx_http_upstream, so upstream{} blocks, keepalive, balancing, retries
 * and timeouts behave as they do for proxy_pass.
 *
 * The request body is read whole, parsed with jansson and checked against
 * the location's contract before it is sent to the agent.  The reply is never
 * buffered: each piece read from the agent goes to the client at once,
 * which is what a text/event-stream needs.
 */


#include <jansson.h>

#include "ngx_neonpro_agent.h"
#include "ngx_neonpro_agent_contract.h"
#include "ngx_neonpro_error.h"
#include "ngx_neonpro_json.h"
#include "ngx_neonpro_peers.h"


typedef struct {
    ngx_http_status_t          status;
    ngx_http_chunked_t         chunked;
    ngx_chain_t               *body;
    /* bit i: the state of try i was already recorded for /health */
    uint64_t                   recorded;
} ngx_neonpro_agent_ctx_t;


static void ngx_neonpro_agent_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_agent_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_neonpro_agent_prepare_body(ngx_http_request_t *r,
    ngx_neonpro_agent_ctx_t *ctx);
static ngx_int_t ngx_neonpro_agent_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_agent_set_user(ngx_http_request_t *r,
    json_t *doc);
static ngx_int_t ngx_neonpro_agent_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_agent_process_status_line(
    ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_agent_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_agent_header_done(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_neonpro_agent_ctx_t *ctx);
static ngx_int_t ngx_neonpro_agent_input_filter_init(void *data);
static ngx_int_t ngx_neonpro_agent_copy_filter(void *data, ssize_t bytes);
static ngx_int_t ngx_neonpro_agent_chunked_filter(void *data,
    ssize_t bytes);
static void ngx_neonpro_agent_abort_request(ngx_http_request_t *r);
static void ngx_neonpro_agent_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);


/* client headers never passed to the agent: hop-by-hop ones, the ones this
 * handler writes itself, and identity that only a verified token may set */
static ngx_str_t  ngx_neonpro_agent_skip_headers[] = {
    ngx_string("host"),
    ngx_string("connection"),
    ngx_string("keep-alive"),
    ngx_string("proxy-connection"),
    ngx_string("te"),
    ngx_string("trailer"),
    ngx_string("transfer-encoding"),
    ngx_string("upgrade"),
    ngx_string("expect"),
    ngx_string("content-length"),
    ngx_string("content-type"),
    ngx_string("x-request-id"),
    ngx_string("x-user-id"),
    ngx_string("x-clinic-id"),
    ngx_string("x-role"),
    ngx_null_string
};


/* ngx_hash_key() of each name above, filled on first use in a worker */
static ngx_uint_t  ngx_neonpro_agent_skip_hashes[
    sizeof(ngx_neonpro_agent_skip_headers) / sizeof(ngx_str_t)];


#define NGX_NEONPRO_SESSION_ID_RULE  "(8 to 64 characters of A-Z, a-z, 0-9, _, -)"


static ngx_str_t  ngx_neonpro_agent_json_type = ngx_string("application/json");


ngx_int_t
ngx_neonpro_agent_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      detail, *type;
    ngx_http_upstream_t           *u;
    ngx_neonpro_ctx_t             *nctx;
    ngx_neonpro_agent_ctx_t       *ctx;
    ngx_neonpro_agent_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_module);

    nctx = ngx_neonpro_get_ctx(r);
    if (nctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nctx->agent = 1;

    if (ngx_neonpro_request_id(r, nctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (alcf->contract != NGX_NEONPRO_CONTRACT_JSON
        && r->method != NGX_HTTP_POST)
    {
        return ngx_neonpro_error_not_allowed(r, "POST");
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                          : NULL;

        if (type == NULL
            || type->len < ngx_neonpro_agent_json_type.len
            || ngx_strncasecmp(type->data, ngx_neonpro_agent_json_type.data,
                               ngx_neonpro_agent_json_type.len) != 0
            || (type->len > ngx_neonpro_agent_json_type.len
                && type->data[ngx_neonpro_agent_json_type.len] != ';'
                && type->data[ngx_neonpro_agent_json_type.len] != ' '))
        {
            if (type) {
                ngx_neonpro_error_quote(r->pool, &detail, "", type);

            } else {
                ngx_str_set(&detail, "(none)");
            }

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "neonpro: request body of type %V is not "
                          "application/json", &detail);

            return ngx_neonpro_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "UNSUPPORTED_MEDIA_TYPE", &detail);
        }
    }

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_neonpro_agent_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_neonpro_module);

    u = r->upstream;

    u->conf = &alcf->upstream;
    u->output.tag = (ngx_buf_tag_t) &ngx_neonpro_module;

    u->create_request = ngx_neonpro_agent_create_request;
    u->reinit_request = ngx_neonpro_agent_reinit_request;
    u->process_header = ngx_neonpro_agent_process_status_line;
    u->abort_request = ngx_neonpro_agent_abort_request;
    u->finalize_request = ngx_neonpro_agent_finalize_request;

    u->buffering = 0;
    u->input_filter_init = ngx_neonpro_agent_input_filter_init;
    u->input_filter = ngx_neonpro_agent_copy_filter;
    u->input_filter_ctx = r;

    rc = ngx_http_read_client_request_body(r, ngx_neonpro_agent_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_neonpro_agent_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_neonpro_agent_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);

    rc = ngx_neonpro_agent_prepare_body(r, ctx);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_http_upstream_init(r);
}


/*
 * Collects the request body into one piece of memory.  The body is at most
 * client_max_body_size, and parts written to a temporary file are read
 * back from that local file.
 */
static ngx_int_t
ngx_neonpro_agent_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "neonpro: could not read the request body "
                              "back from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            p += n;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Parses and checks the body and keeps the bytes to send in ctx->body.
 * Returns NGX_OK, or an error status with the JSON error recorded.
 */
static ngx_int_t
ngx_neonpro_agent_prepare_body(ngx_http_request_t *r,
    ngx_neonpro_agent_ctx_t *ctx)
{
    char                          *dumped;
    u_char                        *p;
    size_t                         len;
    json_t                        *doc;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_str_t                      body, detail;
    const char                    *field;
    json_error_t                   error;
    ngx_uint_t                     flags;
    ngx_neonpro_contract_rc_e      check;
    ngx_neonpro_agent_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_module);

    if (ngx_neonpro_agent_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0) {
        if (alcf->contract == NGX_NEONPRO_CONTRACT_JSON) {
            return NGX_OK;
        }

        ngx_str_set(&detail, "empty body");
        return ngx_neonpro_error(r, NGX_HTTP_BAD_REQUEST, "INVALID_JSON",
                                 &detail);
    }

    /*
     * Any JSON text is accepted, as RFC 8259 allows; the json contract
     * forwards the client's bytes, so reading big integers as reals there
     * loses nothing.  Numbers beyond the range of a double stay invalid.
     */

    flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;

    if (alcf->contract == NGX_NEONPRO_CONTRACT_JSON) {

        /*
         * The body is forwarded as is, so a scan that builds nothing is
         * enough; jansson runs only to locate the error of a bad body.
         */

        if (ngx_neonpro_json_valid(body.data, body.len)) {
            doc = NULL;
            goto forward;
        }

        flags |= JSON_DECODE_INT_AS_REAL;
    }

    doc = json_loadb((const char *) body.data, body.len, flags, &error);

    if (doc == NULL || alcf->contract == NGX_NEONPRO_CONTRACT_JSON) {

        if (doc) {
            /* jansson 2.14 skips some raw NUL bytes that RFC 8259 forbids */
            json_decref(doc);
            error.line = -1;
            error.column = -1;
            error.position = -1;
            ngx_cpystrn((u_char *) error.text, (u_char *) "raw NUL byte",
                        sizeof(error.text));
        }

        len = sizeof("linha , coluna , posição : ") - 1 + 3 * NGX_INT_T_LEN
              + ngx_strlen(error.text);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        detail.data = p;
        detail.len = ngx_snprintf(p, len,
                                  ngx_neonpro_request_lang(r)
                                  == NGX_NEONPRO_LANG_EN
                                  ? "line %d, column %d, position %d: %s"
                                  : "linha %d, coluna %d, posição %d: %s",
                                  error.line, error.column, error.position,
                                  error.text)
                     - p;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "neonpro: invalid JSON in the request body at line %d, "
                      "column %d, position %d: %s", error.line, error.column,
                      error.position, error.text);

        return ngx_neonpro_error(r, NGX_HTTP_BAD_REQUEST, "INVALID_JSON",
                                 &detail);
    }

    check = ngx_neonpro_contract_check(doc, (int) alcf->contract,
                                       alcf->max_message_length, &field);

    if (check != NGX_NEONPRO_CONTRACT_OK) {
        json_decref(doc);

        len = ngx_strlen(field) + sizeof(" (at most  bytes)") - 1
              + NGX_SIZE_T_LEN + sizeof(NGX_NEONPRO_SESSION_ID_RULE);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        detail.data = p;

        if (check == NGX_NEONPRO_CONTRACT_TOO_LARGE) {
            p = ngx_snprintf(p, len, "%s (at most %uz bytes)", field,
                             alcf->max_message_length);

        } else if (ngx_strcmp(field, "session_id") == 0) {
            p = ngx_snprintf(p, len, "%s %s", field,
                             NGX_NEONPRO_SESSION_ID_RULE);

        } else {
            p = ngx_snprintf(p, len, "%s", field);
        }

        detail.len = p - detail.data;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "neonpro: agent request with %s field \"%V\"",
                      check == NGX_NEONPRO_CONTRACT_TOO_LARGE
                      ? "an oversized" : "an invalid or missing", &detail);

        if (check == NGX_NEONPRO_CONTRACT_TOO_LARGE) {
            return ngx_neonpro_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "PAYLOAD_TOO_LARGE", &detail);
        }

        return ngx_neonpro_error(r, NGX_HTTP_BAD_REQUEST, "INVALID_REQUEST",
                                 &detail);
    }

forward:

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (alcf->contract == NGX_NEONPRO_CONTRACT_CHAT) {

        /* the verified identity, or anonymous on a location without it */

        if (ngx_neonpro_agent_set_user(r, doc) != NGX_OK) {
            json_decref(doc);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        dumped = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);

        if (dumped == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = ngx_strlen(dumped);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            ngx_free(dumped);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, dumped, len);
        ngx_free(dumped);

        body.data = p;
        body.len = len;

    } else if (doc) {
        json_decref(doc);
    }

    b->start = body.data;
    b->pos = body.data;
    b->last = body.data + body.len;
    b->end = b->last;
    b->memory = 1;

    ctx->body = ngx_alloc_chain_link(r->pool);
    if (ctx->body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->body->buf = b;
    ctx->body->next = NULL;

    rc = NGX_OK;

    return rc;
}


/*
 * Returns 1 when the Connection header lists the name: such a header is
 * hop-by-hop too (RFC 9110, section 7.6.1).
 */
static ngx_uint_t
ngx_neonpro_agent_connection_option(ngx_http_request_t *r, ngx_str_t *name)
{
    u_char           *p, *last, *token;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("connection") - 1
            || ngx_strncmp(h[i].lowcase_key, "connection", h[i].key.len) != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                p++;
            }

            token = p;

            while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
                p++;
            }

            if ((size_t) (p - token) == name->len
                && ngx_strncasecmp(token, name->data, name->len) == 0)
            {
                return 1;
            }
        }
    }
}


static ngx_uint_t
ngx_neonpro_agent_skip_header(ngx_http_request_t *r, ngx_table_elt_t *h,
    ngx_uint_t has_connection)
{
    ngx_uint_t   i;
    ngx_str_t   *name;

    /* nginx hashes request header names in lowercase as they are parsed */

    if (ngx_neonpro_agent_skip_hashes[0] == 0) {
        for (i = 0; ngx_neonpro_agent_skip_headers[i].len; i++) {
            name = &ngx_neonpro_agent_skip_headers[i];
            ngx_neonpro_agent_skip_hashes[i] = ngx_hash_key(name->data,
                                                            name->len);
        }
    }

    for (i = 0; ngx_neonpro_agent_skip_headers[i].len; i++) {
        name = &ngx_neonpro_agent_skip_headers[i];

        if (h->hash == ngx_neonpro_agent_skip_hashes[i]
            && h->key.len == name->len
            && ngx_strncmp(h->lowcase_key, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return has_connection && ngx_neonpro_agent_connection_option(r, &h->key);
}


#define ngx_neonpro_append(p, s)  ngx_cpymem(p, s, sizeof(s) - 1)


static char *
ngx_neonpro_agent_cstr(ngx_http_request_t *r, ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    (void) ngx_cpystrn(p, s->data, s->len + 1);

    return (char *) p;
}


/* Fills the chat body's "user" from the verified identity. */
static ngx_int_t
ngx_neonpro_agent_set_user(ngx_http_request_t *r, json_t *doc)
{
    char                    *user, *role, *clinic;
    ngx_neonpro_ctx_t       *nctx;
    ngx_neonpro_identity_t  *id;

    nctx = ngx_neonpro_get_ctx(r);
    id = nctx ? nctx->identity : NULL;

    user = id ? ngx_neonpro_agent_cstr(r, &id->user) : NULL;
    role = id ? ngx_neonpro_agent_cstr(r, &id->role) : NULL;
    clinic = id ? ngx_neonpro_agent_cstr(r, &id->clinic) : NULL;

    if (ngx_neonpro_contract_set_user(doc, user ? user : "anonymous",
                                      role ? role : "anonymous", clinic)
        != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_agent_create_request(ngx_http_request_t *r)
{
    off_t                          body_len;
    size_t                         len;
    ngx_buf_t                     *b;
    ngx_uint_t                     i, has_connection;
    ngx_chain_t                   *cl;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h;
    ngx_neonpro_ctx_t             *nctx;
    ngx_neonpro_identity_t        *id;
    ngx_neonpro_agent_ctx_t       *ctx;
    ngx_neonpro_agent_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_module);
    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);
    nctx = ngx_neonpro_get_ctx(r);

    body_len = ctx->body ? ngx_buf_size(ctx->body->buf) : 0;

    /* nginx records only the type of Connection, not the header itself */
    has_connection = ngx_neonpro_find_header_in(r, "connection",
                                                sizeof("connection") - 1)
                     != NULL;

    /* request line, Host, X-Request-Id, and the framing of the body */

    len = r->method_name.len + 1 + r->unparsed_uri.len
          + sizeof(" HTTP/1.1" CRLF) - 1
          + sizeof("Host: " CRLF) - 1 + alcf->host.len
          + sizeof("X-Request-Id: " CRLF) - 1 + nctx->request_id.len
          + sizeof("Content-Type: application/json" CRLF) - 1
          + sizeof("Content-Length: " CRLF) - 1 + NGX_OFF_T_LEN
          + sizeof(CRLF) - 1;

    /* the verified identity, in place of any copies the client sent */

    id = nctx->identity;

    if (id) {
        len += sizeof("X-User-Id: " CRLF) - 1 + id->user.len
               + sizeof("X-Clinic-Id: " CRLF) - 1 + id->clinic.len
               + sizeof("X-Role: " CRLF) - 1 + id->role.len;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (!ngx_neonpro_agent_skip_header(r, &h[i], has_connection)) {
            len += h[i].key.len + sizeof(": ") - 1 + h[i].value.len
                   + sizeof(CRLF) - 1;
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_copy(b->last, r->method_name.data, r->method_name.len);
    *b->last++ = ' ';
    b->last = ngx_copy(b->last, r->unparsed_uri.data, r->unparsed_uri.len);
    b->last = ngx_neonpro_append(b->last, " HTTP/1.1" CRLF "Host: ");
    b->last = ngx_copy(b->last, alcf->host.data, alcf->host.len);
    b->last = ngx_neonpro_append(b->last, CRLF "X-Request-Id: ");
    b->last = ngx_copy(b->last, nctx->request_id.data,
                       nctx->request_id.len);
    b->last = ngx_neonpro_append(b->last, CRLF);

    if (ctx->body) {
        b->last = ngx_neonpro_append(b->last,
                                     "Content-Type: application/json" CRLF);
    }

    if (ctx->body || r->headers_in.content_length_n >= 0
        || r->headers_in.chunked)
    {
        b->last = ngx_sprintf(b->last, "Content-Length: %O" CRLF, body_len);
    }

    if (id && id->user.len) {
        b->last = ngx_sprintf(b->last, "X-User-Id: %V" CRLF, &id->user);
    }

    if (id && id->clinic.len) {
        b->last = ngx_sprintf(b->last, "X-Clinic-Id: %V" CRLF, &id->clinic);
    }

    if (id && id->role.len) {
        b->last = ngx_sprintf(b->last, "X-Role: %V" CRLF, &id->role);
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_neonpro_agent_skip_header(r, &h[i], has_connection)) {
            continue;
        }

        b->last = ngx_copy(b->last, h[i].key.data, h[i].key.len);
        b->last = ngx_neonpro_append(b->last, ": ");
        b->last = ngx_copy(b->last, h[i].value.data, h[i].value.len);
        b->last = ngx_neonpro_append(b->last, CRLF);
    }

    b->last = ngx_neonpro_append(b->last, CRLF);

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = ctx->body;

    if (ctx->body) {
        ctx->body->buf->last_buf = 1;

    } else {
        b->last_buf = 1;
    }

    r->upstream->request_bufs = cl;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_agent_reinit_request(ngx_http_request_t *r)
{
    ngx_neonpro_ctx_t        *nctx;
    ngx_neonpro_agent_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);
    nctx = ngx_neonpro_get_ctx(r);

    if (ctx == NULL || nctx == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ctx->status, sizeof(ngx_http_status_t));
    ngx_memzero(&ctx->chunked, sizeof(ngx_http_chunked_t));

    /* a retry clears the failure recorded for the previous agent server */
    nctx->replace_response = 0;
    nctx->error_status = 0;
    nctx->error_code = NULL;

    r->upstream->process_header = ngx_neonpro_agent_process_status_line;
    r->upstream->input_filter = ngx_neonpro_agent_copy_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_agent_process_status_line(ngx_http_request_t *r)
{
    size_t                    len;
    ngx_int_t                 rc;
    ngx_http_upstream_t      *u;
    ngx_neonpro_agent_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);
    u = r->upstream;

    rc = ngx_http_parse_status_line(r, &u->buffer, &ctx->status);

    if (rc == NGX_AGAIN) {
        return rc;
    }

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "neonpro: agent %V sent an invalid status line",
                      u->peer.name);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->state && u->state->status == 0) {
        u->state->status = ctx->status.code;
    }

    u->headers_in.status_n = ctx->status.code;

    len = ctx->status.end - ctx->status.start;
    u->headers_in.status_line.len = len;

    u->headers_in.status_line.data = ngx_pnalloc(r->pool, len);
    if (u->headers_in.status_line.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(u->headers_in.status_line.data, ctx->status.start, len);

    if (ctx->status.http_version < NGX_HTTP_VERSION_11) {
        u->headers_in.connection_close = 1;
    }

    u->process_header = ngx_neonpro_agent_process_header;

    return ngx_neonpro_agent_process_header(r);
}


static ngx_int_t
ngx_neonpro_agent_process_header(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_table_elt_t                *h;
    ngx_http_upstream_t            *u;
    ngx_http_upstream_header_t     *hh;
    ngx_neonpro_agent_ctx_t        *ctx;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_module);
    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);
    u = r->upstream;

    for ( ;; ) {

        rc = ngx_http_parse_header_line(r, &u->buffer, 1);

        if (rc == NGX_OK) {

            if (r->invalid_header) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "neonpro: agent %V sent an invalid header "
                              "line", u->peer.name);
                return NGX_HTTP_UPSTREAM_INVALID_HEADER;
            }

            h = ngx_list_push(&u->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            h->hash = r->header_hash;
            h->key.len = r->header_name_end - r->header_name_start;
            h->value.len = r->header_end - r->header_start;

            h->key.data = ngx_pnalloc(r->pool,
                                      h->key.len + 1 + h->value.len + 1
                                      + h->key.len);
            if (h->key.data == NULL) {
                return NGX_ERROR;
            }

            h->value.data = h->key.data + h->key.len + 1;
            h->lowcase_key = h->key.data + h->key.len + 1 + h->value.len + 1;

            ngx_memcpy(h->key.data, r->header_name_start, h->key.len);
            h->key.data[h->key.len] = '\0';
            ngx_memcpy(h->value.data, r->header_start, h->value.len);
            h->value.data[h->value.len] = '\0';

            if (h->key.len == r->lowcase_index) {
                ngx_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);

            } else {
                ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
            }

            hh = ngx_hash_find(&umcf->headers_in_hash, h->hash,
                               h->lowcase_key, h->key.len);

            if (hh && hh->handler(r, h, hh->offset) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            return ngx_neonpro_agent_header_done(r, u, ctx);
        }

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "neonpro: agent %V sent an invalid header",
                      u->peer.name);

        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }
}


/*
 * Parses the chunked framing already received with the header, without
 * consuming it, so that a broken framing still becomes a 502 before
 * anything reaches the client.
 */
static ngx_int_t
ngx_neonpro_agent_check_chunked(ngx_http_request_t *r, ngx_buf_t *received)
{
    off_t               size;
    ngx_int_t           rc;
    ngx_buf_t           b;
    ngx_http_chunked_t  chunked;

    ngx_memzero(&chunked, sizeof(ngx_http_chunked_t));
    ngx_memzero(&b, sizeof(ngx_buf_t));

    b.pos = received->pos;
    b.last = received->last;

    for ( ;; ) {
        rc = ngx_http_parse_chunked(r, &b, &chunked);

        if (rc == NGX_OK) {
            size = ngx_min(chunked.size, b.last - b.pos);
            b.pos += size;
            chunked.size -= size;
            continue;
        }

        return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
    }
}


static ngx_int_t
ngx_neonpro_agent_header_done(ngx_http_request_t *r, ngx_http_upstream_t *u,
    ngx_neonpro_agent_ctx_t *ctx)
{
    ngx_uint_t          status, index;
    ngx_neonpro_ctx_t  *nctx;

    status = ctx->status.code;

    if (u->headers_in.chunked && u->headers_in.content_length_n != -1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "neonpro: agent %V sent both Content-Length and "
                      "chunked Transfer-Encoding", u->peer.name);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->headers_in.chunked && u->buffer.pos < u->buffer.last
        && ngx_neonpro_agent_check_chunked(r, &u->buffer) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "neonpro: agent %V sent an invalid chunked body",
                      u->peer.name);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (r->upstream_states && u->state) {
        index = u->state - (ngx_http_upstream_state_t *)
                           r->upstream_states->elts;

        if (index < 64) {
            ctx->recorded |= (uint64_t) 1 << index;
        }
    }

    ngx_neonpro_peers_record(u->peer.name, status,
                             status >= NGX_HTTP_INTERNAL_SERVER_ERROR);

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {

        /*
         * nginx still retries on the next server when the
         * neonpro_agent_next_upstream flags allow it; otherwise the filter
         * replaces this reply by a 502 JSON error.
         */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "neonpro: agent %V returned status %ui",
                      u->peer.name, status);

        nctx = ngx_neonpro_get_ctx(r);
        if (nctx == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_neonpro_error(r, NGX_HTTP_BAD_GATEWAY, "AI_SERVICE_ERROR",
                                 NULL);
        nctx->replace_response = 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_agent_input_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_http_upstream_t      *u;
    ngx_neonpro_agent_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);

    if (u->headers_in.status_n == NGX_HTTP_NO_CONTENT
        || u->headers_in.status_n == NGX_HTTP_NOT_MODIFIED
        || r->method == NGX_HTTP_HEAD)
    {
        u->length = 0;
        u->keepalive = !u->headers_in.connection_close;

    } else if (u->headers_in.chunked) {
        ngx_memzero(&ctx->chunked, sizeof(ngx_http_chunked_t));
        u->input_filter = ngx_neonpro_agent_chunked_filter;
        u->length = 1;

    } else {
        /* -1, no Content-Length: the body ends when the agent closes */
        u->length = u->headers_in.content_length_n;
        u->keepalive = u->length != -1 && !u->headers_in.connection_close;
    }

    return NGX_OK;
}


/* Queues [pos, last) of the upstream buffer for the client. */
static ngx_int_t
ngx_neonpro_agent_queue(ngx_http_request_t *r, u_char *pos, u_char *last)
{
    ngx_buf_t            *b;
    ngx_chain_t          *cl, **ll;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    for (ll = &u->out_bufs; *ll; ll = &(*ll)->next) {
        /* void */
    }

    cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->pos = pos;
    b->last = last;
    b->memory = 1;
    b->flush = 1;
    b->tag = u->output.tag;

    *ll = cl;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_agent_copy_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    u_char               *pos;
    ssize_t               n;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    pos = u->buffer.last;
    u->buffer.last += bytes;
    n = bytes;

    if (u->length == 0) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "neonpro: agent %V sent more data than its "
                      "Content-Length", u->peer.name);
        u->keepalive = 0;
        return NGX_OK;
    }

    if (u->length > 0 && n > u->length) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "neonpro: agent %V sent more data than its "
                      "Content-Length", u->peer.name);
        u->keepalive = 0;
        n = (ssize_t) u->length;
    }

    if (ngx_neonpro_agent_queue(r, pos, pos + n) != NGX_OK) {
        return NGX_ERROR;
    }

    if (u->length > 0) {
        u->length -= n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_agent_chunked_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    off_t                     size;
    ngx_int_t                 rc;
    ngx_buf_t                 in;
    ngx_http_upstream_t      *u;
    ngx_neonpro_agent_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);

    ngx_memzero(&in, sizeof(ngx_buf_t));
    in.pos = u->buffer.last;
    in.last = u->buffer.last + bytes;
    u->buffer.last += bytes;

    for ( ;; ) {

        rc = ngx_http_parse_chunked(r, &in, &ctx->chunked);

        if (rc == NGX_OK) {
            size = ngx_min(ctx->chunked.size, in.last - in.pos);

            if (ngx_neonpro_agent_queue(r, in.pos, in.pos + size) != NGX_OK) {
                return NGX_ERROR;
            }

            in.pos += size;
            ctx->chunked.size -= size;
            continue;
        }

        if (rc == NGX_DONE) {
            u->length = 0;
            u->keepalive = !u->headers_in.connection_close;

            if (in.pos != in.last) {
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "neonpro: agent %V sent data after the "
                              "final chunk", u->peer.name);
                u->keepalive = 0;
            }

            return NGX_OK;
        }

        if (rc == NGX_AGAIN) {
            return NGX_OK;
        }

        /*
         * The reply has started, so the client cannot get a 502 any more:
         * returning NGX_ERROR closes its connection mid-body.
         */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "neonpro: agent %V sent an invalid chunked body",
                      u->peer.name);

        return NGX_ERROR;
    }
}


static void
ngx_neonpro_agent_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "neonpro: abort agent request");
}


/*
 * Records the tries that failed before a response header arrived (refused,
 * reset, timed out, invalid header) for the health endpoint.
 */
static void
ngx_neonpro_agent_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_uint_t                  i;
    ngx_neonpro_agent_ctx_t    *ctx;
    ngx_http_upstream_state_t  *state;

    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_module);

    if (ctx == NULL || r->upstream_states == NULL) {
        return;
    }

    state = r->upstream_states->elts;

    for (i = 0; i < r->upstream_states->nelts && i < 64; i++) {
        if (ctx->recorded & ((uint64_t) 1 << i)) {
            continue;
        }

        if (state[i].peer == NULL || state[i].status == 0) {
            continue;
        }

        ngx_neonpro_peers_record(state[i].peer, state[i].status, 1);
        ctx->recorded |= (uint64_t) 1 << i;
    }
}
