"""Thin SQL for export jobs (``customer_exports``): create, record a part, finish, read, forget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

STALE_AFTER = timedelta(seconds=120)
"""A running export untouched this long lost its process (every part touches it; a part takes at most ~100 s)."""
LOST = "the process running this export stopped before it ended; request a new export"


async def create(conn: asyncpg.Connection, export_id: UUID, customer_id: UUID, *, requested_by: str,
                 self_service: bool, services: Sequence[str], now: datetime) -> None:
    await conn.execute(
        """insert into customer_exports (id, customer_id, requested_by, self_service, status, parts, requested_at)
           values ($1, $2, $3, $4, 'running', $5, $6)""",
        export_id, customer_id, requested_by, self_service, {s: {"status": "pending"} for s in services}, now)


async def record_part(conn: asyncpg.Connection, export_id: UUID, service: str, outcome: Mapping[str, Any]) -> None:
    """One service's part is done (or failed): progress for the status, and a heartbeat."""
    await conn.execute(
        """update customer_exports set parts = parts || jsonb_build_object($2::text, $3::jsonb),
                  updated_at = clock_timestamp()
           where id = $1 and status = 'running'""", export_id, service, dict(outcome))


async def finish(conn: asyncpg.Connection, export_id: UUID, *, document: Mapping[str, Any] | None,
                 error: str | None, now: datetime) -> None:
    """Done with the document, or failed with the reason (an erasure meanwhile wins: nothing is kept)."""
    await conn.execute(
        """update customer_exports set status = case when $2::jsonb is null then 'failed' else 'done' end,
                  document = $2, error = $3, finished_at = $4, updated_at = clock_timestamp()
           where id = $1 and status = 'running'""",
        export_id, None if document is None else dict(document), error, now)


async def read(conn: asyncpg.Connection, customer_id: UUID, export_id: UUID) -> asyncpg.Record | None:
    """The export (of this customer only); a running one whose process died is marked failed first."""
    await conn.execute(
        """update customer_exports set status = 'failed', error = $3, updated_at = clock_timestamp()
           where id = $1 and status = 'running' and updated_at < clock_timestamp() - $2::interval""",
        export_id, STALE_AFTER, LOST)
    return await conn.fetchrow("select * from customer_exports where id = $1 and customer_id = $2",
                               export_id, customer_id)


async def requests_of(conn: asyncpg.Connection, people: Sequence[UUID]) -> list[dict[str, Any]]:
    """Who asked for these people's exports, when, and how each ended (never the documents)."""
    rows = await conn.fetch(
        """select id, customer_id, requested_by, self_service, status, requested_at, finished_at
           from customer_exports where customer_id = any($1::uuid[]) order by requested_at, id""", list(people))
    return [dict(r) for r in rows]


async def forget(conn: asyncpg.Connection, customer_id: UUID) -> int:
    """Erasure: the customer's export documents go (a running export keeps nothing); returns how many."""
    result = await conn.execute(
        """update customer_exports set document = null, status = 'erased', updated_at = clock_timestamp()
           where customer_id = $1 and (document is not null or status = 'running')""", customer_id)
    return int(result.split()[-1])
