"""Relay: outbox → Kafka throughput against bare producers, and commit-to-topic latency at a fixed rate.

Two limits are measured on the same records in the same run: a bare kafka-python producer (the
comparison the performance issue names) and a bare aiokafka producer (the client the relay uses: its
real ceiling). The relay's own cost on top of sending is the outbox fetch and the "published" update.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.events import BENCH_CATALOG, an_order
from bench.report import Figure, Progress, median, percentile
from bench.setup import Scratch, Size
from shared.outbox.relay import OutboxRelay, make_relay_producer, publish_pending
from shared.store.db import connect, create_pool
from shared.store.eventstore import EventStore
from shared.testing.kafka import make_producer


async def _fill(pool, store, events: int) -> None:  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        for b in range(events // 100):
            async with conn.transaction():
                await store.append(conn, stream_id=f"fill-{b}", stream_type="order", expected_version=0,
                                   events=[an_order(f"c{b % 500}", i) for i in range(100)], subject=f"c{b % 500}")


def _prepared(rows: list) -> list:  # type: ignore[type-arg]
    return [(r["key"], r["payload"], [(k, str(v).encode()) for k, v in r["headers"].items()]) for r in rows]


def _bare_kafka_python(bootstrap: str, topic: str, rows: list) -> float:  # type: ignore[type-arg]
    producer = make_producer(bootstrap)
    prepared = _prepared(rows)
    # connect and fetch the topic's metadata first: the limit is sending, not the first round trips
    producer.send(topic, key=prepared[0][0], value=prepared[0][1], headers=prepared[0][2])
    producer.flush()
    started = time.perf_counter()
    for key, value, headers in prepared:
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return len(rows) / elapsed


async def _bare_aiokafka(bootstrap: str, topic: str, rows: list) -> float:  # type: ignore[type-arg]
    producer = make_relay_producer(bootstrap)
    await producer.start()
    try:
        prepared = _prepared(rows)
        await (await producer.send(topic, key=prepared[0][0], value=prepared[0][1], headers=prepared[0][2]))
        started = time.perf_counter()
        deliveries = [await producer.send(topic, key=key, value=value, headers=headers)
                      for key, value, headers in prepared]
        await asyncio.gather(*deliveries)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def _latency_at(scratch: Scratch, pool: Any, store: EventStore, rate: int, seconds: float) -> list[Figure]:
    """Commit → published latency with single-event commands arriving at ``rate``/s (open loop).

    Each command is its own task on the pool, started on schedule whether or not the previous one
    finished, as independent clients would: a slow append does not slow the arrival rate down.
    """
    await pool.execute("delete from outbox")
    stop = asyncio.Event()
    relay = OutboxRelay(dsn=scratch.dsn, bootstrap_servers=scratch.bootstrap, poll_interval=0.5)
    task = asyncio.create_task(relay.run(stop))
    while not relay.is_leader:
        await asyncio.sleep(0.05)

    async def command(n: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, stream_id=f"rate{rate}-{n}", stream_type="order", expected_version=0,
                               events=[an_order(f"c{n % 500}", n)], subject=f"c{n % 500}")

    interval = 1 / rate
    count = int(rate * seconds)
    commands = []
    next_at = time.perf_counter()
    for n in progress(range(count), desc=f"relay @{rate}/s", unit="ev"):
        commands.append(asyncio.create_task(command(n)))
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.gather(*commands)
    while await pool.fetchval("select count(*) from outbox where published_at is null"):
        await asyncio.sleep(0.05)
    stop.set()
    await task
    lags = [r["ms"] for r in await pool.fetch(
        "select extract(epoch from published_at - created_at) * 1000 as ms from outbox")]
    return [
        Figure("relay", f"commit → topic p50 at {rate}/s", float(median(lags)), "ms"),
        Figure("relay", f"commit → topic p99 at {rate}/s", float(percentile(lags, 99)), "ms", target=50, op="<="),
    ]


progress = Progress.bar
SIZE = Size(default=2000, smoke=10, full=10_000, counts="tens of outbox rows drained (rows = size x 10)")


async def run(size: int, rate: int = 500, seconds: float | None = None) -> list[Figure]:
    seconds = seconds or (1.0 if size <= 100 else 10.0)
    figures: list[Figure] = []
    events = max(100, size * 10)
    async with Scratch() as scratch:
        topic = scratch.topic("orders")
        limit_topic = scratch.topic("orders-limit")
        pool = await create_pool(scratch.dsn)
        store = EventStore(service="bench", topic=topic, catalog=BENCH_CATALOG)
        try:
            await _fill(pool, store, events)
            rows = await pool.fetch("select key, headers, payload from outbox order by position")
            limit = await asyncio.to_thread(_bare_kafka_python, scratch.bootstrap, limit_topic, list(rows))
            client_limit = await _bare_aiokafka(scratch.bootstrap, limit_topic, list(rows))

            producer = make_relay_producer(scratch.bootstrap)
            await producer.start()
            conn = await connect(scratch.dsn)
            with progress(total=len(rows), desc="relay drain", unit="ev") as bar:
                started = time.perf_counter()
                while published := await publish_pending(conn, producer, batch_size=5000):
                    bar.update(published)
                elapsed = time.perf_counter() - started
            await conn.close()
            await producer.stop()
            throughput = len(rows) / elapsed
            figures.append(Figure("relay", "outbox → Kafka, sustained", throughput, "events/s", target=20_000))
            figures.append(Figure("relay", "  vs bare kafka-python producer", throughput / limit * 100, "%",
                                  target=60, comparison=f"limit {limit:,.0f} events/s", ratio=throughput / limit))
            figures.append(Figure("relay", "  vs bare aiokafka producer (the relay's client)",
                                  throughput / client_limit * 100, "%",
                                  comparison=f"limit {client_limit:,.0f} events/s", ratio=throughput / client_limit))

            for at_rate in sorted({rate, 1000}):
                figures += await _latency_at(scratch, pool, store, at_rate, seconds)
        finally:
            await pool.close()
    return figures
