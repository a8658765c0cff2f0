"""Limits of the chat WebSocket: connections per address and per user, and
messages per minute per connection."""

import asyncio
import json
import os
import socket
import struct

import pytest
import websockets

CHAT = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_connections_per_ip 3;
        neonpro_chat_message_rate 2;
    }
}
"""


def url(ng):
    return f"ws://127.0.0.1:{ng.port}/ws/chat"


async def open_chat(ng):
    ws = await websockets.connect(url(ng), subprotocols=["neonpro.chat.v1"])
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello"
    return ws


def test_connections_per_address_across_workers(nginx):
    ng = nginx(CHAT, workers=2)

    async def scenario():
        held = [await open_chat(ng) for _ in range(3)]
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
            await websockets.connect(url(ng), subprotocols=["neonpro.chat.v1"])
        await held[0].close()
        # The slot of the closed connection is free again.
        reopened = await open_chat(ng)
        for ws in held[1:] + [reopened]:
            await ws.close()
        return refused.value.status_code

    assert asyncio.run(scenario()) == 429


CHAT_PER_USER = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_connections_per_ip 100;
        neonpro_chat_user_key $http_x_demo_user;
        neonpro_chat_connections_per_user 2;
    }
}
"""


async def open_as(ng, user):
    headers = {"X-Demo-User": user} if user else {}
    ws = await websockets.connect(url(ng), subprotocols=["neonpro.chat.v1"], extra_headers=headers)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello"
    return ws


def test_connections_per_user_across_workers(nginx):
    """Two connections per user key across 4 workers; other users and
    connections without a key are not affected."""
    ng = nginx(CHAT_PER_USER, workers=4)

    async def scenario():
        held = [await open_as(ng, "u-17") for _ in range(2)]
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
            await open_as(ng, "u-17")
        others = [await open_as(ng, "u-18") for _ in range(2)]
        anonymous = [await open_as(ng, None) for _ in range(4)]
        await held[0].close()
        # the closed connection's place is free again once nginx saw the close
        for _ in range(50):
            try:
                reopened = await open_as(ng, "u-17")
                break
            except websockets.exceptions.InvalidStatusCode:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("u-17 could not reconnect after closing one connection")
        for ws in held[1:] + others + anonymous + [reopened]:
            await ws.close()
        return refused.value

    refused = asyncio.run(scenario())
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert "u-17" not in ng.error_log()


def test_message_rate_per_connection(nginx):
    ng = nginx(CHAT)

    async def scenario():
        ws = await open_chat(ng)
        await ws.send(json.dumps({"type": "join", "session_id": "sess-rate-01"}))
        await asyncio.wait_for(ws.recv(), 10)
        replies = []
        for index in range(3):
            await ws.send(json.dumps({"type": "message", "session_id": "sess-rate-01",
                                      "data": {"content": f"m{index}"}}))
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        await ws.close()
        return replies

    replies = asyncio.run(scenario())

    assert [reply["type"] for reply in replies] == ["message", "message", "error"]
    assert replies[2]["data"]["code"] == "RATE_LIMITED"
    assert replies[2]["data"]["retryable"] is True


TTL_CHAT = """
neonpro_chat_session_ttl 1s;
server {
    listen 127.0.0.1:{port};
    location = /ws/chat { neonpro_chat; }
}
"""


def test_idle_session_starts_over_after_ttl(nginx):
    ng = nginx(TTL_CHAT)

    async def post_and_leave():
        ws = await open_chat(ng)
        await ws.send(json.dumps({"type": "join", "session_id": "sess-ttl-001"}))
        await asyncio.wait_for(ws.recv(), 10)
        await ws.send(json.dumps({"type": "message", "session_id": "sess-ttl-001",
                                  "data": {"content": "antes"}}))
        await asyncio.wait_for(ws.recv(), 10)
        await ws.close()

    async def rejoin():
        ws = await open_chat(ng)
        await ws.send(json.dumps({"type": "join", "session_id": "sess-ttl-001"}))
        joined = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.close()
        return joined

    asyncio.run(post_and_leave())
    kept = asyncio.run(rejoin())
    # The ttl counts whole seconds of nginx's clock; this wait only has to
    # outlast it, and nothing below depends on how long it took.
    asyncio.run(asyncio.sleep(2.5))
    expired = asyncio.run(rejoin())

    assert kept["data"]["last_seq"] == 1
    assert expired["data"]["last_seq"] == 0


SMALL_ZONE_CHAT = """
neonpro_chat_zone 256k history=64;
neonpro_chat_session_ttl 1s;
server {
    listen 127.0.0.1:{port};
    location = /ws/chat { neonpro_chat; }
}
"""


def test_expired_sessions_give_their_room_back(nginx):
    """A full zone takes new sessions again once the old ones expired."""
    ng = nginx(SMALL_ZONE_CHAT)

    async def join_and_leave(prefix, count):
        """Return how many of count new sessions could be joined."""
        ws = await open_chat(ng)
        joined = 0
        for n in range(count):
            session = f"{prefix}-{n:04d}"
            await ws.send(json.dumps({"type": "join", "session_id": session}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if reply["type"] == "joined":
                joined += 1
                await ws.send(json.dumps({"type": "leave", "session_id": session}))
                await asyncio.wait_for(ws.recv(), 10)
        await ws.close()
        return joined

    first = asyncio.run(join_and_leave("sess-first", 100))
    # the zone is full: the first sessions have not expired yet
    full = asyncio.run(join_and_leave("sess-full", 5))
    asyncio.run(asyncio.sleep(2.5))
    second = asyncio.run(join_and_leave("sess-second", first))

    assert first < 100, "the zone was meant to fill up; make it smaller"
    assert full == 0
    assert second == first
    assert "a new session was rejected" in ng.error_log()


SLOW_CHAT = """
server {
    listen 127.0.0.1:{port};
    location = /ws/chat { neonpro_chat; neonpro_chat_send_queue 64k; }
}
"""


def raw_join(port, session):
    """Open a raw chat connection that has joined session; returns it."""
    client = socket.socket()
    # A small receive buffer fills after a few frames when the client
    # does not read.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    client.settimeout(10)
    client.sendall(
        f"GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    payload = json.dumps({"type": "join", "session_id": session}).encode()
    key = os.urandom(4)
    masked = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
    client.sendall(bytes([0x81, 0x80 | len(payload)]) + key + masked)
    return client


def last_close_code(client):
    """Read until the server closes; return the code of its Close frame."""
    data = b""
    while True:
        chunk = client.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    # Frames start after the 101 response's header.
    position, code = data.index(b"\r\n\r\n") + 4, None
    while position + 2 <= len(data):
        opcode, length = data[position] & 0x0F, data[position + 1] & 0x7F
        header = 2
        if length == 126:
            length, header = struct.unpack("!H", data[position + 2:position + 4])[0], 4
        elif length == 127:
            length, header = struct.unpack("!Q", data[position + 2:position + 10])[0], 10
        if opcode == 0x8:
            code = struct.unpack("!H", data[position + header:position + header + 2])[0]
        position += header + length
    return code


def test_slow_consumer_closed_with_1008(nginx):
    ng = nginx(SLOW_CHAT)
    content = "x" * 60000
    slow = raw_join(ng.port, "sess-slow-01")

    async def publish_until_closed():
        publisher = await open_chat(ng)
        await publisher.send(json.dumps({"type": "join", "session_id": "sess-slow-01"}))
        await asyncio.wait_for(publisher.recv(), 10)
        for _ in range(200):
            await publisher.send(json.dumps({"type": "message", "session_id": "sess-slow-01",
                                             "data": {"content": content}}))
            await asyncio.wait_for(publisher.recv(), 10)
            if "slow chat consumer" in ng.error_log():
                break
        await publisher.close()

    asyncio.run(publish_until_closed())
    code = last_close_code(slow)
    slow.close()

    assert "slow chat consumer" in ng.error_log()
    assert code == 1008


SLOW_CHAT_FAST_HEARTBEAT = """
server {
    listen 127.0.0.1:{port};
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_send_queue 64k;
        neonpro_chat_heartbeat 1s;
    }
}
"""

CLOSE_TIMED_OUT = "did not read the Close frame"


def test_unread_close_frame_times_out(nginx):
    """A consumer that never reads is dropped one heartbeat after its 1008."""
    ng = nginx(SLOW_CHAT_FAST_HEARTBEAT)
    content = "x" * 60000
    stuck = raw_join(ng.port, "sess-stuck-01")

    async def publish_until_closed():
        publisher = await open_chat(ng)
        await publisher.send(json.dumps({"type": "join", "session_id": "sess-stuck-01"}))
        await asyncio.wait_for(publisher.recv(), 10)
        for _ in range(200):
            await publisher.send(json.dumps({"type": "message", "session_id": "sess-stuck-01",
                                             "data": {"content": content}}))
            await asyncio.wait_for(publisher.recv(), 10)
            if "slow chat consumer" in ng.error_log():
                break
        await publisher.close()

    async def wait_for_timeout():
        # One heartbeat (1 s) is enough, and the bound only stops a failing run.
        for _ in range(200):
            if CLOSE_TIMED_OUT in ng.error_log():
                return
            await asyncio.sleep(0.05)

    try:
        asyncio.run(publish_until_closed())
        asyncio.run(wait_for_timeout())
    finally:
        stuck.close()

    assert "slow chat consumer" in ng.error_log()
    assert CLOSE_TIMED_OUT in ng.error_log()
