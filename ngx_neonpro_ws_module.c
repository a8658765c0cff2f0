
/*
 * ngx_neonpro_ws_module: the clinic chat over WebSocket.  nginx replies to
 * the RFC 6455 handshake itself and then runs the neonpro.chat.v1
 * protocol on the connection (src/ngx_neonpro_ws_conn.c), with sessions
 * shared by all workers through the chat bus (src/ngx_neonpro_chat_bus.c).
 */


#include "src/ngx_neonpro.h"
#include "src/ngx_neonpro_auth.h"
#include "src/ngx_neonpro_chat_bus.h"
#include "src/ngx_neonpro_curl.h"
#include "src/ngx_neonpro_error.h"
#include "src/ngx_neonpro_ws.h"
#include "src/ngx_neonpro_ws_handshake.h"


static ngx_int_t ngx_neonpro_ws_handler(ngx_http_request_t *r);
static char *ngx_neonpro_ws_chat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_ws_chat_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_ws_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_ws_agent(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_ws_session_ttl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_neonpro_ws_create_main_conf(ngx_conf_t *cf);
static void *ngx_neonpro_ws_create_loc_conf(ngx_conf_t *cf);
static char *ngx_neonpro_ws_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_neonpro_ws_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_neonpro_ws_init_process(ngx_cycle_t *cycle);
static void ngx_neonpro_ws_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_neonpro_ws_commands[] = {

    { ngx_string("neonpro_chat"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_neonpro_ws_chat,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_chat_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_neonpro_ws_chat_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_chat_session_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_ws_session_ttl,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_chat_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, max_message_size),
      NULL },

    { ngx_string("neonpro_chat_send_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, send_queue_size),
      NULL },

    { ngx_string("neonpro_chat_heartbeat"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, heartbeat),
      NULL },

    { ngx_string("neonpro_chat_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("neonpro_chat_message_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, message_rate),
      NULL },

    { ngx_string("neonpro_chat_connections_per_ip"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, connections_per_ip),
      NULL },

    { ngx_string("neonpro_chat_user_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, user_key),
      NULL },

    { ngx_string("neonpro_chat_connections_per_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, connections_per_user),
      NULL },

    { ngx_string("neonpro_chat_user_message_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, user_message_rate),
      NULL },

    { ngx_string("neonpro_chat_deflate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, deflate),
      NULL },

    { ngx_string("neonpro_chat_agent"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_ws_agent,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_chat_agent_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, agent.timeout),
      NULL },

    { ngx_string("neonpro_chat_agent_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, agent.connect_timeout),
      NULL },

    { ngx_string("neonpro_chat_agent_history"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, agent.history),
      NULL },

    { ngx_string("neonpro_chat_agent_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, agent.concurrency),
      NULL },

    { ngx_string("neonpro_chat_agent_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_ws_loc_conf_t, agent.queue_size),
      NULL },

    { ngx_string("neonpro_chat_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_ws_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_neonpro_ws_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_neonpro_ws_create_main_conf,       /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_neonpro_ws_create_loc_conf,        /* create location configuration */
    ngx_neonpro_ws_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_neonpro_ws_module = {
    NGX_MODULE_V1,
    &ngx_neonpro_ws_module_ctx,            /* module context */
    ngx_neonpro_ws_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_neonpro_ws_init_module,            /* init module */
    ngx_neonpro_ws_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_neonpro_ws_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the next connection id of this worker */
static ngx_uint_t  ngx_neonpro_ws_next_id;


static ngx_table_elt_t *
ngx_neonpro_ws_push_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;
    h->lowcase_key = NULL;

    return h;
}


/*
 * Returns the value of a request header as one list: several lines of the
 * same header are joined with ", " (RFC 9110, section 5.3).  *count is the
 * number of lines, 0 when the header is absent.
 */
static ngx_int_t
ngx_neonpro_ws_header(ngx_http_request_t *r, const char *lowcase,
    ngx_str_t *value, ngx_uint_t *count)
{
    u_char           *p;
    size_t            len, name_len;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *first;

    name_len = ngx_strlen(lowcase);
    first = NULL;
    len = 0;
    n = 0;

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

        if (h[i].key.len == name_len
            && ngx_strncmp(h[i].lowcase_key, lowcase, name_len) == 0)
        {
            first = first ? first : &h[i];
            len += h[i].value.len + 2;
            n++;
        }
    }

    *count = n;

    if (n <= 1) {
        if (first) {
            *value = first->value;
        }

        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;

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

        if (h[i].key.len == name_len
            && ngx_strncmp(h[i].lowcase_key, lowcase, name_len) == 0)
        {
            if (p != value->data) {
                *p++ = ',';
                *p++ = ' ';
            }

            p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
        }
    }

    value->len = p - value->data;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_ws_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason)
{
    ngx_str_t  detail;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "neonpro: WebSocket handshake rejected: %s", reason);

    detail.data = (u_char *) reason;
    detail.len = ngx_strlen(reason);

    return ngx_neonpro_error(r, status,
                             status == NGX_HTTP_FORBIDDEN ? "FORBIDDEN"
                                                          : "INVALID_REQUEST",
                             &detail);
}


/*
 * Checks the opening handshake (RFC 6455, section 4.2.1) and returns 0
 * when it may proceed, or the status to reject it with.
 */
static ngx_int_t
ngx_neonpro_ws_check_handshake(ngx_http_request_t *r,
    ngx_neonpro_ws_loc_conf_t *wlcf)
{
    ngx_int_t    tls;
    ngx_str_t    value, *host;
    ngx_uint_t   count;

    if (r->method != NGX_HTTP_GET) {
        return ngx_neonpro_error_not_allowed(r, "GET");
    }

    if (ngx_neonpro_ws_header(r, "upgrade", &value, &count) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (count ? ngx_neonpro_ws_upgrade(value.data, value.len)
                  : NGX_NEONPRO_WS_UPGRADE_NONE)
    {
    case NGX_NEONPRO_WS_UPGRADE_WEBSOCKET:
        break;

    case NGX_NEONPRO_WS_UPGRADE_NONE:
        if (ngx_neonpro_ws_push_header(r, "Upgrade", (u_char *) "websocket",
                                       sizeof("websocket") - 1)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_neonpro_ws_refuse(r, 426,
                                     "an Upgrade: websocket header");

    default:
        /* h2c and every other protocol are refused, never tunnelled */
        return ngx_neonpro_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                     "Upgrade to a protocol other than "
                                     "websocket");
    }

    if (ngx_neonpro_ws_header(r, "connection", &value, &count) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (count == 0
        || !ngx_neonpro_ws_connection_upgrade(value.data, value.len))
    {
        return ngx_neonpro_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                     "Connection without the upgrade token");
    }

    /* the version and the key are single values, never lists */

    if (ngx_neonpro_ws_header(r, "sec-websocket-version", &value, &count)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (count > 1) {
        return ngx_neonpro_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                     "one Sec-WebSocket-Version line");
    }

    if (count == 0 || !ngx_neonpro_ws_version_valid(value.data, value.len)) {
        if (ngx_neonpro_ws_push_header(r, "Sec-WebSocket-Version",
                                       (u_char *) "13", 2)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_neonpro_ws_refuse(r, 426, "Sec-WebSocket-Version 13");
    }

    if (ngx_neonpro_ws_header(r, "sec-websocket-key", &value, &count)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (count != 1 || !ngx_neonpro_ws_key_valid(value.data, value.len)) {
        return ngx_neonpro_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                     "one Sec-WebSocket-Key of 16 bytes in "
                                     "base64");
    }

    if (ngx_neonpro_ws_header(r, "origin", &value, &count) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    host = r->headers_in.host ? &r->headers_in.host->value : NULL;

#if (NGX_HTTP_SSL)
    tls = r->connection->ssl != NULL;
#else
    tls = 0;
#endif

    if (!ngx_neonpro_ws_origin_allowed(count ? value.data : NULL,
                                       count ? value.len : 0,
                                       host ? host->data : NULL,
                                       host ? host->len : 0, (int) tls,
                                       wlcf->origins ? wlcf->origins->elts
                                                     : NULL,
                                       wlcf->origins ? wlcf->origins->nelts
                                                     : 0))
    {
        return ngx_neonpro_ws_refuse(r, NGX_HTTP_FORBIDDEN,
                                     "Origin not allowed");
    }

    return 0;
}


/*
 * Accepts the first acceptable permessage-deflate offer (RFC 7692) and
 * sends the response header for it.  The connection compresses only when
 * this function set wc->deflate.
 */
static ngx_int_t
ngx_neonpro_ws_negotiate_deflate(ngx_http_request_t *r,
    ngx_neonpro_ws_conn_t *wc)
{
    ngx_str_t                         value;
    ngx_uint_t                        count;
    ngx_neonpro_ws_compression_t     *compression;
    ngx_neonpro_ws_deflate_params_t  *params;
    ngx_neonpro_ws_deflate_policy_t   policy;

    if (ngx_neonpro_ws_header(r, "sec-websocket-extensions", &value, &count)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (count == 0) {
        return NGX_OK;
    }

    params = ngx_pcalloc(r->pool, sizeof(ngx_neonpro_ws_deflate_params_t));
    if (params == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&policy, sizeof(policy));
    policy.enabled = 1;
    policy.server_max_window_bits = NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS;
    policy.client_max_window_bits = NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS;

    if (ngx_neonpro_ws_deflate_negotiate(value.data, value.len, &policy,
                                         params)
        != NGX_NEONPRO_WS_DEFLATE_OK)
    {
        return NGX_OK;
    }

    /*
     * The streams live outside wc, so that a connection without
     * compression does not carry two z_stream structures.  Once wc->deflate
     * is set, ngx_neonpro_ws_cleanup() frees them, whether or not their
     * initialization succeeded.
     *
     * NOTE: by the formula in zconf.h, a deflater with a 15-bit window and
     * memLevel 8 allocates 256 KiB at init.  1000 idle clients that
     * negotiated compression measured about 100 KB of PSS each, against
     * 1.6 KB without (bench/chat/README.md).
     */

    compression = ngx_calloc(sizeof(ngx_neonpro_ws_compression_t),
                             r->connection->log);
    if (compression == NULL) {
        return NGX_ERROR;
    }

    wc->deflate = compression;

    if (ngx_neonpro_ws_deflate_inflater_init(&compression->inflater, params,
                                             wc->conf->max_message_size)
        != NGX_NEONPRO_WS_DEFLATE_OK
        || ngx_neonpro_ws_deflate_deflater_init(&compression->deflater,
                                                params,
                                                Z_DEFAULT_COMPRESSION, 8)
           != NGX_NEONPRO_WS_DEFLATE_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_neonpro_ws_push_header(r, "Sec-WebSocket-Extensions",
                                   params->response, params->response_len)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Rejects a handshake over a connection limit: 429 with Retry-After. */
static ngx_int_t
ngx_neonpro_ws_too_many(ngx_http_request_t *r)
{
    if (ngx_neonpro_ws_push_header(r, "Retry-After", (u_char *) "60", 2)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_neonpro_error(r, NGX_HTTP_TOO_MANY_REQUESTS, "RATE_LIMITED",
                             NULL);
}


static ngx_int_t
ngx_neonpro_ws_copy_str(ngx_connection_t *c, ngx_str_t *from, ngx_str_t *to)
{
    if (from->len == 0) {
        ngx_str_null(to);
        return NGX_OK;
    }

    /* NUL-terminated: the chat envelopes take C strings */

    to->data = ngx_pnalloc(c->pool, from->len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(to->data, from->data, from->len + 1);
    to->len = from->len;

    return NGX_OK;
}


/*
 * Keeps the verified identity of the handshake for the connection, which
 * outlives the request: the user and role of its messages and the clinic
 * that owns the sessions it opens.
 */
static ngx_int_t
ngx_neonpro_ws_copy_identity(ngx_http_request_t *r, ngx_neonpro_ws_conn_t *wc)
{
    ngx_neonpro_identity_t  *id;

    id = ngx_neonpro_auth_identity(r);

    if (id == NULL) {
        return NGX_OK;
    }

    wc->auth_expires = id->expires;

    if (ngx_neonpro_ws_copy_str(r->connection, &id->user, &wc->user)
        != NGX_OK
        || ngx_neonpro_ws_copy_str(r->connection, &id->role, &wc->role)
           != NGX_OK
        || ngx_neonpro_ws_copy_str(r->connection, &id->clinic, &wc->clinic)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Counts the connection for its user, when neonpro_chat_user_key names one:
 * the key's value, counted across workers in the same zone as addresses
 * under a prefix of its own.  An empty value is not counted.
 */
static ngx_int_t
ngx_neonpro_ws_count_user(ngx_http_request_t *r, ngx_neonpro_ws_conn_t *wc)
{
    u_char     *p;
    ngx_str_t   value;

    if (wc->conf->user_key == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, wc->conf->user_key, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (value.len == 0) {
        return NGX_OK;
    }

    /* the connection's pool, since the key outlives the request */

    p = ngx_pnalloc(r->connection->pool, sizeof("user:") - 1 + value.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wc->user_key.data = p;
    p = ngx_cpymem(p, "user:", sizeof("user:") - 1);
    p = ngx_cpymem(p, value.data, value.len);
    wc->user_key.len = p - wc->user_key.data;

    if (ngx_neonpro_ws_ip_acquire(&wc->user_key,
                                  wc->conf->connections_per_user)
        == NGX_OK)
    {
        wc->user_counted = 1;
        return NGX_OK;
    }

    /* the user's id stays out of the log */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "neonpro: WebSocket handshake rejected: the user already "
                  "has %ui chat connections", wc->conf->connections_per_user);

    return ngx_neonpro_ws_too_many(r);
}


static ngx_int_t
ngx_neonpro_ws_handler(ngx_http_request_t *r)
{
    size_t                       token_len;
    u_char                      *accept;
    ngx_int_t                    rc;
    ngx_str_t                    protocols;
    ngx_uint_t                   count;
    ngx_table_elt_t             *key;
    const unsigned char         *token;
    ngx_neonpro_ctx_t           *nctx;
    ngx_http_cleanup_t          *cln;
    ngx_neonpro_ws_conn_t       *wc;
    ngx_neonpro_ws_loc_conf_t   *wlcf;
    ngx_neonpro_ws_main_conf_t  *wmcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_ws_module);

    nctx = ngx_neonpro_get_ctx(r);
    if (nctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r != r->main) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_neonpro_ws_check_handshake(r, wlcf);
    if (rc != 0) {
        return rc;
    }

    if (ngx_neonpro_ws_header(r, "sec-websocket-protocol", &protocols,
                              &count)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (count) {
        if (ngx_neonpro_ws_protocol_bearer(protocols.data, protocols.len,
                                           &token, &token_len)
            < 0)
        {
            return ngx_neonpro_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid Sec-WebSocket-Protocol");
        }

        switch (ngx_neonpro_ws_protocol_select(protocols.data, protocols.len,
                                               NULL, 0))
        {
        case NGX_NEONPRO_WS_PROTOCOL_SELECTED:
            break;

        case NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED:
            return ngx_neonpro_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                         "Sec-WebSocket-Protocol without "
                                         NGX_NEONPRO_WS_PROTOCOL);

        default:
            return ngx_neonpro_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid Sec-WebSocket-Protocol");
        }
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    key = ngx_neonpro_find_header_in(r, "sec-websocket-key",
                                     sizeof("sec-websocket-key") - 1);

    accept = ngx_pnalloc(r->pool, NGX_NEONPRO_WS_ACCEPT_LEN);
    if (accept == NULL
        || ngx_neonpro_ws_accept(key->value.data, key->value.len, accept)
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_neonpro_ws_ip_acquire(&r->connection->addr_text,
                                  wlcf->connections_per_ip)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "neonpro: WebSocket handshake rejected: %V already "
                      "has %ui chat connections", &r->connection->addr_text,
                      wlcf->connections_per_ip);

        return ngx_neonpro_ws_too_many(r);
    }

    /*
     * wc outlives the request, which is freed once the 101 is out, so it
     * comes from the connection's pool and goes with the connection.  It
     * is allocated after the per-address check, so that handshakes
     * rejected on a keepalive connection leave nothing in that pool.
     */

    wc = ngx_pcalloc(r->connection->pool, sizeof(ngx_neonpro_ws_conn_t));
    cln = (wc != NULL) ? ngx_http_cleanup_add(r, 0) : NULL;

    if (cln == NULL) {
        ngx_neonpro_ws_ip_release(&r->connection->addr_text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wmcf = ngx_http_get_module_main_conf(r, ngx_neonpro_ws_module);

    wc->request = r;
    wc->connection = r->connection;
    wc->conf = wlcf;
    wc->session_ttl = wmcf->session_ttl;
    wc->id = ++ngx_neonpro_ws_next_id;
    wc->lang = ngx_neonpro_request_lang(r);
    wc->address_counted = 1;

    ngx_http_set_ctx(r, wc, ngx_neonpro_ws_module);

    /* the cleanup may run before the connection starts: keep wc coherent */
    ngx_queue_init(&wc->memberships);
    wc->last_out = &wc->out;

    /*
     * Until the request is released, closing it runs this cleanup.  The
     * release disarms it, and from then on the connection runs it itself.
     */

    cln->handler = ngx_neonpro_ws_cleanup;
    cln->data = wc;

    if (ngx_neonpro_ws_copy_identity(r, wc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_neonpro_ws_count_user(r, wc);
    if (rc != NGX_OK) {
        return rc;
    }

    if (wlcf->deflate && ngx_neonpro_ws_negotiate_deflate(r, wc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the 101 response; nginx's header filter adds Connection: upgrade */

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;
    r->header_only = 1;

    if (ngx_neonpro_ws_push_header(r, "Upgrade", (u_char *) "websocket",
                                   sizeof("websocket") - 1) == NULL
        || ngx_neonpro_ws_push_header(r, "Sec-WebSocket-Accept", accept,
                                      NGX_NEONPRO_WS_ACCEPT_LEN) == NULL
        || (count && ngx_neonpro_ws_push_header(r, "Sec-WebSocket-Protocol",
                                   (u_char *) NGX_NEONPRO_WS_PROTOCOL,
                                   sizeof(NGX_NEONPRO_WS_PROTOCOL) - 1)
                 == NULL))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    /*
     * The request outlives this handler until the connection releases it
     * (ngx_neonpro_ws_release_request()) or closes it.
     */
    r->main->count++;

    ngx_neonpro_ws_start(wc);

    return NGX_DONE;
}


static char *
ngx_neonpro_ws_chat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_ws_loc_conf_t *wlcf = conf;

    ngx_http_core_loc_conf_t    *clcf;
    ngx_neonpro_ws_main_conf_t  *wmcf;

    if (wlcf->enabled == 1) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "cannot share a location with another content handler";
    }

    clcf->handler = ngx_neonpro_ws_handler;
    wlcf->enabled = 1;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_neonpro_ws_module);

    if (!wmcf->zone_added) {
        wmcf->zone_added = 1;

        if (ngx_neonpro_bus_add_zone(cf, wmcf->zone_size, wmcf->history,
                                     wmcf->session_ttl)
            != NGX_OK
            || ngx_neonpro_ws_limits_add_zone(cf) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_neonpro_ws_chat_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_ws_main_conf_t *wmcf = conf;

    ssize_t     size;
    ngx_int_t   history;
    ngx_str_t  *value;

    value = cf->args->elts;

    if (wmcf->zone_added) {
        return "must come before the first neonpro_chat";
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\", expected a size of "
                           "at least 32k such as 16m", &value[1]);
        return NGX_CONF_ERROR;
    }

    wmcf->zone_size = size;

    if (cf->args->nelts == 3) {
        history = (value[2].len > 8
                   && ngx_strncmp(value[2].data, "history=", 8) == 0)
                  ? ngx_atoi(value[2].data + 8, value[2].len - 8)
                  : NGX_ERROR;

        if (history < 1 || history > NGX_NEONPRO_BUS_MAX_HISTORY) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "history=N with N from 1 to %d", &value[2],
                               NGX_NEONPRO_BUS_MAX_HISTORY);
            return NGX_CONF_ERROR;
        }

        wmcf->history = history;
    }

    return NGX_CONF_OK;
}


/* neonpro_chat_agent URL | off */
static char *
ngx_neonpro_ws_agent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_ws_loc_conf_t  *wlcf = conf;

    ngx_str_t  *value;

    if (wlcf->agent.url.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        wlcf->agent.url.data = (u_char *) "";
        wlcf->agent.url.len = 0;
        return NGX_CONF_OK;
    }

    return ngx_neonpro_chat_agent_set_url(cf, &wlcf->agent, &value[1]);
}


static char *
ngx_neonpro_ws_session_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_ws_main_conf_t *wmcf = conf;

    time_t      ttl;
    ngx_str_t  *value;

    if (wmcf->zone_added) {
        return "must come before the first neonpro_chat";
    }

    value = cf->args->elts;
    ttl = ngx_parse_time(&value[1], 1);

    if (ttl == (time_t) NGX_ERROR || ttl <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "expected a time such as 24h", &value[1],
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    wmcf->session_ttl = ttl;

    return NGX_CONF_OK;
}


static char *
ngx_neonpro_ws_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_neonpro_ws_str_t     *origin;
    ngx_neonpro_ws_origin_t   parsed;

    if (wlcf->origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    wlcf->origins = ngx_array_create(cf->pool, cf->args->nelts,
                                     sizeof(ngx_neonpro_ws_str_t));
    if (wlcf->origins == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        /* "null" is the opaque origin of sandboxed frames and files */

        if (!(value[i].len == 4 && ngx_strncmp(value[i].data, "null", 4) == 0)
            && !ngx_neonpro_ws_origin_parse(value[i].data, value[i].len,
                                            &parsed))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\", expected "
                               "scheme://host[:port] such as "
                               "\"https://app.example.com.br\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        origin = ngx_array_push(wlcf->origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        origin->data = value[i].data;
        origin->len = value[i].len;
    }

    return NGX_CONF_OK;
}


static void *
ngx_neonpro_ws_create_main_conf(ngx_conf_t *cf)
{
    ngx_neonpro_ws_main_conf_t  *wmcf;

    wmcf = ngx_pcalloc(cf->pool, sizeof(ngx_neonpro_ws_main_conf_t));
    if (wmcf == NULL) {
        return NULL;
    }

    wmcf->zone_size = 16 * 1024 * 1024;
    wmcf->history = 64;
    wmcf->session_ttl = 86400;

    return wmcf;
}


static void *
ngx_neonpro_ws_create_loc_conf(ngx_conf_t *cf)
{
    ngx_neonpro_ws_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_neonpro_ws_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enabled = NGX_CONF_UNSET;
    conf->max_message_size = NGX_CONF_UNSET_SIZE;
    conf->send_queue_size = NGX_CONF_UNSET_SIZE;
    conf->heartbeat = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->message_rate = NGX_CONF_UNSET_UINT;
    conf->connections_per_ip = NGX_CONF_UNSET_UINT;
    conf->connections_per_user = NGX_CONF_UNSET_UINT;
    conf->user_message_rate = NGX_CONF_UNSET_UINT;
    conf->user_key = NGX_CONF_UNSET_PTR;
    conf->deflate = NGX_CONF_UNSET;
    conf->origins = NGX_CONF_UNSET_PTR;

    conf->agent.timeout = NGX_CONF_UNSET_MSEC;
    conf->agent.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->agent.history = NGX_CONF_UNSET_UINT;
    conf->agent.concurrency = NGX_CONF_UNSET_UINT;
    conf->agent.queue_size = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_neonpro_ws_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_neonpro_ws_loc_conf_t *prev = parent;
    ngx_neonpro_ws_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size,
                              1024 * 1024);
    ngx_conf_merge_size_value(conf->send_queue_size, prev->send_queue_size,
                              4 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->heartbeat, prev->heartbeat, 30000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 300000);
    ngx_conf_merge_uint_value(conf->message_rate, prev->message_rate, 100);
    ngx_conf_merge_uint_value(conf->connections_per_ip,
                              prev->connections_per_ip, 10);
    ngx_conf_merge_uint_value(conf->connections_per_user,
                              prev->connections_per_user, 5);
    ngx_conf_merge_uint_value(conf->user_message_rate,
                              prev->user_message_rate, 100);
    ngx_conf_merge_ptr_value(conf->user_key, prev->user_key, NULL);
    ngx_conf_merge_value(conf->deflate, prev->deflate, 0);
    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);

    if (conf->agent.url.data == NULL) {
        conf->agent.url = prev->agent.url;
        conf->agent.resolve = prev->agent.resolve;
    }

    if (conf->agent.url.data == NULL) {
        ngx_str_set(&conf->agent.url, "");
    }

    ngx_conf_merge_msec_value(conf->agent.timeout, prev->agent.timeout, 60000);
    ngx_conf_merge_msec_value(conf->agent.connect_timeout,
                              prev->agent.connect_timeout, 5000);
    ngx_conf_merge_uint_value(conf->agent.history, prev->agent.history, 10);
    ngx_conf_merge_uint_value(conf->agent.concurrency,
                              prev->agent.concurrency, 16);
    ngx_conf_merge_uint_value(conf->agent.queue_size, prev->agent.queue_size,
                              64);

    if (conf->agent.concurrency == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "neonpro_chat_agent_concurrency must be at "
                           "least 1");
        return NGX_CONF_ERROR;
    }

    if (conf->agent.history > NGX_NEONPRO_BUS_MAX_HISTORY / 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "neonpro_chat_agent_history must be at most %d",
                           NGX_NEONPRO_BUS_MAX_HISTORY / 2);
        return NGX_CONF_ERROR;
    }

    /* these counters are each worker's own, for this location */
    conf->agent.max_reply = conf->max_message_size;
    conf->agent.active = 0;
    conf->agent.waiting = 0;
    ngx_queue_init(&conf->agent.queue);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_neonpro_ws_init_module(ngx_cycle_t *cycle)
{
    if (ngx_neonpro_curl_global_init(cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_neonpro_bus_init_module(cycle);
}


static ngx_int_t
ngx_neonpro_ws_init_process(ngx_cycle_t *cycle)
{
    return ngx_neonpro_bus_init_process(cycle, ngx_neonpro_ws_deliver);
}


static void
ngx_neonpro_ws_exit_process(ngx_cycle_t *cycle)
{
    ngx_neonpro_chat_agent_exit_process();
    ngx_neonpro_bus_exit_process(cycle);
}
