
/*
 * The WebSocket chat module: configuration and per-connection state shared
 * by ngx_neonpro_ws_module.c (directives, handshake) and
 * src/ngx_neonpro_ws_conn.c (frames and the chat protocol).
 */


#ifndef _NGX_NEONPRO_WS_H_INCLUDED_
#define _NGX_NEONPRO_WS_H_INCLUDED_


#include "ngx_neonpro.h"
#include "ngx_neonpro_chat_agent.h"
#include "ngx_neonpro_utf8.h"
#include "ngx_neonpro_ws_deflate.h"
#include "ngx_neonpro_ws_frame.h"
#include "ngx_neonpro_ws_limits.h"


typedef struct {
    ngx_flag_t                  enabled;
    size_t                      max_message_size;
    size_t                      send_queue_size;
    ngx_msec_t                  heartbeat;
    ngx_msec_t                  idle_timeout;
    ngx_uint_t                  message_rate;  /* per minute */
    ngx_uint_t                  connections_per_ip;
    ngx_uint_t                  connections_per_user;
    ngx_uint_t                  user_message_rate;  /* per minute */
    ngx_http_complex_value_t   *user_key;
    ngx_flag_t                  deflate;
    ngx_array_t                *origins;       /* of ngx_neonpro_ws_str_t */
    ngx_neonpro_chat_agent_conf_t  agent;
} ngx_neonpro_ws_loc_conf_t;


typedef struct {
    ngx_flag_t                  zone_added;
    size_t                      zone_size;
    ngx_uint_t                  history;
    time_t                      session_ttl;
} ngx_neonpro_ws_main_conf_t;


/* the zlib streams of one connection that negotiated permessage-deflate */
typedef struct {
    ngx_neonpro_ws_deflate_inflater_t   inflater;
    ngx_neonpro_ws_deflate_deflater_t   deflater;
} ngx_neonpro_ws_compression_t;


typedef struct ngx_neonpro_ws_conn_s  ngx_neonpro_ws_conn_t;

/*
 * One chat WebSocket, allocated from c->pool, so that it lives exactly as
 * long as the connection.  c->data points to it once the handshake
 * request is released; before that, it is the request's module context.
 */
struct ngx_neonpro_ws_conn_s {
    ngx_connection_t           *connection;

    /*
     * The handshake request until ngx_neonpro_ws_release_request() frees
     * it, and NULL after that.  What the connection needs of it is copied
     * below: conf, session_ttl and lang.
     */
    ngx_http_request_t         *request;

    ngx_neonpro_ws_loc_conf_t  *conf;
    time_t                      session_ttl;
    ngx_uint_t                  id;

    ngx_neonpro_ws_parser_t     parser;
    uint64_t                    payload_left;
    size_t                      mask_offset;
    ngx_neonpro_utf8_t          utf8;

    /* an ngx_neonpro_lang_e */
    unsigned                    lang:1;
    unsigned                    in_payload:1;
    /* the bytes that came with the handshake in r->header_in are parsed */
    unsigned                    preread_done:1;
    unsigned                    address_counted:1;
    unsigned                    user_counted:1;
    unsigned                    close_sent:1;
    unsigned                    closing:1;
    unsigned                    finalized:1;

    /* the data message being received, from ngx_alloc() */
    u_char                     *message;
    size_t                      message_len;
    size_t                      message_size;

    size_t                      control_len;
    u_char                      control[NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD];

    /* frames waiting to be written, each an ngx_alloc() block */
    ngx_chain_t                *out;
    ngx_chain_t               **last_out;
    size_t                      out_bytes;

    ngx_event_t                 heartbeat;
    ngx_msec_t                  last_activity;

    /* the sessions this connection joined */
    ngx_queue_t                 memberships;

    ngx_neonpro_ws_rate_t       rate;

    /* permessage-deflate: from ngx_alloc(), NULL unless negotiated */
    ngx_neonpro_ws_compression_t  *deflate;

    /* "user:" and the value of neonpro_chat_user_key, in c->pool */
    ngx_str_t                   user_key;

    /* the verified identity of the handshake, in c->pool; empty if none */
    ngx_str_t                   user;
    ngx_str_t                   role;
    ngx_str_t                   clinic;

    /* when the handshake's token expires, with leeway; 0 for none */
    time_t                      auth_expires;
};


void ngx_neonpro_ws_start(ngx_neonpro_ws_conn_t *wc);
void ngx_neonpro_ws_cleanup(void *data);
void ngx_neonpro_ws_deliver(void);


#endif /* _NGX_NEONPRO_WS_H_INCLUDED_ */
