"""Tickets loaded and saved many at a time on the caller's connection, for ticketing's background work.

The SLA scheduler, the customer-replica consumer and the importer run outside ``run_and_respond``
with a connection and the event store of their own; the command handlers (``handlers.py``) do the
same through their ``Work`` port instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.ticketing.adapters import readmodel, replica
from services.ticketing.application.handlers import pending_append
from services.ticketing.domain.model import Ticket
from shared.store.eventstore import EventStore


async def persist_tickets(
    conn: asyncpg.Connection,
    store: EventStore,
    tickets: Sequence[Ticket],
    now: datetime,
    *,
    personal: dict[UUID | None, dict[str, str | None]] | None = None,
) -> None:
    """Append each ticket's pending events in the caller's transaction, then upsert their read rows at once.

    ``personal`` free text is kept in the read row only while the ticket's customer is not erased: the
    event store already stores ``None`` for an erased subject, and the read side (and the idempotent
    answer built from it) must not hold in clear what the event store cannot.
    """
    for ticket in tickets:
        await append_pending(conn, store, ticket, now)
    if tickets:
        text = {k: v for k, v in (personal or {}).items() if k is not None}
        if text:
            owners = {t.id: t.customer_id for t in tickets if t.id in text and t.customer_id is not None}
            erased = await replica.erased_among(conn, list(set(owners.values())))
            text = {k: v for k, v in text.items() if owners.get(k) not in erased}
        await readmodel.save_tickets(conn, tickets, personal=text)


async def append_pending(conn: asyncpg.Connection, store: EventStore, ticket: Ticket, now: datetime) -> int:
    """Append the ticket's pending events to its stream (subject: its customer); returns how many."""
    append = pending_append(ticket, now)
    if append is None:
        return 0
    await store.append(conn, **append)
    return len(append["events"])


async def load_tickets(conn: asyncpg.Connection, store: EventStore, ticket_ids: Sequence[UUID]) -> list[Ticket]:
    """Rehydrate several tickets with one query (personal fields stay sealed: rules never read them)."""
    histories = await store.load_sealed(conn, [str(i) for i in ticket_ids])
    return [Ticket.rehydrate(history) for history in histories.values()]
