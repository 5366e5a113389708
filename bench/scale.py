"""Scale: projection throughput with 1 and with 2 worker processes on 6 partitions, per transport.

Each run gets its own database, topics (6 partitions each) and consumer group, the same records
(``bench.workload``), and real ``c360 worker analytics projector`` processes.

Measured only once the group has settled: the workers start on empty topics, the benchmark waits
until the group is ``Stable`` with every worker a member, and only then publishes the records (with
aiokafka, several times faster than the workers apply them). Timing runs from the first record
published to the last event applied, so no worker ever runs alone before a rebalance (the earlier
+39% for a second worker was mostly that: one worker alone until the second joined). CPU per event
is the workers' user + system time (``/proc/<pid>/stat``) over the same window divided by the
events.

The two transports (``CONSUMER_TRANSPORT=batch``, the default, and ``stream``, the earlier
``take_events`` agent) are alternated in the same run: batch 1, stream 1, batch 2, stream 2.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from bench.processes import Processes
from bench.projection import applied, read_model_dsn
from bench.report import Figure, Progress
from bench.setup import Scratch, Size
from bench.workload import analytics_topics, workload
from services.analytics.consumers.projector import PROJECTOR_NAME
from shared.consuming.consumer import RawRecord
from shared.store.db import create_pool
from shared.testing.waiting import eventually
from tests.chaos import groups

SIZE = Size(default=20_000, smoke=300, full=1_000_000, counts="events in the topics (each run)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    """One measured run: events/s, the workers' CPU µs per event, and how long the group took to settle."""

    rate: float
    cpu_us: float
    settle_s: float


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)
    return total / CLOCK_TICKS


async def publish(bootstrap: str, records: list[RawRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024, acks=1)
    await producer.start()
    try:
        futures = [await producer.send(r.topic, key=r.key, value=r.value, headers=list(r.headers)) for r in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def settled(bootstrap: str, group: str, workers: int) -> None:
    async def probe() -> tuple[str, int]:
        state = await asyncio.to_thread(groups.state, bootstrap, group)
        return state, await asyncio.to_thread(groups.members, bootstrap, group)

    await eventually(probe, until=lambda s: s == ("Stable", workers), timeout=180, interval=0.2,
                     message=f"{workers} worker(s) to settle in {group}")


async def throughput(size: int, workers: int, transport: str) -> Run:
    async with Scratch("analytics") as scratch:
        analytics_topics(scratch)
        load = workload(size, prefix=scratch.prefix)
        total = len(load)
        processes = Processes({"KAFKA_BOOTSTRAP_SERVERS": scratch.bootstrap, "KAFKA_TOPIC_PREFIX": scratch.prefix,
                               "ANALYTICS_DATABASE_URL": scratch.dsn, "CONSUMER_TRANSPORT": transport})
        pool = await create_pool(read_model_dsn(scratch.dsn), min_size=1, max_size=2)
        try:
            started = time.perf_counter()
            for n in range(workers):
                processes.start(f"scale-{transport}-{workers}-worker-{n}", "worker", "analytics", "projector")
            await settled(scratch.bootstrap, f"{scratch.prefix}{PROJECTOR_NAME}", workers)
            settle = time.perf_counter() - started
            pids = [p.pid for p in processes.running.values()]
            begun, cpu_begun = time.perf_counter(), cpu_seconds(pids)
            publishing = asyncio.create_task(publish(scratch.bootstrap, load.records))
            done = 0
            with Progress.bar(total=total, desc=f"{workers} worker(s), {transport}", unit="ev") as bar:
                while done < total:
                    processes.check_alive()
                    now = await applied(pool)
                    bar.update(now - done)
                    done = now
                    await asyncio.sleep(0.05)
            finished, cpu = time.perf_counter(), cpu_seconds(pids)
            await publishing
            return Run(total / (finished - begun), (cpu - cpu_begun) / total * 1e6, settle)
        finally:
            processes.stop()
            await pool.close()


async def run(size: int) -> list[Figure]:
    runs: dict[tuple[str, int], Run] = {}
    for workers in (1, 2):
        for transport in ("batch", "stream"):
            runs[transport, workers] = await throughput(size, workers, transport)
    one, two = runs["batch", 1], runs["batch", 2]
    old_one, old_two = runs["stream", 1], runs["stream", 2]
    gain, old_gain = (two.rate / one.rate - 1) * 100, (old_two.rate / old_one.rate - 1) * 100
    return [
        Figure("scale", "projection, 1 worker process (settled)", one.rate, "events/s",
               comparison=f"CPU {one.cpu_us:,.0f} µs/event; take_events {old_one.rate:,.0f} events/s, "
                          f"{old_one.cpu_us:,.0f} µs/event", ratio=one.rate / old_one.rate),
        Figure("scale", "projection, 2 worker processes (settled)", two.rate, "events/s",
               comparison=f"CPU {two.cpu_us:,.0f} µs/event; take_events {old_two.rate:,.0f} events/s; "
                          f"group settled in {two.settle_s:.1f} s", ratio=two.rate / old_two.rate),
        Figure("scale", "  throughput the second worker adds", gain, "%", target=60,
               comparison=f"take_events: {old_gain:+.0f}%", ratio=two.rate / one.rate),
    ]
