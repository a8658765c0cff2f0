
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


typedef struct ngx_neonpro_ws_conn_s  ngx_neonpro_ws_conn_t;

struct ngx_neonpro_ws_conn_s {
    ngx_http_request_t         *request;
    ngx_connection_t           *connection;
    ngx_neonpro_ws_loc_conf_t  *conf;
    ngx_uint_t                  id;

    ngx_neonpro_ws_parser_t     parser;
    ngx_neonpro_utf8_t          utf8;
    uint64_t                    payload_left;
    size_t                      mask_offset;
    unsigned                    in_payload:1;

    /* the data message being received, from ngx_alloc() */
    u_char                     *message;
    size_t                      message_len;
    size_t                      message_size;

    u_char                      control[NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD];
    size_t                      control_len;

    u_char                     *recv_buf;
    size_t                      recv_size;

    /* frames waiting to be written, each an ngx_alloc() block */
    ngx_chain_t                *out;
    ngx_chain_t               **last_out;
    size_t                      out_bytes;

    ngx_event_t                 heartbeat;
    ngx_msec_t                  last_activity;

    /* the sessions this connection joined */
    ngx_queue_t                 memberships;

    ngx_uint_t                  lang;
    ngx_neonpro_ws_rate_t       rate;

    /* permessage-deflate, when negotiated */
    ngx_neonpro_ws_deflate_params_t    *deflate;
    ngx_neonpro_ws_deflate_inflater_t   inflater;
    ngx_neonpro_ws_deflate_deflater_t   deflater;

    ngx_str_t                   user_key;      /* "user:" and the key */

    unsigned                    address_counted:1;
    unsigned                    user_counted:1;
    unsigned                    close_sent:1;
    unsigned                    closing:1;
    unsigned                    finalized:1;
};


void ngx_neonpro_ws_start(ngx_neonpro_ws_conn_t *wc);
void ngx_neonpro_ws_cleanup(void *data);
void ngx_neonpro_ws_deliver(void);


#endif /* _NGX_NEONPRO_WS_H_INCLUDED_ */
