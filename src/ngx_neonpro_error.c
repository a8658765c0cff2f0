
/*
 * JSON error responses of the suite.
 *
 * A handler records the error with ngx_neonpro_error() and returns the
 * status.  nginx's special-response path then discards the request body,
 * settles keepalive and sends the header, and the LGPD filter swaps the HTML
 * body for the JSON one built here.  nginx's own errors (404 of a missing
 * file, 502 of a dead upstream, ...) take the same path with a code chosen
 * from the status.
 */


#include <jansson.h>

#include "ngx_neonpro_error.h"
#include "ngx_neonpro_lang.h"


typedef struct {
    ngx_uint_t    status;
    const char   *code;
    unsigned      retryable:1;
    const char   *pt_br;
    const char   *en;
    /* the same with a "%V" for the detail: a field, header or value */
    const char   *pt_br_detail;
    const char   *en_detail;
} ngx_neonpro_error_text_t;


static ngx_neonpro_error_text_t  ngx_neonpro_error_texts[] = {

    { 400, "INVALID_JSON", 0,
      "O corpo da requisição não é um JSON válido.",
      "The request body is not valid JSON.",
      "O corpo da requisição não é um JSON válido: %V.",
      "The request body is not valid JSON: %V." },

    { 400, "INVALID_REQUEST", 0,
      "Requisição inválida.",
      "Invalid request.",
      "Campo inválido ou ausente: %V.",
      "Invalid or missing field: %V." },

    { 401, "AUTHENTICATION_FAILED", 0,
      "Autenticação necessária.",
      "Authentication required.",
      "Falha na autenticação: %V.",
      "Authentication failed: %V." },

    { 403, "AUTHORIZATION_FAILED", 0,
      "Seu perfil não tem acesso a este recurso.",
      "Your role has no access to this resource.",
      NULL, NULL },

    { 403, "LGPD_LEGAL_BASIS_REQUIRED", 0,
      "A finalidade e a base legal do tratamento são obrigatórias"
      " (LGPD, arts. 7º e 11).",
      "The purpose and the legal basis of the processing are required"
      " (LGPD Art. 7 and 11).",
      "Cabeçalho obrigatório ausente: %V. Informe a finalidade e a base"
      " legal do tratamento (LGPD, arts. 7º e 11).",
      "Missing required header: %V. Send the purpose and the legal basis"
      " of the processing (LGPD Art. 7 and 11)." },

    { 403, "LGPD_LEGAL_BASIS_INVALID", 0,
      "Finalidade ou base legal não aceita.",
      "Purpose or legal basis not accepted.",
      "Valor não aceito: %V.",
      "Value not accepted: %V." },

    { 403, "FORBIDDEN", 0,
      "Acesso negado.",
      "Access denied.",
      NULL, NULL },

    { 404, "NOT_FOUND", 0,
      "Recurso não encontrado.",
      "Resource not found.",
      NULL, NULL },

    { 405, "METHOD_NOT_ALLOWED", 0,
      "Método não permitido.",
      "Method not allowed.",
      "Método não permitido: %V.",
      "Method not allowed: %V." },

    { 408, "TIMEOUT", 1,
      "Tempo esgotado ao receber a requisição.",
      "Timed out while reading the request.",
      NULL, NULL },

    { 413, "PAYLOAD_TOO_LARGE", 0,
      "O corpo da requisição excede o tamanho permitido.",
      "The request body exceeds the allowed size.",
      "Campo acima do tamanho permitido: %V.",
      "Field exceeds the allowed size: %V." },

    { 415, "UNSUPPORTED_MEDIA_TYPE", 0,
      "Tipo de conteúdo não suportado; use application/json.",
      "Unsupported content type; use application/json.",
      "Tipo de conteúdo não suportado: %V; use application/json.",
      "Unsupported content type: %V; use application/json." },

    { 429, "RATE_LIMITED", 1,
      "Muitas requisições; tente novamente mais tarde.",
      "Too many requests; try again later.",
      NULL, NULL },

    { 500, "INTERNAL_ERROR", 1,
      "Erro interno do servidor.",
      "Internal server error.",
      NULL, NULL },

    { 502, "AI_SERVICE_ERROR", 1,
      "O serviço de IA está indisponível no momento; tente novamente.",
      "The AI service is unavailable right now; try again.",
      NULL, NULL },

    { 502, "UPSTREAM_ERROR", 1,
      "O serviço de origem está indisponível no momento; tente novamente.",
      "The backend service is unavailable right now; try again.",
      NULL, NULL },

    { 503, "SERVICE_UNAVAILABLE", 1,
      "Serviço temporariamente indisponível; tente novamente.",
      "Service temporarily unavailable; try again.",
      NULL, NULL },

    { 504, "TIMEOUT", 1,
      "O serviço não respondeu a tempo; tente novamente.",
      "The service did not respond in time; try again.",
      NULL, NULL },

    { 0, NULL, 0, NULL, NULL, NULL, NULL }
};


static ngx_str_t  ngx_neonpro_json_type =
    ngx_string("application/json; charset=utf-8");


ngx_int_t
ngx_neonpro_error(ngx_http_request_t *r, ngx_uint_t status, const char *code,
    ngx_str_t *detail)
{
    ngx_neonpro_ctx_t  *ctx;

    ctx = ngx_neonpro_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->error_status = status;
    ctx->error_code = code;

    if (detail) {
        ctx->error_detail = *detail;

    } else {
        ngx_str_null(&ctx->error_detail);
    }

    return status;
}


/* Records a 405 and the Allow header that RFC 9110 requires with it. */
ngx_int_t
ngx_neonpro_error_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);
    h->lowcase_key = (u_char *) "allow";

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "neonpro: method \"%V\" is not allowed here, "
                  "allowed: %s", &r->method_name, allow);

    return ngx_neonpro_error(r, NGX_HTTP_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                             &r->method_name);
}


/*
 * Sets ctx->request_id once per request and echoes it to the client: the
 * client's X-Request-Id when it is 1 to 128 characters of [A-Za-z0-9._-],
 * or else 32 random hex digits.
 */
ngx_int_t
ngx_neonpro_request_id(ngx_http_request_t *r, ngx_neonpro_ctx_t *ctx)
{
    u_char           *p, c;
    size_t            i;
    ngx_uint_t        valid;
    ngx_table_elt_t  *h;

    if (ctx->request_id.len) {
        return NGX_OK;
    }

    h = ngx_neonpro_find_header_in(r, "x-request-id",
                                   sizeof("x-request-id") - 1);

    valid = h && h->value.len > 0
            && h->value.len <= NGX_NEONPRO_REQUEST_ID_MAX;

    for (i = 0; valid && i < h->value.len; i++) {
        c = h->value.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            valid = 0;
        }
    }

    if (valid) {
        ctx->request_id = h->value;

    } else {
        p = ngx_pnalloc(r->pool, 32);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "%08xD%08xD%08xD%08xD",
                    (uint32_t) ngx_random(), (uint32_t) ngx_random(),
                    (uint32_t) ngx_random(), (uint32_t) ngx_random());

        ctx->request_id.data = p;
        ctx->request_id.len = 32;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Request-Id");
    h->value = ctx->request_id;
    h->lowcase_key = (u_char *) "x-request-id";

    return NGX_OK;
}


/*
 * Builds a detail such as: X-LGPD-Legal-Basis "abc".  The value comes from
 * the client, so it is cut to NGX_NEONPRO_DETAIL_MAX bytes and every byte
 * outside printable ASCII becomes "?": the result is always valid UTF-8 and
 * safe in a log line.
 */
void
ngx_neonpro_error_quote(ngx_pool_t *pool, ngx_str_t *out, const char *prefix,
    ngx_str_t *value)
{
    u_char  *p;
    size_t   i, n, prefix_len;

    prefix_len = ngx_strlen(prefix);
    n = ngx_min(value->len, NGX_NEONPRO_DETAIL_MAX);

    p = ngx_pnalloc(pool, prefix_len + n + sizeof(" \"\"...") - 1);
    if (p == NULL) {
        ngx_str_null(out);
        return;
    }

    out->data = p;

    if (prefix_len) {
        p = ngx_cpymem(p, prefix, prefix_len);
        *p++ = ' ';
    }

    *p++ = '"';

    for (i = 0; i < n; i++) {
        *p++ = (value->data[i] >= 0x20 && value->data[i] < 0x7f
                && value->data[i] != '"' && value->data[i] != '\\')
               ? value->data[i] : '?';
    }

    *p++ = '"';

    if (n < value->len) {
        p = ngx_cpymem(p, "...", 3);
    }

    out->len = p - out->data;
}


const char *
ngx_neonpro_error_default_code(ngx_uint_t status, ngx_uint_t agent)
{
    switch (status) {
    case NGX_HTTP_UNAUTHORIZED:
        return "AUTHENTICATION_FAILED";
    case NGX_HTTP_FORBIDDEN:
        return "FORBIDDEN";
    case NGX_HTTP_NOT_FOUND:
        return "NOT_FOUND";
    case NGX_HTTP_NOT_ALLOWED:
        return "METHOD_NOT_ALLOWED";
    case NGX_HTTP_REQUEST_TIME_OUT:
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return "TIMEOUT";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "PAYLOAD_TOO_LARGE";
    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
        return "UNSUPPORTED_MEDIA_TYPE";
    case NGX_HTTP_TOO_MANY_REQUESTS:
        return "RATE_LIMITED";
    case NGX_HTTP_BAD_GATEWAY:
        return agent ? "AI_SERVICE_ERROR" : "UPSTREAM_ERROR";
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "SERVICE_UNAVAILABLE";
    }

    return status < NGX_HTTP_INTERNAL_SERVER_ERROR ? "INVALID_REQUEST"
                                                   : "INTERNAL_ERROR";
}


static ngx_neonpro_error_text_t *
ngx_neonpro_error_text(ngx_uint_t status, const char *code)
{
    ngx_neonpro_error_text_t  *t, *same_code;

    same_code = NULL;

    for (t = ngx_neonpro_error_texts; t->code; t++) {
        if (ngx_strcmp(t->code, code) != 0) {
            continue;
        }

        if (t->status == status) {
            return t;
        }

        if (same_code == NULL) {
            same_code = t;
        }
    }

    return same_code;
}


ngx_neonpro_lang_e
ngx_neonpro_request_lang(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_neonpro_find_header_in(r, "accept-language",
                                   sizeof("accept-language") - 1);
    if (h == NULL) {
        return NGX_NEONPRO_LANG_PT_BR;
    }

    return ngx_neonpro_lang_pick(h->value.data, h->value.len)
           == NGX_NEONPRO_LANG_PICK_EN ? NGX_NEONPRO_LANG_EN
                                       : NGX_NEONPRO_LANG_PT_BR;
}


/*
 * Builds the JSON body of ctx's error (or of r->err_status when no handler
 * recorded one) and rewrites the response header to match it.
 */
ngx_int_t
ngx_neonpro_error_prepare(ngx_http_request_t *r, ngx_neonpro_ctx_t *ctx)
{
    char                      *json;
    u_char                    *message, *last;
    size_t                     len;
    ngx_buf_t                 *b;
    json_t                    *doc;
    ngx_uint_t                 status;
    const char                *code, *template;
    ngx_table_elt_t           *h;
    ngx_neonpro_lang_e         lang;
    ngx_neonpro_error_text_t  *text;

    status = ctx->error_status ? ctx->error_status : r->headers_out.status;
    code = ctx->error_code ? ctx->error_code
                           : ngx_neonpro_error_default_code(status,
                                                            ctx->agent);

    text = ngx_neonpro_error_text(status, code);
    lang = ngx_neonpro_request_lang(r);

    if (text == NULL) {
        template = "";

    } else if (ctx->error_detail.len && text->pt_br_detail) {
        template = lang == NGX_NEONPRO_LANG_EN ? text->en_detail
                                               : text->pt_br_detail;

    } else {
        template = lang == NGX_NEONPRO_LANG_EN ? text->en : text->pt_br;
    }

    len = ngx_strlen(template) + ctx->error_detail.len + 1;

    message = ngx_pnalloc(r->pool, len);
    if (message == NULL) {
        return NGX_ERROR;
    }

    last = ngx_snprintf(message, len - 1, template, &ctx->error_detail);
    *last = '\0';

    doc = json_pack("{s:{s:s,s:s,s:b}}", "error",
                    "code", code,
                    "message", (char *) message,
                    "retryable", text ? (int) text->retryable : 0);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    json = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (json == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(json);

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        ngx_free(json);
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, json, len);
    *b->last++ = '\n';
    ngx_free(json);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ctx->error_body = b;

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_neonpro_json_type;
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    r->headers_out.content_length_n = b->last - b->pos;

    if (ngx_neonpro_request_id(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Language");

    if (lang == NGX_NEONPRO_LANG_EN) {
        ngx_str_set(&h->value, "en");

    } else {
        ngx_str_set(&h->value, "pt-BR");
    }

    h->lowcase_key = (u_char *) "content-language";

    return NGX_OK;
}
