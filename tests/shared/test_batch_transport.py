"""The batch transport (ADR 0008) against the real broker and server.

Whole fetches go to the consumer kit, a rebalance waits for the batch in flight, offsets are
committed only after the batch's transaction, and neither a rebalance nor ``kill -9`` at any point
of a batch loses an event or applies one twice. Every projector here sums amounts per customer, so
a lost or doubled event shows as a wrong total.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from shared.consuming.batch_transport import BatchConsumer
from shared.consuming.streams import ProjectionWorker
from shared.events.envelope import new_envelope, to_kafka
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.testing.kafka import read_topic
from shared.testing.waiting import eventually
from tests.chaos import groups
from tests.shared.sample_events import TEST_CATALOG, ThingHappened
from tests.shared.test_consumer import TotalsProjector, totals, totals_table

pytestmark = pytest.mark.timeout(240)

REPO_ROOT = Path(__file__).resolve().parents[2]


def produce_things(bootstrap: str, topic: str, amounts: Sequence[tuple[str, str]],
                   pace: float | None = None) -> dict[str, tuple[Decimal, int]]:
    """Publish one ``ThingHappened`` per (customer, amount); return the totals a projector must reach.

    With ``pace``, each record is flushed on its own and ``pace`` seconds apart (live traffic)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    expected: dict[str, tuple[Decimal, int]] = {}
    for customer, amount in amounts:
        key, value, headers = to_kafka(new_envelope(ThingHappened(customer_id=customer, amount=Decimal(amount)),
                                                    service="testing", subject=customer))
        producer.send(topic, key=key, value=value, headers=headers)
        if pace is not None:
            producer.flush()
            time.sleep(pace)  # the traffic's pace, not a wait for a condition
        total, count = expected.get(customer, (Decimal(0), 0))
        expected[customer] = (total + Decimal(amount), count + 1)
    producer.flush()
    producer.close()
    return expected


def things(n: int, customers: int = 20) -> list[tuple[str, str]]:
    return [(f"c{i % customers}", f"{1 + i % 7}.25") for i in range(n)]


async def inbox_count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("select count(*) from inbox where consumer = 'totals'"))


def uncommitted(bootstrap: str, group: str, topic: str) -> int:
    """Records of every partition of ``topic`` past the group's committed offset (all if none)."""
    committed = groups.committed(bootstrap, group)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    return sum(end - committed.get(tp, 0) for tp, end in ends.items())


async def wait_until_committed_to_the_end(bootstrap: str, group: str, topic: str, timeout: float = 120) -> None:
    await eventually(lambda: asyncio.to_thread(uncommitted, bootstrap, group, topic), until=lambda n: n == 0,
                     timeout=timeout, interval=0.5, message="the group to commit every offset")


class WorkerProcess:
    """``python -m tests.shared.batch_worker`` as a real process, killed or stopped by the test."""

    def __init__(self, log_dir: Path, name: str, *args: str) -> None:
        self.stderr = (log_dir / f"{name}.log").open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "tests.shared.batch_worker", *args],
                                        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []

    async def wait_for_line(self, text: str, timeout: float = 60) -> None:
        assert self.process.stdout is not None

        def read() -> None:
            while True:
                line = self.process.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise AssertionError(f"worker exited before printing {text!r}; printed {self.lines}")
                self.lines.append(line.strip())
                if line.strip() == text:
                    return

        await asyncio.wait_for(asyncio.to_thread(read), timeout=timeout)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then the counters the process printed on the way out."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        self.stderr.close()
        last = [line for line in [*self.lines, *out.splitlines()] if line.startswith("{")]
        assert last, f"no counters printed; output {self.lines + out.splitlines()}"
        counters: dict[str, Any] = orjson.loads(last[-1])
        return counters

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self.stderr.close()


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(name: str, *args: str) -> WorkerProcess:
        process = WorkerProcess(tmp_path, name, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def worker_args(dsn: str, settings: PlatformSettings, *extra: str) -> list[str]:
    return ["--dsn", dsn, "--bootstrap", settings.kafka_bootstrap_servers, "--prefix", settings.kafka_topic_prefix,
            *extra]


async def test_a_whole_fetch_reaches_the_kit_and_a_poison_record_in_it_is_dead_lettered_while_the_rest_applies(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str
) -> None:
    topic, dlq = make_topics("things", "things.dlq", partitions=2)
    batches: list[int] = []

    class Picky(TotalsProjector):
        async def apply(self, conn: asyncpg.Connection, events: Sequence[Any]) -> None:
            batches.append(len(events))
            if any(e.event.amount < 0 for e in events):
                raise ValueError("negative amounts are not allowed")
            await super().apply(conn, events)

    amounts = things(300)
    expected = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, amounts)
    await asyncio.to_thread(produce_things, kafka_bootstrap, topic, [("c3", "-1.00")])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, key=b"c5", value=b"\x00garbage", headers=[("ce_specversion", b"1.0")])
    producer.flush()
    producer.close()
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    worker = ProjectionWorker(settings=platform_settings, dsn=fresh_dsn, projector=Picky(), topics=["things"],
                              catalog=TEST_CATALOG, batch_size=1000)
    await worker.start()
    try:
        assert isinstance(worker.app.consumer, BatchConsumer)
        await eventually(lambda: totals(pool), until=lambda t: t == expected, timeout=60)
        dead = await asyncio.to_thread(read_topic, kafka_bootstrap, dlq, expected=2)
        assert sorted(d.headers["dlq_reason"] for d in dead) == ["apply_failed", "missing_headers"]
        assert max(batches) > 1, "records arrive as whole fetches, not one by one"
        assert worker.app.consumer.fetches < len(amounts)
    finally:
        await worker.stop()
        await pool.close()


async def test_a_rebalance_waits_for_the_batch_in_flight_and_commits_it_before_handing_over(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str
) -> None:
    topic, = make_topics("things", partitions=2)
    entered, release = asyncio.Event(), asyncio.Event()

    revocations: list[set[Any]] = []

    class HoldsItsFirstBatch(TotalsProjector):
        def on_partitions_revoked(self, partitions: set[Any]) -> None:
            revocations.append(set(partitions))

        async def apply(self, conn: asyncpg.Connection, events: Sequence[Any]) -> None:
            await super().apply(conn, events)
            if not release.is_set():
                entered.set()
                await release.wait()

    expected = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, things(400))
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    first = ProjectionWorker(settings=platform_settings, dsn=fresh_dsn, projector=HoldsItsFirstBatch(),
                             topics=["things"], catalog=TEST_CATALOG, batch_size=50)
    second = ProjectionWorker(settings=platform_settings, dsn=fresh_dsn, projector=TotalsProjector(),
                              topics=["things"], catalog=TEST_CATALOG, batch_size=50)
    await first.start()
    joining: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(entered.wait(), timeout=60)
        generation = first.app.consumer_generation_id
        joining = asyncio.create_task(second.start())
        await eventually(lambda: asyncio.to_thread(groups.state, kafka_bootstrap, first.group_id),
                         until=lambda s: s in ("PreparingRebalance", "CompletingRebalance"), timeout=60,
                         message="the second worker's join to start a rebalance")
        # The generation cannot move on while the first worker's batch is in flight: its
        # revocation waits for the batch, and nothing of it is applied or committed yet.
        assert await inbox_count(pool) == 0
        assert await asyncio.to_thread(groups.committed, kafka_bootstrap, first.group_id) == {}
        assert not second.app.consumer.assignment()
        release.set()
        await asyncio.wait_for(joining, timeout=60)
        await eventually(lambda: totals(pool), until=lambda t: t == expected, timeout=60)
        assert first.app.consumer_generation_id > generation
        assert revocations and revocations[0] >= set(first.app.consumer.assignment()), "the projector heard them go"
        assert first.app.consumer.assignment() and second.app.consumer.assignment()
        await wait_until_committed_to_the_end(kafka_bootstrap, first.group_id, topic)
        stats = [w.processor.stats for w in (first, second) if w.processor is not None]
        assert sum(s.applied for s in stats) == 400
        assert sum(s.duplicates for s in stats) == 0, "the held batch was committed before its partition moved"
    finally:
        release.set()
        if joining is not None:
            await asyncio.gather(joining, return_exceptions=True)
        await second.stop()
        await first.stop()
        await pool.close()


async def test_a_worker_killed_with_minus_9_while_a_second_joins_mid_batch_loses_and_doubles_nothing(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    topic, = make_topics("things", partitions=4)
    expected = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, things(3000))
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    group = f"{platform_settings.kafka_topic_prefix}totals"
    try:
        first = worker_processes("first", *worker_args(fresh_dsn, platform_settings, "--batch-size", "50",
                                                       "--slow", "0.2"))
        await first.wait_for_line("started")
        await eventually(lambda: inbox_count(pool), until=lambda n: n >= 300, timeout=60)
        second = worker_processes("second", *worker_args(fresh_dsn, platform_settings, "--batch-size", "50",
                                                         "--slow", "0.02"))
        await eventually(lambda: asyncio.to_thread(groups.state, kafka_bootstrap, group),
                         until=lambda s: s in ("PreparingRebalance", "CompletingRebalance"), timeout=60,
                         message="the second worker's join to start a rebalance")
        first.kill()
        assert await inbox_count(pool) < 3000, "the kill must land before the first worker finished"
        await eventually(lambda: totals(pool), until=lambda t: t == expected, timeout=150, interval=0.5)
        await wait_until_committed_to_the_end(kafka_bootstrap, group, topic)
        assert await inbox_count(pool) == 3000
        assert await totals(pool) == expected
        second.stop()
    finally:
        await pool.close()


async def test_killed_after_the_batch_transaction_but_before_the_offset_commit_the_redelivery_is_deduplicated(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    topic, = make_topics("things", partitions=2)
    expected = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, things(500))
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    group = f"{platform_settings.kafka_topic_prefix}totals"
    try:
        first = worker_processes("first", *worker_args(fresh_dsn, platform_settings, "--commit-interval", "3600",
                                                       "--commit-every", "1000000000"))
        await first.wait_for_line("started")
        await eventually(lambda: totals(pool), until=lambda t: t == expected, timeout=60)
        assert await asyncio.to_thread(groups.committed, kafka_bootstrap, group) == {}
        first.kill()
        second = worker_processes("second", *worker_args(fresh_dsn, platform_settings))
        await wait_until_committed_to_the_end(kafka_bootstrap, group, topic)
        counters = second.stop()
        assert counters == {"applied": 0, "duplicates": 500}
        assert await totals(pool) == expected
    finally:
        await pool.close()


async def test_killed_inside_the_batch_transaction_nothing_of_the_batch_is_lost(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str,
    worker_processes: Callable[..., WorkerProcess],
) -> None:
    topic, = make_topics("things", partitions=2)
    amounts = things(400)
    amounts.insert(250, ("held", "9.00"))
    expected = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, amounts)
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    group = f"{platform_settings.kafka_topic_prefix}totals"
    try:
        first = worker_processes("first", *worker_args(fresh_dsn, platform_settings, "--batch-size", "40",
                                                       "--hold-customer", "held"))
        await first.wait_for_line("holding")
        before = await inbox_count(pool)
        first.kill()
        assert before < len(amounts)
        second = worker_processes("second", *worker_args(fresh_dsn, platform_settings))
        await wait_until_committed_to_the_end(kafka_bootstrap, group, topic)
        counters = second.stop()
        assert counters["applied"] == len(amounts) - before
        assert await totals(pool) == expected
    finally:
        await pool.close()


class TimesSeen:
    """Remembers the event times of every batch it is handed (and applies nothing else)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[list[datetime]] = []

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Any]) -> None:
        self.batches.append([e.time for e in events])

    def seen(self) -> int:
        return sum(len(batch) for batch in self.batches)

    async def count(self) -> int:
        return self.seen()

    def late(self) -> int:
        """Events handed over after a batch that held a later one (a projection would refold for them)."""
        latest: datetime | None = None
        late = 0
        for batch in self.batches:
            if latest is not None:
                late += sum(1 for moment in batch if moment < latest)
            latest = max(batch) if latest is None else max(latest, *batch)
        return late


def produce_history(bootstrap: str, topic: str, days: int, customers: int = 40) -> None:
    """One event a day over ``days`` days, spread over customers (so over both partitions)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    for day in range(days):
        customer = f"c{day % customers}"
        key, value, headers = to_kafka(new_envelope(ThingHappened(customer_id=customer, amount=Decimal("1.00")),
                                                    service="testing", subject=customer,
                                                    time=start + timedelta(days=day)))
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()


async def test_a_catch_up_across_topics_is_handed_over_in_event_time_order(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str
) -> None:
    """Two topics, each with years of history, read from behind: with the aligner no event reaches the
    projector after a later one (none would make a projection refold); handed over fetch by fetch, as
    the same worker does without it, many do."""
    orders, _, tickets, _ = make_topics("orders", "orders.dlq", "tickets", "tickets.dlq", partitions=2)
    await asyncio.to_thread(produce_history, kafka_bootstrap, orders, 400)
    await asyncio.to_thread(produce_history, kafka_bootstrap, tickets, 400)
    seen: dict[bool, TimesSeen] = {}
    for aligned in (True, False):
        projector = seen[aligned] = TimesSeen(f"times-{'aligned' if aligned else 'as-fetched'}")
        worker = ProjectionWorker(settings=platform_settings, dsn=fresh_dsn, projector=projector,
                                  topics=["orders", "tickets"], catalog=TEST_CATALOG, batch_size=50,
                                  align_by_time=aligned)
        await worker.start()
        try:
            await eventually(projector.count, until=lambda n: n >= 800, timeout=120)
        finally:
            await worker.stop()
        assert projector.seen() == 800
    assert seen[True].late() == 0
    assert seen[False].late() > 0, "the fetches come partition by partition: the test would prove nothing"
    assert max(len(batch) for batch in seen[True].batches) <= 50 * 11  # held back at most ten batches' worth


async def test_live_records_arriving_one_by_one_are_gathered_for_the_batch_window(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str
) -> None:
    topic, _ = make_topics("things", "things.dlq", partitions=2)
    batches: list[int] = []

    class Counting(TotalsProjector):
        async def apply(self, conn: asyncpg.Connection, events: Sequence[Any]) -> None:
            batches.append(len(events))
            await super().apply(conn, events)

    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    window = 0.25
    worker = ProjectionWorker(settings=platform_settings, dsn=fresh_dsn, projector=Counting(), topics=["things"],
                              catalog=TEST_CATALOG, batch_size=1000, batch_window=window)
    await worker.start()
    try:
        warm = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, [("warm", "1.00")])
        await eventually(lambda: totals(pool), until=lambda t: t == warm, timeout=60)
        consumer = worker.app.consumer
        assert isinstance(consumer, BatchConsumer)
        handed_before, began = consumer.fetches, time.perf_counter()
        paced = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, things(60), 0.01)
        await eventually(lambda: totals(pool), until=lambda t: t == {**warm, **paced}, timeout=60)
        elapsed = time.perf_counter() - began
        handed = consumer.fetches - handed_before
        # One by one, 60 records would be dozens of batches; gathered, at most one per window.
        assert handed <= elapsed / window + 2, f"{handed} batches in {elapsed:.2f} s"
        assert max(batches[-handed:]) > 1
    finally:
        await worker.stop()
        await pool.close()
