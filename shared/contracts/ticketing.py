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
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from shared.catalog import DomainEvent, Personal, event
from shared.contracts.instants import Instant

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


__all__ = [
    "ComplaintFiled",
    "CustomerContacted",
    "SlaBreached",
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
    "TicketTransferred",
    "TicketWaitingOnCustomer",
    "Visibility",
]
