"""The ``tickets`` read model, written inline in the command's transaction (thin SQL).

``PostgresReadModel`` is the command handlers' ``ReadModel`` port on one connection: ticketing's
tables (tickets, customer replica, calendars) through the thin functions of ``adapters/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.ticketing.adapters import calendars, replica
from services.ticketing.application.ports import KnownCustomer
from services.ticketing.domain.calendar import BusinessCalendar
from services.ticketing.domain.model import Ticket
from shared.contracts.ticketing import CalendarSpec
from shared.store.idempotent_commands import blank_stored_answers

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
KEPT_ON_UPDATE = frozenset(
    {"id", "kind", "channel", "category", "order_id", "opened_by", "subject", "description", "opened_at", "priority"}
)
"""Columns an update leaves as the opening wrote them (``resolution`` also keeps its text when none is given)."""

_UPSERT = (
    f"insert into tickets ({', '.join(name for name, _ in _COLUMNS)})"
    f" select {', '.join(name if name != 'queue_due' else 'coalesce(queue_due, $$infinity$$)' for name, _ in _COLUMNS)}"
    f" from unnest({', '.join(f'${i}::{kind}[]' for i, (_, kind) in enumerate(_COLUMNS, start=1))})"
    f" as u({', '.join(name for name, _ in _COLUMNS)})"
    " on conflict (id) do update set "
    + ", ".join(
        f"{name} = coalesce(excluded.{name}, tickets.{name})" if name == "resolution" else f"{name} = excluded.{name}"
        for name, _ in _COLUMNS
        if name not in KEPT_ON_UPDATE
    )
    + ", updated_at = clock_timestamp()"
)


def read_row(ticket: Ticket, personal: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The ``tickets`` row of ``ticket`` as :func:`save_tickets` writes it (``queue_due`` ``None``: infinity)."""
    clock = ticket.clock
    assert ticket.id is not None and clock is not None
    text = personal or {}
    return {
        "id": ticket.id,
        "customer_id": ticket.customer_id,
        "kind": ticket.kind,
        "channel": ticket.channel,
        "priority": ticket.priority,
        "category": ticket.category,
        "order_id": ticket.order_id,
        "status": ticket.status,
        "owner_id": ticket.owner_id,
        "opened_by": ticket.opened_by,
        "transfer_count": ticket.transfer_count,
        "escalation_level": ticket.escalation_level,
        "reopen_count": ticket.reopen_count,
        "customer_verified": ticket.customer_verified,
        "customer_tier": ticket.customer_tier,
        "subject": text.get("subject"),
        "description": text.get("description"),
        "resolution": text.get("resolution"),
        "root_cause": ticket.root_cause,
        "first_response_due": clock.first_response_due,
        "resolution_due": clock.resolution_due,
        "first_responded_at": clock.first_responded_at,
        "breached": ticket.breached,
        "queue_due": ticket.next_due,
        "opened_at": ticket.opened_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "version": ticket.version,
        "sla_calendar": ticket.sla_calendar,
    }


async def save_tickets(
    conn: asyncpg.Connection,
    tickets: Sequence[Ticket],
    *,
    personal: Mapping[UUID, Mapping[str, str | None]] | None = None,
) -> None:
    """Upsert the read rows of ``tickets`` in one statement.

    ``personal`` carries the free text the command brought (subject and description on opening,
    resolution on resolving): the read side keeps it in clear until the customer is erased.
    """
    personal = personal or {}
    columns: list[list[Any]] = [[] for _ in _COLUMNS]
    for t in tickets:
        assert t.id is not None
        row = read_row(t, personal.get(t.id))
        for column, (name, _) in zip(columns, _COLUMNS, strict=True):
            column.append(row[name])
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
    return await blank_stored_answers(conn, about="customer_id", ids=customer_ids, holding="description",
                                      fields=PERSONAL_ANSWER_FIELDS)


async def ticket_row(conn: asyncpg.Connection, ticket_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("select * from tickets where id = $1", ticket_id)


_SHOWN_AS_STORED = (
    "kind", "channel", "status", "priority", "category", "subject", "description", "owner_id", "opened_by",
    "transfer_count", "escalation_level", "reopen_count", "customer_verified", "customer_tier", "breached",
    "resolution", "root_cause", "version", "sla_calendar",
)
"""Columns the API shows as they are stored; ids and moments are converted by ``ticket_json``."""
_MOMENTS = ("first_response_due", "resolution_due", "first_responded_at", "opened_at", "resolved_at", "closed_at")


def ticket_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of a ``tickets`` row (times RFC 3339, ids as strings)."""
    queue_due = row["queue_due"]
    return {
        "id": str(row["id"]),
        "customer_id": str(row["customer_id"]),
        "order_id": None if row["order_id"] is None else str(row["order_id"]),
        **{column: row[column] for column in _SHOWN_AS_STORED},
        **{moment: api_time(row[moment]) for moment in _MOMENTS},
        "next_due_at": None if queue_due is None or is_infinite(queue_due) else api_time(queue_due),
    }


def api_time(value: datetime | None) -> str | None:
    """A moment as the API writes it (RFC 3339, ``Z`` for UTC)."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def is_infinite(value: datetime) -> bool:
    """Whether a ``timestamptz`` read back is PostgreSQL's ``infinity`` (nothing due)."""
    return value.year >= 9999


async def tickets_of_customer(conn: asyncpg.Connection, customer_id: UUID, *, unfinished_only: bool) -> list[UUID]:
    rows = await conn.fetch(
        "select id from tickets where customer_id = $1 and ($2 = false or status <> 'closed')",
        customer_id,
        unfinished_only,
    )
    return [r["id"] for r in rows]


class PostgresReadModel:
    """The command handlers' ``ReadModel`` on the connection of their unit of work."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def hold_customer(self, customer_id: UUID) -> None:
        await replica.hold(self._conn, customer_id)

    async def customer(self, customer_id: UUID) -> KnownCustomer | None:
        return await replica.find(self._conn, customer_id)

    async def erased_among(self, customer_ids: Sequence[UUID]) -> set[UUID]:
        return await replica.erased_among(self._conn, customer_ids)

    async def ticket(self, ticket_id: UUID) -> dict[str, Any] | None:
        row = await ticket_row(self._conn, ticket_id)
        return None if row is None else ticket_json(row)

    async def save_tickets(
        self, tickets: Sequence[Ticket], *, personal: Mapping[UUID, Mapping[str, str | None]] | None = None
    ) -> None:
        await save_tickets(self._conn, tickets, personal=personal)

    async def calendar_named(self, name: str) -> BusinessCalendar | None:
        return await calendars.calendar_named(self._conn, name)

    async def calendar_of_tier(self, tier: str) -> tuple[str | None, BusinessCalendar]:
        return await calendars.calendar_of_tier(self._conn, tier)

    async def calendar(self, name: str) -> dict[str, Any] | None:
        row = await calendars.calendar_row(self._conn, name)
        return None if row is None else calendars.calendar_body(row)

    async def save_calendar(self, name: str, spec: CalendarSpec, version: int) -> None:
        await calendars.save_calendar(self._conn, name, spec, version)

    async def lock_tiers(self, tiers: Sequence[str]) -> None:
        await calendars.lock_tiers(self._conn, tiers)

    async def tier_assignments(self) -> dict[str, str | None]:
        return await calendars.tier_assignments(self._conn)

    async def save_tier_assignments(self, tiers: Mapping[str, str | None]) -> None:
        await calendars.save_tier_assignments(self._conn, tiers)

    async def open_tickets_on_calendar(self, name: str, *, after: UUID | None, limit: int) -> list[UUID]:
        return await calendars.open_tickets_on_calendar(self._conn, name, after=after, limit=limit)

    async def open_tickets_of_tier(
        self, tier: str, calendar: str | None, *, after: UUID | None, limit: int
    ) -> list[UUID]:
        return await calendars.open_tickets_of_tier(self._conn, tier, calendar, after=after, limit=limit)
