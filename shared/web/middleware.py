"""Pure ASGI middleware: request ids, access log, body size limit, last-resort error answer.

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request, no buffering of streamed
bodies, and context variables set here are visible to the handler (same task) and to the log lines
it writes.

Order, outermost first (``shared.web.app`` installs it):

1. ``RequestContextMiddleware``: ids in and out, access log line. Outermost so even a refused body
   or a crash is logged with its request id and echoed headers.
2. ``shared.web.metrics.MetricsMiddleware``: counts what the client actually received.
3. ``BodySizeLimitMiddleware``: refuses oversized bodies before anything reads them.
4. ``UnhandledErrorMiddleware``: turns an exception nothing else handled into a 500 problem, so
   the middleware above sees (and counts, and logs) a normal 500 answer instead of an exception.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.clock import simulated_now
from shared.errors import PayloadTooLarge
from shared.ids import uuid7
from shared.ops.logging import actor_var, correlation_id_var, request_id_var
from shared.web.asgi import HttpMiddleware, WatchedSend
from shared.web.metrics import route_template
from shared.web.problems import problem_for_exception, problem_of

REQUEST_ID_HEADER: Final = "X-Request-ID"
CORRELATION_ID_HEADER: Final = "X-Correlation-ID"
QUIET_PATHS: Final = frozenset({"/health/live", "/health/ready", "/metrics"})
"""Probes and scrapes arrive every few seconds; their access lines are logged at DEBUG."""

# Ids from clients end up in logs and headers: accept only short, plain tokens (no log injection).
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")

access_logger = logging.getLogger("shared.web.access")
logger = logging.getLogger("shared.web.middleware")


class RequestContextMiddleware(HttpMiddleware):
    """Sets request id, correlation id (and clears the actor) for the request; logs one access line.

    ``X-Request-ID`` identifies this hop and ``X-Correlation-ID`` the whole conversation (it defaults
    to the request id and travels on into events). Both are echoed on the response.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the ids for the duration of the request and log how it ended."""
        headers = _headers(scope)
        request_id = _valid_id(headers.get(b"x-request-id")) or str(uuid7())
        correlation_id = _valid_id(headers.get(b"x-correlation-id")) or request_id
        tokens = (
            request_id_var.set(request_id),
            correlation_id_var.set(correlation_id),
            actor_var.set(None),
        )
        started = time.perf_counter()

        def echo_ids(start: Message) -> None:
            response_headers = MutableHeaders(scope=start)
            if REQUEST_ID_HEADER not in response_headers:
                response_headers.append(REQUEST_ID_HEADER, request_id)
            if CORRELATION_ID_HEADER not in response_headers:
                response_headers.append(CORRELATION_ID_HEADER, correlation_id)

        watched = WatchedSend(send, on_start=echo_ids)
        try:
            await self.app(scope, receive, watched)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            status = watched.status
            path = scope.get("path", "")
            access_logger.log(
                logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                "%s %s %s",
                scope.get("method"),
                path,
                status,
                extra={
                    "method": scope.get("method"),
                    "route": route_template(scope),
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "actor": actor_var.get(),
                },
            )
            for var, token in zip((request_id_var, correlation_id_var, actor_var), tokens, strict=True):
                var.reset(token)


class RequestBodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` on purpose: FastAPI re-raises those from body parsing (anything else
    becomes a vague 400), and the problem handlers then answer 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {limit} bytes.")


class BodySizeLimitMiddleware(HttpMiddleware):
    """Refuses request bodies larger than ``max_body_bytes`` with a 413 problem.

    A declared ``Content-Length`` over the limit is refused before the app runs. Since that header may
    be missing (chunked uploads) or wrong, the bytes actually received are counted as well, and
    reading stops at the limit, so a service never buffers more than ``max_body_bytes`` per request.
    ``larger`` names the few routes that stream their body to disk instead (the bulk import's NDJSON)
    with their own limit, by method and exact path.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, larger: Mapping[tuple[str, str], int] | None = None) -> None:
        super().__init__(app)
        self.max_body_bytes = max_body_bytes
        self.larger = dict(larger or {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then meter the stream."""
        limit = self.larger.get((scope.get("method", ""), scope.get("path", "")), self.max_body_bytes)
        declared = _headers(scope).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            response = problem_of(
                PayloadTooLarge,
                detail=f"The request body exceeds the limit of {limit} bytes.",
                instance=scope.get("path", "/"),
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def metered_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLarge(limit)
            return message

        await self.app(scope, metered_receive, send)


class UnhandledErrorMiddleware(HttpMiddleware):
    """Last resort: an exception no handler took becomes a problem answer (usually a logged 500).

    Starlette's own last resort answers in plain text and then re-raises to the server, which logs
    the traceback a second time; here the exception is logged once, with the request id.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer with a problem if it raises before starting its response."""
        watched = WatchedSend(send)
        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if watched.started:
                # Too late for a problem body; the server must cut the connection.
                logger.exception("error after the response started")
                raise
            response = problem_for_exception(exc, scope)
            await response(scope, receive, send)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", ())}


def _valid_id(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    value = raw.decode("latin-1").strip()
    return value if _VALID_ID.fullmatch(value) else None


SIMULATED_TIME_HEADER = b"x-simulated-time"


class SimulatedTimeMiddleware(HttpMiddleware):
    """Honours ``X-Simulated-Time`` (RFC 3339) so the demo can replay history through the real APIs.

    Installed only when ``ENVIRONMENT`` is ``local`` or ``test``: in any other environment the header
    is ignored, because a client choosing the time of its own events would corrupt SLA clocks, KPIs
    and the audit trail. A malformed value is ignored rather than refused, so a stray header never
    breaks a request.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with ``shared.clock.simulated_now`` set from the header, if any."""
        moment = None
        for name, value in scope.get("headers", ()):
            if name == SIMULATED_TIME_HEADER:
                try:
                    moment = datetime.fromisoformat(value.decode().replace("Z", "+00:00"))
                except (ValueError, UnicodeDecodeError):
                    moment = None
                if moment is not None and moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                break
        if moment is None:
            await self.app(scope, receive, send)
            return
        token = simulated_now.set(moment.astimezone(UTC))
        try:
            await self.app(scope, receive, send)
        finally:
            simulated_now.reset(token)
