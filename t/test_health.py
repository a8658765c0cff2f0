"""The neonpro_health document.

docs/directives.md: nginx itself returns a JSON document with the module
name and version and the pid of the worker that handled the request. For
every server of every upstream used by neonpro_agent_pass it lists the state
that recent requests of all workers saw (`unknown` before the first request,
then `up` or `down`), the last status, the time of the last request and the
counts of successes and failures. It never calls the agent.
"""

import re

import pytest

from agent_support import (
    assert_json_error,
    chat_body,
    connection_counter,  # noqa: F401 (fixture)
    extra_agents,  # noqa: F401 (fixture)
)
from conftest import free_port

LAST_SEEN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

# ai_agent: the reference agent. ai_flaky: a port that refuses connections
# until a test starts an agent on it. ai_unused: never passed to, so that
# a test can check that health does not connect to it. plain_backend is used
# by proxy_pass only and so is not an agent upstream.
CONFIG = """
upstream ai_agent { server 127.0.0.1:{agent_port}; keepalive 8; }
upstream ai_flaky { server 127.0.0.1:{flaky_port}; }
upstream ai_unused { server 127.0.0.1:{unused_port}; server 127.0.0.1:{unused_port_2}; }
upstream plain_backend { server 127.0.0.1:{plain_port}; }

server {
    listen 127.0.0.1:{port} {listen_flags};

    location = /v1/chat {
        neonpro_agent_pass http://ai_agent;
        neonpro_agent_contract chat;
    }
    location = /flaky/v1/chat {
        neonpro_agent_pass http://ai_flaky;
    }
    location = /unused {
        neonpro_agent_pass http://ai_unused;
    }
    location = /plain {
        proxy_pass http://plain_backend;
    }
    location = /health {
        neonpro_health;
    }
}
"""


def start(nginx, *, flaky_port=None, unused_ports=None, workers=1, listen_flags=""):
    unused_ports = unused_ports or (free_port(), free_port())
    config = (
        CONFIG.replace("{flaky_port}", str(flaky_port or free_port()))
        .replace("{unused_port}", str(unused_ports[0]))
        .replace("{unused_port_2}", str(unused_ports[1]))
        .replace("{plain_port}", str(free_port()))
        .replace("{listen_flags}", listen_flags)
    )
    return nginx(config, workers=workers)


def health(ng):
    response = ng.get("/health")
    assert response.status_code == 200, response.text
    return response.json()


def peers_by_upstream(document):
    """Return {upstream name: [peer, ...]} of a health document."""
    peers = {}
    for peer in document["agent_peers"]:
        peers.setdefault(peer["upstream"], []).append(peer)
    return peers


def peer_of(document, upstream):
    (peer,) = peers_by_upstream(document)[upstream]
    return peer


def test_health_document(nginx, clean_agent):
    ng = start(nginx)

    response = ng.get("/health")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("cache-control") == "no-store"
    document = response.json()
    assert isinstance(document["status"], str)
    assert document["status"] != ""
    assert document["module"] == "ngx_neonpro"
    assert re.fullmatch(r"\d+\.\d+\.\d+", document["version"])
    assert isinstance(document["worker_pid"], int)
    assert document["worker_pid"] in ng.worker_pids()
    assert isinstance(document["agent_peers"], list)


def test_health_lists_agent_servers(nginx, clean_agent):
    flaky_port = free_port()
    unused_ports = (free_port(), free_port())
    ng = start(nginx, flaky_port=flaky_port, unused_ports=unused_ports)

    peers = peers_by_upstream(health(ng))

    assert set(peers) == {"ai_agent", "ai_flaky", "ai_unused"}
    assert [peer["address"] for peer in peers["ai_agent"]] == [f"127.0.0.1:{clean_agent.port}"]
    assert [peer["address"] for peer in peers["ai_flaky"]] == [f"127.0.0.1:{flaky_port}"]
    assert sorted(peer["address"] for peer in peers["ai_unused"]) == sorted(
        f"127.0.0.1:{port}" for port in unused_ports
    )


def test_health_peers_unknown_at_start(nginx, clean_agent):
    ng = start(nginx)

    peers = health(ng)["agent_peers"]

    assert len(peers) == 4
    for peer in peers:
        assert peer["state"] == "unknown", peer


def test_health_unknown_peer_counts_zero(nginx, clean_agent):
    # docs/directives.md lists the counts for every server, so a client can
    # read them without checking the state first.
    ng = start(nginx)

    for peer in health(ng)["agent_peers"]:
        assert peer.get("successes") == 0, peer
        assert peer.get("failures") == 0, peer
        assert peer.get("consecutive_failures") == 0, peer


def test_health_peer_up_after_success(nginx, clean_agent):
    ng = start(nginx)

    response = ng.post("/v1/chat", json=chat_body())
    document = health(ng)

    assert response.status_code == 200
    peer = peer_of(document, "ai_agent")
    assert peer["state"] == "up"
    assert peer["last_status"] == 200
    assert peer["successes"] >= 1
    assert peer["failures"] == 0
    assert peer["consecutive_failures"] == 0
    assert LAST_SEEN.fullmatch(peer["last_seen"]), peer
    # The other upstreams saw no request.
    assert peer_of(document, "ai_flaky")["state"] == "unknown"


def test_health_counts_requests(nginx, clean_agent):
    ng = start(nginx)

    statuses = [ng.post("/v1/chat", json=chat_body()).status_code for _ in range(5)]
    peer = peer_of(health(ng), "ai_agent")

    assert statuses == [200] * 5
    assert peer["successes"] == 5
    assert peer["failures"] == 0


def test_health_refused_then_recovered(nginx, clean_agent, extra_agents):
    flaky_port = free_port()
    ng = start(nginx, flaky_port=flaky_port)

    refused = ng.post("/flaky/v1/chat", json=chat_body())
    down = peer_of(health(ng), "ai_flaky")

    extra_agents(port=flaky_port)
    # The location URI is passed unchanged, so the agent returns 404 here.
    # Any HTTP reply shows that the server is reachable.
    recovered = ng.post("/flaky/v1/chat", json=chat_body())
    up = peer_of(health(ng), "ai_flaky")

    assert refused.status_code == 502
    assert down["state"] == "down"
    assert down["failures"] >= 1
    assert down["consecutive_failures"] >= 1
    assert down["successes"] == 0

    assert recovered.status_code == 404
    assert up["state"] == "up"
    assert up["last_status"] == 404
    assert up["successes"] >= 1
    assert up["failures"] == down["failures"]
    assert up["consecutive_failures"] == 0


def test_health_down_after_agent_faults(nginx, clean_agent):
    ng = start(nginx)

    assert ng.post("/v1/chat", json=chat_body()).status_code == 200
    clean_agent.fault("drop", count=3)
    statuses = [ng.post("/v1/chat", json=chat_body()).status_code for _ in range(3)]
    down = peer_of(health(ng), "ai_agent")
    recovered = ng.post("/v1/chat", json=chat_body())
    up = peer_of(health(ng), "ai_agent")

    assert statuses == [502, 502, 502]
    assert down["state"] == "down"
    assert down["consecutive_failures"] == 3
    assert down["failures"] == 3
    assert down["successes"] == 1

    assert recovered.status_code == 200
    assert up["state"] == "up"
    assert up["last_status"] == 200
    assert up["consecutive_failures"] == 0
    assert up["failures"] == 3
    assert up["successes"] == 2


def test_health_never_calls_agent(nginx, clean_agent, connection_counter):
    ng = start(nginx, unused_ports=(connection_counter.port, free_port()))

    documents = [health(ng) for _ in range(5)]

    assert len(documents) == 5
    assert clean_agent.requests() == []
    assert connection_counter.accepted == 0
    for peer in documents[-1]["agent_peers"]:
        assert peer["state"] == "unknown", peer


def test_health_post_not_allowed(nginx, clean_agent):
    ng = start(nginx)

    response = ng.post("/health", json={})

    assert_json_error(response, 405, "METHOD_NOT_ALLOWED")
    assert clean_agent.requests() == []


def test_health_shared_between_workers(nginx, clean_agent):
    # With reuseport each worker has its own listening socket and the kernel
    # spreads new connections over them by address hash, so a series of new
    # connections reaches both workers.
    flaky_port = free_port()
    ng = start(nginx, workers=2, listen_flags="reuseport", flaky_port=flaky_port)
    request_count = 20

    statuses = [ng.post("/v1/chat", json=chat_body()).status_code for _ in range(request_count)]
    refused = [ng.post("/flaky/v1/chat", json=chat_body()).status_code for _ in range(2)]

    documents = {}
    for _ in range(60):
        document = health(ng)
        documents.setdefault(document["worker_pid"], document)
        if len(documents) == 2:
            break

    assert statuses == [200] * request_count
    assert refused == [502, 502]
    assert set(documents) == ng.worker_pids()
    for worker_pid, document in documents.items():
        agent_peer = peer_of(document, "ai_agent")
        flaky_peer = peer_of(document, "ai_flaky")
        assert agent_peer["successes"] == request_count, worker_pid
        assert agent_peer["state"] == "up", worker_pid
        assert flaky_peer["state"] == "down", worker_pid
        assert flaky_peer["failures"] == 2, worker_pid
