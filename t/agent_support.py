"""Helpers for the tests of neonpro_agent_pass and neonpro_health.

The fixtures here are imported by the test modules that use them, because
conftest.py belongs to the LGPD tests. Every server started here listens on
127.0.0.1 only.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import (
    AGENT_APP_DIR,
    AGENT_UPSTREAM,
    POLL_INTERVAL_S,
    PYTHON,
    REPO,
    STARTUP_TIMEOUT_S,
    Agent,
    free_port,
    stop_process,
)

# The retryable flag of each error code, from the table in the "Error
# responses" section of docs/directives.md. TIMEOUT is retryable for both
# 408 and 504.
RETRYABLE = {
    "INVALID_JSON": False,
    "INVALID_REQUEST": False,
    "LGPD_LEGAL_BASIS_REQUIRED": False,
    "LGPD_LEGAL_BASIS_INVALID": False,
    "FORBIDDEN": False,
    "NOT_FOUND": False,
    "METHOD_NOT_ALLOWED": False,
    "TIMEOUT": True,
    "PAYLOAD_TOO_LARGE": False,
    "UNSUPPORTED_MEDIA_TYPE": False,
    "RATE_LIMITED": True,
    "INTERNAL_ERROR": True,
    "AI_SERVICE_ERROR": True,
    "UPSTREAM_ERROR": True,
    "SERVICE_UNAVAILABLE": True,
}

JSON_ERROR_TYPE = "application/json; charset=utf-8"

# The `user` that nginx writes into every chat request until identity is verified.
ANONYMOUS_USER = {"id": "anonymous", "role": "anonymous", "clinic_id": None}

# A session id that the chat contract accepts: 8 to 64 of [A-Za-z0-9_-].
SESSION_ID = "sess_0001-ab"

GENERATED_REQUEST_ID = re.compile(r"[0-9a-f]{32}")

# The suite's usual agent locations. {server_extra} and {locations} are
# filled in by agent_config().
AGENT_SERVER = AGENT_UPSTREAM + """
server {
    listen 127.0.0.1:{port};
    {server_extra}

    location = /v1/chat {
        neonpro_data_class api;
        neonpro_agent_pass http://ai_agent;
        neonpro_agent_contract chat;
    }

    location = /api/agent/query {
        neonpro_data_class api;
        neonpro_agent_pass http://ai_agent;
        neonpro_agent_contract query;
    }

    location /api/ {
        neonpro_agent_pass http://ai_agent;
    }

    location = /health {
        neonpro_health;
    }

    {locations}
}
"""


def agent_config(server_extra="", locations=""):
    """Return the http body of AGENT_SERVER with extra server directives and locations."""
    return AGENT_SERVER.replace("{server_extra}", server_extra).replace("{locations}", locations)


def chat_body(content="Olá, tudo bem?", *, session_id=SESSION_ID, **fields):
    """Return a chat request body that the chat contract accepts, plus `fields`."""
    body = {
        "session_id": session_id,
        "message": {"id": "msg-client-1", "content": content},
        "history": [],
        "locale": "pt-BR",
        "stream": False,
    }
    body.update(fields)
    return body


def expected_reply(content):
    """Return the pt-BR reply of the reference agent (docker/agent/agent.py) to `content`."""
    return f'Olá! Recebi sua mensagem: "{content}". Como posso ajudar com sua clínica hoje?'


def assert_json_error(response, status, code):
    """Check that a response is the suite's JSON error with this status and code.

    Returns the parsed `error` object for checks on its message.
    """
    assert response.status_code == status, response.text
    assert response.headers.get("content-type") == JSON_ERROR_TYPE
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) == {"code", "message", "retryable"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str), error
    assert error["message"] != "", error
    assert error["retryable"] is RETRYABLE[code], error
    return error


def parse_sse(payload):
    """Parse a text/event-stream body into the JSON objects of its `data:` lines."""
    events = []
    for block in payload.decode("utf-8").split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                events.append(json.loads(line[len("data:"):].strip()))
    return events


def worker_crashes(error_log):
    """Return the error-log lines that report a worker killed by a signal."""
    return [
        line for line in error_log.splitlines()
        if re.search(r"worker process \d+ exited on signal", line)
    ]


def established_sockets(pid, remote_port):
    """Return the local ports of pid's ESTABLISHED TCP connections to 127.0.0.1:remote_port.

    Reads /proc/net/tcp and matches its inodes with the sockets among
    /proc/PID/fd, so it works for an nginx worker that runs as `nobody`
    only when the tests run as root.
    """
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for entry in fd_dir.iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(match.group(1))

    remote = f"0100007F:{remote_port:04X}"
    local_ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_address, remote_address, state, inode = fields[1], fields[2], fields[3], fields[9]
        # State 01 is TCP_ESTABLISHED in the kernel's tcp_states.h.
        if remote_address == remote and state == "01" and inode in inodes:
            local_ports.add(int(local_address.split(":")[1], 16))
    return local_ports


def start_reference_agent(port, workdir):
    """Start one more reference agent on 127.0.0.1:port and wait for its /health.

    Raises RuntimeError with the agent's output when it exits or does not
    respond within STARTUP_TIMEOUT_S.
    """
    stderr_path = Path(workdir) / f"agent-{port}.stderr"
    env = dict(os.environ, NEONPRO_AGENT_CONTROL="1")
    command = [
        PYTHON, "-m", "uvicorn",
        "--app-dir", str(AGENT_APP_DIR), "app:app",
        "--host", "127.0.0.1", "--port", str(port),
        "--timeout-keep-alive", "75", "--no-access-log",
    ]
    with open(stderr_path, "wb") as stderr_file:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
            stdout=stderr_file, stderr=stderr_file,
        )
    instance = Agent(port, proc, stderr_path)

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"reference agent on port {port} exited with status {proc.returncode}; "
                f"its output:\n{instance.stderr()}"
            )
        try:
            if httpx.get(instance.url + "/health", timeout=1.0).status_code == 200:
                return instance
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(
                f"reference agent on port {port} did not respond to GET /health within "
                f"{STARTUP_TIMEOUT_S:.0f} s; its output:\n{instance.stderr()}"
            )
        time.sleep(POLL_INTERVAL_S)


@pytest.fixture
def extra_agents():
    """Return start(port=None) that runs another reference agent, stopped at teardown.

    Tests use it for a second upstream server and for a port that refuses
    connections until an agent starts on it.
    """
    workdir = Path(tempfile.mkdtemp(prefix="neonpro-extra-agent-"))
    started = []

    def start(port=None):
        instance = start_reference_agent(port or free_port(), workdir)
        started.append(instance)
        return instance

    yield start

    for instance in started:
        # Releases stalled requests, which would otherwise block uvicorn's shutdown.
        try:
            instance.reset()
        except httpx.HTTPError:
            pass
        stop_process(instance.proc)
    shutil.rmtree(workdir, ignore_errors=True)


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that counts accepted connections and closes them.

    Used as an upstream server that must never be contacted.
    """

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(POLL_INTERVAL_S)
        self.port = self._socket.getsockname()[1]
        self.accepted = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                connection, _address = self._socket.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self):
        self._stopping.set()
        self._thread.join(timeout=STARTUP_TIMEOUT_S)
        self._socket.close()


@pytest.fixture
def connection_counter():
    counter = ConnectionCounter()
    yield counter
    counter.close()
