
/*
 * The single-node chat bus.
 *
 * Sessions live in a red-black tree in a shared memory zone, each with its
 * last sequence number, a ring of the last messages (the JSON envelopes
 * as sent) and a count of participants per worker.  A publisher stores the
 * message under the zone's mutex.  It then writes to the eventfd of every
 * other worker that has participants; the master made those eventfds
 * before forking.  A woken worker reads the new messages from the ring, so
 * no worker polls.
 */


#include <sys/eventfd.h>

#include "ngx_neonpro_chat_bus.h"
#include "ngx_neonpro_chat_envelope.h"


typedef struct {
    uint64_t                   seq;
    uint64_t                   pos;
    uint64_t                   stream;
    size_t                     len;
    u_char                    *json;
    ngx_neonpro_bus_origin_t   origin;
} ngx_neonpro_bus_entry_t;


/*
 * The live events of agent replies, first in first out.  They share the
 * position counter of the messages, so that every worker delivers
 * messages and stream events in the one order they were published.
 */
typedef struct {
    uint64_t                   pos;
    uint64_t                   stream;
    ngx_uint_t                 kind;
    size_t                     len;
    u_char                    *json;
} ngx_neonpro_bus_event_t;


typedef struct {
    ngx_uint_t                 head;
    ngx_uint_t                 count;
    uint64_t                   dropped;     /* position of the last dropped */
    ngx_neonpro_bus_event_t    events[NGX_NEONPRO_BUS_STREAM_EVENTS];
} ngx_neonpro_bus_stream_t;


typedef struct {
    ngx_str_node_t             sn;
    time_t                     last_active;
    uint64_t                   seq;
    uint64_t                   pos;
    ngx_uint_t                 agent;
    u_char                     clinic[NGX_NEONPRO_BUS_CLINIC_MAX];
    size_t                     clinic_len;
    ngx_neonpro_bus_stream_t  *stream;      /* with the first agent reply */
    ngx_uint_t                 head;
    ngx_uint_t                 count;
    ngx_uint_t                 subscribers[NGX_NEONPRO_BUS_MAX_WORKERS];
    ngx_neonpro_bus_entry_t    entries[1];
} ngx_neonpro_bus_session_t;


typedef struct {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_uint_t                 history;
    time_t                     ttl;
} ngx_neonpro_bus_sh_t;


static ngx_int_t ngx_neonpro_bus_join(ngx_str_t *session, ngx_uint_t agent,
    ngx_str_t *clinic, ngx_neonpro_bus_joined_t *joined);
static void ngx_neonpro_bus_leave(ngx_str_t *session);
static ngx_int_t ngx_neonpro_bus_publish(ngx_str_t *session,
    ngx_neonpro_bus_message_t *msg, ngx_neonpro_bus_origin_t *origin,
    uint64_t *seq, uint64_t *pos);
static ngx_int_t ngx_neonpro_bus_publish_stream(ngx_str_t *session,
    uint64_t stream, ngx_uint_t kind, u_char *json, size_t len);
static ngx_int_t ngx_neonpro_bus_read(ngx_str_t *session, uint64_t after_seq,
    uint64_t up_to, uint64_t *oldest, ngx_neonpro_bus_message_pt handler,
    void *data);
static ngx_int_t ngx_neonpro_bus_read_new(ngx_str_t *session,
    uint64_t after_pos, uint64_t *last_pos, ngx_uint_t *lost,
    ngx_neonpro_bus_item_pt handler, void *data);
static void ngx_neonpro_bus_wake(ngx_neonpro_bus_session_t *s);
static void ngx_neonpro_bus_stop_reading(void);


ngx_neonpro_bus_t  ngx_neonpro_bus_shm = {
    ngx_neonpro_bus_join,
    ngx_neonpro_bus_leave,
    ngx_neonpro_bus_publish,
    ngx_neonpro_bus_publish_stream,
    ngx_neonpro_bus_read,
    ngx_neonpro_bus_read_new
};


static ngx_shm_zone_t             *ngx_neonpro_bus_zone;
static ngx_cycle_t                *ngx_neonpro_bus_zone_cycle;
static ngx_uint_t                  ngx_neonpro_bus_history;
static time_t                      ngx_neonpro_bus_ttl;
static int                         ngx_neonpro_bus_fds[
                                       NGX_NEONPRO_BUS_MAX_WORKERS];
static ngx_uint_t                  ngx_neonpro_bus_nfds;
static ngx_uint_t                  ngx_neonpro_bus_made;
static ngx_connection_t           *ngx_neonpro_bus_connection;
static ngx_neonpro_bus_wakeup_pt   ngx_neonpro_bus_wakeup;
static ngx_event_t                 ngx_neonpro_bus_local_event;


static ngx_int_t
ngx_neonpro_bus_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t       *shpool;
    ngx_neonpro_bus_sh_t  *sh;

    if (data) {
        /* a reload keeps the sessions and their history */
        shm_zone->data = data;
        ((ngx_neonpro_bus_sh_t *) data)->ttl = ngx_neonpro_bus_ttl;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_neonpro_bus_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);
    sh->history = ngx_neonpro_bus_history;
    sh->ttl = ngx_neonpro_bus_ttl;

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


ngx_int_t
ngx_neonpro_bus_add_zone(ngx_conf_t *cf, size_t size, ngx_uint_t history,
    time_t ttl)
{
    ngx_str_t        name = ngx_string("neonpro_chat");
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, &name, size,
                                 &ngx_neonpro_ws_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_neonpro_bus_init_zone;

    ngx_neonpro_bus_zone = zone;
    ngx_neonpro_bus_zone_cycle = cf->cycle;
    ngx_neonpro_bus_history = history;
    ngx_neonpro_bus_ttl = ttl;

    return NGX_OK;
}


/*
 * Makes the eventfd of each worker slot, in the master, before the fork.
 *
 * A slot keeps its eventfd for the master's life: after a reload, the old
 * and the new worker of a slot share it.  So an old worker that finishes
 * an agent reply while it shuts down still wakes the new workers, whose
 * participants have reconnected.  An old worker stops reading its slot's
 * eventfd as soon as it starts shutting down.
 */
ngx_int_t
ngx_neonpro_bus_init_module(ngx_cycle_t *cycle)
{
    int               fd;
    ngx_uint_t        n;
    ngx_core_conf_t  *ccf;

    if (ngx_neonpro_bus_zone == NULL
        || ngx_neonpro_bus_zone_cycle != cycle)
    {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    n = ccf->worker_processes;

    if (n > NGX_NEONPRO_BUS_MAX_WORKERS) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "neonpro_chat supports at most %d worker processes, "
                      "not %ui", NGX_NEONPRO_BUS_MAX_WORKERS, n);
        return NGX_ERROR;
    }

    while (ngx_neonpro_bus_made < n) {
        fd = eventfd(0, EFD_NONBLOCK);

        if (fd == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "eventfd() failed");
            return NGX_ERROR;
        }

        ngx_neonpro_bus_fds[ngx_neonpro_bus_made++] = fd;
    }

    ngx_neonpro_bus_nfds = n;

    return NGX_OK;
}


static void
ngx_neonpro_bus_wakeup_handler(ngx_event_t *ev)
{
    uint64_t           count;
    ngx_connection_t  *c;

    c = ngx_neonpro_bus_connection;

    if (c && c->close) {
        /*
         * The worker shuts down: the new worker of this slot reads the
         * eventfd from now on.  Messages this worker publishes itself
         * still reach it through the posted event.
         */
        ngx_neonpro_bus_stop_reading();
        return;
    }

    if (c && ev == c->read) {
        /* the eventfd is level-triggered: reading it rearms it */
        (void) read(ngx_neonpro_bus_connection->fd, &count, sizeof(count));
    }

    ngx_neonpro_bus_wakeup();
}


ngx_int_t
ngx_neonpro_bus_init_process(ngx_cycle_t *cycle,
    ngx_neonpro_bus_wakeup_pt wakeup)
{
    ngx_connection_t  *c;

    if (ngx_neonpro_bus_zone == NULL || ngx_neonpro_bus_nfds == 0
        || (ngx_uint_t) ngx_worker >= ngx_neonpro_bus_nfds)
    {
        return NGX_OK;
    }

    ngx_neonpro_bus_wakeup = wakeup;

    c = ngx_get_connection(ngx_neonpro_bus_fds[ngx_worker], cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->read->handler = ngx_neonpro_bus_wakeup_handler;
    c->read->log = cycle->log;
    c->log = cycle->log;

    /* a shutdown calls the read handler of idle connections with close */
    c->idle = 1;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    ngx_neonpro_bus_connection = c;

    ngx_neonpro_bus_local_event.handler = ngx_neonpro_bus_wakeup_handler;
    ngx_neonpro_bus_local_event.log = cycle->log;
    ngx_neonpro_bus_local_event.data = NULL;

    return NGX_OK;
}


static void
ngx_neonpro_bus_stop_reading(void)
{
    ngx_connection_t  *c;

    c = ngx_neonpro_bus_connection;

    if (c == NULL) {
        return;
    }

    /*
     * The descriptor stays open: this worker still writes to it to wake
     * the new worker of its slot.
     */

    ngx_del_event(c->read, NGX_READ_EVENT, 0);
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);

    ngx_neonpro_bus_connection = NULL;
}


void
ngx_neonpro_bus_exit_process(ngx_cycle_t *cycle)
{
    ngx_neonpro_bus_stop_reading();
}


static ngx_neonpro_bus_session_t *
ngx_neonpro_bus_find(ngx_neonpro_bus_sh_t *sh, ngx_str_t *session)
{
    uint32_t  hash;

    hash = ngx_crc32_short(session->data, session->len);

    return (ngx_neonpro_bus_session_t *)
               ngx_str_rbtree_lookup(&sh->rbtree, session, hash);
}


static void
ngx_neonpro_bus_drop_oldest(ngx_slab_pool_t *shpool, ngx_neonpro_bus_sh_t *sh,
    ngx_neonpro_bus_session_t *s)
{
    ngx_neonpro_bus_entry_t  *e;

    e = &s->entries[s->head];
    ngx_slab_free_locked(shpool, e->json);
    e->json = NULL;

    s->head = (s->head + 1) % sh->history;
    s->count--;
}


static void
ngx_neonpro_bus_drop_event(ngx_slab_pool_t *shpool,
    ngx_neonpro_bus_stream_t *st)
{
    ngx_neonpro_bus_event_t  *ev;

    ev = &st->events[st->head];
    ngx_slab_free_locked(shpool, ev->json);
    ev->json = NULL;

    st->dropped = ev->pos;
    st->head = (st->head + 1) % NGX_NEONPRO_BUS_STREAM_EVENTS;
    st->count--;
}


/*
 * Starts an idle session over once it is older than the ttl: its history
 * goes and its sequence restarts.  A client that resumes then gets a
 * last_seq below its own and drops its copy.  Only a session without
 * participants on any worker expires.
 */
static ngx_uint_t
ngx_neonpro_bus_unfollowed(ngx_neonpro_bus_session_t *s)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_NEONPRO_BUS_MAX_WORKERS; i++) {
        if (s->subscribers[i]) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_neonpro_bus_expire(ngx_slab_pool_t *shpool, ngx_neonpro_bus_sh_t *sh,
    ngx_neonpro_bus_session_t *s)
{
    if (!ngx_neonpro_bus_unfollowed(s)) {
        return NGX_DECLINED;
    }

    if (ngx_time() - s->last_active < sh->ttl) {
        return NGX_DECLINED;
    }

    while (s->count) {
        ngx_neonpro_bus_drop_oldest(shpool, sh, s);
    }

    if (s->stream) {
        while (s->stream->count) {
            ngx_neonpro_bus_drop_event(shpool, s->stream);
        }

        ngx_slab_free_locked(shpool, s->stream);
        s->stream = NULL;
    }

    s->head = 0;
    s->seq = 0;
    s->pos = 0;

    return NGX_OK;
}


/*
 * Frees expired sessions, tree node and all, when the zone is full.  No
 * worker has participants in them, so no worker keeps a pointer to them.
 */
static void
ngx_neonpro_bus_expire_all(ngx_slab_pool_t *shpool, ngx_neonpro_bus_sh_t *sh)
{
    ngx_rbtree_node_t  *node, *next;

    if (sh->rbtree.root == &sh->sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(sh->rbtree.root, &sh->sentinel);
         node;
         node = next)
    {
        next = ngx_rbtree_next(&sh->rbtree, node);

        if (ngx_neonpro_bus_expire(shpool, sh,
                                   (ngx_neonpro_bus_session_t *) node)
            == NGX_OK)
        {
            ngx_rbtree_delete(&sh->rbtree, node);
            ngx_slab_free_locked(shpool, node);
        }
    }
}


static ngx_int_t
ngx_neonpro_bus_join(ngx_str_t *session, ngx_uint_t agent, ngx_str_t *clinic,
    ngx_neonpro_bus_joined_t *joined)
{
    size_t                      size;
    ngx_slab_pool_t            *shpool;
    ngx_neonpro_bus_sh_t       *sh;
    ngx_neonpro_bus_session_t  *s;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_bus_zone->shm.addr;
    sh = ngx_neonpro_bus_zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_neonpro_bus_find(sh, session);

    if (s == NULL) {
        size = sizeof(ngx_neonpro_bus_session_t)
               + (sh->history - 1) * sizeof(ngx_neonpro_bus_entry_t);

        s = ngx_slab_calloc_locked(shpool, size + session->len);

        if (s == NULL) {
            /* the zone is full: expired sessions give back their history */
            ngx_neonpro_bus_expire_all(shpool, sh);
            s = ngx_slab_calloc_locked(shpool, size + session->len);
        }

        if (s == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "neonpro: the neonpro_chat zone is full, "
                          "a new session was rejected");
            return NGX_ERROR;
        }

        s->sn.str.data = (u_char *) s + size;
        s->sn.str.len = session->len;
        ngx_memcpy(s->sn.str.data, session->data, session->len);
        s->sn.node.key = ngx_crc32_short(session->data, session->len);
        s->agent = agent;

        ngx_rbtree_insert(&sh->rbtree, &s->sn.node);
    }

    (void) ngx_neonpro_bus_expire(shpool, sh, s);

    if (s->seq == 0 && s->pos == 0 && ngx_neonpro_bus_unfollowed(s)) {

        /* a new or restarted session takes the settings of its first join */

        s->agent = agent;
        s->clinic_len = ngx_min(clinic->len, NGX_NEONPRO_BUS_CLINIC_MAX);
        ngx_memcpy(s->clinic, clinic->data, s->clinic_len);
    }

    if (s->clinic_len
        && (clinic->len != s->clinic_len
            || ngx_memcmp(clinic->data, s->clinic, s->clinic_len) != 0))
    {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    s->subscribers[ngx_worker]++;
    s->last_active = ngx_time();

    joined->seq = s->seq;
    joined->pos = s->pos;
    joined->agent = s->agent;
    joined->clinic_len = s->clinic_len;
    ngx_memcpy(joined->clinic, s->clinic, s->clinic_len);

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * A session stays in the zone after its last participant leaves, so that a
 * reconnecting client can resume.  Once expired, it starts over when it is
 * joined again, or goes when the zone runs out of memory.
 */
static void
ngx_neonpro_bus_leave(ngx_str_t *session)
{
    ngx_slab_pool_t            *shpool;
    ngx_neonpro_bus_session_t  *s;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_bus_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_neonpro_bus_find(ngx_neonpro_bus_zone->data, session);

    if (s && s->subscribers[ngx_worker]) {
        s->subscribers[ngx_worker]--;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}




static ngx_int_t
ngx_neonpro_bus_publish(ngx_str_t *session, ngx_neonpro_bus_message_t *msg,
    ngx_neonpro_bus_origin_t *origin, uint64_t *seq, uint64_t *pos)
{
    char                       *json, id[NGX_NEONPRO_CHAT_ID_MAX + 1];
    size_t                      len;
    u_char                     *copy;
    ngx_slab_pool_t            *shpool;
    ngx_neonpro_bus_sh_t       *sh;
    ngx_neonpro_bus_entry_t    *e;
    ngx_neonpro_bus_session_t  *s;
    ngx_neonpro_chat_head_t     head;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_bus_zone->shm.addr;
    sh = ngx_neonpro_bus_zone->data;

    ngx_memcpy(id, session->data, ngx_min(session->len, sizeof(id) - 1));
    id[ngx_min(session->len, sizeof(id) - 1)] = '\0';

    head.id = NULL;
    head.session_id = id;
    head.ts = (json_int_t) ngx_neonpro_now_ms();

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_neonpro_bus_find(sh, session);
    if (s == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    json = msg->stream_id
           ? ngx_neonpro_chat_build_reply(&head, (json_int_t) s->seq + 1,
                                          msg->stream_id, msg->content,
                                          msg->content_len)
           : ngx_neonpro_chat_build_message(&head, (json_int_t) s->seq + 1,
                                            msg->user_id, msg->user_role,
                                            msg->content, msg->content_len);
    if (json == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    len = ngx_strlen(json);

    if (s->count == sh->history) {
        ngx_neonpro_bus_drop_oldest(shpool, sh, s);
    }

    for ( ;; ) {
        copy = ngx_slab_alloc_locked(shpool, len);
        if (copy || s->count == 0) {
            break;
        }

        /* the zone is full: this session's oldest messages make room */
        ngx_neonpro_bus_drop_oldest(shpool, sh, s);
    }

    if (copy == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        free(json);
        return NGX_ERROR;
    }

    ngx_memcpy(copy, json, len);
    free(json);

    s->last_active = ngx_time();

    e = &s->entries[(s->head + s->count) % sh->history];
    e->seq = ++s->seq;
    e->pos = ++s->pos;
    e->stream = msg->stream;
    e->len = len;
    e->json = copy;
    e->origin = *origin;
    s->count++;

    *seq = e->seq;
    *pos = e->pos;

    ngx_neonpro_bus_wake(s);

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_bus_publish_stream(ngx_str_t *session, uint64_t stream,
    ngx_uint_t kind, u_char *json, size_t len)
{
    u_char                     *copy;
    ngx_slab_pool_t            *shpool;
    ngx_neonpro_bus_event_t    *ev;
    ngx_neonpro_bus_stream_t   *st;
    ngx_neonpro_bus_session_t  *s;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_bus_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_neonpro_bus_find(ngx_neonpro_bus_zone->data, session);
    if (s == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    if (s->stream == NULL) {
        s->stream = ngx_slab_calloc_locked(shpool,
                                           sizeof(ngx_neonpro_bus_stream_t));
        if (s->stream == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_ERROR;
        }
    }

    st = s->stream;

    if (st->count == NGX_NEONPRO_BUS_STREAM_EVENTS) {
        ngx_neonpro_bus_drop_event(shpool, st);
    }

    for ( ;; ) {
        copy = ngx_slab_alloc_locked(shpool, len);
        if (copy || st->count == 0) {
            break;
        }

        ngx_neonpro_bus_drop_event(shpool, st);
    }

    if (copy == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    ngx_memcpy(copy, json, len);

    ev = &st->events[(st->head + st->count) % NGX_NEONPRO_BUS_STREAM_EVENTS];
    ev->pos = ++s->pos;
    ev->stream = stream;
    ev->kind = kind;
    ev->len = len;
    ev->json = copy;
    st->count++;

    s->last_active = ngx_time();

    ngx_neonpro_bus_wake(s);

    return NGX_OK;
}


/*
 * Unlocks the zone and wakes every worker with participants of s: the
 * others through their eventfds, this one through a posted event.
 */
static void
ngx_neonpro_bus_wake(ngx_neonpro_bus_session_t *s)
{
    uint64_t          one;
    ngx_uint_t        i, wake[NGX_NEONPRO_BUS_MAX_WORKERS], nwake;
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_bus_zone->shm.addr;

    nwake = 0;

    for (i = 0; i < ngx_neonpro_bus_nfds; i++) {
        if (s->subscribers[i]) {
            wake[nwake++] = i;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    one = 1;

    for (i = 0; i < nwake; i++) {
        if (wake[i] == (ngx_uint_t) ngx_worker) {

            /* this worker delivers after the current handler returns */

            if (!ngx_neonpro_bus_local_event.posted) {
                ngx_post_event(&ngx_neonpro_bus_local_event,
                               &ngx_posted_events);
            }

            /* a worker that shuts down shares its slot with its successor */

            if (ngx_neonpro_bus_connection) {
                continue;
            }
        }

        if (write(ngx_neonpro_bus_fds[wake[i]], &one, sizeof(one)) == -1
            && ngx_errno != NGX_EAGAIN)
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                          "neonpro: write() to the eventfd of worker %ui "
                          "failed", wake[i]);
        }
    }
}


/*
 * Copies the messages out under the mutex first, so that a handler that
 * sends frames never runs with the zone locked.
 */
static ngx_int_t
ngx_neonpro_bus_read(ngx_str_t *session, uint64_t after_seq, uint64_t up_to,
    uint64_t *oldest, ngx_neonpro_bus_message_pt handler, void *data)
{
    u_char                     *p, *copy;
    size_t                      total;
    uint64_t                    seqs[NGX_NEONPRO_BUS_MAX_HISTORY];
    ngx_neonpro_bus_origin_t   *origins;
    ngx_int_t                   rc;
    ngx_uint_t                  i, n;
    size_t                      lens[NGX_NEONPRO_BUS_MAX_HISTORY];
    ngx_slab_pool_t            *shpool;
    ngx_neonpro_bus_sh_t       *sh;
    ngx_neonpro_bus_entry_t    *e;
    ngx_neonpro_bus_session_t  *s;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_bus_zone->shm.addr;
    sh = ngx_neonpro_bus_zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_neonpro_bus_find(sh, session);

    if (s == NULL || s->count == 0) {
        *oldest = s ? s->seq + 1 : 1;
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    *oldest = s->entries[s->head].seq;

    if (handler == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    total = 0;
    n = 0;

    for (i = 0; i < s->count && n < NGX_NEONPRO_BUS_MAX_HISTORY; i++) {
        e = &s->entries[(s->head + i) % sh->history];

        if (e->seq > after_seq && e->seq <= up_to) {
            total += e->len;
            n++;
        }
    }

    copy = total ? ngx_alloc(total + n * sizeof(ngx_neonpro_bus_origin_t),
                             ngx_cycle->log)
                 : NULL;
    origins = (ngx_neonpro_bus_origin_t *) (copy + total);

    if (total && copy == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    p = copy;
    n = 0;

    for (i = 0; i < s->count && n < NGX_NEONPRO_BUS_MAX_HISTORY; i++) {
        e = &s->entries[(s->head + i) % sh->history];

        if (e->seq > after_seq && e->seq <= up_to) {
            p = ngx_cpymem(p, e->json, e->len);
            origins[n] = e->origin;
            seqs[n] = e->seq;
            lens[n] = e->len;
            n++;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    rc = NGX_OK;
    p = copy;

    for (i = 0; i < n && rc == NGX_OK; i++) {
        rc = handler(data, seqs[i], p, lens[i], &origins[i]);
        p += lens[i];
    }

    if (copy) {
        ngx_free(copy);
    }

    return rc;
}


/*
 * Merges the session's messages and stream events after after_pos by
 * position.  Both rings are in position order already, so one pass over
 * each suffices.  The copies are made under the mutex, and the handler
 * runs after it is released.
 */
static ngx_int_t
ngx_neonpro_bus_read_new(ngx_str_t *session, uint64_t after_pos,
    uint64_t *last_pos, ngx_uint_t *lost, ngx_neonpro_bus_item_pt handler,
    void *data)
{
    u_char                     *p, *block;
    size_t                      total;
    ngx_int_t                   rc;
    ngx_uint_t                  i, j, n, nmsg, nev;
    ngx_slab_pool_t            *shpool;
    ngx_neonpro_bus_sh_t       *sh;
    ngx_neonpro_bus_item_t     *items;
    ngx_neonpro_bus_entry_t    *e;
    ngx_neonpro_bus_event_t    *ev;
    ngx_neonpro_bus_stream_t   *st;
    ngx_neonpro_bus_session_t  *s;
    ngx_neonpro_bus_origin_t   *origins;

    shpool = (ngx_slab_pool_t *) ngx_neonpro_bus_zone->shm.addr;
    sh = ngx_neonpro_bus_zone->data;

    *lost = 0;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_neonpro_bus_find(sh, session);

    if (s == NULL || s->pos <= after_pos) {
        *last_pos = s ? s->pos : after_pos;
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    *last_pos = s->pos;
    st = s->stream;

    if (st && st->dropped > after_pos) {
        *lost = 1;
    }

    /* the first new entry of each ring, and the bytes to copy */

    total = 0;
    nmsg = 0;
    nev = 0;

    for (i = s->count; i > 0; i--) {
        e = &s->entries[(s->head + i - 1) % sh->history];

        if (e->pos <= after_pos) {
            break;
        }

        total += e->len;
        nmsg++;
    }

    for (i = st ? st->count : 0; i > 0; i--) {
        ev = &st->events[(st->head + i - 1) % NGX_NEONPRO_BUS_STREAM_EVENTS];

        if (ev->pos <= after_pos) {
            break;
        }

        total += ev->len;
        nev++;
    }

    n = nmsg + nev;

    if (n == 0) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    block = ngx_alloc(n * (sizeof(ngx_neonpro_bus_item_t)
                           + sizeof(ngx_neonpro_bus_origin_t)) + total,
                      ngx_cycle->log);
    if (block == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    items = (ngx_neonpro_bus_item_t *) block;
    origins = (ngx_neonpro_bus_origin_t *) (items + n);
    p = (u_char *) (origins + n);

    i = s->count - nmsg;
    j = st ? st->count - nev : 0;

    for (n = 0; n < nmsg + nev; n++) {
        e = (i < s->count) ? &s->entries[(s->head + i) % sh->history] : NULL;
        ev = (st && j < st->count)
             ? &st->events[(st->head + j) % NGX_NEONPRO_BUS_STREAM_EVENTS]
             : NULL;

        if (e && (ev == NULL || e->pos < ev->pos)) {
            items[n].pos = e->pos;
            items[n].seq = e->seq;
            items[n].stream = e->stream;
            items[n].kind = 0;
            items[n].len = e->len;
            items[n].json = p;
            origins[n] = e->origin;
            items[n].origin = &origins[n];
            p = ngx_cpymem(p, e->json, e->len);
            i++;

        } else {
            items[n].pos = ev->pos;
            items[n].seq = 0;
            items[n].stream = ev->stream;
            items[n].kind = ev->kind;
            items[n].len = ev->len;
            items[n].json = p;
            items[n].origin = NULL;
            p = ngx_cpymem(p, ev->json, ev->len);
            j++;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    rc = NGX_OK;

    for (i = 0; i < nmsg + nev && rc == NGX_OK; i++) {
        rc = handler(data, &items[i]);
    }

    ngx_free(block);

    return rc;
}
