"""Import use case: an enterprise's past tickets as this service's own events (issue 18, ADR 0009).

Each ticket record is decided by the ``Ticket`` aggregate exactly as live commands would be, with the
source's times as ``now``: ``open`` at ``occurred_at``; for a resolved or closed ticket, its owner
takes it (``assign``), ``resolve`` at ``resolved_at`` with the root cause, then ``close``. The SLA
clock therefore judges the past as it happened (breaches of 2020 are 2020's). A delta (a ticket now
resolved) appends only the events from its current status to the new one.

Customers are named by source id; the importer resolves them through the customer service first
(``customers``: source id → customer id) and passes the ids in. Ticketing never reads the customer
database: a source id missing from ``customers`` is a reject ("unknown reference").

A batch is one transaction: events and outbox rows (``EventStore.append_many``, marked as imported
history), the tickets' read rows and the import ledger commit together, so every record is all in
or all out and a re-run creates nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.ticketing.adapters import calendars, readmodel
from services.ticketing.application.batches import load_tickets
from services.ticketing.application.handlers import STREAM_TYPE, TicketingPolicy
from services.ticketing.domain.calendar import BusinessCalendar
from services.ticketing.domain.model import Ticket
from services.ticketing.domain.sla import STANDARD_TIER, tier_for
from shared.clock import Clock, SystemClock, utc_now
from shared.contracts.ticketing import TicketOpened
from shared.errors import PlatformError
from shared.importing import ledger
from shared.importing.batches import write_batch
from shared.importing.records import Numbered, TicketRecord, fingerprint
from shared.importing.results import BatchResult
from shared.store.eventstore import EventStore, StreamAppend

KINDS = ("ticket",)
IMPORT_AGENT = "import"
"""Owner of a resolved ticket whose record names none (someone resolved it; the source did not say who)."""


class _Refused(Exception):
    pass


async def import_batch(pool: asyncpg.Pool, store: EventStore, records: Sequence[Numbered],
                       customers: Mapping[str, UUID], policy: TicketingPolicy,
                       now: datetime | None = None) -> BatchResult:
    """Import a batch in one transaction; if it loses a race with a live writer, record by record.

    ``now`` is the import's time: the SLA clocks of tickets still open in the source start then.
    """
    moment = now or utc_now()
    return await write_batch(pool, records, lambda conn, some: _import(conn, store, some, customers, policy, moment))


async def _import(conn: asyncpg.Connection, store: EventStore, records: Sequence[Numbered],
                  customers: Mapping[str, UUID], policy: TicketingPolicy, now: datetime) -> BatchResult:
    result = BatchResult()
    known = await ledger.lookup(conn, ((n.record.kind, n.record.source_id) for n in records))
    changed = [e.entity_id for n in records for e in [known.get(("ticket", n.record.source_id))]
               if e is not None and e.fingerprint != fingerprint(n.record)]
    loaded = {t.id: t for t in await load_tickets(conn, store, changed)} if changed else {}
    tiers = await _tiers(conn, {customers[n.record.customer_source_id] for n in records
                                if n.record.customer_source_id in customers})
    tier_calendars: dict[str, tuple[str | None, BusinessCalendar]] = {}
    tickets: dict[UUID, Ticket] = {}
    streams: dict[UUID, StreamAppend] = {}
    personal: dict[UUID, dict[str, str | None]] = {}
    entries: dict[ledger.Key, ledger.LedgerEntry] = {}
    for numbered in records:
        record: TicketRecord = numbered.record
        entry, digest = ledger.entry_of(record, entries, known), fingerprint(record)
        if entry is not None and entry.fingerprint == digest:
            result.unchanged += 1
            continue
        try:
            if entry is None:
                customer_id = customers.get(record.customer_source_id)
                if customer_id is None:
                    raise _Refused(f"unknown reference: no customer with source_id {record.customer_source_id!r} "
                                   "earlier in the input or imported before")
                tier, manager = tiers.get(customer_id, (STANDARD_TIER, None))
                if tier not in tier_calendars:  # the tier's calendar, like a ticket opened through the API
                    tier_calendars[tier] = await calendars.calendar_of_tier(conn, tier)
                calendar_name, calendar = tier_calendars[tier]
                ticket = Ticket.open(
                    ticket_id=ledger.entity_id("ticket", record.source_id), customer_id=customer_id,
                    kind=record.ticket_kind, channel=record.channel, subject=record.subject,
                    description=record.description, now=record.occurred_at, policy=policy.sla,
                    priority=record.priority, account_manager_id=manager, customer_tier=tier, customer_verified=True,
                    calendar=calendar, calendar_name=calendar_name,
                )
                if record.status == "open":
                    ticket = _clocks_from(ticket, now)
                expected = 0
            else:
                current = tickets.get(entry.entity_id) or loaded.get(entry.entity_id)
                if current is None:
                    raise _Refused(f"ticket {entry.entity_id} is in the ledger but not in the event store")
                ticket = copy.deepcopy(current)
                expected = ticket.version
            _advance(ticket, record, policy)
        except (_Refused, PlatformError) as exc:
            result.rejects.append(numbered.reject(str(exc)))
            continue
        events = ticket.pull_events()
        assert ticket.id is not None
        previous = streams.get(ticket.id)
        if previous is None:
            streams[ticket.id] = StreamAppend(stream_id=str(ticket.id), stream_type=STREAM_TYPE,
                                              expected_version=expected, subject=str(ticket.customer_id),
                                              events=events, times=_times(events, record))
        else:
            streams[ticket.id] = StreamAppend(stream_id=previous.stream_id, stream_type=STREAM_TYPE,
                                              expected_version=previous.expected_version, subject=previous.subject,
                                              events=[*previous.events, *events],
                                              times=[*previous.times, *_times(events, record)])
        tickets[ticket.id] = ticket
        if entry is None:
            personal[ticket.id] = {"subject": record.subject, "description": record.description}
        if record.resolution is not None:
            personal.setdefault(ticket.id, {})["resolution"] = record.resolution
        entries[ledger.key_of(record)] = ledger.LedgerEntry("ticket", record.source_id, ticket.id,
                                                            ticket.customer_id, digest, "created")
        if entry is None:
            result.created += 1
        elif events:
            result.updated += 1
        else:
            result.unchanged += 1
    result.events = await store.append_many(conn, list(streams.values()), history=True)
    if tickets:
        await readmodel.save_tickets(conn, list(tickets.values()), personal=personal)
    await ledger.record(conn, list(entries.values()))
    return result


def _times(events: Sequence[Any], record: TicketRecord) -> list[datetime]:
    """Each event's moment: the time it says it happened at, else the record's."""
    return [_event_time(e) or record.occurred_at for e in events]


def _event_time(event: Any) -> datetime | None:
    """Read from the instance's fields: ``getattr`` with a default on a pydantic model goes through its
    ``__getattr__`` and an exception per missing name (~140 us a ticket in the importer's profile)."""
    fields = event.__dict__
    for name in ("opened_at", "filed_at", "assigned_at", "breached_at", "escalated_at", "resolved_at", "closed_at"):
        value = fields.get(name)
        if isinstance(value, datetime):
            return value
    return None


def _clocks_from(ticket: Ticket, now: datetime) -> Ticket:
    """A ticket still open in the source gets its SLA targets from the import on, not from its past.

    Its history keeps the source's ``opened_at`` (timeline, age, KPIs), but no support team can have
    answered in 2023 a ticket it receives today: judged from ``opened_at``, every imported open ticket
    would breach at the scheduler's next tick, escalate and alert for nothing. So the first response
    and resolution are due ``now`` plus the targets in business time on the ticket's calendar
    (unless the source's clock still runs later); a breach is then a real one, of this team, after
    the import.
    """
    calendar = ticket.calendar
    assert ticket.clock is not None
    targets = ticket.clock.targets
    events = ticket.pull_events()
    opened = events[0]
    assert isinstance(opened, TicketOpened)
    shifted = opened
    if opened.first_response_due < now:
        shifted = opened.model_copy(update={
            "first_response_due": calendar.add(now, targets.first_response),
            "resolution_due": max(opened.resolution_due, calendar.add(now, targets.resolution)),
        })
    events = [shifted, *events[1:]]  # a complaint's ComplaintFiled follows unchanged
    restarted = Ticket.rehydrate(events)
    restarted.use_calendar(calendar)
    restarted.version = 0
    restarted._pending = events
    return restarted


def _advance(ticket: Ticket, record: TicketRecord, policy: TicketingPolicy) -> None:
    """Move the ticket to the record's status (the domain's own transitions, at the source's times)."""
    target = record.status
    status = ticket.status
    if target == "open":
        if status not in ("open", "in_progress", "waiting_customer"):
            raise _Refused(f"status: a ticket that is {status} cannot become open again by import")
    else:
        at = record.resolved_at or record.occurred_at
        owner = record.owner_id or IMPORT_AGENT
        if status in ("open",):
            ticket.assign(agent_id=owner, by=owner, now=at)
        if ticket.status in ("in_progress", "waiting_customer"):
            ticket.resolve(resolution=record.resolution or "resolved in the source system",
                           root_cause=record.root_cause, by=owner, now=at, rules=policy.rules)
        if target == "closed" and ticket.status == "resolved":
            ticket.close(by=owner, now=at)
        if target == "resolved" and ticket.status == "closed":
            raise _Refused("status: a closed ticket cannot become resolved again by import")


async def _tiers(conn: asyncpg.Connection, customer_ids: set[UUID]) -> dict[UUID, tuple[str, str | None]]:
    """SLA tier and account manager of the customers ticketing already knows (standard for the rest)."""
    if not customer_ids:
        return {}
    rows = await conn.fetch(
        "select customer_id, relationship_type, account_manager_id from customer_replica where customer_id = any($1)",
        list(customer_ids))
    return {r["customer_id"]: (tier_for(r["relationship_type"]), r["account_manager_id"]) for r in rows}


@dataclass
class Importer:
    """Ticketing's import use case bound to its database (``shared.importing`` drives it)."""

    pool: asyncpg.Pool
    store: EventStore
    policy: TicketingPolicy
    kinds: tuple[str, ...] = KINDS
    pipelined: bool = False
    clock: Clock = field(default_factory=SystemClock)
    """The import's time (the SLA clocks of tickets still open start then)."""

    async def import_batch(self, records: Sequence[Numbered], customers: Mapping[str, UUID]) -> BatchResult:
        return await import_batch(self.pool, self.store, records, customers, self.policy, self.clock.now())

    async def close(self) -> None:
        await self.pool.close()
