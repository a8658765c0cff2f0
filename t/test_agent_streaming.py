"""Server-sent events through neonpro_agent_pass.

docs/directives.md: replies of type text/event-stream are forwarded event by
event as they arrive, and nothing is buffered. The reference agent's `stall`
fault sends the first event and then holds the stream until the test calls
release, so a client that receives the first event before the release proves
that nginx did not wait for more data. The tests assert on the order of what
the client received, never on how long it took.
"""

import httpx
import pytest

from agent_support import (
    ANONYMOUS_USER,
    GENERATED_REQUEST_ID,
    agent_config,
    chat_body,
    expected_reply,
    parse_sse,
    worker_crashes,
)

CONFIG = agent_config()

# A 1 s agent read timeout, for the tests of streams that outlast it.
SHORT_READ_TIMEOUT_CONFIG = agent_config(server_extra="neonpro_agent_read_timeout 1s;")

# Bounds the wait for a byte that nginx never forwards, so that a buffering
# bug fails the test with httpx.ReadTimeout instead of hanging it.
CLIENT_TIMEOUT = httpx.Timeout(10.0)

CONTENT = "Olá mundo"


def stream_body(content=CONTENT):
    return chat_body(content, stream=True)


def read_first_event(chunks):
    """Read raw chunks until one whole SSE event (ending in a blank line) arrived.

    Returns the bytes read so far, which may hold more than one event.
    """
    received = b""
    while b"\n\n" not in received:
        received += next(chunks)
    return received


def assert_reply_events(events, content=CONTENT):
    """Check the text events in order, then the final done event."""
    text_events = events[:-1]
    done = events[-1]
    assert [event["type"] for event in text_events] == ["text"] * len(text_events)
    assert "".join(event["delta"] for event in text_events) == expected_reply(content)
    assert done["type"] == "done"
    assert done["received_user"] == ANONYMOUS_USER
    assert done["usage"]["output_tokens"] == len(text_events)


def test_stream_events_in_order(nginx, clean_agent):
    ng = nginx(CONFIG)

    with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
        response = client.post("/v1/chat", json=stream_body())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert GENERATED_REQUEST_ID.fullmatch(response.headers.get("x-request-id", ""))
    events = parse_sse(response.content)
    assert len(events) >= 2
    assert_reply_events(events)
    assert [event["type"] for event in events].count("done") == 1
    assert clean_agent.requests()[0]["body"]["stream"] is True


def test_stream_first_event_before_release(nginx, clean_agent):
    ng = nginx(CONFIG)
    clean_agent.fault("stall")
    timeline = []

    try:
        with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
            with client.stream("POST", "/v1/chat", json=stream_body()) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                chunks = response.iter_raw()

                try:
                    before_release = read_first_event(chunks)
                except httpx.ReadTimeout:
                    pytest.fail(
                        "no SSE event reached the client while the agent held the stream "
                        "after its first event: nginx buffered the stream"
                    )
                timeline += [("received", event) for event in parse_sse(before_release)]

                clean_agent.release()
                timeline.append(("release", None))

                after_release = b"".join(chunks)
                timeline += [("received", event) for event in parse_sse(after_release)]
    finally:
        clean_agent.reset()

    steps = [step for step, _ in timeline]
    events = [event for step, event in timeline if step == "received"]
    # The agent stalls right after its first event, so exactly one event can
    # arrive before the release and all others after it.
    assert steps[0] == "received"
    assert steps[1] == "release"
    assert len(steps) > 2
    assert events[0] == {"type": "text", "delta": "Olá! "}
    assert_reply_events(events)


def test_stalled_streams_do_not_block_worker(nginx, clean_agent):
    # One worker keeps two stalled streams open and still serves a plain chat
    # request before the streams are released.
    ng = nginx(CONFIG)
    clean_agent.fault("stall", count=2)
    first_events = []
    rests = []

    try:
        with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as first_client, \
                httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as second_client:
            with first_client.stream("POST", "/v1/chat", json=stream_body("um")) as first, \
                    second_client.stream("POST", "/v1/chat", json=stream_body("dois")) as second:
                streams = [(first, "um"), (second, "dois")]
                chunk_iterators = [response.iter_raw() for response, _ in streams]
                for chunks in chunk_iterators:
                    first_events.append(parse_sse(read_first_event(chunks)))

                plain = ng.post("/v1/chat", json=chat_body("no meio"))

                clean_agent.release()
                for chunks in chunk_iterators:
                    rests.append(parse_sse(b"".join(chunks)))
    finally:
        clean_agent.reset()

    assert plain.status_code == 200
    assert plain.json()["message"]["content"] == expected_reply("no meio")
    assert first_events == [[{"type": "text", "delta": "Olá! "}]] * 2
    for (_, content), head, rest in zip(streams, first_events, rests):
        assert_reply_events(head + rest, content)


def test_stream_dropped_mid_stream(nginx, clean_agent):
    ng = nginx(CONFIG)
    clean_agent.fault("drop_mid_stream")
    received = b""
    error = None

    with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
        with client.stream("POST", "/v1/chat", json=stream_body()) as response:
            status = response.status_code
            try:
                for chunk in response.iter_raw():
                    received += chunk
            except httpx.RemoteProtocolError as exc:
                error = exc

    assert status == 200
    events = parse_sse(received)
    assert events == [{"type": "text", "delta": "Olá! "}]
    # The chunked body must end without its last chunk, so the client can
    # tell a cut stream from a finished one.
    assert error is not None
    assert len(clean_agent.requests()) == 1


def test_worker_serves_after_drop(nginx, clean_agent):
    ng = nginx(CONFIG)
    clean_agent.fault("drop_mid_stream")
    with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/v1/chat", json=stream_body())

    with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
        streamed = client.post("/v1/chat", json=stream_body())
        plain = client.post("/v1/chat", json=chat_body(CONTENT))

    assert streamed.status_code == 200
    assert_reply_events(parse_sse(streamed.content))
    assert plain.status_code == 200
    assert plain.json()["message"]["content"] == expected_reply(CONTENT)
    assert len(clean_agent.requests()) == 3
    assert worker_crashes(ng.error_log()) == []


def test_stream_larger_than_buffer(nginx, clean_agent):
    ng = nginx(agent_config(server_extra="neonpro_agent_buffer_size 1k;"))
    content = "palavra " * 500

    with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
        response = client.post("/v1/chat", json=stream_body(content))

    assert response.status_code == 200
    assert len(response.content) > 16 * 1024
    assert_reply_events(parse_sse(response.content), content)


def test_stream_longer_than_read_timeout(nginx, clean_agent):
    # The reference agent sleeps TOKEN_INTERVAL_S (10 ms) after every token,
    # so 300 words take at least 3 s in total, three read timeouts, while
    # no gap between two events comes near the timeout.
    content = " ".join(["palavra"] * 300)
    ng = nginx(SHORT_READ_TIMEOUT_CONFIG)

    with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
        response = client.post("/v1/chat", json=stream_body(content))

    assert response.status_code == 200
    events = parse_sse(response.content)
    assert len(events) > 300
    assert_reply_events(events, content)
    assert "timed out" not in ng.error_log()


def test_stall_past_read_timeout_cuts_stream(nginx, clean_agent):
    ng = nginx(SHORT_READ_TIMEOUT_CONFIG)
    clean_agent.fault("stall")
    error = None

    try:
        with httpx.Client(base_url=ng.url, timeout=CLIENT_TIMEOUT) as client:
            with client.stream("POST", "/v1/chat", json=stream_body()) as response:
                status = response.status_code
                received = b""
                try:
                    for chunk in response.iter_raw():
                        received += chunk
                except httpx.RemoteProtocolError as exc:
                    error = exc
    finally:
        clean_agent.reset()

    assert status == 200
    assert parse_sse(received) == [{"type": "text", "delta": "Olá! "}]
    assert error is not None
    assert "upstream timed out" in ng.error_log()

    next_response = ng.post("/v1/chat", json=chat_body())
    assert next_response.status_code == 200
    assert worker_crashes(ng.error_log()) == []
