"""Prometheus metrics: HTTP golden signals per route, and the event platform's own instruments.

Every app owns its ``CollectorRegistry`` (``app.state.metrics_registry``) instead of the process-wide
default: tests build hundreds of apps in one process, and the default registry refuses a second
``http_requests_total``. Instruments are created once per registry and cached, so asking twice
returns the same objects rather than failing.

Routes are labelled by their template (``/v1/customers/{customer_id}``), never by the raw path, and
unknown methods collapse to ``OTHER``: one label value per customer id would grow the time-series
count without bound and take Prometheus down with it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE: Final = "<unmatched>"
"""Route label for requests no route matched (404s, bodies refused before routing)."""

_KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    """The request counter and latency histogram the middleware records into."""

    requests: Counter
    duration: Histogram


@dataclass(frozen=True, slots=True)
class PlatformMetrics:
    """Instruments of the event platform; the event store, relay and consumers record into them.

    - ``events_appended`` (``events_appended_total{event_type}``): events committed to the store.
    - ``outbox_backlog`` (``outbox_backlog``): outbox rows not yet published.
    - ``outbox_oldest_age`` (``outbox_oldest_age_seconds``): age of the oldest unpublished row; the
      alert that catches a stuck relay even when the backlog is small.
    - ``relay_published`` (``relay_published_total{topic}``): events the relay got acknowledged.
    - ``relay_errors`` (``relay_errors_total``): relay retries after a database or broker failure.
    - ``consumer_lag`` (``consumer_lag{group,topic,partition}``): messages behind the log end.
    - ``consumer_lag_errors`` (``consumer_lag_errors_total``): lag measurements that failed; while
      it grows the lag gauge is stale and the lag alerts are blind.
    - ``events_applied`` (``events_applied_total{consumer,event_type}``): events applied to a read
      model (duplicates skipped by the inbox are not counted).
    """

    events_appended: Counter
    outbox_backlog: Gauge
    outbox_oldest_age: Gauge
    relay_published: Counter
    relay_errors: Counter
    consumer_lag: Gauge
    consumer_lag_errors: Counter
    events_applied: Counter


# Instruments per registry; weak keys so a discarded app (and its registry) is garbage collected.
_cache_lock = threading.Lock()
_http_cache: weakref.WeakKeyDictionary[CollectorRegistry, HttpMetrics] = weakref.WeakKeyDictionary()
_platform_cache: weakref.WeakKeyDictionary[CollectorRegistry, PlatformMetrics] = weakref.WeakKeyDictionary()


def create_registry(*, process_metrics: bool = True) -> CollectorRegistry:
    """A fresh registry, with process, Python-platform and GC collectors unless told otherwise."""
    registry = CollectorRegistry(auto_describe=True)
    if process_metrics:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def http_metrics(registry: CollectorRegistry) -> HttpMetrics:
    """The HTTP instruments of ``registry``, created on first use."""
    return _once(
        _http_cache,
        registry,
        lambda: HttpMetrics(
            requests=Counter(
                "http_requests_total",
                "HTTP requests answered, by method, route template and status.",
                ("method", "route", "status"),
                registry=registry,
            ),
            duration=Histogram(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by method, route template and status.",
                ("method", "route", "status"),
                registry=registry,
            ),
        ),
    )


def platform_metrics(registry: CollectorRegistry) -> PlatformMetrics:
    """The event-platform instruments of ``registry``, created on first use (safe to call repeatedly)."""
    return _once(
        _platform_cache,
        registry,
        lambda: PlatformMetrics(
            events_appended=Counter(
                "events_appended_total",
                "Events committed to the event store.",
                ("event_type",),
                registry=registry,
            ),
            outbox_backlog=Gauge(
                "outbox_backlog", "Outbox rows not yet published to Kafka.", registry=registry
            ),
            outbox_oldest_age=Gauge(
                "outbox_oldest_age_seconds",
                "Age of the oldest outbox row not yet published (0 when empty).",
                registry=registry,
            ),
            relay_published=Counter(
                "relay_published_total",
                "Events the relay published and Kafka acknowledged.",
                ("topic",),
                registry=registry,
            ),
            relay_errors=Counter(
                "relay_errors_total",
                "Relay interruptions (database or broker failures) that forced a retry.",
                registry=registry,
            ),
            consumer_lag=Gauge(
                "consumer_lag",
                "Messages between a consumer group's position and the end of the partition.",
                ("group", "topic", "partition"),
                registry=registry,
            ),
            consumer_lag_errors=Counter(
                "consumer_lag_errors",
                "Consumer lag measurements that failed (broker unreachable, timeout, refused request).",
                registry=registry,
            ),
            events_applied=Counter(
                "events_applied_total",
                "Events a consumer applied to its read model (duplicates excluded).",
                ("consumer", "event_type"),
                registry=registry,
            ),
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


class MetricsMiddleware:
    """Pure ASGI middleware counting and timing every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.metrics = http_metrics(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request; the route is read after the router has matched it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            labels = (method, route_template(scope), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.duration.labels(*labels).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``UNMATCHED_ROUTE`` before/without a match."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


def _once(
    cache: weakref.WeakKeyDictionary[CollectorRegistry, _T],
    registry: CollectorRegistry,
    build: Callable[[], _T],
) -> _T:
    with _cache_lock:
        found = cache.get(registry)
        if found is None:
            found = cache[registry] = build()
        return found
