"""The Ticket aggregate: ownership, conversation, SLA, escalation and resolution rules.

Seed 004's founding rule shapes the model: the first person who talks to the customer owns the
problem. So an agent who takes a contact owns the ticket from its first event, assignment only
applies to an unowned ticket, and every later change of owner is a *transfer* that needs a reason
and is counted. Impossible transitions raise ``Conflict`` naming the current status.

How a ticket gets its first owner (``TicketAssigned``, whose ``routing`` says which way):

* at opening, the agent who took the contact (``first_contact``), else the key-account customer's
  account manager (``account_manager``);
* later, while it is still unowned, whichever comes first:

  - the first agent who talks to the customer about it: a *public* agent reply (``comment``) or a
    logged call, email, visit, chat or SMS (``log_contact``). The same command records the
    conversation event and, right after it, ``TicketAssigned`` with routing ``first_contact`` and
    ``assigned_by`` that agent, who then counts as the first contact for
    ``first_contact_resolution`` like an agent who took the contact at opening;
  - a lead's pick through ``assign`` (``manual``), or a newly known account manager
    (``account_manager``).

The first contact never takes a ticket that already has an owner (that would be a transfer without
a reason), and neither an internal note nor the customer's own reply is talking to the customer.

Status machine::

    open ──owner───▶ in_progress ⇄ waiting_customer
                          │               │
                          └────resolve────┴──▶ resolved ──close──▶ closed
                                                  │
                          in_progress ◀─resume── reopened ◀─reopen─┘

``open`` means "nobody owns it yet": getting an owner (``assign``, or the first agent's public
reply or logged contact) starts the work. A ticket whose customer never turned up (ADR 0003) is
closed from any unfinished status with reason ``customer_unknown``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar
from services.ticketing.domain.sla import STANDARD_TIER, SlaClock, SlaPolicy, SlaTargets
from shared.contracts.ticketing import (
    ComplaintFiled,
    CustomerContacted,
    SlaBreached,
    SlaTarget,
    TicketAssigned,
    TicketClosed,
    TicketCommented,
    TicketCustomerChanged,
    TicketCustomerVerified,
    TicketEscalated,
    TicketOpened,
    TicketReopened,
    TicketResolved,
    TicketResumed,
    TicketSlaReplanned,
    TicketTransferred,
    TicketWaitingOnCustomer,
)
from shared.errors import Conflict, InvalidInput
from shared.store.aggregate import Aggregate

KINDS = ("complaint", "question", "incident", "request")
CHANNELS = ("phone", "email", "web", "chat", "social", "store")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "in_progress", "waiting_customer", "resolved", "reopened", "closed")
DEFAULT_TRANSFER_REASONS = (
    "wrong_skill",
    "escalation_required",
    "out_of_office",
    "workload_balancing",
    "customer_request",
    "other",
)
DEFAULT_ROOT_CAUSES = (
    "product_defect",
    "delivery_delay",
    "billing_error",
    "wrong_item",
    "service_failure",
    "staff_behaviour",
    "process_gap",
    "customer_misunderstanding",
    "third_party",
    "other",
)

Kind = Literal["complaint", "question", "incident", "request"]
Routing = Literal["first_contact", "account_manager", "manual"]
_FINISHED = ("resolved", "closed")


@dataclass(frozen=True, slots=True)
class TicketRules:
    """The configurable lists and windows the ticket enforces (from settings)."""

    transfer_reasons: Collection[str] = DEFAULT_TRANSFER_REASONS
    root_causes: Collection[str] = DEFAULT_ROOT_CAUSES
    reopen_window: timedelta = timedelta(days=14)


class Ticket(Aggregate):
    """A customer's complaint, question, incident or request, from opening to closing."""

    def _initial_state(self) -> None:
        self.id: UUID | None = None
        self.customer_id: UUID | None = None
        self.kind = ""
        self.channel = ""
        self.priority = "normal"
        self.category: str | None = None
        self.order_id: UUID | None = None
        self.status = "open"
        self.owner_id: str | None = None
        self.opened_by: str | None = None
        """The agent who took the contact when the ticket was opened."""
        self.first_contact_agent: str | None = None
        """Who owned the ticket by first contact (at opening, or by the first reply or logged contact)."""
        self.transfer_count = 0
        self.escalation_level = 0
        self.reopen_count = 0
        self.customer_tier = STANDARD_TIER
        self.customer_verified = True
        self.opened_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.root_cause: str | None = None
        self.time_to_first_response_seconds: int | None = None
        self.clock: SlaClock | None = None
        self.sla_calendar: str | None = None
        """The name of the business-hours calendar the due moments count on (``None``: 24/7)."""
        self.calendar: BusinessCalendar = ALWAYS_OPEN
        """That calendar's definition: not in the events, so the handler supplies it (``use_calendar``)."""
        self.pauses: list[tuple[datetime, datetime]] = []
        """Finished waits on the customer (start, end), for re-planning under another calendar."""
        self.resolution_started_at: datetime | None = None
        """When the resolution clock last started: the opening, or the latest reopening."""

    # ---- commands -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        ticket_id: UUID,
        customer_id: UUID,
        kind: str,
        channel: str,
        subject: str | None,
        description: str | None,
        now: datetime,
        policy: SlaPolicy,
        priority: str = "normal",
        category: str | None = None,
        order_id: UUID | None = None,
        agent_id: str | None = None,
        account_manager_id: str | None = None,
        customer_tier: str = STANDARD_TIER,
        customer_verified: bool = True,
        calendar: BusinessCalendar = ALWAYS_OPEN,
        calendar_name: str | None = None,
    ) -> Ticket:
        """Open a ticket; the contact-taking agent (or else the account manager) owns it at once.

        Due moments are the tier's targets in business time on ``calendar`` (the tier's calendar;
        24/7 when it names none).
        """
        _require_choice("kind", kind, KINDS)
        _require_choice("channel", channel, CHANNELS)
        _require_choice("priority", priority, PRIORITIES)
        targets = policy.targets_for(priority, customer_tier)
        ticket = cls()
        ticket.use_calendar(calendar)
        ticket._record(
            TicketOpened(
                ticket_id=ticket_id,
                customer_id=customer_id,
                kind=kind,
                channel=channel,
                priority=priority,
                category=category,
                order_id=order_id,
                subject=subject,
                details=description,
                opened_by=agent_id,
                customer_tier=customer_tier,
                customer_verified=customer_verified,
                opened_at=now,
                first_response_due=calendar.add(now, targets.first_response),
                resolution_due=calendar.add(now, targets.resolution),
                sla_calendar=calendar_name,
                first_response_target_seconds=int(targets.first_response.total_seconds()),
                resolution_target_seconds=int(targets.resolution.total_seconds()),
            )
        )
        if kind == "complaint":
            ticket._record(
                ComplaintFiled(
                    ticket_id=ticket_id,
                    customer_id=customer_id,
                    channel=channel,
                    priority=priority,
                    category=category,
                    order_id=order_id,
                    filed_at=now,
                )
            )
        owner, routing = (agent_id, "first_contact") if agent_id else (account_manager_id, "account_manager")
        if owner:
            ticket._record(
                TicketAssigned(
                    ticket_id=ticket_id,
                    customer_id=customer_id,
                    agent_id=owner,
                    routing=routing,  # type: ignore[arg-type]
                    assigned_by=agent_id,
                    assigned_at=now,
                )
            )
        return ticket

    def assign(self, *, agent_id: str, by: str | None, now: datetime, routing: Routing = "manual") -> None:
        """Give an unowned ticket its owner; changing an owner is a transfer, not an assignment."""
        self._refuse_when(_FINISHED, "assign")
        if self.owner_id is not None:
            raise Conflict(
                f"ticket already owned by {self.owner_id}; changing the owner is a transfer",
                current_status=self.status,
                owner_id=self.owner_id,
            )
        self._record(
            TicketAssigned(
                ticket_id=self._id,
                customer_id=self._customer_id,
                agent_id=agent_id,
                routing=routing,
                assigned_by=by,
                assigned_at=now,
            )
        )

    def transfer(
        self, *, to_agent_id: str, reason: str, note: str | None, by: str | None, now: datetime, rules: TicketRules
    ) -> None:
        """Move ownership to another agent: an exception, with a reason from the configured list."""
        _require_choice("reason", reason, tuple(rules.transfer_reasons))
        self._refuse_when(_FINISHED, "transfer")
        if self.owner_id is None:
            raise Conflict("ticket has no owner yet; assign it instead", current_status=self.status)
        if to_agent_id == self.owner_id:
            raise Conflict(f"ticket is already owned by {to_agent_id}", current_status=self.status,
                           owner_id=self.owner_id)
        self._record(
            TicketTransferred(
                ticket_id=self._id,
                customer_id=self._customer_id,
                from_agent_id=self.owner_id,
                to_agent_id=to_agent_id,
                reason=reason,
                note=note,
                transfer_count=self.transfer_count + 1,
                transferred_by=by,
                transferred_at=now,
            )
        )

    def comment(
        self,
        *,
        comment_id: UUID,
        author_id: str,
        body: str,
        visibility: Literal["public", "internal"],
        now: datetime,
        author_type: Literal["agent", "customer"] = "agent",
    ) -> None:
        """Add to the conversation; the first public agent reply stops the first-response clock.

        A public agent reply to an unowned ticket makes its author the owner (seed 004: the first
        person who talks to the customer owns the problem). A public reply from the customer while
        the ticket waits on them resumes the work.
        """
        self._refuse_when(("closed",), "comment on")
        first = author_type == "agent" and visibility == "public" and self._awaiting_first_response
        self._record(
            TicketCommented(
                ticket_id=self._id,
                customer_id=self._customer_id,
                comment_id=comment_id,
                author_id=author_id,
                author_type=author_type,
                visibility=visibility,
                body=body,
                first_response=first,
                commented_at=now,
            )
        )
        if author_type == "agent" and visibility == "public":
            self._owned_by_first_contact(author_id, now)
        if author_type == "customer" and visibility == "public" and self.status == "waiting_customer":
            self.resume(by=author_id, now=now)

    def log_contact(
        self,
        *,
        contact_id: UUID,
        agent_id: str,
        method: Literal["call", "email", "visit", "chat", "sms"],
        direction: Literal["inbound", "outbound"],
        summary: str | None,
        now: datetime,
    ) -> None:
        """Log a call, email or visit; speaking with the customer counts as the first response.

        On an unowned ticket the agent who spoke with the customer becomes its owner (seed 004).
        """
        self._refuse_when(("closed",), "log a contact on")
        self._record(
            CustomerContacted(
                ticket_id=self._id,
                customer_id=self._customer_id,
                contact_id=contact_id,
                agent_id=agent_id,
                method=method,
                direction=direction,
                summary=summary,
                first_response=self._awaiting_first_response,
                contacted_at=now,
            )
        )
        self._owned_by_first_contact(agent_id, now)

    def wait_for_customer(self, *, by: str | None, now: datetime) -> None:
        """in_progress → waiting_customer: the SLA clocks pause."""
        self._require_status(("in_progress",), "wait for the customer")
        self._record(
            TicketWaitingOnCustomer(ticket_id=self._id, customer_id=self._customer_id, changed_by=by, waiting_since=now)
        )

    def resume(self, *, by: str | None, now: datetime) -> None:
        """waiting_customer or reopened → in_progress: the clocks run again, moved by the pause."""
        self._require_status(("waiting_customer", "reopened"), "resume")
        clock = self._clock
        paused = max(timedelta(0), now - clock.paused_since) if clock.paused_since else timedelta(0)
        first_response_due, resolution_due = clock.due_after_pause(now)
        self._record(
            TicketResumed(
                ticket_id=self._id,
                customer_id=self._customer_id,
                previous_status=self.status,
                paused_seconds=int(paused.total_seconds()),
                first_response_due=first_response_due,
                resolution_due=resolution_due,
                changed_by=by,
                resumed_at=now,
            )
        )

    def escalate(self, *, by: str | None, note: str | None, now: datetime) -> None:
        """Raise the escalation level by hand."""
        self._refuse_when(_FINISHED, "escalate")
        self._escalate_one_level(trigger="manual", by=by, note=note, now=now)

    def record_sla_breaches(self, now: datetime) -> int:
        """Report every target past due at ``now`` (once each) and escalate once per breach."""
        if self.status in _FINISHED or self.clock is None:
            return 0
        breaches = self.clock.due_breaches(now)
        for breach in breaches:
            self._record(
                SlaBreached(
                    ticket_id=self._id,
                    customer_id=self._customer_id,
                    target=breach.target,
                    priority=self.priority,
                    customer_tier=self.customer_tier,
                    due_at=breach.due_at,
                    breached_at=now,
                    breached_by_seconds=breach.late_by_seconds,
                )
            )
            self._escalate_one_level(trigger="sla_breach", sla_target=breach.target, now=now)
        return len(breaches)

    def resolve(
        self, *, resolution: str, root_cause: str | None, by: str | None, now: datetime, rules: TicketRules
    ) -> None:
        """Resolve with KPIs; a complaint needs a root cause so the problem does not recur.

        A breach that is due but not yet reported is reported first, so a late resolution is never
        counted as on time just because the scheduler had not run.
        """
        self._require_status(("in_progress", "waiting_customer"), "resolve")
        if root_cause is not None:
            _require_choice("root_cause", root_cause, tuple(rules.root_causes))
        elif self.kind == "complaint":
            raise InvalidInput("a complaint needs a root_cause to be resolved", field="root_cause")
        self.record_sla_breaches(now)
        clock = self._clock
        opened_at = self.opened_at or now
        paused_now = (now - clock.paused_since) if clock.paused_since else timedelta(0)
        self._record(
            TicketResolved(
                ticket_id=self._id,
                customer_id=self._customer_id,
                kind=self.kind,
                priority=self.priority,
                category=self.category,
                resolution=resolution,
                root_cause=root_cause,
                resolved_by=by,
                time_to_first_response_seconds=self.time_to_first_response_seconds,
                time_to_resolve_seconds=max(
                    0, clock.business_seconds(opened_at, now) - int(paused_now.total_seconds())
                ),
                transfer_count=self.transfer_count,
                escalation_level=self.escalation_level,
                first_contact_resolution=(
                    self.first_contact_agent is not None
                    and self.owner_id == self.first_contact_agent
                    and self.transfer_count == 0
                    and self.reopen_count == 0
                ),
                sla_breached=clock.ever_breached,
                resolved_at=now,
            )
        )

    def reopen(self, *, reason: str | None, by: str | None, now: datetime, rules: TicketRules) -> None:
        """resolved → reopened, only within the reopen window; a new resolution clock starts."""
        self._require_status(("resolved",), "reopen")
        if self.resolved_at is not None and now - self.resolved_at > rules.reopen_window:
            raise Conflict(
                f"the reopen window of {rules.reopen_window.days} days has passed; open a new ticket",
                current_status=self.status,
            )
        self._record(
            TicketReopened(
                ticket_id=self._id,
                customer_id=self._customer_id,
                reason=reason,
                reopened_by=by,
                reopen_count=self.reopen_count + 1,
                resolution_due=self.calendar.add(now, self._clock.targets.resolution),
                reopened_at=now,
            )
        )

    def close(self, *, by: str | None, now: datetime) -> None:
        """resolved → closed."""
        self._require_status(("resolved",), "close")
        self._record(
            TicketClosed(
                ticket_id=self._id, customer_id=self._customer_id, reason="resolved", closed_by=by, closed_at=now
            )
        )

    def close_for_unknown_customer(self, now: datetime) -> bool:
        """Close a ticket whose customer never appeared (ADR 0003); False when nothing to do."""
        if self.customer_verified or self.status == "closed":
            return False
        self._record(
            TicketClosed(ticket_id=self._id, customer_id=self._customer_id, reason="customer_unknown", closed_at=now)
        )
        return True

    def verify_customer(self, *, customer_tier: str, now: datetime) -> bool:
        """The customer turned up in the replica: the ticket is no longer provisional.

        A ticket the grace window already closed stays closed and unverified (ADR 0003: whichever
        comes first wins).
        """
        if self.customer_verified or self.status == "closed":
            return False
        self._record(
            TicketCustomerVerified(
                ticket_id=self._id, customer_id=self._customer_id, customer_tier=customer_tier, verified_at=now
            )
        )
        return True

    def move_to_customer(self, survivor_id: UUID, now: datetime) -> bool:
        """A merged duplicate's ticket follows the surviving customer; closed tickets stay history."""
        if self.status == "closed" or survivor_id == self.customer_id:
            return False
        self._record(
            TicketCustomerChanged(
                ticket_id=self._id,
                customer_id=survivor_id,
                previous_customer_id=self._customer_id,
                changed_at=now,
            )
        )
        return True

    def replan(
        self,
        *,
        calendar: BusinessCalendar,
        calendar_name: str | None,
        reason: Literal["calendar_changed", "calendar_assigned"],
        now: datetime,
    ) -> bool:
        """Compute the due moments again on ``calendar`` (changed, or newly assigned to the tier).

        The targets stay the ones the ticket was opened with; each unmet, unbreached due moment is
        the target counted in business time from its start (the opening, or the latest reopening),
        moved by the business time of every finished wait on the customer since then, exactly as
        the live clock would have moved it. A met or already breached target keeps its moment: a
        calendar change does not rewrite what happened. False (nothing recorded) for a finished
        ticket or when nothing moves.
        """
        if self.status in _FINISHED or self.clock is None or self.opened_at is None:
            return False
        clock = self.clock
        first = clock.first_response_due
        if clock.first_responded_at is None and "first_response" not in clock.breached:
            first = self._due_on(calendar, self.opened_at, clock.targets.first_response)
        resolution = clock.resolution_due
        if "resolution" not in clock.breached:
            started = self.resolution_started_at or self.opened_at
            resolution = self._due_on(calendar, started, clock.targets.resolution)
        if (first, resolution, calendar_name) == (clock.first_response_due, clock.resolution_due, self.sla_calendar):
            return False
        self.use_calendar(calendar)
        self._record(
            TicketSlaReplanned(
                ticket_id=self._id,
                customer_id=self._customer_id,
                sla_calendar=calendar_name,
                reason=reason,
                first_response_due=first,
                resolution_due=resolution,
                previous_first_response_due=clock.first_response_due,
                previous_resolution_due=clock.resolution_due,
                replanned_at=now,
            )
        )
        return True

    def use_calendar(self, calendar: BusinessCalendar) -> None:
        """Supply the definition of this ticket's calendar before a command that computes due moments."""
        self.calendar = calendar
        if self.clock is not None:
            self.clock.calendar = calendar

    def _due_on(self, calendar: BusinessCalendar, start: datetime, target: timedelta) -> datetime:
        due = calendar.add(start, target)
        for began, ended in self.pauses:
            if began >= start:
                due = calendar.add(due, calendar.business_time(began, ended))
        return due

    # ---- queries --------------------------------------------------------------------------------

    @property
    def next_due(self) -> datetime | None:
        """When this ticket breaches next (its place in the agent's queue)."""
        if self.clock is None or self.status in _FINISHED:
            return None
        return self.clock.next_due()

    @property
    def breached(self) -> bool:
        return self.clock is not None and self.clock.ever_breached

    # ---- evolution ------------------------------------------------------------------------------

    def _on_TicketOpened(self, e: TicketOpened) -> None:  # noqa: N802
        self.id, self.customer_id = e.ticket_id, e.customer_id
        self.kind, self.channel, self.priority = e.kind, e.channel, e.priority
        self.category, self.order_id = e.category, e.order_id
        self.opened_by = self.first_contact_agent = e.opened_by
        self.customer_tier, self.customer_verified = e.customer_tier, e.customer_verified
        self.opened_at = self.resolution_started_at = e.opened_at
        self.status = "open"
        self.sla_calendar = e.sla_calendar
        if e.first_response_target_seconds is not None and e.resolution_target_seconds is not None:
            targets = SlaTargets(
                timedelta(seconds=e.first_response_target_seconds), timedelta(seconds=e.resolution_target_seconds)
            )
        else:  # opened before calendars: 24/7, so the targets are the distances to the due moments
            targets = SlaTargets(e.first_response_due - e.opened_at, e.resolution_due - e.opened_at)
        self.clock = SlaClock(
            opened_at=e.opened_at,
            targets=targets,
            first_response_due=e.first_response_due,
            resolution_due=e.resolution_due,
            calendar=self.calendar,
        )

    def _on_TicketAssigned(self, e: TicketAssigned) -> None:  # noqa: N802
        self.owner_id = e.agent_id
        if e.routing == "first_contact" and self.first_contact_agent is None:
            self.first_contact_agent = e.agent_id
        if self.status == "open":
            self.status = "in_progress"

    def _on_TicketTransferred(self, e: TicketTransferred) -> None:  # noqa: N802
        self.owner_id = e.to_agent_id
        self.transfer_count = e.transfer_count

    def _on_TicketCommented(self, e: TicketCommented) -> None:  # noqa: N802
        if e.first_response:
            self._first_response(e.commented_at)

    def _on_CustomerContacted(self, e: CustomerContacted) -> None:  # noqa: N802
        if e.first_response:
            self._first_response(e.contacted_at)

    def _first_response(self, at: datetime) -> None:
        clock = self._clock
        if clock.respond(at) and self.opened_at is not None:
            self.time_to_first_response_seconds = clock.business_seconds(self.opened_at, at)

    def _on_TicketWaitingOnCustomer(self, e: TicketWaitingOnCustomer) -> None:  # noqa: N802
        self.status = "waiting_customer"
        self._clock.pause(e.waiting_since)

    def _on_TicketResumed(self, e: TicketResumed) -> None:  # noqa: N802
        self.status = "in_progress"
        clock = self._clock
        if clock.paused_since is not None:
            self.pauses.append((clock.paused_since, e.resumed_at))
        clock.resume(e.resumed_at)
        clock.first_response_due, clock.resolution_due = e.first_response_due, e.resolution_due

    def _on_SlaBreached(self, e: SlaBreached) -> None:  # noqa: N802
        self._clock.mark_breached(e.target)

    def _on_TicketEscalated(self, e: TicketEscalated) -> None:  # noqa: N802
        self.escalation_level = e.level

    def _on_TicketResolved(self, e: TicketResolved) -> None:  # noqa: N802
        self.status = "resolved"
        self.resolved_at = e.resolved_at
        self.root_cause = e.root_cause
        self._clock.resolve(e.resolved_at)

    def _on_TicketReopened(self, e: TicketReopened) -> None:  # noqa: N802
        self.status = "reopened"
        self.reopen_count = e.reopen_count
        self.resolved_at = None
        self.resolution_started_at = e.reopened_at
        clock = self._clock
        clock.restart_resolution(e.reopened_at)
        clock.resolution_due = e.resolution_due

    def _on_TicketSlaReplanned(self, e: TicketSlaReplanned) -> None:  # noqa: N802
        self.sla_calendar = e.sla_calendar
        clock = self._clock
        clock.first_response_due, clock.resolution_due = e.first_response_due, e.resolution_due

    def _on_TicketClosed(self, e: TicketClosed) -> None:  # noqa: N802
        self.status = "closed"
        self.closed_at = e.closed_at

    def _on_TicketCustomerVerified(self, e: TicketCustomerVerified) -> None:  # noqa: N802
        self.customer_verified = True
        self.customer_tier = e.customer_tier

    def _on_TicketCustomerChanged(self, e: TicketCustomerChanged) -> None:  # noqa: N802
        self.customer_id = e.customer_id

    # ---- helpers --------------------------------------------------------------------------------

    @property
    def _clock(self) -> SlaClock:
        if self.clock is None:
            raise Conflict("ticket was never opened")
        return self.clock

    @property
    def _id(self) -> UUID:
        if self.id is None:
            raise Conflict("ticket was never opened")
        return self.id

    @property
    def _customer_id(self) -> UUID:
        if self.customer_id is None:
            raise Conflict("ticket was never opened")
        return self.customer_id

    @property
    def _awaiting_first_response(self) -> bool:
        return self.clock is not None and self.clock.first_responded_at is None

    def _owned_by_first_contact(self, agent_id: str, now: datetime) -> None:
        """Seed 004: an unowned ticket belongs to the first agent who talks to the customer.

        Recorded right after the conversation event, in the same command; an owned ticket keeps its
        owner (moving it is a transfer, with a reason).
        """
        if self.owner_id is not None or self.status in _FINISHED:
            return
        self._record(
            TicketAssigned(
                ticket_id=self._id,
                customer_id=self._customer_id,
                agent_id=agent_id,
                routing="first_contact",
                assigned_by=agent_id,
                assigned_at=now,
            )
        )

    def _escalate_one_level(
        self,
        *,
        trigger: Literal["sla_breach", "manual"],
        now: datetime,
        by: str | None = None,
        note: str | None = None,
        sla_target: SlaTarget | None = None,
    ) -> None:
        """Record one level up from the current one: a manual escalation and a breach's escalate alike."""
        self._record(
            TicketEscalated(
                ticket_id=self._id,
                customer_id=self._customer_id,
                level=self.escalation_level + 1,
                previous_level=self.escalation_level,
                trigger=trigger,
                sla_target=sla_target,
                escalated_by=by,
                note=note,
                escalated_at=now,
            )
        )

    def _require_status(self, allowed: Sequence[str], action: str) -> None:
        if self.status not in allowed:
            raise Conflict(
                f"cannot {action} a ticket that is {self.status} (allowed from: {', '.join(allowed)})",
                current_status=self.status,
            )

    def _refuse_when(self, refused: Sequence[str], action: str) -> None:
        if self.status in refused:
            raise Conflict(f"cannot {action} a ticket that is {self.status}", current_status=self.status)


def _require_choice(field: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of: {', '.join(allowed)}", field=field, allowed=list(allowed))
