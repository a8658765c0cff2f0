
/*
 * The AI agent as a chat participant: a message in a session with the
 * agent becomes a streaming POST /v1/chat through the libcurl adapter, and
 * the reply's events become stream events of the session bus.
 */


#ifndef _NGX_NEONPRO_CHAT_AGENT_H_INCLUDED_
#define _NGX_NEONPRO_CHAT_AGENT_H_INCLUDED_


#include "ngx_neonpro.h"
#include "ngx_neonpro_chat_bus.h"


typedef struct {
    ngx_str_t                   url;       /* NUL-terminated; empty is off */
    void                       *resolve;   /* a curl_slist, see set_url */
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  timeout;
    ngx_uint_t                  history;   /* exchanges sent as memory */
    ngx_uint_t                  concurrency;
    ngx_uint_t                  queue_size;
    size_t                      max_reply;

    /* this worker's calls through this configuration */
    ngx_uint_t                  active;
    ngx_uint_t                  waiting;
    ngx_queue_t                 queue;
} ngx_neonpro_chat_agent_conf_t;


/* One message for the agent to reply to. */
typedef struct {
    ngx_str_t                   session;
    uint64_t                    reply_to;  /* the message's seq */
    const char                 *message_id;
    const char                 *user_id;
    const char                 *user_role;
    const char                 *clinic;    /* or NULL */
    const char                 *content;
    size_t                      content_len;
    ngx_uint_t                  lang;
} ngx_neonpro_chat_agent_ask_t;


char *ngx_neonpro_chat_agent_set_url(ngx_conf_t *cf,
    ngx_neonpro_chat_agent_conf_t *acf, ngx_str_t *url);
ngx_int_t ngx_neonpro_chat_agent_room(ngx_neonpro_chat_agent_conf_t *acf);
ngx_int_t ngx_neonpro_chat_agent_ask(ngx_neonpro_chat_agent_conf_t *acf,
    ngx_neonpro_bus_t *bus, ngx_neonpro_chat_agent_ask_t *ask,
    ngx_log_t *log);
void ngx_neonpro_chat_agent_stream_id(char *buf, size_t size,
    uint64_t stream);
void ngx_neonpro_chat_agent_exit_process(void);


#endif /* _NGX_NEONPRO_CHAT_AGENT_H_INCLUDED_ */
