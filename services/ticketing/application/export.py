"""Ticketing's part of a customer's export (right of access, issue 20.1; ``shared.privacy.export``).

Every ticket of the customer (and of duplicates merged into them) with its whole history: the
conversation (public and internal comments, contacts), assignments and transfers with their reasons,
escalations, SLA breaches and the resolution; what ticketing knows of the customer (its replica);
the import records that name them; and every ticketing event about them, opened with our key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.ticketing.application import queries
from shared.privacy.export import Coverage, event_json, part, table_rows
from shared.store.eventstore import EventStore

COVERAGE = Coverage(
    exported={
        "tickets": "tickets",
        "customer_replica": "customer_replica",
        "import_ledger": "import_records",
    },
    not_personal={},
)


async def export_part(
    conn: asyncpg.Connection, store: EventStore, customer_id: UUID, *, now: datetime
) -> dict[str, Any]:
    """Everything ticketing holds about the customer."""
    duplicates = await conn.fetch("select customer_id from customer_replica where merged_into = $1", customer_id)
    people = [str(customer_id), *(str(r["customer_id"]) for r in duplicates)]
    ticket_ids = await conn.fetch(
        "select id from tickets where customer_id = any($1::uuid[]) order by opened_at, id", people)
    tickets = [await queries.get_ticket(conn, store, r["id"], include_internal=True) for r in ticket_ids]
    events = [e for person in people for e in await store.load_subject(conn, person)]
    return part("ticketing", COVERAGE, {
        "tickets": tickets,
        "customer_replica": await table_rows(conn, "customer_replica", people),
        "import_records": await table_rows(conn, "import_ledger", people, order_by="imported_at"),
        "events": [event_json(e) for e in sorted(events, key=lambda e: e.position)],
    }, now=now)
