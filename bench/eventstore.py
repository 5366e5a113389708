"""Event store append: single-event commands with 1/8/32 writers, and 100-event batches."""

from __future__ import annotations

import asyncio
import time

from tqdm import tqdm

from bench.events import BENCH_CATALOG, an_order
from bench.report import Figure, median, percentile
from bench.setup import Scratch
from shared.db import create_pool
from shared.eventstore import EventStore


async def _writer(pool, store, stream: str, ops: int, latencies: list[float], bar) -> None:  # type: ignore[no-untyped-def]
    for version in range(ops):
        started = time.perf_counter()
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, stream_id=stream, stream_type="order", expected_version=version,
                               events=[an_order(stream, version)], subject=stream)
        latencies.append((time.perf_counter() - started) * 1000)
        bar.update(1)


async def run(size: int) -> list[Figure]:
    figures: list[Figure] = []
    async with Scratch() as scratch:
        pool = await create_pool(scratch.dsn, min_size=32, max_size=32)
        store = EventStore(service="bench", topic=f"{scratch.prefix}orders", catalog=BENCH_CATALOG)
        try:
            for writers in (1, 8, 32):
                per_writer = max(1, size // writers)
                latencies: list[float] = []
                with tqdm(total=per_writer * writers, desc=f"append x{writers}", unit="op", leave=False) as bar:
                    started = time.perf_counter()
                    await asyncio.gather(*(_writer(pool, store, f"w{writers}-{i}", per_writer, latencies, bar)
                                           for i in range(writers)))
                    elapsed = time.perf_counter() - started
                ops = per_writer * writers / elapsed
                figures.append(Figure("eventstore", f"single-event appends, {writers} writer(s)", ops, "ops/s"))
                figures.append(Figure("eventstore", f"  p50 latency, {writers} writer(s)", median(latencies), "ms",
                                      target=2.0 if writers == 1 else None, op="<="))
                figures.append(Figure("eventstore", f"  p99 latency, {writers} writer(s)",
                                      percentile(latencies, 99), "ms"))
            batches = max(1, size // 10)
            with tqdm(total=batches * 100, desc="append batches", unit="ev", leave=False) as bar:
                started = time.perf_counter()
                async with pool.acquire() as conn:
                    for b in range(batches):
                        async with conn.transaction():
                            await store.append(conn, stream_id=f"batch-{b}", stream_type="order", expected_version=0,
                                               events=[an_order(f"b{b}", i) for i in range(100)], subject=f"b{b}")
                        bar.update(100)
                elapsed = time.perf_counter() - started
            figures.append(Figure("eventstore", "100-event batches", batches * 100 / elapsed, "events/s",
                                  target=20_000))
        finally:
            await pool.close()
    return figures
