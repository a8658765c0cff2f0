"""Limits of the chat WebSocket: connections per address and messages per
minute per connection."""

import asyncio
import json

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
