
/*
 * Unit tests of the pure units: Accept-Language negotiation, the
 * structured-field dictionary check of Permissions-Policy, and the agent
 * contract checks.  They run without nginx, under AddressSanitizer and
 * UBSan, and end with the line "N passed, N failed".
 */


#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "check.h"
#include "ngx_neonpro_agent_contract.h"
#include "ngx_neonpro_json.h"
#include "ngx_neonpro_lang.h"
#include "ngx_neonpro_sfv.h"


static void
test_lang(void)
{
    size_t  i;

    static const struct {
        const char  *header;
        int          expected;
    } cases[] = {
        { "", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "en", NGX_NEONPRO_LANG_PICK_EN },
        { "EN-us", NGX_NEONPRO_LANG_PICK_EN },
        { "pt-BR", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "en-US,en;q=0.9", NGX_NEONPRO_LANG_PICK_EN },
        { "pt-BR,en;q=0.5", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "en;q=0.5, pt;q=0.8", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "pt;q=0.4, en;q=0.5", NGX_NEONPRO_LANG_PICK_EN },
        /* a tie goes to Portuguese */
        { "en, pt", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "fr-FR, de", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "*", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "en;q=0", NGX_NEONPRO_LANG_PICK_PT_BR },
        /* "eng" and "english" are not the "en" range */
        { "eng", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "english", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "fr;q=0.9, en;q=0.8", NGX_NEONPRO_LANG_PICK_EN },
        { "en;q=1.000", NGX_NEONPRO_LANG_PICK_EN },
        /* an invalid weight ignores the range */
        { "en;q=2", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "en;q=abc", NGX_NEONPRO_LANG_PICK_PT_BR },
        { "  en  ;  q=0.7 ", NGX_NEONPRO_LANG_PICK_EN },
        { ",,,en", NGX_NEONPRO_LANG_PICK_EN },
        { ";;;", NGX_NEONPRO_LANG_PICK_PT_BR },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_lang_pick((const unsigned char *) cases[i].header,
                                    strlen(cases[i].header))
              == cases[i].expected, cases[i].header);
    }
}


static void
test_sfv(void)
{
    size_t  i;

    static const char  *valid[] = {
        "camera=(self), microphone=(self), geolocation=(), payment=(),"
        " usb=()",
        "geolocation=()",
        "fullscreen=*",
        "camera=(self \"https://a.example\")",
        "camera=self",
        "autoplay=(self);report-to=main",
        "a=?1, b=?0, c=10, d=-3",
        "camera",
        "sync-xhr=(), interest-cohort=()",
    };

    static const struct {
        const char  *value;
        ssize_t      offset;
    } invalid[] = {
        { "", 0 },
        /* the Feature-Policy syntax */
        { "camera 'none'", 7 },
        { "Camera=()", 0 },
        { "camera=(self", 12 },
        { "camera=()  ,", 12 },
        { "camera=(\"unterminated)", 22 },
        { "camera=(self)x", 13 },
        { "camera=(self),,geo=()", 14 },
        { "camera=@", 7 },
        { "camera=\"bad\\q\"", 12 },
    };

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        CHECK(ngx_neonpro_sfv_check_dictionary(
                  (const unsigned char *) valid[i], strlen(valid[i])) == -1,
              valid[i]);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        CHECK(ngx_neonpro_sfv_check_dictionary(
                  (const unsigned char *) invalid[i].value,
                  strlen(invalid[i].value))
              == invalid[i].offset, invalid[i].value);
    }
}


static void
test_contract_case(const char *json, int contract, size_t max_text,
    ngx_neonpro_contract_rc_e expected_rc, const char *expected_field)
{
    json_t                     *doc;
    const char                 *field;
    json_error_t                error;
    ngx_neonpro_contract_rc_e   rc;

    doc = json_loads(json, 0, &error);
    CHECK(doc != NULL, json);

    if (doc == NULL) {
        return;
    }

    rc = ngx_neonpro_contract_check(doc, contract, max_text, &field);

    CHECK(rc == expected_rc, json);

    if (expected_field) {
        CHECK(field != NULL, json);

        if (field) {
            CHECK(strcmp(field, expected_field) == 0, json);
        }

    } else {
        CHECK(field == NULL, json);
    }

    json_decref(doc);
}


static void
test_contract(void)
{
    json_t      *doc, *user;
    const char  *chat = "{\"session_id\":\"sess_1234\","
                        "\"message\":{\"id\":\"m1\",\"content\":\"oi\"}}";

    test_contract_case(chat, NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_OK, NULL);
    test_contract_case("[1,2]", NGX_NEONPRO_CONTRACT_JSON, 16,
                       NGX_NEONPRO_CONTRACT_OK, NULL);
    test_contract_case("[1,2]", NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID,
                       "body");
    test_contract_case("{\"session_id\":\"short\",\"message\":{\"content\":"
                       "\"oi\"}}", NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "session_id");
    test_contract_case("{\"session_id\":\"has space 1\",\"message\":"
                       "{\"content\":\"oi\"}}", NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "session_id");
    test_contract_case("{\"session_id\":12345678,\"message\":{\"content\":"
                       "\"oi\"}}", NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "session_id");
    test_contract_case("{\"session_id\":\"sess_1234\"}",
                       NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "message");
    test_contract_case("{\"session_id\":\"sess_1234\",\"message\":"
                       "{\"content\":\"\"}}", NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "message.content");
    test_contract_case("{\"session_id\":\"sess_1234\",\"message\":"
                       "{\"content\":42}}", NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "message.content");
    test_contract_case("{\"session_id\":\"sess_1234\",\"message\":"
                       "{\"content\":\"0123456789abcdefX\"}}",
                       NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_TOO_LARGE, "message.content");
    test_contract_case("{\"session_id\":\"sess_1234\",\"message\":"
                       "{\"content\":\"oi\"},\"stream\":\"yes\"}",
                       NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "stream");
    test_contract_case("{\"session_id\":\"sess_1234\",\"message\":"
                       "{\"content\":\"oi\"},\"history\":{}}",
                       NGX_NEONPRO_CONTRACT_CHAT, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "history");
    test_contract_case("{\"query\":\"consultas\"}",
                       NGX_NEONPRO_CONTRACT_QUERY, 16,
                       NGX_NEONPRO_CONTRACT_OK, NULL);
    test_contract_case("{\"query\":\"\"}", NGX_NEONPRO_CONTRACT_QUERY, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "query");
    test_contract_case("{\"query\":\"x\",\"context\":[]}",
                       NGX_NEONPRO_CONTRACT_QUERY, 16,
                       NGX_NEONPRO_CONTRACT_INVALID, "context");

    CHECK(ngx_neonpro_session_id_valid("abcdefgh", 8), "8 characters");
    CHECK(!ngx_neonpro_session_id_valid("abcdefg", 7), "7 characters");
    CHECK(ngx_neonpro_session_id_valid(
              "a123456789012345678901234567890123456789012345678901234567890"
              "123", 64), "64 characters");
    CHECK(!ngx_neonpro_session_id_valid(
              "a123456789012345678901234567890123456789012345678901234567890"
              "1234", 65), "65 characters");

    /* the client's user is replaced, never merged */

    doc = json_loads("{\"user\":{\"id\":\"admin\",\"role\":\"ADMIN\","
                     "\"extra\":1}}", 0, NULL);
    CHECK(ngx_neonpro_contract_set_user(doc, "anonymous", "anonymous", NULL)
          == 0, "set user");

    user = json_object_get(doc, "user");
    CHECK(strcmp(json_string_value(json_object_get(user, "id")),
                 "anonymous") == 0, "user id replaced");
    CHECK(json_is_null(json_object_get(user, "clinic_id")),
          "clinic_id is null");
    CHECK(json_object_get(user, "extra") == NULL, "client fields dropped");

    json_decref(doc);
}


static void
test_json_nesting(size_t depth, int expected)
{
    char    *text;
    size_t   i;

    text = malloc(2 * depth);
    if (text == NULL) {
        failed++;
        return;
    }

    for (i = 0; i < depth; i++) {
        text[i] = '[';
        text[2 * depth - 1 - i] = ']';
    }

    CHECK(ngx_neonpro_json_valid((unsigned char *) text, 2 * depth)
          == expected, "nesting depth");

    free(text);
}


static void
test_json(void)
{
    size_t  i;

    static const struct {
        const char  *text;
        size_t       len;
        int          expected;
    } cases[] = {
        { "{\"query\":\"consultas\",\"context\":{}}", 0, 1 },
        { "\"just a string\"", 0, 1 },
        { "42", 0, 1 },
        { "null", 0, 1 },
        { " [ 1 , -2.5e+3 , true , false , null ] ", 0, 1 },
        { "{\"a\":{\"b\":[{}]}}", 0, 1 },
        { "123456789012345678901234567890", 0, 1 },
        { "\"\\u00e9 \\ud83d\\ude00 \\u0000\"", 0, 1 },
        { "\"\xc3\xa9\"", 0, 1 },
        { "", 0, 0 },
        { "   ", 0, 0 },
        { "{", 0, 0 },
        { "{\"a\" 1}", 0, 0 },
        { "{\"a\":1,}", 0, 0 },
        { "[1,]", 0, 0 },
        { "[1 2]", 0, 0 },
        { "01", 0, 0 },
        { "1.", 0, 0 },
        { "-", 0, 0 },
        { "1e", 0, 0 },
        { "tru", 0, 0 },
        { "nul", 0, 0 },
        { "{} {}", 0, 0 },
        { "{1:2}", 0, 0 },
        { "\"tab\there\"", 0, 0 },
        { "\"\\x\"", 0, 0 },
        /* a lone surrogate, and U+0000 in a key */
        { "\"\\ud800\"", 0, 0 },
        { "\"\\udc00\"", 0, 0 },
        { "{\"a\\u0000\":1}", 0, 0 },
        /* overlong UTF-8, a UTF-8 surrogate, a cut sequence */
        { "\"\xc0\xaf\"", 0, 0 },
        { "\"\xed\xa0\x80\"", 0, 0 },
        { "\"\xe2\x82\"", 0, 0 },
        /* a raw NUL byte between tokens */
        { "[1,4\0]", 6, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ngx_neonpro_json_valid((const unsigned char *) cases[i].text,
                                     cases[i].len ? cases[i].len
                                                  : strlen(cases[i].text))
              == cases[i].expected, cases[i].text);
    }

    test_json_nesting(NGX_NEONPRO_JSON_MAX_DEPTH, 1);
    test_json_nesting(NGX_NEONPRO_JSON_MAX_DEPTH + 1, 0);
}


int
main(void)
{
    test_json();
    test_lang();
    test_sfv();
    test_contract();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
