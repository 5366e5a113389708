"""Scale: projection throughput with 1 and with 2 worker processes on 6 partitions.

Each run gets its own database, topics (6 partitions each) and consumer group, the same records
(``bench.workload``), and real ``c360 worker analytics projector`` processes. Throughput counts from
the first applied batch to the last, so process start-up and the group join are excluded.
"""

from __future__ import annotations

import asyncio

from bench.processes import Processes
from bench.projection import read_model_dsn, wait_applied
from bench.report import Figure
from bench.setup import Scratch, Size
from bench.workload import analytics_topics, produce, workload
from shared.db import create_pool

SIZE = Size(default=20_000, smoke=300, full=1_000_000, counts="events in the topics (each run)")


async def throughput(size: int, workers: int) -> float:
    async with Scratch("analytics") as scratch:
        analytics_topics(scratch)
        load = workload(size, prefix=scratch.prefix)
        await asyncio.to_thread(produce, scratch.bootstrap, load.records)
        processes = Processes({"KAFKA_BOOTSTRAP_SERVERS": scratch.bootstrap, "KAFKA_TOPIC_PREFIX": scratch.prefix,
                               "ANALYTICS_DATABASE_URL": scratch.dsn})
        pool = await create_pool(read_model_dsn(scratch.dsn), min_size=1, max_size=2)
        try:
            for n in range(workers):
                processes.start(f"scale-{workers}-worker-{n}", "worker", "analytics", "projector")
            return await wait_applied(pool, len(load), f"{workers} worker(s)")
        finally:
            processes.stop()
            await pool.close()


async def run(size: int) -> list[Figure]:
    one = await throughput(size, 1)
    two = await throughput(size, 2)
    gain = (two / one - 1) * 100
    return [
        Figure("scale", "projection, 1 worker process", one, "events/s"),
        Figure("scale", "projection, 2 worker processes", two, "events/s", comparison=f"1 worker {one:,.0f} events/s",
               ratio=two / one),
        Figure("scale", "  throughput the second worker adds", gain, "%", target=60),
    ]
