"""Clients for the chat WebSocket tests (test_chat_ws.py).

RawClient speaks RFC 6455 over a plain socket and builds frames byte by
byte, so a test can send frames that a conforming library refuses to send:
unmasked frames, reserved bits and opcodes, oversized control frames. The
async helpers wrap python3-websockets (Debian 12 ships 10.4) for the
protocol-level tests.
"""

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time

import websockets

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL = "neonpro.chat.v1"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Bound for every read from the server. Replies normally arrive within
# milliseconds, and no test asserts on how long one took.
RECV_TIMEOUT_S = 10.0

# Close codes that RFC 6455, section 7.4.1, forbids in a Close frame.
FORBIDDEN_CLOSE_CODES = (1005, 1006, 1015)


def new_key():
    """Return a fresh Sec-WebSocket-Key: 16 random bytes in base64."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    """Return the Sec-WebSocket-Accept value that RFC 6455 requires for key."""
    digest = hashlib.sha1((key + WS_GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def handshake_headers(port, key, protocol=SUBPROTOCOL):
    """Return the header lines of a valid opening handshake, as (name, value)."""
    headers = [
        ("Host", f"127.0.0.1:{port}"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key),
    ]
    if protocol is not None:
        headers.append(("Sec-WebSocket-Protocol", protocol))
    return headers


class HttpResponse:
    """A parsed HTTP/1.1 response head and the bytes read after it."""

    def __init__(self, status, headers, rest):
        self.status = status
        # Lower-case name -> list of values, in the order received.
        self.headers = headers
        self.rest = rest

    def header(self, name):
        """Return the single value of a header, or None when it is absent."""
        values = self.headers.get(name.lower(), [])
        assert len(values) <= 1, f"header {name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def json_body(self):
        """Return the body as JSON, read up to Content-Length."""
        length = int(self.header("Content-Length"))
        return json.loads(self.rest[:length].decode())


def read_http_response(sock):
    """Read a response head from sock and return it as an HttpResponse."""
    data = b""
    deadline = time.monotonic() + RECV_TIMEOUT_S
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a full response head: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers.setdefault(name.strip().lower(), []).append(value.strip())

    # Read the rest of a body with Content-Length, for error responses.
    length = headers.get("content-length")
    if length is not None and status != 101:
        while len(rest) < int(length[0]):
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return HttpResponse(status, headers, rest)


def http_exchange(port, header_lines, method="GET", path="/ws/chat"):
    """Send one request with exactly header_lines; return its HttpResponse.

    header_lines is a list of (name, value) sent in that order, so a test
    may repeat or leave out any header.
    """
    request = f"{method} {path} HTTP/1.1\r\n"
    request += "".join(f"{name}: {value}\r\n" for name, value in header_lines)
    request += "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=RECV_TIMEOUT_S) as sock:
        sock.sendall(request.encode("latin-1"))
        return read_http_response(sock)


def build_frame(opcode, payload=b"", *, fin=True, rsv=0, mask=True, length=None):
    """Return the bytes of one client frame.

    rsv is the three RSV bits as a number from 0 to 7 (RSV1 is 4). length
    overrides the length field, so a header may announce a payload other
    than the one that follows.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    announced = len(payload) if length is None else length
    mask_bit = 0x80 if mask else 0
    if announced < 126:
        header = struct.pack("!BB", first, mask_bit | announced)
    elif announced < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, announced)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, announced)
    if not mask:
        return header + payload
    key = os.urandom(4)
    masked = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
    return header + key + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Frame:
    """One server frame."""

    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.masked = masked
        self.payload = payload

    def close_code(self):
        """Return the status code of a Close frame, or None for an empty one."""
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def close_reason(self):
        return self.payload[2:].decode()

    def json(self):
        return json.loads(self.payload.decode())

    def __repr__(self):
        return f"Frame(opcode={self.opcode:#x}, fin={self.fin}, payload={self.payload[:200]!r})"


class ConnectionEnded(AssertionError):
    """The server closed TCP (or the read timed out) before the expected frame."""


class RawClient:
    """A WebSocket client over a plain socket, frame by frame."""

    def __init__(self, port, *, header_lines=None, path="/ws/chat", after_request=b""):
        """Send the handshake request, then after_request in the same write."""
        self.port = port
        self.key = new_key()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=RECV_TIMEOUT_S)
        self.buffer = b""
        lines = header_lines if header_lines is not None else handshake_headers(port, self.key)
        request = f"GET {path} HTTP/1.1\r\n"
        request += "".join(f"{name}: {value}\r\n" for name, value in lines)
        request += "\r\n"
        self.sock.sendall(request.encode("latin-1") + after_request)
        self.response = read_http_response(self.sock)
        self.buffer = self.response.rest

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kwargs):
        self.send(build_frame(opcode, payload, **kwargs))

    def send_json(self, envelope):
        self.send_frame(OP_TEXT, json.dumps(envelope))

    def _read_exact(self, count, deadline):
        while len(self.buffer) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectionEnded(f"timed out waiting for {count} bytes")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as error:
                raise ConnectionEnded(f"timed out waiting for {count} bytes") from error
            except ConnectionResetError as error:
                raise ConnectionEnded("connection reset by the server") from error
            if not chunk:
                raise ConnectionEnded("the server closed TCP without a complete frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def recv_frame(self, timeout=RECV_TIMEOUT_S):
        """Read one server frame; raise ConnectionEnded if none arrives."""
        deadline = time.monotonic() + timeout
        first, second = self._read_exact(2, deadline)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2, deadline))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8, deadline))[0]
        masked = bool(second & 0x80)
        key = self._read_exact(4, deadline) if masked else None
        payload = self._read_exact(length, deadline)
        if key:
            payload = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
        return Frame(bool(first & 0x80), (first >> 4) & 7, first & 0x0F, masked, payload)

    def recv_json(self, timeout=RECV_TIMEOUT_S):
        """Return the next text frame as JSON, skipping pings."""
        while True:
            frame = self.recv_frame(timeout)
            if frame.opcode == OP_PING:
                continue
            assert frame.opcode == OP_TEXT, f"expected a text frame, got {frame!r}"
            return frame.json()

    def recv_close(self, timeout=RECV_TIMEOUT_S):
        """Skip data and ping frames; return the server's Close frame."""
        while True:
            frame = self.recv_frame(timeout)
            if frame.opcode == OP_CLOSE:
                return frame

    def server_closed_tcp(self, timeout=RECV_TIMEOUT_S):
        """Return True once the server closes TCP, False if it stays open."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
        return False


# ---------------------------------------------------------------------------
# python3-websockets helpers


def ws_url(port):
    return f"ws://127.0.0.1:{port}/ws/chat"


def ws_connect(port, **kwargs):
    """Return a websockets.connect() context for the chat endpoint.

    Accept-Language: en makes the server's error messages English, so the
    tests can match field names in them.
    """
    kwargs.setdefault("subprotocols", [SUBPROTOCOL])
    kwargs.setdefault("extra_headers", {"Accept-Language": "en"})
    kwargs.setdefault("open_timeout", RECV_TIMEOUT_S)
    kwargs.setdefault("close_timeout", RECV_TIMEOUT_S)
    kwargs.setdefault("max_size", None)
    return websockets.connect(ws_url(port), **kwargs)


async def recv_envelope(ws, timeout=RECV_TIMEOUT_S):
    """Return the next envelope the server sends on ws."""
    text = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(text, str), f"expected a text message, got {text!r}"
    return json.loads(text)


async def send_envelope(ws, envelope):
    await ws.send(json.dumps(envelope))


async def request_reply(ws, envelope=None):
    """Send envelope and return every envelope up to its heartbeat marker.

    With envelope None, return what the server sent before the marker.

    A heartbeat with a unique id follows envelope, and the server replies in
    order, so the list contains everything the server sent in reply to envelope
    (plus any live message in between) and ends before the heartbeat reply.
    """
    marker = f"mark-{os.urandom(6).hex()}"
    if envelope is not None:
        await send_envelope(ws, envelope)
    await send_envelope(ws, {"id": marker, "type": "heartbeat"})
    received = []
    while True:
        reply = await recv_envelope(ws)
        if reply.get("type") == "heartbeat" and reply.get("id") == marker:
            return received
        received.append(reply)


async def join(ws, session_id, envelope_id="j-1"):
    """Join session_id and return the `joined` envelope."""
    await send_envelope(ws, {"id": envelope_id, "type": "join", "session_id": session_id})
    reply = await recv_envelope(ws)
    assert reply["type"] == "joined", f"join of {session_id} answered with {reply}"
    return reply


async def collect_messages(ws, session_id, count):
    """Return the next count `message` envelopes of session_id on ws.

    Any other envelope is an error here, so an unexpected gap or error shows
    in the failure.
    """
    messages = []
    while len(messages) < count:
        try:
            envelope = await recv_envelope(ws)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"timed out after {len(messages)} of {count} messages of {session_id}: {messages}"
            ) from None
        assert envelope["type"] == "message", (
            f"expected message {len(messages) + 1} of {count}, got {envelope}"
        )
        assert envelope["session_id"] == session_id, f"message of another session: {envelope}"
        messages.append(envelope)
    return messages


def run(coroutine):
    """Run a coroutine from a synchronous pytest test."""
    return asyncio.run(coroutine)
