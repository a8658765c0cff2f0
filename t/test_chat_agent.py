"""The AI agent as a chat participant (neonpro_chat_agent).

A message in a session with the agent becomes a streaming POST /v1/chat to
the reference agent through libcurl on nginx's event loop. These tests check
the stream every participant receives (stream_start, stream_chunk,
stream_end), the stored reply, the request the agent gets (history, user,
locale), the agent's faults through its control API, the per-worker limit
with its queue, and the directives.
"""

import asyncio

import httpx
import pytest
import websockets

from chat_support import (
    SUBPROTOCOL,
    recv_envelope,
    request_reply,
    run,
    send_envelope,
    ws_connect,
)

AGENT_HTTP = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_agent http://127.0.0.1:{agent_port}/v1/chat;
        neonpro_chat_agent_timeout 2s;
        neonpro_chat_agent_history 2;
    }
}
"""

AGENT_LIMITED_HTTP = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_agent http://127.0.0.1:{agent_port}/v1/chat;
        neonpro_chat_agent_concurrency 1;
        neonpro_chat_agent_queue 1;
    }
}
"""

NO_AGENT_HTTP = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat { neonpro_chat; }
}
"""

# Nothing listens on port 1 of the loopback address: connecting is refused.
REFUSED_AGENT_HTTP = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_agent http://127.0.0.1:1/v1/chat;
    }
}
"""

STREAM_TYPES = ("stream_start", "stream_chunk", "stream_end")
REPLY_TIMEOUT_S = 15


def agent_reply_text(agent, content, locale="en"):
    """Return the reply the agent gives to content, asked without streaming."""
    response = httpx.post(
        agent.url + "/v1/chat",
        json={"session_id": "sess_reference", "message": {"content": content}, "locale": locale},
        timeout=10.0,
    )
    response.raise_for_status()
    return response.json()["message"]["content"]


async def hello_and_join(ws, session_id, agent=None):
    """Read the server hello, join session_id and return (hello, joined)."""
    hello = await recv_envelope(ws)
    assert hello["type"] == "hello"
    envelope = {"id": "j-1", "type": "join", "session_id": session_id}
    if agent is not None:
        envelope["data"] = {"agent": agent}
    await send_envelope(ws, envelope)
    joined = await recv_envelope(ws)
    assert joined["type"] == "joined", joined
    return hello, joined


async def read_until(ws, done, timeout=REPLY_TIMEOUT_S):
    """Return every envelope up to and including the first one where done(e)."""
    received = []
    while True:
        envelope = await recv_envelope(ws, timeout=timeout)
        received.append(envelope)
        if done(envelope):
            return received


def is_stream_end(envelope):
    return envelope["type"] == "stream_end"


def streamed_text(envelopes, stream_id):
    chunks = [
        e["data"] for e in envelopes
        if e["type"] == "stream_chunk" and e["data"]["stream_id"] == stream_id
    ]
    assert [c["index"] for c in chunks] == list(range(len(chunks))), chunks
    return "".join(c["delta"] for c in chunks)


async def ask(ws, session_id, content, envelope_id="m-1"):
    await send_envelope(
        ws,
        {"id": envelope_id, "type": "message", "session_id": session_id, "data": {"content": content}},
    )


# ---------------------------------------------------------------------------
# A streamed reply


def test_reply_streams_and_is_stored(nginx, clean_agent):
    server = nginx(AGENT_HTTP)
    session = "sess_agent_stream"
    question = "Posso remarcar a consulta de amanhã?"
    expected = agent_reply_text(clean_agent, question)

    async def scenario():
        async with ws_connect(server.port) as ws:
            _, joined = await hello_and_join(ws, session)
            assert joined["data"]["agent"] is True
            await ask(ws, session, question)
            live = await read_until(ws, is_stream_end)
            async with ws_connect(server.port) as late:
                await recv_envelope(late)
                await send_envelope(
                    late, {"type": "resume", "session_id": session, "data": {"after_seq": 0}}
                )
                replay = await request_reply(late)
            return live, replay

    live, replay = run(scenario())
    types = [e["type"] for e in live]

    assert types[0] == "message"
    assert live[0]["data"]["seq"] == 1
    assert live[0]["id"] == "m-1"
    assert types[1] == "stream_start"
    start = live[1]["data"]
    assert start["reply_to"] == 1
    assert set(types[2:-1]) == {"stream_chunk"}
    assert len(types) - 3 > 1, "the reply came in one chunk; each agent event is one chunk"

    end = live[-1]["data"]
    assert end["stream_id"] == start["stream_id"]
    assert end["seq"] == 2
    assert streamed_text(live, start["stream_id"]) == expected

    # The stored reply is the session's message 2, as resume replays it.
    assert [e["type"] for e in replay] == ["joined", "message", "message"], replay
    stored = replay[2]["data"]
    assert stored["seq"] == 2
    assert stored["content"] == expected
    assert stored["user"] == {"id": "agent", "role": "assistant"}
    assert stored["stream_id"] == start["stream_id"]


def test_agent_request_carries_history_user_and_locale(nginx, clean_agent):
    """The agent gets stream: true, the user and the last 2 exchanges."""
    server = nginx(AGENT_HTTP)
    session = "sess_agent_memory"
    questions = [f"pergunta número {n}" for n in range(1, 5)]

    async def scenario():
        async with ws_connect(server.port, extra_headers={"Accept-Language": "pt-BR"}) as ws:
            await hello_and_join(ws, session)
            for n, question in enumerate(questions, start=1):
                await ask(ws, session, question, envelope_id=f"m-{n}")
                await read_until(ws, is_stream_end)

    run(scenario())
    calls = [r for r in clean_agent.requests() if r["path"] == "/v1/chat"]
    assert len(calls) == len(questions)

    last = calls[-1]["body"]
    assert last["stream"] is True
    assert last["session_id"] == session
    assert last["message"] == {"id": "m-4", "content": questions[3]}
    assert last["user"] == {"id": "anonymous", "role": "anonymous"}
    assert last["locale"] == "pt-BR"
    assert calls[-1]["headers"]["accept"] == "text/event-stream"

    # history 2: the two exchanges before the question, oldest first
    history = last["history"]
    assert [h["role"] for h in history] == ["user", "assistant", "user", "assistant"]
    assert history[0]["content"] == questions[1]
    assert history[2]["content"] == questions[2]
    assert history[3]["content"] == agent_reply_text(clean_agent, questions[2], "pt-BR")

    assert calls[0]["body"]["history"] == []


def test_session_without_agent(nginx, clean_agent):
    """A first join with data.agent false keeps the agent out of the session."""
    server = nginx(AGENT_HTTP)
    session = "sess_agent_off_1"

    async def scenario():
        async with ws_connect(server.port) as ws:
            _, joined = await hello_and_join(ws, session, agent=False)
            await ask(ws, session, "só entre nós")
            replies = await request_reply(ws)
            # a later join with agent true does not change the session
            async with ws_connect(server.port) as other:
                _, joined_again = await hello_and_join(other, session, agent=True)
            return joined, replies, joined_again

    joined, replies, joined_again = run(scenario())
    assert joined["data"]["agent"] is False
    assert joined_again["data"]["agent"] is False
    assert [e["type"] for e in replies] == ["message"]
    assert [r for r in clean_agent.requests() if r["path"] == "/v1/chat"] == []


def test_location_without_agent(nginx):
    server = nginx(NO_AGENT_HTTP)

    async def scenario():
        async with ws_connect(server.port) as ws:
            _, joined = await hello_and_join(ws, "sess_no_agent_here")
            await ask(ws, "sess_no_agent_here", "olá")
            return joined, await request_reply(ws)

    joined, replies = run(scenario())
    assert joined["data"]["agent"] is False
    assert [e["type"] for e in replies] == ["message"]


def test_stream_reaches_participants_on_other_workers(nginx, clean_agent):
    """Every participant, on any worker, receives the same stream and end."""
    server = nginx(AGENT_HTTP, workers=4)
    session = "sess_agent_workers"

    async def scenario():
        clients, workers = [], set()
        try:
            while len(workers) < 2 or len(clients) < 4:
                assert len(clients) < 40, f"all connections landed on workers {workers}"
                ws = await ws_connect(server.port).__aenter__()
                clients.append(ws)
                hello, _ = await hello_and_join(ws, session)
                workers.add(hello["data"]["worker"])
            await ask(clients[0], session, "Quais exames preciso levar?")
            return workers, [await read_until(ws, is_stream_end) for ws in clients]
        finally:
            for ws in clients:
                await ws.close()

    workers, seen = run(scenario())
    assert len(workers) >= 2
    first = seen[0]
    stream_id = next(e for e in first if e["type"] == "stream_start")["data"]["stream_id"]
    text = streamed_text(first, stream_id)
    assert text
    for envelopes in seen:
        assert [e["type"] for e in envelopes][0] == "message"
        assert streamed_text(envelopes, stream_id) == text
        assert envelopes[-1]["data"] == {"stream_id": stream_id, "seq": 2}


# ---------------------------------------------------------------------------
# Agent faults


FAULT_CASES = [
    # (fault mode, expected error code, words the error log names)
    ("http_500", "AI_SERVICE_ERROR", "answered with status 500"),
    ("http_503", "AI_SERVICE_ERROR", "answered with status 503"),
    ("drop", "AI_SERVICE_ERROR", "failed:"),
    ("drop_mid_stream", "AI_SERVICE_ERROR", "failed"),
    ("bad_status_line", "AI_SERVICE_ERROR", "failed:"),
    ("bad_chunking", "AI_SERVICE_ERROR", "failed:"),
    ("malformed_json", "AI_SERVICE_ERROR", "without an event stream"),
    ("stall", "TIMEOUT", "sent nothing for 2000 ms"),
]


@pytest.mark.parametrize("mode, code, logged", FAULT_CASES, ids=[c[0] for c in FAULT_CASES])
def test_agent_fault_ends_stream_with_error(nginx, clean_agent, mode, code, logged):
    server = nginx(AGENT_HTTP)
    session = f"sess_fault_{mode}"
    clean_agent.fault(mode)

    async def scenario():
        async with ws_connect(server.port) as ws:
            await hello_and_join(ws, session)
            await ask(ws, session, "Preciso de ajuda", envelope_id="m-fault")
            envelopes = await read_until(ws, is_stream_end)
            # the session still works: the next question gets its answer
            await ask(ws, session, "E agora?", envelope_id="m-next")
            after = await read_until(ws, is_stream_end)
            return envelopes, after

    try:
        envelopes, after = run(scenario())
    finally:
        clean_agent.release()

    types = [e["type"] for e in envelopes]
    assert types[0] == "message"
    assert types[1] == "stream_start"
    error = next(e for e in envelopes if e["type"] == "error")
    assert types.index("error") == len(types) - 2, types
    assert error["data"]["code"] == code
    assert error["data"]["retryable"] is True
    assert error["id"] == "m-fault"
    assert error["session_id"] == session
    assert envelopes[-1]["data"]["seq"] is None

    assert after[-1]["data"]["seq"] == 3, "the failed reply took no seq; the question did"

    log = server.error_log()
    line = next((l for l in log.splitlines() if "chat agent" in l and logged in l), None)
    assert line is not None, f"no error-log line with {logged!r}:\n{log}"
    assert "Preciso" not in log, "message content reached the error log"


def one_question(server, session, question, language="en"):
    """Ask one question in a new session and return everything up to stream_end."""

    async def scenario():
        async with ws_connect(server.port, extra_headers={"Accept-Language": language}) as ws:
            await hello_and_join(ws, session)
            await ask(ws, session, question)
            return await read_until(ws, is_stream_end)

    return run(scenario())


def test_agent_refused(nginx):
    server = nginx(REFUSED_AGENT_HTTP)
    envelopes = one_question(server, "sess_refused_agent", "alguém aí?", "pt-BR")
    error = next(e for e in envelopes if e["type"] == "error")
    assert error["data"]["code"] == "AI_SERVICE_ERROR"
    assert error["data"]["retryable"] is True
    assert "assistente de IA" in error["data"]["message"]
    assert envelopes[-1]["data"]["seq"] is None
    assert "Couldn't connect to server" in server.error_log()


def test_slow_first_byte_within_timeout(nginx, clean_agent):
    """A reply that starts late but inside neonpro_chat_agent_timeout succeeds."""
    server = nginx(AGENT_HTTP)
    clean_agent.fault("slow_first_byte", delay_ms=700)
    envelopes = one_question(server, "sess_slow_agent", "Demora?")
    assert "error" not in [e["type"] for e in envelopes]
    assert envelopes[-1]["data"]["seq"] == 2


# ---------------------------------------------------------------------------
# The per-worker limit and its queue


def test_concurrency_limit_queues_then_refuses(nginx, clean_agent):
    """concurrency 1, queue 1: the third question waiting is refused."""
    server = nginx(AGENT_LIMITED_HTTP)
    session = "sess_agent_queue"
    clean_agent.fault("stall", count=2)

    async def scenario():
        async with ws_connect(server.port) as ws:
            await hello_and_join(ws, session)
            await ask(ws, session, "um", envelope_id="q-1")
            first = await read_until(ws, lambda e: e["type"] == "stream_start")
            second = await request_reply(
                ws, {"id": "q-2", "type": "message", "session_id": session, "data": {"content": "dois"}}
            )
            third = await request_reply(
                ws, {"id": "q-3", "type": "message", "session_id": session, "data": {"content": "três"}}
            )
            clean_agent.release()
            rest = []
            while sum(1 for e in rest if e["type"] == "stream_end") < 2:
                rest.append(await recv_envelope(ws, timeout=REPLY_TIMEOUT_S))
            return first, second, third, rest

    try:
        first, second, third, rest = run(scenario())
    finally:
        clean_agent.release()

    def without_chunks(envelopes):
        # the stalled first reply may have sent a chunk before it stalled
        return [e for e in envelopes if e["type"] != "stream_chunk"]

    assert [e["type"] for e in first] == ["message", "stream_start"]
    # the second question is stored and waits without a stream yet
    assert [e["type"] for e in without_chunks(second)] == ["message"]
    third = without_chunks(third)
    assert [e["type"] for e in third] == ["error"]
    assert third[0]["id"] == "q-3"
    assert third[0]["data"]["code"] == "RATE_LIMITED"
    assert third[0]["data"]["retryable"] is True

    ends = [e["data"] for e in rest if e["type"] == "stream_end"]
    starts = [e["data"] for e in rest if e["type"] == "stream_start"]
    assert [s["reply_to"] for s in starts] == [2]
    assert [e["seq"] for e in ends] == [3, 4]
    assert all(e["type"] != "error" for e in rest)


# ---------------------------------------------------------------------------
# Directives


@pytest.mark.parametrize(
    "directive, message",
    [
        ("neonpro_chat_agent ftp://127.0.0.1/v1/chat;", 'invalid agent URL "ftp://127.0.0.1/v1/chat"'),
        ("neonpro_chat_agent http://;", 'invalid agent URL "http://"'),
        ("neonpro_chat_agent_concurrency 0;", "neonpro_chat_agent_concurrency must be at least 1"),
        ("neonpro_chat_agent_history 600;", "neonpro_chat_agent_history must be at most 512"),
        ("neonpro_chat_agent_timeout soon;", 'invalid value "soon" in "neonpro_chat_agent_timeout" directive'),
        ("neonpro_chat_agent_queue -1;", 'invalid value "-1" in "neonpro_chat_agent_queue" directive, expected a whole number'),
    ],
)
def test_bad_agent_directives(nginx_t, directive, message):
    returncode, stderr = nginx_t(
        "server { listen 127.0.0.1:1; location = /ws/chat { neonpro_chat; " + directive + " } }"
    )
    assert returncode != 0
    assert message in stderr, stderr


def test_agent_directive_inherits_and_turns_off(nginx, clean_agent):
    """A server-level agent reaches its locations; `off` turns it off below."""
    server = nginx(
        """
        server {
            listen 127.0.0.1:{port} reuseport;
            neonpro_chat_agent http://localhost:{agent_port}/v1/chat;
            location = /ws/chat { neonpro_chat; }
            location = /ws/quiet { neonpro_chat; neonpro_chat_agent off; }
        }
        """
    )

    async def joined_agent(path):
        url = f"ws://127.0.0.1:{server.port}{path}"
        async with websockets.connect(url, subprotocols=[SUBPROTOCOL]) as ws:
            _, joined = await hello_and_join(ws, "sess_inherit_" + path.strip("/").replace("/", "_"))
            return joined["data"]["agent"]

    assert run(joined_agent("/ws/chat")) is True
    assert run(joined_agent("/ws/quiet")) is False


# ---------------------------------------------------------------------------
# Reload while the agent streams a reply

AGENT_PATIENT_HTTP = """
server {
    listen 127.0.0.1:{port} reuseport;
    location = /ws/chat {
        neonpro_chat;
        neonpro_chat_agent http://127.0.0.1:{agent_port}/v1/chat;
        neonpro_chat_agent_timeout 20s;
    }
}
"""


def test_reply_finished_by_old_worker_reaches_new_workers(nginx, clean_agent):
    """A reload during a reply: the old worker finishes and stores it, and
    the client that reconnected to a new worker receives it live."""
    server = nginx(AGENT_PATIENT_HTTP, workers=2)
    session = "sess_reload_agent"
    clean_agent.fault("stall")

    async def scenario():
        loop = asyncio.get_running_loop()
        async with ws_connect(server.port) as ws:
            await hello_and_join(ws, session)
            await ask(ws, session, "Vai demorar?")
            await read_until(ws, lambda e: e["type"] == "stream_start")
            await loop.run_in_executor(None, server.reload)
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            close = (ws.close_code, ws.close_reason)

        async with ws_connect(server.port) as ws:
            await recv_envelope(ws)
            resumed = await request_reply(
                ws, {"type": "resume", "session_id": session, "data": {"after_seq": 1}}
            )
            clean_agent.release()
            reply = await read_until(ws, lambda e: e["type"] == "message")
        return close, resumed, reply

    try:
        close, resumed, reply = run(scenario())
    finally:
        clean_agent.release()

    assert close == (1001, "reconnect")
    assert [e["type"] for e in resumed] == ["joined"]
    assert resumed[0]["data"]["last_seq"] == 1
    stored = reply[-1]["data"]
    assert stored["seq"] == 2
    assert stored["user"]["role"] == "assistant"
    assert stored["content"]
    assert "[alert]" not in server.error_log()
