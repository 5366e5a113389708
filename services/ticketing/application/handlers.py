"""Command handlers: one async function per command, each on the caller's unit of work (``Work[ReadModel]``).

Every handler loads the ticket from its stream, lets the aggregate decide (raising
``shared.errors`` for broken rules), appends the new events with the version it loaded (optimistic
concurrency) and updates the ticket's read row in the same transaction, through the ``ReadModel``
port only: so each runs on PostgreSQL (``run_and_respond``) or in memory (unit tests) alike. They
return outcomes (``shared.store.outcomes``); ``api/`` turns them into status, ETag and Location.
``now`` is passed in by the caller (the API's clock), so tests control time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from services.ticketing.application.ports import ReadModel
from services.ticketing.domain.calendar import ALWAYS_OPEN
from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.sla import STANDARD_TIER, SlaPolicy, tier_for
from shared.errors import Gone, NotFound
from shared.events.catalog import DomainEvent
from shared.ids import new_id
from shared.store.eventstore import AppendArgs
from shared.store.outcomes import Created, Updated
from shared.store.ports import EventLog, Work
from shared.store.versions import ensure_version_matches

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


async def load_ticket(uow: Work[ReadModel], ticket_id: UUID) -> Ticket:
    """Rehydrate a ticket from its stream, with its calendar's definition; 404 when it never existed."""
    recorded = await uow.load(str(ticket_id))
    if not recorded:
        raise NotFound(f"ticket {ticket_id} does not exist", ticket_id=str(ticket_id))
    ticket = Ticket.rehydrate(r.event for r in recorded)
    if ticket.sla_calendar is not None:
        # Resuming or reopening counts business time on the ticket's calendar (read FOR SHARE: a
        # concurrent change of that calendar waits for this command, then re-plans its result).
        ticket.use_calendar(await uow.rows.calendar_named(ticket.sla_calendar) or ALWAYS_OPEN)
    return ticket


async def save_ticket(
    uow: Work[ReadModel], ticket: Ticket, now: datetime, *, personal: dict[str, str | None] | None = None
) -> None:
    """Append the ticket's new events (keyed by its customer) and refresh its read row.

    ``personal`` free text is kept in the read row only while the ticket's customer is not erased: the
    event store already stores ``None`` for an erased subject, and the read side (and the idempotent
    answer built from it) must not hold in clear what the event store cannot.
    """
    assert ticket.id is not None
    await append_ticket_events(uow, ticket, now)
    if personal and ticket.customer_id is not None and await uow.rows.erased_among([ticket.customer_id]):
        personal = None
    await uow.rows.save_tickets([ticket], personal={ticket.id: personal} if personal else None)


def pending_append(ticket: Ticket, now: datetime) -> AppendArgs | None:
    """Take the ticket's pending events as one append to its stream (subject: its customer); None when none.

    Spelled once for both ways a ticket is saved: through the ``Work`` port (``append_ticket_events``)
    and on a connection of its own (``batches.append_pending``), so the stream's keys cannot drift apart.
    """
    expected, events = ticket.expected_version, ticket.pull_events()
    if not events:
        return None
    return AppendArgs(
        stream_id=str(ticket.id),
        stream_type=STREAM_TYPE,
        expected_version=expected,
        events=events,
        subject=str(ticket.customer_id),
        occurred_at=now,
    )


async def append_ticket_events(uow: EventLog, ticket: Ticket, now: datetime) -> int:
    """Append the ticket's pending events to its stream (subject: its customer); returns how many."""
    append = pending_append(ticket, now)
    if append is None:
        return 0
    await uow.append(**append)
    return len(append["events"])


async def open_ticket(
    uow: Work[ReadModel], *, command: OpenTicket, policy: TicketingPolicy, now: datetime
) -> Created:
    """Open a ticket (ADR 0003: an unseen customer gives a provisional, flagged ticket)."""
    await uow.rows.hold_customer(command.customer_id)
    customer = await uow.rows.customer(command.customer_id)
    customer_id, tier, verified, manager = command.customer_id, STANDARD_TIER, False, None
    for _ in range(10):
        # A merged duplicate's tickets belong to the survivor (which may itself have been merged since);
        # a survivor the replica has not seen yet is known to exist: the duplicate's record stands for it.
        if customer is None or customer.status != "merged" or customer.merged_into is None:
            break
        customer_id = customer.merged_into
        survivor = await uow.rows.customer(customer_id)
        if survivor is None:
            break
        customer = survivor
    if customer is not None:
        if customer.status == "erased":
            raise Gone(f"customer {customer_id} was erased", customer_id=str(customer_id))
        tier, verified, manager = tier_for(customer.relationship_type), True, customer.account_manager_id
    calendar_name, calendar = await uow.rows.calendar_of_tier(tier)
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
    return Created(await ticket_body(uow, ticket), resource_id=str(ticket.id), version=ticket.version)


async def ticket_body(uow: Work[ReadModel], ticket: Ticket) -> dict[str, Any]:
    """The ticket as the API shows it, from its fresh read row (so the answer reads like a GET)."""
    assert ticket.id is not None
    body = await uow.rows.ticket(ticket.id)
    assert body is not None, "the ticket's read row was just saved"
    return body


async def change_ticket(
    uow: Work[ReadModel],
    *,
    ticket_id: UUID,
    expected_version: int | None,
    decide: Callable[[Ticket], Any],
    now: datetime,
    personal: dict[str, str | None] | None = None,
    adds: bool = False,
    recorded: Recorded | None = None,
) -> Created | Updated:
    """Load, check ``If-Match``, let the aggregate decide, save, answer: the shape of every update.

    ``adds``: the command adds something to the ticket (a comment, a contact), answered as created
    (the API's 201, ``Location`` the ticket); otherwise the ticket was updated.
    """
    ticket = await load_ticket(uow, ticket_id)
    ensure_version_matches(expected_version, ticket.version)
    decide(ticket)
    if recorded is not None:
        recorded.events = ticket.pending
    await save_ticket(uow, ticket, now, personal=personal)
    body = await ticket_body(uow, ticket)
    if adds:
        return Created(body, resource_id=str(ticket_id), version=ticket.version)
    return Updated(body, version=ticket.version)


async def assign_ticket(
    uow: Work[ReadModel], *, ticket_id: UUID, agent_id: str, by: str, expected_version: int | None, now: datetime
) -> Created | Updated:
    """Give an unowned ticket its owner."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.assign(agent_id=agent_id, by=by, now=now),
    )


async def transfer_ticket(
    uow: Work[ReadModel],
    *,
    ticket_id: UUID,
    to_agent_id: str,
    reason: str,
    note: str | None,
    by: str,
    expected_version: int | None,
    policy: TicketingPolicy,
    now: datetime,
) -> Created | Updated:
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
    uow: Work[ReadModel],
    *,
    ticket_id: UUID,
    author_id: str,
    author_type: Literal["agent", "customer"],
    body: str,
    visibility: Literal["public", "internal"],
    expected_version: int | None,
    now: datetime,
    recorded: Recorded | None = None,
) -> Created | Updated:
    """Add a comment to the conversation (a public agent reply makes its author the owner of an unowned ticket)."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        adds=True,
        recorded=recorded,
        decide=lambda t: t.comment(
            comment_id=new_id(), author_id=author_id, author_type=author_type, body=body, visibility=visibility, now=now
        ),
    )


async def log_customer_contact(
    uow: Work[ReadModel],
    *,
    ticket_id: UUID,
    agent_id: str,
    method: Literal["call", "email", "visit", "chat", "sms"],
    direction: Literal["inbound", "outbound"],
    summary: str | None,
    expected_version: int | None,
    now: datetime,
    recorded: Recorded | None = None,
) -> Created | Updated:
    """Log a call, email or visit with the customer (its agent becomes the owner of an unowned ticket)."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        adds=True,
        recorded=recorded,
        decide=lambda t: t.log_contact(
            contact_id=new_id(), agent_id=agent_id, method=method, direction=direction, summary=summary, now=now
        ),
    )


async def wait_for_customer(
    uow: Work[ReadModel], *, ticket_id: UUID, by: str, expected_version: int | None, now: datetime
) -> Created | Updated:
    """Pause the ticket while the customer owes an answer."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.wait_for_customer(by=by, now=now),
    )


async def resume_ticket(
    uow: Work[ReadModel], *, ticket_id: UUID, by: str, expected_version: int | None, now: datetime
) -> Created | Updated:
    """Resume work on a waiting or reopened ticket."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.resume(by=by, now=now),
    )


async def escalate_ticket(
    uow: Work[ReadModel], *, ticket_id: UUID, by: str, note: str | None, expected_version: int | None, now: datetime
) -> Created | Updated:
    """Escalate by hand."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.escalate(by=by, note=note, now=now),
    )


async def resolve_ticket(
    uow: Work[ReadModel],
    *,
    ticket_id: UUID,
    resolution: str,
    root_cause: str | None,
    by: str,
    expected_version: int | None,
    policy: TicketingPolicy,
    now: datetime,
) -> Created | Updated:
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
    uow: Work[ReadModel],
    *,
    ticket_id: UUID,
    reason: str | None,
    by: str,
    expected_version: int | None,
    policy: TicketingPolicy,
    now: datetime,
) -> Created | Updated:
    """Reopen a resolved ticket within the window."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.reopen(reason=reason, by=by, now=now, rules=policy.rules),
    )


async def close_ticket(
    uow: Work[ReadModel], *, ticket_id: UUID, by: str, expected_version: int | None, now: datetime
) -> Created | Updated:
    """Close a resolved ticket."""
    return await change_ticket(
        uow,
        ticket_id=ticket_id,
        expected_version=expected_version,
        now=now,
        decide=lambda t: t.close(by=by, now=now),
    )
