
/*
 * The permessage-deflate WebSocket extension (RFC 7692): negotiation of the
 * Sec-WebSocket-Extensions header, and the per-connection DEFLATE streams
 * that compress the server's messages and decompress the client's.
 *
 * Return codes and the close code (RFC 6455, section 7.4.1) that fits each:
 *
 *   OK         success
 *   DECLINED   negotiation only: no acceptable offer, or the policy is off;
 *              the response carries no Sec-WebSocket-Extensions header
 *   TOO_LARGE  decompression: the message inflates past max_size, close
 *              with 1009 (message too big); compression: the message does
 *              not fit a fixed output buffer, the caller may send it
 *              uncompressed instead
 *   INVALID    decompression: the payload is not a valid DEFLATE stream,
 *              close with 1007 (data not consistent with the message
 *              type); 1002 (protocol error) would also be defensible
 *   ERROR      zlib or the grow callback failed to allocate memory, zlib
 *              reported an internal error, or a policy or parameter value
 *              is out of range; close with 1011 (unexpected condition)
 */


#ifndef _NGX_NEONPRO_WS_DEFLATE_H_INCLUDED_
#define _NGX_NEONPRO_WS_DEFLATE_H_INCLUDED_


#include <stddef.h>
#include <zlib.h>


/*
 * The maximum length of a response value, reached by "permessage-deflate"
 * with both no_context_takeover parameters and two two-digit window sizes.
 */
#define NGX_NEONPRO_WS_DEFLATE_RESPONSE_MAX  128

/*
 * zlib cannot compress a raw DEFLATE stream with an 8-bit window, so the
 * server's window and the policy's windows start at 9 bits.
 */
#define NGX_NEONPRO_WS_DEFLATE_MIN_WINDOW_BITS  9
#define NGX_NEONPRO_WS_DEFLATE_MAX_WINDOW_BITS  15


typedef enum {
    NGX_NEONPRO_WS_DEFLATE_OK = 0,
    NGX_NEONPRO_WS_DEFLATE_DECLINED,
    NGX_NEONPRO_WS_DEFLATE_TOO_LARGE,
    NGX_NEONPRO_WS_DEFLATE_INVALID,
    NGX_NEONPRO_WS_DEFLATE_ERROR
} ngx_neonpro_ws_deflate_rc_e;


/*
 * The server's side of the negotiation.  Window sizes are in bits, 9..15,
 * and a smaller window saves memory: zconf.h gives a deflater
 * 2^(windowBits + 2) + 2^(memLevel + 9) bytes and an inflater
 * 2^windowBits bytes, plus a few kilobytes each.  A client that does not
 * offer client_max_window_bits keeps a 15-bit window whatever the policy.
 */
typedef struct {
    unsigned                        enabled:1;
    unsigned                        server_no_context_takeover:1;
    unsigned                        client_no_context_takeover:1;
    int                             server_max_window_bits;
    int                             client_max_window_bits;
} ngx_neonpro_ws_deflate_policy_t;


/* The agreement that ngx_neonpro_ws_deflate_negotiate() reached. */
typedef struct {
    /* the window of the server's deflater, 9..15 */
    int                             server_max_window_bits;
    /* the largest window the client may compress with, 8..15 */
    int                             client_max_window_bits;
    unsigned                        server_no_context_takeover:1;
    unsigned                        client_no_context_takeover:1;

    /* the accepted offer: byte offset and length in the header value */
    size_t                          offer_start;
    size_t                          offer_len;

    /* the Sec-WebSocket-Extensions value to send, not NUL-terminated */
    size_t                          response_len;
    unsigned char    response[NGX_NEONPRO_WS_DEFLATE_RESPONSE_MAX];
} ngx_neonpro_ws_deflate_params_t;


typedef struct ngx_neonpro_ws_deflate_buf_s  ngx_neonpro_ws_deflate_buf_t;

/*
 * Grows b->data to at least size bytes, keeps its first b->len bytes and
 * updates b->data and b->size; returns 0, or -1 when out of memory.
 */
typedef int (*ngx_neonpro_ws_deflate_grow_pt)(ngx_neonpro_ws_deflate_buf_t *b,
    size_t size);

/*
 * An output buffer: results are appended at data + len.  Without a grow
 * callback the buffer is fixed and its free space is a limit.
 */
struct ngx_neonpro_ws_deflate_buf_s {
    unsigned char                  *data;
    size_t                          len;
    size_t                          size;
    ngx_neonpro_ws_deflate_grow_pt  grow;
    void                           *ctx;
};


/*
 * The state of the client-to-server direction.  Zero the structure before
 * ngx_neonpro_ws_deflate_inflater_init(); to route zlib's allocations, set
 * zstream.zalloc, zstream.zfree and zstream.opaque after zeroing.
 */
typedef struct {
    z_stream                        zstream;
    /* the limit of one decompressed message, in bytes */
    size_t                          max_size;
    /* bytes decompressed so far in the current message */
    size_t                          size;
    int                             window_bits;
    unsigned                        no_context_takeover:1;
    unsigned                        initialized:1;
    /* the current message has had compressed bytes */
    unsigned                        input:1;
    /* the last byte fed ended a DEFLATE block with BFINAL set */
    unsigned                        stream_end:1;
    unsigned                        failed:1;
} ngx_neonpro_ws_deflate_inflater_t;


/* The state of the server-to-client direction; zero it as the inflater. */
typedef struct {
    z_stream                        zstream;
    unsigned                        no_context_takeover:1;
    unsigned                        initialized:1;
} ngx_neonpro_ws_deflate_deflater_t;


/*
 * Picks the first acceptable permessage-deflate offer in one
 * Sec-WebSocket-Extensions header value.  With several header lines, call
 * it on each line in order until one returns OK: offers keep their order.
 */
ngx_neonpro_ws_deflate_rc_e ngx_neonpro_ws_deflate_negotiate(
    const unsigned char *value, size_t len,
    const ngx_neonpro_ws_deflate_policy_t *policy,
    ngx_neonpro_ws_deflate_params_t *params);

/*
 * Decompression of the client's messages (those with RSV1 set in their
 * first frame).  Feed each frame's payload as it arrives, with last set on
 * the frame that has FIN.  A message's output is appended to out, and
 * TOO_LARGE comes back at the first byte past max_size, or past the free
 * space of a fixed buffer.  The caller starts each message with out->len
 * at 0 or accounts for the bytes before it: a grow callback is asked for
 * at most out->len at the start of the message plus max_size bytes.
 * After any return but OK the inflater is unusable and only
 * ngx_neonpro_ws_deflate_inflater_free() may follow.
 */
ngx_neonpro_ws_deflate_rc_e ngx_neonpro_ws_deflate_inflater_init(
    ngx_neonpro_ws_deflate_inflater_t *inflater,
    const ngx_neonpro_ws_deflate_params_t *params, size_t max_size);
ngx_neonpro_ws_deflate_rc_e ngx_neonpro_ws_deflate_decompress(
    ngx_neonpro_ws_deflate_inflater_t *inflater, const unsigned char *in,
    size_t len, int last, ngx_neonpro_ws_deflate_buf_t *out);
void ngx_neonpro_ws_deflate_inflater_free(
    ngx_neonpro_ws_deflate_inflater_t *inflater);

/*
 * Compression of the server's messages, one whole message a call; the
 * output, appended to out, is the payload to send with RSV1 set.  level is
 * zlib's 0..9 or Z_DEFAULT_COMPRESSION, mem_level zlib's 1..9.  A failed
 * call resets the stream, so the deflater stays usable and the client's
 * inflater stays in step if the caller sends that message uncompressed.
 */
ngx_neonpro_ws_deflate_rc_e ngx_neonpro_ws_deflate_deflater_init(
    ngx_neonpro_ws_deflate_deflater_t *deflater,
    const ngx_neonpro_ws_deflate_params_t *params, int level, int mem_level);
ngx_neonpro_ws_deflate_rc_e ngx_neonpro_ws_deflate_compress(
    ngx_neonpro_ws_deflate_deflater_t *deflater, const unsigned char *in,
    size_t len, ngx_neonpro_ws_deflate_buf_t *out);
void ngx_neonpro_ws_deflate_deflater_free(
    ngx_neonpro_ws_deflate_deflater_t *deflater);


#endif /* _NGX_NEONPRO_WS_DEFLATE_H_INCLUDED_ */
