"""Request and response bodies of the customer API (never database rows or domain objects)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema, field_validator
from pydantic.config import JsonDict

from shared.contracts.customer import (
    AcquisitionChannel,
    ContactChannel,
    MatchEvidence,
    PaymentMethod,
    RelationshipType,
    VerifiableChannel,
)
from shared.events.catalog import Money
from shared.web.types import (
    NEVER_NULL,
    CalendarDate,
    Instant,
    NonNegativeMoneyText,
    PositiveMoneyText,
    texts_not_blank,
)

Text = Annotated[str, Field(min_length=1, max_length=200)]
EMAIL_PATTERN = (r"^[\s\x1c-\x1f]*[^@\s\x1c-\x1f\ufeff]+@[^@\s\x1c-\x1f\ufeff]+\.[^@\s\x1c-\x1f\ufeff]+"
                 r"[\s\x1c-\x1f]*$")
"""Shaped like name@domain.tld, spaces around it trimmed. The separators \\x1c-\\x1f and \\ufeff are
named because regex dialects disagree on whether ``\\s`` covers them (Python's does, ECMA's and Rust's
differ), and the server trims and checks with Python's."""
Email = Annotated[
    str,
    Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN,
          description="An address shaped like name@domain.tld; surrounding spaces are trimmed and case is "
                      "ignored."),
]
NonNegativeMoney = NonNegativeMoneyText
"""Money in a request: a decimal string ("19.99"); a JSON number is a 422 (a float may have lost a cent)."""

_TIMEZONES = frozenset(available_timezones())
TimeZoneName = Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(_TIMEZONES),
                                              "description": "An IANA time zone, e.g. Europe/Istanbul."})]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=texts_not_blank)


class ConsentsInput(_Input):
    email: StrictBool | None = None
    sms: StrictBool | None = None
    push: StrictBool | None = None
    phone: StrictBool | None = None
    service_followups: StrictBool | None = Field(
        default=None, description="Service follow-ups (complaint resolved, order delivered, refund paid); "
                                  "on unless withdrawn, separately from marketing consent.")

    def given(self) -> dict[ContactChannel, bool]:
        return {k: v for k, v in self.model_dump().items() if v is not None}  # type: ignore[misc]


def _check_timezone(value: str | None) -> str | None:
    if value is not None and value not in _TIMEZONES:
        raise ValueError("timezone must be an IANA time zone such as Europe/Istanbul")
    return value


class CustomerCreate(_Input):
    name: Text
    email: Email
    phone: Annotated[str | None, Field(max_length=32, description="E.164, e.g. +905551234567")] = None
    birth_date: CalendarDate | None = Field(default=None, description="Not in the future.")
    address: Annotated[str | None, Field(max_length=500)] = None
    acquisition_channel: AcquisitionChannel | None = None
    referred_by: UUID | None = None
    acquisition_cost: NonNegativeMoney | None = None
    timezone: TimeZoneName | None = None
    relationship_type: RelationshipType = "transactional"
    consents: ConsentsInput = Field(default_factory=ConsentsInput)
    interests: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=50)

    _tz = field_validator("timezone")(_check_timezone)


class CustomerUpdate(_Input):
    """Only the fields sent are changed; ``null`` clears an optional one."""

    name: Text | None = Field(default=None, json_schema_extra=NEVER_NULL)
    email: Email | None = Field(default=None, json_schema_extra=NEVER_NULL)
    phone: Annotated[str | None, Field(max_length=32)] = None
    birth_date: CalendarDate | None = Field(default=None, description="Not in the future.")
    address: Annotated[str | None, Field(max_length=500)] = None
    timezone: TimeZoneName | None = None
    relationship_type: RelationshipType | None = Field(default=None, json_schema_extra=NEVER_NULL)
    interests: list[Annotated[str, Field(max_length=50)]] | None = Field(default=None, max_length=50)

    _tz = field_validator("timezone")(_check_timezone)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AccountManagerAssign(_Input):
    account_manager_id: Text


class MergeRequest(_Input):
    duplicate_id: UUID
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    confirm_verified_identities: StrictBool = Field(
        default=False,
        description="Both customers are verified identities and the operator is sure they are one person "
        "(without it such a merge is a 409).",
    )


class ContactVerify(_Input):
    """The customer proved they own this contact detail (a code entered, a link followed, a call-back)."""

    channel: VerifiableChannel
    # Only recorded in the event (never a text column), so PostgreSQL would not refuse a NUL for us.
    method: Annotated[str | None, Field(max_length=50, pattern=r"^[^\x00]*$",
                                        description="How, e.g. code, link, call-back.")] = None


_ONE_IDENTIFIER: JsonDict = {
    "anyOf": [{"properties": {name: {"const": True}}} for name in ("email", "phone", "name")],
    "description": "At least one of email, phone or name must be enabled.",
}


class DuplicateRulesUpdate(_Input):
    """The whole rule set (PUT replaces it): which identifiers suggest a duplicate pair, and the threshold."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_IDENTIFIER)

    email: StrictBool = Field(description="The same mailbox matches.")
    email_canonical: StrictBool = Field(description="Compare mailboxes with +tags dropped and Gmail dots ignored.")
    phone: StrictBool = Field(description="The same phone number (E.164) matches.")
    name: StrictBool = Field(description="A similar name with the same birth date matches.")
    name_threshold: float = Field(
        ge=0, le=1, allow_inf_nan=False, description="Least name similarity, 0..1 (1 = the same name)."
    )

    @field_validator("name_threshold", mode="before")
    @classmethod
    def _a_number_not_a_flag(cls, value: Any) -> Any:
        # pydantic's lax float takes true/false as 1.0/0.0; the document says a number.
        if isinstance(value, bool):
            raise ValueError("name_threshold must be a number between 0 and 1, not true/false")
        return value


class DuplicateRulesRead(BaseModel):
    email: bool
    email_canonical: bool
    phone: bool
    name: bool
    name_threshold: float
    version: int


class UnmergeRequest(_Input):
    duplicate_id: UUID
    reason: Annotated[str | None, Field(max_length=1000)] = None


class Consents(BaseModel):
    email: bool = False
    sms: bool = False
    push: bool = False
    phone: bool = False
    service_followups: bool = True


class CustomerRead(BaseModel):
    id: UUID
    status: Literal["active", "merged", "erased"]
    merged_into: UUID | None
    name: str | None
    email: str | None
    phone: str | None
    birth_date: date | None
    address: str | None
    timezone: str | None
    relationship_type: RelationshipType
    acquisition_channel: AcquisitionChannel | None
    referred_by: UUID | None
    acquisition_cost: Money | None
    consents: Consents
    interests: list[str]
    verified: list[VerifiableChannel] = Field(description="Contact details the customer proved they own.")
    account_manager_id: str | None
    version: int
    registered_at: str
    updated_at: str


class CustomerPage(BaseModel):
    items: list[CustomerRead]
    next_cursor: str | None


class DuplicateSide(BaseModel):
    """One record of a suggested pair as the operator compares it: who, how to reach them, what they allow."""

    name: str | None
    email: str | None
    phone: str | None
    birth_date: date | None
    verified: list[VerifiableChannel] = Field(description="Contact details this record's person proved they own.")
    consents: Consents = Field(description="This record's consents now; a merge keeps the more restrictive.")
    version: int


class DuplicateCandidate(BaseModel):
    customer_id: UUID
    duplicate_id: UUID
    evidence: list[MatchEvidence] = Field(description="The identifiers that matched under the current rules.")
    name_similarity: float | None = Field(description="How alike the names are, 0..1 (None when one is missing).")
    customer: DuplicateSide = Field(description="The record customer_id names (the survivor if merged as listed).")
    duplicate: DuplicateSide = Field(description="The record duplicate_id names.")


class DuplicatePage(BaseModel):
    items: list[DuplicateCandidate]
    next_cursor: str | None
    rules_version: int = Field(description="The version of the duplicate rules that found these pairs.")


class LineCreate(_Input):
    sku: Text
    name: Text
    category: Text
    quantity: Annotated[int, Field(gt=0, le=100_000)]
    unit_price: NonNegativeMoney
    unit_cost: NonNegativeMoney | None = None


class OrderCreate(_Input):
    customer_id: UUID
    lines: list[LineCreate] = Field(min_length=1, max_length=500)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
    channel: Annotated[str, Field(min_length=1, max_length=50)]
    offer_code: Annotated[str | None, Field(max_length=100)] = None
    promised_delivery_date: CalendarDate | None = Field(default=None, description="Not in the past.")


class MyOrderCreate(_Input):
    """A self-service order: the customer is the token's."""

    lines: list[LineCreate] = Field(min_length=1, max_length=500)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    channel: Annotated[str, Field(min_length=1, max_length=50)] = "web"
    offer_code: Annotated[str | None, Field(max_length=100)] = None
    promised_delivery_date: CalendarDate | None = Field(default=None, description="Not in the past.")


class OrderLineRead(BaseModel):
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Money
    unit_cost: Money | None = None
    line_total: Money
    line_cost: Money | None = None


class OrderRead(BaseModel):
    id: UUID
    customer_id: UUID
    status: Literal["placed", "shipped", "delivered", "cancelled", "returned"]
    lines: list[OrderLineRead]
    total: Money
    cost: Money | None
    margin: Money | None
    currency: str
    channel: str
    offer_code: str | None
    promised_delivery_date: date | None
    placed_at: str
    shipped_at: str | None
    delivered_at: str | None
    cancelled_at: str | None
    returned_at: str | None
    version: int


class OrderPage(BaseModel):
    items: list[OrderRead]
    next_cursor: str | None


class ShipRequest(_Input):
    carrier: Annotated[str | None, Field(max_length=100)] = None
    tracking_number: Annotated[str | None, Field(max_length=100)] = None


class ReasonRequest(_Input):
    reason: Annotated[str | None, Field(max_length=1000)] = None


class InvoiceCreate(_Input):
    order_id: UUID
    due_date: CalendarDate


class InvoiceRead(BaseModel):
    id: UUID
    order_id: UUID
    customer_id: UUID
    amount: Money
    paid: Money
    outstanding: Money
    currency: str
    due_date: date
    issued_at: str
    status: Literal["open", "overdue", "paid"]
    version: int


class PaymentCreate(_Input):
    invoice_id: UUID
    amount: PositiveMoneyText
    method: PaymentMethod


class PaymentRead(BaseModel):
    id: UUID
    invoice_id: UUID
    customer_id: UUID
    amount: Money
    method: PaymentMethod
    paid_at: str
    outstanding: Money


class ServiceErasureRead(BaseModel):
    """One service's part of an erasure."""

    service: str
    status: Literal["pending", "done"]
    finished_at: datetime | None = Field(description="When the service's data was clean; null while pending.")
    details: dict[str, int] = Field(description="What the service cleaned, as counts.")


class ErasureRead(BaseModel):
    """Erasure with proof: every service's acknowledgement (``CustomerDataErased``) of one erasure."""

    customer_id: UUID
    requested_at: datetime | None = Field(description="When the erasure was asked for; null if it never was.")
    complete: bool = Field(description="True once every service acknowledged.")
    completed_at: datetime | None = Field(description="When the last service finished; null until complete.")
    services: list[ServiceErasureRead]


_EXPORT_EXAMPLE: JsonDict = {
    "id": "0190a4a6-0000-7000-8000-0000000000e1",
    "customer_id": "0190a4a6-0000-7000-8000-000000000001",
    "status": "running",
    "requested_by": "dpo@example.com",
    "self_service": False,
    "requested_at": "2026-12-05T18:00:00.000000Z",
    "finished_at": None,
    "error": None,
    "progress": {"parts_done": 2, "parts_total": 4, "parts": [
        {"service": "customer", "status": "done", "finished_at": "2026-12-05T18:00:00.120000Z"},
        {"service": "ticketing", "status": "done", "finished_at": "2026-12-05T18:00:00.310000Z"},
        {"service": "campaigns", "status": "pending"},
        {"service": "analytics", "status": "pending"},
    ]},
    "document": None,
    "rendering": None,
}


class ExportPartProgress(BaseModel):
    service: Literal["customer", "ticketing", "campaigns", "analytics"]
    status: Literal["pending", "done", "failed"]
    finished_at: str | None = None
    error: str | None = None


class ExportProgress(BaseModel):
    parts_done: int
    parts_total: int
    parts: list[ExportPartProgress]


class ExportRead(BaseModel):
    """An export job (right of access across every service): its status and progress per service."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXPORT_EXAMPLE]})

    id: UUID
    customer_id: UUID
    status: Literal["running", "done", "failed", "erased"] = Field(
        description="running until every service's part is in; failed with ``error`` when a part could not be "
                    "had; erased when the customer was erased (the document is gone).")
    requested_by: str = Field(description="The token's subject that asked for it.")
    self_service: bool = Field(description="True when the customer asked for their own data.")
    requested_at: str
    finished_at: str | None
    error: str | None
    progress: ExportProgress
    document: str | None = Field(description="Path of the JSON document once done.")
    rendering: str | None = Field(description="Path of the human-readable (HTML) rendering once done.")


# --- notes and follow-ups -------------------------------------------------------------------------

FollowUpStateName = Literal["open", "snoozed", "done", "cancelled"]
SUBJECT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
"""A subject: some text that is not only spaces, without control characters."""
Subject = Annotated[str, Field(min_length=1, max_length=200, pattern=SUBJECT_PATTERN,
                               description="A staff member's subject (their sign-in name), e.g. am.selin.")]


class FollowUpCreate(_Input):
    """Someone is to act on the customer by ``due_at``."""

    due_at: Instant
    owner: Subject | None = Field(default=None, description="Who is to act; the writer of the note when left out.")


class NoteCreate(_Input):
    """A note on the customer, optionally asking for a follow-up."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"text": "Met them at the trade fair; call in January about the new line.",
                      "follow_up": {"due_at": "2027-01-11T09:00:00+03:00", "owner": "am.selin"}}]})

    text: Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$",
                               description="Free text (personal data: sealed in the event log, erased with "
                                           "the customer).")]
    follow_up: FollowUpCreate | None = None


class FollowUpSnooze(_Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"until": "2027-01-18T09:00:00Z"}]})

    until: Instant = Field(description="The new due moment; later than now.")


_FOLLOW_UP_EXAMPLE: JsonDict = {
    "id": "0190a4a6-0000-7000-8000-0000000000f1", "customer_id": "0190a4a6-0000-7000-8000-000000000001",
    "note_id": "0190a4a6-0000-7000-8000-0000000000e1", "owner": "am.selin", "state": "open",
    "due_at": "2027-01-11T06:00:00.000000Z", "scheduled_by": "am.selin",
    "scheduled_at": "2026-12-05T18:00:00.000000Z", "updated_at": "2026-12-05T18:00:00.000000Z", "version": 1,
}


class FollowUpRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_FOLLOW_UP_EXAMPLE, "note_text": "Met them at the trade fair; call in January about the new line."}]})

    id: UUID
    customer_id: UUID
    note_id: UUID
    owner: str
    state: FollowUpStateName
    due_at: str
    scheduled_by: str
    scheduled_at: str
    updated_at: str
    version: int
    note_text: str | None = Field(default=None, description="The note's text (in lists and commands' answers).")


class FollowUpPage(BaseModel):
    items: list[FollowUpRead]
    next_cursor: str | None


class NoteRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0190a4a6-0000-7000-8000-0000000000e1", "customer_id": "0190a4a6-0000-7000-8000-000000000001",
        "text": "Met them at the trade fair; call in January about the new line.", "author": "am.selin",
        "written_at": "2026-12-05T18:00:00.000000Z", "follow_up": _FOLLOW_UP_EXAMPLE}]})

    id: UUID
    customer_id: UUID
    text: str | None
    author: str
    written_at: str
    follow_up: FollowUpRead | None


class NotePage(BaseModel):
    items: list[NoteRead]
    next_cursor: str | None
