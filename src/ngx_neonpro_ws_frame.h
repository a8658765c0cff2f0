
/*
 * The WebSocket frame codec of the server side (RFC 6455, section 5).  It
 * contains an incremental parser of client frame headers, which enforces
 * the protocol rules across the frames of a message, and payload
 * unmasking.  It also checks received Close payloads and builds the
 * headers and Close payloads that the server sends.
 */


#ifndef _NGX_NEONPRO_WS_FRAME_H_INCLUDED_
#define _NGX_NEONPRO_WS_FRAME_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/* the values of nginx's NGX_OK, NGX_ERROR and NGX_AGAIN */
#define NGX_NEONPRO_WS_OK                     0
#define NGX_NEONPRO_WS_ERROR                 -1
#define NGX_NEONPRO_WS_AGAIN                 -2

#define NGX_NEONPRO_WS_OPCODE_CONTINUATION    0x0
#define NGX_NEONPRO_WS_OPCODE_TEXT            0x1
#define NGX_NEONPRO_WS_OPCODE_BINARY          0x2
#define NGX_NEONPRO_WS_OPCODE_CLOSE           0x8
#define NGX_NEONPRO_WS_OPCODE_PING            0x9
#define NGX_NEONPRO_WS_OPCODE_PONG            0xa

/* status codes of RFC 6455, section 7.4.1, and of the IANA registry */
#define NGX_NEONPRO_WS_CLOSE_NORMAL           1000
#define NGX_NEONPRO_WS_CLOSE_GOING_AWAY       1001
#define NGX_NEONPRO_WS_CLOSE_PROTOCOL_ERROR   1002
#define NGX_NEONPRO_WS_CLOSE_UNSUPPORTED      1003
#define NGX_NEONPRO_WS_CLOSE_NO_STATUS        1005
#define NGX_NEONPRO_WS_CLOSE_ABNORMAL         1006
#define NGX_NEONPRO_WS_CLOSE_INVALID_PAYLOAD  1007
#define NGX_NEONPRO_WS_CLOSE_POLICY           1008
#define NGX_NEONPRO_WS_CLOSE_TOO_BIG          1009
#define NGX_NEONPRO_WS_CLOSE_EXTENSION        1010
#define NGX_NEONPRO_WS_CLOSE_INTERNAL_ERROR   1011
#define NGX_NEONPRO_WS_CLOSE_SERVICE_RESTART  1012
#define NGX_NEONPRO_WS_CLOSE_TRY_AGAIN_LATER  1013
#define NGX_NEONPRO_WS_CLOSE_BAD_GATEWAY      1014
#define NGX_NEONPRO_WS_CLOSE_TLS_HANDSHAKE    1015

/* 2 bytes, 8 of extended payload length and 4 of masking key */
#define NGX_NEONPRO_WS_MAX_HEADER_LEN         14
/* the server's frames are unmasked */
#define NGX_NEONPRO_WS_MAX_SERVER_HEADER_LEN  10
#define NGX_NEONPRO_WS_MAX_CONTROL_PAYLOAD    125
/* a Close payload is a 2-byte status code and the reason */
#define NGX_NEONPRO_WS_MAX_CLOSE_REASON       123


/*
 * The parser of the frames received on one connection.  The header fields
 * describe the current frame once ngx_neonpro_ws_frame_parse() returns
 * NGX_NEONPRO_WS_OK; payload_len bytes of payload follow it.
 */
typedef struct {
    /* configuration, set by ngx_neonpro_ws_parser_init() */
    uint64_t              max_message_size;
    unsigned              rsv1_allowed:1;

    /* the header of the current frame */
    uint64_t              payload_len;
    unsigned char         mask_key[4];
    unsigned              fin:1;
    unsigned              rsv1:1;
    unsigned              rsv2:1;
    unsigned              rsv3:1;
    unsigned              masked:1;
    unsigned              opcode:4;

    /*
     * The data message of the current frame: its first frame's opcode (TEXT
     * or BINARY, 0 for a control frame), whether its first frame had RSV1
     * set, and its payload bytes up to the end of the current frame.
     */
    unsigned              message_opcode:4;
    unsigned              message_compressed:1;
    uint64_t              message_len;

    /*
     * With NGX_NEONPRO_WS_ERROR: the status code to close with, and a
     * phrase for the error log such as "reserved opcode".  The code is 1002
     * or 1009, or 1011 if the parser state was overwritten.
     */
    unsigned              close_code;
    const char           *error;

    /* the header bytes parsed so far */
    unsigned              state;
    unsigned              need;

    /* the fragmented message still open after the current frame */
    unsigned              open_opcode:4;
    unsigned              open_compressed:1;
    uint64_t              open_len;
} ngx_neonpro_ws_parser_t;


void ngx_neonpro_ws_parser_init(ngx_neonpro_ws_parser_t *p,
    uint64_t max_message_size, int rsv1_allowed);
int ngx_neonpro_ws_frame_parse(ngx_neonpro_ws_parser_t *p,
    const unsigned char *buf, size_t len, size_t *consumed);
void ngx_neonpro_ws_unmask(unsigned char *p, size_t len,
    const unsigned char key[4], size_t *offset);

int ngx_neonpro_ws_close_code_valid(unsigned code);
unsigned ngx_neonpro_ws_close_payload_check(const unsigned char *p,
    size_t len, unsigned *code);

size_t ngx_neonpro_ws_frame_header(unsigned char *out, int fin, int rsv1,
    int opcode, uint64_t len);
ssize_t ngx_neonpro_ws_close_payload(unsigned char *out, unsigned code,
    const unsigned char *reason, size_t reason_len);


#endif /* _NGX_NEONPRO_WS_FRAME_H_INCLUDED_ */
