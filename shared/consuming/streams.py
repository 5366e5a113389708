"""Faust adapter of the consumer kit: a projector runs in a Faust worker over its topics.

Faust is the worker runtime (group membership, assignment, rebalancing, offset commits). By default
each whole fetch goes straight to ``shared.consuming.consumer.BatchProcessor`` through the batch transport
(``shared.consuming.batch_transport``, ADR 0008): every message is unacknowledged until the processor has
decoded, dead-lettered, deduplicated and applied the batch in one transaction, so offsets are
committed only after it and a rebalance waits for it. ``transport="stream"`` keeps the earlier path
(an agent taking ``take_events`` batches) for A/B benchmarks. A projector with an
``on_partitions_revoked(partitions)`` method has it called on every revocation, once the batch in
flight is done (to drop per-customer caches).

Run one with ``c360 worker <service> <name>``; tests start the same app inside their event loop
with ``ProjectionWorker.start()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, Literal

import asyncpg
import faust

from shared.consuming.batch_transport import BatchApp, broker_urls
from shared.consuming.consumer import (
    TRANSIENT_ERRORS,
    BatchProcessor,
    DeadLetterSink,
    KeyProvider,
    Projector,
    RawRecord,
    dead_letter_headers,
)
from shared.events.catalog import CATALOG, Catalog
from shared.ops.observability import process_metrics
from shared.outbox.topics import dlq_of
from shared.settings import PlatformSettings
from shared.store.db import create_pool

log = logging.getLogger(__name__)


Transport = Literal["batch", "stream"]
"""``batch``: whole fetches to the processor (the default); ``stream``: Faust agent + ``take_events``."""

TRANSPORT_VARIABLE = "CONSUMER_TRANSPORT"
"""Environment variable choosing the transport of every worker of a process (``batch`` or ``stream``):
the benchmarks compare the two, and an operator can fall back to stock Faust without a release."""


def default_transport() -> Transport:
    value = os.environ.get(TRANSPORT_VARIABLE, "batch").strip().lower() or "batch"
    if value not in ("batch", "stream"):
        raise ValueError(f"{TRANSPORT_VARIABLE} must be 'batch' or 'stream', not {value!r}")
    return "stream" if value == "stream" else "batch"


ALIGNMENT_VARIABLE = "CONSUMER_ALIGN_BY_TIME"
"""Environment variable: ``false`` hands every fetch over as it came (no event-time alignment of a
catch-up) in every worker of a process; for A/B benchmarks and as an operator's switch."""


def default_alignment() -> bool:
    value = os.environ.get(ALIGNMENT_VARIABLE, "true").strip().lower() or "true"
    if value not in ("true", "false"):
        raise ValueError(f"{ALIGNMENT_VARIABLE} must be 'true' or 'false', not {value!r}")
    return value == "true"


def broker_url(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip()]


ALIGNMENT_BATCHES = 10
"""How many batches' worth of fetched records a catch-up may hold back to hand them over in time order."""

class ProjectionWorker:
    """A Faust app running one projector over ``topics`` (logical names; the prefix is applied)."""

    _dead_letter: DeadLetterSink

    def __init__(
        self,
        *,
        settings: PlatformSettings,
        dsn: str,
        projector: Projector,
        topics: Sequence[str],
        batch_size: int = 1000,
        batch_window: float = 0.05,
        catalog: Catalog = CATALOG,
        keys: KeyProvider | None = None,
        metrics: Any | None = None,
        pool_size: int = 4,
        transport: Transport | None = None,
        commit_interval: float = 1.0,
        commit_every: int | None = None,
        align_by_time: bool | None = None,
    ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.projector = projector
        self.topics = [settings.topic(t) for t in topics]
        self.batch_size = batch_size
        self.batch_window = batch_window
        self.catalog = catalog
        self.keys = keys
        self.metrics = metrics if metrics is not None else process_metrics()
        self.pool_size = pool_size
        self.transport: Transport = transport or default_transport()
        self.commit_interval = commit_interval
        self.commit_every = commit_every or batch_size
        self.align_by_time = default_alignment() if align_by_time is None else align_by_time
        self.pool: asyncpg.Pool | None = None
        self.processor: BatchProcessor | None = None
        self._creating = asyncio.Lock()  # the batch transport may hand two batches over at once
        self.app = self._build_app()

    @property
    def group_id(self) -> str:
        return f"{self.settings.kafka_topic_prefix}{self.projector.name}"

    def _build_app(self) -> faust.App:
        batch = self.transport == "batch"
        app = (BatchApp if batch else faust.App)(
            self.group_id,
            broker=(broker_urls if batch else broker_url)(self.settings.kafka_bootstrap_servers),
            value_serializer="raw",
            key_serializer="raw",
            web_enabled=False,
            topic_allow_declare=False,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            store="memory://",
            datadir=self.settings.faust_datadir or os.path.join(tempfile.gettempdir(), "c360-faust"),
            producer_acks=-1,
            broker_commit_every=self.commit_every,
            broker_commit_interval=self.commit_interval,
            stream_buffer_maxsize=max(4096, self.batch_size * 2),
            # One fetch is one batch on the batch transport: bound it by the batch size.
            broker_max_poll_records=self.batch_size if batch else None,
            # A killed worker's partitions move to the survivors within ~10 s instead of a minute.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
        )
        source = app.topic(*self.topics, value_serializer="raw", key_serializer="raw")
        dlqs = {t: app.topic(dlq_of(t), value_serializer="raw", key_serializer="raw") for t in self.topics}

        async def dead_letter(record: RawRecord, reason: str, detail: str) -> None:
            topic = dlqs.get(record.topic) or app.topic(dlq_of(record.topic), value_serializer="raw")
            headers = dead_letter_headers(record, self.projector.name, reason, detail)
            fut = await topic.send(key=record.key, value=record.value or b"", headers=headers)
            await fut  # delivered before the original is acknowledged

        self._dead_letter = dead_letter

        async def run_batches(stream: Any) -> None:
            async for events in stream.take_events(self.batch_size, within=self.batch_window):
                await self.handle([_raw(e) for e in events])

        async def partitions_revoked(sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            # After the batch in flight finished (Faust waits for it): a projector holding
            # per-customer memory may drop what it no longer owns.
            revoked = set(args[0]) if args else set()
            forget = getattr(self.projector, "on_partitions_revoked", None)
            if forget is not None and revoked:
                forget(revoked)

        app.on_partitions_revoked.connect(partitions_revoked)

        if isinstance(app, BatchApp):
            app.batch_handler = self.handle
            # A catch-up goes in event-time order across the topics; at most ten batches wait meanwhile.
            app.align_by_time = ALIGNMENT_BATCHES * self.batch_size if self.align_by_time else None
            app.batch_window = self.batch_window  # live, a small batch is followed by one window's gathering
            app.topics.add(source)  # subscribed by Faust's conductor; no agent reads it
        else:
            app.agent(source, name=f"{self.projector.name}-agent")(run_batches)
        return app

    async def handle(self, records: Sequence[RawRecord]) -> None:
        """One batch through the consumer kit; returns once every record is applied or dead-lettered."""
        processor = await self._processor(self._dead_letter)
        await processor.process(records)

    async def _processor(self, dead_letter: Callable[..., Any]) -> BatchProcessor:
        # On the stream transport Faust acknowledges a batch when the agent body returns or raises,
        # so failing to reach the database here must not escape: wait for it (the batch stays
        # unacknowledged meanwhile).
        if self.processor is not None:
            return self.processor
        async with self._creating:
            delay = 0.5
            while self.processor is None:
                try:
                    self.pool = await create_pool(self.dsn, min_size=1, max_size=self.pool_size)
                except TRANSIENT_ERRORS as exc:
                    log.warning("database unavailable; the batch waits",
                                extra={"error": repr(exc), "retry_in_s": delay})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                self.processor = BatchProcessor(pool=self.pool, projector=self.projector, dead_letter=dead_letter,
                                                catalog=self.catalog, keys=self.keys, metrics=self.metrics)
            return self.processor

    async def start(self) -> None:
        """Start consuming inside the running event loop (tests, embedded use)."""
        self.app.finalize()
        await self.app.start()

    async def stop(self) -> None:
        await self.app.stop()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (the ``c360 worker`` process); wait for the broker if it is away."""
        delay = 1.0
        while not stop.is_set():
            try:
                await self.start()
                break
            except Exception as exc:  # aiokafka raises several kinds of error when it cannot bootstrap
                log.warning("Kafka unavailable at start; retrying", extra={"error": repr(exc), "retry_in_s": delay})
                with contextlib.suppress(Exception):
                    await self.app.stop()
                self.app = self._build_app()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 15.0)
        if stop.is_set() and not self.app.started:
            return
        try:
            await stop.wait()
        finally:
            await self.stop()


def _raw(event: Any) -> RawRecord:
    message = event.message
    return RawRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
    )
