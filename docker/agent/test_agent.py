"""Tests of the reference agent, run as a real uvicorn process on 127.0.0.1.

Run from the repository root:
/usr/bin/python3 -m pytest -p no:cacheprovider docker/agent -q
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 15
# How long a stalled response must stay silent before the tests accept that it is held.
SILENCE_S = 0.5
SOCKET_TIMEOUT_S = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_agent(control: bool, log_path: Path) -> Tuple[subprocess.Popen, int]:
    """Start the agent with the command the Makefile uses and wait for /health."""
    port = free_port()
    env = dict(os.environ)
    env.pop("NEONPRO_AGENT_CONTROL", None)
    if control:
        env["NEONPRO_AGENT_CONTROL"] = "1"
    command = [
        "/usr/bin/python3", "-m", "uvicorn", "--app-dir", "docker/agent", "app:app",
        "--host", "127.0.0.1", "--port", str(port),
        "--timeout-keep-alive", "75", "--no-access-log",
    ]
    log_file = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"agent exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    stop_agent(process)
    raise RuntimeError(f"agent did not answer /health within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}")


def stop_agent(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """Agent with the control API enabled. Yields (port, log path)."""
    log_path = tmp_path_factory.mktemp("agent") / "agent.log"
    process, port = start_agent(control=True, log_path=log_path)
    yield port, log_path
    stop_agent(process)


@pytest.fixture
def client(agent):
    port, _ = agent
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=SOCKET_TIMEOUT_S) as http:
        assert http.post("/_control/reset").status_code == 200
        yield http


@pytest.fixture
def port(agent, client):
    return agent[0]


def set_fault(client: httpx.Client, mode: str, **options) -> None:
    response = client.post("/_control/fault", json={"mode": mode, **options})
    assert response.status_code == 200, response.text


def chat_body(content: str = "Quais horários livres amanhã?", stream: bool = False, **extra) -> Dict:
    body = {
        "session_id": "sess-1",
        "message": {"id": "msg-1", "content": content},
        "history": [{"role": "user", "content": "Bom dia"}],
        "user": {"id": "user-7", "role": "receptionist", "clinic_id": "clinic-sp-01"},
        "locale": "pt-BR",
        "stream": stream,
    }
    body.update(extra)
    return body


# Raw HTTP helpers, for faults that httpx cannot show byte for byte.


def open_request(port: int, method: str, path: str, body: Optional[Dict] = None) -> socket.socket:
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S)
    sock.sendall(head.encode() + payload)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Read until the peer closes. A reset counts as a close."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_until(sock: socket.socket, buffer: bytes, marker: bytes) -> bytes:
    while marker not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {marker!r}; received {buffer!r}"
        buffer += chunk
    return buffer


def decode_chunks(body: bytes) -> Tuple[List[bytes], bool]:
    """Split a chunked body into chunk payloads. Also return whether the last-chunk was seen."""
    chunks = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return chunks, True
        chunks.append(rest[:size])
        body = rest[size + 2:]
    return chunks, False


def parse_sse(text: str) -> List[Dict]:
    return [json.loads(line[len("data: "):]) for line in text.split("\n\n") if line.startswith("data: ")]


def cpf_is_valid(cpf: str) -> bool:
    """Check a CPF with its own implementation of the check-digit rule."""
    digits = [int(char) for char in re.sub(r"\D", "", cpf)]
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for length in (9, 10):
        total = sum(digit * (length + 1 - index) for index, digit in enumerate(digits[:length]))
        remainder = (total * 10) % 11
        if remainder % 10 != digits[length]:
            return False
    return True


# Agent contract.


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "service": "neonpro-agent", "version": "0.1.0"}


def test_chat_json_reply(client):
    response = client.post("/v1/chat", json=chat_body("Oi, tudo bem?"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")

    reply = response.json()
    assert reply["session_id"] == "sess-1"
    assert reply["message"]["role"] == "assistant"
    assert reply["message"]["id"]
    assert reply["message"]["id"] != "msg-1"
    assert reply["message"]["content"] == (
        'Olá! Recebi sua mensagem: "Oi, tudo bem?". Como posso ajudar com sua clínica hoje?'
    )
    assert reply["usage"] == {"input_tokens": 5, "output_tokens": 14}
    assert reply["received_user"] == {"id": "user-7", "role": "receptionist", "clinic_id": "clinic-sp-01"}


def test_chat_english_locale(client):
    response = client.post("/v1/chat", json=chat_body("Hi", locale="en-US"))
    assert response.json()["message"]["content"].startswith('Hello! I received your message: "Hi".')


def test_chat_without_user_echoes_null(client):
    body = chat_body()
    del body["user"]
    assert client.post("/v1/chat", json=body).json()["received_user"] is None


@pytest.mark.parametrize("missing", ["session_id", "content"])
def test_chat_missing_field_is_422(client, missing):
    body = chat_body()
    if missing == "session_id":
        del body["session_id"]
    else:
        del body["message"]["content"]
    response = client.post("/v1/chat", json=body)
    assert response.status_code == 422
    assert "detail" in response.json()


def test_chat_stream_events(client):
    json_reply = client.post("/v1/chat", json=chat_body()).json()
    response = client.post("/v1/chat", json=chat_body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"

    events = parse_sse(response.text)
    text_events = [event for event in events if event["type"] == "text"]
    assert len(text_events) >= 5
    assert events[-1]["type"] == "done"
    assert [event["type"] for event in events[:-1]] == ["text"] * (len(events) - 1)
    assert "".join(event["delta"] for event in text_events) == json_reply["message"]["content"]
    assert events[-1]["usage"] == json_reply["usage"]
    assert events[-1]["received_user"] == json_reply["received_user"]


def test_chat_stream_one_event_per_chunk(port):
    sock = open_request(port, "POST", "/v1/chat", chat_body(stream=True))
    raw = read_until_closed(sock)
    sock.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()

    chunks, complete = decode_chunks(body)
    assert complete
    assert len(chunks) >= 6
    for chunk in chunks:
        assert chunk.startswith(b"data: ")
        assert chunk.endswith(b"\n\n")
        assert chunk.count(b"\n\n") == 1


@pytest.mark.parametrize(
    "query, intent",
    [
        ("Buscar paciente Ana", "patient_search"),
        ("Consultas de hoje", "appointments"),
        ("mostrar AGENDAMENTOS da semana", "appointments"),
        ("agenda da Dra. Patrícia", "appointments"),
        ("pagamentos pendentes", "payments"),
        ("relatório FINANCEIRO", "payments"),
        ("segunda via da fatura", "payments"),
        ("qual a previsão do tempo?", "unknown"),
    ],
)
def test_query_intent(client, query, intent):
    response = client.post("/api/agent/query", json={"query": query, "context": {}})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, s-maxage=600"

    payload = response.json()
    assert payload["success"] is True
    assert payload["data"]["intent"] == intent
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", payload["timestamp"])


def test_query_lists_match_intent(client):
    def data_for(query):
        return client.post("/api/agent/query", json={"query": query}).json()["data"]

    assert data_for("consultas de hoje")["appointments"]
    assert data_for("pagamentos pendentes")["payments"]
    assert data_for("o que é isso").get("message", "").startswith("Não entendi a pergunta.")


def test_query_patient_search_by_name(client):
    def names_for(query):
        data = client.post("/api/agent/query", json={"query": query}).json()["data"]
        return [patient["name"] for patient in data["patients"]]

    assert names_for("Buscar paciente Ana") == ["Ana Beatriz Souza"]
    assert names_for("PACIENTE JOÃO") == ["João Pedro Oliveira"]
    assert names_for("paciente joao pedro") == ["João Pedro Oliveira"]
    assert names_for("paciente chamada Camila") == ["Camila Rodrigues Almeida"]
    assert names_for("buscar paciente Inexistente") == []
    assert len(names_for("buscar pacientes")) == 6


def test_patients_have_valid_cpfs(client):
    patients = client.post("/api/agent/query", json={"query": "paciente"}).json()["data"]["patients"]
    assert len(patients) >= 6
    for patient in patients:
        assert cpf_is_valid(patient["cpf"]), patient["cpf"]
        assert re.fullmatch(r"\+55 11 9\d{4}-\d{4}", patient["phone"]), patient["phone"]
        assert re.search(r"@example\.com(\.br)?$", patient["email"]), patient["email"]


def test_cpf_check_rejects_wrong_digit():
    assert cpf_is_valid("529.982.247-25")
    assert not cpf_is_valid("529.982.247-26")
    assert not cpf_is_valid("111.111.111-11")


# Demo clinic API.


@pytest.mark.parametrize("path", ["/api/patients/1", "/api/v2/patients/1", "/api/medical-records/1"])
def test_cached_resource_etag_and_304(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, max-age=600"
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]+"', etag)

    not_modified = client.get(path, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert not_modified.headers["cache-control"] == "private, max-age=600"

    listed = client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304

    stale = client.get(path, headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200


def test_patient_shapes(client):
    v1 = client.get("/api/patients/2").json()
    v2 = client.get("/api/v2/patients/2").json()
    assert v1["name"] == "João Pedro Oliveira"
    assert v2 == {"data": v1, "version": 2}
    assert client.get("/api/patients/2").headers["etag"] != client.get("/api/patients/3").headers["etag"]


@pytest.mark.parametrize("path", ["/api/patients/999", "/api/v2/patients/999", "/api/medical-records/999"])
def test_unknown_patient_is_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "NOT_FOUND", "message": "Paciente não encontrado", "retryable": False}
    }


def test_appointments_not_cached(client):
    response = client.get("/api/appointments")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert all({"starts_at", "patient_id", "professional", "status"} <= set(a) for a in response.json())


def test_telemedicine_sessions(client):
    response = client.get("/api/telemedicine/sessions")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, max-age=600"
    assert len(response.json()) >= 1


def test_clinics_legacy_cache_headers(client):
    response = client.get("/api/clinics")
    assert response.status_code == 200
    assert len(response.json()) == 2
    assert response.headers["cache-control"] == "max-age=30"
    assert response.headers["pragma"] == "cache"

    ahead_s = parsedate_to_datetime(response.headers["expires"]).timestamp() - time.time()
    assert 50 < ahead_s <= 61


def test_data_classification_parameter(client):
    tagged = client.get("/api/patients/1", params={"x_data_classification": "PHI"})
    assert tagged.headers["x-data-classification"] == "PHI"

    not_found = client.get("/api/patients/999", params={"x_data_classification": "restricted"})
    assert not_found.headers["x-data-classification"] == "restricted"

    untagged = client.get("/api/patients/1")
    assert "x-data-classification" not in untagged.headers

    invalid = client.get("/api/clinics", params={"x_data_classification": "a\r\nb"})
    assert invalid.status_code == 400


def test_echo_headers(client):
    response = client.get("/api/echo-headers", headers={"X-Request-ID": "req-42", "X-Clinic-Id": "clinic-bh-01"})
    headers = response.json()["headers"]
    assert headers["x-request-id"] == "req-42"
    assert headers["x-clinic-id"] == "clinic-bh-01"
    assert headers["host"].startswith("127.0.0.1:")


def test_control_api_disabled_by_default(tmp_path):
    process, port = start_agent(control=False, log_path=tmp_path / "agent.log")
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.post(f"{base}/_control/fault", json={"mode": "drop"}).status_code == 404
        assert httpx.get(f"{base}/_control/requests").status_code == 404
        assert httpx.get(f"{base}/api/patients/1").status_code == 200
    finally:
        stop_agent(process)


# Fault knobs.


def test_fault_rejects_invalid_body(client):
    assert client.post("/_control/fault", json={"mode": "explode"}).status_code == 422
    assert client.post("/_control/fault", json={"mode": "drop", "count": 0}).status_code == 422


def test_fault_slow_first_byte(client):
    set_fault(client, "slow_first_byte", delay_ms=600)
    started = time.monotonic()
    response = client.get("/api/patients/1")
    assert time.monotonic() - started >= 0.6
    assert response.status_code == 200

    started = time.monotonic()
    client.get("/api/patients/1")
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("mode, status", [("http_500", 500), ("http_503", 503)])
def test_fault_http_error_count(client, mode, status):
    set_fault(client, mode, count=2)
    for _ in range(2):
        response = client.get("/api/appointments")
        assert response.status_code == status
        assert response.json() == {"detail": "simulated failure"}
    assert client.get("/api/appointments").status_code == 200


def test_fault_until_reset(client):
    set_fault(client, "http_503", count=-1)
    for _ in range(5):
        assert client.get("/api/clinics").status_code == 503
    client.post("/_control/reset")
    assert client.get("/api/clinics").status_code == 200


def test_fault_spares_health_and_control(port, client):
    set_fault(client, "drop")
    assert client.get("/health").status_code == 200
    assert client.get("/_control/requests").status_code == 200

    # The fault is still pending, so the next API request gets it.
    sock = open_request(port, "GET", "/api/clinics")
    assert read_until_closed(sock) == b""
    sock.close()


def test_fault_malformed_json(port, client):
    set_fault(client, "malformed_json")
    response = client.post("/api/agent/query", json={"query": "pagamentos"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"success": tru'
    with pytest.raises(ValueError):
        response.json()


@pytest.mark.parametrize("mode", ["drop", "drop_mid_stream"])
def test_fault_drop_sends_nothing(port, client, mode):
    set_fault(client, mode)
    sock = open_request(port, "GET", "/api/patients/1")
    assert read_until_closed(sock) == b""
    sock.close()
    assert client.get("/api/patients/1").status_code == 200


def test_fault_drop_mid_stream(port, client):
    set_fault(client, "drop_mid_stream")
    sock = open_request(port, "POST", "/v1/chat", chat_body(stream=True))
    raw = read_until_closed(sock)
    sock.close()

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"text/event-stream" in head
    chunks, complete = decode_chunks(body)
    assert not complete
    assert len(chunks) == 1
    assert json.loads(chunks[0][len(b"data: "):])["type"] == "text"


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("bad_status_line", b"HTTP/1.1 2x0 OK\r\n\r\n"),
        (
            "bad_header",
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nBad Header Without Colon\r\n"
            b"Content-Length: 2\r\n\r\n{}",
        ),
    ],
)
def test_fault_raw_response(port, client, mode, expected):
    set_fault(client, mode)
    sock = open_request(port, "GET", "/api/patients/1")
    assert read_until_closed(sock) == expected
    sock.close()


def test_fault_bad_chunking_in_one_read(port, client):
    expected = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ZZ\r\n{}\r\n0\r\n\r\n"
    )
    set_fault(client, "bad_chunking")
    sock = open_request(port, "POST", "/api/agent/query", {"query": "consultas"})
    assert sock.recv(65536) == expected
    assert read_until_closed(sock) == b""
    sock.close()


def assert_silent(sock: socket.socket) -> None:
    sock.settimeout(SILENCE_S)
    with pytest.raises(socket.timeout):
        data = sock.recv(65536)
        pytest.fail(f"stalled response sent {data!r} before release")
    sock.settimeout(SOCKET_TIMEOUT_S)


def test_fault_stall_stream_until_release(port, client):
    set_fault(client, "stall")
    sock = open_request(port, "POST", "/v1/chat", chat_body(stream=True))

    before_release = read_until(sock, b"", b"\n\n")
    head, _, body = before_release.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body.count(b"data: ") == 1
    assert_silent(sock)

    assert client.post("/_control/release").status_code == 200
    after_release = read_until_closed(sock)
    sock.close()

    chunks, complete = decode_chunks(body + after_release)
    assert complete
    events = [json.loads(chunk[len(b"data: "):]) for chunk in chunks]
    assert len(events) >= 6
    assert events[-1]["type"] == "done"


def test_fault_stall_plain_request_until_release(port, client):
    set_fault(client, "stall")
    sock = open_request(port, "GET", "/api/patients/1")
    assert_silent(sock)

    assert client.post("/_control/release").status_code == 200
    raw = read_until_closed(sock)
    sock.close()
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert raw.endswith(b'"clinic_id":"clinic-sp-01"}')


def test_fault_stall_released_by_reset(port, client):
    set_fault(client, "stall", count=-1)
    sock = open_request(port, "GET", "/api/clinics")
    assert_silent(sock)

    client.post("/_control/reset")
    assert read_until_closed(sock).startswith(b"HTTP/1.1 200 OK")
    sock.close()


def test_release_frees_stalls_of_older_fault(port, client):
    set_fault(client, "stall")
    sock = open_request(port, "GET", "/api/clinics")
    assert_silent(sock)

    set_fault(client, "http_500")
    client.post("/_control/release")
    assert read_until_closed(sock).startswith(b"HTTP/1.1 200 OK")
    sock.close()


# Request log.


def test_request_log_records_requests(client):
    client.post("/api/agent/query", json={"query": "fatura"}, headers={"X-Trace": "t-1"})
    client.get("/api/patients/3", params={"x_data_classification": "PHI"})
    client.post("/v1/chat", content=b"not json", headers={"Content-Type": "text/plain"})
    client.get("/health")

    entries = client.get("/_control/requests").json()["requests"]
    assert [entry["path"] for entry in entries] == ["/api/agent/query", "/api/patients/3", "/v1/chat"]

    query, patient, chat = entries
    assert query["method"] == "POST"
    assert query["body"] == {"query": "fatura"}
    assert query["raw_body_len"] == len(b'{"query": "fatura"}')
    assert query["headers"]["x-trace"] == "t-1"
    assert query["headers"]["content-type"] == "application/json"

    assert patient["method"] == "GET"
    assert patient["query"] == "x_data_classification=PHI"
    assert patient["body"] is None
    assert patient["raw_body_len"] == 0

    assert chat["body"] is None
    assert chat["raw_body_len"] == len(b"not json")


def test_request_log_includes_faulted_requests(client):
    set_fault(client, "http_503")
    client.get("/api/appointments")
    client.get("/api/appointments")
    assert len(client.get("/_control/requests").json()["requests"]) == 2


def test_reset_clears_request_log(client):
    client.get("/api/clinics")
    client.post("/_control/reset")
    assert client.get("/_control/requests").json() == {"requests": []}


def test_agent_log_has_no_asgi_errors(agent):
    """Runs last in this file, so it checks the log of every test above."""
    _, log_path = agent
    log = log_path.read_text()
    assert "Exception in ASGI application" not in log
    assert "ASGI callable returned without" not in log
    assert "Traceback" not in log
