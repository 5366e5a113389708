"""Prometheus metrics of the HTTP side: golden signals per route, and the ``/metrics`` route.

The event platform's own instruments (``PlatformMetrics``) live in ``shared.ops.metrics``: relays and
workers record into them without a web app. Every app owns its ``CollectorRegistry``
(``app.state.metrics_registry``) instead of the process-wide default: tests build hundreds of apps in
one process, and the default registry refuses a second ``http_requests_total``. Instruments are
created once per registry and cached, so asking twice returns the same objects rather than failing.

Routes are labelled by their template (``/v1/customers/{customer_id}``), never by the raw path, and
unknown methods collapse to ``OTHER``: one label value per customer id would grow the time-series
count without bound and take Prometheus down with it.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.ops.metrics import InstrumentMaker, instruments_once
from shared.web.asgi import HttpMiddleware, WatchedSend

UNMATCHED_ROUTE: Final = "<unmatched>"
"""Route label for requests no route matched (404s, bodies refused before routing)."""

_KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_LABELS: Final = ("method", "route", "status")
"""Both HTTP instruments are labelled alike, so a request's count and latency join on every label."""


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    """The request counter and latency histogram the middleware records into."""

    requests: Counter
    duration: Histogram


_http_cache: weakref.WeakKeyDictionary[CollectorRegistry, HttpMetrics] = weakref.WeakKeyDictionary()
"""The HTTP instruments per registry; weak keys so a discarded app (and its registry) is garbage collected."""


def http_metrics(registry: CollectorRegistry) -> HttpMetrics:
    """The HTTP instruments of ``registry``, created on first use."""
    return instruments_once(_http_cache, registry, _http_instruments)


def _http_instruments(make: InstrumentMaker) -> HttpMetrics:
    """The declarations of the HTTP instruments."""
    return HttpMetrics(
        requests=make.counter(
            "http_requests_total", "HTTP requests answered, by method, route template and status.", *_LABELS
        ),
        duration=make.histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            *_LABELS,
        ),
    )


def metrics_router() -> APIRouter:
    """``GET /metrics``: the app's registry in Prometheus text format (no auth, not in OpenAPI)."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus scrape endpoint."""
        registry: CollectorRegistry = request.app.state.metrics_registry
        for refresh in getattr(request.app.state, "metrics_refreshers", ()):
            await refresh(request.app)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


class MetricsMiddleware(HttpMiddleware):
    """Pure ASGI middleware counting and timing every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        super().__init__(app)
        self.metrics = http_metrics(registry)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request; the route is read after the router has matched it."""
        started = time.perf_counter()
        watched = WatchedSend(send)
        try:
            await self.app(scope, receive, watched)
        finally:
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            labels = (method, route_template(scope), str(watched.status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.duration.labels(*labels).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``UNMATCHED_ROUTE`` before/without a match."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE
