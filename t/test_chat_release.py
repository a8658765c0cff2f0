"""The chat WebSocket releases its HTTP request once the 101 is out.

After the 101 is completely written and the frames that came with the
handshake are parsed, the module frees the handshake request, its pool and
the header buffers, and the connection goes on alone. Freeing the request
runs the log phase, so the access log gets the 101 line while the socket is
still open. These tests wait for that line to know that the request is
gone, then check that the connection still works.
"""

import asyncio
import ssl
import subprocess
import threading

import pytest
import websockets

from chat_support import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SUBPROTOCOL,
    RawClient,
    build_frame,
    close_payload,
    collect_messages,
    handshake_headers,
    join,
    new_key,
    recv_envelope,
    run,
    send_envelope,
)

ACCESS_LOG = "chat_access.log"

CHAT_ACCESS_LOG_HTTP = """
log_format chat_status '$status $request';
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        access_log {prefix}/chat_access.log chat_status;
    }
}
"""

# The handshake below does not fit the 1k client header buffer, so nginx
# moves it to a large header buffer, which the release frees too.
CHAT_LARGE_HEADERS_HTTP = CHAT_ACCESS_LOG_HTTP.replace(
    "server {", "client_header_buffer_size 1k;\nlarge_client_header_buffers 4 8k;\nserver {", 1
)

LOG_LINE = "101 GET /ws/chat HTTP/1.1"

SESSION = "sess_release_1"


def access_lines(server):
    return server.read_file(ACCESS_LOG).splitlines()


def test_101_logged_while_socket_open(nginx):
    server = nginx(CHAT_ACCESS_LOG_HTTP)
    with RawClient(server.port) as client:
        assert client.recv_json()["type"] == "hello"

        # Before the release existed, this line came only at close.
        assert server.wait_for_line(ACCESS_LOG, "101 ") == LOG_LINE

        client.send_frame(OP_PING, b"after release")
        pong = client.recv_frame()
        assert pong.opcode == OP_PONG
        assert pong.payload == b"after release"

        client.send_json({"id": "j-1", "type": "join", "session_id": SESSION})
        joined = client.recv_json()
        assert joined["type"] == "joined"
        assert joined["id"] == "j-1"

        client.send_json({
            "id": "m-1", "type": "message", "session_id": SESSION, "data": {"content": "Oi"},
        })
        copy = client.recv_json()
        assert copy["type"] == "message"
        assert copy["id"] == "m-1"
        assert copy["data"]["seq"] == 1
        assert copy["data"]["content"] == "Oi"

        client.send_frame(OP_CLOSE, close_payload(4000, b"bye"))
        close = client.recv_close()
        assert close.close_code() == 4000
        assert client.server_closed_tcp()

    assert access_lines(server) == [LOG_LINE]


def test_error_log_omits_freed_request(nginx):
    """Error lines after the release name the client, not the freed request."""
    server = nginx(CHAT_ACCESS_LOG_HTTP)
    with RawClient(server.port) as client:
        client.recv_json()
        server.wait_for_line(ACCESS_LOG, "101 ")

        client.send_frame(OP_TEXT, b'{"type": "heartbeat"}', mask=False)
        close = client.recv_close()
        assert close.close_code() == 1002
        assert client.server_closed_tcp()

    lines = [line for line in server.error_log().splitlines() if "closing WebSocket with 1002" in line]
    assert len(lines) == 1
    assert "client: 127.0.0.1" in lines[0]
    assert "request:" not in lines[0]


@pytest.mark.parametrize("action", ["reload", "stop"])
def test_shutdown_after_release_closes_1001(nginx, action):
    server = nginx(CHAT_ACCESS_LOG_HTTP)
    with RawClient(server.port) as client:
        client.recv_json()
        client.send_json({"id": "j-1", "type": "join", "session_id": SESSION})
        assert client.recv_json()["type"] == "joined"
        server.wait_for_line(ACCESS_LOG, "101 ")

        worker = threading.Thread(target=getattr(server, action))
        worker.start()
        try:
            close = client.recv_close()
        finally:
            worker.join()

        assert close.close_code() == 1001
        assert close.close_reason() == "reconnect"
        assert client.server_closed_tcp()

    if action == "stop":
        assert server.proc.returncode == 0
    assert access_lines(server) == [LOG_LINE]


def test_close_with_handshake_before_release(nginx):
    """A Close frame in the handshake's write closes while the request is held."""
    server = nginx(CHAT_ACCESS_LOG_HTTP)
    frame = build_frame(OP_CLOSE, close_payload(4001))
    with RawClient(server.port, after_request=frame) as client:
        assert client.response.status == 101
        close = client.recv_close()
        assert close.close_code() == 4001
        assert client.server_closed_tcp()

    # nginx closed the request itself here, and logged it once.
    assert server.wait_for_line(ACCESS_LOG, "101 ") == LOG_LINE
    assert access_lines(server) == [LOG_LINE]


def test_large_header_buffer_released(nginx):
    """Frames read with a handshake in a large header buffer, then freed."""
    server = nginx(CHAT_LARGE_HEADERS_HTTP)
    lines = handshake_headers(server.port, new_key()) + [("X-Padding", "p" * 3000)]
    frame = build_frame(OP_TEXT, b'{"id": "early", "type": "heartbeat"}')

    with RawClient(server.port, header_lines=lines, after_request=frame) as client:
        assert client.response.status == 101
        assert client.recv_json()["type"] == "hello"
        early = client.recv_json()
        assert early["type"] == "heartbeat"
        assert early["id"] == "early"

        assert server.wait_for_line(ACCESS_LOG, "101 ") == LOG_LINE

        client.send_json({"id": "late", "type": "heartbeat"})
        late = client.recv_json()
        assert late["type"] == "heartbeat"
        assert late["id"] == "late"


CHAT_TLS_HTTP = """
log_format chat_status '$status $request';
server {
    listen 127.0.0.1:{port} ssl reuseport;
    ssl_certificate {prefix}/certs/chat.crt;
    ssl_certificate_key {prefix}/certs/chat.key;
    location = /ws/chat {
        neonpro_chat;
        access_log {prefix}/chat_access.log chat_status;
    }
}
"""


@pytest.fixture
def tls_files(tmp_path):
    """Return nginx `files` with a fresh self-signed certificate for 127.0.0.1."""
    key, cert = tmp_path / "chat.key", tmp_path / "chat.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return {"certs/chat.key": key.read_bytes(), "certs/chat.crt": cert.read_bytes()}


def test_tls_chat_after_release(nginx, tls_files):
    """Over TLS, frames go out unbuffered after the release and still arrive."""
    server = nginx(CHAT_TLS_HTTP, files=tls_files)
    # the larger ones take several TLS records
    sizes = [10, 20000, 40000]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def scenario():
        async with websockets.connect(
            f"wss://127.0.0.1:{server.port}/ws/chat", ssl=context, subprotocols=[SUBPROTOCOL],
            open_timeout=10, close_timeout=10, max_size=None,
        ) as ws:
            await recv_envelope(ws)
            line = await asyncio.get_running_loop().run_in_executor(
                None, server.wait_for_line, ACCESS_LOG, "101 "
            )
            await join(ws, SESSION)
            copies = []
            for index in range(len(sizes)):
                await send_envelope(ws, {
                    "type": "message", "session_id": SESSION, "data": {"content": "x" * sizes[index]},
                })
                copies += await collect_messages(ws, SESSION, 1)
            pong_waiter = await ws.ping(b"tls")
            await asyncio.wait_for(pong_waiter, 10)
            return line, copies

    line, copies = run(scenario())
    assert line == LOG_LINE
    assert [copy["data"]["seq"] for copy in copies] == [1, 2, 3]
    assert [len(copy["data"]["content"]) for copy in copies] == sizes
