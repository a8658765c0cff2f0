
/*
 * Agent calls of the chat module.
 *
 * A call is made for each message in a session with the agent.  The
 * request body contains the message, the session's last exchanges and the
 * user, with "stream": true.  Each "text" event of the reply is published
 * to the session as a stream_chunk.  The "done" event ends the stream, and
 * the whole reply is then stored as the session's next message.  A call
 * that fails publishes an error and a stream_end without a seq instead.
 *
 * A worker runs at most "concurrency" calls of one configuration at a time
 * and keeps at most "queue_size" more waiting.  The caller checks for room
 * before it publishes the message, so a full queue rejects the message.
 */


#include <curl/curl.h>

#include "ngx_neonpro_chat_agent.h"
#include "ngx_neonpro_chat_envelope.h"
#include "ngx_neonpro_curl.h"
#include "ngx_neonpro_lang.h"
#include "ngx_neonpro_sse.h"


#define NGX_NEONPRO_AGENT_MAX_EVENT  (64 * 1024)
#define NGX_NEONPRO_AGENT_STREAM_ID  48


typedef struct {
    ngx_queue_t                     all;      /* every call of the worker */
    ngx_queue_t                     waiting;  /* in acf->queue until run */
    ngx_neonpro_chat_agent_conf_t  *acf;
    ngx_neonpro_bus_t              *bus;
    ngx_log_t                      *log;

    CURL                           *easy;
    struct curl_slist              *headers;
    char                           *body;

    ngx_str_t                       session;
    char                            sid[NGX_NEONPRO_CHAT_ID_MAX + 1];
    char                            mid[NGX_NEONPRO_CHAT_ID_MAX + 1];
    uint64_t                        reply_to;
    uint64_t                        stream;
    char                            stream_id[NGX_NEONPRO_AGENT_STREAM_ID];
    ngx_uint_t                      lang;

    ngx_neonpro_sse_t               sse;
    json_int_t                      index;
    u_char                         *reply;
    size_t                          reply_len;
    size_t                          reply_size;

    /* the maximum silence from the agent; it keeps a stopping worker alive */
    ngx_event_t                     timer;

    long                            status;
    unsigned                        queued:1;
    unsigned                        not_stream:1;
    unsigned                        running:1;
    unsigned                        checked:1;
    unsigned                        done:1;
    unsigned                        bad_event:1;
} ngx_neonpro_chat_agent_call_t;


static ngx_int_t ngx_neonpro_chat_agent_start(
    ngx_neonpro_chat_agent_call_t *call);
static void ngx_neonpro_chat_agent_next(ngx_neonpro_chat_agent_conf_t *acf);
static size_t ngx_neonpro_chat_agent_write(char *ptr, size_t size,
    size_t nmemb, void *data);
static int ngx_neonpro_chat_agent_event(void *ctx, const unsigned char *data,
    size_t len);
static void ngx_neonpro_chat_agent_done(void *data, CURLcode result);
static void ngx_neonpro_chat_agent_timeout(ngx_event_t *ev);
static void ngx_neonpro_chat_agent_fail(ngx_neonpro_chat_agent_call_t *call,
    ngx_neonpro_chat_code_e code);
static void ngx_neonpro_chat_agent_publish(
    ngx_neonpro_chat_agent_call_t *call, ngx_uint_t kind, char *json);
static void ngx_neonpro_chat_agent_free(ngx_neonpro_chat_agent_call_t *call);


static ngx_queue_t  ngx_neonpro_chat_agent_calls;
static ngx_uint_t   ngx_neonpro_chat_agent_calls_ready;
static uint32_t     ngx_neonpro_chat_agent_streams;


/* The agent's URL: see ngx_neonpro_curl_set_url(). */
char *
ngx_neonpro_chat_agent_set_url(ngx_conf_t *cf,
    ngx_neonpro_chat_agent_conf_t *acf, ngx_str_t *url)
{
    return ngx_neonpro_curl_set_url(cf, url, "agent", &acf->url,
                                    &acf->resolve);
}


/* NGX_OK when one more call can run or wait, NGX_BUSY otherwise. */
ngx_int_t
ngx_neonpro_chat_agent_room(ngx_neonpro_chat_agent_conf_t *acf)
{
    if (acf->active < acf->concurrency || acf->waiting < acf->queue_size) {
        return NGX_OK;
    }

    return NGX_BUSY;
}


void
ngx_neonpro_chat_agent_stream_id(char *buf, size_t size, uint64_t stream)
{
    (void) ngx_snprintf((u_char *) buf, size - 1, "st-%uD-%uD%Z",
                        (uint32_t) (stream >> 32),
                        (uint32_t) (stream & 0xffffffff));
    buf[size - 1] = '\0';
}


typedef struct {
    json_t    *history;
    uint64_t   first;
} ngx_neonpro_chat_agent_memory_t;


/* Adds one stored message to the request's history. */
static ngx_int_t
ngx_neonpro_chat_agent_remember(void *data, uint64_t seq, u_char *json,
    size_t len, ngx_neonpro_bus_origin_t *origin)
{
    ngx_neonpro_chat_agent_memory_t  *mem = data;

    json_t      *doc, *d, *content, *role, *entry;
    const char  *r;

    if (seq < mem->first) {
        return NGX_OK;
    }

    doc = json_loadb((const char *) json, len, 0, NULL);
    if (doc == NULL) {
        return NGX_OK;
    }

    d = json_object_get(doc, "data");
    content = json_object_get(d, "content");
    role = json_object_get(json_object_get(d, "user"), "role");

    r = (json_is_string(role)
         && ngx_strcmp(json_string_value(role), "assistant") == 0)
        ? "assistant" : "user";

    if (json_is_string(content)) {
        entry = json_pack("{s:s,s:O}", "role", r, "content", content);

        if (entry) {
            (void) json_array_append_new(mem->history, entry);
        }
    }

    json_decref(doc);

    return NGX_OK;
}


static char *
ngx_neonpro_chat_agent_body(ngx_neonpro_chat_agent_call_t *call,
    ngx_neonpro_chat_agent_ask_t *ask)
{
    char                             *body;
    json_t                           *doc, *message, *user;
    uint64_t                          after, oldest;
    ngx_neonpro_chat_agent_memory_t   mem;

    mem.history = json_array();
    if (mem.history == NULL) {
        return NULL;
    }

    /* an exchange is a question and its answer: two messages each */

    after = ask->reply_to > 2 * call->acf->history + 1
            ? ask->reply_to - 2 * call->acf->history - 1 : 0;
    mem.first = after + 1;

    if (call->acf->history) {
        (void) call->bus->read(&ask->session, after, ask->reply_to - 1,
                               &oldest, ngx_neonpro_chat_agent_remember,
                               &mem);
    }

    message = json_pack("{s:s,s:s%}", "id", call->mid, "content",
                        ask->content, ask->content_len);
    user = json_pack("{s:s,s:s}", "id", ask->user_id, "role",
                     ask->user_role);

    if (user && ask->clinic
        && json_object_set_new(user, "clinic_id", json_string(ask->clinic))
           != 0)
    {
        json_decref(user);
        user = NULL;
    }

    doc = json_pack("{s:s,s:o*,s:o,s:o*,s:s,s:b}",
                    "session_id", call->sid,
                    "message", message,
                    "history", mem.history,
                    "user", user,
                    "locale", ask->lang == NGX_NEONPRO_LANG_PICK_EN
                              ? "en" : "pt-BR",
                    "stream", 1);

    if (doc == NULL || message == NULL || user == NULL) {
        json_decref(doc);
        return NULL;
    }

    body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    return body;
}


/*
 * Queues a call for the message; it runs now when the worker has room.
 * The caller checked ngx_neonpro_chat_agent_room() first.
 */
ngx_int_t
ngx_neonpro_chat_agent_ask(ngx_neonpro_chat_agent_conf_t *acf,
    ngx_neonpro_bus_t *bus, ngx_neonpro_chat_agent_ask_t *ask,
    ngx_log_t *log)
{
    ngx_neonpro_chat_agent_call_t  *call;

    if (!ngx_neonpro_chat_agent_calls_ready) {
        ngx_queue_init(&ngx_neonpro_chat_agent_calls);
        ngx_neonpro_chat_agent_calls_ready = 1;
    }

    call = ngx_calloc(sizeof(ngx_neonpro_chat_agent_call_t), log);
    if (call == NULL) {
        return NGX_ERROR;
    }

    call->acf = acf;
    call->bus = bus;
    call->log = ngx_cycle->log;
    call->reply_to = ask->reply_to;
    call->lang = ask->lang;

    ngx_memcpy(call->sid, ask->session.data,
               ngx_min(ask->session.len, NGX_NEONPRO_CHAT_ID_MAX));
    call->session.data = (u_char *) call->sid;
    call->session.len = ngx_min(ask->session.len, NGX_NEONPRO_CHAT_ID_MAX);

    if (ask->message_id) {
        (void) ngx_cpystrn((u_char *) call->mid, (u_char *) ask->message_id,
                           sizeof(call->mid));

    } else {
        (void) ngx_snprintf((u_char *) call->mid, sizeof(call->mid) - 1,
                            "seq-%uL%Z", ask->reply_to);
    }

    call->stream = ((uint64_t) (uint32_t) ngx_pid << 32)
                   | ++ngx_neonpro_chat_agent_streams;
    ngx_neonpro_chat_agent_stream_id(call->stream_id,
                                     sizeof(call->stream_id), call->stream);

    ngx_neonpro_sse_init(&call->sse, NGX_NEONPRO_AGENT_MAX_EVENT);

    call->timer.handler = ngx_neonpro_chat_agent_timeout;
    call->timer.data = call;
    call->timer.log = call->log;

    call->body = ngx_neonpro_chat_agent_body(call, ask);
    if (call->body == NULL) {
        ngx_free(call);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&ngx_neonpro_chat_agent_calls, &call->all);

    if (acf->active < acf->concurrency) {
        if (ngx_neonpro_chat_agent_start(call) != NGX_OK) {
            ngx_neonpro_chat_agent_fail(call,
                                        NGX_NEONPRO_CHAT_AI_SERVICE_ERROR);
        }

        return NGX_OK;
    }

    call->queued = 1;
    acf->waiting++;
    ngx_queue_insert_tail(&acf->queue, &call->waiting);

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_chat_agent_start(ngx_neonpro_chat_agent_call_t *call)
{
    CURL                           *easy;
    struct curl_slist              *h;
    ngx_neonpro_chat_agent_conf_t  *acf;
    ngx_neonpro_chat_head_t         head;

    acf = call->acf;

    acf->active++;
    call->running = 1;

    /* every participant learns that the agent is writing a reply */

    head.id = NULL;
    head.session_id = call->sid;
    head.ts = (json_int_t) ngx_neonpro_now_ms();

    ngx_neonpro_chat_agent_publish(call, NGX_NEONPRO_BUS_STREAM_START,
                  ngx_neonpro_chat_build_stream_start(&head, call->stream_id,
                                              (json_int_t) call->reply_to));

    easy = curl_easy_init();
    if (easy == NULL) {
        return NGX_ERROR;
    }

    call->easy = easy;

    h = curl_slist_append(NULL, "Content-Type: application/json");
    h = h ? curl_slist_append(h, "Accept: text/event-stream") : NULL;

    /* no "Expect: 100-continue" round trip before larger bodies */
    h = h ? curl_slist_append(h, "Expect:") : NULL;

    if (h == NULL) {
        return NGX_ERROR;
    }

    call->headers = h;

    if (curl_easy_setopt(easy, CURLOPT_URL, acf->url.data) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_RESOLVE, acf->resolve) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                            (long) ngx_strlen(call->body)) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                            ngx_neonpro_chat_agent_write) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEDATA, call) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                            (long) acf->connect_timeout) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https")
           != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, call->log, 0,
                      "neonpro: curl_easy_setopt() failed for stream %s",
                      call->stream_id);
        return NGX_ERROR;
    }

    if (ngx_neonpro_curl_add(easy, ngx_neonpro_chat_agent_done, call,
                             call->log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_add_timer(&call->timer, acf->timeout);

    return NGX_OK;
}


static size_t
ngx_neonpro_chat_agent_write(char *ptr, size_t size, size_t nmemb,
    void *data)
{
    ngx_neonpro_chat_agent_call_t  *call = data;

    int     rc;
    char   *type;
    size_t  n;

    n = size * nmemb;

    ngx_add_timer(&call->timer, call->acf->timeout);

    if (!call->checked) {
        call->checked = 1;

        (void) curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE,
                                 &call->status);

        if (call->status != 200) {
            /* a short count makes curl end the transfer with an error */
            return 0;
        }

        type = NULL;
        (void) curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &type);

        if (type == NULL
            || ngx_strncasecmp((u_char *) type,
                               (u_char *) "text/event-stream", 17) != 0)
        {
            call->not_stream = 1;
            return 0;
        }
    }

    rc = ngx_neonpro_sse_feed(&call->sse, (const unsigned char *) ptr, n,
                              ngx_neonpro_chat_agent_event, call);

    if (rc != NGX_NEONPRO_SSE_OK) {
        call->bad_event = 1;
        return 0;
    }

    return n;
}


/* One SSE event of the agent: {"type":"text","delta":…} or "done". */
static int
ngx_neonpro_chat_agent_event(void *ctx, const unsigned char *data, size_t len)
{
    ngx_neonpro_chat_agent_call_t  *call = ctx;

    u_char                   *p;
    size_t                    n, size;
    json_t                   *doc, *type, *delta;
    const char               *t;
    ngx_neonpro_chat_head_t   head;

    doc = json_loadb((const char *) data, len, 0, NULL);
    type = json_object_get(doc, "type");
    t = json_is_string(type) ? json_string_value(type) : "";

    if (call->done) {
        /* nothing counts after "done" */
        json_decref(doc);
        return 0;
    }

    if (ngx_strcmp(t, "done") == 0) {
        call->done = 1;
        json_decref(doc);
        return 0;
    }

    if (ngx_strcmp(t, "text") != 0) {
        json_decref(doc);

        /* unknown event types are for future agents; broken JSON is not */
        return doc ? 0 : -3;
    }

    delta = json_object_get(doc, "delta");

    if (!json_is_string(delta)) {
        json_decref(doc);
        return -3;
    }

    n = json_string_length(delta);

    if (n > call->acf->max_reply - call->reply_len) {
        json_decref(doc);
        return -3;
    }

    if (call->reply_len + n > call->reply_size) {
        size = ngx_max(call->reply_len + n, 2 * call->reply_size);
        size = ngx_max(size, 1024);

        p = ngx_alloc(size, call->log);
        if (p == NULL) {
            json_decref(doc);
            return -3;
        }

        if (call->reply) {
            ngx_memcpy(p, call->reply, call->reply_len);
            ngx_free(call->reply);
        }

        call->reply = p;
        call->reply_size = size;
    }

    ngx_memcpy(call->reply + call->reply_len, json_string_value(delta), n);
    call->reply_len += n;

    head.id = NULL;
    head.session_id = call->sid;
    head.ts = -1;

    ngx_neonpro_chat_agent_publish(call, NGX_NEONPRO_BUS_STREAM_CHUNK,
                  ngx_neonpro_chat_build_stream_chunk(&head, call->stream_id,
                                                      call->index++,
                                                      json_string_value(delta),
                                                      n));
    json_decref(doc);

    return 0;
}


/* curl ended the transfer: store the reply, or tell the session why not. */
static void
ngx_neonpro_chat_agent_done(void *data, CURLcode result)
{
    ngx_neonpro_chat_agent_call_t  *call = data;

    uint64_t                    seq, pos;
    ngx_neonpro_bus_origin_t    origin;
    ngx_neonpro_bus_message_t   msg;

    if (result == CURLE_OK && call->status == 200 && call->done) {

        msg.user_id = "agent";
        msg.user_role = "assistant";
        msg.content = (const char *) (call->reply ? call->reply
                                                  : (u_char *) "");
        msg.content_len = call->reply_len;
        msg.stream = call->stream;
        msg.stream_id = call->stream_id;

        ngx_memzero(&origin, sizeof(origin));
        origin.pid = ngx_pid;

        if (call->bus->publish(&call->session, &msg, &origin, &seq, &pos)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, call->log, 0,
                          "neonpro: the agent's reply of stream %s could "
                          "not be stored", call->stream_id);
            ngx_neonpro_chat_agent_fail(call,
                                        NGX_NEONPRO_CHAT_INTERNAL_ERROR);
            return;
        }

        ngx_neonpro_chat_agent_free(call);
        return;
    }

    if (result == CURLE_OPERATION_TIMEDOUT) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "neonpro: the chat agent at \"%V\" did not connect in "
                      "time, stream %s", &call->acf->url, call->stream_id);
        ngx_neonpro_chat_agent_fail(call, NGX_NEONPRO_CHAT_TIMEOUT);
        return;
    }

    if (call->status && call->status != 200) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "neonpro: the chat agent at \"%V\" answered with "
                      "status %l, stream %s", &call->acf->url, call->status,
                      call->stream_id);

    } else if (call->not_stream) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "neonpro: the chat agent at \"%V\" answered without "
                      "an event stream, stream %s", &call->acf->url,
                      call->stream_id);

    } else if (call->bad_event) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "neonpro: the chat agent at \"%V\" sent an event "
                      "that is not valid, stream %s", &call->acf->url,
                      call->stream_id);

    } else {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "neonpro: the chat agent at \"%V\" failed: %s, "
                      "stream %s", &call->acf->url,
                      result == CURLE_OK ? "the reply ended before \"done\""
                                         : curl_easy_strerror(result),
                      call->stream_id);
    }

    ngx_neonpro_chat_agent_fail(call, NGX_NEONPRO_CHAT_AI_SERVICE_ERROR);
}


static void
ngx_neonpro_chat_agent_timeout(ngx_event_t *ev)
{
    ngx_neonpro_chat_agent_call_t  *call = ev->data;

    ngx_log_error(NGX_LOG_ERR, call->log, 0,
                  "neonpro: the chat agent at \"%V\" sent nothing for %M ms, "
                  "stream %s", &call->acf->url, call->acf->timeout,
                  call->stream_id);

    ngx_neonpro_curl_remove(call->easy);
    ngx_neonpro_chat_agent_fail(call, NGX_NEONPRO_CHAT_TIMEOUT);
}


/*
 * Tells the session that the reply failed: an error that anyone may retry
 * and, when the stream had started, its end without a seq.
 */
static void
ngx_neonpro_chat_agent_fail(ngx_neonpro_chat_agent_call_t *call,
    ngx_neonpro_chat_code_e code)
{
    ngx_uint_t                en;
    const char               *text;
    ngx_neonpro_chat_head_t   head;

    en = (call->lang == NGX_NEONPRO_LANG_PICK_EN);

    switch (code) {

    case NGX_NEONPRO_CHAT_TIMEOUT:
        text = en ? "The AI agent did not answer in time; try again."
                  : "O assistente de IA não respondeu a tempo; "
                    "tente novamente.";
        break;

    case NGX_NEONPRO_CHAT_INTERNAL_ERROR:
        text = en ? "The reply could not be stored; try again."
                  : "Não foi possível guardar a resposta; tente novamente.";
        break;

    default:
        text = en ? "The AI agent is unavailable; try again."
                  : "O assistente de IA está indisponível; "
                    "tente novamente.";
        break;
    }

    head.id = call->mid;
    head.session_id = call->sid;
    head.ts = (json_int_t) ngx_neonpro_now_ms();

    ngx_neonpro_chat_agent_publish(call, NGX_NEONPRO_BUS_STREAM_ERROR,
                  ngx_neonpro_chat_build_error(&head, code, text, 1));

    if (call->running) {
        head.id = NULL;
        ngx_neonpro_chat_agent_publish(call, NGX_NEONPRO_BUS_STREAM_END,
                  ngx_neonpro_chat_build_stream_end(&head, call->stream_id,
                                                    -1));
    }

    ngx_neonpro_chat_agent_free(call);
}


static void
ngx_neonpro_chat_agent_publish(ngx_neonpro_chat_agent_call_t *call,
    ngx_uint_t kind, char *json)
{
    if (json == NULL) {
        ngx_log_error(NGX_LOG_ALERT, call->log, 0,
                      "neonpro: could not build a chat envelope");
        return;
    }

    if (call->bus->publish_stream(&call->session, call->stream, kind,
                                  (u_char *) json, ngx_strlen(json))
        == NGX_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "neonpro: the neonpro_chat zone is full, an event of "
                      "stream %s was dropped", call->stream_id);
    }

    free(json);
}


/* Releases a call that is no longer in curl, then starts a waiting one. */
static void
ngx_neonpro_chat_agent_free(ngx_neonpro_chat_agent_call_t *call)
{
    ngx_neonpro_chat_agent_conf_t  *acf;

    acf = call->acf;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    if (call->easy) {
        curl_easy_cleanup(call->easy);
    }

    if (call->headers) {
        curl_slist_free_all(call->headers);
    }

    if (call->queued) {
        ngx_queue_remove(&call->waiting);
        acf->waiting--;
    }

    if (call->running) {
        acf->active--;
    }

    ngx_queue_remove(&call->all);

    ngx_neonpro_sse_free(&call->sse);
    free(call->body);

    if (call->reply) {
        ngx_free(call->reply);
    }

    ngx_free(call);

    ngx_neonpro_chat_agent_next(acf);
}


static void
ngx_neonpro_chat_agent_next(ngx_neonpro_chat_agent_conf_t *acf)
{
    ngx_queue_t                    *q;
    ngx_neonpro_chat_agent_call_t  *call;

    while (acf->active < acf->concurrency && !ngx_queue_empty(&acf->queue)) {
        q = ngx_queue_head(&acf->queue);
        call = ngx_queue_data(q, ngx_neonpro_chat_agent_call_t, waiting);

        ngx_queue_remove(q);
        call->queued = 0;
        acf->waiting--;

        if (ngx_neonpro_chat_agent_start(call) != NGX_OK) {
            ngx_neonpro_chat_agent_fail(call,
                                        NGX_NEONPRO_CHAT_AI_SERVICE_ERROR);
            return;
        }
    }
}


/*
 * Ends the calls of a worker that stops before they finished (a fast
 * shutdown).  Each call still publishes its failure to its session, so
 * participants on other workers do not wait for a stream that never ends.
 */
void
ngx_neonpro_chat_agent_exit_process(void)
{
    ngx_queue_t                    *q;
    ngx_neonpro_chat_agent_call_t  *call;

    if (ngx_neonpro_chat_agent_calls_ready) {

        while (!ngx_queue_empty(&ngx_neonpro_chat_agent_calls)) {
            q = ngx_queue_head(&ngx_neonpro_chat_agent_calls);
            call = ngx_queue_data(q, ngx_neonpro_chat_agent_call_t, all);

            /* no queued call starts while the queue is emptied */
            call->acf->concurrency = 0;

            if (call->easy && call->running) {
                ngx_neonpro_curl_remove(call->easy);
            }

            ngx_neonpro_chat_agent_fail(call,
                                        NGX_NEONPRO_CHAT_AI_SERVICE_ERROR);
        }
    }

    ngx_neonpro_curl_exit_process();
}
