
/*
 * Checks of a WebSocket opening handshake (RFC 6455, section 4.2) on
 * header values, and the Sec-WebSocket-Accept computation.
 *
 * Every function takes a header value as bytes and a length.  A NULL
 * value stands for an absent header.  When a request repeats a header
 * whose grammar is a list (Connection, Upgrade, Sec-WebSocket-Protocol),
 * the caller joins the lines with ", " first (RFC 7230, section 3.2.2).
 * A repeated Sec-WebSocket-Key or Sec-WebSocket-Version makes the request
 * invalid (RFC 6455, section 11.3), so the caller rejects it with 400
 * before it calls these checks.
 */


#ifndef _NGX_NEONPRO_WS_HANDSHAKE_H_INCLUDED_
#define _NGX_NEONPRO_WS_HANDSHAKE_H_INCLUDED_


#include <stddef.h>


/* the length of a Sec-WebSocket-Accept value: base64 of a SHA-1 digest */
#define NGX_NEONPRO_WS_ACCEPT_LEN    28

/* the length of a valid Sec-WebSocket-Key: base64 of 16 bytes */
#define NGX_NEONPRO_WS_KEY_LEN       24
#define NGX_NEONPRO_WS_KEY_BYTES     16

#define NGX_NEONPRO_WS_PROTOCOL      "neonpro.chat.v1"

/* the prefix of a Sec-WebSocket-Protocol element that carries a token */
#define NGX_NEONPRO_WS_BEARER        "bearer."
#define NGX_NEONPRO_WS_BEARER_LEN    (sizeof(NGX_NEONPRO_WS_BEARER) - 1)


typedef enum {
    NGX_NEONPRO_WS_UPGRADE_WEBSOCKET = 0,
    NGX_NEONPRO_WS_UPGRADE_NONE,       /* absent or an empty list */
    NGX_NEONPRO_WS_UPGRADE_OTHER,      /* h2c or another protocol only */
    NGX_NEONPRO_WS_UPGRADE_INVALID     /* an element is not a protocol */
} ngx_neonpro_ws_upgrade_e;


typedef enum {
    NGX_NEONPRO_WS_PROTOCOL_SELECTED = 0,
    NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED,
    NGX_NEONPRO_WS_PROTOCOL_INVALID    /* an element is not a token */
} ngx_neonpro_ws_protocol_e;


/* an allow-list entry or any other counted string */
typedef struct {
    const unsigned char  *data;
    size_t                len;
} ngx_neonpro_ws_str_t;


/*
 * A parsed serialized origin (RFC 6454, section 6.2): scheme "://" host
 * [":" port].  The pointers point into the parsed value.  The port is the
 * scheme's default (80 for http, 443 for https) when the value has none,
 * and -1 for another scheme without a port.
 */
typedef struct {
    ngx_neonpro_ws_str_t  scheme;
    ngx_neonpro_ws_str_t  host;
    long                  port;
} ngx_neonpro_ws_origin_t;


int ngx_neonpro_ws_connection_upgrade(const unsigned char *p, size_t len);
ngx_neonpro_ws_upgrade_e ngx_neonpro_ws_upgrade(const unsigned char *p,
    size_t len);
int ngx_neonpro_ws_version_valid(const unsigned char *p, size_t len);
int ngx_neonpro_ws_key_valid(const unsigned char *p, size_t len);
int ngx_neonpro_ws_accept(const unsigned char *key, size_t len,
    unsigned char *accept);

ngx_neonpro_ws_protocol_e ngx_neonpro_ws_protocol_select(
    const unsigned char *p, size_t len, const unsigned char *protocol,
    size_t protocol_len);
int ngx_neonpro_ws_protocol_bearer(const unsigned char *p, size_t len,
    const unsigned char **token, size_t *token_len);

int ngx_neonpro_ws_origin_parse(const unsigned char *p, size_t len,
    ngx_neonpro_ws_origin_t *origin);
int ngx_neonpro_ws_origin_allowed(const unsigned char *origin,
    size_t origin_len, const unsigned char *host, size_t host_len, int tls,
    const ngx_neonpro_ws_str_t *allow, size_t nallow);


#endif /* _NGX_NEONPRO_WS_HANDSHAKE_H_INCLUDED_ */
