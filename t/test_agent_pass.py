"""Requests through neonpro_agent_pass: headers, request checks and keepalive.

The contract is the "Agent upstream handler" section of docs/directives.md.
nginx sets the chat `user`, keeps identity headers from the agent, and
validates or generates X-Request-Id. Bodies must be JSON of a bounded size,
and the chat and query contracts name the failing field. No request that
nginx rejects may reach the agent, which the tests check with the reference
agent's request log.
"""

import json

import pytest

from agent_support import (
    ANONYMOUS_USER,
    GENERATED_REQUEST_ID,
    JSON_ERROR_TYPE,
    SESSION_ID,
    agent_config,
    assert_json_error,
    chat_body,
    established_sockets,
    expected_reply,
    worker_crashes,
)

# Small limits, so that the size checks need only small bodies.
LIMITS = """
    client_max_body_size 1k;
    neonpro_agent_max_message_length 32;
"""

CONFIG = agent_config(server_extra=LIMITS)

JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def ng(nginx, clean_agent):
    return nginx(CONFIG)


def post_raw(ng, path, body, headers=None):
    return ng.post(path, content=body, headers={**JSON_HEADERS, **(headers or {})})


# --- Chat round trip and the user field ------------------------------------


def test_chat_round_trip(ng, clean_agent):
    response = ng.post("/v1/chat", json=chat_body("Olá"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    reply = response.json()
    assert reply["session_id"] == SESSION_ID
    assert reply["message"]["role"] == "assistant"
    assert reply["message"]["content"] == expected_reply("Olá")
    assert reply["received_user"] == ANONYMOUS_USER

    received = clean_agent.requests()
    assert len(received) == 1
    assert received[0]["method"] == "POST"
    assert received[0]["path"] == "/v1/chat"
    assert received[0]["body"]["message"] == {"id": "msg-client-1", "content": "Olá"}


@pytest.mark.parametrize(
    "client_user",
    [
        {"id": "u-42", "role": "admin", "clinic_id": "clinic-sp-01"},
        {"id": "anonymous"},
        "admin",
        None,
    ],
    ids=["admin-object", "partial-object", "string", "null"],
)
def test_chat_user_replaced(ng, clean_agent, client_user):
    response = ng.post("/v1/chat", json=chat_body(user=client_user))

    assert response.status_code == 200
    assert response.json()["received_user"] == ANONYMOUS_USER
    assert clean_agent.requests()[0]["body"]["user"] == ANONYMOUS_USER


def test_chat_user_set_when_absent(ng, clean_agent):
    body = chat_body()
    assert "user" not in body

    response = ng.post("/v1/chat", json=body)

    assert response.status_code == 200
    assert response.json()["received_user"] == ANONYMOUS_USER


def test_chat_keeps_other_fields(ng, clean_agent):
    history = [{"role": "user", "content": "Oi"}, {"role": "assistant", "content": "Olá!"}]
    body = chat_body("E agora?", history=history, locale="en-US", extra={"a": [1, 2]})

    response = ng.post("/v1/chat", json=body)

    assert response.status_code == 200
    sent = clean_agent.requests()[0]["body"]
    assert sent["history"] == history
    assert sent["locale"] == "en-US"
    assert sent["extra"] == {"a": [1, 2]}
    assert sent["session_id"] == SESSION_ID


# --- Request headers ---------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["X-User-Id", "X-Clinic-Id", "X-Role", "x-user-id", "X-ROLE"],
)
def test_identity_header_not_forwarded(ng, clean_agent, name):
    response = ng.post("/v1/chat", json=chat_body(), headers={name: "forged-value"})

    assert response.status_code == 200
    received = clean_agent.requests()[0]["headers"]
    assert name.lower() not in received


def test_identity_headers_dropped_on_json_contract(ng, clean_agent):
    forged = {"X-User-Id": "u-1", "X-Clinic-Id": "clinic-1", "X-Role": "admin"}

    response = ng.get("/api/echo-headers", headers=forged)

    assert response.status_code == 200
    echoed = response.json()["headers"]
    assert "x-user-id" not in echoed
    assert "x-clinic-id" not in echoed
    assert "x-role" not in echoed


def test_client_headers_forwarded(ng, clean_agent):
    headers = {
        "Accept-Language": "en-US,en;q=0.9",
        "X-Trace": "trace-7f3a",
        "Authorization": "Bearer test-token",
        "X-LGPD-Purpose": "medical_care",
    }

    response = ng.post("/v1/chat", json=chat_body(), headers=headers)

    assert response.status_code == 200
    received = clean_agent.requests()[0]["headers"]
    for name, value in headers.items():
        assert received.get(name.lower()) == value, name


@pytest.mark.parametrize(
    "name, value",
    [
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Upgrade", "h2c"),
    ],
)
def test_hop_by_hop_header_not_forwarded(ng, clean_agent, name, value):
    response = ng.post("/v1/chat", json=chat_body(), headers={name: value})

    assert response.status_code == 200
    assert name.lower() not in clean_agent.requests()[0]["headers"]


def test_client_connection_close_not_forwarded(ng, clean_agent):
    response = ng.post("/v1/chat", json=chat_body(), headers={"Connection": "close"})

    assert response.status_code == 200
    assert clean_agent.requests()[0]["headers"].get("connection") != "close"


def test_connection_option_header_not_forwarded(ng, clean_agent):
    # RFC 9110 section 7.6.1: a header named in Connection is hop-by-hop
    # for this one connection, so a proxy removes it before forwarding.
    headers = {"Connection": "keep-alive, X-Hop-Only", "X-Hop-Only": "1"}

    response = ng.post("/v1/chat", json=chat_body(), headers=headers)

    assert response.status_code == 200
    assert "x-hop-only" not in clean_agent.requests()[0]["headers"]


# --- X-Request-Id -------------------------------------------------------------


VALID_REQUEST_IDS = [
    "abc",
    "req.2026-12-04_0001",
    "A",
    "a" * 128,
]


@pytest.mark.parametrize("request_id", VALID_REQUEST_IDS, ids=["short", "all-classes", "one", "128"])
@pytest.mark.parametrize("path", ["/v1/chat", "/api/agent/query"])
def test_request_id_passed_through(ng, clean_agent, path, request_id):
    body = chat_body() if path == "/v1/chat" else {"query": "consultas de hoje"}

    response = ng.post(path, json=body, headers={"X-Request-Id": request_id})

    assert response.status_code == 200
    assert response.headers.get("x-request-id") == request_id
    assert clean_agent.requests()[0]["headers"].get("x-request-id") == request_id


INVALID_REQUEST_IDS = [
    "has space",
    "a" * 129,
    "slash/inside",
    "semi;colon",
    "",
]


@pytest.mark.parametrize(
    "request_id", INVALID_REQUEST_IDS, ids=["space", "129", "slash", "semicolon", "empty"]
)
def test_invalid_request_id_replaced(ng, clean_agent, request_id):
    response = ng.post("/v1/chat", json=chat_body(), headers={"X-Request-Id": request_id})

    assert response.status_code == 200
    returned = response.headers.get("x-request-id")
    assert returned is not None
    assert GENERATED_REQUEST_ID.fullmatch(returned), returned
    assert clean_agent.requests()[0]["headers"].get("x-request-id") == returned


@pytest.mark.parametrize(
    "method, path",
    [("POST", "/v1/chat"), ("POST", "/api/agent/query"), ("GET", "/api/echo-headers")],
)
def test_request_id_generated(ng, clean_agent, method, path):
    body = {"/v1/chat": chat_body(), "/api/agent/query": {"query": "pagamentos"}}.get(path)

    first = ng.request(method, path, json=body)
    second = ng.request(method, path, json=body)

    assert first.status_code == 200
    assert second.status_code == 200
    first_id = first.headers.get("x-request-id")
    second_id = second.headers.get("x-request-id")
    assert first_id is not None
    assert GENERATED_REQUEST_ID.fullmatch(first_id), first_id
    assert GENERATED_REQUEST_ID.fullmatch(second_id), second_id
    assert first_id != second_id

    received = [entry["headers"].get("x-request-id") for entry in clean_agent.requests()]
    assert received == [first_id, second_id]


def test_request_id_single_value(ng, clean_agent):
    response = ng.post("/v1/chat", json=chat_body(), headers={"X-Request-Id": "trace-1"})

    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == ["trace-1"]
    assert clean_agent.requests()[0]["headers"]["x-request-id"] == "trace-1"


REQUEST_ID_ERROR_CASES = [
    ("415", "POST", "/v1/chat", {"Content-Type": "text/plain"}, b"{}", 415),
    ("400-json", "POST", "/v1/chat", JSON_HEADERS, b"{", 400),
    ("400-field", "POST", "/v1/chat", JSON_HEADERS, b'{"session_id":"x"}', 400),
    ("413-field", "POST", "/api/agent/query", JSON_HEADERS, b'{"query":"' + b"q" * 40 + b'"}', 413),
    ("413-body", "POST", "/v1/chat", JSON_HEADERS, b'{"p":"' + b"x" * 2000 + b'"}', 413),
    ("405", "GET", "/v1/chat", {}, None, 405),
]


@pytest.mark.parametrize(
    "method, path, headers, body, status",
    [case[1:] for case in REQUEST_ID_ERROR_CASES],
    ids=[case[0] for case in REQUEST_ID_ERROR_CASES],
)
def test_request_id_on_rejection(ng, clean_agent, method, path, headers, body, status):
    # A client needs the id of a rejected request as much as that of a
    # passed one, to match it with the server's logs.
    headers = {**headers, "X-Request-Id": "trace-rejected-1"}

    response = ng.request(method, path, content=body, headers=headers)

    assert response.status_code == status
    assert response.headers.get("x-request-id") == "trace-rejected-1"


# --- HTTP/1.1 keepalive to the agent ----------------------------------------


def test_agent_connection_reused(ng, clean_agent):
    (worker_pid,) = ng.worker_pids()
    local_ports = set()
    statuses = []

    for index in range(20):
        response = ng.post("/v1/chat", json=chat_body(f"mensagem {index}"))
        statuses.append(response.status_code)
        local_ports |= established_sockets(worker_pid, clean_agent.port)

    assert statuses == [200] * 20
    # One keepalive connection carries every sequential request.
    assert len(local_ports) == 1, local_ports

    received = clean_agent.requests()
    assert [entry["body"]["message"]["content"] for entry in received] == [
        f"mensagem {index}" for index in range(20)
    ]
    for entry in received:
        assert entry["headers"].get("connection", "").lower() != "close"


def test_keepalive_mixed_locations(ng, clean_agent):
    sequence = [
        ("POST", "/v1/chat", chat_body()),
        ("GET", "/api/echo-headers", None),
        ("POST", "/api/agent/query", {"query": "consultas de hoje"}),
    ] * 7

    statuses = [ng.request(method, path, json=body).status_code for method, path, body in sequence]

    assert statuses == [200] * len(sequence)
    assert [entry["path"] for entry in clean_agent.requests()] == [path for _, path, _ in sequence]
    assert worker_crashes(ng.error_log()) == []


# --- Body checks --------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx",
     "application/problem+json", None],
    ids=["text", "form", "jsonx", "problem-json", "missing"],
)
@pytest.mark.parametrize("path", ["/v1/chat", "/api/agent/query", "/api/agent/other"])
def test_non_json_type_rejected(ng, clean_agent, path, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps(chat_body()).encode()

    response = ng.post(path, content=body, headers=headers)

    assert_json_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert clean_agent.requests() == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON",
     "application/json;charset=UTF-8"],
)
def test_json_type_variants_accepted(ng, clean_agent, content_type):
    body = json.dumps(chat_body()).encode()

    response = ng.post("/v1/chat", content=body, headers={"Content-Type": content_type})

    assert response.status_code == 200
    assert len(clean_agent.requests()) == 1


# Each case: body, line, column, position. Column and position count from 1
# and point at the last byte of the token that the parser rejected, as
# jansson's json_error_t reports them ("tru" ends at byte 12 of the third case).
MALFORMED_BODIES = [
    (b'{"a": 1,\n "b": x}', 2, 7, 16),
    (b'{"session_id": "sess_0001"', 1, 26, 26),
    (b'{"a":\n\n  tru}', 3, 5, 12),
]


@pytest.mark.parametrize("body, line, column, position", MALFORMED_BODIES,
                         ids=["bad-token", "unterminated", "bad-literal"])
@pytest.mark.parametrize(
    "accept_language, content_language, words",
    [
        (None, "pt-BR", ("JSON válido", "linha", "coluna", "posição")),
        ("en", "en", ("not valid JSON", "line", "column", "position")),
        ("en-US,en;q=0.9,pt;q=0.5", "en", ("not valid JSON", "line", "column", "position")),
        ("pt-BR,en;q=0.8", "pt-BR", ("JSON válido", "linha", "coluna", "posição")),
    ],
    ids=["default", "en", "en-above-pt", "pt-above-en"],
)
def test_malformed_json_located(ng, clean_agent, body, line, column, position,
                                accept_language, content_language, words):
    headers = {} if accept_language is None else {"Accept-Language": accept_language}

    response = post_raw(ng, "/v1/chat", body, headers)

    error = assert_json_error(response, 400, "INVALID_JSON")
    assert response.headers.get("content-language") == content_language
    message = error["message"]
    sentence, line_word, column_word, position_word = words
    assert sentence in message
    assert f"{line_word} {line}" in message
    assert f"{column_word} {column}" in message
    assert f"{position_word} {position}" in message
    assert clean_agent.requests() == []


@pytest.mark.parametrize("path", ["/v1/chat", "/api/agent/query"])
def test_empty_body_rejected(ng, clean_agent, path):
    response = post_raw(ng, path, b"")

    assert_json_error(response, 400, "INVALID_JSON")
    assert clean_agent.requests() == []


@pytest.mark.parametrize("path", ["/v1/chat", "/api/agent/query", "/api/agent/other"])
def test_body_over_limit_is_json_413(ng, clean_agent, path):
    body = json.dumps({"query": "x" * 2000}).encode()

    response = post_raw(ng, path, body)

    assert_json_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert clean_agent.requests() == []


def test_chunked_body_over_limit_is_json_413(ng, clean_agent):
    pieces = [b'{"session_id": "sess_0001-ab", "padding": "', b"x" * 2000, b'"}']

    response = ng.post("/v1/chat", content=iter(pieces), headers=JSON_HEADERS)

    assert_json_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert clean_agent.requests() == []


def test_chunked_body_accepted(ng, clean_agent):
    encoded = json.dumps(chat_body("Olá")).encode()
    pieces = [encoded[:10], encoded[10:]]

    response = ng.post("/v1/chat", content=iter(pieces), headers=JSON_HEADERS)

    assert response.status_code == 200
    assert response.json()["message"]["content"] == expected_reply("Olá")
    assert clean_agent.requests()[0]["body"]["message"]["content"] == "Olá"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_chat_method_not_allowed(ng, clean_agent, method):
    body = None if method == "GET" else chat_body()

    response = ng.request(method, "/v1/chat", json=body)

    assert_json_error(response, 405, "METHOD_NOT_ALLOWED")
    assert clean_agent.requests() == []


def test_chat_405_lists_allowed_method(ng, clean_agent):
    # RFC 9110 section 15.5.6: a 405 response carries Allow.
    response = ng.get("/v1/chat")

    assert response.status_code == 405
    assert response.headers.get("allow") == "POST"


# --- Chat contract ---------------------------------------------------------


def chat_without(*path):
    """Return a valid chat body with the field at `path` removed."""
    body = chat_body()
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


INVALID_CHAT_BODIES = [
    ("session-7-chars", chat_body(session_id="s234567"), "session_id"),
    ("session-65-chars", chat_body(session_id="s" * 65), "session_id"),
    ("session-space", chat_body(session_id="sess 0001"), "session_id"),
    ("session-slash", chat_body(session_id="sess/0001"), "session_id"),
    ("session-dot", chat_body(session_id="sess.0001"), "session_id"),
    ("session-accent", chat_body(session_id="sessão-0001"), "session_id"),
    ("session-number", chat_body(session_id=12345678), "session_id"),
    ("session-null", chat_body(session_id=None), "session_id"),
    ("session-missing", chat_without("session_id"), "session_id"),
    ("content-empty", chat_body(""), "message.content"),
    ("content-number", chat_body(42), "message.content"),
    ("content-null", chat_body(None), "message.content"),
    ("content-list", chat_body(["Olá"]), "message.content"),
    ("content-missing", chat_without("message", "content"), "message.content"),
    ("message-missing", chat_without("message"), "message"),
    ("message-string", chat_body(message="Olá"), "message"),
]


@pytest.mark.parametrize(
    "body, field",
    [case[1:] for case in INVALID_CHAT_BODIES],
    ids=[case[0] for case in INVALID_CHAT_BODIES],
)
def test_chat_invalid_field_named(ng, clean_agent, body, field):
    response = ng.post("/v1/chat", json=body)

    error = assert_json_error(response, 400, "INVALID_REQUEST")
    assert field in error["message"]
    assert clean_agent.requests() == []


@pytest.mark.parametrize("body", [[1, 2], [chat_body()]], ids=["array", "array-of-chat"])
def test_chat_body_not_object(ng, clean_agent, body):
    response = ng.post("/v1/chat", json=body)

    assert_json_error(response, 400, "INVALID_REQUEST")
    assert clean_agent.requests() == []


@pytest.mark.parametrize(
    "session_id",
    ["s2345678", "S" * 64, "Az09_-az", "0123-4567_89"],
    ids=["8-chars", "64-chars", "all-classes", "digits"],
)
def test_chat_session_id_accepted(ng, clean_agent, session_id):
    response = ng.post("/v1/chat", json=chat_body(session_id=session_id))

    assert response.status_code == 200
    assert response.json()["session_id"] == session_id


@pytest.mark.parametrize(
    "content",
    ["a" * 32, "é" * 16, "x"],
    ids=["32-ascii", "32-bytes-utf8", "1-char"],
)
def test_chat_content_at_limit_accepted(ng, clean_agent, content):
    response = ng.post("/v1/chat", json=chat_body(content))

    assert response.status_code == 200
    assert clean_agent.requests()[0]["body"]["message"]["content"] == content


@pytest.mark.parametrize(
    "content",
    ["a" * 33, "é" * 17, "🙂" * 9],
    ids=["33-ascii", "34-bytes-17-chars", "36-bytes-9-chars"],
)
def test_chat_content_over_limit(ng, clean_agent, content):
    response = ng.post("/v1/chat", json=chat_body(content))

    error = assert_json_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "message.content" in error["message"]
    assert clean_agent.requests() == []


def test_invalid_field_named_in_english(ng, clean_agent):
    response = ng.post(
        "/v1/chat", json=chat_body(session_id="x"), headers={"Accept-Language": "en"}
    )

    error = assert_json_error(response, 400, "INVALID_REQUEST")
    assert response.headers.get("content-language") == "en"
    assert "session_id" in error["message"]


# --- Query contract -----------------------------------------------------------


INVALID_QUERY_BODIES = [
    ("missing", {"context": {}}),
    ("empty", {"query": ""}),
    ("number", {"query": 7}),
    ("null", {"query": None}),
    ("object", {"query": {"text": "consultas"}}),
]


@pytest.mark.parametrize(
    "body", [case[1] for case in INVALID_QUERY_BODIES], ids=[case[0] for case in INVALID_QUERY_BODIES]
)
def test_query_invalid_field_named(ng, clean_agent, body):
    response = ng.post("/api/agent/query", json=body)

    error = assert_json_error(response, 400, "INVALID_REQUEST")
    assert "query" in error["message"]
    assert clean_agent.requests() == []


def test_query_over_limit(ng, clean_agent):
    response = ng.post("/api/agent/query", json={"query": "q" * 33})

    error = assert_json_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "query" in error["message"]
    assert clean_agent.requests() == []


def test_query_round_trip(ng, clean_agent):
    body = {"query": "consultas de hoje", "context": {"clinic": "sp-01"}}

    response = ng.post("/api/agent/query", json=body)

    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["data"]["intent"] == "appointments"
    assert clean_agent.requests()[0]["body"] == body


# --- json contract: pass-through ---------------------------------------------


def test_json_contract_get_passed(ng, clean_agent):
    response = ng.get("/api/echo-headers?trace=1", headers={"X-Trace": "get-7"})

    assert response.status_code == 200
    assert response.json()["headers"]["x-trace"] == "get-7"
    received = clean_agent.requests()
    assert len(received) == 1
    assert received[0]["method"] == "GET"
    assert received[0]["path"] == "/api/echo-headers"
    assert received[0]["query"] == "trace=1"


# Valid JSON texts (RFC 8259) that a json-contract location must pass
# unchanged. /api/agent/query is not an exact location in PASS_THROUGH_CONFIG,
# so these reach the agent through `location /api/`.
PASS_THROUGH_BODIES = [
    ("spaced-object",
     b'{ "query" : "consultas de hoje",\n\t"context": {"x": [1, 2.50, "\\u00e9"]} }'),
    ("surrounding-space", b'  {"query":"x"}  \n'),
    ("duplicate-keys", b'{"query":"a","query":"b"}'),
    ("array", b'[{"query": "x"}, 1, null]'),
    ("string", b'"just a string"'),
    ("number", b"42"),
    ("null", b"null"),
    ("escaped-nul", b'{"query":"a\\u0000b"}'),
    ("big-integer", b'{"query":"x","id":123456789012345678901234567890}'),
]

PASS_THROUGH_CONFIG = """
upstream ai_agent { server 127.0.0.1:{agent_port}; keepalive 8; }
server {
    listen 127.0.0.1:{port};
    location /api/ {
        neonpro_agent_pass http://ai_agent;
    }
}
"""


@pytest.mark.parametrize(
    "body", [case[1] for case in PASS_THROUGH_BODIES], ids=[case[0] for case in PASS_THROUGH_BODIES]
)
def test_json_contract_body_unchanged(nginx, clean_agent, body):
    ng = nginx(PASS_THROUGH_CONFIG)

    response = post_raw(ng, "/api/agent/query", body)

    # The agent may reject a body that is not a query object (422), but it
    # must have received it.
    assert response.status_code != 400, response.text
    received = clean_agent.requests()
    assert len(received) == 1
    assert received[0]["raw_body_len"] == len(body)
    assert received[0]["body"] == json.loads(body)


def test_json_contract_reply_unchanged(nginx, clean_agent):
    ng = nginx(PASS_THROUGH_CONFIG)
    body = b'{"query":"consultas de hoje"}'

    response = post_raw(ng, "/api/agent/query", body)

    assert response.status_code == 200
    assert response.json()["data"]["intent"] == "appointments"
    assert clean_agent.requests()[0]["raw_body_len"] == len(body)


def test_json_contract_empty_post_passed(ng, clean_agent):
    response = ng.post("/api/echo-headers", headers=JSON_HEADERS)

    # The agent returns its own 405 for a POST on this GET route.
    assert response.status_code == 405
    received = clean_agent.requests()
    assert len(received) == 1
    assert received[0]["raw_body_len"] == 0


def test_request_uri_passed_unchanged(ng, clean_agent):
    get_response = ng.get("/api/echo-headers?x=%20a&y=%C3%A9&z")
    post_response = ng.post("/api/agent/query?debug=1&trace=a%2Fb", json={"query": "pagamentos"})

    assert get_response.status_code == 200
    assert post_response.status_code == 200
    received = clean_agent.requests()
    assert [entry["path"] for entry in received] == ["/api/echo-headers", "/api/agent/query"]
    assert received[0]["query"] == "x=%20a&y=%C3%A9&z"
    assert received[1]["query"] == "debug=1&trace=a%2Fb"


def test_agent_4xx_reply_passed(ng, clean_agent):
    response = ng.get("/api/does-not-exist")

    # The agent's own 404 body is passed; only nginx's own errors become
    # the suite's JSON error.
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert len(clean_agent.requests()) == 1


SMALL_BUFFER_CONFIG = agent_config(server_extra="neonpro_agent_buffer_size 1k;")


def test_reply_larger_than_buffer(nginx, clean_agent):
    ng = nginx(SMALL_BUFFER_CONFIG)
    content = "palavra " * 500

    response = ng.post("/v1/chat", json=chat_body(content))

    assert response.status_code == 200
    assert len(response.content) > 4 * 1024
    assert response.json()["message"]["content"] == expected_reply(content)
    assert response.json()["received_user"] == ANONYMOUS_USER


# --- Error body shape --------------------------------------------------------


ERROR_CASES = [
    ("415", "/v1/chat", {"Content-Type": "text/plain"}, b"{}", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("400-json", "/v1/chat", JSON_HEADERS, b"{", 400, "INVALID_JSON"),
    ("400-field", "/v1/chat", JSON_HEADERS, b'{"session_id":"x"}', 400, "INVALID_REQUEST"),
    ("413-body", "/api/agent/query", JSON_HEADERS, b'{"q":"' + b"x" * 1100 + b'"}', 413,
     "PAYLOAD_TOO_LARGE"),
    ("413-field", "/api/agent/query", JSON_HEADERS, b'{"query":"' + b"x" * 40 + b'"}', 413,
     "PAYLOAD_TOO_LARGE"),
]


@pytest.mark.parametrize(
    "path, headers, body, status, code",
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_body_shape(ng, clean_agent, path, headers, body, status, code):
    response = ng.post(path, content=body, headers=headers)

    assert response.status_code == status
    assert response.headers.get("content-type") == JSON_ERROR_TYPE
    document = json.loads(response.content)
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message", "retryable"}
    assert document["error"]["code"] == code
    assert document["error"]["retryable"] is False


def test_rejections_leave_worker_serving(ng, clean_agent):
    rejected = [
        post_raw(ng, "/v1/chat", b"{").status_code,
        post_raw(ng, "/v1/chat", b"x" * 2000).status_code,
        ng.post("/v1/chat", content=b"{}", headers={"Content-Type": "text/plain"}).status_code,
    ]

    accepted = ng.post("/v1/chat", json=chat_body())

    assert rejected == [400, 413, 415]
    assert accepted.status_code == 200
    assert len(clean_agent.requests()) == 1
    assert worker_crashes(ng.error_log()) == []


def test_session_id_error_states_rule(ng, clean_agent):
    response = ng.post("/v1/chat", json={"session_id": "short", "message": {"content": "oi"}})

    message = assert_json_error(response, 400, "INVALID_REQUEST")["message"]
    assert "session_id" in message
    assert "8 to 64" in message
