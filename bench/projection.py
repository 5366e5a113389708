"""Projection: events/s from Kafka into the REAL analytics 360 read model with one worker.

Three consumers read the same records (a realistic history of registrations, orders and their fates,
payments, complaints, surveys and offers, about twelve events per customer) from the same topics:

* the platform: the analytics projector in a Faust ``ProjectionWorker`` (the consumer kit: batched
  decode, inbox deduplication and one transaction per batch, signals appended in the same transaction);
* the consume limit: a bare aiokafka consumer (the client Faust runs on) that only decodes and
  validates each record with the one codec, and applies nothing;
* the naive approach: the same projector applied one event per transaction, as an agent that awaits
  a database write per event (the Faust tutorials' shape), measured on a slice of the records;
* the consumer kit alone: the same worker and kit applying a simple read model (events and last
  activity per customer, one set-based upsert per batch), which isolates the kit's own cost (decode,
  inbox deduplication, one transaction per batch) from the 360 fold.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.report import Figure, Progress
from bench.setup import Scratch, Size
from bench.workload import analytics_topics, produce, workload
from services.analytics.application.projector import PROJECTOR_NAME, AnalyticsProjector
from services.analytics.bootstrap import CONSUMED_TOPICS
from services.analytics.config import with_search_path
from services.analytics.domain.rules import AnalyticsRules
from shared.consumer import BatchProcessor, RawRecord, ReceivedEvent, decode_record, validate
from shared.db import create_pool
from shared.eventstore import EventStore
from shared.settings import PlatformSettings
from shared.streams import ProjectionWorker

progress = Progress.bar
SIZE = Size(default=20_000, smoke=300, full=1_000_000, counts="events in the topics")
NAIVE_EVENTS = 1500


def read_model_dsn(dsn: str) -> str:
    return with_search_path(dsn, "analytics")


def projector(prefix: str) -> AnalyticsProjector:
    return AnalyticsProjector(rules=AnalyticsRules(),
                              store=EventStore(service="analytics", topic=f"{prefix}analytics.events"))


class CustomerActivity:
    """The simplest useful read model: how many events each customer has and when they were last active."""

    name = "bench-customer-activity"

    async def apply(self, conn: Any, events: Sequence[ReceivedEvent]) -> None:
        counts: dict[str, list[Any]] = {}
        for event in events:
            entry = counts.setdefault(event.subject, [0, event.time])
            entry[0] += 1
            entry[1] = max(entry[1], event.time)
        await conn.execute(
            """insert into customer_activity (customer_id, events, last_active_at)
               select * from unnest($1::text[], $2::int[], $3::timestamptz[])
               on conflict (customer_id) do update
               set events = customer_activity.events + excluded.events,
                   last_active_at = greatest(customer_activity.last_active_at, excluded.last_active_at)""",
            list(counts), [c[0] for c in counts.values()], [c[1] for c in counts.values()],
        )


async def applied(pool: Any, consumer: str = PROJECTOR_NAME) -> int:
    return int(await pool.fetchval("select count(*) from inbox where consumer = $1", consumer))


async def wait_applied(
    pool: Any, total: int, label: str, give_up_after: float = 1800, consumer: str = PROJECTOR_NAME
) -> float:
    """Events/s from the first applied batch to the last (start-up and group join excluded)."""
    first: tuple[float, int] | None = None
    started = time.perf_counter()
    deadline = time.monotonic() + give_up_after
    with progress(total=total, desc=label, unit="ev") as bar:
        done = 0
        while done < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {done} of {total} events applied in {give_up_after:.0f}s")
            now = await applied(pool, consumer)
            if now and first is None:
                first = (time.perf_counter(), now)
            bar.update(now - done)
            done = now
            await asyncio.sleep(0.05)
        finished = time.perf_counter()
    assert first is not None
    if first[1] >= total:  # everything landed in the first batch we saw (tiny sizes): count from start
        return total / max(finished - started, 1e-6)
    return (total - first[1]) / max(finished - first[0], 1e-6)


async def bare_consume(bootstrap: str, topics: list[str], total: int) -> float:
    """Decode-only consumer: the consume limit of this client stack on this machine."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=f"bench-bare-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=2000)
    await consumer.start()
    seen = 0
    first: float | None = None
    try:
        with progress(total=total, desc="bare consumer", unit="ev") as bar:
            while seen < total:
                batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
                for messages in batches.values():
                    if first is None:
                        first = time.perf_counter()
                    for m in messages:
                        record = RawRecord(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers or ()))
                        envelope, data = decode_record(record)
                        validate(envelope, data)
                    seen += len(messages)
                    bar.update(len(messages))
    finally:
        await consumer.stop()
    assert first is not None
    return seen / (time.perf_counter() - first)


async def naive(bootstrap: str, topics: list[str], dsn: str, prefix: str, total: int) -> float:
    """The same projector, one transaction per event, reading the same topics."""
    pool = await create_pool(read_model_dsn(dsn), min_size=1, max_size=2)

    async def dead_letter(record: RawRecord, reason: str, detail: str) -> None:
        raise RuntimeError(f"unexpected dead letter: {reason} {detail}")

    processor = BatchProcessor(pool=pool, projector=projector(prefix), dead_letter=dead_letter)
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=f"bench-naive-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=500)
    await consumer.start()
    done = 0
    first: float | None = None
    try:
        with progress(total=total, desc="naive per-event", unit="ev") as bar:
            while done < total:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for messages in batches.values():
                    for m in messages:
                        if done >= total:
                            break
                        if first is None:
                            first = time.perf_counter()
                        await processor.process([RawRecord(m.topic, m.partition, m.offset, m.key, m.value,
                                                           tuple(m.headers or ()))])
                        done += 1
                        bar.update(1)
    finally:
        await consumer.stop()
        await pool.close()
    assert first is not None
    return done / (time.perf_counter() - first)


async def run(size: int) -> list[Figure]:
    async with Scratch("analytics") as scratch, Scratch("analytics") as naive_db:
        topics = analytics_topics(scratch)
        load = workload(size, prefix=scratch.prefix)
        await asyncio.to_thread(produce, scratch.bootstrap, load.records)
        total = len(load)

        limit = await bare_consume(scratch.bootstrap, topics, total)
        naive_events = min(NAIVE_EVENTS, max(50, total // 10))
        per_event = await naive(scratch.bootstrap, topics, naive_db.dsn, scratch.prefix, naive_events)

        pool = await create_pool(read_model_dsn(scratch.dsn), min_size=1, max_size=2)
        settings = PlatformSettings(kafka_bootstrap_servers=scratch.bootstrap, kafka_topic_prefix=scratch.prefix)
        worker = ProjectionWorker(settings=settings, dsn=read_model_dsn(scratch.dsn),
                                  projector=projector(scratch.prefix), topics=list(CONSUMED_TOPICS), batch_size=2000)
        await worker.start()
        try:
            rate = await wait_applied(pool, total, "360 projector")
        finally:
            await worker.stop()
        simple = CustomerActivity()
        await pool.execute("create table customer_activity (customer_id text primary key, events int not null,"
                           " last_active_at timestamptz not null)")
        worker = ProjectionWorker(settings=settings, dsn=read_model_dsn(scratch.dsn), projector=simple,
                                  topics=list(CONSUMED_TOPICS), batch_size=2000)
        await worker.start()
        try:
            kit_rate = await wait_applied(pool, total, "consumer kit, simple model", consumer=simple.name)
            assert await pool.fetchval("select sum(events) from customer_activity") == total
        finally:
            await worker.stop()
            await pool.close()
    return [
        Figure("projection", "Kafka → simple read model (consumer kit), 1 worker", kit_rate, "events/s",
               target=10_000),
        Figure("projection", "Kafka → 360 read model, 1 worker", rate, "events/s", target=10_000),
        Figure("projection", "  vs naive per-event transactions", rate / per_event, "x", target=10,
               comparison=f"naive {per_event:,.0f} events/s", ratio=rate / per_event),
        Figure("projection", "  vs bare decode-only consumer", rate / limit * 100, "%", target=40,
               comparison=f"limit {limit:,.0f} events/s", ratio=rate / limit),
    ]
