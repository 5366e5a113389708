"""Event store append: single-event commands with 1/8/32 writers, and 100-event batches.

Side by side with the ``eventsourcing`` library's PostgreSQL application recorder on the same server
(its own fresh database), with the same payload bytes and the same durability (both commit with the
server's default ``synchronous_commit = on``). Its writers are threads with one pooled connection
each (the library is synchronous); ours are asyncio tasks with one pooled connection each. Every
writer appends to its own stream, so nothing but the store itself makes writers wait: the library
takes a table lock per insert to keep its notification log gap-free, ours does not.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from bench.events import BENCH_CATALOG, an_order
from bench.report import Figure, Progress, median, percentile
from bench.setup import Scratch, Size
from shared.store.db import create_pool
from shared.store.eventstore import EventStore

progress = Progress.bar
SIZE = Size(default=1600, smoke=32, full=20_000, counts="single-event appends per writer count")
WRITERS = (1, 8, 32)
BATCH = 100


def _payload() -> bytes:
    event = an_order("00000000-0000-0000-0000-000000000001", 1)
    return event.__pydantic_serializer__.to_json(event)


class Measured:
    """Throughput and latency of one configuration."""

    def __init__(self, operations: int, events: int, seconds: float, latencies: list[float]) -> None:
        self.ops = operations / seconds
        self.events = events / seconds
        self.p50 = median(latencies)
        self.p99 = percentile(latencies, 99)


async def _ours_single(pool: Any, store: EventStore, writers: int, per_writer: int) -> Measured:
    latencies: list[float] = []
    bar = progress(total=per_writer * writers, desc=f"ours x{writers}", unit="op")

    async def writer(stream: str) -> None:
        for version in range(per_writer):
            started = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                await store.append(conn, stream_id=stream, stream_type="order", expected_version=version,
                                   events=[an_order(stream, version)], subject=stream)
            latencies.append((time.perf_counter() - started) * 1000)
            bar.update(1)

    started = time.perf_counter()
    await asyncio.gather(*(writer(f"w{writers}-{uuid.uuid4().hex[:8]}") for _ in range(writers)))
    elapsed = time.perf_counter() - started
    bar.close()
    return Measured(per_writer * writers, per_writer * writers, elapsed, latencies)


async def _ours_batches(pool: Any, store: EventStore, batches: int) -> Measured:
    latencies: list[float] = []
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for b in progress(range(batches), desc="ours batches", unit="batch"):
            began = time.perf_counter()
            async with conn.transaction():
                await store.append(conn, stream_id=f"batch-{b}", stream_type="order", expected_version=0,
                                   events=[an_order(f"b{b}", i) for i in range(BATCH)], subject=f"b{b}")
            latencies.append((time.perf_counter() - began) * 1000)
    return Measured(batches, batches * BATCH, time.perf_counter() - started, latencies)


class TheirRecorder:
    """``eventsourcing``'s ``PostgresApplicationRecorder`` on a scratch database."""

    def __init__(self, dsn: str, pool_size: int) -> None:
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        url = urlsplit(dsn)
        self.datastore = PostgresDatastore(
            dbname=url.path.lstrip("/"), host=url.hostname or "127.0.0.1", port=url.port or 5432,
            user=url.username or "c360", password=url.password or "", pool_size=pool_size, max_overflow=0,
            max_waiting=0,
        )
        self.recorder = PostgresApplicationRecorder(self.datastore)
        self.recorder.create_table()

    def append(self, stream: uuid.UUID, first_version: int, payloads: list[bytes]) -> None:
        from eventsourcing.persistence import StoredEvent

        self.recorder.insert_events([
            StoredEvent(originator_id=stream, originator_version=first_version + i, topic="bench:BenchOrderPlaced",
                        state=payload)
            for i, payload in enumerate(payloads)
        ])

    def close(self) -> None:
        self.datastore.close()


def _theirs(recorder: TheirRecorder, writers: int, per_writer: int, events_per_op: int, label: str) -> Measured:
    payload = _payload()
    latencies: list[float] = []
    lock = threading.Lock()
    bar = progress(total=per_writer * writers, desc=label, unit="op")

    def writer(_: int) -> None:
        stream = uuid.uuid4()
        mine: list[float] = []
        for n in range(per_writer):
            started = time.perf_counter()
            if events_per_op == 1:
                recorder.append(stream, n + 1, [payload])
            else:
                recorder.append(uuid.uuid4(), 1, [payload] * events_per_op)
            mine.append((time.perf_counter() - started) * 1000)
            bar.update(1)
        with lock:
            latencies.extend(mine)

    run: Callable[[int], None] = writer
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as threads:
        list(threads.map(run, range(writers)))
    elapsed = time.perf_counter() - started
    bar.close()
    return Measured(per_writer * writers, per_writer * writers * events_per_op, elapsed, latencies)


async def run(size: int) -> list[Figure]:
    figures: list[Figure] = []
    batches = max(4, size // 10)
    async with Scratch() as ours_db, Scratch(platform=False) as their_db:
        pool = await create_pool(ours_db.dsn, min_size=max(WRITERS), max_size=max(WRITERS))
        store = EventStore(service="bench", topic=f"{ours_db.prefix}orders", catalog=BENCH_CATALOG)
        recorder = await asyncio.to_thread(TheirRecorder, their_db.dsn, max(WRITERS))
        try:
            for writers in WRITERS:
                per_writer = max(2, size // writers)
                ours = await _ours_single(pool, store, writers, per_writer)
                theirs = await asyncio.to_thread(_theirs, recorder, writers, per_writer, 1, f"eventsourcing x{writers}")
                ratio = ours.ops / theirs.ops
                target = 2.0 if writers == 32 else (1.0 if writers == 1 else None)
                figures += [
                    Figure("eventstore", f"single-event appends, {writers} writer(s)", ours.ops, "ops/s",
                           comparison=f"eventsourcing {theirs.ops:,.0f} ops/s", ratio=ratio),
                    Figure("eventstore", f"  ratio to eventsourcing, {writers} writer(s)", ratio, "x",
                           target=target, comparison=f"eventsourcing p99 {theirs.p99:.1f} ms"),
                    Figure("eventstore", f"  p50 latency, {writers} writer(s)", ours.p50, "ms",
                           target=2.0 if writers == 1 else None, op="<=",
                           comparison=f"eventsourcing {theirs.p50:.2f} ms", ratio=ours.p50 / theirs.p50),
                    Figure("eventstore", f"  p99 latency, {writers} writer(s)", ours.p99, "ms",
                           comparison=f"eventsourcing {theirs.p99:.2f} ms", ratio=ours.p99 / theirs.p99),
                ]
            ours_b = await _ours_batches(pool, store, batches)
            theirs_b = await asyncio.to_thread(_theirs, recorder, 1, batches, BATCH, "eventsourcing batches")
            figures.append(Figure("eventstore", f"{BATCH}-event batches, 1 writer", ours_b.events, "events/s",
                                  target=20_000, comparison=f"eventsourcing {theirs_b.events:,.0f} events/s",
                                  ratio=ours_b.events / theirs_b.events))
        finally:
            await asyncio.to_thread(recorder.close)
            await pool.close()
    return figures
