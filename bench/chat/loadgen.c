/*
 * WebSocket fan-out and idle-memory load generator for bench/chat/run.sh.
 *
 * One thread on epoll. It opens many RFC 6455 client connections to one
 * nginx on 127.0.0.1 and speaks one of two dialects:
 *
 *   neonpro  the neonpro.chat.v1 protocol: wait for the server `hello`,
 *            send `join`, wait for `joined`; publish `message` envelopes
 *            from one extra joined connection.
 *   nchan    an nchan websocket subscriber location; publish with HTTP
 *            POST on one keepalive connection to the publisher location.
 *
 * Modes:
 *
 *   fanout   N subscribers, then M messages. Each message content carries
 *            a random run id as "r=<id>", so that frames of an earlier run
 *            are ignored, its send time (CLOCK_MONOTONIC ns) as "bt=<ns>"
 *            and its index as "n=<i>". Every subscriber records receive
 *            time minus send time. The publisher keeps at most `window` messages that not
 *            every subscriber has received yet, so queues stay bounded and
 *            both servers are driven the same way.
 *   idle     N subscribed connections that then stay quiet; the summed PSS
 *            of the given nginx PIDs is read before and after.
 *
 * Output is one line of key=value pairs on stdout, starting with "result".
 * Exit status 0 when every expected frame arrived, 1 on a usage or setup
 * error, 2 when the round timed out or a connection failed.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define MAX_EXTRA_HEADERS     8
#define INITIAL_BUFFER_SIZE   4096
#define MAX_CONNECTING        256
#define MAX_EVENTS            512
#define WARMUP_INDEX          (-1)


enum proto { PROTO_NEONPRO, PROTO_NCHAN };
enum mode { MODE_FANOUT, MODE_IDLE };

enum conn_state {
    CONN_CONNECTING,      /* TCP connect in progress */
    CONN_HANDSHAKE,       /* request sent, waiting for the 101 */
    CONN_WAIT_HELLO,      /* neonpro: waiting for the server hello */
    CONN_WAIT_JOINED,     /* neonpro: join sent, waiting for joined */
    CONN_READY,           /* subscribed */
    CONN_HTTP,            /* nchan publisher: plain HTTP keepalive */
    CONN_CLOSED
};


struct buffer {
    char    *data;
    size_t   start;
    size_t   end;
    size_t   size;
};


struct conn {
    int              fd;
    int              index;
    int              is_publisher;
    enum conn_state  state;
    struct buffer    in;
    struct buffer    out;
    struct buffer    message;    /* payload of a fragmented message */
    int              out_armed;  /* EPOLLOUT is registered */
    int              http_pending;  /* POSTs without a response yet */
};


struct options {
    enum mode    mode;
    enum proto   proto;
    const char  *host;
    int          port;
    const char  *path;
    const char  *publish_path;
    const char  *session_id;
    const char  *headers[MAX_EXTRA_HEADERS];
    int          header_count;
    int          connections;
    int          messages;
    int          window;
    int          timeout_seconds;
    int          settle_ms;
    const char  *pids;
};


static struct options  opt;
static int             epoll_fd;
static struct conn    *conns;
static int             conn_count;
static int             opened;
static int             connecting;
static int             ready_count;
static int             failed_count;
static struct conn    *publisher;

/* fan-out bookkeeping */
static uint64_t       *latencies;       /* ns, one per delivery */
static size_t          latency_count;
static int            *delivered_per_message;
static int             warmup_delivered;
static int             warmup_sent;
static int             sent_count;
static int             completed_count;
static uint64_t        first_send_ns;
static uint64_t        last_delivery_ns;
static uint64_t        unexpected_frames;
static uint64_t        stale_frames;     /* sent by an earlier run */
static uint32_t        run_id;
static uint32_t        rng_state = 2463534242u;


static void
die(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\n");
    va_end(args);
    exit(1);
}


static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static uint32_t
next_random(void)
{
    /* xorshift32: masks and keys need variety, not secrecy */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}


static void
buffer_reserve(struct buffer *b, size_t extra)
{
    if (b->data == NULL) {
        b->size = extra > INITIAL_BUFFER_SIZE ? extra : INITIAL_BUFFER_SIZE;
        b->data = malloc(b->size);
        if (b->data == NULL) {
            die("out of memory");
        }
        b->start = b->end = 0;
        return;
    }

    if (b->start > 0 && b->start == b->end) {
        b->start = b->end = 0;
    }

    if (b->end + extra <= b->size) {
        return;
    }

    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }

    while (b->end + extra > b->size) {
        b->size *= 2;
    }

    b->data = realloc(b->data, b->size);
    if (b->data == NULL) {
        die("out of memory");
    }
}


static void
buffer_append(struct buffer *b, const void *data, size_t len)
{
    buffer_reserve(b, len);
    memcpy(b->data + b->end, data, len);
    b->end += len;
}


static void
buffer_free(struct buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}


static void
set_events(struct conn *c, int want_out)
{
    struct epoll_event  ev;

    if (c->out_armed == want_out) {
        return;
    }

    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
    ev.data.ptr = c;

    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
        die("epoll_ctl(MOD) failed: %s", strerror(errno));
    }

    c->out_armed = want_out;
}


static void
close_conn(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED) {
        return;
    }

    if (why != NULL) {
        failed_count++;
        if (failed_count <= 5) {
            fprintf(stderr, "loadgen: connection %d closed: %s\n",
                    c->index, why);
        }
    }

    if (c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE) {
        connecting--;
    }

    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = CONN_CLOSED;
    buffer_free(&c->in);
    buffer_free(&c->out);
    buffer_free(&c->message);
}


static void
flush_out(struct conn *c)
{
    ssize_t  n;

    while (c->out.start < c->out.end) {
        n = write(c->fd, c->out.data + c->out.start, c->out.end - c->out.start);

        if (n > 0) {
            c->out.start += (size_t) n;
            continue;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            set_events(c, 1);
            return;
        }

        close_conn(c, strerror(errno));
        return;
    }

    c->out.start = c->out.end = 0;
    set_events(c, 0);
}


/* Queue one masked client frame (RFC 6455, section 5.3). */
static void
send_frame(struct conn *c, int opcode, const char *payload, size_t len)
{
    unsigned char  header[14];
    size_t         header_len, i;
    uint32_t       key;
    unsigned char  mask[4];
    char          *dst;

    header[0] = (unsigned char) (0x80 | opcode);

    if (len < 126) {
        header[1] = (unsigned char) (0x80 | len);
        header_len = 2;

    } else if (len <= 0xffff) {
        header[1] = 0x80 | 126;
        header[2] = (unsigned char) (len >> 8);
        header[3] = (unsigned char) len;
        header_len = 4;

    } else {
        header[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) {
            header[2 + i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
        }
        header_len = 10;
    }

    key = next_random();
    memcpy(mask, &key, 4);
    memcpy(header + header_len, mask, 4);
    header_len += 4;

    buffer_append(&c->out, header, header_len);
    buffer_reserve(&c->out, len);
    dst = c->out.data + c->out.end;

    for (i = 0; i < len; i++) {
        dst[i] = (char) (payload[i] ^ mask[i & 3]);
    }

    c->out.end += len;
    flush_out(c);
}


static void
send_handshake(struct conn *c)
{
    char          request[2048];
    unsigned char key_bytes[16];
    char          key[25];
    int           len, i;
    uint32_t      r;
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (i = 0; i < 16; i += 4) {
        r = next_random();
        memcpy(key_bytes + i, &r, 4);
    }

    /* base64 of 16 bytes: 5 groups of 3 bytes, then 1 byte and "==" */
    for (i = 0; i < 5; i++) {
        r = (uint32_t) key_bytes[3 * i] << 16
            | (uint32_t) key_bytes[3 * i + 1] << 8 | key_bytes[3 * i + 2];
        key[4 * i] = alphabet[(r >> 18) & 63];
        key[4 * i + 1] = alphabet[(r >> 12) & 63];
        key[4 * i + 2] = alphabet[(r >> 6) & 63];
        key[4 * i + 3] = alphabet[r & 63];
    }
    key[20] = alphabet[key_bytes[15] >> 2];
    key[21] = alphabet[(key_bytes[15] & 3) << 4];
    key[22] = '=';
    key[23] = '=';
    key[24] = '\0';

    len = snprintf(request, sizeof(request),
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s:%d\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: %s\r\n",
                   opt.path, opt.host, opt.port, key);

    for (i = 0; i < opt.header_count; i++) {
        len += snprintf(request + len, sizeof(request) - (size_t) len,
                        "%s\r\n", opt.headers[i]);
    }

    len += snprintf(request + len, sizeof(request) - (size_t) len, "\r\n");

    if ((size_t) len >= sizeof(request)) {
        die("handshake request longer than %zu bytes", sizeof(request));
    }

    buffer_append(&c->out, request, (size_t) len);
    c->state = CONN_HANDSHAKE;
    flush_out(c);
}


static void
send_join(struct conn *c)
{
    char  json[256];
    int   len;

    len = snprintf(json, sizeof(json),
                   "{\"type\":\"join\",\"session_id\":\"%s\","
                   "\"data\":{\"agent\":false}}", opt.session_id);
    c->state = CONN_WAIT_JOINED;
    send_frame(c, 0x1, json, (size_t) len);
}


static void
mark_ready(struct conn *c)
{
    c->state = CONN_READY;
    ready_count++;
}


static void
open_conn(struct conn *c, int index, int is_publisher)
{
    struct sockaddr_in  addr;
    struct epoll_event  ev;
    int                 one = 1;

    memset(c, 0, sizeof(*c));
    c->index = index;
    c->is_publisher = is_publisher;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1) {
        die("socket() failed for connection %d: %s", index, strerror(errno));
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        die("invalid IPv4 address \"%s\"", opt.host);
    }

    c->state = CONN_CONNECTING;
    connecting++;

    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    c->out_armed = 1;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
        die("epoll_ctl(ADD) failed: %s", strerror(errno));
    }

    if (connect(c->fd, (struct sockaddr *) &addr, sizeof(addr)) == -1
        && errno != EINPROGRESS)
    {
        close_conn(c, strerror(errno));
    }
}


static void
open_more(void)
{
    while (opened < opt.connections && connecting < MAX_CONNECTING) {
        open_conn(&conns[opened], opened, 0);
        opened++;
    }
}


/* Find `needle` in the first `len` bytes of `hay`. */
static const char *
find(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle));
}


static int
parse_number_after(const char *p, size_t len, const char *key, int64_t *out)
{
    const char  *at, *end;
    int64_t      value = 0;
    int          negative = 0;

    at = find(p, len, key);
    if (at == NULL) {
        return -1;
    }

    end = p + len;
    at += strlen(key);

    if (at < end && *at == '-') {
        negative = 1;
        at++;
    }

    if (at >= end || *at < '0' || *at > '9') {
        return -1;
    }

    while (at < end && *at >= '0' && *at <= '9') {
        value = value * 10 + (*at - '0');
        at++;
    }

    *out = negative ? -value : value;
    return 0;
}


static void
record_delivery(const char *payload, size_t len, uint64_t received)
{
    int64_t  sent, index, run;

    if (parse_number_after(payload, len, " r=", &run) != 0
        || run != (int64_t) run_id)
    {
        stale_frames++;
        return;
    }

    if (parse_number_after(payload, len, "bt=", &sent) != 0
        || parse_number_after(payload, len, " n=", &index) != 0)
    {
        unexpected_frames++;
        return;
    }

    if (index == WARMUP_INDEX) {
        warmup_delivered++;
        return;
    }

    if (index < 0 || index >= opt.messages
        || delivered_per_message[index] == opt.connections)
    {
        /* an index out of range, or one more copy than subscribers */
        unexpected_frames++;
        return;
    }

    latencies[latency_count++] = received - (uint64_t) sent;
    last_delivery_ns = received;

    if (++delivered_per_message[index] == opt.connections) {
        completed_count++;
    }
}


/* Handle one complete text message from the server. */
static void
on_text(struct conn *c, const char *payload, size_t len, uint64_t received)
{
    if (opt.proto == PROTO_NCHAN) {
        if (c->state == CONN_READY && !c->is_publisher) {
            record_delivery(payload, len, received);
        }
        return;
    }

    switch (c->state) {

    case CONN_WAIT_HELLO:
        if (find(payload, len, "\"type\":\"hello\"") != NULL) {
            send_join(c);
        }
        return;

    case CONN_WAIT_JOINED:
        if (find(payload, len, "\"type\":\"joined\"") != NULL) {
            mark_ready(c);
        } else if (find(payload, len, "\"type\":\"error\"") != NULL) {
            fprintf(stderr, "loadgen: join failed: %.*s\n", (int) len, payload);
            close_conn(c, "join failed");
        }
        return;

    case CONN_READY:
        if (find(payload, len, "\"type\":\"message\"") == NULL) {
            if (find(payload, len, "\"type\":\"error\"") != NULL) {
                fprintf(stderr, "loadgen: server error: %.*s\n",
                        (int) len, payload);
                unexpected_frames++;
            }
            return;
        }

        /* the publisher's own copy is not a fan-out delivery */
        if (!c->is_publisher) {
            record_delivery(payload, len, received);
        }
        return;

    default:
        return;
    }
}


/* Parse the server frames in c->in (unmasked, RFC 6455, section 5.2). */
static void
process_frames(struct conn *c, uint64_t received)
{
    unsigned char  *p;
    size_t          avail, header_len, i;
    uint64_t        len;
    int             fin, opcode;

    while (c->state != CONN_CLOSED) {
        p = (unsigned char *) c->in.data + c->in.start;
        avail = c->in.end - c->in.start;

        if (avail < 2) {
            return;
        }

        fin = p[0] & 0x80;
        opcode = p[0] & 0x0f;
        len = p[1] & 0x7f;
        header_len = 2;

        if (p[1] & 0x80) {
            close_conn(c, "masked server frame");
            return;
        }

        if (len == 126) {
            if (avail < 4) {
                return;
            }
            len = (uint64_t) p[2] << 8 | p[3];
            header_len = 4;

        } else if (len == 127) {
            if (avail < 10) {
                return;
            }
            len = 0;
            for (i = 0; i < 8; i++) {
                len = len << 8 | p[2 + i];
            }
            header_len = 10;
        }

        if (avail < header_len + len) {
            return;
        }

        c->in.start += header_len + len;
        p += header_len;

        switch (opcode) {

        case 0x0:
        case 0x1:
        case 0x2:
            if (!fin || c->message.end > c->message.start) {
                buffer_append(&c->message, p, len);
                if (!fin) {
                    break;
                }
                on_text(c, c->message.data + c->message.start,
                        c->message.end - c->message.start, received);
                c->message.start = c->message.end = 0;
                break;
            }
            on_text(c, (const char *) p, len, received);
            break;

        case 0x8:
            close_conn(c, "server sent a Close frame");
            return;

        case 0x9:
            send_frame(c, 0xA, (const char *) p, len);
            break;

        default:
            break;
        }
    }
}


/* Check the 101 response: 1 when complete, 0 when more bytes are needed. */
static int
process_handshake(struct conn *c)
{
    const char  *data, *end;
    size_t       avail;

    data = c->in.data + c->in.start;
    avail = c->in.end - c->in.start;
    end = find(data, avail, "\r\n\r\n");

    if (end == NULL) {
        return 0;
    }

    if (avail < 12 || memcmp(data, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "loadgen: handshake rejected: %.*s\n",
                (int) (avail < 200 ? avail : 200), data);
        close_conn(c, "handshake not answered with 101");
        return 0;
    }

    c->in.start += (size_t) (end + 4 - data);
    connecting--;

    if (opt.proto == PROTO_NEONPRO) {
        c->state = CONN_WAIT_HELLO;
    } else {
        mark_ready(c);
    }

    return 1;
}


/* nchan publisher: consume complete HTTP responses to the POSTs. */
static void
process_http(struct conn *c)
{
    const char  *data, *head_end;
    size_t       avail, head_len;
    int64_t      body_len;

    for ( ;; ) {
        data = c->in.data + c->in.start;
        avail = c->in.end - c->in.start;
        head_end = find(data, avail, "\r\n\r\n");

        if (head_end == NULL) {
            return;
        }

        head_len = (size_t) (head_end + 4 - data);

        if (parse_number_after(data, head_len, "Content-Length: ", &body_len)
            != 0)
        {
            body_len = 0;
        }

        if (avail < head_len + (size_t) body_len) {
            return;
        }

        if (avail < 12 || (memcmp(data + 9, "201", 3) != 0
                           && memcmp(data + 9, "202", 3) != 0))
        {
            fprintf(stderr, "loadgen: publish failed: %.*s\n",
                    (int) (head_len < 200 ? head_len : 200), data);
            close_conn(c, "publish not answered with 201 or 202");
            return;
        }

        c->in.start += head_len + (size_t) body_len;
        c->http_pending--;
    }
}


static void
on_readable(struct conn *c)
{
    ssize_t   n;
    uint64_t  received;

    for ( ;; ) {
        buffer_reserve(&c->in, INITIAL_BUFFER_SIZE);
        n = read(c->fd, c->in.data + c->in.end, c->in.size - c->in.end);

        if (n == 0) {
            close_conn(c, "server closed the connection");
            return;
        }

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return;
            }
            close_conn(c, strerror(errno));
            return;
        }

        received = now_ns();
        c->in.end += (size_t) n;

        if (c->state == CONN_HTTP) {
            process_http(c);

        } else if (c->state != CONN_HANDSHAKE || process_handshake(c)) {
            process_frames(c, received);
        }

        if (c->state == CONN_CLOSED) {
            return;
        }
    }
}


static void
on_event(struct conn *c, uint32_t events)
{
    int        err = 0;
    socklen_t  err_len = sizeof(err);

    if (c->state == CONN_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }

        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
        if (err != 0) {
            close_conn(c, strerror(err));
            return;
        }

        if (c->is_publisher && opt.proto == PROTO_NCHAN) {
            connecting--;
            c->state = CONN_HTTP;
            set_events(c, 0);
            return;
        }

        send_handshake(c);
        return;
    }

    if (events & EPOLLOUT) {
        flush_out(c);
    }

    if (c->state != CONN_CLOSED && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        on_readable(c);
    }
}


static void
publish(int index)
{
    char  content[128], json[512], request[1024];
    int   content_len, len;

    content_len = snprintf(content, sizeof(content), "bench r=%u bt=%llu n=%d",
                           run_id, (unsigned long long) now_ns(), index);

    if (opt.proto == PROTO_NEONPRO) {
        len = snprintf(json, sizeof(json),
                       "{\"type\":\"message\",\"session_id\":\"%s\","
                       "\"data\":{\"content\":\"%s\"}}",
                       opt.session_id, content);
        send_frame(publisher, 0x1, json, (size_t) len);
        return;
    }

    len = snprintf(request, sizeof(request),
                   "POST %s HTTP/1.1\r\n"
                   "Host: %s:%d\r\n"
                   "Content-Type: text/plain\r\n"
                   "Content-Length: %d\r\n"
                   "\r\n%s",
                   opt.publish_path, opt.host, opt.port, content_len, content);
    /* HTTP/1.1 pipelining: the window, not the response, paces the POSTs */
    publisher->http_pending++;
    buffer_append(&publisher->out, request, (size_t) len);
    flush_out(publisher);
}


/* Send the next messages that the window and the publisher allow. */
static void
publish_more(void)
{
    while (sent_count < opt.messages
           && sent_count - completed_count < opt.window
           && publisher->state != CONN_CLOSED)
    {
        if (sent_count == 0) {
            first_send_ns = now_ns();
        }

        publish(sent_count);
        sent_count++;
    }
}


static void
run_loop_once(int timeout_ms)
{
    struct epoll_event  events[MAX_EVENTS];
    int                 n, i;

    n = epoll_wait(epoll_fd, events, MAX_EVENTS, timeout_ms);
    if (n == -1) {
        if (errno == EINTR) {
            return;
        }
        die("epoll_wait() failed: %s", strerror(errno));
    }

    for (i = 0; i < n; i++) {
        on_event(events[i].data.ptr, events[i].events);
    }
}


static int
expired(uint64_t deadline)
{
    return now_ns() > deadline;
}


/* Open every subscriber and wait until all are subscribed or failed. */
static int
open_subscribers(uint64_t deadline)
{
    while (ready_count + failed_count < opt.connections) {
        open_more();
        run_loop_once(100);

        if (expired(deadline)) {
            fprintf(stderr, "loadgen: %d of %d connections subscribed before "
                    "the timeout\n", ready_count, opt.connections);
            return -1;
        }
    }

    if (failed_count > 0) {
        fprintf(stderr, "loadgen: %d of %d connections failed\n",
                failed_count, opt.connections);
        return -1;
    }

    return 0;
}


static void
wait_ms(int ms)
{
    uint64_t  until = now_ns() + (uint64_t) ms * 1000000u;

    while (!expired(until)) {
        run_loop_once(10);
    }
}


static int
open_publisher(uint64_t deadline)
{
    int  ready_before = ready_count;

    publisher = &conns[opt.connections];
    open_conn(publisher, opt.connections, 1);

    while (publisher->state != CONN_CLOSED) {
        if (opt.proto == PROTO_NCHAN && publisher->state == CONN_HTTP) {
            return 0;
        }
        if (opt.proto == PROTO_NEONPRO && ready_count > ready_before) {
            /* the publisher is a participant but no subscriber */
            ready_count--;
            return 0;
        }
        if (expired(deadline)) {
            break;
        }
        run_loop_once(100);
    }

    fprintf(stderr, "loadgen: the publisher could not connect\n");
    return -1;
}


static int
compare_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


static double
percentile_us(double fraction)
{
    size_t  rank;

    if (latency_count == 0) {
        return 0;
    }

    /* nearest-rank percentile */
    rank = (size_t) (fraction * (double) latency_count + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > latency_count) {
        rank = latency_count;
    }

    return (double) latencies[rank - 1] / 1000.0;
}


static int
run_fanout(void)
{
    uint64_t  deadline, expected;
    double    seconds;
    int       status = 0;

    deadline = now_ns() + (uint64_t) opt.timeout_seconds * 1000000000u;

    expected = (uint64_t) opt.connections * (uint64_t) opt.messages;
    latencies = calloc(expected, sizeof(uint64_t));
    delivered_per_message = calloc((size_t) opt.messages, sizeof(int));
    if (latencies == NULL || delivered_per_message == NULL) {
        die("out of memory for %llu latencies", (unsigned long long) expected);
    }

    if (open_subscribers(deadline) != 0 || open_publisher(deadline) != 0) {
        return 2;
    }

    /*
     * One warm-up message, repeated until every subscriber has one: a
     * subscription may become active some time after the 101 (nchan
     * subscribes through the worker that owns the channel).
     */
    wait_ms(opt.settle_ms);

    while (warmup_delivered < opt.connections) {
        if (expired(deadline)) {
            fprintf(stderr, "loadgen: warm-up reached %d of %d subscribers\n",
                    warmup_delivered, opt.connections);
            return 2;
        }

        if (!publisher->http_pending) {
            warmup_delivered = 0;
            warmup_sent++;
            publish(WARMUP_INDEX);
            wait_ms(200);
        } else {
            run_loop_once(10);
        }
    }

    while (completed_count < opt.messages) {
        publish_more();

        if (publisher->state == CONN_CLOSED || failed_count > 0) {
            status = 2;
            break;
        }

        if (expired(deadline)) {
            fprintf(stderr, "loadgen: timed out after %d s with %d of %d "
                    "messages delivered to every subscriber\n",
                    opt.timeout_seconds, completed_count, opt.messages);
            status = 2;
            break;
        }

        run_loop_once(100);
    }

    qsort(latencies, latency_count, sizeof(uint64_t), compare_u64);
    seconds = last_delivery_ns > first_send_ns
              ? (double) (last_delivery_ns - first_send_ns) / 1e9 : 0;

    printf("result mode=fanout proto=%s subscribers=%d messages=%d window=%d "
           "deliveries=%zu expected=%llu seconds=%.4f msgs_per_s=%.0f "
           "p50_us=%.0f p99_us=%.0f max_us=%.0f warmups=%d failed=%d "
           "unexpected=%llu stale=%llu\n",
           opt.proto == PROTO_NEONPRO ? "neonpro" : "nchan",
           opt.connections, opt.messages, opt.window, latency_count,
           (unsigned long long) expected, seconds,
           seconds > 0 ? (double) latency_count / seconds : 0,
           percentile_us(0.50), percentile_us(0.99), percentile_us(1.0),
           warmup_sent, failed_count, (unsigned long long) unexpected_frames,
           (unsigned long long) stale_frames);

    return status;
}


/* Sum the Pss lines of /proc/PID/smaps_rollup over opt.pids, in bytes. */
static long long
sum_pss(void)
{
    char       list[1024], path[64], line[256], *pid, *save;
    long long  total = 0, kb;
    FILE      *f;

    snprintf(list, sizeof(list), "%s", opt.pids);

    for (pid = strtok_r(list, ",", &save); pid != NULL;
         pid = strtok_r(NULL, ",", &save))
    {
        snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", pid);
        f = fopen(path, "r");
        if (f == NULL) {
            die("cannot open %s: %s", path, strerror(errno));
        }

        while (fgets(line, sizeof(line), f) != NULL) {
            if (sscanf(line, "Pss: %lld kB", &kb) == 1) {
                total += kb * 1024;
            }
        }

        fclose(f);
    }

    return total;
}


static int
run_idle(void)
{
    uint64_t   deadline;
    long long  before, after;

    deadline = now_ns() + (uint64_t) opt.timeout_seconds * 1000000000u;

    before = sum_pss();

    if (open_subscribers(deadline) != 0) {
        return 2;
    }

    /* let the workers finish what the last handshakes started */
    wait_ms(opt.settle_ms);
    after = sum_pss();

    printf("result mode=idle proto=%s connections=%d pss_before=%lld "
           "pss_after=%lld bytes_per_connection=%.0f failed=%d\n",
           opt.proto == PROTO_NEONPRO ? "neonpro" : "nchan",
           opt.connections, before, after,
           (double) (after - before) / opt.connections, failed_count);

    return 0;
}


static void
usage(void)
{
    fprintf(stderr,
        "usage: loadgen fanout|idle --proto neonpro|nchan [options]\n"
        "  --host ADDR         IPv4 address of nginx (default 127.0.0.1)\n"
        "  --port PORT         TCP port of nginx (required)\n"
        "  --path PATH         WebSocket location (default /ws/chat)\n"
        "  --header 'N: V'     extra handshake header, repeatable (max %d)\n"
        "  --publish-path P    nchan: publisher location for the POSTs\n"
        "  --session ID        neonpro: chat session to join "
        "(default bench-session-1)\n"
        "  --connections N     subscribers (default 1000)\n"
        "  --messages M        fanout: messages to publish (default 200)\n"
        "  --window W          fanout: max messages not yet received by every\n"
        "                      subscriber (default 16)\n"
        "  --settle-ms MS      wait after subscribing (default 200)\n"
        "  --timeout S         give up after S seconds (default 60)\n"
        "  --pids P1,P2,...    idle: nginx processes whose PSS is summed\n",
        MAX_EXTRA_HEADERS);
    exit(1);
}


static int
parse_int(const char *value, const char *name, int min)
{
    char  *end;
    long   n;

    errno = 0;
    n = strtol(value, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > 10000000) {
        die("invalid %s \"%s\": expected an integer of at least %d",
            name, value, min);
    }

    return (int) n;
}


static void
parse_options(int argc, char **argv)
{
    int          i;
    const char  *name, *value;

    if (argc < 2) {
        usage();
    }

    if (strcmp(argv[1], "fanout") == 0) {
        opt.mode = MODE_FANOUT;
    } else if (strcmp(argv[1], "idle") == 0) {
        opt.mode = MODE_IDLE;
    } else {
        usage();
    }

    opt.proto = -1;
    opt.host = "127.0.0.1";
    opt.path = "/ws/chat";
    opt.session_id = "bench-session-1";
    opt.connections = 1000;
    opt.messages = 200;
    opt.window = 16;
    opt.settle_ms = 200;
    opt.timeout_seconds = 60;

    for (i = 2; i < argc; i += 2) {
        name = argv[i];
        if (i + 1 >= argc) {
            die("missing value after %s", name);
        }
        value = argv[i + 1];

        if (strcmp(name, "--proto") == 0) {
            if (strcmp(value, "neonpro") == 0) {
                opt.proto = PROTO_NEONPRO;
            } else if (strcmp(value, "nchan") == 0) {
                opt.proto = PROTO_NCHAN;
            } else {
                die("invalid --proto \"%s\": use neonpro or nchan", value);
            }
        } else if (strcmp(name, "--host") == 0) {
            opt.host = value;
        } else if (strcmp(name, "--port") == 0) {
            opt.port = parse_int(value, name, 1);
        } else if (strcmp(name, "--path") == 0) {
            opt.path = value;
        } else if (strcmp(name, "--header") == 0) {
            if (opt.header_count == MAX_EXTRA_HEADERS) {
                die("more than %d --header options", MAX_EXTRA_HEADERS);
            }
            opt.headers[opt.header_count++] = value;
        } else if (strcmp(name, "--publish-path") == 0) {
            opt.publish_path = value;
        } else if (strcmp(name, "--session") == 0) {
            opt.session_id = value;
        } else if (strcmp(name, "--connections") == 0) {
            opt.connections = parse_int(value, name, 1);
        } else if (strcmp(name, "--messages") == 0) {
            opt.messages = parse_int(value, name, 1);
        } else if (strcmp(name, "--window") == 0) {
            opt.window = parse_int(value, name, 1);
        } else if (strcmp(name, "--settle-ms") == 0) {
            opt.settle_ms = parse_int(value, name, 0);
        } else if (strcmp(name, "--timeout") == 0) {
            opt.timeout_seconds = parse_int(value, name, 1);
        } else if (strcmp(name, "--pids") == 0) {
            opt.pids = value;
        } else {
            die("unknown option %s", name);
        }
    }

    if ((int) opt.proto == -1 || opt.port == 0) {
        die("--proto and --port are required");
    }
    if (opt.mode == MODE_FANOUT && opt.proto == PROTO_NCHAN
        && opt.publish_path == NULL)
    {
        die("--publish-path is required for nchan fanout");
    }
    if (opt.mode == MODE_IDLE && opt.pids == NULL) {
        die("--pids is required for idle");
    }
}


static void
raise_fd_limit(int needed)
{
    struct rlimit  rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        die("getrlimit(RLIMIT_NOFILE) failed: %s", strerror(errno));
    }

    if (rl.rlim_cur >= (rlim_t) needed) {
        return;
    }

    rl.rlim_cur = (rlim_t) needed;
    if (rl.rlim_max < rl.rlim_cur) {
        rl.rlim_max = rl.rlim_cur;
    }

    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        die("cannot raise RLIMIT_NOFILE to %d: %s", needed, strerror(errno));
    }
}


int
main(int argc, char **argv)
{
    int  status;

    parse_options(argc, argv);
    raise_fd_limit(opt.connections + 64);

    rng_state ^= (uint32_t) now_ns() ^ (uint32_t) getpid();
    run_id = next_random();

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd == -1) {
        die("epoll_create1() failed: %s", strerror(errno));
    }

    conn_count = opt.connections + 1;
    conns = calloc((size_t) conn_count, sizeof(struct conn));
    if (conns == NULL) {
        die("out of memory for %d connections", conn_count);
    }

    if (opt.mode == MODE_FANOUT) {
        status = run_fanout();
    } else {
        status = run_idle();
    }

    fflush(stdout);
    return status;
}
