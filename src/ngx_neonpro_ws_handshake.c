
/*
 * WebSocket opening handshake checks (RFC 6455, section 4.2.1) and the
 * server's Sec-WebSocket-Accept value (section 4.2.2).
 *
 * Pure code: no nginx types, so the unit tests and the fuzzer link it
 * alone.  SHA-1 comes from OpenSSL's libcrypto.
 */


#include <string.h>

#include <openssl/sha.h>

#include "ngx_neonpro_ws_handshake.h"


/* appended to the key before hashing (RFC 6455, section 1.3) */
#define NGX_NEONPRO_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
} ngx_neonpro_ws_list_t;


static const char  ngx_neonpro_ws_base64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static void
ngx_neonpro_ws_trim(const unsigned char **p, size_t *len)
{
    while (*len && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*len)--;
    }

    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t')) {
        (*len)--;
    }
}


/*
 * Gets the next non-empty element of a comma-separated list with the
 * optional whitespace around it removed.  Empty elements are skipped, as
 * RFC 7230, section 7 requires of a recipient.  Returns 0 at the end.
 */
static int
ngx_neonpro_ws_list_next(ngx_neonpro_ws_list_t *list,
    ngx_neonpro_ws_str_t *element)
{
    size_t                len;
    const unsigned char  *start;

    while (list->p < list->end) {
        start = list->p;

        while (list->p < list->end && *list->p != ',') {
            list->p++;
        }

        len = (size_t) (list->p - start);

        if (list->p < list->end) {
            list->p++;
        }

        ngx_neonpro_ws_trim(&start, &len);

        if (len) {
            element->data = start;
            element->len = len;
            return 1;
        }
    }

    return 0;
}


static void
ngx_neonpro_ws_list_init(ngx_neonpro_ws_list_t *list, const unsigned char *p,
    size_t len)
{
    list->p = p;
    list->end = p ? p + len : p;
}


/* tchar of RFC 7230, section 3.2.6 */
static int
ngx_neonpro_ws_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


static int
ngx_neonpro_ws_token(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_neonpro_ws_tchar(p[i])) {
            return 0;
        }
    }

    return 1;
}


/* Compares ASCII case-insensitively with a lowercase literal. */
static int
ngx_neonpro_ws_equal_lower(const unsigned char *p, size_t len, const char *s)
{
    size_t         i;
    unsigned char  c;

    if (len != strlen(s)) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) s[i]) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_neonpro_ws_equal_nocase(const ngx_neonpro_ws_str_t *a,
    const ngx_neonpro_ws_str_t *b)
{
    size_t         i;
    unsigned char  c1, c2;

    if (a->len != b->len) {
        return 0;
    }

    for (i = 0; i < a->len; i++) {
        c1 = a->data[i];
        c2 = b->data[i];

        if (c1 >= 'A' && c1 <= 'Z') {
            c1 |= 0x20;
        }

        if (c2 >= 'A' && c2 <= 'Z') {
            c2 |= 0x20;
        }

        if (c1 != c2) {
            return 0;
        }
    }

    return 1;
}


/*
 * Returns 1 when the Connection value lists the "upgrade" option in any
 * case; browsers send "keep-alive, Upgrade".
 */
int
ngx_neonpro_ws_connection_upgrade(const unsigned char *p, size_t len)
{
    ngx_neonpro_ws_str_t   element;
    ngx_neonpro_ws_list_t  list;

    ngx_neonpro_ws_list_init(&list, p, len);

    while (ngx_neonpro_ws_list_next(&list, &element)) {
        if (ngx_neonpro_ws_equal_lower(element.data, element.len, "upgrade")) {
            return 1;
        }
    }

    return 0;
}


/*
 * Classifies an Upgrade value, a list of protocol-name ["/" version]
 * (RFC 7230, section 6.7).  Only the bare token "websocket", in any case,
 * requests RFC 6455.  "websocket/13" names a version that RFC 6455 never
 * defined, so it counts as another protocol.  A caller never tunnels an
 * NGX_NEONPRO_WS_UPGRADE_OTHER request such as h2c.
 */
ngx_neonpro_ws_upgrade_e
ngx_neonpro_ws_upgrade(const unsigned char *p, size_t len)
{
    int                     found, websocket;
    const unsigned char    *slash;
    ngx_neonpro_ws_str_t    element;
    ngx_neonpro_ws_list_t   list;

    found = 0;
    websocket = 0;

    ngx_neonpro_ws_list_init(&list, p, len);

    while (ngx_neonpro_ws_list_next(&list, &element)) {
        found = 1;

        slash = memchr(element.data, '/', element.len);

        if (slash == NULL) {
            if (!ngx_neonpro_ws_token(element.data, element.len)) {
                return NGX_NEONPRO_WS_UPGRADE_INVALID;
            }

        } else if (!ngx_neonpro_ws_token(element.data,
                                         (size_t) (slash - element.data))
                   || !ngx_neonpro_ws_token(slash + 1,
                                            (size_t) (element.data
                                                      + element.len
                                                      - slash - 1)))
        {
            return NGX_NEONPRO_WS_UPGRADE_INVALID;
        }

        if (ngx_neonpro_ws_equal_lower(element.data, element.len,
                                       "websocket"))
        {
            websocket = 1;
        }
    }

    if (!found) {
        return NGX_NEONPRO_WS_UPGRADE_NONE;
    }

    return websocket ? NGX_NEONPRO_WS_UPGRADE_WEBSOCKET
                     : NGX_NEONPRO_WS_UPGRADE_OTHER;
}


/*
 * Returns 1 for the value "13", the only version RFC 6455 defines.  On 0
 * the caller responds with 426 and "Sec-WebSocket-Version: 13" (section
 * 4.4).
 */
int
ngx_neonpro_ws_version_valid(const unsigned char *p, size_t len)
{
    if (p == NULL) {
        return 0;
    }

    ngx_neonpro_ws_trim(&p, &len);

    return len == 2 && p[0] == '1' && p[1] == '3';
}


static int
ngx_neonpro_ws_base64_value(unsigned char c)
{
    const char  *pos;

    if (c == '\0') {
        return -1;
    }

    pos = strchr(ngx_neonpro_ws_base64, c);

    return pos ? (int) (pos - ngx_neonpro_ws_base64) : -1;
}


/*
 * Returns 1 when the key is base64 (RFC 4648, section 4, with padding) of
 * exactly 16 bytes: 24 characters ending in "==".  The 4 bits that the
 * last data character carries beyond the 16 bytes must be zero, so every
 * accepted key has one decoding and one spelling.
 */
int
ngx_neonpro_ws_key_valid(const unsigned char *p, size_t len)
{
    int     value;
    size_t  i;

    if (p == NULL) {
        return 0;
    }

    ngx_neonpro_ws_trim(&p, &len);

    if (len != NGX_NEONPRO_WS_KEY_LEN || p[22] != '=' || p[23] != '=') {
        return 0;
    }

    value = 0;

    for (i = 0; i < 22; i++) {
        value = ngx_neonpro_ws_base64_value(p[i]);

        if (value < 0) {
            return 0;
        }
    }

    return (value & 0x0f) == 0;
}


static void
ngx_neonpro_ws_base64_encode(const unsigned char *src, size_t len,
    unsigned char *dst)
{
    unsigned  bits;

    while (len >= 3) {
        bits = ((unsigned) src[0] << 16) | ((unsigned) src[1] << 8) | src[2];

        *dst++ = ngx_neonpro_ws_base64[(bits >> 18) & 0x3f];
        *dst++ = ngx_neonpro_ws_base64[(bits >> 12) & 0x3f];
        *dst++ = ngx_neonpro_ws_base64[(bits >> 6) & 0x3f];
        *dst++ = ngx_neonpro_ws_base64[bits & 0x3f];

        src += 3;
        len -= 3;
    }

    if (len == 0) {
        return;
    }

    bits = (unsigned) src[0] << 16;

    if (len == 2) {
        bits |= (unsigned) src[1] << 8;
    }

    *dst++ = ngx_neonpro_ws_base64[(bits >> 18) & 0x3f];
    *dst++ = ngx_neonpro_ws_base64[(bits >> 12) & 0x3f];
    *dst++ = len == 2 ? ngx_neonpro_ws_base64[(bits >> 6) & 0x3f] : '=';
    *dst = '=';
}


/*
 * Writes base64(SHA-1(key + GUID)), NGX_NEONPRO_WS_ACCEPT_LEN bytes
 * without a terminating NUL, to accept.  The key is hashed as sent, after
 * the surrounding whitespace is removed.  Returns 0, or -1 when the key is
 * invalid or SHA-1 failed.  The caller has checked the key already, so -1
 * is an internal error.
 */
int
ngx_neonpro_ws_accept(const unsigned char *key, size_t len,
    unsigned char *accept)
{
    unsigned char  digest[SHA_DIGEST_LENGTH];
    unsigned char  text[NGX_NEONPRO_WS_KEY_LEN
                        + sizeof(NGX_NEONPRO_WS_GUID) - 1];

    if (!ngx_neonpro_ws_key_valid(key, len)) {
        return -1;
    }

    ngx_neonpro_ws_trim(&key, &len);

    memcpy(text, key, NGX_NEONPRO_WS_KEY_LEN);
    memcpy(text + NGX_NEONPRO_WS_KEY_LEN, NGX_NEONPRO_WS_GUID,
           sizeof(NGX_NEONPRO_WS_GUID) - 1);

    if (SHA1(text, sizeof(text), digest) == NULL) {
        return -1;
    }

    ngx_neonpro_ws_base64_encode(digest, sizeof(digest), accept);

    return 0;
}


static int
ngx_neonpro_ws_bearer_element(const ngx_neonpro_ws_str_t *element)
{
    return element->len >= NGX_NEONPRO_WS_BEARER_LEN
           && memcmp(element->data, NGX_NEONPRO_WS_BEARER,
                     NGX_NEONPRO_WS_BEARER_LEN) == 0;
}


/*
 * Looks for a subprotocol (NGX_NEONPRO_WS_PROTOCOL when protocol is NULL)
 * in a Sec-WebSocket-Protocol value.  Names match byte for byte,
 * because RFC 7936, section 2 makes subprotocol names case-sensitive.
 * Every element must be a token (RFC 6455, section 4.1), so a bearer
 * token in base64 with "/" or "=" makes the whole value invalid; JWTs use
 * base64url and pass.  A "bearer." element is never selected, even when
 * protocol names one, so a token is never echoed in the response.
 */
ngx_neonpro_ws_protocol_e
ngx_neonpro_ws_protocol_select(const unsigned char *p, size_t len,
    const unsigned char *protocol, size_t protocol_len)
{
    int                     offered;
    ngx_neonpro_ws_str_t    element, name;
    ngx_neonpro_ws_list_t   list;

    if (protocol == NULL) {
        protocol = (const unsigned char *) NGX_NEONPRO_WS_PROTOCOL;
        protocol_len = sizeof(NGX_NEONPRO_WS_PROTOCOL) - 1;
    }

    name.data = protocol;
    name.len = protocol_len;

    offered = 0;

    ngx_neonpro_ws_list_init(&list, p, len);

    while (ngx_neonpro_ws_list_next(&list, &element)) {
        if (!ngx_neonpro_ws_token(element.data, element.len)) {
            return NGX_NEONPRO_WS_PROTOCOL_INVALID;
        }

        if (!ngx_neonpro_ws_bearer_element(&element)
            && !ngx_neonpro_ws_bearer_element(&name)
            && element.len == name.len
            && memcmp(element.data, name.data, name.len) == 0)
        {
            offered = 1;
        }
    }

    return offered ? NGX_NEONPRO_WS_PROTOCOL_SELECTED
                   : NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED;
}


/*
 * Finds the first "bearer.<token>" element of a Sec-WebSocket-Protocol
 * value, the way a browser passes a credential that it cannot put in an
 * Authorization header.  *token points into p and is never
 * NUL-terminated.  Returns 1 with the token, 0 when no element carries
 * one, and -1 when the value is invalid (an element is not a token) or
 * the first bearer element is empty.  The token is a credential: callers
 * keep it out of logs.
 */
int
ngx_neonpro_ws_protocol_bearer(const unsigned char *p, size_t len,
    const unsigned char **token, size_t *token_len)
{
    ngx_neonpro_ws_str_t   element, found;
    ngx_neonpro_ws_list_t  list;

    *token = NULL;
    *token_len = 0;

    found.data = NULL;
    found.len = 0;

    ngx_neonpro_ws_list_init(&list, p, len);

    /* the whole list is checked, so a value is valid or not in one way */

    while (ngx_neonpro_ws_list_next(&list, &element)) {
        if (!ngx_neonpro_ws_token(element.data, element.len)) {
            return -1;
        }

        if (found.data == NULL && ngx_neonpro_ws_bearer_element(&element)) {
            found = element;
        }
    }

    if (found.data == NULL) {
        return 0;
    }

    if (found.len == NGX_NEONPRO_WS_BEARER_LEN) {
        return -1;
    }

    *token = found.data + NGX_NEONPRO_WS_BEARER_LEN;
    *token_len = found.len - NGX_NEONPRO_WS_BEARER_LEN;

    return 1;
}


/*
 * Parses host [":" port] where host is a bracketed IP literal or a
 * registered name of ALPHA, DIGIT, "-", ".", "_", "~" (RFC 3986, section
 * 3.2.2, without percent-encoding, which no browser puts in an Origin).
 * Returns 1 with *port set to -1 when no port is given.
 */
static int
ngx_neonpro_ws_authority_parse(const unsigned char *p, size_t len,
    ngx_neonpro_ws_str_t *host, long *port)
{
    unsigned char         c;
    const unsigned char  *end, *q;

    end = p + len;
    q = p;

    if (q < end && *q == '[') {
        q++;

        while (q < end && *q != ']') {
            c = *q;

            if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a'
                                             && (c | 0x20) <= 'f')
                  || c == ':' || c == '.'))
            {
                return 0;
            }

            q++;
        }

        if (q == end || q - p < 3) {
            return 0;
        }

        q++;

    } else {
        while (q < end && *q != ':') {
            c = *q;

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '-' || c == '.'
                  || c == '_' || c == '~'))
            {
                return 0;
            }

            q++;
        }

        if (q == p) {
            return 0;
        }
    }

    host->data = p;
    host->len = (size_t) (q - p);

    if (q == end) {
        *port = -1;
        return 1;
    }

    if (*q++ != ':' || q == end || end - q > 5) {
        return 0;
    }

    *port = 0;

    while (q < end) {
        if (*q < '0' || *q > '9') {
            return 0;
        }

        *port = *port * 10 + (*q++ - '0');
    }

    return *port <= 65535;
}


static long
ngx_neonpro_ws_default_port(const ngx_neonpro_ws_str_t *scheme)
{
    if (ngx_neonpro_ws_equal_lower(scheme->data, scheme->len, "http")) {
        return 80;
    }

    if (ngx_neonpro_ws_equal_lower(scheme->data, scheme->len, "https")) {
        return 443;
    }

    return -1;
}


/*
 * Parses a serialized origin: scheme "://" host [":" port] and nothing
 * more, so a path, a trailing "/", user information or "null" fail.
 * Returns 1 on success.  A configuration parser can use it to reject a
 * bad allow-list entry before a worker starts.
 */
int
ngx_neonpro_ws_origin_parse(const unsigned char *p, size_t len,
    ngx_neonpro_ws_origin_t *origin)
{
    size_t         i;
    unsigned char  c;

    if (p == NULL || len == 0) {
        return 0;
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), RFC 3986 */

    for (i = 0; i < len && p[i] != ':'; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-'
                            || c == '.'))))
        {
            return 0;
        }
    }

    if (i == 0 || len - i < 3 || p[i + 1] != '/' || p[i + 2] != '/') {
        return 0;
    }

    origin->scheme.data = p;
    origin->scheme.len = i;

    if (!ngx_neonpro_ws_authority_parse(p + i + 3, len - i - 3,
                                        &origin->host, &origin->port))
    {
        return 0;
    }

    if (origin->port == -1) {
        origin->port = ngx_neonpro_ws_default_port(&origin->scheme);
    }

    return 1;
}


static int
ngx_neonpro_ws_origin_equal(const ngx_neonpro_ws_origin_t *a,
    const ngx_neonpro_ws_origin_t *b)
{
    return ngx_neonpro_ws_equal_nocase(&a->scheme, &b->scheme)
           && ngx_neonpro_ws_equal_nocase(&a->host, &b->host)
           && a->port == b->port;
}


/* Compares the origin with the server named by Host and the TLS flag. */
static int
ngx_neonpro_ws_origin_same(const ngx_neonpro_ws_origin_t *origin,
    const unsigned char *host, size_t host_len, int tls)
{
    ngx_neonpro_ws_origin_t  server;

    if (host == NULL) {
        return 0;
    }

    server.scheme.data = (const unsigned char *) (tls ? "https" : "http");
    server.scheme.len = tls ? 5 : 4;

    if (!ngx_neonpro_ws_authority_parse(host, host_len, &server.host,
                                        &server.port))
    {
        return 0;
    }

    if (server.port == -1) {
        server.port = tls ? 443 : 80;
    }

    return ngx_neonpro_ws_origin_equal(origin, &server);
}


/*
 * Returns 1 when a request with this Origin (NULL when absent) may open
 * a WebSocket, else 0 and the caller rejects it with 403.
 *
 * With an allow-list, the Origin must equal an entry: scheme and host
 * case-insensitively, ports as numbers after the scheme's default is
 * filled in, so "https://a.example" and "https://a.example:443" are one
 * origin.  A request without Origin is rejected then.  The opaque origin
 * "null" passes only when the list has the entry "null".
 *
 * With an empty list, a request without Origin passes (a client that is
 * not a browser), and a browser request passes when it is same-origin:
 * scheme http or https by the TLS flag, host and port equal to Host.
 */
int
ngx_neonpro_ws_origin_allowed(const unsigned char *origin, size_t origin_len,
    const unsigned char *host, size_t host_len, int tls,
    const ngx_neonpro_ws_str_t *allow, size_t nallow)
{
    size_t                   i;
    ngx_neonpro_ws_origin_t  parsed, entry;

    if (origin == NULL) {
        return nallow == 0;
    }

    if (origin_len == 4 && memcmp(origin, "null", 4) == 0) {
        for (i = 0; i < nallow; i++) {
            if (allow[i].len == 4 && memcmp(allow[i].data, "null", 4) == 0) {
                return 1;
            }
        }

        return 0;
    }

    if (!ngx_neonpro_ws_origin_parse(origin, origin_len, &parsed)) {
        return 0;
    }

    if (nallow == 0) {
        return ngx_neonpro_ws_origin_same(&parsed, host, host_len, tls);
    }

    for (i = 0; i < nallow; i++) {
        if (ngx_neonpro_ws_origin_parse(allow[i].data, allow[i].len, &entry)
            && ngx_neonpro_ws_origin_equal(&parsed, &entry))
        {
            return 1;
        }
    }

    return 0;
}
