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
  inbox deduplication, one transaction per batch) from the 360 fold;
* Faust's own part, A/B in one run: a worker whose handler only counts records, on the batch
  transport (``shared.consuming.batch_transport``, ADR 0008) and on the earlier ``take_events`` agent path,
  alternated ``AB_ROUNDS`` times; the 360 projector is also measured on both transports.

Every rate counts from the first batch handed over to the last (start-up and the group join
excluded); CPU per event is the bench process's CPU time (all threads: Faust's consumer thread
included) over the same window divided by the events in it. The bench process tunes its garbage
collector as a worker process does (``shared.ops.gctuning``).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.report import Figure, Progress
from bench.setup import Scratch, Size
from bench.workload import analytics_topics, produce, workload
from services.analytics.config import with_search_path
from services.analytics.consumers.projector import CONSUMED_TOPICS, PROJECTOR_NAME, AnalyticsProjector
from services.analytics.domain.rules import AnalyticsRules
from shared.consuming.consumer import BatchProcessor, RawRecord, ReceivedEvent, decode_record, validate
from shared.consuming.streams import ProjectionWorker, Transport
from shared.ops.gctuning import GcPauses, tune_for_long_running_process
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.store.eventstore import EventStore

progress = Progress.bar
SIZE = Size(default=20_000, smoke=300, full=1_000_000, counts="events in the topics")
NAIVE_EVENTS = 1500
AB_ROUNDS = 3
BATCH_SIZE = 2000
DEFAULT_GC_THRESHOLDS = (700, 10, 10)
"""CPython's defaults, for the GC comparison."""


@dataclass(frozen=True)
class Throughput:
    """Events/s and CPU µs per event over a measured window."""

    rate: float
    cpu_us: float
    gc: GcPauses | None = None


class CountingWorker(ProjectionWorker):
    """A worker whose handler only counts records: what the transport costs before our code runs."""

    def __init__(self, *, total: int, group: str, **kwargs: Any) -> None:
        self.group = group
        super().__init__(**kwargs)
        self.total = total
        self.seen = 0
        self.first: tuple[float, float, int] | None = None
        self.last: tuple[float, float] = (0.0, 0.0)
        self.done = asyncio.Event()

    @property
    def group_id(self) -> str:
        return self.group

    async def handle(self, records: Sequence[RawRecord]) -> None:
        if self.first is None:
            self.first = (time.perf_counter(), time.process_time(), len(records))
        self.seen += len(records)
        if self.seen >= self.total and not self.done.is_set():
            self.last = (time.perf_counter(), time.process_time())
            self.done.set()

    def throughput(self) -> Throughput:
        assert self.first is not None
        wall0, cpu0, first_batch = self.first
        events = max(1, self.total - first_batch)
        return Throughput(events / max(self.last[0] - wall0, 1e-6), (self.last[1] - cpu0) / events * 1e6)


class GroupWorker(ProjectionWorker):
    """A ``ProjectionWorker`` in its own consumer group (several runs read the same topics)."""

    def __init__(self, *, group: str, **kwargs: Any) -> None:
        self.group = group
        super().__init__(**kwargs)

    @property
    def group_id(self) -> str:
        return self.group


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
    return (await measure_applied(pool, total, label, give_up_after, consumer)).rate


async def measure_applied(
    pool: Any, total: int, label: str, give_up_after: float = 1800, consumer: str = PROJECTOR_NAME
) -> Throughput:
    """``wait_applied`` plus this process's CPU µs per event and GC pauses over the same window."""
    first: tuple[float, int, float] | None = None
    started = time.perf_counter()
    pauses = GcPauses()
    deadline = time.monotonic() + give_up_after
    with progress(total=total, desc=label, unit="ev") as bar, pauses:
        done = 0
        while done < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {done} of {total} events applied in {give_up_after:.0f}s")
            now = await applied(pool, consumer)
            if now and first is None:
                first = (time.perf_counter(), now, time.process_time())
                pauses.reset()
            bar.update(now - done)
            done = now
            await asyncio.sleep(0.05)
        finished, cpu = time.perf_counter(), time.process_time()
    assert first is not None
    if first[1] >= total:  # everything landed in the first batch we saw (tiny sizes): count from start
        return Throughput(total / max(finished - started, 1e-6), float("nan"), pauses)
    events = total - first[1]
    return Throughput(events / max(finished - first[0], 1e-6), (cpu - first[2]) / events * 1e6, pauses)


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


class Counting:
    """Names the consumer group of a ``CountingWorker``; never applies anything."""

    name = "bench-counting"

    async def apply(self, conn: Any, events: Sequence[ReceivedEvent]) -> None:
        raise AssertionError("a counting worker hands nothing to its projector")


async def faust_part(settings: PlatformSettings, total: int) -> dict[Transport, list[Throughput]]:
    """The counting worker on each transport, alternated ``AB_ROUNDS`` times, each in a fresh group."""
    results: dict[Transport, list[Throughput]] = {"batch": [], "stream": []}
    rounds = AB_ROUNDS if total >= 5000 else 1  # the smoke size only proves the runs work
    for round_ in range(rounds):
        for transport in ("batch", "stream"):
            group = f"{settings.kafka_topic_prefix}bench-count-{transport}-{round_}-{uuid.uuid4().hex[:6]}"
            worker = CountingWorker(total=total, group=group, settings=settings, dsn="postgresql://unused",
                                    projector=Counting(), topics=list(CONSUMED_TOPICS), batch_size=BATCH_SIZE,
                                    transport=transport)
            await worker.start()
            try:
                with progress(total=total, desc=f"count via {transport} ({round_ + 1}/{rounds})", unit="ev"):
                    await asyncio.wait_for(worker.done.wait(), timeout=600)
            finally:
                await worker.stop()
            results[transport].append(worker.throughput())
    return results


async def full_360(scratch: Scratch, db: Scratch, total: int, transport: Transport, label: str,
                   *, align_by_time: bool = True) -> Throughput:
    """The real 360 projector reading ``scratch``'s topics into ``db``'s read model, in its own group."""
    settings = PlatformSettings(kafka_bootstrap_servers=scratch.bootstrap, kafka_topic_prefix=scratch.prefix)
    pool = await create_pool(read_model_dsn(db.dsn), min_size=1, max_size=2)
    worker = GroupWorker(group=f"{scratch.prefix}{PROJECTOR_NAME}-{transport}-{uuid.uuid4().hex[:6]}",
                         settings=settings, dsn=read_model_dsn(db.dsn), projector=projector(scratch.prefix),
                         topics=list(CONSUMED_TOPICS), batch_size=BATCH_SIZE, transport=transport,
                         align_by_time=align_by_time)
    await worker.start()
    try:
        return await measure_applied(pool, total, label)
    finally:
        await worker.stop()
        await pool.close()


def _median(values: list[float]) -> float:
    return statistics.median(values)


async def run(size: int) -> list[Figure]:
    tune_for_long_running_process()  # as every worker process does (shared/cli.py)
    async with Scratch("analytics") as scratch, Scratch("analytics") as naive_db, \
            Scratch("analytics") as stream_db, Scratch("analytics") as untuned_db, \
            Scratch("analytics") as unaligned_db:
        topics = analytics_topics(scratch)
        load = workload(size, prefix=scratch.prefix)
        await asyncio.to_thread(produce, scratch.bootstrap, load.records)
        total = len(load)
        settings = PlatformSettings(kafka_bootstrap_servers=scratch.bootstrap, kafka_topic_prefix=scratch.prefix)

        limit = await bare_consume(scratch.bootstrap, topics, total)
        counted = await faust_part(settings, total)
        naive_events = min(NAIVE_EVENTS, max(50, total // 10))
        per_event = await naive(scratch.bootstrap, topics, naive_db.dsn, scratch.prefix, naive_events)

        batch_360 = await full_360(scratch, scratch, total, "batch", "360 projector, batch transport")
        unaligned_360 = await full_360(scratch, unaligned_db, total, "batch", "360 projector, fetches as they come",
                                       align_by_time=False)
        stream_360 = await full_360(scratch, stream_db, total, "stream", "360 projector, take_events")
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_GC_THRESHOLDS)
        try:
            untuned_360 = await full_360(scratch, untuned_db, total, "batch", "360 projector, default GC")
        finally:
            tune_for_long_running_process()

        pool = await create_pool(read_model_dsn(scratch.dsn), min_size=1, max_size=2)
        simple = CustomerActivity()
        await pool.execute("create table customer_activity (customer_id text primary key, events int not null,"
                           " last_active_at timestamptz not null)")
        worker = ProjectionWorker(settings=settings, dsn=read_model_dsn(scratch.dsn), projector=simple,
                                  topics=list(CONSUMED_TOPICS), batch_size=BATCH_SIZE)
        await worker.start()
        try:
            kit = await measure_applied(pool, total, "consumer kit, simple model", consumer=simple.name)
            assert await pool.fetchval("select sum(events) from customer_activity") == total
        finally:
            await worker.stop()
            await pool.close()
    new_rate, old_rate = _median([t.rate for t in counted["batch"]]), _median([t.rate for t in counted["stream"]])
    new_cpu, old_cpu = _median([t.cpu_us for t in counted["batch"]]), _median([t.cpu_us for t in counted["stream"]])
    rate = batch_360.rate
    assert batch_360.gc is not None and untuned_360.gc is not None
    return [
        Figure("projection", "Faust's part: batch transport, counting handler", new_rate, "events/s",
               comparison=f"take_events {old_rate:,.0f} events/s; median of {len(counted['batch'])} alternated runs",
               ratio=new_rate / old_rate),
        Figure("projection", "  Faust's part, CPU per event: batch transport", new_cpu, "µs", op="<=",
               comparison=f"take_events {old_cpu:,.1f} µs", ratio=new_cpu / old_cpu),
        Figure("projection", "Kafka → simple read model (consumer kit), 1 worker", kit.rate, "events/s",
               target=10_000, comparison=f"CPU {kit.cpu_us:,.0f} µs/event"),
        Figure("projection", "Kafka → 360 read model, 1 worker", rate, "events/s", target=8_000,
               comparison=f"CPU {batch_360.cpu_us:,.0f} µs/event; take_events {stream_360.rate:,.0f} events/s, "
                          f"{stream_360.cpu_us:,.0f} µs/event", ratio=rate / stream_360.rate),
        Figure("projection", "  360 catch-up in event-time order across topics", rate, "events/s",
               comparison=f"CPU {batch_360.cpu_us:,.0f} µs/event; handed over fetch by fetch "
                          f"{unaligned_360.rate:,.0f} events/s, {unaligned_360.cpu_us:,.0f} µs/event",
               ratio=rate / unaligned_360.rate),
        Figure("projection", "  360 GC collections, tuned", batch_360.gc.collections, "count",
               comparison=f"default thresholds {untuned_360.gc.collections} in the same events",
               ratio=batch_360.gc.collections / max(1, untuned_360.gc.collections)),
        Figure("projection", "  360 longest GC pause, tuned (CPU)", batch_360.gc.longest_cpu_ms, "ms",
               comparison=f"default thresholds {untuned_360.gc.longest_cpu_ms:,.1f} ms; wall "
                          f"{batch_360.gc.longest_ms:,.1f} vs {untuned_360.gc.longest_ms:,.1f} ms; "
                          f"{untuned_360.rate:,.0f} events/s untuned",
               ratio=batch_360.gc.longest_cpu_ms / max(1e-6, untuned_360.gc.longest_cpu_ms)),
        Figure("projection", "  vs naive per-event transactions", rate / per_event, "x", target=10,
               comparison=f"naive {per_event:,.0f} events/s", ratio=rate / per_event),
        Figure("projection", "  vs bare decode-only consumer", rate / limit * 100, "%", target=40,
               comparison=f"limit {limit:,.0f} events/s", ratio=rate / limit),
    ]
