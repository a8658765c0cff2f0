
/*
 * One chat WebSocket after the 101: frames in (RFC 6455, section 5),
 * neonpro.chat.v1 envelopes dispatched, frames out through a bounded
 * queue, heartbeats and the close handshake.
 *
 * The handshake request lives only until the 101 is completely written and
 * the frames that came with the handshake are parsed.  Then
 * ngx_neonpro_ws_release_request() frees it, as nginx frees a request
 * before a keepalive wait, and the connection goes on with wc in c->data.
 *
 * The connection never closes from inside a send or a delivery loop:
 * closing posts wc's close event.  Its handler finalizes the request while
 * one is held, and otherwise runs ngx_neonpro_ws_cleanup() and closes the
 * connection itself.
 */


#include "ngx_neonpro_chat_bus.h"
#include "ngx_neonpro_chat_envelope.h"
#include "ngx_neonpro_lang.h"
#include "ngx_neonpro_ws.h"


#define NGX_NEONPRO_WS_RECV_SIZE      4096
#define NGX_NEONPRO_WS_OPEN_STREAMS   8


/* a session that participants on this worker joined */
typedef struct {
    ngx_queue_t                 link;
    ngx_str_t                   id;
    uint64_t                    delivered;    /* the last seq sent */
    uint64_t                    pos;          /* the last bus position read */
    ngx_uint_t                  agent;
    ngx_uint_t                  lost;         /* stream events were missed */

    /*
     * Agent replies whose stream_start went out here: their stored
     * message goes out as the stream_end, the others' as a message.
     */
    uint64_t                    open[NGX_NEONPRO_WS_OPEN_STREAMS];
    ngx_uint_t                  nopen;

    /* the clinic that owns the session, empty for an anonymous one */
    u_char                      clinic[NGX_NEONPRO_BUS_CLINIC_MAX];
    size_t                      clinic_len;

    ngx_queue_t                 members;
} ngx_neonpro_ws_session_t;


typedef struct {
    ngx_queue_t                 in_session;
    ngx_queue_t                 in_conn;
    ngx_neonpro_ws_session_t   *session;
    ngx_neonpro_ws_conn_t      *conn;
} ngx_neonpro_ws_member_t;


static void ngx_neonpro_ws_request_read_event(ngx_event_t *rev);
static void ngx_neonpro_ws_request_write_event(ngx_event_t *wev);
static void ngx_neonpro_ws_read_event(ngx_event_t *rev);
static void ngx_neonpro_ws_write_event(ngx_event_t *wev);
static void ngx_neonpro_ws_read(ngx_neonpro_ws_conn_t *wc);
static void ngx_neonpro_ws_close_event(ngx_event_t *ev);
static void ngx_neonpro_ws_heartbeat(ngx_event_t *ev);
static ngx_int_t ngx_neonpro_ws_process(ngx_neonpro_ws_conn_t *wc,
    u_char *p, size_t len);
static ngx_int_t ngx_neonpro_ws_frame_done(ngx_neonpro_ws_conn_t *wc);
static ngx_int_t ngx_neonpro_ws_inflate_dispatch(ngx_neonpro_ws_conn_t *wc);
static void ngx_neonpro_ws_dispatch(ngx_neonpro_ws_conn_t *wc);
static ngx_int_t ngx_neonpro_ws_deliver_item(void *data,
    ngx_neonpro_bus_item_t *item);
static ngx_int_t ngx_neonpro_ws_send(ngx_neonpro_ws_conn_t *wc,
    ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_neonpro_ws_send_json(ngx_neonpro_ws_conn_t *wc, char *json);
static void ngx_neonpro_ws_fail(ngx_neonpro_ws_conn_t *wc, ngx_uint_t code,
    const char *reason);
static void ngx_neonpro_ws_flush(ngx_neonpro_ws_conn_t *wc);
static void ngx_neonpro_ws_release_request(ngx_neonpro_ws_conn_t *wc);
static void ngx_neonpro_ws_close_later(ngx_neonpro_ws_conn_t *wc);
static ngx_int_t ngx_neonpro_ws_expired(ngx_neonpro_ws_conn_t *wc);


static ngx_neonpro_bus_t  *ngx_neonpro_ws_bus = &ngx_neonpro_bus_shm;


static time_t
ngx_neonpro_ws_session_seconds(ngx_neonpro_ws_conn_t *wc)
{
    return wc->session_ttl;
}
static ngx_queue_t         ngx_neonpro_ws_sessions;
static ngx_uint_t          ngx_neonpro_ws_sessions_ready;

/*
 * One receive buffer for all connections of a worker: a read is parsed to
 * the end before the handler returns, since payload bytes are copied into
 * the message or control buffer, so no bytes wait here between events.
 */
static u_char              ngx_neonpro_ws_recv_buf[NGX_NEONPRO_WS_RECV_SIZE];

/* connections of this worker closed as slow consumers, for the logs */
static ngx_uint_t          ngx_neonpro_ws_slow_consumers;


void
ngx_neonpro_ws_start(ngx_neonpro_ws_conn_t *wc)
{
    char                       *json;
    u_char                      id[NGX_INT_T_LEN * 2 + 2];
    ngx_connection_t           *c;
    ngx_neonpro_chat_head_t     head;
    ngx_neonpro_chat_limits_t   limits;

    c = wc->connection;

    if (!ngx_neonpro_ws_sessions_ready) {
        ngx_queue_init(&ngx_neonpro_ws_sessions);
        ngx_neonpro_ws_sessions_ready = 1;
    }

    ngx_neonpro_ws_parser_init(&wc->parser, wc->conf->max_message_size,
                               wc->deflate != NULL);

    /*
     * c->data stays the request while it is held, because nginx reads it
     * as one: ngx_http_run_posted_requests(), for instance, right after
     * the handshake handler returns.  Until the release, these handlers
     * find wc in the request's module context.
     */

    c->log->action = "in a chat WebSocket";
    c->read->handler = ngx_neonpro_ws_request_read_event;
    c->write->handler = ngx_neonpro_ws_request_write_event;

    /* a graceful shutdown calls the read handler of idle connections */
    c->idle = 1;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    wc->heartbeat.handler = ngx_neonpro_ws_heartbeat;
    wc->heartbeat.data = wc;
    wc->heartbeat.log = c->log;
    wc->last_activity = ngx_current_msec;
    ngx_add_timer(&wc->heartbeat, wc->conf->heartbeat);

    ngx_sprintf(id, "%P-%ui%Z", ngx_pid, wc->id);

    head.id = NULL;
    head.session_id = NULL;
    head.ts = (json_int_t) ngx_neonpro_now_ms();

    limits.max_message_bytes = (json_int_t) wc->conf->max_message_size;
    limits.max_content_bytes = (json_int_t) wc->conf->max_message_size;
    limits.messages_per_minute = (json_int_t) wc->conf->message_rate;
    limits.heartbeat_seconds = (json_int_t) wc->conf->heartbeat / 1000;
    limits.idle_seconds = (json_int_t) wc->conf->idle_timeout / 1000;
    limits.session_seconds = (json_int_t) ngx_neonpro_ws_session_seconds(wc);

    json = ngx_neonpro_chat_build_hello(&head, (char *) id,
                                        (json_int_t) ngx_worker, &limits);
    ngx_neonpro_ws_send_json(wc, json);

    /*
     * Frames that came with the handshake wait in r->header_in.  The read
     * handler parses them, then releases the request if the 101 is out.
     */
    ngx_post_event(c->read, &ngx_posted_events);
}


/* The event handlers while the handshake request is held. */

static void
ngx_neonpro_ws_request_read_event(ngx_event_t *rev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = rev->data;
    r = c->data;

    ngx_neonpro_ws_read(ngx_http_get_module_ctx(r, ngx_neonpro_ws_module));
}


static void
ngx_neonpro_ws_request_write_event(ngx_event_t *wev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_neonpro_ws_conn_t  *wc;

    c = wev->data;
    r = c->data;
    wc = ngx_http_get_module_ctx(r, ngx_neonpro_ws_module);

    if (!wc->finalized) {
        ngx_neonpro_ws_flush(wc);
    }
}


/* The event handlers after the release: c->data is wc. */

static void
ngx_neonpro_ws_read_event(ngx_event_t *rev)
{
    ngx_connection_t  *c;

    c = rev->data;

    ngx_neonpro_ws_read(c->data);
}


static void
ngx_neonpro_ws_write_event(ngx_event_t *wev)
{
    ngx_connection_t       *c;
    ngx_neonpro_ws_conn_t  *wc;

    c = wev->data;
    wc = c->data;

    if (!wc->finalized) {
        ngx_neonpro_ws_flush(wc);
    }
}


static void
ngx_neonpro_ws_read(ngx_neonpro_ws_conn_t *wc)
{
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_event_t       *rev;
    ngx_connection_t  *c;

    c = wc->connection;
    rev = c->read;

    if (wc->finalized) {
        return;
    }

    if (c->close) {
        /* reload or shutdown: the client reconnects and resumes */
        c->close = 0;
        ngx_neonpro_ws_fail(wc, NGX_NEONPRO_WS_CLOSE_GOING_AWAY, "reconnect");
        return;
    }

    if (!wc->preread_done) {

        /* frames that came with the handshake wait in r->header_in */

        b = wc->request->header_in;

        if (b && b->pos < b->last) {
            n = b->last - b->pos;
            b->pos = b->last;

            if (ngx_neonpro_ws_process(wc, b->pos - n, n) != NGX_OK) {
                return;
            }
        }

        /* the release frees the header buffers, so it waits for this */

        wc->preread_done = 1;
        ngx_neonpro_ws_release_request(wc);
    }

    while (!wc->closing) {

        n = c->recv(c, ngx_neonpro_ws_recv_buf, NGX_NEONPRO_WS_RECV_SIZE);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_neonpro_ws_close_later(wc);
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            /* the peer went away without a Close frame: 1006 for it */
            ngx_neonpro_ws_close_later(wc);
            return;
        }

        wc->last_activity = ngx_current_msec;

        if (ngx_neonpro_ws_process(wc, ngx_neonpro_ws_recv_buf, n)
            != NGX_OK)
        {
            return;
        }
    }
}


static ngx_int_t
ngx_neonpro_ws_grow_message(ngx_neonpro_ws_conn_t *wc, size_t need)
{
    u_char  *p;
    size_t   size;

    if (need <= wc->message_size) {
        return NGX_OK;
    }

    size = ngx_max(need, ngx_min(2 * wc->message_size,
                                 wc->conf->max_message_size));

    p = ngx_alloc(size, wc->connection->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (wc->message) {
        ngx_memcpy(p, wc->message, wc->message_len);
        ngx_free(wc->message);
    }

    wc->message = p;
    wc->message_size = size;

    return NGX_OK;
}


/* Returns NGX_OK to read on, NGX_DONE once the connection is closing. */
static ngx_int_t
ngx_neonpro_ws_process(ngx_neonpro_ws_conn_t *wc, u_char *p, size_t len)
{
    int                       rc;
    size_t                    consumed, n;
    u_char                   *dst;
    ngx_neonpro_ws_parser_t  *ps;

    ps = &wc->parser;

    while (len && !wc->closing) {

        if (!wc->in_payload) {
            rc = ngx_neonpro_ws_frame_parse(ps, p, len, &consumed);
            p += consumed;
            len -= consumed;

            if (rc == NGX_NEONPRO_WS_AGAIN) {
                return NGX_OK;
            }

            if (rc == NGX_NEONPRO_WS_ERROR) {
                ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                              "neonpro: closing WebSocket with %ui: %s",
                              (ngx_uint_t) ps->close_code, ps->error);
                ngx_neonpro_ws_fail(wc, ps->close_code, NULL);
                return NGX_DONE;
            }

            wc->in_payload = 1;
            wc->payload_left = ps->payload_len;
            wc->mask_offset = 0;

            if (ps->opcode & 0x8) {
                wc->control_len = 0;

            } else {
                if (ps->opcode != NGX_NEONPRO_WS_OPCODE_CONTINUATION) {
                    wc->message_len = 0;
                    ngx_neonpro_utf8_init(&wc->utf8);
                }

                if (ngx_neonpro_ws_grow_message(wc, wc->message_len
                                                    + ps->payload_len)
                    != NGX_OK)
                {
                    ngx_neonpro_ws_fail(wc,
                                        NGX_NEONPRO_WS_CLOSE_INTERNAL_ERROR,
                                        NULL);
                    return NGX_DONE;
                }
            }

        } else {
            n = (size_t) ngx_min((uint64_t) len, wc->payload_left);

            if (ps->opcode & 0x8) {
                dst = wc->control + wc->control_len;
                wc->control_len += n;

            } else {
                dst = wc->message + wc->message_len;
                wc->message_len += n;
            }

            ngx_memcpy(dst, p, n);
            ngx_neonpro_ws_unmask(dst, n, ps->mask_key, &wc->mask_offset);

            p += n;
            len -= n;
            wc->payload_left -= n;

            /* text is checked as it arrives, so bad UTF-8 fails fast */

            if (!(ps->opcode & 0x8)
                && ps->message_opcode == NGX_NEONPRO_WS_OPCODE_TEXT
                && !ps->message_compressed
                && ngx_neonpro_utf8_feed(&wc->utf8, dst, n)
                   != NGX_NEONPRO_UTF8_OK)
            {
                ngx_neonpro_ws_fail(wc, NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD,
                                    NULL);
                return NGX_DONE;
            }
        }

        if (wc->in_payload && wc->payload_left == 0) {
            wc->in_payload = 0;

            if (ngx_neonpro_ws_frame_done(wc) != NGX_OK) {
                return NGX_DONE;
            }
        }
    }

    return wc->closing ? NGX_DONE : NGX_OK;
}


static ngx_int_t
ngx_neonpro_ws_frame_done(ngx_neonpro_ws_conn_t *wc)
{
    unsigned                  code, fail;
    ngx_neonpro_ws_parser_t  *ps;

    ps = &wc->parser;

    switch (ps->opcode) {

    case NGX_NEONPRO_WS_OPCODE_CLOSE:
        fail = ngx_neonpro_ws_close_payload_check(wc->control,
                                                  wc->control_len, &code);
        if (fail) {
            ngx_neonpro_ws_fail(wc, fail, NULL);
            return NGX_DONE;
        }

        /* echo the client's code, and reply 1000 to "no status" */
        ngx_neonpro_ws_fail(wc, code == NGX_NEONPRO_WS_CLOSE_NO_STATUS
                                ? NGX_NEONPRO_WS_CLOSE_NORMAL : code, NULL);
        return NGX_DONE;

    case NGX_NEONPRO_WS_OPCODE_PING:
        return ngx_neonpro_ws_send(wc, NGX_NEONPRO_WS_OPCODE_PONG,
                                   wc->control, wc->control_len);

    case NGX_NEONPRO_WS_OPCODE_PONG:
        return NGX_OK;
    }

    if (!ps->fin) {
        return NGX_OK;
    }

    if (ps->message_compressed) {
        return ngx_neonpro_ws_inflate_dispatch(wc);
    }

    if (ps->message_opcode == NGX_NEONPRO_WS_OPCODE_TEXT
        && !ngx_neonpro_utf8_complete(&wc->utf8))
    {
        ngx_neonpro_ws_fail(wc, NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD, NULL);
        return NGX_DONE;
    }

    ngx_neonpro_ws_dispatch(wc);

    return wc->closing ? NGX_DONE : NGX_OK;
}


static int
ngx_neonpro_ws_grow_buf(ngx_neonpro_ws_deflate_buf_t *b, size_t size)
{
    u_char  *p;

    p = ngx_alloc(size, b->ctx);
    if (p == NULL) {
        return -1;
    }

    if (b->data) {
        ngx_memcpy(p, b->data, b->len);
        ngx_free(b->data);
    }

    b->data = p;
    b->size = size;

    return 0;
}


/*
 * Inflates a compressed message (RFC 7692, section 7.2.2), checks its text
 * as UTF-8 and dispatches it: too large closes with 1009, corrupt data and
 * bad text with 1007, a zlib failure with 1011.
 */
static ngx_int_t
ngx_neonpro_ws_inflate_dispatch(ngx_neonpro_ws_conn_t *wc)
{
    u_char                        *compressed;
    size_t                         compressed_len, compressed_size;
    ngx_uint_t                     code;
    ngx_neonpro_ws_deflate_buf_t   out;
    ngx_neonpro_ws_deflate_rc_e    rc;

    ngx_memzero(&out, sizeof(out));
    out.grow = ngx_neonpro_ws_grow_buf;
    out.ctx = wc->connection->log;

    rc = ngx_neonpro_ws_deflate_decompress(&wc->deflate->inflater,
                                           wc->message,
                                           wc->message_len, 1, &out);

    if (rc != NGX_NEONPRO_WS_DEFLATE_OK) {
        code = (rc == NGX_NEONPRO_WS_DEFLATE_TOO_LARGE)
               ? NGX_NEONPRO_WS_CLOSE_TOO_BIG
               : (rc == NGX_NEONPRO_WS_DEFLATE_INVALID)
                 ? NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD
                 : NGX_NEONPRO_WS_CLOSE_INTERNAL_ERROR;

        ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                      "neonpro: closing WebSocket with %ui: compressed "
                      "message failed to inflate", code);

        if (out.data) {
            ngx_free(out.data);
        }

        ngx_neonpro_ws_fail(wc, code, NULL);
        return NGX_DONE;
    }

    if (wc->parser.message_opcode == NGX_NEONPRO_WS_OPCODE_TEXT
        && !ngx_neonpro_utf8_valid(out.data, out.len))
    {
        if (out.data) {
            ngx_free(out.data);
        }

        ngx_neonpro_ws_fail(wc, NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD, NULL);
        return NGX_DONE;
    }

    /* dispatch reads wc->message: lend it the inflated text */

    compressed = wc->message;
    compressed_len = wc->message_len;
    compressed_size = wc->message_size;

    wc->message = out.data;
    wc->message_len = out.len;

    ngx_neonpro_ws_dispatch(wc);

    if (out.data) {
        ngx_free(out.data);
    }

    wc->message = compressed;
    wc->message_len = compressed_len;
    wc->message_size = compressed_size;

    return wc->closing ? NGX_DONE : NGX_OK;
}


static ngx_neonpro_ws_session_t *
ngx_neonpro_ws_find_session(const char *id, size_t len)
{
    ngx_queue_t               *q;
    ngx_neonpro_ws_session_t  *s;

    for (q = ngx_queue_head(&ngx_neonpro_ws_sessions);
         q != ngx_queue_sentinel(&ngx_neonpro_ws_sessions);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_neonpro_ws_session_t, link);

        if (s->id.len == len && ngx_memcmp(s->id.data, id, len) == 0) {
            return s;
        }
    }

    return NULL;
}


/* Returns whether the agent replies to messages in s on this location. */
static ngx_uint_t
ngx_neonpro_ws_with_agent(ngx_neonpro_ws_conn_t *wc,
    ngx_neonpro_ws_session_t *s)
{
    return s->agent && wc->conf->agent.url.len;
}


static ngx_neonpro_ws_member_t *
ngx_neonpro_ws_find_member(ngx_neonpro_ws_conn_t *wc,
    ngx_neonpro_ws_session_t *s)
{
    ngx_queue_t              *q;
    ngx_neonpro_ws_member_t  *m;

    if (s == NULL) {
        return NULL;
    }

    for (q = ngx_queue_head(&wc->memberships);
         q != ngx_queue_sentinel(&wc->memberships);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_neonpro_ws_member_t, in_conn);

        if (m->session == s) {
            return m;
        }
    }

    return NULL;
}


/*
 * Makes wc a participant of the session; NULL on memory failure.  agent is
 * the setting of a session that this join creates.
 */
static ngx_neonpro_ws_session_t *
ngx_neonpro_ws_join(ngx_neonpro_ws_conn_t *wc, const char *id, size_t len,
    ngx_uint_t agent, ngx_uint_t *refused)
{
    ngx_int_t                  rc;
    ngx_neonpro_ws_member_t   *m;
    ngx_neonpro_bus_joined_t   joined;
    ngx_neonpro_ws_session_t  *s;

    *refused = 0;

    /* a clinic id too long to compare owns no session */

    if (wc->clinic.len > NGX_NEONPRO_BUS_CLINIC_MAX) {
        *refused = 1;
        return NULL;
    }

    s = ngx_neonpro_ws_find_session(id, len);

    if (s && s->clinic_len
        && (s->clinic_len != wc->clinic.len
            || ngx_memcmp(s->clinic, wc->clinic.data, s->clinic_len) != 0))
    {
        *refused = 1;
        return NULL;
    }

    if (ngx_neonpro_ws_find_member(wc, s)) {
        return s;
    }

    if (s == NULL) {
        s = ngx_alloc(sizeof(ngx_neonpro_ws_session_t) + len,
                      wc->connection->log);
        if (s == NULL) {
            return NULL;
        }

        ngx_memzero(s, sizeof(ngx_neonpro_ws_session_t));

        s->id.data = (u_char *) (s + 1);
        s->id.len = len;
        ngx_memcpy(s->id.data, id, len);
        ngx_queue_init(&s->members);

        rc = ngx_neonpro_ws_bus->join(&s->id, agent, &wc->clinic, &joined);

        if (rc != NGX_OK) {
            *refused = (rc == NGX_DECLINED);
            ngx_free(s);
            return NULL;
        }

        s->delivered = joined.seq;
        s->pos = joined.pos;
        s->agent = joined.agent;
        s->clinic_len = joined.clinic_len;
        ngx_memcpy(s->clinic, joined.clinic, joined.clinic_len);
        ngx_queue_insert_tail(&ngx_neonpro_ws_sessions, &s->link);
    }

    m = ngx_alloc(sizeof(ngx_neonpro_ws_member_t), wc->connection->log);
    if (m == NULL) {
        return NULL;
    }

    m->session = s;
    m->conn = wc;
    ngx_queue_insert_tail(&s->members, &m->in_session);
    ngx_queue_insert_tail(&wc->memberships, &m->in_conn);

    return s;
}


static void
ngx_neonpro_ws_leave(ngx_neonpro_ws_member_t *m)
{
    ngx_neonpro_ws_session_t  *s;

    s = m->session;

    ngx_queue_remove(&m->in_session);
    ngx_queue_remove(&m->in_conn);
    ngx_free(m);

    if (ngx_queue_empty(&s->members)) {
        ngx_neonpro_ws_bus->leave(&s->id);
        ngx_queue_remove(&s->link);
        ngx_free(s);
    }
}


/*
 * Sends a stored message to one participant; the sender's own copy gets
 * the "id" of its client envelope put in front of the other fields.
 */
static ngx_int_t
ngx_neonpro_ws_send_stored(ngx_neonpro_ws_conn_t *wc, u_char *json,
    size_t len, ngx_neonpro_bus_origin_t *origin)
{
    char       *id;
    u_char     *copy, *p;
    size_t      id_len;
    json_t     *value;
    ngx_int_t   rc;

    if (origin->id[0] == '\0' || origin->pid != ngx_pid
        || origin->connection != wc->id || len < 2)
    {
        return ngx_neonpro_ws_send(wc, NGX_NEONPRO_WS_OPCODE_TEXT, json, len);
    }

    value = json_string(origin->id);
    id = value ? json_dumps(value, JSON_ENCODE_ANY) : NULL;
    json_decref(value);

    if (id == NULL) {
        return ngx_neonpro_ws_send(wc, NGX_NEONPRO_WS_OPCODE_TEXT, json, len);
    }

    id_len = ngx_strlen(id);

    copy = ngx_alloc(len + id_len + sizeof("\"id\":,"), wc->connection->log);
    if (copy == NULL) {
        free(id);
        return NGX_ERROR;
    }

    p = ngx_cpymem(copy, "{\"id\":", sizeof("{\"id\":") - 1);
    p = ngx_cpymem(p, id, id_len);
    *p++ = ',';
    p = ngx_cpymem(p, json + 1, len - 1);
    free(id);

    rc = ngx_neonpro_ws_send(wc, NGX_NEONPRO_WS_OPCODE_TEXT, copy, p - copy);
    ngx_free(copy);

    return rc;
}


static ngx_int_t
ngx_neonpro_ws_replay_one(void *data, uint64_t seq, u_char *json, size_t len,
    ngx_neonpro_bus_origin_t *origin)
{
    ngx_neonpro_ws_conn_t  *wc = data;

    return ngx_neonpro_ws_send_stored(wc, json, len, origin);
}


/*
 * Sends what the client missed after after_seq, up to what this worker
 * delivered live, so that nothing arrives twice.  A gap notice goes first
 * when the history no longer contains the start.
 */
static void
ngx_neonpro_ws_resume(ngx_neonpro_ws_conn_t *wc, ngx_neonpro_ws_session_t *s,
    ngx_neonpro_chat_head_t *head, uint64_t after_seq)
{
    char      *json;
    uint64_t   oldest;

    if (after_seq >= s->delivered) {
        return;
    }

    if (ngx_neonpro_ws_bus->read(&s->id, after_seq, s->delivered, &oldest,
                                 NULL, NULL) != NGX_OK)
    {
        return;
    }

    if (oldest > after_seq + 1) {
        json = ngx_neonpro_chat_build_gap(head, (json_int_t) after_seq + 1,
                                          (json_int_t) ngx_min(oldest - 1,
                                                               s->delivered));
        ngx_neonpro_ws_send_json(wc, json);
    }

    (void) ngx_neonpro_ws_bus->read(&s->id, after_seq, s->delivered, &oldest,
                                    ngx_neonpro_ws_replay_one, wc);
}


static void
ngx_neonpro_ws_dispatch(ngx_neonpro_ws_conn_t *wc)
{
    char                         *json, sid[NGX_NEONPRO_CHAT_ID_MAX + 1];
    u_char                        id[NGX_INT_T_LEN * 2 + 2];
    uint64_t                      seq, pos, last;
    ngx_int_t                     rc;
    ngx_neonpro_ws_member_t      *m;
    ngx_neonpro_ws_session_t     *s;
    ngx_neonpro_chat_head_t       head;
    ngx_neonpro_chat_error_t      err;
    ngx_neonpro_chat_limits_t     limits;
    ngx_neonpro_chat_envelope_t   env;
    ngx_neonpro_bus_origin_t      origin;
    ngx_neonpro_bus_message_t     msg;
    ngx_neonpro_chat_agent_ask_t  ask;
    ngx_uint_t                    refused;

    if (wc->parser.message_opcode != NGX_NEONPRO_WS_OPCODE_TEXT) {
        head.id = NULL;
        head.session_id = NULL;
        head.ts = -1;
        json = ngx_neonpro_chat_build_error(&head,
                                            NGX_NEONPRO_CHAT_INVALID_MESSAGE,
                                            "binary frames are not part of "
                                            "neonpro.chat.v1", 0);
        ngx_neonpro_ws_send_json(wc, json);
        return;
    }

    if (ngx_neonpro_ws_expired(wc) == NGX_OK) {
        return;
    }

    if (ngx_neonpro_chat_parse(wc->message, wc->message_len,
                               wc->conf->max_message_size, &env, &err)
        != NGX_NEONPRO_CHAT_OK)
    {
        ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                      "neonpro: invalid chat envelope, field \"%s\"",
                      err.field ? err.field : "(memory)");

        json = ngx_neonpro_chat_build_invalid(&err, (int) wc->lang,
                                          (json_int_t) ngx_neonpro_now_ms());
        ngx_neonpro_ws_send_json(wc, json);
        return;
    }

    head.id = env.id;
    head.session_id = NULL;
    head.ts = (json_int_t) ngx_neonpro_now_ms();

    if (env.session_id) {
        ngx_memcpy(sid, env.session_id,
                   ngx_min(env.session_id_len, NGX_NEONPRO_CHAT_ID_MAX));
        sid[ngx_min(env.session_id_len, NGX_NEONPRO_CHAT_ID_MAX)] = '\0';
        head.session_id = sid;
    }

    s = env.session_id ? ngx_neonpro_ws_find_session(env.session_id,
                                                     env.session_id_len)
                       : NULL;
    m = ngx_neonpro_ws_find_member(wc, s);
    json = NULL;

    switch (env.type) {

    case NGX_NEONPRO_CHAT_HELLO:
        ngx_sprintf(id, "%P-%ui%Z", ngx_pid, wc->id);

        limits.max_message_bytes = (json_int_t) wc->conf->max_message_size;
        limits.max_content_bytes = (json_int_t) wc->conf->max_message_size;
        limits.messages_per_minute = (json_int_t) wc->conf->message_rate;
        limits.heartbeat_seconds = (json_int_t) wc->conf->heartbeat / 1000;
        limits.idle_seconds = (json_int_t) wc->conf->idle_timeout / 1000;
        limits.session_seconds =
                          (json_int_t) ngx_neonpro_ws_session_seconds(wc);

        json = ngx_neonpro_chat_build_hello(&head, (char *) id,
                                            (json_int_t) ngx_worker, &limits);
        break;

    case NGX_NEONPRO_CHAT_HEARTBEAT:
        json = ngx_neonpro_chat_build_heartbeat(&head);
        break;

    case NGX_NEONPRO_CHAT_JOIN:
    case NGX_NEONPRO_CHAT_RESUME:
        s = ngx_neonpro_ws_join(wc, env.session_id, env.session_id_len,
                                env.type == NGX_NEONPRO_CHAT_JOIN
                                ? (ngx_uint_t) env.agent : 1, &refused);

        if (s == NULL && refused) {
            ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                          "neonpro: a user of another clinic may not join "
                          "chat session \"%s\"", sid);

            json = ngx_neonpro_chat_build_error(&head,
                                       NGX_NEONPRO_CHAT_AUTHORIZATION_FAILED,
                                          wc->lang == NGX_NEONPRO_LANG_PICK_EN
                                          ? "this session belongs to another "
                                            "clinic"
                                          : "esta sessão pertence a outra "
                                            "clínica", 0);
            break;
        }

        if (s == NULL) {
            json = ngx_neonpro_chat_build_error(&head,
                                          NGX_NEONPRO_CHAT_INTERNAL_ERROR,
                                          "could not join the session", 1);
            break;
        }

        json = ngx_neonpro_chat_build_joined(&head,
                                             (json_int_t) s->delivered,
                                             ngx_neonpro_ws_with_agent(wc, s));
        ngx_neonpro_ws_send_json(wc, json);
        json = NULL;

        if (env.type == NGX_NEONPRO_CHAT_RESUME) {
            ngx_neonpro_ws_resume(wc, s, &head, (uint64_t) env.after_seq);
        }

        break;

    case NGX_NEONPRO_CHAT_LEAVE:
        if (m) {
            ngx_neonpro_ws_leave(m);
        }

        json = ngx_neonpro_chat_build_left(&head);
        break;

    case NGX_NEONPRO_CHAT_MESSAGE:
        if (m == NULL) {
            json = ngx_neonpro_chat_build_error(&head,
                                          NGX_NEONPRO_CHAT_INVALID_MESSAGE,
                                          wc->lang == NGX_NEONPRO_LANG_PICK_EN
                                          ? "join the session first"
                                          : "entre na sessão primeiro", 0);
            break;
        }

        if (ngx_neonpro_ws_rate_allow(&wc->rate, wc->conf->message_rate)
            != NGX_OK)
        {
            json = ngx_neonpro_chat_build_error(&head,
                                          NGX_NEONPRO_CHAT_RATE_LIMITED,
                                          wc->lang == NGX_NEONPRO_LANG_PICK_EN
                                          ? "too many messages this minute"
                                          : "mensagens demais neste minuto",
                                          1);
            break;
        }

        /*
         * The user's budget over all connections: the verified user, or
         * what neonpro_chat_user_key names.
         */

        if (ngx_neonpro_ws_user_rate_allow(wc->user.len ? &wc->user
                                                        : &wc->user_key,
                                           wc->conf->user_message_rate)
            != NGX_OK)
        {
            json = ngx_neonpro_chat_build_error(&head,
                                          NGX_NEONPRO_CHAT_RATE_LIMITED,
                                          wc->lang == NGX_NEONPRO_LANG_PICK_EN
                                          ? "too many messages from your "
                                            "user this minute"
                                          : "mensagens demais do seu usuário "
                                            "neste minuto", 1);
            break;
        }

        if (ngx_neonpro_ws_with_agent(wc, s)
            && ngx_neonpro_chat_agent_room(&wc->conf->agent) != NGX_OK)
        {
            json = ngx_neonpro_chat_build_error(&head,
                                          NGX_NEONPRO_CHAT_RATE_LIMITED,
                                          wc->lang == NGX_NEONPRO_LANG_PICK_EN
                                          ? "the AI agent has too many "
                                            "questions waiting; try again "
                                            "shortly"
                                          : "o assistente de IA tem "
                                            "perguntas demais na fila; tente "
                                            "novamente em instantes", 1);
            break;
        }

        /* the verified identity, or anonymous where the chat has none */
        origin.pid = ngx_pid;
        origin.connection = wc->id;
        origin.id[0] = '\0';

        if (env.id) {
            ngx_cpystrn((u_char *) origin.id, (u_char *) env.id,
                        ngx_min(env.id_len + 1, sizeof(origin.id)));
        }

        msg.user_id = wc->user.len ? (const char *) wc->user.data
                                   : "anonymous";
        msg.user_role = wc->role.len ? (const char *) wc->role.data
                                     : "anonymous";
        msg.content = env.content;
        msg.content_len = env.content_len;
        msg.stream = 0;
        msg.stream_id = NULL;

        rc = ngx_neonpro_ws_bus->publish(&s->id, &msg, &origin, &seq, &pos);

        if (rc != NGX_OK) {
            json = ngx_neonpro_chat_build_error(&head,
                                          NGX_NEONPRO_CHAT_INTERNAL_ERROR,
                                          "could not store the message", 1);
            break;
        }

        /*
         * With nothing from other workers pending, this worker's own
         * message goes out at once: a burst larger than the history
         * still reaches every local participant in order.
         */

        if (s->pos == pos - 1
            && ngx_neonpro_ws_bus->read_new(&s->id, s->pos, &last, &s->lost,
                                            ngx_neonpro_ws_deliver_item, s)
               == NGX_OK)
        {
            s->pos = last;
        }

        if (!ngx_neonpro_ws_with_agent(wc, s)) {
            break;
        }

        ask.session = s->id;
        ask.reply_to = seq;
        ask.message_id = env.id;
        ask.user_id = msg.user_id;
        ask.user_role = msg.user_role;
        ask.clinic = wc->clinic.len ? (const char *) wc->clinic.data : NULL;
        ask.content = env.content;
        ask.content_len = env.content_len;
        ask.lang = wc->lang;

        if (ngx_neonpro_chat_agent_ask(&wc->conf->agent, ngx_neonpro_ws_bus,
                                       &ask, wc->connection->log)
            != NGX_OK)
        {
            json = ngx_neonpro_chat_build_error(&head,
                                          NGX_NEONPRO_CHAT_INTERNAL_ERROR,
                                          "could not call the AI agent", 1);
        }

        break;
    }

    ngx_neonpro_chat_envelope_free(&env);

    if (json) {
        ngx_neonpro_ws_send_json(wc, json);
    }
}


/* Sends one envelope to every participant of s on this worker. */
static void
ngx_neonpro_ws_send_all(ngx_neonpro_ws_session_t *s, u_char *json,
    size_t len, ngx_neonpro_bus_origin_t *origin)
{
    ngx_queue_t              *q;
    ngx_neonpro_ws_member_t  *m;

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_neonpro_ws_member_t, in_session);

        if (origin) {
            (void) ngx_neonpro_ws_send_stored(m->conn, json, len, origin);

        } else {
            (void) ngx_neonpro_ws_send(m->conn, NGX_NEONPRO_WS_OPCODE_TEXT,
                                       json, len);
        }
    }
}


static void
ngx_neonpro_ws_send_all_json(ngx_neonpro_ws_session_t *s, char *json)
{
    if (json == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "neonpro: could not build a chat envelope");
        return;
    }

    ngx_neonpro_ws_send_all(s, (u_char *) json, ngx_strlen(json), NULL);
    free(json);
}


/* Forgets the open stream; NGX_OK when it was open here. */
static ngx_int_t
ngx_neonpro_ws_close_stream(ngx_neonpro_ws_session_t *s, uint64_t stream)
{
    ngx_uint_t  i;

    for (i = 0; i < s->nopen; i++) {
        if (s->open[i] == stream) {
            s->open[i] = s->open[--s->nopen];
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * Delivers one item read from the bus to the participants on this worker.
 * A stream event goes out as it is, and a message after a gap notice when
 * messages before it were lost.  The agent's stored reply goes out as the
 * stream_end of a stream that started here.  Only the gap notice and that
 * stream_end are built here, so most items cost no envelope building.
 */
static ngx_int_t
ngx_neonpro_ws_deliver_item(void *data, ngx_neonpro_bus_item_t *item)
{
    ngx_neonpro_ws_session_t  *s = data;

    char                      sid[NGX_NEONPRO_CHAT_ID_MAX + 1];
    char                      stream_id[48];
    ngx_uint_t                gap, end;
    ngx_neonpro_chat_head_t   head;

    if (s->lost) {
        /* a stream here missed events: its reply goes out whole */
        s->lost = 0;
        s->nopen = 0;
    }

    if (item->seq == 0) {

        if (item->kind == NGX_NEONPRO_BUS_STREAM_START) {
            if (s->nopen == NGX_NEONPRO_WS_OPEN_STREAMS) {
                /* the oldest open stream ends with its whole reply */
                s->open[0] = s->open[--s->nopen];
            }

            s->open[s->nopen++] = item->stream;

        } else if (item->kind == NGX_NEONPRO_BUS_STREAM_END) {
            (void) ngx_neonpro_ws_close_stream(s, item->stream);
        }

        ngx_neonpro_ws_send_all(s, item->json, item->len, NULL);
        return NGX_OK;
    }

    if (item->seq <= s->delivered) {
        return NGX_OK;
    }

    /* this worker fell further behind than the history reaches */
    gap = (item->seq > s->delivered + 1);

    end = (item->stream
           && ngx_neonpro_ws_close_stream(s, item->stream) == NGX_OK);

    if (gap || end) {
        ngx_memcpy(sid, s->id.data, s->id.len);
        sid[s->id.len] = '\0';

        head.id = NULL;
        head.session_id = sid;
        head.ts = (json_int_t) ngx_neonpro_now_ms();
    }

    if (gap) {
        ngx_neonpro_ws_send_all_json(s,
                          ngx_neonpro_chat_build_gap(&head,
                                              (json_int_t) s->delivered + 1,
                                              (json_int_t) item->seq - 1));
    }

    s->delivered = item->seq;

    if (end) {
        ngx_neonpro_chat_agent_stream_id(stream_id, sizeof(stream_id),
                                         item->stream);
        ngx_neonpro_ws_send_all_json(s,
                          ngx_neonpro_chat_build_stream_end(&head, stream_id,
                                                    (json_int_t) item->seq));
        return NGX_OK;
    }

    ngx_neonpro_ws_send_all(s, item->json, item->len, item->origin);

    return NGX_OK;
}


/*
 * Called when the bus has news for this worker: every local session gets
 * what came after the last position it read, in the bus's order.
 */
void
ngx_neonpro_ws_deliver(void)
{
    uint64_t                   last;
    ngx_queue_t               *q;
    ngx_neonpro_ws_session_t  *s;

    if (!ngx_neonpro_ws_sessions_ready) {
        return;
    }

    for (q = ngx_queue_head(&ngx_neonpro_ws_sessions);
         q != ngx_queue_sentinel(&ngx_neonpro_ws_sessions);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_neonpro_ws_session_t, link);

        if (ngx_neonpro_ws_bus->read_new(&s->id, s->pos, &last, &s->lost,
                                         ngx_neonpro_ws_deliver_item, s)
            == NGX_OK)
        {
            s->pos = last;
        }
    }
}


static void
ngx_neonpro_ws_send_json(ngx_neonpro_ws_conn_t *wc, char *json)
{
    if (json == NULL) {
        ngx_log_error(NGX_LOG_ALERT, wc->connection->log, 0,
                      "neonpro: could not build a chat envelope");
        return;
    }

    (void) ngx_neonpro_ws_send(wc, NGX_NEONPRO_WS_OPCODE_TEXT,
                               (u_char *) json, ngx_strlen(json));
    free(json);
}


/*
 * Queues one frame in its own ngx_alloc() block: the chain link, the buffer
 * and the bytes.  A client that lets the queue pass send_queue_size bytes
 * is closed with 1008 instead of being buffered without bound.
 */
static ngx_int_t
ngx_neonpro_ws_send(ngx_neonpro_ws_conn_t *wc, ngx_uint_t opcode, u_char *data,
    size_t len)
{
    int                            rsv1;
    u_char                        *p;
    size_t                         size;
    ngx_buf_t                     *b;
    ngx_chain_t                   *cl;
    ngx_neonpro_ws_deflate_buf_t   packed;

    if (wc->close_sent || wc->finalized) {
        return NGX_OK;
    }

    rsv1 = 0;
    packed.data = NULL;

    if (wc->deflate && opcode == NGX_NEONPRO_WS_OPCODE_TEXT) {
        ngx_memzero(&packed, sizeof(packed));
        packed.size = len + len / 8 + 64;
        packed.data = ngx_alloc(packed.size, wc->connection->log);

        if (packed.data
            && ngx_neonpro_ws_deflate_compress(&wc->deflate->deflater, data,
                                               len, &packed)
               == NGX_NEONPRO_WS_DEFLATE_OK)
        {
            data = packed.data;
            len = packed.len;
            rsv1 = 1;
        }

        /* otherwise the message goes out uncompressed, which is allowed */
    }

    size = NGX_NEONPRO_WS_MAX_SERVER_HEADER_LEN + len;

    if (wc->out_bytes + size > wc->conf->send_queue_size
        && opcode != NGX_NEONPRO_WS_OPCODE_CLOSE)
    {
        ngx_neonpro_ws_slow_consumers++;

        ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                      "neonpro: closing a slow chat consumer with %uz bytes "
                      "queued (%ui on this worker so far)", wc->out_bytes,
                      ngx_neonpro_ws_slow_consumers);

        if (packed.data) {
            ngx_free(packed.data);
        }

        ngx_neonpro_ws_fail(wc, NGX_NEONPRO_WS_CLOSE_POLICY, "slow consumer");
        return NGX_DONE;
    }

    cl = ngx_alloc(sizeof(ngx_chain_t) + sizeof(ngx_buf_t) + size,
                   wc->connection->log);
    if (cl == NULL) {
        if (packed.data) {
            ngx_free(packed.data);
        }

        return NGX_ERROR;
    }

    b = (ngx_buf_t *) (cl + 1);
    p = (u_char *) (b + 1);

    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = p;
    b->pos = p;
    b->last = p + ngx_neonpro_ws_frame_header(p, 1, rsv1, (int) opcode, len);
    b->last = ngx_cpymem(b->last, data, len);

    if (packed.data) {
        ngx_free(packed.data);
    }

    b->end = b->last;
    b->memory = 1;
    b->flush = 1;

    cl->buf = b;
    cl->next = NULL;

    *wc->last_out = cl;
    wc->last_out = &cl->next;
    wc->out_bytes += b->end - b->start;

    ngx_neonpro_ws_flush(wc);

    return NGX_OK;
}


static void
ngx_neonpro_ws_flush(ngx_neonpro_ws_conn_t *wc)
{
    ngx_chain_t       *cl, *next;
    ngx_connection_t  *c;

    c = wc->connection;

    if (wc->request) {

        /* the rest of the 101 goes first */

        if (c->buffered & NGX_HTTP_WRITE_BUFFERED) {
            if (ngx_http_output_filter(wc->request, NULL) == NGX_ERROR) {
                ngx_neonpro_ws_close_later(wc);
                return;
            }

            if (c->buffered & NGX_HTTP_WRITE_BUFFERED) {
                (void) ngx_handle_write_event(c->write, 0);
                return;
            }
        }

        ngx_neonpro_ws_release_request(wc);
    }

    if (wc->out) {
        cl = c->send_chain(c, wc->out, 0);

        if (cl == NGX_CHAIN_ERROR) {
            c->error = 1;
            ngx_neonpro_ws_close_later(wc);
            return;
        }

        while (wc->out && wc->out->buf->pos == wc->out->buf->last) {
            next = wc->out->next;
            wc->out_bytes -= wc->out->buf->end - wc->out->buf->start;
            ngx_free(wc->out);
            wc->out = next;
        }

        if (wc->out == NULL) {
            wc->last_out = &wc->out;
        }
    }

    if (wc->out) {
        if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
            ngx_neonpro_ws_close_later(wc);
        }

        return;
    }

    if (wc->close_sent) {
        ngx_neonpro_ws_close_later(wc);
    }
}


/* Sends a Close frame with code and ends the connection once it is out. */
static void
ngx_neonpro_ws_fail(ngx_neonpro_ws_conn_t *wc, ngx_uint_t code,
    const char *reason)
{
    u_char   payload[NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD];
    ssize_t  len;

    if (wc->close_sent || wc->finalized) {
        return;
    }

    wc->closing = 1;

    len = ngx_neonpro_ws_close_payload(payload, (unsigned) code,
                                       (const unsigned char *) reason,
                                       reason ? ngx_strlen(reason) : 0);
    if (len < 0) {
        len = ngx_neonpro_ws_close_payload(payload,
                                           NGX_NEONPRO_WS_CLOSE_INTERNAL_ERROR,
                                           NULL, 0);
    }

    (void) ngx_neonpro_ws_send(wc, NGX_NEONPRO_WS_OPCODE_CLOSE, payload,
                               (size_t) len);
    wc->close_sent = 1;

    ngx_neonpro_ws_flush(wc);

    /*
     * A client that does not read would keep the connection and its queue
     * forever: the heartbeat gives the Close frame one interval to go out.
     */

    if (wc->out && !wc->heartbeat.posted) {
        ngx_add_timer(&wc->heartbeat, wc->conf->heartbeat);
    }
}


static void
ngx_neonpro_ws_heartbeat(ngx_event_t *ev)
{
    ngx_neonpro_ws_conn_t  *wc = ev->data;

    if (wc->finalized) {
        return;
    }

    if (wc->closing) {
        ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                      "neonpro: closing a chat WebSocket whose client did "
                      "not read the Close frame within %M ms",
                      wc->conf->heartbeat);
        ngx_neonpro_ws_close_later(wc);
        return;
    }

    if (ngx_neonpro_ws_expired(wc) == NGX_OK) {
        return;
    }

    if (ngx_current_msec - wc->last_activity >= wc->conf->idle_timeout) {
        ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                      "neonpro: closing an idle chat WebSocket");
        ngx_neonpro_ws_fail(wc, NGX_NEONPRO_WS_CLOSE_NORMAL, "idle");
        return;
    }

    (void) ngx_neonpro_ws_send(wc, NGX_NEONPRO_WS_OPCODE_PING, NULL, 0);

    ngx_add_timer(&wc->heartbeat, wc->conf->heartbeat);
}


/*
 * Ends a connection whose token expired: an error AUTHENTICATION_FAILED,
 * then close 1008.  The check runs on each client envelope and heartbeat,
 * so a quiet connection is closed within one heartbeat period.
 */
static ngx_int_t
ngx_neonpro_ws_expired(ngx_neonpro_ws_conn_t *wc)
{
    ngx_neonpro_chat_head_t  head;

    if (wc->auth_expires == 0 || ngx_time() <= wc->auth_expires) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, wc->connection->log, 0,
                  "neonpro: closing a chat WebSocket whose token expired");

    head.id = NULL;
    head.session_id = NULL;
    head.ts = (json_int_t) ngx_neonpro_now_ms();

    ngx_neonpro_ws_send_json(wc,
              ngx_neonpro_chat_build_error(&head,
                                     NGX_NEONPRO_CHAT_AUTHENTICATION_FAILED,
                                     wc->lang == NGX_NEONPRO_LANG_PICK_EN
                                     ? "the token expired; reconnect with a "
                                       "fresh one"
                                     : "o token expirou; conecte-se de novo "
                                       "com um token novo", 0));

    ngx_neonpro_ws_fail(wc, NGX_NEONPRO_WS_CLOSE_POLICY, "token expired");

    return NGX_OK;
}


/*
 * Frees the handshake request once the 101 is completely written and the
 * bytes that came with it are parsed, and gives back the header buffers,
 * so that an idle WebSocket keeps only c->pool and wc.  Follows what
 * ngx_http_set_keepalive() does before a keepalive wait (nginx 1.22,
 * src/http/ngx_http_request.c).  Does nothing until both conditions hold,
 * and nothing once the connection is closing: the close event then
 * finalizes the request.
 */
static void
ngx_neonpro_ws_release_request(ngx_neonpro_ws_conn_t *wc)
{
    ngx_chain_t            *cl, *next;
    ngx_connection_t       *c;
    ngx_http_cleanup_t     *cln;
    ngx_http_log_ctx_t     *ctx;
    ngx_http_request_t     *r;
    ngx_http_connection_t  *hc;

    r = wc->request;
    c = wc->connection;

    if (r == NULL
        || !wc->preread_done
        || wc->closing
        || (c->buffered & NGX_HTTP_WRITE_BUFFERED))
    {
        return;
    }

    /* the connection runs the cleanup itself when it closes */

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_neonpro_ws_cleanup && cln->data == wc) {
            cln->handler = NULL;
        }
    }

    hc = r->http_connection;

    wc->request = NULL;
    c->data = wc;
    c->read->handler = ngx_neonpro_ws_read_event;
    c->write->handler = ngx_neonpro_ws_write_event;

    /*
     * This runs the log phase, so the access log gets the 101 line now,
     * with $request_time covering the handshake only.
     */
    ngx_http_free_request(r, 0);

    /*
     * ngx_http_free_request() marks the connection destroyed for callers
     * that still hold the request, and clears only ctx->request.  The
     * connection lives on, and no log line may reach the freed request.
     */

    c->destroyed = 0;
    c->log->action = "in a chat WebSocket";

    ctx = c->log->data;
    ctx->request = NULL;
    ctx->current_request = NULL;

    /*
     * The client header buffer and any large header buffers are separate
     * allocations in c->pool, which ngx_pfree() returns to malloc.  A
     * buffer small enough to sit inside a pool block stays until close.
     */

    if (c->buffer) {
        (void) ngx_pfree(c->pool, c->buffer->start);
        c->buffer = NULL;
    }

    for (cl = hc->busy; cl; cl = next) {
        next = cl->next;
        (void) ngx_pfree(c->pool, cl->buf->start);
        ngx_free_chain(c->pool, cl);
    }

    hc->busy = NULL;
    hc->nbusy = 0;

    for (cl = hc->free; cl; cl = next) {
        next = cl->next;
        (void) ngx_pfree(c->pool, cl->buf->start);
        ngx_free_chain(c->pool, cl);
    }

    hc->free = NULL;

#if (NGX_HTTP_SSL)

    /*
     * nginx keeps a TLS write buffer (ssl_buffer_size, 16k by default) per
     * connection once it has been used.  Frames are whole messages queued
     * with the flush flag, so from here on they go to SSL_write() directly
     * and the buffer is freed, unless it still contains bytes of the 101.
     */

    if (c->ssl && !(c->buffered & NGX_SSL_BUFFERED)) {
        c->ssl->buffer = 0;
        ngx_ssl_free_buffer(c);
    }

#endif
}


static void
ngx_neonpro_ws_close_later(ngx_neonpro_ws_conn_t *wc)
{
    ngx_event_t  *ev;

    wc->closing = 1;

    /* the heartbeat event is reused: its timer is removed first */

    ev = &wc->heartbeat;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ev->handler = ngx_neonpro_ws_close_event;

    if (!ev->posted) {
        ngx_post_event(ev, &ngx_posted_events);
    }
}


static void
ngx_neonpro_ws_close_event(ngx_event_t *ev)
{
    ngx_neonpro_ws_conn_t  *wc = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (wc->finalized) {
        return;
    }

    c = wc->connection;
    r = wc->request;

    if (r == NULL) {
        ngx_neonpro_ws_cleanup(wc);
        ngx_http_close_connection(c);
        return;
    }

    /*
     * The request is still held, for example when the client left during
     * the 101: closing it runs the cleanup and closes the connection.
     * The termination is a posted request; the connection's handlers are
     * this module's, not ngx_http_request_handler(), so run it here.
     */

    wc->finalized = 1;

    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


/*
 * Releases what the connection owns outside c->pool.  While the request is
 * held, it runs as the request's cleanup.  The release disarms that copy,
 * and from then on the close event calls it.  A second call finds nothing
 * left to free.
 */
void
ngx_neonpro_ws_cleanup(void *data)
{
    ngx_neonpro_ws_conn_t  *wc = data;

    ngx_chain_t              *next;
    ngx_queue_t              *q;
    ngx_neonpro_ws_member_t  *m;

    wc->finalized = 1;

    if (wc->address_counted) {
        wc->address_counted = 0;
        ngx_neonpro_ws_ip_release(&wc->connection->addr_text);
    }

    if (wc->user_counted) {
        wc->user_counted = 0;
        ngx_neonpro_ws_ip_release(&wc->user_key);
    }

    while (!ngx_queue_empty(&wc->memberships)) {
        q = ngx_queue_head(&wc->memberships);
        m = ngx_queue_data(q, ngx_neonpro_ws_member_t, in_conn);
        ngx_neonpro_ws_leave(m);
    }

    while (wc->out) {
        next = wc->out->next;
        ngx_free(wc->out);
        wc->out = next;
    }

    if (wc->message) {
        ngx_free(wc->message);
        wc->message = NULL;
    }

    if (wc->deflate) {
        ngx_neonpro_ws_deflate_inflater_free(&wc->deflate->inflater);
        ngx_neonpro_ws_deflate_deflater_free(&wc->deflate->deflater);
        ngx_free(wc->deflate);
        wc->deflate = NULL;
    }

    if (wc->heartbeat.timer_set) {
        ngx_del_timer(&wc->heartbeat);
    }

    if (wc->heartbeat.posted) {
        ngx_delete_posted_event(&wc->heartbeat);
    }
}
