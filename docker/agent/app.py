"""Reference AI agent and demo clinic API behind the ngx_neonpro nginx modules.

Run from the repository root:

    /usr/bin/python3 -m uvicorn --app-dir docker/agent app:app --host 127.0.0.1 \
        --port PORT --timeout-keep-alive 75 --no-access-log

The keep-alive timeout must exceed nginx's upstream keepalive_timeout (60 s).
Otherwise uvicorn closes idle connections that nginx still reuses, and POSTs
fail with sporadic 502s. NEONPRO_AGENT_CONTROL=1 enables the test harness in
control.py. Without it, /_control/* returns 404.
"""

import asyncio
import hashlib
import json
import logging
import os
import re
import time
import uuid
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any, AsyncIterator, Dict, List, Optional
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

import agent
import control
import data

SERVICE_NAME = "neonpro-agent"
SERVICE_VERSION = "0.1.0"
CONTROL_ENABLED = os.environ.get("NEONPRO_AGENT_CONTROL") == "1"

PRIVATE_CACHE = "private, max-age=600"
# Pause between streamed tokens, so each SSE event reaches the client on its own.
TOKEN_INTERVAL_S = 0.01
# The x_data_classification parameter must be printable ASCII, so that it is
# safe to copy into a response header.
CLASSIFICATION_PATTERN = re.compile(r"[\x20-\x7e]{1,128}")


def configure_logging() -> logging.Logger:
    """Send the agent's log records to stderr, apart from uvicorn's own loggers."""
    logger = logging.getLogger("neonpro.agent")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


logger = configure_logging()


class AgentApp(FastAPI):
    """FastAPI app that can wrap its whole middleware stack in the test harness.

    Starlette's ServerErrorMiddleware passes a wrapped `send` to every inner
    layer, including those added with add_middleware. The harness needs the
    `send` that uvicorn passed in (see control.transport_of), so it goes
    outside the stack that Starlette builds.
    """

    def __init__(self, *, harness_enabled: bool, **kwargs: Any) -> None:
        self.harness_enabled = harness_enabled
        super().__init__(**kwargs)

    def build_middleware_stack(self):
        stack = super().build_middleware_stack()
        if not self.harness_enabled:
            return stack
        return control.RequestRecorder(control.FaultInjector(stack))


class DataClassificationMiddleware:
    """Copy the x_data_classification query parameter of a GET into X-Data-Classification.

    Tests use it to make a backend claim a data class, then check that the nginx
    filter raises the class and never lowers it.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        value = requested_classification(scope)
        if value is None:
            await self.app(scope, receive, send)
            return

        if not CLASSIFICATION_PATTERN.fullmatch(value):
            logger.warning("rejected x_data_classification %r on %s: not printable ASCII", value, scope["path"])
            response = error_response(
                400,
                "INVALID_PARAMETER",
                "x_data_classification deve ter de 1 a 128 caracteres ASCII imprimíveis",
            )
            await response(scope, receive, send)
            return

        header = (b"x-data-classification", value.encode("ascii"))

        async def send_with_classification(message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, val)
                    for name, val in message.get("headers", [])
                    if name.lower() != header[0]
                ]
                message = {**message, "headers": headers + [header]}
            await send(message)

        await self.app(scope, receive, send_with_classification)


def requested_classification(scope) -> Optional[str]:
    """Return the x_data_classification parameter of a GET request, or None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    query = parse_qs(scope["query_string"].decode("latin-1"))
    values = query.get("x_data_classification")
    return values[-1] if values else None


app = AgentApp(
    harness_enabled=CONTROL_ENABLED,
    title="NeonPro reference agent",
    version=SERVICE_VERSION,
)
app.add_middleware(DataClassificationMiddleware)
if CONTROL_ENABLED:
    app.include_router(control.router)


@app.on_event("startup")
async def log_startup() -> None:
    state = "enabled" if CONTROL_ENABLED else "disabled (set NEONPRO_AGENT_CONTROL=1 to enable)"
    logger.info("%s %s started, control API %s", SERVICE_NAME, SERVICE_VERSION, state)


# Helpers shared by the routes.


def utc_timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """Build the platform's error body. Client errors here are never worth retrying."""
    body = {"error": {"code": code, "message": message, "retryable": False}}
    return JSONResponse(body, status_code=status)


def patient_not_found() -> JSONResponse:
    return error_response(404, "NOT_FOUND", "Paciente não encontrado")


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: Optional[str], etag: str) -> bool:
    """Apply the weak comparison that RFC 9110 prescribes for If-None-Match."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = [tag.strip() for tag in if_none_match.split(",")]
    return etag in (tag[2:] if tag.startswith("W/") else tag for tag in candidates)


def cached_json(request: Request, payload: Any, cache_control: str) -> Response:
    """Return payload as JSON with a strong ETag, or a 304 if If-None-Match matches it.

    The 304 carries the same ETag and Cache-Control and has an empty body.
    """
    body = json_bytes(payload)
    headers = {"Cache-Control": cache_control, "ETag": strong_etag(body)}
    if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


# Agent contract.


class ChatMessage(BaseModel):
    id: Optional[str] = None
    content: str


class HistoryEntry(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    session_id: str
    message: ChatMessage
    history: List[HistoryEntry] = []
    # Kept as received, so the reply can echo exactly what nginx filled in.
    user: Optional[Dict[str, Any]] = None
    locale: Optional[str] = "pt-BR"
    stream: bool = False


class QueryRequest(BaseModel):
    query: str
    context: Optional[Dict[str, Any]] = None


@app.get("/health")
async def health() -> Dict:
    return {"status": "healthy", "service": SERVICE_NAME, "version": SERVICE_VERSION}


@app.post("/v1/chat")
async def chat(request: ChatRequest):
    reply = agent.build_reply(request.message.content, request.locale or "pt-BR")
    tokens = agent.split_tokens(reply)
    prompt_texts = [entry.content for entry in request.history] + [request.message.content]
    usage = {"input_tokens": agent.count_words(prompt_texts), "output_tokens": len(tokens)}

    if request.stream:
        return StreamingResponse(
            sse_events(tokens, usage, request.user),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return {
        "session_id": request.session_id,
        "message": {"id": f"msg_{uuid.uuid4().hex}", "role": "assistant", "content": reply},
        "usage": usage,
        "received_user": request.user,
    }


def sse_event(payload: Dict) -> bytes:
    return b"data: " + json_bytes(payload) + b"\n\n"


async def sse_events(tokens: List[str], usage: Dict, user: Optional[Dict]) -> AsyncIterator[bytes]:
    """Yield one SSE text event per token, then the done event.

    StreamingResponse sends each yielded value as its own body message, which
    uvicorn writes as its own HTTP chunk.
    """
    for token in tokens:
        yield sse_event({"type": "text", "delta": token})
        await asyncio.sleep(TOKEN_INTERVAL_S)
    yield sse_event({"type": "done", "usage": usage, "received_user": user})


@app.post("/api/agent/query")
async def agent_query(request: QueryRequest) -> JSONResponse:
    # The platform's real backends send this shared-cache header on private
    # data. The agent copies it so that the nginx filter has something to override.
    data = agent.answer_query(request.query)
    payload = {"success": True, "data": data, "timestamp": utc_timestamp()}
    headers = {"Cache-Control": "public, s-maxage=600"}
    # A patient search returns patient data from a route that nginx classes
    # as plain api: the marker asks the gateway to raise the class.
    if data.get("intent") == "patient_search":
        headers["X-Data-Classification"] = "patient"
    return JSONResponse(payload, headers=headers)


# Demo clinic API.


@app.get("/api/patients/{patient_id}")
async def get_patient(patient_id: str, request: Request) -> Response:
    patient = data.find_patient(patient_id)
    if patient is None:
        return patient_not_found()
    return cached_json(request, patient, PRIVATE_CACHE)


@app.get("/api/v2/patients/{patient_id}")
async def get_patient_v2(patient_id: str, request: Request) -> Response:
    patient = data.find_patient(patient_id)
    if patient is None:
        return patient_not_found()
    return cached_json(request, {"data": patient, "version": 2}, PRIVATE_CACHE)


@app.get("/api/medical-records/{patient_id}")
async def get_medical_record(patient_id: str, request: Request) -> Response:
    record = data.MEDICAL_RECORDS.get(patient_id)
    if record is None:
        return patient_not_found()
    return cached_json(request, record, PRIVATE_CACHE)


@app.get("/api/appointments")
async def list_appointments() -> JSONResponse:
    return JSONResponse(data.APPOINTMENTS, headers={"Cache-Control": "no-cache"})


@app.get("/api/telemedicine/sessions")
async def list_telemedicine_sessions() -> JSONResponse:
    return JSONResponse(data.TELEMEDICINE_SESSIONS, headers={"Cache-Control": PRIVATE_CACHE})


@app.get("/api/clinics")
async def list_clinics() -> JSONResponse:
    # Expires and Pragma are legacy headers that the nginx filter must remove.
    headers = {
        "Cache-Control": "max-age=30",
        "Expires": formatdate(time.time() + 60, usegmt=True),
        "Pragma": "cache",
    }
    return JSONResponse(data.CLINICS, headers=headers)


@app.get("/api/echo-headers")
async def echo_headers(request: Request) -> Dict:
    return {"headers": control.headers_to_dict(request.scope["headers"])}
