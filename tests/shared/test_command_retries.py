"""A real deadlock between two commands is retried by the unit of work: both succeed, no 500."""

from __future__ import annotations

import asyncio

from shared.db import create_pool
from shared.eventstore import EventStore
from shared.idempotency import CommandResult, run_command
from shared.uow import UnitOfWork
from tests.shared.sample_events import TEST_CATALOG


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
