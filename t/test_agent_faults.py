"""Agent failures and retries of neonpro_agent_pass.

docs/directives.md: a refused or reset connection gives 502 AI_SERVICE_ERROR,
a timeout 504 TIMEOUT, an agent 5xx 502 AI_SERVICE_ERROR with the agent's
status in the error log, and a reply that is not valid HTTP 502. The agent's
2xx bodies are passed through without validation. Retries follow
neonpro_agent_next_upstream like proxy_next_upstream, never after a byte of
the reply reached the client, and never repeat a POST that was sent unless
`non_idempotent` is given. After every fault the worker must keep serving.
"""

import re

import httpx
import pytest

from agent_support import (
    agent_config,
    assert_json_error,
    chat_body,
    expected_reply,
    extra_agents,  # noqa: F401 (fixture)
    parse_sse,
    worker_crashes,
)
from conftest import free_port

CONFIG = agent_config(server_extra="neonpro_agent_read_timeout 1s;")

REFUSED_CONFIG = """
server {
    listen 127.0.0.1:{port};
    location = /v1/chat {
        neonpro_agent_pass http://127.0.0.1:{refused_port};
        neonpro_agent_contract chat;
    }
    location /api/ {
        neonpro_agent_pass http://127.0.0.1:{refused_port};
    }
}
"""

REQUESTS = {
    "chat": ("POST", "/v1/chat", chat_body()),
    "query": ("POST", "/api/agent/query", {"query": "consultas de hoje"}),
    "get": ("GET", "/api/echo-headers", None),
}

# Each row: fault mode, status, error code, a regex that must match a line of
# error.log. slow_first_byte waits 3 s, longer than the 1 s read timeout of
# CONFIG.
FAULTS = [
    ("drop", 502, "AI_SERVICE_ERROR", r"upstream prematurely closed connection"),
    ("http_500", 502, "AI_SERVICE_ERROR", r"agent \S+ returned status 500"),
    ("http_503", 502, "AI_SERVICE_ERROR", r"agent \S+ returned status 503"),
    ("bad_status_line", 502, "AI_SERVICE_ERROR", r"agent \S+ sent an invalid status line"),
    ("bad_header", 502, "AI_SERVICE_ERROR", r"agent \S+ sent an invalid header"),
    ("bad_chunking", 502, "AI_SERVICE_ERROR", r"agent \S+ sent an invalid chunked body"),
    ("slow_first_byte", 504, "TIMEOUT", r"upstream timed out"),
]


def send(ng, name, headers=None):
    method, path, body = REQUESTS[name]
    return ng.request(method, path, json=body, headers=headers)


def assert_serves_next(ng, agent):
    """Check that a normal chat request succeeds and that no worker crashed."""
    response = ng.post("/v1/chat", json=chat_body("depois"))
    assert response.status_code == 200
    assert response.json()["message"]["content"] == expected_reply("depois")
    assert worker_crashes(ng.error_log()) == []


@pytest.mark.parametrize("request_name", list(REQUESTS))
@pytest.mark.parametrize(
    "mode, status, code, log_pattern", FAULTS, ids=[row[0] for row in FAULTS]
)
def test_agent_fault_becomes_json_error(nginx, clean_agent, mode, status, code,
                                        log_pattern, request_name):
    ng = nginx(CONFIG)
    clean_agent.fault(mode, count=1, delay_ms=3000)

    response = send(ng, request_name, headers={"X-Request-Id": "fault-trace-1"})

    assert_json_error(response, status, code)
    assert response.headers.get("x-request-id") == "fault-trace-1"
    # The default neonpro_agent_next_upstream has one server to try here,
    # so the agent receives exactly one attempt.
    assert len(clean_agent.requests()) == 1
    assert re.search(log_pattern, ng.error_log()), ng.error_log()
    assert_serves_next(ng, clean_agent)


@pytest.mark.parametrize("request_name", list(REQUESTS))
def test_refused_connection(nginx, clean_agent, request_name):
    refused_port = free_port()
    ng = nginx(REFUSED_CONFIG.replace("{refused_port}", str(refused_port)))

    response = send(ng, request_name)

    assert_json_error(response, 502, "AI_SERVICE_ERROR")
    assert f"127.0.0.1:{refused_port}" in ng.error_log()
    assert "Connection refused" in ng.error_log()
    assert worker_crashes(ng.error_log()) == []


def test_refused_twice_keeps_serving(nginx, clean_agent):
    refused_port = free_port()
    ng = nginx(REFUSED_CONFIG.replace("{refused_port}", str(refused_port)))

    statuses = [ng.post("/v1/chat", json=chat_body()).status_code for _ in range(3)]

    assert statuses == [502, 502, 502]
    assert worker_crashes(ng.error_log()) == []


def test_agent_5xx_body_not_passed(nginx, clean_agent):
    ng = nginx(CONFIG)
    clean_agent.fault("http_500")

    response = ng.post("/v1/chat", json=chat_body())

    assert_json_error(response, 502, "AI_SERVICE_ERROR")
    assert b"simulated failure" not in response.content


def test_agent_fault_message_in_english(nginx, clean_agent):
    ng = nginx(CONFIG)
    clean_agent.fault("http_503")

    response = ng.post("/v1/chat", json=chat_body(), headers={"Accept-Language": "en"})

    assert_json_error(response, 502, "AI_SERVICE_ERROR")
    assert response.headers.get("content-language") == "en"


@pytest.mark.parametrize("request_name", ["chat", "query"])
def test_malformed_json_reply_passed(nginx, clean_agent, request_name):
    ng = nginx(CONFIG)
    clean_agent.fault("malformed_json")

    response = send(ng, request_name)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.content == b'{"success": tru'
    assert_serves_next(ng, clean_agent)


def test_several_faults_in_a_row(nginx, clean_agent):
    ng = nginx(CONFIG)
    modes = ["drop", "bad_header", "http_500", "bad_chunking", "bad_status_line", "http_503"]
    statuses = []

    for mode in modes:
        clean_agent.fault(mode)
        statuses.append(ng.post("/v1/chat", json=chat_body()).status_code)

    assert statuses == [502] * len(modes)
    assert len(clean_agent.requests()) == len(modes)
    assert_serves_next(ng, clean_agent)


# --- Retries ---------------------------------------------------------------

# Server A is the session's agent, which the tests make fail, and server B a
# second reference agent. fail_timeout=60s keeps a failed A out of rotation
# for the whole test, so A receives one attempt whichever server round robin
# picks first.
RETRY_CONFIG = """
upstream ai_agent {
    server 127.0.0.1:{agent_port} fail_timeout=60s;
    server 127.0.0.1:{second_port} fail_timeout=60s;
    keepalive 8;
}
server {
    listen 127.0.0.1:{port};
    neonpro_agent_read_timeout 1s;
    {next_upstream}

    location = /v1/chat {
        neonpro_agent_pass http://ai_agent;
        neonpro_agent_contract chat;
    }
    location /api/ {
        neonpro_agent_pass http://ai_agent;
    }
}
"""


def start_retry_pair(nginx, extra_agents, next_upstream):
    second = extra_agents()
    config = RETRY_CONFIG.replace("{second_port}", str(second.port)).replace(
        "{next_upstream}", next_upstream
    )
    return nginx(config), second


# Each row: neonpro_agent_next_upstream line, fault of A, request, the
# sorted statuses of two requests, and how many requests A and B receive.
RETRY_CASES = [
    ("http_500-non_idempotent",
     "neonpro_agent_next_upstream error timeout http_500 non_idempotent;",
     "http_500", "chat", [200, 200], 1, 2),
    ("no-http_500",
     "neonpro_agent_next_upstream error timeout non_idempotent;",
     "http_500", "chat", [200, 502], 1, 1),
    ("http_500-post-not-repeated",
     "neonpro_agent_next_upstream error timeout http_500;",
     "http_500", "chat", [200, 502], 1, 1),
    ("http_500-get-repeated",
     "neonpro_agent_next_upstream error timeout http_500;",
     "http_500", "get", [200, 200], 1, 2),
    ("http_503-non_idempotent",
     "neonpro_agent_next_upstream error http_503 non_idempotent;",
     "http_503", "chat", [200, 200], 1, 2),
    ("drop-non_idempotent",
     "neonpro_agent_next_upstream error timeout non_idempotent;",
     "drop", "chat", [200, 200], 1, 2),
    ("drop-post-not-repeated",
     "",
     "drop", "chat", [200, 502], 1, 1),
    ("timeout-non_idempotent",
     "neonpro_agent_next_upstream error timeout non_idempotent;",
     "slow_first_byte", "chat", [200, 200], 1, 2),
    ("off",
     "neonpro_agent_next_upstream off;",
     "http_500", "get", [200, 502], 1, 1),
    ("tries-1",
     "neonpro_agent_next_upstream error timeout http_500 non_idempotent;"
     " neonpro_agent_next_upstream_tries 1;",
     "http_500", "chat", [200, 502], 1, 1),
]


@pytest.mark.parametrize(
    "next_upstream, mode, request_name, statuses, a_count, b_count",
    [case[1:] for case in RETRY_CASES],
    ids=[case[0] for case in RETRY_CASES],
)
def test_retry_policy(nginx, clean_agent, extra_agents, next_upstream, mode,
                      request_name, statuses, a_count, b_count):
    ng, second = start_retry_pair(nginx, extra_agents, next_upstream)
    clean_agent.fault(mode, count=-1, delay_ms=3000)

    responses = [send(ng, request_name) for _ in range(2)]

    assert sorted(response.status_code for response in responses) == statuses
    for response in responses:
        if response.status_code != 200:
            assert_json_error(response, 502, "AI_SERVICE_ERROR")
    assert len(clean_agent.requests()) == a_count
    assert len(second.requests()) == b_count
    assert worker_crashes(ng.error_log()) == []


def test_refused_server_skipped(nginx, clean_agent):
    refused_port = free_port()
    config = """
upstream ai_agent {
    server 127.0.0.1:{refused_port};
    server 127.0.0.1:{agent_port};
    keepalive 8;
}
server {
    listen 127.0.0.1:{port};
    location = /v1/chat {
        neonpro_agent_pass http://ai_agent;
        neonpro_agent_contract chat;
    }
}
""".replace("{refused_port}", str(refused_port))
    ng = nginx(config)

    # Round robin sends one of the two requests to the refused port first.
    statuses = [ng.post("/v1/chat", json=chat_body()).status_code for _ in range(2)]

    assert statuses == [200, 200]
    assert len(clean_agent.requests()) == 2
    log = ng.error_log()
    assert re.search(rf"Connection refused.*upstream: \"[^\"]*127\.0\.0\.1:{refused_port}\"", log), log


def test_started_stream_not_retried(nginx, clean_agent, extra_agents):
    ng, second = start_retry_pair(
        nginx, extra_agents,
        "neonpro_agent_next_upstream error timeout http_500 http_502 http_503 non_idempotent;",
    )
    clean_agent.fault("drop_mid_stream", count=-1)
    bodies = []
    cut_streams = 0

    for _ in range(2):
        received = b""
        with httpx.Client(base_url=ng.url, timeout=10.0) as client:
            with client.stream("POST", "/v1/chat", json=chat_body(stream=True)) as response:
                assert response.status_code == 200
                try:
                    for chunk in response.iter_raw():
                        received += chunk
                except httpx.RemoteProtocolError:
                    cut_streams += 1
        bodies.append(parse_sse(received))

    # One request went to A, which cut the stream after one event. It must
    # not be repeated on B once the event reached the client.
    assert cut_streams == 1
    assert sorted(len(events) for events in bodies)[0] == 1
    assert [events[-1]["type"] for events in bodies].count("done") == 1
    assert len(clean_agent.requests()) == 1
    assert len(second.requests()) == 1
    assert worker_crashes(ng.error_log()) == []
