"""How every owning service writes an import batch: all in one transaction, else record by record.

One transaction per batch is what makes an import fast (one commit, ``COPY``-sized statements). A
batch that loses a race with a live writer (a stream appended to, a unique row taken meanwhile) is
rolled back whole and written again one record per transaction, so only the records that really
collide are refused (with a reason the operator can act on) and the rest still land. Each record
stays atomic either way: its events are all appended or none are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from shared.errors import ConcurrencyConflict
from shared.importing.records import Numbered
from shared.importing.results import BatchResult

LOST_RACES = (ConcurrencyConflict, asyncpg.UniqueViolationError)
"""What a concurrent live writer makes an import transaction fail with."""

WriteRecords = Callable[[asyncpg.Connection, Sequence[Numbered]], Awaitable[BatchResult]]
"""A service's import of some records on a connection inside a transaction."""


async def write_batch(pool: asyncpg.Pool, records: Sequence[Numbered], write: WriteRecords) -> BatchResult:
    """``write`` the batch in one transaction; after a lost race, each record in its own."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await write(conn, records)
    except LOST_RACES:
        if len(records) == 1:
            raise
    total = BatchResult()
    for one in records:
        try:
            async with pool.acquire() as conn, conn.transaction():
                part = await write(conn, [one])
        except LOST_RACES as exc:
            total.rejects.append(one.reject(f"changed concurrently by another writer, try again: {exc}"))
            continue
        total.add(part)
    return total
