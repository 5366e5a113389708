"""Thin SQL for export jobs (``customer_exports``): create, lease, record a part, finish, read, forget.

A running export is leased by the process running it (``lease_owner`` until ``lease_until``, see
migration 0007); every write of a job's progress is conditional on still holding the lease, so a
process that lost its job (stalled past the lease while another adopted it) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

STALE_AFTER = timedelta(seconds=120)
"""A running export whose lease ran out this long ago was adopted by no API process: it fails when read."""
LOST = "the process running this export stopped before it ended; request a new export"
GAVE_UP = "the export was restarted {runs} times and its process stopped each time; request a new export"


async def create(conn: asyncpg.Connection, export_id: UUID, customer_id: UUID, *, requested_by: str,
                 self_service: bool, services: Sequence[str], now: datetime,
                 lease: timedelta = timedelta(seconds=30)) -> None:
    """A running export, leased by nobody yet for ``lease`` (the requesting process claims it)."""
    await conn.execute(
        """insert into customer_exports (id, customer_id, requested_by, self_service, status, parts, requested_at,
                                         lease_until)
           values ($1, $2, $3, $4, 'running', $5, $6, clock_timestamp() + $7::interval)""",
        export_id, customer_id, requested_by, self_service, {s: {"status": "pending"} for s in services}, now, lease)


async def claim(conn: asyncpg.Connection, export_id: UUID, owner: str, lease: timedelta) -> bool:
    """Take a new export's lease (False: another process adopted it meanwhile)."""
    result = await conn.execute(
        """update customer_exports set lease_owner = $2, lease_until = clock_timestamp() + $3::interval
           where id = $1 and status = 'running' and (lease_owner is null or lease_owner = $2)""",
        export_id, owner, lease)
    return str(result).endswith(" 1")


async def renew(conn: asyncpg.Connection, export_id: UUID, owner: str, lease: timedelta) -> bool:
    """Extend the lease of a job this process runs (False: it ended, was erased or was adopted)."""
    result = await conn.execute(
        """update customer_exports set lease_until = clock_timestamp() + $3::interval
           where id = $1 and status = 'running' and lease_owner = $2""", export_id, owner, lease)
    return str(result).endswith(" 1")


async def give_up_exhausted(conn: asyncpg.Connection, max_runs: int) -> int:
    """Jobs whose lease ran out after ``max_runs`` starts fail with the reason; returns how many."""
    result = await conn.execute(
        """update customer_exports set status = 'failed', error = replace($2, '{runs}', runs::text),
                  finished_at = clock_timestamp(), updated_at = clock_timestamp(), lease_owner = null
           where status = 'running' and lease_until < clock_timestamp() and runs >= $1""", max_runs, GAVE_UP)
    return int(result.split()[-1])


async def adopt(conn: asyncpg.Connection, owner: str, lease: timedelta, *, limit: int = 10) -> list[asyncpg.Record]:
    """Lease running jobs whose process is gone and reset them to start again from scratch.

    One conditional update per job (``for update skip locked``): of two replicas adopting at once,
    each job goes to one. Every part is back to pending; ``runs`` counts this start.
    """
    return list(await conn.fetch(
        """with orphans as (
               select id from customer_exports
               where status = 'running' and lease_until < clock_timestamp()
               order by requested_at limit $3 for update skip locked)
           update customer_exports e
              set lease_owner = $1, lease_until = clock_timestamp() + $2::interval, runs = e.runs + 1,
                  parts = (select jsonb_object_agg(k, jsonb_build_object('status', 'pending'))
                           from jsonb_object_keys(e.parts) as k),
                  updated_at = clock_timestamp()
             from orphans where e.id = orphans.id
           returning e.id, e.customer_id, e.requested_at, e.requested_by, e.self_service, e.runs""",
        owner, lease, limit))


async def record_part(conn: asyncpg.Connection, export_id: UUID, service: str, outcome: Mapping[str, Any],
                      owner: str | None = None) -> None:
    """One service's part is done (or failed): progress for the status (only by the lease's holder)."""
    await conn.execute(
        """update customer_exports set parts = parts || jsonb_build_object($2::text, $3::jsonb),
                  updated_at = clock_timestamp()
           where id = $1 and status = 'running' and ($4::text is null or lease_owner = $4)""",
        export_id, service, dict(outcome), owner)


async def finish(conn: asyncpg.Connection, export_id: UUID, *, document: Mapping[str, Any] | None,
                 error: str | None, now: datetime, owner: str | None = None) -> None:
    """Done with the document, or failed with the reason (an erasure meanwhile wins: nothing is kept)."""
    await conn.execute(
        """update customer_exports set status = case when $2::jsonb is null then 'failed' else 'done' end,
                  document = $2, error = $3, finished_at = $4, updated_at = clock_timestamp(), lease_owner = null
           where id = $1 and status = 'running' and ($5::text is null or lease_owner = $5)""",
        export_id, None if document is None else dict(document), error, now, owner)


async def read(conn: asyncpg.Connection, customer_id: UUID, export_id: UUID) -> asyncpg.Record | None:
    """The export (of this customer only); one no API process adopted long after its lease is marked failed.

    Every API process adopts orphaned jobs within seconds (``exports.Adopter``), so this only fires
    when none runs the adoption (a job left by an older version).
    """
    await conn.execute(
        """update customer_exports set status = 'failed', error = $3, updated_at = clock_timestamp(),
                  finished_at = clock_timestamp(), lease_owner = null
           where id = $1 and status = 'running'
             and coalesce(lease_until, updated_at) < clock_timestamp() - $2::interval""",
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
