"""The PostgreSQL event store against a real server: concurrency, commit order, encryption."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from shared.errors import ConcurrencyConflict
from shared.shredding import KeyStore
from shared.store.db import create_pool
from shared.store.eventstore import EventMetadata, EventStore, StreamAppend
from shared.testing.waiting import eventually
from tests.shared.sample_events import TEST_CATALOG, PersonRenamed, PersonRenamedV1, ThingHappened


def a_store(topic: str | None = "t.events") -> EventStore:
    return EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)


async def append_one(pool: asyncpg.Pool, store: EventStore, stream: str, expected: int, note: str = "") -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.append(
            conn,
            stream_id=stream,
            stream_type="thing",
            expected_version=expected,
            events=[ThingHappened(customer_id="c1", amount=Decimal("1.50"), note=note)],
            subject="c1",
        )


async def test_twenty_concurrent_appenders_at_the_same_version_one_wins(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=20, max_size=20)
    store = a_store()
    try:
        await append_one(pool, store, "s-1", 0)
        results = await asyncio.gather(
            *(append_one(pool, store, "s-1", 1, note=str(i)) for i in range(20)), return_exceptions=True
        )
        winners = [r for r in results if r is None]
        losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
        assert len(winners) == 1
        assert len(losers) == 19
        versions = await pool.fetch("select version from events where stream_id = 's-1' order by version")
        assert [r["version"] for r in versions] == [1, 2]
        assert await pool.fetchval("select count(*) from outbox") == 2
    finally:
        await pool.close()


async def test_append_at_a_stale_or_future_version_is_a_conflict(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        await append_one(pool, store, "s-2", 0)
        with pytest.raises(ConcurrencyConflict) as stale:
            await append_one(pool, store, "s-2", 0)
        assert stale.value.extra["current_version"] == 1
        with pytest.raises(ConcurrencyConflict):
            await append_one(pool, store, "s-2", 5)  # would leave a gap
        async with pool.acquire() as conn:
            assert await store.stream_version(conn, "s-2") == 1
    finally:
        await pool.close()


async def test_a_batch_is_appended_in_one_transaction_with_its_outbox_rows(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        async with pool.acquire() as conn, conn.transaction():
            recorded = await store.append(
                conn,
                stream_id="s-3",
                stream_type="thing",
                expected_version=0,
                events=[ThingHappened(customer_id="c3", note=str(i)) for i in range(100)],
                subject="c3",
                metadata=EventMetadata(correlation_id="corr-1", causation_id="cause-1"),
            )
        assert [r.version for r in recorded] == list(range(1, 101))
        rows = await pool.fetch("select key, headers, payload from outbox order by position")
        assert len(rows) == 100
        first = rows[0]
        assert first["key"] == b"c3"
        assert first["headers"]["ce_type"] == "customer360.testing.ThingHappened.v1"
        assert first["headers"]["ce_correlationid"] == "corr-1"
        assert first["headers"]["ce_streamversion"] == "1"
        assert first["headers"]["ce_id"] == str(recorded[0].event_id)
        async with pool.acquire() as conn:
            loaded = await store.load(conn, "s-3")
        assert [e.event.note for e in loaded] == [str(i) for i in range(100)]  # type: ignore[attr-defined]
    finally:
        await pool.close()


async def test_the_actor_is_recorded_in_the_metadata_and_as_the_c360actor_extension(fresh_dsn: str) -> None:
    """Who asked travels with the event (the audit trail); what no request caused has no actor."""
    pool = await create_pool(fresh_dsn)
    store = a_store()
    moment = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, stream_id="s-a", stream_type="thing", expected_version=0, subject="c9",
                               events=[ThingHappened(customer_id="c9")], metadata=EventMetadata(actor="agent-ayse"))
            await store.append(conn, stream_id="s-b", stream_type="thing", expected_version=0, subject="c9",
                               events=[ThingHappened(customer_id="c9")], metadata=EventMetadata())
            await store.append_many(conn, [StreamAppend("s-c", "thing", 0, "c9", [ThingHappened(customer_id="c9")],
                                                        [moment])], metadata=EventMetadata(actor="importer"))
        rows = await pool.fetch("select e.stream_id, e.metadata->>'actor' as actor, o.headers->>'ce_c360actor' as ext"
                                " from events e join outbox o on o.headers->>'ce_id' = e.event_id::text"
                                " order by e.position")
        assert [(r["stream_id"], r["actor"], r["ext"]) for r in rows] == [
            ("s-a", "agent-ayse", "agent-ayse"), ("s-b", None, None), ("s-c", "importer", "importer")]
    finally:
        await pool.close()


async def test_a_failed_transaction_leaves_neither_events_nor_outbox_rows(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        with pytest.raises(RuntimeError):
            async with pool.acquire() as conn, conn.transaction():
                await store.append(conn, stream_id="s-4", stream_type="thing", expected_version=0,
                                   events=[ThingHappened(customer_id="c4")], subject="c4")
                raise RuntimeError("the command failed after appending")
        assert await pool.fetchval("select count(*) from events") == 0
        assert await pool.fetchval("select count(*) from outbox") == 0
    finally:
        await pool.close()


async def test_read_all_never_skips_a_transaction_that_commits_late(fresh_dsn: str) -> None:
    """T1 takes the lower position but commits after T2: a reader must still see both, in order."""
    pool = await create_pool(fresh_dsn, min_size=3, max_size=3)
    store = a_store()
    try:
        slow, fast, reader = await pool.acquire(), await pool.acquire(), await pool.acquire()
        slow_tx = slow.transaction()
        await slow_tx.start()
        await store.append(slow, stream_id="slow", stream_type="thing", expected_version=0,
                           events=[ThingHappened(customer_id="a")], subject="a")
        async with fast.transaction():
            await store.append(fast, stream_id="fast", stream_type="thing", expected_version=0,
                               events=[ThingHappened(customer_id="b")], subject="b")
        seen, checkpoint = await store.read_all(reader)
        assert seen == []  # the fast row is held back while an older transaction is open
        await slow_tx.commit()
        # Any older transaction anywhere on the server also holds rows back (never skips them), so
        # wait for visibility instead of expecting it at once on a busy server.
        seen, checkpoint = await eventually(lambda: store.read_all(reader, after=checkpoint),
                                            until=lambda result: len(result[0]) == 2, timeout=60)
        assert [e.stream_id for e in seen] == ["slow", "fast"]
        more, _ = await store.read_all(reader, after=checkpoint)
        assert more == []
        for conn in (slow, fast, reader):
            await pool.release(conn)
    finally:
        await pool.close()


async def test_personal_fields_are_encrypted_at_rest_and_shredded_with_the_key(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, stream_id="p-1", stream_type="person", expected_version=0,
                               events=[PersonRenamed(customer_id="p1", given_name="Ada", family_name="Lovelace")],
                               subject="p1")
        raw = await pool.fetchval("select data::text from events")
        payload = await pool.fetchval("select payload from outbox")
        assert "Ada" not in raw and "Lovelace" not in raw
        assert b"Ada" not in payload
        async with pool.acquire() as conn:
            (loaded,) = await store.load(conn, "p-1")
            assert loaded.event.given_name == "Ada"  # type: ignore[attr-defined]
            await KeyStore().destroy(conn, "p1")
            (after,) = await store.load(conn, "p-1")
            assert after.event.given_name is None  # type: ignore[attr-defined]
            assert after.event.customer_id == "p1"  # type: ignore[attr-defined]
    finally:
        await pool.close()


async def test_old_versions_are_upcast_on_load(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, stream_id="p-2", stream_type="person", expected_version=0,
                               events=[PersonRenamedV1(customer_id="p2", name="Grace Hopper")], subject="p2")
            (loaded,) = await store.load(conn, "p-2")
        assert isinstance(loaded.event, PersonRenamed)
        assert (loaded.event.given_name, loaded.event.family_name) == ("Grace", "Hopper")
    finally:
        await pool.close()
