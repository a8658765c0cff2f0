
/*
 * Unit tests of the neonpro.chat.v1 envelopes: every client type valid,
 * every field error, the error messages, and every server envelope
 * builder.  They run without nginx, under AddressSanitizer and UBSan, and
 * end with the line "N passed, N failed".
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ngx_neonpro_chat_envelope.h"
#include "ngx_neonpro_lang.h"


#define SESSION  "\"session_id\":\"sess_1234\""

/* 64 and 65 characters */
#define CHARS_64                                                              \
    "a123456789012345678901234567890123456789012345678901234567890123"
#define CHARS_65  CHARS_64 "4"


/* Returns 1 when a is a string equal to b. */
static int
same(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}


static ngx_neonpro_chat_rc_e
parse(const char *text, size_t max_content, ngx_neonpro_chat_envelope_t *env,
    ngx_neonpro_chat_error_t *err)
{
    return ngx_neonpro_chat_parse((const unsigned char *) text, strlen(text),
                                  max_content, env, err);
}


static void
test_parse_valid(void)
{
    size_t                       i;
    ngx_neonpro_chat_error_t     err;
    ngx_neonpro_chat_envelope_t  env;

    static const struct {
        const char               *text;
        ngx_neonpro_chat_type_e   type;
    } cases[] = {
        { "{\"type\":\"hello\"}", NGX_NEONPRO_CHAT_HELLO },
        { "{\"type\":\"hello\",\"data\":{\"client\":\"web/1.0\"}}",
          NGX_NEONPRO_CHAT_HELLO },
        { "{\"type\":\"heartbeat\"}", NGX_NEONPRO_CHAT_HEARTBEAT },
        { "{\"type\":\"heartbeat\"," SESSION "}", NGX_NEONPRO_CHAT_HEARTBEAT },
        { "{\"type\":\"join\"," SESSION "}", NGX_NEONPRO_CHAT_JOIN },
        { "{\"type\":\"leave\"," SESSION ",\"data\":{}}",
          NGX_NEONPRO_CHAT_LEAVE },
        { "{\"type\":\"message\"," SESSION ",\"data\":{\"content\":\"oi\"}}",
          NGX_NEONPRO_CHAT_MESSAGE },
        { "{\"type\":\"resume\"," SESSION ",\"data\":{\"after_seq\":0}}",
          NGX_NEONPRO_CHAT_RESUME },
        /* unknown fields are ignored */
        { "{\"type\":\"hello\",\"version\":2,\"extra\":[1,{}]}",
          NGX_NEONPRO_CHAT_HELLO },
        { " {\"type\" : \"heartbeat\"}\n", NGX_NEONPRO_CHAT_HEARTBEAT },
        { "{\"id\":\"" CHARS_64 "\",\"type\":\"hello\"}",
          NGX_NEONPRO_CHAT_HELLO },
        { "{\"id\":\"a b ~\",\"type\":\"hello\"}", NGX_NEONPRO_CHAT_HELLO },
        { "{\"type\":\"join\",\"session_id\":\"" CHARS_64 "\"}",
          NGX_NEONPRO_CHAT_JOIN },
        { "{\"type\":\"join\",\"session_id\":\"Ab-_0123\"}",
          NGX_NEONPRO_CHAT_JOIN },
        { "{\"type\":\"hello\",\"ts\":0}", NGX_NEONPRO_CHAT_HELLO },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(parse(cases[i].text, 64, &env, &err) == NGX_NEONPRO_CHAT_OK,
              cases[i].text);
        CHECK(env.type == cases[i].type, cases[i].text);
        CHECK(err.field == NULL, cases[i].text);

        ngx_neonpro_chat_envelope_free(&env);
        CHECK(env.doc == NULL, "doc released");
    }
}


static void
test_parse_fields(void)
{
    ngx_neonpro_chat_error_t     err;
    ngx_neonpro_chat_envelope_t  env;

    /* hello with every common field */

    CHECK(parse("{\"id\":\"c-1\",\"type\":\"hello\",\"ts\":1718000000000}",
                64, &env, &err) == NGX_NEONPRO_CHAT_OK, "hello parsed");
    CHECK(same(env.id, "c-1"), "hello id");
    CHECK(env.id_len == 3, "hello id length");
    CHECK(env.session_id == NULL, "hello without session_id");
    CHECK(env.ts == 1718000000000LL, "hello ts");
    CHECK(env.data == NULL, "hello without data");
    CHECK(env.after_seq == -1, "hello after_seq unset");
    ngx_neonpro_chat_envelope_free(&env);

    /* absent optional fields */

    CHECK(parse("{\"type\":\"heartbeat\"}", 64, &env, &err)
          == NGX_NEONPRO_CHAT_OK, "heartbeat parsed");
    CHECK(env.id == NULL, "heartbeat without id");
    CHECK(env.id_len == 0, "heartbeat id length");
    CHECK(env.ts == -1, "heartbeat without ts");
    CHECK(err.id[0] == '\0', "no id to echo");
    ngx_neonpro_chat_envelope_free(&env);

    /* join: data.agent defaults to true */

    CHECK(parse("{\"type\":\"join\"," SESSION "}", 64, &env, &err)
          == NGX_NEONPRO_CHAT_OK, "join parsed");
    CHECK(same(env.session_id, "sess_1234"), "join session_id");
    CHECK(env.session_id_len == 9, "join session_id length");
    CHECK(env.agent == 1, "join agent by default");
    ngx_neonpro_chat_envelope_free(&env);

    CHECK(parse("{\"type\":\"join\"," SESSION ",\"data\":{\"agent\":false}}",
                64, &env, &err) == NGX_NEONPRO_CHAT_OK, "join agent false");
    CHECK(env.agent == 0, "join without agent");
    ngx_neonpro_chat_envelope_free(&env);

    CHECK(parse("{\"type\":\"join\"," SESSION ",\"data\":{\"agent\":true}}",
                64, &env, &err) == NGX_NEONPRO_CHAT_OK, "join agent true");
    CHECK(env.agent == 1, "join with agent");
    ngx_neonpro_chat_envelope_free(&env);

    /* message: the limit counts bytes, "Olá" is 4 */

    CHECK(parse("{\"type\":\"message\"," SESSION ",\"data\":{\"content\":"
                "\"Ol\\u00e1\"}}", 4, &env, &err) == NGX_NEONPRO_CHAT_OK,
          "message at the limit");
    CHECK(same(env.content, "Ol\xc3\xa1"), "message content");
    CHECK(env.content_len == 4, "message content length");
    CHECK(env.data != NULL, "message data");
    CHECK(env.agent == 0, "message agent unset");
    ngx_neonpro_chat_envelope_free(&env);

    /* resume */

    CHECK(parse("{\"type\":\"resume\"," SESSION ",\"data\":{\"after_seq\":"
                "9007199254740993}}", 64, &env, &err) == NGX_NEONPRO_CHAT_OK,
          "resume parsed");
    CHECK(env.after_seq == 9007199254740993LL, "resume after_seq");
    ngx_neonpro_chat_envelope_free(&env);

    /* free is safe twice and on a failed parse */

    ngx_neonpro_chat_envelope_free(&env);

    CHECK(parse("[]", 64, &env, &err) == NGX_NEONPRO_CHAT_INVALID,
          "failed parse");
    CHECK(env.doc == NULL, "nothing to free");
    ngx_neonpro_chat_envelope_free(&env);
}


static void
test_parse_errors(void)
{
    size_t                       i;
    ngx_neonpro_chat_error_t     err;
    ngx_neonpro_chat_envelope_t  env;

    static const struct {
        const char  *text;
        const char  *field;
    } cases[] = {

        { "", "(json)" },
        { "{", "(json)" },
        { "{\"type\":\"hello\"} x", "(json)" },
        { "{\"type\":\"hello\",}", "(json)" },
        { "{'type':'hello'}", "(json)" },
        /* duplicate keys, U+0000 */
        { "{\"type\":\"hello\",\"type\":\"join\"}", "(json)" },
        { "{\"type\":\"hello\\u0000\"}", "(json)" },
        /* invalid UTF-8 */
        { "{\"type\":\"hello\",\"x\":\"\xc3\"}", "(json)" },

        { "[]", "(envelope)" },
        { "\"hello\"", "(envelope)" },
        { "null", "(envelope)" },
        { "42", "(envelope)" },

        { "{}", "type" },
        { "{\"type\":\"HELLO\"}", "type" },
        { "{\"type\":\"subscribe\"}", "type" },
        { "{\"type\":\"\"}", "type" },
        { "{\"type\":5}", "type" },
        { "{\"type\":null}", "type" },
        { "{\"type\":[\"hello\"]}", "type" },

        { "{\"id\":\"\",\"type\":\"hello\"}", "id" },
        { "{\"id\":\"" CHARS_65 "\",\"type\":\"hello\"}", "id" },
        { "{\"id\":12,\"type\":\"hello\"}", "id" },
        { "{\"id\":null,\"type\":\"hello\"}", "id" },
        { "{\"id\":\"tab\\there\",\"type\":\"hello\"}", "id" },
        { "{\"id\":\"caf\\u00e9\",\"type\":\"hello\"}", "id" },
        { "{\"id\":\"del\\u007f\",\"type\":\"hello\"}", "id" },
        /* "id" is checked before "type" */
        { "{\"id\":1}", "id" },

        { "{\"type\":\"join\"}", "session_id" },
        { "{\"type\":\"leave\"}", "session_id" },
        { "{\"type\":\"message\",\"data\":{\"content\":\"oi\"}}",
          "session_id" },
        { "{\"type\":\"resume\",\"data\":{\"after_seq\":1}}", "session_id" },
        { "{\"type\":\"join\",\"session_id\":\"short\"}", "session_id" },
        { "{\"type\":\"join\",\"session_id\":\"abcdefg\"}", "session_id" },
        { "{\"type\":\"join\",\"session_id\":\"" CHARS_65 "\"}",
          "session_id" },
        { "{\"type\":\"join\",\"session_id\":\"has space 1\"}",
          "session_id" },
        { "{\"type\":\"join\",\"session_id\":\"sess.1234\"}", "session_id" },
        { "{\"type\":\"join\",\"session_id\":12345678}", "session_id" },
        { "{\"type\":\"join\",\"session_id\":null}", "session_id" },
        /* checked when present on a connection-level type */
        { "{\"type\":\"hello\",\"session_id\":\"x\"}", "session_id" },
        { "{\"type\":\"heartbeat\",\"session_id\":7}", "session_id" },

        { "{\"type\":\"hello\",\"ts\":-1}", "ts" },
        { "{\"type\":\"hello\",\"ts\":1.5}", "ts" },
        { "{\"type\":\"hello\",\"ts\":\"2024-06-10T12:00:00Z\"}", "ts" },
        { "{\"type\":\"hello\",\"ts\":null}", "ts" },

        { "{\"type\":\"hello\",\"data\":[]}", "data" },
        { "{\"type\":\"join\"," SESSION ",\"data\":\"x\"}", "data" },
        { "{\"type\":\"message\"," SESSION ",\"data\":null}", "data" },

        { "{\"type\":\"message\"," SESSION "}", "data.content" },
        { "{\"type\":\"message\"," SESSION ",\"data\":{}}", "data.content" },
        { "{\"type\":\"message\"," SESSION ",\"data\":{\"content\":\"\"}}",
          "data.content" },
        { "{\"type\":\"message\"," SESSION ",\"data\":{\"content\":5}}",
          "data.content" },
        { "{\"type\":\"message\"," SESSION ",\"data\":{\"content\":null}}",
          "data.content" },
        { "{\"type\":\"message\"," SESSION ",\"data\":{\"text\":\"oi\"}}",
          "data.content" },

        { "{\"type\":\"resume\"," SESSION "}", "data.after_seq" },
        { "{\"type\":\"resume\"," SESSION ",\"data\":{}}", "data.after_seq" },
        { "{\"type\":\"resume\"," SESSION ",\"data\":{\"after_seq\":-1}}",
          "data.after_seq" },
        { "{\"type\":\"resume\"," SESSION ",\"data\":{\"after_seq\":1.0}}",
          "data.after_seq" },
        { "{\"type\":\"resume\"," SESSION ",\"data\":{\"after_seq\":\"5\"}}",
          "data.after_seq" },

        { "{\"type\":\"join\"," SESSION ",\"data\":{\"agent\":\"yes\"}}",
          "data.agent" },
        { "{\"type\":\"join\"," SESSION ",\"data\":{\"agent\":1}}",
          "data.agent" },
        { "{\"type\":\"join\"," SESSION ",\"data\":{\"agent\":null}}",
          "data.agent" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(parse(cases[i].text, 64, &env, &err)
              == NGX_NEONPRO_CHAT_INVALID, cases[i].text);
        CHECK(same(err.field, cases[i].field), cases[i].text);
        CHECK(env.doc == NULL, cases[i].text);
    }

    /* a NULL buffer of length 0 is invalid JSON, not a crash */

    CHECK(ngx_neonpro_chat_parse(NULL, 0, 64, &env, &err)
          == NGX_NEONPRO_CHAT_INVALID, "NULL input");
    CHECK(same(err.field, "(json)"), "NULL input field");
}


static void
test_parse_limits(void)
{
    char                         message[256];
    ngx_neonpro_chat_error_t     err;
    ngx_neonpro_chat_envelope_t  env;

    /* "Olá" is 4 bytes, over a limit of 3 */

    CHECK(parse("{\"id\":\"m-7\",\"type\":\"message\"," SESSION ",\"data\":"
                "{\"content\":\"Ol\\u00e1\"}}", 3, &env, &err)
          == NGX_NEONPRO_CHAT_INVALID, "content over the limit");
    CHECK(same(err.field, "data.content"), "content over the limit field");
    CHECK(err.limit == 3, "content limit");
    CHECK(strcmp(err.id, "m-7") == 0, "id kept for the reply");

    CHECK(ngx_neonpro_chat_error_message(&err, NGX_NEONPRO_LANG_PICK_EN,
                                         message, sizeof(message)) > 0,
          "size message");
    CHECK(strcmp(message, "Field \"data.content\" exceeds 3 bytes.") == 0,
          message);

    CHECK(ngx_neonpro_chat_error_message(&err, NGX_NEONPRO_LANG_PICK_PT_BR,
                                         message, sizeof(message)) > 0,
          "size message pt-BR");
    CHECK(strcmp(message, "O campo \"data.content\" excede 3 bytes.") == 0,
          message);

    /* jansson's position of the error */

    CHECK(parse("{\"type\":\"hello\",}", 64, &env, &err)
          == NGX_NEONPRO_CHAT_INVALID, "trailing comma");
    CHECK(err.position == 17, "json error position");

    CHECK(ngx_neonpro_chat_error_message(&err, NGX_NEONPRO_LANG_PICK_EN,
                                         message, sizeof(message)) > 0,
          "json message");
    CHECK(strcmp(message, "Invalid JSON at byte 17.") == 0, message);

    /* an invalid "id" is not echoed */

    CHECK(parse("{\"id\":\"\",\"type\":\"join\"}", 64, &env, &err)
          == NGX_NEONPRO_CHAT_INVALID, "empty id");
    CHECK(err.id[0] == '\0', "empty id not kept");

    /* a valid "id" is echoed when a later field fails */

    CHECK(parse("{\"id\":\"" CHARS_64 "\",\"type\":\"join\"}", 64, &env,
                &err) == NGX_NEONPRO_CHAT_INVALID, "join without session");
    CHECK(strcmp(err.id, CHARS_64) == 0, "64-byte id kept");
}


static void
test_error_message(void)
{
    size_t                       i, n;
    char                         message[256], small[8];
    ngx_neonpro_chat_error_t     err;
    ngx_neonpro_chat_envelope_t  env;

    static const char  *failing[] = {
        "{",
        "[]",
        "{\"id\":\"\",\"type\":\"hello\"}",
        "{\"type\":\"x\"}",
        "{\"type\":\"join\"}",
        "{\"type\":\"hello\",\"ts\":-5}",
        "{\"type\":\"hello\",\"data\":1}",
        "{\"type\":\"message\"," SESSION "}",
        "{\"type\":\"resume\"," SESSION "}",
        "{\"type\":\"join\"," SESSION ",\"data\":{\"agent\":0}}",
    };

    /* every message names its field, in both languages */

    for (i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
        CHECK(parse(failing[i], 64, &env, &err) == NGX_NEONPRO_CHAT_INVALID,
              failing[i]);

        if (err.field == NULL) {
            continue;
        }

        n = ngx_neonpro_chat_error_message(&err, NGX_NEONPRO_LANG_PICK_EN,
                                           message, sizeof(message));
        CHECK(n > 0, failing[i]);
        CHECK(n == strlen(message), failing[i]);

        if (err.field[0] != '(') {
            CHECK(strstr(message, err.field) != NULL, message);
        }

        n = ngx_neonpro_chat_error_message(&err, NGX_NEONPRO_LANG_PICK_PT_BR,
                                           message, sizeof(message));
        CHECK(n > 0, failing[i]);
        CHECK(n == strlen(message), failing[i]);

        if (err.field[0] != '(') {
            CHECK(strstr(message, err.field) != NULL, message);
        }
    }

    /* a short buffer is cut and NUL-terminated, the full length returned */

    CHECK(parse("{\"type\":\"join\"}", 64, &env, &err)
          == NGX_NEONPRO_CHAT_INVALID, "join without session");

    n = ngx_neonpro_chat_error_message(&err, NGX_NEONPRO_LANG_PICK_EN, small,
                                       sizeof(small));
    CHECK(n > sizeof(small), "full length returned");
    CHECK(strlen(small) == sizeof(small) - 1, "message cut");

    /* no field, no message */

    memset(&err, 0, sizeof(err));
    CHECK(ngx_neonpro_chat_error_message(&err, NGX_NEONPRO_LANG_PICK_EN,
                                         message, sizeof(message)) == 0,
          "message without a field");
}


static void
test_names(void)
{
    size_t  i;

    static const struct {
        ngx_neonpro_chat_code_e   code;
        const char               *name;
        int                       retryable;
    } codes[] = {
        { NGX_NEONPRO_CHAT_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED", 0 },
        { NGX_NEONPRO_CHAT_AUTHORIZATION_FAILED, "AUTHORIZATION_FAILED", 0 },
        { NGX_NEONPRO_CHAT_INVALID_MESSAGE, "INVALID_MESSAGE", 0 },
        { NGX_NEONPRO_CHAT_RATE_LIMITED, "RATE_LIMITED", 1 },
        { NGX_NEONPRO_CHAT_TIMEOUT, "TIMEOUT", 1 },
        { NGX_NEONPRO_CHAT_SESSION_EXPIRED, "SESSION_EXPIRED", 0 },
        { NGX_NEONPRO_CHAT_AI_SERVICE_ERROR, "AI_SERVICE_ERROR", 1 },
        { NGX_NEONPRO_CHAT_INTERNAL_ERROR, "INTERNAL_ERROR", 1 },
    };

    static const char  *types[] = {
        "hello", "join", "leave", "message", "resume", "heartbeat"
    };

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        CHECK(strcmp(ngx_neonpro_chat_code_name(codes[i].code),
                     codes[i].name) == 0, codes[i].name);
        CHECK(ngx_neonpro_chat_code_retryable(codes[i].code)
              == codes[i].retryable, codes[i].name);
    }

    CHECK(ngx_neonpro_chat_code_name((ngx_neonpro_chat_code_e) 99) == NULL,
          "unknown code");

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        CHECK(strcmp(ngx_neonpro_chat_type_name((ngx_neonpro_chat_type_e) i),
                     types[i]) == 0, types[i]);
    }

    CHECK(ngx_neonpro_chat_type_name((ngx_neonpro_chat_type_e) 6) == NULL,
          "unknown type");
}


/* Compares a built envelope with the expected text, then frees it. */
static void
check_text(char *text, const char *expected, const char *name)
{
    CHECK(text != NULL, name);
    CHECK(same(text, expected), name);

    if (text && strcmp(text, expected) != 0) {
        printf("  got      %s\n  expected %s\n", text, expected);
    }

    free(text);
}


static void
test_build(void)
{
    ngx_neonpro_chat_head_t    head, bare, echo;
    ngx_neonpro_chat_limits_t  limits;

    head.id = NULL;
    head.session_id = "sess_1234";
    head.ts = 1718000000000LL;

    bare.id = NULL;
    bare.session_id = NULL;
    bare.ts = -1;

    echo.id = "c-1";
    echo.session_id = NULL;
    echo.ts = 5;

    limits.max_message_bytes = 1048576;
    limits.max_content_bytes = 16384;
    limits.messages_per_minute = 100;
    limits.heartbeat_seconds = 30;
    limits.idle_seconds = 300;
    limits.session_seconds = -1;

    check_text(ngx_neonpro_chat_build_hello(&echo, "w0-00000001", 3, &limits),
               "{\"id\":\"c-1\",\"type\":\"hello\",\"ts\":5,\"data\":"
               "{\"connection_id\":\"w0-00000001\",\"worker\":3,\"limits\":"
               "{\"max_message_bytes\":1048576,\"max_content_bytes\":16384,"
               "\"messages_per_minute\":100,\"heartbeat_seconds\":30,"
               "\"idle_seconds\":300}}}", "hello");

    check_text(ngx_neonpro_chat_build_joined(&head, 41, 1),
               "{\"type\":\"joined\",\"session_id\":\"sess_1234\","
               "\"ts\":1718000000000,\"data\":{\"last_seq\":41,"
               "\"agent\":true}}", "joined");

    check_text(ngx_neonpro_chat_build_left(&head),
               "{\"type\":\"left\",\"session_id\":\"sess_1234\","
               "\"ts\":1718000000000}", "left");

    check_text(ngx_neonpro_chat_build_message(&head, 42, "u-17", "patient",
                                              "Ol\xc3\xa1 \"dr\"", 9),
               "{\"type\":\"message\",\"session_id\":\"sess_1234\","
               "\"ts\":1718000000000,\"data\":{\"seq\":42,\"user\":"
               "{\"id\":\"u-17\",\"role\":\"patient\"},"
               "\"content\":\"Ol\xc3\xa1 \\\"dr\\\"\"}}", "message");

    check_text(ngx_neonpro_chat_build_message(&bare, 1, NULL, NULL, "x", 1),
               "{\"type\":\"message\",\"data\":{\"seq\":1,\"content\":\"x\"}}",
               "message without user");

    check_text(ngx_neonpro_chat_build_message(&bare, 1, "u-1", NULL, "x", 1),
               "{\"type\":\"message\",\"data\":{\"seq\":1,\"user\":"
               "{\"id\":\"u-1\"},\"content\":\"x\"}}",
               "message without role");

    check_text(ngx_neonpro_chat_build_reply(&bare, 43, "st-9", "Claro", 5),
               "{\"type\":\"message\",\"data\":{\"seq\":43,\"user\":"
               "{\"id\":\"agent\",\"role\":\"assistant\"},"
               "\"content\":\"Claro\",\"stream_id\":\"st-9\"}}",
               "agent reply");

    check_text(ngx_neonpro_chat_build_stream_start(&head, "st-9", 42),
               "{\"type\":\"stream_start\",\"session_id\":\"sess_1234\","
               "\"ts\":1718000000000,\"data\":{\"stream_id\":\"st-9\","
               "\"reply_to\":42}}", "stream_start");

    check_text(ngx_neonpro_chat_build_stream_chunk(&bare, "st-9", 0,
                                                   "Bom dia", 7),
               "{\"type\":\"stream_chunk\",\"data\":{\"stream_id\":\"st-9\","
               "\"index\":0,\"delta\":\"Bom dia\"}}", "stream_chunk");

    check_text(ngx_neonpro_chat_build_stream_end(&head, "st-9", 43),
               "{\"type\":\"stream_end\",\"session_id\":\"sess_1234\","
               "\"ts\":1718000000000,\"data\":{\"stream_id\":\"st-9\","
               "\"seq\":43}}", "stream_end");

    check_text(ngx_neonpro_chat_build_stream_end(&bare, "st-9", -1),
               "{\"type\":\"stream_end\",\"data\":{\"stream_id\":\"st-9\","
               "\"seq\":null}}", "stream_end without seq");

    check_text(ngx_neonpro_chat_build_gap(&head, 5, 9),
               "{\"type\":\"gap\",\"session_id\":\"sess_1234\","
               "\"ts\":1718000000000,\"data\":{\"from_seq\":5,\"to_seq\":9}}",
               "gap");

    check_text(ngx_neonpro_chat_build_error(&echo,
                                            NGX_NEONPRO_CHAT_RATE_LIMITED,
                                            "Too many messages.", -1),
               "{\"id\":\"c-1\",\"type\":\"error\",\"ts\":5,\"data\":"
               "{\"code\":\"RATE_LIMITED\",\"message\":\"Too many messages.\","
               "\"retryable\":true}}", "error with the usual retryable");

    check_text(ngx_neonpro_chat_build_error(NULL,
                                            NGX_NEONPRO_CHAT_INTERNAL_ERROR,
                                            "x", 0),
               "{\"type\":\"error\",\"data\":{\"code\":\"INTERNAL_ERROR\","
               "\"message\":\"x\",\"retryable\":false}}",
               "error without head");

    check_text(ngx_neonpro_chat_build_heartbeat(&echo),
               "{\"id\":\"c-1\",\"type\":\"heartbeat\",\"ts\":5}",
               "heartbeat");

    check_text(ngx_neonpro_chat_build_heartbeat(NULL),
               "{\"type\":\"heartbeat\"}", "heartbeat without head");

    /* a string that is not UTF-8, an unknown code, no message */

    CHECK(ngx_neonpro_chat_build_message(&head, 1, "u-1", "patient",
                                         "\xc3", 1) == NULL,
          "message not UTF-8");
    CHECK(ngx_neonpro_chat_build_stream_chunk(&head, "st-9", 1, "\xe2\x82",
                                              2) == NULL,
          "chunk cut inside a character");
    CHECK(ngx_neonpro_chat_build_error(&head, (ngx_neonpro_chat_code_e) 99,
                                       "x", 0) == NULL, "unknown code");
    CHECK(ngx_neonpro_chat_build_error(&head,
                                       NGX_NEONPRO_CHAT_INTERNAL_ERROR, NULL,
                                       0) == NULL, "error without message");

    /* NUL bytes in content are escaped, not cut */

    check_text(ngx_neonpro_chat_build_stream_chunk(&bare, "s", 2, "a\0b", 3),
               "{\"type\":\"stream_chunk\",\"data\":{\"stream_id\":\"s\","
               "\"index\":2,\"delta\":\"a\\u0000b\"}}", "chunk with NUL");
}


static void
test_build_invalid(void)
{
    ngx_neonpro_chat_error_t     err;
    ngx_neonpro_chat_envelope_t  env;

    CHECK(parse("{\"id\":\"c7\",\"type\":\"join\"}", 64, &env, &err)
          == NGX_NEONPRO_CHAT_INVALID, "join without session");

    check_text(ngx_neonpro_chat_build_invalid(&err, NGX_NEONPRO_LANG_PICK_EN,
                                              12),
               "{\"id\":\"c7\",\"type\":\"error\",\"ts\":12,\"data\":"
               "{\"code\":\"INVALID_MESSAGE\",\"message\":\"Invalid or"
               " missing field \\\"session_id\\\": use 8 to 64 characters"
               " of A-Z, a-z, 0-9, \\\"_\\\" and \\\"-\\\".\","
               "\"retryable\":false}}", "invalid message reply");

    CHECK(parse("{", 64, &env, &err) == NGX_NEONPRO_CHAT_INVALID,
          "invalid JSON");

    check_text(ngx_neonpro_chat_build_invalid(&err,
                                              NGX_NEONPRO_LANG_PICK_PT_BR,
                                              -1),
               "{\"type\":\"error\",\"data\":{\"code\":\"INVALID_MESSAGE\","
               "\"message\":\"JSON inv\xc3\xa1lido no byte 1.\","
               "\"retryable\":false}}", "invalid JSON reply");

    memset(&err, 0, sizeof(err));
    CHECK(ngx_neonpro_chat_build_invalid(&err, NGX_NEONPRO_LANG_PICK_EN, -1)
          == NULL, "no reply without a field");
}


int
main(void)
{
    test_parse_valid();
    test_parse_fields();
    test_parse_errors();
    test_parse_limits();
    test_error_message();
    test_names();
    test_build();
    test_build_invalid();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
