"""The chat WebSocket (neonpro_chat): handshake, RFC 6455 frames and the
neonpro.chat.v1 protocol of docs/chat-protocol.md.

Handshake cases and every RFC violation go over a raw socket
(chat_support.RawClient), because a conforming client library refuses to
send broken frames. Protocol cases use python3-websockets.
"""

import asyncio
import json
import threading

import httpx
import pytest
import websockets

from chat_support import (
    FORBIDDEN_CLOSE_CODES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SUBPROTOCOL,
    RawClient,
    accept_for,
    build_frame,
    close_payload,
    collect_messages,
    handshake_headers,
    http_exchange,
    join,
    new_key,
    recv_envelope,
    request_reply,
    run,
    send_envelope,
    ws_connect,
)

CHAT_HTTP = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat { neonpro_chat; }
}
"""

MAX_MESSAGE_BYTES = 1024

CHAT_SMALL_MESSAGES_HTTP = f"""
server {{
    listen 127.0.0.1:{{port}} reuseport;
    location = /ws/chat {{
        neonpro_chat;
        neonpro_chat_max_message_size {MAX_MESSAGE_BYTES};
    }}
}}
"""

ALLOWED_ORIGIN = "https://app.example.com.br"

CHAT_ORIGINS_HTTP = f"""
server {{
    listen 127.0.0.1:{{port}} reuseport;
    location = /ws/chat {{
        neonpro_chat;
        neonpro_chat_origins {ALLOWED_ORIGIN};
    }}
}}
"""

CHAT_ORIGINS_WITH_NULL_HTTP = CHAT_ORIGINS_HTTP.replace(
    f"neonpro_chat_origins {ALLOWED_ORIGIN};", f"neonpro_chat_origins {ALLOWED_ORIGIN} null;"
)

HISTORY = 4

CHAT_SHORT_HISTORY_HTTP = f"""
neonpro_chat_zone 1m history={HISTORY};
server {{
    listen 127.0.0.1:{{port}} reuseport;
    location = /ws/chat {{ neonpro_chat; }}
}}
"""

CHAT_FAST_HEARTBEAT_HTTP = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_heartbeat 1s;
        neonpro_chat_idle_timeout 3s;
    }
}
"""


@pytest.fixture
def chat(nginx):
    """Return nginx with one worker serving the chat at /ws/chat."""
    return nginx(CHAT_HTTP)


def assert_close_code_allowed(frame):
    code = frame.close_code()
    assert code not in FORBIDDEN_CLOSE_CODES, f"server sent forbidden close code {code}"


# ---------------------------------------------------------------------------
# Opening handshake


def headers_with(port, key, changes=(), extra=()):
    """Return valid handshake header lines with changes applied.

    changes maps a header name to its new value, or to None to leave the
    header out. extra lines are appended as they are.
    """
    changes = dict(changes)
    lines = []
    for name, value in handshake_headers(port, key):
        if name in changes:
            if changes[name] is not None:
                lines.append((name, changes[name]))
        else:
            lines.append((name, value))
    for name, value in changes.items():
        if value is not None and name not in {line[0] for line in lines}:
            lines.append((name, value))
    return lines + list(extra)


# (case, header changes, extra lines, status, response headers expected)
REJECTED_HANDSHAKES = [
    ("no upgrade header", {"Upgrade": None}, [], 426, {"Upgrade": "websocket"}),
    ("upgrade h2c", {"Upgrade": "h2c"}, [("HTTP2-Settings", "AAMAAABkAAQAAP__")], 400, {}),
    ("upgrade websocket/13", {"Upgrade": "websocket/13"}, [], 400, {}),
    ("upgrade other protocol", {"Upgrade": "TLS/1.2"}, [], 400, {}),
    ("no connection header", {"Connection": None}, [], 400, {}),
    ("connection keep-alive only", {"Connection": "keep-alive"}, [], 400, {}),
    ("connection upgraded token", {"Connection": "upgraded"}, [], 400, {}),
    ("version 8", {"Sec-WebSocket-Version": "8"}, [], 426, {"Sec-WebSocket-Version": "13"}),
    ("version 14", {"Sec-WebSocket-Version": "14"}, [], 426, {"Sec-WebSocket-Version": "13"}),
    ("no version", {"Sec-WebSocket-Version": None}, [], 426, {"Sec-WebSocket-Version": "13"}),
    ("no key", {"Sec-WebSocket-Key": None}, [], 400, {}),
    ("key of 15 bytes", {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA"}, [], 400, {}),
    ("key of 17 bytes", {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAA="}, [], 400, {}),
    ("key not base64", {"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}, [], 400, {}),
    ("key with nonzero pad bits", {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAB=="}, [], 400, {}),
    ("second key line", {}, [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], 400, {}),
    ("second version line", {}, [("Sec-WebSocket-Version", "13")], 400, {}),
    ("protocol without chat v1", {"Sec-WebSocket-Protocol": "chat, superchat"}, [], 400, {}),
    ("protocol in other case", {"Sec-WebSocket-Protocol": "NEONPRO.CHAT.V1"}, [], 400, {}),
    ("protocol bearer with slash", {"Sec-WebSocket-Protocol": "neonpro.chat.v1, bearer.a/b"}, [], 400, {}),
    ("protocol empty bearer", {"Sec-WebSocket-Protocol": "neonpro.chat.v1, bearer."}, [], 400, {}),
    ("cross origin", {"Origin": "http://evil.example"}, [], 403, {}),
    ("same host other scheme", {"Origin": "https://127.0.0.1:{port}"}, [], 403, {}),
    ("same host other port", {"Origin": "http://127.0.0.1:1"}, [], 403, {}),
    ("null origin", {"Origin": "null"}, [], 403, {}),
    ("origin with path", {"Origin": "http://127.0.0.1:{port}/"}, [], 403, {}),
    # The first failing check decides: Upgrade, Connection, version, key.
    ("bad version before bad key", {"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "x"}, [], 426, {}),
    ("bad connection before bad version", {"Connection": "close", "Sec-WebSocket-Version": "8"}, [], 400, {}),
]

ERROR_CODE_FOR_STATUS = {400: "INVALID_REQUEST", 403: "FORBIDDEN", 405: "METHOD_NOT_ALLOWED"}


def fill_port(changes, extra, port):
    changes = {
        name: None if value is None else value.replace("{port}", str(port))
        for name, value in changes.items()
    }
    return changes, list(extra)


@pytest.mark.parametrize(
    "changes, extra, status, expected_headers",
    [row[1:] for row in REJECTED_HANDSHAKES],
    ids=[row[0] for row in REJECTED_HANDSHAKES],
)
def test_handshake_rejected(chat, changes, extra, status, expected_headers):
    changes, extra = fill_port(changes, extra, chat.port)
    response = http_exchange(chat.port, headers_with(chat.port, new_key(), changes, extra))

    assert response.status == status
    assert response.header("Sec-WebSocket-Accept") is None
    for name, value in expected_headers.items():
        assert response.header(name) == value, f"header {name}"
    assert response.header("Content-Type").startswith("application/json")
    body = response.json_body()
    assert isinstance(body["error"]["message"], str)
    if status in ERROR_CODE_FOR_STATUS:
        assert body["error"]["code"] == ERROR_CODE_FOR_STATUS[status]


def test_handshake_post_is_405(chat):
    lines = handshake_headers(chat.port, new_key()) + [("Content-Length", "0")]
    response = http_exchange(chat.port, lines, method="POST")

    assert response.status == 405
    assert response.header("Allow") == "GET"
    assert response.json_body()["error"]["code"] == "METHOD_NOT_ALLOWED"


ACCEPTED_HANDSHAKES = [
    ("minimal", {}, []),
    ("browser connection list", {"Connection": "keep-alive, Upgrade"}, []),
    ("upgrade in other case", {"Upgrade": "WebSocket", "Connection": "upgrade"}, []),
    ("upgrade list with websocket", {"Upgrade": "h2c, websocket"}, []),
    ("values with spaces", {"Upgrade": "  websocket ", "Sec-WebSocket-Version": " 13 "}, []),
    ("connection on two lines", {"Connection": "keep-alive"}, [("Connection", "Upgrade")]),
    ("same origin", {"Origin": "http://127.0.0.1:{port}"}, []),
    ("same origin host in caps", {"Origin": "HTTP://127.0.0.1:{port}"}, []),
]


@pytest.mark.parametrize(
    "changes, extra", [row[1:] for row in ACCEPTED_HANDSHAKES],
    ids=[row[0] for row in ACCEPTED_HANDSHAKES],
)
def test_handshake_accepted(chat, changes, extra):
    changes, extra = fill_port(changes, extra, chat.port)
    key = new_key()
    with RawClient(chat.port, header_lines=headers_with(chat.port, key, changes, extra)) as client:
        response = client.response
        assert response.status == 101
        assert response.header("Upgrade").lower() == "websocket"
        assert "upgrade" in response.header("Connection").lower()
        assert response.header("Sec-WebSocket-Accept") == accept_for(key)
        assert response.header("Sec-WebSocket-Protocol") == SUBPROTOCOL
        assert client.recv_json()["type"] == "hello"


@pytest.mark.parametrize(
    "offered",
    [
        "neonpro.chat.v1",
        "chat, neonpro.chat.v1",
        "bearer.eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTE3In0.c2ln, neonpro.chat.v1",
        "neonpro.chat.v1, bearer.eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTE3In0.c2ln",
        " ,neonpro.chat.v1 , ",
    ],
)
def test_handshake_echoes_subprotocol(chat, offered):
    key = new_key()
    with RawClient(chat.port, header_lines=handshake_headers(chat.port, key, offered)) as client:
        assert client.response.status == 101
        assert client.response.header("Sec-WebSocket-Protocol") == SUBPROTOCOL


def test_handshake_without_subprotocol(chat):
    key = new_key()
    with RawClient(chat.port, header_lines=handshake_headers(chat.port, key, None)) as client:
        assert client.response.status == 101
        assert client.response.header("Sec-WebSocket-Protocol") is None


def test_handshake_key_sample_from_rfc(chat):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with RawClient(chat.port, header_lines=handshake_headers(chat.port, key)) as client:
        assert client.response.status == 101
        assert client.response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_declines_permessage_deflate(chat):
    lines = handshake_headers(chat.port, new_key()) + [
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
    ]
    with RawClient(chat.port, header_lines=lines) as client:
        assert client.response.status == 101
        assert client.response.header("Sec-WebSocket-Extensions") is None
        # Without the extension RSV1 stays invalid.
        client.recv_json()
        client.send_frame(OP_TEXT, '{"type": "heartbeat"}', rsv=4)
        assert client.recv_close().close_code() == 1002


def test_handshake_never_tunnels_h2c(chat):
    """A request for an h2c upgrade gets a complete HTTP/1.1 response, not a 101."""
    lines = [
        ("Host", f"127.0.0.1:{chat.port}"),
        ("Connection", "Upgrade, HTTP2-Settings"),
        ("Upgrade", "h2c"),
        ("HTTP2-Settings", "AAMAAABkAAQAAP__"),
    ]
    response = http_exchange(chat.port, lines)

    assert response.status == 400
    assert response.header("Upgrade") is None


# (case, Origin value or None for no header, status)
ALLOW_LIST_ORIGINS = [
    ("listed", ALLOWED_ORIGIN, 101),
    ("listed with default port", ALLOWED_ORIGIN + ":443", 101),
    ("listed host in caps", "https://APP.example.com.br", 101),
    ("absent", None, 403),
    ("other port", ALLOWED_ORIGIN + ":8443", 403),
    ("other scheme", "http://app.example.com.br", 403),
    ("other host", "https://evil.example.com.br", 403),
    ("same origin not listed", "http://127.0.0.1:{port}", 403),
    ("null not listed", "null", 403),
]


@pytest.mark.parametrize(
    "origin, status", [row[1:] for row in ALLOW_LIST_ORIGINS],
    ids=[row[0] for row in ALLOW_LIST_ORIGINS],
)
def test_handshake_origin_allow_list(nginx, origin, status):
    server = nginx(CHAT_ORIGINS_HTTP)
    changes = {} if origin is None else {"Origin": origin.replace("{port}", str(server.port))}
    response = http_exchange(server.port, headers_with(server.port, new_key(), changes))

    assert response.status == status
    if status == 403:
        assert response.json_body()["error"]["code"] == "FORBIDDEN"


def test_handshake_origin_list_with_null(nginx):
    """The list entry `null` admits the opaque origin of sandboxed frames."""
    server = nginx(CHAT_ORIGINS_WITH_NULL_HTTP)
    listed = http_exchange(server.port, headers_with(server.port, new_key(), {"Origin": "null"}))
    other = http_exchange(
        server.port, headers_with(server.port, new_key(), {"Origin": "https://evil.example.com.br"})
    )

    assert listed.status == 101
    assert other.status == 403


def test_handshake_error_body_is_json(chat):
    response = http_exchange(chat.port, headers_with(chat.port, new_key(), {"Upgrade": None}))

    assert response.status == 426
    body = response.json_body()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str)
    assert body["error"]["retryable"] is False


# ---------------------------------------------------------------------------
# RFC 6455 frames


def text_fragments(*parts):
    """Return frames of one text message split into parts (bytes)."""
    frames = []
    for index, part in enumerate(parts):
        opcode = OP_TEXT if index == 0 else OP_CONTINUATION
        frames.append(build_frame(opcode, part, fin=index == len(parts) - 1))
    return b"".join(frames)


# (case, bytes the client sends after the server hello, close code)
PROTOCOL_VIOLATIONS = [
    ("unmasked text", build_frame(OP_TEXT, '{"type":"heartbeat"}', mask=False), 1002),
    ("unmasked ping", build_frame(OP_PING, b"x", mask=False), 1002),
    ("unmasked close", build_frame(OP_CLOSE, close_payload(1000), mask=False), 1002),
    ("rsv1 on text", build_frame(OP_TEXT, '{"type":"heartbeat"}', rsv=4), 1002),
    ("rsv2 on text", build_frame(OP_TEXT, '{"type":"heartbeat"}', rsv=2), 1002),
    ("rsv3 on text", build_frame(OP_TEXT, '{"type":"heartbeat"}', rsv=1), 1002),
    ("rsv1 on ping", build_frame(OP_PING, b"x", rsv=4), 1002),
    ("opcode 3", build_frame(0x3, b"x"), 1002),
    ("opcode 7", build_frame(0x7, b"x"), 1002),
    ("opcode 0xB", build_frame(0xB, b"x"), 1002),
    ("opcode 0xF", build_frame(0xF, b""), 1002),
    ("fragmented ping", build_frame(OP_PING, b"x", fin=False), 1002),
    ("fragmented close", build_frame(OP_CLOSE, close_payload(1000), fin=False), 1002),
    ("ping of 126 bytes", build_frame(OP_PING, b"p" * 126), 1002),
    ("pong of 126 bytes", build_frame(OP_PONG, b"p" * 126), 1002),
    ("close of 126 bytes", build_frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002),
    ("continuation without start", build_frame(OP_CONTINUATION, b"{}"), 1002),
    (
        "text inside fragmented text",
        build_frame(OP_TEXT, b'{"type":', fin=False) + build_frame(OP_TEXT, b'"heartbeat"}'),
        1002,
    ),
    (
        "binary inside fragmented text",
        build_frame(OP_TEXT, b'{"type":', fin=False) + build_frame(OP_BINARY, b"x"),
        1002,
    ),
    (
        "continuation after final frame",
        text_fragments(b'{"type":', b'"heartbeat"}') + build_frame(OP_CONTINUATION, b"x"),
        1002,
    ),
    ("length with top bit set", build_frame(OP_TEXT, b"", length=1 << 63), 1002),
    ("close code 999", build_frame(OP_CLOSE, close_payload(999)), 1002),
    ("close code 1004", build_frame(OP_CLOSE, close_payload(1004)), 1002),
    ("close code 1005", build_frame(OP_CLOSE, close_payload(1005)), 1002),
    ("close code 1006", build_frame(OP_CLOSE, close_payload(1006)), 1002),
    ("close code 1015", build_frame(OP_CLOSE, close_payload(1015)), 1002),
    ("close code 1016", build_frame(OP_CLOSE, close_payload(1016)), 1002),
    ("close code 2999", build_frame(OP_CLOSE, close_payload(2999)), 1002),
    ("close code 5000", build_frame(OP_CLOSE, close_payload(5000)), 1002),
    ("close payload of 1 byte", build_frame(OP_CLOSE, b"\x03"), 1002),
    ("close reason bad utf-8", build_frame(OP_CLOSE, close_payload(1000, b"\xff")), 1007),
    ("text byte 0xff", build_frame(OP_TEXT, b'{"type":"\xff"}'), 1007),
    ("text overlong slash", build_frame(OP_TEXT, b"\xc0\xaf"), 1007),
    ("text surrogate", build_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    ("text above U+10FFFF", build_frame(OP_TEXT, b"\xf4\x90\x80\x80"), 1007),
    ("text ends inside a character", build_frame(OP_TEXT, b'"\xe2\x82'), 1007),
    ("bad utf-8 split across frames", text_fragments(b'"\xe2\x82', b'\x28"'), 1007),
    ("message ends inside a character", text_fragments(b'"ok', b'\xe2\x82'), 1007),
    (
        "bad utf-8 in first fragment of open message",
        build_frame(OP_TEXT, b'"\xff', fin=False),
        1007,
    ),
]


@pytest.mark.parametrize(
    "data, code", [row[1:] for row in PROTOCOL_VIOLATIONS],
    ids=[row[0] for row in PROTOCOL_VIOLATIONS],
)
def test_frame_violation_closes(chat, data, code):
    with RawClient(chat.port) as client:
        assert client.response.status == 101
        assert client.recv_json()["type"] == "hello"

        client.send(data)
        close = client.recv_close()

        assert_close_code_allowed(close)
        assert close.close_code() == code
        assert not close.masked
        assert client.server_closed_tcp()


# (case, bytes after hello, close code) against MAX_MESSAGE_BYTES
OVERSIZED_MESSAGES = [
    ("one frame over the limit", build_frame(OP_TEXT, b" " * (MAX_MESSAGE_BYTES + 1)), 1009),
    (
        "fragments over the limit",
        build_frame(OP_TEXT, b" " * 600, fin=False) + build_frame(OP_CONTINUATION, b" " * 600),
        1009,
    ),
    ("binary over the limit", build_frame(OP_BINARY, b"\0" * (MAX_MESSAGE_BYTES + 1)), 1009),
    ("announced 64-bit length", build_frame(OP_TEXT, b"", length=1 << 40), 1009),
]


@pytest.mark.parametrize(
    "data, code", [row[1:] for row in OVERSIZED_MESSAGES],
    ids=[row[0] for row in OVERSIZED_MESSAGES],
)
def test_message_over_max_size(nginx, data, code):
    server = nginx(CHAT_SMALL_MESSAGES_HTTP)
    with RawClient(server.port) as client:
        hello = client.recv_json()
        assert hello["data"]["limits"]["max_message_bytes"] == MAX_MESSAGE_BYTES

        client.send(data)
        close = client.recv_close()

        assert_close_code_allowed(close)
        assert close.close_code() == code


def test_message_at_max_size_accepted(nginx):
    server = nginx(CHAT_SMALL_MESSAGES_HTTP)
    envelope = json.dumps({"id": "hb-1", "type": "heartbeat"}).encode()
    padded = envelope + b" " * (MAX_MESSAGE_BYTES - len(envelope))
    with RawClient(server.port) as client:
        client.recv_json()
        client.send_frame(OP_TEXT, padded)

        reply = client.recv_json()
        assert reply["type"] == "heartbeat"
        assert reply["id"] == "hb-1"


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 3000, 4000, 4999])
def test_client_close_code_echoed(chat, code):
    with RawClient(chat.port) as client:
        client.recv_json()
        client.send_frame(OP_CLOSE, close_payload(code, "tchau".encode()))

        close = client.recv_close()
        assert close.close_code() == code
        assert client.server_closed_tcp()


def test_empty_close_answered_with_1000(chat):
    with RawClient(chat.port) as client:
        client.recv_json()
        client.send_frame(OP_CLOSE, b"")

        close = client.recv_close()
        assert close.close_code() == 1000
        assert client.server_closed_tcp()


@pytest.mark.parametrize("payload", [b"", b"ping-1", bytes(range(125))])
def test_ping_answered_with_same_payload(chat, payload):
    with RawClient(chat.port) as client:
        client.recv_json()
        client.send_frame(OP_PING, payload)

        frame = client.recv_frame()
        assert frame.opcode == OP_PONG
        assert frame.payload == payload
        assert frame.fin
        assert not frame.masked


def test_control_frames_inside_fragmented_message(chat):
    with RawClient(chat.port) as client:
        client.recv_json()
        client.send(build_frame(OP_TEXT, b'{"id": "frag-1", ', fin=False))
        client.send(build_frame(OP_PING, b"between"))
        client.send(build_frame(OP_CONTINUATION, b'"type": "heart', fin=False))
        client.send(build_frame(OP_PONG, b"unsolicited"))
        client.send(build_frame(OP_CONTINUATION, b'beat"}'))

        pong = client.recv_frame()
        assert pong.opcode == OP_PONG
        assert pong.payload == b"between"
        reply = client.recv_json()
        assert reply["type"] == "heartbeat"
        assert reply["id"] == "frag-1"


def test_utf8_character_split_across_frames(chat):
    """A valid character split over two frames is one message, not an error."""
    euro = "€".encode()
    with RawClient(chat.port) as client:
        client.recv_json()
        client.send(text_fragments(
            b'{"id": "split", "type": "heartbeat", "data": {"c": "' + euro[:2],
            euro[2:] + b'"}}',
        ))

        reply = client.recv_json()
        assert reply["type"] == "heartbeat"
        assert reply["id"] == "split"


def test_binary_message_gets_error(chat):
    with RawClient(chat.port) as client:
        client.recv_json()
        client.send_frame(OP_BINARY, b"\x00\x01\x02")

        error = client.recv_json()
        assert error["type"] == "error"
        assert error["data"]["code"] == "INVALID_MESSAGE"

        client.send_json({"id": "after-binary", "type": "heartbeat"})
        reply = client.recv_json()
        assert reply["type"] == "heartbeat"
        assert reply["id"] == "after-binary"


def test_frames_sent_byte_by_byte(chat):
    data = build_frame(OP_TEXT, b'{"id": "slow", "type": "heartbeat"}')
    with RawClient(chat.port) as client:
        client.recv_json()
        for byte in data:
            client.send(bytes([byte]))

        reply = client.recv_json()
        assert reply["type"] == "heartbeat"
        assert reply["id"] == "slow"


def test_frames_sent_with_handshake(chat):
    """Frames that arrive in the same write as the handshake are read."""
    frame = build_frame(OP_TEXT, b'{"id": "early", "type": "heartbeat"}')
    with RawClient(chat.port, after_request=frame) as client:
        assert client.response.status == 101
        assert client.recv_json()["type"] == "hello"
        reply = client.recv_json()
        assert reply["type"] == "heartbeat"
        assert reply["id"] == "early"


def test_server_pings_on_heartbeat(nginx):
    server = nginx(CHAT_FAST_HEARTBEAT_HTTP)
    with RawClient(server.port) as client:
        hello = client.recv_json()
        assert hello["data"]["limits"]["heartbeat_seconds"] == 1

        frame = client.recv_frame()
        assert frame.opcode == OP_PING
        client.send_frame(OP_PONG, frame.payload)
        frame = client.recv_frame()
        assert frame.opcode == OP_PING


def test_idle_connection_closed_with_1000(nginx):
    server = nginx(CHAT_FAST_HEARTBEAT_HTTP)
    with RawClient(server.port) as client:
        hello = client.recv_json()
        assert hello["data"]["limits"]["idle_seconds"] == 3

        close = client.recv_close()
        assert close.close_code() == 1000
        assert client.server_closed_tcp()


# ---------------------------------------------------------------------------
# Envelopes


def test_server_hello_first(chat):
    async def scenario():
        async with ws_connect(chat.port) as ws:
            assert ws.subprotocol == SUBPROTOCOL
            hello = await recv_envelope(ws)
            return hello

    hello = run(scenario())
    assert hello["type"] == "hello"
    assert hello["data"]["worker"] == 0
    assert isinstance(hello["data"]["connection_id"], str)
    assert hello["data"]["connection_id"] != ""
    assert isinstance(hello["ts"], int)
    assert hello["data"]["limits"]["max_message_bytes"] == 1024 * 1024
    assert hello["data"]["limits"]["heartbeat_seconds"] == 30
    assert hello["data"]["limits"]["idle_seconds"] == 300


def test_connection_ids_differ(chat):
    async def scenario():
        async with ws_connect(chat.port) as first, ws_connect(chat.port) as second:
            return await recv_envelope(first), await recv_envelope(second)

    first, second = run(scenario())
    assert first["data"]["connection_id"] != second["data"]["connection_id"]


def test_client_hello_and_heartbeat_answered(chat):
    async def scenario():
        async with ws_connect(chat.port) as ws:
            first = await recv_envelope(ws)
            await send_envelope(ws, {"id": "c-1", "type": "hello", "data": {"client": "pytest"}})
            hello = await recv_envelope(ws)
            await send_envelope(ws, {"id": "hb-9", "type": "heartbeat", "ts": 1718000000000})
            heartbeat = await recv_envelope(ws)
            return first, hello, heartbeat

    first, hello, heartbeat = run(scenario())
    assert hello["type"] == "hello"
    assert hello["id"] == "c-1"
    assert hello["data"]["connection_id"] == first["data"]["connection_id"]
    assert heartbeat["type"] == "heartbeat"
    assert heartbeat["id"] == "hb-9"
    assert isinstance(heartbeat["ts"], int)


SESSION = "sess_8f3a2b1c"

# (case, text the client sends, field the error names, id echoed or None)
INVALID_ENVELOPES = [
    ("not json", "hello", "JSON", None),
    ("truncated json", '{"type": "hello"', "JSON", None),
    ("duplicate key", '{"type": "hello", "type": "hello"}', "JSON", None),
    ("array", "[]", "envelope", None),
    ("string", '"hello"', "envelope", None),
    ("number", "42", "envelope", None),
    ("empty id", '{"id": "", "type": "hello"}', '"id"', None),
    ("id of 65 chars", json.dumps({"id": "i" * 65, "type": "hello"}), '"id"', None),
    ("id not a string", '{"id": 7, "type": "hello"}', '"id"', None),
    ("missing type", '{"id": "e-1"}', '"type"', "e-1"),
    ("uppercase type", '{"id": "e-2", "type": "JOIN", "session_id": "sess_8f3a2b1c"}', '"type"', "e-2"),
    ("unknown type", '{"id": "e-3", "type": "stream_start"}', '"type"', "e-3"),
    ("join without session", '{"id": "e-4", "type": "join"}', '"session_id"', "e-4"),
    ("session id too short", '{"id": "e-5", "type": "join", "session_id": "sess_1"}', '"session_id"', "e-5"),
    ("session id bad char", '{"id": "e-6", "type": "join", "session_id": "sess/8f3a2b1c"}', '"session_id"', "e-6"),
    ("session id on hello", '{"id": "e-7", "type": "hello", "session_id": "x"}', '"session_id"', "e-7"),
    ("negative ts", '{"id": "e-8", "type": "heartbeat", "ts": -1}', '"ts"', "e-8"),
    ("ts as string", '{"id": "e-9", "type": "heartbeat", "ts": "1"}', '"ts"', "e-9"),
    ("data as array", '{"id": "e-10", "type": "hello", "data": []}', '"data"', "e-10"),
    (
        "message without content",
        '{"id": "e-11", "type": "message", "session_id": "sess_8f3a2b1c", "data": {}}',
        '"data.content"', "e-11",
    ),
    (
        "message empty content",
        '{"id": "e-12", "type": "message", "session_id": "sess_8f3a2b1c", "data": {"content": ""}}',
        '"data.content"', "e-12",
    ),
    (
        "resume negative after_seq",
        '{"id": "e-13", "type": "resume", "session_id": "sess_8f3a2b1c", "data": {"after_seq": -1}}',
        '"data.after_seq"', "e-13",
    ),
    (
        "resume without after_seq",
        '{"id": "e-14", "type": "resume", "session_id": "sess_8f3a2b1c"}',
        '"data.after_seq"', "e-14",
    ),
    (
        "join agent not boolean",
        '{"id": "e-15", "type": "join", "session_id": "sess_8f3a2b1c", "data": {"agent": "yes"}}',
        '"data.agent"', "e-15",
    ),
    # jansson rejects \u0000 while it parses, before any field is read.
    ("string with U+0000", '{"id": "e-16", "type": "hello", "data": {"c": "a\\u0000"}}', "JSON", None),
]


@pytest.mark.parametrize(
    "text, field, echoed_id", [row[1:] for row in INVALID_ENVELOPES],
    ids=[row[0] for row in INVALID_ENVELOPES],
)
def test_invalid_envelope_gets_error(chat, text, field, echoed_id):
    async def scenario():
        async with ws_connect(chat.port) as ws:
            await recv_envelope(ws)
            await ws.send(text)
            error = await recv_envelope(ws)
            await send_envelope(ws, {"id": "still-open", "type": "heartbeat"})
            heartbeat = await recv_envelope(ws)
            return error, heartbeat

    error, heartbeat = run(scenario())
    assert error["type"] == "error"
    assert error["data"]["code"] == "INVALID_MESSAGE"
    assert error["data"]["retryable"] is False
    if field is not None:
        assert field in error["data"]["message"]
    assert error.get("id") == echoed_id
    assert heartbeat["type"] == "heartbeat"
    assert heartbeat["id"] == "still-open"


def test_invalid_envelope_message_in_portuguese(chat):
    async def scenario():
        async with ws_connect(chat.port, extra_headers={"Accept-Language": "pt-BR"}) as ws:
            await recv_envelope(ws)
            await send_envelope(ws, {"id": "e-1", "type": "join"})
            return await recv_envelope(ws)

    error = run(scenario())
    assert error["data"]["code"] == "INVALID_MESSAGE"
    assert "Campo inválido ou ausente \"session_id\"" in error["data"]["message"]


def test_unknown_fields_ignored(chat):
    async def scenario():
        async with ws_connect(chat.port) as ws:
            await recv_envelope(ws)
            await send_envelope(ws, {"id": "u-1", "type": "heartbeat", "future": [1, 2], "data": {"x": 1}})
            return await recv_envelope(ws)

    reply = run(scenario())
    assert reply["type"] == "heartbeat"
    assert reply["id"] == "u-1"


def test_message_before_join_rejected(chat):
    async def scenario():
        async with ws_connect(chat.port) as ws:
            await recv_envelope(ws)
            await send_envelope(ws, {
                "id": "m-1", "type": "message", "session_id": SESSION, "data": {"content": "Oi"},
            })
            error = await recv_envelope(ws)
            await send_envelope(ws, {"id": "hb", "type": "heartbeat"})
            heartbeat = await recv_envelope(ws)
            return error, heartbeat

    error, heartbeat = run(scenario())
    assert error["type"] == "error"
    assert error["id"] == "m-1"
    assert error["data"]["code"] == "INVALID_MESSAGE"
    assert heartbeat["id"] == "hb"


def test_join_message_leave(chat):
    content = "Posso remarcar a consulta de amanhã?"

    async def scenario():
        async with ws_connect(chat.port) as ws:
            await recv_envelope(ws)
            joined = await join(ws, SESSION, "c-2")
            await send_envelope(ws, {
                "id": "c-4", "type": "message", "session_id": SESSION, "data": {"content": content},
            })
            message = await recv_envelope(ws)
            await send_envelope(ws, {"id": "c-3", "type": "leave", "session_id": SESSION})
            left = await recv_envelope(ws)
            await send_envelope(ws, {
                "id": "c-5", "type": "message", "session_id": SESSION, "data": {"content": "x"},
            })
            after_leave = await recv_envelope(ws)
            return joined, message, left, after_leave

    joined, message, left, after_leave = run(scenario())
    assert joined["id"] == "c-2"
    assert joined["session_id"] == SESSION
    assert joined["data"]["last_seq"] == 0

    assert message["type"] == "message"
    assert message["session_id"] == SESSION
    assert message["data"]["seq"] == 1
    assert message["data"]["content"] == content

    assert left["type"] == "left"
    assert left["id"] == "c-3"
    assert left["session_id"] == SESSION

    assert after_leave["type"] == "error"
    assert after_leave["data"]["code"] == "INVALID_MESSAGE"


def test_sender_copy_echoes_id(chat):
    """The sender's copy of its message carries the id; others' copies do not."""
    async def scenario():
        async with ws_connect(chat.port) as sender, ws_connect(chat.port) as other:
            await recv_envelope(sender)
            await recv_envelope(other)
            await join(sender, SESSION)
            await join(other, SESSION)
            await send_envelope(sender, {
                "id": "c-4", "type": "message", "session_id": SESSION, "data": {"content": "Oi"},
            })
            own = await collect_messages(sender, SESSION, 1)
            seen = await collect_messages(other, SESSION, 1)
            return own[0], seen[0]

    own, seen = run(scenario())
    assert own.get("id") == "c-4"
    assert "id" not in seen


def test_join_reports_last_seq(chat):
    async def scenario():
        async with ws_connect(chat.port) as sender:
            await recv_envelope(sender)
            await join(sender, SESSION)
            for index in range(3):
                await send_envelope(sender, {
                    "type": "message", "session_id": SESSION, "data": {"content": f"m{index}"},
                })
            await collect_messages(sender, SESSION, 3)
            async with ws_connect(chat.port) as late:
                await recv_envelope(late)
                return await join(late, SESSION)

    joined = run(scenario())
    assert joined["data"]["last_seq"] == 3


def test_sessions_are_separate(chat):
    other = "sess_other_0001"

    async def scenario():
        async with ws_connect(chat.port) as first, ws_connect(chat.port) as second:
            await recv_envelope(first)
            await recv_envelope(second)
            await join(first, SESSION)
            await join(second, other)
            await send_envelope(first, {
                "type": "message", "session_id": SESSION, "data": {"content": "only first"},
            })
            await collect_messages(first, SESSION, 1)
            # The second connection receives nothing of the first session.
            return await request_reply(second)

    seen_by_second = run(scenario())
    assert seen_by_second == []


# ---------------------------------------------------------------------------
# Delivery across workers


CONNECTIONS_PER_ROUND = 12
MAX_CONNECTIONS = 48
MESSAGES = 20

# All test clients share 127.0.0.1, so the per-address limit is raised
# above MAX_CONNECTIONS.
CHAT_MANY_CONNECTIONS_HTTP = f"""
server {{
    listen 127.0.0.1:{{port}} reuseport;
    location = /ws/chat {{
        neonpro_chat;
        neonpro_chat_connections_per_ip {MAX_CONNECTIONS};
    }}
}}
"""


def test_delivery_across_workers(nginx):
    server = nginx(CHAT_MANY_CONNECTIONS_HTTP, workers=4)
    session = "sess_cross_workers"

    async def scenario():
        clients = []
        workers = set()
        try:
            # reuseport spreads new connections over the workers, but which
            # worker gets one is up to the kernel, so connect until at least
            # two workers hold participants (bounded by MAX_CONNECTIONS).
            while len(clients) < MAX_CONNECTIONS and (
                len(clients) < CONNECTIONS_PER_ROUND or len(workers) < 2
            ):
                ws = await ws_connect(server.port).__aenter__()
                hello = await recv_envelope(ws)
                clients.append(ws)
                workers.add(hello["data"]["worker"])
            assert len(workers) >= 2, f"all {len(clients)} connections landed on worker {workers}"

            for ws in clients:
                joined = await join(ws, session)
                assert joined["data"]["last_seq"] == 0

            sender = clients[0]
            for index in range(MESSAGES):
                await send_envelope(sender, {
                    "id": f"m-{index}", "type": "message", "session_id": session,
                    "data": {"content": f"mensagem {index}"},
                })

            received = []
            for ws in clients:
                received.append(await collect_messages(ws, session, MESSAGES))
            return workers, received
        finally:
            for ws in clients:
                await ws.close()

    workers, received = run(scenario())
    assert len(workers) >= 2
    for messages in received:
        assert [m["data"]["seq"] for m in messages] == list(range(1, MESSAGES + 1))
        assert [m["data"]["content"] for m in messages] == [f"mensagem {i}" for i in range(MESSAGES)]


def test_two_senders_share_one_order(nginx):
    """Messages from two participants get one seq order seen by everyone."""
    server = nginx(CHAT_HTTP, workers=2)
    session = "sess_two_senders"

    async def scenario():
        async with ws_connect(server.port) as first, ws_connect(server.port) as second:
            await recv_envelope(first)
            await recv_envelope(second)
            await join(first, session)
            await join(second, session)
            for index in range(10):
                await send_envelope(first, {
                    "type": "message", "session_id": session, "data": {"content": f"a{index}"},
                })
                await send_envelope(second, {
                    "type": "message", "session_id": session, "data": {"content": f"b{index}"},
                })
            return (
                await collect_messages(first, session, 20),
                await collect_messages(second, session, 20),
            )

    first, second = run(scenario())
    assert [m["data"]["seq"] for m in first] == list(range(1, 21))
    assert [m["data"]["seq"] for m in second] == list(range(1, 21))
    assert [m["data"]["content"] for m in first] == [m["data"]["content"] for m in second]


# ---------------------------------------------------------------------------
# Resume and gaps


async def publish(ws, session, contents):
    """Send one message per content, each after the sender's copy of the last.

    Waiting for each copy keeps a burst from outrunning a short history,
    which test_burst_over_history_delivered_live covers on its own.
    """
    copies = []
    for content in contents:
        await send_envelope(ws, {"type": "message", "session_id": session, "data": {"content": content}})
        copies += await collect_messages(ws, session, 1)
    return copies


def resume_envelope(session, after_seq):
    return {"id": "r-1", "type": "resume", "session_id": session, "data": {"after_seq": after_seq}}


# (after_seq, expected gap (from, to) or None, seqs replayed) for 10 messages, history 4
RESUME_CASES = [
    (0, (1, 6), [7, 8, 9, 10]),
    (2, (3, 6), [7, 8, 9, 10]),
    (5, (6, 6), [7, 8, 9, 10]),
    (6, None, [7, 8, 9, 10]),
    (8, None, [9, 10]),
    (10, None, []),
    (25, None, []),
]


@pytest.mark.parametrize("after_seq, gap, replayed", RESUME_CASES)
def test_resume_replays_after_seq(nginx, after_seq, gap, replayed):
    server = nginx(CHAT_SHORT_HISTORY_HTTP)
    session = "sess_resume_gap"

    async def scenario():
        async with ws_connect(server.port) as sender:
            await recv_envelope(sender)
            await join(sender, session)
            await publish(sender, session, [f"m{seq}" for seq in range(1, 11)])

            async with ws_connect(server.port) as resumer:
                await recv_envelope(resumer)
                replies = await request_reply(resumer, resume_envelope(session, after_seq))

                # A live message after the replay arrives once.
                await publish(sender, session, ["m11"])
                live = await request_reply(resumer)
                return replies, live

    replies, live = run(scenario())
    joined = replies[0]
    assert joined["type"] == "joined"
    assert joined["id"] == "r-1"
    assert joined["data"]["last_seq"] == 10

    rest = replies[1:]
    if gap is not None:
        assert rest[0]["type"] == "gap"
        assert rest[0]["session_id"] == session
        assert (rest[0]["data"]["from_seq"], rest[0]["data"]["to_seq"]) == gap
        rest = rest[1:]
    assert [envelope["type"] for envelope in rest] == ["message"] * len(replayed)
    assert [envelope["data"]["seq"] for envelope in rest] == replayed
    assert [envelope["data"]["content"] for envelope in rest] == [f"m{seq}" for seq in replayed]

    assert [envelope["type"] for envelope in live] == ["message"]
    assert live[0]["data"]["seq"] == 11


def test_burst_over_history_delivered_live(nginx):
    """Live participants get every message of a burst larger than the history.

    The history only bounds what resume can replay. Ten frames in one write
    reach the worker in one read, so they are all published before the
    worker delivers any of them.
    """
    server = nginx(CHAT_SHORT_HISTORY_HTTP)
    session = "sess_burst_live"
    burst = b"".join(
        build_frame(OP_TEXT, json.dumps({
            "type": "message", "session_id": session, "data": {"content": f"m{seq}"},
        }))
        for seq in range(1, 11)
    )
    with RawClient(server.port) as sender, RawClient(server.port) as other:
        sender.recv_json()
        other.recv_json()
        sender.send_json({"type": "join", "session_id": session})
        other.send_json({"type": "join", "session_id": session})
        assert sender.recv_json()["type"] == "joined"
        assert other.recv_json()["type"] == "joined"

        sender.send(burst)
        for client in (sender, other):
            # Read up to message 10, the last of the burst, whatever precedes it.
            received = [client.recv_json()]
            while received[-1].get("data", {}).get("seq") != 10:
                received.append(client.recv_json())
            summary = [(envelope["type"], envelope["data"]) for envelope in received]
            assert [envelope["type"] for envelope in received] == ["message"] * 10, summary
            assert [envelope["data"]["seq"] for envelope in received] == list(range(1, 11)), summary


def test_resume_on_joined_session_no_duplicates(nginx):
    """resume on a connection already in the session replays only history."""
    server = nginx(CHAT_SHORT_HISTORY_HTTP)
    session = "sess_resume_member"

    async def scenario():
        async with ws_connect(server.port) as ws:
            await recv_envelope(ws)
            await join(ws, session)
            await publish(ws, session, ["m1", "m2", "m3"])
            replies = await request_reply(ws, resume_envelope(session, 1))
            await publish(ws, session, ["m4"])
            return replies

    replies = run(scenario())
    assert replies[0]["type"] == "joined"
    assert [envelope["data"]["seq"] for envelope in replies[1:]] == [2, 3]


# ---------------------------------------------------------------------------
# Reload and shutdown


def test_reload_closes_with_1001_then_resume(nginx):
    server = nginx(CHAT_HTTP, workers=2)
    session = "sess_reload_resume"

    async def scenario():
        loop = asyncio.get_running_loop()

        async with ws_connect(server.port) as reader, ws_connect(server.port) as writer:
            await recv_envelope(reader)
            await recv_envelope(writer)
            await join(reader, session)
            await join(writer, session)
            await publish(writer, session, [f"before {i}" for i in range(5)])
            seen = await collect_messages(reader, session, 5)
            last_seq = seen[-1]["data"]["seq"]

            await loop.run_in_executor(None, server.reload)

            closes = []
            for ws in (reader, writer):
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                closes.append((ws.close_code, ws.close_reason))

        async with ws_connect(server.port) as writer:
            await recv_envelope(writer)
            await send_envelope(writer, resume_envelope(session, 5))
            joined_writer = await recv_envelope(writer)
            await publish(writer, session, [f"while away {i}" for i in range(3)])

            async with ws_connect(server.port) as reader:
                await recv_envelope(reader)
                replies = await request_reply(reader, resume_envelope(session, last_seq))
                await publish(writer, session, [f"after {i}" for i in range(3)])
                live = await collect_messages(reader, session, 3)
                tail = await request_reply(reader)
        return closes, last_seq, joined_writer, replies, live, tail

    closes, last_seq, joined_writer, replies, live, tail = run(scenario())
    assert closes == [(1001, "reconnect"), (1001, "reconnect")]
    assert last_seq == 5
    assert joined_writer["data"]["last_seq"] == 5

    assert replies[0]["type"] == "joined"
    assert replies[0]["data"]["last_seq"] == 8
    replayed = replies[1:]
    assert [envelope["type"] for envelope in replayed] == ["message"] * 3
    assert [envelope["data"]["seq"] for envelope in replayed] == [6, 7, 8]
    assert [envelope["data"]["content"] for envelope in replayed] == [f"while away {i}" for i in range(3)]
    assert [envelope["data"]["seq"] for envelope in live] == [9, 10, 11]
    assert tail == []


def test_reload_close_frame_raw(nginx):
    """The Close frame of a reload carries 1001 and the reason `reconnect`."""
    server = nginx(CHAT_HTTP)
    with RawClient(server.port) as client:
        client.recv_json()
        reloader = threading.Thread(target=server.reload)
        reloader.start()
        try:
            close = client.recv_close()
        finally:
            reloader.join()

        assert close.close_code() == 1001
        assert close.close_reason() == "reconnect"
        assert client.server_closed_tcp()


def test_graceful_stop_closes_with_1001(nginx):
    server = nginx(CHAT_HTTP)
    with RawClient(server.port) as client:
        client.recv_json()
        client.send_json({"id": "j", "type": "join", "session_id": SESSION})
        assert client.recv_json()["type"] == "joined"

        stopper = threading.Thread(target=server.stop)
        stopper.start()
        try:
            close = client.recv_close()
        finally:
            stopper.join()

        assert close.close_code() == 1001
        assert close.close_reason() == "reconnect"
        assert client.server_closed_tcp()
    assert server.proc.returncode == 0


def test_no_worker_crash_after_abrupt_disconnects(nginx):
    """Clients that drop TCP mid-frame or mid-session leave workers running."""
    server = nginx(CHAT_HTTP, workers=2)
    for partial in (b"", build_frame(OP_TEXT, b"x" * 100)[:5], build_frame(OP_TEXT, b"x" * 100)[:60]):
        client = RawClient(server.port)
        client.recv_json()
        client.send_json({"type": "join", "session_id": SESSION})
        client.recv_json()
        client.send(partial)
        client.close()

    async def scenario():
        async with ws_connect(server.port) as ws:
            await recv_envelope(ws)
            await join(ws, SESSION)
            return await publish(ws, SESSION, ["still here"])

    messages = run(scenario())
    assert messages[0]["data"]["content"] == "still here"
    assert "exited on signal" not in server.error_log()


def test_426_has_its_reason_phrase(chat):
    """nginx's status table has no text for 426; the suite supplies it."""
    response = httpx.get(f"http://127.0.0.1:{chat.port}/ws/chat", timeout=10)

    assert response.status_code == 426
    assert response.reason_phrase == "Upgrade Required"
    assert response.headers["upgrade"] == "websocket"
