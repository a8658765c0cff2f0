
/*
 * Unit tests of the WebSocket handshake checks: Connection and Upgrade
 * lists, Sec-WebSocket-Version, Sec-WebSocket-Key and the Accept value,
 * subprotocol selection with bearer elements, and the Origin rule.  They
 * run without nginx, under AddressSanitizer and UBSan, and end with the
 * line "N passed, N failed".
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ngx_neonpro_ws_handshake.h"


#define U(s)    ((const unsigned char *) (s))
#define LEN(s)  ((s) ? strlen(s) : 0)


static void
test_connection(void)
{
    size_t  i;

    static const struct {
        const char  *value;
        int          expected;
    } cases[] = {
        { "Upgrade", 1 },
        { "upgrade", 1 },
        { "UPGRADE", 1 },
        /* what browsers send */
        { "keep-alive, Upgrade", 1 },
        { "keep-alive,Upgrade", 1 },
        { "Upgrade, keep-alive", 1 },
        { " \tupgrade\t ", 1 },
        { ",, upgrade ,,", 1 },
        { "close, keep-alive, Upgrade, x", 1 },
        { "keep-alive", 0 },
        { "close", 0 },
        { "upgrades", 0 },
        { "x-upgrade", 0 },
        { "up grade", 0 },
        { "keep-alive upgrade", 0 },
        { "", 0 },
        { " , ", 0 },
        { NULL, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_connection_upgrade(U(cases[i].value),
                                                LEN(cases[i].value))
              == cases[i].expected,
              cases[i].value ? cases[i].value : "(absent)");
    }
}


static void
test_upgrade(void)
{
    size_t  i;

    static const struct {
        const char                *value;
        ngx_neonpro_ws_upgrade_e   expected;
    } cases[] = {
        { "websocket", NGX_NEONPRO_WS_UPGRADE_WEBSOCKET },
        { "WebSocket", NGX_NEONPRO_WS_UPGRADE_WEBSOCKET },
        { " websocket ", NGX_NEONPRO_WS_UPGRADE_WEBSOCKET },
        { "h2c, websocket", NGX_NEONPRO_WS_UPGRADE_WEBSOCKET },
        { "websocket, h2c", NGX_NEONPRO_WS_UPGRADE_WEBSOCKET },
        { "HTTP/2.0, WEBSOCKET", NGX_NEONPRO_WS_UPGRADE_WEBSOCKET },
        /* never tunneled */
        { "h2c", NGX_NEONPRO_WS_UPGRADE_OTHER },
        { "HTTP/2.0", NGX_NEONPRO_WS_UPGRADE_OTHER },
        { "h2c, HTTP/2.0", NGX_NEONPRO_WS_UPGRADE_OTHER },
        { "websocket/13", NGX_NEONPRO_WS_UPGRADE_OTHER },
        { "websockets", NGX_NEONPRO_WS_UPGRADE_OTHER },
        { "", NGX_NEONPRO_WS_UPGRADE_NONE },
        { " , ,", NGX_NEONPRO_WS_UPGRADE_NONE },
        { NULL, NGX_NEONPRO_WS_UPGRADE_NONE },
        { "web socket", NGX_NEONPRO_WS_UPGRADE_INVALID },
        { "websocket/", NGX_NEONPRO_WS_UPGRADE_INVALID },
        { "/13", NGX_NEONPRO_WS_UPGRADE_INVALID },
        { "h2c/1/2", NGX_NEONPRO_WS_UPGRADE_INVALID },
        { "websocket, @", NGX_NEONPRO_WS_UPGRADE_INVALID },
        { "\"websocket\"", NGX_NEONPRO_WS_UPGRADE_INVALID },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_upgrade(U(cases[i].value), LEN(cases[i].value))
              == cases[i].expected,
              cases[i].value ? cases[i].value : "(absent)");
    }
}


static void
test_version(void)
{
    size_t  i;

    static const struct {
        const char  *value;
        int          expected;
    } cases[] = {
        { "13", 1 },
        { " 13\t", 1 },
        { "8", 0 },
        { "7", 0 },
        { "14", 0 },
        { "1", 0 },
        { "013", 0 },
        { "13, 8", 0 },
        { "1 3", 0 },
        { "", 0 },
        { NULL, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_version_valid(U(cases[i].value),
                                           LEN(cases[i].value))
              == cases[i].expected,
              cases[i].value ? cases[i].value : "(absent)");
    }
}


static void
test_key(void)
{
    size_t  i;

    static const struct {
        const char  *value;
        int          expected;
    } cases[] = {
        /* RFC 6455, section 1.3 */
        { "dGhlIHNhbXBsZSBub25jZQ==", 1 },
        { "x3JJHMbDL1EzLkh9GBhXDw==", 1 },
        { "AAECAwQFBgcICQoLDA0ODw==", 1 },
        { "AAAAAAAAAAAAAAAAAAAAAA==", 1 },
        { "////////////////////+w==", 1 },
        { " dGhlIHNhbXBsZSBub25jZQ==\t", 1 },
        /* 15 and 17 bytes */
        { "AAECAwQFBgcICQoLDA0O", 0 },
        { "AAECAwQFBgcICQoLDA0ODxA=", 0 },
        /* 16 bytes without padding, one "=" too few, padding inside */
        { "dGhlIHNhbXBsZSBub25jZQ", 0 },
        { "dGhlIHNhbXBsZSBub25jZQ=", 0 },
        { "dGhlIHNhbXBsZSBub2==ZQ==", 0 },
        /* pad bits set: "R" decodes to the same 16 bytes as "Q" */
        { "dGhlIHNhbXBsZSBub25jZR==", 0 },
        /* the base64url alphabet, a stray character, inner whitespace */
        { "dGhlIHNhbXBsZSBub25j_Q==", 0 },
        { "dGhlIHNhbXBsZSBub25j-Q==", 0 },
        { "dGhlIHNhbXBsZSBub25j*Q==", 0 },
        { "dGhlIHNhbXBs ZSBub25jZQ==", 0 },
        { "dGhlIHNhbXBsZSBub25jZQ=!", 0 },
        { "========================", 0 },
        { "", 0 },
        { NULL, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_key_valid(U(cases[i].value), LEN(cases[i].value))
              == cases[i].expected,
              cases[i].value ? cases[i].value : "(absent)");
    }
}


static void
test_accept(void)
{
    size_t          i;
    unsigned char  *accept;

    static const struct {
        const char  *key;
        const char  *accept;
    } cases[] = {
        /* RFC 6455, section 1.3 */
        { "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
        { "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=" },
        { "AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=" },
        /* whitespace around the key is not hashed */
        { "  dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
    };

    /* exactly NGX_NEONPRO_WS_ACCEPT_LEN bytes, so ASan reports an overrun */
    accept = malloc(NGX_NEONPRO_WS_ACCEPT_LEN);
    if (accept == NULL) {
        failed++;
        return;
    }

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_accept(U(cases[i].key), strlen(cases[i].key),
                                    accept) == 0, cases[i].key);
        CHECK(memcmp(accept, cases[i].accept, NGX_NEONPRO_WS_ACCEPT_LEN)
              == 0, cases[i].key);
    }

    memset(accept, 'x', NGX_NEONPRO_WS_ACCEPT_LEN);

    CHECK(ngx_neonpro_ws_accept(U("AAECAwQFBgcICQoLDA0O"), 20, accept) == -1,
          "accept of a 15-byte key");
    CHECK(accept[0] == 'x', "accept untouched on an invalid key");

    free(accept);
}


static void
test_protocol_select(void)
{
    size_t  i;

    static const struct {
        const char                 *value;
        const char                 *protocol;
        ngx_neonpro_ws_protocol_e   expected;
    } cases[] = {
        { "neonpro.chat.v1", NULL, NGX_NEONPRO_WS_PROTOCOL_SELECTED },
        { "neonpro.chat.v1", "neonpro.chat.v1",
          NGX_NEONPRO_WS_PROTOCOL_SELECTED },
        { "bearer.eyJhbGciOi.eyJzdWIi.c2ln, neonpro.chat.v1", NULL,
          NGX_NEONPRO_WS_PROTOCOL_SELECTED },
        { " neonpro.chat.v1 ,bearer.abc", NULL,
          NGX_NEONPRO_WS_PROTOCOL_SELECTED },
        { "chat, neonpro.chat.v1, superchat", NULL,
          NGX_NEONPRO_WS_PROTOCOL_SELECTED },
        { "chat, superchat", "superchat", NGX_NEONPRO_WS_PROTOCOL_SELECTED },
        /* names are case-sensitive */
        { "NeonPro.Chat.V1", NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        { "neonpro.chat.v2", NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        { "neonpro.chat", NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        { "neonpro.chat.v1x", NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        { "bearer.abc", NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        { "chat, superchat", NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        { "", NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        { NULL, NULL, NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        /* a bearer element is never selected, even when requested */
        { "bearer.abc", "bearer.abc", NGX_NEONPRO_WS_PROTOCOL_NOT_OFFERED },
        /* "/" and "=" are not token characters */
        { "neonpro.chat.v1, bearer.a/b==", NULL,
          NGX_NEONPRO_WS_PROTOCOL_INVALID },
        { "neonpro.chat.v1 x", NULL, NGX_NEONPRO_WS_PROTOCOL_INVALID },
        { "\"neonpro.chat.v1\"", NULL, NGX_NEONPRO_WS_PROTOCOL_INVALID },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_protocol_select(U(cases[i].value),
                                             LEN(cases[i].value),
                                             U(cases[i].protocol),
                                             LEN(cases[i].protocol))
              == cases[i].expected,
              cases[i].value ? cases[i].value : "(absent)");
    }
}


static void
test_protocol_bearer(void)
{
    size_t                i, token_len;
    const unsigned char  *token;

    static const struct {
        const char  *value;
        int          expected;
        const char  *token;
    } cases[] = {
        { "bearer.abc", 1, "abc" },
        { "neonpro.chat.v1, bearer.eyJhbGciOi.eyJzdWIi.c2ln-_x", 1,
          "eyJhbGciOi.eyJzdWIi.c2ln-_x" },
        { "bearer.first, bearer.second", 1, "first" },
        { " bearer.tok ,neonpro.chat.v1", 1, "tok" },
        { "neonpro.chat.v1", 0, NULL },
        { "Bearer.abc", 0, NULL },
        { "bearer", 0, NULL },
        { "", 0, NULL },
        { NULL, 0, NULL },
        { "bearer.", -1, NULL },
        { "bearer., bearer.abc", -1, NULL },
        { "bearer.a=b", -1, NULL },
        { "bearer.abc, bad value", -1, NULL },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_protocol_bearer(U(cases[i].value),
                                             LEN(cases[i].value), &token,
                                             &token_len)
              == cases[i].expected,
              cases[i].value ? cases[i].value : "(absent)");

        if (cases[i].token == NULL) {
            CHECK(token == NULL, "no bearer token");
            CHECK(token_len == 0, "no bearer token length");
            continue;
        }

        CHECK(token_len == strlen(cases[i].token), cases[i].value);

        if (token_len == strlen(cases[i].token)) {
            CHECK(memcmp(token, cases[i].token, token_len) == 0,
                  cases[i].value);
        }

        /* the token points into the header value */

        CHECK(token > U(cases[i].value), cases[i].value);
        CHECK(token + token_len <= U(cases[i].value) + LEN(cases[i].value),
              cases[i].value);
    }
}


static void
test_origin_parse(void)
{
    size_t                   i;
    ngx_neonpro_ws_origin_t  origin;

    static const struct {
        const char  *value;
        int          expected;
        long         port;
    } cases[] = {
        { "https://app.example.com.br", 1, 443 },
        { "http://app.example.com.br", 1, 80 },
        { "HTTP://localhost:3000", 1, 3000 },
        { "http://[::1]:8080", 1, 8080 },
        { "https://[2001:db8::1]", 1, 443 },
        { "http://127.0.0.1:0", 1, 0 },
        { "https://a.example:65535", 1, 65535 },
        { "chrome-extension://abcdef", 1, -1 },
        { "null", 0, 0 },
        { "", 0, 0 },
        { "https://", 0, 0 },
        { "https:/app.example", 0, 0 },
        { "app.example.com.br", 0, 0 },
        { "https://app.example.com.br/", 0, 0 },
        { "https://app.example.com.br/path", 0, 0 },
        { "https://user@app.example.com.br", 0, 0 },
        { "https://app.example.com.br:", 0, 0 },
        { "https://app.example.com.br:65536", 0, 0 },
        { "https://app.example.com.br:443443", 0, 0 },
        { "https://app.example.com.br:-1", 0, 0 },
        { "https://[::1", 0, 0 },
        { "https://[]", 0, 0 },
        { "https://[::g]", 0, 0 },
        { "1http://a.example", 0, 0 },
        { "https://app%2Eexample", 0, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_origin_parse(U(cases[i].value),
                                          strlen(cases[i].value), &origin)
              == cases[i].expected, cases[i].value);

        if (cases[i].expected) {
            CHECK(origin.port == cases[i].port, cases[i].value);
        }
    }
}


static void
test_origin_allowed(void)
{
    size_t  i;

    static const ngx_neonpro_ws_str_t  list_app[] = {
        { U("https://app.example.com.br"), 26 },
        { U("http://localhost:3000"), 21 },
    };

    static const ngx_neonpro_ws_str_t  list_null[] = {
        { U("https://app.example.com.br"), 26 },
        { U("null"), 4 },
    };

    static const struct {
        const char                  *origin;
        const char                  *host;
        int                          tls;
        const ngx_neonpro_ws_str_t  *allow;
        size_t                       nallow;
        int                          expected;
    } cases[] = {

        /* an allow-list */

        { "https://app.example.com.br", "api.example.com.br", 1,
          list_app, 2, 1 },
        { "HTTPS://APP.Example.com.br", "api.example.com.br", 1,
          list_app, 2, 1 },
        { "https://app.example.com.br:443", "api.example.com.br", 1,
          list_app, 2, 1 },
        { "https://app.example.com.br:8443", "api.example.com.br", 1,
          list_app, 2, 0 },
        { "http://app.example.com.br", "api.example.com.br", 1,
          list_app, 2, 0 },
        { "https://evil.example.com.br", "api.example.com.br", 1,
          list_app, 2, 0 },
        { "https://app.example.com.br.evil.example", "api.example.com.br", 1,
          list_app, 2, 0 },
        { "https://app.example.com.br/", "api.example.com.br", 1,
          list_app, 2, 0 },
        { "http://localhost:3000", "api.example.com.br", 1,
          list_app, 2, 1 },
        { "http://localhost:3001", "api.example.com.br", 1,
          list_app, 2, 0 },
        { "http://localhost", "api.example.com.br", 1, list_app, 2, 0 },
        /* same-origin does not matter once a list is set */
        { "https://api.example.com.br", "api.example.com.br", 1,
          list_app, 2, 0 },
        { NULL, "api.example.com.br", 1, list_app, 2, 0 },
        { "", "api.example.com.br", 1, list_app, 2, 0 },
        { "null", "api.example.com.br", 1, list_app, 2, 0 },
        { "null", "api.example.com.br", 1, list_null, 2, 1 },
        { "NULL", "api.example.com.br", 1, list_null, 2, 0 },

        /* an empty list: same-origin or no Origin */

        { NULL, "api.example.com.br", 1, NULL, 0, 1 },
        { NULL, NULL, 0, NULL, 0, 1 },
        { "https://api.example.com.br", "api.example.com.br", 1,
          NULL, 0, 1 },
        { "https://api.example.com.br", "api.example.com.br:443", 1,
          NULL, 0, 1 },
        { "https://API.example.com.br", "api.EXAMPLE.com.br", 1,
          NULL, 0, 1 },
        { "https://api.example.com.br", "api.example.com.br", 0,
          NULL, 0, 0 },
        { "http://api.example.com.br", "api.example.com.br", 0,
          NULL, 0, 1 },
        { "http://api.example.com.br", "api.example.com.br", 1,
          NULL, 0, 0 },
        { "http://api.example.com.br:8080", "api.example.com.br:8080", 0,
          NULL, 0, 1 },
        { "http://api.example.com.br:8080", "api.example.com.br", 0,
          NULL, 0, 0 },
        { "http://api.example.com.br", "api.example.com.br:8080", 0,
          NULL, 0, 0 },
        { "https://app.example.com.br", "api.example.com.br", 1,
          NULL, 0, 0 },
        { "http://[::1]:8080", "[::1]:8080", 0, NULL, 0, 1 },
        { "http://[::1]:8080", "[::1]:8081", 0, NULL, 0, 0 },
        { "null", "api.example.com.br", 1, NULL, 0, 0 },
        { "https://api.example.com.br", NULL, 1, NULL, 0, 0 },
        { "https://api.example.com.br", "", 1, NULL, 0, 0 },
        { "https://api.example.com.br", "api.example.com.br:99999", 1,
          NULL, 0, 0 },
        { "https://api.example.com.br", "api.example.com.br/x", 1,
          NULL, 0, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_ws_origin_allowed(U(cases[i].origin),
                                            LEN(cases[i].origin),
                                            U(cases[i].host),
                                            LEN(cases[i].host),
                                            cases[i].tls, cases[i].allow,
                                            cases[i].nallow)
              == cases[i].expected,
              cases[i].origin ? cases[i].origin : "(absent)");
    }
}


int
main(void)
{
    test_connection();
    test_upgrade();
    test_version();
    test_key();
    test_accept();
    test_protocol_select();
    test_protocol_bearer();
    test_origin_parse();
    test_origin_allowed();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
