"""The ``customer_replica`` table: what ticketing knows about customers from ``customer.events``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg

from services.ticketing.application.ports import KnownCustomer

CUSTOMER_LOCK_SPACE = 0x7469636B
"""First key of the two-key advisory locks that :func:`hold` takes (its own space: no other lock collides)."""


async def hold(conn: asyncpg.Connection, customer_id: UUID) -> None:
    """Serialise, until this transaction ends, what happens to one customer's tickets and replica row.

    Opening a ticket reads the replica, and a registration looks for the customer's provisional
    tickets; without a common lock each can run before the other commits, and the ticket stays
    provisional for good (seen in CI: the registration arrived while the ticket was being opened).
    """
    await conn.execute("select pg_advisory_xact_lock($1, hashtext($2))", CUSTOMER_LOCK_SPACE, str(customer_id))


async def find(conn: asyncpg.Connection, customer_id: UUID) -> KnownCustomer | None:
    row = await conn.fetchrow(
        "select customer_id, relationship_type, account_manager_id, status, merged_into"
        " from customer_replica where customer_id = $1",
        customer_id,
    )
    return None if row is None else KnownCustomer(**dict(row))


async def erased_among(conn: asyncpg.Connection, customer_ids: Sequence[UUID]) -> set[UUID]:
    """The customers among ``customer_ids`` who were erased, directly or as a duplicate of an erased survivor."""
    rows = await conn.fetch(
        """select r.customer_id from customer_replica r
           left join customer_replica s on s.customer_id = r.merged_into
           where r.customer_id = any($1::uuid[]) and (r.status = 'erased' or s.status = 'erased')""",
        list(customer_ids),
    )
    return {r["customer_id"] for r in rows}


async def known_ids(conn: asyncpg.Connection, customer_ids: list[UUID]) -> set[UUID]:
    rows = await conn.fetch(
        "select customer_id from customer_replica where customer_id = any($1::uuid[])", customer_ids
    )
    return {r["customer_id"] for r in rows}


async def register(
    conn: asyncpg.Connection, customer_id: UUID, relationship_type: str | None, registered_at: datetime | None
) -> None:
    await conn.execute(
        """insert into customer_replica (customer_id, relationship_type, registered_at) values ($1, $2, $3)
           on conflict (customer_id) do update set
               relationship_type = coalesce(excluded.relationship_type, customer_replica.relationship_type),
               registered_at = coalesce(customer_replica.registered_at, excluded.registered_at),
               updated_at = clock_timestamp()""",
        customer_id,
        relationship_type,
        registered_at,
    )


async def set_relationship_type(conn: asyncpg.Connection, customer_id: UUID, relationship_type: str) -> None:
    await _set_column(conn, customer_id, "relationship_type", relationship_type)


async def set_account_manager(conn: asyncpg.Connection, customer_id: UUID, account_manager_id: str) -> None:
    await _set_column(conn, customer_id, "account_manager_id", account_manager_id)


async def _set_column(
    conn: asyncpg.Connection, customer_id: UUID, column: Literal["relationship_type", "account_manager_id"], value: str
) -> None:
    """Upsert one replica column; ``column`` is one of the literal names above, never caller text."""
    await conn.execute(
        f"""insert into customer_replica (customer_id, {column}) values ($1, $2)
           on conflict (customer_id) do update set {column} = excluded.{column},
               updated_at = clock_timestamp()""",
        customer_id,
        value,
    )


async def mark_merged(conn: asyncpg.Connection, duplicate_id: UUID, survivor_id: UUID) -> None:
    await conn.execute(
        """insert into customer_replica (customer_id, status, merged_into) values ($1, 'merged', $2)
           on conflict (customer_id) do update set status = 'merged', merged_into = excluded.merged_into,
               updated_at = clock_timestamp()""",
        duplicate_id,
        survivor_id,
    )


async def mark_unmerged(conn: asyncpg.Connection, duplicate_id: UUID) -> None:
    await conn.execute(
        """update customer_replica set status = 'active', merged_into = null, updated_at = clock_timestamp()
           where customer_id = $1 and status = 'merged'""",
        duplicate_id,
    )


async def mark_erased(conn: asyncpg.Connection, customer_id: UUID) -> list[UUID]:
    """Mark the customer erased; returns them and every duplicate merged into them (same person)."""
    rows = await conn.fetch(
        """with target as (
               insert into customer_replica (customer_id, status) values ($1, 'erased')
               on conflict (customer_id) do update set status = 'erased', account_manager_id = null,
                   updated_at = clock_timestamp()
               returning customer_id)
           select customer_id from target
           union select customer_id from customer_replica where merged_into = $1""",
        customer_id,
    )
    return [r["customer_id"] for r in rows]
