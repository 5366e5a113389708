"""A real deadlock between two commands is retried by the unit of work: both succeed, no 500."""

from __future__ import annotations

import asyncio

from shared.errors import ConcurrencyConflict
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.idempotent_commands import CommandResult, run_command
from shared.store.uow import UnitOfWork
from tests.shared.sample_events import TEST_CATALOG, ThingHappened


async def test_two_commands_that_deadlock_are_retried_until_both_succeed(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=2, max_size=4)
    store = EventStore(service="testing", topic=None, catalog=TEST_CATALOG)
    await pool.execute("create table accounts (id int primary key, balance int not null)")
    await pool.execute("insert into accounts values (1, 0), (2, 0)")
    both_hold_their_first_lock = asyncio.Barrier(2)
    attempts = {"a": 0, "b": 0}

    def transfer(name: str, first: int, second: int):  # type: ignore[no-untyped-def]
        async def command(uow: UnitOfWork) -> CommandResult:
            attempts[name] += 1
            await uow.conn.execute("update accounts set balance = balance + 1 where id = $1", first)
            if attempts[name] == 1:  # only the first try waits for the other: that one deadlocks
                await both_hold_their_first_lock.wait()
            await uow.conn.execute("update accounts set balance = balance + 1 where id = $1", second)
            return CommandResult(200, {"ok": name})

        return command

    try:
        results = await asyncio.gather(run_command(pool, store, transfer("a", 1, 2)),
                                       run_command(pool, store, transfer("b", 2, 1)))
        assert sorted(r.body["ok"] for r in results) == ["a", "b"]
        assert attempts["a"] + attempts["b"] == 3  # PostgreSQL aborted exactly one of the two once
        rows = await pool.fetch("select id, balance from accounts order by id")
        assert [(r["id"], r["balance"]) for r in rows] == [(1, 2), (2, 2)]  # each effect applied once
    finally:
        await pool.close()


def _append_after_reading(stream: str, loaded: asyncio.Barrier | None, attempts: list[int]):  # type: ignore[no-untyped-def]
    """A command that reads the stream's version, then appends after it (what every handler does).

    On its first attempt it waits at ``loaded`` until every writer has read, so all of them decide on
    the same version and all but one lose the race.
    """

    async def command(uow: UnitOfWork) -> CommandResult:
        attempts.append(1)
        version = await uow.store.stream_version(uow.conn, stream)
        if loaded is not None and len(attempts) <= loaded.parties:
            await loaded.wait()
        await uow.append(stream_id=stream, stream_type="thing", expected_version=version,
                         events=[ThingHappened(customer_id="c1")], subject="c1")
        return CommandResult(200, {"version": version + 1})

    return command


async def test_concurrent_writers_without_if_match_all_succeed_on_fresh_state(fresh_dsn: str) -> None:
    writers = 8
    pool = await create_pool(fresh_dsn, min_size=writers, max_size=writers)
    store = EventStore(service="testing", topic=None, catalog=TEST_CATALOG)
    loaded, attempts = asyncio.Barrier(writers), list[int]()
    try:
        results = await asyncio.gather(*(
            run_command(pool, store, _append_after_reading("s-race", loaded, attempts), retry_conflicts=True)
            for _ in range(writers)))
        assert sorted(r.body["version"] for r in results) == list(range(1, writers + 1))
        assert len(attempts) > writers  # the races really happened and were run again
        versions = await pool.fetch("select version from events where stream_id = 's-race' order by version")
        assert [r["version"] for r in versions] == list(range(1, writers + 1))
        assert await pool.fetchval("select count(*) from events") == writers  # each effect committed once
    finally:
        await pool.close()


async def test_a_writer_that_asked_for_optimistic_concurrency_gets_the_conflict(fresh_dsn: str) -> None:
    writers = 4
    pool = await create_pool(fresh_dsn, min_size=writers, max_size=writers)
    store = EventStore(service="testing", topic=None, catalog=TEST_CATALOG)
    loaded, attempts = asyncio.Barrier(writers), list[int]()
    try:
        results = await asyncio.gather(*(
            run_command(pool, store, _append_after_reading("s-occ", loaded, attempts))
            for _ in range(writers)), return_exceptions=True)
        assert sum(isinstance(r, CommandResult) for r in results) == 1
        assert sum(isinstance(r, ConcurrencyConflict) for r in results) == writers - 1
        assert len(attempts) == writers  # nothing was retried
    finally:
        await pool.close()
