"""The import interchange format: one JSON object per line, validated one row at a time.

Every record has ``kind``, ``source_id`` (the source system's id, unique within its kind) and
``occurred_at`` (RFC 3339 *with an offset*: when it happened in the source system). References name
other records by their source ids. Enumerations take the HTTP API's values, money is a decimal
string, dates are ``YYYY-MM-DD``. The models here are the published contract: ``schemas/import/``
is generated from them (``python -m shared.importing.schema``) and ``docs/import.md`` explains them.

``parse_line`` never raises: a bad row becomes a ``Reject`` with a reason a person can act on, so
one bad row never stops the good ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from shared.contracts.customer import PaymentMethod, RelationshipType

_MONEY_TEXT = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,2})?")


def _decimal_string(value: object) -> object:
    """Money travels as a decimal string: a JSON number would already have lost cents to binary floats.

    At most 16 digits and 2 decimals, checked on the text (the published pattern): pydantic's
    ``max_digits``/``decimal_places`` walk the Decimal's digit tuple in Python, the largest single
    cost of validation in the importer's profile. The sign is left to ``gt``/``ge`` and their message.
    """
    if not isinstance(value, str):
        raise ValueError('money must be a decimal string such as "19.90"')
    if _MONEY_TEXT.fullmatch(value) is None:
        raise ValueError('money must be a decimal string with at most 16 digits and 2 decimals, such as "19.90"')
    return Decimal(value)


_MONEY_SCHEMA = {"type": "string", "pattern": r"^[0-9]{1,16}(\.[0-9]{1,2})?$"}
PositiveMoney = Annotated[
    Decimal, BeforeValidator(_decimal_string), Field(gt=0),
    WithJsonSchema({**_MONEY_SCHEMA, "description": 'A decimal string > 0, e.g. "1890.00".'}),
]
NonNegativeMoney = Annotated[
    Decimal, BeforeValidator(_decimal_string), Field(ge=0),
    WithJsonSchema({**_MONEY_SCHEMA, "description": 'A decimal string >= 0, e.g. "19.90".'}),
]
SourceId = Annotated[str, Field(min_length=1, max_length=200, description="The source system's id.")]
OrderStatus = Literal["placed", "shipped", "delivered", "cancelled", "returned"]
TicketKind = Literal["complaint", "question", "incident", "request"]
TicketChannel = Literal["phone", "email", "web", "chat", "social", "store"]
TicketPriority = Literal["low", "normal", "high", "urgent"]
TicketStatus = Literal["open", "resolved", "closed"]
SurveyKind = Literal["nps", "csat"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    source_id: SourceId
    occurred_at: AwareDatetime = Field(description="RFC 3339 with an offset: when it happened in the source.")


class ImportConsents(BaseModel):
    """Consent per contact channel as the source recorded it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: bool = False
    sms: bool = False
    push: bool = False
    phone: bool = False


class CustomerRecord(_Record):
    """A customer; one whose email matches an existing customer is linked to it, not duplicated."""

    kind: Literal["customer"]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(min_length=3, max_length=254)]
    phone: str | None = Field(default=None, description="International number, e.g. +905551234567.")
    birth_date: date | None = None
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. Europe/Istanbul.")
    relationship_type: RelationshipType = "transactional"
    acquisition_cost: NonNegativeMoney | None = None
    consents: ImportConsents = Field(default_factory=ImportConsents)


class ImportOrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    sku: Annotated[str, Field(min_length=1, max_length=100)]
    category: Annotated[str, Field(min_length=1, max_length=100)]
    quantity: Annotated[int, Field(gt=0, le=100_000)]
    unit_price: NonNegativeMoney
    unit_cost: NonNegativeMoney | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Product name; the sku when absent."
    )


class OrderRecord(_Record):
    """An order and the status it has reached; ``status_at`` is when it got there."""

    kind: Literal["order"]
    customer_source_id: SourceId
    lines: Annotated[list[ImportOrderLine], Field(min_length=1, max_length=1000)]
    status: OrderStatus = "placed"
    status_at: AwareDatetime | None = Field(default=None, description="When the status was reached.")
    payment_method: PaymentMethod | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    channel: Annotated[str, Field(min_length=1, max_length=50)] = "import"


class InvoiceRecord(_Record):
    kind: Literal["invoice"]
    order_source_id: SourceId
    amount: PositiveMoney
    due_date: date


class PaymentRecord(_Record):
    kind: Literal["payment"]
    invoice_source_id: SourceId
    amount: PositiveMoney
    method: PaymentMethod


class TicketRecord(_Record):
    """A ticket and the status it has reached (``resolved_at`` when resolved or closed)."""

    kind: Literal["ticket"]
    customer_source_id: SourceId
    ticket_kind: TicketKind
    channel: TicketChannel
    subject: Annotated[str, Field(min_length=1, max_length=500)]
    description: Annotated[str, Field(min_length=1, max_length=20_000)]
    priority: TicketPriority = "normal"
    owner_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    status: TicketStatus = "open"
    resolved_at: AwareDatetime | None = None
    root_cause: str | None = Field(default=None, description="One of ticketing's root causes (complaints need one).")
    resolution: Annotated[str, Field(min_length=1, max_length=5000)] | None = None


class SurveyAnswerRecord(_Record):
    kind: Literal["survey_answer"]
    customer_source_id: SourceId
    survey_kind: SurveyKind
    score: Annotated[int, Field(ge=0, le=10, description="NPS 0-10, CSAT 1-5.")]
    comment: Annotated[str, Field(max_length=5000)] | None = None


ImportRecord = Annotated[
    CustomerRecord | OrderRecord | InvoiceRecord | PaymentRecord | TicketRecord | SurveyAnswerRecord,
    Field(discriminator="kind"),
]
RECORD_MODELS: Final[dict[str, type[BaseModel]]] = {
    "customer": CustomerRecord,
    "order": OrderRecord,
    "invoice": InvoiceRecord,
    "payment": PaymentRecord,
    "ticket": TicketRecord,
    "survey_answer": SurveyAnswerRecord,
}
KINDS: Final = tuple(RECORD_MODELS)
OWNERS: Final = {
    "customer": "customer", "order": "customer", "invoice": "customer", "payment": "customer",
    "ticket": "ticketing", "survey_answer": "campaigns",
}
"""Which service owns (and imports) each kind."""
REFERENCES: Final = {"order": ("customer_source_id", "customer"), "invoice": ("order_source_id", "order"),
                     "payment": ("invoice_source_id", "invoice"), "ticket": ("customer_source_id", "customer"),
                     "survey_answer": ("customer_source_id", "customer")}
"""kind → (field, referenced kind)."""

_ADAPTER: Final[TypeAdapter[Any]] = TypeAdapter(ImportRecord)


class Reject(BaseModel):
    """A row that was not imported: where it was and why (one line of the reject file)."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    reason: str
    kind: str | None = None
    source_id: str | None = None

    @field_validator("file", "reason", "kind", "source_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        """A rejected row may carry a NUL (JSON allows it); the reject file and answers never do
        (PostgreSQL cannot store one, and the API documents every text as NUL-free): U+FFFD instead."""
        return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


@dataclass(frozen=True, slots=True)
class Numbered:
    """A valid record with where it came from."""

    file: str
    line: int
    record: Any

    def reject(self, reason: str) -> Reject:
        return Reject(file=self.file, line=self.line, reason=reason, kind=self.record.kind,
                      source_id=self.record.source_id)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(p) for p in item["loc"] if p not in KINDS)
        message = item["msg"]
        if item["type"] == "timezone_aware":
            message = "a time needs an offset (e.g. 2021-03-04T10:00:00+03:00 or ...Z)"
        elif item["type"] == "missing":
            message = "is required"
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


def parse_line(raw: bytes | str, *, file: str, line: int) -> Numbered | Reject | None:
    """One NDJSON line as a valid record, a ``Reject`` saying why not, or None for a blank line."""
    if not raw.strip():
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Reject(file=file, line=line, reason=f"not valid JSON: {exc}")
    return parse_record(data, file=file, line=line)


def parse_record(data: Any, *, file: str, line: int) -> Numbered | Reject:
    """One decoded JSON value as a valid record or a ``Reject`` saying why not.

    The batch endpoint calls this on rows it already decoded: encoding them again could fail on values
    JSON allows but orjson does not write (integers beyond 64 bits, lone surrogates).
    """
    if not isinstance(data, dict):
        return Reject(file=file, line=line, reason="a record must be a JSON object")
    kind = data.get("kind")
    source_id = data.get("source_id") if isinstance(data.get("source_id"), str) else None
    if kind not in RECORD_MODELS:
        return Reject(file=file, line=line, reason=f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}",
                      kind=kind if isinstance(kind, str) else None, source_id=source_id)
    try:
        record = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        return Reject(file=file, line=line, reason=_describe(exc), kind=kind, source_id=source_id)
    problem = _cross_field_problem(record)
    if problem:
        return Reject(file=file, line=line, reason=problem, kind=kind, source_id=source_id)
    return Numbered(file=file, line=line, record=record)


def _cross_field_problem(record: Any) -> str | None:
    match record:
        case OrderRecord(status_at=at, occurred_at=placed) if at is not None and at < placed:
            return "status_at: before occurred_at (the order was placed then)"
        case TicketRecord(status="open", resolved_at=at) if at is not None:
            return "resolved_at: an open ticket has no resolution time"
        case TicketRecord(resolved_at=at, occurred_at=opened) if at is not None and at < opened:
            return "resolved_at: before occurred_at (the ticket was opened then)"
        case SurveyAnswerRecord(survey_kind="csat", score=score) if not 1 <= score <= 5:
            return "score: a csat score must be between 1 and 5"
    return None


def reference_of(record: Any) -> tuple[str, str] | None:
    """``(referenced kind, source id)`` a record points at, if any."""
    ref = REFERENCES.get(record.kind)
    if ref is None:
        return None
    field, kind = ref
    return kind, getattr(record, field)


def fingerprint(record: Any) -> str:
    """A digest of everything a record says: unchanged on a re-run, changed in a delta."""
    return hashlib.blake2b(orjson.dumps(record.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS),
                           digest_size=16).hexdigest()


def status_time(record: OrderRecord | TicketRecord) -> datetime:
    """When the record reached its status (falls back to ``occurred_at``)."""
    at = record.status_at if isinstance(record, OrderRecord) else record.resolved_at
    return at or record.occurred_at
