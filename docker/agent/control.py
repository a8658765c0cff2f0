"""Test harness of the agent: request log, fault injection and the /_control API.

app.py installs this only when NEONPRO_AGENT_CONTROL=1. Requests to /health and
/_control/* are neither logged nor faulted, so tests can always reach them.

Some faults write raw bytes or abort the connection, which ASGI cannot express.
They reach the socket through uvicorn's own `send` callable (see transport_of),
so RequestRecorder and FaultInjector must be the outermost ASGI layers.
"""

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Awaitable, Callable, Dict, List, Optional

from fastapi import APIRouter
from pydantic import BaseModel, Field, validator

logger = logging.getLogger("neonpro.agent.control")

Scope = Dict
Message = Dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Oldest entries are dropped beyond this, so a long demo run does not grow
# without bound. POST /_control/reset empties the log.
REQUEST_LOG_MAX_ENTRIES = 1000


class FaultMode(str, Enum):
    SLOW_FIRST_BYTE = "slow_first_byte"
    STALL = "stall"
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    DROP = "drop"
    DROP_MID_STREAM = "drop_mid_stream"
    MALFORMED_JSON = "malformed_json"
    BAD_STATUS_LINE = "bad_status_line"
    BAD_HEADER = "bad_header"
    BAD_CHUNKING = "bad_chunking"


# Complete responses that the raw fault modes write to the socket in one write.
RAW_RESPONSES = {
    FaultMode.BAD_STATUS_LINE: b"HTTP/1.1 2x0 OK\r\n\r\n",
    FaultMode.BAD_HEADER: (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Bad Header Without Colon\r\n"
        b"Content-Length: 2\r\n"
        b"\r\n"
        b"{}"
    ),
    FaultMode.BAD_CHUNKING: (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"\r\n"
        b"ZZ\r\n{}\r\n0\r\n\r\n"
    ),
}

MALFORMED_JSON_BODY = b'{"success": tru'


class FaultRequest(BaseModel):
    """Body of POST /_control/fault."""

    mode: FaultMode
    count: int = Field(1, description="Number of requests to fault, or -1 for all until reset")
    delay_ms: int = Field(2000, ge=0, description="Delay of slow_first_byte, in milliseconds")

    @validator("count")
    def count_is_positive_or_unlimited(cls, count: int) -> int:
        if count != -1 and count < 1:
            raise ValueError(f"count must be -1 (until reset) or at least 1, got {count}")
        return count


@dataclass
class ActiveFault:
    """Fault taken by one request, with the event that ends its stall."""

    mode: FaultMode
    delay_ms: int
    release_event: asyncio.Event


class FaultState:
    """Configured fault and the number of requests it still applies to."""

    def __init__(self) -> None:
        self.mode: Optional[FaultMode] = None
        self.remaining = 0
        self.delay_ms = 0
        self._release_event = asyncio.Event()
        # Events of stalls not yet released. A new fault gets a fresh event,
        # and release() must still free requests stalled under older faults.
        self._unreleased_events: List[asyncio.Event] = []

    def set(self, mode: FaultMode, count: int, delay_ms: int) -> None:
        self.mode = mode
        self.remaining = count
        self.delay_ms = delay_ms
        self._release_event = asyncio.Event()
        self._unreleased_events.append(self._release_event)

    def take(self) -> Optional[ActiveFault]:
        """Take the fault for the next request and count it down. Return None if no fault is set."""
        if self.mode is None:
            return None

        fault = ActiveFault(self.mode, self.delay_ms, self._release_event)
        if self.remaining > 0:
            self.remaining -= 1
            if self.remaining == 0:
                self.mode = None
        return fault

    def release(self) -> None:
        """Resume every stalled request. Later stalls of the current fault pass at once."""
        for event in self._unreleased_events:
            event.set()
        self._unreleased_events.clear()

    def reset(self) -> None:
        self.release()
        self.mode = None
        self.remaining = 0

    def describe(self) -> Dict:
        mode = self.mode.value if self.mode else None
        return {"mode": mode, "remaining": self.remaining, "delay_ms": self.delay_ms}


faults = FaultState()
request_log: deque = deque(maxlen=REQUEST_LOG_MAX_ENTRIES)


def headers_to_dict(raw_headers: List) -> Dict[str, str]:
    """Convert ASGI header pairs to a dict with lowercase names.

    Repeated headers are joined with ", ", as HTTP allows for list-valued fields.
    """
    headers: Dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def is_exempt(scope: Scope) -> bool:
    """Return whether the request bypasses the request log and faults."""
    if scope["type"] != "http":
        return True
    path = scope["path"]
    return path == "/health" or path.startswith("/_control/")


def parse_json_or_none(body: bytes) -> Optional[object]:
    try:
        return json.loads(body)
    except ValueError:
        return None


async def read_body(receive: Receive) -> Optional[bytes]:
    """Read the whole request body, or return None if the client disconnects first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """Return a receive callable that yields the buffered body, then defers to receive."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def wait_for_disconnect(receive: Receive) -> None:
    """Wait until uvicorn reports the connection closed.

    After a fault closes the transport, returning early would make uvicorn see
    an app that sent no response. It would log an error and write its own 500
    into the closing socket, after the bytes the fault wrote.
    """
    while (await receive())["type"] != "http.disconnect":
        pass


def transport_of(send: Send) -> asyncio.Transport:
    """Return the asyncio transport of the connection behind uvicorn's `send`.

    In uvicorn 0.17.6, `send` is the bound method RequestResponseCycle.send, and
    the cycle keeps the connection's transport in `.transport`. This holds for
    both protocols/http/h11_impl.py and httptools_impl.py. Without httptools
    installed, as on Debian 12, uvicorn uses h11. Any wrapper around `send`
    hides the cycle. Starlette's ServerErrorMiddleware and uvicorn's
    `--log-level trace` message logger are such wrappers.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError(
            "cannot reach the connection transport: the fault injector must be the "
            "outermost ASGI layer under uvicorn, and uvicorn must not run with "
            "--log-level trace"
        )
    return transport


def is_event_stream(start_message: Message) -> bool:
    for name, value in start_message.get("headers", []):
        if name.lower() == b"content-type":
            return value.startswith(b"text/event-stream")
    return False


async def abort_after_flush(transport: asyncio.Transport) -> None:
    """Abort the connection once asyncio has handed all buffered bytes to the kernel.

    abort() discards data still in asyncio's write buffer, which would lose the
    SSE event that drop_mid_stream must deliver before the connection dies.
    """
    while transport.get_write_buffer_size() > 0:
        await asyncio.sleep(0.005)
    transport.abort()


async def write_raw_and_close(send: Send, payload: bytes) -> None:
    """Write payload to the socket in one write, then close after it is flushed."""
    transport = transport_of(send)
    transport.write(payload)
    transport.close()


async def send_plain_response(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def stalling_send(send: Send, release_event: asyncio.Event) -> Send:
    """Wrap send to hold the response until release_event is set.

    An SSE response is held after its first body chunk, which is the first event.
    Any other response is held before its status line.
    """
    streaming = False

    async def wrapped(message: Message) -> None:
        nonlocal streaming
        if message["type"] == "http.response.start":
            streaming = is_event_stream(message)
            if not streaming:
                await release_event.wait()
        await send(message)
        if streaming and message["type"] == "http.response.body":
            await release_event.wait()

    return wrapped


def dropping_send(send: Send) -> Send:
    """Wrap send to abort the connection after the first SSE event.

    A response that is not an SSE stream is aborted before its status line. All
    messages after the abort are discarded.
    """
    transport = transport_of(send)
    streaming = False
    aborted = False

    async def wrapped(message: Message) -> None:
        nonlocal streaming, aborted
        if aborted:
            return
        if message["type"] == "http.response.start":
            streaming = is_event_stream(message)
            if not streaming:
                transport.abort()
                aborted = True
                return
        await send(message)
        if streaming and message["type"] == "http.response.body":
            await abort_after_flush(transport)
            aborted = True

    return wrapped


class RequestRecorder:
    """ASGI layer that appends every request, body included, to request_log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_exempt(scope):
            await self.app(scope, receive, send)
            return

        body = await read_body(receive)
        if body is None:
            logger.info("client disconnected while sending %s %s", scope["method"], scope["path"])
            return

        request_log.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"].decode("latin-1"),
                "headers": headers_to_dict(scope["headers"]),
                "body": parse_json_or_none(body),
                "raw_body_len": len(body),
            }
        )
        await self.app(scope, replay_body(body, receive), send)


class FaultInjector:
    """ASGI layer that applies the configured fault to the next matching requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = None if is_exempt(scope) else faults.take()
        if fault is None:
            await self.app(scope, receive, send)
            return

        logger.info("injecting fault %s into %s %s", fault.mode.value, scope["method"], scope["path"])
        await self.apply(fault, scope, receive, send)

    async def apply(self, fault: ActiveFault, scope: Scope, receive: Receive, send: Send) -> None:
        mode = fault.mode

        if mode is FaultMode.SLOW_FIRST_BYTE:
            await asyncio.sleep(fault.delay_ms / 1000)
            await self.app(scope, receive, send)
        elif mode is FaultMode.STALL:
            await self.app(scope, receive, stalling_send(send, fault.release_event))
        elif mode in (FaultMode.HTTP_500, FaultMode.HTTP_503):
            status = 500 if mode is FaultMode.HTTP_500 else 503
            await send_plain_response(send, status, b'{"detail":"simulated failure"}')
        elif mode is FaultMode.MALFORMED_JSON:
            await send_plain_response(send, 200, MALFORMED_JSON_BODY)
        elif mode is FaultMode.DROP:
            transport_of(send).abort()
            await wait_for_disconnect(receive)
        elif mode is FaultMode.DROP_MID_STREAM:
            await self.app(scope, receive, dropping_send(send))
            await wait_for_disconnect(receive)
        else:
            await write_raw_and_close(send, RAW_RESPONSES[mode])
            await wait_for_disconnect(receive)


router = APIRouter(prefix="/_control", tags=["control"])

# The handlers are async so that they run on the event loop thread, the only
# thread allowed to set the asyncio events that stalled requests wait on.


@router.post("/fault")
async def set_fault(request: FaultRequest) -> Dict:
    faults.set(request.mode, request.count, request.delay_ms)
    logger.info(
        "fault set: mode=%s count=%d delay_ms=%d",
        request.mode.value,
        request.count,
        request.delay_ms,
    )
    return {"fault": faults.describe()}


@router.post("/release")
async def release_stalls() -> Dict:
    faults.release()
    logger.info("stalled requests released")
    return {"fault": faults.describe()}


@router.post("/reset")
async def reset_harness() -> Dict:
    faults.reset()
    request_log.clear()
    logger.info("faults cleared, stalls released, request log emptied")
    return {"fault": faults.describe()}


@router.get("/requests")
async def list_requests() -> Dict:
    return {"requests": list(request_log)}
