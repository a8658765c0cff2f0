
/*
 * The chat session bus: per-session sequence numbers, a history ring and
 * delivery to every worker that has participants of a session.
 *
 * The functions below are the interface a backend implements.  This unit
 * is the single-node backend, on shared memory and an eventfd per worker.
 * A Redis backend for several nodes is meant to fill the same table.
 */


#ifndef _NGX_NEONPRO_CHAT_BUS_H_INCLUDED_
#define _NGX_NEONPRO_CHAT_BUS_H_INCLUDED_


#include "ngx_neonpro.h"


#define NGX_NEONPRO_BUS_MAX_WORKERS  64
#define NGX_NEONPRO_BUS_MAX_HISTORY  1024

/* stream events a session keeps for workers that have not read them yet */
#define NGX_NEONPRO_BUS_STREAM_EVENTS  256


/* Who published a message: the sender's copy echoes the client's id. */
typedef struct {
    ngx_pid_t                  pid;
    ngx_uint_t                 connection;
    char                       id[65];
} ngx_neonpro_bus_origin_t;


/* A message to store: a participant's, or the agent's complete reply. */
typedef struct {
    const char                *user_id;
    const char                *user_role;
    const char                *content;
    size_t                     content_len;
    uint64_t                   stream;       /* the reply's stream, or 0 */
    const char                *stream_id;
} ngx_neonpro_bus_message_t;


/* the kinds of stream events */
#define NGX_NEONPRO_BUS_STREAM_START  1
#define NGX_NEONPRO_BUS_STREAM_CHUNK  2
#define NGX_NEONPRO_BUS_STREAM_END    3    /* a failed reply's end */
#define NGX_NEONPRO_BUS_STREAM_ERROR  4


/*
 * What a worker reads from a session after its last position: stored
 * messages (seq > 0) and live stream events (seq 0) in one order.
 */
typedef struct {
    uint64_t                   pos;
    uint64_t                   seq;
    uint64_t                   stream;
    ngx_uint_t                 kind;         /* of a stream event */
    u_char                    *json;
    size_t                     len;
    ngx_neonpro_bus_origin_t  *origin;
} ngx_neonpro_bus_item_t;


typedef ngx_int_t (*ngx_neonpro_bus_item_pt)(void *data,
    ngx_neonpro_bus_item_t *item);

/* Called for each stored message in order; returns NGX_OK to go on. */
typedef ngx_int_t (*ngx_neonpro_bus_message_pt)(void *data, uint64_t seq,
    u_char *json, size_t len, ngx_neonpro_bus_origin_t *origin);

/* Called in a worker when sessions it follows have new messages. */
typedef void (*ngx_neonpro_bus_wakeup_pt)(void);


#define NGX_NEONPRO_BUS_CLINIC_MAX  64


/* Where a worker starts reading a session it joins. */
typedef struct {
    uint64_t                   seq;
    uint64_t                   pos;
    ngx_uint_t                 agent;        /* the session's agent setting */

    /* the clinic of the user who opened the session; empty if anonymous */
    u_char                     clinic[NGX_NEONPRO_BUS_CLINIC_MAX];
    size_t                     clinic_len;
} ngx_neonpro_bus_joined_t;


typedef struct {
    /*
     * agent and clinic are the settings of a session that this join
     * creates.  NGX_DECLINED: the session belongs to another clinic.
     */
    ngx_int_t  (*join)(ngx_str_t *session, ngx_uint_t agent,
                       ngx_str_t *clinic, ngx_neonpro_bus_joined_t *joined);
    void       (*leave)(ngx_str_t *session);
    ngx_int_t  (*publish)(ngx_str_t *session, ngx_neonpro_bus_message_t *msg,
                          ngx_neonpro_bus_origin_t *origin, uint64_t *seq,
                          uint64_t *pos);
    /* a live stream event, not kept in the history */
    ngx_int_t  (*publish_stream)(ngx_str_t *session, uint64_t stream,
                                 ngx_uint_t kind, u_char *json, size_t len);
    /*
     * Calls handler for the stored messages after after_seq up to and
     * including up_to; *oldest is the first seq the history still holds.
     * A NULL handler only sets *oldest.
     */
    ngx_int_t  (*read)(ngx_str_t *session, uint64_t after_seq,
                       uint64_t up_to, uint64_t *oldest,
                       ngx_neonpro_bus_message_pt handler, void *data);
    /*
     * Calls handler for what the session got after after_pos, in order;
     * *last_pos is where the reading stopped.  *lost is set when stream
     * events after after_pos were dropped before this worker read them.
     */
    ngx_int_t  (*read_new)(ngx_str_t *session, uint64_t after_pos,
                           uint64_t *last_pos, ngx_uint_t *lost,
                           ngx_neonpro_bus_item_pt handler, void *data);
} ngx_neonpro_bus_t;


extern ngx_neonpro_bus_t  ngx_neonpro_bus_shm;


ngx_int_t ngx_neonpro_bus_add_zone(ngx_conf_t *cf, size_t size,
    ngx_uint_t history, time_t ttl);
ngx_int_t ngx_neonpro_bus_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_neonpro_bus_init_process(ngx_cycle_t *cycle,
    ngx_neonpro_bus_wakeup_pt wakeup);
void ngx_neonpro_bus_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_NEONPRO_CHAT_BUS_H_INCLUDED_ */
