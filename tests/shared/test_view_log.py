"""``ViewLog``: reads of personal data are recorded in groups, each record committed before its caller goes on."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.ops.logging import actor_var, correlation_id_var
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.web.view_log import ViewLog

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def a_store() -> EventStore:
    return EventStore(service="customer", topic="t.customer")


async def one_read(log: ViewLog, n: int, customer: uuid.UUID) -> None:
    correlation_id_var.set(f"corr-{n}")
    actor_var.set(f"agent-{n}")
    await log.record(customer_id=customer, view="customer_360", now=T0 + timedelta(seconds=n))


async def test_concurrent_reads_share_a_commit_and_keep_their_own_who_and_when(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    try:
        log = ViewLog(pool, a_store())
        customer = uuid.uuid4()
        await asyncio.gather(*(one_read(log, n, customer) for n in range(60)))
        assert 1 <= log.groups < 60
        rows = await pool.fetch("select stream_type, event_type, subject, data, metadata, occurred_at from events"
                                " order by occurred_at")
        assert len(rows) == 60
        assert {(r["stream_type"], r["event_type"], r["subject"]) for r in rows} == {
            ("personal_data_view", "PersonalDataViewed", str(customer))}
        for n, row in enumerate(rows):
            assert row["occurred_at"] == T0 + timedelta(seconds=n)
            assert row["metadata"] == {"correlation_id": f"corr-{n}", "actor": f"agent-{n}"}
            assert row["data"]["viewed_by"] == f"agent-{n}"
        assert await pool.fetchval("select count(*) from outbox") == 0  # audit records stay off Kafka
    finally:
        await pool.close()


async def test_a_read_alone_is_committed_before_record_returns(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    try:
        log = ViewLog(pool, a_store())
        for n in range(3):
            await one_read(log, n, uuid.uuid4())
            assert await pool.fetchval("select count(*) from events") == n + 1
        assert log.groups == 3
    finally:
        await pool.close()


async def test_a_failed_commit_fails_every_read_of_its_group_and_the_next_group_recovers(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    broken = await create_pool(fresh_dsn)
    await broken.close()
    try:
        log = ViewLog(broken, a_store())
        outcomes = await asyncio.gather(*(one_read(log, n, uuid.uuid4()) for n in range(5)), return_exceptions=True)
        assert all(isinstance(o, asyncpg.InterfaceError) for o in outcomes), outcomes
        assert log.groups == 0
        log.pool = pool
        await one_read(log, 9, uuid.uuid4())
        assert await pool.fetchval("select count(*) from events") == 1
    finally:
        await pool.close()


async def test_a_caller_that_gives_up_does_not_cancel_its_groups_commit(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    try:
        log = ViewLog(pool, a_store())
        quitter = asyncio.create_task(one_read(log, 1, uuid.uuid4()))
        stayer = asyncio.create_task(one_read(log, 2, uuid.uuid4()))
        await asyncio.sleep(0)  # both queued; the commit has started
        quitter.cancel()
        await stayer
        with pytest.raises(asyncio.CancelledError):
            await quitter
        assert await pool.fetchval("select count(*) from events") == 2
    finally:
        await pool.close()
