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
