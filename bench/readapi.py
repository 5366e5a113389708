"""API reads: ``GET /v1/customers/{id}/360`` and the timeline's first page at a fixed rate, under live traffic.

A fresh analytics database is filled with ``size`` customers through the real projector (each
registered, with one order and one survey answer), a real ``c360 api analytics`` process serves it
on port 18004, and an open-loop generator requests random customers at a fixed rate. Meanwhile a
real projector worker (``c360 worker analytics projector``) applies live traffic: new orders and
survey answers of the same customers, produced to the domain topics at ``LIVE_EVENTS_PER_S``, so the
reads compete with the writes as in production (issue 17: reads are measured with the projector
running). The generator runs on the same two cores as the server and the worker, so the latencies
include some client-side queueing.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

from bench.loadgen import KeepAliveClient, fixed_rate
from bench.processes import Processes
from bench.projection import applied, projector, read_model_dsn
from bench.report import Figure, Progress, median, percentile
from bench.scale import cpu_seconds
from bench.setup import Scratch, Size
from bench.workload import analytics_topics
from services.analytics.consumers.projector import PROJECTOR_NAME
from shared.consuming.consumer import BatchProcessor, RawRecord
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.testing.waiting import eventually
from shared.web.auth import mint_token
from tests.analytics.builders import at, order_placed, registered, survey_answered
from tests.analytics.integration.support import records

SIZE = Size(default=5_000, smoke=40, full=100_000, counts="customers in the read model")
PORT = 18004
RATE = {"default": 200.0, "full": 500.0}
LIVE_EVENTS_PER_S = 300.0
KEEP_UP_TIMEOUT = 120.0
"""Seconds the projector may take to join its group and keep up before the reads are measured."""
"""Live traffic applied by the projector while the reads are measured."""


def seed_records(customers: int, prefix: str) -> tuple[list[str], list[RawRecord]]:
    rng = random.Random(3)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(customers)]
    ids = [f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}" for h in ids]
    facts = []
    for n, cid in enumerate(ids):
        facts.append(registered(cid, at(n % 300)))
        facts.append(order_placed(cid, at(n % 300, hours=2), sku=f"SKU-{n % 40}"))
        facts.append(survey_answered(cid, n % 11, at(n % 300, hours=5)))
    return ids, records(facts, prefix)


async def seed(dsn: str, prefix: str, customers: int) -> list[str]:
    ids, items = seed_records(customers, prefix)
    pool = await create_pool(read_model_dsn(dsn), min_size=1, max_size=2)

    async def dead_letter(record: RawRecord, reason: str, detail: str) -> None:
        raise RuntimeError(f"seed record dead-lettered: {reason} {detail}")

    processor = BatchProcessor(pool=pool, projector=projector(prefix), dead_letter=dead_letter)
    try:
        with Progress.bar(total=len(items), desc="seed read model", unit="ev") as bar:
            for start in range(0, len(items), 3000):
                await processor.process(items[start:start + 3000])
                bar.update(min(3000, len(items) - start))
        # Measure a read model in its steady state, as production serves it: without this, the
        # autovacuum of the freshly written tables and the checkpoint of their WAL ran during the
        # measurement, on the same two cores, and moved the p50 between 6 ms and 1.3 s from run to run.
        async with pool.acquire() as conn:
            await conn.execute("vacuum (analyze)")
            await conn.execute("checkpoint")
    finally:
        await pool.close()
    return ids


def live_records(ids: list[str], prefix: str, events: int) -> list[RawRecord]:
    """New orders and survey answers of the seeded customers, after their history (the live traffic)."""
    rng = random.Random(9)
    facts = []
    for n in range(events):
        cid = rng.choice(ids)
        when = at(400, hours=n / 3600)
        facts.append(order_placed(cid, when, sku=f"SKU-{rng.randrange(40)}") if n % 2
                     else survey_answered(cid, rng.randrange(11), when))
    return records(facts, prefix)


def produce_live(bootstrap: str, items: list[RawRecord], rate: float, stop: threading.Event,
                 sent_so_far: list[int] | None = None) -> int:
    """Produce ``items`` at ``rate`` per second until done or stopped (blocking: run it in a thread);
    ``sent_so_far[0]`` follows the count."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), linger_ms=5, acks=1)
    started = time.perf_counter()
    sent = 0
    try:
        for record in items:
            if stop.is_set():
                break
            delay = started + sent / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            producer.send(record.topic, key=record.key, value=record.value, headers=list(record.headers))
            sent += 1
            if sent_so_far is not None:
                sent_so_far[0] = sent
        producer.flush()
    finally:
        producer.close()
    return sent


async def run(size: int, rate: float | None = None, seconds: float = 10.0) -> list[Figure]:
    rate = rate or (RATE["full"] if size >= 100_000 else RATE["default"])
    count = max(20, int(rate * seconds)) if size > 100 else 40
    async with Scratch("analytics") as scratch:
        analytics_topics(scratch)
        ids = await seed(scratch.dsn, scratch.prefix, size)
        settings = PlatformSettings(environment="test", kafka_bootstrap_servers=scratch.bootstrap,
                                    kafka_topic_prefix=scratch.prefix)
        processes = Processes({"KAFKA_BOOTSTRAP_SERVERS": scratch.bootstrap, "KAFKA_TOPIC_PREFIX": scratch.prefix,
                               "ANALYTICS_DATABASE_URL": scratch.dsn, "ANALYTICS_HTTP_PORT": str(PORT)})
        base = f"http://127.0.0.1:{PORT}"
        token = mint_token(settings, "bench", ["analytics:read"], ttl_seconds=3600)
        stop = threading.Event()
        # enough live traffic for the wait to keep up and both measurements, and a margin: traffic that
        # ran out before the reads ended would measure them without the projector's writes
        live = live_records(ids, scratch.prefix, int(LIVE_EVENTS_PER_S * (seconds * 3 + KEEP_UP_TIMEOUT)))
        try:
            api = processes.start("reads-analytics-api", "api", "analytics")
            worker = processes.start("reads-analytics-projector", "worker", "analytics", "projector")
            await asyncio.to_thread(processes.wait_ready, {"analytics": base})
            pool = await create_pool(read_model_dsn(scratch.dsn), min_size=1, max_size=1)
            sent = [0]
            producing = asyncio.create_task(
                asyncio.to_thread(produce_live, scratch.bootstrap, live, LIVE_EVENTS_PER_S, stop, sent))
            try:
                await _projector_keeps_up(pool, live, sent)
                before = await applied(pool)
                figures: list[Figure] = []
                began = time.perf_counter()
                worker_cpu = cpu_seconds([worker.pid])
                async with KeepAliveClient("127.0.0.1", PORT, token) as http:
                    for path, label in (("360", "GET /360"), ("timeline?limit=20", "GET /timeline first page")):
                        figures += await _measure(http, ids, path, label, rate, count, api_pid=api.pid)
                live_applied = await applied(pool) - before
                live_seconds = time.perf_counter() - began
                if sent[0] >= len(live):
                    raise RuntimeError("the live traffic ran out before the reads were measured; raise its count")
                live_rate = live_applied / live_seconds
                worker_cpu = cpu_seconds([worker.pid]) - worker_cpu
            finally:
                stop.set()
                await producing
                await pool.close()
        finally:
            processes.stop()
    figures.append(Figure("reads", "  live traffic the projector applied meanwhile", live_rate, "events/s",
                          comparison=f"produced at {LIVE_EVENTS_PER_S:,.0f} events/s"))
    figures.append(Figure("reads", "  the projector's CPU per live event meanwhile",
                          worker_cpu / max(live_applied, 1) * 1e6, "us/event",
                          comparison=f"{worker_cpu / live_seconds * 100:,.0f}% of one core"))
    return figures


KEEP_UP_WITHIN = 0.25
"""Seconds of live traffic the projector may be behind when the clock starts (a batch window is 0.05)."""


async def _projector_keeps_up(pool: Any, live: list[RawRecord], sent: list[int]) -> None:
    """Start the clock once the projector has joined its group, caught up with the traffic produced
    while it did, and keeps within ``KEEP_UP_WITHIN`` of it: the steady state the reads are about.

    Without this wait the first seconds of every measurement overlapped the worker's group join and
    its catch-up of the backlog that built meanwhile, with a cold state cache. The probe asks whether
    one event (the one sent ``KEEP_UP_WITHIN`` ago) is applied, one index lookup: counting the inbox
    took 59 ms of server time at 100,000 customers, five times a second, on the cores measured."""
    behind = int(LIVE_EVENTS_PER_S * KEEP_UP_WITHIN)

    async def applied_up_to() -> tuple[int, bool]:
        n = sent[0]
        if n < 2 * LIVE_EVENTS_PER_S:
            return n, False
        probe = _event_id(live[n - behind - 1])
        found = await pool.fetchval("select true from inbox where consumer = $1 and event_id = $2::uuid",
                                    PROJECTOR_NAME, probe)
        return n, bool(found)

    await eventually(applied_up_to, until=lambda state: state[1], timeout=KEEP_UP_TIMEOUT, interval=0.2,
                     message="the projector to keep up with the live traffic")


def _event_id(record: RawRecord) -> str:
    return next(value.decode() for name, value in record.headers if name == "ce_id")


async def _measure(
    http: KeepAliveClient, ids: list[str], path: str, label: str, rate: float, count: int, *, api_pid: int
) -> list[Figure]:
    rng = random.Random(5)
    chosen = [rng.choice(ids) for _ in range(count)]
    for cid in chosen[:10]:  # warm the pool's connections and prepared statements
        status, body = await http.get(f"/v1/customers/{cid}/{path}")
        assert status == 200, body[:300]
    latencies: list[float] = []

    async def call(n: int) -> None:
        began = time.perf_counter()
        status, _ = await http.get(f"/v1/customers/{chosen[n]}/{path}")
        latencies.append((time.perf_counter() - began) * 1000)
        assert status == 200, status

    cpu_before = cpu_seconds([api_pid])
    elapsed, failures = await fixed_rate(rate, count, call, desc=label)
    server_cpu_ms = (cpu_seconds([api_pid]) - cpu_before) / count * 1000
    return [
        Figure("reads", f"{label} p50 at {rate:,.0f}/s over {len(ids):,} customers", median(latencies), "ms",
               comparison=f"achieved {count / elapsed:,.0f} req/s"),
        Figure("reads", f"{label} p99", percentile(latencies, 99), "ms", target=10 if "360" in path else None,
               op="<=", comparison=f"{failures} errors of {count}"),
        Figure("reads", f"  {label} server CPU per request", server_cpu_ms, "ms",
               comparison=f"the API process at {rate:,.0f}/s: {server_cpu_ms * rate / 10:,.0f}% of one core"),
    ]
