"""``EventStore.append_streams``: many streams in one statement, with ``append``'s rows and guarantees."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from shared.errors import ConcurrencyConflict
from shared.events.envelope import ACTOR_HEADER, HISTORY_HEADER, HISTORY_IMPORT, new_envelope
from shared.store.db import create_pool
from shared.store.eventstore import EventMetadata, EventStore, Outbox, StreamEvents
from shared.testing.waiting import eventually
from tests.shared.sample_events import TEST_CATALOG, PersonRenamed, ThingHappened


def a_store(topic: str | None = "t.events") -> EventStore:
    return EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)


def things(customer: str, count: int) -> list[ThingHappened]:
    return [ThingHappened(customer_id=customer, note=f"{customer}-{i}") for i in range(count)]


async def append_streams(pool: asyncpg.Pool, store: EventStore, streams: Sequence[StreamEvents],
                         metadata: EventMetadata | None = None) -> int:
    async with pool.acquire() as conn, conn.transaction():
        return await store.append_streams(conn, streams, metadata=metadata or EventMetadata())


async def append_one(pool: asyncpg.Pool, store: EventStore, stream: str, subject: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.append(conn, stream_id=stream, stream_type="thing", expected_version=0,
                           events=[ThingHappened(customer_id=subject)], subject=subject)


async def test_each_stream_continues_its_head_and_its_outbox_rows_follow_the_log(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        await append_one(pool, store, "b-1", "c1")
        written = await append_streams(pool, store, [
            StreamEvents("b-1", "thing", "c1", 1, things("c1", 2)),
            StreamEvents("b-2", "thing", "c2", None, things("c2", 3)),
            StreamEvents("b-3", "thing", "c3", 0, []),
        ], metadata=EventMetadata(correlation_id="corr-b", actor="agent-ayse"))
        assert written == 5
        events = await pool.fetch("select event_id, stream_id, version, subject, metadata from events"
                                  " order by position")
        assert [(r["stream_id"], r["version"]) for r in events] == [
            ("b-1", 1), ("b-1", 2), ("b-1", 3), ("b-2", 1), ("b-2", 2), ("b-2", 3)]
        assert events[1]["metadata"] == {"correlation_id": "corr-b", "actor": "agent-ayse"}
        outbox = await pool.fetch("select topic, key, headers from outbox order by position")
        assert [(r["headers"]["ce_streamid"], r["headers"]["ce_streamversion"]) for r in outbox[1:]] == [
            ("b-1", "2"), ("b-1", "3"), ("b-2", "1"), ("b-2", "2"), ("b-2", "3")]
        assert [r["headers"]["ce_id"] for r in outbox] == [str(r["event_id"]) for r in events]
        first = outbox[3]
        assert (first["topic"], first["key"]) == ("t.events", b"c2")
        assert first["headers"]["ce_type"] == "customer360.testing.ThingHappened.v1"
        assert first["headers"]["ce_subject"] == "c2"
        assert first["headers"]["ce_correlationid"] == "corr-b"
        assert first["headers"][ACTOR_HEADER] == "agent-ayse"
        assert HISTORY_HEADER not in first["headers"]
        async with pool.acquire() as conn:
            loaded = await store.load(conn, "b-2")
        assert [e.event.note for e in loaded] == ["c2-0", "c2-1", "c2-2"]  # type: ignore[attr-defined]
    finally:
        await pool.close()


async def test_one_stale_or_future_stream_refuses_the_whole_batch(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        await append_one(pool, store, "s-1", "c1")
        for wrong in (0, 5):
            with pytest.raises(ConcurrencyConflict) as conflict:
                await append_streams(pool, store, [StreamEvents("s-0", "thing", "c0", 0, things("c0", 1)),
                                                   StreamEvents("s-1", "thing", "c1", wrong, things("c1", 1))])
            assert conflict.value.extra["current_version"] == 1
            assert conflict.value.extra["expected_version"] == wrong
        assert await pool.fetchval("select count(*) from events") == 1
        assert await pool.fetchval("select count(*) from outbox") == 1
    finally:
        await pool.close()


async def test_ten_writers_at_the_same_version_leave_one_winner(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=10, max_size=10)
    store = a_store()
    try:
        results = await asyncio.gather(
            *(append_streams(pool, store, [StreamEvents("r-1", "thing", "c1", 0, things("c1", 2))])
              for _ in range(10)),
            return_exceptions=True,
        )
        assert results.count(2) == 1
        assert len([r for r in results if isinstance(r, ConcurrencyConflict)]) == 9
        versions = await pool.fetch("select version from events order by version")
        assert [r["version"] for r in versions] == [1, 2]
        assert await pool.fetchval("select count(*) from outbox") == 2
    finally:
        await pool.close()


async def test_a_writer_appending_at_the_head_loses_to_one_that_took_it_first(fresh_dsn: str) -> None:
    """``expected_version=None`` reads the head in its snapshot: the unique key still stops a racer."""
    pool = await create_pool(fresh_dsn, min_size=3, max_size=3)
    store = a_store()
    first, second, observer = await pool.acquire(), await pool.acquire(), await pool.acquire()
    try:
        winner, loser = first.transaction(), second.transaction()
        await winner.start()
        await loser.start()
        await store.append_streams(first, [StreamEvents("w-1", "thing", "c1", None, things("c1", 1))])
        late = asyncio.ensure_future(
            store.append_streams(second, [StreamEvents("w-1", "thing", "c1", None, things("c1", 1))]))
        await eventually(lambda: observer.fetchval(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and pid = $1",
            second.get_server_pid()), message="the second writer waits for the first")
        await winner.commit()
        with pytest.raises(ConcurrencyConflict, match="a thing stream changed concurrently"):
            await late
        await loser.rollback()
        assert [r["version"] for r in await observer.fetch("select version from events")] == [1]
    finally:
        for conn in (first, second, observer):
            await pool.release(conn)
        await pool.close()


async def test_history_streams_are_marked_on_kafka_only(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        await append_streams(pool, store, [StreamEvents("h-1", "thing", "c1", 0, things("c1", 1), history=True),
                                           StreamEvents("h-2", "thing", "c2", 0, things("c2", 1))])
        rows = await pool.fetch("select headers from outbox order by position")
        assert [r["headers"].get(HISTORY_HEADER) for r in rows] == [HISTORY_IMPORT, None]
        assert await pool.fetchval("select count(*) from events where metadata ? 'history'") == 0
    finally:
        await pool.close()


async def test_personal_fields_are_sealed_as_append_seals_them(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        await append_streams(pool, store, [StreamEvents("p-1", "person", "p1", 0, [
            PersonRenamed(customer_id="p1", given_name="Ada", family_name="Lovelace")])])
        assert "Ada" not in await pool.fetchval("select data::text from events")
        assert b"Ada" not in await pool.fetchval("select payload from outbox")
        async with pool.acquire() as conn:
            (loaded,) = await store.load(conn, "p-1")
        assert loaded.event.given_name == "Ada"  # type: ignore[attr-defined]
    finally:
        await pool.close()


async def test_without_a_topic_nothing_is_queued_and_a_stream_appears_once(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store(topic=None)
    try:
        assert await append_streams(pool, store, [StreamEvents("n-1", "thing", "c1", 0, things("c1", 2))]) == 2
        assert await pool.fetchval("select count(*) from outbox") == 0
        with pytest.raises(ValueError, match="at most once"):
            await append_streams(pool, store, [StreamEvents("n-2", "thing", "c1", 0, things("c1", 1)),
                                               StreamEvents("n-2", "thing", "c1", 1, things("c1", 1))])
        assert await append_streams(pool, store, []) == 0
    finally:
        await pool.close()


async def test_many_envelopes_are_queued_in_their_order_with_one_statement(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    envelopes = [new_envelope(event, service="testing", subject=event.customer_id) for event in things("c7", 3)]
    try:
        async with pool.acquire() as conn, conn.transaction():
            await Outbox().enqueue_envelopes(conn, "t.messages", envelopes)
            await Outbox().enqueue_envelopes(conn, "t.messages", [])
        rows = await pool.fetch("select topic, key, headers, payload from outbox order by position")
        assert [(r["topic"], r["key"], r["headers"]["ce_id"], r["payload"]) for r in rows] == [
            ("t.messages", b"c7", str(e.id), e.data) for e in envelopes]
        assert rows[0]["headers"] == envelopes[0].header_map()
    finally:
        await pool.close()
