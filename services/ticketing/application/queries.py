"""Read side: the ticket with its history, the queue, and SLA back-testing over recorded history."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.ticketing.adapters import readmodel
from services.ticketing.adapters.readmodel import api_time, is_infinite, ticket_json
from services.ticketing.domain.calendar import BusinessCalendar
from services.ticketing.domain.simulation import SimulationReport, event_time, simulate
from services.ticketing.domain.sla import SlaPolicy
from shared.contracts.ticketing import TicketCommented
from shared.errors import InvalidInput, NotFound
from shared.store.eventstore import EventStore

_STAFF_NOTES: dict[str, tuple[str, ...]] = {
    "TicketTransferred": ("note",),
    "TicketEscalated": ("note",),
    "CustomerContacted": ("summary",),
}
"""Free text staff write for each other (why a ticket moved or went up, what a call was about): like
internal comments, it is not shown to the customer in their own ticket's history."""
_INFINITY = datetime.max  # asyncpg sends the naive maximum as PostgreSQL 'infinity'
SORTS = ("due", "newest")


async def get_ticket(
    conn: asyncpg.Connection, store: EventStore, ticket_id: UUID, *, include_internal: bool
) -> dict[str, Any]:
    """The ticket with its full history (internal comments only for staff)."""
    row = await readmodel.ticket_row(conn, ticket_id)
    if row is None:
        raise NotFound(f"ticket {ticket_id} does not exist", ticket_id=str(ticket_id))
    recorded = await store.load(conn, str(ticket_id))
    history = []
    for r in recorded:
        event = r.event
        if isinstance(event, TicketCommented) and event.visibility == "internal" and not include_internal:
            continue
        data = event.model_dump(mode="json", exclude={"ticket_id"})
        if not include_internal:
            data.update(dict.fromkeys(_STAFF_NOTES.get(r.event_type, ()), None))
        at = api_time(event_time(event) or r.occurred_at)
        history.append({"version": r.version, "type": r.event_type, "at": at, "data": data})
    return {**ticket_json(row), "history": history}


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What ``GET /v1/tickets`` filters on (all optional)."""

    customer_id: UUID | None = None
    owner_id: str | None = None
    status: Sequence[str] = ()
    kind: str | None = None
    priority: str | None = None
    breached: bool | None = None
    customer_verified: bool | None = None


async def list_tickets(
    conn: asyncpg.Connection, filters: TicketFilter, *, limit: int, cursor: str | None, sort: str = "due"
) -> dict[str, Any]:
    """A page of tickets; ``due`` puts what breaches next first (the agent's queue)."""
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of: {', '.join(SORTS)}", field="sort")
    after = _decode_cursor(cursor, sort) if cursor else None
    where = [
        "($1::uuid is null or customer_id = $1)",
        "($2::text is null or owner_id = $2)",
        "(cardinality($3::text[]) = 0 or status = any($3::text[]))",
        "($4::text is null or kind = $4)",
        "($5::text is null or priority = $5)",
        "($6::bool is null or breached = $6)",
        "($7::bool is null or customer_verified = $7)",
    ]
    args: list[Any] = [
        filters.customer_id,
        filters.owner_id,
        list(filters.status),
        filters.kind,
        filters.priority,
        filters.breached,
        filters.customer_verified,
    ]
    if sort == "due":
        order = "queue_due, id"
        if after is not None:
            where.append("(queue_due, id) > ($8::timestamptz, $9::uuid)")
            args += list(after)
    else:
        order = "opened_at desc, id desc"
        if after is not None:
            where.append("(opened_at, id) < ($8::timestamptz, $9::uuid)")
            args += list(after)
    rows = await conn.fetch(
        f"select * from tickets where {' and '.join(where)} order by {order} limit {int(limit) + 1}", *args
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = _encode_cursor(last["queue_due"] if sort == "due" else last["opened_at"], last["id"], sort)
    return {"items": [ticket_json(r) for r in page], "next_cursor": next_cursor}


_SIMULATED_TYPES = [
    "TicketOpened",
    "TicketCommented",
    "CustomerContacted",
    "TicketWaitingOnCustomer",
    "TicketResumed",
    "TicketResolved",
    "TicketReopened",
    "TicketClosed",
    "SlaBreached",
]


async def simulate_policy(
    conn: asyncpg.Connection,
    store: EventStore,
    policy: SlaPolicy,
    now: datetime,
    *,
    opened_since: datetime | None = None,
    calendar_for: Callable[[str], BusinessCalendar] | None = None,
) -> SimulationReport:
    """Replay every recorded ticket (opened since ``opened_since``) under ``policy`` and each tier's calendar.

    Events are decoded without decrypting: the SLA replay reads only times and flags, never the
    personal free text, so erased customers' tickets still count.
    """
    histories = await store.load_type_sealed(
        conn,
        "ticket",
        event_types=_SIMULATED_TYPES,
        opened=("TicketOpened", opened_since) if opened_since is not None else None,
    )
    return simulate(histories.values(), policy, now, calendar_for)


def report_json(report: SimulationReport) -> dict[str, Any]:
    return asdict(report)


def _encode_cursor(value: datetime, ticket_id: UUID, sort: str) -> str:
    moment = "infinity" if is_infinite(value) else value.isoformat()
    return base64.urlsafe_b64encode(orjson.dumps([sort, moment, str(ticket_id)])).decode()


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, UUID]:
    try:
        cursor_sort, moment, ticket_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if cursor_sort != sort:
            raise ValueError("cursor was made for another sort")
        when: Any = _INFINITY if moment == "infinity" else datetime.fromisoformat(moment)
        return when, UUID(ticket_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("cursor is not valid for this list; start again without it", field="cursor") from exc
