"""Platform gauges measured when Prometheus scrapes: outbox backlog and age, consumer lag.

These are facts of the database and the broker, not of one process, so they are read on scrape
rather than counted in memory: any API replica reports the truth, and a restarted process does not
reset them. A refresher never fails the scrape (a scrape must not fail because Kafka is down;
``/health/ready`` reports that), but a lag it cannot measure is a WARNING and a counter, never
silence. The broker lookups are cached briefly and run in a thread because kafka-python blocks.
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
from prometheus_client import make_wsgi_app

from shared.ops.heartbeat import Heartbeat
from shared.ops.metrics import PlatformMetrics, create_registry, platform_metrics

log = logging.getLogger(__name__)

Refresher = Callable[[Any], Awaitable[None]]

DATABASE_UNAVAILABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def read_on_scrape(read: Refresher, *, ttl: float, what: str) -> Refresher:
    """A refresher that runs ``read(app)`` at most once per ``ttl`` seconds, for figures read from a database.

    A service's business figures (NPS, messages sent) are facts of its read model, read when
    Prometheus scrapes; ``ttl`` keeps a scrape from costing a query every time, and a database that
    cannot answer leaves the last values in place (``/health/ready`` reports the outage) instead of
    failing the scrape.
    """
    last = float("-inf")  # the first scrape always reads, however recently the machine booted

    async def refresh(app: Any) -> None:
        nonlocal last
        if time.monotonic() - last < ttl:
            return
        last = time.monotonic()
        try:
            await read(app)
        except DATABASE_UNAVAILABLE as exc:
            log.debug("%s unavailable", what, extra={"error": repr(exc)})

    return refresh


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


LAG_LOOKUP_TIMEOUT = 5.0
"""Seconds one lag measurement may take before the scrape gives up on it (and counts an error)."""


def consumer_lag(
    bootstrap_servers: str, groups: Sequence[str], *, timeout: float = LAG_LOOKUP_TIMEOUT
) -> dict[tuple[str, str, int], int]:
    """Messages behind the log end per (group, topic, partition), from committed offsets (blocking).

    Two admin requests, whatever the number of groups: the groups' committed offsets (OffsetFetch,
    kafka-python's ``list_group_offsets``) and the end of every partition they committed on
    (ListOffsets ``LATEST``). A group that never committed has no partitions, so no lag: it is
    absent, not zero. Raises whatever kafka-python raises; the refresher turns that into a warning
    and ``consumer_lag_errors_total``.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import OffsetSpec

    if not groups:
        return {}
    timeout_ms = max(int(timeout * 1000), 100)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers.split(","),
        client_id="c360-lag",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
    try:
        committed = admin.list_group_offsets(list(groups))
        partitions = {tp for offsets in committed.values() for tp in offsets}
        if not partitions:
            return {}
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions}, timeout_ms=timeout_ms)
        lags: dict[tuple[str, str, int], int] = {}
        for group, offsets in committed.items():
            for tp, meta in offsets.items():
                # -1: the group knows the partition but committed nothing on it yet; it would start
                # from the beginning (auto_offset_reset=earliest), so everything is behind.
                lags[(group, tp.topic, tp.partition)] = max(0, ends[tp].offset - max(meta.offset, 0))
        return lags
    finally:
        admin.close()


def consumer_lag_refresher(
    bootstrap_servers: str,
    groups: Sequence[str],
    *,
    ttl: float = 10.0,
    timeout: float = LAG_LOOKUP_TIMEOUT,
) -> Refresher:
    """Sets ``consumer_lag{group,topic,partition}`` for the service's consumer groups.

    A failed measurement is never silent: it logs a WARNING and increments
    ``consumer_lag_errors_total`` (the ``C360ConsumerLagUnmeasured`` alert watches it), because
    without samples the lag alerts cannot fire and nobody would know. The last good values stay
    (one lost scrape must not reset the alerts' ``for`` clocks); series of partitions a later
    measurement no longer reports are removed, so a deleted group does not alert forever.
    """
    last = 0.0
    reported: set[tuple[str, str, int]] = set()

    async def refresh(app: Any) -> None:
        nonlocal last, reported
        if last and time.monotonic() - last < ttl:
            return
        last = time.monotonic()
        metrics: PlatformMetrics = platform_metrics(app.state.metrics_registry)
        try:
            lags = await asyncio.wait_for(
                asyncio.to_thread(consumer_lag, bootstrap_servers, list(groups), timeout=timeout), timeout + 1
            )
        except Exception as exc:
            metrics.consumer_lag_errors.inc()
            log.warning("consumer lag could not be measured", extra={"error": repr(exc), "groups": list(groups)})
            return
        for group, topic, partition in reported - lags.keys():
            metrics.consumer_lag.remove(group, topic, str(partition))
        for (group, topic, partition), lag in lags.items():
            metrics.consumer_lag.labels(group=group, topic=topic, partition=str(partition)).set(lag)
        reported = set(lags)

    return refresh


_PROCESS_REGISTRY: Any = None


def process_metrics() -> PlatformMetrics:
    """Platform instruments of a worker or relay process (one registry per process)."""
    global _PROCESS_REGISTRY
    if _PROCESS_REGISTRY is None:
        _PROCESS_REGISTRY = create_registry()
    return platform_metrics(_PROCESS_REGISTRY)


def serve_process_metrics(port: int, heartbeat: Heartbeat, host: str = "0.0.0.0") -> ThreadingWSGIServer:
    """Serve ``/metrics`` (``process_metrics()``) and ``/health/live`` (``heartbeat``) from a background thread.

    ``/health/live`` answers 200 while the work loop beats and 503 once its last beat is older than
    the heartbeat allows, with the age in the body either way (``shared.ops.heartbeat`` says why).
    """
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
