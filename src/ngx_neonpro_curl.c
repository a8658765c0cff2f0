
/*
 * The libcurl adapter (curl's "multi_socket" interface, see
 * curl_multi_socket_action(3)).
 *
 * curl reports the sockets it wants watched through the socket callback.
 * Each becomes an nginx connection from the worker's pool, its descriptor
 * still owned by curl.  It is registered level-triggered, so that nothing
 * is lost when curl reads less than what is there.  curl's single timer becomes one
 * nginx timer.  After every action the finished transfers are collected and
 * their callbacks run, outside of any curl call.
 */


#include "ngx_neonpro_curl.h"


typedef struct {
    ngx_neonpro_curl_done_pt   done;
    void                      *data;
} ngx_neonpro_curl_transfer_t;


static int ngx_neonpro_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_neonpro_curl_set_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_neonpro_curl_event(ngx_event_t *ev);
static void ngx_neonpro_curl_timeout(ngx_event_t *ev);
static void ngx_neonpro_curl_collect(void);


#define NGX_NEONPRO_CURL_MAX_HOST  255


static CURLM        *ngx_neonpro_curl_multi;
static ngx_event_t   ngx_neonpro_curl_timer;
static ngx_log_t    *ngx_neonpro_curl_log;


static void
ngx_neonpro_curl_free_list(void *data)
{
    curl_slist_free_all(data);
}


/*
 * Checks an http or https URL for curl and resolves its host here, while
 * the configuration is read.  The address goes to curl as a
 * CURLOPT_RESOLVE entry, so that curl never resolves a name inside a
 * worker.  what names the URL in messages; out gets a NUL-terminated copy
 * and resolve the entry list, or NULL for a literal address.
 */
char *
ngx_neonpro_curl_set_url(ngx_conf_t *cf, ngx_str_t *url, const char *what,
    ngx_str_t *out, void **resolve)
{
    size_t               n, skip;
    ngx_url_t            u;
    ngx_pool_cleanup_t  *cln;
    in_port_t            port;
    struct curl_slist   *list;
    u_char               addr[NGX_SOCKADDR_STRLEN];
    u_char               entry[NGX_NEONPRO_CURL_MAX_HOST + NGX_SOCKADDR_STRLEN
                               + NGX_INT_T_LEN + 4];

    if (url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7)
                        == 0)
    {
        skip = 7;
        port = 80;

    } else if (url->len > 8
               && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0)
    {
        skip = 8;
        port = 443;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s URL \"%V\": use http://host[:port]"
                           "/path or https://host[:port]/path", what, url);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = url->data + skip;
    u.url.len = url->len - skip;
    u.default_port = port;
    u.uri_part = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s URL \"%V\": %s", what, url,
                           u.err ? u.err : "the host has no address");
        return NGX_CONF_ERROR;
    }

    out->data = ngx_pnalloc(cf->pool, url->len + 1);
    if (out->data == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(out->data, url->data, url->len + 1);
    out->len = url->len;

    /* a literal address needs no entry; an IPv6 one comes in brackets */

    if (u.host.len == 0 || u.host.data[0] == '[') {
        *resolve = NULL;
        return NGX_CONF_OK;
    }

    if (u.host.len > NGX_NEONPRO_CURL_MAX_HOST) {
        return "has a host name that is too long";
    }

    n = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, addr,
                      sizeof(addr), 0);

    if (u.addrs[0].sockaddr->sa_family == AF_INET6) {
        (void) ngx_sprintf(entry, "%V:%d:[%*s]%Z", &u.host, (int) u.port,
                           n, addr);

    } else {
        (void) ngx_sprintf(entry, "%V:%d:%*s%Z", &u.host, (int) u.port,
                           n, addr);
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    list = curl_slist_append(NULL, (char *) entry);
    if (list == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the list goes with the configuration that made it */
    cln->handler = ngx_neonpro_curl_free_list;
    cln->data = list;

    *resolve = list;

    return NGX_CONF_OK;
}


/* In the master, before the workers fork: curl's global state. */
ngx_int_t
ngx_neonpro_curl_global_init(ngx_log_t *log)
{
    static ngx_uint_t  done;

    CURLcode  rc;

    if (done) {
        return NGX_OK;
    }

    rc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "curl_global_init() failed: %s",
                      curl_easy_strerror(rc));
        return NGX_ERROR;
    }

    done = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_curl_start(ngx_log_t *log)
{
    CURLM  *multi;

    multi = curl_multi_init();
    if (multi == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "curl_multi_init() failed");
        return NGX_ERROR;
    }

    if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION,
                          ngx_neonpro_curl_socket) != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION,
                             ngx_neonpro_curl_set_timer) != CURLM_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "curl_multi_setopt() failed");
        (void) curl_multi_cleanup(multi);
        return NGX_ERROR;
    }

    /* the per-worker log outlives any request that started a transfer */
    ngx_neonpro_curl_log = ngx_cycle->log;

    ngx_neonpro_curl_timer.handler = ngx_neonpro_curl_timeout;
    ngx_neonpro_curl_timer.log = ngx_neonpro_curl_log;
    ngx_neonpro_curl_timer.data = multi;

    /*
     * curl's own timer does not keep a stopping worker alive; the callers
     * hold their transfers' deadlines in timers of their own.
     */
    ngx_neonpro_curl_timer.cancelable = 1;

    ngx_neonpro_curl_multi = multi;

    return NGX_OK;
}


/* Starts a transfer; done runs once when it ends, unless it is removed. */
ngx_int_t
ngx_neonpro_curl_add(CURL *easy, ngx_neonpro_curl_done_pt done, void *data,
    ngx_log_t *log)
{
    CURLMcode                     rc;
    ngx_neonpro_curl_transfer_t  *t;

    if (ngx_neonpro_curl_multi == NULL
        && ngx_neonpro_curl_start(log) != NGX_OK)
    {
        return NGX_ERROR;
    }

    t = ngx_alloc(sizeof(ngx_neonpro_curl_transfer_t), log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->done = done;
    t->data = data;

    (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, t);

    rc = curl_multi_add_handle(ngx_neonpro_curl_multi, easy);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        ngx_free(t);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Stops a transfer before it ended; its done callback never runs. */
void
ngx_neonpro_curl_remove(CURL *easy)
{
    ngx_neonpro_curl_transfer_t  *t;

    t = NULL;

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t) != CURLE_OK
        || t == NULL)
    {
        return;
    }

    (void) curl_multi_remove_handle(ngx_neonpro_curl_multi, easy);
    (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);

    ngx_free(t);
}


/*
 * The worker stops: every caller removed its transfers first, so what is
 * left are curl's idle cached connections, which the cleanup closes after
 * telling the socket callback.
 */
void
ngx_neonpro_curl_exit_process(void)
{
    if (ngx_neonpro_curl_multi == NULL) {
        return;
    }

    (void) curl_multi_cleanup(ngx_neonpro_curl_multi);
    ngx_neonpro_curl_multi = NULL;

    if (ngx_neonpro_curl_timer.timer_set) {
        ngx_del_timer(&ngx_neonpro_curl_timer);
    }
}


static ngx_int_t
ngx_neonpro_curl_watch(ngx_event_t *ev, ngx_uint_t event, ngx_uint_t want)
{
    if (want && !ev->active) {
        return ngx_add_event(ev, event, 0);
    }

    if (!want && ev->active) {
        return ngx_del_event(ev, event, 0);
    }

    return NGX_OK;
}


/* curl's socket callback: which events of socket s curl waits for. */
static int
ngx_neonpro_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    ngx_connection_t  *c = socketp;

    if (what == CURL_POLL_REMOVE) {

        /* curl closes the descriptor itself, right after this returns */

        if (c) {
            (void) ngx_neonpro_curl_watch(c->read, NGX_READ_EVENT, 0);
            (void) ngx_neonpro_curl_watch(c->write, NGX_WRITE_EVENT, 0);
            ngx_free_connection(c);
            c->fd = (ngx_socket_t) -1;
            (void) curl_multi_assign(ngx_neonpro_curl_multi, s, NULL);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, ngx_neonpro_curl_log);
        if (c == NULL) {
            return -1;
        }

        c->log = ngx_neonpro_curl_log;
        c->read->log = ngx_neonpro_curl_log;
        c->write->log = ngx_neonpro_curl_log;
        c->read->handler = ngx_neonpro_curl_event;
        c->write->handler = ngx_neonpro_curl_event;

        (void) curl_multi_assign(ngx_neonpro_curl_multi, s, c);
    }

    if (ngx_neonpro_curl_watch(c->read, NGX_READ_EVENT,
                               what & CURL_POLL_IN) != NGX_OK
        || ngx_neonpro_curl_watch(c->write, NGX_WRITE_EVENT,
                                  what & CURL_POLL_OUT) != NGX_OK)
    {
        return -1;
    }

    return 0;
}


/* curl's timer callback: -1 removes the timer, 0 requests an action soon. */
static int
ngx_neonpro_curl_set_timer(CURLM *multi, long timeout_ms, void *userp)
{
    if (timeout_ms < 0) {
        if (ngx_neonpro_curl_timer.timer_set) {
            ngx_del_timer(&ngx_neonpro_curl_timer);
        }

        return 0;
    }

    /* never call back into curl from here: the timer fires from the loop */

    ngx_add_timer(&ngx_neonpro_curl_timer, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_neonpro_curl_event(ngx_event_t *ev)
{
    int                running;
    ngx_connection_t  *c;

    c = ev->data;

    /* the connection may go away inside the call: take the fd first */

    (void) curl_multi_socket_action(ngx_neonpro_curl_multi, c->fd,
                                    ev->write ? CURL_CSELECT_OUT
                                              : CURL_CSELECT_IN,
                                    &running);
    ngx_neonpro_curl_collect();
}


static void
ngx_neonpro_curl_timeout(ngx_event_t *ev)
{
    int  running;

    (void) curl_multi_socket_action(ngx_neonpro_curl_multi,
                                    CURL_SOCKET_TIMEOUT, 0, &running);
    ngx_neonpro_curl_collect();
}


/* Runs the done callbacks of the transfers that ended. */
static void
ngx_neonpro_curl_collect(void)
{
    int                           left;
    CURL                         *easy;
    CURLMsg                      *msg;
    CURLcode                      result;
    ngx_neonpro_curl_transfer_t  *t, transfer;

    while (ngx_neonpro_curl_multi
           && (msg = curl_multi_info_read(ngx_neonpro_curl_multi, &left)))
    {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        result = msg->data.result;
        t = NULL;

        (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);
        (void) curl_multi_remove_handle(ngx_neonpro_curl_multi, easy);

        if (t == NULL) {
            continue;
        }

        (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);

        transfer = *t;
        ngx_free(t);

        transfer.done(transfer.data, result);
    }
}
