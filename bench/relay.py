"""Relay: outbox → Kafka throughput against a bare producer, and commit-to-topic latency at a fixed rate."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bench.events import BENCH_CATALOG, an_order
from bench.report import Figure, Progress, median, percentile
from bench.setup import Scratch, Size
from shared.db import connect, create_pool
from shared.eventstore import EventStore
from shared.relay import OutboxRelay, make_producer, publish_pending


async def _fill(pool, store, events: int) -> None:  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        for b in range(events // 100):
            async with conn.transaction():
                await store.append(conn, stream_id=f"fill-{b}", stream_type="order", expected_version=0,
                                   events=[an_order(f"c{b % 500}", i) for i in range(100)], subject=f"c{b % 500}")


def _bare_producer(bootstrap: str, topic: str, rows: list) -> float:  # type: ignore[type-arg]
    producer = make_producer(bootstrap)
    prepared = [(r["key"], r["payload"], [(k, str(v).encode()) for k, v in r["headers"].items()]) for r in rows]
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
            limit = await asyncio.to_thread(_bare_producer, scratch.bootstrap, limit_topic, list(rows))

            executor = ThreadPoolExecutor(max_workers=1)
            loop = asyncio.get_running_loop()
            producer = await loop.run_in_executor(executor, make_producer, scratch.bootstrap)
            conn = await connect(scratch.dsn)
            with progress(total=len(rows), desc="relay drain", unit="ev") as bar:
                started = time.perf_counter()
                while published := await publish_pending(conn, producer, executor, batch_size=5000):
                    bar.update(published)
                elapsed = time.perf_counter() - started
            await conn.close()
            await loop.run_in_executor(executor, producer.close)
            executor.shutdown()
            throughput = len(rows) / elapsed
            figures.append(Figure("relay", "outbox → Kafka, sustained", throughput, "events/s", target=20_000))
            figures.append(Figure("relay", "  vs bare kafka-python producer", throughput / limit * 100, "%",
                                  target=60, comparison=f"limit {limit:,.0f} events/s", ratio=throughput / limit))

            await pool.execute("delete from outbox")
            stop = asyncio.Event()
            relay = OutboxRelay(dsn=scratch.dsn, bootstrap_servers=scratch.bootstrap, poll_interval=0.5)
            task = asyncio.create_task(relay.run(stop))
            while not relay.is_leader:
                await asyncio.sleep(0.05)
            interval = 1 / rate
            count = int(rate * seconds)
            next_at = time.perf_counter()
            async with pool.acquire() as conn:
                for n in progress(range(count), desc=f"relay @{rate}/s", unit="ev"):
                    async with conn.transaction():
                        await store.append(conn, stream_id=f"rate-{n}", stream_type="order", expected_version=0,
                                           events=[an_order(f"c{n % 500}", n)], subject=f"c{n % 500}")
                    next_at += interval
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
            while await pool.fetchval("select count(*) from outbox where published_at is null"):
                await asyncio.sleep(0.05)
            stop.set()
            await task
            lags = [r["ms"] for r in await pool.fetch(
                "select extract(epoch from published_at - created_at) * 1000 as ms from outbox")]
            figures.append(Figure("relay", f"commit → topic p50 at {rate}/s", float(median(lags)), "ms"))
            figures.append(Figure("relay", f"commit → topic p99 at {rate}/s", float(percentile(lags, 99)), "ms",
                                  target=50, op="<="))
        finally:
            await pool.close()
    return figures
