
/*
 * permessage-deflate (RFC 7692) for the chat module's WebSocket
 * connections: the choice among a client's offers, and zlib's raw DEFLATE
 * streams that compress and decompress whole messages.
 *
 * Pure code: no nginx types, so the unit tests and the fuzzer link it alone.
 */


#include <stdint.h>
#include <string.h>

#include "ngx_neonpro_ws_deflate.h"


/* zlib counts bytes in uInt, so longer runs go to it in pieces this long */
#define NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK  (1U << 30)

/* the first capacity requested from a grow callback */
#define NGX_NEONPRO_WS_DEFLATE_GROW_MIN    4096


/* One permessage-deflate offer as the client sent it. */
typedef struct {
    /* 0 when absent: the parameter always has a value */
    int                                server_max_window_bits;
    /* 0 when absent or sent without a value */
    int                                client_max_window_bits;
    unsigned                           client_max_window_bits_sent:1;
    unsigned                           server_no_context_takeover:1;
    unsigned                           client_no_context_takeover:1;
} ngx_neonpro_ws_deflate_offer_t;


static const unsigned char *ngx_neonpro_ws_deflate_skip_space(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *ngx_neonpro_ws_deflate_skip_token(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *ngx_neonpro_ws_deflate_offer_end(
    const unsigned char *p, const unsigned char *end);
static int ngx_neonpro_ws_deflate_token_is(const unsigned char *p,
    size_t len, const char *name);
static const unsigned char *ngx_neonpro_ws_deflate_parse_value(
    const unsigned char *p, const unsigned char *end, unsigned char *value,
    size_t *len);
static int ngx_neonpro_ws_deflate_parse_bits(const unsigned char *value,
    size_t len);
static int ngx_neonpro_ws_deflate_parse_offer(const unsigned char *p,
    const unsigned char *end, ngx_neonpro_ws_deflate_offer_t *offer);
static int ngx_neonpro_ws_deflate_accept(
    const ngx_neonpro_ws_deflate_offer_t *offer,
    const ngx_neonpro_ws_deflate_policy_t *policy,
    ngx_neonpro_ws_deflate_params_t *params);
static unsigned char *ngx_neonpro_ws_deflate_write_param(unsigned char *p,
    const char *name, int bits);
static ngx_neonpro_ws_deflate_rc_e ngx_neonpro_ws_deflate_grow(
    ngx_neonpro_ws_deflate_buf_t *out, size_t limit);
static ngx_neonpro_ws_deflate_rc_e ngx_neonpro_ws_deflate_inflate(
    ngx_neonpro_ws_deflate_inflater_t *inflater, const unsigned char *in,
    size_t len, ngx_neonpro_ws_deflate_buf_t *out);


/*
 * The empty stored block that ends a Z_SYNC_FLUSH: the sender strips it
 * from every message and the receiver puts it back (RFC 7692, 7.2.1, 7.2.2).
 */
static const unsigned char  ngx_neonpro_ws_deflate_tail[4] = {
    0x00, 0x00, 0xff, 0xff
};


/* optional whitespace of RFC 9110 */
static const unsigned char *
ngx_neonpro_ws_deflate_skip_space(const unsigned char *p,
    const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* tchar of RFC 9110, section 5.6.2 */
static const unsigned char *
ngx_neonpro_ws_deflate_skip_token(const unsigned char *p,
    const unsigned char *end)
{
    unsigned char  c;

    for ( /* void */ ; p < end; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            continue;
        }

        switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'':
        case '*': case '+': case '-': case '.': case '^': case '_':
        case '`': case '|': case '~':
            continue;
        }

        break;
    }

    return p;
}


/*
 * Finds the comma that ends one list element, skipping commas inside
 * quoted strings.  An unterminated string runs to the end.
 */
static const unsigned char *
ngx_neonpro_ws_deflate_offer_end(const unsigned char *p,
    const unsigned char *end)
{
    int  quoted;

    quoted = 0;

    for ( /* void */ ; p < end; p++) {

        if (quoted) {
            if (*p == '\\' && p + 1 < end) {
                p++;

            } else if (*p == '"') {
                quoted = 0;
            }

            continue;
        }

        if (*p == '"') {
            quoted = 1;

        } else if (*p == ',') {
            break;
        }
    }

    return p;
}


/* Matches an extension or parameter name without regard to case. */
static int
ngx_neonpro_ws_deflate_token_is(const unsigned char *p, size_t len,
    const char *name)
{
    size_t         i;
    unsigned char  c;

    if (strlen(name) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) name[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * Parses a parameter value, a token or a quoted-string (RFC 9110, section
 * 5.6.4).  It stores the first two characters after unescaping, all a
 * valid window size needs, and their full count in *len.  Returns the
 * position after the value, or NULL when the syntax is invalid.
 */
static const unsigned char *
ngx_neonpro_ws_deflate_parse_value(const unsigned char *p,
    const unsigned char *end, unsigned char *value, size_t *len)
{
    size_t         n;
    unsigned char  c;

    n = 0;

    if (p < end && *p == '"') {

        for (p++; p < end; p++) {
            c = *p;

            if (c == '"') {
                *len = n;
                return p + 1;
            }

            if (c == '\\') {
                p++;

                if (p == end) {
                    return NULL;
                }

                c = *p;

                /* quoted-pair: HTAB, SP, VCHAR or obs-text */
                if (c != '\t' && (c < 0x20 || c == 0x7f)) {
                    return NULL;
                }

            } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
                /* qdtext excludes the other control characters */
                return NULL;
            }

            if (n < 2) {
                value[n] = c;
            }

            n++;
        }

        return NULL;
    }

    while (p < end) {
        if (ngx_neonpro_ws_deflate_skip_token(p, end) == p) {
            break;
        }

        if (n < 2) {
            value[n] = *p;
        }

        n++;
        p++;
    }

    if (n == 0) {
        return NULL;
    }

    *len = n;

    return p;
}


/*
 * RFC 7692, 7.1.2: a window size is a decimal 8..15 without leading zeros.
 * Returns it, or -1.
 */
static int
ngx_neonpro_ws_deflate_parse_bits(const unsigned char *value, size_t len)
{
    if (len == 1 && (value[0] == '8' || value[0] == '9')) {
        return value[0] - '0';
    }

    if (len == 2 && value[0] == '1' && value[1] >= '0' && value[1] <= '5') {
        return 10 + value[1] - '0';
    }

    return -1;
}


/*
 * Parses one list element of Sec-WebSocket-Extensions (RFC 6455, section
 * 9.1).  Returns 0 for a valid permessage-deflate offer (RFC 7692, section
 * 7), or -1 for another extension, a syntax error, an unknown or repeated
 * parameter, or an invalid value: such an offer is skipped.
 */
static int
ngx_neonpro_ws_deflate_parse_offer(const unsigned char *p,
    const unsigned char *end, ngx_neonpro_ws_deflate_offer_t *offer)
{
    int                   bits, has_value;
    size_t                name_len, value_len;
    unsigned char         value[2];
    const unsigned char  *name;

    memset(offer, 0, sizeof(ngx_neonpro_ws_deflate_offer_t));

    p = ngx_neonpro_ws_deflate_skip_space(p, end);
    name = p;
    p = ngx_neonpro_ws_deflate_skip_token(p, end);

    if (!ngx_neonpro_ws_deflate_token_is(name, p - name,
                                         "permessage-deflate"))
    {
        return -1;
    }

    for ( ;; ) {
        p = ngx_neonpro_ws_deflate_skip_space(p, end);

        if (p == end) {
            return 0;
        }

        if (*p != ';') {
            return -1;
        }

        p = ngx_neonpro_ws_deflate_skip_space(p + 1, end);
        name = p;
        p = ngx_neonpro_ws_deflate_skip_token(p, end);
        name_len = p - name;

        if (name_len == 0) {
            return -1;
        }

        p = ngx_neonpro_ws_deflate_skip_space(p, end);
        has_value = 0;
        value_len = 0;

        if (p < end && *p == '=') {
            p = ngx_neonpro_ws_deflate_skip_space(p + 1, end);
            p = ngx_neonpro_ws_deflate_parse_value(p, end, value, &value_len);

            if (p == NULL) {
                return -1;
            }

            has_value = 1;
        }

        if (ngx_neonpro_ws_deflate_token_is(name, name_len,
                                            "server_no_context_takeover"))
        {
            if (has_value || offer->server_no_context_takeover) {
                return -1;
            }

            offer->server_no_context_takeover = 1;

        } else if (ngx_neonpro_ws_deflate_token_is(name, name_len,
                                              "client_no_context_takeover"))
        {
            if (has_value || offer->client_no_context_takeover) {
                return -1;
            }

            offer->client_no_context_takeover = 1;

        } else if (ngx_neonpro_ws_deflate_token_is(name, name_len,
                                                  "server_max_window_bits"))
        {
            if (!has_value || offer->server_max_window_bits) {
                return -1;
            }

            bits = ngx_neonpro_ws_deflate_parse_bits(value, value_len);

            if (bits == -1) {
                return -1;
            }

            offer->server_max_window_bits = bits;

        } else if (ngx_neonpro_ws_deflate_token_is(name, name_len,
                                                  "client_max_window_bits"))
        {
            if (offer->client_max_window_bits_sent) {
                return -1;
            }

            offer->client_max_window_bits_sent = 1;

            if (has_value) {
                bits = ngx_neonpro_ws_deflate_parse_bits(value, value_len);

                if (bits == -1) {
                    return -1;
                }

                offer->client_max_window_bits = bits;
            }

        } else {
            return -1;
        }
    }
}


/*
 * Settles a valid offer against the policy and writes the response value.
 * Returns 0, or -1 when the server cannot honour the offer.
 */
static int
ngx_neonpro_ws_deflate_accept(const ngx_neonpro_ws_deflate_offer_t *offer,
    const ngx_neonpro_ws_deflate_policy_t *policy,
    ngx_neonpro_ws_deflate_params_t *params)
{
    int             server_bits, client_bits, send_server_bits,
                    send_client_bits;
    unsigned char  *p;

    /*
     * zlib cannot compress with a 256-byte window.  Since 1.2.9
     * deflateInit2() returns Z_STREAM_ERROR for windowBits -8 (zlib's
     * ChangeLog: "Reject a window size of 256 bytes if not using the zlib
     * wrapper"), and older releases silently used 9 instead.  So a client
     * that requires server_max_window_bits=8 gets its offer declined, not
     * a response that states a window the server would not keep to.
     */
    if (offer->server_max_window_bits == 8) {
        return -1;
    }

    if (offer->server_max_window_bits) {
        /* 7.1.2.1: the response repeats it with the same or a smaller value */
        server_bits = offer->server_max_window_bits;

        if (server_bits > policy->server_max_window_bits) {
            server_bits = policy->server_max_window_bits;
        }

        send_server_bits = 1;

    } else {
        /* 7.1.2.1 also lets the server state its window unasked */
        server_bits = policy->server_max_window_bits;
        send_server_bits =
                       (server_bits < NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS);
    }

    /*
     * 7.1.2.2: the response may state client_max_window_bits only when the
     * offer has it, and a response without it lets the client use a 32 KB
     * window.  The RFC calls an offered value a hint, so the response
     * states the smaller of it and the policy, which binds both sides.
     */
    if (!offer->client_max_window_bits_sent) {
        client_bits = NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS;
        send_client_bits = 0;

    } else if (offer->client_max_window_bits == 0) {
        client_bits = policy->client_max_window_bits;
        send_client_bits =
                       (client_bits < NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS);

    } else {
        client_bits = offer->client_max_window_bits;

        if (client_bits > policy->client_max_window_bits) {
            client_bits = policy->client_max_window_bits;
        }

        send_client_bits = 1;
    }

    params->server_max_window_bits = server_bits;
    params->client_max_window_bits = client_bits;

    /*
     * 7.1.1.1: an offered server_no_context_takeover must be in the
     * response.  7.1.1.2: an offered client_no_context_takeover is a hint
     * that the client resets anyway, so the response repeats it to bind
     * the client, and the inflater forgets its window between messages.
     */
    params->server_no_context_takeover = offer->server_no_context_takeover
                                         || policy->server_no_context_takeover;
    params->client_no_context_takeover = offer->client_no_context_takeover
                                         || policy->client_no_context_takeover;

    p = params->response;
    memcpy(p, "permessage-deflate", sizeof("permessage-deflate") - 1);
    p += sizeof("permessage-deflate") - 1;

    if (params->server_no_context_takeover) {
        p = ngx_neonpro_ws_deflate_write_param(p,
                                               "server_no_context_takeover", 0);
    }

    if (params->client_no_context_takeover) {
        p = ngx_neonpro_ws_deflate_write_param(p,
                                               "client_no_context_takeover", 0);
    }

    if (send_server_bits) {
        p = ngx_neonpro_ws_deflate_write_param(p, "server_max_window_bits",
                                               server_bits);
    }

    if (send_client_bits) {
        p = ngx_neonpro_ws_deflate_write_param(p, "client_max_window_bits",
                                               client_bits);
    }

    params->response_len = p - params->response;

    return 0;
}


/* Writes "; name" or, when bits is not 0, "; name=bits". */
static unsigned char *
ngx_neonpro_ws_deflate_write_param(unsigned char *p, const char *name,
    int bits)
{
    size_t  len;

    len = strlen(name);

    *p++ = ';';
    *p++ = ' ';
    memcpy(p, name, len);
    p += len;

    if (bits == 0) {
        return p;
    }

    *p++ = '=';

    if (bits >= 10) {
        *p++ = '1';
        bits -= 10;
    }

    *p++ = (unsigned char) ('0' + bits);

    return p;
}


ngx_neonpro_ws_deflate_rc_e
ngx_neonpro_ws_deflate_negotiate(const unsigned char *value, size_t len,
    const ngx_neonpro_ws_deflate_policy_t *policy,
    ngx_neonpro_ws_deflate_params_t *params)
{
    const unsigned char             *p, *end, *last, *start;
    ngx_neonpro_ws_deflate_offer_t   offer;

    if (!policy->enabled) {
        return NGX_NEONPRO_WS_DEFLATE_DECLINED;
    }

    if (policy->server_max_window_bits < NGX_NEONPRO_WS_DEFLATE_MIN_WINDOW_BITS
        || policy->server_max_window_bits
           > NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS
        || policy->client_max_window_bits
           < NGX_NEONPRO_WS_DEFLATE_MIN_WINDOW_BITS
        || policy->client_max_window_bits
           > NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS)
    {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    if (len == 0) {
        return NGX_NEONPRO_WS_DEFLATE_DECLINED;
    }

    p = value;
    end = value + len;

    for ( ;; ) {
        last = ngx_neonpro_ws_deflate_offer_end(p, end);

        if (ngx_neonpro_ws_deflate_parse_offer(p, last, &offer) == 0
            && ngx_neonpro_ws_deflate_accept(&offer, policy, params) == 0)
        {
            start = ngx_neonpro_ws_deflate_skip_space(p, last);

            while (last > start && (last[-1] == ' ' || last[-1] == '\t')) {
                last--;
            }

            params->offer_start = start - value;
            params->offer_len = last - start;

            return NGX_NEONPRO_WS_DEFLATE_OK;
        }

        if (last == end) {
            return NGX_NEONPRO_WS_DEFLATE_DECLINED;
        }

        p = last + 1;
    }
}


/*
 * Makes room in a growable buffer: it doubles, starting at GROW_MIN, but
 * never gains more than limit bytes of free space.
 */
static ngx_neonpro_ws_deflate_rc_e
ngx_neonpro_ws_deflate_grow(ngx_neonpro_ws_deflate_buf_t *out, size_t limit)
{
    size_t  add, size;

    add = out->size > NGX_NEONPRO_WS_DEFLATE_GROW_MIN
          ? out->size : NGX_NEONPRO_WS_DEFLATE_GROW_MIN;

    if (add > limit) {
        add = limit;
    }

    if (add > SIZE_MAX - out->size) {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    size = out->size + add;

    if (out->grow(out, size) != 0 || out->data == NULL || out->size < size) {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    return NGX_NEONPRO_WS_DEFLATE_OK;
}


ngx_neonpro_ws_deflate_rc_e
ngx_neonpro_ws_deflate_inflater_init(
    ngx_neonpro_ws_deflate_inflater_t *inflater,
    const ngx_neonpro_ws_deflate_params_t *params, size_t max_size)
{
    int  bits;

    bits = params->client_max_window_bits;

    if (bits < 8 || bits > NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS) {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    /*
     * zlib inflates with any window of 8..15 bits.  A client on zlib before
     * 1.2.9 that agreed to 8 compresses with 9 (see
     * ngx_neonpro_ws_deflate_accept()), but zlib's deflate looks back at
     * most the window less 262 bytes, 250 bytes here, which 8 bits cover.
     */
    inflater->zstream.next_in = Z_NULL;
    inflater->zstream.avail_in = 0;

    if (inflateInit2(&inflater->zstream, -bits) != Z_OK) {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    inflater->max_size = max_size;
    inflater->size = 0;
    inflater->window_bits = bits;
    inflater->no_context_takeover = params->client_no_context_takeover;
    inflater->initialized = 1;
    inflater->input = 0;
    inflater->stream_end = 0;
    inflater->failed = 0;

    return NGX_NEONPRO_WS_DEFLATE_OK;
}


/*
 * Inflates len bytes, len at most ZLIB_CHUNK, into out, stopping as soon as
 * the message would pass the limit: the smaller of what is left of
 * max_size and the free space of a fixed buffer.
 */
static ngx_neonpro_ws_deflate_rc_e
ngx_neonpro_ws_deflate_inflate(ngx_neonpro_ws_deflate_inflater_t *inflater,
    const unsigned char *in, size_t len, ngx_neonpro_ws_deflate_buf_t *out)
{
    int             rc;
    size_t          room, left, produced;
    z_stream       *zs;
    unsigned char   extra;

    zs = &inflater->zstream;

    /* zlib does not write through next_in; the cast only drops const */
    zs->next_in = (Bytef *) in;
    zs->avail_in = (uInt) len;

    for ( ;; ) {
        left = inflater->max_size - inflater->size;
        room = out->size - out->len;

        if (room > left) {
            room = left;
        }

        if (room == 0 && left > 0 && out->grow != NULL) {
            if (ngx_neonpro_ws_deflate_grow(out, left)
                != NGX_NEONPRO_WS_DEFLATE_OK)
            {
                return NGX_NEONPRO_WS_DEFLATE_ERROR;
            }

            continue;
        }

        if (room == 0) {
            /* at the limit: one more byte of output is one too many */
            zs->next_out = &extra;
            zs->avail_out = 1;

        } else {
            if (room > NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK) {
                room = NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK;
            }

            zs->next_out = out->data + out->len;
            zs->avail_out = (uInt) room;
        }

        if (zs->avail_in > 0) {
            inflater->stream_end = 0;
        }

        rc = inflate(zs, Z_SYNC_FLUSH);

        if (room == 0) {
            if (zs->avail_out == 0) {
                return NGX_NEONPRO_WS_DEFLATE_TOO_LARGE;
            }

        } else {
            produced = room - zs->avail_out;
            out->len += produced;
            inflater->size += produced;
        }

        switch (rc) {

        case Z_STREAM_END:

            /*
             * RFC 7692, 7.2.3.4: a sender may end its data with a block
             * that has BFINAL set, and what follows it in the message
             * starts a new stream over the same window.
             * inflateResetKeep(), declared in zlib.h among the
             * undocumented functions since 1.2.5.2, resets the stream and
             * keeps the window without copying it, so a message packed
             * with final blocks costs no more than its bytes.
             */
            if (inflateResetKeep(zs) != Z_OK) {
                return NGX_NEONPRO_WS_DEFLATE_ERROR;
            }

            inflater->stream_end = 1;

            if (zs->avail_in == 0) {
                return NGX_NEONPRO_WS_DEFLATE_OK;
            }

            break;

        case Z_OK:
        case Z_BUF_ERROR:

            /* free output space left means zlib took all the input */
            if (zs->avail_out > 0) {
                return zs->avail_in ? NGX_NEONPRO_WS_DEFLATE_ERROR
                                    : NGX_NEONPRO_WS_DEFLATE_OK;
            }

            break;

        case Z_DATA_ERROR:
            return NGX_NEONPRO_WS_DEFLATE_INVALID;

        default:
            return NGX_NEONPRO_WS_DEFLATE_ERROR;
        }
    }
}


ngx_neonpro_ws_deflate_rc_e
ngx_neonpro_ws_deflate_decompress(ngx_neonpro_ws_deflate_inflater_t *inflater,
    const unsigned char *in, size_t len, int last,
    ngx_neonpro_ws_deflate_buf_t *out)
{
    size_t                       n;
    ngx_neonpro_ws_deflate_rc_e  rc;

    if (!inflater->initialized || inflater->failed) {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    while (len > 0) {
        n = len < NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK
            ? len : NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK;

        inflater->input = 1;

        rc = ngx_neonpro_ws_deflate_inflate(inflater, in, n, out);

        if (rc != NGX_NEONPRO_WS_DEFLATE_OK) {
            goto failed;
        }

        in += n;
        len -= n;
    }

    if (!last) {
        return NGX_NEONPRO_WS_DEFLATE_OK;
    }

    /*
     * The tail goes back unless the message ended right after a final
     * block, where the new stream has no bytes to end.  A message without
     * a byte of payload is empty: the tail alone is not a complete block.
     */
    if (inflater->input && !inflater->stream_end) {
        rc = ngx_neonpro_ws_deflate_inflate(inflater,
                                            ngx_neonpro_ws_deflate_tail,
                                            sizeof(ngx_neonpro_ws_deflate_tail),
                                            out);

        if (rc != NGX_NEONPRO_WS_DEFLATE_OK) {
            goto failed;
        }

        /*
         * A message must end on a block boundary, or a truncated block
         * would run on into the next message.  zlib.h documents 128 in
         * data_type after an end-of-block code.  inflate() in zlib 1.2.13
         * also sets it after a stored block such as the tail, which the
         * unit tests rely on for every message.
         */
        if (!inflater->stream_end
            && (inflater->zstream.data_type & 128) == 0)
        {
            rc = NGX_NEONPRO_WS_DEFLATE_INVALID;
            goto failed;
        }
    }

    if (inflater->no_context_takeover
        && inflateReset(&inflater->zstream) != Z_OK)
    {
        rc = NGX_NEONPRO_WS_DEFLATE_ERROR;
        goto failed;
    }

    inflater->size = 0;
    inflater->input = 0;
    inflater->stream_end = 0;

    return NGX_NEONPRO_WS_DEFLATE_OK;

failed:

    inflater->failed = 1;

    return rc;
}


void
ngx_neonpro_ws_deflate_inflater_free(
    ngx_neonpro_ws_deflate_inflater_t *inflater)
{
    if (inflater->initialized) {
        (void) inflateEnd(&inflater->zstream);
        inflater->initialized = 0;
    }
}


ngx_neonpro_ws_deflate_rc_e
ngx_neonpro_ws_deflate_deflater_init(
    ngx_neonpro_ws_deflate_deflater_t *deflater,
    const ngx_neonpro_ws_deflate_params_t *params, int level, int mem_level)
{
    int  bits;

    bits = params->server_max_window_bits;

    /* 8 is out: see ngx_neonpro_ws_deflate_accept() */
    if (bits < NGX_NEONPRO_WS_DEFLATE_MIN_WINDOW_BITS
        || bits > NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS)
    {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    if (deflateInit2(&deflater->zstream, level, Z_DEFLATED, -bits, mem_level,
                     Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    deflater->no_context_takeover = params->server_no_context_takeover;
    deflater->initialized = 1;

    return NGX_NEONPRO_WS_DEFLATE_OK;
}


ngx_neonpro_ws_deflate_rc_e
ngx_neonpro_ws_deflate_compress(ngx_neonpro_ws_deflate_deflater_t *deflater,
    const unsigned char *in, size_t len, ngx_neonpro_ws_deflate_buf_t *out)
{
    int                          flush;
    size_t                       start, chunk, room;
    z_stream                    *zs;
    ngx_neonpro_ws_deflate_rc_e  rc;

    if (!deflater->initialized) {
        return NGX_NEONPRO_WS_DEFLATE_ERROR;
    }

    zs = &deflater->zstream;
    start = out->len;

    /*
     * An empty message is the single byte 00, the header of an empty
     * stored block (RFC 7692, 7.2.3.6): the peer appends 00 00 ff ff and
     * inflates nothing.  deflate() is not asked, because after an earlier
     * flush it has nothing to do and writes nothing; the stream stays at a
     * byte boundary either way.
     */
    if (len == 0) {
        if (out->len == out->size) {
            if (out->grow == NULL) {
                return NGX_NEONPRO_WS_DEFLATE_TOO_LARGE;
            }

            if (ngx_neonpro_ws_deflate_grow(out, SIZE_MAX)
                != NGX_NEONPRO_WS_DEFLATE_OK)
            {
                return NGX_NEONPRO_WS_DEFLATE_ERROR;
            }
        }

        out->data[out->len++] = 0x00;

        return NGX_NEONPRO_WS_DEFLATE_OK;
    }

    while (len > 0) {
        chunk = len < NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK
                ? len : NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK;
        len -= chunk;
        flush = (len > 0) ? Z_NO_FLUSH : Z_SYNC_FLUSH;

        /* zlib does not write through next_in; the cast only drops const */
        zs->next_in = (Bytef *) in;
        zs->avail_in = (uInt) chunk;
        in += chunk;

        /*
         * deflate() has taken all the input, and with Z_SYNC_FLUSH written
         * all its output, once it returns with output space to spare.
         */
        do {
            if (out->len == out->size) {
                if (out->grow == NULL) {
                    rc = NGX_NEONPRO_WS_DEFLATE_TOO_LARGE;
                    goto failed;
                }

                rc = ngx_neonpro_ws_deflate_grow(out, SIZE_MAX);

                if (rc != NGX_NEONPRO_WS_DEFLATE_OK) {
                    goto failed;
                }
            }

            room = out->size - out->len;

            if (room > NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK) {
                room = NGX_NEONPRO_WS_DEFLATE_ZLIB_CHUNK;
            }

            zs->next_out = out->data + out->len;
            zs->avail_out = (uInt) room;

            /* Z_BUF_ERROR is no error: the call had nothing left to do */
            if (deflate(zs, flush) == Z_STREAM_ERROR) {
                rc = NGX_NEONPRO_WS_DEFLATE_ERROR;
                goto failed;
            }

            out->len += room - zs->avail_out;

        } while (zs->avail_out == 0);
    }

    /* RFC 7692, 7.2.1: the payload is the stream without its 00 00 ff ff */
    if (out->len - start < sizeof(ngx_neonpro_ws_deflate_tail)
        || memcmp(out->data + out->len - sizeof(ngx_neonpro_ws_deflate_tail),
                  ngx_neonpro_ws_deflate_tail,
                  sizeof(ngx_neonpro_ws_deflate_tail))
           != 0)
    {
        rc = NGX_NEONPRO_WS_DEFLATE_ERROR;
        goto failed;
    }

    out->len -= sizeof(ngx_neonpro_ws_deflate_tail);

    if (deflater->no_context_takeover && deflateReset(zs) != Z_OK) {
        rc = NGX_NEONPRO_WS_DEFLATE_ERROR;
        goto failed;
    }

    return NGX_NEONPRO_WS_DEFLATE_OK;

failed:

    /*
     * A fresh stream refers to nothing before it, so the peer's inflater,
     * which never saw this message, still decodes what follows.
     */
    out->len = start;
    (void) deflateReset(zs);

    return rc;
}


void
ngx_neonpro_ws_deflate_deflater_free(
    ngx_neonpro_ws_deflate_deflater_t *deflater)
{
    if (deflater->initialized) {
        (void) deflateEnd(&deflater->zstream);
        deflater->initialized = 0;
    }
}
