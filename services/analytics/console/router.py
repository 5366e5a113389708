"""The operations console: pages, static assets, a same-origin API proxy and a live-update stream.

Mount it into the analytics app (port 8004) with ``app.include_router(console_router())``; the
console is then at ``/console``. Everything under ``/console`` is public except what the browser
fetches through the proxy and the live stream, which forward the caller's bearer token to the
services, so every service still decides for itself what the token may see. The console never
reads another service's database and holds no credentials of its own.

Why a proxy rather than CORS: the four services listen on four ports; serving the console from
8004 and forwarding ``/console/api/<service>/v1/...`` keeps the browser on one origin, so no
service needs a CORS policy and the token never leaves the console's origin.

Environment (read when the router is built, never at import):

- ``CUSTOMER_API_URL`` / ``TICKETING_API_URL`` / ``CAMPAIGNS_API_URL`` / ``ANALYTICS_API_URL``:
  base URLs of the services (defaults ``http://127.0.0.1:8001`` ... ``8004``);
- ``CONSOLE_LIVE_POLL_SECONDS``: how often the live stream looks for new events (default 1.5).
- ``AUTH_OIDC_ISSUER`` / ``AUTH_OIDC_CONSOLE_CLIENT_ID``: the identity provider people sign in with
  (``/console/auth-config``, ``static/auth.js``); pasting a token is offered only with
  ``ENVIRONMENT=local``/``test``. The page's CSP lets the browser reach that issuer and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from starlette.staticfiles import StaticFiles

from shared.settings import PlatformSettings

STATIC_DIR: Final = Path(__file__).parent / "static"
SERVICES: Final = ("customer", "ticketing", "campaigns", "analytics")
DEFAULT_URLS: Final = {
    "customer": "http://127.0.0.1:8001",
    "ticketing": "http://127.0.0.1:8002",
    "campaigns": "http://127.0.0.1:8003",
    "analytics": "http://127.0.0.1:8004",
}
PAGES: Final = ("signin", "search", "queue", "campaigns", "kpis", "duplicates", "calendars", "policy", "nps",
                 "webhooks", "alerts", "followups", "servicemessages")
"""Pages of the console; each is served by the same shell, which renders it in the browser."""

_FORWARDED_REQUEST_HEADERS: Final = ("authorization", "content-type", "idempotency-key", "if-match", "accept")
_FORWARDED_RESPONSE_HEADERS: Final = ("content-type", "etag", "location", "idempotent-replayed", "www-authenticate")
_SECURITY_HEADERS: Final = {
    # Data is only ever written with textContent; the policy is the second line of defence.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_HEARTBEAT_SECONDS: Final = 15.0
_MAX_STREAM_SECONDS: Final = 30 * 60.0


@dataclass
class ConsoleConfig:
    """Where the services are and how often the live stream polls."""

    base_urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_URLS))
    live_poll_seconds: float = 1.5
    timeout_seconds: float = 15.0
    oidc_issuer: str = ""
    oidc_client_id: str = "c360-console"
    token_paste: bool = True

    def auth_config(self) -> dict[str, Any]:
        """What ``static/auth.js`` needs: the provider, the console's client, whether paste is allowed."""
        return {"issuer": self.oidc_issuer, "client_id": self.oidc_client_id, "token_paste": self.token_paste}

    def security_headers(self) -> dict[str, str]:
        """The shell's headers; ``connect-src`` adds the issuer's origin (discovery, token, refresh)."""
        headers = dict(_SECURITY_HEADERS)
        if self.oidc_issuer:
            origin = httpx.URL(self.oidc_issuer)
            allowed = f"{origin.scheme}://{origin.netloc.decode()}"
            headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
                "connect-src 'self'", f"connect-src 'self' {allowed}")
        return headers

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleConfig:
        """Read ``<SERVICE>_API_URL`` and ``CONSOLE_LIVE_POLL_SECONDS`` (defaults: local ports)."""
        env = os.environ if environ is None else environ
        settings = PlatformSettings() if environ is None else None
        urls = {
            name: (getattr(settings, f"{name}_api_url") if settings else env.get(f"{name.upper()}_API_URL", url))
            .rstrip("/")
            for name, url in DEFAULT_URLS.items()
        }
        if settings is not None:
            issuer, client_id = settings.auth_oidc_issuer, settings.auth_oidc_console_client_id
            environment: str = settings.environment
        else:
            issuer, client_id = env.get("AUTH_OIDC_ISSUER", ""), env.get("AUTH_OIDC_CONSOLE_CLIENT_ID", "c360-console")
            environment = env.get("ENVIRONMENT", "local")
        return cls(base_urls=urls, live_poll_seconds=float(env.get("CONSOLE_LIVE_POLL_SECONDS", "1.5")),
                   oidc_issuer=issuer, oidc_client_id=client_id, token_paste=environment in ("local", "test"))


class _Upstream:
    """One pooled HTTP client for the proxy and the live stream, created inside the running loop."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.config.timeout_seconds,
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def url(self, service: str, path: str) -> str:
        return f"{self.config.base_urls[service]}/{path.lstrip('/')}"


def console_router(config: ConsoleConfig | None = None) -> APIRouter:
    """The ``/console`` router: pages, ``/console/static``, the API proxy and the live stream."""
    config = config or ConsoleConfig.from_env()
    upstream = _Upstream(config)
    headers = config.security_headers()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await upstream.close()

    router = APIRouter(prefix="/console", include_in_schema=False, lifespan=lifespan)
    static = StaticFiles(directory=STATIC_DIR)

    @router.get("")
    async def console_home() -> Response:
        """The console's entry: the sign-in page."""
        return RedirectResponse("/console/signin", status_code=307)

    @router.get("/auth-config")
    async def console_auth_config() -> Response:
        """Which identity provider and client the console signs in with (public data)."""
        return JSONResponse(config.auth_config(), headers={"Cache-Control": "no-store"})

    @router.get("/static/{path:path}")
    async def console_static(path: str, request: Request) -> Response:
        """Console scripts, styles and vendored libraries."""
        response = await static.get_response(path, request.scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @router.api_route("/api/{service}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def console_proxy(service: str, path: str, request: Request) -> Response:
        """Forward a console call to a service's ``/v1`` API with the caller's own bearer token."""
        if service not in SERVICES:
            return _problem(404, "Unknown service", f"The console knows no service named {service!r}.")
        if not path.startswith("v1/") or ".." in path.split("/"):
            return _problem(404, "Not proxied", "Only a service's /v1/ API is reachable through the console.")
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_REQUEST_HEADERS}
        try:
            answer = await upstream.client.request(
                request.method,
                upstream.url(service, path),
                params=list(request.query_params.multi_items()),
                content=await request.body(),
                headers=headers,
            )
        except httpx.HTTPError:
            return _problem(503, "Service unavailable", f"The {service} service did not answer.")
        kept = {k: v for k, v in answer.headers.items() if k.lower() in _FORWARDED_RESPONSE_HEADERS}
        return Response(content=answer.content, status_code=answer.status_code, headers=kept)

    @router.get("/live/{customer_id}")
    async def console_live(customer_id: UUID, request: Request) -> Response:
        """Server-sent events: ``changed`` whenever a new event or ticket change shows up for the customer."""
        authorization = request.headers.get("authorization")
        if not authorization:
            return _problem(401, "Unauthorized", "A bearer token is required.")
        watcher = _CustomerWatcher(upstream, str(customer_id), authorization)
        try:
            first = await watcher.snapshot(check_access=True)
        except _AccessRefused as refused:
            return Response(content=refused.body, status_code=refused.status, media_type="application/problem+json")
        return StreamingResponse(
            _live_stream(request, watcher, first, upstream.config.live_poll_seconds),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/customers/{customer_id}")
    async def console_customer_page(customer_id: UUID) -> Response:
        """The customer's 360 page."""
        return _shell(headers)

    for page in PAGES:
        router.add_api_route(f"/{page}", _page_endpoint(page, headers), methods=["GET"], name=f"console_{page}")

    return router


def _page_endpoint(page: str, headers: Mapping[str, str] = _SECURITY_HEADERS) -> Any:
    async def endpoint() -> Response:
        return _shell(headers)

    endpoint.__doc__ = f"The console's {page} page."
    return endpoint


def _shell(headers: Mapping[str, str] = _SECURITY_HEADERS) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=dict(headers))


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


class _AccessRefused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _CustomerWatcher:
    """Looks at the newest timeline event and the newest ticket change of one customer."""

    def __init__(self, upstream: _Upstream, customer_id: str, authorization: str) -> None:
        self.upstream = upstream
        self.customer_id = customer_id
        self.headers = {"Authorization": authorization}

    async def snapshot(self, *, check_access: bool = False) -> dict[str, Any]:
        timeline, tickets = await asyncio.gather(
            self._get("analytics", f"v1/customers/{self.customer_id}/timeline", {"limit": "1"}, check_access),
            self._get(
                "ticketing", "v1/tickets", {"customer_id": self.customer_id, "sort": "newest", "limit": "50"}, False
            ),
        )
        head = (timeline or {}).get("items") or [{}]
        ticket_items = (tickets or {}).get("items") or []
        return {
            "timeline_head": head[0].get("event_id"),
            "tickets": sorted(f"{t.get('id')}:{t.get('version')}" for t in ticket_items),
        }

    async def _get(self, service: str, path: str, params: dict[str, str], check_access: bool) -> Any:
        try:
            answer = await self.upstream.client.get(
                self.upstream.url(service, path), params=params, headers=self.headers
            )
        except httpx.HTTPError:
            return None
        if check_access and answer.status_code in (401, 403):
            raise _AccessRefused(answer.status_code, answer.content)
        if answer.status_code != 200:
            # Analytics answers 404 until it has seen the customer: nothing to compare yet.
            return None
        try:
            return answer.json()
        except ValueError:
            return None


async def _live_stream(
    request: Request, watcher: _CustomerWatcher, first: dict[str, Any], poll_seconds: float
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    started = last_beat = loop.time()
    previous = first
    yield b"retry: 3000\n\n"
    yield _sse("ready", {"customer_id": watcher.customer_id})
    while loop.time() - started < _MAX_STREAM_SECONDS:
        await asyncio.sleep(poll_seconds)
        if await request.is_disconnected():
            return
        current = await watcher.snapshot()
        if current != previous:
            previous = current
            yield _sse("changed", {"customer_id": watcher.customer_id, **current})
        elif loop.time() - last_beat >= _HEARTBEAT_SECONDS:
            last_beat = loop.time()
            yield b": keep-alive\n\n"


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
