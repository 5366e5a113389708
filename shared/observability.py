"""Platform gauges measured when Prometheus scrapes: outbox backlog and age, consumer lag.

These are facts of the database and the broker, not of one process, so they are read on scrape
rather than counted in memory: any API replica reports the truth, and a restarted process does not
reset them. Each refresher swallows its own failure (a scrape must not fail because Kafka is down;
``/health/ready`` reports that) and the broker lookups are cached briefly and run in a thread
because kafka-python blocks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import asyncpg

from shared.heartbeat import Heartbeat
from shared.web.metrics import PlatformMetrics, platform_metrics

log = logging.getLogger(__name__)

Refresher = Callable[[Any], Awaitable[None]]


def outbox_refresher(get_pool: Callable[[Any], asyncpg.Pool]) -> Refresher:
    """Sets ``outbox_backlog`` and ``outbox_oldest_age_seconds`` from the service's outbox."""

    async def refresh(app: Any) -> None:
        metrics: PlatformMetrics = platform_metrics(app.state.metrics_registry)
        try:
            row = await asyncio.wait_for(
                get_pool(app).fetchrow(
                    "select count(*) as backlog,"
                    " coalesce(extract(epoch from clock_timestamp() - min(created_at)), 0) as age"
                    " from outbox where published_at is null"
                ),
                timeout=2,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, AttributeError) as exc:
            log.debug("outbox metrics unavailable", extra={"error": repr(exc)})
            return
        metrics.outbox_backlog.set(row["backlog"])
        metrics.outbox_oldest_age.set(float(row["age"]))

    return refresh


def consumer_lag(bootstrap_servers: str, groups: Sequence[str]) -> dict[tuple[str, str, int], int]:
    """Messages behind the log end per (group, topic, partition), from committed offsets (blocking)."""
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="c360-lag")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), client_id="c360-lag")
    try:
        lags: dict[tuple[str, str, int], int] = {}
        for group in groups:
            committed = admin.list_consumer_group_offsets(group)
            if not committed:
                continue
            ends = consumer.end_offsets(list(committed))
            for tp, meta in committed.items():
                lags[(group, tp.topic, tp.partition)] = max(0, ends.get(tp, 0) - max(meta.offset, 0))
        return lags
    finally:
        consumer.close()
        admin.close()


def consumer_lag_refresher(bootstrap_servers: str, groups: Sequence[str], *, ttl: float = 10.0) -> Refresher:
    """Sets ``consumer_lag{group,topic,partition}`` for the service's consumer groups."""
    last = 0.0

    async def refresh(app: Any) -> None:
        nonlocal last
        if time.monotonic() - last < ttl:
            return
        last = time.monotonic()
        metrics: PlatformMetrics = platform_metrics(app.state.metrics_registry)
        try:
            lags = await asyncio.wait_for(asyncio.to_thread(consumer_lag, bootstrap_servers, list(groups)), 5)
        except Exception as exc:
            log.debug("consumer lag unavailable", extra={"error": repr(exc)})
            return
        for (group, topic, partition), lag in lags.items():
            metrics.consumer_lag.labels(group=group, topic=topic, partition=str(partition)).set(lag)

    return refresh



_PROCESS_REGISTRY: Any = None


def process_metrics() -> PlatformMetrics:
    """Platform instruments of a worker or relay process (one registry per process)."""
    global _PROCESS_REGISTRY
    if _PROCESS_REGISTRY is None:
        from shared.web.metrics import create_registry

        _PROCESS_REGISTRY = create_registry()
    return platform_metrics(_PROCESS_REGISTRY)


def serve_process_metrics(port: int, heartbeat: Heartbeat, host: str = "0.0.0.0") -> ThreadingWSGIServer:
    """Serve ``/metrics`` (``process_metrics()``) and ``/health/live`` (``heartbeat``) from a background thread.

    ``/health/live`` answers 200 while the work loop beats and 503 once its last beat is older than
    the heartbeat allows, with the age in the body either way (``shared.heartbeat`` says why).
    """
    from prometheus_client import make_wsgi_app

    process_metrics()
    metrics_app = make_wsgi_app(_PROCESS_REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/health/live":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        alive = heartbeat.alive()
        body = json.dumps({"status": "alive" if alive else "stalled",
                           "heartbeat_age_seconds": round(heartbeat.age(), 3),
                           "max_age_seconds": heartbeat.max_age}).encode()
        start_response("200 OK" if alive else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, so a slow scrape never holds up a probe."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes and scrapes every few seconds are not worth a log line each."""
