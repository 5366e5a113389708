"""The outbox relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.ops.heartbeat import Heartbeat
from shared.outbox.relay import OutboxRelay
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.testing.kafka import drain_outbox, read_topic, read_whole_topic
from shared.testing.waiting import eventually
from tests.shared.sample_events import TEST_CATALOG, ThingHappened


async def append(pool: asyncpg.Pool, store: EventStore, stream: str, count: int = 1, expected: int = 0) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.append(conn, stream_id=stream, stream_type="thing", expected_version=expected,
                           events=[ThingHappened(customer_id=stream, note=str(i)) for i in range(count)],
                           subject=stream)


async def unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("select count(*) from outbox where published_at is null"))


async def test_relay_publishes_events_in_stream_order_with_cloudevents_headers(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("things", partitions=3)
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn)
    try:
        for n in range(3):
            await append(pool, store, f"cust-{n}", count=5)
        assert await drain_outbox(fresh_dsn, kafka_bootstrap) == 15
        records = read_topic(kafka_bootstrap, topic, expected=15)
        assert len(records) == 15
        for n in range(3):
            mine = [r for r in records if r.key == f"cust-{n}".encode()]
            assert len({r.partition for r in mine}) == 1  # one customer, one partition
            assert [r.value["note"] for r in sorted(mine, key=lambda r: r.offset)] == ["0", "1", "2", "3", "4"]
            assert [int(r.headers["ce_streamversion"]) for r in sorted(mine, key=lambda r: r.offset)] == [1, 2, 3, 4, 5]
        first = records[0]
        assert first.headers["ce_specversion"] == "1.0"
        assert first.headers["ce_type"] == "customer360.testing.ThingHappened.v1"
        assert first.headers["content-type"] == "application/json"
        assert await unpublished(pool) == 0
    finally:
        await pool.close()


async def test_relay_publishes_a_transaction_that_commits_late(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    """Two transactions commit in reverse order of their outbox positions: both get published."""
    (topic,) = make_topics("late")
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn, min_size=2, max_size=3)
    try:
        early = await pool.acquire()
        tx = early.transaction()
        await tx.start()
        await store.append(early, stream_id="early", stream_type="thing", expected_version=0,
                           events=[ThingHappened(customer_id="early")], subject="early")  # lower position
        await append(pool, store, "later")  # higher position, commits first
        assert await drain_outbox(fresh_dsn, kafka_bootstrap) == 1
        await tx.commit()
        await pool.release(early)
        assert await drain_outbox(fresh_dsn, kafka_bootstrap) == 1
        keys = sorted(r.key for r in read_topic(kafka_bootstrap, topic, expected=2))
        assert keys == [b"early", b"later"]
    finally:
        await pool.close()


async def test_only_one_of_two_relays_leads_and_nothing_is_published_twice(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("leader")
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn)
    stop = asyncio.Event()
    relays = [OutboxRelay(dsn=fresh_dsn, bootstrap_servers=kafka_bootstrap, name=f"r{i}", poll_interval=0.2)
              for i in range(2)]
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    try:
        await eventually(lambda: _any_leader(relays), message="a relay to lead")
        for n in range(40):
            await append(pool, store, f"c{n % 4}", expected=n // 4)
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0, message="outbox drained")
        assert sum(1 for r in relays if r.is_leader) == 1
        assert sum(r.stats.published for r in relays) == 40
        records = read_topic(kafka_bootstrap, topic, expected=40)
        assert len(records) == 40
        assert len({r.headers["ce_id"] for r in records}) == 40
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await pool.close()


async def _any_leader(relays: list[OutboxRelay]) -> bool:
    return any(r.is_leader for r in relays)


async def test_standby_takes_over_when_the_leader_dies(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    (topic,) = make_topics("failover")
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    first = OutboxRelay(dsn=fresh_dsn, bootstrap_servers=kafka_bootstrap, name="first", poll_interval=0.2)
    first_task = asyncio.create_task(first.run(stop_first))
    await eventually(lambda: _any_leader([first]), message="first relay leads")
    second = OutboxRelay(dsn=fresh_dsn, bootstrap_servers=kafka_bootstrap, name="second", poll_interval=0.2)
    second_task = asyncio.create_task(second.run(stop_second))
    try:
        await append(pool, store, "a")
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0)
        stop_first.set()
        await first_task
        await eventually(lambda: _any_leader([second]), message="standby takes over")
        await append(pool, store, "b")
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0)
        assert second.stats.published == 1
        assert sorted(r.key for r in read_topic(kafka_bootstrap, topic, expected=2)) == [b"a", b"b"]
    finally:
        stop_second.set()
        await second_task
        await pool.close()


class _FailsOnce(AIOKafkaProducer):
    """A real producer whose first send raises what no outage raises: a stand-in for a bug in a library."""

    failed = False

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if not _FailsOnce.failed:
            _FailsOnce.failed = True
            raise RuntimeError("unexpected failure inside the producer")
        return await super().send(*args, **kwargs)


async def test_an_unexpected_error_does_not_end_the_relay(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    """Only the relay moves committed events to Kafka: an error it does not know must not end it."""
    (topic,) = make_topics("unexpected")
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn)
    stop = asyncio.Event()
    producer = _FailsOnce(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    relay = OutboxRelay(dsn=fresh_dsn, bootstrap_servers=kafka_bootstrap, poll_interval=0.1, producer=producer)
    task = asyncio.create_task(relay.run(stop))
    try:
        await append(pool, store, "x", count=3)
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0, message="outbox drained")
        assert _FailsOnce.failed
        assert relay.stats.last_error is not None and "unexpected failure" in relay.stats.last_error
        assert not task.done()
        assert [r.value["note"] for r in read_topic(kafka_bootstrap, topic, expected=3)] == ["0", "1", "2"]
    finally:
        stop.set()
        await task
        await pool.close()


async def test_the_relay_reconnects_each_time_the_database_drops_its_connection(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    """What a database restart does to the relay, five times over, while commands keep committing."""
    (topic,) = make_topics("dropped")
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn)
    stop = asyncio.Event()
    relay = OutboxRelay(dsn=fresh_dsn, bootstrap_servers=kafka_bootstrap, name="dropped", poll_interval=0.1)
    task = asyncio.create_task(relay.run(stop))
    terminate = "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'dropped'"
    try:
        for round_ in range(5):
            await eventually(lambda: _any_leader([relay]), message="the relay to lead")
            await append(pool, store, f"s{round_}", count=4)
            assert await pool.fetchval(terminate) == 1
            await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=30,
                             message=f"outbox drained after drop {round_}")
        assert not task.done()
        records = read_topic(kafka_bootstrap, topic, expected=20)
        assert {r.headers["ce_id"] for r in records} == set(
            await pool.fetchval("select array_agg(event_id::text) from events"))
    finally:
        stop.set()
        await task
        await pool.close()


async def _beats(heartbeat: _CountingHeartbeat) -> int:
    return heartbeat.beats


class _CountingHeartbeat(Heartbeat):
    def __init__(self) -> None:
        super().__init__()
        self.beats = 0

    def beat(self) -> None:
        super().beat()
        self.beats += 1


async def test_the_relay_beats_its_heartbeat_while_leading_standing_by_and_retrying(
    fresh_dsn: str, kafka_bootstrap: str
) -> None:
    """Liveness comes from these beats: every turn of every loop beats, a database outage included."""
    stop = asyncio.Event()
    beats = {role: _CountingHeartbeat() for role in ("leader", "standby", "no database")}
    nowhere = fresh_dsn.rsplit("@", 1)[0] + "@127.0.0.1:1/nothing"  # nothing listens on port 1
    relays = {
        "leader": OutboxRelay(dsn=fresh_dsn, bootstrap_servers=kafka_bootstrap, poll_interval=0.05,
                              heartbeat=beats["leader"]),
        "standby": OutboxRelay(dsn=fresh_dsn, bootstrap_servers=kafka_bootstrap, poll_interval=0.05,
                               heartbeat=beats["standby"]),
        "no database": OutboxRelay(dsn=nowhere, bootstrap_servers=kafka_bootstrap, poll_interval=0.05,
                                   heartbeat=beats["no database"]),
    }
    tasks = [asyncio.create_task(relays["leader"].run(stop))]
    try:
        await eventually(lambda: _any_leader([relays["leader"]]), message="the first relay to lead")
        tasks += [asyncio.create_task(relays[role].run(stop)) for role in ("standby", "no database")]
        for role, heartbeat in beats.items():
            await eventually(lambda hb=heartbeat: _beats(hb), until=lambda n: n >= 5,  # type: ignore[misc]
                             message=f"the {role} relay beating")
        assert not relays["standby"].is_leader and relays["no database"].stats.last_error is not None
        assert all(heartbeat.alive() for heartbeat in beats.values())
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_republished_batch_leaves_duplicates_and_the_whole_topic_still_holds_every_event(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    """At least once: a relay that dies before marking rows published sends them again.

    Counting records therefore proves nothing about which events arrived; the chaos checks read
    the whole topic (``read_whole_topic``) and compare event ids.
    """
    (topic,) = make_topics("things-again", partitions=3)
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn)
    try:
        for n in range(3):
            await append(pool, store, f"cust-{n}", count=5)
        assert await drain_outbox(fresh_dsn, kafka_bootstrap) == 15
        await pool.execute("update outbox set published_at = null where position in"
                           " (select position from outbox order by position limit 6)")
        assert await drain_outbox(fresh_dsn, kafka_bootstrap) == 6
        records = await asyncio.to_thread(read_whole_topic, kafka_bootstrap, topic)
        ids = [r.headers["ce_id"] for r in records]
        stored = {str(i) for i in await pool.fetchval("select array_agg(event_id) from events")}
        assert len(ids) == 21
        assert set(ids) == stored and len(stored) == 15
    finally:
        await pool.close()
