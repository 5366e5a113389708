"""Command handlers: one async function per command, each inside the caller's unit of work.

Every handler loads the ticket from its stream, lets the aggregate decide (raising
``shared.errors`` for broken rules), appends the new events with the version it loaded (optimistic
concurrency) and updates the ``tickets`` read row in the same transaction. ``now`` is passed in by
the caller (the API's clock), so tests control time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from services.ticketing.adapters import calendars, readmodel, replica
from services.ticketing.application.queries import ticket_json
from services.ticketing.domain.calendar import ALWAYS_OPEN
from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.sla import STANDARD_TIER, SlaPolicy, tier_for
from shared.errors import Gone, NotFound
from shared.events.catalog import DomainEvent
from shared.ids import new_id
from shared.store.eventstore import EventStore
from shared.store.idempotent_commands import CommandResult
from shared.store.uow import UnitOfWork
from shared.store.versions import ensure_version_matches
from shared.web.etag import etag_for

STREAM_TYPE = "ticket"


@dataclass(frozen=True, slots=True)
class TicketingPolicy:
    """The configured rules and SLA policy handlers apply."""

    rules: TicketRules
    sla: SlaPolicy


@dataclass(slots=True)
class Recorded:
    """The events the last attempt of a command recorded (a retried command overwrites them).

    Routes read it once the command committed, to count what happened (e.g. a first-contact owner)
    without reading the events back.
    """

    events: list[DomainEvent] = field(default_factory=list)

    def has(self, event_type: str) -> bool:
        return any(e.event_type == event_type for e in self.events)


@dataclass(frozen=True, slots=True)
class OpenTicket:
    """Command: record a customer's complaint, question, incident or request."""

    customer_id: UUID
    kind: str
    channel: str
    subject: str
    description: str
    priority: str = "normal"
    category: str | None = None
    order_id: UUID | None = None
    agent_id: str | None = None


async def load_ticket(uow: UnitOfWork, ticket_id: UUID) -> Ticket:
    """Rehydrate a ticket from its stream, with its calendar's definition; 404 when it never existed."""
    recorded = await uow.store.load(uow.conn, str(ticket_id))
    if not recorded:
        raise NotFound(f"ticket {ticket_id} does not exist", ticket_id=str(ticket_id))
    ticket = Ticket.rehydrate(r.event for r in recorded)
    if ticket.sla_calendar is not None:
        # Resuming or reopening counts business time on the ticket's calendar (read FOR SHARE: a
        # concurrent change of that calendar waits for this command, then re-plans its result).
        ticket.use_calendar(await calendars.calendar_named(uow.conn, ticket.sla_calendar) or ALWAYS_OPEN)
    return ticket


async def save_ticket(
    uow: UnitOfWork, ticket: Ticket, now: datetime, *, personal: dict[str, str | None] | None = None
) -> None:
    """Append the ticket's new events (keyed by its customer) and refresh its read row."""
    await persist_tickets(uow.conn, uow.store, [ticket], now, personal={ticket.id: personal} if personal else None)


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
    expected = ticket.expected_version
    events = ticket.pull_events()
    if events:
        await store.append(
            conn,
            stream_id=str(ticket.id),
            stream_type=STREAM_TYPE,
            expected_version=expected,
            events=events,
            subject=str(ticket.customer_id),
            occurred_at=now,
        )
    return len(events)


async def load_tickets(conn: asyncpg.Connection, store: EventStore, ticket_ids: Sequence[UUID]) -> list[Ticket]:
    """Rehydrate several tickets with one query (personal fields stay sealed: rules never read them)."""
    histories = await store.load_sealed(conn, [str(i) for i in ticket_ids])
    return [Ticket.rehydrate(history) for history in histories.values()]


async def open_ticket(uow: UnitOfWork, *, command: OpenTicket, policy: TicketingPolicy, now: datetime) -> CommandResult:
    """Open a ticket (ADR 0003: an unseen customer gives a provisional, flagged ticket)."""
    await replica.hold(uow.conn, command.customer_id)
    customer = await replica.find(uow.conn, command.customer_id)
    customer_id, tier, verified, manager = command.customer_id, STANDARD_TIER, False, None
    for _ in range(10):
        # A merged duplicate's tickets belong to the survivor (which may itself have been merged since);
        # a survivor the replica has not seen yet is known to exist: the duplicate's record stands for it.
        if customer is None or customer.status != "merged" or customer.merged_into is None:
            break
        customer_id = customer.merged_into
        survivor = await replica.find(uow.conn, customer_id)
        if survivor is None:
            break
        customer = survivor
    if customer is not None:
        if customer.status == "erased":
            raise Gone(f"customer {customer_id} was erased", customer_id=str(customer_id))
        tier, verified, manager = tier_for(customer.relationship_type), True, customer.account_manager_id
    calendar_name, calendar = await calendars.calendar_of_tier(uow.conn, tier)
    ticket = Ticket.open(
        ticket_id=new_id(),
        customer_id=customer_id,
        kind=command.kind,
        channel=command.channel,
        subject=command.subject,
        description=command.description,
        now=now,
        policy=policy.sla,
        priority=command.priority,
        category=command.category,
        order_id=command.order_id,
        agent_id=command.agent_id,
        account_manager_id=manager,
        customer_tier=tier,
        customer_verified=verified,
        calendar=calendar,
        calendar_name=calendar_name,
    )
    await save_ticket(uow, ticket, now, personal={"subject": command.subject, "description": command.description})
    return await ticket_answer(uow, ticket, status=201)


async def ticket_answer(uow: UnitOfWork, ticket: Ticket, *, status: int = 200) -> CommandResult:
    """The ticket's JSON (from its fresh read row) with ETag and Location."""
    assert ticket.id is not None
    row = await readmodel.ticket_row(uow.conn, ticket.id)
    assert row is not None
    return CommandResult(
        status,
        ticket_json(row),
        {"ETag": etag_for(ticket.version), "Location": f"/v1/tickets/{ticket.id}"},
    )


async def change_ticket(
    uow: UnitOfWork,
    *,
    ticket_id: UUID,
    expected_version: int | None,
    decide: Callable[[Ticket], Any],
    now: datetime,
    personal: dict[str, str | None] | None = None,
    status: int = 200,
    recorded: Recorded | None = None,
) -> CommandResult:
    """Load, check ``If-Match``, let the aggregate decide, save, answer: the shape of every update."""
    ticket = await load_ticket(uow, ticket_id)
    ensure_version_matches(expected_version, ticket.version)
    decide(ticket)
    if recorded is not None:
        recorded.events = ticket.pending
    await save_ticket(uow, ticket, now, personal=personal)
    return await ticket_answer(uow, ticket, status=status)


async def assign_ticket(
    uow: UnitOfWork, *, ticket_id: UUID, agent_id: str, by: str, expected_version: int | None, now: datetime
) -> CommandResult:
    """Give an unowned ticket its owner."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.assign(agent_id=agent_id, by=by, now=now),
    )


async def transfer_ticket(
    uow: UnitOfWork,
    *,
    ticket_id: UUID,
    to_agent_id: str,
    reason: str,
    note: str | None,
    by: str,
    expected_version: int | None,
    policy: TicketingPolicy,
    now: datetime,
) -> CommandResult:
    """Move ownership to another agent, with a reason."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.transfer(
            to_agent_id=to_agent_id, reason=reason, note=note, by=by, now=now, rules=policy.rules
        ),
    )


async def comment_on_ticket(
    uow: UnitOfWork,
    *,
    ticket_id: UUID,
    author_id: str,
    author_type: Literal["agent", "customer"],
    body: str,
    visibility: Literal["public", "internal"],
    expected_version: int | None,
    now: datetime,
    recorded: Recorded | None = None,
) -> CommandResult:
    """Add a comment to the conversation (a public agent reply makes its author the owner of an unowned ticket)."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        status=201,
        recorded=recorded,
        decide=lambda t: t.comment(
            comment_id=new_id(), author_id=author_id, author_type=author_type, body=body, visibility=visibility, now=now
        ),
    )


async def log_customer_contact(
    uow: UnitOfWork,
    *,
    ticket_id: UUID,
    agent_id: str,
    method: Literal["call", "email", "visit", "chat", "sms"],
    direction: Literal["inbound", "outbound"],
    summary: str | None,
    expected_version: int | None,
    now: datetime,
    recorded: Recorded | None = None,
) -> CommandResult:
    """Log a call, email or visit with the customer (its agent becomes the owner of an unowned ticket)."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        status=201,
        recorded=recorded,
        decide=lambda t: t.log_contact(
            contact_id=new_id(), agent_id=agent_id, method=method, direction=direction, summary=summary, now=now
        ),
    )


async def wait_for_customer(
    uow: UnitOfWork, *, ticket_id: UUID, by: str, expected_version: int | None, now: datetime
) -> CommandResult:
    """Pause the ticket while the customer owes an answer."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.wait_for_customer(by=by, now=now),
    )


async def resume_ticket(
    uow: UnitOfWork, *, ticket_id: UUID, by: str, expected_version: int | None, now: datetime
) -> CommandResult:
    """Resume work on a waiting or reopened ticket."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.resume(by=by, now=now),
    )


async def escalate_ticket(
    uow: UnitOfWork, *, ticket_id: UUID, by: str, note: str | None, expected_version: int | None, now: datetime
) -> CommandResult:
    """Escalate by hand."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.escalate(by=by, note=note, now=now),
    )


async def resolve_ticket(
    uow: UnitOfWork,
    *,
    ticket_id: UUID,
    resolution: str,
    root_cause: str | None,
    by: str,
    expected_version: int | None,
    policy: TicketingPolicy,
    now: datetime,
) -> CommandResult:
    """Resolve with a resolution text and (for complaints) a root cause."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        personal={"resolution": resolution},
        decide=lambda t: t.resolve(resolution=resolution, root_cause=root_cause, by=by, now=now, rules=policy.rules),
    )


async def reopen_ticket(
    uow: UnitOfWork,
    *,
    ticket_id: UUID,
    reason: str | None,
    by: str,
    expected_version: int | None,
    policy: TicketingPolicy,
    now: datetime,
) -> CommandResult:
    """Reopen a resolved ticket within the window."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.reopen(reason=reason, by=by, now=now, rules=policy.rules),
    )


async def close_ticket(
    uow: UnitOfWork, *, ticket_id: UUID, by: str, expected_version: int | None, now: datetime
) -> CommandResult:
    """Close a resolved ticket."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.close(by=by, now=now),
    )
