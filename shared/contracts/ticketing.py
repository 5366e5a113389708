"""Events published by the ticketing service on ``ticketing.events``.

Every event is keyed by the customer (``customer_id`` is the Kafka key and CloudEvents subject) and
belongs to one ticket's stream (``ticket_id``). Each carries the moment it happened in the domain
(``*_at``) so a ticket can be replayed through the SLA clock without the envelope: the SLA
back-testing endpoint does exactly that.

Free text written by or about the customer (subject, description, comment bodies, notes, contact
summaries, resolution text) is ``Personal()``: encrypted under the customer's key and ``None`` after
erasure. Anonymous facts (kinds, priorities, times, counts, root causes) stay readable for the KPIs.

Vocabulary (plain strings in the contract so a new value is a compatible change):

* ``kind``: complaint, question, incident, request
* ``channel``: phone, email, web, chat, social, store
* ``priority``: low, normal, high, urgent
* ``status``: open, in_progress, waiting_customer, resolved, reopened, closed
* SLA ``target``: first_response, resolution

Business-hours calendars (``CalendarDefined``, ``CalendarChanged``, ``SlaCalendarsAssigned``) are not
about a customer: they are keyed by ``calendar:<name>`` or ``sla-calendars``, and carry the whole new
definition so a subscriber never needs the previous one. ``TicketSlaReplanned`` is a ticket's event
(keyed by its customer like the others): a calendar change moved that open ticket's due moments.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.instants import Instant
from shared.events.catalog import DomainEvent, Personal, event

SlaTarget = Literal["first_response", "resolution"]
Visibility = Literal["public", "internal"]


class TicketEvent(DomainEvent):
    """Fields every ticketing event carries."""

    domain = "ticketing"

    ticket_id: UUID
    customer_id: UUID = Field(description="The customer this ticket is about; also the Kafka key.")


@event
class TicketOpened(TicketEvent):
    """A customer's complaint, question, incident or request was recorded as a ticket."""

    event_type = "TicketOpened"
    description = "A ticket was opened for a customer; SLA clocks start now."

    kind: str
    channel: str
    priority: str = "normal"
    category: str | None = None
    order_id: UUID | None = None
    subject: Annotated[str | None, Personal()] = None
    details: Annotated[str | None, Personal()] = None
    opened_by: str | None = None
    """The agent who took the contact, when one did (they own the ticket from the first second)."""
    customer_tier: str = "standard"
    """The SLA tier chosen from the customer's relationship type (``dedicated_assistance`` is tighter)."""
    customer_verified: bool = True
    """False when the customer was not yet known to ticketing (see ADR 0003): reconciled later."""
    opened_at: Instant
    first_response_due: Instant
    resolution_due: Instant
    sla_calendar: str | None = None
    """The business-hours calendar the due moments count on; ``None`` is 24/7 (and every ticket before calendars)."""
    first_response_target_seconds: int | None = None
    """The first-response target in business seconds (absent before calendars: then it is the due minus the opening)."""
    resolution_target_seconds: int | None = None
    """The resolution target in business seconds (kept for a reopening and for re-planning)."""


@event
class ComplaintFiled(TicketEvent):
    """A complaint specifically (also a TicketOpened): the signal campaigns and analytics react to."""

    event_type = "ComplaintFiled"
    description = "A complaint was filed; subscribers suppress offers and count complaints."

    channel: str
    priority: str = "normal"
    category: str | None = None
    order_id: UUID | None = None
    filed_at: Instant


@event
class TicketAssigned(TicketEvent):
    """An unowned ticket got its owner."""

    event_type = "TicketAssigned"
    description = "A ticket got its first owner (the contact-taking agent, the account manager, or a pick)."

    agent_id: str
    routing: Literal["first_contact", "account_manager", "manual"] = "manual"
    assigned_by: str | None = None
    assigned_at: Instant


@event
class TicketTransferred(TicketEvent):
    """The owner changed: always an exception, with its reason, counted."""

    event_type = "TicketTransferred"
    description = "Ownership moved from one agent to another, with a reason."

    from_agent_id: str
    to_agent_id: str
    reason: str
    note: Annotated[str | None, Personal()] = None
    transfer_count: int
    transferred_by: str | None = None
    transferred_at: Instant


@event
class TicketCommented(TicketEvent):
    """A message in the ticket's conversation; public ones are visible to the customer."""

    event_type = "TicketCommented"
    description = "A comment was added to the ticket's conversation."

    comment_id: UUID
    author_id: str
    author_type: Literal["agent", "customer"] = "agent"
    visibility: Visibility
    body: Annotated[str | None, Personal()] = None
    first_response: bool = False
    """True when this is the first public agent reply: it stops the first-response SLA clock."""
    commented_at: Instant


@event
class CustomerContacted(TicketEvent):
    """A call, email or visit with the customer about this ticket was logged."""

    event_type = "CustomerContacted"
    description = "An agent logged a call, email or visit with the customer."

    contact_id: UUID
    agent_id: str
    method: Literal["call", "email", "visit", "chat", "sms"]
    direction: Literal["inbound", "outbound"] = "outbound"
    summary: Annotated[str | None, Personal()] = None
    first_response: bool = False
    contacted_at: Instant


@event
class SlaBreached(TicketEvent):
    """An SLA target passed without being met; emitted exactly once per ticket and target."""

    event_type = "SlaBreached"
    description = "A first-response or resolution target was missed."

    target: SlaTarget
    priority: str
    customer_tier: str = "standard"
    due_at: Instant
    breached_at: Instant
    breached_by_seconds: int
    """How late the scheduler saw it (``breached_at - due_at``), never negative."""


@event
class TicketEscalated(TicketEvent):
    """The ticket went one escalation level up (after an SLA breach or by hand)."""

    event_type = "TicketEscalated"
    description = "The ticket's escalation level increased."

    level: int
    previous_level: int
    trigger: Literal["sla_breach", "manual"]
    sla_target: SlaTarget | None = None
    escalated_by: str | None = None
    note: Annotated[str | None, Personal()] = None
    escalated_at: Instant


@event
class TicketWaitingOnCustomer(TicketEvent):
    """The ticket waits for the customer: SLA clocks pause."""

    event_type = "TicketWaitingOnCustomer"
    description = "in_progress -> waiting_customer; SLA clocks are paused."

    changed_by: str | None = None
    waiting_since: Instant


@event
class TicketResumed(TicketEvent):
    """Work resumes (customer answered, or a reopened ticket is picked up); clocks run again."""

    event_type = "TicketResumed"
    description = "waiting_customer|reopened -> in_progress; due times moved by the paused time."

    previous_status: str
    paused_seconds: int = 0
    first_response_due: Instant
    resolution_due: Instant
    changed_by: str | None = None
    resumed_at: Instant


@event
class TicketResolved(TicketEvent):
    """The problem was solved; carries the KPIs of the ticket's life."""

    event_type = "TicketResolved"
    description = "A ticket was resolved, with its root cause and service KPIs."

    kind: str
    priority: str
    category: str | None = None
    resolution: Annotated[str | None, Personal()] = None
    root_cause: str | None = None
    resolved_by: str | None = None
    time_to_first_response_seconds: int | None = None
    time_to_resolve_seconds: int
    """Business time from opening to resolution, without the time spent waiting on the customer."""
    transfer_count: int
    escalation_level: int = 0
    first_contact_resolution: bool
    """Resolved by the agent who took the first contact, with no transfer and no reopen."""
    sla_breached: bool = False
    resolved_at: Instant


@event
class TicketReopened(TicketEvent):
    """A resolved ticket came back within the reopen window."""

    event_type = "TicketReopened"
    description = "resolved -> reopened; a new resolution clock starts."

    reason: Annotated[str | None, Personal()] = None
    reopened_by: str | None = None
    reopen_count: int
    resolution_due: Instant
    reopened_at: Instant


@event
class TicketClosed(TicketEvent):
    """The ticket is finished for good (after resolution, or because its customer never existed)."""

    event_type = "TicketClosed"
    description = "A ticket was closed."

    reason: Literal["resolved", "customer_unknown"] = "resolved"
    closed_by: str | None = None
    closed_at: Instant


@event
class TicketCustomerVerified(TicketEvent):
    """A ticket opened for a not-yet-known customer was matched to a registered customer (ADR 0003)."""

    event_type = "TicketCustomerVerified"
    description = "The ticket's customer is now known to ticketing."

    customer_tier: str = "standard"
    verified_at: Instant


@event
class TicketCustomerChanged(TicketEvent):
    """The ticket moved to another customer (a duplicate was merged into the survivor)."""

    event_type = "TicketCustomerChanged"
    description = "A merged duplicate's open ticket moved to the surviving customer (customer_id)."

    previous_customer_id: UUID
    reason: Literal["customers_merged"] = "customers_merged"
    changed_at: Instant


ClockTime = Annotated[str, Field(description="HH:MM, 00:00 to 24:00 (24:00 only ends a day)", examples=["09:00"])]
"""A wall-clock time of day ``HH:MM`` in the calendar's time zone; ``24:00`` ends a day. The producer
validates it (the ticketing API refuses anything else); the contract stays a plain string so a
consumer's schema check never rejects what the producer accepted."""


class WorkingHours(BaseModel):
    """One shift: from ``start`` to ``end`` (exclusive), local time; a day may have several (split shifts)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: ClockTime
    end: ClockTime


class CalendarHoliday(BaseModel):
    """A public holiday: no working time on that local date (unless an exception gives hours)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    date: date
    name: str = ""


class CalendarException(BaseModel):
    """Other hours on one local date (a half day, a special opening); an empty list closes the date."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    date: date
    hours: list[WorkingHours] = Field(default_factory=list)
    note: str | None = None


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class WeeklyHours(BaseModel):
    """Working hours per weekday; an empty day is closed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    monday: list[WorkingHours] = Field(default_factory=list)
    tuesday: list[WorkingHours] = Field(default_factory=list)
    wednesday: list[WorkingHours] = Field(default_factory=list)
    thursday: list[WorkingHours] = Field(default_factory=list)
    friday: list[WorkingHours] = Field(default_factory=list)
    saturday: list[WorkingHours] = Field(default_factory=list)
    sunday: list[WorkingHours] = Field(default_factory=list)


class CalendarSpec(BaseModel):
    """A whole business-hours calendar: a time zone, weekly hours, holidays and date exceptions."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    time_zone: str = Field(description="IANA time zone name, e.g. Europe/Berlin; working hours are wall-clock there.")
    weekly_hours: WeeklyHours
    holidays: list[CalendarHoliday] = Field(default_factory=list)
    exceptions: list[CalendarException] = Field(default_factory=list)


@event
class CalendarDefined(DomainEvent):
    """A business-hours calendar was created (keyed ``calendar:<name>``, not a customer)."""

    domain = "ticketing"
    event_type = "CalendarDefined"
    description = "A business-hours calendar was defined; the whole definition is carried."

    calendar: str
    definition: CalendarSpec
    defined_by: str | None = None
    defined_at: Instant


@event
class CalendarChanged(DomainEvent):
    """A business-hours calendar was replaced, or holidays were imported into it; open tickets on it are re-planned."""

    domain = "ticketing"
    event_type = "CalendarChanged"
    description = "A business-hours calendar changed; the whole new definition is carried."

    calendar: str
    definition: CalendarSpec
    source: Literal["api", "ics_import"] = "api"
    """``ics_import``: holidays came from an uploaded iCalendar file."""
    changed_by: str | None = None
    changed_at: Instant


@event
class SlaCalendarsAssigned(DomainEvent):
    """Which calendar each SLA tier counts on (keyed ``sla-calendars``); a tier not named is 24/7."""

    domain = "ticketing"
    event_type = "SlaCalendarsAssigned"
    description = "The SLA policy's calendar per tier changed; the whole new assignment is carried."

    tiers: dict[str, str | None]
    changed_by: str | None = None
    assigned_at: Instant


@event
class TicketSlaReplanned(TicketEvent):
    """An open ticket's due moments were computed again because its calendar (or its tier's calendar) changed."""

    event_type = "TicketSlaReplanned"
    description = "A calendar change moved an open ticket's SLA due moments (met or breached targets keep theirs)."

    sla_calendar: str | None = None
    reason: Literal["calendar_changed", "calendar_assigned"] = "calendar_changed"
    first_response_due: Instant
    resolution_due: Instant
    previous_first_response_due: Instant
    previous_resolution_due: Instant
    replanned_at: Instant


__all__ = [
    "CalendarChanged",
    "CalendarDefined",
    "CalendarException",
    "CalendarHoliday",
    "CalendarSpec",
    "ClockTime",
    "ComplaintFiled",
    "CustomerContacted",
    "SlaBreached",
    "SlaCalendarsAssigned",
    "SlaTarget",
    "TicketAssigned",
    "TicketClosed",
    "TicketCommented",
    "TicketCustomerChanged",
    "TicketCustomerVerified",
    "TicketEscalated",
    "TicketEvent",
    "TicketOpened",
    "TicketReopened",
    "TicketResolved",
    "TicketResumed",
    "TicketSlaReplanned",
    "TicketTransferred",
    "TicketWaitingOnCustomer",
    "Visibility",
    "Weekday",
    "WeeklyHours",
    "WorkingHours",
]
