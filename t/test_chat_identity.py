"""Identity on the chat WebSocket: the handshake authenticates through the
`bearer.<token>` entry of Sec-WebSocket-Protocol, messages and agent calls
carry the verified user, and a session belongs to the clinic of the user
who opened it."""

import asyncio
import time

import httpx
import websockets

from auth_support import Keys
from chat_support import SUBPROTOCOL, recv_envelope, request_reply, run, send_envelope

KEYS = Keys()

CHAT_AUTH = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_auth_jwt required;
        neonpro_auth_jwt_key {prefix}/keys/rsa.pem kid=rsa1;
        neonpro_require_role ADMIN CLINICAL_STAFF FINANCE_STAFF SUPPORT_READONLY;
        neonpro_chat;
        neonpro_chat_agent http://127.0.0.1:{agent_port}/v1/chat;
    }
}
"""


def connect(server, token=None, protocols=None):
    if protocols is None:
        protocols = [SUBPROTOCOL] + ([f"bearer.{token}"] if token else [])
    return websockets.connect(
        f"ws://127.0.0.1:{server.port}/ws/chat", subprotocols=protocols,
        extra_headers={"Accept-Language": "en"}, open_timeout=10, max_size=None,
    )


def test_handshake_needs_a_token(nginx):
    server = nginx(CHAT_AUTH, files=KEYS.files())
    response = httpx.get(
        f"http://127.0.0.1:{server.port}/ws/chat",
        headers={"Upgrade": "websocket", "Connection": "Upgrade",
                 "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Protocol": SUBPROTOCOL, "Accept-Language": "en"},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_handshake_with_bad_token_or_role(nginx):
    server = nginx(CHAT_AUTH, files=KEYS.files())

    async def status(token):
        try:
            async with connect(server, token):
                return 101
        except websockets.exceptions.InvalidStatusCode as refused:
            return refused.status_code

    assert run(status(KEYS.token(exp=1, iat=0))) == 401
    assert run(status(KEYS.token(role="PATIENT"))) == 403
    assert run(status(KEYS.token())) == 101


def test_subprotocol_token_and_identity_in_messages(nginx, clean_agent):
    server = nginx(CHAT_AUTH, files=KEYS.files())
    token = KEYS.token(sub="user-42", role="CLINICAL_STAFF", clinic_id="clinic-9")

    async def scenario():
        async with connect(server, token) as ws:
            chosen = ws.subprotocol
            await recv_envelope(ws)
            await send_envelope(ws, {"type": "join", "session_id": "sess_identity_ws"})
            await recv_envelope(ws)
            await send_envelope(ws, {"id": "m-1", "type": "message",
                                     "session_id": "sess_identity_ws",
                                     "data": {"content": "Bom dia"}})
            received = []
            while not received or received[-1]["type"] != "stream_end":
                received.append(await recv_envelope(ws, timeout=15))
            return chosen, received

    chosen, received = run(scenario())

    assert chosen == SUBPROTOCOL, "the bearer entry must never be echoed"
    assert received[0]["data"]["user"] == {"id": "user-42", "role": "CLINICAL_STAFF"}
    body = [r for r in clean_agent.requests() if r["path"] == "/v1/chat"][-1]["body"]
    assert body["user"] == {"id": "user-42", "role": "CLINICAL_STAFF", "clinic_id": "clinic-9"}
    assert token not in server.error_log()


def test_session_belongs_to_its_clinic(nginx):
    server = nginx(CHAT_AUTH, files=KEYS.files(), workers=2)
    session = "sess_clinic_owned"
    owner = KEYS.token(sub="user-a", clinic_id="clinic-a")
    colleague = KEYS.token(sub="user-b", clinic_id="clinic-a")
    outsider = KEYS.token(sub="user-c", clinic_id="clinic-b")

    async def join(token, agent=False):
        async with connect(server, token) as ws:
            await recv_envelope(ws)
            envelope = {"id": "j", "type": "join", "session_id": session, "data": {"agent": agent}}
            replies = await request_reply(ws, envelope)
            if replies[0]["type"] == "joined":
                await send_envelope(ws, {"type": "message", "session_id": session,
                                         "data": {"content": "oi"}})
                await recv_envelope(ws)
            return replies[0]

    async def scenario():
        # the owner stays connected while the others try
        async with connect(server, owner) as ws:
            await recv_envelope(ws)
            await request_reply(ws, {"type": "join", "session_id": session,
                                     "data": {"agent": False}})
            refused = [await join(outsider) for _ in range(4)]
            allowed = await join(colleague)
        later = await join(outsider)
        return refused, allowed, later

    refused, allowed, later = run(scenario())

    for reply in refused + [later]:
        assert reply["type"] == "error"
        assert reply["data"]["code"] == "AUTHORIZATION_FAILED"
        assert reply["data"]["retryable"] is False
    assert allowed["type"] == "joined"
    assert "another clinic may not join" in server.error_log()


CHAT_USER_RATE = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_auth_jwt required;
        neonpro_auth_jwt_key {prefix}/keys/rsa.pem kid=rsa1;
        neonpro_chat;
        neonpro_chat_user_message_rate 6;
    }
}
"""


def test_message_rate_per_user_across_connections(nginx):
    """6 messages a minute per user over 3 connections on 4 workers."""
    server = nginx(CHAT_USER_RATE, files=KEYS.files(), workers=4)
    token = KEYS.token(sub="user-rate")
    other = KEYS.token(sub="user-other")
    session = "sess_user_rate"

    async def send_all(ws, count):
        replies = []
        for n in range(count):
            envelope = {"id": f"m-{n}", "type": "message", "session_id": session,
                        "data": {"content": f"msg {n}"}}
            replies += [r for r in await request_reply(ws, envelope) if r.get("id") == f"m-{n}"]
        return replies

    async def scenario():
        clients = [await connect(server, token).__aenter__() for _ in range(3)]
        outsider = await connect(server, other).__aenter__()
        try:
            for ws in clients + [outsider]:
                await recv_envelope(ws)
                await request_reply(ws, {"type": "join", "session_id": session,
                                         "data": {"agent": False}})
            replies = []
            for ws in clients:
                replies += await send_all(ws, 3)
            outsider_replies = await send_all(outsider, 2)
            return replies, outsider_replies
        finally:
            for ws in clients + [outsider]:
                await ws.close()

    replies, outsider_replies = run(scenario())
    types = [r["type"] for r in replies]
    assert types.count("message") == 6
    assert types.count("error") == 3
    assert all(r["data"]["code"] == "RATE_LIMITED" for r in replies if r["type"] == "error")
    assert [r["type"] for r in outsider_replies] == ["message", "message"]


CHAT_SHORT_TOKENS = """
server {
    listen 127.0.0.1:{port};
    location = /ws/chat {
        neonpro_auth_jwt required;
        neonpro_auth_jwt_key {prefix}/keys/rsa.pem kid=rsa1;
        neonpro_auth_jwt_leeway 0;
        neonpro_chat;
        neonpro_chat_heartbeat 1s;
    }
}
"""


def test_connection_closes_when_its_token_expires(nginx):
    """An open connection does not outlive its token: error, then 1008."""
    server = nginx(CHAT_SHORT_TOKENS, files=KEYS.files())
    token = KEYS.token(exp=int(time.time()) + 2)

    async def scenario():
        async with connect(server, token) as ws:
            await recv_envelope(ws)
            joined = await request_reply(ws, {"type": "join", "session_id": "sess_expiring",
                                              "data": {"agent": False}})
            received = []
            try:
                while True:
                    received.append(await recv_envelope(ws, timeout=10))
            except websockets.ConnectionClosed:
                pass
            return joined, received, ws.close_code, ws.close_reason

    joined, received, code, reason = run(scenario())

    assert joined[0]["type"] == "joined"
    errors = [e for e in received if e["type"] == "error"]
    assert errors and errors[-1]["data"]["code"] == "AUTHENTICATION_FAILED"
    assert (code, reason) == (1008, "token expired")
