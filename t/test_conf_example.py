"""The demo deployment of conf.example/, as `make run` serves it.

The config is copied into a test prefix with only its ports and the module
path changed, so what these tests see is what an ops reader of
conf.example/nginx.conf gets.
"""

import asyncio
import json
import shutil

import pytest
import websockets

from auth_support import demo_token
from conftest import MODULE, REPO, free_port, launch_nginx, make_prefix, require_module

CONF = REPO / "conf.example"
TOKEN = demo_token()
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEGAL_HEADERS = {"X-LGPD-Purpose": "medical_care", "X-LGPD-Legal-Basis": "health_protection",
                 **AUTH}


@pytest.fixture(scope="module")
def demo(agent):
    require_module()
    prefix = make_prefix()
    port = free_port()

    text = (CONF / "nginx.conf").read_text()
    for old, new in [
        ("load_module modules/ngx_neonpro_module.so;", f"load_module {MODULE};"),
        ("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{agent.port} "),
        ("http://127.0.0.1:8001/v1/chat;", f"http://127.0.0.1:{agent.port}/v1/chat;"),
    ]:
        assert old in text, f"conf.example/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)

    (prefix / "nginx.conf").write_text("daemon off;\n" + text)
    shutil.copy(CONF / "proxy_agent.conf", prefix / "proxy_agent.conf")
    shutil.copy(CONF / "patient_api.conf", prefix / "patient_api.conf")
    shutil.copytree(CONF / "keys", prefix / "keys")
    (prefix / "html").rmdir()
    (prefix / "html").symlink_to(CONF / "html")
    (prefix / "logs").mkdir()
    (prefix / "tmp" / "cache").mkdir(mode=0o777)
    (prefix / "tmp" / "cache").chmod(0o777)

    instance = launch_nginx(prefix, port, 2, agent.port)
    assert instance.proc.poll() is None, instance.error_log()
    yield instance
    instance.stop()
    shutil.rmtree(prefix, ignore_errors=True)


def test_demo_page_is_static_class(demo):
    response = demo.get("/")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" in response.headers


@pytest.mark.parametrize("path, cache_control", [
    ("/assets/app.css", "public, max-age=31536000, immutable"),
    ("/_next/static/chunks/main-3f9a1c.js", "public, max-age=31536000, immutable"),
    ("/images/logo.svg", "public, max-age=2592000, stale-while-revalidate=86400"),
    ("/api/appointments", "private, max-age=300, stale-while-revalidate=60"),
])
def test_class_policy_per_location(demo, path, cache_control):
    response = demo.get(path, headers=AUTH)

    assert response.status_code == 200
    assert response.headers["cache-control"] == cache_control


@pytest.mark.parametrize("path", ["/api/patients/1", "/api/v2/patients/1",
                                  "/api/medical-records/1", "/api/telemedicine/sessions"])
def test_patient_routes_need_legal_basis(demo, path):
    refused = demo.get(path, headers=AUTH)
    served = demo.get(path, headers=LEGAL_HEADERS)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
    assert served.status_code == 200
    assert served.headers["cache-control"] == "no-store, no-cache, must-revalidate, private"
    assert served.headers["x-lgpd-processing-basis"] == "health_protection"


def test_patient_search_escalates(demo):
    body = {"query": "buscar paciente Ana"}

    refused = demo.post("/api/agent/query", json=body, headers=AUTH)
    served = demo.post("/api/agent/query", json=body, headers=LEGAL_HEADERS)

    assert refused.status_code == 403
    assert "Ana" not in refused.text
    assert served.status_code == 200
    assert served.headers["x-data-classification"] == "patient"


def test_chat_streams_uncached(demo):
    body = {"session_id": "demo-session", "message": {"content": "Olá"}, "stream": True}

    response = demo.post("/v1/chat", json=body, headers=AUTH)

    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert json.loads(events[-1][len("data: "):])["type"] == "done"


def test_cache_is_kept_per_clinic(demo):
    other_clinic = {"Authorization": f"Bearer {demo_token(clinic_id='clinic-2')}"}

    demo.get("/api/clinics", headers=AUTH)
    cached = demo.get("/api/clinics", headers=AUTH)
    other = demo.get("/api/clinics", headers=other_clinic)

    assert cached.headers["x-cache-status"] == "HIT"
    assert other.headers["x-cache-status"] in ("MISS", "EXPIRED")
    assert cached.headers["cache-control"].startswith("private")


@pytest.mark.parametrize("path", ["/api/clinics", "/api/patients/1", "/v1/chat"])
def test_protected_routes_need_a_token(demo, path):
    response = demo.get(path, headers={"X-LGPD-Purpose": "medical_care",
                                       "X-LGPD-Legal-Basis": "health_protection"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


@pytest.mark.parametrize("path", ["/", "/health", "/assets/app.css", "/images/logo.svg",
                                  "/chat/"])
def test_public_routes_need_no_token(demo, path):
    assert demo.get(path).status_code == 200


def test_rate_limit_fields_per_user(demo):
    first = demo.get("/api/appointments", headers=AUTH)
    again = demo.get("/api/appointments", headers=AUTH)
    other_user = demo.get("/api/appointments",
                          headers={"Authorization": f"Bearer {demo_token(sub='other-user')}"})

    assert first.headers["ratelimit-policy"] == '"api";q=100;w=900'
    remaining = int(first.headers["ratelimit"].split("r=")[1].split(";")[0])
    assert again.headers["ratelimit"].startswith(f'"api";r={remaining - 1};')
    assert other_user.headers["ratelimit"].startswith('"api";r=99;')


def test_health_lists_agent(demo, agent):
    health = demo.get("/health").json()

    addresses = [peer["address"] for peer in health["agent_peers"]]
    assert health["module"] == "ngx_neonpro"
    assert f"127.0.0.1:{agent.port}" in addresses


def test_chat_websocket_answers(demo):
    async def exchange():
        url = f"ws://127.0.0.1:{demo.port}/ws/chat"
        protocols = ["neonpro.chat.v1", f"bearer.{TOKEN}"]
        async with websockets.connect(url, subprotocols=protocols) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps({"type": "join", "session_id": "demo-session"}))
            joined = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps({
                "type": "message", "session_id": "demo-session", "data": {"content": "Olá"},
            }))
            received = []
            while not received or received[-1]["type"] != "stream_end":
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return ws.subprotocol, hello, joined, received

    subprotocol, hello, joined, received = asyncio.run(exchange())

    assert subprotocol == "neonpro.chat.v1"
    assert hello["type"] == "hello"
    assert joined["type"] == "joined"
    assert joined["data"]["agent"] is True
    types = [envelope["type"] for envelope in received]
    assert types[:2] == ["message", "stream_start"]
    assert "stream_chunk" in types
    assert received[-1]["data"]["seq"] == 2
