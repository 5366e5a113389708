"""Events published by the customer service on ``customer.events``.

The customer service owns who the customer is (profile, identity, consent, account manager), what
they bought (orders and their lifecycle) and what they paid (invoices, payments). Every event carries
``customer_id``, which is also the CloudEvents subject and the Kafka key, so one customer's events
stay in order on one partition.

Personal data (name, email, phone, birth date, address, free text) is marked ``Personal()``: the
event store encrypts those fields under the customer's data key before they are stored and
published (``enc:v1:...`` strings on the topic). A subscriber that needs them fetches the key from
``GET /v1/internal/keys/{customer_id}`` (scope ``keys:read``); after ``CustomerErased`` the key is
gone (410) and the fields read as ``None`` forever. That is why every personal field is optional.

Money is a decimal string (``"1890.00"``), times are RFC 3339 UTC, ids are UUIDs.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.instants import Instant
from shared.events.catalog import CATALOG, DomainEvent, Money, Personal, event

ContactChannel = Literal["email", "sms", "push", "phone"]
"""Channels a customer can consent to be contacted on."""

AcquisitionChannel = Literal["web", "store", "phone", "partner", "referral", "campaign"]
"""How the customer came to us."""

RelationshipType = Literal[
    "transactional",
    "long_term",
    "personal_assistance",
    "dedicated_assistance",
    "self_service",
    "automated",
    "community",
]
"""The relationship types of seed 002."""

PaymentMethod = Literal["card", "transfer", "cash", "wallet", "direct_debit"]

MatchEvidence = Literal["email", "phone", "name", "birth_date"]
"""What two customer records were found to share when they were merged or proposed as duplicates."""

ConsentSource = Literal["registration", "operator", "self_service", "import"]
"""Who changed a consent: the registration form, an operator, the customer themself, a bulk import."""

ConsentWinner = Literal["survivor", "duplicate", "both"]
"""Whose consent a merge kept for a channel: one side's (the more restrictive), or both agreed."""

VerifiableChannel = Literal["email", "phone"]
"""Contact details whose ownership can be confirmed (a code sent and entered, a call-back)."""


class _CustomerEvent(DomainEvent):
    domain = "customer"

    customer_id: UUID = Field(description="The customer this event is about; also the Kafka key.")


class Consents(BaseModel):
    """Consent per contact channel; ``False`` unless the customer opted in."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    email: bool = False
    sms: bool = False
    push: bool = False
    phone: bool = False
    service_followups: bool = Field(
        default=True,
        description="Service follow-ups (complaint resolved, order delivered, refund paid) on a consented channel. "
                    "On unless the customer opts out: they are expected news, not marketing.",
    )


class ConsentMerge(BaseModel):
    """One channel's consent in a merge: each side before, the survivor's after, and who decided it.

    ``after`` is granted only when both sides granted: a merge never widens consent, so a
    withdrawal on either side wins over a grant, however old or new. The times say when each side's
    consent was last set (registration or the last change), for the operator reading the evidence.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    channel: ContactChannel
    survivor: bool = Field(description="The survivor's consent before the merge.")
    duplicate: bool = Field(description="The duplicate's consent at the merge.")
    after: bool = Field(description="The survivor's consent after the merge.")
    winner: ConsentWinner
    survivor_set_at: Instant | None = None
    duplicate_set_at: Instant | None = None


class ConsentChange(BaseModel):
    """A channel's consent before and after a change that was not the person's own choice."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    channel: ContactChannel
    before: bool
    after: bool


class DuplicateRuleSet(BaseModel):
    """Which identifiers make two customer records a suggested duplicate pair, with thresholds."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    email: bool = Field(default=True, description="The same mailbox (normalised address) matches.")
    email_canonical: bool = Field(
        default=True, description="Compare mailboxes with +tags dropped and Gmail dots ignored."
    )
    phone: bool = Field(default=True, description="The same phone number in E.164 matches.")
    name: bool = Field(default=True, description="A similar name with the same birth date matches.")
    name_threshold: float = Field(
        default=0.85, ge=0, le=1, description="Least name similarity (0..1, token-order-insensitive)."
    )


@event
class CustomerRegistered(_CustomerEvent):
    """A new customer was registered (by an operator, a partner feed or self sign-up)."""

    event_type = "CustomerRegistered"
    event_version = 1
    description = "A customer was registered with their profile, acquisition data and consents."

    name: Annotated[str | None, Personal()] = None
    email: Annotated[str | None, Personal(description="Normalised: trimmed, lower-case.")] = None
    phone: Annotated[str | None, Personal(description="E.164, e.g. +905551234567.")] = None
    birth_date: Annotated[date | None, Personal()] = None
    address: Annotated[str | None, Personal()] = None
    acquisition_channel: AcquisitionChannel | None = None
    referred_by: UUID | None = Field(default=None, description="The referring customer, if any.")
    acquisition_cost: Money | None = Field(default=None, description="Cost of acquiring the customer.")
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. Europe/Istanbul.")
    relationship_type: RelationshipType = "transactional"
    consents: Consents = Field(default_factory=Consents)
    interests: list[str] = Field(default_factory=list)
    registered_at: Instant


@event
class CustomerProfileUpdated(_CustomerEvent):
    """Some profile fields changed; ``changed_fields`` names them, the other fields are not meaningful."""

    event_type = "CustomerProfileUpdated"
    event_version = 1
    description = "Profile fields changed; only the fields in changed_fields carry new values."

    changed_fields: list[str] = Field(description="Names of the fields this update changed.")
    name: Annotated[str | None, Personal()] = None
    email: Annotated[str | None, Personal()] = None
    phone: Annotated[str | None, Personal()] = None
    birth_date: Annotated[date | None, Personal()] = None
    address: Annotated[str | None, Personal()] = None
    timezone: str | None = None
    relationship_type: RelationshipType | None = None
    interests: list[str] | None = None
    updated_at: Instant


@event
class ContactPreferencesChanged(_CustomerEvent):
    """Consent for one channel was granted or withdrawn (campaigns must honour it at once)."""

    event_type = "ContactPreferencesChanged"
    event_version = 1
    description = "Consent for one contact channel was granted or withdrawn."

    channel: ContactChannel
    granted: bool
    changed_at: Instant
    source: ConsentSource
    because: Literal["merge", "unmerge"] | None = Field(
        default=None,
        description="Set when a merge or unmerge of duplicate_id changed the consent, not the person's own choice.",
    )
    duplicate_id: UUID | None = Field(default=None, description="The duplicate of that merge or unmerge.")


@event
class ServiceFollowupsChanged(_CustomerEvent):
    """The customer opted out of (or back into) service follow-ups, separately from marketing consent."""

    event_type = "ServiceFollowupsChanged"
    event_version = 1
    description = "The customer opted out of, or back into, service follow-up messages."

    granted: bool
    changed_at: Instant
    source: ConsentSource


@event
class AccountManagerAssigned(_CustomerEvent):
    """A dedicated account manager (seed 002's dedicated personal assistant) now owns the customer."""

    event_type = "AccountManagerAssigned"
    event_version = 1
    description = "A dedicated account manager was assigned to the customer."

    account_manager_id: str = Field(description="Employee id of the account manager.")
    previous_account_manager_id: str | None = None
    assigned_by: str | None = None
    assigned_at: Instant


@event
class CustomersMerged(_CustomerEvent):
    """``duplicate_id`` was merged into ``customer_id`` (the survivor): its history now belongs to it."""

    event_type = "CustomersMerged"
    event_version = 1
    description = "A duplicate customer record was merged into the surviving one (customer_id)."

    duplicate_id: UUID
    reason: Annotated[str | None, Personal(description="Operator's free text.")] = None
    evidence: list[MatchEvidence] = Field(default_factory=list)
    merged_by: str | None = None
    merged_at: Instant
    consents: list[ConsentMerge] = Field(
        default_factory=list,
        description="Per channel: both sides' consent, the survivor's after the merge and which side won. "
        "Empty in merges recorded before consents were merged (the survivor's stayed as they were).",
    )
    verified_identities_confirmed: bool = Field(
        default=False, description="Both records were verified identities and the operator confirmed the merge."
    )


@event
class CustomersUnmerged(_CustomerEvent):
    """A merge was undone: ``duplicate_id``'s history is its own again."""

    event_type = "CustomersUnmerged"
    event_version = 1
    description = "A previous merge was reversed; the two histories are separate again."

    duplicate_id: UUID
    reason: Annotated[str | None, Personal(description="Operator's free text.")] = None
    unmerged_by: str | None = None
    unmerged_at: Instant
    consents_restored: list[ConsentChange] = Field(
        default_factory=list,
        description="The survivor's channels the merge had narrowed and the unmerge gave back (the duplicate's "
        "own consents never changed).",
    )


@event
class ContactVerified(_CustomerEvent):
    """The customer proved they own their email address or phone number (a verified identity)."""

    event_type = "ContactVerified"
    event_version = 1
    description = "The customer's email or phone was verified; a later change of it makes it unverified."

    channel: VerifiableChannel
    method: str | None = Field(default=None, description="How it was verified, e.g. code, link, call-back.")
    verified_by: str | None = None
    verified_at: Instant


@event
class DuplicateRulesChanged(DomainEvent):
    """The rules that suggest duplicate customer pairs changed (keyed ``duplicate-rules``, not a customer)."""

    domain = "customer"
    event_type = "DuplicateRulesChanged"
    event_version = 1
    description = "The duplicate detection rules were replaced; the whole new rule set is carried."

    rules: DuplicateRuleSet
    changed_by: str | None = None
    changed_at: Instant


class OrderLine(BaseModel):
    """One line of an order, with totals computed by the customer service."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str
    name: str
    category: str
    quantity: int = Field(gt=0)
    unit_price: Money
    unit_cost: Money | None = None
    line_total: Money = Field(description="quantity x unit_price")
    line_cost: Money | None = Field(default=None, description="quantity x unit_cost, when the cost is known")


@event
class OrderPlaced(_CustomerEvent):
    """An order was placed; totals are exact decimals computed by the service."""

    event_type = "OrderPlaced"
    event_version = 1
    description = "An order was placed, with its lines, total, margin (if costs are known) and offer code."

    order_id: UUID
    lines: list[OrderLine]
    total: Money
    cost: Money | None = Field(default=None, description="Sum of line costs when every line has a cost.")
    margin: Money | None = Field(default=None, description="total - cost when every line has a cost.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    channel: str
    offer_code: str | None = None
    promised_delivery_date: date | None = None
    placed_at: Instant


@event
class OrderShipped(_CustomerEvent):
    event_type = "OrderShipped"
    event_version = 1
    description = "An order left the warehouse."

    order_id: UUID
    carrier: str | None = None
    tracking_number: str | None = None
    shipped_at: Instant


@event
class OrderDelivered(_CustomerEvent):
    event_type = "OrderDelivered"
    event_version = 1
    description = "An order reached the customer; on_time compares with the promised date when there was one."

    order_id: UUID
    delivered_at: Instant
    promised_delivery_date: date | None = None
    on_time: bool | None = None


# v1 of OrderCancelled and OrderReturned as published, frozen: their free-text ``reason`` travelled in
# plain text and outlived erasure. v2 seals it under the customer's key; nothing else changed.
@event
class OrderCancelledV1(_CustomerEvent):
    event_type = "OrderCancelled"
    event_version = 1
    description = "An order was cancelled before delivery."

    order_id: UUID
    reason: str | None = None
    total: Money
    currency: str
    cancelled_at: Instant


@event
class OrderCancelled(_CustomerEvent):
    """v2 seals the free-text ``reason`` (personal data); v1 data reads as it is."""

    event_type = "OrderCancelled"
    event_version = 2
    description = "An order was cancelled before delivery."

    order_id: UUID
    reason: Annotated[str | None, Personal(description="Free text.")] = None
    total: Money
    currency: str
    cancelled_at: Instant


@CATALOG.upcaster("OrderCancelled", 1)
def _order_cancelled_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 reason is plain text, which a v2 reader takes as it is."""
    return data


@event
class OrderReturnedV1(_CustomerEvent):
    event_type = "OrderReturned"
    event_version = 1
    description = "A delivered order was returned within the return window."

    order_id: UUID
    reason: str | None = None
    refund_amount: Money
    currency: str
    returned_at: Instant


@event
class OrderReturned(_CustomerEvent):
    """v2 seals the free-text ``reason`` (personal data); v1 data reads as it is."""

    event_type = "OrderReturned"
    event_version = 2
    description = "A delivered order was returned within the return window."

    order_id: UUID
    reason: Annotated[str | None, Personal(description="Free text.")] = None
    refund_amount: Money
    currency: str
    returned_at: Instant


@CATALOG.upcaster("OrderReturned", 1)
def _order_returned_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 reason is plain text, which a v2 reader takes as it is."""
    return data


@event
class InvoiceIssued(_CustomerEvent):
    event_type = "InvoiceIssued"
    event_version = 1
    description = "An invoice was issued for an order."

    invoice_id: UUID
    order_id: UUID
    amount: Money
    currency: str
    due_date: date
    issued_at: Instant


@event
class PaymentReceived(_CustomerEvent):
    event_type = "PaymentReceived"
    event_version = 1
    description = "A (possibly partial) payment was received; carries the invoice totals after it."

    payment_id: UUID
    invoice_id: UUID
    order_id: UUID
    amount: Money
    currency: str
    method: PaymentMethod
    paid_at: Instant
    invoice_amount: Money
    amount_paid: Money = Field(description="Everything paid on the invoice so far, this payment included.")
    outstanding: Money
    fully_paid: bool
    due_date: date
    days_late: int = Field(ge=0, description="Days after the due date this payment arrived (0 when on time).")


@event
class PaymentOverdue(_CustomerEvent):
    event_type = "PaymentOverdue"
    event_version = 1
    description = "An invoice is unpaid past its due date (emitted once per invoice)."

    invoice_id: UUID
    order_id: UUID
    due_date: date
    days_overdue: int = Field(gt=0)
    invoice_amount: Money
    outstanding: Money
    currency: str
    detected_at: Instant


FollowUpState = Literal["open", "snoozed", "done", "cancelled"]
"""A follow-up is open (or snoozed to a later due moment) until it is done or cancelled."""


@event
class CustomerNoteWritten(_CustomerEvent):
    """Someone who serves the customer wrote a note on them (seed 002: the account manager's memory)."""

    event_type = "CustomerNoteWritten"
    event_version = 1
    description = "A staff member wrote a personal note on the customer; the text is sealed under their key."

    note_id: UUID
    text: Annotated[str | None, Personal(description="The note's free text.")] = None
    author: str = Field(description="The writer's subject (a staff member or client).")
    written_at: Instant


@event
class FollowUpScheduled(_CustomerEvent):
    """A note asks for a follow-up: someone (the owner) is to act on the customer by a due moment."""

    event_type = "FollowUpScheduled"
    event_version = 1
    description = "A follow-up on the customer was attached to a note, with its owner and due moment."

    follow_up_id: UUID
    note_id: UUID = Field(description="The note that says what to follow up on.")
    owner: str = Field(description="The staff subject who is to act.")
    due_at: Instant
    scheduled_by: str
    scheduled_at: Instant


@event
class FollowUpCompleted(_CustomerEvent):
    event_type = "FollowUpCompleted"
    event_version = 1
    description = "A follow-up was done."

    follow_up_id: UUID
    owner: str
    completed_by: str
    completed_at: Instant


@event
class FollowUpSnoozed(_CustomerEvent):
    event_type = "FollowUpSnoozed"
    event_version = 1
    description = "A follow-up was put off to a later due moment."

    follow_up_id: UUID
    owner: str
    due_at: Instant = Field(description="The new due moment.")
    previous_due_at: Instant
    snoozed_by: str
    snoozed_at: Instant


@event
class FollowUpCancelled(_CustomerEvent):
    event_type = "FollowUpCancelled"
    event_version = 1
    description = "A follow-up was cancelled: nothing is to be done any more."

    follow_up_id: UUID
    owner: str
    cancelled_by: str
    cancelled_at: Instant


@event
class CustomerErased(_CustomerEvent):
    """The customer's personal data was erased (right to be forgotten); their key is destroyed."""

    event_type = "CustomerErased"
    event_version = 1
    description = "Personal data was erased; subscribers must drop everything personal they hold."

    erased_at: Instant
    erased_by: str | None = None


__all__ = [
    "AccountManagerAssigned",
    "AcquisitionChannel",
    "ConsentChange",
    "ConsentMerge",
    "ConsentSource",
    "ConsentWinner",
    "Consents",
    "ContactChannel",
    "ContactPreferencesChanged",
    "ContactVerified",
    "CustomerErased",
    "CustomerNoteWritten",
    "CustomerProfileUpdated",
    "CustomerRegistered",
    "CustomersMerged",
    "CustomersUnmerged",
    "DuplicateRuleSet",
    "DuplicateRulesChanged",
    "FollowUpCancelled",
    "FollowUpCompleted",
    "FollowUpScheduled",
    "FollowUpSnoozed",
    "FollowUpState",
    "InvoiceIssued",
    "MatchEvidence",
    "OrderCancelled",
    "OrderDelivered",
    "OrderLine",
    "OrderPlaced",
    "OrderReturned",
    "OrderShipped",
    "PaymentMethod",
    "PaymentOverdue",
    "PaymentReceived",
    "RelationshipType",
    "ServiceFollowupsChanged",
    "VerifiableChannel",
]
