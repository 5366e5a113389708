"""The ``tickets`` read model, written inline in the command's transaction (thin SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from services.ticketing.domain.model import Ticket

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("customer_id", "uuid"),
    ("kind", "text"),
    ("channel", "text"),
    ("priority", "text"),
    ("category", "text"),
    ("order_id", "uuid"),
    ("status", "text"),
    ("owner_id", "text"),
    ("opened_by", "text"),
    ("transfer_count", "int"),
    ("escalation_level", "int"),
    ("reopen_count", "int"),
    ("customer_verified", "bool"),
    ("customer_tier", "text"),
    ("subject", "text"),
    ("description", "text"),
    ("resolution", "text"),
    ("root_cause", "text"),
    ("first_response_due", "timestamptz"),
    ("resolution_due", "timestamptz"),
    ("first_responded_at", "timestamptz"),
    ("breached", "bool"),
    ("queue_due", "timestamptz"),
    ("opened_at", "timestamptz"),
    ("resolved_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("version", "int"),
    ("sla_calendar", "text"),
)
_KEEP_ON_UPDATE = frozenset(
    {"id", "kind", "channel", "category", "order_id", "opened_by", "subject", "description", "opened_at", "priority"}
)

_UPSERT = (
    f"insert into tickets ({', '.join(name for name, _ in _COLUMNS)})"
    f" select {', '.join(name if name != 'queue_due' else 'coalesce(queue_due, $$infinity$$)' for name, _ in _COLUMNS)}"
    f" from unnest({', '.join(f'${i}::{kind}[]' for i, (_, kind) in enumerate(_COLUMNS, start=1))})"
    f" as u({', '.join(name for name, _ in _COLUMNS)})"
    " on conflict (id) do update set "
    + ", ".join(
        f"{name} = coalesce(excluded.{name}, tickets.{name})" if name == "resolution" else f"{name} = excluded.{name}"
        for name, _ in _COLUMNS
        if name not in _KEEP_ON_UPDATE
    )
    + ", updated_at = clock_timestamp()"
)


async def save_tickets(
    conn: asyncpg.Connection,
    tickets: Sequence[Ticket],
    *,
    personal: dict[UUID, dict[str, str | None]] | None = None,
) -> None:
    """Upsert the read rows of ``tickets`` in one statement.

    ``personal`` carries the free text the command brought (subject and description on opening,
    resolution on resolving): the read side keeps it in clear until the customer is erased.
    """
    personal = personal or {}
    columns: list[list[Any]] = [[] for _ in _COLUMNS]
    for t in tickets:
        clock = t.clock
        assert t.id is not None and clock is not None
        text = personal.get(t.id, {})
        row = (
            t.id,
            t.customer_id,
            t.kind,
            t.channel,
            t.priority,
            t.category,
            t.order_id,
            t.status,
            t.owner_id,
            t.opened_by,
            t.transfer_count,
            t.escalation_level,
            t.reopen_count,
            t.customer_verified,
            t.customer_tier,
            text.get("subject"),
            text.get("description"),
            text.get("resolution"),
            t.root_cause,
            clock.first_response_due,
            clock.resolution_due,
            clock.first_responded_at,
            t.breached,
            t.next_due,
            t.opened_at,
            t.resolved_at,
            t.closed_at,
            t.version,
            t.sla_calendar,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    await conn.execute(_UPSERT, *columns)


async def erase_personal_text(conn: asyncpg.Connection, customer_ids: Sequence[UUID]) -> int:
    """Forget every ticket's free text for these customers; returns how many tickets changed."""
    result = await conn.execute(
        """update tickets set subject = null, description = null, resolution = null, updated_at = clock_timestamp()
           where customer_id = any($1::uuid[])
             and (subject is not null or description is not null or resolution is not null)""",
        list(customer_ids),
    )
    return int(result.split()[-1])


PERSONAL_ANSWER_FIELDS = ("subject", "description", "resolution")
"""Personal fields of a ticket body (``TicketRead``) that a stored idempotent answer may hold."""


async def forget_stored_answers(conn: asyncpg.Connection, customer_ids: Sequence[UUID]) -> int:
    """Blank the free text of stored ``Idempotency-Key`` answers about these customers' tickets.

    Opening, commenting on or resolving a ticket answers with the ticket, and that answer is kept
    for replays: without this the erased customer's words would outlive the erasure there.
    """
    result = await conn.execute(
        """update idempotency_keys set body = body || $2
           where jsonb_typeof(body) = 'object' and body->>'customer_id' = any($1::text[])
             and body ? 'description'""",
        [str(c) for c in customer_ids],
        dict.fromkeys(PERSONAL_ANSWER_FIELDS),
    )
    return int(result.split()[-1])


async def ticket_row(conn: asyncpg.Connection, ticket_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("select * from tickets where id = $1", ticket_id)


async def tickets_of_customer(conn: asyncpg.Connection, customer_id: UUID, *, unfinished_only: bool) -> list[UUID]:
    rows = await conn.fetch(
        "select id from tickets where customer_id = $1 and ($2 = false or status <> 'closed')",
        customer_id,
        unfinished_only,
    )
    return [r["id"] for r in rows]
