"""permessage-deflate (RFC 7692) on the chat WebSocket, and a clean worker
exit with chat connections and the bus in place."""

import asyncio
import json
import os
import socket
import struct

import websockets

CHAT = """
server {
    listen 127.0.0.1:{port};
    location = /ws/chat { neonpro_chat; neonpro_chat_deflate on; }
    location = /ws/plain { neonpro_chat; }
}
"""


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_deflate_negotiated_and_round_trip(nginx):
    ng = nginx(CHAT)
    content = "olá, consulta remarcada " * 2000

    async def scenario():
        url = f"ws://127.0.0.1:{ng.port}/ws/chat"
        async with websockets.connect(url, subprotocols=["neonpro.chat.v1"]) as compressed, \
                websockets.connect(url, subprotocols=["neonpro.chat.v1"],
                                   compression=None) as plain:
            extensions = (compressed.response_headers.get("Sec-WebSocket-Extensions"),
                          plain.response_headers.get("Sec-WebSocket-Extensions"))
            for ws in (compressed, plain):
                await ws.recv()
                await ws.send(json.dumps({"type": "join", "session_id": "sess-deflate"}))
                await ws.recv()
            await compressed.send(json.dumps({"type": "message", "session_id": "sess-deflate",
                                              "data": {"content": content}}))
            return extensions, [json.loads(await ws.recv()) for ws in (compressed, plain)]

    extensions, received = run(scenario())

    assert extensions[0].startswith("permessage-deflate")
    assert extensions[1] is None
    assert [message["data"]["content"] for message in received] == [content, content]


def test_deflate_declined_when_off(nginx):
    ng = nginx(CHAT)

    async def scenario():
        url = f"ws://127.0.0.1:{ng.port}/ws/plain"
        async with websockets.connect(url, subprotocols=["neonpro.chat.v1"]) as ws:
            await ws.recv()
            return ws.response_headers.get("Sec-WebSocket-Extensions")

    assert run(scenario()) is None


def handshake(port, path, extensions):
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Extensions: {extensions}\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += client.recv(4096)
    return client, response


def read_close_code(client):
    data = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    # The Close frame is the last frame; its payload starts with the code.
    index = data.rfind(b"\x88")
    return struct.unpack("!H", data[index + 2:index + 4])[0]


def test_corrupt_compressed_message_closes_1007(nginx):
    ng = nginx(CHAT)
    client, response = handshake(ng.port, "/ws/chat", "permessage-deflate")
    key = os.urandom(4)
    payload = b"\xff\xff\xff\xff\xff"
    masked = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))

    # FIN, RSV1 (compressed) and text, a masked 5-byte payload.
    client.sendall(bytes([0xC1, 0x80 | len(payload)]) + key + masked)
    code = read_close_code(client)
    client.close()

    assert b"permessage-deflate" in response
    assert code == 1007


def test_worker_exit_leaves_no_socket(nginx):
    ng = nginx(CHAT, workers=2)

    async def scenario():
        url = f"ws://127.0.0.1:{ng.port}/ws/chat"
        async with websockets.connect(url, subprotocols=["neonpro.chat.v1"]) as ws:
            await ws.recv()

    run(scenario())
    ng.stop()

    log = ng.error_log()
    assert "open socket" not in log
    assert "[alert]" not in log
